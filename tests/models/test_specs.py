"""Model specs in models/ parse; typos and impossible priors are one-line SpecErrors."""

from __future__ import annotations

from pathlib import Path

import pytest

from bayes_bijstand.errors import SpecError
from bayes_bijstand.specs import load_spec, models_dir

SHIPPED = sorted(models_dir().glob("*.toml"))


@pytest.mark.parametrize("path", SHIPPED, ids=[p.stem for p in SHIPPED])
def test_shipped_specs_parse(path: Path) -> None:
    spec = load_spec(path)
    assert spec.kind in ("meta_components", "meta_arms")
    assert spec.binary.mu_sd > 0 and spec.score.tau_sd > 0


def test_shipped_specs_exist() -> None:
    assert {p.stem for p in SHIPPED} >= {"meta_components", "meta_arms", "meta_rct_only"}


@pytest.mark.parametrize("text,key,fragment", [
    ('kind = "meta_componets"\n', "kind", "unknown model kind"),
    ("[priors.binary]\nmu_sdd = 0.1\n", "priors.binary.mu_sdd", "did you mean 'mu_sd'"),
    ("[priors.binary]\ntau_sd = -0.05\n", "priors.binary.tau_sd", "impossible prior"),
    ("[pooling]\nmode = \"some\"\n", "pooling.mode", "unknown pooling mode"),
    ("[select]\ngrades = [\"se\", \"rumour\"]\n", "select.grades", "unknown evidence grade"),
    ("[sampler]\ntarget_accept = 1.2\n", "sampler.target_accept", "must be in"),
    ("kind = [\n", None, "not valid TOML"),
])
def test_bad_specs(tmp_path: Path, text: str, key: str | None, fragment: str) -> None:
    p = tmp_path / "spec.toml"
    p.write_text(text, encoding="utf-8")
    with pytest.raises(SpecError) as exc:
        load_spec(p)
    msg = str(exc.value)
    assert "\n" not in msg and str(p) in msg and fragment in msg
    if key:
        assert f"key '{key}'" in msg


def test_cli_overrides_apply_to_the_sampler() -> None:
    spec = load_spec(models_dir() / "meta_components.toml").with_overrides(draws=123, random_seed=5)
    assert spec.sampler.draws == 123 and spec.sampler.random_seed == 5
