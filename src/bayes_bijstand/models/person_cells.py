"""The person-level model's log density on binomial cells, without a model compile.

Why: with bambi + PyMC every fit compiles the model's log density (numba through nutpie:
35-60 s on this 2-core machine, whatever the data size), and bambi builds dense group
design matrices (cells x levels: 4 GB at 400,000 clients). The models that
:func:`~bayes_bijstand.models.person_level.fit_person` fits are additive on the logit scale
with discrete predictors, so after collapsing to binomial cells the linear predictor is a
sparse matrix times the effect vector::

    eta = M @ theta,     theta = [fixed effects, sigma_j * z_j (group effects)]

with at most one non-zero per term in a row of ``M``. Log density and gradient then cost two
sparse products and a few vector operations per evaluation (numpy/scipy, nothing to
compile), and memory grows with cells, not persons.

It is the same statistical model as bambi's, term for term: the same parameters, the same
priors (bambi's defaults for a logit binomial: ``Intercept ~ Normal(0, 1.5)``, a categorical
level ``Normal(0, 1)``, a numeric predictor ``Normal(0, 1 / sd(x))``; group SDs from the
priors given), the same non-centred parametrisation of group effects (``offset ~ Normal(0,
1)``, effect = ``sigma * offset``, ``log sigma`` sampled) and the same names, dims and coords
in the posterior; ``tests/person/test_person_cells.py`` checks that its log density equals
PyMC's for the bambi model at random points. Formulas or priors outside this set return
``None`` from :func:`build_cell_model` and ``fit_person`` uses bambi.
"""

from __future__ import annotations

import math
import os
import threading
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import xarray as xr
from scipy import sparse
from scipy.special import expit, gammaln

try:
    import numba
except ImportError:  # pragma: no cover - numba comes with nutpie
    numba = None

_LOG_2PI = math.log(2.0 * math.pi)
INTERCEPT_SD = 1.5
"""bambi's prior SD of the intercept for a logit binomial."""
CATEGORICAL_SD = 1.0
"""bambi's prior SD of a categorical level for a logit binomial."""
CALLBACK_ALWAYS = False
"""Use the C callback at every size; False (the default): only below :data:`FUSED_BELOW`
cells. Its loop calls libm's exp/log1p, several times slower per cell than numpy's
vectorised ufuncs: at 400,000 clients (71,318 cells) a fit through the callback did not
finish in 600 s where the numpy path took 473 s (both on the loaded 2-core machine)."""
LARGE_TERM = 64
"""Group terms with more effects than this (coaches, caseworkers) are added cell by cell;
the others (fixed effects, gemeente terms) through the cells' distinct row patterns."""
CENTRE_ABOVE: float | None = None
"""A group effect is sampled centred where its Fisher information (at the overall rate)
times the squared prior scale of its SD exceeds this; None: all non-centred (bambi's)."""


@dataclass
class _Fixed:
    name: str
    start: int  # in the unconstrained vector x (equal to its start in theta)
    size: int
    mu: np.ndarray
    sd: np.ndarray
    dims: tuple[str, ...]
    theta: int  # start in theta


@dataclass
class _Group:
    name: str  # posterior name of the effects, e.g. "1|coach_key", "arm|gemeente"
    sigma_start: int
    n_expr: int  # columns (1 for an intercept or numeric slope)
    offset_start: int
    n_levels: int
    prior_sd: np.ndarray  # HalfNormal scale per column
    theta: int
    expr_dim: str | None
    factor_dim: str


