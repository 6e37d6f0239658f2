r"""The summary-level model with fixed (padded) shapes, compiled once and reused.

:func:`bayes_bijstand.models.summary_level.build_model` builds a model whose shapes follow
the outcome (gemeenten, components, arms, rows), so every outcome costs a fresh nutpie/numba
compilation (~30 s) for ~2 s of sampling. Here the same statistical model is written with
every per-outcome quantity in a ``pm.Data`` container of a fixed, padded shape
(:class:`PadSizes`); :func:`compiled_model` compiles it once per padding (one model serves both spec kinds
and all three pooling modes: pooling weights, priors and structure are data) and
:func:`sample_padded` swaps each outcome's arrays in with ``CompiledPyMCModel.with_data``.

Padding keeps the posterior of the real quantities unchanged:

* gemeenten, components, arms and bias terms are slots; an outcome fills the first ones
  (the priors are exchangeable, so the order does not matter) and the others are
  prior-only (no row refers to them, ``W`` has zero columns for unused components);
* the LKJ prior is written through canonical partial correlations with the Beta
  parameters of LKJ(eta) in the outcome's own dimension for the used block
  (:func:`~bayes_bijstand.models.summary_level.lkj_cpc_beta`), so the used components
  have exactly the reference prior;
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

Outputs carry the real coordinates (padded slots sliced away) and the variable names and
dims of the reference model. Prior and posterior predictive draws are computed in numpy.
"""

from __future__ import annotations

import contextlib
import functools
import io
import logging
import time
import warnings
from dataclasses import dataclass

import numpy as np
import pandas as pd
import pymc as pm
import pytensor.tensor as pt
import xarray as xr

from ..constants import DIM_ARM, DIM_COMPONENT, DIM_GEMEENTE
from ..numerics import exact_float
from ..specs import ModelSpec, SamplerSpec
from .summary_level import DIM_BIAS, MetaData, lkj_cpc_beta, log_interval_prob, z_bands

log = logging.getLogger(__name__)

CENSORED_SE_SD = 0.35
"""Log-scale SD of the prose-row SE around the design SE (as in the reference model)."""


@dataclass(frozen=True)
class PadSizes:
    """Padded dimension sizes of one compiled model.

    The defaults hold every outcome of the shipped evidence (at most 7 gemeenten, the 4
    components, 6 arms, 7 Gaussian rows, 18 prose rows of which 1 observes two bands of z,
    and 1 bias term per outcome) with a little room; an outcome that needs more grows the
    padding in steps (one more compilation). Every padded slot costs log-density work at
    each leapfrog step, so the defaults are kept tight, and the two row families have
    their own slots: a Gaussian row never pays for the censored likelihood or the other
    way round.
    """

    gemeente: int = 8
    component: int = 4
    arm: int = 6
    gauss_row: int = 8
    cens_row: int = 20
    two_band: int = 2
    bias: int = 2


