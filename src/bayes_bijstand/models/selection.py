"""Which published rows enter one fit, and why the others do not.

A report often prints the same contrast several times (with and without covariates, for
compliers and for everyone, for the whole sample and for subgroups, against control and
against a reference group), and the cross-city article (seed 003) summarises in prose what
the full reports print in tables. Entering all of them would count the same persons several
times. For each fit we therefore keep, per gemeente and arm (and time point), one row, ranked
by these keys in this order (:data:`RANK_KEYS`, :func:`rank_keys`):

1. estimand: ITT (of the offer or after consent) before participants-only before descriptive;
2. the whole sample before a subgroup (the ``subgroup`` column);
3. the first available comparison in the spec's ``comparisons`` order (randomised
   comparisons before reference-group and non-randomised ones);
4. quality ``ok`` before rows flagged ``inconsistent`` or ``suspect_misprint``;
5. the strongest evidence grade (se > ci > p > counts > marker > prose);
6. the first model variant in ``prefer_variants``;
7. the municipality's own report before the cross-city summary or a secondary source;
8. file order.

Rows whose quality the spec excludes (by default ``garbled``, ``not_attributable``,
``secondary``, ``mislabelled``) never compete. A participants-only row compares
self-selected participants, so it always enters with the ``participants_vs_control`` bias
term (:func:`participants_carry_bias`). Every row of the outcome appears in the returned
table with ``used``, a ``reason`` and its ``rank`` within its gemeente x arm group (1 = used;
empty for rows a filter removed before ranking).
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable

import numpy as np
import pandas as pd

from ..evidence.grades import GRADES, measurement_table, respondent_contrasts
from ..evidence.registry import load_arms, load_studies
from ..specs import ModelSpec

_NOT_ARMS = frozenset({"all", "participants", "non_participants", "reference", "unspecified"})
"""Registry arm codes that are populations, not arms (a total is never split over them)."""


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


REFERENCE_STAGES: tuple[str, ...] = ("not_signed_up", "reference_population", "reference")
"""Registry stages that size an untouched reference group (after the analysed stage)."""


def _groups_stated(studies: pd.DataFrame) -> int:
    """The number of randomised groups a source states (``n_groups``; 0 if none is stated).

    Deventer's sources name two arms but say the study had four groups: its total is split
    over four, not over the two arms plus control that are known by name.
    """
    if "n_groups" not in studies:
        return 0
    n = pd.to_numeric(studies["n_groups"], errors="coerce").dropna()
    return int(n.max()) if len(n) else 0


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
        for stage in ("analysed", "invited", "randomised", "assigned") + REFERENCE_STAGES:
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
            arm_codes |= set(arms.loc[arms["gemeente"] == g, "arm"]) - _NOT_ARMS
        arm_codes |= {"control"}
        # Primary-source total first (rows are in seed order, secondary last).
        n_total = float(totals.iloc[0])
        n_groups = max(len(arm_codes), _groups_stated(grp))
        for a in arm_codes:
            sizes.setdefault((g, a), n_total / n_groups)
    control = {g: n for (g, a), n in sizes.items() if a == "control"}
    return sizes, control, takeup


_WAVE = re.compile(r"^(?P<kind>survey|consultant_survey)_wave(?P<wave>\d+)(?P<analysed>_analysed)?$")


@functools.lru_cache(maxsize=2)
def _survey_sizes_cached(kind: str) -> tuple[dict[tuple[str, str], float], dict[str, float], str]:
    return _survey_sizes(kind)


def survey_sizes(kind: str = "survey") -> tuple[dict[tuple[str, str], float], dict[str, float], str]:
    """Group sizes for outcomes measured by a (client or consultant) survey, not registers.

    A survey outcome is measured on the respondents of a wave, not on everyone assigned:
    in Groningen 107-200 per arm answered the last wave against 1,620-1,649 invited per arm,
    so the registry's assignment sizes would make a prose or marker row about ten times
    too precise. Per gemeente and arm this returns the last wave's respondents (the
    ``_analysed`` count where the report gives one; totals split evenly over the study's arms
    like :func:`registry_sizes` does). Gemeenten whose reports print no survey sizes (the
    four cities known only from secondary sources) get their registry sizes times the mean
    response rate (last wave / participating) of the gemeenten that print both, computed
    here from the registry; the returned note says which rate was used.
    ``kind``: ``survey`` (client survey) or ``consultant_survey``.
    """
    s, c, note = _survey_sizes_cached(kind)
    return dict(s), dict(c), note


def _survey_sizes(kind: str) -> tuple[dict[tuple[str, str], float], dict[str, float], str]:
    arms = load_arms()
    base, _, _ = registry_sizes()
    waves: dict[str, tuple[int, int]] = {}  # gemeente -> (wave, analysed) of the last wave
    rows = []
    for _, r in arms.iterrows():
        m = _WAVE.match(str(r["stage"]))
        if m is None or m["kind"] != kind or pd.isna(r["n"]):
            continue
        rank = (int(m["wave"]), int(m["analysed"] is not None))
        rows.append((r["gemeente"], r["arm"], rank, float(r["n"])))
        waves[r["gemeente"]] = max(waves.get(r["gemeente"], rank), rank)
    sizes: dict[tuple[str, str], float] = {}
    totals: dict[str, float] = {}
    for g, a, rank, n in rows:
        if rank != waves[g]:
            continue
        if a in ("all", "participants"):
            totals[g] = n
        else:
            sizes[(g, a)] = n
    for g, n in totals.items():  # only a total: split over the arms the registry knows
        arm_codes = sorted({a for (gg, a) in base if gg == g and a not in _NOT_ARMS})
        for a in arm_codes:
            sizes.setdefault((g, a), n / len(arm_codes))
    # Response rate where a gemeente prints both the last wave and its participants.
    part = arms[(arms["stage"] == "participating") & arms["n"].notna()]
    rates = []
    for g in sorted(waves):
        p = part[part["gemeente"] == g]
        p_all = p[p["arm"].isin(["all", "participants"])]["n"]
        n_part = float(p_all.iloc[0]) if len(p_all) else float(p[~p["arm"].isin(
            ["all", "participants", "non_participants"])]["n"].sum())
        n_resp = totals.get(g, sum(n for (gg, _), n in sizes.items() if gg == g))
        if n_part > 0 and 0 < n_resp <= n_part:
            rates.append(n_resp / n_part)
    rate = float(np.mean(rates)) if rates else 1.0
    surveyed = {g for (g, _) in sizes}
    for (g, a), n in base.items():
        if g not in surveyed and a not in _NOT_ARMS:
            sizes[(g, a)] = n * rate
    note = (f"survey outcome: group sizes are survey respondents (last wave); where a report "
            f"prints none, registry sizes x {rate:.2f}, the mean response rate of "
            f"{len(rates)} gemeenten that print both")
    control = {g: n for (g, a), n in sizes.items() if a == "control"}
    return sizes, control, note


def measured_by(outcome: str) -> str:
    """``register``, ``survey`` or ``consultant_survey``: how an outcome was measured."""
    from ..evidence.outcomes import get_outcome

    return get_outcome(outcome).measured


ESTIMAND_RANK: dict[str, int] = {"itt": 0, "itt_offer": 0, "participants": 1, "descriptive": 2}
"""ITT (of the offer, or after consent) before participants-only before descriptive."""

RANK_KEYS: tuple[str, ...] = ("estimand", "subgroup", "comparison", "quality", "grade",
                              "variant", "report", "position")
"""The selection keys, most important first (lower values win)."""

QUALITY_REASONS: dict[str, str] = {
    "garbled": "flagged as garbled in the report",
    "not_attributable": "the source says the effect cannot be attributed to the treatment",
    "secondary": "secondary source (press release or abstract): no design, no SE; opt-in only",
    "mislabelled": "its label contradicts the report's own tables (see notes)",
}
"""Why a row of an excluded quality is left out (``evidence_used.csv``)."""


def participants_carry_bias(table: pd.DataFrame, spec: ModelSpec, kind: str,
                            drop: Callable[[pd.Series, str], None]) -> None:
    """Make every participants-only row enter with the ``participants_vs_control`` bias term.

    The model keys its bias terms by comparison (``spec.bias(kind)``, per study). A participants-only
    contrast coded ``vs_control`` (participants against control participants) would enter
    without one, as if randomised; it is recoded (noted in ``conversion``). A participants-only
    row whose comparison has no bias prior in the spec cannot enter (``drop``).
    """
    part = table["used"] & (table["estimand"] == "participants")
    relabel = part & (table["comparison"] == "vs_control")
    table.loc[relabel, "comparison"] = "participants_vs_control"
    table.loc[relabel, "conversion"] = [
        "; ".join(x for x in (c, "participants only: bias term of participants_vs_control") if x)
        for c in table.loc[relabel, "conversion"]]
    no_bias = part & table["comparison"].isin(spec.comparisons) & \
        ~table["comparison"].isin(list(spec.bias(kind)))
    drop(no_bias, "participants-only row but the spec has no bias prior for its comparison")


@functools.lru_cache(maxsize=1)
def _own_report() -> dict[str, str]:
    """Per gemeente, the source of its primary registry row: the municipality's own report."""
    studies = load_studies()
    return {str(g): str(src) for g, src in zip(studies["gemeente"], studies["source"], strict=True)}


