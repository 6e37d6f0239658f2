"""One-stage person-level models (bambi): coach variation as heterogeneity of the delivered treatment.

Default model (bernoulli; ``family="gaussian"`` swaps the likelihood and the identity link)::

    logit P(y_i = 1) = b0 + gamma * participated_i + x_i' g             fixed part
                       + a_g + d_{g, delivered(i)}                      (delivered | gemeente)
                       + caseworker_i * v_{cw(i)}                       (1 | gemeente:caseworker)
                       + delivered_i' beta + coach_i * u_{coach(i)}     delivered treatment

``delivered(i)`` is client i's assigned arm if the client took part (``participated == 1``)
in a treated arm, else ``none``; ``beta`` (posterior ``delivered``, reported as term ``arm``)
is the log-odds effect of receiving arm a for a participant. Coaches come in two roles
(:func:`coach_roles`): **experiment coaches** serve only participants of treated arms and
exist because of the assignment, so their term ``u`` (SD ``sigma_coach``) is a deviation of the
*delivered effect* by coach, mean zero around ``beta``, switched on only for the clients they
treated (``coach_i = 1``); **caseworkers** (regular klantmanagers, who serve control clients
and non-participants alike) are an ordinary cluster, intercepts ``v`` with SD
``sigma_caseworker``. A coach intercept for an arm-exclusive coach would absorb the arm
effect (a mediator, not a pre-randomisation cluster); here it cannot.

Estimands, on the probability scale, from posterior predictions with the delivered
treatment switched on (as observed) and off (``delivered = none``, no coach deviation):

- ``ame`` (ITT): averaged over every client *assigned* to arm a; non-participants contribute
  0, so it is diluted by take-up and is identified by the randomisation;
- ``ame_participants``: averaged over the participants of arm a (the effect on those who
  received it);
- ``sigma_coach``: SD of the delivered effect across experiment coaches (log-odds).

Formulas with ``arm`` instead of ``delivered`` fit the older assignment model
(``arm + (arm | gemeente) + (1 | gemeente:coach)``: effects by assignment, coach intercepts
for every coach); its AME sets the arm to a and to control for every client of the gemeenten
that randomised a. :func:`identification_report` says what each model identifies.

Why the rewrites below: coach ids are validated to be nested in gemeente, so
``(1 | gemeente:coach)`` is fitted with gemeente-prefixed ids; bambi would otherwise create
a level for every gemeente x coach combination (mostly empty). Role terms are fitted as
numeric slopes by group (``(0 + coach_on | coach_key)``) so that clients outside the role
get no term at all. Bernoulli rows with only discrete predictors are collapsed exactly into
binomial cells (:func:`~bayes_bijstand.microdata.collapse_binary`): same posterior, far
fewer rows.
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
    collapse_binary,
    disclosure_check,
    is_binary,
    validate_microdata,
)
from bayes_bijstand.numerics import exact_float

DEFAULT_FORMULA = ("work_gt12h_m24 ~ delivered + participated + covariates "
                   "+ (delivered | gemeente) + (1 | gemeente:caseworker) "
                   "+ (0 + delivered | gemeente:coach)")
"""The delivered-treatment model (see the module docstring)."""
ASSIGNED_FORMULA = ("work_gt12h_m24 ~ arm + covariates + (arm | gemeente) "
                    "+ (1 | gemeente:coach)")
"""The assignment model: arm effects by assignment, intercepts for every coach."""
COACH_KEY = "coach_key"
CASEWORKER_KEY = "caseworker_key"
COACH_ON = "coach_on"
CASEWORKER_ON = "caseworker_on"
NO_GROUP = "(none)"
"""Group level of clients outside a role term (their indicator is 0, so it has no data)."""
DEFAULT_TARGET_ACCEPT = 0.9
"""With nutpie's 0.8 the default model on the shipped synthetic data (5,955 clients, 4 x 1000
draws) had 2 divergent transitions (R-hat 1.007, bulk ESS >= 576); see docs/person_level.md."""
CELLS_TARGET_ACCEPT = 0.95
"""Default target acceptance of the cell-model path (``engine="cells"``). Measured on the
benchmark's ~6,000 clients (4 x 500 draws, 3 seeds): 0.9 gave 1-3 divergent transitions per
fit, 0.95 none, for about 15% more leapfrog steps (31 vs 27 per draw); centring the gemeente
or coach effects instead made it worse (see docs/person_level.md)."""
NO_DELIVERY = "(none)"
"""Delivered level of untreated clients; sorts first, so it is the reference level."""
COACHED = " (coached)"
"""Suffix of the delivered level of an arm's coached participants when only some are."""
UNTREATED_ARMS = ("control", "reference")
_SAMPLE_DIMS = ("chain", "draw")
BAMBI_OBJECT_MAX = 20_000_000
"""Largest cells x effects for which a cell-model fit also builds bambi's model object
(``PersonLevelResult.model``; bambi's design matrices are dense)."""
AME_BLOCK = 4_000_000
"""Draws x cells evaluated at once by :func:`average_marginal_effects` (memory bound)."""


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


def count_text(n: int, min_cell: int = 10) -> str:
    """A person count for exported text: the number, or ``<10`` below the disclosure limit."""
    return str(int(n)) if int(n) >= min_cell else f"<{min_cell}"


def is_delivered_formula(formula: str) -> bool:
    """Whether a formula is the delivered-treatment model (uses ``delivered``)."""
    rhs = formula.split("~", 1)[-1]
    return re.search(r"(?<![\w.])delivered(?![\w.])", rhs) is not None


def treated_mask(data: pd.DataFrame) -> np.ndarray:
    """Clients who received a treatment: took part in an arm other than control/reference."""
    part = pd.to_numeric(data["participated"], errors="coerce").fillna(0).to_numpy() == 1
    return part & ~data["arm"].astype(str).isin(UNTREATED_ARMS).to_numpy()


def coach_roles(data: pd.DataFrame) -> pd.DataFrame:
    """One row per gemeente x coach: ``role``, ``n_clients``, ``n_treated``, ``arms``.

    ``role`` is ``experiment`` for a coach whose every client took part in a treated arm
    (a coach who exists because of the experiment: the delivered treatment varies by this
    coach) and ``caseworker`` for a coach who also serves control clients or
    non-participants (a cluster that was there before randomisation).
    """
    d = data[data["coach"].notna()]
    d = d.assign(_t=treated_mask(d), arm=d["arm"].astype(str))
    g = d.groupby(["gemeente", "coach"], sort=True, observed=True)
    out = g.agg(n_clients=("arm", "size"), n_treated=("_t", "sum"),
                arms=("arm", lambda x: ";".join(sorted(set(x))))).reset_index()
    out["role"] = np.where(out["n_treated"] == out["n_clients"], "experiment", "caseworker")
    return out[["gemeente", "coach", "role", "n_clients", "n_treated", "arms"]]


