"""Evidence grades: what each published row tells us about its sampling error.

The reports rarely print a standard error. For every row we work out the strongest
statement the printed numbers allow, and never more:

========  =====================================================  ===========================
grade     printed                                                 measurement model
========  =====================================================  ===========================
se        a standard error                                        y ~ N(theta, se^2)
ci        a confidence interval                                   se = width / (2 z_level)
p         an exact p-value and the estimate                       se = |y| / z_(p/2)
counts    group sizes (and the control mean, binary outcome)      design-based binomial se,
                                                                  times sqrt(1 - R^2) (prior)
marker    a significance marker (``*``, ``~``, n.s.) + estimate    se latent, interval-censored
                                                                  by the legend's thresholds
prose     only a direction and significance in words (seed 003)   censored likelihood on z,
                                                                  se from the registry's n
========  =====================================================  ===========================

Two measurement families follow: ``gaussian`` (an estimate on the model scale with a known,
design-based or latent-but-bounded standard error) and ``z_censored`` (only the sign and an
interval for the z statistic are known, e.g. prose, or a score outcome whose scale SD is not
printed). This module is plain pandas/numpy/scipy; the PyMC model consumes its table. The
grades themselves (rank, how the model treats their SE, labels) are registered in
:mod:`bayes_bijstand.evidence.grade_registry`.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from scipy import special, stats

from .grade_registry import GRADES as GRADES

BINARY_SCALES = ("proportion", "percent", "log_odds", "odds_ratio")
DEFAULT_BASE_RATE = 0.25
"""Base rate used for a design-based SE of a binary outcome when no control mean is printed."""

COMPONENT_ORDER = ("zelf_in_actie", "extra_hulp", "werken_loont", "keuze")


def grade_of(row: pd.Series, kind: str, *, sizes_known: bool | None = None) -> str | None:
    """The strongest evidence grade a row supports (``None`` if it supports none).

    ``sizes_known`` says whether group sizes are available (printed in the row or from the
    registry); by default only the row's own ``n_treatment``/``n_control`` count.
    """
    if sizes_known is None:
        sizes_known = pd.notna(row.get("n_treatment")) and pd.notna(row.get("n_control"))
    if row.get("quality") == "secondary":
        # A press-release or abstract figure has no design behind it: at most its direction.
        if pd.notna(row.get("direction")) or row.get("significance"):
            return "prose"
        return None
    has_est = pd.notna(row.get("estimate")) or (
        pd.notna(row.get("treatment_mean")) and pd.notna(row.get("control_mean")))
    if not has_est:
        if pd.notna(row.get("direction")) or row.get("significance"):
            return "prose"
        return None
    if pd.notna(row.get("se")):
        return "se"
    if pd.notna(row.get("ci_low")) and pd.notna(row.get("ci_high")):
        return "ci"
    if pd.notna(row.get("p_value")) and pd.notna(row.get("estimate")) and 0 < row["p_value"] < 1:
        return "p"
    if pd.notna(row.get("p_lower")) or pd.notna(row.get("p_upper")):
        # A marker bounds the SE; group sizes, when printed, give it a design-based prior.
        return "marker"
    if kind == "binary" and sizes_known:
        return "counts"
    return None


def z_of_p(p: float) -> float:
    """Two-sided p-value to |z| (0 for p = 1, inf for p = 0)."""
    if p <= 0:
        return np.inf
    if p >= 1:
        return 0.0
    return float(stats.norm.isf(p / 2))


def _scale_value(value: float, scale: str) -> float | None:
    """A printed binary-outcome number on the risk-difference (0-1) scale, if linear."""
    if pd.isna(value):
        return None
    if scale == "proportion":
        return float(value)
    if scale == "percent":
        return float(value) / 100.0
    return None


def _row_estimate(row: pd.Series, kind: str) -> tuple[float | None, float | None, str]:
    """(estimate, se-multiplier, conversion note) on the model scale for a binary outcome.

    Returns ``(None, None, why)`` when the row's number cannot be put on the model scale.
    """
    scale = row.get("scale", "") or "proportion"
    est = row.get("estimate")
    if pd.isna(est) and pd.notna(row.get("treatment_mean")) and pd.notna(row.get("control_mean")):
        t = _scale_value(row["treatment_mean"], scale)
        c = _scale_value(row["control_mean"], scale)
        if t is not None and c is not None:
            return t - c, 1.0, "difference of printed group means"
    if scale in ("proportion", "percent"):
        f = 1.0 if scale == "proportion" else 0.01
        return float(est) * f, f, ""
    if scale in ("log_odds", "odds_ratio"):
        beta = float(est) if scale == "log_odds" else float(np.log(est)) if est > 0 else None
        p0 = _scale_value(row.get("control_mean"), "percent" if (row.get("control_mean") or 0) > 1 else "proportion")
        if beta is None or p0 is None or not (0 < p0 < 1):
            return None, None, "log-odds without a control rate"
        lo = special.logit(p0)
        rd = float(special.expit(lo + beta) - p0)
        deriv = float(special.expit(lo + beta) * (1 - special.expit(lo + beta)))
        if scale == "odds_ratio":
            deriv = deriv / float(est)
        return rd, deriv, f"log-odds converted at control rate {p0:.3f}"
    return None, None, f"scale '{scale}' is not poolable on the risk-difference scale"


def score_sign(row: pd.Series) -> tuple[int, str]:
    """Sign of a score row's effect and where it came from (``""``: the estimate).

    The printed estimate decides; a row that prints only group means (Oss Tabel 3.1.8-3.1.14
    style) takes the sign of ``treatment_mean - control_mean``; equal means or nothing
    printed give 0 (sign unknown), which the censored likelihood treats as either sign.
    """
    est = row.get("estimate")
    if pd.notna(est):
        return int(np.sign(float(est))), ""
    t, c = row.get("treatment_mean"), row.get("control_mean")
    if pd.notna(t) and pd.notna(c):
        return int(np.sign(float(t) - float(c))), "sign from the printed group means"
    if pd.notna(row.get("direction")):
        return int(row["direction"]), "sign from the stated direction"
    return 0, ""


def control_rate(row: pd.Series) -> float | None:
    """The control-group proportion (0-1) of a binary-outcome row, if printed."""
    cm = row.get("control_mean")
    if pd.isna(cm):
        return None
    scale = row.get("scale", "")
    v = cm / 100.0 if (scale == "percent" or cm > 1) else cm
    return float(v) if 0 < v < 1 else None


def design_se(n_t: float, n_c: float, kind: str, p: float | None) -> float:
    """Design-based SE of a difference in proportions (binary) or of an SMD (score)."""
    if kind == "binary":
        q = DEFAULT_BASE_RATE if p is None else p
        return float(np.sqrt(q * (1 - q) * (1 / n_t + 1 / n_c)))
    return float(np.sqrt(1 / n_t + 1 / n_c))


def components_of(arm: str) -> list[str]:
    """Treatment components in an arm code (``a+b`` -> [a, b])."""
    return [c for c in arm.split("+") if c]


def measurement_table(
    df: pd.DataFrame,
    kind: str,
    *,
    sizes: dict[tuple[str, str], float] | None = None,
    control_sizes: dict[str, float] | None = None,
    takeup: dict[tuple[str, str], float] | None = None,
) -> pd.DataFrame:
    """Turn evidence rows of one outcome into the model's measurement table.

    ``sizes[(gemeente, arm)]`` and ``control_sizes[gemeente]`` give group sizes from the
    registry for rows that print none (prose rows); ``takeup[(gemeente, arm)]`` gives the
    take-up rate that relates an ITT-of-offer estimate to the per-participant effect.
    Every input row appears in the output; rows that cannot be used get ``used=False`` and a
    ``reason``.
    """
    sizes = sizes or {}
    control_sizes = control_sizes or {}
    takeup = takeup or {}
    out = []
    # Plain dicts of the same values iterrows() would give (a Series per row was most of the
    # cost at 1,000 rows).
    columns = list(df.columns)
    for values in df.values:
        r = dict(zip(columns, values, strict=True))
        rec: dict[str, object] = {
            "row_id": r["row_id"], "gemeente": r["gemeente"], "arm": r["arm"],
            "comparison": r["comparison"] or "vs_control", "estimand": r["estimand"] or "itt",
            "subgroup": r["subgroup"] if isinstance(r.get("subgroup"), str) else "",
            "months": r["months"], "model_variant": r["model_variant"], "source": r["source"],
            "line": r["line"], "quality": r["quality"] or "ok", "used": True, "reason": "",
            "y": np.nan, "se": np.nan, "se_design": np.nan, "se_lo": 0.0, "se_hi": np.inf,
            "z_lo": 0.0, "z_hi": np.inf, "sign": 0, "n_t": np.nan, "n_c": np.nan,
            "takeup": 1.0, "conversion": "",
        }
        n_t = r["n_treatment"] if pd.notna(r["n_treatment"]) else sizes.get((r["gemeente"], r["arm"]))
        comparator = r.get("comparator") or "control"
        n_c = r["n_control"] if pd.notna(r["n_control"]) else (
            control_sizes.get(r["gemeente"]) if comparator == "control"
            else sizes.get((r["gemeente"], comparator)))
        if (n_t is None or n_c is None) and pd.notna(r["n_total"]):
            # Only a total is printed: split it evenly as an approximation (noted).
            n_t = n_c = float(r["n_total"]) / 2
            rec["conversion"] = "group sizes approximated as n_total/2"
        rec["n_t"] = np.nan if n_t is None else float(n_t)
        rec["n_c"] = np.nan if n_c is None else float(n_c)
        grade = grade_of(r, kind, sizes_known=bool(np.isfinite(rec["n_t"]) and np.isfinite(rec["n_c"])))
        rec["grade"] = grade or "none"
        if r["estimand"] == "itt_offer":
            rec["takeup"] = float(takeup.get((r["gemeente"], r["arm"]), 1.0))
        p_ctrl = control_rate(r) if kind == "binary" else None
        if pd.notna(rec["n_t"]) and pd.notna(rec["n_c"]):
            rec["se_design"] = design_se(rec["n_t"], rec["n_c"], kind, p_ctrl)
        if grade is None:
            rec.update(used=False, reason="no estimate and no uncertainty information")
            out.append(rec)
            continue
        # Bounds on |z| from the significance legend (marker / prose).
        if pd.notna(r["p_upper"]):
            rec["z_lo"] = z_of_p(float(r["p_upper"]))
        if pd.notna(r["p_lower"]):
            rec["z_hi"] = z_of_p(float(r["p_lower"]))
        if grade == "prose":
            rec["family"] = "z_censored"
            rec["sign"] = int(r["direction"]) if pd.notna(r["direction"]) else 0
            if np.isnan(rec["se_design"]):
                rec.update(used=False, reason="prose row without group sizes in the registry")
            out.append(rec)
            continue
        if kind == "binary":
            y, mult, note = _row_estimate(r, kind)
            if y is None:
                rec.update(used=False, reason=note, family="gaussian")
                out.append(rec)
                continue
            rec["y"] = y
            rec["conversion"] = "; ".join(x for x in (rec["conversion"], note) if x)
        else:
            mult = None  # score outcomes: SMD via the z statistic
            rec["sign"], how = score_sign(r)
            if how:
                rec["conversion"] = "; ".join(x for x in (rec["conversion"], how) if x)
        rec["family"] = "gaussian"
        if kind == "binary":
            if grade == "se":
                rec["se"] = float(r["se"]) * mult
            elif grade == "ci":
                level = float(r["ci_level"]) if pd.notna(r["ci_level"]) else 0.95
                zc = stats.norm.isf((1 - level) / 2)
                rec["se"] = (float(r["ci_high"]) - float(r["ci_low"])) / (2 * zc) * mult
            elif grade == "p":
                z = z_of_p(float(r["p_value"]))
                if z == 0 or rec["y"] == 0:
                    grade = "marker"
                    rec["grade"] = grade
                    rec["z_lo"], rec["z_hi"] = 0.0, np.inf
                else:
                    rec["se"] = abs(rec["y"]) / z
            if grade == "counts":
                if np.isnan(rec["se_design"]):
                    rec.update(used=False, reason="counts grade without group sizes")
            elif grade == "marker":
                ay = abs(rec["y"])
                rec["se_lo"] = ay / rec["z_hi"] if np.isfinite(rec["z_hi"]) else 0.0
                rec["se_hi"] = ay / rec["z_lo"] if rec["z_lo"] > 0 else np.inf
                if np.isnan(rec["se_design"]) and not (rec["se_lo"] > 0 and np.isfinite(rec["se_hi"])):
                    rec.update(used=False, reason="marker without group sizes: SE unbounded")
        else:
            # Score outcome on an unknown SD: SMD from the z statistic and group sizes.
            if np.isnan(rec["se_design"]):
                rec.update(used=False, reason="score outcome without group sizes")
            elif grade in ("se", "ci", "p"):
                if grade == "se":
                    z = float(r["estimate"]) / float(r["se"])
                elif grade == "ci":
                    level = float(r["ci_level"]) if pd.notna(r["ci_level"]) else 0.95
                    se = (float(r["ci_high"]) - float(r["ci_low"])) / (2 * stats.norm.isf((1 - level) / 2))
                    z = float(r["estimate"]) / se
                else:
                    z = np.sign(r["estimate"]) * z_of_p(float(r["p_value"]))
                rec["y"] = z * rec["se_design"]
                rec["se"] = rec["se_design"]
                rec["conversion"] = "SMD = z * sqrt(1/n_t + 1/n_c)"
            else:
                rec["family"] = "z_censored"
                rec["conversion"] = "; ".join(x for x in (
                    "sign and |z| interval only (scale SD not printed)", rec["conversion"]) if x)
                if grade == "counts":
                    rec["grade"] = "marker"
        out.append(rec)
    cols = ["row_id", "gemeente", "arm", "comparison", "estimand", "subgroup", "months", "model_variant",
            "grade", "family", "used", "reason", "y", "se", "se_design", "se_lo", "se_hi",
            "z_lo", "z_hi", "sign", "n_t", "n_c", "takeup", "conversion", "source", "line", "quality"]
    table = pd.DataFrame(out)
    for c in cols:
        if c not in table:
            table[c] = np.nan
    table["family"] = table["family"].fillna("gaussian")
    return precision_columns(table[cols], df, kind, takeup)


# --------------------------------------------------------------------------------------
# Precision model of a row: covariate credit, binomial counts, rounded p, take-up, bias
# --------------------------------------------------------------------------------------

PRECISION_COLUMNS: tuple[str, ...] = (
    "covariates", "design_effect", "se_latent", "x_t", "x_c", "bias_term")
"""Columns :func:`precision_columns` adds to the measurement table (after ``quality``)."""

BIAS_COMPARISONS: tuple[str, ...] = ("participants_vs_control", "vs_reference", "non_randomised")
"""Comparisons that carry a bias term (per study and outcome scale, see the spec's ``[bias]``)."""

POOLED_ESTIMAND = "per_participant"
"""What every pooled ``theta`` is: the effect per participant of the arm's programme.
ITT-of-offer rows (Zelen) and ITT rows whose population includes people who never took
part (Nijmegen, Oss incl. afmelders) enter as ``take-up x theta``."""

POOLED_ESTIMAND_TEXT = ("effect per participant (rows reporting an ITT enter as take-up x "
                        "effect; take-up from the registry)")


def model_variants() -> pd.DataFrame:
    """The model-variant vocabulary: whether each variant's model adjusts for covariates
    (``yes`` / ``no`` / ``unknown``), from ``evidence/data/model_variants.csv``."""
    from .paths import data_dir

    return pd.read_csv(data_dir() / "model_variants.csv", dtype=str, keep_default_na=False)


def covariate_adjusted(variants: pd.Series) -> np.ndarray:
    """True where a row's ``model_variant`` is a model with covariates (``yes`` in the
    vocabulary); raw shares, raw counts and unknown variants get no covariate credit."""
    table = model_variants().set_index("model_variant")["covariates"]
    return variants.map(table).fillna("unknown").eq("yes").to_numpy()


def p_band(p: float) -> tuple[float, float]:
    """The interval a printed, rounded p-value stands for: ``0.03`` is ``[0.025, 0.035]``.

    The number of decimals is read from the shortest representation of the float (the
    printed digits); a p with four or more significant decimals is treated as exact.
    """
    text = repr(float(p))
    if "e" in text or "E" in text:
        mant, _, exp = text.lower().partition("e")
        dec = max(0, len(mant.partition(".")[2].rstrip("0"))) - int(exp)
    else:
        dec = len(text.partition(".")[2].rstrip("0"))
    half = 0.5 * 10.0 ** (-dec)
    return max(p - half, 1e-300), min(p + half, 1.0)


def latent_se_center(table: pd.DataFrame, r2_mean: float) -> np.ndarray:
    """Prior centre of a latent SE (marker, rounded-p and prose rows), one formula for all:
    ``se_design * sqrt(design_effect) * sqrt(1 - E[R2])`` where the row's model has
    covariates, without the last factor where it has not. Where no design SE is known the
    centre is the geometric mean of the legend's SE bounds (1.5 x the lower bound when the
    upper is open); NaN where nothing is known."""
    design = table["se_design"].to_numpy(float)
    deff = table["design_effect"].to_numpy(float) if "design_effect" in table else np.ones(len(table))
    cov = table["covariates"].to_numpy(bool) if "covariates" in table else np.zeros(len(table), bool)
    lo = table["se_lo"].to_numpy(float)
    hi = table["se_hi"].to_numpy(float)
    credit = np.where(cov, np.sqrt(1.0 - r2_mean), 1.0)
    with np.errstate(invalid="ignore", divide="ignore"):
        fallback = np.where(np.isfinite(hi), np.sqrt(np.maximum(lo, 1e-6) * hi), lo * 1.5)
        return np.where(np.isfinite(design), design * np.sqrt(deff) * credit, fallback)


def _binomial_counts(r: pd.Series | dict[str, Any], n_t: float, n_c: float) -> tuple[float, float] | None:
    """``(x_t, x_c)`` of a raw-count row (scale ``count``, counts in the mean columns)."""
    if (r.get("scale") or "") != "count":
        return None
    xt, xc = r.get("treatment_mean"), r.get("control_mean")
    if pd.isna(xt) or pd.isna(xc) or not (np.isfinite(n_t) and np.isfinite(n_c)):
        return None
    xt, xc = float(xt), float(xc)
    if xt != int(xt) or xc != int(xc) or not (0 <= xt <= n_t and 0 <= xc <= n_c):
        return None
    if n_t != int(n_t) or n_c != int(n_c):
        return None
    return xt, xc


def precision_columns(table: pd.DataFrame, df: pd.DataFrame, kind: str,
                      takeup: dict[tuple[str, str], float] | None = None) -> pd.DataFrame:
    """Add what the likelihood needs to know about a row's precision and estimand.

    * ``covariates``: the row comes from a model with covariates (model-variant vocabulary);
      only such rows get the ``sqrt(1 - R2)`` credit on their design SE;
    * ``design_effect``: variance inflation of the design SE for clustering (1 here);
    * raw counts (scale ``count``, ``x_t`` of ``n_t`` vs ``x_c`` of ``n_c``) of a binary
      outcome enter binomially: family ``binomial``, grade ``counts``;
    * a rounded exact p is a band (``p_band``): binary rows get a latent SE bounded by it
      (``se_latent``), score rows an interval for z (family ``z_censored``);
    * ITT rows whose population includes non-participants (estimand ``itt``) carry the
      registry's take-up (per arm, else the study's participants), like ITT-of-offer rows,
      so that ``theta`` is the effect per participant everywhere (``POOLED_ESTIMAND``);
    * ``bias_term``: which bias prior the row's mean carries ('' = none): its comparison
      when that is a weaker one, and ``participants_vs_control`` for a participants-only
      estimand compared with the control group.
    """
    takeup = takeup or {}
    t = table.copy()
    t["covariates"] = covariate_adjusted(t["model_variant"].fillna(""))
    t["design_effect"] = 1.0
    t["se_latent"] = t["grade"].eq("marker").to_numpy()
    t["x_t"] = np.nan
    t["x_c"] = np.nan
    # One dict per row, read once (a DataFrame row lookup per row was most of this
    # function's time at 1,000 rows); each iteration writes only its own row, after reading it.
    src_rows = [dict(zip(df.columns, v, strict=True)) for v in df.values]
    t_rows = [dict(zip(t.columns, v, strict=True)) for v in t.values]
    for i in range(len(t)):
        r = src_rows[i]
        rec = t_rows[i]
        # Raw counts: binomial likelihood.
        if kind == "binary":
            xx = _binomial_counts(r, float(rec["n_t"]), float(rec["n_c"]))
            if xx is not None:
                xt, xc = xx
                pc = xc / rec["n_c"]
                t.loc[t.index[i], ["x_t", "x_c", "y"]] = [xt, xc, xt / rec["n_t"] - pc]
                t.loc[t.index[i], ["family", "grade"]] = ["binomial", "counts"]
                t.loc[t.index[i], ["se_lo", "se_hi", "z_lo", "z_hi"]] = [0.0, np.inf, 0.0, np.inf]
                q = min(max(pc, 1.0 / rec["n_c"]), 1 - 1.0 / rec["n_c"])
                t.loc[t.index[i], "se_design"] = design_se(rec["n_t"], rec["n_c"], kind, q)
                if str(rec["reason"]).startswith("scale 'count'"):
                    t.loc[t.index[i], ["used", "reason"]] = [True, ""]
                note = f"binomial counts {int(xt)}/{int(rec['n_t'])} vs {int(xc)}/{int(rec['n_c'])}"
                t.loc[t.index[i], "conversion"] = "; ".join(
                    x for x in (str(rec["conversion"] or ""), note) if x and x != "nan")
                continue
        # A rounded exact p: a band, not an exact value.
        if rec["grade"] == "p" and pd.notna(r.get("p_value")) and rec["family"] == "gaussian":
            p_lo, p_hi = p_band(float(r["p_value"]))
            z_hi, z_lo = z_of_p(p_lo), z_of_p(p_hi)
            if kind == "binary" and np.isfinite(rec["y"]) and rec["y"] != 0:
                ay = abs(float(rec["y"]))
                t.loc[t.index[i], ["se_lo", "se_hi"]] = [
                    ay / z_hi if np.isfinite(z_hi) else 0.0, ay / z_lo if z_lo > 0 else np.inf]
                t.loc[t.index[i], "se_latent"] = True
                t.loc[t.index[i], "conversion"] = "; ".join(x for x in (
                    str(rec["conversion"] or ""), f"p printed as {r['p_value']:g}: SE bounded "
                    f"by the rounding band [{p_lo:g}, {p_hi:g}]") if x and x != "nan")
            elif kind != "binary" and np.isfinite(rec["se_design"]):
                t.loc[t.index[i], ["family", "z_lo", "z_hi"]] = ["z_censored", z_lo, z_hi]
                t.loc[t.index[i], "sign"] = int(np.sign(r["estimate"])) if pd.notna(r["estimate"]) else 0
                t.loc[t.index[i], ["y", "se"]] = [np.nan, np.nan]
                t.loc[t.index[i], "conversion"] = (
                    f"p printed as {r['p_value']:g}: |z| in [{z_lo:.3f}, {z_hi:.3f}] (rounding band)")
    # Take-up of ITT rows that include non-participants.
    itt = (t["estimand"] == "itt").to_numpy()
    gems, arms = t["gemeente"].tolist(), t["arm"].tolist()
    for i in np.flatnonzero(itt):
        g, a = gems[i], arms[i]
        pi = takeup.get((g, a), takeup.get((g, "participants")))
        if pi is not None and 0 < pi < 1:
            t.loc[t.index[i], "takeup"] = float(pi)
            t.loc[t.index[i], "conversion"] = "; ".join(x for x in (
                str(t.iloc[i]["conversion"] or ""), f"ITT incl. non-participants: mean = take-up "
                f"{pi:.3f} x effect per participant") if x and x != "nan")
    comp = t["comparison"].fillna("")
    t["bias_term"] = np.where(comp.isin(BIAS_COMPARISONS), comp,
                              np.where((t["estimand"] == "participants") & (comp == "vs_control"),
                                       "participants_vs_control", ""))
    return t


def respondent_contrasts(table: pd.DataFrame) -> pd.DataFrame:
    """Survey outcomes of a Zelen design: an offer-level contrast is measured among the
    (self-selected) respondents, who are participants. Such rows get take-up 1 and the
    participants-only bias term; the conversion note says so."""
    t = table.copy()
    sel = (t["estimand"] == "itt_offer").to_numpy()
    t.loc[sel, "takeup"] = 1.0
    t.loc[sel, "bias_term"] = "participants_vs_control"
    t.loc[sel, "conversion"] = ["; ".join(x for x in (str(c or ""), "survey contrast among "
                                "self-selected respondents: take-up 1, participants bias term")
                                if x and x != "nan") for c in t.loc[sel, "conversion"]]
    return t