@dataclass
class CellModel:
    """Log density and gradient of an additive logit binomial model on collapsed cells.

    The unconstrained vector is ``x = [fixed effects (nf), log sigmas (ns), offsets (nz)]``
    and the effect vector ``theta = [fixed effects, sigma * offset]``, so ``eta = design @
    theta``. As in bambi, the fixed columns are centred in the model (``center``: their
    means over the cells) and the sampled intercept is that of the centred predictors.
    """

    design: sparse.csr_matrix
    design_t: sparse.csr_matrix
    successes: np.ndarray
    trials: np.ndarray
    const: float
    ndim: int
    fixed: list[_Fixed]
    groups: list[_Group]
    coords: dict[str, list[Any]]
    outcome_name: str
    nf: int
    ns: int
    mu: np.ndarray
    sd: np.ndarray
    halfnormal_sd: np.ndarray
    sigma_of: np.ndarray
    """Index (into the log sigmas) of each offset."""
    centred: np.ndarray
    """Per offset: True where the group effect itself is sampled (centred), else
    ``offset = effect / sigma`` (non-centred)."""
    parent: np.ndarray
    """Per offset: the index (in theta) of the fixed effect it is centred around, else -1.
    A centred effect with a parent is sampled as ``parent + effect`` (hierarchical
    centring: the gemeente's own intercept or arm effect), so that data which pin down the
    sum do not leave a ridge between the fixed effect and the group effects."""
    center: np.ndarray | None
    """Column means of the fixed columns (intercept position 0), or None (no intercept)."""
    var_names: list[str] = field(default_factory=list)
    lp_const: float = 0.0
    patterns: sparse.csr_matrix | None = None
    """Distinct rows of the small terms (fixed effects, group terms with few levels)."""
    pattern_of: np.ndarray | None = None
    """Each cell's row of ``patterns``."""
    large: sparse.csr_matrix | None = None
    """The large group terms (many levels), one row per cell; ``design`` = ``patterns[
    pattern_of] + large``."""

    @property
    def n_theta(self) -> int:
        return int(self.design.shape[1])

    def logp_and_grad(self, x: np.ndarray) -> tuple[float, np.ndarray]:
        """Log posterior density (PyMC's value, constants included) and its gradient.

        One compiled pass over the cells (numba, cached on disk, the GIL released so that
        chains run in parallel); :meth:`logp_and_grad_numpy` is the reference.
        """
        return self.logp_function()(x)

    def logp_function(self) -> Any:
        """``x -> (logp, grad)``: the compiled kernels bound to this model's arrays."""
        k = _kernels()
        if not k:
            return self.logp_and_grad_numpy
        prior = (self.nf, self.ns, self.mu, self.sd, self.halfnormal_sd, self.sigma_of,
                 self.centred, self.parent,
                 self.center if self.center is not None else np.zeros(self.nf),
                 self.center is not None)
        p, b = self.patterns, self.large
        rows = (p.indptr, p.indices, p.data, self.pattern_of, b.indptr, b.indices, b.data)
        succ, trials, nt, const = self.successes, self.trials, self.n_theta, self.lp_const
        theta_k, grad_k, eta_k, scatter_k, lik_k = (
            k["theta"], k["grad"], k["eta"], k["scatter"], k["lik"])

        if len(succ) < FUSED_BELOW:
            whole_k = k["whole"]

            def logp(x: np.ndarray) -> tuple[float, np.ndarray]:
                lp, grad = whole_k(np.asarray(x, dtype=np.float64), *prior, *rows, succ, trials)
                return const + lp, grad
        else:
            local = threading.local()
            n = len(succ)

            def logp(x: np.ndarray) -> tuple[float, np.ndarray]:
                x = np.asarray(x, dtype=np.float64)
                theta, lp0 = theta_k(x, *prior)
                bufs = getattr(local, "bufs", None)
                if bufs is None:
                    bufs = local.bufs = (np.empty(n), np.empty(n), np.empty(n))
                eta, e, t = bufs
                # preallocated buffers (one set per chain): no page faults per call
                eta_k(theta, *rows, eta)
                np.abs(eta, out=e)
                np.negative(e, out=e)
                np.exp(e, out=e)
                np.log1p(e, out=t)
                lp1 = lik_k(eta, e, t, succ, trials)  # t becomes the residual
                g = scatter_k(t, nt, *rows)
                return const + lp0 + lp1, grad_k(x, g, *prior)

        return logp

    def user_data(self) -> np.ndarray:
        """Address, size pairs of :data:`_ARRAYS` for the C callback (arrays kept alive on
        ``self``)."""
        p, b = self.patterns, self.large
        c = self.center if self.center is not None else np.zeros(self.nf)
        arrays = [self.mu, self.sd, self.halfnormal_sd, self.sigma_of,
                  self.centred.astype(np.uint8), c, p.indptr, p.indices, p.data,
                  self.pattern_of, b.indptr, b.indices, b.data, self.successes, self.trials,
                  np.array([self.nf, self.ns, float(self.center is not None), self.lp_const]),
                  self.parent]
        kinds = [np.float64, np.float64, np.float64, np.int64, np.uint8, np.float64, np.int64,
                 np.int64, np.float64, np.int64, np.int64, np.int64, np.float64, np.float64,
                 np.float64, np.float64, np.int64]
        self._keep = [np.ascontiguousarray(a, dtype=k) for a, k in zip(arrays, kinds,
                                                                       strict=True)]
        ud = np.zeros(2 * len(self._keep), dtype=np.uint64)
        for i, a in enumerate(self._keep):
            ud[2 * i] = a.ctypes.data
            ud[2 * i + 1] = a.size
        self._keep.append(ud)
        return ud

    def logp_and_grad_numpy(self, x: np.ndarray) -> tuple[float, np.ndarray]:
        """:meth:`logp_and_grad` with numpy and scipy.sparse (no compiled code)."""
        nf, ns = self.nf, self.ns
        b = x[:nf]
        ls = x[nf:nf + ns]
        z = x[nf + ns:]
        s = np.exp(ls)
        s_el = s[self.sigma_of]
        theta = np.empty(self.n_theta)
        theta[:nf] = b
        if self.center is not None:
            theta[0] = b[0] - self.center @ b
        c = self.centred
        hp = self.parent >= 0
        base = np.where(hp, theta[np.maximum(self.parent, 0)], 0.0) if nf else 0.0
        theta[nf:] = np.where(c, z - base, z * s_el)
        u = np.where(c, theta[nf:] / s_el, z)
        d = (b - self.mu) / self.sd
        t = s / self.halfnormal_sd
        eta = self.design @ theta
        lp = (self.lp_const - 0.5 * float(d @ d) - 0.5 * float(t @ t) + float(ls.sum())
              - 0.5 * float(u @ u) - float(ls[self.sigma_of[c]].sum())
              + float(self.successes @ eta - self.trials @ np.logaddexp(0.0, eta)))
        g = self.design_t @ (self.successes - self.trials * expit(eta))
        grad = np.empty_like(x)
        gz = g[nf:]
        total = gz - u / s_el  # d logp / d effect, for a centred effect
        gb = g[:nf].copy()
        np.subtract.at(gb, self.parent[hp], total[hp])  # effect = z - parent
        if self.center is not None:
            g0 = gb[0]
            gb = gb - self.center * g0
            gb[0] = g0
        grad[:nf] = gb - d / self.sd
        grad[nf + ns:] = np.where(c, total, gz * s_el - z)
        grad[nf:nf + ns] = np.bincount(self.sigma_of, weights=np.where(c, u * u - 1.0,
                                                                       gz * z * s_el),
                                       minlength=ns) - t * t + 1.0
        return lp, grad

    # ------------------------------------------------------------------ posterior

    def posterior(self, x: np.ndarray, chain: np.ndarray, draw: np.ndarray) -> xr.Dataset:
        """bambi's posterior variables from unconstrained draws ``x`` (chain, draw, ndim)."""
        nc, nd = x.shape[:2]
        out: dict[str, Any] = {}
        thf = x[:, :, :self.nf].copy()  # fixed part of theta
        if self.center is not None:
            thf[:, :, 0] -= x[:, :, :self.nf] @ self.center
        coords: dict[str, Any] = {"chain": chain, "draw": draw}
        for f in self.fixed:
            v = x[:, :, f.start:f.start + f.size]
            if f.name == "Intercept" and self.center is not None:
                # bambi reports the intercept of the uncentred predictors
                v = v - (x[:, :, :self.nf] @ self.center)[:, :, None]
            if f.dims:
                out[f.name] = (("chain", "draw", *f.dims), v)
                coords[f.dims[0]] = self.coords[f.dims[0]]
            else:
                out[f.name] = (("chain", "draw"), v[:, :, 0])
        for g in self.groups:
            s = np.exp(x[:, :, g.sigma_start:g.sigma_start + g.n_expr])
            n = g.n_levels * g.n_expr
            z = x[:, :, g.offset_start:g.offset_start + n].reshape(nc, nd, g.n_levels, g.n_expr)
            at = g.offset_start - self.nf - self.ns
            cen = self.centred[at:at + n].reshape(g.n_levels, g.n_expr)
            par = self.parent[at:at + n]
            base = np.where(par >= 0, thf[:, :, np.maximum(par, 0)], 0.0) if self.nf else 0.0
            base = np.reshape(base, (nc, nd, g.n_levels, g.n_expr)) if self.nf else 0.0
            eff = np.where(cen, z - base, z * s[:, :, None, :])
            coords[g.factor_dim] = self.coords[g.factor_dim]
            if g.expr_dim is None:
                out[f"{g.name}_sigma"] = (("chain", "draw"), s[:, :, 0])
                out[g.name] = (("chain", "draw", g.factor_dim), eff[..., 0])
            else:
                coords[g.expr_dim] = self.coords[g.expr_dim]
                out[f"{g.name}_sigma"] = (("chain", "draw", g.expr_dim), s)
                out[g.name] = (("chain", "draw", g.expr_dim, g.factor_dim),
                               np.swapaxes(eff, 2, 3))
        order = [v for v in self.var_names if v in out] + [v for v in out
                                                            if v not in self.var_names]
        return xr.Dataset({k: out[k] for k in order}, coords=coords)


