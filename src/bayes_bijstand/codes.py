"""The codes a command line selects by (outcomes, arms, municipalities): listing and checking.

What: :func:`listing` renders the outcome, arm or municipality codes of an evidence table with
their labels and how much evidence each has (``fit --list-outcomes`` etc.);
:func:`check_codes` refuses a code that selects nothing, naming the flag that gave it and
the nearest known code (``--arm zelf_in_aktie: no evidence ... did you mean
'zelf_in_actie'?``), before any selection can make a different flag look guilty.

Why: a new user does not know the codes, and a typo in one flag used to surface as "no
usable evidence" for another.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable

import pandas as pd

from .errors import InputError

__all__ = ["KINDS", "check_codes", "listing"]

#: what can be listed -> the evidence column holding its codes
KINDS: dict[str, str] = {"outcomes": "outcome", "arms": "arm", "gemeenten": "gemeente"}


#: the arms of the AMvB experiments in words (the registry's labels are each city's own names)
ARM_LABELS: dict[str, str] = {
    "zelf_in_actie": "exemption from obligations (zelf in actie, eigen regie)",
    "extra_hulp": "intensive tailored coaching (extra hulp, maatwerk)",
    "werken_loont": "larger earnings disregard (werken loont, bijverdienen)",
    "extra_hulp+werken_loont": "coaching + earnings disregard",
    "zelf_in_actie+werken_loont": "exemption + earnings disregard",
    "keuze": "own choice among the arms (keuzegroep)",
    "control": "control group",
    "participants": "participants (take-up comparisons)",
    "reference": "reference group",
    "unspecified": "arm not specified in the source",
}


def _labels(kind: str) -> dict[str, str]:
    """code -> English label (outcomes: label and scale; arms: the registry's arm label)."""
    try:
        if kind == "outcomes":
            from .evidence.load import load_outcomes

            t = load_outcomes()
            return {str(r["outcome"]): f"{r['label_en']} [{r['kind']}]" for _, r in t.iterrows()}
        if kind == "arms":
            from .evidence.registry import load_arms

            t = load_arms().dropna(subset=["arm_label"]).drop_duplicates("arm")
            return {**{str(r["arm"]): str(r["arm_label"]) for _, r in t.iterrows()},
                    **ARM_LABELS}
        from .evidence.registry import load_studies

        t = load_studies()
        return {str(r["gemeente"]): str(r["name"]) if isinstance(r["name"], str) and r["name"]
                else str(r["gemeente"]).replace("_", "/").title() for _, r in t.iterrows()}
    except (OSError, KeyError, ValueError):  # labels are a courtesy; codes still list
        return {}


def listing(evidence: pd.DataFrame, kind: str) -> str:
    """A table of the ``kind`` codes in ``evidence`` with label, rows and municipalities."""
    col = KINDS[kind]
    labels = _labels(kind)
    rows = []
    for code, g in evidence.groupby(col, sort=True):
        other = "outcome" if col != "outcome" else "gemeente"
        rows.append((str(code), labels.get(str(code), ""), len(g),
                     g["gemeente"].nunique() if col != "gemeente" else g["outcome"].nunique(),
                     other))
    if not rows:
        return f"(no {kind} in the evidence)"
    w = max(len(r[0]) for r in rows)
    lw = min(60, max(len(r[1]) for r in rows))
    what = "municipalities" if col != "gemeente" else "outcomes"
    head = f"{col:<{w}}  {'label':<{lw}}  {'rows':>5}  {what}"
    out = [head] + [f"{c:<{w}}  {lab[:lw]:<{lw}}  {n:>5}  {m}" for c, lab, n, m, _ in rows]
    return "\n".join(out)


def _suggest(value: str, known: Iterable[str]) -> str:
    known = sorted(set(known))
    near = difflib.get_close_matches(value, known, n=1, cutoff=0.6)
    return f"did you mean '{near[0]}'?" if near else \
        f"known: {', '.join(known[:12])}{', ...' if len(known) > 12 else ''}"


def check_codes(evidence: pd.DataFrame, *, gemeenten: Iterable[str] = (),
                outcomes: Iterable[str] = (), arms: Iterable[str] = (), file: str = "evidence"
                ) -> None:
    """Raise a one-line :class:`InputError` naming the flag of the first code with no evidence.

    Each flag is checked against the whole evidence table on its own, so a misspelt ``--arm``
    is blamed on ``--arm`` (with the nearest known code), not on the outcome it empties.
    """
    for flag, col, values, kind in (("--gemeente", "gemeente", gemeenten, "gemeenten"),
                                    ("--outcome", "outcome", outcomes, "outcomes"),
                                    ("--arm", "arm", arms, "arms")):
        known = set(evidence[col].astype(str))
        for v in values:
            if v not in known:
                raise InputError(flag, f"no evidence in {file} for {col} '{v}' "
                                 f"({_suggest(v, known)}; fit --list-{kind} lists them)")
