"""The one summary-level model: padding keeps the posterior, every sampler runs the same graph.

The log-density tests need no sampling and no numba: the graph is evaluated with PyTensor's
Python implementations (``FAST_COMPILE``: nothing to compile) at matching parameter points,
once at the outcome's exact sizes and once at the default padding. Padded slots are
prior-only, so the two log densities agree up to a constant: the tests compare the
difference between two parameter points. The closed-form test checks the graph's log
density against a normal-normal model written out with scipy.
"""

from __future__ import annotations

import os
from dataclasses import replace

import numpy as np
import pytest
from scipy import stats

from bayes_bijstand.evidence.load import load_evidence
from bayes_bijstand.evidence.outcomes import outcome_kind
from bayes_bijstand.models import backends
from bayes_bijstand.models.selection import select_rows
from bayes_bijstand.models.summary_level import (
    PadSizes,
    build_graph,
    build_model,
    choose_sizes,
    exact_sizes,
    model_arrays,
    prepare,
    set_model_data,
)
from bayes_bijstand.specs import ModelSpec, SamplerSpec

SPEC = ModelSpec(name="test")


@pytest.fixture(scope="module")
def evidence():
    return load_evidence()


def _data(evidence, outcome: str, spec: ModelSpec = SPEC):
    kind = outcome_kind(outcome)
    return prepare(select_rows(evidence, outcome, kind, spec), outcome, kind, spec)


