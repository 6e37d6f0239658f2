"""Trajectories (effect by month): the structure the model receives, and the production fit on
simulated rows with known parameters: it recovers a known level and slope, a month-0-only study
moves nothing but its bias term (whose posterior is then the closed-form conjugate one), and
with one time point (at the reference month) the trajectory fit is the single-time-point fit.

Every trajectory fit uses one padding (``trajectories.PADDING``), so these fits share one
compilation."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from bayes_bijstand.covariance import contrast_correlation
from bayes_bijstand.evidence.load import load_evidence
from bayes_bijstand.models.summary_level import choose_sizes, model_arrays
from bayes_bijstand.models.trajectories import (
    BASELINE_ARM,
    basis,
    prepare_trajectory,
    trajectory_table,
)
from bayes_bijstand.specs import load_spec
from bayes_bijstand.trajectory_effects import trajectory_tables

LEVEL, SLOPE = 0.06, 0.04  # effect at 16 months; change from 8 to 24 months
N = 1500  # persons per group: SE of a contrast ~ 0.013


def test_basis_and_shipped_structure() -> None:
    """work > 12 h: month-0 rows enter with an all-zero weight row, take-up 1 (no offer
    spill-over) and their study's bias key; each later row's pseudo-arm has weight 1 on its
    units' level and f(t) on their slope; the rows keep their AR(1) correlation over months."""
    np.testing.assert_allclose(basis([8, 16, 24]), [-0.5, 0.0, 0.5])
    ev = load_evidence()
    spec = load_spec("meta_components")
    table, data = prepare_trajectory(ev, "work_gt12h", "binary", spec)
    used = table[table["used"]]
    assert set(pd.to_numeric(used.loc[used["gemeente"] == "groningen", "months"])) == {0, 8, 16, 24}
    # One row per municipality, arm and month (one variant of each contrast).
    assert not used.duplicated(["gemeente", "arm", "months"]).any()
    rows = data.rows
    base = rows["arm"] == BASELINE_ARM
    assert base.sum() == (pd.to_numeric(used["months"]) == 0).sum() > 0
    assert not data.W[data.arms.index(BASELINE_ARM)].any()
    assert (rows.loc[base, "takeup"] == 1).all()
    i = data.arms.index("werken_loont@24")
    w = dict(zip(data.components, data.W[i], strict=True))
    assert w["werken_loont:level"] == 1 and w["werken_loont:slope"] == 0.5
    assert sum(abs(v) for v in w.values()) == 1.5
    # Month 0 and months 8/24 of one arm (the same groups): the AR(1) factor over months.
    g = rows[rows["family"] == "gaussian"].reset_index(drop=True)
    at = {m: g.index[(g["real_arm"] == "keuze") & (pd.to_numeric(g["months"]) == m)][0]
          for m in (0, 8, 24)}
    assert data.corr[at[0], at[8]] == pytest.approx(spec.rho_months)
    assert data.corr[at[0], at[24]] == pytest.approx(spec.rho_months**3)
    # The model's data: a month-0 row's contrast weight and its offer spill-over are zero.
    sizes = choose_sizes(data)
    arr = model_arrays(data, spec, sizes, pooling="partial")
    k = int(np.flatnonzero(base.to_numpy()[rows["family"].to_numpy() == "gaussian"])[0])
    assert not (arr["d_g_Pa"][k] @ arr["d_W"]).any()
    assert arr["d_g_offer"][k] == 0.0


def _rows(design: dict[str, list[int]], rng: np.random.Generator, *, level: float = LEVEL,
          slope: float = SLOPE) -> list[dict[str, object]]:
    """Randomised SE rows of one arm, with the errors correlated as the model assumes."""
    out = []
    for g, months in design.items():
        t = pd.DataFrame({"gemeente": g, "arm": "extra_hulp", "comparator": "control",
                          "n_t": float(N), "n_c": float(N), "months": months})
        R = contrast_correlation(t, rho_months=0.6)
        se = np.sqrt(2 * 0.2 * 0.8 / N)
        mean = np.array([0.0 if m == 0 else level + slope * float(basis(m)) for m in months])
        y = mean + se * np.linalg.cholesky(R) @ rng.normal(size=len(months))
        out += [{"gemeente": g, "arm": "extra_hulp", "outcome": "work_gt12h",
                 "comparison": "vs_control", "estimand": "itt", "estimate": yi, "se": se,
                 "n_treatment": N, "n_control": N, "months": m, "scale": "proportion"}
                for m, yi in zip(months, y, strict=True)]
    return out


def _write(rows: list[dict[str, object]], path: Path, name: str) -> Path:
    f = path / f"{name}.csv"
    pd.DataFrame(rows).to_csv(f, index=False)
    return f


def _draws(res: object, var: str, label: str, dim: str = "component") -> np.ndarray:
    return res.posterior[var].sel({dim: label}).values  # type: ignore[attr-defined]


