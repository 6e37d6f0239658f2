"""Robustness by refitting, for a finished run: leave one municipality out, and a multiverse.

    python -m bayes_bijstand.robustness --posterior OUT [--outcome work_gt8h ...]
        [--no-loo] [--no-multiverse] [--draws N]

The main job (``fit --all-gemeenten``) already makes these refits for the headline
employment outcomes (:mod:`bayes_bijstand.run.refits`, ``fit --robustness``); this command
adds them to a finished run, for other outcomes or with more draws. With the spec that ran
(read from the fits) and the same evidence, for each outcome:

* **leave-one-municipality-out**: an exact refit without every evidence row of one
  municipality, for every municipality the fit used, prose-only ones included;
* **multiverse**: a refit under each assumption in
  :data:`bayes_bijstand.run.refits.VARIANTS`. A variant that the spec cannot express is
  listed as not estimable, one that changes nothing for the outcome shows the main fit,
  and a refit that fails the diagnostics gate is kept with its status, so a reader sees it.

The refits are jobs of the run (``OUT/fits/<outcome>.without-<gemeente>`` and
``.variant-<name>``, resumable like every fit); their tables go to ``OUT/robustness_loo.csv``
and ``OUT/multiverse.csv`` (pooled ``mu_arm`` per arm on the model scale with ``mean,
ci_low, ci_high, prob_gt_0, status``), which the HTML report shows; then ``OUT/report.html``
is rebuilt unless ``--no-report``. ``summary.json`` stays as the main job wrote it.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path
from typing import Any

from .run.refits import VARIANTS as VARIANTS
from .run.refits import plan_refits, refit_tables

log = logging.getLogger(__name__)


def _run(planned: list[Any], evidence: Any, spec: Any, root: Path, summary: dict[str, Any],
         draws: int | None, cores: int) -> list[dict[str, Any]]:
    """Run the planned refits as jobs of the run in ``root``; their records."""
    from .run.job import run_job
    from .run.plan import Job

    out = []
    for p in planned:
        job = Job(name=p.name, outcome=p.outcome, pooling=spec.pooling, grades=None, role=p.role,
                  left_out=p.left_out, variant=p.variant, refit_draws=draws)
        rec = run_job(job, evidence, spec, root, plots=False, inputs=summary.get("inputs", {}),
                      cores=cores, ci_prob=float(summary.get("ci", {}).get("prob", 0.9)))
        out.append(dict(rec))
        log.info("%s: %s", p.name, rec["status"])
    return out


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
    ap.add_argument("--draws", type=int, help="draws per chain of the refits (default: half "
                    "the spec's)")
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
    if a.draws is not None and a.draws < 1:
        print("error: --draws must be a positive integer", file=sys.stderr)
        return 2
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
    fits = root / "fits"
    records: list[dict[str, Any]] = []
    for name, f in summary.get("fits", {}).items():
        if f.get("role") == "main" and f.get("outcome") in outcomes:
            try:
                records.append(json.loads((fits / f"{name}.json").read_text(encoding="utf-8")))
            except (OSError, json.JSONDecodeError) as exc:
                print(f"error: {fits / (name + '.json')}: cannot read ({type(exc).__name__})",
                      file=sys.stderr)
                return 2
    usable = {o: list(mains[o].get("gemeenten", [])) for o in outcomes}
    roles = tuple(r for r, off in (("loo", a.no_loo), ("variant", a.no_multiverse)) if not off)
    planned, skipped = plan_refits(evidence, spec, outcomes, usable, roles=roles)
    from .io import lock_output_dir

    with lock_output_dir(root):
        records += _run(planned, evidence, spec, root, summary, a.draws, a.cores)
    loo, multi = refit_tables(records, skipped)
    if len(loo):
        atomic_write_text(root / "robustness_loo.csv", loo.to_csv(index=False))
    if len(multi):
        atomic_write_text(root / "multiverse.csv", multi.to_csv(index=False))
    if not a.no_report:
        from .report import write_report

        print(f"report: {write_report(root, root / 'report.html')}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