# ---------------------------------------------------------------------------- kernel

_KERNELS: dict[str, Any] = {}
FUSED_BELOW = 20_000
"""Cells below which one compiled loop does everything; above, the transcendental functions
run as numpy's vectorised ufuncs (several times faster per cell than the scalar libm calls
of a compiled loop) between a compiled gather and scatter."""


def _kernels() -> dict[str, Any]:
    """The numba kernels (compiled once per machine: cached on disk); empty without numba."""
    if not _KERNELS:
        if numba is None:  # pragma: no cover - numba comes with nutpie
            _KERNELS["none"] = None
        else:
            jit = numba.njit(cache=True, nogil=True)
            g = globals()
            # module globals, so that the kernels calling them are cacheable
            g["_theta_nb"] = jit(_theta_py)
            g["_fused_nb"] = jit(_fused_py)
            g["_grad_nb"] = jit(_grad_py)
            g["_whole_nb"] = jit(_whole_py)
            _KERNELS.update(theta=g["_theta_nb"], fused=g["_fused_nb"], eta=jit(_eta_py),
                            scatter=jit(_scatter_py), grad=g["_grad_nb"], lik=jit(_lik_py),
                            whole=g["_whole_nb"])
    return {} if "none" in _KERNELS else _KERNELS


def _whole_py(x: np.ndarray, nf: int, ns: int, mu: np.ndarray, sd: np.ndarray,
              hsd: np.ndarray, sigma_of: np.ndarray, centred: np.ndarray, parent: np.ndarray,
              center: np.ndarray,
              has_center: bool, p_ptr: np.ndarray, p_idx: np.ndarray, p_val: np.ndarray,
              pat: np.ndarray, b_ptr: np.ndarray, b_idx: np.ndarray, b_val: np.ndarray,
              succ: np.ndarray, trials: np.ndarray) -> tuple[float, np.ndarray]:  # pragma: no cover
    """Log density (no constant) and gradient in one compiled call (small models)."""
    th, lp0 = _theta_nb(x, nf, ns, mu, sd, hsd, sigma_of, centred, parent,  # noqa: F821
                        center, has_center)
    lp1, g = _fused_nb(th, p_ptr, p_idx, p_val, pat, b_ptr, b_idx, b_val,  # noqa: F821
                       succ, trials)
    return lp0 + lp1, _grad_nb(x, g, nf, ns, mu, sd, hsd, sigma_of,  # noqa: F821
                               centred, parent, center, has_center)


