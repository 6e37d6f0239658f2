"""Hidden-SE likelihoods recover a known effect, and honestly widen when SEs are hidden.

One simulated set of eight municipalities (the default padding of the compiled model, so
the three fits share one compilation with the other tests in the session), reported three
ways: with SEs, with significance markers only (``*`` p<0.05, ``~`` p<0.10, n.s.), and as
prose (direction and "significant at 90%"). All three fits must cover the true pooled effect; hiding information must not make the
posterior narrower.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from bayes_bijstand.evidence.load import load_evidence
from bayes_bijstand.meta import fit_meta
from bayes_bijstand.specs import default_spec_path, load_spec

TRUE_MU = 0.04
N = 400


def _simulate(seed: int = 3, k: int = 8) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    p0 = 0.25
    se = np.sqrt(p0 * (1 - p0) * 2 / N)
    theta = TRUE_MU + 0.01 * rng.standard_normal(k)
    y = theta + se * rng.standard_normal(k)
    pval = 2 * stats.norm.sf(np.abs(y) / se)
    return pd.DataFrame({"gemeente": [f"stad_{i}" for i in range(k)], "y": y, "se": se, "p": pval})


def _write(df: pd.DataFrame, mode: str, path: Path) -> Path:
    rows = []
    for _, r in df.iterrows():
        rec = {"gemeente": r["gemeente"], "arm": "extra_hulp", "outcome": "work_gt12h",
               "comparison": "vs_control", "scale": "proportion", "n_treatment": N,
               "n_control": N, "control_mean": 0.25}
        lo, hi, sig = (0, 0.05, "*") if r["p"] < 0.05 else (0.05, 0.10, "~") if r["p"] < 0.10 else (0.10, 1, "n.s.")
        if mode == "se":
            rec.update(estimate=round(r["y"], 5), se=round(r["se"], 5))
        elif mode == "marker":
            rec.update(estimate=round(r["y"], 5), significance=sig, p_lower=lo, p_upper=hi)
        else:  # prose: direction and significance at 90% only (empty estimate column)
            rec.update(estimate=None, direction=int(np.sign(r["y"])),
                       significance="significant op 90%" if r["p"] < 0.10 else "niet significant",
                       p_lower=0 if r["p"] < 0.10 else 0.10, p_upper=0.10 if r["p"] < 0.10 else 1)
        rows.append(rec)
    pd.DataFrame(rows).to_csv(path, index=False)
    return path


@pytest.fixture(scope="module")
def fits(tmp_path_factory: pytest.TempPathFactory) -> dict[str, object]:
    d = tmp_path_factory.mktemp("recovery")
    sim = _simulate()
    # The default path (nutpie on the padded model): one compile serves all three fits.
    spec = load_spec(default_spec_path()).with_overrides(draws=500, tune=500, chains=2)
    out = {}
    for mode in ("se", "marker", "prose"):
        ev = load_evidence(_write(sim, mode, d / f"{mode}.csv"))
        res = fit_meta(ev, spec, "work_gt12h", prior_predictive=False, posterior_predictive=False,
                       retry=False)
        tab = res.summary()
        out[mode] = tab[(tab["parameter"] == "mu_arm") & (tab["label"] == "extra_hulp")].iloc[0]
        out[mode + "_grades"] = set(res.table.loc[res.table["used"], "grade"])
    return out


@pytest.mark.slow
def test_each_grade_is_used_as_intended(fits: dict[str, object]) -> None:
    assert fits["se_grades"] == {"se"}
    assert fits["marker_grades"] == {"marker"}
    assert fits["prose_grades"] == {"prose"}


@pytest.mark.slow
@pytest.mark.parametrize("mode", ["se", "marker", "prose"])
def test_true_effect_is_covered(fits: dict[str, object], mode: str) -> None:
    r = fits[mode]
    assert r["ci_low"] <= TRUE_MU <= r["ci_high"], (mode, r["ci_low"], r["ci_high"])


@pytest.mark.slow
def test_hiding_the_se_widens_the_posterior(fits: dict[str, object]) -> None:
    assert fits["marker"]["sd"] >= 0.9 * fits["se"]["sd"]
    assert fits["prose"]["sd"] >= 0.9 * fits["marker"]["sd"]
