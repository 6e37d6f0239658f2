"""Certainty of evidence per result (outcome x arm): a GRADE-like rating with its reasons.

Like GRADE, a result starts at **high** because the evidence comes from randomised
experiments, and every concern lowers it by one level (to moderate, low, very low):

1. **Risk of bias**: a municipality enters through a weaker comparison (participants only,
   an untouched reference group, non-randomised), which the model covers with a bias prior.
2. **Evidence type** (how the number is known): fewer than half of the municipalities print
   a number with its uncertainty (SE, CI, p-value or group counts); with none at all
   (only significance markers and prose) two levels.
3. **Imprecision**: the 90% interval includes both no effect and the minimal important
   difference (MID) in either direction; two levels when it reaches beyond the MID on both
   sides.
4. **Inconsistency**: the municipalities point in opposite directions; with a single
   municipality it cannot be judged, which also costs a level.
5. **Prior dominance**: the posterior SD of the pooled effect is more than 80% of its prior
   SD, so the prior rather than the data sets the width.
6. **Sensitivity**: an exact refit (one municipality left out, one assumption of the
   multiverse changed) or the joint fit of the nested thresholds moves the conclusion (the
   interval changes side of zero, or the probability of a gain crosses 50% with a shift of
   at least the MID). Refits that failed the diagnostics do not count.

The rating is computed only from numbers the run wrote (the record of the fit and the
spec that ran), so it can be recomputed and audited; :func:`rate` returns the level and the
reasons in plain words.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from .vocab import EVIDENCE_CLASS

LEVELS: tuple[str, ...] = ("very low", "low", "moderate", "high")
LEVELS_NL: dict[str, str] = {"very low": "zeer laag", "low": "laag", "moderate": "matig",
                             "high": "hoog"}
PRIOR_DOMINANCE = 0.8
"""Posterior/prior SD above which a result is flagged as mostly the prior speaking."""


@dataclass
class Certainty:
    """The rating of one result and everything it was computed from."""

    level: str
    reasons: list[str] = field(default_factory=list)
    reasons_nl: list[str] = field(default_factory=list)
    n_gemeenten: int = 0
    n_numbers: int = 0
    n_marker: int = 0
    n_prose: int = 0
    weak_comparisons: list[str] = field(default_factory=list)
    sd_ratio: float = math.nan
    sensitivity: list[str] = field(default_factory=list)  # alternatives that move the conclusion

    @property
    def mostly_prior(self) -> bool:
        """True when the data barely narrowed the prior (posterior/prior SD > 0.8)."""
        return math.isfinite(self.sd_ratio) and self.sd_ratio > PRIOR_DOMINANCE

    @property
    def level_nl(self) -> str:
        return LEVELS_NL[self.level]

    def mix(self) -> str:
        """``"2 printed numbers, 1 marker, 3 prose"``: how each municipality's number is known."""
        parts = []
        if self.n_numbers:
            parts.append(f"{self.n_numbers} printed number{'s' if self.n_numbers != 1 else ''}")
        if self.n_marker:
            parts.append(f"{self.n_marker} marker{'s' if self.n_marker != 1 else ''}")
        if self.n_prose:
            parts.append(f"{self.n_prose} prose")
        return ", ".join(parts)


def components(arm: str) -> set[str]:
    """The components of an arm code (``a+b`` -> {a, b})."""
    return set(str(arm).split("+"))


def relevant_rows(gemeente_effects: list[dict[str, Any]], arm: str) -> list[dict[str, Any]]:
    """The municipality rows that inform ``arm``: same arm, or a bundle sharing a component."""
    comps = components(arm)
    return [g for g in gemeente_effects if components(g.get("arm", "")) & comps]


def prior_sd_arm(arm: str, spec: Any, kind: str) -> float:
    """Prior SD of the pooled effect ``mu_arm`` of ``arm`` under ``spec`` (model scale).

    Components model: the sum of the arm's component means (each Normal(0, mu_sd)) plus, for
    a bundle, the interaction Normal(0, interaction_sd). Arms model: Normal(0, mu_sd).
    """
    if spec is None:
        return math.nan
    pri = spec.priors(kind)
    comps = components(arm)
    if getattr(spec, "kind", "meta_components") != "meta_components" or len(comps) == 1:
        return float(pri.mu_sd)
    return math.sqrt(len(comps) * pri.mu_sd ** 2 + pri.interaction_sd ** 2)


def moved(base: dict[str, float], alt: dict[str, float], mid: float) -> bool:
    """Whether ``alt`` (``mean, ci_low, ci_high, prob_gt_0``) moves the conclusion of ``base``:
    its interval is on another side of zero (excludes zero where the other does not, or on
    the opposite side), or P(effect > 0) crosses 50% with a shift of the mean of at least
    ``mid`` (the minimal important difference)."""
    def side(r: dict[str, float]) -> int:
        return 1 if r["ci_low"] > 0 else (-1 if r["ci_high"] < 0 else 0)

    if side(base) != side(alt):
        return True
    return bool((base["prob_gt_0"] - 0.5) * (alt["prob_gt_0"] - 0.5) < 0
                and abs(base["mean"] - alt["mean"]) >= mid)


Alternative = tuple[str, str, dict[str, float]]
"""(English label, Dutch label, the alternative result's ``mean, ci_low, ci_high, prob_gt_0``)."""


def _sign(g: dict[str, Any]) -> int:
    for key in ("published", "direction"):
        v = g.get(key)
        try:
            x = float(v)
        except (TypeError, ValueError):
            continue
        if math.isfinite(x) and x != 0:
            return 1 if x > 0 else -1
    return 0


