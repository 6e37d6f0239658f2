"""Person-level microdata: schema, loading and validation, collapsing, two-stage, disclosure.

Why one module: every person-level consumer (Bayesian models, frequentist twins, the
summary-level pipeline via :func:`two_stage`, exports) needs the same validated frame, and
the privacy rules (:func:`disclosure_check`, :func:`anonymise_coaches`) must be applied the
same way everywhere. The schema is documented in ``docs/person_level.md``.

Row numbers in errors are file lines as an editor shows them (header = line 1 when the file
has no leading ``#`` comment lines; comment lines are counted).
"""

from __future__ import annotations

import difflib
import io
import re
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from bayes_bijstand.constants import GEMEENTEN
from bayes_bijstand.errors import InputError

ARMS: tuple[str, ...] = (
    "control", "zelf_in_actie", "extra_hulp", "werken_loont", "zelf_in_actie+werken_loont",
    "extra_hulp+werken_loont", "keuze", "reference",
)
"""Assigned-arm codes, control first (it is the reference level of every model)."""

REQUIRED: tuple[str, ...] = ("person_id", "gemeente", "arm", "participated")
COVARIATES: tuple[str, ...] = ("age_group", "sex", "education", "migration", "household",
                               "benefit_duration", "prior_earnings")
OPTIONAL: tuple[str, ...] = ("coach", "synthetic")
BINARY_PREFIXES: tuple[str, ...] = ("work_", "income_", "outflow_", "contract_", "dropout")
"""Outcome names starting with these are 0/1; every other ``<name>_m<months>`` is a score."""
OUTCOME_RE = re.compile(r"^(?P<name>[a-z][a-z0-9_]*?)_m(?P<months>\d+)$")
_NA = {"", "na", "nan", "null", "."}
ABSURD = 1e7
"""Magnitude beyond which a number in a microdata file is taken as a typo."""


def outcome_columns(columns: Sequence[str]) -> list[str]:
    """Columns that are outcomes (``<name>_m<months>``), in order of appearance."""
    return [c for c in columns if OUTCOME_RE.match(c)]


def is_binary(outcome: str) -> bool:
    """Whether an outcome column is 0/1 (by its name prefix, see :data:`BINARY_PREFIXES`)."""
    return outcome.startswith(BINARY_PREFIXES)


def split_outcome(outcome: str) -> tuple[str, int]:
    """``"work_gt12h_m24"`` -> ``("work_gt12h", 24)``."""
    m = OUTCOME_RE.match(outcome)
    if m is None:
        raise ValueError(f"{outcome!r} is not an outcome column name like work_gt12h_m24")
    return m["name"], int(m["months"])


# --------------------------------------------------------------------------- loading


def load_microdata(path: str | Path) -> pd.DataFrame:
    """Read and validate a microdata file (CSV in any common Dutch export form, or Parquet).

    CSV may be comma- or semicolon-separated (semicolon implies decimal comma), UTF-8 with or
    without BOM, or Latin-1; leading lines starting with ``#`` are comments. Every problem is
    an :class:`~bayes_bijstand.errors.InputError` naming file, row and field.
    """
    path = Path(path)
    name = str(path)
    if not path.exists():
        raise InputError(name, "file not found")
    if path.suffix.lower() in {".parquet", ".pq"}:
        from .io import check_input_file

        check_input_file(path, expected="a CSV or Parquet file")
        try:
            raw = pd.read_parquet(path)
        except Exception as exc:  # pyarrow raises several types for corrupt files
            raise InputError(name, f"cannot read Parquet file ({exc})") from exc
        if raw.empty:
            raise InputError(name, "file has no data rows")
        return validate_microdata(raw.astype(object).where(raw.notna(), None), file=name)
    raw, first_line = _read_csv_text(path)
    return validate_microdata(raw, file=name, first_data_line=first_line)


