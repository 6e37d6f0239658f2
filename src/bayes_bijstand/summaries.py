"""Tidy tables computed once from a fitted posterior; plots and reports only read them.

All intervals are equal-tailed with probability ``ci_prob`` (default 90%); columns
``ci_kind`` and ``ci_prob`` say so in every table. Effects are on the model scale
(risk difference 0-1 for binary outcomes, SMD for scores); ``display_factor`` converts to
the unit shown to people (percentage points for binary outcomes).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats

from .constants import CI_KIND, CI_PROB
from .evidence.grades import POOLED_ESTIMAND
from .variables import POOLED


def _draws(post: object, name: str) -> np.ndarray | None:
    if name not in post.data_vars:  # type: ignore[attr-defined]
        return None
    da = post[name]  # type: ignore[index]
    return da.stack(sample=("chain", "draw")).transpose(..., "sample").values


def describe(draws: np.ndarray, *, ci_prob: float = CI_PROB, mid: float = 0.0) -> dict[str, float]:
    """Mean, sd, equal-tailed interval and exceedance probabilities of 1-D draws."""
    a = (1 - ci_prob) / 2
    return {
        "mean": float(np.mean(draws)), "sd": float(np.std(draws, ddof=1)),
        "median": float(np.median(draws)),
        "ci_low": float(np.quantile(draws, a)), "ci_high": float(np.quantile(draws, 1 - a)),
        "prob_gt_0": float(np.mean(draws > 0)), "prob_gt_mid": float(np.mean(draws > mid)),
    }


def describe_rows(draws: np.ndarray, *, ci_prob: float = CI_PROB,
                  mid: float = 0.0) -> list[dict[str, float]]:
    """:func:`describe` of every row of a (rows, draws) array, in one batched pass.

    The same reductions over each row's draws (numpy's reductions along a contiguous last
    axis sum each row exactly as they sum a 1-D array), so every number equals
    ``describe(draws[i])`` to the bit; at 1,000 municipalities one call instead of 1,000.
    """
    x = np.ascontiguousarray(draws)
    if not len(x):
        return []
    a = (1 - ci_prob) / 2
    cols = {
        "mean": np.mean(x, axis=-1), "sd": np.std(x, ddof=1, axis=-1),
        "median": np.median(x, axis=-1),
        "ci_low": np.quantile(x, a, axis=-1), "ci_high": np.quantile(x, 1 - a, axis=-1),
        "prob_gt_0": np.mean(x > 0, axis=-1), "prob_gt_mid": np.mean(x > mid, axis=-1),
    }
    lists = {k: v.tolist() for k, v in cols.items()}
    return [{k: lists[k][i] for k in cols} for i in range(len(x))]


def pooled_table(post: object, *, ci_prob: float = CI_PROB, mid: float = 0.0) -> pd.DataFrame:
    """Pooled quantities: component ``mu``/``tau``, arm ``mu_arm``/``theta_new``/``tau_arm``,
    interactions ``gamma`` and ``bias`` terms. One row per parameter x label."""
    rows = []
    for name, dim in ((v.name, v.dim) for v in POOLED):
        x = _draws(post, name)
        if x is None:
            continue
        if not dim:
            x, labels = x[None, :], ["all"]
        else:
            labels = list(post[name].coords[dim].values)  # type: ignore[index]
        for i, lab in enumerate(labels):
            rows.append({"parameter": name, "label": str(lab), **describe(x[i], ci_prob=ci_prob, mid=mid)})
    df = pd.DataFrame(rows)
    df["ci_prob"] = ci_prob
    df["ci_kind"] = CI_KIND
    df["estimand"] = POOLED_ESTIMAND
    return df


def gemeente_table(post: object, data: object, *, ci_prob: float = CI_PROB,
                   mid: float = 0.0) -> pd.DataFrame:
    """Shrunken gemeente x arm effects next to the published estimate they came from.

    ``published`` and its interval are the row's printed estimate on the model scale, in
    the row's own estimand (``published_estimand``: an ITT-of-offer row stays the ITT of the
    offer, as the report printed it); the interval uses the row's SE (known, design-based
    or, for marker rows, the posterior mean of the latent SE). ``per_participant`` (with
    ``_low``/``_high``) is the same row on the per-participant scale of ``theta``: equal to
    ``published`` where take-up is 1, otherwise the Wald rescaling ITT / take-up (``wald``
    True), which no report printed. ``pooling`` is the posterior mean of
    se^2 / (se^2 + tau_arm^2) on that scale: 1 means fully pulled to the pooled mean.
    """
    theta = _draws(post, "theta")
    tau_arm = _draws(post, "tau_arm")
    se_row = _draws(post, "se_row")
    rows_df = data.rows  # type: ignore[attr-defined]
    gauss_ids = list(post["se_row"].coords["gaussian_row"].values) if se_row is not None else []  # type: ignore[index]
    gauss_at = {rid: k for k, rid in reversed(list(enumerate(gauss_ids)))}  # first index
    z = float(stats.norm.isf((1 - ci_prob) / 2))
    # The first row of each (gemeente, arm), in row order (one pass, not one mask per pair).
    first: dict[tuple[object, object], int] = {}
    for i, key in enumerate(zip(rows_df["gemeente"], rows_df["arm"], strict=True)):
        first.setdefault(key, i)
    cells = [(gi, g, ai, a) for gi, g in enumerate(data.gemeenten)  # type: ignore[attr-defined]
             for ai, a in enumerate(data.arms) if (g, a) in first]  # type: ignore[attr-defined]
    stats_rows = describe_rows(np.stack([theta[gi, ai] for gi, _, ai, _ in cells])
                               if cells else np.empty((0, 0)), ci_prob=ci_prob, mid=mid)
    out = []
    for (_, g, ai, a), summary in zip(cells, stats_rows, strict=True):
        r = rows_df.iloc[first[(g, a)]]
        rec = {"gemeente": g, "arm": a, **summary,
               "row_id": r["row_id"], "grade": r["grade"], "comparison": r["comparison"],
               "months": r["months"], "source": r["source"], "line": r["line"],
               "published": np.nan, "published_low": np.nan, "published_high": np.nan,
               "published_estimand": r["estimand"], "takeup": float(r["takeup"]),
               "per_participant": np.nan, "per_participant_low": np.nan,
               "per_participant_high": np.nan, "wald": bool(r["takeup"] < 1.0),
               "pooling": np.nan}
        if r["family"] == "binomial" and np.isfinite(r["se_design"]):
            y, se_p = float(r["y"]), float(r["se_design"])
            rec.update(published=y, published_low=y - z * se_p, published_high=y + z * se_p)
            est, se_m = y / r["takeup"], se_p / r["takeup"]
            rec.update(per_participant=est, per_participant_low=est - z * se_m,
                       per_participant_high=est + z * se_m)
            if tau_arm is not None:
                rec["pooling"] = float(np.mean(se_m**2 / (se_m**2 + tau_arm[ai] ** 2)))
        elif r["family"] == "gaussian" and r["row_id"] in gauss_at:
            k = gauss_at[r["row_id"]]
            y, se_p = float(r["y"]), float(np.mean(se_row[k]))
            rec.update(published=y, published_low=y - z * se_p, published_high=y + z * se_p)
            se = se_row[k] / r["takeup"]
            est = r["y"] / r["takeup"]
            se_m = float(np.mean(se))
            rec.update(per_participant=est, per_participant_low=est - z * se_m,
                       per_participant_high=est + z * se_m)
            if tau_arm is not None:
                rec["pooling"] = float(np.mean(se**2 / (se**2 + tau_arm[ai] ** 2)))
        out.append(rec)
    df = pd.DataFrame(out)
    df["ci_prob"] = ci_prob
    df["ci_kind"] = CI_KIND
    df["estimand"] = POOLED_ESTIMAND
    return df


def i2_table(post: object, data: object, *, ci_prob: float = CI_PROB) -> pd.DataFrame:
    """I^2 per arm as a posterior: tau_arm^2 / (tau_arm^2 + s^2), with s^2 the typical
    within-study variance (Higgins-Thompson) of that arm's Gaussian rows."""
    tau_arm = _draws(post, "tau_arm")
    se_row = _draws(post, "se_row")
    if tau_arm is None or se_row is None:
        return pd.DataFrame(columns=["arm", "mean", "ci_low", "ci_high"])
    gauss_ids = list(post["se_row"].coords["gaussian_row"].values)  # type: ignore[index]
    rows = data.rows.set_index("row_id")  # type: ignore[attr-defined]
    out = []
    for ai, a in enumerate(data.arms):  # type: ignore[attr-defined]
        idx = [i for i, rid in enumerate(gauss_ids) if rows.loc[rid, "arm"] == a]
        if len(idx) < 1:
            continue
        take = np.array([rows.loc[gauss_ids[i], "takeup"] for i in idx])[:, None]
        v = (se_row[idx] / take) ** 2
        w = 1 / v
        k = len(idx)
        s2 = (k - 1) * w.sum(0) / (w.sum(0) ** 2 - (w**2).sum(0)) if k > 1 else v[0]
        i2 = tau_arm[ai] ** 2 / (tau_arm[ai] ** 2 + s2)
        d = describe(i2, ci_prob=ci_prob)
        out.append({"arm": a, "k": k, "mean": d["mean"], "ci_low": d["ci_low"], "ci_high": d["ci_high"]})
    return pd.DataFrame(out)


