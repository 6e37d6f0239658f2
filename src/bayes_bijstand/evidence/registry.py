"""The study registry: one row per experiment, group sizes per arm and stage, coach facts.

Rows come from the seed reports (primary) and from ``secondary_sources.md`` (flagged
``secondary``). Where both describe a municipality, :func:`load_studies` keeps the primary
row by default and the secondary row with ``keep_secondary=True``.
"""

from __future__ import annotations

import functools

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
    for col in ("n_coaches", "n_clients", "n_coaches_min"):
        if col in df:
            df[col] = pd.to_numeric(df[col], errors="coerce").astype("Int64")
    return df


COACH_ROLES_EXCLUDED = ("control", "reference", "provider_c")
"""Arms whose coach facts describe the regular service or a comparison provider, not a
treatment team: regular caseworkers were assigned before randomisation and serve every arm
alike, so they are not part of an arm's contrast (see docs/model.md, "Coaches")."""


def coach_teams() -> pd.DataFrame:
    """See :func:`_coach_teams` (cached; a copy is returned)."""
    return _coach_teams().copy()


@functools.lru_cache(maxsize=1)
def _coach_teams() -> pd.DataFrame:
    """The team of coaches that delivered each treatment arm, as the registry knows it.

    One row per (gemeente, arm) with ``n_coaches`` (the team size, effective where caseloads
    weight it), ``w2`` (the sum of squared caseload shares, ``sum_k w_k^2``: how much one
    team's average coach effect varies, ``Var = sigma_coach^2 * w2``), ``basis`` (which
    registry facts gave it) and ``source`` (file:line list). In order of preference:

    * per-coach caseloads (Groningen's five werkcoaches, 13/47/40/50/46 clients): ``w_k =
      n_k / sum n``;
    * a printed number of coaches ``K`` (Nijmegen 3, TNO 33): equal shares, ``w2 = 1 / K``;
    * a lower bound on the team (Oss: consultants worked in pairs within one arm):
      ``w2 = 1 / K_min``, an upper bound on the coach variance.

    Arms without any coach fact (e.g. exemption arms, where nothing is delivered) have no row.
    """
    df = load_coaches()
    cols = ["gemeente", "arm", "n_coaches", "w2", "basis", "source"]
    if df.empty:
        return pd.DataFrame(columns=cols)
    df = df[~df["arm"].isin(COACH_ROLES_EXCLUDED)]
    out = []
    for (g, a), grp in df.groupby(["gemeente", "arm"], sort=True):
        cite = lambda rows: ";".join(sorted({f"{r.source}:{r.line}" for r in rows.itertuples()}))  # noqa: E731
        each = grp[(grp["coach"].str.strip() != "") & grp["n_clients"].notna()]
        counted = grp[grp["n_coaches"].notna()]
        lower = grp[grp["n_coaches_min"].notna()] if "n_coaches_min" in grp else grp.iloc[:0]
        if len(each) >= 2:
            n = each["n_clients"].astype(float).to_numpy()
            w2 = float(((n / n.sum()) ** 2).sum())
            rec = (1.0 / w2, w2, f"caseloads of {len(each)} coaches "
                   + "/".join(str(int(x)) for x in n), cite(each))
        elif len(counted):
            k = int(counted["n_coaches"].max())
            rec = (float(k), 1.0 / k, f"{k} coaches (equal shares)", cite(counted))
        elif len(lower):
            k = int(lower["n_coaches_min"].max())
            rec = (float(k), 1.0 / k, f"at least {k} coaches (lower bound: equal shares of "
                   f"the smallest team)", cite(lower))
        else:
            continue
        out.append({"gemeente": g, "arm": a, "n_coaches": rec[0], "w2": rec[1],
                    "basis": rec[2], "source": rec[3]})
    return pd.DataFrame(out, columns=cols)


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
