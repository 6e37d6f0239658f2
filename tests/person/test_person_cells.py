"""The cell log density (the default nutpie path of fit_person) is bambi's model."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

from bayes_bijstand.models.person_cells import build_cell_model
from bayes_bijstand.models.person_level import (
    DEFAULT_FORMULA,
    _additive_terms,
    _term_in,
    default_priors,
    fit_person,
    prepare,
)

LEAN = ("work_gt12h_m24 ~ arm + sex + benefit_duration + (arm | gemeente) "
        "+ (1 | gemeente:coach)")


def _cells(data: pd.DataFrame, formula: str, **kw: object):  # noqa: ANN202
    prep = prepare(data, formula=formula, **kw)
    pri = {k: v for k, v in default_priors(prep.family).items() if _term_in(k, prep.formula)}
    return prep, pri, build_cell_model(prep.frame, prep.formula, pri,
                                       _additive_terms(prep.formula))


def _point(cm, x: np.ndarray) -> dict[str, np.ndarray]:  # noqa: ANN001
    """PyMC's value variables of bambi's model at the cell model's position ``x``."""
    pt: dict[str, np.ndarray] = {}
    for f in cm.fixed:
        v = x[f.start:f.start + f.size]
        pt[f.name] = v if f.dims else v.reshape(())
    for g in cm.groups:
        ls = x[g.sigma_start:g.sigma_start + g.n_expr]
        z = x[g.offset_start:g.offset_start + g.n_levels * g.n_expr]
        pt[f"{g.name}_sigma_log__"] = ls if g.expr_dim else ls.reshape(())
        pt[f"{g.name}_offset"] = z.reshape(g.n_levels, g.n_expr) if g.expr_dim else z
    return pt


def test_logp_and_gradient_equal_pymc_for_the_bambi_model(small_data) -> None:
    """Same parameters, priors, centring and constants: PyMC's log density and gradient
    of bambi's model, at random points (so the same posterior). The default formula has
    every supported kind of term: intercept, categorical and numeric main effects, a group
    intercept, a categorical slope by group and numeric slopes by group."""
    import bambi as bmb

    prep, pri, cm = _cells(small_data, DEFAULT_FORMULA)
    assert cm is not None
    model = bmb.Model(prep.formula, prep.frame, family=prep.family, priors=pri)
    model.build()
    pm_model = model.backend.model
    assert {v.name for v in pm_model.value_vars} == set(_point(cm, np.zeros(cm.ndim)))
    # Python implementations (no C compile): three evaluations only
    logp = pm_model.compile_logp(mode="FAST_COMPILE")
    dlogp = pm_model.compile_dlogp(mode="FAST_COMPILE")
    order = [v.name for v in pm_model.value_vars]
    rng = np.random.default_rng(3)
    for _ in range(3):
        x = rng.normal(size=cm.ndim) * 0.7
        pt = _point(cm, x)
        lp, grad = cm.logp_and_grad(x)
        assert lp == pytest.approx(float(logp(pt)), abs=1e-8)
        # PyMC's gradient, flattened in its value-variable order, mapped back onto x
        want = np.asarray(dlogp(pt))
        pos = {name: i for i, name in enumerate(order)}
        got = np.concatenate([np.ravel(_grad_block(cm, grad, name)) for name in
                              sorted(pos, key=pos.get)])
        np.testing.assert_allclose(got, want, rtol=1e-7, atol=1e-7)


def _grad_block(cm, grad: np.ndarray, name: str) -> np.ndarray:  # noqa: ANN001
    for f in cm.fixed:
        if f.name == name:
            return grad[f.start:f.start + f.size]
    for g in cm.groups:
        if name == f"{g.name}_sigma_log__":
            return grad[g.sigma_start:g.sigma_start + g.n_expr]
        if name == f"{g.name}_offset":
            return grad[g.offset_start:g.offset_start + g.n_levels * g.n_expr]
    raise KeyError(name)


