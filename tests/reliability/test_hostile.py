"""Hostile input beyond the corpus files: paths out of ``--out``, the CLI's last line of
defence, the number-validation layer, the memory guard and replicate's usability rules.

Cheap: validation runs in-process; the CLI runs use the fake fit of ``bb_fakes`` (no
sampling)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from bb_fakes import TINY, cli_env, fake_cli

from bayes_bijstand import cli
from bayes_bijstand.errors import InputError, OutputError, SpecError
from bayes_bijstand.io import check_output_dir, inside
from bayes_bijstand.validation import (
    NumberError,
    check_code,
    check_fit_size,
    check_prior,
    fit_memory_estimate,
    infer_scale,
    parse_number,
)

HEADER = "gemeente,arm,outcome,estimate,se\n"


# --------------------------------------------------------------------------- numbers


@pytest.mark.parametrize(("cell", "decimal", "value", "percent"), [
    ("0.02", ".", 0.02, False), ("-1.5e-3", ".", -1.5e-3, False), ("\u22120.02", ".", -0.02, False),
    ("0,02", ",", 0.02, False), ("1.234,5", ",", 1234.5, False), ("2%", ".", 2.0, True),
    ("0,5", ".", 0.5, False), (" 7 ", ".", 7.0, False), (".5", ".", 0.5, False),
])
def test_parse_number_accepts_plain_decimals(cell: str, decimal: str, value: float,
                                             percent: bool) -> None:
    assert parse_number(cell, decimal) == (pytest.approx(value), percent)


@pytest.mark.parametrize(("cell", "why"), [
    ("0_02", "is not a number"), ("1_000", "is not a number"), ("0x10", "is not a number"),
    ("inf", "not a finite number"), ("-Infinity", "not a finite number"),
    ("nan", "not a finite number"), ("1e400", "not a finite number"),
    ("1,000", "ambiguous"), ("1,000,000", "ambiguous"), ("1,5.3", "ambiguous"),
    ("2 %%", "is not a number"), ("", "is not a number"), ("--1", "is not a number"),
])
def test_parse_number_refuses_python_float_extras(cell: str, why: str) -> None:
    with pytest.raises(NumberError, match=why):
        parse_number(cell)


def test_scale_rule_and_prior_limits() -> None:
    assert infer_scale("binary") == "proportion" and infer_scale(None) == "proportion"
    assert infer_scale("score") == "score" and infer_scale("euro") == "euro"
    assert check_prior("priors.binary.mu_sd", 0.1) is None
    assert "between" in check_prior("priors.binary.mu_sd", 1e308)
    assert "between" in check_prior("bias.vs_reference", 1e6)
    assert check_prior("sampler.draws", 1e9) is None  # not a prior: checked elsewhere


def _load(tmp_path: Path, text: str, name: str = "e.csv") -> pd.DataFrame:
    from bayes_bijstand.evidence.load import load_evidence

    f = tmp_path / name
    f.write_text(text, encoding="utf-8")
    return load_evidence(f)


def test_user_rows_get_their_scale_and_percent_rows_stay_percent(tmp_path: Path) -> None:
    df = _load(tmp_path, "gemeente,arm,outcome,scale,estimate,se\n"
               "groningen,zelf_in_actie,work_gt12h,,0.02,0.01\n"
               "nijmegen,zelf_in_actie,work_gt12h,percent,3.1,1.5\n"
               "oss,zelf_in_actie,social_trust,,0.4,0.2\n")
    assert list(df["scale"]) == ["proportion", "percent", "score"]


def test_percentage_points_without_scale_are_refused(tmp_path: Path) -> None:
    """Issue 22: 3.1 and 1.5 (pp) for work_gt12h with no scale no longer enter as 310 pp."""
    with pytest.raises(InputError) as e:
        _load(tmp_path, HEADER + "groningen,zelf_in_actie,work_gt12h,3.1,1.5\n")
    assert e.value.row == 2 and e.value.field == "estimate"
    assert "percentage points? declare scale = percent" in str(e.value)


def test_percent_scale_enters_the_model_as_a_proportion(tmp_path: Path) -> None:
    from bayes_bijstand.evidence.grades import measurement_table

    df = _load(tmp_path, "gemeente,arm,outcome,scale,estimate,se\n"
               "groningen,zelf_in_actie,work_gt12h,percent,3.1,1.5\n")
    m = measurement_table(df, "binary")
    assert m["y"].iloc[0] == pytest.approx(0.031) and m["se"].iloc[0] == pytest.approx(0.015)


# --------------------------------------------------------------------------- codes and paths


@pytest.mark.parametrize("code", ["../../x", "/etc/passwd", "..", ".", "a/b", "a\\b", "a.b",
                                  "work_gt12h.pooling-none", "a" * 65, "a\x00b", "$\\frac{1}{0}$",
                                  "-rf", "_x", "a b", "x\u200b", "<b>"])
def test_unsafe_outcome_codes_are_refused(code: str) -> None:
    assert check_code(code, "outcome") is not None


@pytest.mark.parametrize("code", ["work_gt12h", "súdwest_fryslân", "den-haag", "x1"])
def test_plain_codes_pass(code: str) -> None:
    assert check_code(code, "outcome") is None
    assert check_code("zelf_in_actie+werken_loont", "arm") is None
    assert check_code("zelf_in_actie+werken_loont", "outcome") is not None


def test_inside_refuses_every_escape(tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    assert inside(out, "fits", "work_gt12h.nc") == out / "fits" / "work_gt12h.nc"
    for parts in (("..", "x"), ("/tmp/x",), ("fits", "../../x"), ("a\x00b",), ("",),
                  ("x" * 300,)):
        with pytest.raises(OutputError):
            inside(out, *parts)
    (out / "link").symlink_to(tmp_path)  # a symlink out of --out
    with pytest.raises(OutputError, match="resolves outside"):
        inside(out, "link", "x")


def test_no_file_lands_outside_out(tmp_path: Path) -> None:
    """A full (fake-fit) run writes only inside --out; hostile codes stop before writing."""
    work = tmp_path / "work"
    work.mkdir()
    good = work / "good.csv"
    good.write_text(HEADER + "groningen,zelf_in_actie,work_gt12h,0.02,0.01\n"
                    "nijmegen,zelf_in_actie,work_gt12h,0.03,0.015\n", encoding="utf-8")
    bad = work / "bad.csv"
    bad.write_text(HEADER + "groningen,zelf_in_actie,../../escaped,0.02,0.01\n"
                   "nijmegen,zelf_in_actie,../../escaped,0.03,0.015\n", encoding="utf-8")
    before = {p for p in tmp_path.rglob("*")}
    out = work / "out"
    p = subprocess.run(fake_cli("--estimates", str(good), "--out", str(out), *TINY),
                       capture_output=True, text=True, env=cli_env(), cwd=work, timeout=300)
    assert p.returncode == 0, p.stderr
    p = subprocess.run(fake_cli("--estimates", str(bad), "--out", str(work / "out2"), *TINY),
                       capture_output=True, text=True, env=cli_env(), cwd=work, timeout=300)
    assert p.returncode == 2 and "not a valid code" in p.stderr
    new = {q for q in tmp_path.rglob("*")} - before
    assert new and all(q == out or q.is_relative_to(out) for q in new), sorted(new)
    assert (out / "fits" / "work_gt12h.nc").exists()


# --------------------------------------------------------------------------- last line of defence


def test_guard_turns_any_exception_into_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    def boom() -> int:
        raise ZeroDivisionError("float division by zero")

    assert cli.guard(boom) == cli.EXIT_INTERNAL
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("error: internal error (ZeroDivisionError")
    assert "--debug" in err and "Traceback" not in err
    assert cli.guard(boom, debug=True) == cli.EXIT_INTERNAL
    assert "Traceback" in capsys.readouterr().err

    def full() -> int:
        raise OSError(28, "No space left on device", "/x/summary.json")

    assert cli.guard(full) == 2
    err = capsys.readouterr().err
    assert err == ("error: /x/summary.json: No space left on device (free some space or "
                   "choose another --out)\n")

    def memory() -> int:
        raise MemoryError()

    assert cli.guard(memory) == cli.EXIT_INTERNAL
    assert capsys.readouterr().err.startswith("error: out of memory")

    def spec() -> int:
        raise SpecError("m.toml", "bad\nvalue", key="a.b")

    assert cli.guard(spec) == 2
    assert capsys.readouterr().err == "error: m.toml, key 'a.b': bad value\n"


def test_sigterm_unwinds_like_ctrl_c() -> None:
    """SIGTERM raises :class:`cli.Terminated` in the main thread: exit 143, one line."""
    code = ("import os, signal, sys, time\n"
            "from bayes_bijstand import cli\n"
            "def body():\n"
            "    try:\n"
            "        os.kill(os.getpid(), signal.SIGTERM); time.sleep(30)\n"
            "    finally:\n"
            "        print('cleaned up', file=sys.stderr)\n"
            "    return 0\n"
            "sys.exit(cli.guard(body, interrupted='completed fits are kept'))\n")
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert p.returncode == 143
    assert p.stderr.splitlines() == ["cleaned up", "terminated (SIGTERM): completed fits are kept"]


# --------------------------------------------------------------------------- output directory


def test_output_dir_checks(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    check_output_dir(tmp_path / "new" / "out", 1)  # creates nothing
    assert not (tmp_path / "new").exists()
    (tmp_path / "f").write_text("x", encoding="utf-8")
    with pytest.raises(OutputError, match="is not a directory"):
        check_output_dir(tmp_path / "f" / "out", 1)
    import shutil

    usage = shutil.disk_usage(tmp_path)
    monkeypatch.setattr(shutil, "disk_usage", lambda p: usage._replace(free=10 * 1024**2))
    with pytest.raises(OutputError, match="only 10 MiB free"):
        check_output_dir(tmp_path, 64 * 1024**2)
    assert list(tmp_path.iterdir()) == [tmp_path / "f"]  # the probe file is gone


def test_full_disk_stops_before_sampling(tmp_path: Path) -> None:
    """A full output file system is refused before the first fit (fake: nothing sampled)."""
    log = tmp_path / "fits.jsonl"
    est = tmp_path / "e.csv"
    est.write_text(HEADER + "groningen,zelf_in_actie,work_gt12h,0.02,0.01\n"
                   "nijmegen,zelf_in_actie,work_gt12h,0.03,0.015\n", encoding="utf-8")
    shim = tmp_path / "shim"
    shim.mkdir()
    (shim / "sitecustomize.py").write_text(
        "import shutil\n_du = shutil.disk_usage\n"
        "shutil.disk_usage = lambda p: _du(p)._replace(free=1024)\n", encoding="utf-8")
    env = cli_env(BB_FAKE_LOG=log)
    env["PYTHONPATH"] = os.pathsep.join([str(shim), env["PYTHONPATH"]])
    out = tmp_path / "out"
    p = subprocess.run(fake_cli("--estimates", str(est), "--out", str(out), *TINY),
                       capture_output=True, text=True, env=env, timeout=300)
    assert p.returncode == 2, p.stderr
    assert p.stderr.strip().startswith("error: --out") and "MiB free" in p.stderr
    assert p.stderr.count("\n") == 1 and not out.exists() and not log.exists()


# --------------------------------------------------------------------------- size guard


def test_memory_guard_refuses_too_many_municipalities(monkeypatch: pytest.MonkeyPatch) -> None:
    assert check_fit_size({"work_gt12h": 20}, "f.csv") is None
    why = check_fit_size({"work_gt12h": 20, "x": 10_000}, "f.csv")
    assert why is not None and "'x' pools 10000 municipalities" in why
    assert fit_memory_estimate(10_000) > 10 * 1024**3  # the 11 GB measured for 10,000
    monkeypatch.setenv("BAYES_BIJSTAND_MAX_GEMEENTEN", "5")
    assert "limit of 5" in check_fit_size({"work_gt12h": 6}, "f.csv")


def test_too_many_municipalities_refused_in_dry_run(tmp_path: Path) -> None:
    """The guard runs at planning (also for --dry-run); a lowered limit keeps the test cheap
    (10,000 rows take the same path, only slower to validate)."""
    est = tmp_path / "many.csv"
    est.write_text(HEADER + "".join(f"g{i},zelf_in_actie,work_gt12h,0.02,0.01\n"
                                    for i in range(120)), encoding="utf-8")
    env = dict(os.environ, BAYES_BIJSTAND_MAX_GEMEENTEN="100")
    p = subprocess.run([sys.executable, "-m", "bayes_bijstand.fit", "--estimates", str(est),
                        "--out", str(tmp_path / "o"), "--dry-run", "--quiet",
                        "--compare-pooling", "none", "--contributions", "none"],
                       capture_output=True, text=True, timeout=300, env=env)
    assert p.returncode == 2 and p.stderr.count("\n") == 1, p.stderr
    assert "pools 120 municipalities, more than the limit of 100" in p.stderr


# --------------------------------------------------------------------------- replicate


def _replicate(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "bayes_bijstand.replicate", *args],
                          capture_output=True, text=True, timeout=300)


def test_replicate_applies_fits_rules(tmp_path: Path) -> None:
    """Files fit rejects are rejected by replicate with the same line, never '0 pooled'."""
    for name, text, fragment in [
            ("pp.csv", HEADER + "groningen,zelf_in_actie,work_gt12h,3.1,1.5\n", "percentage points?"),
            ("tiny.csv", HEADER + "groningen,zelf_in_actie,work_gt12h,0.02,1e-12\n", "below the smallest"),
            ("unusable.csv", "gemeente,arm,outcome,comparison,estimate,se\n"
             "groningen,zelf_in_actie,work_gt12h,pre_post,0.02,0.01\n", "no outcome has usable evidence")]:
        f = tmp_path / name
        f.write_text(text, encoding="utf-8")
        p = _replicate("--estimates", str(f), "--out", str(tmp_path / "o"))
        assert p.returncode == 2 and p.stderr.count("\n") == 1, p.stderr
        assert p.stderr.startswith(f"error: {f}") and fragment in p.stderr
        assert "Traceback" not in p.stderr and not (tmp_path / "o").exists()


def test_merge_frequentist_without_pooled_parameters() -> None:
    """Issue 25 item 4: a no-pooling refit has no pooled rows and the twin may have none."""
    from bayes_bijstand.summaries import merge_frequentist

    empty = merge_frequentist(pd.DataFrame(), pd.DataFrame())
    assert empty.empty and {"parameter", "label", "freq_estimate"} <= set(empty.columns)
    one = merge_frequentist(pd.DataFrame({"parameter": ["mu_arm"], "label": ["a"],
                                          "mean": [0.1]}), pd.DataFrame())
    assert len(one) == 1 and one["freq_estimate"].isna().all()
