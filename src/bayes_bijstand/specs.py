"""Model specifications: readable TOML files in ``models/`` parsed into frozen dataclasses.

A spec says which evidence enters (outcomes, time points, comparisons, grades), how effects
pool (none / partial / full; arms as-is or as sums of components), the priors on each
outcome scale, the bias priors for weaker comparisons, and the sampler settings. Parsing is
strict: an unknown key, a wrong type or an impossible prior is a :class:`SpecError` naming
the file and the key, so a typo never silently falls back to a default.
"""

from __future__ import annotations

import math
import re
import tomllib
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from .errors import SpecError
from .evidence.grade_registry import GRADES as GRADES
from .evidence.schema import COMPARISONS, EXCLUDED_QUALITIES, QUALITIES
from .validation import check_prior


@dataclass(frozen=True)
class ModelKind:
    """A model kind (a spec's ``kind``): how arms relate to what is pooled.

    ``components``: an arm's effect is the sum of its treatment components (``a+b`` -> a, b)
    plus, for a bundled arm, an interaction; otherwise each arm is its own component.
    ``description``: the kind in words (the report's methods section).
    """

    name: str
    components: bool
    description: str


MODEL_KINDS: dict[str, ModelKind] = {k.name: k for k in (
    ModelKind("meta_components", True,
              "Each arm's effect is the sum of its policy components (exemption, coaching, "
              "earnings disregard, free choice) plus, for a bundled arm, an interaction; every "
              "municipality has its own component effects, drawn around the pooled means with "
              "between-municipality SDs tau and an LKJ correlation. "),
    ModelKind("meta_arms", False,
              "Each arm has its own pooled effect; municipalities deviate from it with SD tau. "),
)}
"""The model kinds, by name: the one place a kind's rules live."""

KINDS: tuple[str, ...] = tuple(MODEL_KINDS)


def get_model_kind(name: str) -> ModelKind:
    """The :class:`ModelKind` called ``name`` (a ``ValueError`` naming the known kinds if none)."""
    try:
        return MODEL_KINDS[name]
    except KeyError:
        raise ValueError(f"unknown model kind {name!r} (known: {', '.join(KINDS)})") from None

ZELEN_COMPARISONS = ("vs_control", "vs_reference")
"""Which randomised contrast of a Zelen design (offer arms) enters: the control group
(Groningen's variant C) or the untouched reference group (variant B, with its bias term)."""

BIAS_SD_BINARY: dict[str, float] = {
    "participants_vs_control": 0.03, "vs_reference": 0.03, "non_randomised": 0.06}
"""Default bias prior SDs on the risk-difference scale (0.03 = 3 pp); see docs/model.md for
the calibration against Groningen's month-0 (placebo) contrasts."""

BIAS_SD_SCORE: dict[str, float] = {
    "participants_vs_control": 0.15, "vs_reference": 0.10, "non_randomised": 0.20}
"""Default bias prior SDs on the SMD scale (0.15 = 0.15 SD): the same order of selection as
3 pp on a binary outcome with a base rate around 10-15% (SD about 0.35 => 0.03 / 0.35 =
0.09 SD), widened because survey contrasts compare self-selected respondents."""
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
    coach_sd: float = 0.0  # prior scale of sigma_coach (HalfNormal), the SD of coach effects


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
    exclude_quality: tuple[str, ...] = EXCLUDED_QUALITIES
    prefer_variants: tuple[str, ...] = ()
    zelen_comparison: str = "vs_control"
    pooling: str = "partial"
    rho_months: float = 0.6
    bias_sd: dict[str, float] = field(default_factory=lambda: dict(BIAS_SD_BINARY))
    bias_sd_score: dict[str, float] = field(default_factory=lambda: dict(BIAS_SD_SCORE))
    bias_per_study: bool = True
    offer_spillover_sd: float = 0.03
    r2_alpha: float = 2.0
    r2_beta: float = 6.0
    marker_se_sd: float = 0.5  # log-scale SD of a marker row's latent SE (robustness variants)
    binary: ScalePriors = ScalePriors(mu_sd=0.10, tau_sd=0.05, interaction_sd=0.05, mid=0.02,
                                      coach_sd=0.05)
    score: ScalePriors = ScalePriors(mu_sd=0.30, tau_sd=0.15, interaction_sd=0.15, mid=0.10,
                                     coach_sd=0.15)
    coach: bool = True  # coach-level variance component for arms delivered by named coaches
    coach_new_team: float = 5.0  # team size of a new municipality's coaches (predictions)
    sampler: SamplerSpec = SamplerSpec()
    source_text: str = ""
    path: str = ""

    def priors(self, kind: str) -> ScalePriors:
        return self.binary if kind == "binary" else self.score

    def bias(self, kind: str) -> dict[str, float]:
        """Prior SD of the bias term per weaker comparison on the outcome's own scale
        (risk difference for binary outcomes, SMD for scores)."""
        return self.bias_sd if kind == "binary" else self.bias_sd_score

    def with_overrides(self, **kw: Any) -> ModelSpec:
        """A copy with sampler settings or top-level fields overridden (CLI flags)."""
        samp = {k: v for k, v in kw.items() if k in {f.name for f in fields(SamplerSpec)} and v is not None}
        top = {k: v for k, v in kw.items() if k not in samp and v is not None}
        return replace(self, sampler=replace(self.sampler, **samp), **top)


