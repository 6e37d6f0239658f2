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
from dataclasses import replace

import numpy as np
import pymc as pm
import xarray as xr

from ..constants import DIM_ARM, DIM_COMPONENT, DIM_GEMEENTE
from ..evidence.grade_registry import grades_with
from ..numerics import exact_float
from ..specs import ModelSpec, SamplerSpec
from .compile_cache import cached_callbacks
from .summary_level import (
    DIM_BIAS,
    PACKED,
    MetaData,
    PadSizes,
    binomial_sections,
    build_graph,
    choose_sizes,
    coach_teams_of,
    exact_sizes,
    model_arrays,
    pack,
)

log = logging.getLogger(__name__)

#: Free variables stored per draw (padded, constrained space); the reported quantities are
#: computed from them by the graph itself (:func:`graph_outputs`), after sampling: a small
#: numba expand function compiles much faster than one with every deterministic.
STORED = ("mu_raw", "tau_raw", "corr_cpc_raw", "z_offset", "z_new_offset", "gamma_raw", "offer_spillover_raw", "bias_raw", "r2", "se_marker_raw",
          "se_censored_raw", "logit_pc_raw", "sigma_coach_raw", "coach_raw", "coach_new_raw")


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
        with warnings.catch_warnings(), exact_float(), cached_callbacks():
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
    with warnings.catch_warnings(), exact_float(), cached_callbacks(), \
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


# --------------------------------------------------------------------------------------
# Exact path: the normal-normal model has a closed-form / quadrature posterior
# --------------------------------------------------------------------------------------

EXACT = "exact (normal-normal: independent draws from the quadrature posterior)"
"""The ``sampler`` attribute of a fit that took the exact path."""


def exact_applies(data: MetaData, arrays: dict[str, np.ndarray]) -> bool:
    """Whether the graph with these data is the normal-normal model.

    One arm (one component, no interaction), every used row Gaussian with a known SE (no
    significance marker, no design-based SE with an R2, no prose, no raw counts), at most
    one row per municipality (so no within-study correlation), no bias term, no take-up
    scaling, offer spill-over or coach team: then ``y_g ~ N(theta_g, s_g)``, ``theta_g = mu + tau z_g``
    and the posterior is exact (:mod:`bayes_bijstand.models.quadrature`) in every pooling
    mode.
    """
    rows = data.rows
    n = len(rows)
    if len(data.components) != 1 or len(data.arms) != 1 or data.bundles or data.biases:
        return False
    if not (rows["family"] == "gaussian").all() or rows["gemeente"].nunique() != n:
        return False
    if set(rows["comparator"]) & set(data.arms):
        return False
    if coach_teams_of(data)[0].size:  # a coach team's deviation is one more latent
        return False
    return bool(np.all(arrays["d_g_known"][:n] == 1.0)
                and np.all(arrays["d_g_takeup"][:n] == 1.0)
                and np.all(arrays["d_g_offer"][:n] == 0.0)
                and np.all(np.isfinite(arrays["d_g_se"][:n])) and np.all(arrays["d_g_se"][:n] > 0))