_ARRAYS = ("mu", "sd", "halfnormal_sd", "sigma_of", "centred_u8", "center_or_zero",
           "p_ptr", "p_idx", "p_val", "pattern_of", "b_ptr", "b_idx", "b_val", "successes",
           "trials", "scalars", "parent")
"""The arrays a C callback reads, in this order, from ``user_data`` (address, size pairs)."""
_CFUNCS: dict[str, Any] = {}


def _cfuncs() -> dict[str, Any]:
    """numba C callbacks that nutpie calls directly (no Python, no GIL): chains in parallel.

    The log density reads the model's arrays through ``user_data`` (an array of address,
    size pairs; :data:`_ARRAYS`), so one compiled callback (cached on disk) serves every
    model and size. Empty where numba or nutpie's helper is missing.
    """
    if _CFUNCS:
        return {} if "none" in _CFUNCS else _CFUNCS
    try:
        from nutpie.compile_pymc import address_as_void_pointer
    except ImportError:  # pragma: no cover - comes with nutpie
        address_as_void_pointer = None
    if numba is None or address_as_void_pointer is None:  # pragma: no cover
        _CFUNCS["none"] = None
        return {}
    _kernels()
    g = globals()
    g["_void_ptr"] = address_as_void_pointer
    g["_arr_nb"] = numba.njit(inline="always", cache=True)(_arr_py)
    d, u8, i8, vp = (numba.types.double, numba.types.uint64, numba.types.int64,
                     numba.types.voidptr)
    ptr = numba.types.CPointer(d)
    _CFUNCS["logp"] = numba.cfunc(i8(u8, ptr, ptr, ptr, vp), cache=True, nogil=True)(_logp_c)
    _CFUNCS["expand"] = numba.cfunc(i8(u8, u8, ptr, ptr, vp), cache=True,
                                    nogil=True)(_expand_c)
    return _CFUNCS


def _arr_py(ud: np.ndarray, k: int, dtype: Any) -> np.ndarray:  # pragma: no cover - numba
    return numba.carray(_void_ptr(ud[2 * k]), (ud[2 * k + 1],), dtype)  # noqa: F821


def _logp_c(dim: int, x_: Any, out_: Any, logp_: Any, ud_: Any) -> int:  # pragma: no cover
    """nutpie's logp callback: ``x`` -> log density into ``logp_``, gradient into ``out_``."""
    ud = numba.carray(ud_, (2 * len(_ARRAYS),), np.uint64)
    x = numba.carray(x_, (dim,))
    out = numba.carray(out_, (dim,))
    lp_out = numba.carray(logp_, ())
    a = _arr_nb  # noqa: F821
    f8, i8, u8 = np.float64, np.int64, np.uint8
    sc = a(ud, 15, f8)  # nf, ns, has_center, lp_const
    lp, g = _whole_nb(x, int(sc[0]), int(sc[1]), a(ud, 0, f8), a(ud, 1, f8),  # noqa: F821
                      a(ud, 2, f8), a(ud, 3, i8), a(ud, 4, u8), a(ud, 16, i8), a(ud, 5, f8),
                      sc[2] > 0,
                      a(ud, 6, i8), a(ud, 7, i8), a(ud, 8, f8), a(ud, 9, i8), a(ud, 10, i8),
                      a(ud, 11, i8), a(ud, 12, f8), a(ud, 13, f8), a(ud, 14, f8))
    lp += sc[3]
    lp_out[()] = lp
    for j in range(dim):
        out[j] = g[j]
        if not np.isfinite(g[j]):
            return 3
    if not np.isfinite(lp):
        return 4
    return 0


def _expand_c(dim: int, n_expanded: int, x_: Any, out_: Any, ud_: Any) -> int:  # pragma: no cover
    """nutpie's expand callback: the stored draw is ``x`` itself."""
    x = numba.carray(x_, (dim,))
    out = numba.carray(out_, (n_expanded,))
    for j in range(dim):
        out[j] = x[j]
    return 0


def _theta_py(x: np.ndarray, nf: int, ns: int, mu: np.ndarray, sd: np.ndarray,
              hsd: np.ndarray, sigma_of: np.ndarray, centred: np.ndarray, parent: np.ndarray,
              center: np.ndarray, has_center: bool) -> tuple[np.ndarray, float]:
    """Effects ``theta`` from ``x`` and the prior part of the log density (no constants)."""
    nz = x.size - nf - ns
    theta = np.empty(nf + nz)
    lp = 0.0
    for j in range(nf):
        theta[j] = x[j]
        d = (x[j] - mu[j]) / sd[j]
        lp -= 0.5 * d * d
    if has_center:
        c = 0.0
        for j in range(nf):
            c += center[j] * x[j]
        theta[0] = x[0] - c
    s = np.empty(ns)
    for j in range(ns):
        s[j] = np.exp(x[nf + j])
        t = s[j] / hsd[j]
        lp += x[nf + j] - 0.5 * t * t
    for k in range(nz):
        z = x[nf + ns + k]
        if centred[k]:
            if parent[k] >= 0:
                z -= theta[parent[k]]
            theta[nf + k] = z
            u = z / s[sigma_of[k]]
            lp -= 0.5 * u * u + x[nf + sigma_of[k]]
        else:
            theta[nf + k] = z * s[sigma_of[k]]
            lp -= 0.5 * z * z
    return theta, lp


