"""The gate's automatic retries: a step-size problem gets a smaller step, a short chain more draws.

These run the production retry loop (``meta._sample_with_retries``) with a stand-in sampler
and gate, so each case states exactly which settings the next attempt gets.
"""

from __future__ import annotations

from dataclasses import replace

import pytest

from bayes_bijstand import meta
from bayes_bijstand.diagnostics import Diagnostics
from bayes_bijstand.specs import SamplerSpec


def _diag(*, div: int = 0, ess: float = 2000.0, tail: float | None = None, rhat: float = 1.001,
          bfmi: float = 1.0, draws: int = 4000) -> Diagnostics:
    problems = []
    tail = ess if tail is None else tail
    if div:
        problems.append(f"{div} divergent transitions")
    if min(ess, tail) < 400:
        problems.append("ESS < 400")
    if rhat > 1.01:
        problems.append("R-hat > 1.01")
    if bfmi < 0.3:
        problems.append("E-BFMI < 0.3")
    return Diagnostics(passed=not problems, rhat_max=rhat, ess_bulk_min=ess, ess_tail_min=tail,
                       divergences=div, bfmi_min=bfmi, n_draws=draws, problems=problems)


def _run(monkeypatch: pytest.MonkeyPatch, diags: list[Diagnostics], s: SamplerSpec
         ) -> tuple[list[SamplerSpec], Diagnostics]:
    calls: list[SamplerSpec] = []
    queue = iter(diags)
    monkeypatch.setattr(meta, "check", lambda tree: next(queue))
    _, diag = meta._sample_with_retries(lambda x: calls.append(x) or object(), s,
                                        rungs=meta.MAX_RETRIES)
    return calls, diag


BASE = SamplerSpec()


def test_divergences_climb_the_step_size_ladder(monkeypatch: pytest.MonkeyPatch) -> None:
    calls, diag = _run(monkeypatch, [_diag(div=2), _diag(div=1), _diag()], BASE)
    assert [c.target_accept for c in calls] == [BASE.target_accept, 0.99, 0.999]
    assert [c.tune for c in calls] == [BASE.tune, BASE.tune, 2 * BASE.tune]
    assert all(c.draws == BASE.draws for c in calls)
    assert diag.passed and diag.retried
    assert diag.retry_settings == {"target_accept": 0.999, "tune": 2 * BASE.tune}


def test_too_few_effective_draws_get_more_draws_not_a_smaller_step(
        monkeypatch: pytest.MonkeyPatch) -> None:
    # tail ESS 395 from 4 x 500 draws (the two failed refits of the last run): 1.2 * 400 / 395
    # is below the 1.5x floor, so 750 rounded up to 800 draws per chain, same step settings
    s = replace(BASE, draws=500, target_accept=0.99)
    calls, diag = _run(monkeypatch, [_diag(ess=700, tail=395, draws=2000), _diag()], s)
    assert [c.draws for c in calls] == [500, 800]
    assert {c.target_accept for c in calls} == {0.99} and {c.tune for c in calls} == {s.tune}
    assert diag.passed and diag.retry_settings == {"draws": 800}


def test_draws_follow_the_ess_per_draw_and_are_capped(monkeypatch: pytest.MonkeyPatch) -> None:
    s = replace(BASE, draws=1000)
    # ESS 150: 1.2 * 400 / 150 = 3.2x -> 3,200 draws per chain
    calls, _ = _run(monkeypatch, [_diag(ess=150), _diag()], s)
    assert calls[1].draws == 3200
    # ESS 20: 24x is capped at DRAWS_RETRY_MAX_FACTOR
    calls, _ = _run(monkeypatch, [_diag(ess=20), _diag()], s)
    assert calls[1].draws == int(meta.DRAWS_RETRY_MAX_FACTOR * 1000)
    # R-hat alone (ESS fine): twice the draws
    calls, _ = _run(monkeypatch, [_diag(rhat=1.012), _diag()], s)
    assert calls[1].draws == 2000


def test_a_refit_at_the_first_rung_skips_it_and_mixes_both_kinds(
        monkeypatch: pytest.MonkeyPatch) -> None:
    # starts at 0.99 (refits do): divergences go straight to 0.999; a later ESS shortfall
    # keeps the smaller step and adds draws; a third failure is reported, not retried again
    s = replace(BASE, draws=500, target_accept=0.99)
    calls, diag = _run(monkeypatch, [_diag(div=3), _diag(ess=300, draws=2000),
                                     _diag(ess=390, draws=2000)], s)
    assert [(c.target_accept, c.tune, c.draws) for c in calls] == [
        (0.99, s.tune, 500), (0.999, 2 * s.tune, 500), (0.999, 2 * s.tune, 800)]
    assert not diag.passed and diag.retried
    assert diag.retry_settings == {"target_accept": 0.999, "tune": 2 * s.tune, "draws": 800}
    assert diag.problems[0].startswith("first attempt: 3 divergent")


def test_a_passing_first_attempt_is_not_retried(monkeypatch: pytest.MonkeyPatch) -> None:
    calls, diag = _run(monkeypatch, [_diag()], BASE)
    assert calls == [BASE] and not diag.retried
