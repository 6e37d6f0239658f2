"""One-stage person-level models (bambi) with gemeente-varying arm effects and coach effects.

Model (bernoulli; ``family="gaussian"`` swaps the likelihood and the identity link)::

    logit P(y_i = 1) = b0 + arm_i' beta + x_i' gamma              fixed: pooled arm effects
                       + a_g + arm_i' d_g                           (arm | gemeente), SD tau
                       + u_{coach(i)}                               (1 | gemeente:coach)

``beta`` is the pooled log-odds effect of each arm vs control, ``tau`` (bambi's
``arm|gemeente_sigma``, one per arm) the between-gemeente SD of that effect, and
``sigma_coach`` (``1|gemeente:coach_sigma``) the SD of coach intercepts. On the probability
scale each arm's **average marginal effect** (AME) is computed from posterior predictions:
for every person in a gemeente that randomised that arm, predict with the arm set to the arm
and to control (same gemeente, coach and covariates) and average the difference.

Why the rewrites below: coach ids are validated to be nested in gemeente, so
``(1 | gemeente:coach)`` is fitted as ``(1 | coach_key)`` with gemeente-prefixed ids; bambi
would otherwise create a level for every gemeente x coach combination (mostly empty).
Bernoulli rows with only categorical predictors are collapsed exactly into binomial cells
(:func:`~bayes_bijstand.microdata.collapse_binary`): same posterior, far fewer rows.
"""

from __future__ import annotations

import re
import time
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import pandas as pd
import xarray as xr

from bayes_bijstand.constants import CI_PROB
from bayes_bijstand.microdata import (
    ARMS,
    COVARIATES,
    anonymise_coaches,
    collapse_binary,
    disclosure_check,
    is_binary,
    validate_microdata,
)
from bayes_bijstand.numerics import exact_float

DEFAULT_FORMULA = ("work_gt12h_m24 ~ arm + covariates + (arm | gemeente) "
                   "+ (1 | gemeente:coach)")
COACH_KEY = "coach_key"
_SAMPLE_DIMS = ("chain", "draw")


class CoachArmConfoundingWarning(UserWarning):
    """A coach serves only one arm, so coach and arm effects are (partly) confounded."""


# --------------------------------------------------------------------------- identification


def coach_arm_table(data: pd.DataFrame) -> pd.DataFrame:
    """One row per gemeente x coach: arms served, clients, and whether the coach is exclusive.

    ``exclusive`` means the coach serves only one arm in a gemeente that randomised several.
    Clients without a recorded coach are reported as coach ``None``.
    """
    d = data.assign(coach=data["coach"].astype(object).where(data["coach"].notna(), "(none)"))
    g = d.groupby(["gemeente", "coach"], sort=True, observed=True)
    arms_in_g = d.groupby("gemeente", observed=True)["arm"].nunique()
    out = g.agg(n_clients=("arm", "size"),
                arms=("arm", lambda s: ";".join(sorted(map(str, s.unique()))))).reset_index()
    out["n_arms"] = out["arms"].str.count(";") + 1
    out["exclusive"] = (out["n_arms"] == 1) & (out["gemeente"].map(arms_in_g) > 1)
    return out


def confounded_arms(data: pd.DataFrame) -> pd.DataFrame:
    """Gemeente x arm cells whose every client is served by coaches exclusive to that arm."""
    t = coach_arm_table(data)
    t = t[t["coach"] != "(none)"]
    rows = []
    for (g, arm), cell in t.assign(arm=t["arms"]).groupby(["gemeente", "arm"]):
        if ";" in arm:
            continue
        served = data[(data["gemeente"] == g) & (data["arm"] == arm)]
        shared = t[(t["gemeente"] == g) & t["arms"].str.split(";").map(lambda a, x=arm: x in a)
                   & ~t["exclusive"]]
        if cell["exclusive"].all() and shared.empty:
            rows.append({"gemeente": g, "arm": arm, "n_coaches": len(cell),
                         "n_clients": len(served)})
    return pd.DataFrame(rows, columns=["gemeente", "arm", "n_coaches", "n_clients"])


