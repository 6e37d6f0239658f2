"""Faults: SIGTERM with a figure worker alive, two runs into one --out, a damaged netCDF on
resume, and resumed tables byte-identical to fresh ones. All with the fake fit (no sampling).
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

import bb_fakes
import pytest

from bayes_bijstand.errors import OutputError
from bayes_bijstand.io import lock_output_dir
from bayes_bijstand.run.job import available_cores

OUTCOMES = ["work_gt12h", "social_trust"]


def _children(pid: int) -> set[int]:
    """Direct children of ``pid`` (Linux /proc)."""
    kids: set[int] = set()
    for task in Path(f"/proc/{pid}/task").glob("*"):
        try:
            kids |= {int(x) for x in (task / "children").read_text().split()}
        except OSError:
            pass
    return kids


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state not in ("Z", "X")


@pytest.mark.skipif(not Path("/proc/self/task").is_dir() or available_cores() < 2,
                    reason="needs Linux /proc and two CPUs (the figure process)")
def test_sigterm_stops_the_run_and_its_figure_worker(tmp_path: Path) -> None:
    """SIGTERM (what kill, timeout and schedulers send) is handled like Ctrl-C: exit 143 with
    one line, the figure worker dies with the run, and the caller's pipes are released (a
    harness used to hang 601 s on them)."""
    out, log = tmp_path / "out", tmp_path / "fake.log"
    flags = [f for f in bb_fakes.TINY if f != "--no-plots"]
    argv = bb_fakes.fake_cli("--outcome", *OUTCOMES, *flags, "--out", str(out))
    proc = subprocess.Popen(argv, env=bb_fakes.cli_env(BB_FAKE_LOG=log, BB_FAKE_SLEEP="8"),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 240
        kids: set[int] = set()
        while time.monotonic() < deadline and proc.poll() is None:
            kids = {k for k in _children(proc.pid) if _alive(k)}
            if kids and (out / "fits").exists():
                break
            time.sleep(0.1)
        assert proc.poll() is None and kids, "the run ended before its figure worker started"
        time.sleep(1.0)
        proc.send_signal(signal.SIGTERM)  # the parent only, as kill(1) does
        stdout, stderr = proc.communicate(timeout=60)  # returns: the pipes were released
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 143, stderr
    assert "Traceback" not in stderr
    assert stderr.strip().splitlines()[-1].startswith("terminated (SIGTERM): completed fits are kept")
    deadline = time.monotonic() + 10
    while any(_alive(k) for k in kids) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not [k for k in kids if _alive(k)], "a child process outlived the run"


def test_one_run_per_out(tmp_path: Path) -> None:
    """A second run into a --out that a run holds is refused with one line; nothing of the
    first run's files is touched (its temp files included)."""
    out = tmp_path / "out"
    out.mkdir()
    with lock_output_dir(out):
        with pytest.raises(OutputError, match=rf"in use by another run \(pid {os.getpid()}\)"):
            with lock_output_dir(out):
                pass
        tmp = out / "fits" / ".work_gt12h.nc.abc.tmp"  # the first run's in-flight temp file
        tmp.parent.mkdir()
        tmp.write_bytes(b"half")
        argv = bb_fakes.fake_cli("--outcome", "work_gt12h", *bb_fakes.TINY, "--out", str(out))
        p = subprocess.run(argv, env=bb_fakes.cli_env(), capture_output=True, text=True,
                           timeout=300)
        assert p.returncode == 2, p.stderr
        assert p.stderr.count("\n") == 1 and "is in use by another run" in p.stderr
        assert tmp.exists()
    with lock_output_dir(out):  # released: the next run gets it
        pass


def test_resume_verifies_the_netcdf_and_tables_match_a_fresh_run(tmp_path: Path) -> None:
    out, log = tmp_path / "out", tmp_path / "fake.log"
    argv = bb_fakes.fake_cli("--outcome", *OUTCOMES, *bb_fakes.TINY, "--out", str(out))
    env = bb_fakes.cli_env(BB_FAKE_LOG=log)

    def run() -> dict[str, bytes]:
        p = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=300)
        assert p.returncode == 0, p.stderr
        return {f.name: f.read_bytes() for f in out.iterdir()
                if f.suffix in (".csv", ".md", ".json")}

    fresh = run()
    resumed = run()
    assert [e["outcome"] for e in bb_fakes.log_entries(log)] == OUTCOMES  # nothing refitted
    assert resumed == fresh  # column order included (records keep their key order)

    nc = out / "fits" / "social_trust.nc"
    nc.write_bytes(nc.read_bytes()[: nc.stat().st_size // 2])  # truncated; record intact
    again = run()
    assert [e["outcome"] for e in bb_fakes.log_entries(log)] == [*OUTCOMES, "social_trust"]
    bb_fakes.assert_outputs_valid(out)
    assert again == fresh
