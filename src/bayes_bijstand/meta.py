"""Python API of the summary-level meta-analysis: ``fit_meta(evidence, spec, outcome)``.

Data flows one way: evidence rows -> :func:`~bayes_bijstand.models.selection.select_rows`
(which rows enter, and why the others do not) -> the one model of
:mod:`bayes_bijstand.models.summary_level` -> a sampler backend of its graph
(:mod:`bayes_bijstand.models.backends`) -> diagnostics gate (retries) -> :class:`MetaResult`
with tidy summaries and the frequentist twin attached.
"""

from __future__ import annotations

import contextlib
import json
import logging
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import pandas as pd
import xarray as xr

from ._version import __version__
from .constants import CI_PROB, ESS_MIN
from .diagnostics import BFMI_MIN, Diagnostics, check
from .evidence.load import evidence_hash
from .evidence.outcomes import (
    DOMAIN_FAMILIES,
    THRESHOLD_FAMILIES,
    domain_family,
    get_scale,
    outcome_kind,
    threshold_family,
    trajectory_outcome,
)
from .frequentist.twin import twin_summary
from .io import atomic_path, netcdf_engine, sha256_text
from .models.domains import prepare_domain
from .models.selection import select_rows
from .models.summary_level import MetaData, prepare
from .models.thresholds import prepare_joint
from .models.trajectories import prepare_trajectory, trajectory_data
from .specs import ModelSpec, SamplerSpec
from .summaries import coach_table, gemeente_table, i2_table, merge_frequentist, pooled_table
from .variables import pooled_names

log = logging.getLogger(__name__)


def outcome_evidence(evidence: pd.DataFrame, outcome: str) -> pd.DataFrame:
    """The evidence rows a fit of ``outcome`` reads (all members for a joint thresholds fit,
    the outcome's rows for its trajectory fit)."""
    outcome = trajectory_outcome(outcome) or outcome
    fam, dom = threshold_family(outcome), domain_family(outcome)
    members = THRESHOLD_FAMILIES[fam] if fam else DOMAIN_FAMILIES[dom] if dom else (outcome,)
    return evidence[evidence["outcome"].isin(members)]


