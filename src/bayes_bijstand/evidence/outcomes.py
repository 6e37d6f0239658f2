"""Outcomes and their scales: the one place an outcome code becomes an object.

``data/outcomes.csv`` is the harmonised outcome vocabulary (code, kind, labels, how it was
measured). :func:`get_outcome` turns a code into an :class:`Outcome`; its :class:`Scale`
says what scale the model works on (a risk difference for binary outcomes, a standardised
mean difference for scores), how values are shown to people, and in which unit. An unknown
code (a user's own outcome) is binary, labelled by its code and measured by register.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from .paths import data_dir


@dataclass(frozen=True)
class Scale:
    """The model scale of an outcome kind and how its values are shown."""

    kind: str  # the outcome kind it belongs to: binary | score
    name: str  # the model scale: risk_difference (proportion) | smd
    display_factor: float  # model scale -> display unit (x100: percentage points)
    unit: str  # the display unit
    description: str  # the model scale in words (printed under summaries)


SCALES: dict[str, Scale] = {
    "binary": Scale(kind="binary", name="risk_difference", display_factor=100.0,
                    unit="percentage points",
                    description="risk difference (proportion, -1 to 1; x100 = percentage points)"),
    "score": Scale(kind="score", name="smd", display_factor=1.0, unit="SD (SMD)",
                   description="standardised mean difference (SMD)"),
}
"""Outcome kind -> its scale (the outcome kinds are the keys)."""

KINDS: tuple[str, ...] = tuple(SCALES)


def get_scale(kind: str) -> Scale:
    """The :class:`Scale` of an outcome kind (``binary`` or ``score``)."""
    try:
        return SCALES[kind]
    except KeyError:
        raise ValueError(f"unknown outcome kind '{kind}' (known: {', '.join(KINDS)})") from None


@dataclass(frozen=True)
class Outcome:
    """One harmonised outcome: code, kind (and so scale), labels, how it was measured."""

    code: str
    kind: str  # binary | score
    label_en: str
    label_nl: str
    measured: str = "register"  # register | survey | consultant_survey
    known: bool = True  # False: not in the vocabulary (a user's own code)

    @property
    def scale(self) -> Scale:
        """The model scale and display unit of this outcome."""
        return get_scale(self.kind)


THRESHOLD_FAMILIES: dict[str, tuple[str, ...]] = {
    "work_hours": ("work_gt8h", "work_gt12h", "work_gt27h", "work_gt32h"),
    "income_wml": ("income_gt50_wml", "income_gt70_wml", "income_gt100_wml"),
}
"""Nested-threshold families, lowest threshold first: each member is ``1[X > k]`` of one
variable (hours of work a week; income as a share of the minimum wage). Their joint fit is
named ``<family>.joint`` (:mod:`bayes_bijstand.models.thresholds`)."""

JOINT_SUFFIX = ".joint"
"""Suffix of a joint thresholds fit's name (a dot never occurs in an outcome code)."""

JOINT_LABELS: dict[str, tuple[str, str]] = {
    "work_hours": ("Hours of work: latent shift behind > 8/12/27/32 h (joint thresholds)",
                   "Arbeidsuren: latente verschuiving achter > 8/12/27/32 uur (drempels samen)"),
    "income_wml": ("Income: latent shift behind > 50/70/100% of the minimum wage (joint)",
                   "Inkomen: latente verschuiving achter > 50/70/100% WML (drempels samen)"),
}


DOMAIN_FAMILIES: dict[str, tuple[str, ...]] = {
    "institutional_trust": ("institutional_trust", "trust_municipality", "trust_income_service",
                            "trust_employment_service", "trust_national_government"),
    "mental_health": ("health_index", "mental_not_nervous", "mental_not_depressed",
                      "mental_calm", "mental_not_down", "mental_happy"),
    "job_search_efficacy": ("job_search_self_efficacy", "job_search_self_efficacy_future",
                            "job_search_self_efficacy_impression",
                            "job_search_self_efficacy_matching_job",
                            "job_search_self_efficacy_effort"),
    "social_contacts": ("participation", "social_integration", "contact_family",
                        "contact_friends", "contact_neighbours"),
}
"""Domains of survey outcomes that measure one construct (each a score on the SMD scale,
higher is better): a scale that several municipalities report first, then the items that
only one reports. Their domain fit is named ``<domain>.domain``
(:mod:`bayes_bijstand.models.domains`)."""

