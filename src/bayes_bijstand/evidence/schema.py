"""The evidence schema: columns, types, code vocabularies and row validation.

One row is one published result (see ``docs/evidence_schema.md``). Validation turns a table
of strings (as read by :func:`bayes_bijstand.io.read_table`) into a typed DataFrame and
raises an :class:`~bayes_bijstand.errors.InputError` naming file, row and field at the first
problem. Codes outside the vocabulary are allowed in user files (they may bring their own
studies), but a near-miss of a known code gets a did-you-mean warning.
"""

from __future__ import annotations

import difflib
import warnings
from dataclasses import dataclass

import numpy as np
import pandas as pd

from ..errors import InputError
from ..validation import ABSURD, DOMAINS, NumberError, check_code, infer_scale, parse_number

ESTIMATE_COLUMNS: tuple[str, ...] = (
    "gemeente", "arm", "comparison", "comparator", "estimand", "subgroup", "outcome", "outcome_label",
    "scale", "months", "model_variant", "estimate", "se", "ci_low", "ci_high", "ci_level",
    "p_value", "significance", "p_lower", "p_upper", "direction", "n_treatment", "n_control",
    "n_total", "control_mean", "treatment_mean", "source", "line", "provenance", "table",
    "quality", "notes",
)
"""All columns of the evidence table, in file order."""

REQUIRED_USER_COLUMNS: tuple[str, ...] = ("gemeente", "arm", "outcome", "estimate")
"""The minimum a user file must have (plus one of se / ci / p / significance / counts)."""

FLOAT_COLUMNS: tuple[str, ...] = (
    "estimate", "se", "ci_low", "ci_high", "ci_level", "p_value", "p_lower", "p_upper",
    "control_mean", "treatment_mean",
)
INT_COLUMNS: tuple[str, ...] = ("months", "direction", "n_treatment", "n_control", "n_total", "line")
TEXT_COLUMNS: tuple[str, ...] = tuple(
    c for c in ESTIMATE_COLUMNS if c not in FLOAT_COLUMNS and c not in INT_COLUMNS
)

KNOWN_ARMS: frozenset[str] = frozenset({
    "control", "reference", "zelf_in_actie", "extra_hulp", "werken_loont", "keuze",
    "zelf_in_actie+werken_loont", "extra_hulp+werken_loont", "zelf_in_actie+extra_hulp",
    "participants", "non_participants", "unspecified",
})
COMPARISONS: frozenset[str] = frozenset({
    "vs_control", "vs_reference", "participants_vs_control", "nonparticipants_vs_control",
    "arm_vs_arm", "non_randomised", "pre_post",
})
ESTIMANDS: frozenset[str] = frozenset({"itt_offer", "itt", "participants", "descriptive"})
SCALES: frozenset[str] = frozenset({
    "proportion", "percent", "score", "log_odds", "odds_ratio", "count", "months", "euro",
    "r2", "smd", "hazard_ratio",
})
QUALITIES: frozenset[str] = frozenset({
    "ok", "suspect_misprint", "inconsistent", "garbled", "not_attributable", "secondary",
    "mislabelled",
})
"""Quality codes. ``garbled``, ``not_attributable`` (the source itself says the effect cannot be
attributed to the treatment), ``secondary`` (a figure from a press release or abstract, not a
report) and ``mislabelled`` (the printed label contradicts the report's own tables) are
excluded by the default specs; see ``docs/evidence_schema.md``."""
EXCLUDED_QUALITIES: tuple[str, ...] = ("garbled", "not_attributable", "secondary", "mislabelled")
"""Quality codes the default specs leave out of every fit."""



@dataclass(frozen=True)
class Vocabulary:
    """Known codes, used for did-you-mean hints and for checking the shipped data."""

    arms: frozenset[str]
    outcomes: frozenset[str]
    gemeenten: frozenset[str]


def _parse_float(value: str, decimal: str) -> float:
    """A cell as a number (strict: see :func:`bayes_bijstand.validation.parse_number`)."""
    return parse_number(value, decimal)[0]