def identification_report(data: pd.DataFrame) -> str:
    """Plain-text account of what the coach/arm structure identifies and what it does not."""
    data = _ensure_valid(data)
    t = coach_arm_table(data)
    conf = confounded_arms(data)
    real = t[t["coach"] != "(none)"]
    lines = [
        f"Coaches: {len(real)} in {real['gemeente'].nunique()} gemeenten; "
        f"{int(real['exclusive'].sum())} serve a single arm, "
        f"{int((real['n_arms'] > 1).sum())} serve several arms.",
    ]
    none = t[t["coach"] == "(none)"]
    for _, r in none.iterrows():
        lines.append(f"- {r['gemeente']}: {r['n_clients']} clients without a coach "
                     f"(arms {r['arms']}); they share one pseudo-coach intercept.")
    if conf.empty:
        lines.append("No arm is delivered only by its own coaches: arm effects are identified "
                     "from within-coach contrasts as well as between coaches.")
    else:
        lines.append("Arms delivered only by coaches who serve no other arm (coach and arm "
                     "confounded):")
        for _, r in conf.iterrows():
            lines.append(f"- {r['gemeente']} / {r['arm']}: {r['n_coaches']} coach(es), "
                         f"{r['n_clients']} clients")
    lines += [
        "",
        "Identified: sigma_coach, from differences between coaches within the same arm and "
        "gemeente (and from coaches serving several arms); the pooled arm effects and tau.",
        "Identified only by assumption: for a confounded arm, the arm effect is separated from "
        "its coaches' effects only by assuming those coaches are a random draw from the coach "
        "population (their mean intercept is 0 in expectation). With K coaches this adds about "
        "sigma_coach / sqrt(K) to the arm effect's uncertainty; with K = 1 the split rests on "
        "the prior alone.",
        "Not identified: whether a confounded arm's effect comes from the intervention or from "
        "who delivered it. Read such effects as 'the intervention as delivered by these "
        "coaches'. Coach-specific arm effects (coach_slopes=True) exist only for coaches who "
        "serve several arms; for the others they equal the prior.",
    ]
    return "\n".join(lines)


def _warn_confounding(data: pd.DataFrame) -> str | None:
    conf = confounded_arms(data)
    if conf.empty:
        return None
    cells = ", ".join(f"{r.gemeente}/{r.arm} ({r.n_coaches} coach{'es' if r.n_coaches > 1 else ''})"
                      for r in conf.itertuples())
    msg = ("coach and arm are confounded: in " + cells + " every client is served by coaches "
           "who serve no other arm. The arm effect there is separated from coach effects only "
           "by assuming coaches are exchangeable (mean coach effect 0); see "
           "identification_report(data).")
    warnings.warn(msg, CoachArmConfoundingWarning, stacklevel=3)
    return msg


# --------------------------------------------------------------------------- formula handling


@dataclass(frozen=True)
class PreparedData:
    """What goes into bambi: the (possibly collapsed) frame, the rewritten formula, family."""

    frame: pd.DataFrame
    formula: str
    family: str
    outcome: str
    predictors: tuple[str, ...]
    collapsed: bool
    n_persons: int


def _expand_formula(formula: str, data: pd.DataFrame, coach_slopes: bool) -> tuple[str, str]:
    if "~" not in formula:
        raise ValueError(f"formula needs 'outcome ~ predictors', got {formula!r}")
    lhs, rhs = (s.strip() for s in formula.split("~", 1))
    covs = [c for c in COVARIATES if c in data.columns]
    rhs = re.sub(r"\bcovariates\b", " + ".join(covs) if covs else "1", rhs)
    rhs = re.sub(r"\bgemeente\s*:\s*coach\b|\bcoach\s*:\s*gemeente\b", COACH_KEY, rhs)
    rhs = re.sub(r"(?<![\w:])coach(?![\w:])", COACH_KEY, rhs)
    if coach_slopes:
        rhs += f" + (0 + arm | {COACH_KEY})"
    return lhs, rhs


