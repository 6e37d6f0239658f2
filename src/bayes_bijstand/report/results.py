"""The report's results: one :class:`Result` per outcome x arm of every passed main fit,
with its certainty rating, in the order of the policy question.

Everything comes from what the run wrote (``summary.json``, ``fits/<name>.json``) and the
spec that ran; nothing is sampled again.
"""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass
from typing import Any

from ..evidence.grade_registry import grades_with
from .certainty import Alternative, Certainty, prior_sd_arm, rate
from .vocab import (
    HEADLINE_EMPLOYMENT,
    HEADLINE_SURVEY,
    arm_sort_key,
    outcome_sort_key,
    policy_en,
    policy_nl,
)


@dataclass
class Result:
    """One pooled effect (outcome x arm) on the display scale (pp or SD)."""

    outcome: str
    arm: str
    label_en: str
    label_nl: str
    kind: str
    factor: float  # model scale -> display scale (100 for pp)
    mid: float  # display scale
    mean: float
    ci_low: float
    ci_high: float
    sd: float
    p_gt0: float
    p_gt_mid: float
    new_low: float
    new_high: float
    tau: float
    freq: dict[str, Any]
    certainty: Certainty

    @property
    def unit(self) -> str:
        """Short display unit: ``pp`` or ``SD``."""
        return "pp" if self.kind == "binary" else "SD"

    @property
    def policy_en(self) -> str:
        return policy_en(self.arm)

    @property
    def policy_nl(self) -> str:
        return policy_nl(self.arm)


def _f(x: Any) -> float:
    try:
        v = float(x)
    except (TypeError, ValueError):
        return math.nan
    return v


VARIANT_EN: dict[str, str] = {
    "bias_sd_x0.5": "the bias priors are halved", "bias_sd_x2": "the bias priors are doubled",
    "randomised_only": "only randomised comparisons count",
    "no_prose": "prose statements are left out",
    "numbers_only": "significance markers and prose are left out",
    "groningen_variant_b": "Groningen is compared with its reference group (variant B)",
    "decliner_shift_x3": "the decliner shift is three times wider",
    "marker_se_spread_x2": "the SE spread of marker rows doubles",
    "no_covariate_credit": "covariates earn almost no precision",
    "no_coach_component": "the coach component is off",
    "priors_x2": "the priors are twice as wide",
    "all_time_points": "every time point counts",
}
"""The multiverse variants in English, as the end of "the conclusion changes when ..."."""

VARIANT_NL: dict[str, str] = {
    "bias_sd_x0.5": "de bias-priors gehalveerd worden", "bias_sd_x2": "de bias-priors verdubbeld worden",
    "randomised_only": "alleen gerandomiseerde vergelijkingen meetellen",
    "no_prose": "tekstuitspraken weggelaten worden",
    "numbers_only": "significantie-tekens en tekst weggelaten worden",
    "groningen_variant_b": "Groningen met de referentiegroep vergeleken wordt (variant B)",
    "decliner_shift_x3": "de verschuiving bij weigeraars drie keer ruimer is",
    "marker_se_spread_x2": "de spreiding van de SE bij significantie-tekens verdubbelt",
    "no_covariate_credit": "covariaten vrijwel geen precisie opleveren",
    "no_coach_component": "de coach-component uit staat",
    "priors_x2": "de priors twee keer ruimer zijn",
    "all_time_points": "alle meetmomenten meetellen",
}
"""The multiverse variants in Dutch, as the end of "de conclusie verandert als ..."."""


def alternatives(loo: Any, multi: Any, thresholds: list[dict[str, Any]],
                 ) -> dict[tuple[str, str], list[Alternative]]:
    """Per (outcome, arm) the same result from the exact refits (leave one municipality out,
    multiverse; the tables ``robustness_loo.csv`` and ``multiverse.csv``) and from the
    joint thresholds fit, passed diagnostics only: what :func:`~.certainty.rate` checks."""
    from ..plots._style import gemeente_name

    out: dict[tuple[str, str], list[Alternative]] = {}

    def add(o: str, arm: str, en: str, nl: str, r: dict[str, Any], pre: str = "") -> None:
        alt = {k: _f(r.get(pre + k)) for k in ("mean", "ci_low", "ci_high", "prob_gt_0")}
        out.setdefault((o, arm), []).append((en, nl, alt))

    for df, key in ((loo, "left_out"), (multi, "variant")):
        if df is None or len(df) == 0 or key not in df:
            continue
        for r in df.to_dict("records"):
            k = r.get(key)
            if not isinstance(k, str) or not k or k == "baseline" or r.get("status") != "passed":
                continue
            if not isinstance(r.get("arm"), str) or not r["arm"]:
                continue
            if key == "left_out":
                en = nl = gemeente_name(k)
                en, nl = f"{en} is left out", f"{nl} wordt weggelaten"
            else:
                what = r.get("what")
                en = VARIANT_EN.get(k) or (f"'{what}'" if isinstance(what, str) and what else k)
                nl = VARIANT_NL.get(k, k)
            add(str(r["outcome"]), r["arm"], en, nl, r)
    for t in thresholds or []:
        if t.get("joint_mean") is None:
            continue
        add(str(t["outcome"]), str(t["arm"]), "the thresholds are fitted jointly",
            "de drempels samen geschat worden", t, pre="joint_")
    return out


