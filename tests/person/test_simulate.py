"""Simulator: calibration to the cited designs, reproducibility, scale, CLI."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from bayes_bijstand.microdata import load_microdata
from bayes_bijstand.simulate import DESIGNS, design_table, main, simulate_microdata

SEEDS = Path("/work/shared")


def test_reproducible_and_labelled_synthetic() -> None:
    a = simulate_microdata(seed=3, gemeenten=["oss"])
    b = simulate_microdata(seed=3, gemeenten=["oss"])
    c = simulate_microdata(seed=4, gemeenten=["oss"])
    assert a.equals(b) and not a.equals(c)
    assert a["synthetic"].all() and a.attrs["synthetic"]


def test_default_size_and_design_features() -> None:
    df = simulate_microdata()
    assert 5500 <= len(df) <= 6500
    assert 60 <= df["coach"].nunique() <= 90
    gro = df[df["gemeente"] == "groningen"]
    assert 0.07 < gro["participated"].mean() < 0.14  # ~11% Zelen take-up
    assert set(gro["arm"]) == {"control", "zelf_in_actie", "extra_hulp", "werken_loont",
                               "keuze", "reference"}
    werk = gro.loc[gro["arm"] == "extra_hulp"].dropna(subset=["coach"])
    assert werk.loc[werk["participated"] == 1, "coach"].str.contains("extra_hulp").all()
    nij = df[df["gemeente"] == "nijmegen"]
    assert nij.loc[(nij["arm"] == "zelf_in_actie+werken_loont") & (nij["participated"] == 1),
                   "coach"].isna().all()
    ded = nij.loc[(nij["arm"] == "extra_hulp+werken_loont") & (nij["participated"] == 1), "coach"]
    assert ded.nunique() == 3
    ctrl = df[df["arm"] == "control"]
    assert 0.07 < ctrl["work_gt12h_m24"].mean() < 0.2


def test_scale_multiplies_sizes() -> None:
    small = simulate_microdata(scale=0.5, gemeenten=["utrecht"])
    assert abs(len(small) - 376) <= 4


def test_design_numbers_are_printed_on_cited_lines() -> None:
    tab = design_table()
    cited = tab[tab["printed"].notna()]
    assert len(cited) > 30
    if not SEEDS.exists():
        pytest.skip("shared seed reports not available")
    for _, r in cited.iterrows():
        file, line = r["source"].rsplit(":", 1)
        path = SEEDS / ("seeds/" + file if not file.startswith("secondary") else file)
        text = path.read_text(encoding="utf-8").splitlines()[int(line) - 1]
        assert r["printed"] in text, (r["source"], r["printed"], text)
    assert (tab["source"].str.startswith("assumption") | tab["printed"].notna()
            | tab["source"].str.contains(":")).all()
    assert set(DESIGNS) == {"groningen", "nijmegen", "oss", "utrecht", "tilburg",
                            "wageningen", "deventer"}


def test_cli_writes_atomically_and_loads(tmp_path) -> None:
    out = tmp_path / "sim.csv"
    assert main(["--out", str(out), "--gemeenten", "oss", "--seed", "1"]) == 0
    assert out.read_text().startswith("# SYNTHETIC")
    assert [p.name for p in tmp_path.iterdir()] == ["sim.csv"]
    df = load_microdata(out)
    assert df["synthetic"].all() and len(df) == 345
    assert main(["--out", str(tmp_path / "x.csv"), "--gemeenten", "atlantis"]) == 2
    assert not (tmp_path / "x.csv").exists()


def test_cli_help_is_readable() -> None:
    r = subprocess.run([sys.executable, "-m", "bayes_bijstand.simulate", "--help"],
                       capture_output=True, text=True, check=True)
    assert "SYNTHETIC" in r.stdout and "--sigma-coach" in r.stdout