def _near_miss(value: str, known: frozenset[str]) -> str | None:
    if not value or value in known:
        return None
    match = difflib.get_close_matches(value, sorted(known), n=1, cutoff=0.8)
    return match[0] if match else None


def validate_estimates(
    raw: pd.DataFrame,
    file: str,
    *,
    decimal: str = ".",
    vocabulary: Vocabulary | None = None,
    strict_vocabulary: bool = False,
) -> pd.DataFrame:
    """Validate and type an estimates table read as strings.

    ``raw.index`` holds spreadsheet line numbers (header = 1) used in error messages.
    With ``strict_vocabulary`` (the shipped data) every code must be known; otherwise
    unknown codes pass and near-misses of known codes give a did-you-mean warning.
    """
    # Headers are matched case-insensitively ("Gemeente", "SE" from a spreadsheet).
    rename = {c: str(c).strip().lower() for c in raw.columns
              if str(c).strip().lower() in ESTIMATE_COLUMNS and str(c) != str(c).strip().lower()}
    if rename:
        clash = [v for v in rename.values() if v in raw.columns]
        if clash:
            raise InputError(file, "column appears twice in the header (differing only in case)",
                             field=clash[0])
        raw = raw.rename(columns=rename)
    missing = [c for c in REQUIRED_USER_COLUMNS if c not in raw.columns]
    if missing:
        extra = [str(c) for c in raw.columns if c not in ESTIMATE_COLUMNS]
        hint = difflib.get_close_matches(missing[0], extra, n=1, cutoff=0.75)
        msg = f"missing required column(s): {', '.join(missing)}"
        if hint:
            msg += f" (found '{hint[0]}' - did you mean '{missing[0]}'?)"
        raise InputError(file, msg, field=missing[0])
    df = raw.copy()
    for col in ESTIMATE_COLUMNS:
        if col not in df.columns:
            df[col] = ""
    out = pd.DataFrame(index=df.index)
    for col in TEXT_COLUMNS:
        out[col] = df[col].fillna("").astype(str).str.strip()
    declared = out["scale"].copy()
    if not strict_vocabulary:
        # A user row without a scale gets one by a stated rule (README, "minimal schema"):
        # the outcome's kind decides, so percentage points cannot pass as proportions.
        kinds = _outcome_kinds()
        empty = out["scale"].eq("")
        out.loc[empty, "scale"] = [infer_scale(kinds.get(o)) for o in out.loc[empty, "outcome"]]
    for col in FLOAT_COLUMNS + INT_COLUMNS:
        vals = np.full(len(df), np.nan)
        for i, (row, cell) in enumerate(zip(df.index, df[col].fillna("").astype(str), strict=True)):
            cell = cell.strip()
            if cell == "" or cell.upper() in {"NA", "N/A"}:
                continue
            try:
                v, percent = parse_number(cell, decimal)
            except NumberError as exc:
                raise InputError(file, str(exc), row=row, field=col) from None
            if percent:
                scale = out.at[row, "scale"] if row in out.index else ""
                if col not in _PERCENT_OK or scale != "percent":
                    why = (f"the row's scale is '{scale}'" if scale else "the row declares no scale")
                    raise InputError(file, f"'{cell}' has a percent sign but {why}: write the "
                                     "number without '%' on the row's scale, or declare "
                                     "scale = percent", row=row, field=col)
            if abs(v) > ABSURD:
                raise InputError(file, f"{cell} is implausibly large for this column", row=row, field=col)
            if col in INT_COLUMNS and v != int(v):
                raise InputError(file, f"'{cell}' must be a whole number", row=row, field=col)
            vals[i] = v
        out[col] = vals
    for col in INT_COLUMNS:
        out[col] = out[col].astype("Int64")
    out = out[list(ESTIMATE_COLUMNS)]
    _check_rows(out, file, vocabulary, strict_vocabulary)
    _check_domains(out, file, declared)
    return out


_PERCENT_OK = ("estimate", "se", "ci_low", "ci_high", "control_mean", "treatment_mean")
"""Columns where a value may carry a ``%`` sign (on a row whose scale is ``percent``)."""