def _read_csv_text(path: Path) -> tuple[pd.DataFrame, int]:
    """Decode, strip comment lines and sniff the delimiter; return strings + first data line."""
    name = str(path)
    from .io import read_input_bytes

    data = read_input_bytes(path, expected="a CSV or Parquet file")
    if not data.strip():
        raise InputError(name, "file is empty")
    if b"\x00" in data[:8192]:
        raise InputError(name, "file is binary, not a text table (CSV or Parquet expected)")
    if data.startswith(b"\xef\xbb\xbf"):
        text = data[3:].decode("utf-8")
    else:
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError:
            text = data.decode("latin-1")
    if any(ord(ch) < 32 and ch not in "\t\n\r" for ch in text[:8192]):
        raise InputError(name, "file contains binary control characters, not a text table")
    lines = text.splitlines()
    skip = 0
    while skip < len(lines) and (lines[skip].startswith("#") or not lines[skip].strip()):
        skip += 1
    if skip == len(lines):
        raise InputError(name, "file has only comments, no header")
    header = lines[skip]
    semicolon = header.count(";") > header.count(",")
    body = "\n".join(lines[skip:])
    try:
        df = pd.read_csv(io.StringIO(body), sep=";" if semicolon else ",", dtype=str,
                         keep_default_na=False, skip_blank_lines=False)
    except (pd.errors.ParserError, ValueError) as exc:
        raise InputError(name, f"malformed CSV ({' '.join(str(exc).split())})") from None
    df.columns = [str(c).strip() for c in df.columns]
    if semicolon:
        df.attrs["decimal_comma"] = True
    return df, skip + 2


def _is_na(values: pd.Series) -> np.ndarray:
    """Missing: None/NaN or one of the usual missing-value tokens ('', NA, ., ...)."""
    s = values.astype(object)
    tok = s.map(lambda v: str(v).strip().lower() if isinstance(v, str) else "x")
    return (s.isna() | tok.isin(_NA)).to_numpy()


def _to_float(values: pd.Series, decimal_comma: bool) -> tuple[np.ndarray, np.ndarray]:
    """Parse numbers; returns (floats with NaN for missing, mask of unparseable entries)."""
    na = _is_na(values)
    s = values.astype(object).where(~na, None)
    if s.map(lambda v: isinstance(v, str)).any():
        txt = s.map(lambda v: v.strip() if isinstance(v, str) else v)
        if decimal_comma:
            txt = txt.map(lambda v: v.replace(".", "").replace(",", ".")
                          if isinstance(v, str) and "," in v else v)
        s = txt
    out = pd.to_numeric(s.map(lambda v: float(v) if isinstance(v, bool | np.bool_) else v),
                        errors="coerce").to_numpy(dtype=float)
    bad = np.isnan(out) & ~na
    return out, bad


