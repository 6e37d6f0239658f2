"""Loading the shipped evidence base or a user's estimates file.

``load_evidence()`` is the one entry point: with no path it concatenates the shipped
per-report files in ``evidence/data/estimates/``; with a path it reads and validates a user
file in the same schema. Both return the same typed, tidy DataFrame with a stable ``row_id``.
"""

from __future__ import annotations

import os
from collections.abc import Iterable

import pandas as pd

from ..io import read_table, sha256_text
from .outcomes import load_outcomes
from .paths import data_dir
from .registry import load_studies
from .schema import ESTIMATE_COLUMNS, KNOWN_ARMS, Vocabulary, validate_estimates

__all__ = ["data_dir", "evidence_hash", "load_evidence", "load_outcome_labels", "load_outcomes",
           "load_shipped_estimates", "vocabulary"]


def load_outcome_labels() -> pd.DataFrame:
    """Mapping of every report label to a harmonised outcome code (all sources)."""
    files = sorted(data_dir().glob("outcome_labels_*.csv"))
    if not files:
        return pd.DataFrame(columns=["source", "outcome_label", "outcome", "notes"])
    return pd.concat([pd.read_csv(f, dtype=str, keep_default_na=False) for f in files],
                     ignore_index=True)


def vocabulary() -> Vocabulary:
    """Known arm, outcome and gemeente codes."""
    return Vocabulary(
        arms=KNOWN_ARMS,
        outcomes=frozenset(load_outcomes()["outcome"]),
        gemeenten=frozenset(load_studies()["gemeente"]),
    )


def _filter(df: pd.DataFrame, **criteria: str | Iterable[str] | None) -> pd.DataFrame:
    for col, value in criteria.items():
        if value is None:
            continue
        values = [value] if isinstance(value, str) else list(value)
        df = df[df[col].isin(values)]
    return df


def _add_row_ids(df: pd.DataFrame) -> pd.DataFrame:
    src = df["source"].fillna("").str.slice(0, 3).where(df["source"].ne(""), "user")
    src = src.where(~df["source"].str.startswith("secondary"), "sec")
    line = df["line"].astype("string").fillna("na")
    base = src + "-L" + line
    n = base.groupby(base).cumcount()
    df = df.copy()
    df.insert(0, "row_id", base + "-" + n.astype(str))
    return df


def load_shipped_estimates() -> pd.DataFrame:
    """All shipped estimate rows, validated against the strict vocabulary."""
    vocab = vocabulary()
    frames = []
    for f in sorted((data_dir() / "estimates").glob("*.csv")):
        raw, meta = read_table(f)
        frames.append(validate_estimates(raw, f"estimates/{f.name}", decimal=meta.get("decimal", "."),
                                         vocabulary=vocab, strict_vocabulary=True))
    if not frames:
        return _add_row_ids(pd.DataFrame(columns=list(ESTIMATE_COLUMNS)))
    df = pd.concat(frames, ignore_index=True)
    return _add_row_ids(df)


def load_evidence(
    path: str | os.PathLike[str] | None = None,
    *,
    outcome: str | Iterable[str] | None = None,
    arm: str | Iterable[str] | None = None,
    comparison: str | Iterable[str] | None = None,
    gemeente: str | Iterable[str] | None = None,
    include_suspect: bool = True,
) -> pd.DataFrame:
    """Return published results as a tidy DataFrame (one row per result).

    Parameters
    ----------
    path
        A user CSV/Parquet file in the evidence schema; ``None`` loads the shipped evidence.
    outcome, arm, comparison, gemeente
        Keep only rows with these codes (a string or a list of strings).
    include_suspect
        Keep rows flagged as suspected misprints (``quality != "ok"``).
    """
    if path is None:
        df = load_shipped_estimates()
    else:
        raw, meta = read_table(path)
        df = validate_estimates(raw, str(path), decimal=meta.get("decimal", "."),
                                vocabulary=vocabulary(), strict_vocabulary=False)
        df = _add_row_ids(df.reset_index(drop=True))
    df = _filter(df, outcome=outcome, arm=arm, comparison=comparison, gemeente=gemeente)
    if not include_suspect:
        df = df[df["quality"].isin(["", "ok"])]
    return df.reset_index(drop=True)


def evidence_hash(df: pd.DataFrame) -> str:
    """Content hash of an evidence table (stable across row order of equal content)."""
    cols = [c for c in df.columns]
    text = df[cols].astype(object).map(repr).sort_values(cols).to_csv(index=False)
    return sha256_text(text)