def rank_keys(table: pd.DataFrame, spec: ModelSpec) -> pd.DataFrame:
    """The selection keys of every row (columns :data:`RANK_KEYS`; lower is better)."""
    comp_rank = {c: i for i, c in enumerate(spec.comparisons)}
    grade_rank = {g: i for i, g in enumerate(GRADES)}
    var_rank = {v: i for i, v in enumerate(spec.prefer_variants)}
    own = _own_report()
    report = [int(g in own and src != own[g])
              for g, src in zip(table["gemeente"], table["source"], strict=True)]
    subgroup = table["subgroup"] if "subgroup" in table else pd.Series("", index=table.index)
    comparison = table["comparison"].map(comp_rank).fillna(99)
    if spec.zelen_comparison != "vs_control":
        # Zelen designs (offer-level ITT rows): the spec picks the reference group first.
        zelen = set(table.loc[table["estimand"] == "itt_offer", "gemeente"])
        comparison = comparison.where(~(table["gemeente"].isin(zelen)
                                        & (table["comparison"] == spec.zelen_comparison)), -1)
    return pd.DataFrame({
        "estimand": table["estimand"].map(ESTIMAND_RANK).fillna(len(ESTIMAND_RANK)),
        "subgroup": subgroup.fillna("").ne("").astype(int),
        "comparison": comparison,
        "quality": (table["quality"] != "ok").astype(int),
        "grade": table["grade"].map(grade_rank).fillna(99),
        "variant": table["model_variant"].map(var_rank).fillna(len(var_rank)),
        "report": report,
        "position": np.arange(len(table)),
    }, index=table.index)[list(RANK_KEYS)]


