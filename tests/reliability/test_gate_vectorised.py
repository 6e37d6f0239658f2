"""The diagnostics gate's batched R-hat / ESS equal arviz_stats' per-coordinate numbers.

``diagnostics.rhat_ess`` computes the rank-normalised split R-hat and the bulk and tail ESS of
all coordinates of a variable in one pass; the reference is arviz_stats computing each
coordinate on its own (``az.rhat`` / ``az.ess``, what the gate called before). The draws cover
what the gate meets: independent draws (the exact path), strongly autocorrelated chains
(long positive-sequence cuts, monotone corrections), a constant coordinate, a coordinate with
ties, one with a NaN, an odd number of draws and a single chain. Equality is asked to the bit.
"""

from __future__ import annotations

import arviz as az
import numpy as np
import pytest
import xarray as xr

from bayes_bijstand import diagnostics


def _ar1(rng: np.random.Generator, chains: int, draws: int, k: int, phi: np.ndarray) -> np.ndarray:
    """(chain, draw, k) AR(1) chains with per-coordinate autocorrelation ``phi``."""
    x = np.empty((chains, draws, k))
    x[:, 0] = rng.standard_normal((chains, k))
    e = rng.standard_normal((chains, draws, k)) * np.sqrt(1 - phi**2)
    for t in range(1, draws):
        x[:, t] = phi * x[:, t - 1] + e[:, t]
    return x


def _reference(values: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    da = xr.DataArray(values, dims=("chain", "draw", "k"))
    with np.errstate(invalid="ignore", divide="ignore"):
        return (az.rhat(da).values, az.ess(da, method="bulk").values,
                az.ess(da, method="tail").values)


def _draws(kind: str) -> np.ndarray:
    rng = np.random.default_rng(abs(hash(kind)) % 2**32)
    if kind == "independent":
        return rng.normal(0.03, 0.02, (4, 1000, 40))
    if kind == "autocorrelated":
        # phi up to 0.995: positive-sequence cuts from a few lags to hundreds (beyond the
        # 8- and 128-term blocks of numpy's pairwise sums), chains that disagree (R-hat > 1)
        x = _ar1(rng, 4, 600, 60, np.linspace(0.0, 0.995, 60))
        x[0, :, ::7] += 0.5
        return x
    if kind == "odd_draws_and_edge_cases":
        x = _ar1(rng, 3, 201, 12, np.linspace(0.2, 0.9, 12))
        x[:, :, 0] = 1.5                      # constant: R-hat undefined, ESS = draws
        x[:, :, 1] = np.round(x[:, :, 1], 1)  # ties
        x[1, 7, 2] = np.nan                   # one NaN: arviz_stats' own answer
        x[:, :, 3] = x[:, :, 3] > 0.3         # an indicator
        return x
    if kind == "one_chain":
        return _ar1(rng, 1, 300, 5, np.full(5, 0.5))
    raise AssertionError(kind)


@pytest.mark.parametrize("kind", ["independent", "autocorrelated", "odd_draws_and_edge_cases",
                                  "one_chain"])
def test_batched_rhat_ess_equal_arviz_stats_to_the_bit(kind: str) -> None:
    values = _draws(kind)
    want = _reference(values)
    got = diagnostics.rhat_ess(values)
    for name, w, g in zip(("rhat", "ess_bulk", "ess_tail"), want, got, strict=True):
        assert g.shape == w.shape, name
        assert np.array_equal(g, w, equal_nan=True), (
            name, np.nanmax(np.abs(g - w)), np.flatnonzero(~((g == w) | (np.isnan(g) & np.isnan(w)))))


def test_gate_reads_a_tree_as_before() -> None:
    """check() on a DataTree: the extremes over variables as the per-coordinate gate had them."""
    rng = np.random.default_rng(7)
    post = xr.Dataset({
        "mu": (("chain", "draw"), rng.standard_normal((4, 400))),
        "theta": (("chain", "draw", "gemeente"), _ar1(rng, 4, 400, 30, np.linspace(0, 0.9, 30))),
        "tau": (("chain", "draw", "component"), np.abs(rng.standard_normal((4, 400, 2)))),
    })
    stats = xr.Dataset({"diverging": (("chain", "draw"), np.zeros((4, 400), dtype=bool))})
    tree = xr.DataTree.from_dict({"posterior": post, "sample_stats": stats})
    d = diagnostics.check(tree)
    names = ["mu", "tau", "theta"]
    with np.errstate(invalid="ignore", divide="ignore"):
        rhat = az.rhat(tree, var_names=names).to_dataset()
        bulk = az.ess(tree, var_names=names, method="bulk").to_dataset()
        tail = az.ess(tree, var_names=names, method="tail").to_dataset()
    assert d.rhat_max == max(float(np.nanmax(rhat[v].values)) for v in names)
    assert d.ess_bulk_min == min(float(np.nanmin(bulk[v].values)) for v in names)
    assert d.ess_tail_min == min(float(np.nanmin(tail[v].values)) for v in names)
    assert d.n_draws == 1600 and d.divergences == 0