def _row_roles(d: pd.DataFrame) -> np.ndarray:
    """Role of each row's coach (``experiment``, ``caseworker``, or ``""`` without a coach)."""
    roles = coach_roles(d)
    key = d["gemeente"].astype(str) + "/" + d["coach"].astype(object).astype(str)
    m = dict(zip(roles["gemeente"].astype(str) + "/" + roles["coach"].astype(str),
                 roles["role"], strict=True))
    return np.where(d["coach"].notna().to_numpy(), key.map(m).fillna("").to_numpy(), "")


def identification_report(data: pd.DataFrame, formula: str | None = None) -> str:
    """Plain-text account of what the coach/arm structure identifies and what it does not.

    For the delivered-treatment model (the default; see the module docstring) and, when
    ``formula`` uses ``arm``, for the assignment model. Person counts under 10 are printed
    as ``<10`` (the text is exported).
    """
    data = _ensure_valid(data)
    if formula is not None and not is_delivered_formula(formula):
        return _assignment_report(data)
    roles = coach_roles(data)
    exp = roles[roles["role"] == "experiment"]
    cw = roles[roles["role"] == "caseworker"]
    d = data.assign(arm=data["arm"].astype(str), _t=treated_mask(data), _role=_row_roles(data))
    lines = [
        f"Coach roles: {len(exp)} experiment coaches (serve only participants of treated arms: "
        f"their term is a deviation of the delivered effect), {len(cw)} caseworkers (serve "
        "control clients or non-participants: an ordinary cluster, sigma_caseworker).",
        "Per gemeente and treated arm: assigned, participants, experiment coaches:",
    ]
    single, several = [], []
    for (g, arm), dg in d.groupby(["gemeente", "arm"], sort=True):
        if arm in UNTREATED_ARMS:
            continue
        tr = dg[dg["_t"]]
        k = tr.loc[tr["_role"] == "experiment", "coach"].nunique()
        lines.append(f"- {g} / {arm}: {count_text(len(dg))} assigned, "
                     f"{count_text(len(tr))} participants, {k} experiment coach(es)")
        if k == 1:
            single.append(f"{g}/{arm}")
        elif k > 1:
            several.append(f"{g}/{arm}")
    lines += [
        "",
        "Identified by the randomisation: the ITT effect of each arm (term ame): clients "
        "assigned to the arm vs control within a gemeente. Coach terms have mean zero around "
        "the delivered effect, so they cannot absorb it; with no coach variation the ITT "
        "equals the raw difference in means up to the covariate adjustment.",
        "Identified under assumptions: the effect on participants (terms arm, "
        "ame_participants). Take-up is a mediator - it happens after randomisation and may "
        "depend on the arm offered - so participants of an arm are not a randomised group. "
        "The model compares them with control clients who took part (the participated term, "
        "estimated mainly from control and non-participants) and assumes the arm has no "
        "effect on clients who did not take part (exclusion restriction) and that take-up "
        "selects alike in every arm.",
        "sigma_coach (SD of the delivered effect across experiment coaches): identified from "
        "differences between experiment coaches of the same arm and gemeente"
        + (f" ({', '.join(several)})" if several else " (no arm has two or more)") + ". "
        + (f"Arms with one experiment coach ({', '.join(single)}) add nothing to it: there "
           "the coach and the programme cannot be told apart, and the effect is 'the "
           "programme as delivered by this coach'. " if single else "")
        + "Clients are not randomised to coaches, so a coach deviation may reflect the clients "
        "a coach got as well as the coach.",
    ]
    keuze = d[(d["arm"] == "keuze") & (d["_role"] == "experiment")]
    if not keuze.empty:
        shared = set(keuze["coach"]) & set(d.loc[(d["arm"] != "keuze")
                                                 & (d["_role"] == "experiment"), "coach"])
        lines.append(
            "Keuze: clients who chose maatwerk are served by the werkcoaches of extra_hulp and "
            "receive its content, so a werkcoach treats clients of both arms; that is no "
            "bridge between coach and arm effects (there is no untreated client of that "
            "coach to contrast with). Their delivered arm is keuze, a mixture of the chosen "
            f"components ({len(shared)} coach(es) shared with another arm).")
    if not cw.empty:
        lines.append("Caseworkers: intercepts identified from clients of every arm they serve "
                     "(control, non-participants and participants of arms without experiment "
                     "coaches); they were there before randomisation.")
    none = d[d["coach"].isna()]
    if len(none):
        lines.append(f"Clients without a coach: {count_text(len(none))}; they get no coach or "
                     "caseworker term.")
    return "\n".join(lines)


def _assignment_report(data: pd.DataFrame) -> str:
    """What the assignment model (coach intercepts for every coach) identifies."""
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
        lines.append(f"- {r['gemeente']}: {count_text(r['n_clients'])} clients without a coach "
                     f"(arms {r['arms']}); they share one pseudo-coach intercept.")
    if conf.empty:
        lines.append("No arm is delivered only by its own coaches: arm effects are identified "
                     "from within-coach contrasts as well as between coaches.")
    else:
        lines.append("Arms delivered only by coaches who serve no other arm (coach and arm "
                     "confounded):")
        for _, r in conf.iterrows():
            lines.append(f"- {r['gemeente']} / {r['arm']}: {r['n_coaches']} coach(es), "
                         f"{count_text(r['n_clients'])} clients")
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


FORMULA_TOKENS: frozenset[str] = frozenset({"covariates", "delivered", "caseworker", "coach",
                                            "gemeente", "arm", "participated"})
"""Names a formula may use besides the data's columns (expanded by :func:`prepare`)."""
FORMULA_TRANSFORMS: frozenset[str] = frozenset({"C", "scale", "center"})
"""Function calls a formula may contain, each around one name: ``C(x)``, ``scale(x)``."""
_TOKEN = re.compile(r"\s*(?:(?P<name>[A-Za-z_][A-Za-z0-9_]*)|(?P<num>[01])(?![\w.])"
                    r"|(?P<op>[~+:*|()]))")


