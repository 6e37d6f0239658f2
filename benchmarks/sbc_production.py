"""Simulation-based calibration and SE-misstatement coverage of the production model.

Runs :mod:`bayes_bijstand.models.calibration` (see its docstring for the design and the
data-generating story) with the production sampler (nutpie, the compiled graph reused):

* SBC: ``--reps`` replications from the model's own priors; per parameter the rank
  histogram's chi-square p-value (``--bins`` bins) and the counts;
* coverage: ``--cover-reps`` replications where the marker and prose rows' true SE is
  1.5 x their design SE; the share of central 90% intervals that cover the truth, with the
  binomial 99% band around 0.90.

Writes ``benchmarks/results/sbc_production.json`` and ``.md``::

    .venv/bin/python benchmarks/sbc_production.py --reps 300 --cover-reps 200
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
from scipy import stats

from bayes_bijstand.models import calibration as cal
from bayes_bijstand.specs import default_spec_path, load_spec

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--reps", type=int, default=300)
    ap.add_argument("--cover-reps", type=int, default=200)
    ap.add_argument("--bins", type=int, default=10)
    ap.add_argument("--seed", type=int, default=2017)
    ap.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "sbc_production"))
    args = ap.parse_args()
    spec = load_spec(default_spec_path())
    res: dict[str, object] = {"design": [d.__dict__ for d in cal.DESIGN], "spec": spec.name}
    t0 = time.perf_counter()
    draws, chains, thin = 200, 2, 4
    n = chains * draws // thin
    if args.reps:
        ranks = cal.sbc(spec, args.reps, args.seed, draws=draws, chains=chains, thin=thin)
        res["sbc"] = {"reps": args.reps, "draws_ranked": n, "bins": args.bins, "params": {
            k: {"p_value": cal.rank_uniformity(v, n, args.bins),
                "counts": np.bincount((v * args.bins) // (n + 1), minlength=args.bins).tolist()}
            for k, v in ranks.items()}}
    if args.cover_reps:
        cov = cal.coverage_study(spec, args.cover_reps, args.seed + 1, se_factor=1.5)
        lo, hi = stats.binom.ppf([0.005, 0.995], args.cover_reps, 0.90) / args.cover_reps
        res["coverage_se_x1.5"] = {"reps": args.cover_reps, "nominal": 0.90,
                                   "band_99": [float(lo), float(hi)], "coverage": cov}
    res["seconds"] = time.perf_counter() - t0
    out = Path(args.out)
    out.with_suffix(".json").write_text(json.dumps(res, indent=2) + "\n", encoding="utf-8")
    lines = ["# SBC and coverage of the production summary-level model", "",
             f"Design: {', '.join(d.kind for d in cal.DESIGN)} (one row per gemeente); "
             f"spec `{spec.name}`; {res['seconds']:.0f} s.", ""]
    if "sbc" in res:
        lines += [f"## SBC ({args.reps} replications, ranks among {n} draws, {args.bins} bins)", "",
                  "| parameter | chi-square p | counts |", "|---|---|---|"]
        for k, v in res["sbc"]["params"].items():  # type: ignore[index]
            lines.append(f"| {k} | {v['p_value']:.3f} | {v['counts']} |")
    if "coverage_se_x1.5" in res:
        c = res["coverage_se_x1.5"]
        lines += ["", f"## Coverage of 90% intervals, true SE of marker/prose rows = 1.5 x design SE "
                  f"({args.cover_reps} replications; 99% binomial band {c['band_99'][0]:.3f}-"  # type: ignore[index]
                  f"{c['band_99'][1]:.3f})", "", "| parameter | coverage |", "|---|---|"]  # type: ignore[index]
        for k, v in c["coverage"].items():  # type: ignore[index]
            lines.append(f"| {k} | {v:.3f} |")
    out.with_suffix(".md").write_text("\n".join(lines) + "\n", encoding="utf-8")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
