"""Robustness refits: each multiverse variant changes exactly its assumption, leaving a
municipality out removes exactly its rows of that outcome, a refit whose model data equal
another fit's is not run again, and the tables take every row from the right fit."""

from __future__ import annotations

from typing import Any

import pandas as pd
import pytest

from bayes_bijstand import robustness
from bayes_bijstand.run import refits
from bayes_bijstand.specs import ModelSpec


def test_variants_change_one_assumption_each() -> None:
    base = ModelSpec(name="t")
    got = {v.name: v.change(base) for v in refits.VARIANTS if v.name != "no_coach_component"}
    assert robustness.VARIANTS is refits.VARIANTS  # the separate command uses the same list
    assert got["bias_sd_x2"].bias_sd == {k: 2 * v for k, v in base.bias_sd.items()}
    assert got["bias_sd_x2"].bias_sd_score == {k: 2 * v for k, v in base.bias_sd_score.items()}
    assert got["bias_sd_x0.5"].bias_sd == {k: 0.5 * v for k, v in base.bias_sd.items()}
    assert got["randomised_only"].comparisons == ("vs_control",)
    assert "prose" not in got["no_prose"].grades and "marker" in got["no_prose"].grades
    assert set(got["numbers_only"].grades) == {"se", "ci", "p", "counts"}
    assert got["groningen_variant_b"].zelen_comparison == "vs_reference"
    assert got["decliner_shift_x3"].offer_spillover_sd == pytest.approx(3 * base.offer_spillover_sd)
    assert got["marker_se_spread_x2"].marker_se_sd == pytest.approx(2 * base.marker_se_sd)
    assert got["no_covariate_credit"].r2_alpha / (got["no_covariate_credit"].r2_alpha
                                                  + got["no_covariate_credit"].r2_beta) < 0.01
    assert got["priors_x2"].binary.mu_sd == pytest.approx(2 * base.binary.mu_sd)
    assert got["priors_x2"].score.tau_sd == pytest.approx(2 * base.score.tau_sd)
    assert got["all_time_points"].months == "all"
    for spec in got.values():  # nothing else moved
        assert spec != base and spec.sampler == base.sampler and spec.kind == base.kind
    with pytest.raises(refits.NotExpressible):  # already the reference group: nothing to vary
        refits.get_variant("groningen_variant_b").change(got["groningen_variant_b"])


def test_refit_spec_samples_fewer_draws_at_the_first_retry_rung() -> None:
    from bayes_bijstand.meta import RETRY_LADDER

    base = ModelSpec(name="t")
    s = refits.refit_spec(base)
    assert s.sampler.draws == base.sampler.draws // 2
    assert s.sampler.target_accept == max(base.sampler.target_accept, RETRY_LADDER[0][0])
    assert refits.refit_spec(base, draws=123).sampler.draws == 123
    tiny = refits.refit_spec(base.with_overrides(draws=20))  # never more than the run's own
    assert tiny.sampler.draws == 20


def test_leave_one_out_drops_exactly_one_municipality() -> None:
    ev = pd.DataFrame({"outcome": ["w", "w", "w", "h"], "gemeente": ["a", "b", "b", "b"]})
    got, spec = refits.job_inputs("loo", "w", "b", "", ev, ModelSpec(name="t"))
    assert got.to_dict("list") == {"outcome": ["w", "h"], "gemeente": ["a", "b"]}
    assert spec.sampler.draws < ModelSpec(name="t").sampler.draws
    same, spec2 = refits.job_inputs("main", "w", "", "", ev, ModelSpec(name="t"))
    assert same is ev and spec2 == ModelSpec(name="t")


