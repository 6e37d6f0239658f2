"""The net fiscal effect against closed forms, and its cost inputs against the seeds."""

from __future__ import annotations

import tomllib
from pathlib import Path

import numpy as np
import pytest
import xarray as xr
from scipy import stats

from bayes_bijstand.errors import SpecError
from bayes_bijstand.fiscal import default_costs_path, fiscal_table, load_costs, net_draws


def _posterior(mu: np.ndarray, arms: list[str], gemeenten: list[str],
               theta: np.ndarray | None = None) -> xr.Dataset:
    """A posterior Dataset with chain x draw x arm ``mu_arm``/``theta_new`` and ``theta``."""
    c, d = 2, mu.shape[-1] // 2
    mu = mu.reshape(len(arms), c, d).transpose(1, 2, 0)
    th = (theta if theta is not None else np.stack([mu.transpose(2, 0, 1)] * len(gemeenten)))
    th = th.reshape(len(gemeenten), len(arms), c, d).transpose(2, 3, 0, 1)
    return xr.Dataset({
        "mu_arm": (("chain", "draw", "arm"), mu),
        "theta_new": (("chain", "draw", "arm"), mu),
        "theta": (("chain", "draw", "gemeente", "arm"), th),
    }, coords={"arm": arms, "gemeente": gemeenten})


def _fixed_costs(tmp_path: Path, *, benefit: float, coaching: float, profile: str = "ramp",
                 horizon: int = 24) -> Path:
    p = tmp_path / "costs.toml"
    p.write_text(f"""
horizon_months = {horizon}
effect_profile = "{profile}"
[benefit_cost_per_year]
low = {benefit}
high = {benefit}
source = "assumption"
basis = "test"
[arm_cost.extra_hulp]
low = {coaching}
high = {coaching}
source = "assumption"
basis = "test"
[arm_cost.werken_loont]
low = 0
high = 0
source = "assumption"
basis = "test"
""", encoding="utf-8")
    return p


@pytest.mark.parametrize("profile,share", [("ramp", 0.5), ("constant", 1.0)])
def test_net_equals_closed_form_with_fixed_costs(tmp_path: Path, profile: str, share: float) -> None:
    costs = load_costs(_fixed_costs(tmp_path, benefit=8400.0, coaching=150.0, profile=profile))
    eff = np.array([0.0, 0.05, -0.02, 0.10])
    net = net_draws(eff, costs, "extra_hulp", np.random.default_rng(1))
    expected = share * eff * 24 * 8400.0 / 12.0 - 24 * 150.0
    np.testing.assert_allclose(net, expected, rtol=0, atol=1e-9)
    # A bundle costs the sum of its components; an arm without a cost input gives nothing.
    net2 = net_draws(eff, costs, "extra_hulp+werken_loont", np.random.default_rng(1))
    np.testing.assert_allclose(net2, expected, atol=1e-9)
    assert net_draws(eff, costs, "zelf_in_actie", np.random.default_rng(1)) is None


def test_probability_of_net_saving_matches_normal_closed_form(tmp_path: Path) -> None:
    """Effect draws N(m, s), fixed costs: net is normal, P(net > 0) has a closed form."""
    costs = load_costs(_fixed_costs(tmp_path, benefit=9000.0, coaching=100.0))
    m, s, n = 0.06, 0.04, 40_000
    rng = np.random.default_rng(7)
    post = _posterior(rng.normal(m, s, size=(1, n)), ["extra_hulp"], ["oss"])
    tab = fiscal_table(post, "outflow_benefit", costs, takeup={("oss", "extra_hulp"): 0.5},
                       ci_prob=0.9, seed=3)
    pooled = tab[(tab["level"] == "pooled") & (tab["per"] == "participant")].iloc[0]
    a = 0.5 * 24 * 9000.0 / 12.0  # euros per unit of effect
    b = 24 * 100.0
    mean, sd = a * m - b, a * s
    se_mc = sd / np.sqrt(n)
    assert abs(pooled["mean_eur"] - mean) < 4 * se_mc
    p_true = stats.norm.sf(0, loc=mean, scale=sd)
    assert abs(pooled["prob_net_saving"] - p_true) < 4 * np.sqrt(p_true * (1 - p_true) / n)
    z = stats.norm.ppf(0.95)
    assert abs(pooled["ci_high_eur"] - (mean + z * sd)) < 0.03 * sd
    # Per assigned client: take-up times the per-participant net, same probability.
    g = tab[(tab["level"] == "gemeente") & (tab["gemeente"] == "oss")].set_index("per")
    assert g.loc["assigned client", "mean_eur"] == pytest.approx(0.5 * g.loc["participant", "mean_eur"])
    assert g.loc["assigned client", "prob_net_saving"] == g.loc["participant", "prob_net_saving"]


