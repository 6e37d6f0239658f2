"""The report answers the question first: headline, certainty, methods, size rules."""

from __future__ import annotations

import math
import re
from pathlib import Path

import pytest
from scipy import stats

from bayes_bijstand.report import write_report
from bayes_bijstand.report.certainty import LEVELS, prior_sd_arm, rate
from bayes_bijstand.report.images import light_data_uri
from bayes_bijstand.report.methods import expected_by_chance
from bayes_bijstand.report.vocab import IMPORTANCE, outcome_sort_key
from bayes_bijstand.specs import ModelSpec


def _g(gemeente: str, arm: str, grade: str, comparison: str = "vs_control",
       published: float = float("nan")) -> dict[str, object]:
    return {"gemeente": gemeente, "arm": arm, "grade": grade, "comparison": comparison,
            "published": published}


def test_certainty_high_when_nothing_is_wrong() -> None:
    rows = [_g(g, "extra_hulp", "se", published=0.05) for g in ("a", "b", "c")]
    c = rate(arm="extra_hulp", mean=0.05, ci_low=0.03, ci_high=0.07, sd=0.012, mid=0.02,
             gemeente_effects=rows, prior_sd=0.10)
    assert c.level == "high" and c.reasons == []
    assert (c.n_gemeenten, c.n_numbers, c.n_marker, c.n_prose) == (3, 3, 0, 0)
    assert c.sd_ratio == pytest.approx(0.12)


def test_certainty_each_concern_costs_a_level() -> None:
    base = dict(arm="extra_hulp", mean=0.05, ci_low=0.03, ci_high=0.07, sd=0.012, mid=0.02,
                prior_sd=0.10)
    two = [_g("a", "extra_hulp", "se", published=0.05), _g("b", "extra_hulp", "se", published=0.04)]
    assert rate(gemeente_effects=two, **base).level == "high"
    # risk of bias: one weaker comparison
    weak = [two[0], _g("b", "extra_hulp", "se", "vs_reference", 0.04)]
    c = rate(gemeente_effects=weak, **base)
    assert c.level == "moderate" and c.weak_comparisons == ["vs_reference"]
    # inconsistency: opposite directions
    assert rate(gemeente_effects=[two[0], _g("b", "extra_hulp", "se", published=-0.04)],
                **base).level == "moderate"
    # a single municipality
    assert rate(gemeente_effects=two[:1], **base).level == "moderate"
    # imprecision: includes 0 and an important gain (one level); both important sides (two)
    assert rate(gemeente_effects=two, **{**base, "ci_low": -0.01, "ci_high": 0.05}).level == "moderate"
    assert rate(gemeente_effects=two, **{**base, "ci_low": -0.05, "ci_high": 0.05}).level == "low"
    # prose and markers only: two levels; the prior speaking: one more
    c = rate(gemeente_effects=[_g("a", "extra_hulp", "prose"), _g("b", "extra_hulp", "marker")],
             **{**base, "sd": 0.09})
    assert c.mostly_prior and c.level == "very low" and c.mix() == "1 marker, 1 prose"


def test_certainty_sensitivity_costs_a_level_when_a_refit_moves_the_conclusion() -> None:
    """The issue's case: work > 12 h x exemption, -10.0 [-19.3, -0.3] pp in its own fit and
    -3.0 [-6.5, 1.2] in the joint thresholds fit: the interval no longer excludes zero."""
    from bayes_bijstand.report.certainty import moved

    base = {"mean": -0.100, "ci_low": -0.193, "ci_high": -0.003, "prob_gt_0": 0.04}
    joint = {"mean": -0.030, "ci_low": -0.065, "ci_high": 0.012, "prob_gt_0": 0.10}
    assert moved(base, joint, 0.02) and moved(joint, base, 0.02)
    assert not moved(base, {**base, "mean": -0.09, "ci_high": -0.001}, 0.02)
    # both intervals include zero: moved only if P(>0) crosses 50% by at least the MID
    wide = {"mean": 0.01, "ci_low": -0.05, "ci_high": 0.07, "prob_gt_0": 0.6}
    assert not moved(wide, {**wide, "mean": -0.005, "prob_gt_0": 0.45}, 0.02)
    assert moved(wide, {**wide, "mean": -0.015, "prob_gt_0": 0.35}, 0.02)
    two = [_g("a", "zelf_in_actie", "se", published=-0.1), _g("b", "zelf_in_actie", "se", published=-0.08)]
    kw = dict(arm="zelf_in_actie", mean=-0.100, ci_low=-0.193, ci_high=-0.003, sd=0.058, mid=0.02,
              gemeente_effects=two, prior_sd=0.10, p_gt0=0.04)
    same = ("Oss is left out", "Oss wordt weggelaten", {**base, "mean": -0.09, "ci_high": -0.001})
    alone = rate(**kw)
    assert rate(**kw, alternatives=[same]).level == alone.level
    c = rate(**kw, alternatives=[same, ("the thresholds are fitted jointly",
                                        "de drempels samen geschat worden", joint)])
    assert LEVELS.index(c.level) == LEVELS.index(alone.level) - 1
    assert c.sensitivity == ["the thresholds are fitted jointly"]
    assert "the conclusion changes when the thresholds are fitted jointly" in c.reasons[-1]
    assert "de drempels samen geschat worden" in c.reasons_nl[-1]