_TOP = {"kind", "description", "select", "pooling", "priors", "bias", "covariate_adjustment",
        "coach", "sampler"}


def _key_line(text: str, key: str) -> int | None:
    """The 1-based line of ``key`` (dotted, e.g. ``priors.binary.mu_sd``) in TOML ``text``."""
    table = ""
    header_line: int | None = None
    for n, raw in enumerate(text.splitlines(), start=1):
        line = raw.split("#", 1)[0].strip()
        m = re.match(r"^\[\[?\s*([^\]]+?)\s*\]\]?$", line)
        if m:
            table = ".".join(part.strip().strip('"').strip("'") for part in m[1].split("."))
            if table == key or table.startswith(key + "."):
                header_line = header_line or n
            continue
        m = re.match(r"^([A-Za-z0-9_\-.\"' ]+?)\s*=", line)
        if m:
            k = ".".join(part.strip().strip('"').strip("'") for part in m[1].split("."))
            full = f"{table}.{k}" if table else k
            if full == key:
                return n
    return header_line


class _Ctx:
    """What every check needs to locate a problem: the file name and the spec text."""

    def __init__(self, file: str, text: str) -> None:
        self.file = file
        self.text = text

    def error(self, message: str, key: str | None = None) -> SpecError:
        exc = SpecError(self.file, message, key=key)
        line = _key_line(self.text, key) if key else None
        if line is not None:
            exc.args = (f"{self.file}, line {line}, key '{key}': {message}",)
        exc.line = line  # type: ignore[attr-defined]
        return exc


def _table(d: dict[str, Any], key: str, ctx: _Ctx, prefix: str) -> dict[str, Any]:
    v = d.get(key, {})
    if not isinstance(v, dict):
        raise ctx.error(f"must be a table ([{prefix}{key}]), got {v!r}", prefix + key)
    return v


def _strings(d: dict[str, Any], key: str, default: Any, ctx: _Ctx, prefix: str) -> tuple[str, ...]:
    if key not in d:
        return tuple(default)
    v = d[key]
    if not isinstance(v, list) or not all(isinstance(x, str) for x in v):
        raise ctx.error(f"must be a list of strings, got {v!r}", prefix + key)
    return tuple(v)


def _check_keys(d: dict[str, Any], allowed: set[str], ctx: _Ctx, prefix: str) -> None:
    import difflib

    for k in d:
        if k not in allowed:
            hint = difflib.get_close_matches(k, sorted(allowed), n=1)
            extra = f" (did you mean '{hint[0]}'?)" if hint else f" (known: {', '.join(sorted(allowed))})"
            raise ctx.error(f"unknown key{extra}", f"{prefix}{k}")


def _num(d: dict[str, Any], key: str, ctx: _Ctx, prefix: str, *, positive: bool = True,
         default: float | None = None) -> float:
    if key not in d:
        if default is None:
            raise ctx.error("missing", prefix + key)
        return default
    v = d[key]
    if isinstance(v, bool) or not isinstance(v, int | float):
        raise ctx.error(f"must be a number, got {v!r}", prefix + key)
    if not math.isfinite(v):
        raise ctx.error(f"must be a finite number, got {v!r}", prefix + key)
    if positive and not v > 0:
        raise ctx.error(f"must be > 0, got {v!r} (an impossible prior)"
                        if key.endswith(("_sd", "_eta", "_alpha", "_beta")) or prefix.startswith("bias")
                        else f"must be > 0, got {v!r}", prefix + key)
    why = check_prior(prefix + key, float(v))
    if why:
        raise ctx.error(why, prefix + key)
    return float(v)


def _int(d: dict[str, Any], key: str, ctx: _Ctx, prefix: str, *, default: int,
         minimum: int = 1, maximum: int = 10**9) -> int:
    if key not in d:
        return default
    v = d[key]
    if isinstance(v, bool) or not isinstance(v, int):
        raise ctx.error(f"must be a whole number, got {v!r}", prefix + key)
    if not minimum <= v <= maximum:
        raise ctx.error(f"must be between {minimum} and {maximum}, got {v!r}", prefix + key)
    return int(v)