def _eta_py(theta: np.ndarray, p_ptr: np.ndarray, p_idx: np.ndarray, p_val: np.ndarray,
            pat: np.ndarray, b_ptr: np.ndarray, b_idx: np.ndarray, b_val: np.ndarray,
            eta: np.ndarray) -> None:
    """Linear predictor of every cell (into ``eta``): its row pattern's part plus its large
    group terms."""
    eta_p = np.empty(p_ptr.size - 1)
    for k in range(eta_p.size):
        e = 0.0
        for q in range(p_ptr[k], p_ptr[k + 1]):
            e += p_val[q] * theta[p_idx[q]]
        eta_p[k] = e
    for i in range(pat.size):
        e = eta_p[pat[i]]
        for q in range(b_ptr[i], b_ptr[i + 1]):
            e += b_val[q] * theta[b_idx[q]]
        eta[i] = e


def _scatter_py(r: np.ndarray, nt: int, p_ptr: np.ndarray, p_idx: np.ndarray,
                p_val: np.ndarray, pat: np.ndarray, b_ptr: np.ndarray, b_idx: np.ndarray,
                b_val: np.ndarray) -> np.ndarray:
    """``design.T @ r`` through the same pattern + large-term split."""
    g = np.zeros(nt)
    g_p = np.zeros(p_ptr.size - 1)
    for i in range(pat.size):
        g_p[pat[i]] += r[i]
        for q in range(b_ptr[i], b_ptr[i + 1]):
            g[b_idx[q]] += b_val[q] * r[i]
    for k in range(g_p.size):
        for q in range(p_ptr[k], p_ptr[k + 1]):
            g[p_idx[q]] += p_val[q] * g_p[k]
    return g


def _lik_py(eta: np.ndarray, e: np.ndarray, t: np.ndarray, succ: np.ndarray,
            trials: np.ndarray) -> float:
    """Binomial log likelihood (no constant) from ``eta``, ``e = exp(-|eta|)`` and ``t =
    log1p(e)``; the residual ``succ - trials * sigmoid(eta)`` is written into ``t``."""
    lp = 0.0
    for i in range(eta.size):
        q = 1.0 / (1.0 + e[i])
        if eta[i] > 0:
            lp += succ[i] * eta[i] - trials[i] * (eta[i] + t[i])
            t[i] = succ[i] - trials[i] * q
        else:
            lp += succ[i] * eta[i] - trials[i] * t[i]
            t[i] = succ[i] - trials[i] * e[i] * q
    return lp


def _fused_py(theta: np.ndarray, p_ptr: np.ndarray, p_idx: np.ndarray, p_val: np.ndarray,
              pat: np.ndarray, b_ptr: np.ndarray, b_idx: np.ndarray, b_val: np.ndarray,
              succ: np.ndarray, trials: np.ndarray) -> tuple[float, np.ndarray]:
    """Binomial log likelihood (no constant) and ``design.T @ residual`` in one loop."""
    eta_p = np.empty(p_ptr.size - 1)
    for k in range(eta_p.size):
        e = 0.0
        for q in range(p_ptr[k], p_ptr[k + 1]):
            e += p_val[q] * theta[p_idx[q]]
        eta_p[k] = e
    g = np.zeros(theta.size)
    g_p = np.zeros(eta_p.size)
    lp = 0.0
    for i in range(pat.size):
        eta = eta_p[pat[i]]
        for q in range(b_ptr[i], b_ptr[i + 1]):
            eta += b_val[q] * theta[b_idx[q]]
        if eta > 0:
            e = np.exp(-eta)
            sp = eta + np.log1p(e)
            pr = 1.0 / (1.0 + e)
        else:
            e = np.exp(eta)
            sp = np.log1p(e)
            pr = e / (1.0 + e)
        lp += succ[i] * eta - trials[i] * sp
        r = succ[i] - trials[i] * pr
        g_p[pat[i]] += r
        for q in range(b_ptr[i], b_ptr[i + 1]):
            g[b_idx[q]] += b_val[q] * r
    for k in range(g_p.size):
        for q in range(p_ptr[k], p_ptr[k + 1]):
            g[p_idx[q]] += p_val[q] * g_p[k]
    return lp, g


def _grad_py(x: np.ndarray, g: np.ndarray, nf: int, ns: int, mu: np.ndarray,
             sd: np.ndarray, hsd: np.ndarray, sigma_of: np.ndarray, centred: np.ndarray,
             parent: np.ndarray, center: np.ndarray, has_center: bool) -> np.ndarray:
    """Gradient in ``x`` from the likelihood gradient in ``theta`` (``g``) and the priors."""
    nz = x.size - nf - ns
    grad = np.empty(x.size)
    thf = np.empty(nf)  # fixed part of theta
    gf = np.empty(nf)  # d logp / d (fixed part of theta)
    for j in range(nf):
        thf[j] = x[j]
        gf[j] = g[j]
    if has_center:
        c = 0.0
        for j in range(nf):
            c += center[j] * x[j]
        thf[0] = x[0] - c
    s = np.empty(ns)
    for j in range(ns):
        s[j] = np.exp(x[nf + j])
        t = s[j] / hsd[j]
        grad[nf + j] = 1.0 - t * t
    for k in range(nz):
        z = x[nf + ns + k]
        sk = s[sigma_of[k]]
        gk = g[nf + k]
        if centred[k]:
            if parent[k] >= 0:
                z -= thf[parent[k]]
            u = z / sk
            tot = gk - u / sk
            grad[nf + ns + k] = tot
            grad[nf + sigma_of[k]] += u * u - 1.0
            if parent[k] >= 0:
                gf[parent[k]] -= tot
        else:
            grad[nf + ns + k] = gk * sk - z
            grad[nf + sigma_of[k]] += gk * z * sk
    for j in range(nf):
        gj = gf[j]
        if has_center and j > 0:
            gj -= center[j] * gf[0]
        grad[j] = gj - (x[j] - mu[j]) / (sd[j] * sd[j])
    return grad