def validate_microdata(raw: pd.DataFrame, *, file: str = "<DataFrame>",
                       first_data_line: int = 2) -> pd.DataFrame:
    """Check a raw frame against the schema and return the typed, canonical frame.

    Used by :func:`load_microdata` and by the model entry points on in-memory frames (e.g.
    simulator output). Raises :class:`InputError` at the first problem found.
    """
    if raw is None or len(raw.columns) == 0:
        raise InputError(file, "file is empty")
    raw = raw.reset_index(drop=True)
    cols = list(raw.columns)
    for c in REQUIRED:
        if c not in cols:
            raise InputError(file, f"required column '{c}' is missing", field=c)
    if len(raw) == 0:
        raise InputError(file, "file has no data rows")
    dup = pd.Index(cols)[pd.Index(cols).duplicated()]
    if len(dup):
        raise InputError(file, "column appears twice", field=str(dup[0]))
    outcomes = outcome_columns(cols)
    unknown = [c for c in cols if c not in (*REQUIRED, *COVARIATES, *OPTIONAL, *outcomes)]
    if unknown:
        raise InputError(file, "unknown column (outcomes must be named like work_gt12h_m24)",
                         field=unknown[0])
    if not outcomes:
        raise InputError(file, "no outcome column (e.g. work_gt12h_m24)")
    dec = bool(raw.attrs.get("decimal_comma", False))

    def row_of(i: int) -> int:
        return first_data_line + int(i)

    out = pd.DataFrame(index=pd.RangeIndex(len(raw)))
    for c in ("person_id", "gemeente", "arm", *[c for c in COVARIATES if c in cols]):
        na = _is_na(raw[c])
        if na.any():
            i = int(np.flatnonzero(na)[0])
            raise InputError(file, "value is missing", row=row_of(i), field=c)
        vals = raw[c].astype(object).map(lambda v: str(v).strip())
        if c in ("gemeente", "arm"):
            vals = vals.str.lower()
        out[c] = vals.astype(object)
    for c, known in (("gemeente", GEMEENTEN), ("arm", ARMS)):
        bad = ~out[c].isin(known)
        if bad.any():
            i = int(np.flatnonzero(bad.to_numpy())[0])
            value = out[c][i]
            hint = difflib.get_close_matches(value, list(known), n=1, cutoff=0.8)
            use = f"did you mean '{hint[0]}'?" if hint else f"use one of {', '.join(known)}"
            raise InputError(file, f"unknown {c} '{value}' ({use})", row=row_of(i), field=c)
    if "coach" in cols:
        na = _is_na(raw["coach"])
        out["coach"] = raw["coach"].astype(object).map(lambda v: str(v).strip()).where(~na, None)
    else:
        out["coach"] = None
    for c in ("participated", *outcomes):
        vals, unparsable = _to_float(raw[c], dec)
        if unparsable.any():
            i = int(np.flatnonzero(unparsable)[0])
            raise InputError(file, f"'{raw[c].iloc[i]}' is not a number", row=row_of(i), field=c)
        infinite = np.isinf(vals)
        if infinite.any():
            i = int(np.flatnonzero(infinite)[0])
            raise InputError(file, f"'{raw[c].iloc[i]}' is not a finite number", row=row_of(i),
                             field=c)
        huge = np.abs(np.nan_to_num(vals)) > ABSURD
        if huge.any():
            i = int(np.flatnonzero(huge)[0])
            raise InputError(file, f"{raw[c].iloc[i]} is implausibly large for this column",
                             row=row_of(i), field=c)
        if c == "participated" or is_binary(c):
            na = np.isnan(vals)
            if c == "participated" and na.any():
                i = int(np.flatnonzero(na)[0])
                raise InputError(file, "value is missing (must be 0 or 1)", row=row_of(i),
                                 field=c)
            not01 = ~na & ~np.isin(vals, (0.0, 1.0))
            if not01.any():
                i = int(np.flatnonzero(not01)[0])
                raise InputError(file, f"binary column must be 0 or 1, got '{raw[c].iloc[i]}'",
                                 row=row_of(i), field=c)
            out[c] = pd.array(np.where(na, pd.NA, vals), dtype="Int8")
        else:
            out[c] = vals
    if "synthetic" in cols:
        out["synthetic"] = raw["synthetic"].astype(str).str.strip().str.lower().isin(
            {"true", "1", "yes"})
    _check_consistency(out, file, row_of)
    out["arm"] = pd.Categorical(out["arm"], categories=[a for a in ARMS if a in set(out["arm"])])
    out.attrs["source_file"] = file
    out.attrs["validated_by"] = "bayes_bijstand.microdata"
    out.attrs["synthetic"] = bool(out.get("synthetic", pd.Series([False])).any())
    return out


