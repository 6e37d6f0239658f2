"""Words the report uses for codes: policy names of the arms, evidence types, comparisons,
and the order in which outcomes matter to the policy question.

The data and the model speak of "grades" (``se``, ``ci``, ``p``, ``counts``, ``marker``,
``prose``): how strong the printed number is. Reader-facing text calls them **evidence
types**, so that nobody reads them as a GRADE certainty rating (the report has its own,
separate certainty column; see :mod:`bayes_bijstand.report.certainty`).
"""

from __future__ import annotations

from ..evidence.grade_registry import REGISTRY as GRADE_REGISTRY
from ..plots._style import arm_name

ARM_POLICY_EN: dict[str, str] = {
    "zelf_in_actie": "Exemption from obligations",
    "extra_hulp": "Intensive coaching",
    "werken_loont": "Larger earnings disregard",
    "keuze": "Free choice (Groningen)",
    "zelf_in_actie+werken_loont": "Exemption + earnings disregard",
    "extra_hulp+werken_loont": "Intensive coaching + earnings disregard",
    "zelf_in_actie+extra_hulp": "Exemption + intensive coaching",
}
ARM_POLICY_NL: dict[str, str] = {
    "zelf_in_actie": "Vrijstelling van verplichtingen",
    "extra_hulp": "Intensieve begeleiding",
    "werken_loont": "Hogere vrijlating van bijverdiensten",
    "keuze": "Vrije keuze (Groningen)",
    "zelf_in_actie+werken_loont": "Vrijstelling + vrijlating",
    "extra_hulp+werken_loont": "Intensieve begeleiding + vrijlating",
    "zelf_in_actie+extra_hulp": "Vrijstelling + intensieve begeleiding",
}
ARM_SHORT_EN: dict[str, str] = {
    "zelf_in_actie": "Exemption", "extra_hulp": "Intensive\ncoaching",
    "werken_loont": "Earnings\ndisregard", "keuze": "Free choice\n(Groningen)",
    "zelf_in_actie+werken_loont": "Exemption +\ndisregard",
    "extra_hulp+werken_loont": "Coaching +\ndisregard",
    "zelf_in_actie+extra_hulp": "Exemption +\ncoaching",
}
"""Two-line column titles of the headline figure."""
ARM_ORDER: tuple[str, ...] = ("zelf_in_actie", "extra_hulp", "werken_loont", "keuze",
                              "zelf_in_actie+werken_loont", "extra_hulp+werken_loont",
                              "zelf_in_actie+extra_hulp")
"""Single policies first, then the bundles (which are sums of components plus an interaction)."""

HEADLINE_EMPLOYMENT: tuple[str, ...] = (
    "outflow_work", "work_gt8h", "work_gt12h", "work_gt27h",
    "income_gt50_wml", "income_gt70_wml", "income_gt100_wml",
)
"""Employment outcomes of the headline, most important first: leaving assistance for work,
then work of increasing hours, then earnings above the minimum-wage thresholds."""

HEADLINE_SURVEY: tuple[str, ...] = (
    "wellbeing", "health", "life_satisfaction", "self_efficacy", "social_trust",
    "institutional_trust", "participation", "stress",
)
"""The main survey outcomes of the headline (the first four that were pooled are shown)."""

IMPORTANCE: tuple[str, ...] = (
    *HEADLINE_EMPLOYMENT, "outflow_benefit", "work_any", "work_gt32h", "contract_permanent",
    "contract_temporary", "outflow_parttime", "dropout", *HEADLINE_SURVEY,
)
"""Outcome order everywhere in the report; outcomes not listed follow in their file order."""

EVIDENCE_TYPE: dict[str, str] = {g.name: g.label for g in GRADE_REGISTRY}
"""Reader-facing names of the evidence grades (the grade registry's labels)."""

_CLASS_OF_SE_RULE = {"printed": "numbers", "design": "numbers", "bounded": "marker",
                     "censored": "prose"}
EVIDENCE_CLASS: dict[str, str] = {g.name: _CLASS_OF_SE_RULE[g.se_rule] for g in GRADE_REGISTRY}
"""Three classes for the certainty column: printed numbers, a significance marker, prose."""

COMPARISON_LABEL: dict[str, str] = {
    "vs_control": "randomised vs control",
    "participants_vs_control": "participants only vs control",
    "vs_reference": "vs untouched reference group",
    "non_randomised": "non-randomised",
    "nonparticipants_vs_control": "non-participants vs control",
    "arm_vs_arm": "arm vs arm",
    "pre_post": "before vs after",
}


def policy_en(arm: str) -> str:
    """English policy name of an arm code (the code itself, readable, when unknown)."""
    return ARM_POLICY_EN.get(arm, arm_name(arm))


def policy_nl(arm: str) -> str:
    """Dutch policy name of an arm code."""
    return ARM_POLICY_NL.get(arm, arm_name(arm))


def arm_sort_key(arm: str) -> tuple[int, str]:
    """Sort key: known arms in :data:`ARM_ORDER`, others after them alphabetically."""
    return (ARM_ORDER.index(arm), "") if arm in ARM_ORDER else (len(ARM_ORDER), arm)


def outcome_sort_key(outcome: str, file_order: dict[str, int] | None = None) -> tuple[int, int, str]:
    """Sort key: outcomes in :data:`IMPORTANCE`, then the rest in ``file_order``."""
    if outcome in IMPORTANCE:
        return (0, IMPORTANCE.index(outcome), outcome)
    return (1, (file_order or {}).get(outcome, 10_000), outcome)


def evidence_type(grade: str) -> str:
    """Reader-facing name of an evidence grade code."""
    return EVIDENCE_TYPE.get(str(grade), str(grade))