def _round_up(n: int, step: int) -> int:
    return int(-(-n // step) * step)


def _sections(data: MetaData) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
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


def choose_sizes(data: MetaData, base: PadSizes | None = None) -> PadSizes:
    """The default padding, grown (in steps, so that few sizes occur) where an outcome needs more."""
    base = base or PadSizes()  # the same default for both kinds: one compilation
    gauss, cens, two = _sections(data)
    need = {"gemeente": len(data.gemeenten), "component": len(data.components),
            "arm": len(data.arms), "gauss_row": len(gauss), "cens_row": len(cens),
            "two_band": len(two), "bias": len(data.biases)}
    steps = {"gemeente": 4, "component": 2, "arm": 2, "gauss_row": 8, "cens_row": 4,
             "two_band": 2, "bias": 2}
    new = {k: max(getattr(base, k), _round_up(v, steps[k])) for k, v in need.items()}
    return PadSizes(**new)


# --------------------------------------------------------------------------------------
# Data arrays
# --------------------------------------------------------------------------------------


def padded_arrays(data: MetaData, spec: ModelSpec, sizes: PadSizes, *,
                  pooling: str) -> dict[str, np.ndarray]:
    """Every ``pm.Data`` array of the padded model for one outcome."""
    G, C, A, B = sizes.gemeente, sizes.component, sizes.arm, sizes.bias
    c_n, a_n, b_n = len(data.components), len(data.arms), len(data.biases)
    need = choose_sizes(data, sizes)
    if need != sizes:
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
    bias_sd[:b_n] = [spec.bias_sd[k] for k in data.biases]
    out["d_bias_sd"] = bias_sd
    spill = float(spec.offer_spillover_sd)
    out["d_spill_sd"] = np.asarray(spill if spill > 0 else 1.0)
    out["d_r2_a"] = np.asarray(spec.r2_alpha, dtype=float)
    out["d_r2_b"] = np.asarray(spec.r2_beta, dtype=float)
    # Rows: two sections, the Gaussian rows (slots gauss_row) and the prose rows (slots
    # cens_row), each with its own row -> slot incidence matrices (matrix products compile
    # faster than indexing). Padded slots have mask 0 and harmless values.
    gpos, cpos, tpos = _sections(data)
    Rg, Rc, Rt = sizes.gauss_row, sizes.cens_row, sizes.two_band
    takeup = rows["takeup"].to_numpy(float)
    offer = (rows["estimand"] == "itt_offer").to_numpy() & (takeup < 1) & (spill > 0)

    def pad(x: np.ndarray, n: int, fill: float) -> np.ndarray:
        a = np.full(n, fill, dtype=float)
        a[: len(x)] = x
        return a

    def incidence(prefix: str, pos: np.ndarray, n: int) -> None:
        Pg, Pa, Pb = np.zeros((n, G)), np.zeros((n, A)), np.zeros((n, B))
        sub = rows.iloc[pos]
        for r, (g, a, c, comp) in enumerate(zip(sub["gemeente"], sub["arm"], sub["comparator"],
                                                sub["comparison"], strict=True)):
            Pg[r, data.gemeenten.index(g)] = 1.0
            Pa[r, data.arms.index(a)] += 1.0
            if c in data.arms:
                Pa[r, data.arms.index(c)] -= 1.0
            if comp in data.biases:
                Pb[r, data.biases.index(comp)] = 1.0
        out[f"d_{prefix}_Pg"], out[f"d_{prefix}_Pa"], out[f"d_{prefix}_Pb"] = Pg, Pa, Pb
        out[f"d_{prefix}_mask"] = pad(np.ones(len(pos)), n, 0.0)
        out[f"d_{prefix}_takeup"] = pad(takeup[pos], n, 1.0)
        out[f"d_{prefix}_offer"] = pad(np.where(offer[pos], 1.0 - takeup[pos], 0.0), n, 0.0)

    # Gaussian rows: SE known, design-based, or latent from a significance marker.
    g = rows.iloc[gpos]
    grade = g["grade"].to_numpy()
    known = np.isin(grade, ["se", "ci", "p"])
    counts = grade == "counts"
    marker = grade == "marker"
    incidence("g", gpos, Rg)
    out["d_g_known"] = pad(known.astype(float), Rg, 0.0)
    out["d_g_counts"] = pad(counts.astype(float), Rg, 0.0)
    out["d_g_marker"] = pad(marker.astype(float), Rg, 0.0)
    out["d_n_gauss"] = np.asarray(float(len(gpos)))
    out["d_g_y"] = pad(g["y"].to_numpy(float), Rg, 0.0)
    out["d_g_se"] = pad(np.where(known, g["se"].to_numpy(float), 0.0), Rg, 0.0)
    design = g["se_design"].to_numpy(float)
    out["d_g_se_design"] = pad(np.where(counts, design, 1.0), Rg, 1.0)
    # Marker rows: SE ~ LogNormal(log centre, sig) truncated to [lo, hi].
    lo = g["se_lo"].to_numpy(float)
    hi = g["se_hi"].to_numpy(float)
    r2_mean = spec.r2_alpha / (spec.r2_alpha + spec.r2_beta)
    with np.errstate(invalid="ignore", divide="ignore"):
        center = np.where(np.isfinite(design), design * np.sqrt(1 - r2_mean),
                          np.where(np.isfinite(hi), np.sqrt(np.maximum(lo, 1e-6) * hi), lo * 1.5))
    sig = np.where(np.isfinite(design), 0.5, 1.0)
    finite = np.isfinite(hi)
    out["d_mk_lo"] = pad(np.where(marker, lo, 0.0), Rg, 0.0)
    out["d_mk_width"] = pad(np.where(marker & finite, hi - lo, 1.0), Rg, 1.0)
    out["d_mk_finite"] = pad(np.where(marker, finite, True).astype(float), Rg, 1.0)
    out["d_mk_logc"] = pad(np.where(marker, np.log(np.where(marker, center, 1.0)), 0.0), Rg, 0.0)
    out["d_mk_sig"] = pad(np.where(marker, sig, 1.0), Rg, 1.0)
    # Correlation of the Gaussian rows: whitening matrix L^-1 (identity on padded slots).
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
    out["d_c_mu"] = pad(np.log(c["se_design"].to_numpy(float)), Rc, 0.0)
    out["d_c_lo"] = pad(lo1, Rc, -1.0)
    out["d_c_hi"] = pad(hi1, Rc, 1.0)
    out["d_c_one"] = pad((~two).astype(float), Rc, 0.0)  # rows whose likelihood is one band
    Q = np.zeros((Rt, Rc))
    Q[np.arange(len(tpos)), tpos] = 1.0
    out["d_t_Q"] = Q
    out["d_t_mask"] = pad(np.ones(len(tpos)), Rt, 0.0)
    out["d_t_lo"] = pad(lo2[tpos], Rt, -1.0)
    out["d_t_hi"] = pad(hi2[tpos], Rt, 1.0)
    if pooling not in ("partial", "full", "none"):
        raise ValueError(f"unknown pooling mode '{pooling}'")
    out["d_pool_mu"] = np.asarray(float(pooling != "none"))
    out["d_pool_z"] = np.asarray(float(pooling == "partial"))
    out["d_pool_none"] = np.asarray(float(pooling == "none"))
    return out


def blank_arrays(sizes: PadSizes) -> dict[str, np.ndarray]:
    """Valid placeholder arrays (no rows) used to build the model before any outcome."""
    rows = pd.DataFrame({c: pd.Series(dtype=float) for c in (
        "y", "se", "se_design", "se_lo", "se_hi", "z_lo", "z_hi", "takeup")})
    for c in ("family", "grade", "estimand", "gemeente", "arm", "comparator", "comparison"):
        rows[c] = pd.Series(dtype=object)
    rows["sign"] = pd.Series(dtype=int)
    data = MetaData(outcome="blank", kind="binary", rows=rows, gemeenten=(), components=(),
                    arms=(), W=np.zeros((0, 0)), bundles=(), corr=np.zeros((0, 0)), biases=())
    return padded_arrays(data, ModelSpec(name="blank"), sizes, pooling="partial")


# --------------------------------------------------------------------------------------
# Model
# --------------------------------------------------------------------------------------

#: Free variables stored per draw (padded, constrained space); the reported quantities are
#: computed from them in numpy by :func:`deterministics` (a small numba expand function
#: compiles much faster than one with every deterministic).
STORED = ("mu_raw", "tau_raw", "corr_cpc_raw", "z_offset", "z_new_offset", "gamma_raw", "offer_spillover_raw", "bias_raw", "r2", "se_marker_raw",
          "se_censored_raw")


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


def _cpc_cholesky(z: pt.TensorVariable, n: int) -> pt.TensorVariable:
    """:func:`~bayes_bijstand.models.summary_level.cpc_cholesky` without BLAS products."""
    if n == 1:
        return pt.ones((1, 1))
    i, j = np.tril_indices(n, -1)
    scatter = np.zeros((n * n, len(i)))
    scatter[i * n + j, np.arange(len(i))] = 1.0
    Z = _mv(pt.as_tensor_variable(scatter), z).reshape((n, n))
    before = np.triu(np.ones((n, n)), 1)  # before[k, j] = 1 if k < j
    excl = _mm(pt.log1p(-(Z**2)), pt.as_tensor_variable(before))
    return (Z + np.eye(n)) * pt.exp(0.5 * excl)


PACKED = "d_packed"
"""Name of the model's single data container: every array of :func:`padded_arrays`, flat."""


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
    """Put one outcome's arrays into a model built by :func:`build_padded_model`."""
    model[PACKED].set_value(pack(arrays, sizes))


def build_padded_model(sizes: PadSizes) -> pm.Model:
    """The padded PyMC model (placeholder data; swap it with :func:`set_model_data`).

    One model serves every pooling mode: the pooling weights are data, and the variables
    a mode does not use keep their (proper) priors.

    All data live in one flat ``pm.Data`` vector (:data:`PACKED`) sliced with constant
    offsets: nutpie's numba wrapper unrolls one extraction per data container, and with the
    ~45 separate containers this model needs, typing that wrapper took about a minute of
    every compilation (the sliced vector compiles in seconds and evaluates as fast).
    """
    G, C, A, B = sizes.gemeente, sizes.component, sizes.arm, sizes.bias
    coords = {"g_slot": range(G), "c_slot": range(C), "a_slot": range(A),
              "gr_slot": range(sizes.gauss_row), "cr_slot": range(sizes.cens_row),
              "b_slot": range(B)}
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
        L = _cpc_cholesky(2.0 * u - 1.0, C)
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
        z_new = pm.Normal("z_new_offset", 0.0, 1.0, dims="c_slot")
        pm.Deterministic("theta_new", _mv(W, mu + _mv(chol, z_new)) + gamma_eff, dims="a_slot")
        sigma = _mm(chol, chol.T)
        pm.Deterministic("tau_arm", pt.sqrt(pt.sum(_mm(W, sigma) * W, axis=1) + 1e-12),
                         dims="a_slot")
        eta_raw = pm.Normal("offer_spillover_raw", 0.0, 1.0, dims="g_slot")
        eta = pm.Deterministic("offer_spillover", d["d_spill_sd"] * eta_raw, dims="g_slot")
        bias_raw = pm.Normal("bias_raw", 0.0, 1.0, dims="b_slot")
        bias = pm.Deterministic("bias", d["d_bias_sd"] * bias_raw, dims="b_slot")

        def row_mean(p: str) -> pt.TensorVariable:
            # theta of the arm minus theta of the comparator arm (0 for control), times
            # take-up, plus the offer spill-over and the comparison's bias term.
            Pg = d[f"d_{p}_Pg"]
            contrast = pt.sum(_mm(Pg, theta) * d[f"d_{p}_Pa"], axis=1)
            return d[f"d_{p}_mask"] * (d[f"d_{p}_takeup"] * contrast
                                       + d[f"d_{p}_offer"] * _mv(Pg, eta)
                                       + _mv(d[f"d_{p}_Pb"], bias))

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
             + d["d_g_counts"] * d["d_g_se_design"] * pt.sqrt(1.0 - _mv(d["d_g_Pg"], r2))
             + mk * s_mk + (1.0 - gmask))
        pm.Deterministic("se_row", s, dims="gr_slot")
        white = _mv(d["d_L_inv"], (d["d_g_y"] - m_g) / s)
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
        Q = d["d_t_Q"]
        e2 = _mv(Q, e)
        ll2 = log_interval_prob(d["d_t_lo"] - e2, d["d_t_hi"] - e2)
        pm.Potential("censored_z", pt.sum(d["d_c_one"] * ll1)
                     + pt.sum(d["d_t_mask"] * pt.logaddexp(_mv(Q, ll1), ll2)))
    return model


# --------------------------------------------------------------------------------------
# Compilation cache
# --------------------------------------------------------------------------------------

_CACHE: dict[tuple[object, ...], tuple[pm.Model, object]] = {}
COMPILE_LOG: list[dict[str, object]] = []
"""One record per compilation in this process (sizes, seconds)."""


def compiled_model(sizes: PadSizes) -> tuple[pm.Model, object]:
    """The (PyMC model, nutpie compiled model) pair for ``sizes``, compiled once per process.

    The key holds only the padding: spec kind, pooling mode, priors and sampler settings
    are all data or sampling arguments.
    """
    key = (sizes, "numba")
    if key not in _CACHE:
        import nutpie

        t0 = time.perf_counter()
        model = build_padded_model(sizes)
        names = [v for v in STORED if v in model.named_vars]  # free variables only
        with warnings.catch_warnings(), exact_float():
            warnings.simplefilter("ignore")
            compiled = nutpie.compile_pymc_model(model, var_names=names)
        dt = time.perf_counter() - t0
        COMPILE_LOG.append({"sizes": sizes, "seconds": dt})
        log.info("compiled padded model %s in %.1f s", sizes, dt)
        _CACHE[key] = (model, compiled)
    return _CACHE[key]


def clear_cache() -> None:
    _CACHE.clear()


# --------------------------------------------------------------------------------------
# Sampling and outputs with real coordinates
# --------------------------------------------------------------------------------------


def sample_padded(data: MetaData, spec: ModelSpec, pooling: str, sampler: SamplerSpec, *,
                  cores: int = 2, progressbar: bool = False,
                  sizes: PadSizes | None = None) -> xr.DataTree:
    """Sample one outcome with the cached compiled model; real coordinates in the output."""
    import nutpie

    sizes = sizes or choose_sizes(data)
    model, compiled = compiled_model(sizes)
    arrays = padded_arrays(data, spec, sizes, pooling=pooling)
    flat = pack(arrays, sizes)
    # The compiled initial-point function reads the model's shared variable too.
    model[PACKED].set_value(flat)
    cm = compiled.with_data(**{PACKED: flat})
    with warnings.catch_warnings(), (contextlib.redirect_stderr(io.StringIO()) if not progressbar
                                     else contextlib.nullcontext()):
        warnings.simplefilter("ignore")
        raw = nutpie.sample(cm, draws=sampler.draws, tune=sampler.tune, chains=sampler.chains,
                            cores=max(1, min(cores, sampler.chains)), seed=sampler.random_seed,
                            target_accept=sampler.target_accept, progress_bar=progressbar,
                            save_warmup=False)
    post = to_real_posterior(raw["posterior"].to_dataset(), data, pooling, spec, arrays)
    stats = raw["sample_stats"].to_dataset()
    groups = {"posterior": post, "sample_stats": stats}
    if (data.rows["family"] == "gaussian").any():
        g = data.gaussian
        groups["observed_data"] = xr.Dataset(
            {"y": ("gaussian_row", g["y"].to_numpy(float))},
            coords={"gaussian_row": list(g["row_id"])})
    tree = xr.DataTree.from_dict(groups)
    tree.attrs["sampler"] = "nutpie (padded, compiled once)"
    return tree


def _cholesky_np(u: np.ndarray, C: int) -> np.ndarray:
    """Numpy twin of :func:`~bayes_bijstand.models.summary_level.cpc_cholesky` (batched)."""
    batch = u.shape[:-1]
    if C == 1:
        return np.ones((*batch, 1, 1))
    i, j = np.tril_indices(C, -1)
    Z = np.zeros((*batch, C, C))
    Z[..., i, j] = 2.0 * u - 1.0
    lr = np.log1p(-(Z**2))
    return (Z + np.eye(C)) * np.exp(0.5 * (np.cumsum(lr, axis=-1) - lr))


def deterministics(raw: dict[str, np.ndarray], arrays: dict[str, np.ndarray],
                   pooling: str) -> dict[str, np.ndarray]:
    """The model's deterministic quantities from draws of its free variables (padded shapes).

    ``raw[name]`` has leading sample dims (chain, draw); the formulas are those of
    :func:`build_padded_model`.
    """
    a = arrays
    W, bundle = a["d_W"], a["d_bundle"]
    out: dict[str, np.ndarray] = {}
    gamma = a["d_interaction_sd"] * raw["gamma_raw"]
    out["gamma"] = gamma
    gamma_eff = gamma * bundle
    if pooling == "none":
        beta = a["d_beta_sd"] * raw["z_offset"]
    else:
        mu = a["d_mu_sd"] * raw["mu_raw"]
        out["mu"] = mu
        out["mu_arm"] = mu @ W.T + gamma_eff
        if pooling == "full":
            G = a["d_g_Pg"].shape[1]
            beta = np.repeat(mu[..., None, :], G, axis=-2)
        else:
            C = W.shape[1]
            tau = a["d_tau_sd"] * raw["tau_raw"]
            L = _cholesky_np(raw["corr_cpc_raw"], C)
            out["tau"] = tau
            out["corr"] = L @ np.swapaxes(L, -1, -2)
            chol = tau[..., :, None] * L
            beta = mu[..., None, :] + raw["z_offset"] @ np.swapaxes(chol, -1, -2)
            beta_new = mu + np.einsum("...ij,...j->...i", chol, raw["z_new_offset"])
            out["theta_new"] = beta_new @ W.T + gamma_eff
            sigma = chol @ np.swapaxes(chol, -1, -2)
            out["tau_arm"] = np.sqrt(np.einsum("ac,...cb,ab->...a", W, sigma, W) + 1e-12)
    out["beta"] = beta
    theta = beta @ W.T + gamma_eff[..., None, :]
    out["theta"] = theta
    eta = a["d_spill_sd"] * raw["offer_spillover_raw"]
    bias = a["d_bias_sd"] * raw["bias_raw"]
    out["offer_spillover"], out["bias"] = eta, bias
    for p in ("g", "c"):
        Pg = a[f"d_{p}_Pg"]
        contrast = np.einsum("rg,...ga,ra->...r", Pg, theta, a[f"d_{p}_Pa"])
        out[f"row_mean_{p}"] = a[f"d_{p}_mask"] * (a[f"d_{p}_takeup"] * contrast
                                                   + a[f"d_{p}_offer"] * (eta @ Pg.T)
                                                   + bias @ a[f"d_{p}_Pb"].T)
    out["r2"] = raw["r2"]
    x = raw["se_marker_raw"]
    with np.errstate(over="ignore"):
        s_mk = np.where(a["d_mk_finite"] > 0,
                        a["d_mk_lo"] + a["d_mk_width"] / (1.0 + np.exp(-x)),
                        a["d_mk_lo"] + np.exp(np.minimum(x, 50.0)))
    out["se_marker"] = s_mk
    out["se_row"] = (a["d_g_known"] * a["d_g_se"]
                     + a["d_g_counts"] * a["d_g_se_design"] * np.sqrt(1.0 - raw["r2"] @ a["d_g_Pg"].T)
                     + a["d_g_marker"] * s_mk + (1.0 - a["d_g_mask"]))
    out["se_censored"] = np.exp(a["d_c_mu"] + CENSORED_SE_SD * raw["se_censored_raw"])
    return out


def to_real_posterior(post: xr.Dataset, data: MetaData, pooling: str, spec: ModelSpec,
                      arrays: dict[str, np.ndarray]) -> xr.Dataset:
    """Reported quantities with the outcome's real gemeenten, components, arms and rows."""
    raw = {k: post[k].values for k in STORED if k in post}
    det = deterministics(raw, arrays, pooling)
    rows = data.rows
    gpos, cpos, _ = _sections(data)
    mean = np.zeros((*det["row_mean_g"].shape[:-1], len(rows)))
    mean[..., gpos] = det["row_mean_g"][..., : len(gpos)]
    mean[..., cpos] = det["row_mean_c"][..., : len(cpos)]
    det["row_mean"] = mean  # in the order of data.rows
    fam, grade = rows["family"].to_numpy(), rows["grade"].to_numpy()
    gauss = np.flatnonzero(fam == "gaussian")
    cens = np.flatnonzero(fam == "z_censored")
    marker = np.flatnonzero((fam == "gaussian") & (grade == "marker"))
    counts = (fam == "gaussian") & (grade == "counts")
    rid = rows["row_id"].to_numpy()
    r2_gem = sorted(set(rows.loc[counts, "gemeente"]))
    takeup = rows["takeup"].to_numpy(float)
    offer = (rows["estimand"] == "itt_offer").to_numpy() & (takeup < 1)
    offer_gem = sorted(set(rows.loc[offer, "gemeente"])) if spec.offer_spillover_sd > 0 else []
    gi = {g: i for i, g in enumerate(data.gemeenten)}
    coords = {
        DIM_GEMEENTE: list(data.gemeenten), DIM_COMPONENT: list(data.components),
        "component_b": list(data.components), DIM_ARM: list(data.arms),
        "bundle": list(data.bundles), DIM_BIAS: list(data.biases),
        "gaussian_row": list(rid[gauss]), "marker_row": list(rid[marker]),
        "censored_row": list(rid[cens]), "r2_gemeente": r2_gem, "offer_gemeente": offer_gem,
        "row": list(rid),
    }
    idx = {
        DIM_GEMEENTE: np.arange(len(data.gemeenten)), DIM_COMPONENT: np.arange(len(data.components)),
        "component_b": np.arange(len(data.components)), DIM_ARM: np.arange(len(data.arms)),
        "bundle": np.array([data.arms.index(b) for b in data.bundles], dtype=int),
        # Section slots: the i-th Gaussian (prose) row sits in slot i of its section.
        DIM_BIAS: np.arange(len(data.biases)), "gaussian_row": np.arange(len(gauss)),
        "marker_row": np.searchsorted(gauss, marker), "censored_row": np.arange(len(cens)), "r2_gemeente": np.array([gi[g] for g in r2_gem], dtype=int),
        "offer_gemeente": np.array([gi[g] for g in offer_gem], dtype=int),
        "row": np.arange(len(rid)),
    }
    C = len(data.components)
    spec_vars: list[tuple[str, tuple[str, ...], bool]] = [
        ("mu", (DIM_COMPONENT,), pooling != "none"),
        ("tau", (DIM_COMPONENT,), pooling == "partial"),
        ("corr", (DIM_COMPONENT, "component_b"), pooling == "partial" and C > 1),
        ("beta", (DIM_GEMEENTE, DIM_COMPONENT), True),
        ("gamma", ("bundle",), bool(data.bundles)),
        ("theta", (DIM_GEMEENTE, DIM_ARM), True),
        ("mu_arm", (DIM_ARM,), pooling != "none"),
        ("theta_new", (DIM_ARM,), pooling == "partial"),
        ("tau_arm", (DIM_ARM,), pooling == "partial"),
        ("offer_spillover", ("offer_gemeente",), bool(offer_gem)),
        ("bias", (DIM_BIAS,), bool(data.biases)),
        ("r2", ("r2_gemeente",), bool(r2_gem)),
        ("se_marker", ("marker_row",), len(marker) > 0),
        ("se_row", ("gaussian_row",), len(gauss) > 0),
        ("se_censored", ("censored_row",), len(cens) > 0),
        ("row_mean", ("row",), True),
    ]
    out = {}
    for name, dims, present in spec_vars:
        if not present:
            continue
        v = det[name]
        for k, dim in enumerate(dims):
            v = np.take(v, idx[dim], axis=2 + k)
        out[name] = xr.DataArray(v, dims=("chain", "draw", *dims),
                                 coords={dim: coords[dim] for dim in dims})
    ds = xr.Dataset(out)
    return ds.assign_coords(chain=post["chain"].values, draw=post["draw"].values)


def posterior_predictive(post: xr.Dataset, data: MetaData, seed: int) -> xr.Dataset | None:
    """Replicated Gaussian-row estimates, ``y_rep ~ MvNormal(m, S R S)`` per draw."""
    g = data.gaussian
    if g.empty:
        return None
    pos = np.flatnonzero(data.rows["family"].to_numpy() == "gaussian")
    m = post["row_mean"].values[..., pos]
    s = post["se_row"].values
    L = np.linalg.cholesky(data.corr)
    rng = np.random.default_rng(seed)
    eps = rng.standard_normal(m.shape)
    y = m + s * (eps @ L.T)
    return xr.Dataset({"y": (("chain", "draw", "gaussian_row"), y)},
                      coords={"chain": post["chain"].values, "draw": post["draw"].values,
                              "gaussian_row": list(g["row_id"])})


def prior_draws(data: MetaData, spec: ModelSpec, pooling: str, seed: int,
                draws: int = 1000) -> xr.Dataset | None:
    """Prior draws of the pooled quantities (mu, tau, mu_arm, theta_new, tau_arm)."""
    if pooling == "none":
        return None
    pri = spec.priors(data.kind)
    rng = np.random.default_rng(seed)
    C, A = len(data.components), len(data.arms)
    W = data.W
    mu = rng.normal(0.0, pri.mu_sd, (draws, C))
    gamma = np.zeros((draws, A))
    for b in data.bundles:
        gamma[:, data.arms.index(b)] = rng.normal(0.0, pri.interaction_sd, draws)
    out: dict[str, tuple[tuple[str, ...], np.ndarray]] = {
        "mu": ((DIM_COMPONENT,), mu), "mu_arm": ((DIM_ARM,), mu @ W.T + gamma)}
    if pooling == "partial":
        tau = np.abs(rng.normal(0.0, pri.tau_sd, (draws, C)))
        L = np.broadcast_to(np.eye(C), (draws, C, C)).copy()
        if C > 1:
            b = lkj_cpc_beta(C, pri.lkj_eta)
            z = 2 * rng.beta(b, b, size=(draws, len(b))) - 1
            i, j = np.tril_indices(C, -1)
            Z = np.zeros((draws, C, C))
            Z[:, i, j] = z
            lr = np.log1p(-(Z**2))
            L = (Z + np.eye(C)) * np.exp(0.5 * (np.cumsum(lr, -1) - lr))
        chol = tau[:, :, None] * L
        z_new = rng.standard_normal((draws, C))
        beta_new = mu + np.einsum("dij,dj->di", chol, z_new)
        sigma = chol @ np.swapaxes(chol, -1, -2)
        out["tau"] = ((DIM_COMPONENT,), tau)
        out["theta_new"] = ((DIM_ARM,), beta_new @ W.T + gamma)
        out["tau_arm"] = ((DIM_ARM,), np.sqrt(np.einsum("ac,dcb,ab->da", W, sigma, W) + 1e-12))
    ds = xr.Dataset({k: (("chain", "draw", *dims), v[None]) for k, (dims, v) in out.items()},
                    coords={"chain": [0], "draw": np.arange(draws),
                            DIM_COMPONENT: list(data.components), DIM_ARM: list(data.arms)})
    return ds
