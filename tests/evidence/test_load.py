"""The shipped evidence base: row counts pinned per source and comparison, API filters."""

from __future__ import annotations

import bayes_bijstand as bb
from bayes_bijstand.evidence.load import load_evidence, load_outcome_labels, load_outcomes
from bayes_bijstand.evidence.registry import load_arms, load_coaches, load_studies

ROWS_PER_SOURCE = {
    "000_b1011bc5a1f5730a.txt": 603,
    "001_e8219d228756aa2a.txt": 389,
    "002_7413e549cc2fe340.txt": 231,
    "003_de3b8a725fc114d3.txt": 38,
    "004_6611d5a8d07b207a.txt": 5,
    "secondary_sources.md": 6,
}
ROWS_PER_COMPARISON = {
    "vs_control": 360, "vs_reference": 270, "participants_vs_control": 533,
    "arm_vs_arm": 74, "pre_post": 22, "nonparticipants_vs_control": 8, "non_randomised": 5,
}


def test_row_counts_per_source_are_pinned() -> None:
    df = load_evidence()
    assert df.groupby("source").size().to_dict() == ROWS_PER_SOURCE


def test_row_counts_per_comparison_are_pinned() -> None:
    df = load_evidence()
    assert df.groupby("comparison").size().to_dict() == ROWS_PER_COMPARISON


def test_row_ids_are_unique_and_stable() -> None:
    a, b = load_evidence(), load_evidence()
    assert a["row_id"].is_unique
    assert a["row_id"].tolist() == b["row_id"].tolist()


def test_filters() -> None:
    df = bb.load_evidence(outcome="work_gt12h", gemeente=["groningen", "nijmegen"])
    assert set(df["outcome"]) == {"work_gt12h"}
    assert set(df["gemeente"]) == {"groningen", "nijmegen"}
    assert len(bb.load_evidence(arm="zelf_in_actie", comparison="vs_control")) > 0


def test_every_outcome_code_is_in_the_vocabulary_and_every_label_is_mapped() -> None:
    df = load_evidence()
    vocab = set(load_outcomes()["outcome"])
    assert set(df["outcome"]) <= vocab
    labels = load_outcome_labels()
    mapped = set(zip(labels["outcome_label"], labels["outcome"], strict=True))
    missing = {(lab, o) for lab, o in zip(df["outcome_label"], df["outcome"], strict=True)
               if lab and (lab, o) not in mapped}
    assert len(missing) <= len(df) * 0.05, sorted(missing)[:10]


def test_registry_covers_every_municipality() -> None:
    studies = load_studies()
    expected = {"groningen", "utrecht", "tilburg", "wageningen", "deventer", "nijmegen", "oss", "tno"}
    assert expected <= set(studies["gemeente"])
    secondary = load_studies(keep_secondary=True)
    assert secondary[secondary["gemeente"] == "utrecht"]["secondary"].any()
    assert not studies.set_index("gemeente").loc["groningen", "secondary"]


def test_registry_coach_facts() -> None:
    coaches = load_coaches()
    gro = coaches[(coaches["gemeente"] == "groningen") & coaches["n_clients"].notna()]
    assert {13, 47, 40, 50, 46} <= set(gro["n_clients"].astype(int))
    arms = load_arms()
    assert (arms["gemeente"] == "nijmegen").any()