@dataclass(repr=False)
class MetaResult:
    """A fitted summary-level model for one outcome, with everything reported about it.

    ``print(res)`` gives one screen (k, pooled effect per arm, tau, predictive interval, the
    frequentist twin, diagnostics; :func:`bayes_bijstand.printing.format_meta`); ``repr(res)``
    one line. Tables (``summary()``, ``gemeenten()``) are on the model scale named in their
    ``scale`` column.
    """

    outcome: str
    kind: str
    spec: ModelSpec
    data: MetaData
    table: pd.DataFrame  # every evidence row of the outcome with used/reason
    tree: object  # xarray DataTree: posterior, sample_stats, observed_data, ...
    diagnostics: Diagnostics
    frequentist: pd.DataFrame
    evidence_sha256: str
    pooling: str = "partial"
    extra: dict[str, object] = field(default_factory=dict)
    ci_prob: float = CI_PROB  # the interval level of its tables, figures and twin by default

    @property
    def posterior(self) -> xr.Dataset:
        return self.tree["posterior"].to_dataset()  # type: ignore[index]

    @property
    def display_factor(self) -> float:
        return get_scale(self.kind).display_factor

    @property
    def unit(self) -> str:
        return get_scale(self.kind).unit

    @property
    def scale(self) -> str:
        """The model scale every table value is on: ``risk_difference`` (proportion) or ``smd``."""
        return get_scale(self.kind).name

    def mid(self) -> float:
        return self.spec.priors(self.kind).mid

    def __repr__(self) -> str:
        return (f"<MetaResult {self.outcome}: {len(self.data.gemeenten)} municipalities, "
                f"{len(self.data.arms)} arms, model '{self.spec.name}', {self.pooling} pooling, "
                f"diagnostics {self.diagnostics.status}>")

    def __str__(self) -> str:
        from .printing import format_meta

        return format_meta(self)

    def summary(self, *, ci_prob: float | None = None, all_rows: bool = False) -> pd.DataFrame:
        """Pooled effects with the frequentist columns side by side (model scale, ``scale``).

        By default each quantity appears once: a component ``mu``/``tau`` whose arm of the same
        name is in ``mu_arm``/``tau_arm`` (identical draws) is left out, and the exceedance
        probabilities of the SDs (always 1) are blank. ``all_rows=True`` keeps every row as
        stored (the run's ``summary.json``).
        """
        level = ci_prob or self.ci_prob
        pooled = pooled_table(self.posterior, ci_prob=level, mid=self.mid())
        out = merge_frequentist(pooled, self.twin(ci_prob=level))
        out.insert(0, "outcome", self.outcome)
        out["status"] = self.diagnostics.status
        out["pooling_mode"] = self.pooling
        if all_rows:
            return out
        arm_labels = set(out.loc[out["parameter"] == "mu_arm", "label"])
        dup = out["parameter"].isin(("mu", "tau")) & out["label"].isin(arm_labels)
        out = out[~dup].reset_index(drop=True)
        sd_rows = out["parameter"].isin(pooled_names(sd=True))
        out.loc[sd_rows, ["prob_gt_0", "prob_gt_mid"]] = np.nan
        out.insert(3, "scale", self.scale)
        return out

    def twin(self, *, ci_prob: float | None = None) -> pd.DataFrame:
        """The frequentist twin (REML + Knapp-Hartung per arm), at ``ci_prob`` if given."""
        level = ci_prob or self.ci_prob
        stored = self.frequentist.get("freq_ci_prob")
        if stored is not None and len(stored) and (stored == level).all():
            return self.frequentist
        return _twin(self.data, ci_prob=level)

    def gemeenten(self, *, ci_prob: float | None = None) -> pd.DataFrame:
        """Shrunken gemeente effects beside the published estimates (model scale, ``scale``)."""
        df = gemeente_table(self.posterior, self.data, ci_prob=ci_prob or self.ci_prob,
                            mid=self.mid())
        df.insert(0, "outcome", self.outcome)
        df.insert(3, "scale", self.scale)
        return df

    def i2(self, *, ci_prob: float | None = None) -> pd.DataFrame:
        df = i2_table(self.posterior, self.data, ci_prob=ci_prob or self.ci_prob)
        df.insert(0, "outcome", self.outcome)
        return df

    def coach(self, *, ci_prob: float | None = None) -> pd.DataFrame:
        """The coach component: effects with these coaches vs the average coach, per
        municipality and arm delivered by a known team, and a new municipality's new team
        (:func:`~bayes_bijstand.summaries.coach_table`; empty without a coach component)."""
        df = coach_table(self.posterior, self.data.rows, ci_prob=ci_prob or self.ci_prob)
        if not df.empty:
            df.insert(0, "outcome", self.outcome)
        return df

    def to_netcdf(self, path: str | Path) -> Path:
        """Write the DataTree (with the evidence table and provenance attrs) atomically."""
        tree = self.tree.copy()  # type: ignore[attr-defined]
        tree.attrs.update(_attrs(self))
        with atomic_path(path) as tmp:
            tree.to_netcdf(tmp, engine=netcdf_engine(), mode="w")
        return Path(path)

    @classmethod
    def from_netcdf(cls, path: str | Path) -> MetaResult:
        """The result written by :meth:`to_netcdf`: its tables and figures equal the original's.

        The draws, diagnostics and provenance are read back; the evidence rows come from the
        ``evidence`` group and the model's data and frequentist twin are recomputed from them
        (both are deterministic functions of the rows and the spec).
        """
        tree = xr.open_datatree(path, engine=netcdf_engine()).load()
        a = tree.attrs
        spec = _spec_from_attrs(a)
        table = _table_from_group(tree["evidence"].to_dataset())
        outcome, kind = str(a["outcome"]), str(a["outcome_kind"])
        data = (trajectory_data(table, outcome, kind, spec) if trajectory_outcome(outcome)
                else prepare(table, outcome, kind, spec))
        ci_prob = float(a.get("ci_prob", CI_PROB))
        freq = _twin(data, ci_prob=ci_prob)
        diag = Diagnostics.from_dict(json.loads(str(a["diagnostics"])))
        return cls(outcome=outcome, kind=kind, spec=spec, data=data, table=table, tree=tree,
                   diagnostics=diag, frequentist=freq, evidence_sha256=str(a["evidence_sha256"]),
                   pooling=str(a["pooling"]), ci_prob=ci_prob)


