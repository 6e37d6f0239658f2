"""Which published rows enter one fit, and why the others do not.

A report often prints the same contrast several times (with and without covariates, for
compliers and for everyone, against control and against a reference group), and the
cross-city article (seed 003) summarises in prose what the full reports print in tables.
Entering all of them would count the same persons several times. For each fit we therefore
keep, per gemeente and arm (and time point), one row:

1. the first available comparison in the spec's ``comparisons`` order (randomised
   comparisons before reference-group and non-randomised ones);
2. the strongest evidence grade (se > ci > p > counts > marker > prose);
3. the first model variant in ``prefer_variants``; else the file order.

Every row of the outcome appears in the returned table with ``used`` and a ``reason``.
"""

from __future__ import annotations

import functools

import numpy as np
import pandas as pd

from ..evidence.grades import GRADES, measurement_table
from ..evidence.registry import load_arms, load_studies
from ..specs import ModelSpec


@functools.lru_cache(maxsize=1)
def _registry_sizes_cached() -> tuple[dict[tuple[str, str], float], dict[str, float],
                                      dict[tuple[str, str], float]]:
    return _registry_sizes()


def registry_sizes() -> tuple[dict[tuple[str, str], float], dict[str, float],
                              dict[tuple[str, str], float]]:
    """Per-arm sizes, control sizes and take-up rates from the (shipped, read-only) registry.

    Cached per process; returns copies so callers cannot change the cache.
    """
    s, c, t = _registry_sizes_cached()
    return dict(s), dict(c), dict(t)


def _registry_sizes() -> tuple[dict[tuple[str, str], float], dict[str, float],
                              dict[tuple[str, str], float]]:
    """Per-arm sizes, control sizes and take-up rates from the registry.

    Sizes prefer the analysed stage, then randomised/assigned. Where only a total is known
    (secondary sources), it is split evenly over the study's arms including control: an
    approximation that the prose likelihood carries with extra SE uncertainty.
    """
    arms = load_arms()
    sizes: dict[tuple[str, str], float] = {}
    takeup: dict[tuple[str, str], float] = {}
    if not arms.empty:
        for stage in ("analysed", "invited", "randomised", "assigned"):
            sub = arms[(arms["stage"] == stage) & arms["n"].notna()]
            for _, r in sub.iterrows():
                sizes.setdefault((r["gemeente"], r["arm"]), float(r["n"]))
        part = arms[arms["stage"] == "participating"]
        for _, r in part.iterrows():
            key = (r["gemeente"], r["arm"])
            if pd.notna(r.get("share")) and r["share"] > 0:
                takeup[key] = float(r["share"]) / (100.0 if r["share"] > 1 else 1.0)
                continue
            same = arms[(arms["gemeente"] == r["gemeente"]) & (arms["arm"] == r["arm"])]
            for stage in ("invited", "randomised", "assigned"):
                offered = same[same["stage"] == stage]["n"].dropna()
                if pd.notna(r["n"]) and len(offered) and offered.iloc[0] > 0:
                    takeup[key] = float(r["n"]) / float(offered.iloc[0])
                    break
    studies = load_studies(keep_secondary=True)
    for g, grp in studies.groupby("gemeente", sort=False):
        totals = grp["n_total"].dropna()
        if totals.empty:
            continue
        arm_codes = {a for v in grp["arms"].fillna("") for a in str(v).split(";") if a}
        if not arms.empty:
            arm_codes |= set(arms.loc[arms["gemeente"] == g, "arm"]) - {
                "all", "participants", "non_participants", "reference", "unspecified"}
        arm_codes |= {"control"}
        # Primary-source total first (rows are in seed order, secondary last).
        n_total = float(totals.iloc[0])
        for a in arm_codes:
            sizes.setdefault((g, a), n_total / len(arm_codes))
    control = {g: n for (g, a), n in sizes.items() if a == "control"}
    return sizes, control, takeup


def select_rows(evidence: pd.DataFrame, outcome: str, kind: str, spec: ModelSpec) -> pd.DataFrame:
    """The measurement table of one outcome with ``used``/``reason`` set per the spec."""
    ev = evidence[evidence["outcome"] == outcome]
    sizes, control, takeup = registry_sizes()
    table = measurement_table(ev, kind, sizes=sizes, control_sizes=control, takeup=takeup)
    if table.empty:
        return table
    table = table.copy()
    table["comparator"] = ev["comparator"].replace("", "control").to_numpy()
    # Spec filters.
    def drop(mask: pd.Series, why: str) -> None:
        mask = mask & table["used"]
        table.loc[mask, "used"] = False
        table.loc[mask, "reason"] = why

    drop(~table["comparison"].isin(spec.comparisons), "comparison not in the spec")
    drop(~table["grade"].isin(spec.grades), "evidence grade switched off in the spec")
    drop(table["quality"].isin(spec.exclude_quality), "flagged as garbled in the report")
    drop(table["arm"].isin(["control", "reference", "participants", "non_participants"]),
         "not a treatment arm")
    drop(table["arm"] == "unspecified", "arm not stated in the source")
    drop((table["comparison"] == "arm_vs_arm"), "arm-vs-arm contrast (implied by the vs-control rows)")
    months = pd.to_numeric(table["months"], errors="coerce")
    if isinstance(spec.months, tuple):
        drop(~months.isin(spec.months) & months.notna(), "time point not selected")
    elif spec.months == "last":
        last = months.groupby(table["gemeente"]).transform("max")
        drop(months.notna() & (months < last), "earlier time point (spec: last)")
    # One row per gemeente x arm (x months when months='all').
    comp_rank = {c: i for i, c in enumerate(spec.comparisons)}
    grade_rank = {g: i for i, g in enumerate(GRADES)}
    var_rank = {v: i for i, v in enumerate(spec.prefer_variants)}
    table["_key_months"] = months.fillna(-1) if spec.months == "all" else -1
    order = pd.DataFrame({
        "c": table["comparison"].map(comp_rank).fillna(99),
        "g": table["grade"].map(grade_rank).fillna(99),
        "q": (table["quality"] != "ok").astype(int),
        "v": table["model_variant"].map(var_rank).fillna(len(var_rank)),
        "pos": np.arange(len(table)),
    }, index=table.index)
    used = table[table["used"]]
    for _, grp in used.groupby(["gemeente", "arm", "_key_months"], sort=False):
        ranked = order.loc[grp.index].sort_values(["c", "q", "g", "v", "pos"])
        keep = ranked.index[0]
        for idx in ranked.index[1:]:
            table.loc[idx, "used"] = False
            table.loc[idx, "reason"] = f"superseded by {table.loc[keep, 'row_id']}"
    if spec.months == "all":
        has_months = table[table["used"] & months.notna()].groupby(["gemeente", "arm"]).size()
        for idx in table.index[table["used"] & months.isna()]:
            if (table.loc[idx, "gemeente"], table.loc[idx, "arm"]) in has_months.index:
                table.loc[idx, "used"] = False
                table.loc[idx, "reason"] = "prose/undated row superseded by dated rows"
    return table.drop(columns="_key_months")
