"""Synthetic person-level microdata calibrated to the published designs of the experiments.

Why: the real client files of the bijstand experiments are not public (CBS remote access
only), yet the person-level models, the collapsing trick and the one- vs two-stage comparison
must be built and validated. This module generates data with *known* true effects that mimics
each experiment's design as far as the reports describe it: arms, arm sizes, take-up,
coaches per arm and their caseloads. Every design number carries a ``source`` string
(``<seed file>:<line>`` or ``secondary_sources.md:<line>``, or ``assumption: ...``) and, for
numbers read from a report, the text exactly as printed, so a test can find it on that line.

Everything produced here is **synthetic**: every row has ``synthetic=True``, the DataFrame
carries ``attrs["synthetic"] = True`` and CSV output starts with a ``#`` comment saying so.

Data-generating model (for binary outcome ``y`` of person ``i`` in gemeente ``g`` with coach
``k``)::

    logit P(y_i = 1) = alpha_{g,m} + x_i' beta + u_k + lambda_i
                       + participated_i * sum_c A[arm_i, c] * (effect_c + delta_{g,c})

with ``u_k ~ N(0, sigma_coach)``, ``delta_{g,c} ~ N(0, tau)``, ``lambda_i ~ N(0, 0.5)`` a
person propensity shared by all of that person's outcomes, and ``A`` the 0/1 map from arms to
the three AMvB components (bundled arms are sums; ``keuze`` clients get the component they
chose, in the published proportions). Effects act on participants only, so intention-to-treat
(ITT) effects in the Zelen design of Groningen are diluted by take-up.

Run ``python -m bayes_bijstand.simulate --help`` for the command line.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd
from scipy.special import expit, logit

from bayes_bijstand.constants import COMPONENTS

S000 = "000_b1011bc5a1f5730a.txt"
S001 = "001_e8219d228756aa2a.txt"
S002 = "002_7413e549cc2fe340.txt"
SEC = "secondary_sources.md"


@dataclass(frozen=True)
class Cited:
    """A design number with its provenance.

    ``source`` is ``"<file>:<line>"`` for a number read from a report or ``"assumption: ..."``
    for a modelling choice; ``printed`` is the text exactly as it appears on that line (so a
    test can check the citation), or ``None`` for assumptions and derived numbers.
    """

    value: float
    source: str
    printed: str | None = None


def _c(value: float, file: str, line: int, printed: str | None = None) -> Cited:
    return Cited(float(value), f"{file}:{line}", printed)


def _assume(value: float, why: str) -> Cited:
    return Cited(float(value), f"assumption: {why}")


@dataclass(frozen=True)
class ArmDesign:
    """One randomised arm: size at assignment, take-up, and who coaches its participants.

    ``coaching`` is ``"dedicated"`` (participants served by coaches working for this arm only,
    listed in ``GemeenteDesign.dedicated``), ``"regular"`` (the gemeente's regular
    klantmanagers, shared by all arms) or ``"none"`` (no coach recorded: missing ``coach``).
    Non-participants are always served by regular klantmanagers.
    """

    arm: str
    n_assigned: Cited
    take_up: Cited
    coaching: Literal["dedicated", "regular", "none"] = "regular"


@dataclass(frozen=True)
class GemeenteDesign:
    """The published design of one experiment (see the module docstring for the model)."""

    gemeente: str
    design: Literal["zelen", "rct_after_consent"]
    arms: tuple[ArmDesign, ...]
    dedicated: Mapping[str, tuple[Cited, ...]]
    """arm -> caseload per dedicated coach (relative shares of the arm's participants)."""
    regular_caseload: Cited
    control_rate_m24: Cited
    sample_fraction: float = 1.0
    """Share of the published sample simulated at ``scale=1`` (Groningen: see DESIGNS)."""
    notes: str = ""
    extra: Mapping[str, Cited] = field(default_factory=dict)


_REG_CASELOAD = _c(90, S000, 3317, "1 op 80-100")
_CONSENT = _assume(1.0, "randomised after consent: all assigned clients take part")


def _equal_arms(total: Cited, arms: Sequence[str], dedicated_arms: Sequence[str]) -> tuple:
    """Split a published total equally over arms (per-arm sizes were not found)."""
    n = total.value / len(arms)
    src = f"assumption: equal split of {total.value:.0f} ({total.source}) over {len(arms)} arms"
    return tuple(
        ArmDesign(a, Cited(n, src), _CONSENT, "dedicated" if a in dedicated_arms else "regular")
        for a in arms
    )


def _dedicated(arms: Sequence[str], n_per_arm: float, caseload: float = 60.0) -> dict:
    k = max(1, round(n_per_arm / caseload))
    why = f"dedicated consulenten per treatment arm, caseload ~{caseload:.0f} (not published)"
    return {a: tuple(_assume(caseload, why) for _ in range(k)) for a in arms}


_GRONINGEN_ARMS = (
    ArmDesign("control", _c(1635, S000, 937, "N=1.635"), _c(222 / 1635, S000, 2957, "222")),
    ArmDesign("zelf_in_actie", _c(1641, S000, 941, "N=1.641"), _c(183 / 1641, S000, 2957, "183")),
    ArmDesign("extra_hulp", _c(1620, S000, 945, "N=1.620"), _c(144 / 1620, S000, 2957, "144"),
              "dedicated"),
    ArmDesign("werken_loont", _c(1649, S000, 950, "N=1.649"), _c(153 / 1649, S000, 2957, "153")),
    ArmDesign("keuze", _c(1647, S000, 955, "N=1.647"), _c(188 / 1647, S000, 2957, "188")),
    ArmDesign("reference", _c(146, S000, 872, "146"),
              _assume(0.0, "reference group was never invited")),
)

_SECONDARY_ARMS = {
    "utrecht": (_c(752, SEC, 15, "752"),
                ("control", "zelf_in_actie", "extra_hulp", "werken_loont")),
    "tilburg": (_c(780, SEC, 16, "780"),
                ("control", "zelf_in_actie+werken_loont", "extra_hulp",
                 "extra_hulp+werken_loont")),
    "wageningen": (_c(410, SEC, 17, "410"),
                   ("control", "zelf_in_actie", "extra_hulp", "werken_loont")),
    "deventer": (_c(364, SEC, 18, "364"),
                 ("control", "zelf_in_actie+werken_loont", "extra_hulp+werken_loont",
                  "werken_loont")),
}

DESIGNS: dict[str, GemeenteDesign] = {
    "groningen": GemeenteDesign(
        "groningen", "zelen", _GRONINGEN_ARMS,
        dedicated={"extra_hulp": tuple(_c(v, S000, 3703, str(v)) for v in (13, 47, 40, 50, 46))},
        regular_caseload=_REG_CASELOAD,
        control_rate_m24=_c(0.130, S000, 5230, "0,130"),
        sample_fraction=0.35,
        notes=("Zelen design: 8,192 invited, 890 consented (~11% take-up). The five werkcoaches "
               f"({S000}:1075) serve extra_hulp participants and keuze participants who chose "
               "maatwerk (T4.2). At scale=1 a 35% random sample of the invited population is "
               "simulated (equal in all arms) so that the pooled default is ~6,000 clients; "
               "use groningen_fraction=1 for all 8,192."),
        extra={
            "keuze_zelf_in_actie": _c(73, S000, 921, "N=73"),
            "keuze_extra_hulp": _c(58, S000, 926, "N=58"),
            "keuze_werken_loont": _c(57, S000, 930, "N-57"),
            "control_rate_m8": _c(0.062, S000, 5163, "0,062"),
            "control_rate_m16": _c(0.103, S000, 5195, "0,103"),
            "income_gt50_wml_m24": _c(0.116, S000, 5224, "0,116"),
            "survey_response": _c(0.853, S000, 1053, "85,3%"),
        },
    ),
    "nijmegen": GemeenteDesign(
        "nijmegen", "rct_after_consent",
        (
            ArmDesign("control", _c(131, S002, 732, "131"), _c(306 / 389, S002, 733, "306")),
            ArmDesign("zelf_in_actie+werken_loont", _c(130, S002, 730, "130"),
                      _c(306 / 389, S002, 733, "306"), "none"),
            ArmDesign("extra_hulp+werken_loont", _c(128, S002, 731, "128"),
                      _c(306 / 389, S002, 733, "306"), "dedicated"),
        ),
        dedicated={"extra_hulp+werken_loont": tuple(
            Cited(128 / 3, f"{S002}:669", "drie medewerkers") for _ in range(3))},
        regular_caseload=_REG_CASELOAD,
        control_rate_m24=_assume(0.13, "Groningen level; Nijmegen prints no control rate"),
        notes=("Three group coaches serve only the intensivering arm; the ontheffing arm had no "
               f"pro-active support ({S002}:426), so its coach is missing."),
    ),
    "oss": GemeenteDesign(
        "oss", "rct_after_consent",
        (
            ArmDesign("control", _c(119, S001, 648, "119"), _c(102 / 119, S001, 648, "102")),
            ArmDesign("zelf_in_actie", _c(111, S001, 645, "111"), _c(98 / 111, S001, 645, "98"),
                      "dedicated"),
            ArmDesign("extra_hulp", _c(115, S001, 646, "115"), _c(101 / 115, S001, 646, "101"),
                      "dedicated"),
        ),
        dedicated={a: tuple(_assume(1, "two consultant pairs (koppels, 001:3565) per arm")
                            for _ in range(2)) for a in ("zelf_in_actie", "extra_hulp")},
        regular_caseload=_REG_CASELOAD,
        control_rate_m24=_assume(0.13, "Groningen level; Oss prints outflow, not >12h work"),
        notes=(f"Consultants worked in pairs within one treatment ({S001}:3565); a pair is one "
               "coach unit. 345 met the criteria (001:594)."),
        extra={"n_total": _c(345, S001, 594, "345")},
    ),
}
for _g, (_total, _arms) in _SECONDARY_ARMS.items():
    DESIGNS[_g] = GemeenteDesign(
        _g, "rct_after_consent", _equal_arms(_total, _arms, _arms[1:]),
        dedicated=_dedicated(_arms[1:], _total.value / len(_arms)),
        regular_caseload=_REG_CASELOAD,
        control_rate_m24=(_c(0.15, SEC, 29, "15%") if _g == "utrecht"
                          else _assume(0.13, "Groningen level")),
        notes="Secondary source: totals only; arms split equally, coaching assumed dedicated.",
    )

COVARIATES: dict[str, tuple[tuple[str, Cited], ...]] = {
    "age_group": (("27-34", _c(0.21, S000, 2300, "21%")), ("35-44", _c(0.27, S000, 2302, "27%")),
                  ("45-54", _c(0.30, S000, 2304, "30%")), ("55+", _c(0.22, S000, 2306, "22%"))),
    "sex": (("man", _c(0.53, S000, 2294, "53%")), ("vrouw", _assume(0.47, "complement"))),
    "education": (("laag", _c(0.44, S000, 2313, "44%")),
                  ("middelbaar", _c(0.36, S000, 2315, "36%")),
                  ("hoog", _c(0.17, S000, 2317, "17%")),
                  ("onbekend", _c(0.03, S000, 2319, "3%"))),
    "migration": (("geen", _c(0.56, S000, 2326, "56%")), ("westers", _c(0.11, S000, 2328, "11%")),
                  ("niet_westers", _c(0.33, S000, 2330, "33%"))),
    "household": (("alleenstaand", _c(0.65, S000, 2336, "65%")),
                  ("alleenstaande_ouder", _c(0.16, S000, 2339, "16%")),
                  ("samenwonend", _c(0.19, S000, 2341, "19%"))),
    "benefit_duration": (("lt1", _c(0.06, S000, 2347, "6%")), ("1-3", _c(0.37, S000, 2349, "37%")),
                         ("3plus", _c(0.57, S000, 2351, "57%"))),
    "prior_earnings": (("0", _assume(0.8, "share without earnings in the year before")),
                       ("1", _assume(0.2, "complement"))),
}
"""Covariate distributions (Groningen research population, Tabel 5.3) used for every gemeente."""

COVARIATE_EFFECTS: dict[str, dict[str, float]] = {
    "age_group": {"35-44": -0.2, "45-54": -0.5, "55+": -1.0},
    "sex": {"vrouw": -0.2},
    "education": {"middelbaar": 0.3, "hoog": 0.6, "onbekend": 0.0},
    "migration": {"westers": -0.1, "niet_westers": -0.3},
    "household": {"alleenstaande_ouder": -0.3, "samenwonend": 0.1},
    "benefit_duration": {"1-3": -0.4, "3plus": -0.9},
    "prior_earnings": {"1": 0.8},
}
"""Log-odds shifts relative to the first level (assumption: plausible signs and sizes)."""

ARM_COMPONENTS: dict[str, tuple[str, ...]] = {
    "control": (), "reference": (), "keuze": (),
    "zelf_in_actie": ("zelf_in_actie",), "extra_hulp": ("extra_hulp",),
    "werken_loont": ("werken_loont",),
    "zelf_in_actie+werken_loont": ("zelf_in_actie", "werken_loont"),
    "extra_hulp+werken_loont": ("extra_hulp", "werken_loont"),
}
"""Which AMvB components an arm delivers (keuze: the component each client chose)."""

DEFAULT_EFFECTS: dict[str, float] = {"zelf_in_actie": 0.0, "extra_hulp": 0.2,
                                     "werken_loont": 0.1}
_MONTH_RATE_KEYS = {8: "control_rate_m8", 16: "control_rate_m16"}
_PERSON_SD = 0.5


def true_arm_effects(effects: Mapping[str, float]) -> dict[str, float]:
    """Participant-level log-odds effect of each treated arm vs control (sum of components).

    ``keuze`` is the take-up-weighted mix of the three components chosen in Groningen plus
    ``effects.get("keuze", 0)``; it is returned as that mix on the log-odds scale.
    """
    eff = {**DEFAULT_EFFECTS, **effects}
    out = {a: sum(eff[c] for c in comps) for a, comps in ARM_COMPONENTS.items()
           if comps}
    ex = DESIGNS["groningen"].extra
    w = np.array([ex[f"keuze_{c}"].value for c in COMPONENTS])
    out["keuze"] = float(np.dot(w / w.sum(), [eff[c] for c in COMPONENTS])
                         + eff.get("keuze", 0.0))
    return out


def _draw_cat(rng: np.random.Generator, levels: tuple[tuple[str, Cited], ...], n: int
              ) -> np.ndarray:
    p = np.array([c.value for _, c in levels])
    return np.array([name for name, _ in levels], dtype=object)[
        rng.choice(len(levels), size=n, p=p / p.sum())]


def _coach_shares(caseloads: Sequence[float], scale: float) -> np.ndarray:
    """Relative client shares of dedicated coaches; their count scales with the sample."""
    k = max(1, round(len(caseloads) * scale))
    base = np.asarray(caseloads, dtype=float)
    return np.resize(base, k) / np.resize(base, k).sum()


def simulate_microdata(
    *,
    effects: Mapping[str, float] | None = None,
    tau: float = 0.1,
    sigma_coach: float = 0.2,
    seed: int = 2017,
    scale: float = 1.0,
    gemeenten: Sequence[str] | None = None,
    groningen_fraction: float | None = None,
    months: Sequence[int] = (8, 16, 24),
    score_effect: float = 0.1,
    sigma_caseworker: float | None = None,
    arm_tau: Mapping[str, float] | None = None,
    person_sd: float = _PERSON_SD,
    covariate_effects: Mapping[str, Mapping[str, float]] | None = None,
) -> pd.DataFrame:
    """Simulate synthetic person-level microdata with known effects (see module docstring).

    Parameters
    ----------
    effects
        True participant-level effect per component on the log-odds scale
        (``zelf_in_actie``, ``extra_hulp``, ``werken_loont``, optional extra ``keuze``);
        missing keys take :data:`DEFAULT_EFFECTS`.
    tau
        Between-gemeente SD of the component effects (log-odds).
    sigma_coach
        SD of the coach random intercepts (log-odds). A dedicated coach serves only
        participants of treated arms, so for them this is the SD of the delivered effect
        across coaches.
    seed
        Seed of the ``numpy.random.Generator``; the same arguments give identical data.
    scale
        Multiplies every arm size (and hence the number of coaches; caseloads stay fixed).
        The default gives ~6,000 clients and ~80 coaches; ``scale=68`` gives ~400,000.
    gemeenten
        Subset of :data:`DESIGNS` to simulate (default: all seven).
    groningen_fraction
        Share of Groningen's invited population to simulate (default 0.35, see DESIGNS).
    months
        Months at which ``work_gt12h_m<months>`` is generated (24 is always included and
        also carries ``income_gt50_wml_m24`` and the survey score ``social_trust_m24``).
    score_effect
        Effect of each delivered component on ``social_trust_m24`` (points on a 1-10 scale).
    sigma_caseworker
        SD of the intercepts of regular klantmanagers (log-odds); default ``sigma_coach``.
        The same seed gives the same standard-normal draws whatever the two SDs.
    arm_tau
        Between-gemeente SD per randomised arm (log-odds), e.g. ``{"extra_hulp": 0.3}``:
        when given, every gemeente draws one independent deviation per arm with that SD
        instead of one per component (``tau``; a bundled arm then has SD ``tau * sqrt(2)``
        and shares its components' deviations). This is the structure of the fitted model's
        ``(delivered | gemeente)`` term; arms not listed keep the component deviations.
        ``keuze`` clients keep the component deviations of what they chose.
    person_sd
        SD of the person propensity ``lambda_i`` (log-odds, default 0.5). A fitted model
        without a person term estimates effects averaged over it (attenuated toward zero);
        0 makes the simulator's effect the fitted model's estimand.
    covariate_effects
        Log-odds shifts of the covariates (default :data:`COVARIATE_EFFECTS`); e.g. only
        the covariates a lean formula has, so that no omitted covariate attenuates effects.
    """
    if scale <= 0:
        raise ValueError(f"scale must be positive, got {scale}")
    if person_sd < 0:
        raise ValueError(f"person_sd must be >= 0, got {person_sd}")
    eff = {**DEFAULT_EFFECTS, **(effects or {})}
    unknown = set(eff) - {*COMPONENTS, "keuze"}
    if unknown:
        raise ValueError(f"unknown effect components {sorted(unknown)}; use {COMPONENTS}")
    rng = np.random.default_rng(seed)
    months = sorted({*months, 24})
    names = list(gemeenten) if gemeenten is not None else list(DESIGNS)
    frames = []
    for g in names:
        d = DESIGNS[g]
        frac = scale * (groningen_fraction if (g == "groningen" and groningen_fraction is not None)
                        else d.sample_fraction)
        frames.append(_simulate_gemeente(d, rng, frac, eff, tau, sigma_coach, months,
                                         score_effect, sigma_caseworker, arm_tau, person_sd,
                                         covariate_effects))
    df = pd.concat(frames, ignore_index=True)
    df.insert(0, "person_id", [f"p{i:07d}" for i in range(1, len(df) + 1)])
    df["synthetic"] = True
    df.attrs.update(synthetic=True, generator="bayes_bijstand.simulate",
                    arguments=json.dumps({"effects": eff, "tau": tau, "sigma_coach": sigma_coach,
                                          "seed": seed, "scale": scale}
                                         | ({} if sigma_caseworker is None
                                            else {"sigma_caseworker": sigma_caseworker})
                                         | ({} if arm_tau is None
                                            else {"arm_tau": dict(arm_tau)})
                                         | ({} if person_sd == _PERSON_SD
                                            else {"person_sd": person_sd})
                                         | ({} if covariate_effects is None
                                            else {"covariate_effects": {
                                                k: dict(v) for k, v in
                                                covariate_effects.items()}})))
    return df


def _simulate_gemeente(d: GemeenteDesign, rng: np.random.Generator, frac: float,
                       eff: Mapping[str, float], tau: float, sigma_coach: float,
                       months: Sequence[int], score_effect: float,
                       sigma_caseworker: float | None = None,
                       arm_tau: Mapping[str, float] | None = None,
                       person_sd: float = 0.5,
                       covariate_effects: Mapping[str, Mapping[str, float]] | None = None,
                       ) -> pd.DataFrame:
    """One gemeente: arms, take-up, coaches, covariates and outcomes (vectorised per arm)."""
    delta = {c: rng.normal(0.0, tau) for c in COMPONENTS}
    arm_delta = ({a.arm: rng.normal(0.0, arm_tau[a.arm]) for a in d.arms if a.arm in arm_tau}
                 if arm_tau else {})
    sizes = [max(1, round(a.n_assigned.value * frac)) for a in d.arms]
    n = int(sum(sizes))
    arm = np.repeat([a.arm for a in d.arms], sizes).astype(object)
    take = np.repeat([a.take_up.value for a in d.arms], sizes)
    part = rng.random(n) < take
    coach = np.full(n, None, dtype=object)
    effect = np.zeros(n)
    n_comp = np.zeros(n)
    chosen = np.full(n, "", dtype=object)  # component chosen by keuze clients
    start = 0
    ex = d.extra
    for a, size in zip(d.arms, sizes, strict=True):
        sl = slice(start, start + size)
        start += size
        if a.arm == "keuze":
            w = np.array([ex[f"keuze_{c}"].value for c in COMPONENTS])
            pick = rng.choice(3, size=size, p=w / w.sum())
            chosen[sl] = np.array(COMPONENTS, dtype=object)[pick]
            gains = np.array([eff[c] + delta[c] for c in COMPONENTS])
            effect[sl] = gains[pick] + eff.get("keuze", 0.0)
            n_comp[sl] = 1
        else:
            cs = ARM_COMPONENTS[a.arm]
            if a.arm in arm_delta:
                effect[sl] = sum(eff[c] for c in cs) + arm_delta[a.arm]
            else:
                effect[sl] = sum(eff[c] + delta[c] for c in cs)
            n_comp[sl] = len(cs)
        if a.coaching == "none":
            continue
        if a.coaching == "dedicated":
            shares = _coach_shares([c.value for c in d.dedicated[a.arm]], frac)
            idx = rng.choice(len(shares), size=size, p=shares)
            coach[sl] = np.array([f"{g_short(d)}_{a.arm}_c{j + 1}" for j in range(len(shares))],
                                 dtype=object)[idx]
            coach[sl] = np.where(part[sl], coach[sl], None)
    # Groningen: werkcoaches also serve keuze participants who chose maatwerk (T4.2).
    if d.gemeente == "groningen":
        chose = (arm == "keuze") & part & (chosen == "extra_hulp")
        k_ded = len(_coach_shares([c.value for c in d.dedicated["extra_hulp"]], frac))
        coach[chose] = np.array([f"gro_extra_hulp_c{j + 1}" for j in range(k_ded)],
                                dtype=object)[rng.integers(0, k_ded, chose.sum())]
    regular = np.array([c is None for c in coach])
    none_arms = {a.arm for a in d.arms if a.coaching == "none"}
    regular &= ~(np.isin(arm, list(none_arms)) & part)
    regular &= arm != "reference"
    n_reg = max(1, round(regular.sum() / d.regular_caseload.value))
    coach[regular] = np.array([f"{g_short(d)}_km{j + 1:02d}" for j in range(n_reg)],
                              dtype=object)[rng.integers(0, n_reg, regular.sum())]
    coach[arm == "reference"] = f"{g_short(d)}_km_ref"

    out: dict[str, np.ndarray] = {"gemeente": np.full(n, d.gemeente, dtype=object),
                                  "coach": coach, "arm": arm,
                                  "participated": part.astype(np.int8)}
    lin = np.zeros(n)
    for var, levels in COVARIATES.items():
        vals = _draw_cat(rng, levels, n)
        out[var] = vals
        shifts = (COVARIATE_EFFECTS if covariate_effects is None
                  else covariate_effects).get(var, {})
        lin += np.array([shifts.get(v, 0.0) for v in levels_iter(levels)])[
            _codes(vals, levels)]
    lin -= lin.mean()
    coaches = pd.unique(coach[coach != None])  # noqa: E711 - object array comparison
    s_cw = sigma_coach if sigma_caseworker is None else sigma_caseworker
    is_reg = np.array(["_km" in str(c) for c in coaches])
    sd = np.where(is_reg, s_cw, sigma_coach)
    u = dict(zip(coaches, rng.normal(0.0, 1.0, len(coaches)) * sd, strict=True))
    u_i = np.array([u.get(c, 0.0) if c is not None else 0.0 for c in coach])
    person_z = rng.normal(0.0, 1.0, n)
    person = person_z * person_sd
    treat = part * effect
    # Intercept adjusted so the control-group marginal rate matches the cited rate
    # (logit-probit approximation: E[expit(a + e)] ~ expit(a / sqrt(1 + 0.346 var(e)))).
    v = lin.var() + s_cw**2 + person_sd**2
    infl = np.sqrt(1 + 0.346 * v)
    rate24 = d.control_rate_m24.value
    g_rates = DESIGNS["groningen"].extra
    for m in months:
        if m == 24:
            r = rate24
        else:
            key = _MONTH_RATE_KEYS.get(m)
            r = rate24 * (g_rates[key].value / 0.130) if key else rate24
        eta = logit(r) * infl + lin + u_i + person + treat
        out[f"work_gt12h_m{m}"] = (rng.random(n) < expit(eta)).astype(np.int8)
    eta_inc = logit(g_rates["income_gt50_wml_m24"].value) * infl + lin + u_i + person + treat
    out["income_gt50_wml_m24"] = (rng.random(n) < expit(eta_inc)).astype(np.int8)
    score = (6.2 + 0.8 * person_z + 0.3 * lin + score_effect * part * n_comp
             + rng.normal(0.0, 1.2, n))
    score = np.round(np.clip(score, 1.0, 10.0), 1)
    responded = rng.random(n) < g_rates["survey_response"].value
    if d.design == "zelen":
        responded &= part  # only consenting participants were surveyed
    out["social_trust_m24"] = np.where(responded, score, np.nan)
    return pd.DataFrame(out)


def g_short(d: GemeenteDesign) -> str:
    """Three-letter prefix for synthetic coach ids (``gro``, ``nij``, ...)."""
    return d.gemeente[:3]


def levels_iter(levels: tuple[tuple[str, Cited], ...]) -> list[str]:
    """Level names of a covariate spec, in order."""
    return [name for name, _ in levels]


def _codes(vals: np.ndarray, levels: tuple[tuple[str, Cited], ...]) -> np.ndarray:
    return pd.Categorical(vals, categories=levels_iter(levels)).codes


def design_table() -> pd.DataFrame:
    """Every design number with its source, one row per number (for docs and tests)."""
    rows = []
    for g, d in DESIGNS.items():
        for a in d.arms:
            rows.append((g, a.arm, "n_assigned", a.n_assigned))
            rows.append((g, a.arm, "take_up", a.take_up))
        for arm, cs in d.dedicated.items():
            for j, c in enumerate(cs):
                rows.append((g, arm, f"coach_{j + 1}_caseload", c))
        rows.append((g, "", "regular_caseload", d.regular_caseload))
        rows.append((g, "control", "control_rate_m24", d.control_rate_m24))
        rows.extend((g, "", k, c) for k, c in d.extra.items())
    for var, levels in COVARIATES.items():
        rows.extend(("all", "", f"{var}={name}", c) for name, c in levels)
    return pd.DataFrame([(g, a, q, c.value, c.source, c.printed) for g, a, q, c in rows],
                        columns=["gemeente", "arm", "quantity", "value", "source", "printed"])


def write_atomic(df: pd.DataFrame, path: str | os.PathLike[str]) -> Path:
    """Write CSV (with a ``# SYNTHETIC`` header comment) or Parquet via temp file + rename."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            if path.suffix.lower() in {".parquet", ".pq"}:
                df.to_parquet(fh, index=False)
            else:
                fh.write(b"# SYNTHETIC DATA generated by bayes_bijstand.simulate; not real "
                         b"clients. arguments: " + df.attrs.get("arguments", "").encode() + b"\n")
                df.to_csv(fh, index=False, lineterminator="\n")
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def parse_effects(text: str) -> dict[str, float]:
    """``"zelf_in_actie=0,extra_hulp=0.2"`` -> ``{"zelf_in_actie": 0.0, "extra_hulp": 0.2}``."""
    out = {}
    for part in filter(None, text.split(",")):
        key, _, val = part.partition("=")
        out[key.strip()] = float(val)
    return out


def main(argv: Sequence[str] | None = None) -> int:
    """Command-line entry point: ``python -m bayes_bijstand.simulate --out FILE``."""
    p = argparse.ArgumentParser(
        prog="python -m bayes_bijstand.simulate",
        description=("Write SYNTHETIC person-level microdata calibrated to the published designs "
                     "of the bijstand experiments (arms, sizes, take-up, coaches). Output is "
                     "labelled synthetic (column synthetic=True; CSV header comment)."),
        formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--out", required=True, help="output file (.csv or .parquet)")
    p.add_argument("--seed", type=int, default=2017, help="random seed")
    p.add_argument("--scale", type=float, default=1.0,
                   help="multiply all arm sizes (1 = ~6,000 clients; 68 = ~400,000)")
    p.add_argument("--tau", type=float, default=0.1,
                   help="between-gemeente SD of component effects (log-odds)")
    p.add_argument("--sigma-coach", type=float, default=0.2,
                   help="SD of coach random intercepts (log-odds)")
    p.add_argument("--effects", default="zelf_in_actie=0,extra_hulp=0.2,werken_loont=0.1",
                   help="true component effects on the log-odds scale, comma-separated k=v")
    p.add_argument("--gemeenten", default=None,
                   help=f"comma-separated subset of {','.join(DESIGNS)}")
    args = p.parse_args(argv)
    try:
        effects = parse_effects(args.effects)
        gem = args.gemeenten.split(",") if args.gemeenten else None
        if gem and set(gem) - set(DESIGNS):
            raise ValueError(f"unknown gemeenten {sorted(set(gem) - set(DESIGNS))}")
        df = simulate_microdata(effects=effects, tau=args.tau, sigma_coach=args.sigma_coach,
                                seed=args.seed, scale=args.scale, gemeenten=gem)
        write_atomic(df, args.out)
    except (ValueError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"wrote {len(df)} synthetic clients, {df['coach'].nunique()} coaches to {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
