"""``fit --microdata``: bad person-level input gives one ``error:`` line (exit 2) before any
sampling; the seed is passed as given; every exported file passes disclosure control."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from bayes_bijstand import fit
from bayes_bijstand.recovery import DELIVERED_FORMULA
from bayes_bijstand.simulate import simulate_microdata, write_atomic


@pytest.fixture(scope="module")
def oss_frame() -> pd.DataFrame:
    d = simulate_microdata(gemeenten=["oss", "nijmegen"], scale=0.6, seed=4)
    return d.drop(columns=["work_gt12h_m8", "work_gt12h_m16"])


def _csv(tmp_path: Path, df: pd.DataFrame, name: str = "d.csv") -> str:
    return str(write_atomic(df, tmp_path / name))


def _cases(df: pd.DataFrame) -> dict[str, tuple[pd.DataFrame, list[str], str]]:
    return {
        "no_control": (df[df["arm"] != "control"], [], "no control group"),
        "only_control": (df[df["arm"] == "control"], [], "only control"),
        "all_missing": (df.assign(work_gt12h_m24=[None] * len(df)), [],
                        "no client has a value"),
        "score_bernoulli": (df, ["--formula", "social_trust_m24 ~ arm"], "is a score"),
        "python_call": (df, ["--formula", "work_gt12h_m24 ~ I(np.savetxt('sex', np.zeros(1)))"],
                        "not allowed"),
        "attribute": (df, ["--formula", "work_gt12h_m24 ~ arm + sex.__class__"], "not allowed"),
        "unclosed": (df, ["--formula", "work_gt12h_m24 ~ arm + (1 | gemeente"], "expected"),
        "unknown_name": (df, ["--formula", "work_gt12h_m24 ~ arm + leeftijd"],
                         "'leeftijd' is not a column"),
        "no_rhs": (df, ["--formula", "work_gt12h_m24 ~"], "expected"),
    }


@pytest.mark.parametrize("case", list(_cases(pd.DataFrame({"arm": []}))))
def test_bad_person_input_is_one_error_line(case: str, oss_frame, tmp_path, monkeypatch,
                                            capsys) -> None:
    import bayes_bijstand.models.person_level as pl

    def sampling_started(*a: object, **k: object) -> None:
        raise AssertionError("sampling started on bad input")

    monkeypatch.setattr(pl, "fit_person", sampling_started)
    monkeypatch.chdir(tmp_path)
    df, extra, needle = _cases(oss_frame)[case]
    out = tmp_path / "out"
    code = fit.main(["--microdata", _csv(tmp_path, df), *extra, "--out", str(out), "--quiet"])
    err = capsys.readouterr().err
    assert code == 2, err
    assert err.count("\n") == 1 and err.startswith("error: ") and needle in err, err
    assert "Traceback" not in err and not out.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["d.csv", "out"][:1]  # no 'sex' file


def test_seed_zero_is_not_replaced(oss_frame, tmp_path, monkeypatch) -> None:
    import bayes_bijstand.models.person_level as pl

    seen: dict[str, object] = {}

    def capture(*a: object, **k: object) -> None:
        seen.update(k)
        raise KeyboardInterrupt

    monkeypatch.setattr(pl, "fit_person", capture)
    code = fit.main(["--microdata", _csv(tmp_path, oss_frame), "--seed", "0",
                     "--out", str(tmp_path / "o"), "--quiet"])
    assert code == 130 and seen["random_seed"] == 0


@pytest.mark.slow
def test_person_exports_pass_disclosure_control(oss_frame, tmp_path) -> None:
    out = tmp_path / "out"
    code = fit.main(["--microdata", _csv(tmp_path, oss_frame), "--formula", DELIVERED_FORMULA,
                     "--draws", "150", "--tune", "150", "--chains", "2", "--seed", "0",
                     "--out", str(out), "--quiet", "--allow-warnings"])
    assert code == 0
    coach_ids = set(oss_frame["coach"].dropna())
    for f in out.rglob("*"):
        if f.is_file():
            blob = f.read_bytes()
            leaked = [c for c in coach_ids if c.encode() in blob]
            assert not leaked, (f, leaked[:3])
    import xarray as xr

    tree = xr.open_datatree(out / "fits" / "person_level.nc", engine="h5netcdf")
    assert set(tree.children) == {"posterior", "sample_stats"}
    summary = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    assert summary["seed"] == 0 and summary["secure_env"] is False
    for n in re.findall(r"(\d+) (?:assigned|participants|clients)", summary["identification"]):
        assert int(n) >= 10
    table = pd.read_csv(out / "person_summary.csv", dtype=str)
    small = table["suppressed"] == "True"
    assert (table.loc[small, "estimate"] == "<10").all()
    assert (pd.to_numeric(table.loc[~small, "n"]) >= 10).all()
    coaches = pd.read_csv(out / "coach_effects.csv", dtype=str)
    assert coaches["coach"].str.fullmatch(r"coach \d+|suppressed").all()
    ranked = coaches[coaches["coach"] != "suppressed"]
    assert (pd.to_numeric(ranked["n_clients"]) >= 10).all()
    assert np.all(coaches.loc[coaches["coach"] == "suppressed", "mean"] == "<10")
