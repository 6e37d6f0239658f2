"""Benchmark 3: frequentist random-effects meta-analysis on k simulated studies.

Ours (``bayes_bijstand.frequentist.rma``) vs statsmodels ``combine_effects`` (DL, and its
``iterated`` = Paule-Mandel option, statsmodels' only iterative estimator) vs PyMARE
(``meta_regression``, DL and REML). Per fit: median wall time over repeats (at least 3, until
0.5 s of repeats or 50 of them), in this process, all candidates interleaved per k. Agreement:
absolute difference of tau² and of the pooled mean between ours and the alternative that
estimates the same quantity (DL vs DL, PM vs iterated, REML vs REML).

Scaling: every tau² estimator of ours is timed at each k, and the growth exponent between the
two largest k (``log(t_k2 / t_k1) / log(k2 / k1)``) is reported per estimator: about 1 or less
is linear (below 1 while a fixed per-fit overhead still dominates), 2 would be quadratic.
Targets: ours DL within 2x of statsmodels' DL at the largest k, and no estimator of ours
growing faster than linearly (exponent <= 1.2, a margin for timer noise).
"""

from __future__ import annotations

import statistics
import sys
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent))

import numpy as np
from _common import ratio

KS = (10, 100, 1000, 10000)
#: every tau² estimator of ours (GENQ with inverse-variance weights, i.e. the DL equations)
OUR_METHODS = ("DL", "REML", "ML", "PM", "PMM", "EB", "HE", "SJ", "HS", "HSk", "GENQ", "FE")
DL_RATIO_MAX = 2.0
EXPONENT_MAX = 1.2


def simulate(k: int, seed: int = 2017) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed + k)
    vi = rng.uniform(0.005, 0.05, k)
    yi = 0.1 + rng.normal(0, 0.08, k) + rng.normal(0, np.sqrt(vi))
    return yi, vi


def _candidates() -> dict[str, tuple[str, Callable[[np.ndarray, np.ndarray], tuple[float, float]]]]:
    """name -> (estimator family, fit(y, v) -> (tau2, mean))."""
    from statsmodels.stats.meta_analysis import combine_effects

    from bayes_bijstand.frequentist import rma

    def ours(method: str) -> Callable[[np.ndarray, np.ndarray], tuple[float, float]]:
        def f(y: np.ndarray, v: np.ndarray) -> tuple[float, float]:
            r = rma(y, v, method=method)
            return float(r.tau2), float(r.beta[0])
        return f

    def sm(method: str) -> Callable[[np.ndarray, np.ndarray], tuple[float, float]]:
        def f(y: np.ndarray, v: np.ndarray) -> tuple[float, float]:
            r = combine_effects(y, v, method_re=method)
            return float(r.tau2), float(r.mean_effect_re)
        return f

    def ours_genq(y: np.ndarray, v: np.ndarray) -> tuple[float, float]:
        r = rma(y, v, method="GENQ", genq_weights=1.0 / v)
        return float(r.tau2), float(r.beta[0])

    c: dict[str, tuple[str, Callable[[np.ndarray, np.ndarray], tuple[float, float]]]] = {
        f"ours_{m}": (m, ours(m)) for m in OUR_METHODS if m != "GENQ"}
    c["ours_GENQ"] = ("GENQ", ours_genq)
    c["statsmodels_dl"] = ("DL", sm("dl"))
    c["statsmodels_iterated"] = ("PM", sm("iterated"))
    try:
        import pymare

        def pm_(method: str) -> Callable[[np.ndarray, np.ndarray], tuple[float, float]]:
            def f(y: np.ndarray, v: np.ndarray) -> tuple[float, float]:
                r = pymare.meta_regression(y=y, v=v, method=method, add_intercept=True)
                return float(np.ravel(r.tau2)[0]), float(np.ravel(r.fe_params)[0])
            return f

        c["pymare_DL"] = ("DL", pm_("DL"))
        c["pymare_REML"] = ("REML", pm_("REML"))
    except ImportError:
        pass
    return c


def _time(f: Callable[[], Any], budget: float, max_reps: int = 50) -> tuple[float, int]:
    times: list[float] = []
    while len(times) < 3 or (sum(times) < budget and len(times) < max_reps):
        t0 = time.perf_counter()
        f()
        times.append(time.perf_counter() - t0)
        if times[-1] > 5 * budget and len(times) >= 1:  # very slow: one repeat is enough
            break
    return statistics.median(times), len(times)


def run(quick: bool = False, log: Any = print) -> dict[str, Any]:
    ks = KS[:3] if quick else KS
    cands = _candidates()
    results: dict[str, Any] = {"settings": {"ks": ks, "budget_s": 0.5,
                                            "pymare": "pymare_DL" in cands},
                               "fits": {}, "ratios": {}, "agreement": {}}
    if "pymare_DL" not in cands:
        results["settings"]["pymare_status"] = "not installable"
    for k in ks:
        y, v = simulate(k)
        row: dict[str, Any] = {}
        for name, (family, f) in cands.items():
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                est = f(y, v)
                med, n = _time(lambda f=f, y=y, v=v: f(y, v), 0.5)
            row[name] = {"family": family, "median_s": med, "repeats": n,
                         "tau2": est[0], "mean": est[1]}
        results["fits"][str(k)] = row
        rat, agr = {}, {}
        pairs = [("ours_DL", "statsmodels_dl"), ("ours_PM", "statsmodels_iterated"),
                 ("ours_REML", "statsmodels_iterated"), ("ours_DL", "pymare_DL"),
                 ("ours_REML", "pymare_REML")]
        for a, b in pairs:
            if a in row and b in row:
                rat[f"{a}/{b}"] = ratio(row[a]["median_s"], row[b]["median_s"])
                if row[a]["family"] == row[b]["family"]:
                    agr[f"{a}~{b}"] = {"tau2": abs(row[a]["tau2"] - row[b]["tau2"]),
                                       "mean": abs(row[a]["mean"] - row[b]["mean"])}
        results["ratios"][str(k)] = rat
        results["agreement"][str(k)] = agr
        log(f"  frequentist k={k}: " + ", ".join(f"{n}={r['median_s'] * 1e3:.2f}ms"
                                                  for n, r in row.items()))
    k1, k2 = ks[-2], ks[-1]
    f1, f2 = results["fits"][str(k1)], results["fits"][str(k2)]
    results["scaling"] = {"k_from": k1, "k_to": k2, "exponent": {
        n: float(np.log(f2[n]["median_s"] / f1[n]["median_s"]) / np.log(k2 / k1))
        for n in f2 if n.startswith("ours_")}}
    dl_ratio = results["ratios"][str(k2)]["ours_DL/statsmodels_dl"]
    worst = max(results["scaling"]["exponent"].items(), key=lambda kv: kv[1])
    results["targets"] = {"k": k2, "dl_ratio": dl_ratio, "dl_within_2x": dl_ratio <= DL_RATIO_MAX,
                          "worst_exponent": list(worst),
                          "all_linear": worst[1] <= EXPONENT_MAX}
    log(f"  frequentist: DL/statsmodels at k={k2}: {dl_ratio:.2f}x; steepest growth "
        f"{worst[0]} k^{worst[1]:.2f}")
    return results
