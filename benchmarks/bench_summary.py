"""Benchmark 1: summary-level model — our default fit vs plain PyMC / nutpie / numpyro,
and the exact quadrature path vs MCMC on the normal-normal model.

Each method runs in its own fresh process with empty PyTensor/Numba caches:
fit 1 = **cold** (first fit, compile included), fit 2 = **warm** (same outcome again, same
process), fit 3 = **other outcome** (same process; shows reuse of compiled code across
outcomes). ESS/s = min bulk ESS over every coordinate of ``mu`` and ``tau`` divided by the
wall time of that fit.
"""

from __future__ import annotations

import contextlib
import io
import logging
import statistics
import sys
import tempfile
import time
import warnings
from dataclasses import replace
from pathlib import Path
from typing import Any

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import (
    COMPILE_S,
    ROOT,
    fresh_cache_env,
    min_bulk_ess,
    ratio,
    run_worker,
    time_nutpie_compile,
    worker_main,
)

OUTCOMES = ("work_gt12h", "work_gt12h", "work_gt8h")
SPEC = ROOT / "models" / "meta_components.toml"
# Eight schools (Rubin 1981): the classic normal-normal data set.
EIGHT_Y = [28.0, 8.0, -3.0, 7.0, -1.0, 1.0, 18.0, 12.0]
EIGHT_S = [15.0, 10.0, 16.0, 11.0, 9.0, 11.0, 10.0, 18.0]
NN_MU_PRIOR = (0.0, 20.0)
NN_TAU_SD = 10.0

# pymc_default: pm.sample() with no nuts_sampler — in PyMC >= 6 that *is* nutpie whenever
# nutpie is installed and the model compiles to numba (so a separate "pymc_nutpie" would be
# the same run twice); pymc_nuts forces PyMC's own NUTS (nuts_sampler="pymc").
SUMMARY_METHODS = ("fit_meta", "pymc_default", "pymc_nuts", "pymc_numpyro")
NN_METHODS = ("nn_exact", "nn_pymc_default", "nn_pymc_nuts", "nn_numpyro")


# --------------------------------------------------------------------------- worker


def _quiet() -> contextlib.ExitStack:
    stack = contextlib.ExitStack()
    stack.enter_context(warnings.catch_warnings())
    warnings.simplefilter("ignore")
    stack.enter_context(contextlib.redirect_stderr(io.StringIO()))
    logging.getLogger("pymc").setLevel(logging.ERROR)
    return stack


def _pm_sample(model: Any, method: str, cfg: dict[str, Any], target_accept: float) -> Any:
    import pymc as pm

    kw: dict[str, Any] = {}
    if method.endswith("pymc_nuts"):
        kw["nuts_sampler"] = "pymc"
    elif method.endswith("nutpie"):
        kw["nuts_sampler"] = "nutpie"
    elif method.endswith("numpyro"):
        kw["nuts_sampler"] = "numpyro"
    with _quiet():
        return pm.sample(draws=cfg["draws"], tune=cfg["tune"], chains=cfg["chains"], cores=2,
                         random_seed=2017, target_accept=target_accept, model=model,
                         progressbar=False, compute_convergence_checks=False, **kw)