def _rhs_variables(rhs: str, columns: Sequence[str]) -> list[str]:
    names = set(re.findall(r"[A-Za-z_][A-Za-z0-9_]*", rhs))
    return [c for c in columns if c in names]


def prepare(data: pd.DataFrame, *, formula: str = DEFAULT_FORMULA,
            family: Literal["bernoulli", "gaussian"] = "bernoulli",
            participants_only: bool = False, coach_slopes: bool = False,
            collapse: bool | None = None) -> PreparedData:
    """Validate, subset, rewrite the formula and (if possible) collapse to binomial cells.

    ``collapse=None`` collapses whenever the family is bernoulli and every predictor is
    categorical; ``collapse=True`` raises if that is not possible.
    """
    if family not in ("bernoulli", "gaussian"):
        raise ValueError(f"family must be 'bernoulli' or 'gaussian', got {family!r}")
    d = _ensure_valid(data)
    lhs, rhs = _expand_formula(formula, d, coach_slopes)
    if lhs not in d.columns:
        raise ValueError(f"outcome {lhs!r} is not a column of the data")
    if family == "bernoulli" and not is_binary(lhs):
        raise ValueError(f"{lhs!r} is a score; use family='gaussian'")
    if participants_only:
        d = d[d["participated"] == 1]
    d = d[d[lhs].notna()].copy()
    d[COACH_KEY] = (d["gemeente"].astype(str) + "/"
                    + d["coach"].astype(object).where(d["coach"].notna(), "none").astype(str))
    d["arm"] = pd.Categorical(d["arm"].astype(str),
                              categories=[a for a in ARMS if a in set(d["arm"].astype(str))])
    if d["arm"].cat.categories[0] != "control":
        raise ValueError("no control group in the data: arm effects are defined vs control")
    preds = _rhs_variables(rhs, list(d.columns))
    for c in preds:
        if c != "arm" and not pd.api.types.is_numeric_dtype(d[c]):
            d[c] = d[c].astype(str)
    categorical = all(not pd.api.types.is_numeric_dtype(d[c]) or c == "arm" for c in preds)
    if collapse is None:
        collapse = family == "bernoulli" and categorical
    if collapse and not (family == "bernoulli" and categorical):
        raise ValueError("collapse=True needs family='bernoulli' and categorical predictors")
    if collapse:
        frame = collapse_binary(d, lhs, preds)
        bformula = f"p(successes, trials) ~ {rhs}"
        bfamily = "binomial"
    else:
        frame = d[[*preds, lhs]].copy()
        frame[lhs] = frame[lhs].astype(float)
        bformula = f"{lhs} ~ {rhs}"
        bfamily = family
    return PreparedData(frame.reset_index(drop=True), bformula, bfamily, lhs, tuple(preds),
                        collapse, len(d))


def _ensure_valid(data: pd.DataFrame) -> pd.DataFrame:
    if data.attrs.get("validated_by") == "bayes_bijstand.microdata":
        return data
    out = validate_microdata(data, file=str(data.attrs.get("source_file", "<DataFrame>")))
    out.attrs["validated_by"] = "bayes_bijstand.microdata"
    return out


def default_priors(family: str) -> dict[str, Any]:
    """Weakly informative priors on the log-odds (or standardised score) scale.

    Why: bambi's auto-scaled HalfNormal priors on group SDs are very wide for binomial
    models (SD 6-35 on the log-odds scale); with 1-4 gemeenten per arm, tau is then barely
    constrained and NUTS diverges. Effects of a few tenths of a log-odds unit are the
    plausible range for these interventions.
    """
    import bambi as bmb

    if family not in ("bernoulli", "binomial"):
        return {}
    return {
        "arm": bmb.Prior("Normal", mu=0.0, sigma=1.0),
        "arm|gemeente": bmb.Prior("Normal", mu=0.0,
                                  sigma=bmb.Prior("HalfNormal", sigma=0.5)),
        f"1|{COACH_KEY}": bmb.Prior("Normal", mu=0.0, sigma=bmb.Prior("HalfNormal", sigma=0.5)),
    }