def check_formula(formula: str, columns: Sequence[str]) -> tuple[str, list[str]]:
    """Parse ``formula`` against a whitelist grammar before bambi (and Python) sees it.

    Grammar: ``outcome ~ term (+ term)*``; a term is ``0``, ``1``, a product of factors
    joined by ``:`` or ``*``, or ``(expr | group)`` with ``expr`` terms joined by ``+`` and
    ``group`` names joined by ``:``; a factor is a name or a whitelisted transform of one
    name (:data:`FORMULA_TRANSFORMS`). Names must be data columns or
    :data:`FORMULA_TOKENS`. Anything else (attribute access, other calls, literals,
    operators) raises ``ValueError`` naming the offending text. Returns the outcome and the
    names used on the right-hand side.
    """
    if not isinstance(formula, str) or not formula.strip():
        raise ValueError("formula is empty (expected 'outcome ~ predictors')")
    if len(formula) > 2000:
        raise ValueError("formula is longer than 2000 characters")
    toks: list[tuple[str, str, int]] = []
    pos = 0
    while pos < len(formula):
        if formula[pos:].strip() == "":
            break
        m = _TOKEN.match(formula, pos)
        if m is None or m.end() == pos:
            bad = formula[pos:].lstrip()[:20]
            raise ValueError(f"'{bad}' at character {pos + 1} is not allowed in a formula "
                             "(allowed: column names, 0, 1, + : * | ( ) ~ and "
                             f"{', '.join(sorted(FORMULA_TRANSFORMS))}(name))")
        kind = m.lastgroup or ""
        toks.append((kind, m.group(kind), m.start(kind)))
        pos = m.end()
    known = set(columns) | FORMULA_TOKENS
    used: list[str] = []
    i = 0

    def peek() -> tuple[str, str, int]:
        return toks[i] if i < len(toks) else ("end", "", len(formula))

    def take(kind: str, value: str | None = None) -> str:
        nonlocal i
        k, v, at = peek()
        if k != kind or (value is not None and v != value):
            want = value or kind
            got = v or "the end"
            raise ValueError(f"expected '{want}' at character {at + 1} of the formula, got "
                             f"'{got}'")
        i += 1
        return v

    def name() -> str:
        v = take("name")
        if v not in known:
            raise ValueError(f"'{v}' is not a column of the data (nor one of "
                             f"{', '.join(sorted(FORMULA_TOKENS))})")
        used.append(v)
        return v

    def factor() -> None:
        k, v, at = peek()
        if k == "name" and i + 1 < len(toks) and toks[i + 1][1] == "(":
            if v not in FORMULA_TRANSFORMS:
                raise ValueError(f"function '{v}(' at character {at + 1} is not allowed in a "
                                 f"formula (allowed: {', '.join(sorted(FORMULA_TRANSFORMS))})")
            take("name")
            take("op", "(")
            name()
            take("op", ")")
        else:
            name()

    def product() -> None:
        factor()
        while peek()[1] in (":", "*"):
            take("op")
            factor()

    def atom() -> None:
        k, v, _ = peek()
        if k == "num":
            take("num")
        else:
            product()

    def term() -> None:
        if peek()[1] == "(" and not (peek()[0] == "name"):
            take("op", "(")
            atom()
            while peek()[1] == "+":
                take("op", "+")
                atom()
            take("op", "|")
            name()
            while peek()[1] == ":":
                take("op", ":")
                name()
            take("op", ")")
        else:
            atom()

    outcome = take("name")
    if outcome not in columns:
        raise ValueError(f"the outcome '{outcome}' is not a column of the data")
    take("op", "~")
    term()
    while peek()[1] == "+":
        take("op", "+")
        term()
    if peek()[0] != "end":
        k, v, at = peek()
        raise ValueError(f"unexpected '{v}' at character {at + 1} of the formula")
    return outcome, used


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
    delivered: bool = False
    """Whether this is the delivered-treatment model (else the assignment model)."""


def _expand_formula(formula: str, data: pd.DataFrame, coach_slopes: bool) -> tuple[str, str]:
    if "~" not in formula:
        raise ValueError(f"formula needs 'outcome ~ predictors', got {formula!r}")
    lhs, rhs = (s.strip() for s in formula.split("~", 1))
    covs = [c for c in COVARIATES if c in data.columns]
    rhs = re.sub(r"\bcovariates\b", " + ".join(covs) if covs else "1", rhs)
    gc = r"(?:gemeente\s*:\s*{0}|{0}\s*:\s*gemeente|{0})"
    rhs = re.sub(r"\(\s*(?:0\s*\+\s*)?delivered\s*\|\s*" + gc.format("coach") + r"\s*\)",
                 f"(0 + {COACH_ON} | {COACH_KEY})", rhs)
    rhs = re.sub(r"\(\s*1\s*\|\s*" + gc.format("caseworker") + r"\s*\)",
                 f"(0 + {CASEWORKER_ON} | {CASEWORKER_KEY})", rhs)
    rhs = re.sub(r"\bgemeente\s*:\s*coach\b|\bcoach\s*:\s*gemeente\b", COACH_KEY, rhs)
    rhs = re.sub(r"(?<![\w:])coach(?![\w:])", COACH_KEY, rhs)
    if coach_slopes:
        rhs += f" + (0 + arm | {COACH_KEY})"
    return lhs, rhs


def _rhs_variables(rhs: str, columns: Sequence[str]) -> list[str]:
    names = set(re.findall(r"[A-Za-z_][A-Za-z0-9_]*", rhs))
    return [c for c in columns if c in names]


def _add_delivery_columns(d: pd.DataFrame) -> pd.DataFrame:
    """``delivered``, the role indicators and role group keys (see the module docstring)."""
    treated = treated_mask(d)
    role = _row_roles(d)
    arm = d["arm"].astype(str)
    on = treated & (role == "experiment")
    level = np.where(treated, arm, NO_DELIVERY).astype(object)
    gem = d["gemeente"].astype(str).to_numpy()
    for g, a in set(zip(gem[treated], arm[treated], strict=True)):
        in_a = treated & (arm == a).to_numpy() & (gem == g)
        if on[in_a].any() and not on[in_a].all():
            # e.g. keuze in Groningen: those who chose maatwerk get the werkcoaches (and
            # extra_hulp's content), the others no coach - two different treatments.
            level[in_a & on] = a + COACHED
    levels = [NO_DELIVERY] + [x for a in ARMS if a not in UNTREATED_ARMS
                              for x in (a, a + COACHED) if x in set(level)]
    d["delivered"] = pd.Categorical(level, categories=levels)
    key = d["gemeente"].astype(str) + "/" + d["coach"].astype(object).astype(str)
    d[COACH_ON] = on.astype(np.int64)
    d[COACH_KEY] = np.where(on, key, NO_GROUP)
    cw = role == "caseworker"
    d[CASEWORKER_ON] = cw.astype(np.int64)
    d[CASEWORKER_KEY] = np.where(cw, key, NO_GROUP)
    return d


def _is_discrete(s: pd.Series) -> bool:
    """Categorical, text, or a 0/1 number (collapsible into cells)."""
    if not pd.api.types.is_numeric_dtype(s) or isinstance(s.dtype, pd.CategoricalDtype):
        return True
    return bool(pd.Series(s).dropna().isin([0, 1]).all())


