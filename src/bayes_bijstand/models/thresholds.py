r"""Nested thresholds: one latent shift behind work > 8/12/27/32 h (and income > 50/70/100% WML).

"Works more than 8 hours a week", "... more than 12 hours" and so on are thresholds of one
distribution of hours. If an arm shifts a municipality's latent hours distribution (on the
probit scale) by ``delta``, the effect on the share above threshold ``k`` is

    d_k = Phi(z_k + delta) - Phi(z_k)  ~=  phi(z_k) * delta,      z_k = Phi^-1(p_k),

where ``p_k`` is the control group's share above ``k`` (printed beside most contrasts). The
joint fit enters every threshold's rows into the one summary-level model
(:mod:`bayes_bijstand.models.summary_level`) with the row's contrast among participants
multiplied by ``phi(z_k)`` (the row's ``contrast_scale``; take-up, the decliners' shift of a
Zelen row and the bias term stay on the row's own risk-difference scale, with the binary bias
priors), so that ``theta`` and ``mu_arm`` are latent shifts in SD units, pooled across municipalities
*and* thresholds. The monotone structure is built in: a pure shift moves every threshold in
the same direction, most where ``phi(z_k)`` is largest (thresholds near the median), so a
larger effect on > 27 h than on > 12 h cannot come out of it. The linearisation is exact to
first order; for the effects seen here (a few percentage points) the second-order term
``-z_k phi(z_k) delta^2 / 2`` is below 0.1 pp.

Rows of different thresholds measured on the same persons are correlated: for nested events
with shares ``p_hi <= p_lo`` the indicators correlate ``sqrt(p_hi (1 - p_lo) / (p_lo (1 -
p_hi)))``, so two contrasts of the same groups at two thresholds correlate by that factor times
the correlation :func:`~bayes_bijstand.covariance.contrast_correlation` gives two contrasts of
one outcome (shared groups, AR(1) over months). The product of the two correlation matrices is
positive semi-definite (Schur), so the joint covariance is valid.

Only the rows each threshold's own fit would use enter (:func:`select_rows` per outcome). A
row without a printed control share takes its municipality's mean share at that threshold,
then the mean over municipalities; a row with neither is left out with the reason.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pandas as pd
from scipy import stats

from ..covariance import contrast_correlation
from ..evidence.grades import control_rate
from ..evidence.outcomes import JOINT_SUFFIX, THRESHOLD_FAMILIES
from ..specs import ModelSpec
from .selection import select_rows
from .summary_level import MetaData, prepare

FAMILIES = THRESHOLD_FAMILIES
"""The threshold families (defined with the outcome vocabulary, evidence layer)."""


def _control_shares(evidence: pd.DataFrame, table: pd.DataFrame) -> np.ndarray:
    """Each row's control share above its threshold (NaN where none can be found)."""
    ev = evidence.set_index("row_id")
    own = np.array([control_rate(ev.loc[r]) if r in ev.index else None for r in table["row_id"]],
                   dtype=float)
    by_g = pd.Series(own).groupby(table["gemeente"].to_numpy()).transform("mean").to_numpy()
    overall = np.nanmean(own) if np.isfinite(own).any() else np.nan
    return np.where(np.isfinite(own), own, np.where(np.isfinite(by_g), by_g, overall))


def joint_table(evidence: pd.DataFrame, family: str, spec: ModelSpec) -> pd.DataFrame:
    """The measurement table of a threshold family: every member's selected rows, stacked.

    Adds ``threshold_outcome``, ``control_share``, ``probit_slope`` (= ``phi(z_k)``) and
    ``contrast_scale`` (``probit_slope`` on used rows): the model multiplies the row's
    contrast among participants by it; take-up, the decliners' shift of a Zelen row
    (weight ``1 - take-up``) and the bias term stay on the row's risk-difference scale. Row
    ids are prefixed with the member outcome so that they stay unique.
    """
    parts = []
    for o in FAMILIES[family]:
        t = select_rows(evidence, o, "binary", spec)
        if t.empty:
            continue
        t = t.copy()
        t["threshold_outcome"] = o
        p = _control_shares(evidence[evidence["outcome"] == o], t)
        t["control_share"] = p
        with np.errstate(invalid="ignore"):
            slope = stats.norm.pdf(stats.norm.ppf(np.clip(p, 1e-6, 1 - 1e-6)))
        t["probit_slope"] = np.where(np.isfinite(p), slope, np.nan)
        miss = t["used"] & ~np.isfinite(t["probit_slope"])
        t.loc[miss, "used"] = False
        t.loc[miss, "reason"] = "no control share to map the row onto the latent shift"
        t["contrast_scale"] = np.where(t["used"], t["probit_slope"], 1.0)
        t["row_id"] = o + ":" + t["row_id"].astype(str)
        parts.append(t)
    if not parts:
        return pd.DataFrame()
    return pd.concat(parts, ignore_index=True)