def _scale_priors(d: dict[str, Any], base: ScalePriors, ctx: _Ctx, prefix: str) -> ScalePriors:
    _check_keys(d, {"mu_sd", "tau_sd", "interaction_sd", "lkj_eta", "mid", "coach_sd"}, ctx,
                prefix)
    return ScalePriors(
        mu_sd=_num(d, "mu_sd", ctx, prefix, default=base.mu_sd),
        tau_sd=_num(d, "tau_sd", ctx, prefix, default=base.tau_sd),
        interaction_sd=_num(d, "interaction_sd", ctx, prefix, default=base.interaction_sd),
        lkj_eta=_num(d, "lkj_eta", ctx, prefix, default=base.lkj_eta),
        mid=_num(d, "mid", ctx, prefix, positive=False, default=base.mid),
        coach_sd=_num(d, "coach_sd", ctx, prefix, default=base.coach_sd),
    )


def spec_names() -> tuple[str, ...]:
    """Names of the specs shipped with the package (``load_spec(name)`` loads one)."""
    return tuple(sorted(p.stem for p in models_dir().glob("*.toml")))


def _bias_table(d: dict[str, Any], ctx: _Ctx, prefix: str) -> dict[str, float]:
    out = {}
    for k in d:
        if k not in COMPARISONS:
            raise ctx.error(f"unknown comparison '{k}'", f"{prefix}{k}")
        out[k] = _num(d, k, ctx, prefix)
    return out


def _bias_priors(d: dict[str, Any], base: ModelSpec, ctx: _Ctx
                 ) -> tuple[dict[str, float], dict[str, float], bool]:
    """``[bias]``: per-scale tables ``[bias.binary]`` and ``[bias.score]`` of comparison ->
    prior SD, and ``per_study`` (one bias term per gemeente and comparison, the default, or
    one shared by all gemeenten). A flat ``comparison = sd`` key (the older form) is read as
    the risk-difference scale; the SMD scale then keeps its defaults."""
    bias = d.get("bias", {})
    if not isinstance(bias, dict):
        raise ctx.error(f"must be a table ([bias]), got {bias!r}", "bias")
    binary = dict(base.bias_sd)
    score = dict(base.bias_sd_score)
    per_study = base.bias_per_study
    flat = {k: v for k, v in bias.items() if k not in ("binary", "score", "per_study")}
    if flat:
        binary = _bias_table(flat, ctx, "bias.")
    if "per_study" in bias:
        if not isinstance(bias["per_study"], bool):
            raise ctx.error(f"must be true or false, got {bias['per_study']!r}", "bias.per_study")
        per_study = bias["per_study"]
    for scale in ("binary", "score"):
        if scale in bias:
            t = bias[scale]
            if not isinstance(t, dict):
                raise ctx.error(f"must be a table ([bias.{scale}]), got {t!r}", f"bias.{scale}")
            if scale == "binary":
                if flat:
                    raise ctx.error("give the risk-difference bias priors either as [bias] keys "
                                    "or as [bias.binary], not both", "bias.binary")
                binary = _bias_table(t, ctx, "bias.binary.")
            else:
                score = _bias_table(t, ctx, "bias.score.")
    return binary, score, per_study


def resolve_spec(path: str | Path) -> Path:
    """A spec file for ``path``: an existing file, else a shipped spec of that name.

    ``"meta_arms"``, ``"meta_arms.toml"`` and ``"models/meta_arms.toml"`` (the repository
    layout, from any working directory) all name the shipped ``meta_arms`` spec when no such
    file exists relative to the working directory.
    """
    p = Path(path)
    if p.exists():
        return p
    name = p.stem if p.suffix == ".toml" else p.name
    if p.parent in (Path("."), Path("models")) and name in spec_names():
        return models_dir() / f"{name}.toml"
    return p


