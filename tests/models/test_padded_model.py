"""The padded (compile-once) model is the reference summary-level model with padding.

The log-density test needs no sampling and no numba: both models are evaluated with
PyTensor's Python implementations (``FAST_COMPILE``: nothing to compile) at matching
parameter points. The parametrisations differ by constant scale factors
(``mu = mu_sd * mu_raw`` and so on) and the padded model has
prior-only slots, so the log densities agree up to a constant: the test compares the
difference between two parameter points.
"""

from __future__ import annotations

import os

import numpy as np
import pytest
from scipy.special import logit

from bayes_bijstand.evidence.load import load_evidence
from bayes_bijstand.meta import outcome_kind
from bayes_bijstand.models import padded
from bayes_bijstand.models.selection import select_rows
from bayes_bijstand.models.summary_level import build_model, prepare
from bayes_bijstand.specs import ModelSpec, SamplerSpec

SPEC = ModelSpec(name="test")


@pytest.fixture(scope="module")
def evidence():
    return load_evidence()


def _data(evidence, outcome: str, spec: ModelSpec = SPEC):
    kind = outcome_kind(outcome)
    return prepare(select_rows(evidence, outcome, kind, spec), outcome, kind, spec)


def _points(data, spec, base, rng):
    """A random reference point (value space) and the matching padded point.

    ``base`` is a padded point whose prior-only slots are kept as they are.
    """
    pri = spec.priors(data.kind)
    rows = data.rows
    C = len(data.components)
    ref: dict[str, np.ndarray] = {}
    pad = {k: np.array(v, dtype=float, copy=True) for k, v in base.items()}
    mu = rng.normal(0, pri.mu_sd, C)
    tau = np.abs(rng.normal(0, pri.tau_sd, C)) + 1e-3
    ref["mu"], ref["tau_log__"] = mu, np.log(tau)
    pad["mu_raw"][:C] = mu / pri.mu_sd
    pad["tau_raw_log__"][:C] = np.log(tau / pri.tau_sd)
    k = C * (C - 1) // 2
    if k:
        cpc = rng.normal(0, 0.7, k)
        ref["corr_cpc_raw_logodds__"] = cpc
        pad["corr_cpc_raw_logodds__"][:k] = cpc
    z = rng.normal(size=(len(data.gemeenten), C))
    ref["z_offset"] = z
    pad["z_offset"][: z.shape[0], :C] = z
    zn = rng.normal(size=C)
    ref["z_new_offset"] = zn
    pad["z_new_offset"][:C] = zn
    if data.bundles:
        g = rng.normal(0, pri.interaction_sd, len(data.bundles))
        ref["gamma"] = g
        for b, v in zip(data.bundles, g, strict=True):
            pad["gamma_raw"][data.arms.index(b)] = v / pri.interaction_sd
    if data.biases:
        b = rng.normal(0, 0.03, len(data.biases))
        ref["bias"] = b
        pad["bias_raw"][: len(b)] = b / np.array([spec.bias_sd[x] for x in data.biases])
    takeup = rows["takeup"].to_numpy(float)
    offer = (rows["estimand"] == "itt_offer").to_numpy() & (takeup < 1)
    if offer.any():
        gem = sorted(set(rows.loc[offer, "gemeente"]))
        e = rng.normal(0, spec.offer_spillover_sd, len(gem))
        ref["offer_spillover"] = e
        for g, v in zip(gem, e, strict=True):
            pad["offer_spillover_raw"][data.gemeenten.index(g)] = v / spec.offer_spillover_sd
    fam, grade = rows["family"].to_numpy(), rows["grade"].to_numpy()
    counts = (fam == "gaussian") & (grade == "counts")
    if counts.any():
        gem = sorted(set(rows.loc[counts, "gemeente"]))
        r2 = rng.uniform(0.05, 0.5, len(gem))
        ref["r2_logodds__"] = logit(r2)
        for g, v in zip(gem, r2, strict=True):
            pad["r2_logodds__"][data.gemeenten.index(g)] = logit(v)
    # The padded model keeps Gaussian and prose rows in their own slots, in row order.
    gauss = np.flatnonzero(fam == "gaussian")
    marker = np.flatnonzero((fam == "gaussian") & (grade == "marker"))
    if len(marker):
        x = rng.normal(size=len(marker))
        ref["se_marker_raw"] = x
        pad["se_marker_raw"][np.searchsorted(gauss, marker)] = x
    cens = np.flatnonzero(fam == "z_censored")
    if len(cens):
        s = rows["se_design"].to_numpy(float)[cens] * np.exp(rng.normal(0, 0.35, len(cens)))
        ref["se_censored_log__"] = np.log(s)
        pad["se_censored_raw"][: len(cens)] = \
            (np.log(s) - np.log(rows["se_design"].to_numpy(float)[cens])) / padded.CENSORED_SE_SD
    return ref, pad


# social_trust: prose rows with and without a sign; wellbeing: a prose row that observes
# two bands of z (significant, direction not reported).
@pytest.mark.parametrize("outcome", ["work_gt8h", "work_gt12h", "outflow_work", "income_gt70_wml",
                                     "social_trust", "wellbeing"])