def prepare(data: pd.DataFrame, *, formula: str = DEFAULT_FORMULA,
            family: Literal["bernoulli", "gaussian"] = "bernoulli",
            participants_only: bool = False, coach_slopes: bool = False,
            collapse: bool | None = None) -> PreparedData:
    """Validate, subset, rewrite the formula and (if possible) collapse to binomial cells.

    ``collapse=None`` collapses whenever the family is bernoulli and every predictor is
    discrete (categorical or 0/1); ``collapse=True`` raises if that is not possible. In the
    delivered model a constant ``participated`` (e.g. ``participants_only``) is dropped.
    """
    if family not in ("bernoulli", "gaussian"):
        raise ValueError(f"family must be 'bernoulli' or 'gaussian', got {family!r}")
    d = _ensure_valid(data)
    delivered = is_delivered_formula(formula)
    lhs, rhs = _expand_formula(formula, d, coach_slopes)
    if lhs not in d.columns:
        raise ValueError(f"outcome {lhs!r} is not a column of the data")
    if family == "bernoulli" and not is_binary(lhs):
        raise ValueError(f"{lhs!r} is a score; use family='gaussian'")
    if participants_only:
        d = d[d["participated"] == 1]
    d = d[d[lhs].notna()].copy()
    if d.empty:
        raise ValueError(f"no client has a value of {lhs!r}"
                         + (" among participants" if participants_only else ""))
    arms_present = set(d["arm"].astype(str))
    d["arm"] = pd.Categorical(d["arm"].astype(str),
                              categories=[a for a in ARMS if a in arms_present])
    if d["arm"].cat.categories[0] != "control":
        raise ValueError("no control group in the data: arm effects are defined vs control")
    if len(arms_present - {"control", "reference"}) == 0:
        raise ValueError("only control clients in the data: no arm to compare with control")
    extra: list[str] = []
    if delivered:
        d = _add_delivery_columns(d)
        if len(d["delivered"].cat.categories) < 2:
            raise ValueError("no client took part in a treated arm: the delivered-treatment "
                             "model has no treatment to estimate (use an 'arm' formula for "
                             "the assignment model)")
        d["participated"] = d["participated"].astype(np.int64)
        if d["participated"].nunique() < 2:
            rhs = re.sub(r"\+\s*participated\b(?!\s*[:|*])|\bparticipated\s*\+", "", rhs)
        if d["gemeente"].nunique() < 2:
            # one gemeente: no between-gemeente variation to estimate (prior-only SDs
            # make funnels); the gemeente terms are dropped.
            rhs = re.sub(r"\+\s*\([^()]*\|\s*gemeente\s*\)", "", rhs)
        extra = ["arm", "participated"]
    else:
        d[COACH_KEY] = (d["gemeente"].astype(str) + "/" + d["coach"].astype(object)
                        .where(d["coach"].notna(), "none").astype(str))
    preds = _rhs_variables(rhs, list(d.columns))
    for c in preds:
        if c not in ("arm", "delivered") and not pd.api.types.is_numeric_dtype(d[c]):
            d[c] = d[c].astype(str)
    categorical = all(_is_discrete(d[c]) for c in preds)
    if collapse is None:
        collapse = family == "bernoulli" and categorical
    if collapse and not (family == "bernoulli" and categorical):
        raise ValueError("collapse=True needs family='bernoulli' and categorical predictors")
    keys = [*preds, *[c for c in extra if c not in preds]]
    if collapse:
        frame = collapse_binary(d, lhs, keys)
        if "delivered" in keys:
            frame["delivered"] = pd.Categorical(frame["delivered"],
                                                categories=d["delivered"].cat.categories)
        bformula = f"p(successes, trials) ~ {rhs}"
        bfamily = "binomial"
    else:
        frame = d[[*keys, lhs]].copy()
        frame[lhs] = frame[lhs].astype(float)
        bformula = f"{lhs} ~ {rhs}"
        bfamily = family
    return PreparedData(frame.reset_index(drop=True), bformula, bfamily, lhs, tuple(preds),
                        collapse, len(d), delivered)


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
    plausible range for these interventions. The effect of *receiving* an arm (``delivered``,
    participants only) gets Normal(0, 1.5): a programme can move a participant's log-odds
    by more than it moves the diluted ITT. Gemeente intercepts and the SDs of caseworker
    intercepts and of the coach deviations of the delivered effect: HalfNormal(0.5).
    """
    import bambi as bmb

    if family not in ("bernoulli", "binomial"):
        return {}

    def sd(scale: float) -> Any:
        return bmb.Prior("Normal", mu=0.0, sigma=bmb.Prior("HalfNormal", sigma=scale))

    return {
        "arm": bmb.Prior("Normal", mu=0.0, sigma=1.0),
        "arm|gemeente": sd(0.5),
        f"1|{COACH_KEY}": sd(0.5),
        "delivered": bmb.Prior("Normal", mu=0.0, sigma=1.5),
        "participated": bmb.Prior("Normal", mu=0.0, sigma=1.0),
        "delivered|gemeente": sd(0.5),
        "1|gemeente": sd(0.5),
        f"{COACH_ON}|{COACH_KEY}": sd(0.5),
        f"{CASEWORKER_ON}|{CASEWORKER_KEY}": sd(0.5),
    }


# --------------------------------------------------------------------------- result


@dataclass
class PersonLevelResult:
    """A fitted person-level model: posterior tree, formula, tidy summaries, coach effects.

    ``tree`` is bambi's InferenceData (an xarray DataTree). ``ame`` holds the posterior draws
    of the average marginal effect of each arm vs control on the probability (or score)
    scale, dims ``(chain, draw, arm)`` (ITT: over the clients assigned to the arm);
    ``ame_participants`` (delivered model only) the same over the arm's participants.
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
    ame_participants: xr.DataArray | None = None
    engine: str = "bambi"
    """``cells`` (the cell log density of :mod:`~bayes_bijstand.models.person_cells`) or
    ``bambi`` (bambi's PyMC model)."""

    @property
    def idata(self) -> Any:
        """Alias of ``tree`` (bambi / arviz name)."""
        return self.tree

    @property
    def delivered(self) -> bool:
        """Whether this is the delivered-treatment model."""
        return self.prepared is not None and self.prepared.delivered

    def summary(self, ci_prob: float | None = None) -> pd.DataFrame:
        """Tidy table of the reported quantities, with the persons behind each row.

        Terms: ``arm`` (pooled log-odds effect vs control; in the delivered model the effect
        of receiving the arm, for a participant), ``ame`` (ITT average marginal effect, pp),
        ``ame_participants`` (delivered model: over the arm's participants, pp), ``tau``
        (between-gemeente SD per arm), ``tau_intercept``, ``sigma_coach`` (delivered model:
        SD of the delivered effect across experiment coaches; assignment model: SD of coach
        intercepts) and ``sigma_caseworker``. Columns: term, arm, scale, estimate (posterior
        mean), se (posterior SD), ci_low, ci_high, ci_prob (equal-tailed), ess_bulk, r_hat,
        n (persons the row describes), method.
        """
        p = CI_PROB if ci_prob is None else ci_prob
        post = self.tree["posterior"].to_dataset()
        rows: list[dict[str, Any]] = []
        coef_scale = "log_odds" if self.family != "gaussian" else "score"
        ame_scale = "percentage_points" if self.family != "gaussian" else "score"
        n = self._counts()
        coef = "delivered" if self.delivered else "arm"
        if coef in post:
            dim = _dim_of(post[coef])
            for a in post[dim].values:
                key = "delivered" if self.delivered else "assigned"
                rows.append({**_row(post[coef].sel({dim: a}), "arm", str(a), coef_scale, p),
                             "n": n[key].get(str(a), 0)})
        mult = 100.0 if self.family != "gaussian" else 1.0
        for term, da, key in (("ame", self.ame, "assigned"),
                              ("ame_participants", self.ame_participants, "participants")):
            if da is None:
                continue
            for a in da["arm"].values:
                rows.append({**_row(da.sel(arm=a) * mult, term, str(a), ame_scale, p),
                             "n": n[key].get(str(a), 0)})
        tau_name = f"{coef}|gemeente_sigma"
        if tau_name in post:
            dim = _dim_of(post[tau_name])
            for a in post[dim].values:
                key = "delivered" if self.delivered else "assigned"
                rows.append({**_row(post[tau_name].sel({dim: a}), "tau", str(a), coef_scale, p),
                             "n": n[key].get(str(a), 0)})
        if "1|gemeente_sigma" in post:
            rows.append({**_row(post["1|gemeente_sigma"], "tau_intercept", "", coef_scale, p),
                         "n": self.n_persons})
        for name, term, key in ((f"{COACH_ON}|{COACH_KEY}_sigma", "sigma_coach", "coach"),
                                (f"1|{COACH_KEY}_sigma", "sigma_coach", "coach"),
                                (f"{CASEWORKER_ON}|{CASEWORKER_KEY}_sigma", "sigma_caseworker",
                                 "caseworker")):
            if name in post:
                rows.append({**_row(post[name], term, "", coef_scale, p), "n": n[key]})
        out = pd.DataFrame(rows)
        out["method"] = ("bayes_person_delivered" if self.delivered
                         else f"bayes_person_{self.estimand}")
        return out

    def _counts(self) -> dict[str, Any]:
        """Persons per arm (assigned, participants) and per coach role, from the fitted frame."""
        if self.prepared is None:
            return {"assigned": {}, "participants": {}, "delivered": {}, "coach": 0,
                    "caseworker": 0}
        f = self.prepared.frame
        w = f["trials"] if self.prepared.collapsed else pd.Series(1, index=f.index)
        arm = f["arm"].astype(str)
        assigned = w.groupby(arm).sum().to_dict()
        if "participated" in f:
            part = w[f["participated"] == 1].groupby(arm[f["participated"] == 1]).sum().to_dict()
        else:
            part = assigned
        coach = int(w[f[COACH_ON] == 1].sum()) if COACH_ON in f else int(w.sum())
        cw = int(w[f[CASEWORKER_ON] == 1].sum()) if CASEWORKER_ON in f else 0
        deliv = (w.groupby(f["delivered"].astype(str)).sum().to_dict() if "delivered" in f
                 else {})
        return {"assigned": {k: int(v) for k, v in assigned.items()},
                "delivered": {k: int(v) for k, v in deliv.items()},
                "participants": {k: int(v) for k, v in part.items()},
                "coach": coach, "caseworker": cw}

    def _coach_name(self) -> str:
        post = self.tree["posterior"]
        for name in (f"{COACH_ON}|{COACH_KEY}", f"1|{COACH_KEY}"):
            if name in post:
                return name
        raise ValueError("model has no coach terms")

    def coach_table(self, *, min_cell: int = 10, ci_prob: float | None = None) -> pd.DataFrame:
        """Internal coach table: ``key`` (gemeente/coach id), ``label`` (anonymous), values.

        Coaches with at least ``min_cell`` clients are ranked within their gemeente by
        posterior mean and labelled ``coach 1..K``; smaller ones are labelled ``suppressed``
        and get no rank, so their position cannot bound their estimate. Contains the ids:
        never export it as is (see :meth:`coach_effects` and :func:`export_tree`).
        """
        p = CI_PROB if ci_prob is None else ci_prob
        name = self._coach_name()
        da = self.tree["posterior"][name]
        dim = _dim_of(da)
        frame = self.prepared.frame if self.prepared is not None else None
        counts = (frame.groupby(COACH_KEY)["trials"].sum() if frame is not None
                  and "trials" in frame else frame.groupby(COACH_KEY).size())
        rows = []
        for k in da[dim].values:
            if str(k) == NO_GROUP:
                continue
            g, _, coach = str(k).partition("/")
            r = _row(da.sel({dim: k}), "coach", "", "log_odds", p)
            rows.append({"key": str(k), "gemeente": g, "coach": coach, "mean": r["estimate"],
                         "se": r["se"], "ci_low": r["ci_low"], "ci_high": r["ci_high"],
                         "ci_prob": p, "n_clients": int(counts.get(k, 0))})
        t = pd.DataFrame(rows, columns=["key", "gemeente", "coach", "mean", "se", "ci_low",
                                        "ci_high", "ci_prob", "n_clients"])
        parts = []
        for _, tg in t.groupby("gemeente", sort=True):
            big = tg[tg["n_clients"] >= min_cell].sort_values("mean", ascending=False,
                                                               kind="stable")
            small = tg[tg["n_clients"] < min_cell].sort_values("key")
            big = big.assign(label=[f"coach {i}" for i in range(1, len(big) + 1)],
                             suppressed=False)
            small = small.assign(label="suppressed", suppressed=True)
            parts += [big, small]
        out = pd.concat(parts, ignore_index=True) if parts else t.assign(label=[],
                                                                          suppressed=[])
        out["term"] = ("coach_effect_deviation" if name.startswith(COACH_ON)
                       else "coach_intercept")
        return out

    def coach_effects(self, *, reveal_coach_ids: bool = False, min_cell: int = 10,
                      ci_prob: float | None = None) -> pd.DataFrame:
        """Posterior coach terms, anonymised and disclosure-checked.

        Delivered model: each experiment coach's deviation of the delivered effect
        (``term = coach_effect_deviation``); assignment model: coach intercepts. Coaches
        with at least ``min_cell`` clients are ``coach 1..K`` within a gemeente, ranked by
        posterior mean; smaller ones are one ``suppressed`` row each, listed after the
        ranked ones in id order, every value replaced by ``<10``.
        """
        t = self.coach_table(min_cell=min_cell, ci_prob=ci_prob)
        if not reveal_coach_ids:
            t["coach"] = t["label"]
        t = t.drop(columns=["key", "label", "suppressed"])
        cols = ["gemeente", "coach", "term", "mean", "se", "ci_low", "ci_high", "ci_prob",
                "n_clients"]
        return disclosure_check(t[cols], min_cell, count_columns=["n_clients"])


