"""One-stage vs two-stage: the person-level model and the summary-level meta-analysis agree.

Why: the summary-level meta-analysis (:func:`bayes_bijstand.meta.fit_meta`) pools
per-gemeente estimates; the person-level model
(:func:`bayes_bijstand.models.person_level.fit_person`) pools the persons themselves. Fed
the same synthetic microdata, collapsed by :func:`bayes_bijstand.microdata.two_stage` for the
second, both estimate the same pooled per-arm effect, so their posteriors should coincide.
A discrepancy beyond what priors and Monte Carlo error explain would point at a bug in one
of the two paths (a scale conversion, a dropped row, a wrong SE).

What is compared, per treated arm (the estimand is the **pooled effect of the arm vs control
across gemeenten**, the mean of the between-gemeente distribution):

* one stage: ``outcome ~ arm + (arm | gemeente)`` fitted with bambi. Score outcomes are
  divided by the pooled within-(gemeente x arm) SD first and fitted with a Gaussian
  likelihood, so the ``arm`` coefficient is a standardised mean difference (SMD), the scale
  of the summary-level model for scores; binary outcomes use the Bernoulli model's average
  marginal effect (``PersonLevelResult.ame``) on the probability scale;
* two stage: :func:`~bayes_bijstand.microdata.two_stage` per-gemeente differences, validated
  through the user-evidence path (:func:`bayes_bijstand.evidence.load.load_evidence` on a CSV,
  exactly what ``--estimates FILE`` does) and pooled by ``fit_meta`` with the arms-as-is
  spec ``models/meta_arms.toml``; the quantity is ``mu_arm`` (risk difference or SMD).

What "agree" means. The two models are not identical: the one-stage model has a gemeente
random intercept and independent arm slopes, the two-stage model differences the intercept
away and puts an LKJ prior on the correlation of arm deviations; the one-stage score model
assumes one residual SD, the two-stage one uses each group's own SD; the SMD conversion uses
each contrast's own SD. With few gemeenten per arm the between-gemeente SD is mostly
determined by its prior, and that spreads into the pooled mean's posterior SD. For scores
the one-stage priors are therefore set to the spec's (``arm ~ Normal(0, mu_sd)``,
``tau ~ HalfNormal(tau_sd)``); for binary outcomes they cannot be (log-odds vs risk
difference), and the AME weights gemeenten by their number of persons while ``mu_arm``
weights them equally, so the agreement is looser. Agreement is declared when
``|mean_1 - mean_2| <= sd_tol * sd + mcse_tol * mcse`` with ``sd`` the root mean square of
the two posterior SDs and ``mcse`` the Monte Carlo standard error of the difference
(``sqrt(mcse_1^2 + mcse_2^2)``; the two fits are independent chains). The defaults
(0.25 SD, 4 MCSE) are meant for a setting where the estimators should coincide: a
handful of gemeenten, a few hundred persons per arm, little between-gemeente variation.
"""

from __future__ import annotations

import tempfile
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd

from bayes_bijstand.microdata import is_binary, split_outcome, two_stage, validate_microdata
from bayes_bijstand.specs import ModelSpec, load_spec, models_dir

ONE_STAGE_FORMULA = "{outcome} ~ arm + (arm | gemeente)"
"""One-stage formula: pooled arm effects, gemeente intercepts and gemeente-varying arm effects.

No coach term and no covariates, because the two-stage estimates are raw differences in
means that adjust for neither (a linear model's arm coefficient is the same estimand either
way, but the comparison is cleanest when both sides use the same information)."""

DEFAULT_SD_TOL = 0.25
DEFAULT_MCSE_TOL = 4.0

TABLE_COLUMNS: tuple[str, ...] = (
    "arm", "scale", "n_gemeenten", "one_mean", "one_sd", "one_mcse", "two_mean", "two_sd",
    "two_mcse", "diff", "sd", "mcse", "diff_in_sd", "diff_in_mcse", "tolerance", "agrees",
)


def arms_spec_path() -> Path:
    """The shipped arms-as-is specification, ``models/meta_arms.toml``."""
    return models_dir() / "meta_arms.toml"


