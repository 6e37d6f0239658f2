"""Pool the shipped evidence for one outcome and print what a municipality wants to know.

Usage::

    python examples/pooled_meta_analysis.py [OUTCOME] [--draws N]

Fits the default model (models/meta_components.toml) to e.g. ``work_gt12h`` (work > 12 hours a
week), then prints a status line (the diagnostics gate) and, only if the fit passed, the pooled
effect per arm with its 90% interval, the probability that it is positive, the effect to expect
in a new municipality, and the frequentist twin beside it. A failed fit prints what it needs
to pass instead of numbers, and the script exits with code 1.
"""

from __future__ import annotations

import argparse
import sys

import bayes_bijstand as bb
from bayes_bijstand.printing import diagnostics_line
from bayes_bijstand.specs import default_spec_path


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("outcome", nargs="?", default="work_gt12h")
    ap.add_argument("--draws", type=int, default=1000)
    ap.add_argument("--chains", type=int, default=4)
    ap.add_argument("--sampler", choices=["nutpie", "pymc"], default=None,
                    help="override the spec's sampler")
    ap.add_argument("--no-retry", action="store_true",
                    help="skip the automatic retry of a fit that fails diagnostics (smoke tests)")
    a = ap.parse_args()
    spec = bb.load_spec(default_spec_path()).with_overrides(draws=a.draws, tune=a.draws,
                                                            chains=a.chains, sampler=a.sampler)
    res = bb.fit_meta(bb.load_evidence(), spec, a.outcome, retry=not a.no_retry)
    print(f"status: {a.outcome}: diagnostics {diagnostics_line(res.diagnostics)}")
    if not res.diagnostics.passed:
        print("no result: a fit that fails the diagnostics gate is not reported")
        return 1
    print(f"{a.outcome}: {res.unit}; municipalities {', '.join(res.data.gemeenten)}")
    tab = res.summary()
    arms = tab[tab["parameter"] == "mu_arm"].set_index("label")
    new = tab[tab["parameter"] == "theta_new"].set_index("label")
    f = res.display_factor
    for arm, r in arms.iterrows():
        print(f"  {arm:28s} pooled {r['mean'] * f:6.1f} [{r['ci_low'] * f:6.1f}, {r['ci_high'] * f:6.1f}]"
              f"  P(>0) {r['prob_gt_0']:.2f}  new municipality [{new.loc[arm, 'ci_low'] * f:6.1f}, "
              f"{new.loc[arm, 'ci_high'] * f:6.1f}]  frequentist {r['freq_estimate'] * f:6.1f}"
              f" (k={int(r['freq_k']) if r['freq_k'] == r['freq_k'] else 0})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