def export_tree(res: PersonLevelResult, *, secure_env: bool = False,
                min_cell: int = 10) -> Any:
    """The posterior tree as it may leave the secure environment.

    Unless ``secure_env``: only the ``posterior`` and ``sample_stats`` groups are kept (no
    observed or constant data: they hold per-cell counts, mostly under 10); coach levels are
    renamed to the anonymous labels of :meth:`PersonLevelResult.coach_effects`
    (``gemeente/coach k``), suppressed coaches and every caseworker level are dropped.
    With ``secure_env=True`` the tree is returned unchanged (ids and data included).
    """
    if secure_env:
        return res.tree
    post = res.tree["posterior"].to_dataset()
    labels: dict[str, str] = {}
    try:
        t = res.coach_table(min_cell=min_cell)
        t = t[~t["suppressed"]]
        labels = dict(zip(t["key"], t["gemeente"] + "/" + t["label"], strict=True))
    except ValueError:
        pass
    for dim in list(post.dims):
        if dim.startswith(f"{COACH_KEY}__"):
            keep = [k for k in post[dim].values if str(k) in labels]
            post = post.sel({dim: keep})
            post = post.assign_coords({dim: [labels[str(k)] for k in keep]})
        elif dim.startswith(f"{CASEWORKER_KEY}__"):
            post = post.drop_dims(dim)
    stats = res.tree["sample_stats"].to_dataset()
    keep_stats = [v for v in stats.data_vars if not set(stats[v].dims) - {"chain", "draw"}]
    tree = xr.DataTree.from_dict({"posterior": post, "sample_stats": stats[keep_stats]})
    tree.attrs.update({"disclosure": "coach labels anonymised (coach k by posterior mean "
                       f"within gemeente), coaches under {min_cell} clients and caseworker "
                       "levels dropped, no observed or constant data"})
    return tree


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
    engine: Literal["auto", "bambi"] = "auto",
) -> PersonLevelResult:
    """Fit the person-level model with bambi and summarise it (see module docstring).

    The default formula is the delivered-treatment model: ITT and per-participant AMEs and
    the SD of the delivered effect across experiment coaches. A formula with ``arm`` fits
    the assignment model (``participants_only=True`` then restricts to clients who took
    part: not randomised, selection may differ by arm). ``collapse`` defaults to collapsing
    Bernoulli rows into binomial cells when every predictor is discrete. In the assignment
    model a :class:`CoachArmConfoundingWarning` is issued when an arm is delivered only by
    its own coaches. ``cores=1`` samples chains sequentially in-process (faster for tiny
    models). ``target_accept`` (default :data:`DEFAULT_TARGET_ACCEPT`, on the cell path
    :data:`CELLS_TARGET_ACCEPT`) applies to both samplers.

    ``engine="auto"`` (the default) samples a collapsed additive model with nutpie on the
    cell log density of :mod:`~bayes_bijstand.models.person_cells` (the same model as
    bambi's, no compile, memory in cells); other models, ``sampler="pymc"`` and
    ``engine="bambi"`` use bambi's PyMC model.
    """
    import bambi as bmb

    from bayes_bijstand.models.person_cells import build_cell_model, sample_cells

    if sampler not in ("nutpie", "pymc"):
        raise ValueError(f"sampler must be 'nutpie' or 'pymc', got {sampler!r}")
    if engine not in ("auto", "bambi"):
        raise ValueError(f"engine must be 'auto' or 'bambi', got {engine!r}")
    valid = _ensure_valid(data)  # once: prepare sees the validated frame's mark
    prep = prepare(valid, formula=formula, family=family, participants_only=participants_only,
                   coach_slopes=coach_slopes, collapse=collapse)
    sub = valid[valid["participated"] == 1] if participants_only else valid
    msg = (_warn_confounding(sub) if not prep.delivered and f"|{COACH_KEY})"
           in prep.formula.replace(" ", "") else None)
    pri = {**default_priors(prep.family), **(priors or {})}
    pri = {k: v for k, v in pri.items() if _term_in(k, prep.formula)}
    ta = DEFAULT_TARGET_ACCEPT if target_accept is None else target_accept
    cells = None
    if engine == "auto" and sampler == "nutpie" and prep.collapsed:
        cells = build_cell_model(prep.frame, prep.formula, pri,
                                 _additive_terms(prep.formula))
    t0 = time.perf_counter()
    if cells is not None:
        ta = CELLS_TARGET_ACCEPT if target_accept is None else target_accept
        tree = sample_cells(cells, draws=draws, tune=tune, chains=chains, seed=random_seed,
                            target_accept=ta, cores=cores, progressbar=progressbar)
        secs = time.perf_counter() - t0
        # bambi's model object (for model.predict) only where its dense design is small
        model = (bmb.Model(prep.formula, prep.frame, family=prep.family, priors=pri or None)
                 if len(prep.frame) * cells.n_theta <= BAMBI_OBJECT_MAX else None)
    else:
        model = bmb.Model(prep.formula, prep.frame, family=prep.family, priors=pri or None)
        kwargs: dict[str, Any] = {"progressbar": progressbar, "target_accept": ta}
        if cores is not None:
            kwargs["cores"] = cores
        with warnings.catch_warnings(), exact_float():
            warnings.filterwarnings("ignore", category=FutureWarning)
            tree = model.fit(draws=draws, tune=tune, chains=chains, random_seed=random_seed,
                             inference_method=sampler, **kwargs)
        secs = time.perf_counter() - t0
    ame = average_marginal_effects(model, tree, prep)
    ame_p = (average_marginal_effects(model, tree, prep, participants=True)
             if prep.delivered else None)
    return PersonLevelResult(
        tree=tree, formula=formula, bambi_formula=prep.formula, family=family,
        estimand="participants" if participants_only else "itt", collapsed=prep.collapsed,
        n_persons=prep.n_persons, n_rows=len(prep.frame), ame=ame, sampling_seconds=secs,
        sampler=sampler, confounding_warning=msg, model=model, prepared=prep,
        ame_participants=ame_p, engine="cells" if cells is not None else "bambi")


