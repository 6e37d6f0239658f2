"""One-stage vs two-stage: the person-level model and the meta-analysis of its per-gemeente
estimates give the same pooled arm effects.

Usage::

    .venv/bin/python examples/one_stage_two_stage.py                  # score outcome (SMD)
    .venv/bin/python examples/one_stage_two_stage.py --outcome work_gt12h_m24   # risk difference
    .venv/bin/python examples/one_stage_two_stage.py --shift 0.5      # negative control

Simulates SYNTHETIC microdata for Utrecht, Wageningen and Oss (randomised after consent; ~240
persons per arm in Utrecht, ~140 elsewhere at ``--scale 1.5``), fits the one-stage model
``outcome ~ arm + (arm | gemeente)`` with bambi and the summary-level meta-analysis
(``models/meta_arms.toml``) of :func:`bayes_bijstand.microdata.two_stage`'s estimates, and
prints per arm both posteriors, their Monte Carlo errors and the difference in posterior SDs
and in MCSEs (see :mod:`bayes_bijstand.stages` for what "agree" means and why).
"""

from __future__ import annotations

import argparse
import sys
import time

from bayes_bijstand.person_cli import person_gate
from bayes_bijstand.simulate import simulate_microdata
from bayes_bijstand.stages import (
    DEFAULT_MCSE_TOL,
    DEFAULT_SD_TOL,
    compare_one_two_stage,
    format_table,
)

GEMEENTEN = ("utrecht", "wageningen", "oss")


def main(argv: list[str] | None = None) -> int:
    """Parse flags, simulate, fit both models and print the agreement table."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--outcome", default="social_trust_m24",
                    help="microdata outcome column (score: SMD; binary: risk difference)")
    ap.add_argument("--draws", type=int, default=1000)
    ap.add_argument("--tune", type=int, default=None, help="tuning steps (default: --draws)")
    ap.add_argument("--chains", type=int, default=2)
    ap.add_argument("--sampler", choices=["nutpie", "pymc"], default="nutpie")
    ap.add_argument("--no-retry", action="store_true",
                    help="skip the meta-analysis' automatic retry on failed diagnostics")
    ap.add_argument("--seed", type=int, default=3, help="simulation seed")
    ap.add_argument("--scale", type=float, default=1.5, help="multiplies every arm size")
    ap.add_argument("--tau", type=float, default=0.0,
                    help="between-gemeente SD of the binary outcomes' log-odds effects")
    ap.add_argument("--score-effect", type=float, default=0.3,
                    help="effect of each delivered component on the score (points)")
    ap.add_argument("--shift", type=float, default=0.0,
                    help="add this to every first-stage estimate (negative control)")
    a = ap.parse_args(argv)
    data = simulate_microdata(gemeenten=list(GEMEENTEN), scale=a.scale, tau=a.tau,
                              sigma_coach=0.0, score_effect=a.score_effect, seed=a.seed)
    print(f"{len(data)} SYNTHETIC clients in {', '.join(GEMEENTEN)}; outcome {a.outcome}")
    t0 = time.perf_counter()
    cmp = compare_one_two_stage(data, a.outcome, draws=a.draws, tune=a.tune or a.draws,
                                chains=a.chains, sampler=a.sampler, random_seed=1,
                                shift=a.shift, retry=not a.no_retry)
    print(f"fitted both models in {time.perf_counter() - t0:.0f} s "
          f"({a.chains} chains x {a.draws} draws, {a.sampler}); scale: {cmp.scale}"
          + (f" (score divided by its pooled within-group SD {cmp.score_sd:.3f})"
             if cmp.score_sd else ""))
    one_diag = person_gate(cmp.one_stage)
    two_diag = cmp.two_stage.diagnostics
    if not (one_diag.passed and two_diag.passed):
        failed = [f"{name}: {'; '.join(d.problems)}" for name, d in
                  (("one-stage", one_diag), ("two-stage", two_diag)) if not d.passed]
        print(f"status: FAILED diagnostics ({' | '.join(failed)}): no comparison shown; "
              "rerun with more draws, e.g. --draws 1000")
        return 0
    print("status: both fits passed diagnostics")
    print("first stage (per-gemeente differences, outcome scale):")
    print(cmp.estimates[["gemeente", "arm", "estimate", "se", "n_treatment", "n_control"]]
          .round(3).to_string(index=False))
    print(f"\npooled arm effects: one = person-level bambi fit, two = meta_arms on the first "
          f"stage; agree if |diff| <= {DEFAULT_SD_TOL} sd + {DEFAULT_MCSE_TOL:g} mcse")
    print(format_table(cmp.table))
    print("AGREE" if cmp.agrees else "DISAGREE")
    return 0


if __name__ == "__main__":
    sys.exit(main())
