"""The run's tables: summary.json and the CSVs beside it (all written atomically)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd

from ..evidence.outcomes import get_scale
from ..io import atomic_write_json, atomic_write_text
from .markdown import summary_markdown
from .records import FitRecord


def write_tables(summary: dict[str, Any], records: list[FitRecord], out: Path) -> None:
    """summary.json, summary.csv/.md, gemeenten.csv, evidence_used.csv, diagnostics.csv,
    pooling_comparison.csv, grade_contributions.csv, municipalities.csv, coach.csv, domains.csv,
    thresholds.csv, fiscal.csv, fiscal_inputs.csv, robustness_loo.csv, multiverse.csv,
    trajectories.csv and trajectory_changes.csv (all atomic)."""
    atomic_write_json(out / "summary.json", summary)
    main = [r for r in records if r["role"] == "main"]
    passed = [r for r in main if r["status"] == "passed"]  # failed fits are never pooled
    # values are on the model scale (a proportion for binary outcomes): say so, not the
    # display unit ("percentage points") the figures and report use
    pooled = pd.DataFrame([dict(p, label_nl=r["label_nl"],
                                scale=get_scale(r["kind"]).name)
                           for r in passed for p in r["pooled"]])
    gem = pd.DataFrame([g for r in passed for g in r["gemeente_effects"]])
    if not passed:  # no empty files: say which fits failed and what they need to pass
        pooled = gem = failed_table(main)
    atomic_write_text(out / "summary.csv", pooled.to_csv(index=False))
    atomic_write_text(out / "gemeenten.csv", gem.to_csv(index=False))
    atomic_write_text(out / "evidence_used.csv", pd.DataFrame(
        [dict(e, outcome=r["outcome"]) for r in main for e in r["evidence"]]).to_csv(index=False))
    diag = pd.DataFrame([dict(name=r["name"], outcome=r["outcome"], role=r["role"],
                              **{k: v for k, v in r["diagnostics"].items()
                                 if k not in ("problems", "retry_settings")},
                              problems="; ".join(r["diagnostics"].get("problems", [])))
                         for r in records])
    atomic_write_text(out / "diagnostics.csv", diag.to_csv(index=False))
    atomic_write_text(out / "pooling_comparison.csv", pooling_comparison(records).to_csv(index=False))
    atomic_write_text(out / "grade_contributions.csv", grade_contributions(records).to_csv(index=False))
    atomic_write_text(out / "municipalities.csv",
                      pd.DataFrame(summary["municipalities"]).to_csv(index=False))
    if summary.get("coach"):
        atomic_write_text(out / "coach.csv", pd.DataFrame(summary["coach"]).to_csv(index=False))
    if summary.get("domains"):
        atomic_write_text(out / "domains.csv", pd.DataFrame(summary["domains"]).to_csv(index=False))
    if summary.get("thresholds"):
        atomic_write_text(out / "thresholds.csv", pd.DataFrame(summary["thresholds"]).to_csv(index=False))
    fiscal = summary.get("fiscal") or {}
    if fiscal:
        atomic_write_text(out / "fiscal.csv", pd.DataFrame(fiscal["rows"]).to_csv(index=False))
        atomic_write_text(out / "fiscal_inputs.csv",
                          pd.DataFrame(fiscal["inputs"]).to_csv(index=False))
    rob = summary.get("robustness") or {}
    for name, key in (("robustness_loo.csv", "loo"), ("multiverse.csv", "multiverse")):
        if rob.get(key):
            atomic_write_text(out / name, pd.DataFrame(rob[key]).to_csv(index=False))
        else:  # not from an earlier run in the same directory
            (out / name).unlink(missing_ok=True)
    traj = summary.get("trajectories") or {}
    for name, key in (("trajectories.csv", "effects"), ("trajectory_changes.csv", "changes")):
        if traj.get("fits"):
            atomic_write_text(out / name, pd.DataFrame(traj[key]).to_csv(index=False))
        else:  # not from an earlier run in the same directory
            (out / name).unlink(missing_ok=True)
    atomic_write_text(out / "summary.md", summary_markdown(summary, records))


def pooling_comparison(records: list[FitRecord]) -> pd.DataFrame:
    """Pooled arm effects under partial, no and full pooling (no pooling: per gemeente)."""
    rows = []
    for r in records:
        if r["role"] not in ("main", "pooling") or r["status"] != "passed":
            continue
        if r["pooling"] == "none":
            for g in r["gemeente_effects"]:
                rows.append({"outcome": r["outcome"], "pooling": "none", "gemeente": g["gemeente"],
                             "arm": g["arm"], "mean": g["mean"], "ci_low": g["ci_low"],
                             "ci_high": g["ci_high"]})
        else:
            for p in r["pooled"]:
                if p["parameter"] == "mu_arm":
                    rows.append({"outcome": r["outcome"], "pooling": r["pooling"], "gemeente": "(pooled)",
                                 "arm": p["label"], "mean": p["mean"], "ci_low": p["ci_low"],
                                 "ci_high": p["ci_high"]})
            if r["pooling"] == "partial":
                for g in r["gemeente_effects"]:
                    rows.append({"outcome": r["outcome"], "pooling": "partial",
                                 "gemeente": g["gemeente"], "arm": g["arm"], "mean": g["mean"],
                                 "ci_low": g["ci_low"], "ci_high": g["ci_high"]})
    return pd.DataFrame(rows)


def grade_contributions(records: list[FitRecord]) -> pd.DataFrame:
    """How much each evidence grade moved the pooled component effects (fit with vs without)."""
    main = {r["outcome"]: r for r in records if r["role"] == "main" and r["status"] == "passed"}
    rows = []
    for r in records:
        if r["role"] != "contribution" or r["outcome"] not in main or r["status"] != "passed":
            continue
        base = {(p["parameter"], p["label"]): p for p in main[r["outcome"]]["pooled"]}
        for p in r["pooled"]:
            if p["parameter"] not in ("mu", "mu_arm"):
                continue
            b = base.get((p["parameter"], p["label"]))
            if b is None:
                continue
            width_with = b["ci_high"] - b["ci_low"]
            width_without = p["ci_high"] - p["ci_low"]
            rows.append({
                "outcome": r["outcome"], "dropped_grade": r["dropped_grade"],
                "parameter": p["parameter"], "label": p["label"],
                "mean_with": b["mean"], "mean_without": p["mean"],
                "shift": b["mean"] - p["mean"],
                "ci_width_with": width_with, "ci_width_without": width_without,
                "ci_width_ratio": width_with / width_without if width_without else None,
                "status_without": r["status"],
            })
    return pd.DataFrame(rows)


def failed_table(main: list[FitRecord]) -> pd.DataFrame:
    """One row per main fit that failed the gate: its problems and what it needs to pass."""
    from ..diagnostics import Diagnostics

    rows = []
    for r in main:
        d = Diagnostics.from_dict(r["diagnostics"])
        rows.append({"outcome": r["outcome"], "status": r["status"],
                     "note": "failed diagnostics: no pooled result is reported",
                     "problems": "; ".join(d.problems), "hint": d.hint()})
    return pd.DataFrame(rows, columns=["outcome", "status", "note", "problems", "hint"])
