"""The evidence-grade registry: every grade's name, rank and rules, as plain data, in one place.

A grade says what a published row tells us about its sampling error (see
:mod:`bayes_bijstand.evidence.grades` for how a row gets its grade and its measurement).
Everything else asks this registry, never compares grade strings: the spec's default grade
list and its validation (:mod:`bayes_bijstand.specs`), the selection's "strongest grade
first" rule, the likelihood terms of the model (which follow ``se_rule``), the frequentist
twin (``frequentist``) and the figures (``label``, ``marker``).

``se_rule`` is how the model treats the row's standard error:

* ``printed``   known: printed, or derived exactly from a printed CI or p-value;
* ``design``    design-based (binomial) SE from the group sizes, times sqrt(1 - R^2) (prior);
* ``bounded``   latent, bounded by the significance legend's thresholds;
* ``censored``  no estimate on the model scale: a censored likelihood on the z statistic.

Plain data and no SciPy, so that parsing a spec (all a bad spec needs) stays import-light.
"""

from __future__ import annotations

from dataclasses import dataclass

SE_RULES: tuple[str, ...] = ("printed", "design", "bounded", "censored")


@dataclass(frozen=True)
class Grade:
    """One evidence grade (see the module docstring for ``se_rule``)."""

    name: str
    se_rule: str
    frequentist: bool  # a known sampling variance without a prior: enters the frequentist twin
    label: str  # legend text
    marker: str  # matplotlib marker of its rows in the forest plot
    printed: str  # what the report printed, in words
    likelihood: str  # how the model uses the row, in words (the report's methods section)

    def __post_init__(self) -> None:
        if self.se_rule not in SE_RULES:
            raise ValueError(f"grade '{self.name}': unknown se_rule '{self.se_rule}' "
                             f"(known: {', '.join(SE_RULES)})")


REGISTRY: tuple[Grade, ...] = (
    Grade("se", "printed", True, "printed SE", "o", "a standard error",
          "Normal(y | effect, printed SE)"),
    Grade("ci", "printed", True, "printed CI", "s", "a confidence interval",
          "Normal, with SE = (upper - lower) / (2 z) of the printed interval"),
    Grade("p", "printed", True, "printed p-value", "D", "an exact p-value and the estimate",
          "Normal, with SE = |estimate| / z(p/2) from the printed p-value"),
    Grade("counts", "design", True, "group counts", "^",
          "group sizes (and the control mean, binary outcome)",
          "Normal, with the design-based binomial SE from the group sizes, reduced by an "
          "unknown covariate-adjustment credit sqrt(1 - R2)"),
    Grade("marker", "bounded", False, "significance marker", "v",
          "a significance marker (*, ~, n.s.) and the estimate",
          "Normal with a latent SE: log-normal around the design-based SE, truncated to the "
          "band the significance marker implies"),
    Grade("prose", "censored", False, "prose (direction only)", ">",
          "only a direction and significance in words",
          "interval-censored z: the probability of the stated direction and significance band, "
          "with the SE from the registry's group sizes (log-normal spread)"),
)
"""Every grade, strongest first (the order is the rank)."""

GRADES: tuple[str, ...] = tuple(g.name for g in REGISTRY)
"""Grade names, strongest first."""

_BY_NAME: dict[str, Grade] = {g.name: g for g in REGISTRY}


def get_grade(name: str) -> Grade:
    """The :class:`Grade` called ``name`` (a ``ValueError`` naming the known grades if none)."""
    try:
        return _BY_NAME[name]
    except KeyError:
        raise ValueError(f"unknown evidence grade '{name}' (known: {', '.join(GRADES)})") from None


def rank(name: str) -> int:
    """0 for the strongest grade; grades not in the registry (``none``) rank last."""
    return GRADES.index(name) if name in _BY_NAME else len(GRADES)


def grades_with(*, se_rule: str | None = None, frequentist: bool | None = None) -> tuple[str, ...]:
    """Names of the grades with these properties, strongest first."""
    return tuple(g.name for g in REGISTRY
                 if (se_rule is None or g.se_rule == se_rule)
                 and (frequentist is None or g.frequentist == frequentist))