def _twin(data: MetaData, *, ci_prob: float) -> pd.DataFrame:
    """The frequentist twin of a fit's rows (:func:`twin_summary`).

    Arms whose weight row is all zero (a trajectory fit's month-0 pseudo-arm: no effect at
    randomisation) and their rows are left out: they are no effect evidence to pool.
    """
    zero = [a for a, w in zip(data.arms, data.W, strict=True) if not np.any(w)]
    if not zero:
        return twin_summary(data.rows, list(data.arms), list(data.components), data.W,
                            ci_prob=ci_prob)
    keep = [i for i, a in enumerate(data.arms) if a not in zero]
    rows = data.rows[~data.rows["arm"].isin(zero)]
    return twin_summary(rows, [data.arms[i] for i in keep], list(data.components), data.W[keep],
                        ci_prob=ci_prob)


def _versions() -> dict[str, str]:
    import arviz
    import pymc
    import pytensor

    out = {"bayes_bijstand": __version__, "pymc": pymc.__version__, "arviz": arviz.__version__,
           "pytensor": pytensor.__version__, "numpy": np.__version__, "pandas": pd.__version__}
    with contextlib.suppress(ImportError):
        import nutpie

        out["nutpie"] = nutpie.__version__
    return out


def _attrs(res: MetaResult) -> dict[str, str]:
    from dataclasses import asdict

    return {
        "sampler_settings": json.dumps(asdict(res.spec.sampler), sort_keys=True),
        "ci_prob": repr(float(res.ci_prob)),
        "grades": json.dumps(list(res.spec.grades)),
        "outcome": res.outcome, "outcome_kind": res.kind, "model_spec_toml": res.spec.source_text,
        "model_spec_name": res.spec.name, "pooling": res.pooling,
        "evidence_sha256": res.evidence_sha256, "random_seed": str(res.spec.sampler.random_seed),
        "versions": json.dumps(_versions(), sort_keys=True),
        "diagnostics": json.dumps(res.diagnostics.to_dict(), sort_keys=True),
        "modeling_interface": "bayes_bijstand",
    }


def _clean(tree: object) -> object:
    post = tree["posterior"].to_dataset()  # type: ignore[index]
    drop = [v for v in post.data_vars if v.endswith("_offset") or v.endswith("_raw")
            or v == "loglik_censored"]
    tree["posterior"] = post.drop_vars(drop)  # type: ignore[index]
    return tree


def _spec_from_attrs(attrs: dict[str, object]) -> ModelSpec:
    """The spec of a stored fit: its TOML text, sampler settings and evidence grades."""
    import tempfile

    from .specs import load_spec

    name = str(attrs.get("model_spec_name", "spec")) or "spec"
    with tempfile.TemporaryDirectory() as tmp:
        file = Path(tmp) / f"{name}.toml"
        file.write_text(str(attrs["model_spec_toml"]), encoding="utf-8")
        spec = load_spec(file)
    if "sampler_settings" in attrs:
        spec = replace(spec, sampler=SamplerSpec(**json.loads(str(attrs["sampler_settings"]))))
    if "grades" in attrs:
        spec = replace(spec, grades=tuple(json.loads(str(attrs["grades"]))))
    return replace(spec, path="")