def pooled_within_sd(data: pd.DataFrame, outcome: str) -> float:
    """Pooled within-(gemeente x arm) standard deviation of a score outcome.

    Dividing the score by this SD puts the one-stage arm coefficients on the SMD scale of
    the summary-level model (which converts each contrast to ``z * sqrt(1/n_t + 1/n_c)``,
    i.e. the difference over that contrast's own SD).
    """
    d = data.loc[data[outcome].notna()]
    y = d[outcome].astype(float)
    groups = [d["gemeente"].astype(str), d["arm"].astype(str)]
    resid = y - y.groupby(groups).transform("mean")
    n_groups = int(y.groupby(groups).ngroups)
    dof = len(y) - n_groups
    if dof <= 0:
        raise ValueError(f"too few observations of {outcome!r} to estimate a within-group SD")
    return float(np.sqrt(np.sum(resid.to_numpy() ** 2) / dof))


def two_stage_evidence(data: pd.DataFrame, outcome: str, *, participants_only: bool = False,
                       shift: float = 0.0) -> tuple[pd.DataFrame, pd.DataFrame]:
    """First stage: per-gemeente estimates, loaded as a user evidence file would be.

    Returns ``(estimates, evidence)``: the :func:`~bayes_bijstand.microdata.two_stage` table
    and the same rows after a round trip through a CSV file and
    :func:`~bayes_bijstand.evidence.load.load_evidence` (schema validation, typing, row ids).
    ``shift`` is added to every estimate (on the outcome's own scale) before the round trip;
    it exists for negative controls: a shifted input must be detected as disagreeing.
    """
    from bayes_bijstand.evidence.load import load_evidence

    est = two_stage(data, outcome, participants_only=participants_only)
    if est.empty:
        raise ValueError(f"no gemeente has both a control group and a treated arm with {outcome!r}")
    est = est.assign(estimate=est["estimate"] + float(shift))
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "two_stage_estimates.csv"
        est.to_csv(path, index=False)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # did-you-mean hints on user codes
            evidence = load_evidence(path)
    return est, evidence


def one_stage_priors(spec: ModelSpec, kind: Literal["binary", "score"]) -> dict[str, Any]:
    """bambi priors for the one-stage model that match the summary-level spec where possible.

    Scores (standardised outcome): ``arm ~ Normal(0, mu_sd)`` and gemeente arm deviations
    ``Normal(0, tau)`` with ``tau ~ HalfNormal(tau_sd)``, the spec's ``[priors.score]``, so
    that the two models differ in their likelihood structure, not in their priors. The
    gemeente intercepts, which the two-stage differences remove, get an SD prior
    ``HalfNormal(1)`` (gemeente means differing by up to about one within-group SD) instead
    of bambi's default (HalfNormal(2.5 SD)), which with three gemeenten leaves a funnel that
    NUTS diverges in. Binary: the person-level defaults
    (:func:`~bayes_bijstand.models.person_level.default_priors`, log-odds scale), because a
    risk-difference prior has no log-odds equivalent.
    """
    if kind == "binary":
        return {}
    import bambi as bmb

    pri = spec.priors("score")
    return {
        "arm": bmb.Prior("Normal", mu=0.0, sigma=pri.mu_sd),
        "arm|gemeente": bmb.Prior("Normal", mu=0.0,
                                  sigma=bmb.Prior("HalfNormal", sigma=pri.tau_sd)),
        "1|gemeente": bmb.Prior("Normal", mu=0.0, sigma=bmb.Prior("HalfNormal", sigma=1.0)),
    }


def _mcse_mean(x: np.ndarray) -> float:
    """Monte Carlo standard error of the posterior mean of a (chain, draw) array."""
    import arviz as az

    return float(np.asarray(az.mcse(x[..., None], chain_axis=0, draw_axis=1)).squeeze())


