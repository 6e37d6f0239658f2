"""Each row's role is explicit in data columns: subgroup, comparison vs estimand, quality."""

from __future__ import annotations

import re

from bayes_bijstand.evidence.load import load_evidence, load_outcomes
from bayes_bijstand.evidence.schema import ESTIMATE_COLUMNS, QUALITIES
from bayes_bijstand.models.selection import measured_by, registry_sizes


def test_subgroup_column_follows_estimand() -> None:
    assert ESTIMATE_COLUMNS.index("subgroup") == ESTIMATE_COLUMNS.index("estimand") + 1
    ev = load_evidence()
    assert set(ev["subgroup"]) == {"", "zittend_bestand", "nieuwe_instroom"}
    oss = ev[ev["model_variant"].str.contains("_zittend_bestand|_nieuwe_instroom")]
    assert (oss["subgroup"] != "").all()
    assert (ev.loc[ev["model_variant"].str.endswith("_totaal"), "subgroup"] == "").all()


def test_participants_only_rows_are_never_coded_as_randomised_vs_control() -> None:
    ev = load_evidence()
    assert not ((ev["estimand"] == "participants") & (ev["comparison"] == "vs_control")).any()


def test_secondary_rows_are_flagged_secondary() -> None:
    ev = load_evidence()
    sec = ev[ev["source"] == "secondary_sources.md"]
    assert len(sec) == 6 and (sec["quality"] == "secondary").all()
    assert (ev.loc[ev["source"] != "secondary_sources.md", "quality"] != "secondary").all()
    assert set(ev["quality"]) <= QUALITIES


def test_not_attributable_rows_are_the_footnote_rows() -> None:
    """003 footnote [1] (L301-305) qualifies the Tilburg and Nijmegen extra-hulp sentence (L111)."""
    na = load_evidence()
    na = na[na["quality"] == "not_attributable"]
    assert set(zip(na["gemeente"], na["line"].astype(int), strict=True)) == {
        ("tilburg", 111), ("nijmegen", 111)}


def test_groningen_social_trust_in_003_is_a_participants_contrast_and_flags_the_conflict() -> None:
    ev = load_evidence(outcome="social_trust", gemeente="groningen")
    s003 = ev[ev["source"].str.startswith("003")]
    assert len(s003) == 3
    assert (s003["comparison"] == "participants_vs_control").all()
    assert (s003["estimand"] == "participants").all()
    assert s003.set_index("arm").loc["werken_loont", "quality"] == "inconsistent"


def test_groningen_prose_rows_pinned_to_the_8_month_tables_have_months() -> None:
    ev = load_evidence(gemeente="groningen")
    ev = ev[ev["model_variant"].str.startswith("prose_variant")]
    pinned = ev[ev["notes"].str.contains(r"match(?:es)? Tabel 10\.(?:7|11)[ ,(]+(?:Variant B )?8 months",
                                         regex=True)]
    assert len(pinned) >= 11
    assert (pinned["months"] == 8).all()


def test_par_10_8_rows_that_match_the_8_month_table_are_mislabelled() -> None:
    ev = load_evidence(gemeente="groningen")
    rows = ev[ev["notes"].str.contains("Section 10.8 lineplot commentary", regex=False)
              & ev["notes"].str.contains("match Tabel 10.11 (8 months)", regex=False)]
    assert len(rows) == 11 and (rows["quality"] == "mislabelled").all()


def test_tilburg_extra_hulp_werken_loont_social_trust_row_exists() -> None:
    ev = load_evidence(outcome="social_trust", gemeente="tilburg")
    assert "extra_hulp+werken_loont" in set(ev["arm"])


def test_measurement_modes() -> None:
    for o in ("self_employed", "outflow_self_employment"):
        assert measured_by(o) == "survey"
    for o in ("motivation", "labour_market_distance", "work_capacity"):
        assert measured_by(o) == "consultant_survey"
    notes = load_outcomes().set_index("outcome")["notes"]
    assert all(re.search("coach|consultant", notes[o]) for o in ("motivation", "labour_market_distance"))


def test_registry_sizes_read_reference_groups_and_stated_group_counts() -> None:
    sizes, control, _ = registry_sizes()
    assert sizes[("nijmegen", "reference")] == 5637  # 002 L727, stage not_signed_up
    # Deventer: 364 participants over four groups (secondary_sources.md L18), not three.
    assert sizes[("deventer", "control")] == 364 / 4
    assert sizes[("deventer", "extra_hulp+werken_loont")] == 364 / 4