def why_superseded(table: pd.DataFrame, keys: pd.DataFrame, keep: object, lost: object) -> str:
    """The first selection key on which row ``keep`` beat row ``lost``, in words."""
    for k in RANK_KEYS:
        if keys.at[keep, k] == keys.at[lost, k]:
            continue
        a, b = table.loc[keep], table.loc[lost]
        if k == "estimand":
            return f"estimand {a['estimand']} before {b['estimand']}"
        if k == "subgroup":
            return f"whole sample before subgroup {b['subgroup']}"
        if k == "comparison":
            return f"comparison {a['comparison']} before {b['comparison']}"
        if k == "quality":
            return f"quality ok before {b['quality']}"
        if k == "grade":
            return f"grade {a['grade']} before {b['grade']}"
        if k == "variant":
            return f"variant {a['model_variant'] or '(none)'} before {b['model_variant'] or '(none)'}"
        if k == "report":
            return f"the municipality's own report before {b['source']}"
        break
    return "file order"


def with_coach_teams(table: pd.DataFrame) -> pd.DataFrame:
    """``table`` with the coach team of each row's arm and comparator (registry facts).

    ``coach_w2`` (``coach_w2_comparator``) is the sum of squared caseload shares of the team
    that delivered the row's arm (comparator arm) in that gemeente, 0 where no team is known
    (:func:`~bayes_bijstand.evidence.registry.coach_teams`); ``coach_team`` says which facts
    gave it. The model adds ``sigma_coach * sqrt(w2)`` of coach variation to the arm's effect
    (docs/model.md, "Coaches").
    """
    from ..evidence.registry import coach_teams

    teams = coach_teams().set_index(["gemeente", "arm"])
    def look(g: str, a: str, col: str, empty: object) -> object:
        return teams.loc[(g, a), col] if (g, a) in teams.index else empty

    g, a, c = table["gemeente"], table["arm"], table["comparator"]
    return table.assign(
        coach_w2=[float(look(x, y, "w2", 0.0)) for x, y in zip(g, a, strict=True)],
        coach_w2_comparator=[float(look(x, y, "w2", 0.0)) for x, y in zip(g, c, strict=True)],
        coach_team=[str(look(x, y, "basis", "")) + (f" ({look(x, y, 'source', '')})"
                                                    if (x, y) in teams.index else "")
                    for x, y in zip(g, a, strict=True)])


