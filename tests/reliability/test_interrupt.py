"""Interrupted runs: atomic outputs, SIGKILL mid-run, resume without redoing finished fits.

The SIGKILL test runs the real CLI in a subprocess with the fake fit (``bb_fakes``): the
second outcome's netCDF write stops half-way (``BB_FAKE_HANG_IN_WRITE``), so the kill lands
deterministically after the first fit's record exists and while a temp file is on disk.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path

import bb_fakes
import pytest

from bayes_bijstand import fit
from bayes_bijstand.io import atomic_path, atomic_write_json, is_temp_file
from bayes_bijstand.run.runner import clean_stale_temp_files

OUTCOMES = ["work_gt12h", "social_trust"]


def _wait_for(cond, proc: subprocess.Popen, timeout: float = 240.0) -> None:  # noqa: ANN001
    deadline = time.monotonic() + timeout
    while not cond():
        if proc.poll() is not None:
            out, err = proc.communicate()
            pytest.fail(f"CLI ended early ({proc.returncode}): {err[-2000:]}")
        if time.monotonic() > deadline:
            pytest.fail("timed out waiting for the first fit")
        time.sleep(0.05)


def test_sigkill_mid_run_leaves_no_partial_file_and_rerun_resumes(tmp_path: Path) -> None:
    out, log = tmp_path / "out", tmp_path / "fake.log"
    argv = bb_fakes.fake_cli("--outcome", *OUTCOMES, *bb_fakes.TINY, "--out", str(out))
    proc = subprocess.Popen(argv, env=bb_fakes.cli_env(BB_FAKE_LOG=log,
                                                       BB_FAKE_HANG_IN_WRITE="social_trust"),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True)
    first = out / "fits" / "work_gt12h.json"
    try:
        _wait_for(lambda: first.exists() and bb_fakes.log_entries(log, "hang"), proc)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)  # kill -9 the CLI (its own process group)
        proc.communicate(timeout=60)
    assert proc.returncode == -signal.SIGKILL

    # What SIGKILL leaves: the first fit complete, the second's temp file, nothing partial.
    stale = [p for p in out.rglob("*") if p.is_file() and is_temp_file(p)]
    assert [p.name.split(".")[1] for p in stale] == ["social_trust"], stale
    assert not (out / "fits" / "social_trust.nc").exists()
    assert not (out / "fits" / "social_trust.json").exists()
    assert not (out / "summary.json").exists()
    bb_fakes.assert_outputs_valid(out)
    record, stamp = first.read_bytes(), first.stat().st_mtime_ns
    nc_stamp = (out / "fits" / "work_gt12h.nc").stat().st_mtime_ns

    rerun = subprocess.run(argv, env=bb_fakes.cli_env(BB_FAKE_LOG=log), capture_output=True,
                           text=True, timeout=300)
    assert rerun.returncode == 0, rerun.stderr
    assert "Traceback" not in rerun.stderr
    assert "2 fits, 1 resumed" in rerun.stdout
    # The first fit was not redone: the fake fitted it once over both runs, files untouched.
    fitted = [e["outcome"] for e in bb_fakes.log_entries(log)]
    assert fitted.count("work_gt12h") == 1 and fitted.count("social_trust") == 2, fitted
    assert first.read_bytes() == record and first.stat().st_mtime_ns == stamp
    assert (out / "fits" / "work_gt12h.nc").stat().st_mtime_ns == nc_stamp
    # The stale temp file is gone, and every output is complete.
    assert not [p for p in out.rglob("*") if is_temp_file(p)]
    bb_fakes.assert_outputs_valid(out)
    summary = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    assert sorted(summary["fits"]) == sorted(OUTCOMES)
    assert all(f["status"] == "passed" for f in summary["fits"].values())


# --------------------------------------------------------------------------- in-process


@pytest.fixture
def fake_fit(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """Use the fake fit in this process; returns the fake's call log."""
    import bayes_bijstand.meta as meta

    log = tmp_path / "fake.log"
    monkeypatch.setattr(meta, "fit_meta", bb_fakes.fake_fit_meta)
    for k in ("BB_FAKE_FAIL", "BB_FAKE_SLEEP", "BB_FAKE_HANG_IN_WRITE"):
        monkeypatch.delenv(k, raising=False)
    monkeypatch.setenv("BB_FAKE_LOG", str(log))
    return log