# --------------------------------------------------------------------------- result


@dataclass
class PersonLevelResult:
    """A fitted person-level model: posterior tree, formula, tidy summaries, coach effects.

    ``tree`` is bambi's InferenceData (an xarray DataTree). ``ame`` holds the posterior draws
    of the average marginal effect of each arm vs control on the probability (or score)
    scale, dims ``(chain, draw, arm)``.
    """

    tree: Any
    formula: str
    bambi_formula: str
    family: str
    estimand: Literal["itt", "participants"]
    collapsed: bool
    n_persons: int
    n_rows: int
    ame: xr.DataArray
    sampling_seconds: float
    sampler: str
    confounding_warning: str | None = None
    model: Any = field(default=None, repr=False)
    prepared: PreparedData | None = field(default=None, repr=False)

    @property
    def idata(self) -> Any:
        """Alias of ``tree`` (bambi / arviz name)."""
        return self.tree

    def summary(self, ci_prob: float | None = None) -> pd.DataFrame:
        """Tidy table: arm effects (log-odds and percentage points), tau per arm, sigma_coach.

        Columns: term, arm, scale, estimate (posterior mean), se (posterior SD), ci_low,
        ci_high, ci_prob (equal-tailed), ess_bulk, r_hat, method.
        """
        p = CI_PROB if ci_prob is None else ci_prob
        post = self.tree["posterior"].to_dataset()
        rows: list[dict[str, Any]] = []
        coef_scale = "log_odds" if self.family != "gaussian" else "score"
        ame_scale = "percentage_points" if self.family != "gaussian" else "score"
        arm_dim = _dim_of(post["arm"]) if "arm" in post else None
        if arm_dim is not None:
            for a in post[arm_dim].values:
                rows.append(_row(post["arm"].sel({arm_dim: a}), "arm", str(a), coef_scale, p))
        mult = 100.0 if self.family != "gaussian" else 1.0
        for a in self.ame["arm"].values:
            rows.append(_row(self.ame.sel(arm=a) * mult, "ame", str(a), ame_scale, p))
        tau_name = "arm|gemeente_sigma"
        if tau_name in post:
            dim = _dim_of(post[tau_name])
            for a in post[dim].values:
                rows.append(_row(post[tau_name].sel({dim: a}), "tau", str(a), coef_scale, p))
        if "1|gemeente_sigma" in post:
            rows.append(_row(post["1|gemeente_sigma"], "tau_intercept", "", coef_scale, p))
        sc = f"1|{COACH_KEY}_sigma"
        if sc in post:
            rows.append(_row(post[sc], "sigma_coach", "", coef_scale, p))
        out = pd.DataFrame(rows)
        out["method"] = f"bayes_person_{self.estimand}"
        return out

    def coach_effects(self, *, reveal_coach_ids: bool = False, min_cell: int = 10,
                      ci_prob: float | None = None) -> pd.DataFrame:
        """Posterior coach intercepts, anonymised (``coach 1..K`` by posterior mean) and
        disclosure-checked (coaches with fewer than ``min_cell`` clients suppressed)."""
        p = CI_PROB if ci_prob is None else ci_prob
        name = f"1|{COACH_KEY}"
        post = self.tree["posterior"]
        if name not in post:
            raise ValueError("model has no coach intercepts")
        da = post[name]
        dim = _dim_of(da)
        frame = self.prepared.frame if self.prepared is not None else None
        counts = (frame.groupby(COACH_KEY)["trials"].sum() if frame is not None
                  and "trials" in frame else frame.groupby(COACH_KEY).size())
        rows = []
        for k in da[dim].values:
            g, _, coach = str(k).partition("/")
            r = _row(da.sel({dim: k}), "coach_intercept", "", "log_odds", p)
            rows.append({"gemeente": g, "coach": coach, "mean": r["estimate"],
                         "se": r["se"], "ci_low": r["ci_low"], "ci_high": r["ci_high"],
                         "ci_prob": p, "n_clients": int(counts.get(k, 0))})
        t = pd.DataFrame(rows)
        t = pd.concat([anonymise_coaches(tg, reveal_coach_ids=reveal_coach_ids)
                       for _, tg in t.groupby("gemeente", sort=True)], ignore_index=True)
        return disclosure_check(t, min_cell, count_columns=["n_clients"])


