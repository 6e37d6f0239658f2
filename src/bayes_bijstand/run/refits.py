"""Robustness refits of a run: leave one municipality out, and a multiverse of assumptions.

Two run roles (:class:`~bayes_bijstand.run.plan.Job`), planned for the refit outcomes
(:data:`REFIT_OUTCOMES`, the headline employment outcomes) and run through the same
executors, diagnostics gate and retries as every other fit of the run:

* ``loo``: an exact refit of the outcome without every evidence row of one municipality,
  for every municipality the main fit used, prose-only ones included;
* ``variant``: a refit under one changed assumption of :data:`VARIANTS` (bias priors halved
  and doubled, randomised comparisons only, no prose, no markers or prose, Groningen's
  reference-group contrast, a three times wider Zelen decliner shift, twice the spread of
  the latent SEs of marker rows, almost no covariate-adjustment credit, the coach component
  off, twice as wide priors, every time point).

A refit samples :data:`REFIT_DRAWS_FRACTION` of the spec's draws per chain at the first
retry rung's target acceptance (:func:`refit_spec`; the gate still applies, and its ESS
threshold is absolute, so a refit that mixes badly fails rather than passes on fewer
draws) and draws no predictive samples. A variant whose model data (rows,
priors, pooling weights: the packed array the compiled graph reads) equal the main fit's
would give the identical fit: it is not refitted, and its row says so with the main fit's
numbers. A variant the spec cannot express or that leaves no usable row is listed as not
estimable with the reason.

The rows (``robustness_loo.csv``, ``multiverse.csv`` and ``summary.json``'s ``robustness``)
hold the pooled effect per arm (``mu_arm``) on the model scale: ``mean, ci_low, ci_high,
prob_gt_0, status``.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import pandas as pd

from ..errors import InputError, SpecError
from ..evidence.outcomes import outcome_kind
from ..specs import ModelSpec

REFIT_OUTCOMES: tuple[str, ...] = ("outflow_work", "work_gt8h", "work_gt12h")
"""The outcomes a run refits by default: the employment outcomes of the report's headline
that more than one municipality reports (leaving work, work > 8 h and > 12 h a week)."""

REFIT_ROLES: tuple[str, ...] = ("loo", "variant")
"""Job roles of the robustness refits."""

REFIT_DRAWS_FRACTION = 0.5
"""Draws per chain of a refit, as a share of the spec's (at least :data:`REFIT_MIN_DRAWS`)."""

REFIT_MIN_DRAWS = 200


@dataclass(frozen=True)
class Variant:
    """One assumption of the multiverse: ``name``, what it changes in words, the spec change."""

    name: str
    what: str
    change: Callable[[ModelSpec], ModelSpec]


def _bias(f: float) -> Callable[[ModelSpec], ModelSpec]:
    return lambda s: replace(s, bias_sd={k: v * f for k, v in s.bias_sd.items()},
                             bias_sd_score={k: v * f for k, v in s.bias_sd_score.items()})


def _priors(f: float) -> Callable[[ModelSpec], ModelSpec]:
    def go(s: ModelSpec) -> ModelSpec:
        return replace(s, binary=replace(s.binary, mu_sd=s.binary.mu_sd * f, tau_sd=s.binary.tau_sd * f),
                       score=replace(s.score, mu_sd=s.score.mu_sd * f, tau_sd=s.score.tau_sd * f))
    return go


def _without(*grades: str) -> Callable[[ModelSpec], ModelSpec]:
    return lambda s: replace(s, grades=tuple(g for g in s.grades if g not in grades))


class NotExpressible(ValueError):
    """A variant the spec that ran cannot express (the reason is the message)."""