def test_resume_ignores_corrupt_or_foreign_records_and_stale_temp_files(
        tmp_path: Path, fake_fit: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "out"
    argv = ["--outcome", *OUTCOMES, *bb_fakes.TINY, "--out", str(out)]
    assert fit.main(argv) == 0
    fits = out / "fits"
    # A record that does not parse, one from other inputs, and stale temp files of both.
    (fits / "work_gt12h.json").write_text('{"fit_key": "trunc', encoding="utf-8")
    rec = json.loads((fits / "social_trust.json").read_text(encoding="utf-8"))
    atomic_write_json(fits / "social_trust.json", dict(rec, fit_key="0000000000000000"))
    junk = [fits / ".work_gt12h.json.abc123.tmp", fits / ".social_trust.nc.x1.tmp",
            out / ".summary.json.zz.tmp", out / "figures" / "work_gt12h" / ".forest.png.q.tmp"]
    for j in junk:
        j.parent.mkdir(parents=True, exist_ok=True)
        j.write_bytes(b"\x00partial")
    keep = [out / "notes.tmp", out / "other" / ".mine.tmp"]  # not ours to delete
    for k in keep:
        k.parent.mkdir(parents=True, exist_ok=True)
        k.write_text("user file", encoding="utf-8")
    assert fit.main(argv) == 0
    assert "2 fits, all passed" in capsys.readouterr().out  # both refitted, none resumed
    fitted = [e["outcome"] for e in bb_fakes.log_entries(fake_fit)]
    assert fitted.count("work_gt12h") == 2 and fitted.count("social_trust") == 2
    assert not any(j.exists() for j in junk)
    assert all(k.exists() for k in keep)
    bb_fakes.assert_outputs_valid(out)
    # Unchanged inputs: the third run resumes everything and rewrites identical summaries.
    before = (out / "summary.json").read_bytes()
    assert fit.main(argv) == 0
    assert "2 fits, 2 resumed" in capsys.readouterr().out
    assert len(bb_fakes.log_entries(fake_fit)) == 4
    assert (out / "summary.json").read_bytes() == before
    # --no-resume refits, and a changed sampler setting (part of the content hash) refits.
    assert fit.main([*argv, "--no-resume"]) == 0
    assert len(bb_fakes.log_entries(fake_fit)) == 6
    assert fit.main([*argv, "--seed", "7"]) == 0
    assert len(bb_fakes.log_entries(fake_fit)) == 8


def test_atomic_path_leaves_target_untouched_on_error(tmp_path: Path) -> None:
    target = tmp_path / "sub" / "summary.json"
    atomic_write_json(target, {"a": 1})
    with pytest.raises(RuntimeError), atomic_path(target) as tmp:
        assert is_temp_file(tmp) and tmp.parent == target.parent
        tmp.write_text("{half", encoding="utf-8")
        raise RuntimeError("disk full")
    assert json.loads(target.read_text(encoding="utf-8")) == {"a": 1}
    assert sorted(p.name for p in target.parent.iterdir()) == ["summary.json"]
    assert target.stat().st_mode & 0o777 == 0o644


def test_clean_stale_temp_files_only_touches_output_locations(tmp_path: Path) -> None:
    ours = [tmp_path / ".summary.json.a.tmp", tmp_path / "fits" / ".x.nc.b.tmp",
            tmp_path / "figures" / "o" / ".f.png.c.tmp",
            tmp_path / "figures" / "o" / ".forest.k2_9xq1a.png"]  # plots.save_figure's temp
    theirs = [tmp_path / "x.tmp", tmp_path / "data" / ".y.csv.d.tmp", tmp_path / ".hidden",
              tmp_path / "figures" / "o" / "forest.png", tmp_path / ".forest.k2_9xq1a.png"]
    for p in ours + theirs:
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text("x", encoding="utf-8")
    removed = clean_stale_temp_files(tmp_path)
    assert sorted(removed) == sorted(ours)
    assert all(p.exists() for p in theirs)
