"""Bad estimates files give one clear line naming file, row and field; good ones load."""

from __future__ import annotations

from pathlib import Path

import pytest

from bayes_bijstand.errors import InputError
from bayes_bijstand.evidence.load import load_evidence

HEADER = "gemeente,arm,outcome,estimate,se,ci_low,ci_high,p_value,n_treatment,n_control\n"
GOOD = "groningen,zelf_in_actie,work_gt12h,0.02,0.01,,,,,\n"


def _write(tmp_path: Path, text: str | bytes, name: str = "est.csv") -> Path:
    p = tmp_path / name
    if isinstance(text, bytes):
        p.write_bytes(text)
    else:
        p.write_text(text, encoding="utf-8")
    return p


@pytest.mark.parametrize("body,row,field,fragment", [
    ("groningen,zelf_in_actie,work_gt12h,0.02,-0.01,,,,,\n", 2, "se", "se must be > 0"),
    ("groningen,zelf_in_actie,work_gt12h,abc,0.01,,,,,\n", 2, "estimate", "not a number"),
    ("groningen,zelf_in_actie,work_gt12h,0.5,,0.1,0.2,,,\n", 2, "estimate", "outside its CI"),
    ("groningen,zelf_in_actie,work_gt12h,0.02,,,,1.5,,\n", 2, "p_value", "p_value must be in"),
    ("groningen,zelf_in_actie,work_gt12h,nan,0.01,,,,,\n", 2, "estimate", "not a finite number"),
    ("groningen,zelf_in_actie,work_gt12h,inf,0.01,,,,,\n", 2, "estimate", "not a finite number"),
    ("groningen,zelf_in_actie,work_gt12h,1e12,0.01,,,,,\n", 2, "estimate", "implausibly large"),
    ("groningen,zelf_in_actie,work_gt12h,0.02,,,,,0,10\n", 2, "n_treatment", "must be > 0"),
    ("groningen,zelf_in_actie,work_gt12h,0.02,,,,,,\n", 2, "se", "no uncertainty"),
    (",zelf_in_actie,work_gt12h,0.02,0.01,,,,,\n", 2, "gemeente", "empty value"),
    (GOOD + GOOD, 3, "estimate", "duplicate of row 2"),
])
def test_bad_rows(tmp_path: Path, body: str, row: int, field: str, fragment: str) -> None:
    p = _write(tmp_path, HEADER + body)
    with pytest.raises(InputError) as exc:
        load_evidence(p)
    msg = str(exc.value)
    assert "\n" not in msg
    assert msg.startswith(str(p))
    assert f"row {row}" in msg and f"field '{field}'" in msg and fragment in msg


@pytest.mark.parametrize("content,fragment", [
    ("", "file is empty"),
    (HEADER, "header but no data rows"),
    (b"\x89PNG\r\n\x1a\n\x00\x00\x00", "binary"),
    ("gemeente,arm,estimate\ngroningen,x,1\n", "missing required column(s): outcome"),
])
def test_bad_files(tmp_path: Path, content: str | bytes, fragment: str) -> None:
    p = _write(tmp_path, content)
    with pytest.raises(InputError) as exc:
        load_evidence(p)
    assert fragment in str(exc.value) and str(p) in str(exc.value)


def test_dutch_excel_export_with_decimal_commas_and_latin1(tmp_path: Path) -> None:
    text = ("gemeente;arm;outcome;estimate;se;notes\n"
            "súdwest_fryslân;zelf_in_actie;work_gt12h;0,025;0,012;Súdwest-Fryslân pilot\n")
    p = _write(tmp_path, text.encode("latin-1"))
    df = load_evidence(p)
    assert df.loc[0, "estimate"] == pytest.approx(0.025)
    assert df.loc[0, "se"] == pytest.approx(0.012)
    assert df.loc[0, "gemeente"] == "súdwest_fryslân"


def test_utf8_bom_and_extra_columns(tmp_path: Path) -> None:
    p = _write(tmp_path, "\ufeff" + HEADER.strip() + ",my_column\n" + GOOD.strip() + ",x\n")
    df = load_evidence(p)
    assert len(df) == 1 and df.loc[0, "se"] == pytest.approx(0.01)


def test_near_miss_code_warns_with_hint(tmp_path: Path) -> None:
    p = _write(tmp_path, HEADER + "groningen,zelf_in_aktie,work_gt12h,0.02,0.01,,,,,\n")
    with pytest.warns(UserWarning, match="did you mean 'zelf_in_actie'"):
        df = load_evidence(p)
    assert df.loc[0, "arm"] == "zelf_in_aktie"


def test_own_study_labels_are_accepted(tmp_path: Path) -> None:
    p = _write(tmp_path, HEADER + "rotterdam,basisbaan,employment_rate,0.04,0.02,,,,,\n")
    df = load_evidence(p)
    assert df.loc[0, "gemeente"] == "rotterdam"
