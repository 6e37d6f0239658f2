"""Prior sensitivity: refit one outcome with the between-municipality prior halved and doubled.

Usage::

    python examples/prior_sensitivity.py [OUTCOME] [--draws N]

With few municipalities the between-city SD (tau) is mostly prior; this shows how much the
pooled effects and their intervals move when its prior scale changes.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import replace

import pandas as pd

import bayes_bijstand as bb
from bayes_bijstand.meta import outcome_kind
from bayes_bijstand.printing import diagnostics_line
from bayes_bijstand.specs import default_spec_path


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("outcome", nargs="?", default="work_gt8h")
    ap.add_argument("--draws", type=int, default=1000)
    ap.add_argument("--chains", type=int, default=4)
    ap.add_argument("--sampler", choices=["nutpie", "pymc"], default=None,
                    help="override the spec's sampler")
    ap.add_argument("--factors", type=float, nargs="+", default=[0.5, 1.0, 2.0],
                    help="multipliers of the tau prior scale (default 0.5 1 2)")
    ap.add_argument("--no-retry", action="store_true",
                    help="skip the automatic retry of a fit that fails diagnostics (smoke tests)")
    a = ap.parse_args()
    base = bb.load_spec(default_spec_path()).with_overrides(draws=a.draws, tune=a.draws,
                                                            chains=a.chains, sampler=a.sampler)
    kind = outcome_kind(a.outcome)
    ev = bb.load_evidence()
    rows = []
    failed: list[float] = []
    for factor in a.factors:
        pri = base.priors(kind)
        new = replace(pri, tau_sd=pri.tau_sd * factor)
        spec = replace(base, binary=new) if kind == "binary" else replace(base, score=new)
        res = bb.fit_meta(ev, spec, a.outcome, prior_predictive=False, posterior_predictive=False,
                          retry=not a.no_retry)
        print(f"status: tau prior sd {new.tau_sd:g}: diagnostics "
              f"{diagnostics_line(res.diagnostics)}")
        if not res.diagnostics.passed:
            failed.append(new.tau_sd)
            continue
        tab = res.summary()
        for _, r in tab[tab["parameter"].isin(["mu_arm", "tau_arm"])].iterrows():
            rows.append({"tau_prior_sd": new.tau_sd, "parameter": r["parameter"], "arm": r["label"],
                         "mean": r["mean"], "ci_low": r["ci_low"], "ci_high": r["ci_high"],
                         "status": res.diagnostics.status})
    if failed:  # a comparison with a failed fit in it is not a result
        print("no result: the fits with tau prior sd "
              + ", ".join(f"{f:g}" for f in failed) + " failed the diagnostics gate")
        return 1
    out = pd.DataFrame(rows).pivot_table(index=["parameter", "arm"], columns="tau_prior_sd",
                                         values="mean")
    print(out.round(3))
    return 0


if __name__ == "__main__":
    sys.exit(main())
