r"""Domain pooling: related survey items as indicators of one effect per domain.

Many survey outcomes are reported by one municipality only (Nijmegen's four trust items,
its five mental-health items, its four job-search self-efficacy items, its contact items),
so a per-outcome fit has nothing to pool and drops them. They measure the same construct
as scales that other municipalities do report (institutional trust, the experienced-health
index, the job-search self-efficacy index, social participation). A domain fit enters the
rows of every member outcome of a domain (:data:`~bayes_bijstand.evidence.outcomes.DOMAIN_FAMILIES`)
into the one summary-level model (:mod:`bayes_bijstand.models.summary_level`) as measurements
of one standardised effect per municipality and arm, pooled across municipalities: ``theta``
and ``mu_arm`` of a domain fit are the domain's effect in SD units (every member is a score
on the SMD scale, oriented so that higher is better).

Rows of different items measured on the same persons are correlated: two contrasts of the
same groups on items that correlate ``r`` within persons correlate ``r`` (times the
correlation :func:`~bayes_bijstand.covariance.contrast_correlation` gives two contrasts of
one outcome: shared groups, AR(1) over months). The reports print no inter-item
correlations; :data:`ITEM_CORRELATION` = 0.6 is the assumption (items of one short scale
typically correlate 0.4-0.7; an index and its own items more), so that a municipality that
reports an index and five of its items counts for about 1.5 rows, not six. The matrix
``r J + (1 - r) I_items`` is a valid correlation matrix, and its Schur product with the
contrast correlation is positive semi-definite.

The assumption of a common effect is what a domain fit adds: where an item's own fit (if it
has one) and the domain effect disagree, the run's domain table says so.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pandas as pd

from ..covariance import contrast_correlation
from ..evidence.outcomes import DOMAIN_FAMILIES, DOMAIN_SUFFIX
from ..specs import ModelSpec
from .selection import select_rows
from .summary_level import MetaData, prepare

ITEM_CORRELATION = 0.6
"""Assumed within-person correlation of two items of one domain (see the module docstring)."""


def domain_table(evidence: pd.DataFrame, family: str, spec: ModelSpec) -> pd.DataFrame:
    """The measurement table of a domain: every member's selected rows, stacked.

    Adds ``domain_outcome`` (the member outcome); row ids are prefixed with it so that they
    stay unique. Only the rows each member's own fit would use enter.
    """
    parts = []
    for o in DOMAIN_FAMILIES[family]:
        t = select_rows(evidence, o, "score", spec)
        if t.empty:
            continue
        t = t.copy()
        t["domain_outcome"] = o
        t["row_id"] = o + ":" + t["row_id"].astype(str)
        parts.append(t)
    if not parts:
        return pd.DataFrame()
    return pd.concat(parts, ignore_index=True)


def item_correlation(rows: pd.DataFrame, *, rho_months: float,
                     r: float = ITEM_CORRELATION) -> np.ndarray:
    """Correlation of the Gaussian rows of a domain table (see the module docstring)."""
    R = contrast_correlation(rows.reset_index(drop=True), rho_months=rho_months)
    item = rows["domain_outcome"].to_numpy()
    C = np.where(item[:, None] == item[None, :], 1.0, r)
    return R * C


def prepare_domain(evidence: pd.DataFrame, family: str, spec: ModelSpec
                   ) -> tuple[pd.DataFrame, MetaData]:
    """The stacked table and the model data of a domain fit (SMD scale)."""
    table = domain_table(evidence, family, spec)
    if table.empty or not table["used"].any():
        raise ValueError(f"no usable evidence for the domain '{family}'")
    data = prepare(table, f"{family}{DOMAIN_SUFFIX}", "score", spec)
    gauss = data.rows[data.rows["family"] == "gaussian"].reset_index(drop=True)
    corr = item_correlation(gauss, rho_months=spec.rho_months) if len(gauss) else data.corr
    return table, replace(data, corr=corr)


def domain_members(table: pd.DataFrame) -> pd.DataFrame:
    """Per member outcome of a domain fit: its used rows and municipalities."""
    used = table[table["used"]]
    return (used.groupby("domain_outcome", sort=False)
            .agg(n_rows=("row_id", "size"),
                 gemeenten=("gemeente", lambda s: ";".join(sorted(set(s)))))
            .reset_index().rename(columns={"domain_outcome": "outcome"}))
