"""The HTML report: self-contained, complete, loud about failed fits, and a sane CLI."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from bayes_bijstand.report import write_report
from bayes_bijstand.report.__main__ import main


def test_self_contained(report_file: Path) -> None:
    text = report_file.read_text(encoding="utf-8")
    assert not re.search(r"""(src|href)\s*=\s*["']?\s*(https?:)?//""", text, re.I)
    assert "<script" not in text.lower()
    assert "<link" not in text.lower()
    assert "data:image/webp;base64," in text  # figures embedded as light WebP by default


def test_overview_table(report_file: Path) -> None:
    text = report_file.read_text(encoding="utf-8")
    assert 'id=\'overview\'' in text or 'id="overview"' in text
    overview = text.split("id='overview'", 1)[1].split("</table>", 1)[0]
    assert "work_gt12h NL label" in overview and "work_gt12h EN label" in overview
    assert "zelf in actie" in overview
    assert "4.0" in overview  # pooled mean 0.04 shown in percentage points
    assert "81%" in overview  # P(effect > 0)
    assert "social_trust" not in overview  # failed fit excluded


def test_failed_fit_banner(report_file: Path) -> None:
    text = report_file.read_text(encoding="utf-8")
    assert "FAILED DIAGNOSTICS: social_trust" in text
    assert "R-hat 1.086" in text


def test_evidence_appendix_lists_every_row(report_file: Path, evidence_ids: tuple[str, ...]) -> None:
    text = report_file.read_text(encoding="utf-8")
    appendix = text.split("id='evidence'", 1)[1]
    for rid in evidence_ids:
        assert rid in appendix
    assert "secondary_sources.md" in appendix and "earlier time point" in appendix


def test_names_capitalised_and_metadata(report_file: Path) -> None:
    text = report_file.read_text(encoding="utf-8")
    assert "Groningen" in text and "Apeldoorn/Epe" in text
    assert "abc123deadbeef" in text and "2017" in text
    assert "pooling-comparison" in text  # non-empty CSV shown
    assert "grade-contributions" not in text  # empty CSV left out


def test_atomic_no_leftovers(run_dir: Path, tmp_path: Path) -> None:
    out = write_report(run_dir, tmp_path / "r.html")
    assert out.exists()
    assert [p.name for p in tmp_path.iterdir()] == ["r.html"]


def test_cli_missing_summary(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--posterior", str(tmp_path), "--out", str(tmp_path / "x.html")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error:") and "summary.json" in err and "\n" not in err


def test_cli_writes(run_dir: Path, tmp_path: Path) -> None:
    assert main(["--posterior", str(run_dir), "--out", str(tmp_path / "cli.html")]) == 0
    assert (tmp_path / "cli.html").stat().st_size > 1000


def test_cli_help() -> None:
    r = subprocess.run([sys.executable, "-m", "bayes_bijstand.report", "--help"],
                       capture_output=True, text=True, check=False)
    assert r.returncode == 0 and "--posterior" in r.stdout and "--out" in r.stdout


def test_report_states_the_runs_interval_level(run_dir: Path, tmp_path: Path) -> None:
    """A run fitted with ``fit --ci-prob 0.95`` gets a report whose tables say 95%."""
    import json
    import shutil

    run = tmp_path / "run95"
    shutil.copytree(run_dir, run, ignore=shutil.ignore_patterns("report.html"))
    sj = run / "summary.json"
    summary = json.loads(sj.read_text(encoding="utf-8"))
    summary["ci"] = {"prob": 0.95, "kind": "eti"}
    sj.write_text(json.dumps(summary), encoding="utf-8")
    text = write_report(run, run / "report.html").read_text(encoding="utf-8")
    assert "Pooled effect per participant, 95% interval" in text
    assert "New municipality 95%" in text and "New municipality 90%" not in text


def test_report_ci_prob_must_match_the_run(run_dir: Path, tmp_path: Path,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "r.html"
    assert main(["--posterior", str(run_dir), "--out", str(out), "--ci-prob", "0.9"]) == 0
    assert main(["--posterior", str(run_dir), "--out", str(out), "--ci-prob", "0.95"]) == 2
    err = capsys.readouterr().err
    assert "rerun fit --ci-prob 0.95" in err and "90% intervals" in err