def _agree(a: np.ndarray, b: np.ndarray) -> None:
    """Posterior means within 4 combined Monte Carlo SEs (chain x draw arrays)."""
    import arviz as az

    mcse = float(np.hypot(az.mcse(a), az.mcse(b)))
    assert abs(a.mean() - b.mean()) < 4 * mcse, (a.mean(), b.mean(), mcse)


@pytest.fixture(scope="module")
def recovery(tmp_path_factory: pytest.TempPathFactory) -> dict[str, object]:
    """Two simulated municipalities (0/8/16/24 and 8/24 months, no heterogeneity) fitted
    without and with a third, month-0-only study (a participants-only contrast of 5 pp)."""
    from bayes_bijstand.meta import fit_meta

    path = tmp_path_factory.mktemp("traj")
    rng = np.random.default_rng(2024)
    rows = _rows({"sima": [0, 8, 16, 24], "simb": [8, 24]}, rng)
    spec = load_spec("meta_components")  # the shipped sampler settings, as in production
    kw = {"prior_predictive": False, "posterior_predictive": False}
    res = fit_meta(load_evidence(_write(rows, path, "sim")), spec, "work_gt12h.trajectory", **kw)
    se0 = 0.012
    extra = rows + [{"gemeente": "simc", "arm": "extra_hulp", "outcome": "work_gt12h",
                     "comparison": "participants_vs_control", "estimand": "participants",
                     "estimate": 0.05, "se": se0, "n_treatment": 700, "n_control": 700,
                     "months": 0, "scale": "proportion"}]
    res0 = fit_meta(load_evidence(_write(extra, path, "sim0")), spec, "work_gt12h.trajectory", **kw)
    return {"res": res, "res0": res0, "se0": se0, "spec": spec}


def test_production_fit_recovers_a_known_level_and_slope(recovery: dict[str, object]) -> None:
    """The true level and slope lie inside the 95% intervals of the municipality with four
    time points and of the pooled mean, and the time points inform them (intervals much
    narrower than the prior). The tables give P(24 m > 8 m) = P(slope > 0)."""
    res = recovery["res"]
    assert res.diagnostics.passed, res.diagnostics.problems  # type: ignore[attr-defined]
    beta = res.posterior["beta"].sel(gemeente="sima")  # type: ignore[attr-defined]
    for comp, true in (("extra_hulp:level", LEVEL), ("extra_hulp:slope", SLOPE)):
        b = beta.sel(component=comp).values.ravel()
        lo, hi = np.quantile(b, [0.025, 0.975])
        assert lo < true < hi, (comp, lo, hi)
        assert hi - lo < 0.08  # prior: mu_sd 0.10 and tau_sd 0.05 -> 95% width ~0.4
        m = _draws(res, "mu", comp).ravel()
        lo, hi = np.quantile(m, [0.025, 0.975])
        assert lo < true < hi, (comp, lo, hi)
    post, table = res.posterior, res.table  # type: ignore[attr-defined]
    eff, chg = trajectory_tables(post, table, "work_gt12h", ci_prob=0.9)
    pooled = chg[chg["gemeente"] == "pooled"].iloc[0]
    slope = _draws(res, "mu", "extra_hulp:slope").ravel()
    assert (pooled["month_early"], pooled["month_late"]) == (8.0, 24.0)
    assert pooled["prob_late_gt_early"] == pytest.approx(np.mean(slope > 0))
    at16 = eff[(eff["gemeente"] == "pooled") & (eff["month"] == 16.0)].iloc[0]
    assert at16["mean"] == pytest.approx(_draws(res, "mu", "extra_hulp:level").mean())
    # simb has no row at 16 months: its effect there is the line, marked as not observed.
    b16 = eff[(eff["gemeente"] == "simb") & (eff["month"] == 16.0)].iloc[0]
    assert not b16["observed"]


def test_month0_only_study_moves_only_its_bias_term(recovery: dict[str, object]) -> None:
    """Negative control: a study with only a month-0 contrast (before treatment) leaves the
    pooled level and slope where they were (within Monte Carlo error) and informs only its
    own bias term, whose posterior is the conjugate normal one: prior N(0, 0.03^2), one row."""
    res, res0 = recovery["res"], recovery["res0"]
    assert res0.diagnostics.passed, res0.diagnostics.problems  # type: ignore[attr-defined]
    for comp in ("extra_hulp:level", "extra_hulp:slope"):
        _agree(_draws(res, "mu", comp), _draws(res0, "mu", comp))
        _agree(_draws(res, "tau", comp), _draws(res0, "tau", comp))
    spec, se0 = recovery["spec"], float(recovery["se0"])  # type: ignore[arg-type]
    prior_sd = spec.bias("binary")["participants_vs_control"]  # type: ignore[attr-defined]
    b = res0.posterior["bias"].sel(bias_comparison="simc:participants_vs_control").values  # type: ignore[attr-defined]
    w = prior_sd**2 / (prior_sd**2 + se0**2)
    import arviz as az

    assert abs(b.mean() - 0.05 * w) < 4 * float(az.mcse(b))
    assert b.std() == pytest.approx(np.sqrt(w) * se0, rel=0.08)


