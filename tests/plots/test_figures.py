"""Figures of one tiny real fit: every file is written and valid, and the data behind the
key figures is what the fit says (one forest row per municipality x arm plus pooled rows)."""

from __future__ import annotations

import warnings
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest

from bayes_bijstand.plots import DEFAULT_FORMATS, FIGURES, FORMATS, make_figures
from bayes_bijstand.plots.forest import forest_table, plot_forest
from bayes_bijstand.plots.ppc import ppc_table
from bayes_bijstand.plots.probability import probability_table
from bayes_bijstand.plots.sensitivity import sensitivity_table

pytestmark = pytest.mark.slow
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def result() -> Any:
    """One small real fit (work_gt12h: three municipalities, six arms)."""
    from bayes_bijstand.evidence.load import load_evidence
    from bayes_bijstand.meta import fit_meta
    from bayes_bijstand.specs import load_spec

    root = Path(__file__).resolve().parents[2]
    spec = load_spec(root / "models" / "meta_components.toml").with_overrides(
        draws=100, tune=100, chains=2)  # the run's sampler: nutpie, compiled once per session
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return fit_meta(load_evidence(), spec, "work_gt12h", retry=False)


@pytest.fixture(scope="module")
def figures(result: Any, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[Path]]:
    out = tmp_path_factory.mktemp("figures")
    return out, make_figures(result, out, formats=FORMATS)


def test_every_figure_written(figures: tuple[Path, list[Path]]) -> None:
    out, paths = figures
    expected = {f"{stem}.{ext}" for stem in FIGURES for ext in ("png", "svg")}
    assert {p.name for p in paths} == expected
    assert {p.name for p in out.iterdir()} == expected  # no temp files left behind
    for p in paths:
        assert p.stat().st_size > 1000
        if p.suffix == ".png":
            assert p.read_bytes()[:8] == PNG_MAGIC
        else:
            root = ET.parse(p).getroot()
            assert root.tag.endswith("svg")


def test_png_only_unless_asked(result: Any, tmp_path: Path) -> None:
    """A run writes PNG only by default (``fit --svg`` adds SVG); unknown formats are refused."""
    paths = make_figures(result, tmp_path, only=("probability",))
    assert [p.name for p in paths] == ["probability.png"]
    assert DEFAULT_FORMATS == ("png",)
    with pytest.raises(ValueError, match="figure formats"):
        make_figures(result, tmp_path, only=("probability",), formats=("gif",))


def test_no_pyplot_state_left(figures: tuple[Path, list[Path]]) -> None:
    assert plt.get_fignums() == []


def test_forest_rows(result: Any) -> None:
    t = forest_table(result)
    gem = result.gemeenten()
    n_pooled = sum(1 for a in result.data.arms
                   if ((result.summary()["parameter"] == "mu_arm")
                       & (result.summary()["label"] == a)).any())
    assert (t["row_kind"] == "gemeente").sum() == len(gem)
    assert (t["row_kind"] == "pooled").sum() == n_pooled
    assert (t["row_kind"] == "predictive").sum() == n_pooled
    assert len(t) == len(gem) + 2 * n_pooled
    # display scale: percentage points for a binary outcome
    pooled = t[t["row_kind"] == "pooled"].iloc[0]
    s = result.summary()
    ref = s[(s["parameter"] == "mu_arm") & (s["label"] == pooled["arm"])].iloc[0]
    assert np.isclose(pooled["mean"], 100 * ref["mean"])
    # the figure has one y tick per row, in panels per arm
    fig = plot_forest(result=result, table=t)
    ticks = [lab.get_text() for ax in fig.axes for lab in ax.get_yticklabels()]
    assert len(ticks) == len(t)
    assert "Groningen" in ticks and "Pooled effect" in ticks
    # Groningen's Zelen rows are ITTs of the offer: the dot on the per-participant axis is
    # that ITT divided by take-up and is labelled so; printed rows stay "printed".
    rows = t[t["row_kind"] == "gemeente"].merge(gem[["row_id", "arm", "wald", "published",
                                                     "per_participant"]],
                                                on=["row_id", "arm"], suffixes=("", "_g"))
    wald = rows[rows["wald"]]
    assert len(wald) and (wald["published_kind"] == "ITT / take-up").all()
    assert np.allclose(wald["published"], 100 * wald["per_participant"])
    assert not np.allclose(wald["published"], 100 * wald["published_g"])
    printed = rows[~rows["wald"] & np.isfinite(rows["published"])]
    assert (printed["published_kind"] == "printed").all()


def test_probability_matches_summary(result: Any) -> None:
    p = probability_table(result)
    s = result.summary()
    for _, r in p.iterrows():
        ref = s[(s["parameter"] == "mu_arm") & (s["label"] == r["arm"])].iloc[0]
        assert np.isclose(r["p_gt_0"], ref["prob_gt_0"])
        assert 0 <= r["p_gt_mid"] <= r["p_gt_0"] <= 1


def test_ppc_one_row_per_gaussian_row(result: Any) -> None:
    t = ppc_table(result)
    assert len(t) == int((result.data.rows["family"] == "gaussian").sum())
    assert all(r["q05"] <= r["q50"] <= r["q95"] for r in t)


def test_sensitivity_alpha_one_is_posterior(result: Any) -> None:
    t = sensitivity_table(result)
    base = t[(t["prior"] == "mu") & np.isclose(t["alpha"], 1.0)]
    s = result.summary()
    for _, r in base.iterrows():
        ref = s[(s["parameter"] == "mu_arm") & (s["label"] == r["arm"])].iloc[0]
        assert np.isclose(r["mean"], 100 * ref["mean"])
        assert np.isclose(r["ess_frac"], 1.0)