def test_plan_skips_refits_whose_model_data_equal_another_fit(monkeypatch: pytest.MonkeyPatch) -> None:
    """On the shipped evidence: work > 12 h has only randomised numeric rows of Groningen and
    Nijmegen, so the bias and prose variants change nothing (they would be the main fit),
    and without markers and prose it is Groningen alone (the fit without Nijmegen)."""
    from bayes_bijstand.evidence.load import load_evidence
    from bayes_bijstand.specs import default_spec_path, load_spec

    spec = load_spec(default_spec_path())
    ev = load_evidence()
    keep = ("bias_sd_x2", "no_prose", "numbers_only", "priors_x2")  # four variants keep it cheap
    monkeypatch.setattr(refits, "VARIANTS", tuple(v for v in refits.VARIANTS if v.name in keep))
    planned, skipped = refits.plan_refits(ev, spec, ["work_gt12h"],
                                          {"work_gt12h": ["groningen", "nijmegen"]})
    names = [p.name for p in planned]
    assert names[:2] == ["work_gt12h.without-groningen", "work_gt12h.without-nijmegen"]
    assert names[2:] == ["work_gt12h.variant-priors_x2"]
    same = {s["variant"]: s["same_as"] for s in skipped}
    assert same["bias_sd_x2"] == same["no_prose"] == "work_gt12h"
    assert same["numbers_only"] == "work_gt12h.without-nijmegen"
    for s in skipped:  # every skipped row says why
        assert s["note"]
    # what "same" means: the packed model data are equal
    a = refits.model_data_array(ev, spec, "work_gt12h", "partial")
    b = refits.model_data_array(ev, refits.get_variant("bias_sd_x2").change(spec), "work_gt12h",
                                "partial")
    assert a[0] == b[0] and (a[1] == b[1]).all()


def _rec(name: str, role: str, mean: float, status: str = "passed", **kw: Any) -> dict[str, Any]:
    pooled = [{"parameter": "mu_arm", "label": "extra_hulp", "mean": mean, "ci_low": mean - 0.05,
               "ci_high": mean + 0.05, "prob_gt_0": 0.5 + mean}]
    return {"name": name, "outcome": "w", "role": role, "status": status, "pooled": pooled,
            "diagnostics": {"n_draws": 4000 if role == "main" else 2000}, "n_rows_used": 3,
            "gemeenten": ["a", "b"], "left_out": kw.get("left_out", ""),
            "variant": kw.get("variant", "")}


def test_refit_tables_take_each_row_from_its_fit() -> None:
    records = [_rec("w", "main", 0.01), _rec("w.without-b", "loo", 0.03, left_out="b"),
               _rec("w.without-a", "loo", 0.02, left_out="a"),
               _rec("w.variant-priors_x2", "variant", -0.01, status="failed", variant="priors_x2")]
    skipped = [{"outcome": "w", "role": "variant", "left_out": "", "variant": "no_prose",
                "what": "without prose rows", "same_as": "w", "note": "no row or prior ..."},
               {"outcome": "w", "role": "variant", "left_out": "", "variant": "numbers_only",
                "what": "x", "same_as": "w.without-b", "note": "the same model data as w.without-b"},
               {"outcome": "w", "role": "variant", "left_out": "", "variant": "no_coach_component",
                "what": "coach off", "same_as": "", "note": "no coach component"}]
    loo, multi = refits.refit_tables(records, skipped)
    assert list(loo["left_out"]) == ["", "a", "b"]  # main fit first, then the fit's order
    assert list(loo["mean"]) == [0.01, 0.02, 0.03]
    assert list(multi["variant"]) == ["baseline", "no_prose", "numbers_only",
                                      "no_coach_component", "priors_x2"]  # VARIANTS order
    m = multi.set_index("variant")
    assert m.loc["no_prose", "mean"] == 0.01 and m.loc["numbers_only", "mean"] == 0.03
    assert m.loc["priors_x2", "status"] == "failed"  # kept, marked
    assert m.loc["no_coach_component", "status"].startswith("not estimable")
    assert m.loc["baseline", "draws"] == 4000 and m.loc["priors_x2", "draws"] == 2000


def test_failed_refit_banner_says_it_is_shown_marked() -> None:
    from bayes_bijstand.report.build import _banners

    fits = {"w": {"role": "main", "status": "passed"},
            "w.variant-priors_x2": {"role": "variant", "status": "failed"}}
    text = _banners({"fits": fits})
    assert "ROBUSTNESS REFITS FAILED DIAGNOSTICS: w.variant-priors_x2" in text
    assert "excluded from every summary" not in text  # that line is for main fits
    fits["w"]["status"] = "failed"
    text = _banners({"fits": fits})
    assert "FAILED DIAGNOSTICS: w</strong>" in text and "ROBUSTNESS REFITS" in text