def load_spec(path: str | Path) -> ModelSpec:
    """Parse a TOML model spec, given as a file or a shipped spec's name; every problem is a
    one-line :class:`SpecError`.

    ``load_spec("meta_components")`` loads a spec shipped with the package (see
    :func:`spec_names`); a path loads that file. The message names the file, the line (where
    the key can be found) and the dotted key, e.g. ``my.toml, line 12, key
    'priors.binary.tau_sd': must be > 0, got -0.05``.
    """
    p = resolve_spec(path)
    file = str(p)
    if not p.exists():
        raise SpecError(file, "model spec file not found (shipped specs, loadable by name: "
                        + ", ".join(spec_names()) + ")")
    from .io import read_input_bytes

    raw = read_input_bytes(p, error=SpecError, expected="a TOML model spec")
    if b"\x00" in raw[:8192]:
        raise SpecError(file, "file is binary, not a TOML model spec")
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise SpecError(file, f"not UTF-8 text (byte {exc.start}); save the spec as UTF-8") from None
    try:
        d = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        msg = " ".join(str(exc).split())
        raise SpecError(file, f"not valid TOML ({msg})") from None
    ctx = _Ctx(file, text)
    _check_keys(d, _TOP, ctx, "")
    base = ModelSpec(name=p.stem)
    kind = d.get("kind", base.kind)
    if kind not in KINDS:
        raise ctx.error(f"unknown model kind {kind!r} (known: {', '.join(KINDS)})", "kind")
    description = d.get("description", "")
    if not isinstance(description, str):
        raise ctx.error(f"must be a string, got {description!r}", "description")
    sel = _table(d, "select", ctx, "")
    _check_keys(sel, {"outcomes", "months", "comparisons", "grades", "exclude_quality",
                      "prefer_variants", "zelen_comparison"}, ctx, "select.")
    outcomes = sel.get("outcomes", "all")
    if outcomes != "all":
        outcomes = _strings(sel, "outcomes", (), ctx, "select.")
        if not outcomes:
            raise ctx.error("must be \"all\" or a non-empty list of outcome codes", "select.outcomes")
    months = sel.get("months", "last")
    if isinstance(months, list):
        if not months or not all(isinstance(m, int) and not isinstance(m, bool) and 0 <= m <= 600
                                 for m in months):
            raise ctx.error(f"must be a non-empty list of months (whole numbers), got {months!r}",
                            "select.months")
        months = tuple(int(m) for m in months)
    elif months not in ("last", "all"):
        raise ctx.error("must be 'last', 'all' or a list of months", "select.months")
    comparisons = _strings(sel, "comparisons", base.comparisons, ctx, "select.")
    for c in comparisons:
        if c not in COMPARISONS:
            raise ctx.error(f"unknown comparison '{c}'", "select.comparisons")
    if not comparisons:
        raise ctx.error("must name at least one comparison", "select.comparisons")
    grades = _strings(sel, "grades", base.grades, ctx, "select.")
    for g in grades:
        if g not in GRADES:
            raise ctx.error(f"unknown evidence grade '{g}' (known: {', '.join(GRADES)})",
                            "select.grades")
    if not grades:
        raise ctx.error("must name at least one evidence grade", "select.grades")
    exclude_quality = _strings(sel, "exclude_quality", base.exclude_quality, ctx, "select.")
    for q in exclude_quality:
        # A typo here would silently replace the default (which keeps garbled rows out).
        if q not in QUALITIES:
            import difflib

            hint = difflib.get_close_matches(q, sorted(QUALITIES), n=1)
            raise ctx.error(f"unknown quality flag '{q}'"
                            + (f" (did you mean '{hint[0]}'?)" if hint else
                               f" (known: {', '.join(sorted(QUALITIES))})"),
                            "select.exclude_quality")
    prefer_variants = _strings(sel, "prefer_variants", (), ctx, "select.")
    zelen = sel.get("zelen_comparison", base.zelen_comparison)
    if zelen not in ZELEN_COMPARISONS:
        raise ctx.error(f"must be one of {', '.join(ZELEN_COMPARISONS)}, got {zelen!r}",
                        "select.zelen_comparison")
    pool = _table(d, "pooling", ctx, "")
    _check_keys(pool, {"mode", "rho_months", "offer_spillover_sd"}, ctx, "pooling.")
    mode = pool.get("mode", base.pooling)
    if mode not in POOLING:
        raise ctx.error(f"unknown pooling mode {mode!r} (known: {', '.join(POOLING)})",
                        "pooling.mode")
    rho = _num(pool, "rho_months", ctx, "pooling.", positive=False, default=base.rho_months)
    if not 0 <= rho < 1:
        raise ctx.error("must be in [0, 1)", "pooling.rho_months")
    spill = _num(pool, "offer_spillover_sd", ctx, "pooling.", positive=False,
                 default=base.offer_spillover_sd)
    if spill < 0:
        raise ctx.error(f"must be >= 0, got {spill!r} (an impossible prior)",
                        "pooling.offer_spillover_sd")
    pri = _table(d, "priors", ctx, "")
    _check_keys(pri, {"binary", "score"}, ctx, "priors.")
    bias_binary, bias_score, per_study = _bias_priors(d, base, ctx)
    cov = _table(d, "covariate_adjustment", ctx, "")
    _check_keys(cov, {"r2_alpha", "r2_beta"}, ctx, "covariate_adjustment.")
    coach = _table(d, "coach", ctx, "")
    _check_keys(coach, {"enabled", "new_team_size"}, ctx, "coach.")
    coach_on = coach.get("enabled", base.coach)
    if not isinstance(coach_on, bool):
        raise ctx.error(f"must be true or false, got {coach_on!r}", "coach.enabled")
    new_team = _num(coach, "new_team_size", ctx, "coach.", default=base.coach_new_team)
    if new_team < 1:
        raise ctx.error(f"must be >= 1 (a team of at least one coach), got {new_team!r}",
                        "coach.new_team_size")
    samp = _table(d, "sampler", ctx, "")
    _check_keys(samp, {f.name for f in fields(SamplerSpec)}, ctx, "sampler.")
    sampler_name = samp.get("sampler", "nutpie")
    if sampler_name not in SAMPLERS:
        raise ctx.error(f"unknown sampler {sampler_name!r} (known: {', '.join(SAMPLERS)})",
                        "sampler.sampler")
    sampler = SamplerSpec(
        draws=_int(samp, "draws", ctx, "sampler.", default=1000),
        tune=_int(samp, "tune", ctx, "sampler.", default=1000, minimum=0),
        chains=_int(samp, "chains", ctx, "sampler.", default=4, maximum=256),
        target_accept=_num(samp, "target_accept", ctx, "sampler.", default=0.9),
        sampler=sampler_name,
        random_seed=_int(samp, "random_seed", ctx, "sampler.", default=2017, minimum=0,
                         maximum=2**32 - 1),
    )
    if not 0.5 <= sampler.target_accept < 1:
        raise ctx.error("must be in [0.5, 1)", "sampler.target_accept")
    return ModelSpec(
        name=p.stem, kind=kind, description=description, outcomes=outcomes,
        months=months, comparisons=comparisons, grades=grades,
        exclude_quality=exclude_quality, prefer_variants=prefer_variants,
        zelen_comparison=zelen, pooling=mode,
        rho_months=rho, bias_sd=bias_binary, bias_sd_score=bias_score,
        bias_per_study=per_study,
        offer_spillover_sd=spill, coach=coach_on, coach_new_team=new_team,
        r2_alpha=_num(cov, "r2_alpha", ctx, "covariate_adjustment.", default=base.r2_alpha),
        r2_beta=_num(cov, "r2_beta", ctx, "covariate_adjustment.", default=base.r2_beta),
        binary=_scale_priors(_table(pri, "binary", ctx, "priors."), base.binary, ctx,
                             "priors.binary."),
        score=_scale_priors(_table(pri, "score", ctx, "priors."), base.score, ctx,
                            "priors.score."),
        sampler=sampler, source_text=text, path=file,
    )


