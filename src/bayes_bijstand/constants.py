"""Project-wide constants: interval conventions, dimension names, coordinate orders."""

from __future__ import annotations

CI_PROB: float = 0.90
"""Default credible/confidence level reported in tables (90%, as the reports' ~ marker)."""

CI_KIND: str = "eti"
"""Equal-tailed intervals by default (stable under reparametrisation)."""

SAMPLE_DIMS: tuple[str, str] = ("chain", "draw")
DIM_GEMEENTE = "gemeente"
DIM_ARM = "arm"
DIM_COMPONENT = "component"
DIM_OUTCOME = "outcome"
DIM_MONTHS = "months"
DIM_ESTIMATE = "estimate"
DIM_COACH = "coach"

COMPONENTS: tuple[str, ...] = ("zelf_in_actie", "extra_hulp", "werken_loont")
"""The three treatment components of the AMvB; bundled arms are sums of these."""

GEMEENTEN: tuple[str, ...] = (
    "groningen", "utrecht", "tilburg", "wageningen", "deventer", "nijmegen", "oss", "tno",
    "apeldoorn_epe",
)

FIGURE_FORMATS: tuple[str, ...] = ("png",)
"""Figure files a run writes unless asked for more (``fit --svg`` adds an SVG copy of each,
about a fifth more drawing time); the HTML report embeds the PNG."""

RHAT_MAX = 1.01
ESS_MIN = 400
