r"""Net fiscal effect: benefit payments saved minus the extra cost of an arm, with its uncertainty.

A municipality decides on money. For an arm with per-participant effect ``d`` on the share
of clients off social assistance (a risk difference at the horizon, from a fitted outcome
such as ``outflow_benefit`` or, as a lower bound, ``outflow_work``), over a horizon of ``H``
months the net saving per participant is::

    net = f * d * H * B / 12  -  H * c_arm

where ``B`` is the benefit cost per person per year, ``c_arm`` the extra monthly cost of the
arm per participant (the sum of its components' costs for a bundle), and ``f`` the share of
the horizon's months the effect is in force: 1/2 for the default ``ramp`` profile (the
effect grows linearly from 0 at assignment - the month-0 placebo baseline - to ``d`` at the
horizon) and 1 for ``constant`` (the full effect from the first month; an upper bound).
Per *assigned* client (what a municipality pays for when it offers the arm to everyone
eligible) both terms scale with the take-up ``pi``: only participants get the extra
guidance and only they move, so ``net_assigned = pi * net``.

Every cost input is either printed in a source report (file and line) or a declared
assumption with its reasoning (``evidence/data/costs.toml``; a municipality passes its own
file). Ranges are drawn uniformly, independently of the effect posterior, one cost draw per
posterior draw (seeded), so ``P(net > 0)`` carries the cost uncertainty as well as the
effect's. The posterior draws used are the pooled effect (``mu_arm``), the effect in a new
municipality (``theta_new``: new coaches, new context) and each municipality's shrunken
effect (``theta``).
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from .constants import CI_PROB
from .errors import SpecError
from .summaries import describe

PROFILES = {"ramp": 0.5, "constant": 1.0}
"""Share of the horizon's benefit months over which the effect is in force, by profile."""

_COST_KEYS = {"low", "high", "source", "line", "printed", "basis"}
_TOP_KEYS = {"horizon_months", "effect_profile", "effect_outcomes", "benefit_cost_per_year",
             "guidance_cost_per_year", "arm_cost"}


@dataclass(frozen=True)
class CostItem:
    """One cost input: a uniform range in euros and where it comes from."""

    low: float
    high: float
    source: str
    line: int | None = None
    printed: str = ""
    basis: str = ""

    def draw(self, rng: np.random.Generator, n: int) -> np.ndarray:
        if self.high == self.low:
            return np.full(n, float(self.low))
        return rng.uniform(self.low, self.high, size=n)

    @property
    def cite(self) -> str:
        return f"{self.source} L{self.line}" if self.line is not None else self.source


@dataclass(frozen=True)
class CostInputs:
    """The cost side of the net fiscal effect (see the module docstring)."""

    horizon_months: int
    effect_profile: str
    effect_outcomes: tuple[str, ...]
    benefit_cost_per_year: CostItem
    arm_cost: dict[str, CostItem] = field(default_factory=dict)
    guidance_cost_per_year: CostItem | None = None
    path: str = ""

    @property
    def profile_share(self) -> float:
        return PROFILES[self.effect_profile]

    def arm_monthly_cost(self, arm: str, rng: np.random.Generator, n: int) -> np.ndarray | None:
        """Draws of the extra monthly cost of an arm (sum over its components), or None if
        a component has no cost input."""
        total = np.zeros(n)
        for comp in (c for c in arm.split("+") if c):
            item = self.arm_cost.get(comp)
            if item is None:
                return None
            total = total + item.draw(rng, n)
        return total

    def inputs_table(self) -> pd.DataFrame:
        """Every cost input with its range and source, for the report and ``fiscal_inputs.csv``."""
        items = [("benefit_cost_per_year", self.benefit_cost_per_year)]
        if self.guidance_cost_per_year is not None:
            items.append(("guidance_cost_per_year", self.guidance_cost_per_year))
        items += [(f"arm_cost_per_month.{a}", c) for a, c in self.arm_cost.items()]
        return pd.DataFrame([{"input": k, "low_eur": c.low, "high_eur": c.high, "source": c.cite,
                              "printed": c.printed, "basis": c.basis} for k, c in items])


