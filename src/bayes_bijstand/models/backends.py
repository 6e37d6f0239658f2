"""Samplers for the one summary-level model: backends of the graph of :func:`build_graph`.

:mod:`bayes_bijstand.models.summary_level` writes the model once, as a graph with every
per-outcome quantity in one data container of a fixed (padded) shape. This module runs it:

* ``sampler = "nutpie"`` (the default): :func:`compiled_model` compiles the graph once per
  padding in the process and :func:`sample` swaps each outcome's data in
  (``CompiledPyMCModel.with_data``), so one compilation (~30 s) serves every outcome;
* ``sampler = "pymc"``: ``pm.sample`` on the same graph with the outcome's data set
  (:func:`~bayes_bijstand.models.summary_level.build_model`).

Either way the output carries the outcome's real coordinates (padded slots sliced away,
:func:`to_real_posterior`) and the variable names and dims of the model's docstring.
"""

from __future__ import annotations

import contextlib
import io
import logging
import time
import warnings

import numpy as np
import pymc as pm
import xarray as xr

from ..constants import DIM_ARM, DIM_COMPONENT, DIM_GEMEENTE
from ..evidence.grade_registry import grades_with
from ..numerics import exact_float
from ..specs import ModelSpec, SamplerSpec
from .summary_level import (
    CENSORED_SE_SD,
    DIM_BIAS,
    PACKED,
    MetaData,
    PadSizes,
    build_graph,
    choose_sizes,
    lkj_cpc_beta,
    model_arrays,
    pack,
    sections,
)

log = logging.getLogger(__name__)

#: computed from them in numpy by :func:`deterministics` (a small numba expand function
#: compiles much faster than one with every deterministic).
STORED = ("mu_raw", "tau_raw", "corr_cpc_raw", "z_offset", "z_new_offset", "gamma_raw", "offer_spillover_raw", "bias_raw", "r2", "se_marker_raw",
          "se_censored_raw")


# --------------------------------------------------------------------------------------
# Compilation cache (nutpie)
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
        model = build_graph(sizes)
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

def _sample_nutpie(sizes: PadSizes, flat: np.ndarray, sampler: SamplerSpec, *, cores: int,
                   progressbar: bool) -> tuple[xr.Dataset, xr.Dataset]:
    """nutpie on the graph compiled once for ``sizes``, with the packed data ``flat``."""
    import nutpie

    model, compiled = compiled_model(sizes)
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
    return raw["posterior"].to_dataset(), raw["sample_stats"].to_dataset()


def _sample_pymc(sizes: PadSizes, flat: np.ndarray, sampler: SamplerSpec, *, cores: int,
                 progressbar: bool) -> tuple[xr.Dataset, xr.Dataset]:
    """``pm.sample`` on the same graph (built at ``sizes``) with the packed data ``flat``.

    With nutpie installed PyMC 6 picks it as the NUTS backend even here (one numba compile
    per call); forcing ``nuts_sampler="pymc"`` made a fresh-cache test run 2.5x slower (C
    compilation), so the choice is left to PyMC.
    """
    model = build_graph(sizes)
    model[PACKED].set_value(flat)
    with warnings.catch_warnings(), exact_float(), \
            contextlib.redirect_stderr(io.StringIO()) if not progressbar else contextlib.nullcontext():
        warnings.simplefilter("ignore")
        logging.getLogger("pymc").setLevel(logging.ERROR)
        tree = pm.sample(draws=sampler.draws, tune=sampler.tune, chains=sampler.chains,
                         cores=max(1, min(cores, sampler.chains)),
                         random_seed=sampler.random_seed, target_accept=sampler.target_accept,
                         model=model, progressbar=progressbar, compute_convergence_checks=False,
                         var_names=[v for v in STORED if v in model.named_vars])
    return tree["posterior"].to_dataset(), tree["sample_stats"].to_dataset()


SAMPLERS = {"nutpie": _sample_nutpie, "pymc": _sample_pymc}
"""Sampler name -> backend; every backend samples the graph of :func:`build_graph`."""


def sample(data: MetaData, spec: ModelSpec, pooling: str, sampler: SamplerSpec, *,
           cores: int = 2, progressbar: bool = False,
           sizes: PadSizes | None = None) -> xr.DataTree:
    """Sample one outcome with ``sampler.sampler``'s backend; real coordinates in the output."""
    if sampler.sampler not in SAMPLERS:
        raise ValueError(f"unknown sampler '{sampler.sampler}' (one of {', '.join(SAMPLERS)})")
    sizes = sizes or choose_sizes(data)
    arrays = model_arrays(data, spec, sizes, pooling=pooling)
    flat = pack(arrays, sizes)
    raw, stats = SAMPLERS[sampler.sampler](sizes, flat, sampler, cores=cores,
                                           progressbar=progressbar)
    post = to_real_posterior(raw, data, pooling, spec, arrays)
    groups = {"posterior": post, "sample_stats": stats}
    if (data.rows["family"] == "gaussian").any():
        g = data.gaussian
        groups["observed_data"] = xr.Dataset(
            {"y": ("gaussian_row", g["y"].to_numpy(float))},
            coords={"gaussian_row": list(g["row_id"])})
    tree = xr.DataTree.from_dict(groups)
    tree.attrs["sampler"] = ("nutpie (padded, compiled once)" if sampler.sampler == "nutpie"
                             else "pymc (the same padded graph)")
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
    :func:`build_graph`.
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
    gpos, cpos, _ = sections(data)
    mean = np.zeros((*det["row_mean_g"].shape[:-1], len(rows)))
    mean[..., gpos] = det["row_mean_g"][..., : len(gpos)]
    mean[..., cpos] = det["row_mean_c"][..., : len(cpos)]
    det["row_mean"] = mean  # in the order of data.rows
    fam, grade = rows["family"].to_numpy(), rows["grade"].to_numpy()
    gauss = np.flatnonzero(fam == "gaussian")
    cens = np.flatnonzero(fam == "z_censored")
    marker = np.flatnonzero((fam == "gaussian") & np.isin(grade, grades_with(se_rule="bounded")))
    counts = (fam == "gaussian") & np.isin(grade, grades_with(se_rule="design"))
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