def models_dir() -> Path:
    """The directory of the specs shipped with the package (package data ``model_specs``,
    the repository's ``models/``)."""
    packaged = Path(__file__).parent / "model_specs"
    if packaged.is_dir():
        return packaged
    here = Path(__file__).resolve()
    for parent in here.parents:
        if (parent / "models").is_dir() and (parent / "pyproject.toml").exists():
            return parent / "models"
    return Path.cwd() / "models"


def default_spec_path() -> Path:
    return models_dir() / "meta_components.toml"


def check_spec_selection(spec: object, outcomes_present: set[str]) -> None:
    """A spec's ``select.outcomes`` must select something in this evidence.

    Every listed outcome must have rows (a typo such as ``work_gt12`` is an error with a
    did-you-mean, not an empty run that exits 0). Raises a
    :class:`~bayes_bijstand.errors.SpecError` naming the spec file, line and key.
    """
    import difflib

    wanted = getattr(spec, "outcomes", "all")
    if wanted == "all":
        return
    for o in wanted:
        if o not in outcomes_present:
            hint = difflib.get_close_matches(o, sorted(outcomes_present), n=1, cutoff=0.75)
            msg = (f"outcome '{o}' has no rows in the evidence"
                   + (f" (did you mean '{hint[0]}'?)" if hint else ""))
            raise _spec_error(spec, msg, "select.outcomes", SpecError)


def _spec_error(spec: object, message: str, key: str, cls: type) -> Exception:
    file = getattr(spec, "path", "") or "model spec"
    exc = cls(file, message, key=key)
    line = _key_line(getattr(spec, "source_text", ""), key)
    if line is not None:
        exc.args = (f"{file}, line {line}, key '{key}': {message}",)
    return exc
