"""Every shipped number appears, as printed, on the line of the seed file it cites."""

from __future__ import annotations

import re
from functools import cache
from pathlib import Path

import pandas as pd
import pytest

from bayes_bijstand.evidence.load import data_dir, load_shipped_estimates

NUM = re.compile(r"(?<![\w.,])[-+\u2212\u2013]?(?:\d+(?:[.,]\d+)*|[.,]\d+)")
NUMERIC_FIELDS = ("estimate", "se", "ci_low", "ci_high", "p_value", "n_treatment", "n_control",
                  "n_total", "control_mean", "treatment_mean")


@cache
def _lines(path: str) -> list[str]:
    return Path(path).read_text(encoding="utf-8", errors="replace").splitlines()


WORDS = {"een": 1, "twee": 2, "drie": 3, "vier": 4, "vijf": 5, "zes": 6, "zeven": 7, "acht": 8,
         "negen": 9, "tien": 10, "twaalf": 12, "twintig": 20}


def _numbers(text: str) -> list[float]:
    """All numbers printed in ``text``, read with decimal comma or point (and as thousands);
    small counts written as Dutch words ("drie coaches") count too."""
    out: list[float] = [float(v) for w, v in WORDS.items()
                        if re.search(rf"\b{w}\b", text, flags=re.IGNORECASE)]
    for tok in NUM.findall(text.replace("\u2212", "-").replace("\u2013", "-")):
        t = tok.lstrip("+")
        if t[:1] in ".,":
            t = "0" + t
        elif t[:2] in ("-.", "-,"):
            t = "-0" + t[1:]
        variants = {t.replace(",", "."), t.replace(".", "").replace(",", "."), t.replace(",", "")}
        for v in variants:
            try:
                out.append(float(v))
            except ValueError:
                continue
    return out


def _source_path(shared: Path, source: str) -> Path:
    return shared / source if source == "secondary_sources.md" else shared / "seeds" / source


def _found(value: float, text: str) -> bool:
    nums = _numbers(text)
    return any(abs(abs(n) - abs(value)) < 1e-9 * max(1.0, abs(value)) for n in nums)


def _line_for(row: pd.Series, field: str) -> int:
    prov = str(row.get("provenance") or "")
    for part in prov.split(";"):
        if ":" in part:
            k, v = part.split(":", 1)
            if k.strip() == field and v.strip().isdigit():
                return int(v)
    return int(row["line"])


def _check_rows(df: pd.DataFrame, shared: Path, fields: tuple[str, ...]) -> list[str]:
    misses = []
    for _, row in df.iterrows():
        src = _source_path(shared, str(row["source"]))
        assert src.exists(), f"{row['source']} does not exist"
        lines = _lines(str(src))
        for f in fields:
            if f not in row or pd.isna(row[f]) or row[f] == "":
                continue
            ln = _line_for(row, f)
            assert 1 <= ln <= len(lines), f"{row['source']} has no line {ln}"
            # The printed sign may sit at the end of an earlier line (PDF line breaks).
            text = lines[ln - 1]
            value = float(row[f])
            if not _found(value, text):
                misses.append(f"{row['source']}:{ln} {f}={row[f]!r} not on line: {text[:120]!r}")
            elif value < 0:
                window = "".join(lines[max(0, ln - 3):ln - 1]) + text
                if "-" not in window and "\u2212" not in window and "\u2013" not in window:
                    misses.append(f"{row['source']}:{ln} {f}={row[f]!r} printed without a minus")
    return misses


def test_every_estimate_number_is_on_its_cited_line(shared_dir: Path) -> None:
    df = load_shipped_estimates()
    misses = _check_rows(df, shared_dir, NUMERIC_FIELDS)
    assert not misses, f"{len(misses)} numbers not found as printed:\n" + "\n".join(misses[:20])


def test_every_row_cites_an_existing_line(shared_dir: Path) -> None:
    df = load_shipped_estimates()
    for _, row in df.iterrows():
        lines = _lines(str(_source_path(shared_dir, str(row["source"]))))
        assert 1 <= int(row["line"]) <= len(lines), row["row_id"]


@pytest.mark.parametrize("kind,fields", [
    ("arms_*.csv", ("n", "share")),
    ("coaches_*.csv", ("n_coaches", "n_clients")),
    ("studies_*.csv", ("n_total",)),
])
def test_registry_numbers_are_on_their_cited_line(shared_dir: Path, kind: str,
                                                  fields: tuple[str, ...]) -> None:
    frames = [pd.read_csv(f, dtype=str, keep_default_na=False)
              for f in sorted((data_dir() / "registry").glob(kind))]
    df = pd.concat(frames, ignore_index=True)
    df = df[df["line"].str.strip() != ""]
    for f in fields:
        if f in df:
            df[f] = pd.to_numeric(df[f].str.replace(",", "."), errors="coerce")
    misses = _check_rows(df, shared_dir, tuple(f for f in fields if f in df))
    assert not misses, f"{len(misses)} registry numbers not found:\n" + "\n".join(misses[:20])


def test_provenance_check_catches_a_wrong_number(shared_dir: Path) -> None:
    """The check itself can fail: a number off by one in the last digit is caught."""
    df = load_shipped_estimates()
    row = df[df["estimate"].notna()].iloc[[0]].copy()
    row["estimate"] = row["estimate"] + 0.0011
    assert _check_rows(row, shared_dir, ("estimate",))


def test_every_subgroup_is_named_in_its_cited_table(shared_dir: Path) -> None:
    """A row's ``subgroup`` is printed in the table it cites (header up to 30 lines above)."""
    df = load_shipped_estimates()
    sub = df[df["subgroup"] != ""]
    assert len(sub) >= 24
    for _, row in sub.iterrows():
        lines = _lines(str(_source_path(shared_dir, str(row["source"]))))
        ln = int(row["line"])
        window = " ".join(lines[max(0, ln - 30):ln + 2]).lower()
        words = row["subgroup"].replace("_", " ")
        assert words in window, f"{row['row_id']}: subgroup '{row['subgroup']}' not printed near line {ln}"


def test_stated_group_counts_are_on_their_cited_line(shared_dir: Path) -> None:
    """``n_groups`` (Deventer: "four groups") is printed on the study row's line."""
    words = {"two": 2, "three": 3, "four": 4, "five": 5, "twee": 2, "drie": 3, "vier": 4}
    frames = [pd.read_csv(f, dtype=str, keep_default_na=False)
              for f in sorted((data_dir() / "registry").glob("studies_*.csv"))]
    df = pd.concat(frames, ignore_index=True)
    df = df[df.get("n_groups", pd.Series("", index=df.index)).fillna("") != ""]
    assert len(df) >= 1
    for _, row in df.iterrows():
        text = _lines(str(_source_path(shared_dir, row["source"])))[int(row["line"]) - 1].lower()
        n = int(row["n_groups"])
        assert any(f"{w} groups" in text or f"{w} groepen" in text for w, v in words.items()
                   if v == n), f"{row['gemeente']}: {n} groups not printed on line {row['line']}"