def _embed(small: dict[str, np.ndarray], base: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """``base`` with each value array's leading corner replaced by ``small``'s array.

    Every dimension of the graph is a list of slots that an outcome fills from the front
    (the CPCs of the leading k x k block of the correlation come first in row-major order),
    so the point of a smaller padding sits in the leading corner of a larger one.
    """
    out = {k: np.array(v, dtype=float, copy=True) for k, v in base.items()}
    for k, v in small.items():
        v = np.asarray(v, dtype=float)
        out[k][tuple(slice(0, n) for n in v.shape)] = v
    return out


# social_trust: prose rows with and without a sign; wellbeing: a prose row that observes
# two bands of z (significant, direction not reported).
@pytest.mark.parametrize(("outcome", "pooling"), [
    ("work_gt8h", "partial"), ("work_gt12h", "partial"), ("outflow_work", "partial"),
    ("income_gt70_wml", "partial"), ("social_trust", "partial"), ("wellbeing", "partial"),
    ("work_gt8h", "full"), ("work_gt8h", "none"), ("wellbeing", "none")])
def test_padding_keeps_the_log_density(evidence, outcome, pooling):
    """At the outcome's exact sizes and at the default padding the model is the same."""
    data = _data(evidence, outcome)
    small = build_model(data, SPEC, pooling=pooling, sizes=exact_sizes(data))
    big = build_model(data, SPEC, pooling=pooling, sizes=PadSizes(
        **{k: v if isinstance(v, bool) else v + 3 for k, v in vars(choose_sizes(data)).items()}))
    lp_small = small.compile_logp(mode="FAST_COMPILE")
    lp_big = big.compile_logp(mode="FAST_COMPILE")
    rng = np.random.default_rng(5)
    base = {k: rng.normal(0, 0.5, np.shape(v)) for k, v in big.initial_point().items()}
    vals = []
    for _ in range(2):
        pt_small = {k: rng.normal(0, 0.7, np.shape(v)) for k, v in small.initial_point().items()}
        vals.append((lp_small(pt_small), lp_big(_embed(pt_small, base))))
    (s1, b1), (s2, b2) = vals
    assert np.isfinite([s1, b1, s2, b2]).all()
    assert s1 - s2 == pytest.approx(b1 - b2, rel=1e-8, abs=1e-8)


@pytest.mark.parametrize(("outcome", "pooling"), [
    ("work_gt8h", "partial"), ("work_gt12h", "none"), ("outflow_work", "partial"),
    ("income_gt70_wml", "full"), ("social_trust", "partial"), ("wellbeing", "partial")])
def test_indexed_rows_give_the_same_model(evidence, outcome, pooling):
    """Rows by index (gathers, banded whitening) and rows by one-hot matrices are the same
    model: equal log densities and pointwise outputs (to rounding) at random points."""
    data = _data(evidence, outcome)
    dense = choose_sizes(data)
    assert not dense.indexed  # the shipped evidence keeps the one-hot form
    indexed = replace(dense, indexed=True)
    models = [build_model(data, SPEC, pooling=pooling, sizes=s) for s in (dense, indexed)]
    fns = [m.compile_logp(mode="FAST_COMPILE") for m in models]
    rng = np.random.default_rng(3)
    for _ in range(3):
        point = {k: rng.normal(0, 0.7, np.shape(v)) for k, v in models[0].initial_point().items()}
        a, b = (f(point) for f in fns)
        assert np.isfinite(a) and b == pytest.approx(a, rel=1e-12, abs=1e-10)
    raw = _random_draws(models[0], rng, lead=(1, 3))
    outs = [backends.graph_outputs(s, model_arrays(data, SPEC, s, pooling=pooling), raw, seed=1)
            for s in (dense, indexed)]
    for k in ("loglik_gemeente", "row_mean_g", "row_mean_c", "row_mean_b", "theta", "se_row"):
        np.testing.assert_allclose(outs[1][k], outs[0][k], rtol=1e-12, atol=1e-12, err_msg=k)
    # y_rep: the same noise through the same factor L
    np.testing.assert_allclose(outs[1]["y_rep"], outs[0]["y_rep"], rtol=1e-9, atol=1e-12)


def test_many_municipalities_cost_linear_arrays(tmp_path):
    """1,000 municipalities: the padding switches to indexed rows and the model's data
    grow linearly (no rows x municipalities or rows x rows array)."""
    data = _data(_normal_normal_evidence(tmp_path, k=1000), "work_gt12h")
    sizes = choose_sizes(data)
    assert sizes.indexed and sizes.gemeente >= 1000 and sizes.band == PadSizes().band
    arrays = model_arrays(data, SPEC, sizes, pooling="partial")
    assert max(np.size(v) for v in arrays.values()) <= 8 * sizes.gemeente
    assert sum(np.size(v) for v in arrays.values()) < 60 * sizes.gemeente


@pytest.mark.parametrize("n", [12, 90])  # the dense factorisation, and one per block
def test_whitening_band_is_the_inverse_cholesky_factor(n):
    """The banded whitening holds L^-1 and L of a block-diagonal correlation (blocks not
    contiguous), and log det L, over padded slots."""
    from bayes_bijstand.models.summary_level import corr_blocks, whitening_band

    rng = np.random.default_rng(n)
    lab = rng.integers(0, n // 3, n)
    R = np.eye(n)
    for b in np.unique(lab):
        ix = np.flatnonzero(lab == b)
        X = rng.normal(size=(len(ix), len(ix) + 2))
        C = X @ X.T
        d = np.sqrt(np.diag(C))
        R[np.ix_(ix, ix)] = C / np.outer(d, d)
    width = int(np.bincount(corr_blocks(R)).max())
    slots = n + 3
    cols, inv, fwd, diag, logdet = whitening_band(R, slots, width)
    full = np.eye(slots)
    full[:n, :n] = R
    L = np.linalg.cholesky(full)
    dense_inv, dense_fwd = np.zeros_like(full), np.zeros_like(full)
    for i in range(slots):
        for k in range(width):
            dense_inv[i, int(cols[i, k])] += inv[i, k]
            dense_fwd[i, int(cols[i, k])] += fwd[i, k]
    np.testing.assert_allclose(dense_fwd, L, atol=1e-12)
    np.testing.assert_allclose(dense_inv, np.linalg.inv(L), atol=1e-10)
    np.testing.assert_allclose(diag, np.diag(np.linalg.inv(L)), atol=1e-10)
    assert logdet == pytest.approx(np.log(np.diag(L)).sum(), abs=1e-10)


def test_log_density_is_the_normal_normal_model(tmp_path):
    """Gaussian rows with known SEs, one component: the graph's log density is, up to a
    constant, N(mu; 0, mu_sd) HalfNormal(tau; tau_sd) prod N(z_g) N(y_g; mu + tau z_g, s_g)
    (written out here with scipy, in the sampler's unconstrained coordinates)."""
    data, spec = _normal_normal_data(tmp_path)
    model = build_model(data, spec, sizes=exact_sizes(data))
    lp = model.compile_logp(mode="FAST_COMPILE")
    pri = spec.priors(data.kind)
    y, s = data.rows["y"].to_numpy(float), data.rows["se"].to_numpy(float)
    rng = np.random.default_rng(1)
    base = {k: rng.normal(0, 0.5, np.shape(v)) for k, v in model.initial_point().items()}
    got, want = [], []
    for _ in range(3):
        p = dict(base)
        p["mu_raw"] = rng.normal(size=1)
        p["tau_raw_log__"] = rng.normal(-0.5, 0.5, size=1)
        p["z_offset"] = rng.normal(size=(len(y), 1))
        got.append(lp(p))
        mu = pri.mu_sd * p["mu_raw"][0]
        tau = pri.tau_sd * np.exp(p["tau_raw_log__"][0])
        z = p["z_offset"][:, 0]
        want.append(stats.norm.logpdf(mu, 0, pri.mu_sd) + np.log(pri.mu_sd)  # d mu / d mu_raw
                    + stats.halfnorm.logpdf(tau, scale=pri.tau_sd) + np.log(tau)  # log transform
                    + stats.norm.logpdf(z).sum()
                    + stats.norm.logpdf(y, mu + tau * z, s).sum())
    np.testing.assert_allclose(np.diff(got), np.diff(want), rtol=1e-9, atol=1e-9)


# --------------------------------------------------------------------------------------
# Normal-normal configuration: the exact quadrature posterior is the oracle
# --------------------------------------------------------------------------------------

NN_K = 8  # municipalities: the default padding, so the fit shares the session's compile


def _normal_normal_evidence(tmp_path, k: int = NN_K, seed: int = 11):
    """``k`` municipalities, one arm, one Gaussian row each with its SE (a user's file)."""
    import pandas as pd

    rng = np.random.default_rng(seed)
    se = rng.uniform(0.02, 0.05, k)
    y = 0.03 + 0.03 * rng.standard_normal(k) + se * rng.standard_normal(k)
    rows = [{"gemeente": f"stad_{i}", "arm": "extra_hulp", "outcome": "work_gt12h",
             "comparison": "vs_control", "scale": "proportion", "n_treatment": 400,
             "n_control": 400, "control_mean": 0.25, "estimate": round(float(y[i]), 6),
             "se": round(float(se[i]), 6)} for i in range(k)]
    path = tmp_path / "normal_normal.csv"
    pd.DataFrame(rows).to_csv(path, index=False)
    return load_evidence(path)


def _normal_normal_data(tmp_path, spec: ModelSpec = SPEC):
    data = _data(_normal_normal_evidence(tmp_path), "work_gt12h", spec)
    assert set(data.rows["grade"]) == {"se"} and data.components == ("extra_hulp",)
    return data, spec


@pytest.fixture(scope="module")
def nn_fit(tmp_path_factory):
    """The normal-normal configuration fitted as the CLI fits it (default spec, its sampler)."""
    from bayes_bijstand.meta import fit_meta
    from bayes_bijstand.specs import default_spec_path, load_spec

    spec = load_spec(default_spec_path()).with_overrides(draws=1000, tune=1000, chains=2)
    ev = _normal_normal_evidence(tmp_path_factory.mktemp("nn"))
    return fit_meta(ev, spec, "work_gt12h", exact=False)  # the MCMC path, validated


def test_production_fit_matches_the_exact_posterior(nn_fit):
    """``fit_meta`` with the default spec's sampler (what the CLI runs) agrees with the
    exact quadrature posterior of the same normal-normal model within Monte Carlo error."""
    from arviz_stats import ess

    from bayes_bijstand.models.quadrature import exact_normal_normal

    res, spec = nn_fit, nn_fit.spec
    assert res.diagnostics.passed, res.diagnostics.problems
    rows = res.data.rows
    pri = spec.priors(res.kind)
    exact = exact_normal_normal(rows["y"].to_numpy(float), rows["se"].to_numpy(float),
                                mu_prior=(0.0, pri.mu_sd), tau_prior=("halfnormal", pri.tau_sd))
    post = res.posterior
    checks = {"mu_arm": (exact.mu_mean, exact.mu_sd),
              "tau_arm": (exact.tau_mean, exact.tau_sd),
              "theta_new": (exact.theta_new_mean, exact.theta_new_sd)}
    for name, (mean, sd) in checks.items():
        draws = post[name].sel(arm="extra_hulp")
        n_eff = float(np.asarray(ess(draws.values[..., None], method="mean")).ravel()[0])
        mcse = sd / np.sqrt(n_eff)
        got = float(draws.mean())
        # 4 MCSE: a false alarm in about 1 in 16,000 runs per quantity.
        assert abs(got - mean) < 4 * mcse, (name, got, mean, mcse)
    mu = post["mu_arm"].sel(arm="extra_hulp")
    for q in (0.05, 0.5, 0.95):
        got = float(np.quantile(mu, q))
        want = float(exact.mu_quantile(q))
        n_q = float(np.asarray(ess(mu.values[..., None], method="quantile", prob=q)).ravel()[0])
        # The quantile's Monte Carlo SE: sqrt(q (1 - q) / n_eff) / density at the quantile.
        mcse = np.sqrt(q * (1 - q) / n_q) / float(exact.mu_pdf(want))
        assert abs(got - want) < 4 * mcse, (q, got, want, mcse)


@pytest.mark.parametrize("pooling", ["partial", "full", "none"])
def test_exact_path_draws_the_exact_posterior(tmp_path, pooling):
    """A normal-normal file of many municipalities takes the exact path (nothing compiled,
    no MCMC) in every pooling mode; its draws have the closed-form / quadrature posterior
    moments and the gate passes."""
    from bayes_bijstand.meta import fit_meta
    from bayes_bijstand.models.quadrature import exact_normal_normal
    from bayes_bijstand.specs import default_spec_path, load_spec

    spec = load_spec(default_spec_path()).with_overrides(draws=600, chains=2)
    ev = _normal_normal_evidence(tmp_path, k=120)
    compiles = len(backends.COMPILE_LOG)
    res = fit_meta(ev, spec, "work_gt12h", pooling=pooling, prior_predictive=False)
    assert len(backends.COMPILE_LOG) == compiles  # no model was compiled
    assert res.tree.attrs["sampler"] == backends.EXACT
    assert res.diagnostics.passed, res.diagnostics.problems
    rows = res.data.rows
    y, s = rows["y"].to_numpy(float), rows["se"].to_numpy(float)
    pri = spec.priors(res.kind)
    theta = res.posterior["theta"].sel(arm="extra_hulp").values.reshape(-1, len(y))
    n = theta.shape[0]
    if pooling == "partial":
        ex = exact_normal_normal(y, s, mu_prior=(0.0, pri.mu_sd), tau_prior=("halfnormal", pri.tau_sd))
        mu = res.posterior["mu_arm"].values.ravel()
        assert abs(mu.mean() - ex.mu_mean) < 4 * ex.mu_sd / np.sqrt(n)
        tau = res.posterior["tau_arm"].values.ravel()
        assert abs(tau.mean() - ex.tau_mean) < 4 * ex.tau_sd / np.sqrt(n)
        want, sd = ex.theta_mean[:3], ex.theta_sd[:3]
    elif pooling == "full":
        prec = 1 / pri.mu_sd**2 + np.sum(1 / s**2)
        want, sd = np.full(3, np.sum(y / s**2) / prec), np.full(3, prec**-0.5)
    else:
        prec = 1 / (pri.mu_sd**2 + pri.tau_sd**2) + 1 / s[:3] ** 2
        want, sd = (y[:3] / s[:3] ** 2) / prec, prec**-0.5
    np.testing.assert_array_less(np.abs(theta[:, :3].mean(axis=0) - want), 4 * sd / np.sqrt(n))
    assert fit_meta(ev, spec, "work_gt12h", pooling=pooling, prior_predictive=False
                    ).posterior["theta"].equals(res.posterior["theta"])  # seeded


@pytest.mark.filterwarnings("ignore:Estimated shape parameter of Pareto")
def test_stored_fit_carries_log_likelihood_and_log_prior(nn_fit, tmp_path):
    """A fit written to netCDF and read back has per-municipality ``log_likelihood`` and a
    ``log_prior`` group: ``arviz_stats.loo`` (leave one municipality out), ``compare`` and
    ``psense`` run on it; the predictive groups come from the graph."""
    import xarray as xr
    from arviz_stats import compare, loo, psense

    path = nn_fit.to_netcdf(tmp_path / "fit.nc")
    tree = xr.open_datatree(path, engine="h5netcdf")
    ll = tree["log_likelihood"].to_dataset()
    assert list(ll.data_vars) == [backends.LOGLIK]
    assert list(ll[backends.LOGLIK].coords["gemeente"].values) == list(nn_fit.data.gemeenten)
    res = loo(tree)
    assert np.isfinite(res.elpd) and res.pareto_k.shape[-1] == NN_K
    # The sum over municipalities is the log-likelihood of all rows; with one row each it is
    # the normal density of the row given the draw's theta.
    post = tree["posterior"].to_dataset()
    rows = nn_fit.data.rows
    theta = post["theta"].sel(arm="extra_hulp").values
    want = stats.norm.logpdf(rows["y"].to_numpy(float), theta, rows["se"].to_numpy(float))
    np.testing.assert_allclose(ll[backends.LOGLIK].values, want, rtol=1e-9, atol=1e-9)
    assert set(tree["log_prior"].to_dataset().data_vars) >= {"mu_raw", "tau_raw", "z_offset"}
    sens = psense(tree, var_names=["mu_arm", "tau_arm"])
    assert np.isfinite(np.asarray(sens["mu_arm"])).all()
    assert compare({"a": tree, "b": tree}).shape[0] == 2
    pp = tree["posterior_predictive"].to_dataset()["y"]
    # one replicate per posterior draw (a gate retry for ESS may have drawn more than 1000)
    assert pp.shape == (2, post.sizes["draw"], NN_K) and post.sizes["draw"] >= 1000
    # Replicated rows: mean theta, spread SE (per row, over all draws).
    resid = (pp.values - theta) / rows["se"].to_numpy(float)
    assert abs(resid.mean()) < 0.05 and abs(resid.std() - 1) < 0.05
    prior = tree["prior"].to_dataset()
    assert prior["mu"].shape == (1, 1000, 1)


@pytest.mark.parametrize("outcome", ["work_gt12h", "social_trust"])
def test_evidence_group_round_trips(evidence, outcome):
    """The stored evidence table reads back with the same columns, values and dtypes."""
    import pandas as pd

    from bayes_bijstand.meta import _evidence_group, _table_from_group

    kind = outcome_kind(outcome)
    table = select_rows(evidence, outcome, kind, SPEC).reset_index(drop=True)
    group = _evidence_group(table)
    path_free = group.copy()
    back = _table_from_group(path_free)
    pd.testing.assert_frame_equal(back, table)


def test_result_round_trips_through_netcdf(nn_fit, tmp_path):
    """``MetaResult.from_netcdf`` gives back the tables and figures of the original."""
    import pandas as pd

    from bayes_bijstand.meta import MetaResult
    from bayes_bijstand.plots import make_figures

    path = nn_fit.to_netcdf(tmp_path / "fit.nc")
    back = MetaResult.from_netcdf(path)
    assert (back.outcome, back.kind, back.pooling) == (nn_fit.outcome, nn_fit.kind, nn_fit.pooling)
    assert back.diagnostics.to_dict() == nn_fit.diagnostics.to_dict()
    assert back.spec.sampler == nn_fit.spec.sampler
    assert back.spec.priors(back.kind) == nn_fit.spec.priors(nn_fit.kind)
    pd.testing.assert_frame_equal(back.summary(), nn_fit.summary())
    pd.testing.assert_frame_equal(back.summary(all_rows=True), nn_fit.summary(all_rows=True))
    pd.testing.assert_frame_equal(back.gemeenten(), nn_fit.gemeenten(), check_dtype=False)
    assert str(back) == str(nn_fit)
    only = ("forest", "prior_posterior", "ppc")
    a = make_figures(nn_fit, tmp_path / "live", only=only)
    b = make_figures(path, tmp_path / "from_path", only=only)
    assert [p.name for p in a] == [p.name for p in b] and len(a) == len(only)
    for x, y in zip(a, b, strict=True):
        assert x.read_bytes() == y.read_bytes(), x.name


@pytest.mark.slow
@pytest.mark.skipif(not os.environ.get("BAYES_BIJSTAND_REAL_FITS"),
                    reason="long (4 x 1000 NUTS draws twice plus compiles); set BAYES_BIJSTAND_REAL_FITS=1")
def test_nutpie_and_pymc_backends_agree_on_mu_arm(evidence):
    """Both samplers run the same graph; their posteriors agree within Monte Carlo error."""
    import arviz as az

    outcome = "outflow_work"
    trees = {}
    for name in ("nutpie", "pymc"):
        spec = ModelSpec(name="test", sampler=SamplerSpec(draws=1000, tune=1000, chains=4,
                                                          sampler=name))
        data = _data(evidence, outcome, spec)
        trees[name] = backends.sample(data, spec, "partial", spec.sampler, cores=2)
    a = trees["nutpie"]["posterior"]["mu_arm"]
    b = trees["pymc"]["posterior"]["mu_arm"]

    def mcse(t):
        m = az.mcse(t, var_names=["mu_arm"])
        m = m.to_dataset() if hasattr(m, "to_dataset") else m
        return m["mu_arm"].values

    se = np.sqrt(mcse(trees["nutpie"]) ** 2 + mcse(trees["pymc"]) ** 2)
    diff = a.mean(("chain", "draw")).values - b.mean(("chain", "draw")).values
    assert np.all(np.abs(diff) < 5 * se + 1e-3)


@pytest.mark.parametrize("pooling", ["partial", "full", "none"])
@pytest.mark.parametrize("outcome", ["work_gt8h", "wellbeing"])
def test_real_posterior_maps_slots_back_to_rows(evidence, outcome, pooling):
    """Draws in padded slots come back with the outcome's own gemeenten, arms and rows.

    Gaussian and prose rows sit in separate padded sections; the reported ``row_mean``
    must be in the order of ``data.rows`` and equal theta(arm) - theta(comparator), times
    take-up, plus the bias term of a weaker comparison (checked here from ``theta`` itself).
    """
    import xarray as xr

    data = _data(evidence, outcome)
    sizes = choose_sizes(data)
    arrays = model_arrays(data, SPEC, sizes, pooling=pooling)
    model = build_graph(sizes)
    rng = np.random.default_rng(3)
    ip = model.initial_point()
    shapes = {v.name: tuple(ip[model.rvs_to_values[v].name].shape) for v in model.free_RVs}
    raw = {}
    for name in backends.STORED:
        if name in shapes:
            x = rng.normal(size=(2, 3, *shapes[name]))
            if name in ("tau_raw",):
                x = np.abs(x)
            if name in ("corr_cpc_raw", "r2"):
                x = rng.uniform(0.2, 0.8, size=(2, 3, *shapes[name]))
            raw[name] = xr.DataArray(x, dims=("chain", "draw", *[f"{name}_{i}" for i in range(len(shapes[name]))]))
    post = xr.Dataset(raw).assign_coords(chain=[0, 1], draw=[0, 1, 2])
    out = backends.to_real_posterior(post, data, pooling, SPEC, sizes, arrays)
    assert list(out["theta"].coords["gemeente"].values) == list(data.gemeenten)
    assert list(out["row_mean"].coords["row"].values) == list(data.rows["row_id"])
    # Rows measure the effect with the coaches that delivered the arm (theta_coached,
    # theta plus the team's coach deviation) where a team is known.
    theta = out["theta_coached"].values if "theta_coached" in out else out["theta"].values
    rows = data.rows
    bias = out["bias"].values if "bias" in out else None
    for r, row in enumerate(rows.itertuples()):
        g = data.gemeenten.index(row.gemeente)
        expect = theta[..., g, data.arms.index(row.arm)]
        if row.comparator in data.arms:
            expect = expect - theta[..., g, data.arms.index(row.comparator)]
        expect = row.takeup * expect
        if row.bias_key in data.biases:
            expect = expect + bias[..., data.biases.index(row.bias_key)]
        if row.estimand == "itt_offer" and row.takeup < 1:
            continue  # plus the offer spill-over of its gemeente; not in these outcomes
        np.testing.assert_allclose(out["row_mean"].values[..., r], expect, rtol=1e-10, atol=1e-12)
    beta = out["beta"].values
    if pooling == "full":
        np.testing.assert_allclose(beta, np.broadcast_to(out["mu"].values[..., None, :], beta.shape))
    if pooling == "none":
        assert "mu" not in out and "tau" not in out
    n_cens = int((rows["family"] == "z_censored").sum())
    if n_cens:
        assert out["se_censored"].shape[-1] == n_cens


def _random_draws(model, rng, lead=(2, 3)):
    """Random draws (constrained space) of the stored free variables of the graph."""
    ip = model.initial_point()
    raw = {}
    for name in backends.STORED:
        shape = ip[model.rvs_to_values[model[name]].name].shape
        x = rng.normal(size=(*lead, *shape))
        if name in ("tau_raw",):
            x = np.abs(x)
        if name in ("corr_cpc_raw", "r2"):
            x = rng.uniform(0.2, 0.8, size=(*lead, *shape))
        raw[name] = x
    return raw


@pytest.mark.parametrize("outcome", ["work_gt8h", "wellbeing", "social_trust", "outflow_work"])
def test_pointwise_log_likelihood_adds_up_to_the_likelihood(evidence, outcome):
    """Per-municipality log-likelihoods (the log_likelihood group) sum to the likelihood
    terms of the sampled graph at every draw; the log_prior terms are finite."""
    import pytensor

    data = _data(evidence, outcome)
    sizes = choose_sizes(data)
    arrays = model_arrays(data, SPEC, sizes, pooling="partial")
    model = build_graph(sizes)
    set_model_data(model, arrays, sizes)
    rng = np.random.default_rng(7)
    raw = _random_draws(model, rng, lead=(1, 4))
    out = backends.graph_outputs(sizes, arrays, raw, seed=1)
    pots = [model["y_loglik"], model["censored_z"], model["binomial_counts"]]
    fn = pytensor.function([model[n] for n in backends.STORED], pots, mode="FAST_COMPILE",
                           on_unused_input="ignore")
    for k in range(4):
        want = sum(fn(*[raw[n][0, k] for n in backends.STORED]))
        got = out["loglik_gemeente"][0, k].sum()
        assert got == pytest.approx(want, rel=1e-10, abs=1e-9)
        # Padded gemeente slots carry no rows.
        np.testing.assert_allclose(out["loglik_gemeente"][0, k, len(data.gemeenten):], 0.0,
                                   atol=1e-12)
    for v in backends.STORED:
        assert np.isfinite(out[f"logprior_{v}"]).all() or v == "se_marker_raw"


def test_prior_draws_come_from_the_graph(evidence):
    """Prior draws of mu, tau and theta_new have the spec's prior moments."""
    data = _data(evidence, "work_gt12h")
    pri = SPEC.priors(data.kind)
    prior = backends.prior_draws(data, SPEC, "partial", seed=3, draws=4000)
    mu = prior["mu"].values.ravel()
    tau = prior["tau"].values.ravel()
    n = mu.size
    assert abs(mu.mean()) < 4 * pri.mu_sd / np.sqrt(n)
    assert mu.std() == pytest.approx(pri.mu_sd, rel=4 / np.sqrt(2 * n))
    # HalfNormal(s): mean s sqrt(2 / pi).
    assert tau.mean() == pytest.approx(pri.tau_sd * np.sqrt(2 / np.pi), rel=0.05)
    again = backends.prior_draws(data, SPEC, "partial", seed=3, draws=4000)
    np.testing.assert_array_equal(again["mu"].values, prior["mu"].values)  # seeded


def test_model_compiles_without_fast_math(evidence, monkeypatch):
    """The compile runs with numba fast-math off, so cold and cached compiles agree.

    A stand-in for ``nutpie.compile_pymc_model`` records the PyTensor flag it sees; no
    compilation happens. The real cold-versus-warm comparison is the opt-in
    ``test_real_fit_is_reproducible``.
    """
    import nutpie
    import pytensor

    seen = []
    monkeypatch.setattr(nutpie, "compile_pymc_model",
                        lambda *a, **k: seen.append(pytensor.config.numba__fastmath) or object())
    monkeypatch.setattr(backends, "_CACHE", {})  # do not disturb the session's compiled models
    before = pytensor.config.numba__fastmath
    backends.compiled_model(choose_sizes(_data(evidence, "social_trust")))
    assert seen == [False]
    assert pytensor.config.numba__fastmath == before  # changed only for the compile