def select_rows(evidence: pd.DataFrame, outcome: str, kind: str, spec: ModelSpec, *,
                baseline: bool = False) -> pd.DataFrame:
    """The measurement table of one outcome with ``used``/``reason`` set per the spec.

    Group sizes for rows that print none come from the registry: assignment sizes for
    register outcomes, survey respondents for survey outcomes (:func:`survey_sizes`). Only
    participants answered the surveys, so an offer-level (Zelen) contrast on a survey
    outcome is a contrast among respondents: its take-up factor is 1.

    ``baseline=True`` keeps month-0 (before treatment) rows in the competition, ranked like
    the other time points (one per gemeente x arm at month 0): only a trajectory fit, which
    gives them no effect (:mod:`bayes_bijstand.models.trajectories`), asks for them.
    """
    ev = evidence[evidence["outcome"] == outcome]
    sizes, control, takeup = registry_sizes()
    how = measured_by(outcome)
    note = ""
    if how in ("survey", "consultant_survey"):
        sizes, control, note = survey_sizes(how)
        takeup = {}
    table = measurement_table(ev, kind, sizes=sizes, control_sizes=control, takeup=takeup)
    if table.empty:
        return table
    table = table.copy()
    if note:
        printed = ev["n_treatment"].notna().to_numpy() & ev["n_control"].notna().to_numpy()
        sel = ~printed
        table.loc[sel, "conversion"] = [
            "; ".join(x for x in (c, note) if x) for c in table.loc[sel, "conversion"]]
    table["comparator"] = ev["comparator"].replace("", "control").to_numpy()
    table = with_coach_teams(table)
    if how in ("survey", "consultant_survey"):
        table = respondent_contrasts(table)
    # Spec filters.
    def drop(mask: pd.Series, why: str) -> None:
        mask = mask & table["used"]
        table.loc[mask, "used"] = False
        table.loc[mask, "reason"] = why

    participants_carry_bias(table, spec, kind, drop)
    drop(~table["comparison"].isin(spec.comparisons), "comparison not in the spec")
    drop(~table["grade"].isin(spec.grades), "evidence grade switched off in the spec")
    for q in spec.exclude_quality:
        drop(table["quality"] == q, QUALITY_REASONS.get(q, f"quality '{q}' excluded in the spec"))
    drop(table["arm"].isin(["control", "reference", "participants", "non_participants"]),
         "not a treatment arm")
    drop(table["arm"] == "unspecified", "arm not stated in the source")
    drop((table["comparison"] == "arm_vs_arm"), "arm-vs-arm contrast (implied by the vs-control rows)")
    months = pd.to_numeric(table["months"], errors="coerce")
    # Month 0 is measured before the treatment started: a baseline (placebo) contrast that
    # calibrates the bias priors (docs/model.md), never evidence of an effect.
    if not baseline:
        drop(months == 0, "month 0: baseline before treatment, not effect evidence")
    if isinstance(spec.months, tuple):
        drop(~months.isin(spec.months) & months.notna(), "time point not selected")
    elif spec.months == "last":
        last = months.groupby(table["gemeente"]).transform("max")
        drop(months.notna() & (months < last), "earlier time point (spec: last)")
    # One row per gemeente x arm (x months when months='all').
    table["_key_months"] = months.fillna(-1) if spec.months == "all" else -1
    keys = rank_keys(table, spec)
    table["rank"] = pd.Series(pd.NA, index=table.index, dtype="Int64")
    used = table[table["used"]]
    group = ["gemeente", "arm", "_key_months"]
    # A row alone in its group is kept as it is (set at once: many municipalities with one
    # row each cost no per-group work); groups of several rows are ranked.
    alone = used.groupby(group, sort=False)["used"].transform("size") == 1
    table.loc[alone.index[alone], "rank"] = 1
    for _, grp in used[~alone].groupby(group, sort=False):
        ranked = keys.loc[grp.index].sort_values(list(RANK_KEYS)).index
        keep = ranked[0]
        table.loc[keep, "rank"] = 1
        for n, idx in enumerate(ranked[1:], start=2):
            table.loc[idx, "used"] = False
            table.loc[idx, "rank"] = n
            table.loc[idx, "reason"] = (f"superseded by {table.loc[keep, 'row_id']} "
                                        f"({why_superseded(table, keys, keep, idx)})")
    if spec.months == "all":
        has_months = table[table["used"] & months.notna()].groupby(["gemeente", "arm"]).size()
        for idx in table.index[table["used"] & months.isna()]:
            if (table.loc[idx, "gemeente"], table.loc[idx, "arm"]) in has_months.index:
                table.loc[idx, "used"] = False
                table.loc[idx, "rank"] = pd.NA
                table.loc[idx, "reason"] = "prose/undated row superseded by dated rows"
    return table.drop(columns="_key_months")
