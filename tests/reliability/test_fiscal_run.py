"""The run writes the net fiscal effect from the fitted effect outcome (fake fit, real tables)."""

from __future__ import annotations

import json
from pathlib import Path

import bb_fakes
import numpy as np
import pandas as pd
import pytest
import xarray as xr

from bayes_bijstand import fit


@pytest.fixture
def fake_fit(monkeypatch: pytest.MonkeyPatch) -> None:
    import bayes_bijstand.meta as meta

    monkeypatch.setattr(meta, "fit_meta", bb_fakes.fake_fit_meta)
    for k in ("BB_FAKE_SLEEP", "BB_FAKE_HANG_IN_WRITE", "BB_FAKE_FAIL", "BB_FAKE_LOG"):
        monkeypatch.delenv(k, raising=False)


COSTS = """
horizon_months = 12
effect_profile = "constant"
effect_outcomes = ["outflow_work"]
[benefit_cost_per_year]
low = 12000
high = 12000
source = "assumption"
basis = "test: 1,000 a month"
[arm_cost.zelf_in_actie]
low = 0
high = 0
source = "assumption"
basis = "test"
[arm_cost.extra_hulp]
low = 50
high = 50
source = "assumption"
basis = "test"
"""


def test_fiscal_table_follows_the_fitted_posterior(tmp_path: Path, fake_fit: None) -> None:
    costs = tmp_path / "costs.toml"
    costs.write_text(COSTS, encoding="utf-8")
    out = tmp_path / "out"
    assert fit.main(["--outcome", "outflow_work", *bb_fakes.TINY, "--out", str(out),
                     "--costs", str(costs)]) == 0
    summary = json.loads((out / "summary.json").read_text())
    assert summary["fiscal"]["outcome"] == "outflow_work"
    assert summary["inputs"]["costs_sha256"]
    tab = pd.read_csv(out / "fiscal.csv")
    pooled = tab[(tab["level"] == "pooled") & (tab["per"] == "participant")].set_index("arm")
    tree = xr.open_datatree(out / "fits" / "outflow_work.nc", engine="h5netcdf")
    mu = tree["posterior"]["mu_arm"]
    for arm in pooled.index:
        d = mu.sel(arm=arm).values.ravel()
        net = d * 12 * 1000.0 - 12 * (50.0 if arm == "extra_hulp" else 0.0)
        assert pooled.loc[arm, "mean_eur"] == pytest.approx(net.mean(), rel=1e-9, abs=1e-6)
        assert pooled.loc[arm, "prob_net_saving"] == pytest.approx(np.mean(net > 0))
    tree.close()
    inputs = pd.read_csv(out / "fiscal_inputs.csv")
    assert set(inputs["input"]) >= {"benefit_cost_per_year", "arm_cost_per_month.extra_hulp"}
    assert "Net fiscal effect" in (out / "summary.md").read_text()


def test_bad_cost_file_fails_before_anything_is_written(tmp_path: Path, fake_fit: None,
                                                        capsys: pytest.CaptureFixture[str]) -> None:
    costs = tmp_path / "costs.toml"
    costs.write_text(COSTS.replace("low = 50", "low = 500"), encoding="utf-8")  # low > high
    out = tmp_path / "out"
    assert fit.main(["--outcome", "outflow_work", *bb_fakes.TINY, "--out", str(out),
                     "--costs", str(costs)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "arm_cost.extra_hulp" in err[0], err
    assert not out.exists()
