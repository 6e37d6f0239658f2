"""Which fits a run makes: one :class:`Job` per outcome, pooling mode and grade subset."""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from ..errors import InputError
from ..evidence.load import evidence_hash, load_evidence
from ..evidence.outcomes import (
    DOMAIN_FAMILIES,
    DOMAIN_SUFFIX,
    JOINT_SUFFIX,
    THRESHOLD_FAMILIES,
    TRAJECTORY_SUFFIX,
    outcome_kind,
)
from ..fiscal import CostInputs, load_costs
from ..io import sha256_file
from ..specs import ModelSpec, default_spec_path, load_spec
from .config import RunConfig
from .refits import REFIT_OUTCOMES, plan_refits

HEADLINE = ("work_gt8h", "work_gt12h", "social_trust")
"""The headline outcomes: they get the sensitivity refits by default."""


@dataclass(frozen=True)
class Job:
    """One fit of a run: ``role`` is ``main``, ``pooling`` (another pooling mode),
    ``contribution`` (refit without ``dropped_grade``), ``joint`` (the nested thresholds of
    one variable in one latent-shift fit, :mod:`bayes_bijstand.models.thresholds`), ``loo``
    (refit without the rows of municipality ``left_out``), ``variant`` (refit under the
    multiverse assumption ``variant``; both :mod:`bayes_bijstand.run.refits`) or
    ``trajectory`` (every time point of one outcome, the effect by month,
    :mod:`bayes_bijstand.models.trajectories`)."""

    name: str
    outcome: str
    pooling: str
    grades: tuple[str, ...] | None
    role: str  # main | pooling | contribution | joint | loo | variant | trajectory
    dropped_grade: str = ""
    left_out: str = ""
    variant: str = ""
    refit_draws: int | None = None  # loo / variant: draws per chain (None: refits.refit_spec's share)


@dataclass
class Plan:
    """The fits of a run and what they read: evidence, spec, input hashes."""

    evidence: pd.DataFrame
    spec: ModelSpec
    jobs: list[Job]
    not_fitted: dict[str, str]
    inputs: dict[str, str]
    resumed: list[str] = field(default_factory=list)  # filled by run_plan
    usable: dict[str, list[str]] = field(default_factory=dict)  # outcome -> gemeenten with used rows
    costs: CostInputs | None = None  # cost inputs of the net fiscal effect (validated up front)
    refits_skipped: list[dict[str, object]] = field(default_factory=list)  # multiverse rows, no fit


def _spec(cfg: RunConfig) -> ModelSpec:
    path = cfg.model or default_spec_path()
    spec = load_spec(path)
    return spec.with_overrides(draws=cfg.draws, tune=cfg.tune, chains=cfg.chains,
                               random_seed=cfg.seed, sampler=cfg.sampler)


def _usable(evidence: pd.DataFrame, spec: ModelSpec,
            only: tuple[str, ...] = ()) -> dict[str, list[str]]:
    """Outcome -> gemeenten with at least one row that enters the model (``only``: just these)."""
    from ..models.selection import select_rows

    out: dict[str, list[str]] = {}
    outcomes = sorted(evidence["outcome"].unique())
    if only:
        outcomes = [o for o in outcomes if o in set(only)]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for o in outcomes:
            t = select_rows(evidence, o, outcome_kind(o), spec)
            used = t[t["used"]] if len(t) else t
            if len(used):
                out[o] = sorted(used["gemeente"].unique())
    return out


