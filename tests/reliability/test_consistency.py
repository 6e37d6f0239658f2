"""Each vocabulary has one definition: the spec, the selection, the model and the twin read the
registries instead of repeating their strings."""

from __future__ import annotations

from bayes_bijstand import specs
from bayes_bijstand.evidence import grades, outcomes
from bayes_bijstand.evidence.grade_registry import GRADES
from bayes_bijstand.frequentist import twin
from bayes_bijstand.run import plan


def test_spec_grades_are_the_evidence_grades() -> None:
    assert specs.GRADES is GRADES and grades.GRADES is GRADES
    assert specs.ModelSpec(name="x").grades == GRADES


def test_planning_and_fitting_share_one_outcome_kind() -> None:
    from bayes_bijstand import meta

    assert plan.outcome_kind is outcomes.outcome_kind
    assert meta.outcome_kind is outcomes.outcome_kind


def test_twin_grades_come_from_the_registry() -> None:
    assert twin.FREQ_GRADES == ("se", "ci", "p", "counts")
