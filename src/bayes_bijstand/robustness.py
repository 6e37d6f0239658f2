"""Robustness by refitting: leave one municipality out, and a multiverse of assumptions.

    python -m bayes_bijstand.robustness --posterior OUT [--outcome work_gt8h ...]
        [--no-loo] [--no-multiverse] [--draws N]

For each headline outcome of the run in ``OUT`` (default: the employment outcomes of the
report's headline that the run pooled), with the spec that ran (read from the fits) and the
same evidence:

* **leave-one-municipality-out**: an exact refit without every evidence row of one
  municipality, for every municipality the fit used, prose-only ones included;
* **multiverse**: a refit under each assumption in :data:`VARIANTS` that can move a result
  (bias priors halved and doubled, randomised comparisons only, no prose, no markers or
  prose, a three times wider Zelen decliner shift, almost no covariate-adjustment credit,
  twice as wide priors, every time point instead of the last). A variant that the spec
  cannot express is skipped, and a refit that fails the diagnostics gate is kept with its
  status, so a reader sees it.

Writes ``OUT/robustness_loo.csv`` and ``OUT/multiverse.csv`` (atomically; pooled ``mu_arm``
per arm on the model scale with ``mean, ci_low, ci_high, prob_gt_0, status``), which the
HTML report shows when they exist; then rebuilds ``OUT/report.html`` unless
``--no-report``. Cost: one fit per municipality and per variant (about 10-40 s each on
2 cores).
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import pandas as pd

from .errors import InputError, SpecError
from .specs import ModelSpec

log = logging.getLogger(__name__)

Variant = tuple[str, str, Callable[[ModelSpec], ModelSpec]]


def _bias(f: float) -> Callable[[ModelSpec], ModelSpec]:
    return lambda s: replace(s, bias_sd={k: v * f for k, v in s.bias_sd.items()})


def _priors(f: float) -> Callable[[ModelSpec], ModelSpec]:
    def go(s: ModelSpec) -> ModelSpec:
        return replace(s, binary=replace(s.binary, mu_sd=s.binary.mu_sd * f, tau_sd=s.binary.tau_sd * f),
                       score=replace(s.score, mu_sd=s.score.mu_sd * f, tau_sd=s.score.tau_sd * f))
    return go


VARIANTS: tuple[Variant, ...] = (
    ("baseline", "the spec as it ran", lambda s: s),
    ("bias_sd_x0.5", "bias priors of weaker comparisons halved", _bias(0.5)),
    ("bias_sd_x2", "bias priors of weaker comparisons doubled", _bias(2.0)),
    ("randomised_only", "randomised vs control rows only",
     lambda s: replace(s, comparisons=("vs_control",))),
    ("no_prose", "without prose rows",
     lambda s: replace(s, grades=tuple(g for g in s.grades if g != "prose"))),
    ("numbers_only", "without significance markers and prose",
     lambda s: replace(s, grades=tuple(g for g in s.grades if g not in ("marker", "prose")))),
    ("decliner_shift_x3", "Zelen decliner shift SD three times wider",
     lambda s: replace(s, offer_spillover_sd=3 * s.offer_spillover_sd)),
    ("no_covariate_credit", "almost no covariate-adjustment credit (R2 ~ Beta(1, 1000))",
     lambda s: replace(s, r2_alpha=1.0, r2_beta=1000.0)),
    ("priors_x2", "pooled-effect and heterogeneity priors twice as wide", _priors(2.0)),
    ("all_time_points", "every time point instead of the last", lambda s: replace(s, months="all")),
)
"""(name, what it changes, spec transform): the assumptions that can move a result."""


def _pooled(res: Any) -> list[dict[str, Any]]:
    s = res.summary()
    s = s[s["parameter"] == "mu_arm"]
    return [{"arm": r["label"], "mean": r["mean"], "ci_low": r["ci_low"], "ci_high": r["ci_high"],
             "prob_gt_0": r["prob_gt_0"], "status": res.diagnostics.status,
             "n_rows_used": int(res.table["used"].sum()), "gemeenten": len(res.data.gemeenten)}
            for _, r in s.iterrows()]


def _fit(evidence: pd.DataFrame, spec: ModelSpec, outcome: str, cores: int) -> list[dict[str, Any]]:
    from .meta import fit_meta

    res = fit_meta(evidence, spec, outcome, cores=cores, prior_predictive=False,
                   posterior_predictive=False)
    return _pooled(res)


def leave_one_out(evidence: pd.DataFrame, spec: ModelSpec, outcome: str, gemeenten: list[str], *,
                  cores: int = 2) -> pd.DataFrame:
    """Exact refits of ``outcome`` without each municipality in turn (rows ``left_out``)."""
    rows: list[dict[str, Any]] = []
    for g in gemeenten:
        ev = evidence[~((evidence["outcome"] == outcome) & (evidence["gemeente"] == g))]
        try:
            got = _fit(ev, spec, outcome, cores)
        except (InputError, ValueError) as exc:
            rows.append({"outcome": outcome, "left_out": g, "arm": "", "status": f"not fitted: {exc}"})
            continue
        rows += [{"outcome": outcome, "left_out": g, **r} for r in got]
        log.info("loo %s without %s: done", outcome, g)
    return pd.DataFrame(rows)


def multiverse(evidence: pd.DataFrame, spec: ModelSpec, outcome: str, *, cores: int = 2,
               variants: tuple[Variant, ...] = VARIANTS) -> pd.DataFrame:
    """Refits of ``outcome`` under each variant of the spec (rows ``variant``)."""
    rows: list[dict[str, Any]] = []
    for name, what, change in variants:
        try:
            s = change(spec)
            got = _fit(evidence, s, outcome, cores)
        except (InputError, SpecError, ValueError) as exc:
            rows.append({"outcome": outcome, "variant": name, "what": what, "arm": "",
                         "status": f"not fitted: {exc}"})
            continue
        rows += [{"outcome": outcome, "variant": name, "what": what, **r} for r in got]
        log.info("multiverse %s %s: done", outcome, name)
    return pd.DataFrame(rows)


def main(argv: list[str] | None = None) -> int:
    """Entry point; returns the exit code (0 ok, 2 bad input)."""
    from .io import atomic_write_text
    from .report.methods import spec_of_run
    from .report.vocab import HEADLINE_EMPLOYMENT

    ap = argparse.ArgumentParser(prog="python -m bayes_bijstand.robustness",
                                 description="Exact leave-one-municipality-out and multiverse "
                                             "refits of a run's headline outcomes.")
    ap.add_argument("--posterior", type=Path, required=True, metavar="OUT",
                    help="the run's output directory (with summary.json and fits/)")
    ap.add_argument("--outcome", nargs="+", metavar="CODE",
                    help="outcomes to refit (default: the pooled headline employment outcomes)")
    ap.add_argument("--no-loo", action="store_true", help="skip leave-one-municipality-out")
    ap.add_argument("--no-multiverse", action="store_true", help="skip the multiverse")
    ap.add_argument("--draws", type=int, help="draws per chain (default: the spec's)")
    ap.add_argument("--cores", type=int, default=2)
    ap.add_argument("--no-report", action="store_true", help="do not rebuild report.html")
    a = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    root = a.posterior
    try:
        summary = json.loads((root / "summary.json").read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        print(f"error: {root / 'summary.json'}: cannot read ({type(exc).__name__})", file=sys.stderr)
        return 2
    spec, _ = spec_of_run(root, summary)
    if spec is None:
        print(f"error: {root}: the spec that ran cannot be read from the fits", file=sys.stderr)
        return 2
    if a.draws:
        spec = replace(spec, sampler=replace(spec.sampler, draws=a.draws))
    from .evidence.load import load_evidence

    est = summary.get("inputs", {}).get("estimates_file")
    evidence = load_evidence(est) if est else load_evidence()
    mains = {f["outcome"]: f for f in summary.get("fits", {}).values()
             if f.get("role") == "main" and f.get("status") == "passed"}
    outcomes = a.outcome or [o for o in HEADLINE_EMPLOYMENT if o in mains]
    unknown = [o for o in outcomes if o not in mains]
    if unknown:
        print(f"error: --outcome: not a passed main fit of this run: {', '.join(unknown)}",
              file=sys.stderr)
        return 2
    loo, multi = [], []
    for o in outcomes:
        if not a.no_loo:
            loo.append(leave_one_out(evidence, spec, o, list(mains[o].get("gemeenten", [])),
                                     cores=a.cores))
        if not a.no_multiverse:
            multi.append(multiverse(evidence, spec, o, cores=a.cores))
    if loo:
        atomic_write_text(root / "robustness_loo.csv", pd.concat(loo).to_csv(index=False))
    if multi:
        atomic_write_text(root / "multiverse.csv", pd.concat(multi).to_csv(index=False))
    if not a.no_report:
        from .report import write_report

        print(f"report: {write_report(root, root / 'report.html')}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
