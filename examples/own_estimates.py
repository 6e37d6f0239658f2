"""Bring your own estimates: a small CSV in the evidence schema, pooled with the same model.

Usage::

    python examples/own_estimates.py [--draws N]

Writes ``my_estimates.csv`` (three hypothetical municipalities; one prints an SE, one a 95% CI,
one only a significance marker, as real reports do), validates it with the same checks as the
shipped data, and fits it.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import bayes_bijstand as bb
from bayes_bijstand.printing import diagnostics_line
from bayes_bijstand.specs import default_spec_path

CSV = """gemeente;arm;outcome;estimate;se;ci_low;ci_high;p_lower;p_upper;significance;n_treatment;n_control
leeuwarden;extra_hulp;work_gt12h;0,031;0,015;;;;;;310;305
zwolle;extra_hulp;work_gt12h;0,012;;-0,02;0,044;;;;250;260
emmen;extra_hulp;work_gt12h;0,045;;;;0;0,05;*;180;175
"""


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--draws", type=int, default=1000)
    ap.add_argument("--chains", type=int, default=4)
    ap.add_argument("--sampler", choices=["nutpie", "pymc"], default=None,
                    help="override the spec's sampler")
    ap.add_argument("--no-retry", action="store_true",
                    help="skip the automatic retry of a fit that fails diagnostics (smoke tests)")
    a = ap.parse_args()
    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / "my_estimates.csv"
        path.write_text(CSV, encoding="utf-8")  # a Dutch Excel export: ; and decimal commas
        ev = bb.load_evidence(path)
        print(ev[["row_id", "gemeente", "arm", "estimate", "se", "ci_low", "ci_high", "significance"]])
        spec = bb.load_spec(default_spec_path()).with_overrides(draws=a.draws, tune=a.draws,
                                                                chains=a.chains, sampler=a.sampler)
        res = bb.fit_meta(ev, spec, "work_gt12h", retry=not a.no_retry)
        print(res.table[["row_id", "grade", "used", "y", "se", "se_lo", "se_hi"]])
        print(f"status: work_gt12h: diagnostics {diagnostics_line(res.diagnostics)}")
        if not res.diagnostics.passed:
            print("no result: a fit that fails the diagnostics gate is not reported")
            return 1
        print(res.summary()[["parameter", "label", "mean", "ci_low", "ci_high", "prob_gt_0",
                             "freq_estimate", "freq_ci_low", "freq_ci_high"]].round(3))
    return 0


if __name__ == "__main__":
    sys.exit(main())