def read_fit(path: str | Path) -> tuple[xr.Dataset, pd.DataFrame | None]:
    """The posterior and the evidence table of a stored fit, without rebuilding its model.

    For readers that need draws and rows only (the run's fiscal and thresholds tables);
    :meth:`MetaResult.from_netcdf` gives back the whole result. The table is None where the
    file has no ``evidence`` group.
    """
    tree = xr.open_datatree(path, engine=netcdf_engine())
    try:
        post = tree["posterior"].to_dataset().load()
        table = (_table_from_group(tree["evidence"].to_dataset().load())
                 if "evidence" in tree.children else None)
    finally:
        tree.close()
    return post, table


def _table_from_group(ds: xr.Dataset) -> pd.DataFrame:
    """Inverse of :func:`_evidence_group`: the table with its columns, dtypes and missing values."""
    dtypes = json.loads(str(ds.attrs.get("dtypes", "{}")))
    t = pd.DataFrame({"row_id": ds["estimate"].values.astype(str)})
    for c in ds.data_vars:
        if c.endswith("__isna"):
            continue
        v = ds[c].values
        if v.dtype.kind in "OUS":
            col = pd.Series([_typed(x, ds[c].attrs.get("types", "")) for x in v.astype(str)],
                            dtype=object)
            if f"{c}__isna" in ds:
                na = pd.NA if ds[c].attrs.get("na") == "NA" else np.nan
                col = col.where(~ds[f"{c}__isna"].values.astype(bool), na)
            t[c] = col
        else:
            t[c] = v
    for c, dt in dtypes.items():
        if c in t and dt != "object" and str(t[c].dtype) != dt:
            t[c] = t[c].astype(dt)
    return t[[c for c in dtypes if c in t] or list(t.columns)]


def _typed(x: str, types: str) -> object:
    """A stored string back as the int or float it was in an object column (``types``)."""
    if types == "int" and x != "":
        return int(x)
    if types == "float" and x != "":
        return float(x)
    return x


def _evidence_group(table: pd.DataFrame) -> xr.Dataset:
    """The evidence table as a netCDF-friendly group (dtypes and missing strings recorded,
    so that :func:`_table_from_group` gives the same table back)."""
    t = table.reset_index(drop=True).copy()
    ds = xr.Dataset(coords={"estimate": t["row_id"].astype(str).to_numpy()})
    ds.attrs["dtypes"] = json.dumps({c: str(t[c].dtype) for c in t.columns})
    for c in t.columns:
        if c == "row_id":
            continue
        col = t[c]
        if col.dtype == bool:
            ds[c] = ("estimate", col.to_numpy())
        elif pd.api.types.is_numeric_dtype(col):
            ds[c] = ("estimate", pd.to_numeric(col, errors="coerce").astype(float).to_numpy())
        else:
            ds[c] = ("estimate", col.astype(object).where(col.notna(), "").astype(str).to_numpy())
            vals = [x for x in col if not pd.isna(x)]
            if vals and all(isinstance(x, (int, np.integer)) and not isinstance(x, bool) for x in vals):
                ds[c].attrs["types"] = "int"
            elif vals and all(isinstance(x, (float, np.floating)) for x in vals):
                ds[c].attrs["types"] = "float"
            if col.isna().any():
                ds[f"{c}__isna"] = ("estimate", col.isna().to_numpy())
                ds[c].attrs["na"] = "NA" if any(x is pd.NA for x in col) else "nan"
    return ds


RETRY_LADDER: tuple[tuple[float, int], ...] = ((0.99, 1), (0.999, 2))
"""(target_accept, tune multiplier) of each automatic retry after a fit fails the gate with
divergent transitions or a low E-BFMI.

Both rungs only shrink the step size (and the second lengthens adaptation): the posterior
is the same, so a passing retry is the same fit sampled more carefully. The divergences
of first attempts in the shipped evidence are rare (1-11 in 4,000 transitions) jumps in
energy where a strongly informative municipality meets a wide tau (Nijmegen's bundled
arms with a significance marker); a smaller step removes them (a warm-up of 400 vs 1,000
iterations made no systematic difference). A fit that fails every retry is
reported as failed.
"""