def _coach_off(s: ModelSpec) -> ModelSpec:
    coach = getattr(s, "coach", None)
    if isinstance(coach, bool):  # ModelSpec.coach: the [coach] enabled switch
        if not coach:
            raise NotExpressible("the coach component is already off in the spec")
        return replace(s, coach=False)  # type: ignore[call-arg]
    if coach is None or not hasattr(coach, "enabled"):
        raise NotExpressible("the model has no coach component to switch off")
    if not coach.enabled:
        raise NotExpressible("the coach component is already off in the spec")
    return replace(s, coach=replace(coach, enabled=False))  # type: ignore[call-arg]


def _zelen_reference(s: ModelSpec) -> ModelSpec:
    if s.zelen_comparison == "vs_reference":
        raise NotExpressible("the spec already uses the reference-group contrast")
    return replace(s, zelen_comparison="vs_reference")


VARIANTS: tuple[Variant, ...] = (
    Variant("bias_sd_x0.5", "bias priors of weaker comparisons halved", _bias(0.5)),
    Variant("bias_sd_x2", "bias priors of weaker comparisons doubled", _bias(2.0)),
    Variant("randomised_only", "randomised vs control rows only",
            lambda s: replace(s, comparisons=("vs_control",))),
    Variant("no_prose", "without prose rows", _without("prose")),
    Variant("numbers_only", "without significance markers and prose", _without("marker", "prose")),
    Variant("groningen_variant_b", "Groningen: reference group (variant B) instead of control "
            "(variant C)", _zelen_reference),
    Variant("decliner_shift_x3", "Zelen decliner shift SD three times wider",
            lambda s: replace(s, offer_spillover_sd=3 * s.offer_spillover_sd)),
    Variant("marker_se_spread_x2", "spread of the latent SE of marker rows doubled",
            lambda s: replace(s, marker_se_sd=2 * s.marker_se_sd)),
    Variant("no_covariate_credit", "almost no covariate-adjustment credit (R2 ~ Beta(1, 1000))",
            lambda s: replace(s, r2_alpha=1.0, r2_beta=1000.0)),
    Variant("no_coach_component", "coach variance component off", _coach_off),
    Variant("priors_x2", "pooled-effect and heterogeneity priors twice as wide", _priors(2.0)),
    Variant("all_time_points", "every time point instead of the last",
            lambda s: replace(s, months="all")),
)
"""The assumptions that can move a result, one changed at a time (the baseline is the main
fit). A variant that the spec cannot express is listed as not estimable."""

BASELINE = "baseline"
"""The ``variant`` name of the main fit's row in the multiverse (and ``left_out`` is empty
in the leave-one-out table's row of the main fit)."""


def get_variant(name: str) -> Variant:
    """The :class:`Variant` called ``name`` (a ``ValueError`` naming the known ones if none)."""
    for v in VARIANTS:
        if v.name == name:
            return v
    raise ValueError(f"unknown multiverse variant {name!r} (known: {', '.join(v.name for v in VARIANTS)})")


def refit_spec(spec: ModelSpec, draws: int | None = None) -> ModelSpec:
    """The spec with a refit's sampler settings: ``draws`` or a share of the spec's draws, and
    the target acceptance of the first retry rung (:data:`~bayes_bijstand.meta.RETRY_LADDER`)
    from the start: a smaller step size samples the same posterior, and most first attempts
    of these outcomes needed the retry (about 30% more gradient evaluations per fit instead
    of a second fit); a refit that still fails goes on to the next rung."""
    from ..meta import RETRY_LADDER

    n = draws or max(REFIT_MIN_DRAWS, int(round(spec.sampler.draws * REFIT_DRAWS_FRACTION)))
    n = min(n, spec.sampler.draws) if draws is None else n
    ta = max(spec.sampler.target_accept, RETRY_LADDER[0][0])
    return replace(spec, sampler=replace(spec.sampler, draws=n, target_accept=ta))


def without_gemeente(evidence: pd.DataFrame, outcome: str, gemeente: str) -> pd.DataFrame:
    """The evidence without every row of ``gemeente`` for ``outcome``."""
    return evidence[~((evidence["outcome"] == outcome) & (evidence["gemeente"] == gemeente))]


