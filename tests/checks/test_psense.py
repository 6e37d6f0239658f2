"""psense_table is arviz_stats.psense on a fit's log_prior and log_likelihood groups."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import xarray as xr
from arviz_stats import psense

from bayes_bijstand.checks import psense_table


def _tree(seed: int = 0) -> xr.DataTree:
    """A conjugate normal model: mu ~ N(0, 1), y_g ~ N(mu, 1); draws from the exact posterior."""
    rng = np.random.default_rng(seed)
    y = np.array([0.5, 1.0, 1.5, 0.8])
    n = len(y)
    mu = rng.normal(y.sum() / (n + 1), np.sqrt(1 / (n + 1)), size=(2, 2000))
    post = xr.Dataset({"mu_arm": (("chain", "draw", "arm"), mu[..., None])},
                      coords={"arm": ["a"]})
    lp = xr.Dataset({"mu_raw": (("chain", "draw"), -0.5 * mu**2)})
    ll = xr.Dataset({"y_gemeente": (("chain", "draw", "gemeente"),
                                    -0.5 * (y[None, None, :] - mu[..., None]) ** 2)})
    return xr.DataTree.from_dict({"posterior": post, "log_prior": lp, "log_likelihood": ll})


def test_psense_table_is_arviz_psense() -> None:
    tree = _tree()
    t = psense_table(SimpleNamespace(tree=tree))
    assert list(t["parameter"]) == ["mu_arm"] and list(t["arm"]) == ["a"]
    want_p = float(psense(tree, var_names=["mu_arm"], group="prior")["mu_arm"].sel(arm="a"))
    want_l = float(psense(tree, var_names=["mu_arm"], group="likelihood")["mu_arm"].sel(arm="a"))
    assert t.loc[0, "prior"] == want_p and t.loc[0, "likelihood"] == want_l
    # Four unit-variance observations against a unit prior: the likelihood dominates.
    assert t.loc[0, "likelihood"] > t.loc[0, "prior"]
