"""Leave-one-municipality-out influence, drawn: the statistics are computed by
:mod:`bayes_bijstand.checks.influence` (importance-weighted Bayesian and frequentist REML
leave-one-out); this module only draws them."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from ..checks.influence import bayes_loo_table, freq_loo_table
from ._style import (
    COLORS,
    arm_name,
    effect_label,
    gemeente_name,
    level_text,
    new_figure,
    no_data,
    set_title,
    style,
    thin_rows,
    thinned_note,
)


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
    present = set(bayes["omitted"]) | set(freq["omitted"])
    gems = [g for g in result.data.gemeenten if g in present]
    note = ""
    if len(gems) > 0 and arms:  # hundreds of municipalities: an evenly spaced subset
        first = bayes[bayes["arm"] == arms[0]].set_index("omitted")["mean"] if len(bayes) \
            else freq[freq["arm"] == arms[0]].set_index("omitted")["mean"]
        keep = thin_rows([first.get(g, np.nan) for g in gems])
        if keep is not None:
            note = thinned_note(len(keep), len(gems), "the pooled effect without it")
            gems = [gems[i] for i in keep]
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
            ax.set_title(f"Arm: {arm_name(arm)} - pooled effect" + (f"\n{note}" if note else ""),
                         loc="left", fontsize=10, fontweight="bold")
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