def _started(result: Any, tmp_path: Path) -> Any:
    from bayes_bijstand.run.job import Started
    from bayes_bijstand.run.plan import Job

    job = Job(name="work_gt12h", outcome="work_gt12h", pooling="partial", grades=None, role="main")
    return Started(job=job, record={}, rec_path=tmp_path / "rec.json", result=result,
                   figure_dir=tmp_path / "figures", formats=FORMATS)


def test_figures_drawn_in_a_second_process(result: Any, figures: tuple[Path, list[Path]],
                                           tmp_path: Path) -> None:
    """The run's figure process writes the same files as drawing them in this process."""
    from bayes_bijstand.run.figures import FigureProcess

    st = _started(result, tmp_path)
    with FigureProcess(True) as fp:
        pending = fp.submit(st)
        assert not isinstance(pending, list)  # a future: drawn elsewhere
        paths = fp.result(st, pending)
    assert sorted(p.name for p in paths) == sorted(p.name for p in figures[1])
    assert all(p.parent == tmp_path / "figures" and p.stat().st_size > 1000 for p in paths)


def test_figure_process_failure_falls_back_to_drawing_here(result: Any, tmp_path: Path,
                                                           caplog: pytest.LogCaptureFixture,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    """A result the figure process cannot receive (unpicklable) is drawn in this process."""
    from dataclasses import replace

    import bayes_bijstand.plots as plots
    from bayes_bijstand.run.figures import FigureProcess

    # Drawn here, so one figure is enough to show it (the other process re-imports plots).
    monkeypatch.setattr(plots, "FIGURES", {"forest": plots.FIGURES["forest"]})
    st = _started(replace(result, extra={"not_picklable": lambda: None}), tmp_path)
    with FigureProcess(True) as fp:
        paths = fp.result(st, fp.submit(st))
    assert "drawing here" in caplog.text
    assert {p.name for p in paths} == {"forest.png", "forest.svg"}


def test_many_municipalities_draw_a_readable_subset(result: Any) -> None:
    """Above MAX_ROWS municipalities an arm's panel draws MAX_ROWS of them, evenly spaced by
    the estimate after pooling (the smallest and the largest included), and says so."""
    from bayes_bijstand.plots._style import MAX_ROWS, thin_rows

    assert thin_rows(np.arange(MAX_ROWS)) is None  # up to the cap: every row, as before
    v = np.random.default_rng(1).normal(size=5 * MAX_ROWS)
    keep = thin_rows(v)
    assert keep is not None and len(keep) == MAX_ROWS
    assert keep[0] == np.argmin(v) and keep[-1] == np.argmax(v) and np.all(np.diff(v[keep]) > 0)
    t = forest_table(result)
    arm = t["arm"].iloc[0]
    row = t[(t["arm"] == arm) & (t["row_kind"] == "gemeente")].iloc[[0]]
    n = 4 * MAX_ROWS
    many = row.loc[row.index.repeat(n)].reset_index(drop=True)
    many["label"] = [f"Stad {i:04d}" for i in range(n)]
    many["mean"] = np.linspace(-5, 5, n)[::-1]
    big = pd.concat([many, t[t["arm"] != arm], t[(t["arm"] == arm) & (t["row_kind"] != "gemeente")]],
                    ignore_index=True)
    fig = plot_forest(result=result, table=big)
    ax = next(a for a in fig.axes if a.get_title(loc="left").startswith("Arm: "))
    ticks = [lab.get_text() for lab in ax.get_yticklabels()]
    gem_ticks = [x for x in ticks if x.startswith("Stad")]
    assert len(gem_ticks) == MAX_ROWS
    assert gem_ticks[0] == f"Stad {n - 1:04d}" and gem_ticks[-1] == "Stad 0000"  # low to high
    assert f"{MAX_ROWS} of {n:,} municipalities" in ax.get_title(loc="left")
    assert fig.get_size_inches()[1] < 0.45 * (MAX_ROWS + len(t)) + 10


def test_run_draws_sampler_plots_only_for_a_fit_that_failed_the_gate(
        result: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from dataclasses import replace

    import bayes_bijstand.plots as plots
    from bayes_bijstand.run.figures import draw_figures

    monkeypatch.setattr(plots, "FIGURES", {k: plots.FIGURES[k] for k in ("probability", "energy")})
    failed = replace(result, diagnostics=replace(result.diagnostics, passed=False))
    passed = replace(result, diagnostics=replace(result.diagnostics, passed=True))
    assert {p.name for p in draw_figures(failed, tmp_path / "f")} == {"probability.png",
                                                                    "energy.png"}
    assert {p.name for p in draw_figures(passed, tmp_path / "p")} == {"probability.png"}


def test_plots_cli_draws_figures_of_a_stored_fit(result: Any, tmp_path: Path,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    from bayes_bijstand.plots.__main__ import main

    nc = result.to_netcdf(tmp_path / "run" / "fits" / "work_gt12h.nc")
    assert main([str(nc), "--only", "energy"]) == 0
    assert (tmp_path / "run" / "figures" / "work_gt12h" / "energy.png").stat().st_size > 1000
    assert main([str(tmp_path / "run" / "fits" / "missing.nc")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "missing.nc: no such file" in err[0]
