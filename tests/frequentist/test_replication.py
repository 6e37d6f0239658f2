"""The replication table recomputes the reports' claims from their printed counts."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

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
    # The method actually used: DL+KNHA only where rows were pooled; one row is a single study.
    pooled_k = pooled[pooled["parameter"] == "mu_arm"]
    assert (pooled_k.loc[pooled_k["freq_k"] >= 2, "freq_method"] == "DL+KNHA").all()
    assert (pooled_k.loc[pooled_k["freq_k"] == 1, "freq_method"] == "single study").all()
    assert not pooled["freq_method"].fillna("").str.contains("REML").any()
    data = json.loads((tmp_path / "frequentist.json").read_text())
    assert data["method"] == "DL" and data["knha"] is True and data["replication"]


def test_replicate_cli_bad_file_exit_2(tmp_path: Path, capsys) -> None:  # noqa: ANN001
    bad = tmp_path / "bad.csv"
    bad.write_text("gemeente,arm,outcome,estimate,se\ng,a,o,1,-1\n", encoding="utf-8")
    assert replicate_main(["--estimates", str(bad), "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "row 2" in err[0] and "field 'se'" in err[0]
    assert not (tmp_path / "o").exists()


def test_replicate_prints_metafor_summary_on_a_users_file(tmp_path: Path, capsys) -> None:  # noqa: ANN001
    """BCG-style use: lower-case method, a user's file -> 95% intervals by default, and on
    screen the estimate, SE, z, p, CI, tau², I², H² and Q of each pooled arm (as written)."""
    from bayes_bijstand.frequentist import rma

    f = tmp_path / "my.csv"
    f.write_text("gemeente,arm,outcome,estimate,se\n"
                 "a,extra_hulp,work_gt12h,0.031,0.015\nb,extra_hulp,work_gt12h,0.012,0.02\n"
                 "c,extra_hulp,work_gt12h,0.05,0.018\n", encoding="utf-8")
    assert replicate_main(["--estimates", str(f), "--method", "reml",
                           "--out", str(tmp_path / "o")]) == 0
    text = capsys.readouterr().out
    res = rma([0.031, 0.012, 0.05], [0.015**2, 0.02**2, 0.018**2], method="REML", level=0.95)
    for v in (res.beta[0], res.se[0], res.ci_low[0], res.ci_high[0], res.tau2, res.QE):
        assert f"{v:.4f}" in text
    assert f"{res.I2:.2f}%" in text and f"{res.stat[0]:.3f}" in text and "pval" in text
    pooled = pd.read_csv(tmp_path / "o" / "frequentist.csv")
    arm = pooled[(pooled["parameter"] == "mu_arm") & (pooled["label"] == "extra_hulp")].iloc[0]
    assert arm["freq_se"] == pytest.approx(res.se[0]) and arm["freq_p"] == pytest.approx(res.pval[0])
    assert arm["freq_ci_prob"] == 0.95 and arm["freq_method"] == "REML"
    assert arm["scale"] == "risk_difference"
