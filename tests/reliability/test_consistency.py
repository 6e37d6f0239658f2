"""Constants repeated to keep the bad-input path import-light agree with their sources."""

from __future__ import annotations

from bayes_bijstand import specs
from bayes_bijstand.evidence.grades import GRADES
from bayes_bijstand.evidence.load import load_outcomes
from bayes_bijstand.run import plan


def test_spec_grades_are_the_evidence_grades() -> None:
    assert specs.GRADES == GRADES
    assert specs.ModelSpec(name="x").grades == GRADES


def test_planning_outcome_kind_is_meta_outcome_kind() -> None:
    from bayes_bijstand import meta

    codes = [*load_outcomes()["outcome"], "not_an_outcome"]
    assert [plan.outcome_kind(o) for o in codes] == [meta.outcome_kind(o) for o in codes]