def _dim_of(da: xr.DataArray) -> str:
    dims = [d for d in da.dims if d not in _SAMPLE_DIMS]
    return dims[0]


def _row(da: xr.DataArray, term: str, arm: str, scale: str, p: float) -> dict[str, Any]:
    import arviz as az

    x = np.asarray(da.transpose(*_SAMPLE_DIMS).values, dtype=float)
    lo, hi = np.quantile(x, [(1 - p) / 2, (1 + p) / 2])
    ess = float(az.ess(x[..., None], chain_axis=0, draw_axis=1).squeeze()) \
        if x.shape[0] * x.shape[1] > 3 else np.nan
    rh = float(az.rhat(x[..., None], chain_axis=0, draw_axis=1).squeeze()) \
        if x.shape[0] > 1 else np.nan
    return {"term": term, "arm": arm, "scale": scale, "estimate": float(x.mean()),
            "se": float(x.std(ddof=1)), "ci_low": float(lo), "ci_high": float(hi),
            "ci_prob": p, "ess_bulk": ess, "r_hat": rh}


# --------------------------------------------------------------------------- fitting


def fit_person(
    data: pd.DataFrame,
    *,
    formula: str = DEFAULT_FORMULA,
    family: Literal["bernoulli", "gaussian"] = "bernoulli",
    participants_only: bool = False,
    coach_slopes: bool = False,
    collapse: bool | None = None,
    priors: Mapping[str, Any] | None = None,
    draws: int = 1000,
    tune: int = 1000,
    chains: int = 4,
    random_seed: int = 2017,
    sampler: Literal["nutpie", "pymc"] = "nutpie",
    cores: int | None = None,
    target_accept: float | None = None,
    progressbar: bool = False,
) -> PersonLevelResult:
    """Fit the person-level model with bambi and summarise it (see module docstring).

    ``participants_only=False`` gives intention-to-treat effects (by assignment);
    ``True`` restricts to clients who took part (not randomised: selection may differ by arm,
    notably in Groningen's Zelen design). ``collapse`` defaults to collapsing Bernoulli rows
    into binomial cells when every predictor is categorical. A
    :class:`CoachArmConfoundingWarning` is issued when an arm is delivered only by its own
    coaches. ``cores=1`` samples chains sequentially in-process (faster for tiny models,
    where starting worker processes dominates). ``target_accept`` (default: the sampler's)
    applies to both samplers.
    """
    import bambi as bmb

    if sampler not in ("nutpie", "pymc"):
        raise ValueError(f"sampler must be 'nutpie' or 'pymc', got {sampler!r}")
    prep = prepare(data, formula=formula, family=family, participants_only=participants_only,
                   coach_slopes=coach_slopes, collapse=collapse)
    valid = _ensure_valid(data)
    sub = valid[valid["participated"] == 1] if participants_only else valid
    msg = _warn_confounding(sub) if "coach" in prep.formula or COACH_KEY in prep.formula else None
    pri = {**default_priors(prep.family), **(priors or {})}
    pri = {k: v for k, v in pri.items() if _term_in(k, prep.formula)}
    model = bmb.Model(prep.formula, prep.frame, family=prep.family, priors=pri or None)
    kwargs: dict[str, Any] = {"progressbar": progressbar}
    if cores is not None:
        kwargs["cores"] = cores
    if target_accept is not None:
        kwargs["target_accept"] = target_accept  # pm.sample forwards it to nutpie too
    t0 = time.perf_counter()
    with warnings.catch_warnings(), exact_float():
        warnings.filterwarnings("ignore", category=FutureWarning)
        tree = model.fit(draws=draws, tune=tune, chains=chains, random_seed=random_seed,
                         inference_method=sampler, **kwargs)
    secs = time.perf_counter() - t0
    ame = average_marginal_effects(model, tree, prep)
    return PersonLevelResult(
        tree=tree, formula=formula, bambi_formula=prep.formula, family=family,
        estimand="participants" if participants_only else "itt", collapsed=prep.collapsed,
        n_persons=prep.n_persons, n_rows=len(prep.frame), ame=ame, sampling_seconds=secs,
        sampler=sampler, confounding_warning=msg, model=model, prepared=prep)


