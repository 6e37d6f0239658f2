"""The frequentist twin of a summary-level fit: the same rows, the same quantities.

A random-effects meta-analysis needs a known sampling variance for every study, so only rows
whose SE is printed or derivable without a prior enter (grades ``se``, ``ci``, ``p``, and
``counts`` with the plain binomial SE, i.e. no credit for covariate adjustment). Rows known
only through a significance marker or prose cannot enter without inventing a number; the
twin's ``k`` column shows how many rows it could use, next to the Bayesian fit's count.

The Bayesian model relates an ITT-of-offer row (Groningen's Zelen design) to the
per-participant effect through take-up inside its likelihood, with an offer spill-over
term. A frequentist analysis that divided such a row by take-up (the Wald/IV rescaling)
would print a number nobody published (e.g. -30.5 pp for zelf in actie on work > 8 h where
the report prints -0,034 at 000 L5360), so those rows are left out by default and listed in
``freq_note``; ``wald=True`` puts them in, and then ``freq_method`` says so.

Per arm, ``rma`` pools the arm's rows; per component, a meta-regression without intercept
on the arm-by-component design matrix gives the component effects (bundled arms inform
their components additively, without the interaction the Bayesian model adds).
``freq_method`` names the method actually used: ``REML+KNHA`` (or the requested estimator)
only where k >= 2 rows were pooled, ``FE`` where too few rows were left for a tau estimate,
and ``single study`` where k = 1 (the row's own estimate and interval; nothing was pooled).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..evidence.grade_registry import grades_with
from ._common import MetaAnalysisError
from .meta import rma

FREQ_GRADES = grades_with(frequentist=True)
"""Grades with a known sampling variance without a prior (se, ci, p, counts)."""


WALD_NOTE = "ITT of the offer divided by take-up (Wald rescaling, not a published number)"


def _rescaled(rows: pd.DataFrame) -> pd.Series:
    return rows["takeup"].astype(float) < 1.0


def twin_inputs(rows: pd.DataFrame, *, wald: bool = False) -> pd.DataFrame:
    """yi, vi (per-participant scale) for the rows a frequentist analysis can use.

    Rows whose take-up is below 1 (ITT of the offer) enter only with ``wald=True``, divided
    by take-up; column ``wald`` marks them.
    """
    # Raw binomial counts enter with their design (binomial) SE at the observed control rate.
    r = rows[rows["family"].isin(["gaussian", "binomial"]) & rows["grade"].isin(FREQ_GRADES)].copy()
    r["wald"] = _rescaled(r)
    if not wald:
        r = r[~r["wald"]]
    design = r["grade"].isin(grades_with(se_rule="design"))
    se = r["se"].where(~design, r["se_design"]).astype(float)
    take = r["takeup"].astype(float)
    r["yi"] = r["y"].astype(float) / take
    r["vi"] = (se / take) ** 2
    return r[np.isfinite(r["vi"]) & (r["vi"] > 0)]


def _left_out_note(rows: pd.DataFrame, arm_rows: pd.Series | None = None) -> str:
    """Which ITT-of-offer rows the twin left out (``""`` if none)."""
    cand = rows[(rows["family"] == "gaussian") & rows["grade"].isin(FREQ_GRADES) & _rescaled(rows)]
    if arm_rows is not None:
        cand = cand[cand["arm"].isin(arm_rows)]
    if cand.empty:
        return ""
    return (f"left out {len(cand)} ITT-of-offer row(s) ({', '.join(cand['row_id'].astype(str))}): "
            f"on the per-participant scale they would be an {WALD_NOTE}")


def _method_label(k: int, used_method: str, test: str) -> str:
    if k == 1:
        return "single study"
    return used_method + ("+KNHA" if test == "knha" and used_method != "FE" else "")


def twin_summary(rows: pd.DataFrame, arms: list[str], components: list[str], W: np.ndarray, *,
                 method: str = "REML", test: str = "knha", ci_prob: float = 0.9,
                 wald: bool = False) -> pd.DataFrame:
    """Frequentist pooled effects per arm (``mu_arm``) and per component (``mu``).

    Returns columns ``parameter, label, freq_estimate, freq_ci_low, freq_ci_high, freq_pi_low,
    freq_pi_high, freq_tau2, freq_I2, freq_Q, freq_Q_p, freq_k, freq_method, freq_note, freq_se,
    freq_stat`` (z or t), ``freq_p`` and ``freq_ci_prob`` (NaN where k is too small). ``freq_method`` is
    the method actually used (``single study`` for k = 1).
    """
    data = twin_inputs(rows, wald=wald)
    out: list[dict[str, object]] = []
    suffix = f" (incl. {WALD_NOTE})" if wald and data["wald"].any() else ""
    for a in arms:
        sub = data[data["arm"] == a]
        rec: dict[str, object] = {"parameter": "mu_arm", "label": a, "freq_k": len(sub),
                                  "freq_method": "", "freq_note": _left_out_note(rows, pd.Series([a]))
                                  if not wald else ""}
        if len(sub) >= 1:
            used = method if len(sub) > 1 else "FE"
            try:
                res = rma(sub["yi"].to_numpy(), sub["vi"].to_numpy(), method=used,
                          test=test if len(sub) > 1 else "z", level=ci_prob)
                pred = res.predict()
                rec.update(freq_estimate=float(res.beta[0]), freq_se=float(res.se[0]),
                           freq_stat=float(res.stat[0]), freq_p=float(res.pval[0]),
                           freq_ci_low=float(res.ci_low[0]), freq_ci_high=float(res.ci_high[0]),
                           freq_pi_low=float(pred["pi_low"].iloc[0]) if "pi_low" in pred else np.nan,
                           freq_pi_high=float(pred["pi_high"].iloc[0]) if "pi_high" in pred else np.nan,
                           freq_tau2=float(res.tau2), freq_I2=float(res.I2),
                           freq_Q=float(res.QE), freq_Q_p=float(res.QE_p),
                           freq_method=_method_label(len(sub), used, test) + suffix)
            except (MetaAnalysisError, ValueError, np.linalg.LinAlgError) as exc:
                rec["freq_note"] = "; ".join(x for x in (str(rec["freq_note"]), str(exc)) if x)
        out.append(rec)
    # Components: meta-regression without intercept on the design matrix.
    arm_index = {a: i for i, a in enumerate(arms)}
    sub = data[data["arm"].isin(arm_index)]
    X = np.vstack([W[arm_index[a]] for a in sub["arm"]]) if len(sub) else np.zeros((0, len(components)))
    res = None
    label = ""
    comps: list[str] = []
    if len(sub):
        keep = X.any(axis=0)
        Xk = X[:, keep]
        comps = [c for c, k in zip(components, keep, strict=True) if k]
        ok = len(sub) > Xk.shape[1] and np.linalg.matrix_rank(Xk) == Xk.shape[1]
        if ok:
            used = method if len(sub) > Xk.shape[1] + 1 else "FE"
            try:
                res = rma(sub["yi"].to_numpy(), sub["vi"].to_numpy(), mods=Xk, intercept=False,
                          method=used, test=test if used != "FE" else "z", level=ci_prob)
                label = _method_label(len(sub), used, test) + " meta-regression" + suffix
            except (MetaAnalysisError, ValueError, np.linalg.LinAlgError):
                res = None
    note = _left_out_note(rows) if not wald else ""
    for j, c in enumerate(components):
        k = int((X[:, j] > 0).sum()) if len(X) else 0
        rec = {"parameter": "mu", "label": c, "freq_k": k, "freq_method": "", "freq_note": note}
        if res is not None and c in comps:
            i = comps.index(c)
            rec.update(freq_estimate=float(res.beta[i]), freq_se=float(res.se[i]),
                       freq_stat=float(res.stat[i]), freq_p=float(res.pval[i]),
                       freq_ci_low=float(res.ci_low[i]), freq_ci_high=float(res.ci_high[i]),
                       freq_tau2=float(res.tau2), freq_method=label)
        out.append(rec)
    cols = ["parameter", "label", "freq_estimate", "freq_ci_low", "freq_ci_high", "freq_pi_low",
            "freq_pi_high", "freq_tau2", "freq_I2", "freq_Q", "freq_Q_p", "freq_k", "freq_method",
            "freq_note",
            "freq_se", "freq_stat", "freq_p", "freq_ci_prob"]
    df = pd.DataFrame(out)
    df["freq_ci_prob"] = ci_prob
    for c in cols:
        if c not in df:
            df[c] = np.nan
    return df[cols]
