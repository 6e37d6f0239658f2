"""Model specifications: readable TOML files in ``models/`` parsed into frozen dataclasses.

A spec says which evidence enters (outcomes, time points, comparisons, grades), how effects
pool (none / partial / full; arms as-is or as sums of components), the priors on each
outcome scale, the bias priors for weaker comparisons, and the sampler settings. Parsing is
strict: an unknown key, a wrong type or an impossible prior is a :class:`SpecError` naming
the file and the key, so a typo never silently falls back to a default.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from .errors import SpecError
from .evidence.grades import GRADES
from .evidence.schema import COMPARISONS

KINDS = ("meta_components", "meta_arms")
POOLING = ("partial", "none", "full")
SAMPLERS = ("nutpie", "pymc")


@dataclass(frozen=True)
class ScalePriors:
    """Priors on one outcome scale (risk difference for binary, SMD for scores)."""

    mu_sd: float
    tau_sd: float
    interaction_sd: float
    lkj_eta: float = 2.0
    mid: float = 0.0  # minimal important difference for P(effect > mid)


@dataclass(frozen=True)
class SamplerSpec:
    draws: int = 1000
    tune: int = 1000
    chains: int = 4
    target_accept: float = 0.9
    sampler: str = "nutpie"
    random_seed: int = 2017


@dataclass(frozen=True)
class ModelSpec:
    """A parsed model specification (see ``models/*.toml``)."""

    name: str
    kind: str = "meta_components"
    description: str = ""
    outcomes: tuple[str, ...] | str = "all"
    months: str | tuple[int, ...] = "last"
    comparisons: tuple[str, ...] = ("vs_control", "participants_vs_control", "vs_reference",
                                    "non_randomised")
    grades: tuple[str, ...] = GRADES
    exclude_quality: tuple[str, ...] = ("garbled",)
    prefer_variants: tuple[str, ...] = ()
    pooling: str = "partial"
    rho_months: float = 0.6
    bias_sd: dict[str, float] = field(default_factory=lambda: {
        "participants_vs_control": 0.03, "vs_reference": 0.03, "non_randomised": 0.06})
    offer_spillover_sd: float = 0.01
    r2_alpha: float = 2.0
    r2_beta: float = 6.0
    binary: ScalePriors = ScalePriors(mu_sd=0.10, tau_sd=0.05, interaction_sd=0.05, mid=0.02)
    score: ScalePriors = ScalePriors(mu_sd=0.30, tau_sd=0.15, interaction_sd=0.15, mid=0.10)
    sampler: SamplerSpec = SamplerSpec()
    source_text: str = ""
    path: str = ""

    def priors(self, kind: str) -> ScalePriors:
        return self.binary if kind == "binary" else self.score

    def with_overrides(self, **kw: Any) -> ModelSpec:
        """A copy with sampler settings or top-level fields overridden (CLI flags)."""
        samp = {k: v for k, v in kw.items() if k in {f.name for f in fields(SamplerSpec)} and v is not None}
        top = {k: v for k, v in kw.items() if k not in samp and v is not None}
        return replace(self, sampler=replace(self.sampler, **samp), **top)


_TOP = {"kind", "description", "select", "pooling", "priors", "bias", "covariate_adjustment",
        "sampler"}


def _check_keys(d: dict[str, Any], allowed: set[str], file: str, prefix: str) -> None:
    import difflib

    for k in d:
        if k not in allowed:
            hint = difflib.get_close_matches(k, sorted(allowed), n=1)
            extra = f" (did you mean '{hint[0]}'?)" if hint else ""
            raise SpecError(file, f"unknown key{extra}", key=f"{prefix}{k}")


def _num(d: dict[str, Any], key: str, file: str, prefix: str, *, positive: bool = True,
         default: float | None = None) -> float:
    if key not in d:
        if default is None:
            raise SpecError(file, "missing", key=prefix + key)
        return default
    v = d[key]
    if isinstance(v, bool) or not isinstance(v, int | float):
        raise SpecError(file, f"must be a number, got {v!r}", key=prefix + key)
    if positive and not v > 0:
        raise SpecError(file, f"must be > 0, got {v!r} (an impossible prior)", key=prefix + key)
    return float(v)


def _scale_priors(d: dict[str, Any], base: ScalePriors, file: str, prefix: str) -> ScalePriors:
    _check_keys(d, {"mu_sd", "tau_sd", "interaction_sd", "lkj_eta", "mid"}, file, prefix)
    return ScalePriors(
        mu_sd=_num(d, "mu_sd", file, prefix, default=base.mu_sd),
        tau_sd=_num(d, "tau_sd", file, prefix, default=base.tau_sd),
        interaction_sd=_num(d, "interaction_sd", file, prefix, default=base.interaction_sd),
        lkj_eta=_num(d, "lkj_eta", file, prefix, default=base.lkj_eta),
        mid=_num(d, "mid", file, prefix, positive=False, default=base.mid),
    )


def load_spec(path: str | Path) -> ModelSpec:
    """Parse a TOML model spec; every problem is a one-line :class:`SpecError`."""
    p = Path(path)
    file = str(p)
    if not p.exists():
        raise SpecError(file, "model spec file not found")
    text = p.read_text(encoding="utf-8")
    try:
        d = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise SpecError(file, f"not valid TOML ({exc})") from None
    _check_keys(d, _TOP, file, "")
    base = ModelSpec(name=p.stem)
    kind = d.get("kind", base.kind)
    if kind not in KINDS:
        raise SpecError(file, f"unknown model kind '{kind}' (known: {', '.join(KINDS)})", key="kind")
    sel = d.get("select", {})
    _check_keys(sel, {"outcomes", "months", "comparisons", "grades", "exclude_quality",
                      "prefer_variants"}, file, "select.")
    outcomes = sel.get("outcomes", "all")
    outcomes = outcomes if outcomes == "all" else tuple(outcomes)
    months = sel.get("months", "last")
    if isinstance(months, list):
        months = tuple(int(m) for m in months)
    elif months not in ("last", "all"):
        raise SpecError(file, "must be 'last', 'all' or a list of months", key="select.months")
    comparisons = tuple(sel.get("comparisons", base.comparisons))
    for c in comparisons:
        if c not in COMPARISONS:
            raise SpecError(file, f"unknown comparison '{c}'", key="select.comparisons")
    grades = tuple(sel.get("grades", base.grades))
    for g in grades:
        if g not in GRADES:
            raise SpecError(file, f"unknown evidence grade '{g}' (known: {', '.join(GRADES)})",
                            key="select.grades")
    pool = d.get("pooling", {})
    _check_keys(pool, {"mode", "rho_months", "offer_spillover_sd"}, file, "pooling.")
    mode = pool.get("mode", base.pooling)
    if mode not in POOLING:
        raise SpecError(file, f"unknown pooling mode '{mode}' (known: {', '.join(POOLING)})",
                        key="pooling.mode")
    rho = _num(pool, "rho_months", file, "pooling.", positive=False, default=base.rho_months)
    if not 0 <= rho < 1:
        raise SpecError(file, "must be in [0, 1)", key="pooling.rho_months")
    pri = d.get("priors", {})
    _check_keys(pri, {"binary", "score"}, file, "priors.")
    bias = d.get("bias", base.bias_sd)
    for k in bias:
        if k not in COMPARISONS:
            raise SpecError(file, f"unknown comparison '{k}'", key=f"bias.{k}")
        _num(bias, k, file, "bias.")
    cov = d.get("covariate_adjustment", {})
    _check_keys(cov, {"r2_alpha", "r2_beta"}, file, "covariate_adjustment.")
    samp = d.get("sampler", {})
    _check_keys(samp, {f.name for f in fields(SamplerSpec)}, file, "sampler.")
    sampler_name = samp.get("sampler", "nutpie")
    if sampler_name not in SAMPLERS:
        raise SpecError(file, f"unknown sampler '{sampler_name}'", key="sampler.sampler")
    sampler = SamplerSpec(
        draws=int(_num(samp, "draws", file, "sampler.", default=1000)),
        tune=int(_num(samp, "tune", file, "sampler.", default=1000)),
        chains=int(_num(samp, "chains", file, "sampler.", default=4)),
        target_accept=_num(samp, "target_accept", file, "sampler.", default=0.9),
        sampler=sampler_name,
        random_seed=int(_num(samp, "random_seed", file, "sampler.", positive=False, default=2017)),
    )
    if not 0.5 <= sampler.target_accept < 1:
        raise SpecError(file, "must be in [0.5, 1)", key="sampler.target_accept")
    return ModelSpec(
        name=p.stem, kind=kind, description=str(d.get("description", "")), outcomes=outcomes,
        months=months, comparisons=comparisons, grades=grades,
        exclude_quality=tuple(sel.get("exclude_quality", base.exclude_quality)),
        prefer_variants=tuple(sel.get("prefer_variants", ())), pooling=mode, rho_months=rho,
        bias_sd={k: float(v) for k, v in bias.items()},
        offer_spillover_sd=_num(pool, "offer_spillover_sd", file, "pooling.", positive=False,
                                default=base.offer_spillover_sd),
        r2_alpha=_num(cov, "r2_alpha", file, "covariate_adjustment.", default=base.r2_alpha),
        r2_beta=_num(cov, "r2_beta", file, "covariate_adjustment.", default=base.r2_beta),
        binary=_scale_priors(pri.get("binary", {}), base.binary, file, "priors.binary."),
        score=_scale_priors(pri.get("score", {}), base.score, file, "priors.score."),
        sampler=sampler, source_text=text, path=file,
    )


def models_dir() -> Path:
    """The repository's ``models/`` directory (specs shipped with the project)."""
    here = Path(__file__).resolve()
    for parent in here.parents:
        if (parent / "models").is_dir() and (parent / "pyproject.toml").exists():
            return parent / "models"
    return Path.cwd() / "models"


def default_spec_path() -> Path:
    return models_dir() / "meta_components.toml"