def _term_in(term: str, formula: str) -> bool:
    rhs = formula.split("~", 1)[1].replace(" ", "")
    if "|" in term:
        expr, grp = term.split("|")
        return f"|{grp})" in rhs and (expr == "1" or expr in rhs)
    return re.search(rf"(?<![\w|]){re.escape(term)}(?![\w|])", rhs) is not None


def average_marginal_effects(model: Any, tree: Any, prep: PreparedData) -> xr.DataArray:
    """AME of each arm vs control from posterior predictions, dims ``(chain, draw, arm)``.

    For arm ``a`` the prediction frame is every cell of the gemeenten that randomised ``a``;
    the mean response is predicted with arm set to ``a`` and to ``control`` and the
    difference averaged with cell weights (trials when collapsed, else 1). Coach and
    gemeente effects are those of each cell (the effect 'holding the coach fixed').
    Additive formulas (main effects, group intercepts, arm slopes) are evaluated directly
    from the posterior draws; anything else goes through ``model.predict``.
    """
    f = prep.frame
    w = f["trials"].to_numpy(float) if prep.collapsed else np.ones(len(f))
    keys = [c for c in prep.predictors if c != "arm"]
    cats = f["arm"].cat.categories
    arms = [a for a in cats if a != "control"]
    post = tree["posterior"]
    nc, nd = post.sizes["chain"], post.sizes["draw"]
    out = np.full((nc, nd, len(arms)), np.nan)
    terms = _additive_terms(prep.formula)
    for j, a in enumerate(arms):
        sel = (f["gemeente"].isin(f.loc[f["arm"] == a, "gemeente"].unique()).to_numpy()
               if "gemeente" in f else np.ones(len(f), dtype=bool))
        cells = (f.loc[sel, keys].assign(_w=w[sel])
                 .groupby(keys, sort=False, observed=True, dropna=False)["_w"].sum()
                 .reset_index()) if keys else pd.DataFrame({"_w": [w[sel].sum()]})
        wt = cells["_w"].to_numpy(float)
        wt = wt / wt.sum()
        if terms is not None:
            mu_a = _mean_response(post, terms, cells, a, prep.family)
            mu_c = _mean_response(post, terms, cells, "control", prep.family)
        else:
            mu_a, mu_c = (_predict(model, tree, cells, level, cats, prep.collapsed)
                          for level in (a, "control"))
        out[:, :, j] = (mu_a - mu_c) @ wt
    return xr.DataArray(out, dims=("chain", "draw", "arm"),
                        coords={"chain": post["chain"].values, "draw": post["draw"].values,
                                "arm": arms}, name="ame")