def test_padded_logp_matches_reference(evidence, outcome):
    data = _data(evidence, outcome)
    sizes = padded.choose_sizes(data)
    ref_model = build_model(data, SPEC, pooling="partial")
    pad_model = padded.build_padded_model(sizes)
    padded.set_model_data(pad_model, padded.padded_arrays(data, SPEC, sizes, pooling="partial"),
                          sizes)
    # FAST_COMPILE: Python implementations, no C compilation (seconds instead of minutes on a
    # fresh machine; two evaluations per model need no speed).
    ref_logp = ref_model.compile_logp(mode="FAST_COMPILE")
    pad_logp = pad_model.compile_logp(mode="FAST_COMPILE")
    rng = np.random.default_rng(5)
    # Padded-only slots: one fixed random point shared by both evaluations.
    base = {k: rng.normal(0, 0.5, np.shape(v)) for k, v in pad_model.initial_point().items()}
    vals = []
    for _ in range(2):
        ref_pt, pad_pt = _points(data, SPEC, base, rng)
        assert set(ref_pt) == set(ref_model.initial_point())
        vals.append((ref_logp(ref_pt), pad_logp(pad_pt)))
    (r1, p1), (r2, p2) = vals
    assert np.isfinite([r1, p1, r2, p2]).all()
    assert r1 - r2 == pytest.approx(p1 - p2, rel=1e-8, abs=1e-8)


@pytest.mark.slow
@pytest.mark.skipif(not os.environ.get("BAYES_BIJSTAND_REAL_FITS"),
                    reason="long (4 x 1000 NUTS draws plus a compile); set BAYES_BIJSTAND_REAL_FITS=1")
def test_padded_and_reference_agree_on_mu_arm(evidence):
    import arviz as az
    import pymc as pm

    outcome = "outflow_work"
    spec = ModelSpec(name="test", sampler=SamplerSpec(draws=1000, tune=1000, chains=4,
                                                      sampler="nutpie"))
    data = _data(evidence, outcome, spec)
    tree = padded.sample_padded(data, spec, "partial", spec.sampler, cores=2)
    ref = pm.sample(draws=1000, tune=1000, chains=4, cores=2, model=build_model(data, spec),
                    random_seed=1, progressbar=False, target_accept=0.9,
                    compute_convergence_checks=False)
    a = tree["posterior"]["mu_arm"]
    b = ref["posterior"]["mu_arm"]
    def mcse(t):
        m = az.mcse(t, var_names=["mu_arm"])
        m = m.to_dataset() if hasattr(m, "to_dataset") else m
        return m["mu_arm"].sel(arm=list(a["arm"].values)).values

    se = np.sqrt(mcse(tree) ** 2 + mcse(ref) ** 2)
    diff = a.mean(("chain", "draw")).values \
        - b.sel(arm=list(a["arm"].values)).mean(("chain", "draw")).values
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
    sizes = padded.choose_sizes(data)
    arrays = padded.padded_arrays(data, SPEC, sizes, pooling=pooling)
    model = padded.build_padded_model(sizes)
    rng = np.random.default_rng(3)
    ip = model.initial_point()
    shapes = {v.name: tuple(ip[model.rvs_to_values[v].name].shape) for v in model.free_RVs}
    raw = {}
    for name in padded.STORED:
        if name in shapes:
            x = rng.normal(size=(2, 3, *shapes[name]))
            if name in ("tau_raw",):
                x = np.abs(x)
            if name in ("corr_cpc_raw", "r2"):
                x = rng.uniform(0.2, 0.8, size=(2, 3, *shapes[name]))
            raw[name] = xr.DataArray(x, dims=("chain", "draw", *[f"{name}_{i}" for i in range(len(shapes[name]))]))
    post = xr.Dataset(raw).assign_coords(chain=[0, 1], draw=[0, 1, 2])
    out = padded.to_real_posterior(post, data, pooling, SPEC, arrays)
    assert list(out["theta"].coords["gemeente"].values) == list(data.gemeenten)
    assert list(out["row_mean"].coords["row"].values) == list(data.rows["row_id"])
    theta = out["theta"].values
    rows = data.rows
    bias = out["bias"].values if "bias" in out else None
    for r, row in enumerate(rows.itertuples()):
        g = data.gemeenten.index(row.gemeente)
        expect = theta[..., g, data.arms.index(row.arm)]
        if row.comparator in data.arms:
            expect = expect - theta[..., g, data.arms.index(row.comparator)]
        expect = row.takeup * expect
        if row.comparison in data.biases:
            expect = expect + bias[..., data.biases.index(row.comparison)]
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


def test_padded_model_compiles_without_fast_math(evidence, monkeypatch):
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
    monkeypatch.setattr(padded, "_CACHE", {})  # do not disturb the session's compiled models
    before = pytensor.config.numba__fastmath
    padded.compiled_model(padded.choose_sizes(_data(evidence, "social_trust")))
    assert seen == [False]
    assert pytensor.config.numba__fastmath == before  # changed only for the compile