def nested_correlation(rows: pd.DataFrame, *, rho_months: float) -> np.ndarray:
    """Correlation of the Gaussian rows of a joint table (see the module docstring)."""
    R = contrast_correlation(rows.reset_index(drop=True), rho_months=rho_months)
    # One share per (gemeente, threshold), so that the indicator correlations form a valid
    # correlation matrix of nested events within each municipality.
    share = rows.groupby(["gemeente", "threshold_outcome"])["control_share"].transform("mean").to_numpy()
    out = rows["threshold_outcome"].to_numpy()
    n = len(rows)
    C = np.ones((n, n))
    for i in range(n):
        for j in range(i + 1, n):
            if out[i] == out[j]:
                continue
            lo, hi = max(share[i], share[j]), min(share[i], share[j])  # p_lo >= p_hi
            c = np.sqrt(hi * (1 - lo) / (lo * (1 - hi))) if 0 < hi <= lo < 1 else 0.0
            C[i, j] = C[j, i] = c
    return R * C


def prepare_joint(evidence: pd.DataFrame, family: str, spec: ModelSpec
                  ) -> tuple[pd.DataFrame, MetaData]:
    """The joint table and the model data of a threshold family (latent shift, SD units)."""
    table = joint_table(evidence, family, spec)
    if table.empty or not table["used"].any():
        raise ValueError(f"no usable evidence for the thresholds of '{family}'")
    data = prepare(table, f"{family}{JOINT_SUFFIX}", "score", spec)
    gauss = data.rows[data.rows["family"] == "gaussian"].reset_index(drop=True)
    corr = nested_correlation(gauss, rho_months=spec.rho_months) if len(gauss) else data.corr
    # The effects (mu, tau, theta) are latent shifts in SD units (the score-scale priors);
    # the rows, their bias terms and SEs stay on the risk-difference scale of their own
    # threshold, so the bias priors are the binary ones.
    rd = spec.bias("binary")
    bias_sd = tuple(float(rd[b.rpartition(":")[2]]) for b in data.biases)
    return table, replace(data, corr=corr, bias_sd=bias_sd)


def implied_effects(posterior: object, table: pd.DataFrame, *, ci_prob: float) -> pd.DataFrame:
    """Each threshold's pooled effect implied by the latent shift (risk difference).

    ``d_k = Phi(z_k + mu_arm) - Phi(z_k)`` with ``z_k`` from the mean control share of the
    threshold over the municipalities whose rows were used (the exact map, not the
    linearisation), per arm and threshold, with mean and equal-tailed interval.
    """
    mu = posterior["mu_arm"]  # type: ignore[index]
    draws = mu.stack(sample=("chain", "draw")).transpose("arm", "sample").values
    arms = [str(a) for a in mu.coords["arm"].values]
    used = table[table["used"]]
    a = (1 - ci_prob) / 2
    rows = []
    for o, grp in used.groupby("threshold_outcome", sort=False):
        p = float(grp.groupby("gemeente")["control_share"].mean().mean())
        z = stats.norm.ppf(p)
        for i, arm in enumerate(arms):
            d = stats.norm.cdf(z + draws[i]) - p
            rows.append({"outcome": o, "arm": arm, "control_share": p, "mean": float(d.mean()),
                         "sd": float(d.std(ddof=1)),
                         "ci_low": float(np.quantile(d, a)), "ci_high": float(np.quantile(d, 1 - a)),
                         "prob_gt_0": float(np.mean(d > 0)), "ci_prob": ci_prob,
                         "n_rows": int((grp["arm"] == arm).sum()) if arm in set(grp["arm"]) else 0})
    return pd.DataFrame(rows)