def _summary_fit(method: str, outcome: str, cfg: dict[str, Any]) -> dict[str, Any]:
    from bayes_bijstand.evidence.load import load_evidence
    from bayes_bijstand.evidence.outcomes import outcome_kind
    from bayes_bijstand.meta import fit_meta
    from bayes_bijstand.models.selection import select_rows
    from bayes_bijstand.models.summary_level import build_model, prepare
    from bayes_bijstand.specs import load_spec

    spec = load_spec(SPEC)
    spec = replace(spec, sampler=replace(spec.sampler, draws=cfg["draws"], tune=cfg["tune"],
                                         chains=cfg["chains"]))
    ev = load_evidence()
    out: dict[str, Any] = {"outcome": outcome}
    t0 = time.perf_counter()
    if method == "fit_meta":
        with _quiet():
            res = fit_meta(ev, spec, outcome)
        tree = res.tree
        out["diagnostics"] = {"status": res.diagnostics.status, "retried": res.diagnostics.retried}
    else:
        kind = outcome_kind(outcome)
        data = prepare(select_rows(ev, outcome, kind, spec), outcome, kind, spec)
        model = build_model(data, spec)
        tree = _pm_sample(model, method, cfg, spec.sampler.target_accept)
    out["wall_s"] = time.perf_counter() - t0
    ess = min_bulk_ess(tree, ["mu", "tau"])
    out["ess_bulk"] = ess
    out["ess_min"] = min(ess.values()) if ess else None
    out["ess_per_s"] = out["ess_min"] / out["wall_s"] if ess else None
    stats = tree["sample_stats"]
    with contextlib.suppress(Exception):
        out["divergences"] = int(stats["diverging"].sum().item())
    return out


def _nn_model() -> Any:
    import numpy as np
    import pymc as pm

    y, s = np.array(EIGHT_Y), np.array(EIGHT_S)
    with pm.Model() as model:
        mu = pm.Normal("mu", NN_MU_PRIOR[0], NN_MU_PRIOR[1])
        tau = pm.HalfNormal("tau", NN_TAU_SD)
        z = pm.Normal("z", 0.0, 1.0, shape=len(y))
        pm.Normal("y", mu + tau * z, s, observed=y)
    return model