def agreement_table(one: Mapping[str, np.ndarray], two: Mapping[str, np.ndarray], *,
                    scale: str = "", n_gemeenten: Mapping[str, int] | None = None,
                    sd_tol: float = DEFAULT_SD_TOL,
                    mcse_tol: float = DEFAULT_MCSE_TOL) -> pd.DataFrame:
    """Per-arm comparison of two sets of posterior draws (each ``(chain, draw)``).

    Columns: ``one_mean/one_sd/one_mcse`` and ``two_mean/two_sd/two_mcse`` (posterior mean,
    SD and MCSE of the mean); ``diff = two_mean - one_mean``; ``sd`` the root mean square of
    the two posterior SDs; ``mcse = sqrt(one_mcse^2 + two_mcse^2)``; ``diff_in_sd`` and
    ``diff_in_mcse`` the difference in those units; ``tolerance = sd_tol * sd + mcse_tol *
    mcse`` and ``agrees = |diff| <= tolerance``. Arms present in only one set are skipped.
    """
    rows = []
    for arm in [a for a in one if a in two]:
        x = np.asarray(one[arm], dtype=float)
        y = np.asarray(two[arm], dtype=float)
        if x.ndim != 2 or y.ndim != 2:
            raise ValueError(f"draws of {arm!r} must be (chain, draw) arrays")
        m1, m2 = float(x.mean()), float(y.mean())
        s1, s2 = float(x.std(ddof=1)), float(y.std(ddof=1))
        e1, e2 = _mcse_mean(x), _mcse_mean(y)
        sd = float(np.sqrt((s1**2 + s2**2) / 2))
        mcse = float(np.hypot(e1, e2))
        diff = m2 - m1
        tol = sd_tol * sd + mcse_tol * mcse
        rows.append({"arm": arm, "scale": scale,
                     "n_gemeenten": (n_gemeenten or {}).get(arm, np.nan),
                     "one_mean": m1, "one_sd": s1, "one_mcse": e1,
                     "two_mean": m2, "two_sd": s2, "two_mcse": e2,
                     "diff": diff, "sd": sd, "mcse": mcse,
                     "diff_in_sd": diff / sd if sd > 0 else np.nan,
                     "diff_in_mcse": diff / mcse if mcse > 0 else np.nan,
                     "tolerance": tol, "agrees": bool(abs(diff) <= tol)})
    return pd.DataFrame(rows, columns=list(TABLE_COLUMNS))


@dataclass
class StageComparison:
    """Result of :func:`compare_one_two_stage`.

    ``table`` is the per-arm agreement table (see :func:`agreement_table`); ``one_stage``
    the :class:`~bayes_bijstand.models.person_level.PersonLevelResult`; ``two_stage`` the
    :class:`~bayes_bijstand.meta.MetaResult`; ``estimates`` the first-stage table that was
    pooled (after any ``shift``); ``score_sd`` the SD the score was divided by (``None`` for
    binary outcomes); ``scale`` ``"smd"`` or ``"risk_difference"``.
    """

    table: pd.DataFrame
    one_stage: Any
    two_stage: Any
    estimates: pd.DataFrame
    scale: str
    score_sd: float | None
    shift: float = 0.0

    @property
    def agrees(self) -> bool:
        """Whether every compared arm agrees within the tolerance."""
        return bool(len(self.table)) and bool(self.table["agrees"].all())


