"""Benchmark 2: person-level coach model — ours (collapsed binomial cells + nutpie, via
``fit_person``) vs bambi on the person rows with its default PyMC sampler and with nutpie.

Same simulated data (``simulate_microdata(scale=...)``), same formula, same priors
(``default_priors``) and the same nested coach ids for every method: the only differences
are collapsing and the sampler. Each configuration runs in its own process with a wall-clock
limit; a method that timed out at a smaller size is not tried at the larger ones (recorded as
"skipped"). wall_s = model construction + sampling (+ AMEs for ours), without imports and
data simulation; ESS/s = min bulk ESS over the fixed arm effects, the intercept and every
group SD, divided by wall_s. ``cpu_s`` is the CPU time of the same span (this process and
its chain processes): on a shared machine it is the steadier cost measure. "ours" samples
the cell log density (``engine = cells``, :mod:`bayes_bijstand.models.person_cells`).
"""

from __future__ import annotations

import contextlib
import io
import logging
import sys
import time
import warnings
from pathlib import Path
from typing import Any

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import COMPILE_S, min_bulk_ess, ratio, run_worker, time_nutpie_compile, worker_main

FORMULA = ("work_gt12h_m24 ~ arm + sex + benefit_duration + (arm | gemeente) "
           "+ (1 | gemeente:coach)")
# simulate_microdata(scale=1) gives ~6,000 clients; scale=68 gives ~400,000.
SIZES = {"1k": 1 / 6, "6k": 1.0, "50k": 8.4, "400k": 68.0}
METHODS = ("ours", "bambi_pymc", "bambi_nutpie")


def _ess_vars(tree: Any) -> list[str]:
    post = tree["posterior"]
    names = list(post.data_vars) if hasattr(post, "data_vars") else list(post.to_dataset())
    return [v for v in names if v in ("arm", "Intercept") or v.endswith("_sigma")]


def worker(cfg: dict[str, Any]) -> dict[str, Any]:
    t_imp = time.perf_counter()
    import bambi as bmb

    from bayes_bijstand.models.person_level import (
        _term_in,
        default_priors,
        fit_person,
        prepare,
    )
    from bayes_bijstand.simulate import simulate_microdata

    time_nutpie_compile()
    out: dict[str, Any] = {"import_s": time.perf_counter() - t_imp}
    t0 = time.perf_counter()
    data = simulate_microdata(scale=cfg["scale"], seed=2017)
    out["simulate_s"] = time.perf_counter() - t0
    out["n_clients"] = len(data)
    kw = {"draws": cfg["draws"], "tune": cfg["tune"], "chains": cfg["chains"],
          "random_seed": 2017}
    logging.getLogger("pymc").setLevel(logging.ERROR)
    with warnings.catch_warnings(), contextlib.redirect_stderr(io.StringIO()):
        warnings.simplefilter("ignore")
        t0 = time.perf_counter()
        c0 = _cpu()
        if cfg["method"] == "ours":
            if cfg.get("centre_above") is not None:
                from bayes_bijstand.models import person_cells

                person_cells.CENTRE_ABOVE = cfg["centre_above"]
            res = fit_person(data, formula=FORMULA, sampler="nutpie", **kw)
            tree = res.tree
            out["n_rows"] = res.n_rows
            out["sampling_s"] = res.sampling_seconds
            out["engine"] = res.engine
        else:
            prep = prepare(data, formula=FORMULA, collapse=False)
            pri = {k: v for k, v in default_priors("bernoulli").items()
                   if _term_in(k, prep.formula)}
            model = bmb.Model(prep.formula, prep.frame, family="bernoulli", priors=pri)
            out["n_rows"] = len(prep.frame)
            t1 = time.perf_counter()
            method = "pymc" if cfg["method"] == "bambi_pymc" else "nutpie"
            tree = model.fit(inference_method=method, progressbar=False, **kw)
            out["sampling_s"] = time.perf_counter() - t1
        out["wall_s"] = time.perf_counter() - t0
        out["cpu_s"] = _cpu() - c0
    out["nutpie_compile_s"] = sum(COMPILE_S) if COMPILE_S else None
    ess = min_bulk_ess(tree, _ess_vars(tree))
    out["ess_bulk"] = ess
    out["ess_min"] = min(ess.values()) if ess else None
    out["ess_per_s"] = out["ess_min"] / out["wall_s"] if ess else None
    with contextlib.suppress(Exception):
        out["divergences"] = int(tree["sample_stats"]["diverging"].sum().item())
    with contextlib.suppress(Exception):
        st = tree["sample_stats"]
        out["mean_tree_depth"] = float(st["depth" if "depth" in st else "tree_depth"].mean())
        out["mean_leapfrog_steps"] = float(st["n_steps"].mean())
    return out