MAX_RETRIES = len(RETRY_LADDER)
"""Automatic retries after a failed gate, of either kind (step size or draws)."""

DRAWS_RETRY_MAX_FACTOR = 4.0
"""At most this many times the draws in a retry for too few effective draws."""


def _retry_settings(s: SamplerSpec, diag: Diagnostics, rung: int
                    ) -> tuple[SamplerSpec, dict[str, float], int]:
    """The next attempt after ``diag`` failed: its sampler settings, what changed, next rung.

    Divergences or a low E-BFMI are a step-size problem: the next rung of
    :data:`RETRY_LADDER`. Without them the chains explore the posterior but are too short
    for the R-hat / ESS thresholds (tail ESS 395 of 400 from 2,000 draws, say), and a smaller
    step does not lengthen them: the retry draws more (ESS grows about linearly with draws),
    enough for the threshold with a 20% margin (at least 1.5x, at most
    :data:`DRAWS_RETRY_MAX_FACTOR`), at the same step-size settings.
    """
    step_problem = diag.divergences > 0 or (np.isfinite(diag.bfmi_min)
                                             and diag.bfmi_min < BFMI_MIN)
    if step_problem and rung < len(RETRY_LADDER):
        ta, mult = RETRY_LADDER[rung]
        settings = {"target_accept": max(ta, s.target_accept), "tune": s.tune * mult}
        return (replace(s, target_accept=settings["target_accept"], tune=int(settings["tune"])),
                settings, rung + 1)
    ess = min(diag.ess_bulk_min, diag.ess_tail_min)
    factor = 1.2 * ESS_MIN / ess if np.isfinite(ess) and 0 < ess < ESS_MIN else 2.0
    factor = min(max(factor, 1.5), DRAWS_RETRY_MAX_FACTOR)
    draws = int(np.ceil(s.draws * factor / 100.0) * 100)
    return replace(s, draws=draws), {"draws": draws}, rung


def _note_retry(diag: Diagnostics, first: list[str], settings: dict[str, float]) -> Diagnostics:
    diag.retried = True
    diag.retry_settings = settings
    diag.problems = [f"first attempt: {'; '.join(first)}"] + diag.problems if not diag.passed \
        else [f"passed on retry (first attempt: {'; '.join(first)})"]
    return diag


def _sample_with_retries(sample: Callable[[SamplerSpec], object], s: SamplerSpec, *,
                         rungs: int) -> tuple[object, Diagnostics]:
    """``sample(s)``, checked by the gate, resampled up to ``rungs`` times (:func:`_retry_settings`
    picks each retry's settings from the failed attempt's diagnostics; a rung whose settings
    the fit already has is skipped, not counted)."""
    tree = sample(s)
    diag = check(tree)
    first = diag.problems
    settings: dict[str, float] = {}
    cur, rung, retries = s, 0, 0
    while retries < rungs and not diag.passed:
        nxt, changed, rung = _retry_settings(cur, diag, rung)
        if nxt == cur:  # a fit that starts at this rung's settings: the same draws again
            continue
        cur, settings, retries = nxt, {**settings, **changed}, retries + 1
        tree = sample(cur)
        diag = _note_retry(check(tree), first, settings)
    return tree, diag


