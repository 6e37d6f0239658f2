"""The frequentist twin of a summary-level fit: the same rows, the same quantities.

A random-effects meta-analysis needs a known sampling variance for every study, so only rows
whose SE is printed or derivable without a prior enter (grades ``se``, ``ci``, ``p``, and
``counts`` with the plain binomial SE, i.e. no credit for covariate adjustment). Rows known
only through a significance marker or prose cannot enter without inventing a number; the
twin's ``k`` column shows how many rows it could use, next to the Bayesian fit's count.

ITT-of-offer rows are put on the per-participant scale by dividing estimate and SE by the
take-up rate (the Wald/IV estimator), as the Bayesian model does inside its likelihood.
Per arm, ``rma`` pools the arm's rows; per component, a meta-regression without intercept
on the arm-by-component design matrix gives the component effects (bundled arms inform
their components additively, without the interaction the Bayesian model adds).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ._common import MetaAnalysisError
from .meta import rma

FREQ_GRADES = ("se", "ci", "p", "counts")


def twin_inputs(rows: pd.DataFrame) -> pd.DataFrame:
    """yi, vi (per-participant scale) for the rows a frequentist analysis can use."""
    r = rows[(rows["family"] == "gaussian") & rows["grade"].isin(FREQ_GRADES)].copy()
    se = r["se"].where(r["grade"] != "counts", r["se_design"]).astype(float)
    take = r["takeup"].astype(float)
    r["yi"] = r["y"].astype(float) / take
    r["vi"] = (se / take) ** 2
    return r[np.isfinite(r["vi"]) & (r["vi"] > 0)]


def twin_summary(rows: pd.DataFrame, arms: list[str], components: list[str], W: np.ndarray, *,
                 method: str = "REML", test: str = "knha", ci_prob: float = 0.9) -> pd.DataFrame:
    """Frequentist pooled effects per arm (``mu_arm``) and per component (``mu``).

    Returns columns ``parameter, label, freq_estimate, freq_ci_low, freq_ci_high, freq_pi_low,
    freq_pi_high, freq_tau2, freq_I2, freq_k, freq_method, freq_se, freq_stat`` (z or t),
    ``freq_p`` and ``freq_ci_prob`` (NaN where k is too small).
    """
    data = twin_inputs(rows)
    out: list[dict[str, object]] = []
    label = f"{method}{'+KNHA' if test == 'knha' else ''}"
    for a in arms:
        sub = data[data["arm"] == a]
        rec: dict[str, object] = {"parameter": "mu_arm", "label": a, "freq_k": len(sub),
                                  "freq_method": label}
        if len(sub) >= 1:
            try:
                res = rma(sub["yi"].to_numpy(), sub["vi"].to_numpy(), method=method if len(sub) > 1 else "FE",
                          test=test if len(sub) > 1 else "z", level=ci_prob)
                pred = res.predict()
                rec.update(freq_estimate=float(res.beta[0]), freq_se=float(res.se[0]),
                           freq_stat=float(res.stat[0]), freq_p=float(res.pval[0]),
                           freq_ci_low=float(res.ci_low[0]),
                           freq_ci_high=float(res.ci_high[0]),
                           freq_pi_low=float(pred["pi_low"].iloc[0]) if "pi_low" in pred else np.nan,
                           freq_pi_high=float(pred["pi_high"].iloc[0]) if "pi_high" in pred else np.nan,
                           freq_tau2=float(res.tau2), freq_I2=float(res.I2))
            except (MetaAnalysisError, ValueError, np.linalg.LinAlgError) as exc:
                rec["freq_note"] = str(exc)
        out.append(rec)
    # Components: meta-regression without intercept on the design matrix.
    arm_index = {a: i for i, a in enumerate(arms)}
    sub = data[data["arm"].isin(arm_index)]
    if len(sub):
        X = np.vstack([W[arm_index[a]] for a in sub["arm"]])
        keep = X.any(axis=0)
        Xk = X[:, keep]
        comps = [c for c, k in zip(components, keep, strict=True) if k]
        ok = len(sub) > Xk.shape[1] and np.linalg.matrix_rank(Xk) == Xk.shape[1]
        res = None
        if ok:
            try:
                res = rma(sub["yi"].to_numpy(), sub["vi"].to_numpy(), mods=Xk, intercept=False,
                          method=method if len(sub) > Xk.shape[1] + 1 else "FE",
                          test=test if len(sub) > Xk.shape[1] + 1 else "z", level=ci_prob)
            except (MetaAnalysisError, ValueError, np.linalg.LinAlgError):
                res = None
        for j, c in enumerate(components):
            rec = {"parameter": "mu", "label": c, "freq_method": label,
                   "freq_k": int((X[:, j] > 0).sum())}
            if res is not None and c in comps:
                i = comps.index(c)
                rec.update(freq_estimate=float(res.beta[i]), freq_se=float(res.se[i]),
                           freq_stat=float(res.stat[i]), freq_p=float(res.pval[i]),
                           freq_ci_low=float(res.ci_low[i]),
                           freq_ci_high=float(res.ci_high[i]), freq_tau2=float(res.tau2))
            out.append(rec)
    cols = ["parameter", "label", "freq_estimate", "freq_ci_low", "freq_ci_high", "freq_pi_low",
            "freq_pi_high", "freq_tau2", "freq_I2", "freq_k", "freq_method", "freq_se",
            "freq_stat", "freq_p", "freq_ci_prob"]
    df = pd.DataFrame(out)
    df["freq_ci_prob"] = ci_prob
    for c in cols:
        if c not in df:
            df[c] = np.nan
    return df[cols]
