"""Which rows enter a fit: the ranking keys, bias terms, excluded qualities, score signs.

Synthetic rows test each rule on its own; the shipped evidence tests the cases the rules
were written for (seed lines in the test names' docstrings).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from bayes_bijstand.evidence.load import load_evidence
from bayes_bijstand.evidence.schema import ESTIMATE_COLUMNS, FLOAT_COLUMNS, INT_COLUMNS
from bayes_bijstand.models.selection import RANK_KEYS, select_rows
from bayes_bijstand.specs import ModelSpec

SPEC = ModelSpec(name="t")


def _ev(*rows: dict[str, object]) -> pd.DataFrame:
    """Evidence rows in the schema (unknown gemeente ``g``, sizes printed in every row)."""
    out = []
    for i, kw in enumerate(rows):
        r: dict[str, object] = {c: np.nan for c in FLOAT_COLUMNS + INT_COLUMNS}
        r.update({c: "" for c in ESTIMATE_COLUMNS if c not in r})
        r.update(gemeente="g", arm="extra_hulp", comparison="vs_control", comparator="control",
                 estimand="itt", outcome="outflow_work", scale="proportion", source="s.txt",
                 line=10 + i, quality="ok", n_treatment=100, n_control=100, control_mean=0.3)
        r.update(kw)
        r["row_id"] = f"r{i}"
        out.append(r)
    return pd.DataFrame(out)


def _used(t: pd.DataFrame) -> list[str]:
    return list(t.loc[t["used"], "row_id"])


def test_whole_sample_beats_a_subgroup_of_a_stronger_grade() -> None:
    ev = _ev({"estimate": 0.15, "subgroup": "zittend_bestand"},          # counts grade
             {"estimate": 0.04, "p_lower": 0.1, "p_upper": 1.0})           # marker grade
    t = select_rows(ev, "outflow_work", "binary", SPEC)
    assert _used(t) == ["r1"]
    lost = t.set_index("row_id").loc["r0"]
    assert lost["reason"] == "superseded by r1 (whole sample before subgroup zittend_bestand)"
    assert lost["rank"] == 2 and t.set_index("row_id").loc["r1", "rank"] == 1


def test_itt_beats_participants_before_comparison_and_grade() -> None:
    ev = _ev({"estimate": 0.15, "estimand": "participants",
              "comparison": "participants_vs_control", "se": 0.02},            # se grade
             {"estimate": 0.04, "estimand": "itt_offer", "comparison": "vs_reference",
              "comparator": "reference", "p_lower": 0.1, "p_upper": 1.0})
    t = select_rows(ev, "outflow_work", "binary", SPEC)
    assert _used(t) == ["r1"]
    assert "estimand itt_offer before participants" in t.set_index("row_id").loc["r0", "reason"]


def test_selection_keys_are_in_the_documented_order() -> None:
    assert RANK_KEYS[:6] == ("estimand", "subgroup", "comparison", "quality", "grade", "variant")


def test_participants_row_coded_vs_control_gets_the_participants_bias() -> None:
    ev = _ev({"estimate": 0.10, "estimand": "participants"})
    t = select_rows(ev, "outflow_work", "binary", SPEC)
    assert _used(t) == ["r0"]
    assert t.loc[0, "comparison"] == "participants_vs_control"
    assert "participants_vs_control" in SPEC.bias_sd
    # A spec without that bias prior cannot use the row at all.
    no_bias = ModelSpec(name="t", bias_sd={"vs_reference": 0.03})
    t = select_rows(ev, "outflow_work", "binary", no_bias)
    assert not t["used"].any() and "no bias prior" in t.loc[0, "reason"]


@pytest.mark.parametrize("outcome,kind", [("outflow_work", "binary"), ("work_gt8h", "binary"),
                                          ("work_gt12h", "binary"), ("social_trust", "score"),
                                          ("wellbeing", "score")])
def test_every_used_participants_row_carries_a_bias_term(outcome: str, kind: str) -> None:
    from bayes_bijstand.models.summary_level import prepare

    t = select_rows(load_evidence(), outcome, kind, SPEC)
    part = t[t["used"] & (t["estimand"] == "participants")]
    assert (part["comparison"].isin(SPEC.bias_sd)).all(), part[["row_id", "comparison"]]
    if len(part):
        data = prepare(t, outcome, kind, SPEC)
        keys = data.rows.loc[data.rows["estimand"] == "participants", "bias_key"]
        # One bias term per study and comparison ("groningen:participants_vs_control").
        assert (keys != "").all() and set(keys) <= set(data.biases)
        assert {k.rpartition(":")[2] for k in keys} <= set(part["comparison"])


def test_oss_outflow_work_zelf_in_actie_uses_the_whole_sample_row() -> None:
    """A whole-sample ITT row, not the zittend-bestand subgroup excluding afmelders at L1128
    (38% vs 23%): the raw counts of Tabel 2.3.1 (001 L645, 38/111 vs 35/119, binomial) rank
    before the logit with covariates (001 L1274, +4.2 pp, only "n.s." printed) on grade."""
    t = select_rows(load_evidence(), "outflow_work", "binary", SPEC)
    oss = t[(t["gemeente"] == "oss") & (t["arm"] == "zelf_in_actie")].set_index("row_id")
    assert list(oss.index[oss["used"]]) == ["001-L645-0"]
    assert oss.loc["001-L645-0", "family"] == "binomial"
    assert oss.loc["001-L1274-0", "y"] == pytest.approx(0.042)
    assert "grade counts before marker" in oss.loc["001-L1274-0", "reason"]
    assert "estimand itt before participants" in oss.loc["001-L1128-0", "reason"]


def test_secondary_rows_never_enter_as_counts() -> None:
    """Utrecht work > 12 h (secondary_sources.md L29-31: press-release shares, no SE, no n)."""
    ev = load_evidence()
    t = select_rows(ev, "work_gt12h", "binary", SPEC).set_index("row_id")
    sec = t[t["source"] == "secondary_sources.md"]
    assert len(sec) and not sec["used"].any()
    assert (sec["grade"] != "counts").all()
    assert sec["reason"].str.contains("secondary source").all()
    # Opted in, it is at most a direction (prose), never a randomised counts row.
    opt_in = ModelSpec(name="t", exclude_quality=("garbled",))
    t = select_rows(ev, "work_gt12h", "binary", opt_in).set_index("row_id")
    sec = t[t["source"] == "secondary_sources.md"]
    assert set(sec["grade"]) == {"prose"} and set(sec["family"]) == {"z_censored"}


def test_not_attributable_rows_are_excluded() -> None:
    """003 footnote [1] (L301-305): the negative extra-hulp effects in Tilburg and Nijmegen
    cannot be attributed to the treatment."""
    t = select_rows(load_evidence(), "work_gt8h", "binary", SPEC)
    na = t[t["quality"] == "not_attributable"]
    assert set(na["gemeente"]) == {"tilburg", "nijmegen"} and not na["used"].any()
    assert na["reason"].str.contains("cannot be attributed").all()
    assert not t[t["used"] & (t["gemeente"] == "tilburg") & (t["arm"] == "extra_hulp")].any().any()


def test_groningen_social_trust_comes_from_its_own_report() -> None:
    """003 L170-172 compares survey participants with the control group: the same contrast
    as 000 Figuur 3.11, whose rows (L1551-1553) are used; the 003 rows lose to them."""
    t = select_rows(load_evidence(), "social_trust", "score", SPEC)
    gro = t[t["gemeente"] == "groningen"]
    assert set(gro.loc[gro["used"], "source"]) == {"000_b1011bc5a1f5730a.txt"}
    s003 = gro[gro["source"].str.startswith("003")]
    assert (s003["comparison"] == "participants_vs_control").all()
    assert s003["reason"].str.contains("superseded by 000-L155").all()


def test_score_sign_comes_from_printed_means() -> None:
    ev = _ev({"outcome": "wellbeing", "scale": "score", "treatment_mean": 5.4,
              "control_mean": 6.4, "p_lower": 0.0, "p_upper": 0.05, "n_treatment": 66,
              "n_control": 48, "comparison": "participants_vs_control",
              "estimand": "participants"})
    t = select_rows(ev, "wellbeing", "score", SPEC)
    assert t.loc[0, "sign"] == -1 and "group means" in t.loc[0, "conversion"]


def test_no_shipped_score_row_with_different_means_has_an_unknown_sign() -> None:
    """Oss Tabel 3.1.8-3.1.14 (e.g. 001 L1597) print only group means and markers."""
    from bayes_bijstand.evidence.load import load_outcomes

    ev = load_evidence()
    scores = load_outcomes().query("kind == 'score'")["outcome"]
    checked = 0
    for o in sorted(set(ev["outcome"]) & set(scores)):
        t = select_rows(ev, o, "score", SPEC).set_index("row_id")
        rows = ev[(ev["outcome"] == o) & ev["estimate"].isna() & ev["treatment_mean"].notna()
                  & ev["control_mean"].notna()]
        for _, r in rows.iterrows():
            expected = int(np.sign(r["treatment_mean"] - r["control_mean"]))
            if t.loc[r["row_id"], "grade"] in ("prose", "none"):
                continue
            assert t.loc[r["row_id"], "sign"] == expected, r["row_id"]
            checked += 1
    assert checked >= 36