def _sample_exact(data: MetaData, sizes: PadSizes, arrays: dict[str, np.ndarray],
                  pooling: str, sampler: SamplerSpec) -> tuple[xr.Dataset, xr.Dataset]:
    """Independent draws of the graph's free variables from the exact posterior.

    partial: ``tau`` by inverting its quadrature CDF, ``mu | tau`` and ``theta | mu, tau``
    Gaussian (:meth:`~bayes_bijstand.models.quadrature.ExactPosterior.sample`), and
    ``z = (theta - mu) / tau``; full: ``mu`` conjugate normal; none: each ``theta_g``
    conjugate normal with its ``N(0, beta_sd)`` prior. Every variable the pooling mode or
    the outcome leaves prior-only (padded slots, the predictive ``z_new``) is drawn from
    its prior, so the graph's deterministics follow from these draws as from MCMC's.
    """
    from .quadrature import exact_normal_normal

    rng = np.random.default_rng(sampler.random_seed)
    chains, draws = sampler.chains, sampler.draws
    n = chains * draws
    G, C, A, B = sizes.gemeente, sizes.component, sizes.arm, sizes.bias
    k = len(data.rows)
    at = {g: i for i, g in enumerate(data.gemeenten)}
    gi = np.array([at[g] for g in data.rows["gemeente"]], dtype=int)
    y, se = arrays["d_g_y"][:k], arrays["d_g_se"][:k]
    mu_sd, tau_sd = float(arrays["d_mu_sd"]), float(arrays["d_tau_sd"])
    cpc = arrays["d_cpc_beta"]
    raw = {
        "mu_raw": rng.standard_normal((n, C)),
        "tau_raw": np.abs(rng.standard_normal((n, C))),
        "corr_cpc_raw": rng.beta(cpc, cpc, size=(n, len(cpc))),
        "z_offset": rng.standard_normal((n, G, C)),
        "z_new_offset": rng.standard_normal((n, C)),
        "gamma_raw": rng.standard_normal((n, A)),
        "offer_spillover_raw": rng.standard_normal((n, G)),
        "bias_raw": rng.standard_normal((n, B)),
        "r2": rng.beta(float(arrays["d_r2_a"]), float(arrays["d_r2_b"]), size=(n, G)),
        "se_marker_raw": rng.standard_normal((n, sizes.gauss_row)),
        "se_censored_raw": rng.standard_normal((n, sizes.cens_row)),
        "logit_pc_raw": rng.standard_normal((n, sizes.binom_ctrl)),
        "sigma_coach_raw": np.abs(rng.standard_normal(n)),
        "coach_raw": rng.standard_normal((n, sizes.coach)),
        "coach_new_raw": rng.standard_normal((n, A)),
    }
    if pooling == "partial":
        post = exact_normal_normal(y, se, mu_prior=(0.0, mu_sd), tau_prior=("halfnormal", tau_sd))
        d = post.sample(n, rng)
        raw["mu_raw"][:, 0] = d["mu"] / mu_sd
        raw["tau_raw"][:, 0] = d["tau"] / tau_sd
        raw["z_offset"][:, gi, 0] = (d["theta"] - d["mu"][:, None]) / d["tau"][:, None]
    elif pooling == "full":
        prec = 1.0 / mu_sd**2 + np.sum(1.0 / se**2)
        mu = np.sum(y / se**2) / prec + rng.standard_normal(n) / np.sqrt(prec)
        raw["mu_raw"][:, 0] = mu / mu_sd
    else:
        beta_sd = float(arrays["d_beta_sd"])
        prec = 1.0 / beta_sd**2 + 1.0 / se**2
        theta = (y / se**2) / prec + rng.standard_normal((n, k)) / np.sqrt(prec)
        raw["z_offset"][:, gi, 0] = theta / beta_sd
    coords = {"chain": np.arange(chains), "draw": np.arange(draws)}
    post_ds = xr.Dataset(
        {name: (("chain", "draw", *[f"{name}_dim_{i}" for i in range(v.ndim - 1)]),
                v.reshape(chains, draws, *v.shape[1:])) for name, v in raw.items()},
        coords=coords)
    stats = xr.Dataset({"diverging": (("chain", "draw"), np.zeros((chains, draws), bool))},
                       coords=coords)
    return post_ds, stats


