"""The diagnostics gate every reported posterior must pass.

Thresholds (Vehtari et al. 2021; Stan's defaults): rank-normalised split R-hat <= 1.01, bulk
and tail ESS >= 400, no divergent transitions, E-BFMI >= 0.3 in every chain. The gate looks
at the quantities that are reported (pooled effects, heterogeneity, gemeente effects,
predictions, bias terms), not at internal offsets. A fit that fails is retried once with a
higher target acceptance and longer tuning (by :mod:`bayes_bijstand.meta`); if it still
fails, its status is ``failed`` and it is excluded from pooled summaries.
"""

from __future__ import annotations

import warnings
from dataclasses import asdict, dataclass, field

import arviz as az
import numpy as np
from scipy import stats as _stats
from scipy.fft import next_fast_len

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


# --- R-hat and ESS for all coordinates of a variable at once --------------------------------
# The same arithmetic as arviz_stats' rank-normalised split R-hat ("rank") and bulk / tail ESS
# (arviz_stats.base.diagnostics: _rhat_rank, _ess_bulk, _ess_tail, _ess), operation for
# operation, but on a (coordinate, chain, draw) array instead of one coordinate at a time:
# arviz_stats loops over coordinates in Python (two rank normalisations for R-hat, one for
# bulk ESS, two quantiles for tail ESS, and a Python loop over lags for each ESS), which at
# 1,000 municipalities was most of a fit's time. Every reduction below runs over a contiguous
# last axis, as arviz_stats' per-coordinate calls do, so the numbers are the same to the bit
# (tests/test_diagnostics_vectorised.py compares both on posteriors of every kind). Rare
# coordinates (any NaN, too few chains or draws, a NaN in an autocorrelation) are handed to
# arviz_stats itself, one at a time.

_BLOM = 3 / 8


def _split_chains(ary: np.ndarray) -> np.ndarray:
    """(K, chain, draw) -> (K, 2 chain, draw // 2), the first and last halves of every chain."""
    half = ary.shape[-1] // 2
    return np.concatenate((ary[..., :half], ary[..., -half:]), axis=-2)


def _z_scale(ary: np.ndarray) -> np.ndarray:
    """Blom-normalised average ranks, pooled over each coordinate's (chain, draw) block."""
    k, c, n = ary.shape
    rank = _stats.rankdata(ary.reshape(k, c * n), method="average", axis=-1)
    rank = (rank - _BLOM) / (c * n - 2 * _BLOM + 1)
    return _stats.norm.ppf(rank).reshape(ary.shape)


def _rhat_batch(ary: np.ndarray) -> np.ndarray:
    """Gelman-Rubin R-hat of every coordinate of a (K, chain, draw) array."""
    n = ary.shape[-1]
    chain_mean = np.mean(ary, axis=-1)
    chain_var = np.var(ary, axis=-1, ddof=1)
    between = n * np.var(chain_mean, axis=-1, ddof=1)
    within = np.mean(chain_var, axis=-1)
    return np.sqrt((between / within + n - 1) / n)


