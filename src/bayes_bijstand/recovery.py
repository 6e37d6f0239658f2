"""Validation of the person-level model: parameter-recovery coverage and SBC ranks.

Why: a posterior that is computed correctly, under a model that matches how the data were
generated, puts the true value inside its 90% interval in about 90% of data sets. Two checks
of :func:`~bayes_bijstand.models.person_level.fit_person` follow from that:

* **Recovery coverage** (:func:`recovery_replication`, :func:`coverage_table`): simulate
  data with :func:`~bayes_bijstand.simulate.simulate_microdata` at *fixed* true values (arm
  effects, between-gemeente SD ``tau``, coach SD ``sigma_coach``), fit, and count how often
  each true value lies in the equal-tailed 90% interval. The simulator is *not* the fitted
  model: it adds a person propensity (SD 0.5) and covariates that a lean formula omits,
  which attenuates log-odds coefficients a little (non-collapsibility; about 4-9% here), and
  it draws gemeente deviations per *component* (a bundled arm's true tau is ``tau *
  sqrt(2)``). Coverage near 90% therefore says the model is usable on data like these, not
  that it is exactly calibrated; ``bias`` in the replication table shows the attenuation.
* **Simulation-based calibration** (:func:`sbc_replications`, Talts et al. 2018): draw
  every parameter from the model's own prior, simulate outcomes from the model itself on a
  fixed design (bambi's prior predictive on the collapsed cells), refit with ``fit_person``
  and record the rank of each true arm effect among ``L`` thinned posterior draws. If the
  fitting path is correct the ranks are uniform on ``0..L`` (:func:`rank_uniformity`). This
  checks the code (formula rewriting, collapsing, priors, sampler), independently of how
  realistic the simulator is.

The benchmark script ``benchmarks/person_recovery_coverage.py`` runs both at a modest size
and writes ``benchmarks/results/person_recovery_coverage.{json,md}``; ``tests/person/
test_person_recovery.py`` runs a three-replication version with a negative control.
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace
from typing import Any, Literal

import numpy as np
import pandas as pd
from scipy import stats

from bayes_bijstand.constants import CI_PROB
from bayes_bijstand.microdata import validate_microdata
from bayes_bijstand.models.person_level import COACHED
from bayes_bijstand.simulate import (
    ARM_COMPONENTS,
    COVARIATE_EFFECTS,
    simulate_microdata,
    true_arm_effects,
)

LEAN_FORMULA = ("work_gt12h_m24 ~ arm + sex + benefit_duration + (arm | gemeente) "
                "+ (1 | gemeente:coach)")
"""Two covariates instead of seven: ~170 binomial cells instead of ~1,700 persons, so a
replication takes seconds of sampling rather than minutes (compilation dominates)."""

DELIVERED_FORMULA = ("work_gt12h_m24 ~ delivered + participated + sex + benefit_duration "
                     "+ (delivered | gemeente) + (1 | gemeente:caseworker) "
                     "+ (0 + delivered | gemeente:coach)")
"""The delivered-treatment model with the lean covariates: ``arm`` is then the effect of
receiving an arm (the simulator's participant-level effect), ``sigma_coach`` the SD of that
effect across experiment coaches and ``sigma_caseworker`` the SD of caseworker intercepts;
fitted on all clients (ITT data), not participants only."""

RECOVERED_TERMS: tuple[str, ...] = ("arm", "tau", "sigma_coach", "sigma_caseworker")
"""Summary terms with a known true value (see :func:`true_values`)."""


@dataclass(frozen=True)
class RecoveryDesign:
    """What is simulated and how it is fitted in one coverage replication.

    The defaults are the small design of the committed study: four gemeenten that
    randomised after consent (Oss, Nijmegen, Wageningen, Utrecht), participants only
    (~1,750 persons), the lean formula.
    """

    effects: Mapping[str, float] = field(default_factory=lambda: {
        "zelf_in_actie": 0.0, "extra_hulp": 0.5, "werken_loont": 0.3})
    tau: float = 0.1
    sigma_coach: float = 0.2
    gemeenten: tuple[str, ...] = ("oss", "nijmegen", "wageningen", "utrecht")
    scale: float = 1.0
    participants_only: bool = True
    formula: str = LEAN_FORMULA
    sigma_caseworker: float | None = None
    """SD of regular klantmanagers' intercepts (default: ``sigma_coach``)."""
    arm_tau: Mapping[str, float] | None = None
    """Between-gemeente SD per arm (independent deviations per arm, the fitted model's
    structure); ``None``: the simulator's per-component deviations with SD ``tau``."""
    person_sd: float = 0.5
    """SD of the simulator's person propensity (0: no attenuation by an omitted person term)."""
    covariate_effects: Mapping[str, Mapping[str, float]] | None = None
    """Covariate log-odds shifts (``None``: the simulator's seven covariates)."""
    truth_prior_sd: float | None = None
    """If set, every replication draws its own true SDs - one ``tau`` per arm,
    ``sigma_coach`` and ``sigma_caseworker`` - from HalfNormal(``truth_prior_sd``), the
    fitted model's prior on them (:meth:`for_seed`); fixed SDs otherwise."""

    @classmethod
    def delivered(cls, **kw: Any) -> RecoveryDesign:
        """The delivered-treatment design: six gemeenten with experiment coaches (about 40),
        all clients, :data:`DELIVERED_FORMULA`, coach SD 0.2, caseworker SD 0.2 (the
        committed benchmark run)."""
        base: dict[str, Any] = {
            "gemeenten": ("utrecht", "tilburg", "wageningen", "deventer", "oss", "nijmegen"),
            "participants_only": False, "formula": DELIVERED_FORMULA, "sigma_coach": 0.2,
            "sigma_caseworker": 0.2}
        return cls(**{**base, **kw})

    @classmethod
    def calibrated(cls, **kw: Any) -> RecoveryDesign:
        """The delivered design with the simulator made the fitted model: true SDs drawn
        from the model's HalfNormal(0.5) priors in every replication, one gemeente deviation
        per arm, no person propensity, only the formula's covariates (``sex``,
        ``benefit_duration``). Under these conditions a correct posterior's 90% intervals
        cover 90% of the true values, averaged over replications (the property the nominal
        check tests)."""
        base: dict[str, Any] = {
            "truth_prior_sd": 0.5, "person_sd": 0.0,
            "covariate_effects": {k: dict(COVARIATE_EFFECTS[k])
                                  for k in ("sex", "benefit_duration")}}
        return cls.delivered(**{**base, **kw})

    def for_seed(self, seed: int) -> RecoveryDesign:
        """The design of replication ``seed``: with ``truth_prior_sd`` set, its true SDs are
        drawn from HalfNormal(``truth_prior_sd``) (a stream of its own, seeded by ``seed``);
        otherwise this design unchanged."""
        if self.truth_prior_sd is None:
            return self
        rng = np.random.default_rng([int(seed), 19])
        arms = [a for a, cs in ARM_COMPONENTS.items() if cs]
        sd = np.abs(rng.normal(0.0, self.truth_prior_sd, len(arms) + 2))
        return replace(self, truth_prior_sd=None,
                       arm_tau={a: float(v) for a, v in zip(arms, sd[:-2], strict=True)},
                       sigma_coach=float(sd[-2]), sigma_caseworker=float(sd[-1]))

    @property
    def is_delivered(self) -> bool:
        """Whether the fitted formula is the delivered-treatment model."""
        return "delivered" in self.formula

    def simulate(self, seed: int) -> pd.DataFrame:
        """One synthetic data set of this design (validated)."""
        if self.truth_prior_sd is not None:
            raise ValueError("draw the replication's true SDs first (RecoveryDesign.for_seed)")
        return validate_microdata(simulate_microdata(
            effects=dict(self.effects), tau=self.tau, sigma_coach=self.sigma_coach, seed=seed,
            scale=self.scale, gemeenten=list(self.gemeenten),
            sigma_caseworker=self.sigma_caseworker, arm_tau=self.arm_tau,
            person_sd=self.person_sd, covariate_effects=self.covariate_effects))

    def to_dict(self) -> dict[str, Any]:
        """JSON-friendly settings."""
        d = asdict(self)
        d["effects"] = dict(self.effects)
        d["gemeenten"] = list(self.gemeenten)
        if self.arm_tau is not None:
            d["arm_tau"] = dict(self.arm_tau)
        if self.covariate_effects is not None:
            d["covariate_effects"] = {k: dict(v) for k, v in self.covariate_effects.items()}
        return d


@dataclass(frozen=True)
class FitSettings:
    """Sampler settings shared by every replication."""

    draws: int = 500
    tune: int = 500
    chains: int = 2
    sampler: Literal["nutpie", "pymc"] = "nutpie"
    target_accept: float = 0.9
    cores: int = 1

    def kwargs(self) -> dict[str, Any]:
        """Keyword arguments for :func:`fit_person`."""
        return asdict(self)


def true_values(design: RecoveryDesign, arms: Sequence[str]) -> pd.DataFrame:
    """True value of every recovered parameter, columns ``term, arm, truth``.

    ``arm``: the participant-level log-odds effect (sum of the arm's components,
    :func:`~bayes_bijstand.simulate.true_arm_effects`); ``tau``: the between-gemeente SD of
    the arm's effect, ``design.arm_tau[arm]`` where the design draws one deviation per arm,
    else ``design.tau * sqrt(number of components)`` because the simulator draws one
    independent deviation per component; ``sigma_coach``: the coach SD. Arms the
    simulator cannot give a single true value for (``keuze``, a mixture) are left out.
    """
    eff = true_arm_effects(design.effects)
    rows = []
    for a in arms:
        base = a.removesuffix(COACHED)  # delivered model: an arm's coached participants
        comps = ARM_COMPONENTS.get(base, ())
        if not comps:
            continue
        rows.append({"term": "arm", "arm": a, "truth": float(eff[base])})
        t = (design.arm_tau[base] if design.arm_tau and base in design.arm_tau
             else design.tau * float(np.sqrt(len(comps))))
        rows.append({"term": "tau", "arm": a, "truth": float(t)})
    rows.append({"term": "sigma_coach", "arm": "", "truth": float(design.sigma_coach)})
    if design.is_delivered:
        cw = design.sigma_coach if design.sigma_caseworker is None else design.sigma_caseworker
        rows.append({"term": "sigma_caseworker", "arm": "", "truth": float(cw)})
    return pd.DataFrame(rows, columns=["term", "arm", "truth"])


def nominal_check(table: pd.DataFrame, *, nominal: float = CI_PROB, z: float = 2.0,
                  terms: Sequence[str] = ("arm", "sigma_coach", "sigma_caseworker")
                  ) -> dict[str, Any]:
    """Pass/fail: coverage of ``terms`` within ``z`` binomial SEs (at the nominal rate).

    The SE is ``sqrt(nominal (1 - nominal) / n)``, the spread expected if intervals were
    exactly calibrated; intervals of one replication are treated as independent. ``tau`` is
    left out by default: with one to three gemeenten per arm its interval is mostly the
    prior's and covers almost always, which would hide under-coverage elsewhere.
    """
    t = table[(table["level"] == "term") & table["term"].isin(list(terms))]
    n, k = int(t["n"].sum()), int(t["covered"].sum())
    cov = k / n if n else float("nan")
    se = binomial_se(nominal, n)
    ok = abs(cov - nominal) <= z * se
    return {"terms": list(terms), "n": n, "covered": k, "coverage": cov, "nominal": nominal,
            "se_at_nominal": se,
            "z": z, "passed": bool(ok)}


def score_intervals(summary: pd.DataFrame, truth: pd.DataFrame) -> pd.DataFrame:
    """Join a ``PersonLevelResult.summary()`` with true values and flag coverage.

    Returns one row per true value with ``estimate, se, ci_low, ci_high, covered`` and
    ``bias = estimate - truth``. A true value without a matching summary row is an error
    (it would silently shrink the denominator).
    """
    s = summary[summary["term"].isin(RECOVERED_TERMS)]
    out = truth.merge(s[["term", "arm", "estimate", "se", "ci_low", "ci_high", "ess_bulk",
                         "r_hat"]], on=["term", "arm"], how="left", validate="one_to_one")
    if out["estimate"].isna().any():
        miss = out.loc[out["estimate"].isna(), ["term", "arm"]].to_records(index=False)
        raise ValueError(f"no posterior summary for {list(miss)}")
    out["covered"] = (out["ci_low"] <= out["truth"]) & (out["truth"] <= out["ci_high"])
    out["bias"] = out["estimate"] - out["truth"]
    return out


def recovery_replication(design: RecoveryDesign, seed: int, fit: FitSettings = FitSettings(),
                         *, ci_prob: float = CI_PROB) -> pd.DataFrame:
    """Simulate one data set of ``design`` with ``seed``, fit it, score the intervals.

    Adds ``rep`` (the seed), ``n_gemeenten`` (gemeenten that randomised the arm: with one,
    ``tau`` is identified by its prior alone), ``divergences`` and ``seconds``.
    """
    from bayes_bijstand.models.person_level import fit_person

    design = design.for_seed(seed)
    data = design.simulate(seed)
    t0 = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = fit_person(data, formula=design.formula,
                         participants_only=design.participants_only, random_seed=seed,
                         **fit.kwargs())
    secs = time.perf_counter() - t0
    summ = res.summary(ci_prob=ci_prob)
    arms = [a for a in summ.loc[summ["term"] == "arm", "arm"]]
    out = score_intervals(summ, true_values(design, arms))
    sub = data[data["participated"] == 1] if design.participants_only else data
    n_gem = sub.groupby("arm", observed=True)["gemeente"].nunique()
    out["n_gemeenten"] = [int(n_gem.get(a.removesuffix(COACHED), 0)) if a else np.nan
                          for a in out["arm"]]
    out.insert(0, "rep", seed)
    out["divergences"] = int(res.tree["sample_stats"]["diverging"].sum())
    out["seconds"] = secs
    return out


def binomial_se(p: float, n: int) -> float:
    """Standard error of a proportion ``p`` from ``n`` independent trials."""
    return float(np.sqrt(p * (1 - p) / n)) if n > 0 else float("nan")


def coverage_table(hits: pd.DataFrame, *, nominal: float = CI_PROB) -> pd.DataFrame:
    """Coverage per parameter, per term and overall, with binomial standard errors.

    ``hits`` has one row per replication x parameter with a boolean ``covered`` (as from
    :func:`recovery_replication`). Columns: ``level`` (parameter / term / overall), ``term``,
    ``arm``, ``n``, ``covered``, ``coverage``, ``se`` (binomial, ``sqrt(p(1-p)/n)``; for the
    pooled rows it treats parameters of one replication as independent, which they are
    not quite), ``nominal``, ``mean_bias``, ``mean_width``, and for single parameters
    ``mean_post_sd`` (average posterior SD) next to ``sd_of_means`` (SD of the posterior
    means over replications): a posterior SD well above the spread of its mean means
    conservative intervals (e.g. a prior on tau that is wide compared with the true tau).
    """
    h = hits.assign(width=hits["ci_high"] - hits["ci_low"])

    def row(level: str, term: str, arm: str, g: pd.DataFrame) -> dict[str, Any]:
        n, k = len(g), int(g["covered"].sum())
        p = k / n if n else float("nan")
        single = level == "parameter"
        return {"level": level, "term": term, "arm": arm, "n": n, "covered": k, "coverage": p,
                "se": binomial_se(p, n), "nominal": nominal,
                "mean_bias": float(g["bias"].mean()), "mean_width": float(g["width"].mean()),
                "mean_post_sd": float(g["se"].mean()) if single else float("nan"),
                "sd_of_means": float(g["estimate"].std(ddof=1)) if single and n > 1
                else float("nan")}

    rows = [row("parameter", t, a, g) for (t, a), g in h.groupby(["term", "arm"], sort=False)]
    rows += [row("term", t, "", g) for t, g in h.groupby("term", sort=False)]
    rows.append(row("overall", "", "", h))
    return pd.DataFrame(rows)


def run_coverage(design: RecoveryDesign, seeds: Sequence[int], fit: FitSettings = FitSettings(),
                 *, ci_prob: float = CI_PROB,
                 on_replication: Callable[[pd.DataFrame], None] | None = None) -> pd.DataFrame:
    """All replications' rows (see :func:`recovery_replication`), one seed each.

    ``on_replication`` is called with the rows so far after every replication (e.g. to write
    partial results, so an interrupted run keeps what it measured).
    """
    frames: list[pd.DataFrame] = []
    for s in seeds:
        frames.append(recovery_replication(design, int(s), fit, ci_prob=ci_prob))
        if on_replication is not None:
            on_replication(pd.concat(frames, ignore_index=True))
    return pd.concat(frames, ignore_index=True)


# --------------------------------------------------------------------------- SBC


def sbc_priors() -> dict[str, Any]:
    """The fully specified priors used for SBC (prior draws and fits share them).

    :func:`~bayes_bijstand.models.person_level.default_priors` for the arm effects, tau and
    the coach SD, Normal(0, 1) for the covariates, and HalfNormal(0.5) for the gemeente
    intercept SD instead of bambi's data-scaled default (which differs between the person
    rows and the collapsed cells). The intercept keeps bambi's fixed Normal(0, 1.5).
    """
    import bambi as bmb

    from bayes_bijstand.models.person_level import default_priors

    return {**default_priors("binomial"),
            "sex": bmb.Prior("Normal", mu=0.0, sigma=1.0),
            "benefit_duration": bmb.Prior("Normal", mu=0.0, sigma=1.0),
            "1|gemeente": bmb.Prior("Normal", mu=0.0, sigma=bmb.Prior("HalfNormal", sigma=0.5))}


def _cell_index(data: pd.DataFrame, prep: Any) -> np.ndarray:
    """For every row of ``data``, the index of its binomial cell in ``prep.frame`` (-1 for
    rows ``prepare`` drops because the outcome is missing).

    ``data`` must already hold only the rows to be fitted (e.g. participants); the cell keys
    are the formula's predictors, with the gemeente-prefixed coach key built as in
    :func:`~bayes_bijstand.models.person_level.prepare`.
    """
    from bayes_bijstand.models.person_level import COACH_KEY

    keep = data[prep.outcome].notna().to_numpy()
    d = data.loc[keep]
    d = d.assign(**{COACH_KEY: d["gemeente"].astype(str) + "/" + d["coach"].astype(object)
                    .where(d["coach"].notna(), "none").astype(str)})
    keys = list(prep.predictors)
    cells = prep.frame[keys].astype(str).reset_index().rename(columns={"index": "_cell"})
    idx = d[keys].astype(str).merge(cells, on=keys, how="left")["_cell"].to_numpy(float)
    if np.isnan(idx).any():
        raise RuntimeError("a person does not fall into any binomial cell")
    out = np.full(len(data), -1)
    out[np.flatnonzero(keep)] = idx.astype(int)
    return out


@dataclass(frozen=True)
class _Design:
    """The fixed design of an SBC run: persons, their cells, the collapsed frame."""

    data: pd.DataFrame
    frame: pd.DataFrame
    formula: str
    outcome: str
    cell: np.ndarray


def _sbc_design(design: RecoveryDesign, seed: int) -> _Design:
    from bayes_bijstand.models.person_level import prepare

    data = design.simulate(seed)
    if design.participants_only:
        data = data[data["participated"] == 1].reset_index(drop=True)
        data.attrs["validated_by"] = "bayes_bijstand.microdata"
    prep = prepare(data, formula=design.formula)
    if not prep.collapsed:
        raise ValueError("SBC needs a collapsible (binary, categorical) formula")
    cell = _cell_index(data, prep)
    counts = np.bincount(cell[cell >= 0], minlength=len(prep.frame))
    if not np.array_equal(counts, prep.frame["trials"].to_numpy()):
        raise RuntimeError("cell assignment does not reproduce the collapsed trials")
    return _Design(data, prep.frame, prep.formula, prep.outcome, cell)


def _persons_from_cells(des: _Design, successes: np.ndarray) -> pd.DataFrame:
    """Person rows whose outcome collapses exactly to ``successes`` per cell."""
    d = des.data.copy()
    y = np.full(len(d), np.nan)
    rank = pd.Series(des.cell).groupby(des.cell).cumcount().to_numpy()
    ok = des.cell >= 0
    y[ok] = (rank[ok] < successes[des.cell[ok]]).astype(float)
    d[des.outcome] = pd.array(np.where(np.isnan(y), pd.NA, y), dtype="Int8")
    d.attrs.update(des.data.attrs)
    return d


def sbc_replications(design: RecoveryDesign, n_reps: int, fit: FitSettings = FitSettings(), *,
                     n_ranks: int = 99, seed: int = 2024,
                     on_replication: Callable[[pd.DataFrame], None] | None = None
                     ) -> pd.DataFrame:
    """SBC for the pooled arm effects of the person-level model on one fixed design.

    The design (persons, arms, coaches, covariates, hence the binomial cells) is simulated
    once from ``design`` with ``seed``. bambi's prior predictive on the collapsed cells
    (priors :func:`sbc_priors`) gives ``n_reps`` joint draws of all parameters and of the
    successes per cell; each is turned into person rows that collapse to exactly those
    successes and fitted with :func:`fit_person`. The rank of each true ``arm`` effect
    among ``n_ranks`` posterior draws (thinned evenly from all chains) is recorded; columns
    ``rep, arm, truth, rank, n_ranks, posterior_mean, posterior_sd, divergences, seconds``.
    """
    import bambi as bmb

    from bayes_bijstand.models.person_level import fit_person

    des = _sbc_design(design, seed)
    pri = sbc_priors()
    gen = bmb.Model(des.formula, des.frame, family="binomial", priors=pri)
    gen.build()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        prior = gen.prior_predictive(draws=n_reps, random_seed=seed)
    arm_da = prior["prior"]["arm"]
    arm_dim = next(d for d in arm_da.dims if d not in ("chain", "draw"))
    truth = {str(a): np.asarray(arm_da.sel({arm_dim: a})).ravel() for a in arm_da[arm_dim].values}
    ynames = list(prior["prior_predictive"].data_vars)
    succ = np.asarray(prior["prior_predictive"][ynames[0]]).reshape(n_reps, -1)
    rows: list[dict[str, Any]] = []
    for r in range(n_reps):
        persons = _persons_from_cells(des, succ[r])
        t0 = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            res = fit_person(persons, formula=design.formula, participants_only=False,
                             priors=pri, random_seed=seed + r + 1, **fit.kwargs())
        secs = time.perf_counter() - t0
        if not np.array_equal(res.prepared.frame["successes"].to_numpy(), succ[r]):
            raise RuntimeError("refit data do not collapse to the simulated successes")
        post = res.tree["posterior"]["arm"]
        pdim = next(d for d in post.dims if d not in ("chain", "draw"))
        div = int(res.tree["sample_stats"]["diverging"].sum())
        for a, tv in truth.items():
            draws = np.asarray(post.sel({pdim: a}).transpose("chain", "draw")).ravel()
            idx = np.linspace(0, draws.size - 1, n_ranks).round().astype(int)
            rows.append({"rep": r, "arm": a, "truth": float(tv[r]),
                         "rank": int(np.sum(draws[idx] < tv[r])), "n_ranks": n_ranks,
                         "posterior_mean": float(draws.mean()),
                         "posterior_sd": float(draws.std(ddof=1)),
                         "divergences": div, "seconds": secs})
        if on_replication is not None:
            on_replication(pd.DataFrame(rows))
    return pd.DataFrame(rows)


def sbc_interval_coverage(ranks: np.ndarray, n_ranks: int, prob: float = CI_PROB
                          ) -> dict[str, Any]:
    """Share of SBC replications whose true value lies in the central ``prob`` interval.

    A true value with rank ``r`` among ``L`` draws sits at the ``(r + 0.5) / (L + 1)``
    posterior quantile; it is inside the equal-tailed interval when that is within
    ``[(1 - prob) / 2, (1 + prob) / 2]``. Under calibration (true values drawn from the
    prior) the share is ``prob`` up to binomial error: this is coverage averaged over the
    prior, the sense in which Bayesian intervals are nominal.
    """
    u = (np.asarray(ranks, dtype=float) + 0.5) / (n_ranks + 1)
    inside = (u >= (1 - prob) / 2) & (u <= (1 + prob) / 2)
    p = float(inside.mean()) if inside.size else float("nan")
    return {"n": int(inside.size), "covered": int(inside.sum()), "coverage": p,
            "se": binomial_se(p, int(inside.size)), "nominal": prob}


def rank_uniformity(ranks: np.ndarray, n_ranks: int, bins: int) -> dict[str, Any]:
    """Chi-square test that ranks in ``0..n_ranks`` are uniform, in ``bins`` equal bins.

    ``n_ranks + 1`` must be divisible by ``bins`` so that every bin holds as many possible
    ranks. Returns ``counts`` (the histogram), ``expected`` per bin, ``chi2``, ``df`` and
    ``p_value``.
    """
    if (n_ranks + 1) % bins:
        raise ValueError(f"n_ranks + 1 = {n_ranks + 1} is not divisible by bins = {bins}")
    ranks = np.asarray(ranks, dtype=int)
    counts = np.bincount(ranks // ((n_ranks + 1) // bins), minlength=bins)[:bins]
    expected = ranks.size / bins
    chi2, p = stats.chisquare(counts, np.full(bins, expected))
    return {"counts": counts.tolist(), "expected": expected, "chi2": float(chi2),
            "df": bins - 1, "p_value": float(p), "n": int(ranks.size)}