def compare_one_two_stage(
    data: pd.DataFrame,
    outcome: str = "social_trust_m24",
    *,
    participants_only: bool = False,
    spec: ModelSpec | None = None,
    formula: str = ONE_STAGE_FORMULA,
    draws: int = 1000,
    tune: int = 1000,
    chains: int = 2,
    sampler: Literal["nutpie", "pymc"] = "pymc",
    random_seed: int = 2017,
    cores: int = 1,
    target_accept: float = 0.95,
    shift: float = 0.0,
    retry: bool = False,
    sd_tol: float = DEFAULT_SD_TOL,
    mcse_tol: float = DEFAULT_MCSE_TOL,
    one_stage: Any | None = None,
) -> StageComparison:
    """Fit the one-stage and the two-stage model to ``data`` and compare the pooled arm effects.

    ``data`` is person-level microdata (validated if not yet); ``outcome`` a microdata outcome
    column (``social_trust_m24`` for the SMD comparison, e.g. ``work_gt12h_m24`` for the
    risk-difference one). ``spec`` defaults to ``models/meta_arms.toml``; its sampler
    settings are replaced by ``draws``/``tune``/``chains``/``sampler``/``random_seed``, and
    the same settings fit the one-stage model (``target_accept`` is the one-stage fit's; the
    meta-analysis uses the spec's). ``shift`` is added to the first-stage estimates
    (outcome scale) - a negative control. ``retry`` is ``fit_meta``'s diagnostics retry
    (off by default: the comparison reports MCSE instead).
    ``one_stage`` reuses the one-stage fit of an earlier comparison on the same data and
    outcome (e.g. ``previous.one_stage``) instead of fitting it again. See the module
    docstring for the estimand and the meaning of agreement.
    """
    from bayes_bijstand.meta import fit_meta
    from bayes_bijstand.models.person_level import CoachArmConfoundingWarning, fit_person

    data = validate_microdata(data) if data.attrs.get("validated_by") != \
        "bayes_bijstand.microdata" else data
    binary = is_binary(outcome)
    kind: Literal["binary", "score"] = "binary" if binary else "score"
    name, _ = split_outcome(outcome)
    spec = spec if spec is not None else load_spec(arms_spec_path())
    spec = spec.with_overrides(draws=draws, tune=tune, chains=chains, sampler=sampler,
                               random_seed=random_seed)
    if spec.kind != "meta_arms":
        warnings.warn(f"spec {spec.name!r} decomposes arms into components; the comparison is "
                      "meant for kind = 'meta_arms'", UserWarning, stacklevel=2)
    est, evidence = two_stage_evidence(data, outcome, participants_only=participants_only,
                                       shift=shift)
    two = fit_meta(evidence, spec, name, cores=cores, retry=retry, prior_predictive=False,
                   posterior_predictive=False)
    if two.kind != kind:
        raise ValueError(f"outcome {name!r} is {two.kind} in the evidence vocabulary but the "
                         f"microdata column {outcome!r} is {kind}")

    one_data, score_sd = data, None
    if not binary:
        score_sd = pooled_within_sd(data.loc[data["participated"] == 1] if participants_only
                                    else data, outcome)
        one_data = data.copy()
        one_data[outcome] = data[outcome] / score_sd
        one_data.attrs.update(data.attrs)
    one_formula = formula.format(outcome=outcome)
    if one_stage is not None:
        estimand = "participants" if participants_only else "itt"
        if (one_stage.formula, one_stage.family, one_stage.estimand) != (
                one_formula, "bernoulli" if binary else "gaussian", estimand):
            raise ValueError(f"one_stage was fitted with {one_stage.formula!r} "
                             f"({one_stage.family}, {one_stage.estimand}), not "
                             f"{one_formula!r} ({estimand})")
        one = one_stage
    else:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", CoachArmConfoundingWarning)
            warnings.simplefilter("ignore", FutureWarning)
            one = fit_person(one_data, formula=one_formula,
                             family="bernoulli" if binary else "gaussian",
                             participants_only=participants_only,
                             priors=one_stage_priors(spec, kind), draws=draws, tune=tune,
                             chains=chains, random_seed=random_seed, sampler=sampler,
                             cores=cores, target_accept=target_accept)
    one_draws = _one_stage_draws(one, binary)
    post = two.posterior
    two_draws = {str(a): np.asarray(post["mu_arm"].sel(arm=a).transpose("chain", "draw"))
                 for a in post["mu_arm"]["arm"].values}
    n_gem = est.groupby("arm")["gemeente"].nunique().to_dict()
    table = agreement_table(one_draws, two_draws, scale="risk_difference" if binary else "smd",
                            n_gemeenten=n_gem, sd_tol=sd_tol, mcse_tol=mcse_tol)
    return StageComparison(table=table, one_stage=one, two_stage=two, estimates=est,
                           scale="risk_difference" if binary else "smd", score_sd=score_sd,
                           shift=float(shift))


def _one_stage_draws(res: Any, binary: bool) -> dict[str, np.ndarray]:
    """Pooled arm effects of the one-stage fit as ``{arm: (chain, draw) array}``.

    Binary: the average marginal effect (probability scale, not percentage points);
    score: the ``arm`` coefficient (SMD, because the outcome was standardised).
    """
    if binary:
        ame = res.ame
        return {str(a): np.asarray(ame.sel(arm=a).transpose("chain", "draw"))
                for a in ame["arm"].values}
    da = res.tree["posterior"]["arm"]
    dim = next(d for d in da.dims if d not in ("chain", "draw"))
    return {str(a): np.asarray(da.sel({dim: a}).transpose("chain", "draw"))
            for a in da[dim].values}


def format_table(table: pd.DataFrame, columns: Sequence[str] | None = None,
                 digits: int = 3) -> str:
    """The agreement table as plain text (for examples and logs)."""
    cols = list(columns) if columns is not None else list(TABLE_COLUMNS)
    with pd.option_context("display.width", 200, "display.max_columns", 30):
        return table[cols].round(digits).to_string(index=False)