# ---------------------------------------------------------------------------- building


def _levels(s: pd.Series) -> list[str] | None:
    """Levels in formulae's order (sorted text), or None where a categorical's reference
    level would differ from its first category."""
    levels = sorted(str(v) for v in pd.unique(s.dropna().astype(str)))
    if isinstance(s.dtype, pd.CategoricalDtype):
        used = [str(c) for c in s.cat.categories if str(c) in set(levels)]
        if not used or used[0] != levels[0]:
            return None
    return levels


def _normal_prior(p: Any) -> tuple[np.ndarray, np.ndarray] | None:
    """(mu, sigma) of a bambi ``Normal`` prior with numeric arguments, else None."""
    if getattr(p, "name", None) != "Normal":
        return None
    mu, sd = p.args.get("mu", 0.0), p.args.get("sigma")
    if not isinstance(mu, int | float | np.ndarray) or not isinstance(sd, int | float | np.ndarray):
        return None
    return np.atleast_1d(np.asarray(mu, float)), np.atleast_1d(np.asarray(sd, float))


def _group_sd(p: Any) -> np.ndarray | None:
    """HalfNormal scale of a bambi group prior ``Normal(0, HalfNormal(s))``, else None."""
    if getattr(p, "name", None) != "Normal" or float(p.args.get("mu", 0.0)) != 0.0:
        return None
    hp = p.args.get("sigma")
    if getattr(hp, "name", None) != "HalfNormal":
        return None
    s = hp.args.get("sigma")
    if not isinstance(s, int | float | np.ndarray):
        return None
    return np.atleast_1d(np.asarray(s, float))


