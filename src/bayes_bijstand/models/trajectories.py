r"""Trajectories: the effect of each arm by month, with month 0 as the placebo baseline.

Groningen prints every contrast at 0, 8, 16 and 24 months, Oss at 0, 12 and 24, Nijmegen at
12 and 24 (survey) and 16 (register). A trajectory fit enters every time point of a study
into the one summary-level model (:mod:`bayes_bijstand.models.summary_level`), unchanged:
each treatment unit ``u`` (a component for ``meta_components``, an arm for ``meta_arms``)
becomes two components, ``u:level`` and ``u:slope``, and the effect of unit ``u`` in
municipality ``g`` at month ``t > 0`` is

    beta[g, u:level] + f(t) * beta[g, u:slope],      f(t) = (t - 16) / 16,

so ``level`` is the effect at 16 months (the middle of the reports' follow-up) and ``slope``
the change over 16 months: the effect at 24 months minus the effect at 8 months. Level and
slope of every unit are pooled across municipalities like any two components (``mu``,
``tau``, LKJ-correlated deviations), so a municipality measured at one month only borrows the
pooled slope, and one measured at 8, 16 and 24 months informs it. With at most three
post-baseline time points per study a straight line is the most a single study identifies;
a curve would rest on Groningen alone.

The model's arms are *pseudo-arms* ``arm@t``, one per arm and post-baseline month with rows,
with the weight row ``W[arm@t] = [1 on u:level, f(t) on u:slope for each unit u of arm]``
(the model takes ``W`` as data, so the graph is the same). A bundled arm keeps its
interaction ``gamma``, one per pseudo-arm (the interaction of a bundle at one month says
nothing about another month).

Coach teams (``[coach]`` of the spec): each pseudo-arm of an arm delivered by a known team
carries the team's coach deviation, one per municipality, arm and month (the graph has one
coach slot per municipality and model arm), where the team is in fact the same at every month;
with the shipped coach prior (a deviation of about 2-3 pp) this is small beside the
per-month evidence (it slightly narrows the level's interval and adds a little noise to the
slope). The month-0 pseudo-arm has no coach deviation.

Month 0 is measured at randomisation, before any treatment: its true effect is 0 by design.
Month-0 rows enter with the pseudo-arm ``month0`` whose weight row is all zero and with
take-up 1 (nothing has been taken up; so no offer spill-over either), so a month-0 row's mean
is only its bias term. That is what makes it an anchor and never effect evidence:

* a participants-only (or reference-group) contrast carries its study's bias term
  (``bias_key``, one per municipality and comparison), the *same* term as that study's later
  rows, so the month-0 contrast measures the self-selection that the later contrasts carry;
* every month-0 row is correlated with the later rows of the same groups (the AR(1) factor
  ``rho_months ** (|t - t'| / 8)`` of :func:`~bayes_bijstand.covariance.contrast_correlation`),
  so a chance imbalance at randomisation is carried forward into the later contrasts, as a
  baseline adjustment would.

Rows are chosen by :func:`~bayes_bijstand.models.selection.select_rows` with ``months =
"all"`` and the baseline kept: one row per municipality, arm and month (the best-ranked
variant, the same ranking as every fit: Groningen's offer-level ITT against control, variant
C, before its participants-only and reference-group variants, which describe the same
persons). Rows without a time point cannot be placed on a trajectory and are left out with
that reason.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pandas as pd

from ..evidence.grades import components_of
from ..specs import ModelSpec, get_model_kind
from .selection import select_rows
from .summary_level import LARGE_PADDING, MetaData, coach_matrix, prepare

REFERENCE_MONTH = 16.0
"""Month at which ``level`` is the effect (the middle of the reports' 8-24 months)."""

MONTH_SPAN = 16.0
"""Months over which ``slope`` is the change (24 - 8)."""

BASELINE_ARM = "month0"
"""Pseudo-arm of the month-0 rows: an all-zero weight row (no effect at randomisation)."""

LEVEL, SLOPE = "level", "slope"

PADDING = LARGE_PADDING
"""The padding every trajectory fit starts from (4 components x level/slope, Groningen's 4
arms x 3 months + bundles + month 0, its 16 rows + others): the shipped fits' one large
padding, so one compilation serves them and the joint threshold fits (grown in steps only
for an outcome that needs more)."""


def basis(months: float | np.ndarray) -> np.ndarray:
    """The slope's weight at ``months``: ``(t - 16) / 16`` (-0.5 at 8, 0 at 16, 0.5 at 24)."""
    return (np.asarray(months, dtype=float) - REFERENCE_MONTH) / MONTH_SPAN


def pseudo_arm(arm: str, months: float) -> str:
    """``arm@t`` (``month0`` for month 0)."""
    return BASELINE_ARM if months == 0 else f"{arm}@{months:g}"


def split_pseudo_arm(name: str) -> tuple[str, float]:
    """``arm@t`` -> (arm, t); ``month0`` -> ('', 0)."""
    if name == BASELINE_ARM:
        return "", 0.0
    arm, _, t = name.rpartition("@")
    return arm, float(t)


def trajectory_table(evidence: pd.DataFrame, outcome: str, kind: str, spec: ModelSpec) -> pd.DataFrame:
    """Every row of ``outcome`` with ``used``/``reason`` for a trajectory fit.

    The rows of :func:`select_rows` with ``months = "all"`` and month 0 kept (one row per
    municipality, arm and month); a used row without a time point is left out. Adds
    ``baseline`` (a month-0 row) and ``pseudo_arm``.
    """
    table = select_rows(evidence, outcome, kind, replace(spec, months="all"), baseline=True)
    if table.empty:
        return table
    table = table.copy()
    months = pd.to_numeric(table["months"], errors="coerce")
    undated = table["used"] & months.isna()
    table.loc[undated, "used"] = False
    table.loc[undated, "reason"] = "no time point: cannot be placed on a trajectory"
    table["baseline"] = (months == 0).to_numpy()
    table["pseudo_arm"] = [pseudo_arm(str(a), float(m)) if np.isfinite(m) else ""
                           for a, m in zip(table["arm"], months, strict=True)]
    return table


def post_baseline_months(table: pd.DataFrame) -> dict[str, list[float]]:
    """Per municipality, the sorted post-baseline months of its used rows."""
    used = table[table["used"] & ~table["baseline"].astype(bool)]
    m = pd.to_numeric(used["months"], errors="coerce")
    return {str(g): sorted(set(v.dropna().astype(float))) for g, v in m.groupby(used["gemeente"])}


def has_trajectory(table: pd.DataFrame) -> bool:
    """Whether some municipality has two or more post-baseline time points (a trend to see)."""
    return not table.empty and any(len(v) >= 2 for v in post_baseline_months(table).values())


def trajectory_data(table: pd.DataFrame, outcome: str, kind: str, spec: ModelSpec) -> MetaData:
    """The model data of a trajectory fit from its table (:func:`trajectory_table`).

    :func:`prepare` indexes the rows as a fit of the arms would (municipalities, units, bias
    terms and the rows' correlation, computed with the real arm names and months); then the
    units become ``u:level`` / ``u:slope`` components and each row's arm its pseudo-arm.
    """
    base = prepare(table, outcome, kind, spec)
    rows = base.rows
    by_component = get_model_kind(spec.kind).components
    units = base.components
    components = tuple(f"{u}:{p}" for u in units for p in (LEVEL, SLOPE))
    months = pd.to_numeric(rows["months"], errors="coerce").to_numpy(float)
    new_arm = [pseudo_arm(str(a), float(m)) for a, m in zip(rows["arm"], months, strict=True)]
    new_comp = [pseudo_arm(str(c), float(m)) if c in base.arms else str(c)
                for c, m in zip(rows["comparator"], months, strict=True)]
    arms = tuple(dict.fromkeys(
        [a for a in new_arm if a != BASELINE_ARM]
        + [c for c, orig in zip(new_comp, rows["comparator"], strict=True)
           if orig in base.arms and c != BASELINE_ARM]))
    if (np.asarray(new_arm) == BASELINE_ARM).any():
        arms = (*arms, BASELINE_ARM)
    W = np.zeros((len(arms), len(components)))
    for i, name in enumerate(arms):
        if name == BASELINE_ARM:
            continue
        arm, t = split_pseudo_arm(name)
        for u in (components_of(arm) if by_component else [arm]):
            W[i, components.index(f"{u}:{LEVEL}")] = 1.0
            W[i, components.index(f"{u}:{SLOPE}")] = float(basis(t))
    bundles = tuple(a for a in arms if a != BASELINE_ARM and a.rpartition("@")[0] in base.bundles)
    baseline = np.asarray(new_arm) == BASELINE_ARM
    rows = rows.assign(arm=new_arm, comparator=new_comp, real_arm=base.rows["arm"].to_numpy(),
                       takeup=np.where(baseline, 1.0, rows["takeup"].to_numpy(float)))
    # Coaches: each pseudo-arm of an arm delivered by a known team carries the team's weight
    # (its deviation is one per municipality, arm and month: see the module docstring); the
    # month-0 pseudo-arm none (no effect at randomisation, so no coach effect either).
    w2 = (coach_matrix(rows, base.gemeenten, arms) if spec.coach
          else np.zeros((len(base.gemeenten), len(arms))))
    if BASELINE_ARM in arms:
        w2[:, arms.index(BASELINE_ARM)] = 0.0
    return replace(base, rows=rows, components=components, arms=arms, W=W, bundles=bundles,
                   extra={**base.extra, "coach_w2": w2, "units": units,
                          "reference_month": REFERENCE_MONTH, "month_span": MONTH_SPAN,
                          "pad_base": PADDING})


def prepare_trajectory(evidence: pd.DataFrame, outcome: str, kind: str, spec: ModelSpec
                       ) -> tuple[pd.DataFrame, MetaData]:
    """The table and model data of the trajectory fit of ``outcome``."""
    table = trajectory_table(evidence, outcome, kind, spec)
    if table.empty or not table["used"].any():
        raise ValueError(f"no usable evidence for the trajectory of '{outcome}'")
    return table, trajectory_data(table, outcome, kind, spec)


def unit_weights(arm: str, months: float, components: tuple[str, ...], *,
                 by_component: bool) -> np.ndarray:
    """The weight row of ``arm`` at ``months`` over ``components`` (any month, observed or not)."""
    w = np.zeros(len(components))
    for u in (components_of(arm) if by_component else [arm]):
        lv, sl = f"{u}:{LEVEL}", f"{u}:{SLOPE}"
        if lv not in components:
            raise ValueError(f"'{arm}' has no trajectory component '{lv}'")
        w[components.index(lv)] = 1.0
        w[components.index(sl)] = float(basis(months))
    return w
