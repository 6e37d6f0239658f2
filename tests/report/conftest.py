"""A small, hand-made run directory (no sampling): one passed and one failed main fit,
a figure, the CSV tables and an evidence appendix, as the pipeline writes them."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from matplotlib.figure import Figure

EVIDENCE_IDS = ("000-L5358-0", "000-L5358-1", "002-L356-1", "sec-L29-0", "sec-L31-0")


def _pooled(arms: list[str], mean: float) -> list[dict[str, object]]:
    out: list[dict[str, object]] = []
    for a in arms:
        for par in ("mu_arm", "theta_new", "tau_arm"):
            out.append({"parameter": par, "label": a, "mean": mean, "ci_low": mean - 0.02,
                        "ci_high": mean + 0.03, "prob_gt_0": 0.81, "prob_gt_mid": 0.55,
                        "freq_estimate": mean + 0.005 if par != "tau_arm" else None,
                        "freq_ci_low": mean - 0.03, "freq_ci_high": mean + 0.04, "freq_k": 2,
                        "freq_method": "REML+KNHA", "freq_tau2": 0.0004, "freq_I2": 35.0,
                        "freq_Q": 1.54, "freq_Q_p": 0.21})
    return out


def _record(name: str, status: str, kind: str, figures: list[str]) -> dict[str, object]:
    return {
        "name": name, "outcome": name, "pooling": "partial", "role": "main", "status": status,
        "diagnostics": {"passed": status == "passed", "status": status,
                        "problems": [] if status == "passed" else ["R-hat 1.086 > 1.01"]},
        "kind": kind, "unit": "percentage points" if kind == "binary" else "SD (SMD)",
        "display_factor": 100.0 if kind == "binary" else 1.0,
        "label_en": f"{name} EN label", "label_nl": f"{name} NL label", "mid": 0.02,
        "n_rows_used": 3, "n_rows_total": 5, "gemeenten": ["groningen", "apeldoorn_epe"],
        "arms": ["zelf_in_actie", "extra_hulp"], "figures": figures,
        "pooled": _pooled(["zelf_in_actie", "extra_hulp"], 0.04),
        "gemeente_effects": [{"gemeente": "groningen", "arm": "zelf_in_actie", "grade": "counts",
                              "published": 0.1, "published_low": 0.0, "published_high": 0.2,
                              "mean": 0.05, "ci_low": 0.0, "ci_high": 0.1, "prob_gt_0": 0.9,
                              "pooling": 0.6, "row_id": "000-L5358-0"}],
    }


@pytest.fixture(scope="session")
def evidence_ids() -> tuple[str, ...]:
    """Row ids of the evidence appendix of ``run_dir``."""
    return EVIDENCE_IDS


@pytest.fixture(scope="session")
def run_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Write the run directory once per session and return its path."""
    root = tmp_path_factory.mktemp("run")
    (root / "fits").mkdir()
    figdir = root / "figures" / "work_gt12h"
    figdir.mkdir(parents=True)
    fig = Figure(figsize=(3, 2))
    fig.add_subplot().plot([0, 1], [0, 1])
    fig.savefig(figdir / "forest.png")
    fig.savefig(figdir / "forest.svg")
    fig.savefig(figdir / "rank.png")
    recs = {"work_gt12h": _record("work_gt12h", "passed", "binary",
                                  ["figures/work_gt12h/forest.png", "figures/work_gt12h/forest.svg"]),
            "social_trust": _record("social_trust", "failed", "score", [])}
    fits = {}
    for name, rec in recs.items():
        (root / "fits" / f"{name}.json").write_text(json.dumps(rec), encoding="utf-8")
        fits[name] = {k: rec[k] for k in ("outcome", "role", "pooling", "status", "diagnostics",
                                          "kind", "unit", "label_en", "label_nl", "gemeenten",
                                          "n_rows_used")}
        fits[name]["pooled"] = rec["pooled"] if rec["status"] == "passed" else []
        fits[name]["excluded_reason"] = ("" if rec["status"] == "passed"
                                         else "failed diagnostics: R-hat 1.086 > 1.01")
    summary = {"package": "bayes_bijstand", "version": "0.1.0", "versions": {"pymc": "6.4"},
               "seed": 2017, "model_spec": "meta_components",
               "sampler": {"draws": 100, "tune": 100, "chains": 2, "sampler": "nutpie",
                           "target_accept": 0.9},
               "inputs": {"evidence_sha256": "abc123deadbeef"}, "fits": fits, "not_fitted": {},
               "ci": {"prob": 0.9, "kind": "eti"}}
    (root / "summary.json").write_text(json.dumps(summary), encoding="utf-8")
    ev = pd.DataFrame({"outcome": ["work_gt12h"] * 3 + ["social_trust"] * 2,
                       "row_id": list(EVIDENCE_IDS),
                       "gemeente": ["groningen", "groningen", "nijmegen", "utrecht", "apeldoorn_epe"],
                       "arm": ["zelf_in_actie", "extra_hulp", "zelf_in_actie+werken_loont",
                               "zelf_in_actie", "extra_hulp"],
                       "grade": ["counts", "counts", "marker", "se", "prose"],
                       "used": [True, True, True, False, True],
                       "reason": ["", "", "", "earlier time point (spec: last)", ""],
                       "source": ["000_b.txt", "000_b.txt", "002_7.txt", "secondary_sources.md",
                                  "secondary_sources.md"],
                       "line": [5358, 5358, 356, 29, 31]})
    ev.to_csv(root / "evidence_used.csv", index=False)
    pd.DataFrame({"name": ["work_gt12h", "social_trust"], "status": ["passed", "failed"],
                  "rhat_max": [1.001, 1.086]}).to_csv(root / "diagnostics.csv", index=False)
    (root / "grade_contributions.csv").write_text("\n", encoding="utf-8")
    pd.DataFrame({"outcome": ["work_gt12h"], "pooling": ["none"], "gemeente": ["groningen"],
                  "arm": ["zelf_in_actie"], "mean": [0.1], "ci_low": [0.0], "ci_high": [0.2]}
                 ).to_csv(root / "pooling_comparison.csv", index=False)
    return root


@pytest.fixture(scope="session")
def report_file(run_dir: Path) -> Path:
    """The report of ``run_dir``, written once."""
    from bayes_bijstand.report import write_report

    return write_report(run_dir, run_dir / "report.html")