def job_inputs(role: str, outcome: str, left_out: str, variant: str, evidence: pd.DataFrame,
               spec: ModelSpec, draws: int | None = None) -> tuple[pd.DataFrame, ModelSpec]:
    """The evidence and spec one job fits (a refit role changes them; others do not)."""
    if role == "loo":
        return without_gemeente(evidence, outcome, left_out), refit_spec(spec, draws)
    if role == "variant":
        return evidence, refit_spec(get_variant(variant).change(spec), draws)
    return evidence, spec


def model_data_array(evidence: pd.DataFrame, spec: ModelSpec, outcome: str,
                     pooling: str) -> tuple[object, np.ndarray]:
    """(padding, packed data) of one fit: what the compiled graph reads (raises ValueError /
    InputError where no row is usable)."""
    from ..models.selection import select_rows
    from ..models.summary_level import choose_sizes, model_arrays, pack, prepare

    kind = outcome_kind(outcome)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        data = prepare(select_rows(evidence, outcome, kind, spec), outcome, kind, spec)
    sizes = choose_sizes(data)
    return sizes, pack(model_arrays(data, spec, sizes, pooling=pooling), sizes)


@dataclass(frozen=True)
class Planned:
    """A refit to run: its role, outcome and what it changes."""

    outcome: str
    role: str  # loo | variant
    left_out: str = ""
    variant: str = ""

    @property
    def name(self) -> str:
        """The job's name (``fits/<name>.json``)."""
        what = f"without-{self.left_out}" if self.role == "loo" else f"variant-{self.variant}"
        return f"{self.outcome}.{what}"


def plan_refits(evidence: pd.DataFrame, spec: ModelSpec, outcomes: Sequence[str],
                usable: dict[str, list[str]], *, roles: Sequence[str] = REFIT_ROLES
                ) -> tuple[list[Planned], list[dict[str, Any]]]:
    """The refits to run for ``outcomes``, and the rows that need no refit of their own.

    A refit whose model data (padding and packed array: rows, priors, pooling weights)
    equal those of the main fit or of a refit planned before it would be the same fit
    (same graph, data and sampler settings): it is not run, and its row (``same_as``: the
    job name it equals, the main fit's name being the outcome) takes that fit's numbers.
    Returns ``(planned, skipped)``; a ``skipped`` row has ``outcome, role, left_out,
    variant, what, same_as, note`` (``same_as`` empty: not estimable, ``note`` says why).
    ``roles``: which of ``loo`` and ``variant`` to plan.
    """
    planned: list[Planned] = []
    skipped: list[dict[str, Any]] = []
    for o in outcomes:
        try:
            seen = {_fingerprint(model_data_array(evidence, spec, o, spec.pooling)): o}
        except (InputError, ValueError):
            continue
        cands = [(Planned(outcome=o, role="loo", left_out=g), "",
                  without_gemeente(evidence, o, g), spec)
                 for g in (usable.get(o, []) if "loo" in roles else [])]
        for v in (VARIANTS if "variant" in roles else ()):
            p = Planned(outcome=o, role="variant", variant=v.name)
            try:
                cands.append((p, v.what, evidence, v.change(spec)))
            except NotExpressible as exc:
                skipped.append(_skip(p, v.what, "", str(exc)))
        for p, what, ev, sp in cands:
            try:
                fp = _fingerprint(model_data_array(ev, sp, o, spec.pooling))
            except (InputError, SpecError, ValueError) as exc:
                skipped.append(_skip(p, what, "", " ".join(str(exc).split())))
                continue
            if fp in seen:
                same = seen[fp]
                skipped.append(_skip(p, what, same, "no row or prior of this outcome changes: the "
                                     "main fit" if same == o else f"the same model data as {same}"))
                continue
            seen[fp] = p.name
            planned.append(p)
    return planned, skipped


def _fingerprint(sizes_flat: tuple[object, np.ndarray]) -> tuple[object, bytes]:
    sizes, flat = sizes_flat
    return sizes, np.ascontiguousarray(flat, dtype=float).tobytes()


