"""How a row's precision and estimand are set up for the likelihood (evidence/grades.py):
raw counts enter binomially, the covariate credit only for models with covariates, a rounded
p is a band, ITT rows carry take-up, bias priors per scale and study, month 0 is a baseline."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from bayes_bijstand.errors import SpecError
from bayes_bijstand.evidence.grades import (
    covariate_adjusted,
    latent_se_center,
    model_variants,
    p_band,
)
from bayes_bijstand.evidence.load import load_evidence
from bayes_bijstand.models.selection import registry_sizes, select_rows
from bayes_bijstand.specs import default_spec_path, load_spec


@pytest.fixture(scope="module")
def evidence() -> pd.DataFrame:
    return load_evidence()


@pytest.fixture(scope="module")
def spec():  # noqa: ANN201
    return load_spec(default_spec_path())


def test_every_shipped_variant_says_whether_it_has_covariates(evidence: pd.DataFrame) -> None:
    vocab = model_variants()
    assert set(vocab["covariates"]) <= {"yes", "no", "unknown"}
    shipped = {v for v in evidence["model_variant"] if v and not v.isdigit() and v != "model_variant"}
    assert shipped <= set(vocab["model_variant"]), sorted(shipped - set(vocab["model_variant"]))


def test_covariate_credit_only_for_models_with_covariates() -> None:
    got = covariate_adjusted(pd.Series(["variant_c_itt", "raw_percentage", "raw_group_shares",
                                        "lpm_covariates", "not_a_variant"]))
    assert got.tolist() == [True, False, False, True, False]


def test_one_centre_for_every_latent_se() -> None:
    t = pd.DataFrame({"se_design": [0.04, 0.04, np.nan], "design_effect": [1.0, 2.0, 1.0],
                      "covariates": [True, False, False], "se_lo": [0.0, 0.0, 0.01],
                      "se_hi": [np.inf, np.inf, 0.04]})
    c = latent_se_center(t, r2_mean=0.25)
    assert c[0] == pytest.approx(0.04 * np.sqrt(0.75))
    assert c[1] == pytest.approx(0.04 * np.sqrt(2.0))  # no credit, design effect 2
    assert c[2] == pytest.approx(np.sqrt(0.01 * 0.04))


@pytest.mark.parametrize("p,band", [(0.03, (0.025, 0.035)), (0.001, (0.0005, 0.0015)),
                                    (0.1, (0.05, 0.15)), (0.0312, (0.03115, 0.03125))])
def test_rounded_p_is_a_band(p: float, band: tuple[float, float]) -> None:
    assert p_band(p) == pytest.approx(band)


def test_rounded_p_bounds_the_se() -> None:
    from bayes_bijstand.evidence.grades import measurement_table

    row = {c: np.nan for c in ("se", "ci_low", "ci_high", "ci_level", "p_lower", "p_upper",
                               "direction", "n_total", "treatment_mean", "control_mean")}
    row.update(row_id="x-1", gemeente="g", arm="extra_hulp", comparison="vs_control",
               comparator="control", estimand="itt", months=24, model_variant="lpm_covariates",
               source="s", line=1, quality="ok", estimate=0.05, p_value=0.03, scale="proportion",
               n_treatment=200, n_control=200, significance="")
    t = measurement_table(pd.DataFrame([row]), "binary")
    r = t.iloc[0]
    assert r["grade"] == "p" and bool(r["se_latent"])
    from scipy import stats
    assert r["se_lo"] == pytest.approx(0.05 / stats.norm.isf(0.025 / 2))
    assert r["se_hi"] == pytest.approx(0.05 / stats.norm.isf(0.035 / 2))
    ts = measurement_table(pd.DataFrame([row]), "score").iloc[0]
    assert ts["family"] == "z_censored" and ts["sign"] == 1
    assert ts["z_lo"] == pytest.approx(stats.norm.isf(0.035 / 2))


def test_raw_counts_enter_binomially(evidence: pd.DataFrame, spec) -> None:  # noqa: ANN001
    t = select_rows(evidence, "outflow_work", "binary", spec).set_index("row_id")
    oss = t.loc["001-L645-0"]  # Oss Tabel 2.3.1: 38/111 vs 35/119
    assert oss["family"] == "binomial" and oss["grade"] == "counts" and oss["used"]
    assert (oss["x_t"], oss["n_t"], oss["x_c"], oss["n_c"]) == (38, 111, 35, 119)
    assert oss["y"] == pytest.approx(38 / 111 - 35 / 119)
    tno = t.loc["004-L726-0"]  # TNO: 18/207 vs 9/119
    assert tno["family"] == "binomial" and (tno["x_t"], tno["x_c"]) == (18, 9)
    assert tno["bias_term"] == "non_randomised"


def test_itt_rows_carry_take_up(evidence: pd.DataFrame, spec) -> None:  # noqa: ANN001
    _, _, takeup = registry_sizes()
    t = select_rows(evidence, "outflow_work", "binary", spec).set_index("row_id")
    assert t.loc["001-L645-0", "takeup"] == pytest.approx(98 / 111)  # Oss incl. afmelders
    nij = select_rows(evidence, "work_gt8h", "binary", spec)
    nij = nij[(nij["gemeente"] == "nijmegen") & (nij["estimand"] == "itt")]
    assert len(nij) and np.allclose(nij["takeup"], takeup[("nijmegen", "participants")])
    assert takeup[("nijmegen", "participants")] == pytest.approx(0.78, abs=0.01)  # 304-306 of 389


def test_survey_contrasts_of_respondents_carry_a_bias_term() -> None:
    from bayes_bijstand.evidence.grades import respondent_contrasts

    t = pd.DataFrame({"estimand": ["itt_offer", "itt"], "takeup": [0.1, 1.0],
                      "bias_term": ["", ""], "conversion": ["", "x"]})
    out = respondent_contrasts(t)
    assert out["takeup"].tolist() == [1.0, 1.0]
    assert out["bias_term"].tolist() == ["participants_vs_control", ""]
    assert "self-selected respondents" in out.loc[0, "conversion"]


def test_month_zero_is_never_effect_evidence(evidence: pd.DataFrame, spec) -> None:  # noqa: ANN001
    from dataclasses import replace

    for months in ("all", (0, 24)):
        t = select_rows(evidence, "work_gt12h", "binary", replace(spec, months=months))
        m0 = pd.to_numeric(t["months"], errors="coerce") == 0
        assert m0.any() and not t.loc[m0, "used"].any()
        assert t.loc[m0, "reason"].str.startswith("month 0").sum() >= 4  # the four Groningen arms


def test_bias_priors_per_scale(tmp_path: Path) -> None:
    p = tmp_path / "s.toml"
    p.write_text("[bias]\nper_study = false\n[bias.binary]\nvs_reference = 0.02\n"
                 "[bias.score]\nvs_reference = 0.2\n", encoding="utf-8")
    s = load_spec(p)
    assert s.bias("binary") == {"vs_reference": 0.02} and s.bias("score") == {"vs_reference": 0.2}
    assert s.bias_per_study is False
    p.write_text("[bias]\nvs_reference = 0.02\n", encoding="utf-8")  # older flat form
    s = load_spec(p)
    assert s.bias("binary") == {"vs_reference": 0.02}
    assert s.bias("score")["vs_reference"] == pytest.approx(0.10)


@pytest.mark.parametrize("text,key", [
    ("[bias.score]\nvs_referenc = 0.1\n", "bias.score.vs_referenc"),
    ("[bias.binary]\nvs_reference = -0.1\n", "bias.binary.vs_reference"),
    ("[bias]\nper_study = 1\n", "bias.per_study"),
    ("[bias]\nvs_reference = 0.1\n[bias.binary]\nvs_reference = 0.1\n", "bias.binary"),
])
def test_bad_bias_priors(tmp_path: Path, text: str, key: str) -> None:
    p = tmp_path / "s.toml"
    p.write_text(text, encoding="utf-8")
    with pytest.raises(SpecError) as exc:
        load_spec(p)
    assert key in str(exc.value)


def test_zelen_comparison_is_one_spec_switch(evidence: pd.DataFrame, spec, tmp_path: Path) -> None:  # noqa: ANN001
    from dataclasses import replace

    default = select_rows(evidence, "work_gt12h", "binary", spec)
    gro = default[default["used"] & (default["gemeente"] == "groningen")]
    assert set(gro["comparison"]) == {"vs_control"}  # variant C
    ref = select_rows(evidence, "work_gt12h", "binary", replace(spec, zelen_comparison="vs_reference"))
    gro = ref[ref["used"] & (ref["gemeente"] == "groningen")]
    assert set(gro["comparison"]) == {"vs_reference"} and set(gro["bias_term"]) == {"vs_reference"}
    others = ref[ref["used"] & (ref["gemeente"] != "groningen")]
    assert "vs_reference" not in set(others["comparison"])  # only the Zelen design switches
    p = tmp_path / "s.toml"
    p.write_text('[select]\nzelen_comparison = "variant_b"\n', encoding="utf-8")
    with pytest.raises(SpecError) as exc:
        load_spec(p)
    assert "select.zelen_comparison" in str(exc.value)