def _cpu() -> float:
    """CPU seconds of this process and its waited-for children (PyMC's chain processes)."""
    import resource

    own = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


def run(quick: bool = False, timeout: float = 480.0, log: Any = print,
        sizes: tuple[str, ...] | None = None, save: Any = None,
        draws: int | None = None, methods: tuple[str, ...] | None = None,
        centre_above: float | None = None) -> dict[str, Any]:
    n = draws or (300 if quick else 1000)
    cfg: dict[str, Any] = {"draws": n, "tune": n, "chains": 4}
    if centre_above is not None:
        cfg["centre_above"] = centre_above
    sizes = sizes or (("1k", "6k") if quick else tuple(SIZES))
    results: dict[str, Any] = {"settings": {**cfg, "formula": FORMULA, "timeout_s": timeout,
                                            "sizes": {s: SIZES[s] for s in sizes},
                                            "methods": list(methods or METHODS)},
                               "runs": {}}
    failed: set[str] = set()
    for size in sizes:
        for method in methods or METHODS:
            key = f"{method}@{size}"
            if method in failed:
                results["runs"][key] = {"status": "skipped (timed out at a smaller size)",
                                        "size": size, "method": method}
                log(f"  person/{key}: skipped")
                continue
            r = run_worker(Path(__file__), {"method": method, "scale": SIZES[size], **cfg},
                           timeout=timeout)
            r.update(size=size, method=method)
            if r["status"] != "ok":
                failed.add(method)
            results["runs"][key] = r
            log(f"  person/{key}: {r['status']} wall={_r(r.get('wall_s'))} "
                f"ess/s={_r(r.get('ess_per_s'))} rss={_r(r.get('peak_tree_rss_mb'))}MB "
                f"rows={r.get('n_rows')}")
            if save is not None:
                results["ratios"] = ratios(results)
                save(results)
    results["ratios"] = ratios(results)
    return results


def _r(x: Any) -> Any:
    return round(x, 1) if isinstance(x, float) else x


def ratios(results: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    sizes = dict.fromkeys(r["size"] for r in results["runs"].values())
    for size in sizes:
        ours = results["runs"].get(f"ours@{size}", {})
        for alt in METHODS[1:]:
            b = results["runs"].get(f"{alt}@{size}", {})
            row: dict[str, Any] = {}
            if ours.get("status") == "ok" and b.get("status") == "ok":
                row = {"wall": ratio(ours["wall_s"], b["wall_s"]),
                       "ess_per_s": ratio(ours.get("ess_per_s"), b.get("ess_per_s")),
                       "peak_rss": ratio(ours.get("peak_tree_rss_mb"),
                                         b.get("peak_tree_rss_mb"))}
            elif ours.get("status") == "ok" and b:
                # the alternative did not finish: ours beats it by at least timeout / ours
                lim = b.get("timeout_s") or results["settings"]["timeout_s"]
                row = {"wall": f"< {ours['wall_s'] / lim:.3f} ({b['status']})",
                       "ess_per_s": None, "peak_rss": None}
            out[f"ours/{alt}@{size}"] = row
    return out


if __name__ == "__main__":
    sys.exit(worker_main(worker))