def _fit(data: MetaData, spec: ModelSpec, pooling: str, *, cores: int, progressbar: bool,
         retry: bool, prior_predictive: bool,
         posterior_predictive: bool, exact: bool = True) -> tuple[object, Diagnostics]:
    """Sample the model with the spec's sampler backend; the gate and its retries."""
    from .models import backends

    tree, diag = _sample_with_retries(
        lambda s: backends.sample(data, spec, pooling, s, cores=cores, progressbar=progressbar,
                                  posterior_predictive=posterior_predictive, exact=exact),
        spec.sampler, rungs=MAX_RETRIES if retry else 0)
    post = tree["posterior"].to_dataset()  # type: ignore[index]
    if prior_predictive:
        pr = backends.prior_draws(data, spec, pooling, spec.sampler.random_seed)
        if pr is not None:
            tree["prior"] = pr  # type: ignore[index]
    tree["posterior"] = post.drop_vars("row_mean")  # type: ignore[index]
    return tree, diag


def fit_meta(
    evidence: pd.DataFrame,
    spec: ModelSpec,
    outcome: str,
    *,
    pooling: str | None = None,
    cores: int = 2,
    progressbar: bool = False,
    retry: bool = True,
    grades: tuple[str, ...] | None = None,
    prior_predictive: bool = True,
    posterior_predictive: bool = True,
    ci_prob: float = CI_PROB,
    exact: bool = True,
) -> MetaResult:
    """Fit the summary-level model of ``spec`` to one outcome of ``evidence``.

    ``pooling`` overrides the spec's pooling mode (for the no/full-pooling comparison fits);
    ``grades`` restricts the evidence grades (for the grade-contribution refits).
    ``ci_prob``: the interval level of the result's tables, printout, figures and frequentist
    twin (default :data:`~bayes_bijstand.constants.CI_PROB`, 90%).
    ``exact``: where the data make the model normal-normal (one arm, one row with a printed
    SE per municipality, nothing else), draw exactly instead of running MCMC
    (:func:`bayes_bijstand.models.backends.exact_applies`; ``False`` forces the sampler).

    Every sampler runs the same model (:mod:`bayes_bijstand.models.summary_level`):
    ``spec.sampler.sampler == "nutpie"`` compiles its graph once per padding in the process
    and reuses it for every outcome; ``"pymc"`` runs ``pm.sample`` on the same graph.
    """
    kind = outcome_kind(outcome)
    if grades is not None:
        spec = replace(spec, grades=grades)
    pooling = pooling or spec.pooling
    fam = threshold_family(outcome)
    dom = domain_family(outcome)
    base = trajectory_outcome(outcome)
    if fam:  # the thresholds of one variable, one latent shift
        table, data = prepare_joint(evidence, fam, spec)
    elif dom:  # related survey items: one effect per municipality and arm
        table, data = prepare_domain(evidence, dom, spec)
    elif base:  # every time point of the outcome: a level and a slope per unit
        table, data = prepare_trajectory(evidence, base, kind, spec)
    else:
        table = select_rows(evidence, outcome, kind, spec)
        data = prepare(table, outcome, kind, spec)
    tree, diag = _fit(data, spec, pooling, cores=cores, progressbar=progressbar, retry=retry,
                      prior_predictive=prior_predictive, posterior_predictive=posterior_predictive,
                      exact=exact)
    tree = _clean(tree)
    tree["evidence"] = _evidence_group(table)
    freq = _twin(data, ci_prob=ci_prob)
    ev_hash = evidence_hash(outcome_evidence(evidence, outcome))
    return MetaResult(outcome=outcome, kind=kind, spec=spec, data=data, table=table, tree=tree,
                      diagnostics=diag, frequentist=freq, evidence_sha256=ev_hash, pooling=pooling,
                      ci_prob=ci_prob)


def fit_key(evidence: pd.DataFrame, spec: ModelSpec, outcome: str, pooling: str,
            grades: tuple[str, ...] | None = None) -> str:
    """Content hash of everything that determines a fit (for resuming interrupted runs)."""
    ev = evidence_hash(outcome_evidence(evidence, outcome))
    return sha256_text("|".join([ev, spec.source_text or repr(spec), outcome, pooling,
                                 ",".join(grades or spec.grades), repr(spec.sampler), __version__]))[:16]
