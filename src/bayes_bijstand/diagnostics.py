"""The diagnostics gate every reported posterior must pass.

Thresholds (Vehtari et al. 2021; Stan's defaults): rank-normalised split R-hat <= 1.01, bulk
and tail ESS >= 400, no divergent transitions, E-BFMI >= 0.3 in every chain. The gate looks
at the quantities that are reported (pooled effects, heterogeneity, gemeente effects,
predictions, bias terms), not at internal offsets. A fit that fails is retried once with a
higher target acceptance and longer tuning (by :mod:`bayes_bijstand.meta`); if it still
fails, its status is ``failed`` and it is excluded from pooled summaries.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import arviz as az
import numpy as np

from .constants import ESS_MIN, RHAT_MAX

REPORTED_VARS = ("mu", "tau", "mu_arm", "tau_arm", "theta", "theta_new", "bias", "gamma",
                 "sigma_coach", "theta_coached",
                 "beta", "se_marker", "se_censored", "r2", "offer_spillover", "p_control")
BFMI_MIN = 0.3


@dataclass
class Diagnostics:
    """Outcome of the gate for one fit."""

    passed: bool
    rhat_max: float
    ess_bulk_min: float
    ess_tail_min: float
    divergences: int
    bfmi_min: float
    n_draws: int
    problems: list[str] = field(default_factory=list)
    retried: bool = False
    retry_settings: dict[str, float] = field(default_factory=dict)

    @property
    def status(self) -> str:
        return "passed" if self.passed else "failed"

    def hint(self, chains: int | None = None) -> str:
        """What to do when the gate failed, in one sentence ('' when it passed).

        ESS grows about linearly with draws, so the draws the ESS threshold needs follow from
        the ESS achieved per draw (with a 20% margin); R-hat and divergences need longer
        warm-up or a different model rather than more draws alone.
        """
        if self.passed:
            return ""
        chains = chains or getattr(self, "chains", None)
        tips: list[str] = []
        ess = min(self.ess_bulk_min, self.ess_tail_min)
        if np.isfinite(ess) and ess < ESS_MIN and self.n_draws > 0:
            per_draw = max(ess, 1.0) / self.n_draws
            total = 1.2 * ESS_MIN / per_draw
            if chains:
                need = f"--draws {int(np.ceil(total / chains / 100.0) * 100)} (per chain, " \
                       f"{chains} chains)"
            else:
                need = f"{int(np.ceil(total / 100.0) * 100)} draws over all chains together " \
                       "(--draws is per chain)"
            tips.append(f"ESS {ess:.0f} from {self.n_draws} draws ({per_draw:.2f} per draw): "
                        f"the {ESS_MIN} threshold needs about {need}")
        if np.isfinite(self.rhat_max) and self.rhat_max > RHAT_MAX:
            tips.append("R-hat: run longer (more --draws and --tune)")
        if self.divergences > 0:
            tips.append("divergences: more --tune, or tighter priors on the SDs in the spec")
        return "to pass: " + "; ".join(tips) if tips else ""

    @classmethod
    def from_dict(cls, d: dict[str, object]) -> Diagnostics:
        """Inverse of :meth:`to_dict` (None -> NaN; extra keys such as ``status`` ignored)."""
        names = {f for f in cls.__dataclass_fields__}
        kw = {k: (float("nan") if v is None else v) for k, v in d.items() if k in names}
        return cls(**kw)  # type: ignore[arg-type]

    def to_dict(self) -> dict[str, object]:
        d = asdict(self)
        d["status"] = self.status
        for k, v in d.items():
            if isinstance(v, float) and not np.isfinite(v):
                d[k] = None
        return d


def _min_over(ds: object) -> float:
    vals = [float(np.nanmin(ds[v].values)) for v in ds.data_vars if ds[v].size]  # type: ignore[attr-defined]
    return min(vals) if vals else float("nan")


def _max_over(ds: object) -> float:
    vals = [float(np.nanmax(ds[v].values)) for v in ds.data_vars if ds[v].size]  # type: ignore[attr-defined]
    return max(vals) if vals else float("nan")


def check(tree: object, *, rhat_max: float = RHAT_MAX, ess_min: float = ESS_MIN,
          var_names: tuple[str, ...] | None = None) -> Diagnostics:
    """Run the gate on a fitted DataTree (posterior + sample_stats)."""
    post = tree["posterior"]  # type: ignore[index]
    names = [v for v in (var_names or REPORTED_VARS) if v in post.data_vars]
    # A quantity constant by construction (a trajectory fit's month-0 pseudo-arm, zero effect
    # by design) has an undefined R-hat/ESS (NaN, 0/0): the gate's nanmax/nanmin skip it.
    with np.errstate(invalid="ignore", divide="ignore"):
        rhat = az.rhat(tree, var_names=names)
        ess_b = az.ess(tree, var_names=names, method="bulk")
        ess_t = az.ess(tree, var_names=names, method="tail")
    stats = tree["sample_stats"]  # type: ignore[index]
    div = int(stats["diverging"].sum().item()) if "diverging" in stats else 0
    try:
        bfmi = np.asarray(az.bfmi(tree)["energy"].values if hasattr(az.bfmi(tree), "__getitem__")
                          else az.bfmi(tree), dtype=float)
        bfmi_min = float(np.nanmin(bfmi))
    except Exception:  # noqa: BLE001 - energy missing for some samplers
        bfmi_min = float("nan")
    n_draws = int(post.sizes["chain"] * post.sizes["draw"])
    d = Diagnostics(passed=True, rhat_max=_max_over(rhat.to_dataset() if hasattr(rhat, "to_dataset") else rhat),
                    ess_bulk_min=_min_over(ess_b.to_dataset() if hasattr(ess_b, "to_dataset") else ess_b),
                    ess_tail_min=_min_over(ess_t.to_dataset() if hasattr(ess_t, "to_dataset") else ess_t),
                    divergences=div, bfmi_min=bfmi_min, n_draws=n_draws)
    if not d.rhat_max <= rhat_max:
        d.problems.append(f"R-hat {d.rhat_max:.3f} > {rhat_max}")
    if not d.ess_bulk_min >= ess_min:
        d.problems.append(f"bulk ESS {d.ess_bulk_min:.0f} < {ess_min}")
    if not d.ess_tail_min >= ess_min:
        d.problems.append(f"tail ESS {d.ess_tail_min:.0f} < {ess_min}")
    if d.divergences > 0:
        d.problems.append(f"{d.divergences} divergent transitions")
    if np.isfinite(d.bfmi_min) and d.bfmi_min < BFMI_MIN:
        d.problems.append(f"E-BFMI {d.bfmi_min:.2f} < {BFMI_MIN}")
    d.passed = not d.problems
    d.chains = int(post.sizes["chain"])  # type: ignore[attr-defined] - for hint(), not a field
    return d