def _term_in(term: str, formula: str) -> bool:
    """Whether a prior key (``x``, ``1|g``, ``x|g``) names a term of the bambi formula."""
    rhs = formula.split("~", 1)[1].replace(" ", "")
    if "|" in term:
        expr, grp = term.split("|")
        for m in re.finditer(r"\(([^()|]+)\|(\w+)\)", rhs):
            parts = m[1].split("+")
            if m[2] != grp:
                continue
            if expr == "1" and "0" not in parts:
                return True
            if expr != "1" and expr in parts:
                return True
        return False
    return re.search(rf"(?<![\w|(+]){re.escape(term)}(?![\w|])", rhs) is not None \
        or re.search(rf"(?:^|\+){re.escape(term)}(?:\+|$)", rhs) is not None


def average_marginal_effects(model: Any, tree: Any, prep: PreparedData, *,
                             participants: bool = False) -> xr.DataArray:
    """AME of each arm vs control from posterior predictions, dims ``(chain, draw, arm)``.

    Delivered model: for arm ``a`` the cells of clients assigned to ``a`` (with
    ``participants=True`` only its participants) are predicted as observed (treatment
    delivered to participants, with their coach's deviation) and with the treatment
    switched off (``delivered = none``, no coach term); the difference is averaged with
    cell weights (trials when collapsed, else 1). Non-participants contribute 0, so the
    ITT is diluted by take-up, as randomisation defines it.

    Assignment model: the cells of the gemeenten that randomised ``a`` are predicted with
    the arm set to ``a`` and to ``control`` (coach and gemeente effects of each cell held
    fixed).

    Additive formulas (main effects, group intercepts, categorical or numeric slopes by
    group) are evaluated directly from the posterior draws; anything else goes through
    ``model.predict``.
    """
    f = prep.frame
    w = f["trials"].to_numpy(float) if prep.collapsed else np.ones(len(f))
    post = tree["posterior"]
    nc, nd = post.sizes["chain"], post.sizes["draw"]
    terms = _additive_terms(prep.formula)
    if prep.delivered:
        arms = list(dict.fromkeys(a.removesuffix(COACHED) for a in f["delivered"].cat.categories
                                  if a != NO_DELIVERY))
    else:
        arms = [a for a in f["arm"].cat.categories if a != "control"]
    out = np.full((nc, nd, len(arms)), np.nan)
    keys = [c for c in f.columns if c not in ("successes", "trials", prep.outcome)]
    cache: dict[str, tuple[np.ndarray, pd.Index]] = {}
    for j, a in enumerate(arms):
        if prep.delivered:
            sel = (f["arm"].astype(str) == a).to_numpy().copy()
            if participants:
                sel &= (f["participated"] == 1).to_numpy()
        elif "gemeente" in f:
            sel = f["gemeente"].isin(f.loc[f["arm"] == a, "gemeente"].unique()).to_numpy()
        else:
            sel = np.ones(len(f), dtype=bool)
        cells = (f.loc[sel, keys].assign(_w=w[sel])
                 .groupby(keys, sort=False, observed=True, dropna=False)["_w"].sum()
                 .reset_index())
        wt = cells["_w"].to_numpy(float)
        if wt.sum() == 0:
            continue
        wt = wt / wt.sum()
        if prep.delivered:
            on = cells
            off = cells.assign(delivered=pd.Categorical([NO_DELIVERY] * len(cells),
                                                        categories=f["delivered"].cat
                                                        .categories), **{COACH_ON: 0})
        else:
            cats = f["arm"].cat.categories
            on = cells.assign(arm=pd.Categorical([a] * len(cells), categories=cats))
            off = cells.assign(arm=pd.Categorical(["control"] * len(cells), categories=cats))
        if terms is not None and _ame_kernel() is not None:
            # one compiled pass over draws x cells, nothing (draws x cells) in memory
            if "P" not in cache:
                cache["P"] = _coefficient_draws(post, terms)  # type: ignore[assignment]
            pmat, offs = cache["P"]  # type: ignore[misc]
            d_on, d_off = (_cell_rows(post, terms, c, offs, pmat.shape[1]) for c in (on, off))
            out[:, :, j] = _ame_kernel()(
                pmat, d_on.indptr, d_on.indices, d_on.data, d_off.indptr, d_off.indices,
                d_off.data, wt, prep.family in ("binomial", "bernoulli")).reshape(nc, nd)
        elif terms is not None:
            # in blocks of cells: memory stays bounded at any number of cells
            step = max(1, AME_BLOCK // (nc * nd))
            acc = np.zeros((nc, nd))
            for a0 in range(0, len(cells), step):
                sl = slice(a0, a0 + step)
                acc += (_mean_response(post, terms, on.iloc[sl], prep.family, cache)
                        - _mean_response(post, terms, off.iloc[sl], prep.family, cache)) @ wt[sl]
            out[:, :, j] = acc
        else:
            mu_on, mu_off = (_predict(model, tree, c, prep.collapsed) for c in (on, off))
            out[:, :, j] = (mu_on - mu_off) @ wt
    return xr.DataArray(out, dims=("chain", "draw", "arm"),
                        coords={"chain": post["chain"].values, "draw": post["draw"].values,
                                "arm": arms}, name="ame")


def _predict(model: Any, tree: Any, cells: pd.DataFrame, collapsed: bool) -> np.ndarray:
    frame = cells.drop(columns="_w")
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


def _additive_terms(formula: str) -> list[tuple[str, str, str, str]] | None:
    """Terms as (posterior name, kind, column, group) or None if the formula is not additive.

    kinds: ``intercept``, ``fixed`` (categorical or numeric main effect), ``group``
    (intercept by group), ``slope`` (a column's effect by group: categorical levels or a
    numeric slope).
    """
    rhs = formula.split("~", 1)[1]
    out: list[tuple[str, str, str, str]] = [("Intercept", "intercept", "", "")]
    for t in _split_top(rhs):
        m = re.fullmatch(r"\(\s*(.+?)\s*\|\s*(\w+)\s*\)", t)
        if m:
            parts = [x.strip() for x in m[1].split("+")]
            grp = m[2]
            if not all(re.fullmatch(r"\w+", x) for x in parts):
                return None
            if "0" not in parts:
                out.append((f"1|{grp}", "group", "", grp))
            out += [(f"{x}|{grp}", "slope", x, grp) for x in parts if x not in ("0", "1")]
        elif re.fullmatch(r"\w+", t):
            if t == "1":
                continue
            if t == "0":
                out = [o for o in out if o[0] != "Intercept"]
                continue
            out.append((t, "fixed", t, ""))
        else:
            return None
    return out


def _values(da: xr.DataArray, cache: dict[str, tuple[np.ndarray, pd.Index]] | None,
            *dims: str) -> tuple[np.ndarray, pd.Index]:
    """A posterior variable's draws (chain, draw, dims) and its labels, cached by name."""
    key = f"{da.name}|{','.join(dims)}"
    if cache is not None and key in cache:
        return cache[key]
    vals = np.asarray(da.transpose("chain", "draw", *dims).values)
    labels = pd.Index([str(v) for v in da[dims[-1]].values]) if dims else pd.Index([])
    if cache is not None:
        cache[key] = (vals, labels)
    return vals, labels


def _coef(da: xr.DataArray, labels: np.ndarray,
          cache: dict[str, tuple[np.ndarray, pd.Index]] | None = None) -> np.ndarray:
    """Coefficients for each label, 0 where the label is the (dropped) reference level."""
    dim = _dim_of(da)
    vals, index = _values(da, cache, dim)
    idx = index.get_indexer([str(v) for v in labels])
    res = vals[:, :, np.where(idx < 0, 0, idx)]
    res[:, :, idx < 0] = 0.0
    return res


def _mean_response(post: Any, terms: list[tuple[str, str, str, str]], cells: pd.DataFrame,
                   family: str,
                   cache: dict[str, tuple[np.ndarray, pd.Index]] | None = None) -> np.ndarray:
    """Posterior mean response of every cell, from its own column values."""
    n = len(cells)
    nc, nd = post.sizes["chain"], post.sizes["draw"]
    eta = np.zeros((nc, nd, n))
    for name, kind, col, grp in terms:
        if name not in post:
            continue
        da = post[name]
        if kind == "intercept":
            eta += np.asarray(da.transpose("chain", "draw").values)[:, :, None]
        elif kind == "fixed" and _numeric(cells[col]):
            b = np.asarray(da.transpose("chain", "draw", ...).values).reshape(nc, nd)
            eta += b[:, :, None] * cells[col].to_numpy(float)[None, None, :]
        elif kind == "fixed":
            eta += _coef(da, cells[col].to_numpy(), cache)
        elif kind == "group":
            eta += _coef(da, cells[grp].to_numpy(), cache)
        elif kind == "slope" and _numeric(cells[col]):
            eta += (_coef(da, cells[grp].to_numpy(), cache)
                    * cells[col].to_numpy(float)[None, None, :])
        elif kind == "slope":
            expr_dim, grp_dim = (d for d in da.dims if d not in _SAMPLE_DIMS)
            e_idx = pd.Index([str(v) for v in da[expr_dim].values]).get_indexer(
                [str(v) for v in cells[col].to_numpy()])
            g_idx = pd.Index([str(v) for v in da[grp_dim].values]).get_indexer(
                [str(v) for v in cells[grp].to_numpy()])
            vals, _ = _values(da, cache, expr_dim, grp_dim)
            res = vals[:, :, np.maximum(e_idx, 0), np.maximum(g_idx, 0)]
            res[:, :, (e_idx < 0) | (g_idx < 0)] = 0.0
            eta += res
    if family in ("binomial", "bernoulli"):
        return 1.0 / (1.0 + np.exp(-eta))
    return eta


def _coefficient_draws(post: Any, terms: list[tuple[str, str, str, str]]
                       ) -> tuple[np.ndarray, dict[str, tuple[int, list[pd.Index]]]]:
    """Every coefficient of the additive terms as a column of one (draws, K) matrix, and
    each term's first column and labels (the same terms and labels as
    :func:`_mean_response`)."""
    nc, nd = post.sizes["chain"], post.sizes["draw"]
    blocks: list[np.ndarray] = []
    offs: dict[str, tuple[int, list[pd.Index]]] = {}
    at = 0
    for name, _kind, _col, _grp in terms:
        if name not in post or name in offs:
            continue
        da = post[name]
        dims = [d for d in da.dims if d not in _SAMPLE_DIMS]
        vals = np.asarray(da.transpose("chain", "draw", *dims).values).reshape(nc * nd, -1)
        offs[name] = (at, [pd.Index([str(v) for v in da[d].values]) for d in dims])
        blocks.append(vals)
        at += vals.shape[1]
    pmat = np.ascontiguousarray(np.hstack(blocks) if blocks else np.zeros((nc * nd, 0)))
    return pmat, offs


def _cell_rows(post: Any, terms: list[tuple[str, str, str, str]], cells: pd.DataFrame,
               offs: dict[str, tuple[int, list[pd.Index]]], k: int) -> Any:
    """The cells' linear predictors as a sparse (cells, K) matrix over
    :func:`_coefficient_draws`'s columns: ``eta = rows @ P.T`` (reference levels 0)."""
    from scipy import sparse

    n = len(cells)
    rows: list[np.ndarray] = []
    cols: list[np.ndarray] = []
    vals: list[np.ndarray] = []
    all_rows = np.arange(n)
    for name, kind, col, grp in terms:
        if name not in offs:
            continue
        at, labels = offs[name]
        val = np.ones(n)
        if kind == "intercept":
            idx = np.zeros(n, dtype=np.intp)
        elif kind == "fixed" and _numeric(cells[col]):
            idx = np.zeros(n, dtype=np.intp)
            val = cells[col].to_numpy(float)
        elif kind in ("fixed", "group"):
            idx = labels[0].get_indexer([str(v) for v in cells[col if kind == "fixed" else grp]
                                         .to_numpy()])
        elif kind == "slope" and _numeric(cells[col]):
            idx = labels[0].get_indexer([str(v) for v in cells[grp].to_numpy()])
            val = cells[col].to_numpy(float)
        elif kind == "slope":
            e = labels[0].get_indexer([str(v) for v in cells[col].to_numpy()])
            g = labels[1].get_indexer([str(v) for v in cells[grp].to_numpy()])
            idx = np.where((e < 0) | (g < 0), -1, e * len(labels[1]) + g)
        else:
            continue
        keep = idx >= 0
        rows.append(all_rows[keep])
        cols.append(at + idx[keep])
        vals.append(val[keep])
    if not rows:
        return sparse.csr_matrix((n, k))
    return sparse.csr_matrix((np.concatenate(vals), (np.concatenate(rows),
                                                     np.concatenate(cols))), shape=(n, k))


def _ame_sum_py(pmat: np.ndarray, a_ptr: np.ndarray, a_idx: np.ndarray, a_val: np.ndarray,
                b_ptr: np.ndarray, b_idx: np.ndarray, b_val: np.ndarray, w: np.ndarray,
                logit: bool) -> np.ndarray:  # pragma: no cover - compiled by numba
    """Per draw: sum over cells of ``w * (mean(rows_a @ p) - mean(rows_b @ p))``."""
    out = np.zeros(pmat.shape[0])
    for d in range(pmat.shape[0]):
        p = pmat[d]
        acc = 0.0
        for i in range(w.size):
            ea = 0.0
            for q in range(a_ptr[i], a_ptr[i + 1]):
                ea += a_val[q] * p[a_idx[q]]
            eb = 0.0
            for q in range(b_ptr[i], b_ptr[i + 1]):
                eb += b_val[q] * p[b_idx[q]]
            if logit:
                ea = 1.0 / (1.0 + np.exp(-ea))
                eb = 1.0 / (1.0 + np.exp(-eb))
            acc += w[i] * (ea - eb)
        out[d] = acc
    return out


_AME_KERNEL: list[Any] = []


def _ame_kernel() -> Any:
    """:func:`_ame_sum_py` compiled by numba (cached on disk), or None without numba."""
    if not _AME_KERNEL:
        try:
            import numba
        except ImportError:  # pragma: no cover - numba comes with nutpie
            _AME_KERNEL.append(None)
        else:
            _AME_KERNEL.append(numba.njit(cache=True, nogil=True)(_ame_sum_py))
    return _AME_KERNEL[0]


def _numeric(s: pd.Series) -> bool:
    return pd.api.types.is_numeric_dtype(s) and not isinstance(s.dtype, pd.CategoricalDtype)
