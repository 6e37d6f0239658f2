"""Person-level model: recovery coverage of 90% intervals and SBC ranks of the arm effects.

Why: the issue's validation item - true values should fall inside the 90% intervals at about
the nominal rate over repeated simulations, and the arm effects should pass a
simulation-based calibration (SBC) check. See :mod:`bayes_bijstand.recovery` for what each
part measures and what it can and cannot show.

1. **Coverage** (``--reps`` replications, seeds ``--seed``, ``--seed + 1``, ...): simulate
   :class:`~bayes_bijstand.recovery.RecoveryDesign` data with fixed true arm effects
   (``--effects``), gemeente SD ``--tau`` and coach SD ``--sigma-coach``; fit
   ``fit_person`` (lean formula, participants only); record for every arm effect, every
   arm's tau and sigma_coach whether the equal-tailed 90% interval holds the true value.
   Reported per parameter, per term and overall, with binomial SEs.
2. **SBC** (``--sbc-reps``): one fixed design, parameters drawn from the model's prior,
   outcomes from the model itself, ``--n-ranks`` thinned posterior draws; ranks of the true
   arm effects, a histogram in ``--bins`` bins and a chi-square uniformity p-value per arm
   and pooled over arms.

Results go to ``--out`` (JSON, rewritten atomically after every replication, so an
interrupted run keeps what it measured) and a Markdown summary next to it.

The committed runs (13 and 4 min on the loaded 2-core machine)::

    .venv/bin/python benchmarks/person_recovery_coverage.py --reps 20 --sbc-reps 10
    .venv/bin/python benchmarks/person_recovery_coverage.py --reps 10 --sbc-reps 0 \\
        --tau 0.4 --sigma-coach 0.4 \\
        --out benchmarks/results/person_recovery_coverage_tau04.json

and the delivered model's nominal check on the calibrated design (two processes, merged)::

    .venv/bin/python benchmarks/person_recovery_coverage.py --model calibrated --reps 60 \\
        --sbc-reps 0 --draws 300 --tune 300 --seed 2000 --out A.json   # and --seed 2100
    .venv/bin/python benchmarks/person_recovery_coverage.py --merge A.json B.json \\
        --out benchmarks/results/person_delivered_coverage.json
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import machine_info, write_json, write_text

from bayes_bijstand.recovery import (
    FitSettings,
    RecoveryDesign,
    coverage_table,
    nominal_check,
    rank_uniformity,
    run_coverage,
    sbc_interval_coverage,
    sbc_replications,
)
from bayes_bijstand.simulate import parse_effects

RESULTS = Path(__file__).resolve().parent / "results"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Command-line options."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--reps", type=int, default=20, help="coverage replications (0: skip)")
    ap.add_argument("--sbc-reps", type=int, default=10, help="SBC replications (0: skip)")
    ap.add_argument("--seed", type=int, default=1000, help="first coverage seed; SBC seed")
    ap.add_argument("--effects", default="zelf_in_actie=0,extra_hulp=0.5,werken_loont=0.3",
                    help="true component effects (log-odds), comma-separated k=v")
    ap.add_argument("--tau", type=float, default=0.1, help="true between-gemeente SD")
    ap.add_argument("--sigma-coach", type=float, default=0.2, help="true coach SD")
    ap.add_argument("--gemeenten", default=None,
                    help="default: oss,nijmegen,wageningen,utrecht (assigned model) or the "
                    "six gemeenten with experiment coaches (delivered model)")
    ap.add_argument("--model", choices=["assigned", "delivered", "calibrated"],
                    default="assigned",
                    help="assigned: arm + coach intercepts, participants only; delivered: the "
                    "delivered-treatment model on all clients; calibrated: delivered, with "
                    "every replication's true SDs drawn from the model's priors and the "
                    "simulator made the fitted model (RecoveryDesign.calibrated)")
    ap.add_argument("--sigma-caseworker", type=float, default=None,
                    help="true SD of caseworker intercepts (default: --sigma-coach)")
    ap.add_argument("--truth-prior-sd", type=float, default=None,
                    help="draw every replication's true SDs from HalfNormal(this) (the "
                    "calibrated model's default is 0.5); with --model delivered this keeps "
                    "the realistic simulator (person propensity, seven covariates)")
    ap.add_argument("--scale", type=float, default=1.0)
    ap.add_argument("--draws", type=int, default=500)
    ap.add_argument("--tune", type=int, default=500)
    ap.add_argument("--chains", type=int, default=2)
    ap.add_argument("--sampler", choices=["nutpie", "pymc"], default="nutpie")
    ap.add_argument("--target-accept", type=float, default=0.9)
    ap.add_argument("--n-ranks", type=int, default=99, help="posterior draws per SBC rank (L)")
    ap.add_argument("--bins", type=int, default=5, help="SBC histogram bins")
    ap.add_argument("--out", type=Path, default=RESULTS / "person_recovery_coverage.json")
    ap.add_argument("--merge", type=Path, nargs="+", default=None,
                    help="combine the coverage replications of these result files (runs of "
                    "one design with disjoint seeds, e.g. one per core) into --out")
    ap.add_argument("--report-only", action="store_true",
                    help="recompute the tables and the Markdown from --out's stored rows")
    a = ap.parse_args(argv)
    if (a.n_ranks + 1) % a.bins:
        ap.error("--n-ranks + 1 must be divisible by --bins")
    return a


def _records(df: pd.DataFrame) -> list[dict[str, Any]]:
    return [{k: (None if isinstance(v, float) and not np.isfinite(v) else v)
             for k, v in r.items()} for r in df.to_dict(orient="records")]


def sbc_summary(sbc: pd.DataFrame, n_ranks: int, bins: int) -> dict[str, Any]:
    """Rank histograms, chi-square p-values and central-90% coverage per arm and pooled."""
    def one(ranks: np.ndarray) -> dict[str, Any]:
        return {**rank_uniformity(ranks, n_ranks, bins),
                "coverage_90": sbc_interval_coverage(ranks, n_ranks)}

    out: dict[str, Any] = {"per_arm": {arm: one(g["rank"].to_numpy())
                                       for arm, g in sbc.groupby("arm", sort=True)}}
    out["pooled"] = one(sbc["rank"].to_numpy())
    return out


def coverage_section(rows: pd.DataFrame, seconds: float) -> dict[str, Any]:
    """The report's coverage part from the replication rows."""
    tab = coverage_table(rows)
    ng = rows.groupby(["term", "arm"])["n_gemeenten"].max()
    tab["n_gemeenten"] = [ng.get((t, arm)) if lev == "parameter" else None
                          for lev, t, arm in zip(tab["level"], tab["term"], tab["arm"],
                                                 strict=True)]
    return {"reps": int(rows["rep"].nunique()),
            "nominal_check": nominal_check(coverage_table(rows)),
            "seeds": sorted(map(int, rows["rep"].unique())), "seconds": seconds,
            "divergences": int(rows.groupby("rep")["divergences"].first().sum()),
            "table": _records(tab), "replications": _records(rows)}