@pytest.mark.parametrize("fused", [True, False])
def test_compiled_kernel_equals_numpy_reference(small_data, fused, monkeypatch) -> None:
    from bayes_bijstand.models import person_cells

    # both kernels: one loop (small models) and gather / numpy ufuncs / scatter (large)
    monkeypatch.setattr(person_cells, "FUSED_BELOW", 10**9 if fused else 0)
    monkeypatch.setattr(person_cells, "LARGE_TERM", 2)  # group terms cell by cell
    _, _, cm = _cells(small_data, DEFAULT_FORMULA)
    assert cm.patterns.shape[0] < cm.design.shape[0] and cm.large.nnz > 0
    rng = np.random.default_rng(5)
    for centred, parent in ((False, False), (True, False), (True, True)):
        cm.centred[:] = centred
        cm.parent[:] = _parents(small_data, DEFAULT_FORMULA) if parent else -1
        if parent:
            assert (cm.parent >= 0).any()
        for _ in range(3):
            x = rng.normal(size=cm.ndim)
            a, b = cm.logp_and_grad(x), cm.logp_and_grad_numpy(x)
            assert a[0] == pytest.approx(b[0], abs=1e-8)
            np.testing.assert_allclose(a[1], b[1], rtol=1e-9, atol=1e-9)
        # the gradient is the derivative of the log density
        x = rng.normal(size=cm.ndim) * 0.5
        idx = rng.choice(cm.ndim, 6, replace=False)
        e = np.eye(cm.ndim)[idx] * 1e-6
        fd = [(cm.logp_and_grad(x + d)[0] - cm.logp_and_grad(x - d)[0]) / 2e-6 for d in e]
        np.testing.assert_allclose(fd, cm.logp_and_grad(x)[1][idx], rtol=1e-5, atol=1e-5)


def test_unsupported_models_use_bambi(small_data) -> None:
    prep, pri, _ = _cells(small_data, LEAN)
    # an interaction is not an additive term set the cell model knows
    f = prep.formula.replace("+ sex", "+ sex:benefit_duration")
    assert build_cell_model(prep.frame, f, pri, _additive_terms(f)) is None
    # a group term without an explicit SD prior (bambi scales it from the data)
    assert build_cell_model(prep.frame, prep.formula, {}, _additive_terms(prep.formula)) \
        is None


@pytest.mark.slow
def test_cell_fit_matches_bambi_fit(small_data, small_fit, settings) -> None:
    """The default nutpie path samples the cell model; its posterior agrees with bambi's
    (PyMC sampler, the session fit) within Monte Carlo error, with the same variables."""
    kw = {**settings["fit"], "sampler": "nutpie", "draws": 500, "tune": 500}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = fit_person(small_data, random_seed=1, **kw)
    assert res.engine == "cells" and small_fit.engine == "bambi"
    assert int(res.tree["sample_stats"]["diverging"].sum()) == 0
    a, b = res.tree["posterior"], small_fit.tree["posterior"]
    assert set(a.data_vars) == set(b.data_vars)
    for v in a.data_vars:
        assert a[v].dims == b[v].dims
        for d in a[v].dims[2:]:
            assert list(a[v][d].values) == list(b[v][d].values)
    sa = res.summary().set_index(["term", "arm"])
    sb = small_fit.summary().set_index(["term", "arm"])
    assert list(sa.index) == list(sb.index)
    for key in sa.index:
        if key[0] not in ("arm", "ame", "sigma_coach"):
            continue
        ra, rb = sa.loc[key], sb.loc[key]
        mcse = np.hypot(ra["se"] / np.sqrt(ra["ess_bulk"]), rb["se"] / np.sqrt(rb["ess_bulk"]))
        assert abs(ra["estimate"] - rb["estimate"]) < 4 * mcse, (key, ra, rb)
        assert ra["se"] == pytest.approx(rb["se"], rel=0.35), key


