"""The reported variables: which posterior quantities the tables carry, in one place.

Plain data, in the order the pooled tables list them. ``dim`` is the coordinate that labels a
variable's rows (``""``: a scalar, labelled ``"all"``); ``sd`` marks a between-municipality standard deviation (no probability of
being above zero is reported for it); ``summary`` marks the quantities ``summary.json``
carries for every fit.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Variable:
    """One reported posterior quantity."""

    name: str
    dim: str
    label: str
    sd: bool = False
    summary: bool = False


POOLED: tuple[Variable, ...] = (
    Variable("mu", "component", "pooled effect of a treatment component", summary=True),
    Variable("tau", "component", "between-municipality SD of a component", sd=True, summary=True),
    Variable("mu_arm", "arm", "pooled effect of an arm", summary=True),
    Variable("theta_new", "arm", "effect in a new municipality (predictive)", summary=True),
    Variable("tau_arm", "arm", "between-municipality SD of an arm's effect", sd=True, summary=True),
    Variable("sigma_coach", "", "SD of coach effects (one coach vs the average coach)", sd=True,
             summary=True),
    Variable("gamma", "bundle", "interaction of a bundled arm's components"),
    Variable("bias", "bias_comparison", "bias of a weaker comparison"),
)
"""The pooled quantities, in table order."""


def pooled_names(*, sd: bool | None = None, summary: bool | None = None) -> tuple[str, ...]:
    """Names of the pooled quantities with these properties, in table order."""
    return tuple(v.name for v in POOLED
                 if (sd is None or v.sd == sd) and (summary is None or v.summary == summary))
