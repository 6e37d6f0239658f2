"""Leave-one-municipality-out influence: would the pooled effect change without one of them?

Refitting the model once per municipality is too expensive for every run, so two cheap,
clearly labelled approximations are drawn side by side:

* **Bayesian, importance-weighted (approximate).** The posterior draws of the pooled
  parameters are reweighted by ``1 / p(data of municipality g | mu, Sigma)``, the
  case-deletion identity with g's own effects integrated out (much better behaved than
  weighting by ``1 / p(data_g | theta_g)``, which collapses to a handful of draws when a
  municipality is precise). g's data are summarised by its rows on the per-participant
  scale (``per_participant`` with the SE behind its derived interval), which ignores the
  correlation between arms sharing a control group, bias terms and prose rows.
  No Pareto smoothing is applied; the effective sample size of the weights is shown and a
  hollow marker warns when fewer than 10% of the draws carry the result (then only an
  actual refit can be trusted).
* **Frequentist leave-one-out (exact for that model).** REML + Knapp-Hartung random-effects
  fits of the twin inputs (:func:`bayes_bijstand.frequentist.twin.twin_inputs`), each
  omitting one municipality's row, via :func:`bayes_bijstand.frequentist.meta.leave1out`.
  Only rows with a printed or design-based SE enter, so municipalities known only from a
  significance marker or prose are absent there.

A weight ESS below 10% of the draws is itself a finding: the posterior without that
municipality is far from the posterior with it, i.e. the municipality is influential.

A municipality whose removal moves the pooled effect a lot relative to its interval is one
the conclusion depends on; read its source before relying on the pooled effect.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from scipy import stats

from ._style import (
    COLORS,
    arm_name,
    draws,
    effect_label,
    gemeente_name,
    level_text,
    new_figure,
    no_data,
    set_title,
    style,
    weighted_quantile,
)

ESS_WARN = 0.10


def _sigma_draws(tree: Any, n_comp: int) -> np.ndarray | None:
    """Between-municipality covariance of the components per draw, shape (draws, C, C)."""
    tau = draws(tree, "posterior", "tau")
    if tau is None:
        return None
    corr = draws(tree, "posterior", "corr")
    t = tau.T  # (S, C)
    if corr is None or corr.ndim != 3:
        return np.einsum("si,ij->sij", t**2, np.eye(n_comp))
    c = np.moveaxis(corr, -1, 0)  # (S, C, C)
    return t[:, :, None] * c * t[:, None, :]


def bayes_loo_table(result: Any, *, ci_prob: float | None = None) -> pd.DataFrame:
    """Importance-weighted leave-one-municipality-out summaries of ``mu_arm`` (display scale).

    The weights delete municipality g at the level of the pooled parameters, with g's own
    effects integrated out: ``w_s = 1 / N(published_g | mu_arm_s, W Sigma_s W' + diag(se^2))``
    over g's arms with a published number (``Sigma_s`` the between-municipality covariance of
    the components in draw s). This is the case-deletion identity for the hyperparameters,
    approximate only in how g's likelihood is summarised (independent published estimates,
    no bias or spill-over terms, no prose rows).

    Columns: ``arm, omitted, mean, ci_low, ci_high, ess, ess_frac, reliable``.
    """
    cols = ["arm", "omitted", "mean", "ci_low", "ci_high", "ess", "ess_frac", "reliable"]
    tree = result.tree
    f = result.display_factor
    mu_arm = draws(tree, "posterior", "mu_arm")
    W = np.asarray(result.data.W, dtype=float)
    sigma = _sigma_draws(tree, W.shape[1])
    if mu_arm is None or sigma is None:
        return pd.DataFrame(columns=cols)
    ci_prob = ci_prob or float(getattr(result, "ci_prob", 0.9))
    gem = result.gemeenten(ci_prob=ci_prob)
    z = float(stats.norm.isf((1 - ci_prob) / 2))
    arms = list(result.data.arms)
    n = mu_arm.shape[-1]
    a_lo, a_hi = (1 - ci_prob) / 2, 1 - (1 - ci_prob) / 2
    out = []
    for g in result.data.gemeenten:
        sub = gem[(gem["gemeente"] == g) & np.isfinite(gem["per_participant"])]
        sub = sub[(sub["per_participant_high"] - sub["per_participant_low"]) > 0]
        if sub.empty:
            continue
        idx = [arms.index(a) for a in sub["arm"]]
        y = sub["per_participant"].to_numpy(float)
        se = ((sub["per_participant_high"] - sub["per_participant_low"]) / (2 * z)).to_numpy(float)
        Wg = W[idx]
        cov = np.einsum("ac,scd,bd->sab", Wg, sigma, Wg) + np.diag(se**2)[None]
        resid = (y[None, :] - mu_arm[idx].T)  # (S, k)
        chol = np.linalg.cholesky(cov)
        sol = np.linalg.solve(chol, resid[..., None])[..., 0]
        loglik = -0.5 * np.sum(sol**2, axis=1) - np.sum(np.log(np.diagonal(chol, axis1=1, axis2=2)), axis=1)
        logw = -loglik
        w = np.exp(logw - logw.max())
        w /= w.sum()
        ess = float(1.0 / np.sum(w**2))
        for i, a in enumerate(arms):
            x = mu_arm[i] * f
            q = weighted_quantile(x, w, [a_lo, a_hi])
            out.append({"arm": a, "omitted": g, "mean": float(np.sum(w * x)), "ci_low": q[0],
                        "ci_high": q[1], "ess": ess, "ess_frac": ess / n,
                        "reliable": ess / n >= ESS_WARN})
    return pd.DataFrame(out, columns=cols)


def freq_loo_table(result: Any, *, ci_prob: float | None = None) -> pd.DataFrame:
    """Frequentist (REML + Knapp-Hartung) leave-one-out of each arm's pooled effect.

    Columns: ``arm, omitted, mean, ci_low, ci_high, k`` (display scale); with two rows
    the remaining single row is shown with its own z-interval.
    """
    from ..frequentist._common import MetaAnalysisError
    from ..frequentist.meta import leave1out, rma
    from ..frequentist.twin import twin_inputs

    ci_prob = ci_prob or float(getattr(result, "ci_prob", 0.9))
    f = result.display_factor
    data = twin_inputs(result.data.rows)
    z = float(stats.norm.isf((1 - ci_prob) / 2))
    out = []
    for a in result.data.arms:
        sub = data[data["arm"] == a].reset_index(drop=True)
        if len(sub) < 2:
            continue
        if len(sub) == 2:
            for i in range(2):
                other = sub.iloc[1 - i]
                se = float(np.sqrt(other["vi"]))
                out.append({"arm": a, "omitted": sub.loc[i, "gemeente"], "mean": other["yi"] * f,
                            "ci_low": (other["yi"] - z * se) * f,
                            "ci_high": (other["yi"] + z * se) * f, "k": 1})
            continue
        try:
            res = rma(sub["yi"].to_numpy(float), sub["vi"].to_numpy(float), method="REML",
                      test="knha", level=ci_prob)
            loo = leave1out(res)
        except (MetaAnalysisError, ValueError, np.linalg.LinAlgError):
            continue
        for _, r in loo.iterrows():
            out.append({"arm": a, "omitted": sub.loc[int(r["omitted"]), "gemeente"],
                        "mean": r["estimate"] * f, "ci_low": r["ci_low"] * f,
                        "ci_high": r["ci_high"] * f, "k": len(sub) - 1})
    return pd.DataFrame(out, columns=["arm", "omitted", "mean", "ci_low", "ci_high", "k"])


def _xlim(result: Any, bayes: pd.DataFrame) -> tuple[float, float]:
    """A readable x range: the Bayesian intervals (a frequentist interval from two rows can
    be a hundred points wide; it is clipped, and the clipping shown by the axis edge)."""
    f = result.display_factor
    g = result.gemeenten()
    vals = [g["ci_low"] * f, g["ci_high"] * f, g["per_participant_low"] * f,
            g["per_participant_high"] * f]
    if len(bayes):
        ok = bayes[bayes["reliable"]]
        vals += [ok["ci_low"], ok["ci_high"]]
    x = np.concatenate([np.asarray(v, float) for v in vals] + [np.zeros(1)])
    x = x[np.isfinite(x)]
    lo, hi = float(x.min()), float(x.max())
    pad = 0.08 * max(hi - lo, 1e-9)
    return lo - pad, hi + pad


def plot_influence(*, result: Any) -> Figure:
    """Pooled effect per arm with each municipality left out (Bayesian approx. + frequentist)."""
    bayes = bayes_loo_table(result)
    freq = freq_loo_table(result)
    summ = result.summary()
    f = result.display_factor
    arms = list(dict.fromkeys(list(bayes["arm"]) + list(freq["arm"])))
    gems = [g for g in result.data.gemeenten
            if g in set(bayes["omitted"]) or g in set(freq["omitted"])]
    with style():
        fig = new_figure(8.5, 2.2 + (0.42 * (len(gems) + 1) + 0.5) * max(len(arms), 1))
        if not arms:
            return no_data(fig, "No municipality with a published number to leave out.")
        axes = fig.subplots(len(arms), 1, sharex=True, squeeze=False)[:, 0]
        xlim = _xlim(result, bayes)
        for ax, arm in zip(axes, arms, strict=True):
            labels = ["All municipalities"] + [f"without {gemeente_name(g)}" for g in gems]
            ys = np.arange(len(labels))[::-1].astype(float)
            full = summ[(summ["parameter"] == "mu_arm") & (summ["label"] == arm)]
            if len(full):
                p = full.iloc[0]
                ax.plot([p["ci_low"] * f, p["ci_high"] * f], [ys[0]] * 2, color=COLORS["pooled"],
                        lw=2.4)
                ax.plot(p["mean"] * f, ys[0], "D", color=COLORS["pooled"], ms=7)
                ax.axvline(p["mean"] * f, color=COLORS["pooled"], lw=0.8, alpha=0.6)
                fr = p.get("freq_estimate", np.nan)
                if fr is not None and np.isfinite(fr):
                    ax.plot([p["freq_ci_low"] * f, p["freq_ci_high"] * f], [ys[0] - 0.22] * 2,
                            color=COLORS["frequentist"], lw=1.4)
                    ax.plot(fr * f, ys[0] - 0.22, "s", color=COLORS["frequentist"], ms=5)
            for y, g in zip(ys[1:], gems, strict=True):
                b = bayes[(bayes["arm"] == arm) & (bayes["omitted"] == g)]
                if len(b) and bool(b.iloc[0]["reliable"]):
                    r = b.iloc[0]
                    ax.plot([r["ci_low"], r["ci_high"]], [y + 0.1] * 2, color=COLORS["shrunken"],
                            lw=2.0)
                    ax.plot(r["mean"], y + 0.1, "o", ms=6, color=COLORS["shrunken"])
                elif len(b):
                    ax.text(0.02, y + 0.12, f"Bayesian: approximation breaks down (ESS {b.iloc[0]['ess']:.0f} "
                            f"of {b.iloc[0]['ess'] / b.iloc[0]['ess_frac']:.0f} draws) - "
                            "strongly influential; needs a refit",
                            transform=ax.get_yaxis_transform(), va="center", fontsize=7.5,
                            color=COLORS["shrunken"], style="italic")
                fq = freq[(freq["arm"] == arm) & (freq["omitted"] == g)]
                if len(fq):
                    r = fq.iloc[0]
                    ax.plot([r["ci_low"], r["ci_high"]], [y - 0.22] * 2, color=COLORS["frequentist"],
                            lw=1.4)
                    ax.plot(r["mean"], y - 0.22, "s", color=COLORS["frequentist"], ms=5)
            ax.axvline(0, color="black", lw=0.8)
            ax.set_xlim(*xlim)
            ax.set_yticks(ys, labels)
            ax.set_ylim(-0.7, len(labels) - 0.3)
            ax.set_title(f"Arm: {arm_name(arm)} - pooled effect", loc="left", fontsize=10,
                         fontweight="bold")
            ax.grid(axis="y", visible=False)
        axes[-1].set_xlabel(effect_label(result, "Pooled effect"))
        handles = [
            Line2D([], [], color=COLORS["pooled"], marker="D", lw=2.4, label=f"Bayesian, all data ({level_text(result)})"),
            Line2D([], [], color=COLORS["shrunken"], marker="o", lw=2.0,
                   label="Bayesian, municipality left out (importance-weighted approximation)"),
            Line2D([], [], color=COLORS["frequentist"], marker="s", lw=1.4,
                   label="Frequentist REML + Knapp-Hartung (rows with a known SE only; "
                         "clipped at the axis edge)"),
        ]
        fig.legend(handles=handles, loc="outside lower center", ncols=1, frameon=False)
        set_title(fig, result, "Influence: the pooled effect with one municipality left out")
    return fig