def test_one_time_point_reduces_to_the_single_time_point_fit(tmp_path: Path) -> None:
    """Every study measured once, at the reference month (16): the trajectory's level is the
    single-time-point fit's effect (the slope has no data and, being independent of the level
    a priori in law, leaves its marginal unchanged); mean, SD and quantiles agree within
    Monte Carlo error, and the slope stays at its prior."""
    import arviz as az

    from bayes_bijstand.meta import fit_meta

    rng = np.random.default_rng(7)
    rows = _rows({"sima": [16], "simb": [16], "simc": [16]}, rng)
    ev = load_evidence(_write(rows, tmp_path, "one"))
    spec = replace(load_spec("meta_components"), months="all")
    kw = {"prior_predictive": False, "posterior_predictive": False}
    single = fit_meta(ev, spec, "work_gt12h", **kw)
    traj = fit_meta(ev, spec, "work_gt12h.trajectory", **kw)
    assert single.diagnostics.passed and traj.diagnostics.passed
    a = single.posterior["mu_arm"].sel(arm="extra_hulp").values
    b = _draws(traj, "mu", "extra_hulp:level")
    _agree(a, b)
    _agree(single.posterior["tau"].sel(component="extra_hulp").values,
           _draws(traj, "tau", "extra_hulp:level"))
    for q in (0.05, 0.5, 0.95):
        qa, qb = np.quantile(a, q), np.quantile(b, q)
        tol = 4 * float(np.hypot(az.mcse(a, method="quantile", prob=q),
                                 az.mcse(b, method="quantile", prob=q)))
        assert abs(qa - qb) < tol, (q, qa, qb, tol)
    slope = _draws(traj, "mu", "extra_hulp:slope").ravel()
    assert slope.std() == pytest.approx(spec.priors("binary").mu_sd, rel=0.1)
    # Only rows at 16 months: the trajectory table is the single-time-point selection.
    t = trajectory_table(ev, "work_gt12h", "binary", spec)
    assert set(t.loc[t["used"], "row_id"]) == set(single.table.loc[single.table["used"], "row_id"])


def test_run_outputs_from_a_stored_trajectory_fit(recovery: dict[str, object], tmp_path: Path) -> None:
    """The run's trajectories section, its Markdown and report section, from a stored fit:
    the pooled rows equal the tables computed from the result, P(24 m > 8 m) is listed, and
    the main fit's municipality effects are compared at the month that fit used."""
    from bayes_bijstand.report.build import _trajectories
    from bayes_bijstand.run.aggregate import trajectories_summary
    from bayes_bijstand.run.markdown import trajectories_markdown

    res = recovery["res"]
    (tmp_path / "fits").mkdir()
    res.to_netcdf(tmp_path / "fits" / "work_gt12h.trajectory.nc")  # type: ignore[attr-defined]
    rec = {"name": "work_gt12h.trajectory", "outcome": "work_gt12h.trajectory",
           "role": "trajectory", "status": "passed", "diagnostics": {"problems": []},
           "gemeenten": ["sima", "simb"], "kind": "binary", "unit": "percentage points",
           "display_factor": 100.0, "netcdf": "fits/work_gt12h.trajectory.nc"}
    eff, _ = trajectory_tables(res.posterior, res.table, "work_gt12h", ci_prob=0.9)  # type: ignore[attr-defined]
    sima24 = eff[(eff["gemeente"] == "sima") & (eff["month"] == 24.0)].iloc[0]
    main = {"name": "work_gt12h", "outcome": "work_gt12h", "role": "main", "status": "passed",
            "evidence": [{"row_id": "r24", "months": 24}],
            "gemeente_effects": [{"gemeente": "sima", "arm": "extra_hulp", "row_id": "r24",
                                  "mean": float(sima24["mean"]), "sd": float(sima24["sd"]),
                                  "ci_low": 0.0, "ci_high": 0.1}]}
    out = trajectories_summary([main, rec], tmp_path, 0.9)  # type: ignore[list-item]
    assert out["fits"][0]["months"] == [8.0, 16.0, 24.0]
    pooled = [e for e in out["effects"] if e["gemeente"] == "pooled"]
    assert [e["month"] for e in pooled] == [8.0, 16.0, 24.0]
    assert pooled[-1]["mean"] == pytest.approx(eff[(eff["gemeente"] == "pooled")]["mean"].iloc[-1])
    assert out["agreement"] and out["agreement"][0]["disagree"] is False
    md = "\n".join(trajectories_markdown(out))
    assert "P(last > first)" in md and "24 vs 8 m" in md
    html = _trajectories({"trajectories": out})
    assert "id='trajectories'" in html and "<svg" in html
    failed = trajectories_summary([dict(rec, status="failed",
                                        diagnostics={"problems": ["R-hat 1.2 > 1.01"]})], tmp_path, 0.9)
    assert failed["effects"] == [] and "FAILED" in "\n".join(trajectories_markdown(failed))