def _predict(model: Any, tree: Any, cells: pd.DataFrame, level: str, cats: Sequence[str],
             collapsed: bool) -> np.ndarray:
    frame = cells.drop(columns="_w").assign(
        arm=pd.Categorical([level] * len(cells), categories=cats))
    if collapsed:
        frame["trials"] = 1
    pred = model.predict(tree, kind="response_params", data=frame, inplace=False)
    mu = pred["posterior"][model.family.likelihood.parent]
    return np.asarray(mu.transpose("chain", "draw", ...).values)


def _split_top(rhs: str) -> list[str]:
    parts, depth, cur = [], 0, ""
    for ch in rhs:
        depth += ch == "("
        depth -= ch == ")"
        if ch == "+" and depth == 0:
            parts.append(cur.strip())
            cur = ""
        else:
            cur += ch
    parts.append(cur.strip())
    return [p for p in parts if p]


def _additive_terms(formula: str) -> list[tuple[str, str, str]] | None:
    """Terms as (posterior name, kind, column) or None if the formula is not additive.

    kinds: ``fixed`` (categorical or numeric main effect), ``group`` (intercept by group),
    ``slope`` (arm effect by group).
    """
    rhs = formula.split("~", 1)[1]
    out: list[tuple[str, str, str]] = [("Intercept", "intercept", "")]
    for t in _split_top(rhs):
        m = re.fullmatch(r"\(\s*(.+?)\s*\|\s*(\w+)\s*\)", t)
        if m:
            expr, grp = m[1].replace(" ", ""), m[2]
            if expr in ("1", "arm", "1+arm"):
                out.append((f"1|{grp}", "group", grp))
            if expr in ("arm", "1+arm", "0+arm"):
                out.append((f"arm|{grp}", "slope", grp))
            elif expr != "1":
                return None
        elif re.fullmatch(r"\w+", t):
            if t in ("1",):
                continue
            if t == "0":
                out = [o for o in out if o[0] != "Intercept"]
                continue
            out.append((t, "fixed", t))
        else:
            return None
    return out


def _coef(da: xr.DataArray, labels: np.ndarray) -> np.ndarray:
    """Coefficients for each label, 0 where the label is the (dropped) reference level."""
    dim = _dim_of(da)
    idx = pd.Index([str(v) for v in da[dim].values]).get_indexer([str(v) for v in labels])
    vals = np.asarray(da.transpose("chain", "draw", dim).values)
    res = vals[:, :, np.where(idx < 0, 0, idx)]
    res[:, :, idx < 0] = 0.0
    return res


def _mean_response(post: Any, terms: list[tuple[str, str, str]], cells: pd.DataFrame,
                   arm: str, family: str) -> np.ndarray:
    """Posterior mean response of every cell with its arm set to ``arm``."""
    n = len(cells)
    eta = np.zeros((post.sizes["chain"], post.sizes["draw"], n))
    arms = np.full(n, arm, dtype=object)
    for name, kind, col in terms:
        if name not in post:
            continue
        da = post[name]
        if kind == "intercept":
            eta += np.asarray(da.transpose("chain", "draw").values)[:, :, None]
        elif kind == "fixed" and col == "arm":
            eta += _coef(da, arms)
        elif kind == "fixed":
            if pd.api.types.is_numeric_dtype(cells[col]):
                b = np.asarray(da.transpose("chain", "draw", ...).values).reshape(
                    post.sizes["chain"], post.sizes["draw"])
                eta += b[:, :, None] * cells[col].to_numpy(float)[None, None, :]
            else:
                eta += _coef(da, cells[col].to_numpy())
        elif kind == "group":
            eta += _coef(da, cells[col].to_numpy())
        elif kind == "slope":
            expr_dim, grp_dim = (d for d in da.dims if d not in _SAMPLE_DIMS)
            a_idx = pd.Index([str(v) for v in da[expr_dim].values]).get_indexer([arm])[0]
            if a_idx < 0:
                continue
            eta += _coef(da.isel({expr_dim: a_idx}), cells[col].to_numpy())
    if family in ("binomial", "bernoulli"):
        return 1.0 / (1.0 + np.exp(-eta))
    return eta
