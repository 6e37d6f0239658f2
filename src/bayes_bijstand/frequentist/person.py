"""Frequentist twins of the person-level model (statsmodels).

Why: every Bayesian person-level result gets a familiar frequentist counterpart with the
same tidy columns (``term, arm, scale, estimate, se, ci_low, ci_high, ci_prob, method``), so
they can be joined and compared without branching. All three include gemeente fixed effects
(randomisation was within gemeente) and the covariates present in the data.

- :func:`lpm_cluster`: linear probability model, SEs clustered by coach (the unit that
  delivers the treatment; clients without a coach form one cluster per gemeente).
- :func:`logit_glm`: logistic GLM, coefficients on the log-odds scale, same clustering.
- :func:`mixed_coach`: linear mixed model with coach random intercepts (MixedLM, REML).
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
import pandas as pd
import statsmodels.api as sm
import statsmodels.formula.api as smf
from scipy import stats

from bayes_bijstand.constants import CI_PROB
from bayes_bijstand.microdata import COVARIATES, validate_microdata

COLUMNS = ["term", "arm", "scale", "estimate", "se", "ci_low", "ci_high", "ci_prob", "method"]


def _prepare(data: pd.DataFrame, outcome: str, participants_only: bool,
             covariates: bool) -> tuple[pd.DataFrame, str]:
    d = data if data.attrs.get("validated_by") == "bayes_bijstand.microdata" \
        else validate_microdata(data)
    if participants_only:
        d = d[d["participated"] == 1]
    d = d[d[outcome].notna()].copy()
    d["y"] = d[outcome].astype(float)
    d["arm"] = d["arm"].astype(str)
    d["cluster"] = (d["gemeente"].astype(str) + "/"
                    + d["coach"].astype(object).where(d["coach"].notna(), "none").astype(str))
    covs = [c for c in COVARIATES if covariates and c in d.columns]
    rhs = ["C(arm, Treatment('control'))"]
    if d["gemeente"].nunique() > 1:
        rhs.append("C(gemeente)")
    rhs += [f"C({c})" for c in covs]
    return d.reset_index(drop=True), "y ~ " + " + ".join(rhs)


def _tidy(params: pd.Series, bse: pd.Series, method: str, scale: str, ci_prob: float,
          df_resid: float | None = None) -> pd.DataFrame:
    q = (stats.t.ppf((1 + ci_prob) / 2, df_resid) if df_resid
         else stats.norm.ppf((1 + ci_prob) / 2))
    rows = []
    prefix = "C(arm, Treatment('control'))[T."
    for name, est in params.items():
        if not str(name).startswith(prefix):
            continue
        arm = str(name)[len(prefix):-1]
        se = float(bse[name])
        rows.append({"term": "arm", "arm": arm, "scale": scale, "estimate": float(est),
                     "se": se, "ci_low": float(est - q * se), "ci_high": float(est + q * se),
                     "ci_prob": ci_prob, "method": method})
    return pd.DataFrame(rows, columns=COLUMNS)


def lpm_cluster(data: pd.DataFrame, outcome: str = "work_gt12h_m24", *,
                participants_only: bool = False, covariates: bool = True,
                ci_prob: float = CI_PROB) -> pd.DataFrame:
    """Linear probability model (OLS) with coach-clustered SEs; estimates in proportions.

    Intervals use the t distribution with (clusters - 1) degrees of freedom, the usual
    small-cluster correction.
    """
    d, f = _prepare(data, outcome, participants_only, covariates)
    groups = pd.factorize(d["cluster"])[0]
    fit = smf.ols(f, data=d).fit(cov_type="cluster", cov_kwds={"groups": groups})
    n_cl = len(np.unique(groups))
    return _tidy(fit.params, fit.bse, "lpm_cluster_coach", "proportion", ci_prob,
                 df_resid=max(n_cl - 1, 1))


def logit_glm(data: pd.DataFrame, outcome: str = "work_gt12h_m24", *,
              participants_only: bool = False, covariates: bool = True,
              ci_prob: float = CI_PROB) -> pd.DataFrame:
    """Logistic GLM with coach-clustered SEs; estimates on the log-odds scale."""
    d, f = _prepare(data, outcome, participants_only, covariates)
    groups = pd.factorize(d["cluster"])[0]
    fit = smf.glm(f, data=d, family=sm.families.Binomial()).fit(
        cov_type="cluster", cov_kwds={"groups": groups})
    return _tidy(fit.params, fit.bse, "logit_glm_cluster_coach", "log_odds", ci_prob)


def mixed_coach(data: pd.DataFrame, outcome: str = "work_gt12h_m24", *,
                participants_only: bool = False, covariates: bool = True,
                ci_prob: float = CI_PROB) -> pd.DataFrame:
    """Linear mixed model (REML) with coach random intercepts; estimates in outcome units.

    A convergence warning from statsmodels is kept and recorded in ``attrs["warnings"]``.
    """
    d, f = _prepare(data, outcome, participants_only, covariates)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        fit: Any = smf.mixedlm(f, data=d, groups=d["cluster"]).fit(reml=True)
    fe = fit.fe_params
    out = _tidy(fe, fit.bse_fe, "mixedlm_coach_intercepts", "proportion"
                if set(np.unique(d["y"])) <= {0.0, 1.0} else "score", ci_prob)
    sd = float(np.sqrt(max(float(np.asarray(fit.cov_re).ravel()[0]), 0.0)))
    extra = pd.DataFrame([{"term": "sigma_coach", "arm": "", "scale": out["scale"].iloc[0]
                           if len(out) else "proportion", "estimate": sd, "se": np.nan,
                           "ci_low": np.nan, "ci_high": np.nan, "ci_prob": ci_prob,
                           "method": "mixedlm_coach_intercepts"}], columns=COLUMNS)
    out = pd.concat([out, extra], ignore_index=True)
    out.attrs["warnings"] = [str(w.message) for w in caught
                             if issubclass(w.category, UserWarning | RuntimeWarning)]
    return out
