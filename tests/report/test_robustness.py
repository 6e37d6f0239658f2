"""Robustness refits: each multiverse variant changes exactly its assumption, and leaving a
municipality out removes exactly its rows of that outcome (the fit itself is stubbed here;
the refits use the production ``fit_meta``)."""

from __future__ import annotations

from typing import Any

import pandas as pd
import pytest

from bayes_bijstand import robustness
from bayes_bijstand.specs import ModelSpec


def test_variants_change_one_assumption_each() -> None:
    base = ModelSpec(name="t")
    got = {name: change(base) for name, _, change in robustness.VARIANTS}
    assert got["baseline"] == base
    assert got["bias_sd_x2"].bias_sd == {k: 2 * v for k, v in base.bias_sd.items()}
    assert got["bias_sd_x0.5"].bias_sd == {k: 0.5 * v for k, v in base.bias_sd.items()}
    assert got["randomised_only"].comparisons == ("vs_control",)
    assert "prose" not in got["no_prose"].grades and "marker" in got["no_prose"].grades
    assert set(got["numbers_only"].grades) == {"se", "ci", "p", "counts"}
    assert got["decliner_shift_x3"].offer_spillover_sd == pytest.approx(3 * base.offer_spillover_sd)
    assert got["no_covariate_credit"].r2_alpha / (got["no_covariate_credit"].r2_alpha
                                                  + got["no_covariate_credit"].r2_beta) < 0.01
    assert got["priors_x2"].binary.mu_sd == pytest.approx(2 * base.binary.mu_sd)
    assert got["priors_x2"].score.tau_sd == pytest.approx(2 * base.score.tau_sd)
    assert got["all_time_points"].months == "all"
    for name, spec in got.items():  # nothing else moved
        if name != "baseline":
            assert spec.sampler == base.sampler and spec.kind == base.kind


def test_leave_one_out_drops_exactly_one_municipality(monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[pd.DataFrame] = []

    def fake_fit(ev: pd.DataFrame, spec: Any, outcome: str, cores: int) -> list[dict[str, Any]]:
        seen.append(ev)
        return [{"arm": "extra_hulp", "mean": 0.0, "ci_low": -1.0, "ci_high": 1.0,
                 "prob_gt_0": 0.5, "status": "passed"}]

    monkeypatch.setattr(robustness, "_fit", fake_fit)
    ev = pd.DataFrame({"outcome": ["w", "w", "w", "h"], "gemeente": ["a", "b", "b", "b"]})
    out = robustness.leave_one_out(ev, ModelSpec(name="t"), "w", ["a", "b"])
    assert list(out["left_out"]) == ["a", "b"]
    assert seen[0].to_dict("list") == {"outcome": ["w", "w", "h"], "gemeente": ["b", "b", "b"]}
    assert seen[1].to_dict("list") == {"outcome": ["w", "h"], "gemeente": ["a", "b"]}