def plan_fits(cfg: RunConfig) -> Plan:
    """Decide which fits to run, from the run's settings and the evidence."""
    spec = _spec(cfg)
    evidence = load_evidence(cfg.estimates) if cfg.estimates else load_evidence()
    # Paths as the user gave them (the shipped spec relative to the repository), so that the
    # same inputs give the same summary.json in any checkout; the hashes identify the content.
    spec_path = str(cfg.model) if cfg.model else f"models/{Path(spec.path).name}"
    inputs = {"evidence_sha256": evidence_hash(evidence), "spec_path": spec_path,
              "spec_sha256": sha256_file(spec.path) if spec.path else ""}
    costs = load_costs(cfg.costs)  # a bad cost file fails here, before anything is written
    inputs["costs_sha256"] = sha256_file(costs.path)
    if cfg.estimates:
        inputs["estimates_file"] = str(cfg.estimates)
        inputs["estimates_sha256"] = sha256_file(cfg.estimates)
    from ..codes import check_codes

    check_codes(evidence, gemeenten=cfg.gemeenten, outcomes=cfg.outcomes, arms=cfg.arms,
                file=str(cfg.estimates or "the shipped evidence"))
    if cfg.gemeenten:
        evidence = evidence[evidence["gemeente"].isin(cfg.gemeenten)]
    if cfg.arms:
        evidence = evidence[evidence["arm"].isin(cfg.arms)]
    usable = _usable(evidence, spec, tuple(cfg.outcomes))
    not_fitted: dict[str, str] = {}
    if cfg.outcomes:
        missing = [o for o in cfg.outcomes if o not in usable]
        if missing:
            raise InputError("--outcome", f"no usable evidence for '{missing[0]}'")
        outcomes = list(cfg.outcomes)
    else:
        need = cfg.min_gemeenten if len(set(evidence["gemeente"])) > 1 else 1
        outcomes = [o for o, g in usable.items() if len(g) >= need]
        for o, g in usable.items():
            if len(g) < need:
                not_fitted[o] = f"evidence from {len(g)} municipality ({', '.join(g)}): nothing to pool"
        if not outcomes:
            raise InputError(str(cfg.estimates or "evidence"), "no outcome has usable evidence")
    if spec.outcomes != "all":
        outcomes = [o for o in outcomes if o in spec.outcomes]
    jobs = [Job(name=o, outcome=o, pooling=spec.pooling, grades=None, role="main") for o in outcomes]
    # Nested thresholds (work > 8/12/27/32 h; income > 50/70/100% WML): one joint latent-shift
    # fit per family with usable evidence for two or more thresholds, beside the separate fits
    # (in a run over all outcomes; a run of chosen --outcome codes fits just those).
    for fam, members in THRESHOLD_FAMILIES.items():
        have = [o for o in members if o in usable]
        if len(have) >= 2 and spec.outcomes == "all" and not cfg.outcomes:
            name = f"{fam}{JOINT_SUFFIX}"
            jobs.append(Job(name=name, outcome=name, pooling=spec.pooling, grades=None, role="joint"))
    # Domains of survey items (docs/domains.md): one fit per domain whose members bring
    # evidence from two or more municipalities, so that items only one municipality reports
    # are pooled with the scales the others report instead of dropped.
    for dom, members in DOMAIN_FAMILIES.items():
        gem = {g for o in members for g in usable.get(o, [])}
        have = [o for o in members if o in usable]
        if len(gem) >= 2 and len(have) >= 2 and spec.outcomes == "all" and not cfg.outcomes:
            name = f"{dom}{DOMAIN_SUFFIX}"
            jobs.append(Job(name=name, outcome=name, pooling=spec.pooling, grades=None, role="joint"))
    sel = {"headline": [o for o in outcomes if o in HEADLINE], "all": outcomes, "none": []}
    for o in sel[cfg.compare_pooling]:
        for mode in ("none", "full"):
            if mode != spec.pooling:
                jobs.append(Job(name=f"{o}.pooling-{mode}", outcome=o, pooling=mode, grades=None,
                                role="pooling"))
    for o in sel[cfg.contributions]:
        grades_here = _grades_used(evidence, spec, o)
        if len(grades_here) < 2:
            continue
        for g in grades_here:
            keep = tuple(x for x in spec.grades if x != g)
            jobs.append(Job(name=f"{o}.without-{g}", outcome=o, pooling=spec.pooling, grades=keep,
                            role="contribution", dropped_grade=g))
    refit_outcomes = _refit_outcomes(cfg, outcomes)
    planned, skipped = plan_refits(evidence, spec, refit_outcomes, usable)
    for p in planned:
        jobs.append(Job(name=p.name, outcome=p.outcome, pooling=spec.pooling,
                        grades=None, role=p.role, left_out=p.left_out, variant=p.variant,
                        refit_draws=cfg.refit_draws))
    # Trajectories (effect by month): the pooled outcomes with two or more post-baseline time
    # points in some study, in a run over all outcomes (like the joint thresholds fits).
    if spec.outcomes == "all" and not cfg.outcomes:
        for o in _with_trajectory(evidence, spec, sel[cfg.trajectories]):
            name = f"{o}{TRAJECTORY_SUFFIX}"
            jobs.append(Job(name=name, outcome=name, pooling=spec.pooling, grades=None,
                            role="trajectory"))
    return Plan(evidence=evidence, spec=spec, jobs=jobs, not_fitted=not_fitted, inputs=inputs,
                usable=usable, costs=costs, refits_skipped=skipped)


def _refit_outcomes(cfg: RunConfig, outcomes: list[str]) -> list[str]:
    """The outcomes that get robustness refits: ``auto`` is ``headline`` in a run over all
    outcomes of the shipped evidence, and none in a run of chosen ``--outcome`` codes or of
    a user's ``--estimates`` file (leaving out each of its municipalities would add one fit
    per municipality: ask for them with ``--robustness headline``)."""
    sel = cfg.robustness
    if sel == "auto":
        sel = "none" if cfg.outcomes or cfg.estimates else "headline"
    if sel == "none":
        return []
    if sel == "all":
        return list(outcomes)
    return [o for o in REFIT_OUTCOMES if o in outcomes]


def _with_trajectory(evidence: pd.DataFrame, spec: ModelSpec, outcomes: list[str]) -> list[str]:
    """The ``outcomes`` whose trajectory table has two or more post-baseline months in a study."""
    from ..models.trajectories import has_trajectory, trajectory_table

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return [o for o in outcomes
                if has_trajectory(trajectory_table(evidence, o, outcome_kind(o), spec))]


def _grades_used(evidence: pd.DataFrame, spec: ModelSpec, outcome: str) -> list[str]:
    from ..evidence.grades import GRADES
    from ..models.selection import select_rows

    t = select_rows(evidence, outcome, outcome_kind(outcome), spec)
    return [g for g in GRADES if g in set(t.loc[t["used"], "grade"])]