def collect(summary: dict[str, Any], records: dict[str, dict[str, Any]], spec: Any,
            file_order: dict[str, int] | None = None,
            alts: dict[tuple[str, str], list[Alternative]] | None = None) -> list[Result]:
    """Every passed main fit's pooled arm effects, ordered by outcome importance, then arm.

    ``alts``: per (outcome, arm) the same result under refits (:func:`alternatives`), which
    the certainty rating checks."""
    out: list[Result] = []
    for name, fit in summary.get("fits", {}).items():
        if fit.get("role") != "main" or fit.get("status") != "passed":
            continue
        rec = records.get(name, {})
        kind = str(fit.get("kind", "binary"))
        factor = _f(rec.get("display_factor")) or (100.0 if kind == "binary" else 1.0)
        if not math.isfinite(factor):
            factor = 100.0 if kind == "binary" else 1.0
        mid = _f(rec.get("mid"))
        if not math.isfinite(mid) and spec is not None:
            mid = float(spec.priors(kind).mid)
        pooled = {(p["parameter"], p["label"]): p for p in (rec.get("pooled") or fit.get("pooled", []))}
        geff = rec.get("gemeente_effects") or []
        directions = {}
        for e in rec.get("evidence") or []:
            if e.get("used") in (True, "True", 1) and e.get("grade") in grades_with(se_rule="censored"):
                d = _f(e.get("direction"))
                if math.isfinite(d) and d != 0:
                    directions[(str(e.get("gemeente")), str(e.get("arm")))] = 1 if d > 0 else -1
        arms = [lab for (par, lab) in pooled if par == "mu_arm"]
        for arm in arms:
            p = pooled[("mu_arm", arm)]
            n = pooled.get(("theta_new", arm), {})
            t = pooled.get(("tau_arm", arm), {})
            level = _f(p.get("ci_prob"))
            level = level if math.isfinite(level) and 0 < level < 1 else 0.9
            sd = _f(p.get("sd"))
            if not math.isfinite(sd):  # summary.json rows: recover from the interval
                z = 1.6448536 if level == 0.9 else statistics.NormalDist().inv_cdf(0.5 + level / 2)
                sd = (_f(p.get("ci_high")) - _f(p.get("ci_low"))) / (2 * z)
            cert = rate(arm=arm, mean=_f(p.get("mean")), ci_low=_f(p.get("ci_low")),
                        ci_high=_f(p.get("ci_high")), sd=sd, mid=mid, gemeente_effects=geff,
                        prior_sd=prior_sd_arm(arm, spec, kind), directions=directions,
                        ci_prob=level, p_gt0=_f(p.get("prob_gt_0")),
                        alternatives=(alts or {}).get((str(fit["outcome"]), arm)))
            freq = {k: p.get(k) for k in p if str(k).startswith("freq_")}
            freq.update({f"pi_{k}": n.get(k) for k in ("freq_ci_low", "freq_ci_high")})
            out.append(Result(
                outcome=str(fit["outcome"]), arm=arm,
                label_en=str(fit.get("label_en") or fit["outcome"]),
                label_nl=str(fit.get("label_nl") or fit["outcome"]), kind=kind, factor=factor,
                mid=mid * factor, mean=_f(p.get("mean")) * factor,
                ci_low=_f(p.get("ci_low")) * factor, ci_high=_f(p.get("ci_high")) * factor,
                sd=sd * factor, p_gt0=_f(p.get("prob_gt_0")), p_gt_mid=_f(p.get("prob_gt_mid")),
                new_low=_f(n.get("ci_low")) * factor, new_high=_f(n.get("ci_high")) * factor,
                tau=_f(t.get("mean")) * factor, freq=freq, certainty=cert))
    out.sort(key=lambda r: (outcome_sort_key(r.outcome, file_order), arm_sort_key(r.arm)))
    return out


def headline(results: list[Result], n_survey: int = 4) -> list[Result]:
    """The results of the headline: the employment outcomes and the first ``n_survey``
    pooled main survey outcomes, in importance order."""
    have = {r.outcome for r in results}
    survey = [o for o in HEADLINE_SURVEY if o in have][:n_survey]
    keep = set(HEADLINE_EMPLOYMENT) | set(survey)
    return [r for r in results if r.outcome in keep]


