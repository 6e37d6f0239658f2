"""Loading, validation errors, collapsing, two-stage and disclosure for person microdata."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from bayes_bijstand.errors import InputError
from bayes_bijstand.microdata import (
    anonymise_coaches,
    collapse_binary,
    disclosure_check,
    load_microdata,
    two_stage,
)

HEADER = "person_id,gemeente,coach,arm,participated,sex,work_gt12h_m24,social_trust_m24"
ROWS = ["p1,oss,c1,control,1,man,0,6.5", "p2,oss,c2,extra_hulp,1,vrouw,1,7.25",
        "p3,oss,,zelf_in_actie,0,man,,"]


def _write(tmp_path, text: str, name: str = "d.csv", encoding: str = "utf-8") -> str:
    p = tmp_path / name
    p.write_bytes(text.encode(encoding))
    return str(p)


def test_load_plain_csv(tmp_path) -> None:
    df = load_microdata(_write(tmp_path, "\n".join([HEADER, *ROWS]) + "\n"))
    assert list(df["arm"].cat.categories) == ["control", "zelf_in_actie", "extra_hulp"]
    assert df["coach"].isna().sum() == 1
    assert df["work_gt12h_m24"].isna().sum() == 1
    assert df["social_trust_m24"].iloc[1] == pytest.approx(7.25)


def test_load_dutch_semicolon_bom_latin1_and_comment(tmp_path) -> None:
    text = "\n".join([HEADER, *ROWS]).replace(",", ";").replace("7.25", "7,25").replace(
        "6.5", "6,5")
    a = load_microdata(_write(tmp_path, "\ufeff" + text, "bom.csv"))
    b = load_microdata(_write(tmp_path, text.replace("c1", "cöach"), "l1.csv", "latin-1"))
    c = load_microdata(_write(tmp_path, "# synthetic\n" + text, "comment.csv"))
    assert a["social_trust_m24"].iloc[1] == pytest.approx(7.25)
    assert b["coach"].iloc[0] == "cöach"
    assert c["social_trust_m24"].iloc[0] == pytest.approx(6.5)


def test_parquet_round_trip(tmp_path, small_data) -> None:
    p = tmp_path / "d.parquet"
    small_data.astype({"arm": str}).to_parquet(p)
    back = load_microdata(p)
    assert len(back) == len(small_data)
    assert back["work_gt12h_m24"].sum() == small_data["work_gt12h_m24"].sum()


@pytest.mark.parametrize(("text", "row", "field", "needle"), [
    ("", None, None, "empty"),
    (HEADER + "\n", None, None, "no data rows"),
    (HEADER.replace("arm,", ""), None, "arm", "required column"),
    (HEADER + "\n" + ROWS[0] + "\np1,oss,c1,extra_hulp,1,man,0,5", 3, "person_id", "two arms"),
    (HEADER + "\n" + ROWS[0] + "\np9,oss,c1,control,1,man,2,5", 3, "work_gt12h_m24", "0 or 1"),
    (HEADER + "\n" + ROWS[0] + "\np9,tilburg,c1,control,1,man,0,5", 3, "coach", "two gemeenten"),
    (HEADER + "\n" + "p9,oss,c1,treatment,1,man,0,5", 2, "arm", "unknown arm"),
    (HEADER + "\n" + "p9,oss,c1,control,,man,0,5", 2, "participated", "missing"),
    (HEADER + "\n" + "p9,oss,c1,control,1,man,0,hoog", 2, "social_trust_m24", "not a number"),
    (HEADER + ",wrk_24\n" + ROWS[0] + ",1", None, "wrk_24", "unknown column"),
])
def test_bad_input_is_one_line(tmp_path, text, row, field, needle) -> None:
    path = _write(tmp_path, text)
    with pytest.raises(InputError) as exc:
        load_microdata(path)
    e = exc.value
    assert e.row == row and e.field == field
    assert needle in str(e) and "\n" not in str(e) and path in str(e)


def test_collapse_binary_is_exact(small_data) -> None:
    by = ["gemeente", "coach", "arm", "sex", "age_group"]
    c = collapse_binary(small_data, "work_gt12h_m24", by)
    assert c["trials"].sum() == small_data["work_gt12h_m24"].notna().sum()
    assert c["successes"].sum() == small_data["work_gt12h_m24"].sum()
    assert len(c) == len(small_data.drop_duplicates(by))
    assert c["coach"].isna().any()  # missing coach kept as its own cell
    with pytest.raises(ValueError, match="score"):
        collapse_binary(small_data, "social_trust_m24", by)


def test_two_stage_matches_direct_computation(small_data) -> None:
    out = two_stage(small_data, "work_gt12h_m24")
    assert set(out["comparison"]) == {"vs_control"} and set(out["scale"]) == {"proportion"}
    row = out[(out["gemeente"] == "oss") & (out["arm"] == "extra_hulp")].iloc[0]
    d = small_data[small_data["gemeente"] == "oss"]
    t = d.loc[d["arm"] == "extra_hulp", "work_gt12h_m24"].astype(float)
    c = d.loc[d["arm"] == "control", "work_gt12h_m24"].astype(float)
    assert row["estimate"] == pytest.approx(t.mean() - c.mean())
    se = np.sqrt(t.mean() * (1 - t.mean()) / len(t) + c.mean() * (1 - c.mean()) / len(c))
    assert row["se"] == pytest.approx(se)
    assert (row["n_treatment"], row["n_control"]) == (len(t), len(c))
    assert row["outcome"] == "work_gt12h" and row["months"] == 24
    score = two_stage(small_data, "social_trust_m24")
    assert set(score["scale"]) == {"score"}


def test_disclosure_suppresses_small_cells() -> None:
    t = pd.DataFrame({"arm": ["a", "b", "c"], "n": [9, 10, 50], "estimate": [0.1, 0.2, 0.3]})
    out = disclosure_check(t)
    assert out["suppressed"].tolist() == [True, False, False]
    assert out.loc[0, "estimate"] == "<10" and out.loc[0, "n"] == "<10"
    assert out.loc[1, "estimate"] == 0.2
    cells = pd.DataFrame({"successes": [3, 20], "trials": [40, 25]})
    assert disclosure_check(cells)["suppressed"].tolist() == [True, True]
    with pytest.raises(ValueError, match="count column"):
        disclosure_check(pd.DataFrame({"estimate": [1.0]}))


def test_anonymise_coaches_ranks_by_mean_not_id() -> None:
    t = pd.DataFrame({"coach": ["zz", "aa", "mm"], "mean": [0.1, -0.2, 0.3]})
    out = anonymise_coaches(t)
    assert out["coach"].tolist() == ["coach 1", "coach 2", "coach 3"]
    assert out["mean"].tolist() == [0.3, 0.1, -0.2]
    assert anonymise_coaches(t, reveal_coach_ids=True)["coach"].tolist() == ["mm", "zz", "aa"]