def _outcome_kinds() -> dict[str, str]:
    """Outcome code -> kind (binary, score, count, euro) of the shipped vocabulary."""
    from .outcomes import load_outcomes

    t = load_outcomes()
    return dict(zip(t["outcome"], t["kind"], strict=True))


def _check_domains(df: pd.DataFrame, file: str, declared: pd.Series) -> None:
    """Values that cannot be on the row's scale (see :data:`bayes_bijstand.validation.DOMAINS`).

    A risk difference beyond [-1, 1] on the proportion scale, an SE or CI width below the
    scale's floor, a non-positive ratio: one error naming row and field. Where the scale was
    inferred (no ``scale`` given) and the numbers look like percentage points, the message
    says so.
    """
    for row, r in df.iterrows():
        dom = DOMAINS.get(r["scale"])
        if dom is None:
            continue
        inferred = not declared.get(row, "")
        how = (f"scale '{r['scale']}' (inferred: the row gives no scale and "
               f"'{r['outcome']}' is {'a binary' if r['scale'] == 'proportion' else 'an'} "
               "outcome)" if inferred else f"scale '{r['scale']}'")
        pp = r["scale"] == "proportion" and all(abs(x) <= 100 for x in
                                                 (r["estimate"], r["se"]) if not pd.isna(x))
        hint = "; percentage points? declare scale = percent (a column 'scale')" if pp else ""
        numbers = [r[c] for c in ("estimate", "ci_low", "ci_high") if not pd.isna(r[c])]
        for col in ("estimate", "ci_low", "ci_high"):
            v = r[col]
            if pd.isna(v):
                continue
            if dom.positive and v <= 0:
                raise InputError(file, f"{v:g} is impossible on {how}: {dom.describe}",
                                 row=row, field=col)
            if dom.bound is not None and abs(v) > dom.bound:
                raise InputError(file, f"{v:g} is impossible on {how}: {dom.describe}{hint}",
                                 row=row, field=col)
        floor = dom.floor(*numbers)
        se = r["se"]
        if not pd.isna(se):
            if se < floor:
                raise InputError(file, f"se {se:g} is below the smallest plausible standard "
                                 f"error on {how} ({floor:g}): a typo?", row=row, field="se")
            if dom.bound is not None and not dom.positive and se > dom.bound:
                raise InputError(file, f"se {se:g} is impossible on {how}: {dom.describe}{hint}",
                                 row=row, field="se")
        lo, hi = r["ci_low"], r["ci_high"]
        if not pd.isna(lo) and not pd.isna(hi) and hi - lo < 2 * floor:
            raise InputError(file, f"the confidence interval [{lo:g}, {hi:g}] has (almost) zero "
                             f"width on {how}: give the printed interval or an se",
                             row=row, field="ci_high")
        if inferred and r["scale"] == "proportion" and not pd.isna(r["estimate"]) \
                and abs(r["estimate"]) > 0.5:
            warnings.warn(f"{file}, row {row}, field 'estimate': {r['estimate']:g} read as a "
                          f"risk difference of {100 * r['estimate']:g} percentage points "
                          "(no scale given); if it is in percentage points, declare "
                          "scale = percent", UserWarning, stacklevel=3)