def sample(data: MetaData, spec: ModelSpec, pooling: str, sampler: SamplerSpec, *,
           cores: int = 2, progressbar: bool = False, sizes: PadSizes | None = None,
           posterior_predictive: bool = True, exact: bool = True) -> xr.DataTree:
    """Sample one outcome with ``sampler.sampler``'s backend; real coordinates in the output.

    With ``exact`` (the default) and the default sampler, data for which the graph is the
    normal-normal model (:func:`exact_applies`) take the exact path instead of MCMC
    (independent draws in milliseconds; ``tree.attrs["sampler"]`` says :data:`EXACT`).

    The tree holds ``posterior``, ``sample_stats``, ``log_likelihood`` (one value per
    municipality and draw), ``log_prior``, ``observed_data`` and, when asked,
    ``posterior_predictive`` (replicated Gaussian rows); all computed from the graph.
    """
    if sampler.sampler not in SAMPLERS:
        raise ValueError(f"unknown sampler '{sampler.sampler}' (one of {', '.join(SAMPLERS)})")
    sizes = sizes or choose_sizes(data)
    arrays = model_arrays(data, spec, sizes, pooling=pooling)
    exact = exact and sampler.sampler == "nutpie" and exact_applies(data, arrays)
    if exact:
        # Nothing is compiled: the tightest padding (indexed rows; two component slots, so
        # that the correlation has one CPC) makes the graph's outputs cheapest.
        sizes = replace(exact_sizes(data), component=2, indexed=True)
        arrays = model_arrays(data, spec, sizes, pooling=pooling)
        raw, stats = _sample_exact(data, sizes, arrays, pooling, sampler)
    else:
        raw, stats = SAMPLERS[sampler.sampler](sizes, pack(arrays, sizes), sampler, cores=cores,
                                               progressbar=progressbar)
    out = graph_outputs(sizes, arrays, {k: raw[k].values for k in STORED if k in raw},
                        seed=sampler.random_seed)
    layout = RealLayout(data, pooling, spec)
    post = layout.dataset(out, POSTERIOR_VARS, raw)
    groups = {"posterior": post, "sample_stats": stats,
              "log_likelihood": layout.dataset(out, (LOGLIK,), raw),
              "log_prior": layout.log_prior(out, raw)}
    if (data.rows["family"] == "gaussian").any():
        g = data.gaussian
        groups["observed_data"] = xr.Dataset(
            {"y": ("gaussian_row", g["y"].to_numpy(float))},
            coords={"gaussian_row": list(g["row_id"])})
        if posterior_predictive:
            groups["posterior_predictive"] = layout.dataset(out, ("y",), raw)
    tree = xr.DataTree.from_dict(groups)
    tree.attrs["sampler"] = (EXACT if exact else "nutpie (padded, compiled once)"
                             if sampler.sampler == "nutpie" else "pymc (the same padded graph)")
    return tree


# --------------------------------------------------------------------------------------
# Quantities computed by the graph from draws of its free variables
# --------------------------------------------------------------------------------------

LOGLIK = "y_gemeente"
"""Name of the ``log_likelihood`` variable: the log-likelihood of each municipality's rows."""

_FNS: dict[tuple[object, ...], tuple[object, list[object], list[str]]] = {}
_GRAPHS: dict[PadSizes, pm.Model] = {}


def _graph(sizes: PadSizes) -> pm.Model:
    """The graph with its pointwise outputs (:func:`build_graph`), built once per padding."""
    if sizes not in _GRAPHS:
        _GRAPHS[sizes] = build_graph(sizes, pointwise=True)
    return _GRAPHS[sizes]


def _unwrap(outputs: list[object]) -> list[object]:
    """The outputs with PyMC's Deterministic wrappers (view ops) replaced by their inputs
    (vectorised, a view op would loop in Python over the draws)."""
    from pytensor.compile.ops import ViewOp
    from pytensor.graph.replace import graph_replace
    from pytensor.graph.traversal import ancestors

    out = [v.owner.inputs[0] if v.owner is not None and isinstance(v.owner.op, ViewOp) else v
           for v in outputs]
    while True:
        views = [v for v in ancestors(out) if v.owner is not None and isinstance(v.owner.op, ViewOp)]
        if not views:
            return out
        out = graph_replace(out, {v: v.owner.inputs[0] for v in views}, strict=False)