def test_cost_ranges_are_drawn_and_seeded() -> None:
    costs = load_costs()
    eff = np.full(20_000, 0.05)
    n1 = net_draws(eff, costs, "extra_hulp", np.random.default_rng(11))
    n2 = net_draws(eff, costs, "extra_hulp", np.random.default_rng(11))
    np.testing.assert_array_equal(n1, n2)
    # Uniform benefit in [8000, 9000] and coaching in [110, 189]: the mean is the midpoints'.
    expected = 0.5 * 0.05 * 24 * 8500 / 12 - 24 * (110 + 189) / 2
    assert abs(n1.mean() - expected) < 4 * n1.std() / np.sqrt(len(n1))
    assert n1.min() >= 0.5 * 0.05 * 24 * 8000 / 12 - 24 * 189 - 1e-9


def test_observed_pairs_restrict_municipality_rows(tmp_path: Path) -> None:
    costs = load_costs(_fixed_costs(tmp_path, benefit=8000.0, coaching=100.0))
    post = _posterior(np.zeros((1, 8)), ["extra_hulp"], ["oss", "nijmegen"])
    tab = fiscal_table(post, "outflow_work", costs, observed={("oss", "extra_hulp")})
    assert set(tab.loc[tab["level"] == "gemeente", "gemeente"]) == {"oss"}


@pytest.mark.parametrize("body,key", [
    ("horizon_months = 0\n[benefit_cost_per_year]\nlow=1\nhigh=2\nsource='assumption'\nbasis='x'", "horizon_months"),
    ("[benefit_cost_per_year]\nlow=2\nhigh=1\nsource='assumption'\nbasis='x'", "benefit_cost_per_year"),
    ("[benefit_cost_per_year]\nlow=1\nhigh=2\nsource='004.txt'", "benefit_cost_per_year"),
    ("[benefit_cost_per_year]\nlow=1\nhigh=2\nsource='assumption'", "benefit_cost_per_year"),
    ("effect_profile='linear'\n[benefit_cost_per_year]\nlow=1\nhigh=2\nsource='assumption'\nbasis='x'", "effect_profile"),
    ("horizon = 12\n[benefit_cost_per_year]\nlow=1\nhigh=2\nsource='assumption'\nbasis='x'", "horizon"),
    ("[benefit_cost_per_year]\nlow='nan'\nhigh=2\nsource='assumption'\nbasis='x'", "benefit_cost_per_year"),
])
def test_bad_cost_file_is_one_spec_error(tmp_path: Path, body: str, key: str) -> None:
    p = tmp_path / "c.toml"
    p.write_text(body, encoding="utf-8")
    with pytest.raises(SpecError) as e:
        load_costs(p)
    assert key in str(e.value)


def test_shipped_cost_inputs_are_printed_at_their_seed_lines(shared_dir: Path) -> None:
    """Every cost taken from a report is printed at the line it cites."""
    raw = tomllib.loads(default_costs_path().read_text(encoding="utf-8"))
    items = [raw["benefit_cost_per_year"], raw["guidance_cost_per_year"], *raw["arm_cost"].values()]
    cited = [i for i in items if i["source"] != "assumption"]
    assert len(cited) >= 4
    for item in cited:
        lines = (shared_dir / "seeds" / item["source"]).read_text(encoding="utf-8").splitlines()
        printed = " ".join(item["printed"].split())
        assert printed in " ".join(lines[item["line"] - 1].split()), (item["source"], item["line"])