def _python_max(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Elementwise ``max(a, b)`` as Python's builtin resolves it (NaNs included)."""
    return np.where(b > a, b, a)


def _python_min(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Elementwise ``min(a, b)`` as Python's builtin resolves it (NaNs included)."""
    return np.where(b < a, b, a)


def _ess_batch(ary: np.ndarray) -> np.ndarray:
    """ESS (Geyer's initial monotone sequence) of every coordinate of a (K, chain, draw) array.

    Vectorised form of ``arviz_stats.base.diagnostics._DiagnosticsBase._ess``: the
    autocorrelations of all lags at once, the positive-sequence cut as the first pair sum that
    is not positive, the monotone correction as a running minimum of pair sums (a corrected
    pair holds half the running minimum twice, so its sum is that minimum exactly), and the
    final sums grouped by cut so that each is the same pairwise sum over the same terms.
    """
    from arviz_stats.base.diagnostics import _DiagnosticsBase

    ary = np.asarray(ary, dtype=float)
    k, n_chain, n_draw = ary.shape
    size = n_chain * n_draw
    out = np.empty(k)
    const = (np.max(ary, axis=(-2, -1)) - np.min(ary, axis=(-2, -1))) \
        < np.finfo(float).resolution
    out[const] = size
    live = np.flatnonzero(~const)
    if not live.size:
        return out
    a = ary[live]
    m = next_fast_len(2 * n_draw)
    centred = a - a.mean(-1, keepdims=True)
    f = np.fft.rfft(centred, n=m, axis=-1)
    f *= np.conjugate(f)
    acov = np.fft.irfft(f, n=m, axis=-1)[..., :n_draw]
    acov /= n_draw
    chain_mean = a.mean(axis=-1)
    # mean over chains of the autocovariance at every lag: (K, lag)
    acov_mean = np.mean(np.ascontiguousarray(np.swapaxes(acov, -1, -2)), axis=-1)
    mean_var = acov_mean[:, 0] * n_draw / (n_draw - 1.0)
    var_plus = mean_var * (n_draw - 1.0) / n_draw
    if n_chain > 1:
        var_plus += np.var(chain_mean, axis=-1, ddof=1)
    rho = 1.0 - (mean_var[:, None] - acov_mean) / var_plus[:, None]
    rho[:, 0] = 1.0
    # Pairs (rho[2j], rho[2j+1]); the loop runs pair j >= 1 while 2j - 1 < n_draw - 3 and the
    # previous pair's sum is > 0.
    n_pairs = (n_draw - 2) // 2 + 1
    idx = np.arange(n_pairs)
    even = rho[:, 0:2 * n_pairs:2]
    odd = rho[:, 1:2 * n_pairs:2]
    if odd.shape[1] < n_pairs:  # n_draw odd: the last pair has no odd term (never reached)
        odd = np.concatenate((odd, np.zeros((len(live), n_pairs - odd.shape[1]))), axis=1)
    psum = even + odd
    allowed = (2 * idx[1:] - 1) < (n_draw - 3)
    go = (psum[:, :-1] > 0.0) & allowed[None, :]
    stops = ~go
    J = np.where(stops.any(axis=1), stops.argmax(axis=1), go.shape[1])  # iterations run
    fallback = np.zeros(len(live), dtype=bool)
    res = np.empty(len(live))
    rows = np.arange(len(live))
    run_min = np.minimum.accumulate(psum, axis=1)
    for j_val in np.unique(J):
        sel = rows[J == j_val]
        if np.isnan(rho[sel, : 2 * j_val + 2 if j_val + 1 < n_pairs else None]).any():
            fallback[sel] = True  # a NaN anywhere near the cut: arviz_stats decides
            continue
        max_t = 2 * j_val - 1
        if j_val == 0:
            s1 = np.zeros(len(sel))
            last = np.ones(len(sel))  # rho_hat_t[0] = 1.0 (rho_hat_even)
        else:
            seq = np.empty((len(sel), max_t + 1))
            seq[:, 0::2] = even[sel, :j_val]
            seq[:, 1::2] = odd[sel, :j_val]
            if j_val > 1:
                prev_min = run_min[sel, : j_val - 1]
                fix = psum[sel, 1:j_val] > prev_min
                half = prev_min / 2.0
                ev = seq[:, 2::2]
                od = seq[:, 3::2]
                ev[fix] = half[fix]
                od[fix] = half[fix]
                seq[:, 2::2] = ev
                seq[:, 3::2] = od
            s1 = np.sum(seq, axis=-1)
            r_even = even[sel, j_val]
            stored = psum[sel, j_val] >= 0
            last = np.where((r_even > 0) | stored, r_even, 0.0)
        tau = -1.0 + 2.0 * s1 + last
        tau = _python_max(tau, np.full(len(sel), 1 / np.log10(size)))
        res[sel] = size / tau
    out[live] = res
    if fallback.any():
        base = _DiagnosticsBase()
        for i in np.flatnonzero(fallback):
            out[live[i]] = base._ess(a[i])
    return out


def _batched(ary: np.ndarray, ok: np.ndarray, n_chain: int, n_draw: int,
             probs: tuple[float, float], rhat: np.ndarray, ess_b: np.ndarray,
             ess_t: np.ndarray) -> None:
    """Fill R-hat, bulk and tail ESS of the coordinates ``ok`` of a (K, chain, draw) array."""
    if n_draw < 4 or not ok.any():
        return
    a = ary[ok]
    split = _split_chains(a)
    z = _z_scale(split)
    ess_b[ok] = _ess_batch(z)
    if n_chain >= 2:
        med = np.median(split.reshape(len(a), -1), axis=-1)
        folded = abs(split - med[:, None, None])
        rhat[ok] = _python_max(_rhat_batch(z), _rhat_batch(_z_scale(folded)))
    flat = a.reshape(len(a), -1)
    e_lo, e_hi = (_ess_batch(_split_chains(a <= np.quantile(flat, p, axis=-1)[:, None, None]))
                  for p in probs)
    ess_t[ok] = _python_min(e_lo, e_hi)


def rhat_ess(values: np.ndarray, prob: float | None = None) -> tuple[np.ndarray, np.ndarray,
                                                                        np.ndarray]:
    """Rank-normalised split R-hat, bulk ESS and tail ESS of every coordinate.

    ``values`` is (chain, draw, *shape); returns three arrays of ``shape``, equal to
    ``arviz_stats`` rhat(method="rank"), ess(method="bulk") and ess(method="tail", prob) of
    the same draws (``prob`` defaults to arviz' ``stats.ci_prob``, as arviz_stats does).
    """
    from arviz_stats.base.diagnostics import _DiagnosticsBase
    from arviz_stats.validate import validate_ci_prob

    values = np.asarray(values)
    n_chain, n_draw = values.shape[:2]
    shape = values.shape[2:]
    k = int(np.prod(shape, dtype=int))
    ary = np.ascontiguousarray(np.moveaxis(values.reshape(n_chain, n_draw, k), -1, 0))
    prob = validate_ci_prob(prob)
    lo, hi = sorted((prob, 1 - prob))
    rhat = np.full(k, np.nan)
    ess_b = np.full(k, np.nan)
    ess_t = np.full(k, np.nan)
    ok = ~np.isnan(ary).any(axis=(-2, -1))
    with np.errstate(invalid="ignore", divide="ignore"):
        _batched(ary, ok, n_chain, n_draw, (lo, hi), rhat, ess_b, ess_t)
    if not ok.all():  # partly-NaN coordinates: exactly what arviz_stats says of each
        base = _DiagnosticsBase()
        for i in np.flatnonzero(~ok):
            rhat[i] = base._rhat_rank(ary[i])
            ess_b[i] = base._ess_bulk(ary[i])
            ess_t[i] = base._ess_tail(ary[i], prob)
    return rhat.reshape(shape), ess_b.reshape(shape), ess_t.reshape(shape)


def _extreme(values: list[np.ndarray], reduce: object, pick: object) -> float:
    """``pick`` (Python min/max, in variable order) of ``reduce`` (nanmin/nanmax) per variable."""
    vals = [float(reduce(v)) for v in values if v.size]  # type: ignore[operator]
    return pick(vals) if vals else float("nan")  # type: ignore[operator]


def check(tree: object, *, rhat_max: float = RHAT_MAX, ess_min: float = ESS_MIN,
          var_names: tuple[str, ...] | None = None) -> Diagnostics:
    """Run the gate on a fitted DataTree (posterior + sample_stats)."""
    post = tree["posterior"]  # type: ignore[index]
    names = [v for v in (var_names or REPORTED_VARS) if v in post.data_vars]
    # A quantity constant by construction (a trajectory fit's month-0 pseudo-arm, zero effect
    # by design) has an undefined R-hat/ESS (NaN, 0/0): the gate's nanmax/nanmin skip it.
    rhats: list[np.ndarray] = []
    bulks: list[np.ndarray] = []
    tails: list[np.ndarray] = []
    done: list[tuple[np.ndarray, tuple[np.ndarray, np.ndarray, np.ndarray]]] = []
    with np.errstate(invalid="ignore", divide="ignore"):
        for v in names:
            values = post[v].transpose("chain", "draw", ...).values
            # A variable equal to one already checked (one arm of one component: theta is
            # beta) has the same R-hat and ESS: computed once.
            same = next((res for seen, res in done if seen.shape == values.shape
                         and seen.dtype == values.dtype and np.array_equal(seen, values)), None)
            r, b, t = same if same is not None else rhat_ess(values)
            done.append((values, (r, b, t)))
            rhats.append(r)
            bulks.append(b)
            tails.append(t)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN variables, as before
            rhat_hi = _extreme(rhats, np.nanmax, max)
            bulk_lo = _extreme(bulks, np.nanmin, min)
            tail_lo = _extreme(tails, np.nanmin, min)
    stats = tree["sample_stats"]  # type: ignore[index]
    div = int(stats["diverging"].sum().item()) if "diverging" in stats else 0
    try:
        bfmi = np.asarray(az.bfmi(tree)["energy"].values if hasattr(az.bfmi(tree), "__getitem__")
                          else az.bfmi(tree), dtype=float)
        bfmi_min = float(np.nanmin(bfmi))
    except Exception:  # noqa: BLE001 - energy missing for some samplers
        bfmi_min = float("nan")
    n_draws = int(post.sizes["chain"] * post.sizes["draw"])
    d = Diagnostics(passed=True, rhat_max=rhat_hi, ess_bulk_min=bulk_lo, ess_tail_min=tail_lo,
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