def _parents(data: pd.DataFrame, formula: str) -> np.ndarray:
    """The parents that hierarchical centring gives every eligible group effect."""
    prep = prepare(data, formula=formula)
    pri = {k: v for k, v in default_priors(prep.family).items() if _term_in(k, prep.formula)}
    cm = build_cell_model(prep.frame, prep.formula, pri, _additive_terms(prep.formula),
                          centre_above=0.0)
    return cm.parent.copy()


@pytest.mark.parametrize("formula", [DEFAULT_FORMULA, LEAN])
def test_hierarchical_centring_is_the_same_posterior(small_data, formula) -> None:
    """Sampling group effects as ``fixed effect + effect`` (hierarchical centring) changes
    the coordinates, not the distribution: at matched points the log density differs from
    bambi's non-centred one by exactly the log Jacobian (``-log sigma`` per effect sampled
    on the effect scale; the shift by the fixed effect has Jacobian 1), so both give the
    same posterior; and the posterior's group effects are the same numbers."""
    prep, pri, ref = _cells(small_data, formula)
    terms = _additive_terms(prep.formula)
    hc = build_cell_model(prep.frame, prep.formula, pri, terms, centre_above=0.0)
    assert (hc.parent >= 0).any() and not ref.centred.any()
    # gemeente terms get parents (where their cells inform them); the nested coach term
    # does not share the intercept
    names = {g.name: g for g in hc.groups}
    for g in hc.groups:
        sl = slice(g.offset_start - hc.nf - hc.ns,
                   g.offset_start - hc.nf - hc.ns + g.n_levels * g.n_expr)
        if g.name.endswith("|gemeente"):
            assert (hc.parent[sl] >= 0).any(), g.name
        elif ":" in g.name:
            assert (hc.parent[sl] < 0).all(), g.name
    assert names
    rng = np.random.default_rng(11)
    nf, ns = ref.nf, ref.ns
    for _ in range(4):
        x = rng.normal(size=ref.ndim) * 0.6
        thf = x[:nf].copy()
        thf[0] -= ref.center @ x[:nf]
        s = np.exp(x[nf:nf + ns])[ref.sigma_of]
        eff = x[nf + ns:] * s
        x2 = x.copy()
        base = np.where(hc.parent >= 0, thf[np.maximum(hc.parent, 0)], 0.0)
        x2[nf + ns:] = np.where(hc.centred, eff + base, x[nf + ns:])
        lp1, lp2 = ref.logp_and_grad(x)[0], hc.logp_and_grad(x2)[0]
        jac = float(np.log(s[hc.centred]).sum())
        assert lp2 == pytest.approx(lp1 - jac, abs=1e-8)
        assert hc.logp_and_grad_numpy(x2)[0] == pytest.approx(lp2, abs=1e-8)
        p1 = ref.posterior(x[None, None], np.arange(1), np.arange(1))
        p2 = hc.posterior(x2[None, None], np.arange(1), np.arange(1))
        for v in p1.data_vars:
            np.testing.assert_allclose(p2[v].values, p1[v].values, rtol=1e-10, atol=1e-10)
    # gradient: compiled == numpy reference == finite differences
    x2 = rng.normal(size=hc.ndim) * 0.5
    a, b = hc.logp_and_grad(x2), hc.logp_and_grad_numpy(x2)
    np.testing.assert_allclose(a[1], b[1], rtol=1e-9, atol=1e-9)
    idx = np.r_[np.arange(nf + ns), rng.choice(np.arange(nf + ns, hc.ndim), 6, replace=False)]
    e = np.eye(hc.ndim)[idx] * 1e-6
    fd = [(hc.logp_and_grad(x2 + d)[0] - hc.logp_and_grad(x2 - d)[0]) / 2e-6 for d in e]
    np.testing.assert_allclose(fd, a[1][idx], rtol=1e-5, atol=1e-5)