def rate(*, arm: str, mean: float, ci_low: float, ci_high: float, sd: float, mid: float,
         gemeente_effects: list[dict[str, Any]], prior_sd: float,
         directions: dict[tuple[str, str], int] | None = None,
         ci_prob: float = 0.9, p_gt0: float = math.nan,
         alternatives: list[Alternative] | None = None) -> Certainty:
    """The certainty of one pooled result (model scale numbers).

    ``gemeente_effects`` are the fit record's per-municipality rows (gemeente, arm, grade,
    comparison, published); ``directions`` optionally gives the stated direction of prose
    rows by (gemeente, arm), which have no published number. ``ci_prob``: the level of
    ``ci_low``/``ci_high`` (the run's, ``fit --ci-prob``), named in the reasons.
    """
    lev = f"{100 * ci_prob:g}%"
    rows = relevant_rows(gemeente_effects, arm)
    by_g: dict[str, list[dict[str, Any]]] = {}
    for g in rows:
        by_g.setdefault(str(g["gemeente"]), []).append(g)
    # A municipality's evidence type is the strongest class among its rows for this arm.
    rank = {"numbers": 0, "marker": 1, "prose": 2}
    cls = {gm: min((EVIDENCE_CLASS.get(str(r.get("grade")), "prose") for r in rs), key=rank.get)
           for gm, rs in by_g.items()}
    c = Certainty(level="high", n_gemeenten=len(by_g),
                  n_numbers=sum(v == "numbers" for v in cls.values()),
                  n_marker=sum(v == "marker" for v in cls.values()),
                  n_prose=sum(v == "prose" for v in cls.values()),
                  sd_ratio=sd / prior_sd if prior_sd and math.isfinite(prior_sd) else math.nan)
    down = 0
    weak = sorted({str(r.get("comparison")) for r in rows
                   if r.get("comparison") not in (None, "vs_control")})
    c.weak_comparisons = weak
    if weak:
        down += 1
        c.reasons.append("weaker comparisons with a bias prior (" + ", ".join(
            w.replace("_", " ") for w in weak) + ")")
        c.reasons_nl.append("zwakkere vergelijkingen met een bias-prior")
    if c.n_gemeenten and c.n_numbers == 0:
        down += 2
        c.reasons.append("no municipality prints a number with its uncertainty "
                         "(markers and prose only)")
        c.reasons_nl.append("geen gemeente publiceert een getal met onzekerheid "
                            "(alleen significantie-tekens en tekst)")
    elif c.n_gemeenten and c.n_numbers < c.n_gemeenten / 2:
        down += 1
        c.reasons.append(f"only {c.n_numbers} of {c.n_gemeenten} municipalities print a number "
                         "with its uncertainty")
        c.reasons_nl.append(f"slechts {c.n_numbers} van {c.n_gemeenten} gemeenten publiceren een "
                            "getal met onzekerheid")
    if ci_low < -mid and ci_high > mid:
        down += 2
        c.reasons.append(f"the {lev} interval reaches beyond an important loss and an "
                         "important gain")
        c.reasons_nl.append(f"het {lev}-interval loopt van een belangrijk verlies tot een "
                            "belangrijke winst")
    elif (ci_low < 0 < ci_high) and (ci_high > mid or ci_low < -mid):
        down += 1
        c.reasons.append(f"the {lev} interval includes no effect and an important effect")
        c.reasons_nl.append(f"het {lev}-interval omvat zowel geen effect als een belangrijk effect")
    if c.n_gemeenten <= 1:
        down += 1
        c.reasons.append("a single municipality: differences between municipalities cannot "
                         "be judged")
        c.reasons_nl.append("één gemeente: verschillen tussen gemeenten zijn niet te beoordelen")
    else:
        signs = set()
        for g in rows:
            s = _sign(g) or (directions or {}).get((str(g["gemeente"]), str(g["arm"])), 0)
            if s:
                signs.add(s)
        if signs == {1, -1}:
            down += 1
            c.reasons.append("municipalities point in opposite directions")
            c.reasons_nl.append("gemeenten wijzen in tegengestelde richtingen")
    if c.mostly_prior:
        down += 1
        c.reasons.append(f"the data barely narrowed the prior (posterior/prior SD "
                         f"{c.sd_ratio:.2f})")
        c.reasons_nl.append(f"de data versmallen de prior nauwelijks (posterior/prior-SD "
                            f"{c.sd_ratio:.2f})".replace(".", ","))
    base = {"mean": mean, "ci_low": ci_low, "ci_high": ci_high, "prob_gt_0": p_gt0}
    shifts = [(en, nl) for en, nl, alt in (alternatives or [])
              if all(math.isfinite(v) for v in (*base.values(), *alt.values()))
              and moved(base, alt, mid)]
    if shifts:
        down += 1
        more = f" and {len(shifts) - 3} more" if len(shifts) > 3 else ""
        c.reasons.append("the conclusion changes when " + "; when ".join(en for en, _ in shifts[:3])
                         + more + " (exact refits)")
        c.reasons_nl.append("de conclusie verandert als " + "; als ".join(nl for _, nl in shifts[:3])
                            + (f" en {len(shifts) - 3} andere" if len(shifts) > 3 else "")
                            + " (exacte herschattingen)")
    c.sensitivity = [en for en, _ in shifts]
    c.level = LEVELS[max(0, 3 - down)]
    return c