def sbc_section(rows: pd.DataFrame, seconds: float, n_ranks: int, bins: int,
                seed: int) -> dict[str, Any]:
    """The report's SBC part from the rank rows."""
    return {"reps": int(rows["rep"].nunique()), "n_ranks": n_ranks, "bins": bins,
            "seed": seed, "seconds": seconds,
            "divergences": int(rows.groupby("rep")["divergences"].first().sum()),
            "summary": sbc_summary(rows, n_ranks, bins), "ranks": _records(rows)}


def markdown(report: dict[str, Any]) -> str:
    """Human-readable summary of the JSON report."""
    lines = ["# Person-level model: recovery coverage and SBC", "",
             f"Written by `benchmarks/person_recovery_coverage.py` on {report['date_utc']} "
             f"({report['machine']['nproc']} cores, other jobs running; see the JSON for "
             "versions). Data are SYNTHETIC (`bayes_bijstand.simulate`).", ""]
    d, f = report["design"], report["fit"]
    lines += [f"Design: gemeenten {', '.join(d['gemeenten'])}, scale {d['scale']}, "
              f"participants only = {d['participants_only']}; formula `{d['formula']}`; "
              f"true component effects {d['effects']}, tau {d['tau']}, sigma_coach "
              f"{d['sigma_coach']}, sigma_caseworker {d.get('sigma_caseworker')}"
              + (f" - replaced in every replication by true SDs drawn from HalfNormal("
                 f"{d['truth_prior_sd']}), the fitted model's priors (one tau per arm, "
                 f"sigma_coach, sigma_caseworker); person propensity SD {d.get('person_sd')}, "
                 f"covariate effects {d.get('covariate_effects')}"
                 if d.get("truth_prior_sd") else "") + ". "
              f"Fit: {f['chains']} chains x {f['draws']} draws "
              f"(+{f['tune']} tune), {f['sampler']}, target_accept {f['target_accept']}.", ""]
    cov = report.get("coverage")
    if cov:
        lines += [f"## Coverage of equal-tailed 90% intervals ({cov['reps']} replications, "
                  f"{cov['seconds']:.0f} s, {cov['divergences']} divergent transitions in all)",
                  "",
                  "`n_gemeenten`: gemeenten that randomised the arm (1: tau is identified by "
                  "its prior only). `se`: binomial SE; for pooled rows it treats the "
                  "parameters of one replication as independent. `mean_bias`: posterior "
                  "mean minus truth. `post_sd` / `sd_of_means`: average posterior SD and "
                  "the SD of the posterior means over replications (post_sd well above "
                  "sd_of_means: conservative intervals).", ""]
        nc = cov.get("nominal_check")
        if nc:
            lines += [f"**Nominal check: {'PASSED' if nc['passed'] else 'FAILED'}** - terms "
                      f"{', '.join(nc.get('terms', []))}: coverage {nc['coverage']:.3f} ({nc['covered']}/{nc['n']}) vs nominal "
                      f"{nc['nominal']:.2f}; allowed: within {nc['z']:.0f} binomial SEs at the "
                      f"nominal rate ({nc['z'] * nc['se_at_nominal']:.3f}).", ""]
        lines += [

                  "| level | term | arm | n_gemeenten | n | covered | coverage | se | "
                  "mean_bias | mean_width | post_sd | sd_of_means |",
                  "|---|---|---|---|---|---|---|---|---|---|---|---|"]

        def num(v: Any, fmt: str) -> str:
            return "" if v is None else format(v, fmt)

        for r in cov["table"]:
            ng = r.get("n_gemeenten")
            lines.append(f"| {r['level']} | {r['term']} | {r['arm']} | "
                         f"{'' if ng is None else int(ng)} | {r['n']} | {r['covered']} | "
                         f"{r['coverage']:.3f} | {r['se']:.3f} | {r['mean_bias']:+.3f} | "
                         f"{r['mean_width']:.3f} | {num(r.get('mean_post_sd'), '.3f')} | "
                         f"{num(r.get('sd_of_means'), '.3f')} |")
        lines.append("")
    sbc = report.get("sbc")
    if sbc:
        s = sbc["summary"]
        lines += [f"## SBC of the arm effects ({sbc['reps']} replications, L = "
                  f"{sbc['n_ranks']} draws, {sbc['seconds']:.0f} s, "
                  f"{sbc['divergences']} divergent transitions)", "",
                  "Rank histogram in equal bins, the expected count per bin and the "
                  "chi-square uniformity p-value; `coverage_90`: share of true values "
                  "(drawn from the prior) inside the central 90% of the posterior draws, "
                  "with its binomial SE. With this few replications only gross "
                  "miscalibration would show.", "",
                  "| arm | counts | expected | chi2 | p | coverage_90 |",
                  "|---|---|---|---|---|---|"]
        for arm, u in [*s["per_arm"].items(), ("pooled", s["pooled"])]:
            c = u.get("coverage_90")
            cov90 = "" if c is None else f"{c['coverage']:.2f} ({c['se']:.2f}, n {c['n']})"
            lines.append(f"| {arm} | {' '.join(map(str, u['counts']))} | {u['expected']:.1f} "
                         f"| {u['chi2']:.2f} | {u['p_value']:.3f} | {cov90} |")
        lines.append("")
    return "\n".join(lines)