def _design_effect(coach_var: float, ses: list[float]) -> dict[str, float]:
    """The design effect of clustering by coach that the coach component implies for a row
    with sampling SE ``se`` (the median over the arm's rows, divided by the row's take-up:
    the SE of the participants' contrast): ``1 + E[sigma_coach^2] w2 / se^2``, the
    ``1 + (m - 1) ICC`` of a clustered design written on the contrast."""
    if not ses:
        return {"row_se": np.nan, "design_effect": np.nan}
    se = float(np.median(ses))
    return {"row_se": se, "design_effect": 1.0 + coach_var / se**2}


def coach_table(post: object, rows: pd.DataFrame | None, *, ci_prob: float = CI_PROB
                ) -> pd.DataFrame:
    """The coach component per arm: each municipality's team, and a new municipality's.

    One row per gemeente x arm delivered by a known team of coaches (``level =
    "municipality"``): the team (``n_coaches``, ``w2`` = sum of squared caseload shares,
    ``basis``), the effect with these coaches (``theta_coached``, what the experiment
    measured) beside the effect with the average coach (``theta``, what the same programme
    gives with other coaches), and ``coach_share``, the share of the posterior variance of
    the effect with these coaches that is coach variation (``Var(theta_coached - theta) /
    Var(theta_coached)``). Then one row per coached arm for a new municipality (``level =
    "new municipality"``): the predictive effect with a new team (``theta_new``, the
    reported one) beside the same without coach variation. ``sigma_*`` summarise
    ``sigma_coach`` (the SD of one coach's effect around the average coach);
    ``design_effect`` is what the component implies for the arm's rows marginally
    (:func:`_design_effect`; ``row_se`` the median sampling SE it is relative to). Empty
    when the fit has no coach component.
    """
    tc, th, sig = _draws(post, "theta_coached"), _draws(post, "theta"), _draws(post, "sigma_coach")
    if tc is None or th is None or sig is None:
        return pd.DataFrame()
    s = describe(sig, ci_prob=ci_prob)
    gem = [str(g) for g in post["theta"].coords["gemeente"].values]  # type: ignore[index]
    arms = [str(a) for a in post["theta"].coords["arm"].values]  # type: ignore[index]
    team: dict[tuple[str, str], tuple[float, str]] = {}
    row_se: dict[tuple[str, str], list[float]] = {}
    if rows is not None and "coach_w2" in rows:
        for r in rows.itertuples():
            if float(r.coach_w2) > 0:
                key = (str(r.gemeente), str(r.arm))
                team[key] = (float(r.coach_w2), str(r.coach_team))
                se = getattr(r, "se", np.nan)
                se = se if np.isfinite(se) and se > 0 else getattr(r, "se_design", np.nan)
                # The row measures take-up x the participants' contrast (a Zelen row), so
                # its SE is compared with the coach deviation on that scale.
                pi = float(getattr(r, "takeup", 1.0)) * float(getattr(r, "contrast_scale", 1.0))
                if np.isfinite(se) and se > 0 and pi > 0:
                    row_se.setdefault(key, []).append(float(se) / pi)
    sig2 = float(np.mean(sig**2))
    out = []
    for i, g in enumerate(gem):
        for j, a in enumerate(arms):
            if (g, a) not in team:
                continue
            w2, basis = team[(g, a)]
            with_, avg = tc[i, j], th[i, j]
            d1, d0 = describe(with_, ci_prob=ci_prob), describe(avg, ci_prob=ci_prob)
            out.append({"level": "municipality", "gemeente": g, "arm": a,
                        "n_coaches": 1.0 / w2, "w2": w2, "basis": basis,
                        **{f"team_{k}": d1[k] for k in ("mean", "sd", "ci_low", "ci_high",
                                                         "prob_gt_0")},
                        **{f"avg_{k}": d0[k] for k in ("mean", "sd", "ci_low", "ci_high",
                                                         "prob_gt_0")},
                        "coach_share": float(np.var(with_ - avg) / np.var(with_)),
                        **_design_effect(sig2 * w2, row_se.get((g, a), []))})
    new, cn = _draws(post, "theta_new"), _draws(post, "coach_new")
    if new is not None and cn is not None:
        for j, a in enumerate(arms):
            if np.var(cn[j]) == 0:
                continue
            d1, d0 = describe(new[j], ci_prob=ci_prob), describe(new[j] - cn[j], ci_prob=ci_prob)
            out.append({"level": "new municipality", "gemeente": "", "arm": a,
                        "n_coaches": np.nan, "w2": np.nan, "basis": "a new team",
                        **{f"team_{k}": d1[k] for k in ("mean", "sd", "ci_low", "ci_high",
                                                         "prob_gt_0")},
                        **{f"avg_{k}": d0[k] for k in ("mean", "sd", "ci_low", "ci_high",
                                                         "prob_gt_0")},
                        "coach_share": float(np.var(cn[j]) / np.var(new[j])),
                        "row_se": np.nan, "design_effect": np.nan})
    df = pd.DataFrame(out)
    if df.empty:
        return df
    for k in ("mean", "sd", "ci_low", "ci_high"):
        df[f"sigma_{k}"] = s[k]
    df["ci_prob"] = ci_prob
    df["ci_kind"] = CI_KIND
    return df