def _function(sizes: PadSizes, kind: str) -> tuple[object, list[object], list[str]]:
    """A compiled function of the graph, vectorised over draws; cached per padding.

    ``kind = "posterior"``: inputs are draws of the free variables of :data:`STORED`, outputs
    every deterministic, the pointwise log-likelihood, the replicated rows and each free
    variable's log prior density. ``kind = "prior"``: the input is the number of draws,
    the outputs are :data:`PRIOR_VARS` with every free variable drawn from its prior. PyTensor's Python implementations
    (``FAST_COMPILE``) evaluate each node once on arrays of all draws: nothing to compile.
    """
    key = (sizes, kind)
    if key in _FNS:
        return _FNS[key]
    import pytensor
    import pytensor.tensor as pt
    from pymc.distributions.shape_utils import change_dist_size
    from pymc.pytensorf import find_rng_nodes
    from pytensor.graph.replace import vectorize_graph

    model = _graph(sizes)
    free = [model[n] for n in STORED]
    names = [d.name for d in model.deterministics]
    outputs = [model[n] for n in names]
    if kind == "posterior":
        inputs = [pt.tensor(name=n, shape=(None, *rv.type.shape), dtype=rv.dtype)
                  for n, rv in zip(STORED, free, strict=True)]
        n = inputs[0].shape[0]
        replace: dict[object, object] = dict(zip(free, inputs, strict=True))
        # Log prior density of each free variable, elementwise, without the Jacobian of
        # the sampler's transforms (as ArviZ's log_prior group expects).
        priors = model.logp(vars=free, jacobian=False, sum=False)
        values = [model.rvs_to_values[rv] for rv in free]
        priors = pytensor.graph.replace.graph_replace(priors, dict(zip(values, free, strict=True)),
                                                     strict=False)
        outputs = outputs + list(priors)
        names = names + [f"logprior_{v}" for v in STORED]
    else:
        # The pooled quantities only (the marker SEs have a flat raw variable whose prior
        # is a potential, and cannot be drawn forward).
        names = list(PRIOR_VARS)
        outputs = [model[n] for n in names]
        n = pt.scalar("draws", dtype="int64")
        inputs = [n]
        replace = {}
    random = [v for v in pytensor.graph.traversal.ancestors(outputs)
              if v.owner is not None and isinstance(v.owner.op, pt.random.op.RandomVariable)
              and v not in replace]
    for rv in random:
        replace[rv] = change_dist_size(rv, new_size=(n,), expand=True)
    outs = _fill_as_broadcast(vectorize_graph(_inline_symbolic(_unwrap(outputs)),
                                              replace=replace))
    # Without the rewrite that would fold the inlined arithmetic back into ``logaddexp``.
    mode = pytensor.compile.mode.get_mode("FAST_COMPILE").excluding("local_log_add_exp")
    fn = pytensor.function(inputs, outs, mode=mode, on_unused_input="ignore")
    rngs = find_rng_nodes(fn.maker.fgraph.inputs)
    _FNS[key] = (fn, rngs, names)
    return _FNS[key]


def _inline_symbolic(outs: list[object]) -> list[object]:
    """``outs`` with every symbolic op (an ``OpFromGraph`` such as ``logaddexp``) inlined.

    Vectorised over draws, such an op becomes a ``Blockwise`` without a vectorised
    implementation: building the function C-compiled its inner graph (about 5 s on an empty
    compile cache) and ran it once per draw and slot. Its inner graph is elementwise NumPy
    arithmetic here, evaluated once on arrays of all draws (the function is compiled
    without the rewrite that recognises ``log(exp(x) + exp(y))`` as ``logaddexp`` again).
    """
    from pytensor.compile.builders import OpFromGraph
    from pytensor.compile.rewriting import inline_ofg_node
    from pytensor.graph.replace import graph_replace
    from pytensor.graph.traversal import applys_between

    while True:
        node = next((n for n in applys_between([], outs) if isinstance(n.op, OpFromGraph)), None)
        if node is None:
            return outs
        inner = inline_ofg_node(node)
        outs = list(graph_replace(outs, dict(zip(node.outputs, inner, strict=True)),
                                  strict=False))


def _fill_as_broadcast(outs: list[object]) -> list[object]:
    """``outs`` with every elementwise ``second`` (fill) node written as ``broadcast_to``.

    Python-mode evaluation runs a scalar op without a NumPy ufunc, such as ``second``, once
    per element (``np.frompyfunc``): 4,000,000 Python calls per fit at 1,000 municipalities
    and 4,000 draws. ``second(x, y)`` is ``y`` broadcast to the joint shape, so
    ``broadcast_to`` gives the same values (bit for bit) with one NumPy call.
    """
    import pytensor.tensor as pt
    from pytensor.graph.replace import graph_replace
    from pytensor.graph.traversal import applys_between
    from pytensor.scalar.basic import Second
    from pytensor.tensor.elemwise import Elemwise

    swap = {}
    for node in applys_between([], outs):
        if isinstance(node.op, Elemwise) and isinstance(node.op.scalar_op, Second):
            x, y = node.inputs
            out = node.outputs[0]
            new = pt.broadcast_to(y, pt.broadcast_shape(x, y))
            swap[out] = new if new.dtype == out.dtype else pt.cast(new, out.dtype)
    return list(graph_replace(outs, swap, strict=False)) if swap else outs