def _check_consistency(df: pd.DataFrame, file: str, row_of) -> None:  # noqa: ANN001
    """Cross-row rules: a person is in one arm once; a coach works in one gemeente."""
    pid = df["person_id"]
    dup = pid.duplicated(keep="first").to_numpy()
    if dup.any():
        i = int(np.flatnonzero(dup)[0])
        first = int(np.flatnonzero((pid == pid[i]).to_numpy())[0])
        if df["arm"][first] != df["arm"][i]:
            msg = (f"person '{pid[i]}' is in two arms ('{df['arm'][first]}' on row "
                   f"{row_of(first)} and '{df['arm'][i]}')")
        else:
            msg = f"person '{pid[i]}' appears twice (first on row {row_of(first)})"
        raise InputError(file, msg, row=row_of(i), field="person_id")
    has = df["coach"].notna().to_numpy()
    if has.any():
        sub = df.loc[has, ["coach", "gemeente"]]
        first_g = sub.groupby("coach", sort=False)["gemeente"].transform("first")
        bad = sub["gemeente"] != first_g
        if bad.any():
            i = int(bad[bad].index[0])
            c = df["coach"][i]
            raise InputError(file, f"coach '{c}' appears in two gemeenten ('{first_g[i]}' and "
                             f"'{df['gemeente'][i]}'); coach ids must be nested in gemeente",
                             row=row_of(i), field="coach")


# --------------------------------------------------------------------------- collapsing


def collapse_binary(data: pd.DataFrame, outcome: str, by: Sequence[str]) -> pd.DataFrame:
    """Collapse 0/1 rows exactly into binomial counts per unique cell of ``by``.

    With only categorical predictors the Bernoulli likelihood of the rows in a cell equals the
    binomial likelihood of (successes, trials) up to a constant, so the posterior is the
    same while the model sees one row per cell. Rows with a missing outcome are dropped.
    Missing ``coach`` values form their own cell (kept as missing).
    """
    if not is_binary(outcome):
        raise ValueError(f"collapse_binary needs a 0/1 outcome, {outcome!r} is a score")
    missing = [c for c in (*by, outcome) if c not in data.columns]
    if missing:
        raise KeyError(f"columns not in data: {missing}")
    d = data.loc[data[outcome].notna(), [*by, outcome]]
    y = d[outcome].astype("float64")
    keys = [d[c].astype(object) if isinstance(d[c].dtype, pd.CategoricalDtype) else d[c]
            for c in by]
    g = y.groupby(keys, dropna=False, sort=True, observed=True)
    out = pd.DataFrame({"successes": g.sum().astype(np.int64),
                        "trials": g.size().astype(np.int64)}).reset_index()
    out.columns = [*by, "successes", "trials"]
    if "arm" in by and isinstance(data["arm"].dtype, pd.CategoricalDtype):
        out["arm"] = pd.Categorical(out["arm"], categories=data["arm"].cat.categories)
    return out


# --------------------------------------------------------------------------- two-stage


def two_stage(data: pd.DataFrame, outcome: str, *, participants_only: bool = False,
              source: str = "microdata") -> pd.DataFrame:
    """Per-gemeente effect estimates (each arm vs control) in the evidence-schema columns.

    Binary outcomes give a difference in proportions (``scale='proportion'``) with the
    unpooled Wald SE ``sqrt(p_t(1-p_t)/n_t + p_c(1-p_c)/n_c)``; scores a difference in means
    (``scale='score'``) with ``sqrt(s_t^2/n_t + s_c^2/n_c)``. Arms without a control group in
    the same gemeente, and the ``reference`` arm, are skipped. The result can be fed to the
    summary-level meta-analysis (the first stage of a two-stage analysis).
    """
    d = data.loc[data[outcome].notna()]
    if participants_only:
        d = d.loc[d["participated"] == 1]
    binary = is_binary(outcome)
    name, months = split_outcome(outcome)
    rows = []
    for g, dg in d.groupby("gemeente", sort=True):
        y_c = dg.loc[dg["arm"] == "control", outcome].astype(float).to_numpy()
        if len(y_c) == 0:
            continue
        for arm in [a for a in ARMS if a not in ("control", "reference")]:
            y_t = dg.loc[dg["arm"] == arm, outcome].astype(float).to_numpy()
            if len(y_t) == 0:
                continue
            m_t, m_c = y_t.mean(), y_c.mean()
            if binary:
                se = np.sqrt(m_t * (1 - m_t) / len(y_t) + m_c * (1 - m_c) / len(y_c))
            else:
                se = np.sqrt(y_t.var(ddof=1) / len(y_t) + y_c.var(ddof=1) / len(y_c))
            rows.append({
                "gemeente": g, "arm": arm, "comparison": "vs_control", "comparator": "control",
                "estimand": "participants" if participants_only else "itt",
                "outcome": name, "months": months, "estimate": m_t - m_c, "se": float(se),
                "n_treatment": len(y_t), "n_control": len(y_c), "control_mean": m_c,
                "treatment_mean": m_t, "scale": "proportion" if binary else "score",
                "model_variant": "raw_difference", "source": source,
            })
    cols = ["gemeente", "arm", "comparison", "comparator", "estimand", "outcome", "months",
            "estimate", "se", "n_treatment", "n_control", "control_mean", "treatment_mean",
            "scale", "model_variant", "source"]
    return pd.DataFrame(rows, columns=cols)