def _skip(p: Planned, what: str, same_as: str, note: str) -> dict[str, Any]:
    return {"outcome": p.outcome, "role": p.role, "left_out": p.left_out, "variant": p.variant,
            "what": what, "same_as": same_as, "note": note}


# --------------------------------------------------------------------------------------
# Tables
# --------------------------------------------------------------------------------------

def pooled_rows(pooled: list[dict[str, Any]], status: str) -> list[dict[str, Any]]:
    """Per arm the pooled effect (``mu_arm``) of a fit's ``pooled`` rows."""
    return [{"arm": p["label"], "mean": p["mean"], "ci_low": p["ci_low"],
             "ci_high": p["ci_high"], "prob_gt_0": p["prob_gt_0"], "status": status}
            for p in pooled if p["parameter"] == "mu_arm"]


def refit_tables(records: list[dict[str, Any]],
                 skipped: list[dict[str, Any]]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(leave-one-out, multiverse) tables from the run's records: one row per fit and arm,
    the main fit first (``left_out`` empty; ``variant`` ``baseline``), then in plan order;
    a refit that equals another fit (``skipped`` rows with ``same_as``) shows that fit's
    numbers and says so in ``note``."""
    by_name = {r["name"]: r for r in records}
    main = {r["outcome"]: r for r in records if r["role"] == "main"}
    what = {v.name: v.what for v in VARIANTS}
    order = {v.name: i for i, v in enumerate(VARIANTS)}
    items: list[tuple[dict[str, Any], dict[str, Any] | None, str]] = []  # (key, record, note)
    for r in records:
        if r["role"] in REFIT_ROLES:
            items.append(({"outcome": r["outcome"], "role": r["role"], "left_out": r["left_out"],
                           "variant": r["variant"]}, r, ""))
    for s in skipped:
        ref = (main.get(s["outcome"]) if s["same_as"] == s["outcome"] else by_name.get(s["same_as"])) \
            if s["same_as"] else None
        note = s["note"] if s["same_as"] else f"not estimable: {s['note']}"
        items.append(({k: s[k] for k in ("outcome", "role", "left_out", "variant")}, ref, note))
    outcomes = list(dict.fromkeys(k["outcome"] for k, _, _ in items))
    loo: list[dict[str, Any]] = []
    multi: list[dict[str, Any]] = []
    for o in outcomes:
        m = main.get(o)
        if m is None:
            continue
        loo += _rows({"outcome": o, "left_out": ""}, m, "main fit")
        multi += _rows({"outcome": o, "variant": BASELINE, "what": "the spec as it ran"}, m,
                       "main fit")
        mine = [(k, r, n) for k, r, n in items if k["outcome"] == o]
        gem = {g: i for i, g in enumerate(m["gemeenten"])}
        for k, r, n in sorted((x for x in mine if x[0]["role"] == "loo"),
                              key=lambda x: gem.get(x[0]["left_out"], 99)):
            loo += _rows({"outcome": o, "left_out": k["left_out"]}, r, n)
        for k, r, n in sorted((x for x in mine if x[0]["role"] == "variant"),
                              key=lambda x: order.get(x[0]["variant"], 99)):
            multi += _rows({"outcome": o, "variant": k["variant"],
                            "what": what.get(k["variant"], "")}, r, n)
    return pd.DataFrame(loo), pd.DataFrame(multi)


def _rows(key: dict[str, Any], rec: dict[str, Any] | None, note: str) -> list[dict[str, Any]]:
    """One row per arm of ``rec`` (a fit record) under ``key``; one row with ``note`` as the
    status where there is no fit."""
    if rec is None:
        return [{**key, "arm": "", "status": note, "note": note}]
    info = {"draws": rec["diagnostics"].get("n_draws"), "n_rows_used": rec["n_rows_used"],
            "gemeenten": len(rec["gemeenten"]), "note": note}
    return [{**key, **x, **info} for x in pooled_rows(rec["pooled"], rec["status"])]
