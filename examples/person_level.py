"""Simulate synthetic bijstand microdata, fit the person-level model, print the summary.

Usage::

    .venv/bin/python examples/person_level.py              # quick demo (~1 min)
    .venv/bin/python examples/person_level.py --benchmark  # 6,000 clients: wall time, ESS/s

The data are SYNTHETIC (``bayes_bijstand.simulate``); the true effects are printed next to
the estimates. The model is the default delivered-treatment model (coach effects act only on
the treatment the coach delivered; see docs/person_level.md) with two covariates. A status
line says whether the fit passed the package's diagnostics gate; a failed fit's estimates
are not printed. The benchmark compares collapsed (binomial cells) vs uncollapsed (Bernoulli
rows) fits and bambi's default PyMC NUTS vs nutpie, reporting wall time and the minimum bulk
ESS per second over the reported parameters.
"""

from __future__ import annotations

import argparse
import time
import warnings

import pandas as pd

from bayes_bijstand.frequentist.person import lpm_cluster
from bayes_bijstand.models.person_level import fit_person
from bayes_bijstand.person_cli import person_gate
from bayes_bijstand.recovery import DELIVERED_FORMULA
from bayes_bijstand.simulate import simulate_microdata, true_arm_effects

EFFECTS = {"zelf_in_actie": 0.0, "extra_hulp": 0.3, "werken_loont": 0.15}


def demo(draws: int) -> int:
    """Small fit: three gemeenten, all clients (ITT and per-participant effects)."""
    data = simulate_microdata(effects=EFFECTS, tau=0.1, sigma_coach=0.2, seed=11,
                              gemeenten=["oss", "nijmegen", "wageningen"])
    print(f"{len(data)} SYNTHETIC clients, {data['coach'].nunique()} coaches")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = fit_person(data, formula=DELIVERED_FORMULA, draws=draws, tune=draws, chains=2,
                         cores=1, random_seed=1, target_accept=0.9)
    diag = person_gate(res)
    if not diag.passed:
        print(f"status: FAILED diagnostics ({'; '.join(diag.problems)}): no estimates "
              "shown; rerun with more draws, e.g. --draws 1000")
        return 0
    print(f"status: passed diagnostics ({diag.divergences} divergences, max R-hat "
          f"{diag.rhat_max:.3f}, min bulk ESS {diag.ess_bulk_min:.0f})")
    tab = res.summary()
    truth = true_arm_effects(EFFECTS)
    tab["true_log_odds"] = [truth.get(a) if t == "arm" else None
                            for t, a in zip(tab["term"], tab["arm"], strict=True)]
    twin = lpm_cluster(data, "work_gt12h_m24")
    with pd.option_context("display.width", 160, "display.max_columns", 20):
        print(tab.round(3).to_string(index=False))
        print(f"frequentist twin ({twin.attrs['note']}):")
        print(twin.round(3).to_string(index=False))
    print(f"rows fitted: {res.n_rows} (from {res.n_persons} persons, collapsed={res.collapsed})")
    return 0


def benchmark(draws: int, tune: int, chains: int, formula: str | None,
              samplers: list[str]) -> None:
    """6,000-client model: collapsed vs not, pymc vs nutpie."""
    import arviz as az

    data = simulate_microdata(effects=EFFECTS, seed=2017)
    print(f"{len(data)} SYNTHETIC clients, {data['coach'].nunique()} coaches")
    rows = []
    for collapse in (True, False):
        for sampler in samplers:
            t0 = time.perf_counter()
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                res = fit_person(data, collapse=collapse, sampler=sampler, draws=draws,
                                 tune=tune, chains=chains, random_seed=1,
                                 **({"formula": formula} if formula else {}))
            wall = time.perf_counter() - t0
            post = res.tree["posterior"]
            names = [v for v in post.data_vars if v.endswith("_sigma") or v in ("arm",
                                                                                 "delivered")]
            ess = az.ess(res.tree, var_names=names)
            min_ess = min(float(ess[v].min()) for v in names)
            samp = float(post.attrs.get("sampling_time", res.sampling_seconds))
            diag = person_gate(res)
            rows.append({"collapsed": collapse, "sampler": sampler, "rows": res.n_rows,
                         "wall_s": round(wall, 1), "sampling_s": round(samp, 1),
                         "min_ess_bulk": round(min_ess), "ess_per_s_wall": round(min_ess / wall, 1),
                         "ess_per_s_sampling": round(min_ess / samp, 1),
                         "divergences": int(res.tree["sample_stats"]["diverging"].sum()),
                         "status": diag.status})
            print(rows[-1], flush=True)
    print(pd.DataFrame(rows).to_string(index=False))


def main() -> int:
    """Parse flags and run the demo or the benchmark."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--benchmark", action="store_true", help="run the 6,000-client benchmark")
    p.add_argument("--draws", type=int, default=None,
                   help="draws (and tuning steps) per chain (default: demo 500, benchmark 500)")
    p.add_argument("--tune", type=int, default=500)
    p.add_argument("--chains", type=int, default=2)
    p.add_argument("--formula", default=None, help="benchmark formula (default: the default)")
    p.add_argument("--samplers", default="nutpie,pymc", help="comma-separated samplers")
    a = p.parse_args()
    if a.benchmark:
        benchmark(a.draws or 500, a.tune, a.chains, a.formula, a.samplers.split(","))
        return 0
    return demo(a.draws or 500)


if __name__ == "__main__":
    raise SystemExit(main())