def _nn_fit(method: str, cfg: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {"outcome": "eight_schools"}
    if method == "nn_exact":
        from bayes_bijstand.models.quadrature import exact_normal_normal

        def one() -> Any:
            post = exact_normal_normal(EIGHT_Y, EIGHT_S, mu_prior=NN_MU_PRIOR,
                                       tau_prior=("halfnormal", NN_TAU_SD))
            summ = {"mu_mean": post.mu_mean, "mu_sd": post.mu_sd, "tau_mean": post.tau_mean,
                    "tau_sd": post.tau_sd, "mu_q": list(post.mu_quantile([0.025, 0.975])),
                    "tau_q": list(post.tau_quantile([0.025, 0.975]))}
            return summ

        t0 = time.perf_counter()
        summ = one()
        out["wall_s"] = time.perf_counter() - t0
        out["posterior"] = summ
        out["ess_min"] = None  # exact: no Monte Carlo error
        return out
    import numpy as np

    t0 = time.perf_counter()
    tree = _pm_sample(_nn_model(), method, cfg, 0.9)
    out["wall_s"] = time.perf_counter() - t0
    ess = min_bulk_ess(tree, ["mu", "tau"])
    out["ess_bulk"] = ess
    out["ess_min"] = min(ess.values()) if ess else None
    out["ess_per_s"] = out["ess_min"] / out["wall_s"] if ess else None
    post = tree["posterior"]
    mu, tau = np.asarray(post["mu"]).ravel(), np.asarray(post["tau"]).ravel()
    out["posterior"] = {"mu_mean": float(mu.mean()), "mu_sd": float(mu.std()),
                        "tau_mean": float(tau.mean()), "tau_sd": float(tau.std())}
    with contextlib.suppress(Exception):
        out["divergences"] = int(tree["sample_stats"]["diverging"].sum().item())
    return out


def worker(cfg: dict[str, Any]) -> dict[str, Any]:
    from _common import write_json

    t_imp = time.perf_counter()
    import pymc  # noqa: F401  (import cost reported separately from fit time)

    import bayes_bijstand.meta  # noqa: F401

    if cfg["method"].endswith("numpyro"):
        import numpyro  # noqa: F401
    time_nutpie_compile()
    res: dict[str, Any] = {"import_s": time.perf_counter() - t_imp, "fits": []}
    labels = ("cold", "warm", "other_outcome")[:cfg.get("n_fits", 3)]

    def partial(f: dict[str, Any]) -> None:
        # nutpie compile seconds of this fit; written after every fit so a timeout keeps them
        f["nutpie_compile_s"] = sum(COMPILE_S) if COMPILE_S else None
        COMPILE_S.clear()
        res["fits"].append(f)
        if cfg.get("_result"):
            write_json(cfg["_result"], res)
    if cfg["method"].startswith("nn_"):
        for label in labels[:2]:
            f = _nn_fit(cfg["method"], cfg)
            f["label"] = label
            partial(f)
        if cfg["method"] == "nn_exact":  # median of many warm calls: it is sub-second
            times = []
            for _ in range(cfg.get("exact_repeats", 50)):
                times.append(_nn_fit("nn_exact", cfg)["wall_s"])
            res["fits"][1]["wall_s"] = statistics.median(times)
            res["fits"][1]["repeats"] = len(times)
    else:
        for label, outcome in zip(labels, OUTCOMES, strict=False):
            f = _summary_fit(cfg["method"], outcome, cfg)
            f["label"] = label
            partial(f)
        with contextlib.suppress(Exception):
            from bayes_bijstand.models import backends

            res["compile_log"] = [{"seconds": r["seconds"], "pooling": r["pooling"]}
                                  for r in backends.COMPILE_LOG]
    return res


# --------------------------------------------------------------------------- driver


def _available(method: str) -> str | None:
    if method.endswith("numpyro"):
        try:
            import jax  # noqa: F401
            import numpyro  # noqa: F401
        except ImportError as e:
            return f"not installable/installed: {e}"
    return None


def run(quick: bool = False, timeout: float = 600.0, log: Any = print,
        draws: int | None = None, n_fits: int = 3) -> dict[str, Any]:
    n = draws or (300 if quick else 1000)
    cfg = {"draws": n, "tune": n, "chains": 4, "n_fits": n_fits}
    results: dict[str, Any] = {"settings": {**cfg, "outcomes": OUTCOMES, "spec": str(SPEC.name),
                                            "cores": 2, "seed": 2017,
                                            "normal_normal": {"data": "eight schools",
                                                              "mu_prior": NN_MU_PRIOR,
                                                              "tau_prior": ["halfnormal",
                                                                            NN_TAU_SD]}},
                               "methods": {}}
    for method in (*SUMMARY_METHODS, *NN_METHODS):
        why = _available(method)
        if why:
            results["methods"][method] = {"status": why}
            log(f"  summary/{method}: {why}")
            continue
        with tempfile.TemporaryDirectory(prefix="bench-cache-") as td:
            r = run_worker(Path(__file__), {"method": method, **cfg}, timeout=timeout,
                           env=fresh_cache_env(td))
        results["methods"][method] = r
        walls = [round(f["wall_s"], 2) for f in r.get("fits", [])]
        log(f"  summary/{method}: {r['status']} walls={walls} "
            f"ess/s={[round(f.get('ess_per_s') or 0, 1) for f in r.get('fits', [])]}")
    results["ratios"] = ratios(results)
    return results


def _fit(results: dict[str, Any], method: str, label: str) -> dict[str, Any] | None:
    m = results["methods"].get(method, {})
    for f in m.get("fits", []):
        if f["label"] == label:
            return f
    return None


def ratios(results: dict[str, Any]) -> dict[str, Any]:
    """ours / alternative for wall time (lower is better) and ESS/s (higher is better)."""
    out: dict[str, Any] = {}
    for ours, alts in (("fit_meta", SUMMARY_METHODS[1:]), ("nn_exact", NN_METHODS[1:])):
        for alt in alts:
            row: dict[str, Any] = {}
            for label in ("cold", "warm", "other_outcome"):
                a, b = _fit(results, ours, label), _fit(results, alt, label)
                if a is None or b is None:
                    continue
                row[f"wall_{label}"] = ratio(a["wall_s"], b["wall_s"])
                row[f"ess_per_s_{label}"] = ratio(a.get("ess_per_s"), b.get("ess_per_s"))
            out[f"{ours}/{alt}"] = row
    return out


if __name__ == "__main__":
    sys.exit(worker_main(worker))
