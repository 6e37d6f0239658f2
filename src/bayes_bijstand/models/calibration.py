r"""Validation of the production summary-level model by simulation.

Two studies, both on a fixed design that mixes every kind of row the shipped evidence has
(a known design SE, a design SE with the covariate credit, significance markers, prose
rows and raw binomial counts):

* **Simulation-based calibration** (Talts et al. 2018): parameters are drawn from the
  model's own priors (the spec's), data from the model's own measurement story (a marker
  row's SE drawn around its design SE, the estimate around the effect, and only the band of
  ``|y| / se`` the legend allows reported; a prose row reports the sign and band of ``z``;
  counts are binomial), and the production sampler (:func:`~bayes_bijstand.models.backends.sample`,
  the compiled graph reused across replications) fits each data set. The rank of each true
  value among the posterior draws is uniform if and only if the whole pipeline - priors,
  likelihoods, sampler - is right; :func:`rank_uniformity` gives the chi-square p-value.
* **Recovery under a misstated SE** (:func:`coverage_study`): the same design, but the true
  SE of the marker and prose rows is ``se_factor`` (1.5) times their design SE, as when the
  printed analysis was less precise than the group sizes suggest (clustering, fewer
  respondents). It records how often the central 90% interval of each effect covers the
  truth: the weaker grades must not claim more precision than the data carry.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
import pandas as pd
from scipy import special, stats

from ..specs import ModelSpec, SamplerSpec
from .summary_level import BINOMIAL_LOGIT_SD, P_EPS, prepare

LEGEND = (0.01, 0.05, 0.10)
"""Significance levels of a report's legend (``**``, ``*``, ``~``); above 0.10 is n.s."""


@dataclass(frozen=True)
class DesignRow:
    """One row of the validation design (one gemeente, arm ``extra_hulp`` vs control)."""

    kind: str  # known | credit | marker | prose | binomial
    se_design: float
    n: int = 0  # per group, binomial rows


DESIGN: tuple[DesignRow, ...] = (
    DesignRow("known", 0.030),
    DesignRow("credit", 0.030),
    DesignRow("marker", 0.030),
    DesignRow("marker", 0.045),
    DesignRow("prose", 0.040),
    DesignRow("prose", 0.055),
    DesignRow("binomial", np.nan, n=150),
)


def _band(z: float) -> tuple[float, float]:
    """The legend's band ``[p_lower, p_upper]`` of a two-sided p for statistic ``z``."""
    p = 2 * stats.norm.sf(abs(z))
    edges = (0.0, *LEGEND, 1.0)
    for lo, hi in zip(edges[:-1], edges[1:], strict=True):
        if lo <= p < hi or (hi == 1.0 and p <= 1.0):
            return lo, hi
    return 0.0, 1.0


def simulate(rng: np.random.Generator, spec: ModelSpec, design: tuple[DesignRow, ...] = DESIGN,
             *, se_factor: float | None = None) -> tuple[pd.DataFrame, dict[str, float]]:
    """One data set of the validation design and the true parameter values.

    Parameters come from the spec's binary-scale priors; with ``se_factor`` the marker and
    prose rows' true SE is ``se_factor * se_design`` instead of a prior draw.
    """
    pri = spec.priors("binary")
    G = len(design)
    mu = rng.normal(0.0, pri.mu_sd)
    tau = abs(rng.normal(0.0, pri.tau_sd))
    theta = mu + tau * rng.standard_normal(G)
    recs = []
    for g, (d, th) in enumerate(zip(design, theta, strict=True)):
        rec: dict[str, object] = {
            "row_id": f"sim-{g}", "gemeente": f"g{g}", "arm": "extra_hulp",
            "comparator": "control", "comparison": "vs_control", "estimand": "itt",
            "months": 24, "model_variant": "sim", "used": True, "reason": "", "y": np.nan,
            "se": np.nan, "se_design": d.se_design, "se_lo": 0.0, "se_hi": np.inf,
            "z_lo": 0.0, "z_hi": np.inf, "sign": 0, "n_t": np.nan, "n_c": np.nan,
            "takeup": 1.0, "conversion": "", "source": "sim", "line": g, "quality": "ok",
            "covariates": False, "design_effect": 1.0, "se_latent": False,
            "x_t": np.nan, "x_c": np.nan, "bias_term": "", "family": "gaussian",
            "grade": "counts"}
        if d.kind == "known":
            rec["y"] = rng.normal(th, d.se_design)
        elif d.kind == "credit":
            r2 = rng.beta(spec.r2_alpha, spec.r2_beta)
            rec["covariates"] = True
            rec["y"] = rng.normal(th, d.se_design * np.sqrt(1 - r2))
        elif d.kind == "marker":
            s = (se_factor * d.se_design if se_factor else
                 float(np.exp(rng.normal(np.log(d.se_design), 0.5))))
            y = rng.normal(th, s)
            p_lo, p_hi = _band(y / s)
            z_hi = stats.norm.isf(p_lo / 2) if p_lo > 0 else np.inf
            z_lo = stats.norm.isf(p_hi / 2) if p_hi < 1 else 0.0
            rec.update(grade="marker", se_latent=True, y=y, z_lo=z_lo, z_hi=z_hi,
                       se_lo=abs(y) / z_hi if np.isfinite(z_hi) else 0.0,
                       se_hi=abs(y) / z_lo if z_lo > 0 else np.inf)
        elif d.kind == "prose":
            s = (se_factor * d.se_design if se_factor else
                 float(np.exp(rng.normal(np.log(d.se_design), 0.35))))
            z = rng.normal(th / s, 1.0)
            p_lo, p_hi = _band(z)
            rec.update(grade="prose", family="z_censored", sign=int(np.sign(z)),
                       z_lo=stats.norm.isf(p_hi / 2) if p_hi < 1 else 0.0,
                       z_hi=stats.norm.isf(p_lo / 2) if p_lo > 0 else np.inf)
        elif d.kind == "binomial":
            lp = rng.normal(0.0, BINOMIAL_LOGIT_SD)
            pc = float(special.expit(lp))
            pt_ = float(np.clip(pc + th, P_EPS, 1 - P_EPS))
            xt, xc = rng.binomial(d.n, pt_), rng.binomial(d.n, pc)
            q = min(max(xc / d.n, 1 / d.n), 1 - 1 / d.n)
            rec.update(family="binomial", x_t=float(xt), x_c=float(xc), n_t=float(d.n),
                       n_c=float(d.n), y=xt / d.n - xc / d.n,
                       se_design=float(np.sqrt(q * (1 - q) * 2 / d.n)))
        recs.append(rec)
    truth = {"mu": float(mu), "tau": float(tau)}
    truth.update({f"theta[g{g}]": float(t) for g, t in enumerate(theta)})
    return pd.DataFrame(recs), truth