def test_refit_alternatives_passed_only() -> None:
    import pandas as pd

    from bayes_bijstand.report.results import alternatives

    row = {"outcome": "w", "arm": "extra_hulp", "mean": 0.01, "ci_low": -0.01, "ci_high": 0.03,
           "prob_gt_0": 0.8}
    loo = pd.DataFrame([{**row, "left_out": "", "status": "passed"},
                        {**row, "left_out": "groningen", "status": "passed"},
                        {**row, "left_out": "tilburg", "status": "failed"}])
    multi = pd.DataFrame([{**row, "variant": "baseline", "what": "", "status": "passed"},
                          {**row, "variant": "priors_x2", "what": "p", "status": "passed"},
                          {"outcome": "w", "arm": "", "variant": "no_coach_component",
                           "status": "not estimable: x"}])
    thr = [{"outcome": "w", "arm": "extra_hulp", "joint_mean": 0.0, "joint_ci_low": -0.01,
            "joint_ci_high": 0.01, "joint_prob_gt_0": 0.5}]
    got = alternatives(loo, multi, thr)[("w", "extra_hulp")]
    assert [en for en, _, _ in got] == ["Groningen is left out", "the priors are twice as wide",
                                        "the thresholds are fitted jointly"]
    assert got[2][2] == {"mean": 0.0, "ci_low": -0.01, "ci_high": 0.01, "prob_gt_0": 0.5}


def test_bundles_inform_their_components() -> None:
    rows = [_g("a", "extra_hulp", "se", published=0.1),
            _g("n", "extra_hulp+werken_loont", "marker", published=0.1),
            _g("z", "zelf_in_actie", "prose")]
    c = rate(arm="extra_hulp", mean=0.0, ci_low=-0.01, ci_high=0.01, sd=0.01, mid=0.02,
             gemeente_effects=rows, prior_sd=0.1)
    assert c.n_gemeenten == 2 and c.n_numbers == 1 and c.n_marker == 1


def test_prior_sd_of_an_arm_matches_the_spec() -> None:
    spec = ModelSpec(name="t")
    assert prior_sd_arm("extra_hulp", spec, "binary") == pytest.approx(0.10)
    assert prior_sd_arm("extra_hulp+werken_loont", spec, "binary") == pytest.approx(
        math.sqrt(2 * 0.10 ** 2 + 0.05 ** 2))
    assert prior_sd_arm("keuze", spec, "score") == pytest.approx(0.30)


def test_expected_by_chance_is_binomial() -> None:
    exp, lo, hi = expected_by_chance(100)
    assert exp == pytest.approx(10.0)
    assert (lo, hi) == tuple(int(x) for x in stats.binom.ppf([0.05, 0.95], 100, 0.1))


def test_outcome_order_puts_work_first() -> None:
    codes = ["social_trust", "contract_permanent", "work_gt8h", "outflow_work", "zzz_new"]
    assert sorted(codes, key=outcome_sort_key)[:2] == ["outflow_work", "work_gt8h"]
    assert sorted(codes, key=outcome_sort_key)[-1] == "zzz_new"
    assert IMPORTANCE.index("work_gt8h") < IMPORTANCE.index("social_trust")


def test_light_figure_is_webp_and_smaller(run_dir: Path) -> None:
    png = run_dir / "figures" / "work_gt12h" / "forest.png"
    uri = light_data_uri(png)
    assert uri.startswith("data:image/webp;base64,")
    assert len(uri) < 1.4 * png.stat().st_size + 100


def test_light_copies_are_cached_and_a_cut_cache_file_is_encoded_again(tmp_path: Path,
                                                                       run_dir: Path) -> None:
    import shutil

    from bayes_bijstand.report.images import CACHE_DIR

    png = tmp_path / "forest.png"
    shutil.copy(run_dir / "figures" / "work_gt12h" / "forest.png", png)
    first = light_data_uri(png)
    (cached,) = (tmp_path / CACHE_DIR).glob("forest-*.webp")
    assert light_data_uri(png) == first  # read back: the same bytes as encoding
    cached.write_bytes(cached.read_bytes()[:100])  # a file cut short (a crash mid-write)
    assert light_data_uri(png) == first
    assert len(list((tmp_path / CACHE_DIR).iterdir())) == 1
    png.write_bytes(png.read_bytes() + b"\0")  # a redrawn figure: a new key, the old copy goes
    light_data_uri(png)
    (again,) = (tmp_path / CACHE_DIR).glob("forest-*.webp")
    assert again != cached


