"""Recompute what the reports claim from the counts and percentages they print.

Where a report prints counts per group, we can check (1) that its percentages follow from
its counts and group sizes, and (2) that its significance statements agree with a test on
those counts. Each check is a row of the replication table: the claim as printed (with file
and line), the recomputed value, and whether they agree.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from .effects import two_proportions

ROUNDING_TOL = 0.051  # a percentage printed to one decimal is off by at most 0.05 points


def _sizes(row: pd.Series, registry: dict[tuple[str, str], float],
           participating: dict[tuple[str, str], float]) -> tuple[float | None, float | None]:
    """Group sizes of a row: printed, else from the registry; for a comparison among those who
    did not take part, the assigned size minus the participants."""
    comp = row["comparator"] or "control"
    sizes = []
    for col, arm in (("n_treatment", row["arm"]), ("n_control", comp)):
        if pd.notna(row[col]):
            sizes.append(float(row[col]))
            continue
        n = registry.get((row["gemeente"], arm))
        if n is not None and row["comparison"] == "nonparticipants_vs_control":
            part = participating.get((row["gemeente"], arm))
            n = None if part is None else n - part
        sizes.append(None if n is None else float(n))
    return sizes[0], sizes[1]


def replication_table(evidence: pd.DataFrame,
                      registry_sizes: dict[tuple[str, str], float] | None = None,
                      participating: dict[tuple[str, str], float] | None = None) -> pd.DataFrame:
    """Checks of printed percentages and significance claims against printed counts.

    ``registry_sizes`` and ``participating`` give group sizes (assigned, taking part) where a
    row prints none.
    """
    registry_sizes = registry_sizes or {}
    participating = participating or {}
    counts = evidence[evidence["scale"] == "count"]
    percents = evidence[evidence["scale"] == "percent"]
    out: list[dict[str, object]] = []
    key = ["gemeente", "arm", "comparison", "outcome", "table"]
    for _, c in counts.iterrows():
        if pd.isna(c["treatment_mean"]) or pd.isna(c["control_mean"]):
            continue
        n_t, n_c = _sizes(c, registry_sizes, participating)
        if not n_t or not n_c:
            continue
        x_t, x_c = float(c["treatment_mean"]), float(c["control_mean"])
        match = percents
        for k in key:
            match = match[match[k] == c[k]]
        where = f"{c['source']}:{c['line']}"
        label = f"{c['gemeente']} {c['arm']} vs {c['comparator'] or 'control'} ({c['comparison']}), {c['outcome']}"
        for _, p in match.iterrows():
            for side, x, n, printed in (("treatment", x_t, n_t, p["treatment_mean"]),
                                        ("control", x_c, n_c, p["control_mean"])):
                if pd.isna(printed):
                    continue
                recomputed = 100 * x / n
                out.append({
                    "check": "percentage from counts", "claim": f"{label}: {side} {printed:g}%",
                    "where": f"{p['source']}:{p['line']}", "reported": float(printed),
                    "recomputed": round(recomputed, 3), "agrees": abs(recomputed - printed) <= ROUNDING_TOL,
                    "detail": f"{x:g} / {n:g} (counts at {where})",
                })
        sig_rows = pd.concat([match, counts.loc[[c.name]]])
        sig = sig_rows[sig_rows["p_lower"].notna() | sig_rows["p_upper"].notna()]
        tp = two_proportions(x_t, n_t, x_c, n_c, level=0.95)
        p_chi = float(tp.chi2_p)
        if len(sig):
            s = sig.iloc[0]
            lo = 0.0 if pd.isna(s["p_lower"]) else float(s["p_lower"])
            hi = 1.0 if pd.isna(s["p_upper"]) else float(s["p_upper"])
            out.append({
                "check": "significance from counts",
                "claim": f"{label}: '{s['significance']}' (p in [{lo:g}, {hi:g}])",
                "where": f"{s['source']}:{s['line']}", "reported": f"[{lo:g}, {hi:g}]",
                "recomputed": round(p_chi, 4), "agrees": lo <= p_chi <= hi,
                "detail": f"Pearson chi-square on {x_t:g}/{n_t:g} vs {x_c:g}/{n_c:g}; "
                          f"difference {100 * (x_t / n_t - x_c / n_c):.1f} pp",
            })
        else:
            out.append({
                "check": "difference from counts (no claim printed)", "claim": label,
                "where": where, "reported": "", "recomputed": round(100 * (x_t / n_t - x_c / n_c), 2),
                "agrees": np.nan,
                "detail": f"chi-square p = {p_chi:.3f}; difference in percentage points",
            })
    return pd.DataFrame(out, columns=["check", "claim", "where", "reported", "recomputed",
                                      "agrees", "detail"])