def _check_rows(df: pd.DataFrame, file: str, vocab: Vocabulary | None, strict: bool) -> None:
    """Row-level consistency checks; the first failure raises with row and field."""
    grade_cols = ("se", "ci_low", "p_value", "p_upper", "significance", "direction",
                  "n_treatment", "control_mean")
    folded: dict[str, tuple[str, int]] = {}
    for row, r in df.iterrows():
        for col in ("gemeente", "arm", "outcome"):
            if not r[col]:
                raise InputError(file, "empty value", row=row, field=col)
            why = check_code(r[col], col)
            if why:
                raise InputError(file, why, row=row, field=col)
        if r["comparator"]:
            why = check_code(r["comparator"], "comparator")
            if why:
                raise InputError(file, why, row=row, field="comparator")
        # Outcome codes name files: two that differ only in case would share them on a
        # case-insensitive file system (macOS, Windows).
        first = folded.setdefault(r["outcome"].casefold(), (r["outcome"], row))
        if first[0] != r["outcome"]:
            raise InputError(file, f"outcome '{r['outcome']}' differs from '{first[0]}' (row "
                             f"{first[1]}) only in upper/lower case", row=row, field="outcome")
        has_est = not pd.isna(r["estimate"])
        if not has_est and pd.isna(r["direction"]) and not r["significance"] \
                and pd.isna(r["treatment_mean"]):
            raise InputError(file, "row has no estimate, no group means and no direction/significance",
                             row=row, field="estimate")
        if not any((not pd.isna(r[c])) if not isinstance(r[c], str) else bool(r[c])
                   for c in grade_cols):
            raise InputError(file, "no uncertainty information: give se, ci_low/ci_high, p_value, "
                             "significance or group sizes", row=row, field="se")
        if not pd.isna(r["se"]) and r["se"] <= 0:
            raise InputError(file, f"se must be > 0, got {r['se']:g}", row=row, field="se")
        lo, hi = r["ci_low"], r["ci_high"]
        if pd.isna(lo) != pd.isna(hi):
            raise InputError(file, "ci_low and ci_high must be given together", row=row,
                             field="ci_high" if pd.isna(hi) else "ci_low")
        if not pd.isna(lo):
            if lo > hi:
                raise InputError(file, f"ci_low {lo:g} > ci_high {hi:g}", row=row, field="ci_low")
            if has_est and not (lo <= r["estimate"] <= hi):
                raise InputError(file, f"estimate {r['estimate']:g} lies outside its CI "
                                 f"[{lo:g}, {hi:g}]", row=row, field="estimate")
        if not pd.isna(r["ci_level"]) and not (0 < r["ci_level"] < 1):
            raise InputError(file, f"ci_level must be in (0, 1), got {r['ci_level']:g}", row=row,
                             field="ci_level")
        for col in ("p_value", "p_lower", "p_upper"):
            if not pd.isna(r[col]) and not (0 <= r[col] <= 1):
                raise InputError(file, f"{col} must be in [0, 1], got {r[col]:g}", row=row, field=col)
        if not pd.isna(r["p_lower"]) and not pd.isna(r["p_upper"]) and r["p_lower"] >= r["p_upper"]:
            raise InputError(file, "p_lower must be below p_upper", row=row, field="p_lower")
        for col in ("n_treatment", "n_control", "n_total"):
            if not pd.isna(r[col]) and r[col] <= 0:
                raise InputError(file, f"{col} must be > 0, got {r[col]}", row=row, field=col)
        if not pd.isna(r["direction"]) and r["direction"] not in (-1, 0, 1):
            raise InputError(file, "direction must be -1, 0 or 1", row=row, field="direction")
        if strict:
            for col, allowed in (("comparison", COMPARISONS), ("estimand", ESTIMANDS),
                                 ("scale", SCALES), ("quality", QUALITIES)):
                if r[col] and r[col] not in allowed:
                    raise InputError(file, f"unknown code '{r[col]}'", row=row, field=col)
    if vocab is not None:
        for col, known in (("arm", vocab.arms), ("outcome", vocab.outcomes),
                           ("gemeente", vocab.gemeenten)):
            for row, value in df[col].items():
                for part in value.split("+") if col == "arm" else [value]:
                    if part in known or value in known:
                        continue
                    if strict:
                        raise InputError(file, f"unknown code '{value}'", row=row, field=col)
                    hint = _near_miss(part, known)
                    if hint:
                        warnings.warn(f"{file}, row {row}, field '{col}': unknown code "
                                      f"'{part}' - did you mean '{hint}'?", UserWarning, stacklevel=3)
    key = [c for c in ESTIMATE_COLUMNS if c not in ("notes", "provenance", "quality", "line")]
    as_text = pd.util.hash_pandas_object(df[key].astype(object), index=False)
    dup = as_text.duplicated(keep="first")
    if dup.any():
        row = dup[dup].index[0]
        first = as_text[as_text == as_text[row]].index[0]
        raise InputError(file, f"duplicate of row {first}", row=row, field="estimate")
