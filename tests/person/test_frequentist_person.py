"""Frequentist twins: tidy columns shared with the Bayesian summary, exact LPM check, and
intervals that cover near 90% when coaches are exclusive to arms (few clusters)."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
from scipy.special import expit, logit

from bayes_bijstand.frequentist.person import (
    COLUMNS,
    cluster_design,
    logit_glm,
    lpm_cluster,
    mixed_coach,
)


def test_lpm_without_covariates_is_difference_in_means() -> None:
    d = _oss(np.random.default_rng(3), 0.3)
    d["coach"] = np.random.default_rng(4).choice(["a", "b", "c", "d"], len(d))  # crossed
    out = lpm_cluster(d, covariates=False).set_index("arm")
    assert (out["method"] == "lpm_cluster_coach").all()
    y = d["work_gt12h_m24"].astype(float)
    diff = y[d["arm"] == "extra_hulp"].mean() - y[d["arm"] == "control"].mean()
    assert out.loc["extra_hulp", "estimate"] == pytest.approx(diff)
    assert (out["ci_low"] < out["estimate"]).all() and (out["estimate"] < out["ci_high"]).all()


@pytest.mark.parametrize("fn", [lpm_cluster, mixed_coach])
def test_twins_share_columns(small_data, fn) -> None:
    out = fn(small_data, participants_only=True)
    assert list(out.columns) == COLUMNS
    assert {"extra_hulp", "zelf_in_actie", "extra_hulp+werken_loont"} <= set(out["arm"])
    assert out["se"].iloc[0] > 0 and (out["ci_prob"] == 0.9).all()


def test_cluster_level_arms_switch_or_refuse(small_data) -> None:
    """Participants only: every coach serves one arm, so CRVE is not valid."""
    out = lpm_cluster(small_data, participants_only=True)
    assert (out["method"] == "lpm_mixed_coach_between_df").all()
    assert "(1 cluster)" in out.attrs["note"] and "between-cluster df" in out.attrs["note"]
    with pytest.raises(ValueError, match="not valid for arm"):
        logit_glm(small_data, participants_only=True)
    itt = lpm_cluster(small_data)  # klantmanagers serve every arm: clusters cross arms
    assert (itt["method"] == "lpm_cluster_coach").all()
    oss = small_data[small_data["gemeente"] == "oss"]  # one klantmanager: control 1 cluster
    assert "control (1 cluster)" in lpm_cluster(oss).attrs["note"]
    crossed = _oss(np.random.default_rng(5), 0.3)
    crossed["coach"] = np.random.default_rng(6).choice(list("abcdef"), len(crossed))
    out = logit_glm(crossed, covariates=False)
    assert list(out.columns) == COLUMNS and (out["method"] == "logit_glm_cluster_coach").all()


def test_mixed_reports_sigma_coach(small_data) -> None:
    out = mixed_coach(small_data)
    assert "sigma_coach" in set(out["term"])


OSS = (("control", (30, 30, 30, 30)), ("zelf_in_actie", (110,)), ("extra_hulp", (58, 57)))
"""Oss-sized design: 120 control clients over 4 coaches, 110 with 1 coach, 115 over 2."""


def _oss(rng: np.random.Generator, sigma: float) -> pd.DataFrame:
    rows = []
    for arm, sizes in OSS:
        for j, m in enumerate(sizes):
            p = expit(logit(0.3) + rng.normal(0.0, sigma))
            rows += [(f"{arm}{j}", arm, int(v)) for v in rng.random(m) < p]
    d = pd.DataFrame(rows, columns=["coach", "arm", "work_gt12h_m24"])
    d.insert(0, "person_id", [f"p{i}" for i in range(len(d))])
    d.insert(1, "gemeente", "oss")
    d["participated"] = 1
    d["arm"] = pd.Categorical(d["arm"], categories=[a for a, _ in OSS])
    d.attrs["validated_by"] = "bayes_bijstand.microdata"
    return d


def test_one_cluster_arm_has_no_between_df_left() -> None:
    d = _oss(np.random.default_rng(0), 0.5)
    d = d[d["coach"].isin(["control0", "zelf_in_actie0", "extra_hulp0"])]
    d.attrs["validated_by"] = "bayes_bijstand.microdata"
    with pytest.raises(ValueError, match="no between-cluster degree of freedom"):
        lpm_cluster(d, covariates=False)


def test_oss_design_90_percent_intervals_cover_near_nominal() -> None:
    """Monte Carlo, true effect 0, coach SD 0.5 log-odds: the CRVE intervals covered 63-70%.

    100 replications x 2 arms; the binomial SE of 0.90 with 200 intervals is 0.021 (the
    two arms of a replication share the control group, so the effective n is a little
    smaller); allowed: 0.84-0.96.
    """
    rng = np.random.default_rng(20261207)
    hits = []
    d0 = _oss(rng, 0.5)
    d0["cluster"] = d0["coach"]
    assert cluster_design(d0)["df_between"] == 4
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for _ in range(100):
            out = lpm_cluster(_oss(rng, 0.5), covariates=False)
            hits += list((out["ci_low"] <= 0) & (0 <= out["ci_high"]))
    assert (out["method"] == "lpm_mixed_coach_between_df").all()
    cov = float(np.mean(hits))
    assert 0.84 <= cov <= 0.96, cov