def _call(sizes: PadSizes, kind: str, arrays: dict[str, np.ndarray], args: list[object],
          seed: int) -> dict[str, np.ndarray]:
    from pymc.pytensorf import reseed_rngs

    fn, rngs, names = _function(sizes, kind)
    _graph(sizes)[PACKED].set_value(pack(arrays, sizes))
    reseed_rngs(rngs, seed)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return dict(zip(names, fn(*args), strict=True))  # type: ignore[operator]


def graph_outputs(sizes: PadSizes, arrays: dict[str, np.ndarray], raw: dict[str, np.ndarray],
                  seed: int) -> dict[str, np.ndarray]:
    """Every output of the graph at draws ``raw`` (free variables, leading dims chain, draw).

    Deterministics, ``loglik_gemeente``, ``y_rep`` (replicated rows, drawn with ``seed``) and
    ``logprior_<free variable>``, with the leading (chain, draw) dims and padded slots.
    """
    lead = next(iter(raw.values())).shape[:2]
    flat = [np.asarray(raw[k], dtype=float).reshape(-1, *np.shape(raw[k])[2:]) for k in STORED]
    out = _call(sizes, "posterior", arrays, flat, seed)
    out = {k: np.asarray(v).reshape(*lead, *np.shape(v)[1:]) for k, v in out.items()}
    out.update({k: np.asarray(raw[k]) for k in ("r2",)})
    return out


def prior_outputs(sizes: PadSizes, arrays: dict[str, np.ndarray], seed: int,
                  draws: int) -> dict[str, np.ndarray]:
    """Prior draws of every deterministic of the graph (leading dims (1, draws), padded)."""
    out = _call(sizes, "prior", arrays, [draws], seed)
    return {k: np.asarray(v)[None] for k, v in out.items()}


# --------------------------------------------------------------------------------------
# Real coordinates
# --------------------------------------------------------------------------------------

POSTERIOR_VARS = ("mu", "tau", "corr", "beta", "gamma", "theta", "mu_arm", "theta_new",
                  "tau_arm", "sigma_coach", "theta_coached", "coach_new", "offer_spillover", "bias", "r2", "se_marker", "se_row",
                  "se_censored", "row_mean", "p_control")
"""Reported posterior variables (those a pooling mode and outcome use)."""

PRIOR_VARS = ("mu", "tau", "mu_arm", "theta_new", "tau_arm")
"""Variables of the ``prior`` group (the pooled quantities)."""


