r"""The summary-level hierarchical meta-analysis: the one definition of the model (PyMC).

Model (``kind = "meta_components"``, ``pooling = "partial"``)::

    beta[g, c]  = mu[c] + (L z[g])[c]          component effect of gemeente g (non-centred)
    L L^T       = diag(tau) Omega diag(tau),  Omega ~ LKJ(eta)   (correlated across components)
    theta[g, a] = sum_{c in a} beta[g, c] + gamma[a]             (bundled arms: sum + interaction)
    gamma[a]    ~ Normal(0, interaction_sd)   for arms with two components, 0 otherwise

``mu``, ``tau`` and ``theta`` are per-participant effects on the model scale (risk difference
for binary outcomes, standardised mean difference for scores). Each published row i enters
through its own measurement model (see :mod:`bayes_bijstand.evidence.grades`):

    m_i = pi_i * (theta[g_i, a_i] - theta[g_i, comparator_i]) + b[comparison_i]
          + (1 - pi_i) * eta[g_i]                     (ITT-of-offer rows only)

where ``pi_i`` is the take-up rate for an ITT-of-offer estimate (Groningen's Zelen design;
1 otherwise), ``theta[., control] = 0`` and ``b`` is a bias term with a zero-mean prior for
comparisons that are not randomised contrasts with the control group (reference group,
participants only, non-randomised), and ``eta[g] ~ Normal(0, offer_spillover_sd)`` relaxes the
exclusion restriction of the Wald estimator: dividing a Zelen ITT by a 10% take-up multiplies
any difference among the 90% who declined by nine, so a small common shift among decliners
(shared by all arms compared with the same control group) is allowed for. Gaussian rows:
``y ~ MvNormal(m, S R S)`` with R from :func:`bayes_bijstand.covariance.contrast_correlation`
and S the row SEs (known, design-based times ``sqrt(1 - R2[g])`` with ``R2 ~ Beta``, or
latent and interval-censored by a significance marker). Prose rows: the sign and an interval
for ``z = y / s`` are observed, ``z ~ Normal(m / s, 1)`` with ``s`` around the design SE
from the registry's group sizes.

The correlation prior is written as independent ``tau[c] ~ HalfNormal(tau_sd)`` and an LKJ
Cholesky factor through canonical partial correlations (:func:`cpc_cholesky`), the same prior
as ``pm.LKJCholeskyCov`` in a form that pads to more components.

``kind = "meta_arms"`` keeps arms as they are (each arm its own component, no interaction).
``pooling = "full"`` sets ``beta[g] = mu``; ``pooling = "none"`` gives each gemeente its own
effects with the ``mu`` prior and no pooled mean.

One graph, every sampler
------------------------
:func:`build_graph` writes this model once, with every per-outcome quantity (structure,
priors, pooling weights, rows) in one data container of a fixed, padded shape
(:class:`PadSizes`), so that one compiled model serves every outcome, both spec kinds and all
three pooling modes; :func:`model_arrays` turns one outcome into that data and
:func:`build_model` gives the graph with one outcome's data set. The samplers
(:mod:`bayes_bijstand.models.backends`: nutpie compiles the graph once per padding, PyMC's
NUTS samples the same graph) and the predictive draws all use this graph; no other module
writes the model's mathematics.

Padding keeps the posterior of the real quantities unchanged:

* gemeenten, components, arms and bias terms are slots; an outcome fills the first ones
  (the priors are exchangeable, so the order does not matter) and the others are
  prior-only (no row refers to them, ``W`` has zero columns for unused components);
* the LKJ prior is written through canonical partial correlations with the Beta
  parameters of LKJ(eta) in the outcome's own dimension for the used block
  (:func:`lkj_cpc_beta`), so the used components have exactly the LKJ(eta) prior;
* rows live in two sections with their own slots: the Gaussian rows (SE known,
  design-based or bounded by a marker) and the prose rows (censored z), so each slot only
  evaluates its own family's likelihood; a prose row that observes two bands of z (sign
  unknown, significant) also fills one of the few ``two_band`` slots;
* padded Gaussian slots have mean 0, SE 1, y 0 and an identity block in the correlation
  matrix, and padded prose slots weight 0: a constant likelihood. Every per-slot latent
  (the marker SE, the prose SE) has a proper prior on slots that do not use it, so the
  posterior stays proper;
* scale parameters are written as ``scale * raw`` with unit-scale raw variables, so the
  compiled initial point does not depend on the data.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import pymc as pm
import pytensor.tensor as pt

from ..covariance import contrast_correlation
from ..evidence.grade_registry import grades_with
from ..evidence.grades import BIAS_COMPARISONS, COMPONENT_ORDER, components_of, latent_se_center
from ..specs import ModelSpec, get_model_kind

DIM_BIAS = "bias_comparison"
"""Dimension of the ``bias`` terms (a variable may not share its name with its dimension)."""

_NON_ARMS = ("control", "reference", "participants", "non_participants")


@dataclass(frozen=True)
class MetaData:
    """Everything the model needs for one outcome, as plain arrays and tables."""

    outcome: str
    kind: str  # binary | score
    rows: pd.DataFrame  # used rows of the measurement table
    gemeenten: tuple[str, ...]
    components: tuple[str, ...]
    arms: tuple[str, ...]
    W: np.ndarray  # arms x components, 0/1
    bundles: tuple[str, ...]
    corr: np.ndarray  # gaussian rows x gaussian rows
    biases: tuple[str, ...]
    extra: dict[str, object] = field(default_factory=dict)
    bias_sd: tuple[float, ...] = ()  # prior SD of each bias term, on the outcome's scale

    @property
    def gaussian(self) -> pd.DataFrame:
        return self.rows[self.rows["family"] == "gaussian"]

    @property
    def censored(self) -> pd.DataFrame:
        return self.rows[self.rows["family"] == "z_censored"]


def prepare(table: pd.DataFrame, outcome: str, kind: str, spec: ModelSpec) -> MetaData:
    """Index the used rows of a measurement table for the model."""
    rows = table[table["used"]].reset_index(drop=True)
    if rows.empty:
        raise ValueError(f"no usable evidence for outcome '{outcome}'")
    gemeenten = tuple(dict.fromkeys(rows["gemeente"]))
    # A comparator is a modelled arm only if it is a treatment (an arm-vs-arm contrast);
    # other comparators (control, reference, a non-randomised provider such as TNO's
    # `provider_c`) are the zero point of the contrast.
    treatments = set(rows["arm"]) | {c for c in rows["comparator"]
                                     if components_of(c) and set(components_of(c)) <= set(COMPONENT_ORDER)}
    arm_set = [a for a in dict.fromkeys(list(rows["arm"]) + list(rows["comparator"]))
               if a not in _NON_ARMS and a in treatments]
    by_component = get_model_kind(spec.kind).components
    if by_component:
        comps = {c for a in arm_set for c in components_of(a)}
        components = tuple([c for c in COMPONENT_ORDER if c in comps]
                           + sorted(comps - set(COMPONENT_ORDER)))
    else:
        components = tuple(arm_set)
    arms = tuple(arm_set)
    W = np.zeros((len(arms), len(components)))
    for i, a in enumerate(arms):
        for c in (components_of(a) if by_component else [a]):
            W[i, components.index(c)] = 1.0
    bundles = tuple(a for a in arms if by_component and len(components_of(a)) > 1)
    gauss = rows[rows["family"] == "gaussian"]
    corr = contrast_correlation(gauss.reset_index(drop=True), rho_months=spec.rho_months)
    rows = rows.assign(bias_key=bias_keys(rows, spec, kind))
    biases = tuple(sorted(set(rows["bias_key"]) - {""}))
    sds = spec.bias(kind)
    bias_sd = tuple(float(sds[b.rpartition(":")[2]]) for b in biases)
    return MetaData(outcome=outcome, kind=kind, rows=rows, gemeenten=gemeenten,
                    components=components, arms=arms, W=W, bundles=bundles, corr=corr,
                    biases=biases, bias_sd=bias_sd,
                    extra={"coach_w2": coach_matrix(rows, gemeenten, arms) if spec.coach
                           else np.zeros((len(gemeenten), len(arms)))})


def coach_matrix(rows: pd.DataFrame, gemeenten: tuple[str, ...],
                 arms: tuple[str, ...]) -> np.ndarray:
    """``w2[g, a]``: the sum of squared caseload shares of the coach team that delivered arm
    ``a`` in gemeente ``g`` (0 where none is known), from the rows' ``coach_w2`` (the arm's
    team) and ``coach_w2_comparator`` (the comparator arm's team) columns."""
    w2 = np.zeros((len(gemeenten), len(arms)))
    g_at = {g: i for i, g in enumerate(gemeenten)}
    a_at = {a: i for i, a in enumerate(arms)}
    for col, arm_col in (("coach_w2", "arm"), ("coach_w2_comparator", "comparator")):
        if col not in rows:
            continue
        for g, a, v in zip(rows["gemeente"], rows[arm_col], rows[col], strict=True):
            if a in a_at and np.isfinite(v) and v > 0:
                w2[g_at[g], a_at[a]] = float(v)
    return w2


def bias_keys(rows: pd.DataFrame, spec: ModelSpec, kind: str) -> np.ndarray:
    """The bias term each row's mean carries ('' for none).

    A row's ``bias_term`` (set by :func:`~bayes_bijstand.evidence.grades.precision_columns`:
    its comparison where that is a weaker one, participants-only contrasts, survey contrasts
    among self-selected respondents) names the prior; the spec's ``[bias.<scale>]`` must
    list it. With ``bias.per_study`` (the default) every gemeente has its own term,
    ``"gemeente:comparison"``; otherwise one term per comparison is shared by all.
    """
    terms = (rows["bias_term"].fillna("").astype(str) if "bias_term" in rows
             else rows["comparison"].where(rows["comparison"].isin(BIAS_COMPARISONS), ""))
    sds = spec.bias(kind)
    terms = terms.where(terms.isin(list(sds)), "")
    if spec.bias_per_study:
        return np.where(terms != "", rows["gemeente"].astype(str) + ":" + terms, "")
    return terms.to_numpy()


def lkj_cpc_beta(n: int, eta: float) -> np.ndarray:
    """Beta parameters of the canonical partial correlations of LKJ(eta) in dimension n.

    The CPCs (lower triangle of the Cholesky factor, row-major order of
    ``np.tril_indices(n, -1)``) are independent, ``(z + 1) / 2 ~ Beta(b, b)`` with
    ``b = eta + (n - 2 - j) / 2`` for column j (Lewandowski, Kurowicka & Joe 2009).
    The first k rows only use CPCs of those rows, so with these parameters the leading
    k x k block of a larger matrix is exactly LKJ(eta) in dimension k.
    """
    _, j = np.tril_indices(n, -1)
    return eta + (n - 2 - j) / 2.0


# --------------------------------------------------------------------------------------
# Shared pieces of the model's mathematics
# --------------------------------------------------------------------------------------

def _mm(a: pt.TensorVariable, b: pt.TensorVariable) -> pt.TensorVariable:
    """Matrix product written as broadcast multiply and sum.

    The shapes here are tiny (at most 32 x 12 x 8), and numba compiles a fused elemwise
    and a sum in a fraction of the time it needs for a BLAS gemm/gemv node (about 3 s per
    gemm and 1 s per gemv on a fresh machine; the gradient adds several per product).
    """
    return pt.sum(a[:, :, None] * b[None, :, :], axis=1)


def _mv(a: pt.TensorVariable, x: pt.TensorVariable) -> pt.TensorVariable:
    """Matrix-vector product as broadcast multiply and sum (see :func:`_mm`)."""
    return pt.sum(a * x[None, :], axis=1)


def _ix(x: pt.TensorVariable) -> pt.TensorVariable:
    """Integer indices stored in the (float) data vector."""
    return pt.cast(x, "int64")


def cpc_cholesky(z: pt.TensorVariable, n: int) -> pt.TensorVariable:
    """Cholesky factor of a correlation matrix from its canonical partial correlations.

    ``L[i, j] = z[i, j] * prod_{k<j} sqrt(1 - z[i, k]^2)`` below the diagonal and
    ``L[i, i] = prod_{k<i} sqrt(1 - z[i, k]^2)``; written with constant matrix products
    (scatter, exclusive cumulative sum) without BLAS nodes (see :func:`_mm`), which compile
    quickly with numba.
    """
    if n == 1:
        return pt.ones((1, 1))
    i, j = np.tril_indices(n, -1)
    scatter = np.zeros((n * n, len(i)))
    scatter[i * n + j, np.arange(len(i))] = 1.0
    Z = _mv(pt.as_tensor_variable(scatter), z).reshape((n, n))
    before = np.triu(np.ones((n, n)), 1)  # before[k, j] = 1 if k < j
    excl = _mm(pt.log1p(-(Z**2)), pt.as_tensor_variable(before))
    return (Z + np.eye(n)) * pt.exp(0.5 * excl)


def _std_normal_logcdf(x: pt.TensorVariable) -> pt.TensorVariable:
    """``log Phi(x)`` from one scaled complementary error function, exact in the lower tail.

    ``Phi(x) = erfcx(-x / sqrt 2) exp(-x^2 / 2) / 2``; PyMC's ``normal_lcdf`` evaluates this
    and a second (erfc) branch for every element, which made the censored likelihood the
    costliest term of the log density. Above the mean the one-branch form is exact to an
    absolute ~1e-13 (the rounding of ``x^2 / 2``; :func:`log_interval_prob` only uses it
    against a log-CDF below ``log 1/2``, so the interval's log-probability keeps that
    absolute accuracy); ``x`` is capped at 30, where ``Phi(x) = 1`` in double precision, so
    that ``erfcx`` cannot overflow.
    """
    x = pt.minimum(x, 30.0)
    return pt.log(0.5 * pt.erfcx(-x / np.sqrt(2.0))) - 0.5 * x**2


Z_MAX = 40.0
"""|z| bound used for an open band (``z > 1.96``): the normal mass beyond it is 0 in double precision."""


def z_bands(z_lo: np.ndarray, z_hi: np.ndarray, sign: np.ndarray
            ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The band(s) of ``z = y / s`` a prose row observes, as at most two intervals.

    A row says ``|z|`` lies in ``[z_lo, z_hi]`` and gives the sign of ``z`` (1 or -1) or not
    (0). Known sign: one band. Unknown sign with ``z_lo = 0`` ("not significant"): the
    single band ``[-z_hi, z_hi]``. Unknown sign with ``z_lo > 0`` ("significant, direction
    not reported"): two bands, ``[z_lo, z_hi]`` and ``[-z_hi, -z_lo]``. Returns ``(lo1, hi1,
    lo2, hi2, two)``; where ``two`` is false the second band is a placeholder ``[-1, 1]``.
    The log-likelihood is ``log P(band 1)``, or ``logaddexp`` of both bands where ``two``.
    """
    zlo = np.asarray(z_lo, dtype=float)
    zhi = np.minimum(np.asarray(z_hi, dtype=float), Z_MAX)
    sg = np.asarray(sign, dtype=float)
    two = (sg == 0) & (zlo > 0)
    lo1 = np.where(sg > 0, zlo, np.where(sg < 0, -zhi, np.where(two, zlo, -zhi)))
    hi1 = np.where(sg < 0, -zlo, zhi)
    lo2 = np.where(two, -zhi, -1.0)
    hi2 = np.where(two, -zlo, 1.0)
    return lo1, hi1, lo2, hi2, two


def log_interval_prob(a: pt.TensorVariable, b: pt.TensorVariable) -> pt.TensorVariable:
    """``log(Phi(b) - Phi(a))`` for ``a < b``, finite far into either tail.

    ``logdiffexp(logPhi(b), logPhi(a))`` is exact for intervals below the mean but rounds to
    ``log(1 - 1) = -inf`` once both ends are more than ~8 SD above it (both log-CDFs are 0
    in double precision). A sampler's trajectory does go there, and an infinite log density
    is reported as a divergence ("logp function returned error"), so an interval above the
    mean is mirrored first: ``Phi(b) - Phi(a) = Phi(-a) - Phi(-b)``, exact there. Only the
    inputs are switched, so each row evaluates two log-CDFs (not four) and no unused branch
    can produce an infinite value whose gradient (times zero) would turn into NaN.
    """
    lcdf = _std_normal_logcdf
    up = a > 0
    lo = pt.where(up, -b, a)
    hi = pt.where(up, -a, b)
    return pm.math.logdiffexp(lcdf(hi), lcdf(lo))


# --------------------------------------------------------------------------------------
# Padding and the model's data
# --------------------------------------------------------------------------------------

CENSORED_SE_SD = 0.35
"""Log-scale SD of the prose-row SE around its centre (the design SE)."""

MARKER_SE_SD = ModelSpec.marker_se_sd
"""Log-scale SD of a marker (or rounded-p) row's latent SE around its centre (the default of
``ModelSpec.marker_se_sd``, which the robustness refits double)."""

BINOMIAL_LOGIT_SD = 1.5
"""Prior SD of the control group's log-odds on a binomial row (mean 0: a rate of 50%)."""

P_EPS = 1e-6
"""A binomial row's treatment-group rate ``p_c + m`` is clipped to ``[eps, 1 - eps]``."""


@dataclass(frozen=True)
class PadSizes:
    """Padded dimension sizes of one compiled model.

    The defaults hold every outcome of the shipped evidence (at most 7 gemeenten, the 4
    components, 6 arms, 7 Gaussian rows, 18 prose rows of which 1 observes two bands of z,
    and 1 bias term per outcome) with a little room; an outcome that needs more grows the
    padding in steps (one more compilation). Every padded slot costs log-density work at
    each leapfrog step, so the defaults are kept tight, and the two row families have
    their own slots: a Gaussian row never pays for the censored likelihood or the other
    way round. ``indexed`` picks the rows' representation (:class:`_Rows`): one-hot matrices
    (small paddings) or index vectors (cost linear in rows; :func:`choose_sizes` picks it
    above :data:`INDEXED_ABOVE`); ``band`` is the most Gaussian rows of one municipality
    (the width of the indexed form's block-diagonal whitening, :func:`whitening_band`).
    """

    gemeente: int = 8
    component: int = 4
    arm: int = 6
    gauss_row: int = 8
    band: int = 4
    cens_row: int = 20
    two_band: int = 2
    bias: int = 4
    binom_row: int = 4
    binom_ctrl: int = 4
    coach: int = 4
    indexed: bool = False


def _round_up(n: int, step: int) -> int:
    return int(-(-n // step) * step)


def sections(data: MetaData) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Positions in ``data.rows`` of the Gaussian rows, the prose rows, and the prose rows
    that observe two bands of z (see :func:`~bayes_bijstand.models.summary_level.z_bands`),
    the last as positions among the prose rows."""
    fam = data.rows["family"].to_numpy()
    gauss = np.flatnonzero(fam == "gaussian")
    cens = np.flatnonzero(fam == "z_censored")
    c = data.rows.iloc[cens]
    two = np.flatnonzero(z_bands(c["z_lo"].to_numpy(float), c["z_hi"].to_numpy(float),
                                 c["sign"].to_numpy(float))[4])
    return gauss, cens, two


def binomial_sections(data: MetaData) -> tuple[np.ndarray, np.ndarray, list[tuple[object, ...]]]:
    """Positions in ``data.rows`` of the binomial (raw count) rows, each row's control
    group (an index into the returned list of distinct control groups), and the control
    groups ``(gemeente, comparator, months, x_c, n_c)``: arms that share one control group
    share its count and its latent rate, so the control data enter once."""
    fam = data.rows["family"].to_numpy()
    pos = np.flatnonzero(fam == "binomial")
    keys: dict[tuple[object, ...], int] = {}
    ctrl = np.zeros(len(pos), dtype=int)
    if not len(pos):
        return pos, ctrl, []
    b = data.rows.iloc[pos]
    for i, k in enumerate(zip(b["gemeente"], b["comparator"], b["months"].astype(str),
                              b["x_c"].astype(float), b["n_c"].astype(float), strict=True)):
        ctrl[i] = keys.setdefault(k, len(keys))
    return pos, ctrl, list(keys)


DENSE_WHITENING_MAX = 64
"""Up to this many Gaussian rows the whitening comes from one dense factorisation of the
padded correlation matrix; beyond it from one factorisation per block (municipality).

Both give the same factor up to rounding, but LAPACK's last bits depend on the matrix size,
so the small (shipped) outcomes keep the dense factorisation their published numbers were
sampled with, and a large user file never builds a rows x rows matrix factorisation."""


def corr_blocks(corr: np.ndarray) -> np.ndarray:
    """Block label of each Gaussian row: rows are in one block when a chain of nonzero
    correlations joins them (rows of different municipalities are independent, so a block
    is at most one municipality's rows). Labels are numbered in order of first row."""
    n = len(corr)
    if n == 0:
        return np.zeros(0, dtype=int)
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    i, j = np.nonzero(corr)
    _, lab = connected_components(coo_matrix((np.ones(len(i)), (i, j)), shape=(n, n)),
                                  directed=False)
    _, first = np.unique(lab, return_index=True)
    order = np.argsort(np.argsort(first))  # relabel by first occurrence
    return order[lab]


def band_width(data: MetaData) -> int:
    """The most Gaussian rows in one block of the correlation (0 without Gaussian rows)."""
    lab = corr_blocks(data.corr)
    return int(np.bincount(lab).max()) if len(lab) else 0


def whitening_band(corr: np.ndarray, n: int, width: int
                   ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, float]:
    """The whitening of correlated Gaussian rows, stored by row as a band of ``width`` entries.

    With ``R = L L'`` (block diagonal: blocks of :func:`corr_blocks`), the whitened residual is
    ``L^-1 r``; row ``i`` of ``L^-1`` (and of ``L``) is nonzero only in the columns of its own
    block up to ``i``. Returns ``(cols, inv, fwd, diag, logdet)`` over ``n`` slots (padded
    slots: identity): ``cols[i, k]`` the k-th such column (ascending; unused entries column
    0), ``inv[i, k]`` and ``fwd[i, k]`` the entries of ``L^-1`` and ``L`` there (0 where
    unused), ``diag[i] = (L^-1)[i, i]`` and ``logdet = log det L``. Cost: one factorisation
    per block (a dense one up to :data:`DENSE_WHITENING_MAX` rows).
    """
    k = len(corr)
    cols = np.zeros((n, width))
    inv = np.zeros((n, width))
    fwd = np.zeros((n, width))
    diag = np.ones(n)
    cols[:, 0] = np.arange(n)
    inv[:, 0] = 1.0
    fwd[:, 0] = 1.0
    if k == 0:
        return cols, inv, fwd, diag, 0.0
    lab = corr_blocks(corr)
    if k <= DENSE_WHITENING_MAX:
        # One dense factorisation of the padded matrix, as the model was first written.
        Rm = np.eye(n)
        Rm[:k, :k] = corr
        L_full = np.linalg.cholesky(Rm)
        Li_full = np.linalg.solve(L_full, np.eye(n))
        from scipy.linalg import solve_triangular

        F_full = solve_triangular(Li_full, np.eye(n), lower=True)
        blocks = [np.flatnonzero(lab == b) for b in range(lab.max() + 1)]
        parts = [(ix, Li_full[np.ix_(ix, ix)], F_full[np.ix_(ix, ix)], 0.0) for ix in blocks]
        logdet = float(np.log(np.diag(L_full)).sum())
    else:
        from scipy.linalg import solve_triangular

        order = np.argsort(lab, kind="stable")
        bounds = np.flatnonzero(np.diff(lab[order])) + 1
        parts = []
        for ix in np.split(order, bounds):
            Lb = np.linalg.cholesky(corr[np.ix_(ix, ix)])
            Lib = solve_triangular(Lb, np.eye(len(ix)), lower=True)
            parts.append((ix, Lib, Lb, float(np.log(np.diag(Lb)).sum())))
        logdet = 0.0
    for ix, Li, F, ld in parts:
        m = len(ix)
        if m > width:
            raise ValueError(f"a block of {m} correlated rows does not fit the band width {width}")
        for r in range(m):
            i = ix[r]
            cols[i, : r + 1] = ix[: r + 1]
            inv[i, : r + 1] = Li[r, : r + 1]
            fwd[i, : r + 1] = F[r, : r + 1]
            diag[i] = Li[r, r]
        logdet += ld
    return cols, inv, fwd, diag, float(logdet)


INDEXED_ABOVE = 32
"""A padding with more municipalities, or more rows in one section, than this refers rows
to municipalities and arms by index (cost linear in rows) instead of by one-hot matrices
(whose cost grows with rows x municipalities and rows^2, but which compile fastest on the
shipped evidence's small shapes)."""


LARGE_PADDING = PadSizes(component=8, arm=16, gauss_row=24, band=16, coach=8)
"""The one larger padding of the shipped fits: a fit that outgrows the default takes this one
(then grows in steps only if it needs still more). The joint threshold fits, the trajectory
fits and the all-time-points variants needed four different paddings, each one numba
compilation (~35 s on one core) for one to three fits; now the main job compiles two graphs.
Not used where the rows' indexed form applies (many municipalities): there every padded slot
costs, so the padding stays tight."""


def choose_sizes(data: MetaData, base: PadSizes | None = None) -> PadSizes:
    """The default padding, or :data:`LARGE_PADDING` where an outcome needs more, grown in
    steps (so that few sizes occur) where even that is too small.

    ``data.extra["pad_base"]`` (a :class:`PadSizes`) replaces the default base for a family
    of fits that share one larger padding (the trajectory fits: one compilation for all).
    """
    base = base or data.extra.get("pad_base") or PadSizes()  # one default for both kinds
    sizes = _grown(data, base)
    if sizes != base and not sizes.indexed:  # outgrew its base: the one large padding
        sizes = _grown(data, PadSizes(**{k: max(getattr(base, k), getattr(LARGE_PADDING, k))
                                         for k in PadSizes.__dataclass_fields__}))
    return sizes


def _grown(data: MetaData, base: PadSizes) -> PadSizes:
    """``base`` grown in steps to hold ``data``."""
    gauss, cens, two = sections(data)
    bpos, _, bkeys = binomial_sections(data)
    need = {"gemeente": len(data.gemeenten), "component": len(data.components),
            "arm": len(data.arms), "gauss_row": len(gauss), "band": band_width(data),
            "cens_row": len(cens),
            "two_band": len(two), "bias": len(data.biases), "binom_row": len(bpos),
            "binom_ctrl": len(bkeys), "coach": coach_teams_of(data)[0].size}
    steps = {"gemeente": 4, "component": 2, "arm": 2, "gauss_row": 8, "band": 4, "cens_row": 4,
             "two_band": 2, "bias": 4, "binom_row": 4, "binom_ctrl": 4, "coach": 4}
    new: dict[str, int | bool] = {k: max(getattr(base, k), _round_up(v, steps[k]))
                                  for k, v in need.items()}
    new["indexed"] = base.indexed or max(new[k] for k in (
        "gemeente", "gauss_row", "cens_row", "binom_row", "binom_ctrl")) > INDEXED_ABOVE
    return PadSizes(**new)  # type: ignore[arg-type]


def exact_sizes(data: MetaData) -> PadSizes:
    """The smallest padding that holds ``data`` (at least one slot per dimension)."""
    gauss, cens, two = sections(data)
    bpos, _, bkeys = binomial_sections(data)
    return PadSizes(gemeente=len(data.gemeenten), component=len(data.components),
                    arm=len(data.arms), gauss_row=max(1, len(gauss)),
                    band=max(1, band_width(data)), cens_row=max(1, len(cens)), two_band=max(1, len(two)),
                    bias=max(1, len(data.biases)), binom_row=max(1, len(bpos)),
                    binom_ctrl=max(1, len(bkeys)), coach=max(1, coach_teams_of(data)[0].size))


def coach_teams_of(data: MetaData) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The (gemeente index, arm index, w2) of every gemeente x arm delivered by a known team
    of coaches (``data.extra["coach_w2"]`` > 0), in row-major order: one coach slot each."""
    w2 = np.asarray(data.extra.get("coach_w2", np.zeros((0, 0))), dtype=float)
    g, a = np.nonzero(w2 > 0) if w2.size else (np.zeros(0, int), np.zeros(0, int))
    return g, a, w2[g, a] if w2.size else np.zeros(0)


def model_arrays(data: MetaData, spec: ModelSpec, sizes: PadSizes, *,
                 pooling: str) -> dict[str, np.ndarray]:
    """Every data array of the model for one outcome at padding ``sizes``.

    Structure (``W``, bundles), priors, pooling weights and the rows (index vectors into
    the municipalities, arms and bias terms, observed values, SE grades, the banded
    whitening, the z bands of prose rows) all become data, so that one compiled graph
    serves every outcome. Every array is linear in the number of rows and municipalities.
    """
    G, C, A, B = sizes.gemeente, sizes.component, sizes.arm, sizes.bias
    c_n, a_n, b_n = len(data.components), len(data.arms), len(data.biases)
    need = exact_sizes(data)
    if any(getattr(sizes, k) < getattr(need, k) for k in vars(need)):
        raise ValueError(f"outcome '{data.outcome}' does not fit the padding {sizes}")
    pri = spec.priors(data.kind)
    rows = data.rows
    out: dict[str, np.ndarray] = {}
    # Structure.
    W = np.zeros((A, C))
    W[:a_n, :c_n] = data.W
    out["d_W"] = W
    bundle = np.zeros(A)
    for b in data.bundles:
        bundle[data.arms.index(b)] = 1.0
    out["d_bundle"] = bundle
    # LKJ: the used block gets LKJ(eta) in its own dimension; padded rows any proper prior.
    cpc = lkj_cpc_beta(C, pri.lkj_eta)
    if c_n > 1:
        i_c, _ = np.tril_indices(C, -1)
        cpc[i_c < c_n] = lkj_cpc_beta(c_n, pri.lkj_eta)
    out["d_cpc_beta"] = cpc
    # Prior scales.
    out["d_mu_sd"] = np.asarray(pri.mu_sd, dtype=float)
    out["d_tau_sd"] = np.asarray(pri.tau_sd, dtype=float)
    out["d_beta_sd"] = np.asarray(float(np.hypot(pri.mu_sd, pri.tau_sd)))
    out["d_interaction_sd"] = np.asarray(pri.interaction_sd, dtype=float)
    bias_sd = np.ones(B)
    bias_sd[:b_n] = data.bias_sd if len(data.bias_sd) == b_n else [
        spec.bias(data.kind)[k.rpartition(":")[2]] for k in data.biases]
    out["d_bias_sd"] = bias_sd
    # Coaches: one slot per gemeente x arm delivered by a known team (its gemeente, arm and
    # team weight w2); a new municipality's arms that some gemeente delivered by coaches
    # get a new team of spec.coach_new_team coaches.
    K = sizes.coach
    cg, ca, cw = coach_teams_of(data)
    Pcg, Pca = np.zeros((K, G)), np.zeros((K, A))
    Pcg[np.arange(len(cg)), cg] = 1.0
    Pca[np.arange(len(ca)), ca] = 1.0
    out["d_coach_Pg"], out["d_coach_Pa"] = Pcg, Pca
    w2 = np.zeros(K)
    w2[: len(cw)] = cw
    out["d_coach_w2"] = w2
    coached = np.zeros(A)
    coached[np.unique(ca)] = 1.0
    out["d_coach_new_w2"] = coached / float(spec.coach_new_team)
    out["d_coach_sd"] = np.asarray(float(pri.coach_sd) if pri.coach_sd > 0 else 1.0)
    spill = float(spec.offer_spillover_sd)
    out["d_spill_sd"] = np.asarray(spill if spill > 0 else 1.0)
    out["d_r2_a"] = np.asarray(spec.r2_alpha, dtype=float)
    out["d_r2_b"] = np.asarray(spec.r2_beta, dtype=float)
    # Rows: sections with their own slots (Gaussian, prose, binomial rows), each row with
    # integer indices (stored as floats in the packed vector) into theta (municipality x
    # arm, flattened), the municipalities and the bias terms, and a coefficient per index
    # (+1 arm, -1 comparator arm, 0 unused). Padded slots have mask 0 and harmless values.
    gpos, cpos, tpos = sections(data)
    Rg, Rc, Rt = sizes.gauss_row, sizes.cens_row, sizes.two_band
    takeup = rows["takeup"].to_numpy(float)
    # A row's contrast multiplier besides take-up (1 unless a joint model maps the row onto
    # a latent quantity, e.g. phi(z_k) for a threshold of a latent shift): it multiplies the
    # effect among participants only; the decliners' shift keeps the weight 1 - take-up.
    scale = (rows["contrast_scale"].to_numpy(float) if "contrast_scale" in rows
             else np.ones(len(rows)))
    offer = (rows["estimand"] == "itt_offer").to_numpy() & (takeup < 1) & (spill > 0)

    def pad(x: np.ndarray, n: int, fill: float) -> np.ndarray:
        a = np.full(n, fill, dtype=float)
        a[: len(x)] = x
        return a

    g_at = {g: i for i, g in enumerate(data.gemeenten)}
    a_at = {a: i for i, a in enumerate(data.arms)}
    b_at = {b: i for i, b in enumerate(data.biases)}

    def one_hot(prefix: str, pos: np.ndarray, n: int) -> None:
        Pg, Pa, Pb = np.zeros((n, G)), np.zeros((n, A)), np.zeros((n, B))
        sub = rows.iloc[pos]
        keys = sub["bias_key"] if "bias_key" in sub else sub["comparison"]
        for r, (g, a, c, comp) in enumerate(zip(sub["gemeente"], sub["arm"], sub["comparator"],
                                                keys, strict=True)):
            Pg[r, g_at[g]] = 1.0
            Pa[r, a_at[a]] += 1.0
            if c in a_at:
                Pa[r, a_at[c]] -= 1.0
            if comp in b_at:
                Pb[r, b_at[comp]] = 1.0
        out[f"d_{prefix}_Pg"], out[f"d_{prefix}_Pa"], out[f"d_{prefix}_Pb"] = Pg, Pa, Pb
        out[f"d_{prefix}_mask"] = pad(np.ones(len(pos)), n, 0.0)
        out[f"d_{prefix}_takeup"] = pad(takeup[pos] * scale[pos], n, 1.0)
        out[f"d_{prefix}_offer"] = pad(np.where(offer[pos], 1.0 - takeup[pos], 0.0), n, 0.0)

    def incidence(prefix: str, pos: np.ndarray, n: int) -> None:
        if not sizes.indexed:
            one_hot(prefix, pos, n)
            return
        gi, bi, bc = np.zeros(n), np.zeros(n), np.zeros(n)
        ti, tc = np.zeros((n, 2)), np.zeros((n, 2))
        sub = rows.iloc[pos]
        keys = sub["bias_key"] if "bias_key" in sub else sub["comparison"]
        for r, (g, a, c, comp) in enumerate(zip(sub["gemeente"], sub["arm"], sub["comparator"],
                                                keys, strict=True)):
            gi[r] = g_at[g]
            # theta[g, arm] - theta[g, comparator] (a comparator that is no arm is 0), in
            # the order of the arms (the order of the sum the contrast is).
            coef = {a_at[a]: 1.0}
            if c in a_at:
                coef[a_at[c]] = coef.get(a_at[c], 0.0) - 1.0
            for k, (col, v) in enumerate(sorted(coef.items())):
                ti[r, k], tc[r, k] = g_at[g] * A + col, v
            if comp in b_at:
                bi[r], bc[r] = b_at[comp], 1.0
        out[f"d_{prefix}_gi"], out[f"d_{prefix}_ti"], out[f"d_{prefix}_tc"] = gi, ti, tc
        out[f"d_{prefix}_bi"], out[f"d_{prefix}_bc"] = bi, bc
        out[f"d_{prefix}_mask"] = pad(np.ones(len(pos)), n, 0.0)
        out[f"d_{prefix}_takeup"] = pad(takeup[pos] * scale[pos], n, 1.0)
        out[f"d_{prefix}_offer"] = pad(np.where(offer[pos], 1.0 - takeup[pos], 0.0), n, 0.0)

    # Gaussian rows: SE known, design-based (times sqrt(1 - R2) only for rows from models
    # with covariates), or latent: bounded by a significance marker or a rounded p.
    g = rows.iloc[gpos]
    grade = g["grade"].to_numpy()
    marker = (g["se_latent"].to_numpy(bool) if "se_latent" in g
              else np.isin(grade, grades_with(se_rule="bounded")))
    covariates = (g["covariates"].to_numpy(bool) if "covariates" in g
                  else np.ones(len(g), dtype=bool))
    deff = g["design_effect"].to_numpy(float) if "design_effect" in g else np.ones(len(g))
    counts = np.isin(grade, grades_with(se_rule="design")) & covariates & ~marker
    known = ~marker & ~counts
    se_known = np.where(np.isin(grade, grades_with(se_rule="printed")), g["se"].to_numpy(float),
                        g["se_design"].to_numpy(float) * np.sqrt(deff))
    incidence("g", gpos, Rg)
    out["d_g_known"] = pad(known.astype(float), Rg, 0.0)
    out["d_g_counts"] = pad(counts.astype(float), Rg, 0.0)
    out["d_g_marker"] = pad(marker.astype(float), Rg, 0.0)
    out["d_n_gauss"] = np.asarray(float(len(gpos)))
    out["d_g_y"] = pad(g["y"].to_numpy(float), Rg, 0.0)
    out["d_g_se"] = pad(np.where(known, se_known, 0.0), Rg, 0.0)
    design = g["se_design"].to_numpy(float) * np.sqrt(deff)
    out["d_g_se_design"] = pad(np.where(counts, design, 1.0), Rg, 1.0)
    # Marker rows: SE ~ LogNormal(log centre, sig) truncated to [lo, hi].
    lo = g["se_lo"].to_numpy(float)
    hi = g["se_hi"].to_numpy(float)
    r2_mean = spec.r2_alpha / (spec.r2_alpha + spec.r2_beta)
    center = latent_se_center(_precision_defaults(g), r2_mean)
    sig = np.where(np.isfinite(design), spec.marker_se_sd, 1.0)
    finite = np.isfinite(hi)
    out["d_mk_lo"] = pad(np.where(marker, lo, 0.0), Rg, 0.0)
    out["d_mk_width"] = pad(np.where(marker & finite, hi - lo, 1.0), Rg, 1.0)
    out["d_mk_finite"] = pad(np.where(marker, finite, True).astype(float), Rg, 1.0)
    out["d_mk_logc"] = pad(np.where(marker, np.log(np.where(marker, center, 1.0)), 0.0), Rg, 0.0)
    out["d_mk_sig"] = pad(np.where(marker, sig, 1.0), Rg, 1.0)
    # Correlation of the Gaussian rows: the whitening L^-1 (identity on padded slots), as a
    # matrix, or indexed: L^-1 and L by row, as a band over each row's block.
    if sizes.indexed:
        cols, inv, fwd, diag, logdet = whitening_band(
            data.corr if len(gpos) else np.zeros((0, 0)), Rg, sizes.band)
        out["d_w_cols"], out["d_w_inv"], out["d_w_fwd"], out["d_w_diag"] = cols, inv, fwd, diag
        out["d_logdet_L"] = np.asarray(logdet)
    else:
        Rm = np.eye(Rg)
        if len(gpos):
            Rm[: len(gpos), : len(gpos)] = data.corr
        L = np.linalg.cholesky(Rm)
        out["d_L_inv"] = np.linalg.solve(L, np.eye(Rg))
        out["d_logdet_L"] = np.asarray(float(np.log(np.diag(L)).sum()))
    # Prose rows: the band(s) of z = y / s they observe, and the design SE.
    c = rows.iloc[cpos]
    incidence("c", cpos, Rc)
    lo1, hi1, lo2, hi2, two = z_bands(c["z_lo"].to_numpy(float), c["z_hi"].to_numpy(float),
                                      c["sign"].to_numpy(float))
    out["d_c_mu"] = pad(np.log(latent_se_center(_precision_defaults(c), r2_mean)), Rc, 0.0)
    out["d_c_lo"] = pad(lo1, Rc, -1.0)
    out["d_c_hi"] = pad(hi1, Rc, 1.0)
    out["d_c_one"] = pad((~two).astype(float), Rc, 0.0)  # rows whose likelihood is one band
    if sizes.indexed:
        out["d_t_ci"] = pad(tpos.astype(float), Rt, 0.0)  # the prose slot of a second band
    else:
        Q = np.zeros((Rt, Rc))
        Q[np.arange(len(tpos)), tpos] = 1.0
        out["d_t_Q"] = Q
    out["d_t_mask"] = pad(np.ones(len(tpos)), Rt, 0.0)
    out["d_t_lo"] = pad(lo2[tpos], Rt, -1.0)
    out["d_t_hi"] = pad(hi2[tpos], Rt, 1.0)
    # Binomial rows (raw counts): x_t ~ Bin(n_t, p_c + m), x_c ~ Bin(n_c, p_c), one latent
    # p_c per control group (logit p_c ~ Normal(0, BINOMIAL_LOGIT_SD)).
    bpos, bctrl, bkeys = binomial_sections(data)
    Rb, K = sizes.binom_row, sizes.binom_ctrl
    incidence("b", bpos, Rb)
    b = rows.iloc[bpos]
    out["d_b_xt"] = pad(b["x_t"].to_numpy(float) if len(b) else np.zeros(0), Rb, 0.0)
    out["d_b_nt"] = pad(b["n_t"].to_numpy(float) if len(b) else np.zeros(0), Rb, 0.0)
    if sizes.indexed:
        out["d_b_ki"] = pad(bctrl.astype(float), Rb, 0.0)  # the row's control group
    else:
        Pk = np.zeros((Rb, K))
        Pk[np.arange(len(bpos)), bctrl] = 1.0
        out["d_b_Pk"] = Pk
    out["d_k_xc"] = pad(np.array([k[3] for k in bkeys], dtype=float), K, 0.0)
    out["d_k_nc"] = pad(np.array([k[4] for k in bkeys], dtype=float), K, 0.0)
    if sizes.indexed:
        out["d_k_gi"] = pad(np.array([g_at[k[0]] for k in bkeys], dtype=float), K, 0.0)
        out["d_k_mask"] = pad(np.ones(len(bkeys)), K, 0.0)
    else:
        Pkg = np.zeros((K, G))
        for k, key in enumerate(bkeys):
            Pkg[k, g_at[key[0]]] = 1.0
        out["d_k_Pg"] = Pkg
    if pooling not in ("partial", "full", "none"):
        raise ValueError(f"unknown pooling mode '{pooling}'")
    out["d_pool_mu"] = np.asarray(float(pooling != "none"))
    out["d_pool_z"] = np.asarray(float(pooling == "partial"))
    out["d_pool_none"] = np.asarray(float(pooling == "none"))
    return out


def _precision_defaults(rows: pd.DataFrame) -> pd.DataFrame:
    """``rows`` with the precision columns a hand-made table may lack (no covariate
    credit, design effect 1)."""
    out = rows
    if "covariates" not in out:
        out = out.assign(covariates=False)
    if "design_effect" not in out:
        out = out.assign(design_effect=1.0)
    return out


def blank_arrays(sizes: PadSizes) -> dict[str, np.ndarray]:
    """Valid placeholder arrays (no rows) used to build the model before any outcome."""
    rows = pd.DataFrame({c: pd.Series(dtype=float) for c in (
        "y", "se", "se_design", "se_lo", "se_hi", "z_lo", "z_hi", "takeup", "x_t", "x_c",
        "n_t", "n_c")})
    for c in ("family", "grade", "estimand", "gemeente", "arm", "comparator", "comparison"):
        rows[c] = pd.Series(dtype=object)
    rows["sign"] = pd.Series(dtype=int)
    data = MetaData(outcome="blank", kind="binary", rows=rows, gemeenten=(), components=(),
                    arms=(), W=np.zeros((0, 0)), bundles=(), corr=np.zeros((0, 0)), biases=())
    return model_arrays(data, ModelSpec(name="blank"), sizes, pooling="partial")


# --------------------------------------------------------------------------------------
# The model
# --------------------------------------------------------------------------------------

PACKED = "d_packed"
"""Name of the model's single data container: every array of :func:`model_arrays`, flat."""


@functools.lru_cache(maxsize=8)
def pack_layout(sizes: PadSizes) -> dict[str, tuple[int, tuple[int, ...]]]:
    """Name -> (offset, shape) of each data array inside the packed vector (sorted names).

    Cached per padding (it builds the blank arrays); callers must not modify it.
    """
    layout: dict[str, tuple[int, tuple[int, ...]]] = {}
    off = 0
    for k, v in sorted(blank_arrays(sizes).items()):
        shape = tuple(np.shape(v))
        layout[k] = (off, shape)
        off += int(np.prod(shape, dtype=int))
    return layout


def pack(arrays: dict[str, np.ndarray], sizes: PadSizes) -> np.ndarray:
    """The packed data vector of ``arrays`` (checks every name and shape of the layout)."""
    layout = pack_layout(sizes)
    if set(arrays) != set(layout):
        raise ValueError(f"data arrays {sorted(set(arrays) ^ set(layout))} do not match the layout")
    parts = []
    for k, (_, shape) in layout.items():
        v = np.asarray(arrays[k], dtype=float)
        if v.shape != shape:
            raise ValueError(f"data array {k} has shape {v.shape}, the layout says {shape}")
        parts.append(v.ravel())
    return np.concatenate(parts)


def set_model_data(model: pm.Model, arrays: dict[str, np.ndarray], sizes: PadSizes) -> None:
    """Put one outcome's arrays into a model built by :func:`build_graph`."""
    model[PACKED].set_value(pack(arrays, sizes))


class _Rows:
    """How rows refer to municipalities, arms, bias terms and each other in the graph.

    Two representations of the same arithmetic (``sizes.indexed``): one-hot incidence
    matrices with products written as broadcast multiply-and-sum (:func:`_mm`: the
    fastest to compile on the small shapes of the shipped evidence, and the form its
    published numbers were sampled with), or integer index vectors with gathers, scatters
    and a banded whitening (:func:`whitening_band`), whose cost is linear in rows and
    municipalities (a file of many municipalities). Both give the same log density up to
    rounding (``tests/models/test_summary_model.py``).
    """

    def __init__(self, d: dict[str, pt.TensorVariable], sizes: PadSizes) -> None:
        self.d, self.sizes, self.indexed = d, sizes, sizes.indexed

    def _i(self, name: str) -> pt.TensorVariable:
        return _ix(self.d[name])

    def contrast(self, p: str, theta: pt.TensorVariable) -> pt.TensorVariable:
        """``theta[g, arm] - theta[g, comparator]`` of each row of section ``p``."""
        d = self.d
        if self.indexed:
            return pt.sum(theta.reshape((-1,))[self._i(f"d_{p}_ti")] * d[f"d_{p}_tc"], axis=1)
        return pt.sum(_mm(d[f"d_{p}_Pg"], theta) * d[f"d_{p}_Pa"], axis=1)

    def of_gemeente(self, p: str, v: pt.TensorVariable) -> pt.TensorVariable:
        """``v[g]`` of each row's municipality."""
        return v[self._i(f"d_{p}_gi")] if self.indexed else _mv(self.d[f"d_{p}_Pg"], v)

    def bias(self, p: str, bias: pt.TensorVariable) -> pt.TensorVariable:
        """Each row's bias term (0 for rows without)."""
        d = self.d
        if self.indexed:
            return bias[self._i(f"d_{p}_bi")] * d[f"d_{p}_bc"]
        return _mv(d[f"d_{p}_Pb"], bias)

    def whiten(self, r: pt.TensorVariable) -> pt.TensorVariable:
        """``L^-1 r`` for the Gaussian rows (band: row by row over the row's block)."""
        d = self.d
        if self.indexed:
            return pt.sum(d["d_w_inv"] * r[self._i("d_w_cols")], axis=1)
        return _mv(d["d_L_inv"], r)

    def correlate(self, eps: pt.TensorVariable) -> pt.TensorVariable:
        """``L eps`` (correlated standard normal Gaussian-row noise)."""
        d = self.d
        if self.indexed:
            return pt.sum(d["d_w_fwd"] * eps[self._i("d_w_cols")], axis=1)
        L = pt.linalg.solve_triangular(d["d_L_inv"], np.eye(self.sizes.gauss_row), lower=True)
        return _mv(L, eps)

    def whitening_diag(self) -> pt.TensorVariable:
        """The diagonal of ``L^-1``."""
        if self.indexed:
            return self.d["d_w_diag"]
        return pt.sum(self.d["d_L_inv"] * np.eye(self.sizes.gauss_row), axis=1)

    def second_band(self, v: pt.TensorVariable) -> pt.TensorVariable:
        """``v`` (over prose slots) at the prose row of each two-band slot (0 if unused)."""
        if self.indexed:
            return v[self._i("d_t_ci")] * self.d["d_t_mask"]
        return _mv(self.d["d_t_Q"], v)

    def from_second_band(self, v: pt.TensorVariable) -> pt.TensorVariable:
        """Two-band slot values added to their prose slots."""
        if self.indexed:
            return pt.inc_subtensor(pt.zeros(self.sizes.cens_row)[self._i("d_t_ci")], v)
        return _mv(self.d["d_t_Q"].T, v)

    def control(self, p_c: pt.TensorVariable) -> pt.TensorVariable:
        """Each binomial row's control-group rate (0 on padded slots)."""
        if self.indexed:
            return p_c[self._i("d_b_ki")] * self.d["d_b_mask"]
        return _mv(self.d["d_b_Pk"], p_c)

    def per_gemeente(self, ll_g: pt.TensorVariable, ll_c: pt.TensorVariable,
                     ll_b: pt.TensorVariable, ll_k: pt.TensorVariable) -> pt.TensorVariable:
        """Row terms (Gaussian, prose, binomial, control counts) summed per municipality."""
        d = self.d
        if not self.indexed:
            return (_mv(d["d_g_Pg"].T, ll_g) + _mv(d["d_c_Pg"].T, ll_c)
                    + _mv(d["d_b_Pg"].T, ll_b) + _mv(d["d_k_Pg"].T, ll_k))
        total = pt.zeros(self.sizes.gemeente)
        for p, ll in (("g", ll_g), ("c", ll_c), ("b", ll_b)):
            total = pt.inc_subtensor(total[self._i(f"d_{p}_gi")], d[f"d_{p}_mask"] * ll)
        return pt.inc_subtensor(total[self._i("d_k_gi")], d["d_k_mask"] * ll_k)


def build_graph(sizes: PadSizes, *, pointwise: bool = False) -> pm.Model:
    """The model's graph at padding ``sizes`` (placeholder data; set it with :func:`set_model_data`).

    One model serves every pooling mode: the pooling weights are data, and the variables
    a mode does not use keep their (proper) priors.

    ``pointwise=True`` adds two outputs that leave the log density unchanged (the sampled
    graph leaves them out): ``loglik_gemeente``, each municipality's log-likelihood (the
    terms of the ``y_loglik`` and ``censored_z`` potentials, summed over its rows; rows of
    different municipalities are independent, so these add up to the likelihood), and
    ``y_rep``, replicated Gaussian-row estimates ``m + S L eps`` with ``eps ~ N(0, I)`` and
    ``L L' = R`` (the generative form of the Gaussian likelihood, for predictive checks).

    All data live in one flat ``pm.Data`` vector (:data:`PACKED`) sliced with constant
    offsets: nutpie's numba wrapper unrolls one extraction per data container, and with the
    ~45 separate containers this model needs, typing that wrapper took about a minute of
    every compilation (the sliced vector compiles in seconds and evaluates as fast).
    """
    G, C, A, B = sizes.gemeente, sizes.component, sizes.arm, sizes.bias
    coords = {"g_slot": range(G), "c_slot": range(C), "a_slot": range(A),
              "gr_slot": range(sizes.gauss_row), "cr_slot": range(sizes.cens_row),
              "b_slot": range(B), "br_slot": range(sizes.binom_row),
              "k_slot": range(sizes.binom_ctrl), "co_slot": range(sizes.coach)}
    arrays = blank_arrays(sizes)
    layout = pack_layout(sizes)
    with pm.Model(coords=coords) as model:
        packed = pack(arrays, sizes)
        # A static shape lets every constant-offset slice have a static shape too: no
        # SpecifyShape per array, scalars by index and vectors without a reshape (a fifth
        # fewer nodes in the compiled log density; ~5% less compile time).
        flat = pm.Data(PACKED, packed, shape=packed.shape)

        def extract(off: int, shape: tuple[int, ...]) -> pt.TensorVariable:
            if shape == ():
                return flat[off]
            n = int(np.prod(shape, dtype=int))
            return flat[off:off + n] if len(shape) == 1 else flat[off:off + n].reshape(shape)

        d = {k: extract(off, shape) for k, (off, shape) in layout.items()}
        W = d["d_W"]
        mu_raw = pm.Normal("mu_raw", 0.0, 1.0, dims="c_slot")
        mu = pm.Deterministic("mu", d["d_mu_sd"] * mu_raw, dims="c_slot")
        tau_raw = pm.HalfNormal("tau_raw", 1.0, dims="c_slot")
        tau = pm.Deterministic("tau", d["d_tau_sd"] * tau_raw, dims="c_slot")
        u = pm.Beta("corr_cpc_raw", d["d_cpc_beta"], d["d_cpc_beta"], shape=C * (C - 1) // 2)
        L = cpc_cholesky(2.0 * u - 1.0, C)
        pm.Deterministic("corr", _mm(L, L.T))
        chol = tau[:, None] * L
        z = pm.Normal("z_offset", 0.0, 1.0, dims=("g_slot", "c_slot"))
        # Pooling is data too: partial beta = mu + L z; full beta = mu (tau, corr, z
        # prior-only); none beta = beta_sd * z (mu, tau, corr prior-only).
        beta = pm.Deterministic(
            "beta", d["d_pool_mu"] * mu[None, :] + d["d_pool_z"] * _mm(z, chol.T)
            + d["d_pool_none"] * d["d_beta_sd"] * z, dims=("g_slot", "c_slot"))
        gamma_raw = pm.Normal("gamma_raw", 0.0, 1.0, dims="a_slot")
        gamma = pm.Deterministic("gamma", d["d_interaction_sd"] * gamma_raw, dims="a_slot")
        gamma_eff = gamma * d["d_bundle"]
        theta = pm.Deterministic("theta", _mm(beta, W.T) + gamma_eff[None, :],
                                 dims=("g_slot", "a_slot"))
        pm.Deterministic("mu_arm", _mv(W, mu) + gamma_eff, dims="a_slot")
        # Coaches: the arm's contrast in gemeente g is the effect with the team of coaches
        # that delivered it, theta + sigma_coach * sqrt(w2[g, a]) * u[g, a] (w2: sum of
        # squared caseload shares; 0 for arms without a coach team, where u is prior-only).
        sigma_coach_raw = pm.HalfNormal("sigma_coach_raw", 1.0)
        sigma_coach = pm.Deterministic("sigma_coach", d["d_coach_sd"] * sigma_coach_raw)
        coach_raw = pm.Normal("coach_raw", 0.0, 1.0, dims="co_slot")
        dev = sigma_coach * pt.sqrt(d["d_coach_w2"]) * coach_raw  # one per coach slot
        theta_coached = pm.Deterministic(
            "theta_coached", theta + _mm(d["d_coach_Pg"].T * dev[None, :], d["d_coach_Pa"]),
            dims=("g_slot", "a_slot"))
        z_new = pm.Normal("z_new_offset", 0.0, 1.0, dims="c_slot")
        coach_new_raw = pm.Normal("coach_new_raw", 0.0, 1.0, dims="a_slot")
        coach_new = pm.Deterministic("coach_new",
                                     sigma_coach * pt.sqrt(d["d_coach_new_w2"]) * coach_new_raw,
                                     dims="a_slot")
        pm.Deterministic("theta_new", _mv(W, mu + _mv(chol, z_new)) + gamma_eff + coach_new,
                         dims="a_slot")
        sigma = _mm(chol, chol.T)
        pm.Deterministic("tau_arm", pt.sqrt(pt.sum(_mm(W, sigma) * W, axis=1) + 1e-12),
                         dims="a_slot")
        eta_raw = pm.Normal("offer_spillover_raw", 0.0, 1.0, dims="g_slot")
        eta = pm.Deterministic("offer_spillover", d["d_spill_sd"] * eta_raw, dims="g_slot")
        bias_raw = pm.Normal("bias_raw", 0.0, 1.0, dims="b_slot")
        bias = pm.Deterministic("bias", d["d_bias_sd"] * bias_raw, dims="b_slot")

        rows = _Rows(d, sizes)

        def row_mean(p: str) -> pt.TensorVariable:
            # theta of the arm minus theta of the comparator arm (0 for control), times
            # take-up, plus the offer spill-over and the comparison's bias term.
            return d[f"d_{p}_mask"] * (d[f"d_{p}_takeup"] * rows.contrast(p, theta_coached)
                                       + d[f"d_{p}_offer"] * rows.of_gemeente(p, eta)
                                       + rows.bias(p, bias))

        # Gaussian rows: SE known / design-based x sqrt(1 - R2) / latent (marker).
        m_g = pm.Deterministic("row_mean_g", row_mean("g"), dims="gr_slot")
        r2 = pm.Beta("r2", d["d_r2_a"], d["d_r2_b"], dims="g_slot")
        x = pm.Flat("se_marker_raw", dims="gr_slot")
        finite = d["d_mk_finite"]
        sig_x = pm.math.sigmoid(x)
        ex = pt.exp(pt.minimum(x, 50.0))
        s_mk = pt.where(finite > 0, d["d_mk_lo"] + d["d_mk_width"] * sig_x, d["d_mk_lo"] + ex)
        log_jac = pt.where(finite > 0, pt.log(d["d_mk_width"]) - pt.softplus(-x) - pt.softplus(x), x)
        lz = (pt.log(s_mk) - d["d_mk_logc"]) / d["d_mk_sig"]
        lognormal = -0.5 * lz**2 - pt.log(d["d_mk_sig"]) - pt.log(s_mk) - 0.5 * np.log(2 * np.pi)
        std_normal = -0.5 * x**2 - 0.5 * np.log(2 * np.pi)
        mk = d["d_g_marker"]
        pm.Potential("se_marker_prior",
                     pt.sum(pt.where(mk > 0, lognormal + log_jac, std_normal)))
        pm.Deterministic("se_marker", s_mk, dims="gr_slot")
        gmask = d["d_g_mask"]
        s = (d["d_g_known"] * d["d_g_se"]
             + d["d_g_counts"] * d["d_g_se_design"] * pt.sqrt(1.0 - rows.of_gemeente("g", r2))
             + mk * s_mk + (1.0 - gmask))
        pm.Deterministic("se_row", s, dims="gr_slot")
        white = rows.whiten((d["d_g_y"] - m_g) / s)
        pm.Potential("y_loglik", -0.5 * pt.sum(white**2) - pt.sum(gmask * pt.log(s))
                     - d["d_logdet_L"] - 0.5 * np.log(2 * np.pi) * d["d_n_gauss"])
        # Prose rows: censored likelihood of z = y / s, one band of z per row (two bands
        # where the sign is unknown and the row is significant: the extra slots d_t_*).
        m_c = pm.Deterministic("row_mean_c", row_mean("c"), dims="cr_slot")
        s_c_raw = pm.Normal("se_censored_raw", 0.0, 1.0, dims="cr_slot")
        s_c = pm.Deterministic("se_censored", pt.exp(d["d_c_mu"] + CENSORED_SE_SD * s_c_raw),
                               dims="cr_slot")
        e = m_c / s_c
        ll1 = log_interval_prob(d["d_c_lo"] - e, d["d_c_hi"] - e)
        t_mask = d["d_t_mask"]
        e2 = rows.second_band(e)
        ll2 = log_interval_prob(d["d_t_lo"] - e2, d["d_t_hi"] - e2)
        ll12 = pt.logaddexp(rows.second_band(ll1), ll2)
        pm.Potential("censored_z", pt.sum(d["d_c_one"] * ll1) + pt.sum(t_mask * ll12))
        # Binomial rows: the control count once per control group, each arm's count at
        # p_c + m (clipped inside (0, 1)); padded slots have n = 0 (a constant).
        m_b = pm.Deterministic("row_mean_b", row_mean("b"), dims="br_slot")
        lpc_raw = pm.Normal("logit_pc_raw", 0.0, 1.0, dims="k_slot")
        p_c = pm.Deterministic("p_control", pm.math.sigmoid(BINOMIAL_LOGIT_SD * lpc_raw),
                               dims="k_slot")
        xc, nc = d["d_k_xc"], d["d_k_nc"]
        ll_k = xc * pt.log(p_c) + (nc - xc) * pt.log1p(-p_c)
        p_t = pt.clip(rows.control(p_c) + m_b, P_EPS, 1.0 - P_EPS)
        xt, nt = d["d_b_xt"], d["d_b_nt"]
        ll_b = xt * pt.log(p_t) + (nt - xt) * pt.log1p(-p_t)
        pm.Potential("binomial_counts", pt.sum(ll_k) + pt.sum(ll_b))
        if pointwise:
            # The same terms per row: a Gaussian row's share of the whitened quadratic form
            # and of log det(S L) (L_inv is triangular: log L_ii = -log L_inv_ii); a prose
            # row's band probability (two bands: logaddexp of both); each added to its
            # municipality's total (padded slots add 0).
            ll_g = (-0.5 * white**2 - gmask * pt.log(s) + pt.log(rows.whitening_diag())
                    - 0.5 * np.log(2 * np.pi) * gmask)
            ll_c = d["d_c_one"] * ll1 + rows.from_second_band(t_mask * ll12)
            pm.Deterministic("loglik_gemeente", rows.per_gemeente(ll_g, ll_c, ll_b, ll_k),
                             dims="g_slot")
            eps = pm.Normal.dist(0.0, 1.0, shape=(sizes.gauss_row,))
            pm.Deterministic("y_rep", m_g + s * rows.correlate(eps), dims="gr_slot")
    return model


def build_model(data: MetaData, spec: ModelSpec, *, pooling: str | None = None,
                sizes: PadSizes | None = None) -> pm.Model:
    """The model of one outcome: :func:`build_graph` with the outcome's data set.

    ``sizes`` defaults to :func:`choose_sizes` (the padding the compiled sampler uses), so
    every sampler runs the same graph with the same data.
    """
    sizes = sizes or choose_sizes(data)
    model = build_graph(sizes)
    set_model_data(model, model_arrays(data, spec, sizes, pooling=pooling or spec.pooling), sizes)
    return model