def fit(table: pd.DataFrame, spec: ModelSpec, sampler: SamplerSpec) -> dict[str, np.ndarray]:
    """Posterior draws (chains x draws flattened) of mu, tau and each gemeente's theta,
    from the production sampler."""
    from .backends import sample

    data = prepare(table, "sim", "binary", replace(spec, kind="meta_arms"))
    tree = sample(data, replace(spec, kind="meta_arms"), "partial", sampler, cores=1)
    post = tree["posterior"].to_dataset()
    out = {"mu": post["mu"].values[..., 0].ravel(), "tau": post["tau"].values[..., 0].ravel()}
    th = post["theta"].values[..., 0]
    for i, g in enumerate(data.gemeenten):
        out[f"theta[{g}]"] = th[:, :, i].ravel()
    return out


def rank_uniformity(ranks: np.ndarray, n_draws: int, bins: int) -> float:
    """Chi-square p-value that ranks in ``0..n_draws`` are uniform (``bins`` equal bins)."""
    counts = np.bincount((np.asarray(ranks) * bins) // (n_draws + 1), minlength=bins)
    return float(stats.chisquare(counts).pvalue)


def sbc(spec: ModelSpec, reps: int, seed: int, *, draws: int = 200, tune: int = 300,
        chains: int = 2, thin: int = 4) -> dict[str, np.ndarray]:
    """Ranks of the true values among ``chains * draws / thin`` thinned posterior draws."""
    rng = np.random.default_rng(seed)
    sampler = SamplerSpec(draws=draws, tune=tune, chains=chains, target_accept=0.95,
                          sampler="nutpie", random_seed=seed)
    ranks: dict[str, list[int]] = {}
    for r in range(reps):
        table, truth = simulate(rng, spec)
        post = fit(table, spec, replace(sampler, random_seed=seed + r))
        for k, v in truth.items():
            ranks.setdefault(k, []).append(int(np.sum(post[k][::thin] < v)))
    return {k: np.array(v) for k, v in ranks.items()}


def coverage_study(spec: ModelSpec, reps: int, seed: int, *, se_factor: float = 1.5,
                   prob: float = 0.90, draws: int = 300, tune: int = 300,
                   chains: int = 2) -> dict[str, float]:
    """Share of replications whose central ``prob`` interval covers each true value when
    the marker and prose rows' true SE is ``se_factor`` times their design SE."""
    rng = np.random.default_rng(seed)
    sampler = SamplerSpec(draws=draws, tune=tune, chains=chains, target_accept=0.95,
                          sampler="nutpie", random_seed=seed)
    hits: dict[str, list[bool]] = {}
    a = (1 - prob) / 2
    for r in range(reps):
        table, truth = simulate(rng, spec, se_factor=se_factor)
        post = fit(table, spec, replace(sampler, random_seed=seed + r))
        for k, v in truth.items():
            lo, hi = np.quantile(post[k], [a, 1 - a])
            hits.setdefault(k, []).append(bool(lo <= v <= hi))
    return {k: float(np.mean(v)) for k, v in hits.items()}