class RealLayout:
    """Where each reported variable of one outcome sits in the padded slots."""

    def __init__(self, data: MetaData, pooling: str, spec: ModelSpec) -> None:
        rows = data.rows
        fam, grade = rows["family"].to_numpy(), rows["grade"].to_numpy()
        gauss = np.flatnonzero(fam == "gaussian")
        cens = np.flatnonzero(fam == "z_censored")
        bounded = np.isin(grade, grades_with(se_rule="bounded"))
        latent = rows["se_latent"].to_numpy(bool) if "se_latent" in rows else bounded
        credit = (rows["covariates"].to_numpy(bool) if "covariates" in rows
                  else np.ones(len(rows), bool))
        marker = np.flatnonzero((fam == "gaussian") & latent)
        counts = ((fam == "gaussian") & np.isin(grade, grades_with(se_rule="design"))
                  & credit & ~latent)
        bpos, _, bkeys = binomial_sections(data)
        self.binom = bpos
        rid = rows["row_id"].to_numpy()
        r2_gem = sorted(set(rows.loc[counts, "gemeente"]))
        takeup = rows["takeup"].to_numpy(float)
        offer = (rows["estimand"] == "itt_offer").to_numpy() & (takeup < 1)
        offer_gem = sorted(set(rows.loc[offer, "gemeente"])) if spec.offer_spillover_sd > 0 else []
        gi = {g: i for i, g in enumerate(data.gemeenten)}
        C = len(data.components)
        self.data, self.pooling, self.gauss, self.cens = data, pooling, gauss, cens
        self.coords = {
            DIM_GEMEENTE: list(data.gemeenten), DIM_COMPONENT: list(data.components),
            "component_b": list(data.components), DIM_ARM: list(data.arms),
            "bundle": list(data.bundles), DIM_BIAS: list(data.biases),
            "gaussian_row": list(rid[gauss]), "marker_row": list(rid[marker]),
            "censored_row": list(rid[cens]), "r2_gemeente": r2_gem, "offer_gemeente": offer_gem,
            "row": list(rid), "corr_cpc": list(range(C * (C - 1) // 2)),
            "binomial_control": [f"{k[0]}:{k[1]}:{k[2]}" for k in bkeys],
            "coach_team": [f"{data.gemeenten[g]}:{data.arms[a]}"
                           for g, a in zip(*coach_teams_of(data)[:2], strict=True)],
        }
        self.idx = {
            DIM_GEMEENTE: np.arange(len(data.gemeenten)),
            DIM_COMPONENT: np.arange(C), "component_b": np.arange(C),
            DIM_ARM: np.arange(len(data.arms)),
            "bundle": np.array([data.arms.index(b) for b in data.bundles], dtype=int),
            # Section slots: the i-th Gaussian (prose) row sits in slot i of its section.
            DIM_BIAS: np.arange(len(data.biases)), "gaussian_row": np.arange(len(gauss)),
            "marker_row": np.searchsorted(gauss, marker), "censored_row": np.arange(len(cens)),
            "r2_gemeente": np.array([gi[g] for g in r2_gem], dtype=int),
            "offer_gemeente": np.array([gi[g] for g in offer_gem], dtype=int),
            "row": np.arange(len(rid)),
            # The CPCs of the leading C x C block come first (row-major lower triangle).
            "corr_cpc": np.arange(C * (C - 1) // 2),
            "binomial_control": np.arange(len(bkeys)),
            "coach_team": np.arange(len(coach_teams_of(data)[0])),
        }
        partial = pooling == "partial"
        coach_w2 = np.asarray(data.extra.get("coach_w2", np.zeros(0)), float)
        coached = bool(coach_w2.size and coach_w2.max() > 0)
        self.vars: dict[str, tuple[tuple[str, ...], bool]] = {
            "mu": ((DIM_COMPONENT,), pooling != "none"),
            "tau": ((DIM_COMPONENT,), partial),
            "corr": ((DIM_COMPONENT, "component_b"), partial and C > 1),
            "beta": ((DIM_GEMEENTE, DIM_COMPONENT), True),
            "gamma": (("bundle",), bool(data.bundles)),
            "theta": ((DIM_GEMEENTE, DIM_ARM), True),
            "mu_arm": ((DIM_ARM,), pooling != "none"),
            "theta_new": ((DIM_ARM,), partial),
            "tau_arm": ((DIM_ARM,), partial),
            "sigma_coach": ((), coached),
            "theta_coached": ((DIM_GEMEENTE, DIM_ARM), coached),
            "coach_new": ((DIM_ARM,), coached and partial),
            "offer_spillover": (("offer_gemeente",), bool(offer_gem)),
            "bias": ((DIM_BIAS,), bool(data.biases)),
            "r2": (("r2_gemeente",), bool(r2_gem)),
            "se_marker": (("marker_row",), len(marker) > 0),
            "se_row": (("gaussian_row",), len(gauss) > 0),
            "se_censored": (("censored_row",), len(cens) > 0),
            "row_mean": (("row",), True),
            "p_control": (("binomial_control",), len(bkeys) > 0),
            LOGLIK: ((DIM_GEMEENTE,), True),
            "y": (("gaussian_row",), len(gauss) > 0),
        }
        # Free variable -> (dims of its real slots, used): the log_prior group. The
        # marker SEs' prior is a potential of the graph and the pooling modes' unused
        # variables are prior-only, so neither is listed.
        self.free: dict[str, tuple[tuple[str, ...], bool]] = {
            "mu_raw": ((DIM_COMPONENT,), pooling != "none"),
            "tau_raw": ((DIM_COMPONENT,), partial),
            "corr_cpc_raw": (("corr_cpc",), partial and C > 1),
            "z_offset": ((DIM_GEMEENTE, DIM_COMPONENT), pooling != "full"),
            "gamma_raw": (("bundle",), bool(data.bundles)),
            "sigma_coach_raw": ((), coached),
            "coach_raw": (("coach_team",), coached),
            "offer_spillover_raw": (("offer_gemeente",), bool(offer_gem)),
            "bias_raw": ((DIM_BIAS,), bool(data.biases)),
            "r2": (("r2_gemeente",), bool(r2_gem)),
            "se_censored_raw": (("censored_row",), len(cens) > 0),
            "logit_pc_raw": (("binomial_control",), len(bkeys) > 0),
        }

    def _take(self, v: np.ndarray, dims: tuple[str, ...]) -> np.ndarray:
        for k, dim in enumerate(dims):
            v = np.take(v, self.idx[dim], axis=2 + k)
        return v

    def real(self, out: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """``out`` with ``row_mean`` (all rows, in the order of ``data.rows``) added."""
        out = dict(out)
        gpos, cpos = self.gauss, self.cens
        mean = np.zeros((*out["row_mean_g"].shape[:-1], len(self.data.rows)))
        mean[..., gpos] = out["row_mean_g"][..., : len(gpos)]
        mean[..., cpos] = out["row_mean_c"][..., : len(cpos)]
        bpos = self.binom
        mean[..., bpos] = out["row_mean_b"][..., : len(bpos)]
        out["row_mean"] = mean
        out[LOGLIK] = out["loglik_gemeente"]
        if "y_rep" in out:
            out["y"] = out["y_rep"]
        return out

    def dataset(self, out: dict[str, np.ndarray], names: tuple[str, ...],
                like: xr.Dataset | None = None) -> xr.Dataset:
        """The variables ``names`` that this outcome and pooling mode use, real coordinates."""
        full = self.real(out) if "row_mean_g" in out else out
        ds = {}
        for name in names:
            dims, present = self.vars[name]
            if present and name in full:
                ds[name] = xr.DataArray(self._take(full[name], dims), dims=("chain", "draw", *dims),
                                        coords={d: self.coords[d] for d in dims})
        res = xr.Dataset(ds)
        if like is not None:
            res = res.assign_coords(chain=like["chain"].values, draw=like["draw"].values)
        return res

    def log_prior(self, out: dict[str, np.ndarray], like: xr.Dataset) -> xr.Dataset:
        """Log prior density of each free variable's real slots (no transform Jacobians)."""
        ds = {}
        for name, (dims, present) in self.free.items():
            if present:
                v = self._take(out[f"logprior_{name}"], dims)
                ds[name] = xr.DataArray(v, dims=("chain", "draw", *dims),
                                        coords={d: self.coords[d] for d in dims})
        return xr.Dataset(ds).assign_coords(chain=like["chain"].values, draw=like["draw"].values)


def to_real_posterior(post: xr.Dataset, data: MetaData, pooling: str, spec: ModelSpec,
                      sizes: PadSizes, arrays: dict[str, np.ndarray]) -> xr.Dataset:
    """Reported quantities with the outcome's real gemeenten, components, arms and rows."""
    raw = {k: post[k].values for k in STORED if k in post}
    out = graph_outputs(sizes, arrays, raw, seed=0)
    return RealLayout(data, pooling, spec).dataset(out, POSTERIOR_VARS, post)


def prior_draws(data: MetaData, spec: ModelSpec, pooling: str, seed: int,
                draws: int = 1000) -> xr.Dataset | None:
    """Prior draws of the pooled quantities (mu, tau, mu_arm, theta_new, tau_arm), from the graph."""
    if pooling == "none":
        return None
    sizes = choose_sizes(data)
    arrays = model_arrays(data, spec, sizes, pooling=pooling)
    out = prior_outputs(sizes, arrays, seed, draws)
    ds = RealLayout(data, pooling, spec).dataset(out, PRIOR_VARS)
    return ds.assign_coords(chain=[0], draw=np.arange(draws))