def default_costs_path() -> Path:
    return Path(__file__).parent / "evidence" / "data" / "costs.toml"


def _cost_item(d: object, file: str, key: str) -> CostItem:
    if not isinstance(d, dict):
        raise SpecError(file, "must be a table with low, high and source", key=key)
    unknown = set(d) - _COST_KEYS
    if unknown:
        raise SpecError(file, f"unknown key '{sorted(unknown)[0]}'", key=key)
    for k in ("low", "high", "source"):
        if k not in d:
            raise SpecError(file, f"missing '{k}'", key=key)
    try:
        low, high = float(d["low"]), float(d["high"])
    except (TypeError, ValueError):
        raise SpecError(file, "low and high must be numbers (euros)", key=key) from None
    if not (np.isfinite(low) and np.isfinite(high)) or low < 0 or high < low or high > 1e6:
        raise SpecError(file, f"needs 0 <= low <= high <= 1,000,000 euros (got {low}, {high})",
                        key=key)
    src = str(d["source"]).strip()
    line = d.get("line")
    if src != "assumption" and line is None:
        raise SpecError(file, "a cost from a source needs its 'line' (or source = \"assumption\")",
                        key=key)
    if src == "assumption" and not str(d.get("basis", "")).strip():
        raise SpecError(file, "an assumed cost needs a 'basis' saying why", key=key)
    if line is not None and (not isinstance(line, int) or line < 1):
        raise SpecError(file, "line must be a positive integer", key=key)
    return CostItem(low=low, high=high, source=src, line=line,
                    printed=str(d.get("printed", "")), basis=str(d.get("basis", "")))


