"""One-screen printed summaries, in the tradition of metafor's ``print(rma(...))`` and baggr.

What: :func:`format_meta` renders a fitted Bayesian :class:`~bayes_bijstand.meta.MetaResult`
(k, pooled effect per arm with posterior SD and interval, tau per arm, the predictive range
for a new municipality, the frequentist twin beside it and the diagnostics status with what
to do when the gate failed); :func:`format_rma` renders a frequentist
:class:`~bayes_bijstand.frequentist.meta.RMAResult` the way metafor prints one (tau², tau,
I², H², Q test, estimate with SE, z/t, p and CI, prediction interval).

Why: a result object should be readable on screen without knowing its tables; ``print(res)``
is the first thing a user coming from R types. Both functions only read the objects' tables,
so the printed numbers are the reported ones.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd

__all__ = ["format_meta", "format_rma", "scale_label"]


def scale_label(kind: str) -> str:
    """The model scale of an outcome kind, in words (the unit of every table's values)."""
    from .evidence.outcomes import get_scale

    return get_scale("binary" if kind == "binary" else "score").description


def _finite(x: Any) -> float | None:
    """``x`` as a finite float, or None (missing, text, NaN or infinite)."""
    try:
        v = float(x)
    except (TypeError, ValueError):
        return None
    return v if math.isfinite(v) else None


def _f(x: Any, digits: int = 4) -> str:
    v = _finite(x)
    return "-" if v is None else f"{v:.{digits}f}"


def _p(x: Any) -> str:
    v = _finite(x)
    return "-" if v is None else ("<.0001" if v < 1e-4 else f"{v:.4f}")


def _interval(lo: Any, hi: Any, digits: int = 4) -> str:
    a, b = _f(lo, digits), _f(hi, digits)
    return "-" if a == "-" or b == "-" else f"[{a}, {b}]"


def _table(header: list[str], rows: list[list[str]], indent: str = "  ") -> list[str]:
    widths = [max(len(h), *(len(r[i]) for r in rows)) if rows else len(h)
              for i, h in enumerate(header)]
    out = [indent + "  ".join(h.ljust(w) if i == 0 else h.rjust(w)
                              for i, (h, w) in enumerate(zip(header, widths, strict=True)))]
    for r in rows:
        out.append(indent + "  ".join(c.ljust(w) if i == 0 else c.rjust(w)
                                      for i, (c, w) in enumerate(zip(r, widths, strict=True))))
    return out


def _pct(p: float) -> str:
    return f"{100 * p:g}%"


def format_meta(res: Any, *, ci_prob: float | None = None) -> str:
    """One screen describing a fitted :class:`~bayes_bijstand.meta.MetaResult`.

    All effects are on the model scale (stated in the header); intervals are equal-tailed
    posterior intervals at ``ci_prob`` (default: the package's reporting level).
    """
    from .evidence.outcomes import outcome_label

    summ = res.summary(ci_prob=ci_prob) if ci_prob is not None else res.summary()
    level = float(summ["ci_prob"].iloc[0]) if len(summ) else float("nan")
    en, _ = outcome_label(res.outcome)
    rows = res.data.rows
    used = int(res.table["used"].sum()) if "used" in res.table else len(rows)
    gem = list(res.data.gemeenten)
    diag = res.diagnostics
    lines = [
        f"Bayesian random-effects meta-analysis (model '{res.spec.name}', {res.pooling} pooling)",
        f"outcome: {res.outcome} ({en})",
        f"k = {len(gem)} municipalities ({', '.join(gem)}); {used} of {len(res.table)} "
        "evidence rows used",
        f"scale: {scale_label(res.kind)}; {_pct(level)} equal-tailed credible intervals",
        "",
    ]
    by = {(r["parameter"], r["label"]): r for _, r in summ.iterrows()}
    arms = list(res.data.arms)
    k_arm = {a: int(rows.loc[rows["arm"] == a, "gemeente"].nunique()) for a in arms}
    head = ["pooled effect (mu_arm)", "k", "mean", "sd", f"{_pct(level)} CrI", "P(>0)",
            f"{_pct(level)} PI (new municipality)"]
    tab = []
    for a in arms:
        m = by.get(("mu_arm", a))
        if m is None:
            continue
        n = by.get(("theta_new", a), {})
        tab.append([a, str(k_arm.get(a, 0)), _f(m["mean"]), _f(m["sd"]),
                    _interval(m["ci_low"], m["ci_high"]), _f(m["prob_gt_0"], 2),
                    _interval(n.get("ci_low"), n.get("ci_high"))])
    lines += _table(head, tab)
    taus = [[a, _f(by[("tau_arm", a)]["mean"]), _interval(by[("tau_arm", a)]["ci_low"],
                                                          by[("tau_arm", a)]["ci_high"])]
            for a in arms if ("tau_arm", a) in by]
    if taus:
        lines += ["", *_table(["heterogeneity (tau_arm, SD between municipalities)", "mean",
                               f"{_pct(level)} CrI"], taus)]
    freq = res.twin(ci_prob=level) if hasattr(res, "twin") else res.frequentist
    if freq is not None and len(freq):
        f = freq[(freq["parameter"] == "mu_arm") & (freq["freq_k"] > 0)]
        if len(f):
            flev = float(f["freq_ci_prob"].iloc[0]) if "freq_ci_prob" in f else level
            # The method actually used per arm: "single study" where k = 1 (nothing pooled).
            ftab = [[str(r["label"]), str(int(r["freq_k"])), _f(r["freq_estimate"]),
                     _f(r.get("freq_se")), _interval(r["freq_ci_low"], r["freq_ci_high"]),
                     _f(r.get("freq_tau2"), 5) if "freq_tau2" in f else "-",
                     str(r["freq_method"] or "-")]
                    for _, r in f.iterrows()]
            lines += ["", *_table(["frequentist twin", "k", "estimate", "se",
                                   f"{_pct(flev)} CI", "tau2", "method"], ftab)]
    lines += ["", "diagnostics: " + diagnostics_line(diag)]
    return "\n".join(lines)


def diagnostics_line(diag: Any) -> str:
    """``passed (...)`` or ``FAILED: problems -- what to do``, in one line."""
    if diag.passed:
        retry = " (after a retry)" if getattr(diag, "retried", False) else ""
        return (f"passed{retry}: R-hat max {diag.rhat_max:.3f}, bulk/tail ESS min "
                f"{diag.ess_bulk_min:.0f}/{diag.ess_tail_min:.0f}, {diag.divergences} "
                f"divergences, {diag.n_draws} draws")
    problems = [p for p in diag.problems if not p.startswith("first attempt")]
    text = "FAILED (" + "; ".join(problems or diag.problems) + ")"
    hint = diag.hint() if hasattr(diag, "hint") else ""
    return text + (f"; {hint}" if hint else "") + \
        " -- these numbers are NOT a result"


def format_rma(res: Any) -> str:
    """metafor-style printout of a univariate :class:`RMAResult` (``print.rma.uni``)."""
    ee = res.method in ("FE", "EE")
    kind = "Equal-Effects Model" if ee else (
        "Random-Effects Model" if res.is_intercept_only else "Mixed-Effects Model")
    lines = [f"{kind} (k = {res.k}; tau^2 estimator: {res.method})", ""]
    if not ee:
        try:
            ci = res.confint_tau2() if res.k > res.p else None
        except Exception:  # noqa: BLE001 - the CI is optional in a printout
            ci = None
        tci = f" {_interval(*ci.tau2_ci)}" if ci is not None else ""
        lines += [f"tau^2 (estimated amount of {'residual ' if not res.is_intercept_only else ''}"
                  f"heterogeneity): {_f(res.tau2)} (SE = {_f(res.se_tau2)}){tci}",
                  f"tau (square root of estimated tau^2 value):       {_f(res.tau)}",
                  f"I^2 (total heterogeneity / total variability):    {res.I2:.2f}%",
                  f"H^2 (total variability / sampling variability):   {res.H2:.2f}"]
        if res.R2 is not None:
            lines.append(f"R^2 (amount of heterogeneity accounted for):      {res.R2:.2f}%")
        lines.append("")
    lines.append(f"Test for {'Residual ' if not res.is_intercept_only else ''}Heterogeneity:")
    lines.append(f"Q(df = {res.QE_df}) = {res.QE:.4f}, p-val = {_p(res.QE_p)}")
    if res.QM is not None:
        stat = "F" if res.df is not None else "QM"
        dfs = f"df1 = {res.QM_df}, df2 = {res.df}" if res.df is not None else f"df = {res.QM_df}"
        lines += ["", f"Test of Moderators: {stat}({dfs}) = {res.QM:.4f}, p-val = {_p(res.QM_p)}"]
    stat_name = "tval" if res.df is not None else "zval"
    lines += ["", "Model Results" + (f" (Knapp-Hartung, t with df = {res.df})"
                                     if res.df is not None else "") + ":", ""]
    lev = _pct(res.level)
    tab = [[n, _f(b), _f(s), _f(z, 3), _p(p), _f(lo), _f(hi)]
           for n, b, s, z, p, lo, hi in zip(res.coef_names, res.beta, res.se, res.stat,
                                            res.pval, res.ci_low, res.ci_high, strict=True)]
    lines += _table(["", "estimate", "se", stat_name, "pval", f"ci.lb ({lev})", "ci.ub"], tab)
    if res.is_intercept_only and not ee:
        pr = res.predict()
        lines += ["", f"Prediction interval ({lev}): "
                  f"{_interval(pr['pi_low'].iloc[0], pr['pi_high'].iloc[0])}"]
    for note in res.notes:
        lines.append(f"note: {note}")
    return "\n".join(lines)


def frame_text(df: pd.DataFrame) -> str:
    """A DataFrame as plain text with 4 decimals (used by the CLIs)."""
    with pd.option_context("display.width", 200, "display.max_columns", 50):
        return df.to_string(index=False, float_format=lambda v: f"{v:.4f}"
                            if np.isfinite(v) else "-")