def report_only(path: Path) -> int:
    """Recompute the summaries and the Markdown from the rows stored in ``path``."""
    import json

    report = json.loads(path.read_text())
    if "coverage" in report:
        c = report["coverage"]
        report["coverage"] = coverage_section(pd.DataFrame(c["replications"]), c["seconds"])
    if "sbc" in report:
        b = report["sbc"]
        report["sbc"] = sbc_section(pd.DataFrame(b["ranks"]), b["seconds"], b["n_ranks"],
                                    b["bins"], b["seed"])
    write_json(path, report)
    write_text(path.with_suffix(".md"), markdown(report))
    print(f"rewrote {path} and {path.with_suffix('.md')}")
    return 0


def merge(paths: list[Path], out: Path) -> int:
    """One report from the coverage parts of several runs of the same design and fit."""
    import json

    reports = [json.loads(p.read_text()) for p in paths]
    first = reports[0]
    for p, r in zip(paths[1:], reports[1:], strict=True):
        same = (r["design"], r["fit"]) == (first["design"], first["fit"])
        if not same:
            raise SystemExit(f"error: {p}: design or fit settings differ from {paths[0]}")
    rows = pd.concat([pd.DataFrame(r["coverage"]["replications"]) for r in reports],
                     ignore_index=True)
    seeds = [set(r["coverage"]["seeds"]) for r in reports]
    if sum(map(len, seeds)) != len(set().union(*seeds)):
        raise SystemExit("error: the runs share seeds")
    report = {**first, "command": " ; ".join(r["command"] for r in reports),
              "merged_from": [str(p) for p in paths],
              "coverage": coverage_section(rows, sum(r["coverage"]["seconds"]
                                                      for r in reports))}
    report.pop("sbc", None)
    write_json(out, report)
    write_text(out.with_suffix(".md"), markdown(report))
    print(f"wrote {out} and {out.with_suffix('.md')}")
    return 0


