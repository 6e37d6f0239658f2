"""What a new user meets on the command line: listings of the codes, did-you-mean naming the
right flag, help and defaults for every option, and a failed gate that says what to do."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pytest

from bayes_bijstand.fit import build_parser
from bayes_bijstand.fit import main as fit_main


def test_every_fit_option_has_help_and_the_sampler_options_state_their_defaults() -> None:
    actions = [a for a in build_parser()._actions if a.option_strings and a.dest != "help"]
    for a in actions:
        assert a.help and len(a.help) > 10, a.option_strings
    by = {a.dest: a for a in actions}
    for name in ("draws", "tune", "chains", "sampler", "seed"):
        assert "default" in by[name].help, name


@pytest.mark.parametrize(("flag", "value", "near"), [
    ("--arm", "zelf_in_aktie", "zelf_in_actie"),
    ("--outcome", "work_gt12", "work_gt12h"),
    ("--gemeente", "groninge", "groningen"),
])
def test_a_misspelt_code_is_blamed_on_its_own_flag(flag: str, value: str, near: str,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["--outcome", "work_gt12h", flag, value, "--dry-run"] if flag != "--outcome" \
        else [flag, value, "--dry-run"]
    assert fit_main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith(f"error: {flag}:")
    assert f"did you mean '{near}'?" in err[0]


def test_list_outcomes_arms_and_gemeenten_with_labels(capsys: pytest.CaptureFixture[str]) -> None:
    assert fit_main(["--list-outcomes", "--list-arms", "--list-gemeenten"]) == 0
    out = capsys.readouterr().out
    assert "work_gt12h" in out and "Works more than 12 hours a week [binary]" in out
    assert "zelf_in_actie" in out and "exemption from obligations" in out
    assert "groningen" in out and "Bijstand op Maat" in out


def test_failed_gate_table_says_how_many_draws_are_needed() -> None:
    from bayes_bijstand.diagnostics import Diagnostics
    from bayes_bijstand.run.tables import failed_table

    d = Diagnostics(passed=False, rhat_max=1.005, ess_bulk_min=150.0, ess_tail_min=300.0,
                    divergences=0, bfmi_min=0.9, n_draws=1200, problems=["bulk ESS 150 < 400"])
    assert Diagnostics.from_dict(d.to_dict()) == d
    t = failed_table([{"outcome": "work_gt12h", "status": "failed",
                        "diagnostics": d.to_dict()}])
    # 150 ESS from 1200 draws = 0.125 per draw -> 3200 for 400, +20% = 3840 -> 3900 in all
    assert t["hint"].iloc[0].startswith("to pass: ESS 150 from 1200 draws")
    assert "3900 draws over all chains" in t["hint"].iloc[0]
    assert "--draws 1000 (per chain, 4 chains)" in d.hint(chains=4)


def test_ci_prob_reaches_the_fit_the_tables_and_summary_json(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """``fit --ci-prob 0.95``: every fit gets the level (the twin and the tables are computed
    at it), summary.json and summary.md say 95%, and it is part of the resume key."""
    import json

    import bayes_bijstand.meta as meta

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "reliability"))
    import bb_fakes

    seen: list[float] = []

    def fake(*a: Any, ci_prob: float = 0.9, **k: Any) -> Any:
        seen.append(ci_prob)
        return bb_fakes.fake_fit_meta(*a, **k)

    monkeypatch.setattr(meta, "fit_meta", fake)
    monkeypatch.delenv("BB_FAKE_FAIL", raising=False)
    out = tmp_path / "out"
    argv = ["--outcome", "work_gt12h", *bb_fakes.TINY, "--out", str(out), "--ci-prob", "0.95"]
    assert fit_main(argv) == 0
    assert seen == [0.95]
    summary = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    assert summary["ci"]["prob"] == 0.95
    assert "Intervals are 95% equal-tailed" in (out / "summary.md").read_text(encoding="utf-8")
    assert fit_main(argv) == 0 and seen == [0.95]  # same level: resumed
    assert fit_main([*argv[:-1], "0.9"]) == 0 and seen == [0.95, 0.9]  # another level: refit
    with pytest.raises(SystemExit) as exc:  # argparse: usage line, exit code 2
        fit_main([*argv[:-1], "1.5"])
    assert exc.value.code == 2


def test_cli_defaults_state_the_interval_level() -> None:
    from bayes_bijstand.fit import parse_options

    assert parse_options(["--all-gemeenten"]).run_config().ci_prob == 0.9
    assert parse_options(["--all-gemeenten", "--ci-prob", "0.95"]).run_config().ci_prob == 0.95
