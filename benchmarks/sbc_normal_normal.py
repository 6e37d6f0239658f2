"""Simulation-based calibration (SBC) of the normal-normal random-effects model.

Why: a posterior computed correctly under the prior it was simulated from is calibrated —
the rank of the true parameter among L posterior draws is uniform on {0, ..., L}
(Talts et al. 2018). This script checks the exact quadrature path
(:func:`bayes_bijstand.models.quadrature.exact_normal_normal`) and, with ``--mcmc``, a
non-centred PyMC/nutpie fit of the same model, and writes chi-square uniformity p-values of
the rank histograms to a JSON file. For the exact path it also records the probability
integral transform (the exact posterior CDF at the true value), tested with Kolmogorov-Smirnov.

Simulation per replication: ``s_i ~ U(s_lo, s_hi)`` (known), ``mu ~ N(0, sd_mu^2)``,
``tau ~ HalfNormal(sd_tau)``, ``theta_i ~ N(mu, tau^2)``, ``y_i ~ N(theta_i, s_i^2)`` and a
new-study effect ``theta_new ~ N(mu, tau^2)``; ranks for mu, tau, theta[0] and theta_new.

Example::

    .venv/bin/python benchmarks/sbc_normal_normal.py --reps 1000 --draws 99 --out sbc.json
    .venv/bin/python benchmarks/sbc_normal_normal.py --reps 100 --mcmc --out sbc_mcmc.json
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
from scipy import stats

from bayes_bijstand.models.quadrature import exact_normal_normal

PARAMS = ("mu", "tau", "theta0", "theta_new")


def simulate(rng: np.random.Generator, k: int, sd_mu: float, sd_tau: float,
             s_range: tuple[float, float]) -> tuple[dict[str, float], np.ndarray, np.ndarray]:
    """One draw from the joint prior predictive: true parameters, y and s."""
    s = rng.uniform(*s_range, size=k)
    mu = rng.normal(0.0, sd_mu)
    tau = abs(rng.normal(0.0, sd_tau))
    theta = rng.normal(mu, tau, size=k)
    y = rng.normal(theta, s)
    truth = {"mu": mu, "tau": tau, "theta0": theta[0], "theta_new": rng.normal(mu, tau)}
    return truth, y, s


def rank_of(true_value: float, draws: np.ndarray) -> int:
    """Number of posterior draws below the true value (0..L)."""
    return int(np.sum(draws < true_value))


def uniformity(ranks: np.ndarray, n_draws: int, bins: int) -> dict[str, Any]:
    """Chi-square test that ranks in {0..L} are uniform, using ``bins`` equal-width bins."""
    edges = np.linspace(-0.5, n_draws + 0.5, bins + 1)
    counts, _ = np.histogram(ranks, bins=edges)
    expected = ranks.size * np.diff(edges) / (n_draws + 1)
    chi2, p = stats.chisquare(counts, expected)
    return {"chi2": float(chi2), "df": bins - 1, "p_value": float(p), "counts": counts.tolist()}


def run_exact(args: argparse.Namespace) -> dict[str, Any]:
    """SBC for the exact quadrature path (independent draws from ``ExactPosterior.sample``)."""
    rng = np.random.default_rng(args.seed)
    ranks = {p: [] for p in PARAMS}
    pit = {"mu": [], "tau": [], "theta_new": []}
    t0 = time.perf_counter()
    for _ in range(args.reps):
        truth, y, s = simulate(rng, args.k, args.sd_mu, args.sd_tau, (args.s_lo, args.s_hi))
        post = exact_normal_normal(y, s, mu_prior=(0.0, args.sd_mu),
                                   tau_prior=("halfnormal", args.sd_tau))
        draws = post.sample(args.draws, rng)
        draws_named = {"mu": draws["mu"], "tau": draws["tau"], "theta0": draws["theta"][:, 0],
                       "theta_new": draws["theta_new"]}
        for p in PARAMS:
            ranks[p].append(rank_of(truth[p], draws_named[p]))
        pit["mu"].append(float(post.mu_cdf(truth["mu"])))
        pit["tau"].append(float(post.tau_cdf(truth["tau"])))
        pit["theta_new"].append(float(post.theta_new_cdf(truth["theta_new"])))
    elapsed = time.perf_counter() - t0
    out: dict[str, Any] = {"seconds": elapsed, "reps": args.reps, "ranks": {}, "pit_ks": {}}
    for p in PARAMS:
        out["ranks"][p] = uniformity(np.asarray(ranks[p]), args.draws, args.bins)
    for p, u in pit.items():
        ks = stats.kstest(np.asarray(u), "uniform")
        out["pit_ks"][p] = {"statistic": float(ks.statistic), "p_value": float(ks.pvalue)}
    return out


def run_mcmc(args: argparse.Namespace) -> dict[str, Any]:
    """SBC for a non-centred PyMC model sampled with nutpie (compiled once, data swapped)."""
    import nutpie
    import pymc as pm

    with pm.Model() as model:
        y_data = pm.Data("y", np.zeros(args.k))
        s_data = pm.Data("s", np.ones(args.k))
        mu = pm.Normal("mu", 0.0, args.sd_mu)
        tau = pm.HalfNormal("tau", args.sd_tau)
        z = pm.Normal("z", 0.0, 1.0, shape=args.k)
        theta = pm.Deterministic("theta", mu + tau * z)
        pm.Normal("y_obs", theta, s_data, observed=y_data)
    compiled = nutpie.compile_pymc_model(model)
    rng = np.random.default_rng(args.seed + 1)
    reps = args.mcmc_reps
    ranks = {p: [] for p in PARAMS}
    divergent = 0
    t0 = time.perf_counter()
    for r in range(reps):
        truth, y, s = simulate(rng, args.k, args.sd_mu, args.sd_tau, (args.s_lo, args.s_hi))
        fit = nutpie.sample(compiled.with_data(y=y, s=s), draws=args.mcmc_draws, tune=1000,
                            chains=2, seed=args.seed + r, progress_bar=False)
        divergent += int(np.asarray(fit.sample_stats["diverging"]).sum())
        post = fit.posterior
        mu_d = np.asarray(post["mu"]).ravel()
        tau_d = np.asarray(post["tau"]).ravel()
        th0 = np.asarray(post["theta"])[..., 0].ravel()
        # thin to L roughly independent draws so ranks are not distorted by autocorrelation
        idx = np.linspace(0, mu_d.size - 1, args.draws).round().astype(int)
        new = mu_d[idx] + tau_d[idx] * rng.standard_normal(idx.size)
        named = {"mu": mu_d[idx], "tau": tau_d[idx], "theta0": th0[idx], "theta_new": new}
        for p in PARAMS:
            ranks[p].append(rank_of(truth[p], named[p]))
    out: dict[str, Any] = {"seconds": time.perf_counter() - t0, "reps": reps,
                           "divergences": divergent, "ranks": {}}
    for p in PARAMS:
        out["ranks"][p] = uniformity(np.asarray(ranks[p]), args.draws, args.bins)
    return out


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Command-line options."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--reps", type=int, default=1000, help="SBC replications (exact path)")
    ap.add_argument("--draws", type=int, default=99, help="posterior draws per replication (L)")
    ap.add_argument("--bins", type=int, default=20, help="histogram bins for the chi-square test")
    ap.add_argument("--seed", type=int, default=20240611)
    ap.add_argument("--out", type=Path, default=Path("sbc_normal_normal.json"))
    ap.add_argument("--k", type=int, default=8, help="studies per simulated meta-analysis")
    ap.add_argument("--sd-mu", type=float, default=1.0, help="prior sd of mu (mean 0)")
    ap.add_argument("--sd-tau", type=float, default=0.5, help="half-normal prior scale of tau")
    ap.add_argument("--s-lo", type=float, default=0.1, help="smallest within-study SE")
    ap.add_argument("--s-hi", type=float, default=0.5, help="largest within-study SE")
    ap.add_argument("--mcmc", action="store_true", help="also run SBC for PyMC/nutpie")
    ap.add_argument("--mcmc-reps", type=int, default=100, help="replications for --mcmc")
    ap.add_argument("--mcmc-draws", type=int, default=500, help="draws per chain for --mcmc")
    args = ap.parse_args(argv)
    if (args.draws + 1) % args.bins:
        ap.error("--draws + 1 must be divisible by --bins so every bin holds the same ranks")
    return args


def main(argv: list[str] | None = None) -> int:
    """Run SBC, write the JSON report and print the p-values."""
    args = parse_args(argv)
    settings = {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()}
    report: dict[str, Any] = {"settings": settings, "exact": run_exact(args)}
    if args.mcmc:
        report["mcmc"] = run_mcmc(args)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2))
    for path, res in ((p, report[p]) for p in ("exact", "mcmc") if p in report):
        pvals = ", ".join(f"{p}={res['ranks'][p]['p_value']:.3f}" for p in PARAMS)
        print(f"{path}: {res['reps']} reps in {res['seconds']:.1f} s; rank chi-square p: {pvals}")
        if "pit_ks" in res:
            ks = ", ".join(f"{p}={v['p_value']:.3f}" for p, v in res["pit_ks"].items())
            print(f"{path}: PIT Kolmogorov-Smirnov p: {ks}")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