def main(argv: list[str] | None = None) -> int:
    """Run the coverage study and SBC, writing JSON and Markdown as it goes."""
    a = parse_args(argv)
    if a.merge:
        return merge(a.merge, a.out)
    if a.report_only:
        return report_only(a.out)
    kw: dict[str, Any] = {"effects": parse_effects(a.effects), "tau": a.tau,
                          "sigma_coach": a.sigma_coach, "scale": a.scale,
                          "sigma_caseworker": a.sigma_caseworker}
    if a.gemeenten:
        kw["gemeenten"] = tuple(a.gemeenten.split(","))
    if a.truth_prior_sd is not None:
        kw["truth_prior_sd"] = a.truth_prior_sd
    if a.model == "calibrated":
        kw = {k: v for k, v in kw.items()
              if k in ("effects", "scale", "gemeenten", "truth_prior_sd")}
    design = {"delivered": RecoveryDesign.delivered, "calibrated": RecoveryDesign.calibrated
              }.get(a.model, RecoveryDesign)(**kw)
    fit = FitSettings(draws=a.draws, tune=a.tune, chains=a.chains, sampler=a.sampler,
                      target_accept=a.target_accept)
    report: dict[str, Any] = {"design": design.to_dict(), "fit": fit.kwargs(),
                              "command": " ".join(sys.argv), "machine": machine_info(),
                              "date_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
    md_path = a.out.with_suffix(".md")

    def save() -> None:
        write_json(a.out, report)
        write_text(md_path, markdown(report))

    if a.reps > 0:
        t0 = time.perf_counter()

        def on_cov(rows: pd.DataFrame) -> None:
            report["coverage"] = coverage_section(rows, time.perf_counter() - t0)
            save()
            ov = next(r for r in report["coverage"]["table"] if r["level"] == "overall")
            print(f"coverage after {report['coverage']['reps']} reps: {ov['coverage']:.3f} "
                  f"(se {ov['se']:.3f}, n {ov['n']}); {time.perf_counter() - t0:.0f} s",
                  flush=True)

        run_coverage(design, range(a.seed, a.seed + a.reps), fit, on_replication=on_cov)
        tab = pd.DataFrame(report["coverage"]["table"])
        with pd.option_context("display.width", 200, "display.max_columns", 20):
            print(tab.round(3).to_string(index=False))
    if a.sbc_reps > 0:
        t0 = time.perf_counter()

        def on_sbc(rows: pd.DataFrame) -> None:
            report["sbc"] = sbc_section(rows, time.perf_counter() - t0, a.n_ranks, a.bins,
                                        a.seed)
            save()
            print(f"SBC rep {report['sbc']['reps']}/{a.sbc_reps}: "
                  f"{time.perf_counter() - t0:.0f} s", flush=True)

        sbc_replications(design, a.sbc_reps, fit, n_ranks=a.n_ranks, seed=a.seed,
                         on_replication=on_sbc)
        summ = report["sbc"]["summary"]
        for arm, u in [*summ["per_arm"].items(), ("pooled", summ["pooled"])]:
            print(f"SBC {arm}: counts {u['counts']} p = {u['p_value']:.3f}; central-90% "
                  f"coverage {u['coverage_90']['coverage']:.2f}")
    save()
    print(f"wrote {a.out} and {md_path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
