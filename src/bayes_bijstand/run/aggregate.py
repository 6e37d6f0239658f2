"""The run's ``summary.json``: per fit its status, diagnostics and pooled effects, and per
registry municipality what the run used from it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from .._version import __version__
from ..constants import CI_KIND
from ..evidence.registry import load_studies
from ..fiscal import CostInputs, fiscal_table
from ..meta import read_fit
from ..variables import pooled_names
from .config import RunConfig
from .plan import Plan
from .records import FitRecord, table_rows, versions

SUMMARY_PARAMETERS = pooled_names(summary=True)
"""The pooled quantities ``summary.json`` carries per fit (mu, tau, mu_arm, theta_new, tau_arm)."""


def municipality_table(records: list[FitRecord], plan: Plan, cfg: RunConfig,
                       studies: pd.DataFrame) -> list[dict[str, Any]]:
    """One row per registry municipality: what the run used from it, and why if nothing.

    Every municipality in the registry is listed, also one that contributes no row (Apeldoorn/
    Epe: the public sources give its size but no effect estimate), so that a reader sees what
    is missing and why rather than a municipality that silently does not appear.
    """
    main = [r for r in records if r["role"] == "main"]
    names = load_studies(keep_secondary=True)
    names = names[names["name"].fillna("").astype(str).str.strip() != ""].groupby("gemeente")["name"].first()
    in_evidence = plan.evidence["gemeente"].value_counts()
    sources = plan.evidence.groupby("gemeente")["source"].unique() if len(plan.evidence) else {}
    selected = set(cfg.gemeenten)
    rows = []
    for _, s in studies.iterrows():
        g = s["gemeente"]
        pooled = sorted(r["outcome"] for r in main if g in r["gemeenten"] and r["status"] == "passed")
        failed = sorted(r["outcome"] for r in main if g in r["gemeenten"] and r["status"] != "passed")
        used = sum(1 for r in main for e in r["evidence"] if e["gemeente"] == g and e["used"])
        alone = sorted(o for o in plan.not_fitted if plan.usable.get(o) == [g])
        n_rows = int(in_evidence.get(g, 0))
        if pooled:
            reason = ""
        elif selected and g not in selected:
            reason = "not selected (--gemeente)"
        elif failed:
            reason = "its fits failed the diagnostics: " + ", ".join(failed)
        elif n_rows == 0:
            reason = (f"no effect estimate in the evidence; the registry holds design facts only "
                      f"({s['source']} line {s['line']})")
        elif alone:
            reason = "evidence only for outcomes no other municipality reports: " + ", ".join(alone)
        else:
            reason = f"none of its {n_rows} evidence rows enters a model (see evidence_used.csv)"
        rows.append({
            "gemeente": g, "name": str(names.get(g, "")), "amvb": bool(s["amvb"]),
            "evidence_rows": n_rows,
            "evidence_sources": ";".join(sorted(sources[g])) if g in sources else "",
            "rows_used": used, "outcomes_pooled": len(pooled),
            "outcomes": ";".join(pooled), "outcomes_single_municipality": ";".join(alone),
            "reason_none": reason,
        })
    return rows


def fiscal_summary(records: list[FitRecord], costs: CostInputs | None, out: Path,
                   seed: int, ci_prob: float) -> dict[str, Any]:
    """The net fiscal effect from the first passed fit of the cost file's effect outcomes.

    The effect draws are read back from the fit's netCDF (so a resumed run and a fresh one
    give the same table); take-up per municipality and arm comes from the registry. Returns
    ``{"outcome": ..., "rows": [...], "inputs": [...], "note": ...}``; ``rows`` is empty and
    ``note`` says why when no effect outcome was fitted or passed the diagnostics.
    """
    if costs is None:
        return {}
    main = {r["outcome"]: r for r in records if r["role"] == "main"}
    inputs = table_rows(costs.inputs_table())
    base = {"horizon_months": costs.horizon_months, "effect_profile": costs.effect_profile,
            "inputs": inputs}
    for o in costs.effect_outcomes:
        r = main.get(o)
        if r is None:
            continue
        if r["status"] != "passed":
            return {**base, "outcome": o, "rows": [],
                    "note": f"{o} failed the diagnostics: no net fiscal effect is reported"}
        from ..models.selection import registry_sizes

        post, _ = read_fit(out / r["netcdf"])
        observed = {(g["gemeente"], g["arm"]) for g in r["gemeente_effects"]}
        tab = fiscal_table(post, o, costs, takeup=registry_sizes()[2], observed=observed,
                           ci_prob=ci_prob, seed=seed)
        return {**base, "outcome": o, "rows": table_rows(tab), "note": ""}
    return {**base, "outcome": "", "rows": [],
            "note": "none of " + ", ".join(costs.effect_outcomes) + " was fitted"}


def thresholds_summary(records: list[FitRecord], out: Path, ci_prob: float) -> list[dict[str, Any]]:
    """Each threshold's pooled effect from its joint latent-shift fit beside its separate fit.

    ``disagree`` is true where the two posterior means differ by more than 1.645 times the
    root of the summed posterior variances (the joint fit borrows strength across thresholds
    and cannot produce a non-monotone pattern, so a disagreement points at a threshold whose
    own evidence pulls against the others).
    """
    from ..models.thresholds import implied_effects

    main = {r["outcome"]: r for r in records if r["role"] == "main" and r["status"] == "passed"}
    rows: list[dict[str, Any]] = []
    for r in records:
        if r["role"] != "joint" or r["status"] != "passed":
            continue
        post, table = read_fit(out / r["netcdf"])
        if table is None or "threshold_outcome" not in table or "mu_arm" not in post:
            continue
        for e in table_rows(implied_effects(post, table, ci_prob=ci_prob)):
            sep = {p["label"]: p for p in main.get(e["outcome"], {}).get("pooled", [])
                   if p["parameter"] == "mu_arm"}.get(e["arm"])
            rec = {"family": r["outcome"], **{f"joint_{k}" if k not in ("outcome", "arm") else k: v
                                              for k, v in e.items()}}
            rec.update({"separate_mean": None, "separate_sd": None, "separate_ci_low": None,
                        "separate_ci_high": None, "separate_prob_gt_0": None, "disagree": None})
            if sep is not None:
                rec.update({"separate_mean": sep["mean"], "separate_sd": sep["sd"],
                            "separate_ci_low": sep["ci_low"], "separate_ci_high": sep["ci_high"],
                            "separate_prob_gt_0": sep["prob_gt_0"]})
                z = abs(e["mean"] - sep["mean"]) / float(np.hypot(e["sd"], sep["sd"]))
                rec["disagree"] = bool(z > 1.645)
            rows.append(rec)
    return rows


def domains_summary(records: list[FitRecord], out: Path) -> list[dict[str, Any]]:
    """Each domain fit's pooled effect per arm (SMD), with its members and, per member that
    has its own pooled fit, that fit beside it.

    One row per domain x arm x member outcome: ``domain_*`` the domain effect (the same for
    every member), ``n_rows``/``gemeenten`` what the member brought, ``separate_*`` the
    member's own fit where it has one (None: one municipality only, so not pooled alone),
    ``disagree`` where the two means differ by more than 1.645 root summed variances.
    """
    from ..models.domains import domain_members

    main = {r["outcome"]: r for r in records if r["role"] == "main" and r["status"] == "passed"}
    rows: list[dict[str, Any]] = []
    for r in records:
        if r["role"] != "joint" or r["status"] != "passed":
            continue
        post, table = read_fit(out / r["netcdf"])
        if table is None or "domain_outcome" not in table:
            continue
        members = domain_members(table)
        dom = {p["label"]: p for p in r["pooled"] if p["parameter"] == "mu_arm"}
        for arm, d in dom.items():
            for m in members.itertuples():
                sep = {p["label"]: p for p in main.get(m.outcome, {}).get("pooled", [])
                       if p["parameter"] == "mu_arm"}.get(arm)
                rec = {"domain": r["outcome"], "arm": arm, "outcome": m.outcome,
                       "n_rows": int(m.n_rows), "gemeenten": m.gemeenten,
                       "domain_mean": d["mean"], "domain_sd": d["sd"],
                       "domain_ci_low": d["ci_low"], "domain_ci_high": d["ci_high"],
                       "domain_prob_gt_0": d["prob_gt_0"], "separate_mean": None,
                       "separate_ci_low": None, "separate_ci_high": None, "disagree": None}
                if sep is not None:
                    z = abs(d["mean"] - sep["mean"]) / float(np.hypot(d["sd"], sep["sd"]))
                    rec.update({"separate_mean": sep["mean"], "separate_ci_low": sep["ci_low"],
                                "separate_ci_high": sep["ci_high"], "disagree": bool(z > 1.645)})
                rows.append(rec)
    return rows


def coach_summary(records: list[FitRecord]) -> list[dict[str, Any]]:
    """The coach component of every passed main fit that has one (one row per municipality
    and arm delivered by a known team, and per coached arm in a new municipality)."""
    return [row for r in records if r["role"] == "main" and r["status"] == "passed"
            for row in r.get("coach", [])]


def robustness_summary(records: list[FitRecord], plan: Plan) -> dict[str, Any]:
    """The leave-one-municipality-out and multiverse refits (:mod:`~.refits`) as rows;
    ``{}`` when the run made none."""
    from .refits import REFIT_ROLES, refit_tables

    refits = [r for r in records if r["role"] in REFIT_ROLES]
    if not refits and not plan.refits_skipped:
        return {}
    loo, multi = refit_tables(records, plan.refits_skipped)  # type: ignore[arg-type]
    draws = sorted({int(r["diagnostics"].get("n_draws") or 0) for r in refits})
    failed = [r["name"] for r in refits if r["status"] != "passed"]
    return {
        "outcomes": sorted({r["outcome"] for r in refits} | {s["outcome"] for s in plan.refits_skipped}),
        "refits": len(refits), "failed": failed,
        "draws_total": draws,
        "note": ("exact refits: each municipality left out in turn, and each assumption changed "
                 "one at a time; refits sample fewer draws than the main fits and pass the same "
                 "diagnostics gate (a failed refit is marked, not dropped); 'same as baseline': "
                 "the variant changes no row or prior of the outcome, so the refit would be the "
                 "main fit"),
        "loo": table_rows(loo), "multiverse": table_rows(multi),
    }


def trajectories_summary(records: list[FitRecord], out: Path, ci_prob: float) -> dict[str, Any]:
    """Effects by month from the run's trajectory fits, beside the single-time-point fits.

    ``fits``: per trajectory fit its status, the months of its grid, the municipalities and
    the month-0 rows that anchor it (a failed fit is listed with its problems and nothing
    else). ``effects`` and ``changes``: :func:`~bayes_bijstand.trajectory_effects.trajectory_tables`
    of every passed fit. ``agreement``: each municipality x arm effect of the outcome's main
    (single-time-point) fit beside the trajectory's effect of the same municipality and arm
    at the month of the row the main fit used; ``disagree`` where the means differ by more
    than 1.645 times the root of the summed posterior variances.
    """
    from ..trajectory_effects import baseline_rows, months_grid, trajectory_tables

    main = {r["outcome"]: r for r in records if r["role"] == "main" and r["status"] == "passed"}
    fits: list[dict[str, Any]] = []
    effects: list[dict[str, Any]] = []
    changes: list[dict[str, Any]] = []
    agreement: list[dict[str, Any]] = []
    for r in records:
        if r["role"] != "trajectory":
            continue
        base = r["outcome"].rpartition(".")[0]
        info: dict[str, Any] = {"fit": r["name"], "outcome": base, "status": r["status"],
                                "problems": r["diagnostics"].get("problems", []),
                                "gemeenten": r["gemeenten"], "kind": r["kind"], "unit": r["unit"],
                                "display_factor": r["display_factor"]}
        fits.append(info)
        if r["status"] != "passed":
            continue
        post, table = read_fit(out / r["netcdf"])
        if table is None or "mu" not in post:
            continue
        info["months"] = months_grid(table)
        info["baseline_rows"] = table_rows(baseline_rows(table))
        eff, chg = trajectory_tables(post, table, base, ci_prob=ci_prob)
        effects += table_rows(eff)
        changes += table_rows(chg)
        m = main.get(base)
        if m is None or eff.empty:
            continue
        month_of = {e["row_id"]: e["months"] for e in m["evidence"]}
        traj = eff.set_index(["gemeente", "arm", "month"])
        for g in m["gemeente_effects"]:
            month = pd.to_numeric(pd.Series([month_of.get(g["row_id"])]), errors="coerce").iloc[0]
            key = (g["gemeente"], g["arm"], float(month))
            if not np.isfinite(month) or key not in traj.index:
                continue
            t = traj.loc[key]
            z = abs(float(t["mean"]) - g["mean"]) / float(np.hypot(t["sd"], g["sd"]))
            agreement.append({"outcome": base, "gemeente": g["gemeente"], "arm": g["arm"],
                              "month": float(month), "single_mean": g["mean"], "single_sd": g["sd"],
                              "single_ci_low": g["ci_low"], "single_ci_high": g["ci_high"],
                              "trajectory_mean": float(t["mean"]), "trajectory_sd": float(t["sd"]),
                              "trajectory_ci_low": float(t["ci_low"]),
                              "trajectory_ci_high": float(t["ci_high"]),
                              "disagree": bool(z > 1.645)})
    return {"fits": fits, "effects": effects, "changes": changes, "agreement": agreement}


def aggregate(records: list[FitRecord], plan: Plan, cfg: RunConfig) -> dict[str, Any]:
    """The run's ``summary.json``: per fit its status, diagnostics and pooled effects."""
    main = {r["outcome"]: r for r in records if r["role"] == "main"}
    studies = load_studies()
    coverage = {}
    for g in studies["gemeente"]:
        outs = sorted(o for o, r in main.items() if g in r["gemeenten"])
        coverage[g] = outs
    fits = {}
    for r in records:
        fits[r["name"]] = {
            "outcome": r["outcome"], "role": r["role"], "pooling": r["pooling"],
            "status": r["status"], "diagnostics": r["diagnostics"], "kind": r["kind"],
            "unit": r["unit"], "label_en": r["label_en"], "label_nl": r["label_nl"],
            "gemeenten": r["gemeenten"], "n_rows_used": r["n_rows_used"],
            "netcdf": r["netcdf"],
            # A robustness refit's pooled effects are in the robustness section (mu_arm only,
            # failed refits marked there); its entry here keeps status and diagnostics.
            "pooled": [p for p in r["pooled"] if p["parameter"] in SUMMARY_PARAMETERS]
            if r["status"] == "passed" and r["role"] not in ("loo", "variant") else [],
            "excluded_reason": "" if r["status"] == "passed" else
            "failed diagnostics: " + "; ".join(r["diagnostics"].get("problems", [])),
        }
    out = {
        "package": "bayes_bijstand", "version": __version__, "versions": versions(),
        "seed": plan.spec.sampler.random_seed, "model_spec": plan.spec.name,
        "sampler": {"draws": plan.spec.sampler.draws, "tune": plan.spec.sampler.tune,
                    "chains": plan.spec.sampler.chains, "sampler": plan.spec.sampler.sampler,
                    "target_accept": plan.spec.sampler.target_accept},
        "inputs": plan.inputs, "fits": fits, "not_fitted": plan.not_fitted,
        "municipality_coverage": coverage,
        "municipalities": municipality_table(records, plan, cfg, studies),
        "ci": {"prob": cfg.ci_prob, "kind": CI_KIND},
        "coach": coach_summary(records),
        "domains": domains_summary(records, cfg.out),
        "thresholds": thresholds_summary(records, cfg.out, cfg.ci_prob),
        "fiscal": fiscal_summary(records, plan.costs, cfg.out, plan.spec.sampler.random_seed,
                                 cfg.ci_prob),
    }
    traj = trajectories_summary(records, cfg.out, cfg.ci_prob)
    if traj["fits"]:  # a run without trajectory fits keeps the summary.json of before
        out["trajectories"] = traj
    rob = robustness_summary(records, plan)
    if rob:  # a run without refits keeps the summary.json of before
        out["robustness"] = rob
    return out