def _pp(x: float, unit: str, nl: bool = False, signed: bool = True) -> str:
    nd = 1 if unit == "pp" else 2
    s = f"{x:+.{nd}f}" if signed else f"{x:.{nd}f}"
    s = s.replace("-", "\u2212")
    return s.replace(".", ",") if nl else s


def fmt_effect(r: Result, nl: bool = False) -> str:
    """``-1.7 pp [-7.8, 4.4]`` (Dutch: ``-1,7 pp [-7,8; 4,4]``)."""
    sep = "; " if nl else ", "
    return (f"{_pp(r.mean, r.unit, nl)} {r.unit} [{_pp(r.ci_low, r.unit, nl, False)}{sep}"
            f"{_pp(r.ci_high, r.unit, nl, False)}]")


def verdict(r: Result, nl: bool = False) -> str:
    """Plain words for P(effect > 0)."""
    p = r.p_gt0
    if p >= 0.95:
        return "zeer waarschijnlijk positief" if nl else "very likely positive"
    if p >= 0.8:
        return "waarschijnlijk positief" if nl else "probably positive"
    if p <= 0.05:
        return "zeer waarschijnlijk negatief" if nl else "very likely negative"
    if p <= 0.2:
        return "waarschijnlijk negatief" if nl else "probably negative"
    return "geen duidelijke richting" if nl else "no clear direction"


def _pct(p: float) -> str:
    return f"{100 * p:.0f}%" if math.isfinite(p) else "?"


def arm_sentences(results: list[Result], arm: str, *, nl: bool = False) -> str:
    """A few generated sentences for one arm (plain text; the HTML escapes it)."""
    rs = [r for r in results if r.arm == arm]
    if not rs:
        return ""
    emp = [r for r in rs if r.outcome in HEADLINE_EMPLOYMENT]
    key = next((r for r in emp if r.outcome == "work_gt8h"), emp[0] if emp else rs[0])
    c = key.certainty
    lab = key.label_nl if nl else key.label_en
    why = "; ".join((c.reasons_nl if nl else c.reasons)[:2])  # the two main reasons
    if nl:
        first = (f"{fmt_effect(key, True)} op {lab.lower()} "
                 f"({verdict(key, True)}); {_pct(key.p_gt0)} kans op enige winst, "
                 f"{_pct(key.p_gt_mid)} op meer dan {_pp(key.mid, key.unit, True, False)} "
                 f"{key.unit}; zekerheid {c.level_nl}" + (f" omdat {why}." if why else "."))
    else:
        first = (f"{fmt_effect(key)} on {lab[0].lower() + lab[1:]} "
                 f"({verdict(key)}); {_pct(key.p_gt0)} probability of any gain, "
                 f"{_pct(key.p_gt_mid)} of more than {_pp(key.mid, key.unit, False, False)} "
                 f"{key.unit}; certainty {c.level}" + (f" because {why}." if why else "."))
    others = [r for r in emp if r is not key]
    pos = [r for r in others if r.p_gt0 >= 0.8]
    neg = [r for r in others if r.p_gt0 <= 0.2]
    lbl = (lambda r: r.label_nl.lower()) if nl else (lambda r: r.label_en[0].lower() + r.label_en[1:])
    second = ""
    if others:
        if not pos and not neg:
            second = ("Geen van de andere werkuitkomsten ({}) heeft een duidelijke richting."
                      if nl else "None of the other employment outcomes ({}) has a clear direction.")
            second = second.format(len(others))
        else:
            bits = []
            for group, word_en, word_nl in ((pos, "probably higher", "waarschijnlijk hoger"),
                                            (neg, "probably lower", "waarschijnlijk lager")):
                if group:
                    items = ", ".join(f"{lbl(r)} {fmt_effect(r, nl)}" for r in group[:3])
                    bits.append(f"{word_nl if nl else word_en}: {items}")
            second = ("Andere werkuitkomsten " if nl else "Other employment outcomes ") + "; ".join(bits) + "."
    surv = [r for r in rs if r.outcome not in HEADLINE_EMPLOYMENT]
    third = ""
    if surv:
        clear = [r for r in surv if r.p_gt0 >= 0.9 or r.p_gt0 <= 0.1]
        if clear:
            items = ", ".join(f"{lbl(r)} {fmt_effect(r, nl)} ({verdict(r, nl)})" for r in clear[:3])
            third = ("Enquête-uitkomsten: " if nl else "Survey outcomes: ") + items + "."
        else:
            third = ("Geen duidelijke effecten op de enquête-uitkomsten." if nl
                     else "No clear effects on the survey outcomes.")
    n_prior = sum(r.certainty.mostly_prior for r in rs)
    fourth = ""
    if n_prior:
        fourth = (f"{n_prior} van de {len(rs)} resultaten zijn vooral de prior."
                  if nl else f"{n_prior} of these {len(rs)} results are mostly the prior speaking.")
    return " ".join(s for s in (first, second, third, fourth) if s)
