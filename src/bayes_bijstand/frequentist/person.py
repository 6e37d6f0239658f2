"""Frequentist twins of the person-level model (statsmodels).

Why: every Bayesian person-level result gets a familiar frequentist counterpart with the
same tidy columns (``term, arm, scale, estimate, se, ci_low, ci_high, ci_prob, method``), so
they can be joined and compared without branching. All three include gemeente fixed effects
(randomisation was within gemeente) and the covariates present in the data.

- :func:`lpm_cluster`: linear probability model, SEs clustered by coach (the unit that
  delivers the treatment; clients without a coach form one cluster per gemeente). When the
  arm is constant within every cluster (coaches exclusive to an arm) or an arm has fewer
  than two clusters, a cluster-robust variance is not valid - with one cluster it ignores
  that cluster's deviation entirely (in an Oss-sized design, 120 control clients over 4
  coaches, 110 over 1, 115 over 2, "90%" intervals covered 63-70%; with two clusters per arm
  81%) - so it switches to the mixed model below with t intervals on the between-cluster
  degrees of freedom (clusters minus cluster-level parameters), and says so in ``method``
  and ``attrs["note"]``. It refuses (``ValueError``) when no degree of freedom is left.
- :func:`logit_glm`: logistic GLM, coefficients on the log-odds scale, same clustering;
  it refuses arms delivered by fewer than two clusters and cluster-level arms with few
  clusters (there is no valid small-sample fix for it here: use ``lpm_cluster``).
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


def cluster_design(d: pd.DataFrame) -> dict[str, Any]:
    """Clusters per arm, whether the arm is constant within every cluster, between-cluster df.

    ``df_between`` = clusters - cluster-level parameters (intercept, arms, gemeenten): the
    degrees of freedom of an arm contrast when the arm is a cluster-level variable.
    """
    per_arm = d.groupby("arm")["cluster"].nunique().to_dict()
    nested = bool((d.groupby("cluster")["arm"].nunique() == 1).all())
    n_cl = int(d["cluster"].nunique())
    p_between = d["arm"].nunique() + d["gemeente"].nunique() - 1
    return {"clusters_per_arm": {str(k): int(v) for k, v in per_arm.items()},
            "nested": nested, "n_clusters": n_cl, "df_between": n_cl - p_between}


def lpm_cluster(data: pd.DataFrame, outcome: str = "work_gt12h_m24", *,
                participants_only: bool = False, covariates: bool = True,
                ci_prob: float = CI_PROB) -> pd.DataFrame:
    """Linear probability model with coach-clustered SEs; estimates in proportions.

    Arms that vary within clusters and have two or more clusters each: OLS with a
    cluster-robust variance and t intervals with (clusters - 1) degrees of freedom
    (``method = lpm_cluster_coach``). Arms constant within clusters, or an arm with one
    cluster: REML linear mixed model with coach random intercepts and t intervals with the
    between-cluster degrees of freedom (``method = lpm_mixed_coach_between_df``); the reason
    is in ``attrs["note"]``. Raises ``ValueError`` if no between-cluster df is left.
    """
    d, f = _prepare(data, outcome, participants_only, covariates)
    design = cluster_design(d)
    few = {a: k for a, k in design["clusters_per_arm"].items() if k < 2}
    if design["nested"] or few:
        why = (f"arm(s) {', '.join(f'{a} ({k} cluster)' for a, k in few.items())} have fewer "
               "than two coach clusters" if few else
               "every coach cluster serves one arm (the arm is a cluster-level variable)")
        if design["df_between"] < 1:
            raise ValueError(f"lpm_cluster: {why}, and {design['n_clusters']} clusters leave no "
                             "between-cluster degree of freedom for the arm contrasts: no valid "
                             "interval (the arm effect cannot be told apart from its coaches)")
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            fit: Any = smf.mixedlm(f, data=d, groups=d["cluster"]).fit(reml=True)
        out = _tidy(fit.fe_params, fit.bse_fe, "lpm_mixed_coach_between_df", "proportion",
                    ci_prob, df_resid=design["df_between"])
        out.attrs["note"] = (f"{why}: cluster-robust SEs are not valid here; switched to a "
                             "linear mixed model with coach random intercepts (REML) and t "
                             f"intervals on {design['df_between']} between-cluster df")
        out.attrs["warnings"] = [str(w.message) for w in caught
                                 if issubclass(w.category, UserWarning | RuntimeWarning)]
        return out
    groups = pd.factorize(d["cluster"])[0]
    fit = smf.ols(f, data=d).fit(cov_type="cluster", cov_kwds={"groups": groups})
    out = _tidy(fit.params, fit.bse, "lpm_cluster_coach", "proportion", ci_prob,
                df_resid=max(design["n_clusters"] - 1, 1))
    out.attrs["note"] = (f"cluster-robust SEs over {design['n_clusters']} coach clusters, t "
                         f"intervals on {design['n_clusters'] - 1} df")
    return out


MIN_CLUSTERS_LOGIT = 10
"""Fewest clusters per arm for which :func:`logit_glm` reports a cluster-level arm."""


def logit_glm(data: pd.DataFrame, outcome: str = "work_gt12h_m24", *,
              participants_only: bool = False, covariates: bool = True,
              ci_prob: float = CI_PROB) -> pd.DataFrame:
    """Logistic GLM with coach-clustered SEs; estimates on the log-odds scale.

    Refuses (``ValueError``) an arm with fewer than two clusters, and an arm constant
    within clusters with fewer than :data:`MIN_CLUSTERS_LOGIT` clusters: a cluster-robust
    variance then covers far below nominal and this twin has no small-sample fix; use
    :func:`lpm_cluster` (which switches to a mixed model) or :func:`mixed_coach`.
    """
    d, f = _prepare(data, outcome, participants_only, covariates)
    design = cluster_design(d)
    few = {a: k for a, k in design["clusters_per_arm"].items()
           if k < 2 or (design["nested"] and k < MIN_CLUSTERS_LOGIT)}
    if few:
        raise ValueError("logit_glm: cluster-robust SEs are not valid for arm(s) "
                         + ", ".join(f"{a} ({k} coach cluster{'s' if k != 1 else ''})"
                                     for a, k in few.items())
                         + "; use lpm_cluster (mixed model with between-cluster df) or "
                         "mixed_coach")
    groups = pd.factorize(d["cluster"])[0]
    fit = smf.glm(f, data=d, family=sm.families.Binomial()).fit(
        cov_type="cluster", cov_kwds={"groups": groups})
    return _tidy(fit.params, fit.bse, "logit_glm_cluster_coach", "log_odds", ci_prob,
                 df_resid=max(design["n_clusters"] - 1, 1))


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