def merge_frequentist(pooled: pd.DataFrame, freq: pd.DataFrame) -> pd.DataFrame:
    """Side by side: the Bayesian pooled table with the frequentist columns for ``mu`` and
    ``mu_arm`` (and the frequentist prediction interval on the ``theta_new`` rows)."""
    cols = ["parameter", "label", "freq_estimate", "freq_ci_low", "freq_ci_high", "freq_k",
            "freq_method", "freq_note", "freq_tau2", "freq_I2", "freq_Q", "freq_Q_p"]
    if "parameter" not in pooled.columns:  # no pooled parameter (e.g. a no-pooling refit)
        pooled = pooled.reindex(columns=["parameter", "label", *pooled.columns]).astype(
            {"parameter": object, "label": object})
    if freq is None or "parameter" not in freq.columns:  # no frequentist twin for these rows
        freq = pd.DataFrame(columns=[*cols, "freq_pi_low", "freq_pi_high"])
    f = freq.copy()
    pred = f[f["parameter"] == "mu_arm"].copy()
    pred["parameter"] = "theta_new"
    pred["freq_estimate"] = pred["freq_estimate"]
    pred["freq_ci_low"] = pred["freq_pi_low"]
    pred["freq_ci_high"] = pred["freq_pi_high"]
    f = pd.concat([f, pred], ignore_index=True) if len(pred) else f
    f = f.reindex(columns=list(dict.fromkeys([*f.columns, *cols]))).astype(
        {"parameter": object, "label": object})
    return pooled.merge(f[cols], on=["parameter", "label"], how="left")