# --------------------------------------------------------------------------- disclosure

SUPPRESSED = "<10"
_COUNT_NAMES = {"n", "trials", "successes", "failures", "n_clients", "n_persons"}


def _count_columns(table: pd.DataFrame) -> list[str]:
    return [c for c in table.columns
            if c in _COUNT_NAMES or (c.startswith("n_") and pd.api.types.is_numeric_dtype(
                table[c]))]


def disclosure_check(table: pd.DataFrame, min_cell: int = 10, *,
                     count_columns: Sequence[str] | None = None,
                     marker: str | None = None) -> pd.DataFrame:
    """Suppress every row that describes fewer than ``min_cell`` persons.

    Count columns (``n``, ``trials``, ``successes``, ``n_*``, ... or ``count_columns``) are
    inspected; a row with any count below ``min_cell`` (and, for ``successes``, also with
    fewer than ``min_cell`` non-successes) has all its count and numeric value columns
    replaced by ``marker`` (default ``"<min_cell"``). A boolean column ``suppressed`` is added.
    Raises ``ValueError`` when the table has no count column, because then nothing can be
    checked and exporting it would be unsafe.
    """
    marker = marker if marker is not None else f"<{min_cell}"
    counts = list(count_columns) if count_columns is not None else _count_columns(table)
    if not counts:
        raise ValueError("table has no count column (n, trials, n_*): cannot check disclosure")
    t = table.copy()
    small = np.zeros(len(t), dtype=bool)
    for c in counts:
        v = pd.to_numeric(t[c], errors="coerce").to_numpy(dtype=float)
        small |= v < min_cell
    if "successes" in t.columns and "trials" in t.columns:
        fail = (pd.to_numeric(t["trials"]) - pd.to_numeric(t["successes"])).to_numpy(float)
        small |= fail < min_cell
    numeric = [c for c in t.columns if pd.api.types.is_numeric_dtype(t[c])
               and not pd.api.types.is_bool_dtype(t[c])]
    for c in sorted(set(numeric) | set(counts), key=list(t.columns).index):
        t[c] = t[c].astype(object)
        t.loc[small, c] = marker
    t["suppressed"] = small
    return t


def anonymise_coaches(table: pd.DataFrame, *, coach_col: str = "coach",
                      rank_by: str = "mean", reveal_coach_ids: bool = False) -> pd.DataFrame:
    """Replace coach ids by ``coach 1..K`` ranked by ``rank_by`` (descending), not by id.

    With ``reveal_coach_ids=True`` the ids are kept (for analysts inside the secure
    environment only). Ties are broken by the original row order, not by id.
    """
    t = table.sort_values(rank_by, ascending=False, kind="stable").reset_index(drop=True)
    if not reveal_coach_ids:
        t[coach_col] = [f"coach {i}" for i in range(1, len(t) + 1)]
    return t
