"""Calibration of the bias priors from Groningen's month-0 (placebo) contrasts.

Groningen's regression tables (000 Tabel 10.6 ff.) print every contrast also at month 0,
measured before any treatment started. A difference there is what a comparison looks like
without a treatment: selection (participants vs control, variant A), or a difference of the
untouched reference group (variant B), plus sampling error. Per comparison this script
computes, over the month-0 rows of the binary register outcomes,

* the root mean square of the printed differences,
* the root mean square of their design SEs (binomial, at the control group's month-0 rate
  of the same outcome from variant C, group sizes from the row or the registry), and
* the method-of-moments bias SD ``sqrt(max(0, mean(e^2) - mean(se^2)))``, with the mean
  difference (a common shift) beside it.

The rows of one arm share persons across outcomes, so there are only a handful of
independent contrasts: the numbers are an order of magnitude, which is how the spec's
``[bias.binary]`` priors use them (docs/model.md). Writes ``benchmarks/results/placebo_bias.json``.

    .venv/bin/python benchmarks/placebo_bias.py
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

from bayes_bijstand.evidence.load import load_evidence, load_outcomes
from bayes_bijstand.models.selection import registry_sizes

ROOT = Path(__file__).resolve().parents[1]


def placebo_table() -> pd.DataFrame:
    """Month-0 rows of Groningen's binary register outcomes with their design SEs."""
    ev = load_evidence()
    kinds = load_outcomes().set_index("outcome")
    g = ev[(ev["gemeente"] == "groningen") & (pd.to_numeric(ev["months"], errors="coerce") == 0)]
    g = g[g["outcome"].map(kinds["kind"]).eq("binary") & g["estimate"].notna()]
    base = g[g["model_variant"] == "variant_c_itt"].groupby("outcome")["control_mean"].first()
    sizes, control, _ = registry_sizes()
    rows = []
    for _, r in g.iterrows():
        if r["arm"] in ("control", "reference", "participants"):
            continue
        p = base.get(r["outcome"])
        if p is None or not np.isfinite(p) or not 0 < p < 1:
            continue
        n_t = r["n_treatment"] if pd.notna(r["n_treatment"]) else sizes.get(("groningen", r["arm"]))
        comp = r["comparator"] or "control"
        n_c = r["n_control"] if pd.notna(r["n_control"]) else (
            control.get("groningen") if comp == "control" else sizes.get(("groningen", comp)))
        if n_t is None or n_c is None:
            continue
        se = float(np.sqrt(p * (1 - p) * (1 / float(n_t) + 1 / float(n_c))))
        rows.append({"comparison": r["comparison"], "arm": r["arm"], "outcome": r["outcome"],
                     "estimate": float(r["estimate"]), "se_design": se, "line": int(r["line"])})
    return pd.DataFrame(rows)


def calibrate(t: pd.DataFrame) -> dict[str, dict[str, float]]:
    out = {}
    for comp, s in t.groupby("comparison"):
        e, se = s["estimate"].to_numpy(), s["se_design"].to_numpy()
        out[str(comp)] = {
            "rows": int(len(s)),
            "mean_difference": float(e.mean()),
            "rms_difference": float(np.sqrt(np.mean(e**2))),
            "rms_design_se": float(np.sqrt(np.mean(se**2))),
            "bias_sd_moments": float(np.sqrt(max(0.0, np.mean(e**2) - np.mean(se**2)))),
            "max_abs_difference": float(np.abs(e).max()),
        }
    return out


def main() -> None:
    t = placebo_table()
    res = {"source": "000 Tabel 10.6 (variant A), 10.10 (variant B), 10.15 (variant C), month 0",
           "by_comparison": calibrate(t)}
    path = ROOT / "benchmarks" / "results" / "placebo_bias.json"
    path.write_text(json.dumps(res, indent=2) + "\n", encoding="utf-8")
    print(json.dumps(res, indent=2))


if __name__ == "__main__":
    main()