def test_headline_comes_first(report_file: Path) -> None:
    text = report_file.read_text(encoding="utf-8")
    pos = {k: text.find(k) for k in ("id='headline'", "id='headline-figure'", "id='overview'",
                                     "id=\"methods\"", "id=\"limitations\"", "id=\"run\"",
                                     "Evidence hash")}
    assert all(v > 0 for v in pos.values()), pos
    assert pos["id='headline'"] < pos["id='overview'"] < pos["id=\"methods\""]
    assert pos["id=\"run\""] > pos["id=\"limitations\""] and pos["Evidence hash"] > pos["id=\"run\""]
    head = text.split("id='headline'", 1)[1].split("</section>", 1)[0]
    assert "<svg" in head  # the figure is inline SVG
    assert "lang='en'" in head and "lang='nl'" in head
    assert "Exemption from obligations" in head and "Vrijstelling van verplichtingen" in head
    # pooled 0.04 on the risk-difference scale = +4.0 pp, interval [2.0, 7.0]
    assert "+4.0 pp [2.0, 7.0]" in head and "+4,0 pp [2,0; 7,0]" in head
    assert "81% probability of any gain" in head and "certainty" in head


def test_certainty_column_and_no_grade_wording(report_file: Path) -> None:
    text = report_file.read_text(encoding="utf-8")
    overview = text.split("id='overview'", 1)[1].split("</table>", 1)[0]
    assert "Certainty of evidence" in overview
    assert re.search(r"c-(high|moderate|low|very-low)", overview)
    assert "evidence grade" not in text.lower()
    assert "Evidence type" in text


def test_methods_from_the_spec(report_file: Path) -> None:
    text = report_file.read_text(encoding="utf-8")
    methods = text.split('id="methods"', 1)[1].split('id="limitations"', 1)[0]
    # the fixture has no netCDF: the spec is read from inputs.spec_path when it exists, and
    # the section says so when it does not
    assert "could not be read" in methods or "Normal(0, 10 pp)" in methods
    lim = text.split('id="limitations"', 1)[1].split("</ul>", 1)[0]
    assert "Multiplicity" in lim and "Outcome reporting" in lim


def test_diagnostic_figures_linked_by_default_embedded_with_full(run_dir: Path, tmp_path: Path) -> None:
    light = write_report(run_dir, run_dir / "report.html").read_text(encoding="utf-8")
    assert "href='figures/work_gt12h/rank.png'" in light
    assert "data:image/png;base64," not in light
    full = write_report(run_dir, tmp_path / "full.html", full=True).read_text(encoding="utf-8")
    assert "data:image/png;base64," in full and "id='fig-work_gt12h-rank'" in full


def test_figures_beyond_the_budget_are_linked(run_dir: Path) -> None:
    from bayes_bijstand.report.build import embed_plan

    folder = run_dir / "figures" / "work_gt12h"
    files = {"work_gt12h": {"forest": folder / "forest.png", "rank": folder / "rank.png"},
             "other": {"forest": folder / "forest.png"}}
    one = len(light_data_uri(folder / "forest.png"))
    plan = embed_plan(files, full=False, budget=one + 10)
    assert set(plan) == {("work_gt12h", "forest")}  # most important first; diagnostics never
    assert set(embed_plan(files, full=True)) == {("work_gt12h", "forest"), ("work_gt12h", "rank"),
                                                 ("other", "forest")}


def test_frequentist_twin_shows_heterogeneity(report_file: Path) -> None:
    overview = report_file.read_text(encoding="utf-8").split("id='overview'", 1)[1].split("</table>", 1)[0]
    # tau2 = 0.0004 on the risk-difference scale -> tau 2.0 pp
    assert "REML+KNHA, k = 2" in overview and "tau 2.0 pp" in overview
    assert "I\u00b2 35%" in overview and "Q 1.54 (df 1, p 0.21)" in overview
    assert "prediction [" in overview


def test_refits_shown_when_the_run_has_them(run_dir: Path, tmp_path: Path) -> None:
    import shutil

    import pandas as pd

    from bayes_bijstand.report import render

    root = tmp_path / "run"
    shutil.copytree(run_dir, root)
    assert "No exact refits in this run" in render(root)
    base = {"outcome": "work_gt12h", "arm": "extra_hulp", "ci_low": -0.05, "ci_high": 0.03,
            "prob_gt_0": 0.3, "status": "passed"}
    pd.DataFrame([{**base, "variant": "baseline", "what": "the spec as it ran", "mean": -0.01},
                  {**base, "variant": "no_prose", "what": "without prose rows", "mean": -0.04}]
                 ).to_csv(root / "multiverse.csv", index=False)
    pd.DataFrame([{**base, "left_out": "groningen", "mean": 0.02}]).to_csv(
        root / "robustness_loo.csv", index=False)
    text = render(root)
    assert "id='multiverse-work_gt12h'" in text and "id='loo-work_gt12h'" in text
    mv = text.split("id='multiverse-work_gt12h'", 1)[1].split("</table>", 1)[0]
    assert "without prose rows" in mv and "\u22124.0 [\u22125.0, 3.0]" in mv  # pp on display scale
    assert "<figure class='refits'><svg" in text
    loo = text.split("id='loo-work_gt12h'", 1)[1].split("</table>", 1)[0]
    assert "Groningen" in loo and "2.0 [" in loo