def build_cell_model(frame: pd.DataFrame, formula: str, priors: dict[str, Any],
                     terms: list[tuple[str, str, str, str]] | None, *,
                     centre_above: float | str | None = "auto") -> CellModel | None:
    """The cell model of a collapsed frame (``successes``, ``trials``), or None if unsupported.

    ``terms`` are :func:`~bayes_bijstand.models.person_level._additive_terms` of the bambi
    formula. Supported: an intercept, categorical and numeric main effects, group intercepts,
    categorical slopes by group beside a group intercept and numeric slopes by group; every
    group term needs a ``Normal(0, HalfNormal(s))`` prior in ``priors``.
    """
    if terms is None or not {"successes", "trials"} <= set(frame.columns):
        return None
    n = len(frame)
    rows: list[np.ndarray] = []
    cols: list[np.ndarray] = []
    vals: list[np.ndarray] = []
    fixed: list[_Fixed] = []
    groups: list[_Group] = []
    coords: dict[str, list[Any]] = {}
    names: list[str] = []
    x_at = 0
    th_at = 0
    all_rows = np.arange(n)
    rhs = formula.split("~", 1)[1]
    intercept_groups = {grp for _, kind, _, grp in terms if kind == "group"}

    big: list[bool] = []
    fixed_at: dict[str, tuple[int, list[str] | None]] = {}  # column -> theta start, levels

    def add(idx: np.ndarray, val: np.ndarray, large: bool = False) -> None:
        keep = idx >= 0
        rows.append(all_rows[keep])
        cols.append(idx[keep])
        vals.append(val[keep])
        big.append(large)

    # fixed part first (bambi's order of free variables), then group terms
    for _name, kind, col, _ in terms:
        if kind == "intercept":
            p = _normal_prior(priors["Intercept"]) if "Intercept" in priors else (
                np.zeros(1), np.full(1, INTERCEPT_SD))
            if p is None or p[0].size != 1:
                return None
            fixed.append(_Fixed("Intercept", x_at, 1, p[0], p[1], (), th_at))
            add(np.full(n, th_at), np.ones(n))
            names.append("Intercept")
            x_at += 1
            th_at += 1
        elif kind == "fixed":
            s = frame[col]
            numeric = (pd.api.types.is_numeric_dtype(s)
                       and not isinstance(s.dtype, pd.CategoricalDtype))
            if numeric:
                v = s.to_numpy(float)
                sd0 = float(np.std(v))
                if not np.isfinite(sd0) or sd0 == 0:
                    return None
                p = _normal_prior(priors[col]) if col in priors else (np.zeros(1),
                                                                     np.full(1, 1.0 / sd0))
                if p is None or p[0].size > 1 or p[1].size > 1:
                    return None
                fixed.append(_Fixed(col, x_at, 1, p[0], p[1], (), th_at))
                fixed_at[col] = (th_at, None)
                add(np.full(n, th_at), v)
                x_at += 1
                th_at += 1
            else:
                levels = _levels(s)
                if levels is None or len(levels) < 2:
                    return None
                k = len(levels) - 1
                codes = pd.Categorical(s.astype(str), categories=levels).codes
                if (codes < 0).any():
                    return None
                p = _normal_prior(priors[col]) if col in priors else (np.zeros(k),
                                                                     np.full(k, CATEGORICAL_SD))
                if p is None or p[0].size not in (1, k) or p[1].size not in (1, k):
                    return None
                dim = f"{col}_dim"
                coords[dim] = [str(v) for v in levels[1:]]
                fixed.append(_Fixed(col, x_at, k, np.broadcast_to(p[0], k).copy(),
                                    np.broadcast_to(p[1], k).copy(), (dim,), th_at))
                fixed_at[col] = (th_at, levels)
                add(np.where(codes > 0, th_at + codes - 1, -1), np.ones(n))
                x_at += k
                th_at += k
            names.append(col)
        elif kind not in ("group", "slope"):
            return None
    nf = th_at
    pending: list[tuple[str, int, int, np.ndarray, str | None, str]] = []
    parents: list[np.ndarray] = []  # per group term: the fixed effect of each effect, or -1
    has_intercept = bool(fixed) and fixed[0].name == "Intercept"
    for name, kind, col, grp in terms:
        if kind not in ("group", "slope"):
            continue
        if name not in priors:
            return None
        psd = _group_sd(priors[name])
        glevels = _levels(frame[grp])
        if psd is None or glevels is None:
            return None
        gcodes = pd.Categorical(frame[grp].astype(str), categories=glevels).codes
        factor_dim = f"{grp}__factor_dim"
        coords[factor_dim] = list(glevels)
        n_lev = len(glevels)
        s = frame[col] if kind == "slope" else None
        if s is None or _numeric(s):
            n_expr, expr_dim = 1, None
            idx = th_at + gcodes
            val = np.ones(n) if s is None else s.to_numpy(float)
            if s is None:
                par = np.full(n_lev, 0 if has_intercept else -1)
            else:
                f_at = fixed_at.get(col)
                par = np.full(n_lev, f_at[0] if f_at and f_at[1] is None else -1)
        else:
            # a categorical slope beside the group intercept: reference level dropped
            levels = _levels(s)
            if grp not in intercept_groups or levels is None or len(levels) < 2:
                return None
            n_expr = len(levels) - 1
            expr_dim = f"{col}__expr_dim"
            coords[expr_dim] = levels[1:]
            codes = pd.Categorical(s.astype(str), categories=levels).codes
            idx = np.where(codes > 0, th_at + gcodes * n_expr + codes - 1, -1)
            val = np.ones(n)
            f_at = fixed_at.get(col)
            par = np.tile(f_at[0] + np.arange(n_expr) if f_at and f_at[1] == levels
                          else np.full(n_expr, -1), n_lev)
        if psd.size not in (1, n_expr):
            return None
        add(idx, val, large=n_lev * n_expr > LARGE_TERM)
        parents.append(par.astype(np.int64))
        pending.append((name, n_expr, n_lev, np.broadcast_to(psd, n_expr).copy(), expr_dim,
                        factor_dim))
        names += [f"{name}_sigma", name]
        th_at += n_lev * n_expr
    if "|" in rhs and not pending:
        return None
    ns = sum(p[1] for p in pending)
    sig_at, z_at = nf, nf + ns
    sigma_of: list[np.ndarray] = []
    hsd: list[np.ndarray] = []
    for name, n_expr, n_lev, psd, expr_dim, factor_dim in pending:
        groups.append(_Group(name, sig_at, n_expr, z_at, n_lev, psd, z_at - ns, expr_dim,
                             factor_dim))
        sigma_of.append(np.tile(np.arange(sig_at - nf, sig_at - nf + n_expr), n_lev))
        hsd.append(psd)
        sig_at += n_expr
        z_at += n_lev * n_expr
    design = sparse.csr_matrix((np.concatenate(vals), (np.concatenate(rows),
                                                       np.concatenate(cols))),
                               shape=(n, th_at))
    succ = frame["successes"].to_numpy(float)
    tri = frame["trials"].to_numpy(float)
    mu = np.concatenate([f.mu for f in fixed]) if fixed else np.zeros(0)
    sd = np.concatenate([f.sd for f in fixed]) if fixed else np.zeros(0)
    hs = np.concatenate(hsd) if hsd else np.zeros(0)
    nz = th_at - nf
    center = None
    if fixed and fixed[0].name == "Intercept" and nf > 1:
        center = np.asarray(design[:, :nf].mean(axis=0)).ravel()
        center[0] = 0.0
    lp_const = float(np.sum(gammaln(tri + 1) - gammaln(succ + 1) - gammaln(tri - succ + 1))
                     - 0.5 * _LOG_2PI * (nf + nz) - np.log(sd).sum()
                     + ns * 0.5 * math.log(2.0 / math.pi) - np.log(hs).sum())
    sig_of = np.concatenate(sigma_of) if sigma_of else np.zeros(0, dtype=np.intp)
    if centre_above == "auto":
        centre_above = CENTRE_ABOVE
    centred = np.zeros(nz, dtype=bool)
    parent = np.full(nz, -1, dtype=np.int64)
    if centre_above is not None and nz:
        # Fisher information of each group effect (at the overall rate) times the prior
        # scale of its SD squared: where the data say more about the effect than the prior
        # does, the effect is sampled centred around its fixed effect (hierarchical
        # centring); elsewhere non-centred. Each fixed effect is the parent of one group
        # term at most (the most informed), so that no two terms share a ridge with it.
        rate = min(max(succ.sum() / tri.sum(), 1e-3), 1 - 1e-3)
        info = np.asarray(design[:, nf:].multiply(design[:, nf:]).T @ tri).ravel()
        ratio = info * rate * (1 - rate) * hs[sig_of] ** 2
        starts = np.cumsum([0] + [len(p) for p in parents])
        taken: set[int] = set()
        for t in sorted(range(len(parents)),
                        key=lambda t: -float(np.median(ratio[starts[t]:starts[t + 1]]))):
            sl = slice(starts[t], starts[t + 1])
            par = parents[t]
            if (par < 0).all() or taken & set(par[par >= 0].tolist()):
                continue
            use = (ratio[sl] > centre_above) & (par >= 0)
            if use.any():
                centred[sl] = use
                parent[sl] = np.where(use, par, -1)
                taken |= set(par[use].tolist())
    small = [i for i, b in enumerate(big) if not b]
    large = [i for i, b in enumerate(big) if b]

    def part(idx: list[int]) -> sparse.csr_matrix:
        if not idx:
            return sparse.csr_matrix((n, th_at))
        return sparse.csr_matrix((np.concatenate([vals[i] for i in idx]),
                                  (np.concatenate([rows[i] for i in idx]),
                                   np.concatenate([cols[i] for i in idx]))), shape=(n, th_at))

    patterns, pattern_of = _row_patterns(part(small))
    return CellModel(design, design.T.tocsr(), succ, tri, 0.0, nf + ns + nz, fixed, groups,
                     coords, "p(successes, trials)", nf, ns, mu, sd, hs, sig_of, centred,
                     parent, center, names, lp_const, patterns, pattern_of, part(large))


