"""The replication table recomputes the reports' claims from their printed counts."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from bayes_bijstand.evidence.load import load_evidence
from bayes_bijstand.frequentist.replication import replication_table
from bayes_bijstand.replicate import main as replicate_main


def test_tno_chi_square_claim_replicates() -> None:
    ev = load_evidence(gemeente="tno")
    t = replication_table(ev)
    sig = t[t["check"] == "significance from counts"]
    assert len(sig) == 1 and bool(sig["agrees"].iloc[0])
    assert abs(float(sig["recomputed"].iloc[0]) - 0.7209) < 1e-3  # Pearson chi-square p


def test_oss_misprinted_percentage_is_caught() -> None:
    ev = load_evidence(gemeente="oss", outcome="outflow_work")
    t = replication_table(ev)
    bad = t[t["agrees"] == False]  # noqa: E712
    assert len(bad) == 1 and "32.2%" in bad["claim"].iloc[0]
    assert abs(float(bad["recomputed"].iloc[0]) - 100 * 38 / 111) < 1e-3


def test_replicate_cli_writes_csv_and_json(tmp_path: Path) -> None:
    assert replicate_main(["--method", "DL", "--knha", "--out", str(tmp_path)]) == 0
    pooled = pd.read_csv(tmp_path / "frequentist.csv")
    assert {"outcome", "parameter", "label", "freq_estimate", "freq_ci_low", "freq_ci_high",
            "freq_k"} <= set(pooled.columns)
    assert (pooled["freq_method"] == "DL+KNHA").all()
    data = json.loads((tmp_path / "frequentist.json").read_text())
    assert data["method"] == "DL" and data["knha"] is True and data["replication"]


def test_replicate_cli_bad_file_exit_2(tmp_path: Path, capsys) -> None:  # noqa: ANN001
    bad = tmp_path / "bad.csv"
    bad.write_text("gemeente,arm,outcome,estimate,se\ng,a,o,1,-1\n", encoding="utf-8")
    assert replicate_main(["--estimates", str(bad), "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "row 2" in err[0] and "field 'se'" in err[0]
    assert not (tmp_path / "o").exists()