DOMAIN_SUFFIX = ".domain"
"""Suffix of a domain fit's name."""

DOMAIN_LABELS: dict[str, tuple[str, str]] = {
    "institutional_trust": ("Institutional trust: scale and trust items (domain)",
                            "Institutioneel vertrouwen: schaal en items (domein)"),
    "mental_health": ("Mental health: experienced-health index and its items (domain)",
                      "Mentale gezondheid: ervaren gezondheid en items (domein)"),
    "job_search_efficacy": ("Job-search self-efficacy: index and items (domain)",
                            "Werkzoekvertrouwen: index en items (domein)"),
    "social_contacts": ("Social participation and contacts (domain)",
                        "Sociale participatie en contacten (domein)"),
}


def domain_family(code: str) -> str | None:
    """The domain of a domain fit's name (``mental_health.domain`` -> ``mental_health``), or None."""
    if code.endswith(DOMAIN_SUFFIX) and code[: -len(DOMAIN_SUFFIX)] in DOMAIN_FAMILIES:
        return code[: -len(DOMAIN_SUFFIX)]
    return None


def threshold_family(code: str) -> str | None:
    """The family of a joint fit's name (``work_hours.joint`` -> ``work_hours``), or None."""
    if code.endswith(JOINT_SUFFIX) and code[: -len(JOINT_SUFFIX)] in THRESHOLD_FAMILIES:
        return code[: -len(JOINT_SUFFIX)]
    return None


TRAJECTORY_SUFFIX = ".trajectory"
"""Suffix of a trajectory fit's name (``work_gt12h.trajectory``: the effect of each arm by
month, :mod:`bayes_bijstand.models.trajectories`)."""


def trajectory_outcome(code: str) -> str | None:
    """The outcome of a trajectory fit's name (``work_gt12h.trajectory`` -> ``work_gt12h``), or None."""
    if code.endswith(TRAJECTORY_SUFFIX) and len(code) > len(TRAJECTORY_SUFFIX):
        return code[: -len(TRAJECTORY_SUFFIX)]
    return None


def load_outcomes() -> pd.DataFrame:
    """The harmonised outcome vocabulary (code, kind binary/score, English and Dutch labels)."""
    df = pd.read_csv(data_dir() / "outcomes.csv", dtype=str, keep_default_na=False)
    return df.drop_duplicates("outcome", keep="first").reset_index(drop=True)


def get_outcome(code: str, table: pd.DataFrame | None = None) -> Outcome:
    """The :class:`Outcome` of a code (``table``: :func:`load_outcomes`, read if not given).

    Every kind other than ``binary`` in the vocabulary is a score; an unknown code is a
    binary outcome labelled by its code. A joint thresholds fit (``work_hours.joint``) is a
    latent shift in SD units: a score. A trajectory fit (``work_gt12h.trajectory``) has its
    outcome's kind, scale and measurement.
    """
    base = trajectory_outcome(code)
    if base is not None:
        o = get_outcome(base, table)
        return Outcome(code=code, kind=o.kind, label_en=f"{o.label_en} (effect by month)",
                       label_nl=f"{o.label_nl} (effect per maand)", measured=o.measured,
                       known=o.known)
    fam = threshold_family(code)
    if fam:
        en, nl = JOINT_LABELS[fam]
        return Outcome(code=code, kind="score", label_en=en, label_nl=nl)
    dom = domain_family(code)
    if dom:
        en, nl = DOMAIN_LABELS[dom]
        return Outcome(code=code, kind="score", label_en=en, label_nl=nl, measured="survey")
    t = (load_outcomes() if table is None else table).set_index("outcome")
    if code not in t.index:
        return Outcome(code=code, kind="binary", label_en=code, label_nl=code, known=False)
    row = t.loc[code]
    measured = str(row["measured"]) if "measured" in t.columns else ""
    return Outcome(code=code, kind="binary" if row["kind"] == "binary" else "score",
                   label_en=str(row["label_en"]), label_nl=str(row["label_nl"]),
                   measured=measured or "register")


def outcome_kind(code: str) -> str:
    """``binary`` or ``score`` for an outcome code (unknown codes: binary)."""
    return get_outcome(code).kind


def outcome_label(code: str) -> tuple[str, str]:
    """(English, Dutch) display labels of an outcome code (unknown codes: the code)."""
    o = get_outcome(code)
    return o.label_en, o.label_nl
