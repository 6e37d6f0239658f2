"""A fit that fails diagnostics (after its retry) is reported as failed and never pooled.

Uses the fake fit (``bb_fakes``) with ``BB_FAKE_FAIL``: its diagnostics fail, as a real fit's
would after the retry with a higher target acceptance. Also checks that bad input stops the
CLI before any sampling starts.
"""

from __future__ import annotations

import json
from pathlib import Path

import bb_fakes
import pandas as pd
import pytest

from bayes_bijstand import fit

CORPUS = Path(__file__).resolve().parent / "corpus"


@pytest.fixture
def fake_fit(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    import bayes_bijstand.meta as meta

    monkeypatch.setattr(meta, "fit_meta", bb_fakes.fake_fit_meta)
    for k in ("BB_FAKE_SLEEP", "BB_FAKE_HANG_IN_WRITE"):
        monkeypatch.delenv(k, raising=False)
    monkeypatch.setenv("BB_FAKE_FAIL", "social_trust")
    monkeypatch.setenv("BB_FAKE_LOG", str(tmp_path / "fake.log"))
    return tmp_path / "fake.log"


def test_failed_comparison_refit_warns_but_main_results_stand(
        tmp_path: Path, fake_fit: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    """A sensitivity refit that fails the gate is excluded and reported, not a failed run."""
    monkeypatch.setenv("BB_FAKE_FAIL", "work_gt12h.pooling-none")
    out = tmp_path / "out"
    argv = ["--outcome", "work_gt12h", *bb_fakes.TINY, "--out", str(out),
            "--compare-pooling", "all"]
    assert fit.main(argv) == 0
    err = capsys.readouterr().err
    assert "WARNING: comparison refits FAILED diagnostics (excluded): work_gt12h.pooling-none" in err
    summary = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    assert summary["fits"]["work_gt12h.pooling-none"]["status"] == "failed"
    assert summary["fits"]["work_gt12h"]["status"] == "passed"
    monkeypatch.setenv("BB_FAKE_FAIL", "work_gt12h")  # the main fit failing still fails the run
    assert fit.main([*argv, "--no-resume"]) == 1


def test_failed_fit_is_reported_and_excluded(tmp_path: Path, fake_fit: Path,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "out"
    argv = ["--outcome", "work_gt12h", "social_trust", *bb_fakes.TINY, "--out", str(out),
            "--contributions", "all", "--compare-pooling", "all"]
    assert fit.main(argv) == 1  # a failed fit without --allow-warnings: exit code 1
    err = capsys.readouterr().err
    assert "FAILED diagnostics (excluded from pooled summaries): social_trust" in err
    assert "Traceback" not in err

    summary = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    bad, good = summary["fits"]["social_trust"], summary["fits"]["work_gt12h"]
    assert bad["status"] == "failed" and bad["pooled"] == []
    assert bad["excluded_reason"].startswith("failed diagnostics: first attempt: R-hat")
    assert good["status"] == "passed" and good["pooled"] and good["excluded_reason"] == ""
    # Every derived fit of the failing outcome is excluded too (its own diagnostics fail).
    for name, f in summary["fits"].items():
        if f["outcome"] == "social_trust":
            assert f["pooled"] == [] and f["excluded_reason"], name

    pooled = pd.read_csv(out / "summary.csv")
    assert set(pooled["outcome"]) == {"work_gt12h"}
    assert set(pd.read_csv(out / "gemeenten.csv")["outcome"]) == {"work_gt12h"}
    assert set(pd.read_csv(out / "pooling_comparison.csv")["outcome"]) == {"work_gt12h"}
    contrib = out / "grade_contributions.csv"
    if contrib.stat().st_size > 1:
        assert "social_trust" not in set(pd.read_csv(contrib)["outcome"])
    diag = pd.read_csv(out / "diagnostics.csv").set_index("name")
    assert diag.loc["social_trust", "status"] == "failed"  # still listed with its problems
    md = (out / "summary.md").read_text(encoding="utf-8")
    assert "Status: **failed**" in md and "excluded from the pooled summaries" in md
    assert "## Excluded fits" in md and "- `social_trust`: failed diagnostics" in md
    section = md.split("`social_trust`", 1)[1].split("##", 1)[0]
    assert "| arm |" not in section  # no effect table for the failed outcome
    bb_fakes.assert_outputs_valid(out)

    # --allow-warnings: the same outputs, exit code 0 (resumed: nothing is refitted).
    n = len(bb_fakes.log_entries(fake_fit))
    assert fit.main([*argv, "--allow-warnings"]) == 0
    assert len(bb_fakes.log_entries(fake_fit)) == n
    assert json.loads((out / "summary.json").read_text(encoding="utf-8")) == summary


@pytest.mark.parametrize("argv", [
    ["--estimates", str(CORPUS / "estimates" / "se_negative.csv")],
    ["--model", str(CORPUS / "specs" / "negative_sd.toml"), "--outcome", "work_gt12h"],
    ["--microdata", str(CORPUS / "microdata" / "person_in_two_arms.csv")],
    ["--microdata", str(CORPUS / "accepted" / "microdata_utf8_bom.csv"),
     "--model", str(CORPUS / "specs" / "typo_key.toml")],
    ["--microdata", str(CORPUS / "accepted" / "microdata_utf8_bom.csv"),
     "--formula", "work_gt12h_m24 ~ arm + leeftijd"],
], ids=["estimates", "spec", "microdata", "spec-with-microdata", "formula"])
def test_bad_input_stops_before_sampling(argv: list[str], tmp_path: Path,
                                         monkeypatch: pytest.MonkeyPatch,
                                         capsys: pytest.CaptureFixture[str]) -> None:
    import bayes_bijstand.meta as meta
    import bayes_bijstand.models.person_level as person_level
    from bayes_bijstand.run import executors

    def sampling_started(*a: object, **k: object) -> None:
        raise AssertionError("sampling started on bad input")

    monkeypatch.setattr(meta, "fit_meta", sampling_started)
    monkeypatch.setattr(person_level, "fit_person", sampling_started)
    monkeypatch.setattr(executors, "start_job", sampling_started)
    monkeypatch.setattr(executors, "run_job", sampling_started)
    out = tmp_path / "out"
    assert fit.main([*argv, "--out", str(out), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("error: "), err
    assert not out.exists()