def load_costs(path: str | Path | None = None) -> CostInputs:
    """Parse a cost file (default: the shipped ``evidence/data/costs.toml``), strictly."""
    p = Path(path) if path is not None else default_costs_path()
    file = str(p)
    try:
        raw = tomllib.loads(p.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise SpecError(file, "cost file not found") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as e:
        raise SpecError(file, f"not valid TOML ({e})") from None
    unknown = set(raw) - _TOP_KEYS
    if unknown:
        raise SpecError(file, "unknown key", key=sorted(unknown)[0])
    horizon = raw.get("horizon_months", 24)
    if not isinstance(horizon, int) or not 1 <= horizon <= 240:
        raise SpecError(file, "must be a whole number of months in 1..240", key="horizon_months")
    profile = raw.get("effect_profile", "ramp")
    if profile not in PROFILES:
        raise SpecError(file, f"must be one of {', '.join(PROFILES)}", key="effect_profile")
    outcomes = raw.get("effect_outcomes", ["outflow_benefit", "outflow_work"])
    if not isinstance(outcomes, list) or not outcomes or not all(isinstance(o, str) for o in outcomes):
        raise SpecError(file, "must be a non-empty list of outcome codes", key="effect_outcomes")
    if "benefit_cost_per_year" not in raw:
        raise SpecError(file, "missing", key="benefit_cost_per_year")
    arms = raw.get("arm_cost", {})
    if not isinstance(arms, dict):
        raise SpecError(file, "must be a table of arm components", key="arm_cost")
    return CostInputs(
        horizon_months=horizon, effect_profile=profile, effect_outcomes=tuple(outcomes),
        benefit_cost_per_year=_cost_item(raw["benefit_cost_per_year"], file, "benefit_cost_per_year"),
        guidance_cost_per_year=(_cost_item(raw["guidance_cost_per_year"], file, "guidance_cost_per_year")
                                if "guidance_cost_per_year" in raw else None),
        arm_cost={a: _cost_item(v, file, f"arm_cost.{a}") for a, v in arms.items()},
        path=file)


def _stack(da: object) -> np.ndarray:
    """(..., sample) array of a posterior variable with chain and draw stacked."""
    return da.stack(sample=("chain", "draw")).transpose(..., "sample").values  # type: ignore[attr-defined]


def net_draws(effect: np.ndarray, costs: CostInputs, arm: str, rng: np.random.Generator
              ) -> np.ndarray | None:
    """Draws of the net saving per participant (euros) over the horizon for effect draws
    ``effect`` (risk difference on leaving assistance); None if the arm has no cost input."""
    n = effect.shape[-1]
    c_arm = costs.arm_monthly_cost(arm, rng, n)
    if c_arm is None:
        return None
    benefit = costs.benefit_cost_per_year.draw(rng, n)
    h = costs.horizon_months
    return costs.profile_share * effect * h * benefit / 12.0 - h * c_arm


def _describe(x: np.ndarray, ci_prob: float) -> dict[str, float]:
    """:func:`~bayes_bijstand.summaries.describe` of net-saving draws, in the table's names."""
    d = describe(x, ci_prob=ci_prob)
    return {"mean_eur": d["mean"], "ci_low_eur": d["ci_low"], "ci_high_eur": d["ci_high"],
            "prob_net_saving": d["prob_gt_0"]}


def fiscal_table(posterior: object, outcome: str, costs: CostInputs, *,
                 takeup: dict[tuple[str, str], float] | None = None,
                 observed: set[tuple[str, str]] | None = None,
                 ci_prob: float = CI_PROB, seed: int = 2017) -> pd.DataFrame:
    """Net fiscal effect per arm: pooled, new municipality and per municipality.

    ``posterior`` is the posterior Dataset of a fit of ``outcome`` (a binary outcome about
    leaving assistance); ``takeup[(gemeente, arm)]`` (the registry's participants / assigned)
    converts per-participant to per-assigned-client amounts for each municipality; pooled
    rows are per participant only. ``observed`` restricts the municipality rows to the
    (gemeente, arm) pairs with evidence (a municipality that did not run an arm has no
    effect of its own for it). One row per (arm, level, gemeente, per).
    """
    takeup = takeup or {}
    post = posterior
    rows: list[dict[str, object]] = []
    seeds = np.random.SeedSequence(seed)

    def add(arm: str, level: str, gemeente: str, eff: np.ndarray, rng: np.random.Generator) -> None:
        net = net_draws(eff, costs, arm, rng)
        if net is None:
            return
        base = {"outcome": outcome, "arm": arm, "level": level, "gemeente": gemeente,
                "horizon_months": costs.horizon_months, "effect_profile": costs.effect_profile,
                "effect_mean_pp": float(np.mean(eff)) * 100.0}
        rows.append({**base, "per": "participant", "takeup": 1.0, **_describe(net, ci_prob)})
        pi = takeup.get((gemeente, arm))
        if level == "gemeente" and pi is not None and 0 < pi < 1:
            rows.append({**base, "per": "assigned client", "takeup": float(pi),
                         **_describe(pi * net, ci_prob)})

    arms = [str(a) for a in post["mu_arm"].coords["arm"].values] if "mu_arm" in post else []  # type: ignore[operator,index]
    # One independent, reproducible stream of cost draws per (arm, level, gemeente).
    for ai, arm in enumerate(arms):
        for level, var in (("pooled", "mu_arm"), ("new municipality", "theta_new")):
            if var in post:  # type: ignore[operator]
                rng = np.random.default_rng(seeds.spawn(1)[0])
                add(arm, level, "", _stack(post[var])[ai], rng)  # type: ignore[index]
        if "theta" in post:  # type: ignore[operator]
            th = _stack(post["theta"])  # type: ignore[index]
            gem = [str(g) for g in post["theta"].coords["gemeente"].values]  # type: ignore[index]
            for gi, g in enumerate(gem):
                if observed is not None and (g, arm) not in observed:
                    continue
                rng = np.random.default_rng(seeds.spawn(1)[0])
                add(arm, "gemeente", g, th[gi, ai], rng)
    df = pd.DataFrame(rows)
    if not df.empty:
        df["ci_prob"] = ci_prob
    return df
