"""The vocabulary registries: outcomes and their scales, evidence grades."""

from __future__ import annotations

import pytest

from bayes_bijstand.evidence.grade_registry import (
    GRADES,
    REGISTRY,
    SE_RULES,
    Grade,
    get_grade,
    grades_with,
    rank,
)
from bayes_bijstand.evidence.outcomes import (
    KINDS,
    get_outcome,
    get_scale,
    load_outcomes,
    outcome_kind,
    outcome_label,
)


def test_every_vocabulary_outcome_is_an_outcome_object() -> None:
    table = load_outcomes()
    for _, row in table.iterrows():
        o = get_outcome(row["outcome"], table)
        assert o.known and o.kind in KINDS
        assert o.kind == ("binary" if row["kind"] == "binary" else "score")
        assert (o.label_en, o.label_nl) == (row["label_en"], row["label_nl"])
        assert o.measured in ("register", "survey", "consultant_survey")


def test_shipped_outcomes_of_each_kind() -> None:
    assert outcome_kind("work_gt12h") == "binary" and outcome_kind("social_trust") == "score"
    assert get_outcome("social_trust").measured == "survey"
    assert get_outcome("work_gt12h").scale.name == "risk_difference"
    assert get_outcome("social_trust").scale.name == "smd"


def test_unknown_outcome_is_binary_and_labelled_by_its_code() -> None:
    o = get_outcome("my_own_outcome")
    assert not o.known and o.kind == "binary" and o.measured == "register"
    assert outcome_label("my_own_outcome") == ("my_own_outcome", "my_own_outcome")


def test_scales() -> None:
    rd, smd = get_scale("binary"), get_scale("score")
    assert (rd.name, rd.display_factor, rd.unit) == ("risk_difference", 100.0, "percentage points")
    assert (smd.name, smd.display_factor, smd.unit) == ("smd", 1.0, "SD (SMD)")
    with pytest.raises(ValueError, match="unknown outcome kind 'count'.*binary, score"):
        get_scale("count")


def test_grade_registry_order_and_rules() -> None:
    assert GRADES == ("se", "ci", "p", "counts", "marker", "prose")
    assert [rank(g) for g in GRADES] == list(range(len(GRADES)))
    assert rank("none") == len(GRADES)
    assert grades_with(se_rule="printed") == ("se", "ci", "p")
    assert grades_with(se_rule="design") == ("counts",)
    assert grades_with(se_rule="bounded") == ("marker",)
    assert grades_with(se_rule="censored") == ("prose",)
    assert grades_with(frequentist=False) == ("marker", "prose")
    assert {g.se_rule for g in REGISTRY} == set(SE_RULES)
    assert len({g.marker for g in REGISTRY}) == len(REGISTRY)  # one plot marker per grade


def test_grade_lookup_names_the_known_grades() -> None:
    assert get_grade("ci").label == "printed CI"
    with pytest.raises(ValueError, match="unknown evidence grade 't'.*se, ci, p"):
        get_grade("t")
    with pytest.raises(ValueError, match="unknown se_rule 'exact'"):
        Grade("t", "exact", True, "t statistic", "x", "a t statistic", "Normal")


def test_model_kinds() -> None:
    from bayes_bijstand.specs import KINDS, get_model_kind

    assert KINDS == ("meta_components", "meta_arms")
    assert get_model_kind("meta_components").components
    assert not get_model_kind("meta_arms").components
    with pytest.raises(ValueError, match="unknown model kind 'meta_x'.*meta_components"):
        get_model_kind("meta_x")


def test_model_kind_decides_the_design() -> None:
    """The registry's rule is what prepare() follows: a bundle is a sum under meta_components
    and its own component under meta_arms."""
    from dataclasses import replace

    from bayes_bijstand.evidence.load import load_evidence
    from bayes_bijstand.models.selection import select_rows
    from bayes_bijstand.models.summary_level import prepare
    from bayes_bijstand.specs import ModelSpec

    ev = load_evidence()
    for kind in ("meta_components", "meta_arms"):
        spec = replace(ModelSpec(name="x"), kind=kind)
        data = prepare(select_rows(ev, "work_gt12h", "binary", spec), "work_gt12h", "binary", spec)
        bundled = [a for a in data.arms if "+" in a]
        assert bundled
        if kind == "meta_components":
            assert set(data.bundles) == set(bundled)
            assert all(data.W[data.arms.index(a)].sum() == a.count("+") + 1 for a in bundled)
        else:
            assert data.bundles == () and data.components == data.arms


def test_reported_variables() -> None:
    from bayes_bijstand.variables import POOLED, pooled_names

    assert [v.name for v in POOLED] == ["mu", "tau", "mu_arm", "theta_new", "tau_arm",
                                        "sigma_coach", "gamma", "bias"]
    assert pooled_names(sd=True) == ("tau", "tau_arm", "sigma_coach")
    assert pooled_names(summary=True) == ("mu", "tau", "mu_arm", "theta_new", "tau_arm",
                                          "sigma_coach")
