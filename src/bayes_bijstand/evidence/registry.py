"""The study registry: one row per experiment, group sizes per arm and stage, coach facts.

Rows come from the seed reports (primary) and from ``secondary_sources.md`` (flagged
``secondary``). Where both describe a municipality, :func:`load_studies` keeps the primary
row by default and the secondary row with ``keep_secondary=True``.
"""

from __future__ import annotations

import pandas as pd

from .paths import data_dir

_BOOL = {"true": True, "false": False, "1": True, "0": False, "yes": True, "no": False, "": False}


def _concat(pattern: str) -> pd.DataFrame:
    files = sorted((data_dir() / "registry").glob(pattern))
    if not files:
        return pd.DataFrame()
    frames = [pd.read_csv(f, dtype=str, keep_default_na=False) for f in files]
    return pd.concat(frames, ignore_index=True)


def _to_bool(s: pd.Series) -> pd.Series:
    return s.str.strip().str.lower().map(_BOOL).fillna(False).astype(bool)


def load_studies(*, keep_secondary: bool = False) -> pd.DataFrame:
    """One row per experiment (gemeente): design, AMvB, period, arms, total size, source."""
    df = _concat("studies_*.csv")
    if df.empty:
        return pd.DataFrame(columns=["gemeente", "name", "amvb", "design", "arms", "n_total",
                                     "secondary", "source", "line"])
    for col in ("amvb", "secondary"):
        if col in df:
            df[col] = _to_bool(df[col])
    if "n_total" in df:
        df["n_total"] = pd.to_numeric(df["n_total"], errors="coerce").astype("Int64")
    if not keep_secondary:
        # Prefer a primary-source row; among equals keep the first (seed order).
        df = df.assign(_rank=df["secondary"].astype(int)).sort_values(
            ["gemeente", "_rank"], kind="stable")
        df = df.drop_duplicates("gemeente", keep="first").drop(columns="_rank")
    return df.reset_index(drop=True)


def load_arms() -> pd.DataFrame:
    """Group sizes per gemeente x arm x stage (assigned, participating, analysed, ...)."""
    df = _concat("arms_*.csv")
    for col in ("n", "share"):
        if col in df:
            df[col] = pd.to_numeric(df[col].str.replace(",", "."), errors="coerce")
    if "secondary" in df:
        df["secondary"] = _to_bool(df["secondary"])
    return df


def load_coaches() -> pd.DataFrame:
    """Coach facts per gemeente and arm (numbers of coaches, caseloads)."""
    df = _concat("coaches_*.csv")
    for col in ("n_coaches", "n_clients"):
        if col in df:
            df[col] = pd.to_numeric(df[col], errors="coerce").astype("Int64")
    return df


def arm_sizes(gemeente: str) -> dict[str, int]:
    """Best-known analysed (else assigned) size per arm of one gemeente; {} if unknown."""
    arms = load_arms()
    if arms.empty:
        return {}
    sub = arms[arms["gemeente"] == gemeente]
    out: dict[str, int] = {}
    for stage in ("analysed", "participating", "assigned", "randomised"):
        for _, r in sub[sub["stage"] == stage].iterrows():
            if r["arm"] not in out and pd.notna(r["n"]):
                out[r["arm"]] = int(r["n"])
    return out
