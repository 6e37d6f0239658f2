"""After the last fit, queued figure jobs are split between this process and the figure process.

No drawing and no sampling here: futures are made by hand and ``draw_figures`` is replaced by
a recorder, so the test checks only the bookkeeping of :func:`bayes_bijstand.pipeline.drain`.
"""

from __future__ import annotations

import json
from concurrent.futures import Future
from pathlib import Path
from typing import Any

import pytest

from bayes_bijstand import pipeline
from bayes_bijstand.pipeline import FigureProcess, Job, Started, drain


def _started(name: str, tmp_path: Path) -> Started:
    job = Job(name=name, outcome=name, pooling="partial", grades=None, role="main")
    (tmp_path / "fits").mkdir(exist_ok=True)
    return Started(job=job, record={"name": name, "figures": []},
                   rec_path=tmp_path / "fits" / f"{name}.json", result=name,
                   figure_dir=tmp_path / "figures" / name)


def test_drain_draws_queued_jobs_here_and_waits_for_running_ones(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    drawn_here: list[str] = []

    def fake_draw(result: Any, figure_dir: Path) -> list[Path]:
        drawn_here.append(result)
        return [figure_dir / "forest.png"]

    monkeypatch.setattr(pipeline, "draw_figures", fake_draw)
    done: Future = Future()  # finished in the figure process
    done.set_running_or_notify_cancel()
    done.set_result([tmp_path / "figures" / "a" / "forest.png"])
    queued_1: Future = Future()  # still queued: can be cancelled
    queued_2: Future = Future()
    pending = [(0, _started("a", tmp_path), done), (1, _started("b", tmp_path), queued_1),
               (2, _started("c", tmp_path), queued_2)]
    records: list[dict[str, Any] | None] = [None, None, None]
    drain(pending, FigureProcess(False), tmp_path, records)
    assert drawn_here == ["c", "b"]  # from the back
    assert queued_1.cancelled() and queued_2.cancelled()
    assert [r["figures"] for r in records if r] == [["figures/a/forest.png"],
                                                     ["figures/b/forest.png"],
                                                     ["figures/c/forest.png"]]
    # Each record is written once its figures exist.
    for name in "abc":
        rec = json.loads((tmp_path / "fits" / f"{name}.json").read_text())
        assert rec["figures"] == [f"figures/{name}/forest.png"]