def _row_patterns(m: sparse.csr_matrix) -> tuple[sparse.csr_matrix, np.ndarray]:
    """Distinct rows of ``m`` and each row's index among them (``m = patterns[of]``)."""
    used = np.unique(m.indices)
    if m.shape[0] * max(len(used), 1) > 50_000_000:  # too wide to deduplicate densely
        return m, np.arange(m.shape[0], dtype=np.intp)
    dense = m[:, used].toarray()
    uniq, of = np.unique(dense, axis=0, return_inverse=True)
    r, c = np.nonzero(uniq)
    pat = sparse.csr_matrix((uniq[r, c], (r, used[c])), shape=(len(uniq), m.shape[1]))
    return pat, np.ascontiguousarray(of.ravel(), dtype=np.intp)


def _numeric(s: pd.Series) -> bool:
    return pd.api.types.is_numeric_dtype(s) and not isinstance(s.dtype, pd.CategoricalDtype)


def sample_cells(cm: CellModel, *, draws: int, tune: int, chains: int, seed: int,
                 target_accept: float, cores: int | None = None,
                 progressbar: bool = False, adaptation: str = "diag") -> Any:
    """NUTS (nutpie) on the cell model; a tree with bambi's groups and variable names."""
    import nutpie
    from nutpie.compiled_pyfunc import from_pyfunc

    ndim = cm.ndim

    def make_logp() -> Any:
        fn = cm.logp_function()
        return lambda x, **_: fn(x)

    def make_expand(seed1: int, seed2: int, chain: int) -> Any:
        return lambda x, **_: {"x": np.array(x, dtype=float)}

    def init(seed_: int) -> np.ndarray:
        # PyMC's jitter: uniform(-1, 1) around the initial point (0 for offsets, effects
        # and log sigma alike)
        return np.random.default_rng(seed_).uniform(-1.0, 1.0, ndim)

    cf = _cfuncs() if len(cm.successes) < FUSED_BELOW or CALLBACK_ALWAYS else {}
    if cf:
        from nutpie.compile_pymc import CompiledPyMCModel

        model: Any = CompiledPyMCModel(
            dims={"x": ("x_dim",)}, compiled_logp_func=cf["logp"],
            compiled_expand_func=cf["expand"], initial_point_func=init, shared_data={},
            shared_var_keys={}, user_data=cm.user_data(), n_expanded=ndim,
            shape_info=(["x"], [slice(0, ndim)], [(ndim,)]), logp_func=None,
            expand_func=None, _n_dim=ndim, _shapes={"x": (ndim,)},
            _coords={"x_dim": np.arange(ndim)})
    else:
        model = from_pyfunc(ndim, make_logp, make_expand, [np.dtype("float64")], [(ndim,)],
                            ["x"], make_initial_point_fn=init, dims={"x": ("x_dim",)},
                            coords={"x_dim": np.arange(ndim)})
    # chains share the interpreter (threads): more threads than cores only add contention
    # (measured at 6k: 4 threads on 2 cores took 2.4x the CPU time of 1)
    cores = cores or min(chains, os.cpu_count() or 1)
    raw = nutpie.sample(model, draws=draws, tune=tune, chains=chains,
                        cores=max(1, min(cores, chains)), seed=seed,
                        target_accept=target_accept, progress_bar=progressbar,
                        save_warmup=False, adaptation=adaptation)
    xs = raw["posterior"].to_dataset()["x"]
    post = cm.posterior(np.asarray(xs.transpose("chain", "draw", ...).values),
                        xs["chain"].values, xs["draw"].values)
    stats = raw["sample_stats"].to_dataset()
    stats = stats[[v for v in stats.data_vars if not set(stats[v].dims) - {"chain", "draw"}]]
    obs = xr.Dataset({cm.outcome_name: (("__obs__",), cm.successes.astype(np.int64))},
                     coords={"__obs__": np.arange(len(cm.successes))})
    return xr.DataTree.from_dict({"posterior": post, "sample_stats": stats,
                                  "constant_data": xr.Dataset(), "observed_data": obs})
