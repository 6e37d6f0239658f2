"""``--executor dask``: independent fits run in parallel on a 2-worker LocalCluster, and the
records and summaries are exactly those of the local executor.

The Dask workers are separate processes: they run ``bb_fakes.run_job`` (the real
``run.job.run_job`` with the fake fit installed in the worker), which each fit logs with its
process id and start/end times, so parallelism is observed, not assumed.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import bb_fakes
import pytest

from bayes_bijstand import fit
from bayes_bijstand.run import executors

ARGS = ["--outcome", "work_gt12h", "social_trust", *bb_fakes.TINY, "--compare-pooling", "headline"]


@pytest.fixture
def fake_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """Fake fits here and in (spawned) Dask workers, which inherit this environment."""
    import bayes_bijstand.meta as meta

    log = tmp_path / "fake.log"
    for k, v in bb_fakes.cli_env(BB_FAKE_LOG=log, BB_FAKE_SLEEP="1.0").items():
        monkeypatch.setenv(k, v)
    monkeypatch.delenv("BB_FAKE_FAIL", raising=False)
    monkeypatch.setattr(meta, "fit_meta", bb_fakes.fake_fit_meta)
    monkeypatch.setattr(executors, "run_job", bb_fakes.run_job)
    return log


def _max_overlap(entries: list[dict]) -> int:
    events = sorted([(e["start"], 1) for e in entries] + [(e["end"], -1) for e in entries],
                    key=lambda t: (t[0], t[1]))
    cur = best = 0
    for _, d in events:
        cur += d
        best = max(best, cur)
    return best


def test_dask_runs_fits_in_parallel_and_matches_local(tmp_path: Path, fake_env: Path,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    dask_out, local_out = tmp_path / "dask", tmp_path / "local"
    assert fit.main([*ARGS, "--out", str(dask_out), "--executor", "dask", "--workers", "2"]) == 0
    entries = bb_fakes.log_entries(fake_env)
    assert len(entries) == 6
    assert len({e["pid"] for e in entries}) == 2, entries  # two worker processes ...
    assert _max_overlap(entries) == 2  # ... fitting at the same time
    assert os.getpid() not in {e["pid"] for e in entries}  # not in the client process

    assert fit.main([*ARGS, "--out", str(local_out)]) == 0
    local = bb_fakes.log_entries(fake_env)[6:]
    assert len(local) == 6 and {e["pid"] for e in local} == {os.getpid()}
    assert (dask_out / "summary.json").read_bytes() == (local_out / "summary.json").read_bytes()
    names = sorted(p.name for p in (local_out / "fits").glob("*.json"))
    assert names == sorted(p.name for p in (dask_out / "fits").glob("*.json")) and len(names) == 6
    import xarray as xr

    for name in names:
        d = json.loads((dask_out / "fits" / name).read_text(encoding="utf-8"))
        loc = json.loads((local_out / "fits" / name).read_text(encoding="utf-8"))
        # HDF5 need not write the same bytes for the same content in two processes (a run
        # of the suite saw one fit's file differ); the records and the contents must agree.
        assert {k: v for k, v in d.items() if k != "netcdf_sha256"} == \
            {k: v for k, v in loc.items() if k != "netcdf_sha256"}, name
        with xr.open_datatree(dask_out / d["netcdf"]) as a, \
                xr.open_datatree(local_out / loc["netcdf"]) as b:
            assert a.identical(b), name
    bb_fakes.assert_outputs_valid(dask_out)

    # Resume works across executors: what the workers wrote is complete and resumable.
    capsys.readouterr()
    assert fit.main([*ARGS, "--out", str(dask_out)]) == 0
    assert "6 fits, 6 resumed" in capsys.readouterr().out
    assert len(bb_fakes.log_entries(fake_env)) == 12


def test_unreachable_scheduler_is_one_line_and_writes_nothing(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    import dask

    out = tmp_path / "out"
    with dask.config.set({"distributed.comm.timeouts.connect": "1s"}):
        code = fit.main([*ARGS, "--out", str(out), "--scheduler", "tcp://127.0.0.1:9"])
    err = capsys.readouterr().err
    assert code == 2, err
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: --scheduler tcp://127.0.0.1:9: "
                                                   "cannot connect"), err
    assert not out.exists()
