"""Person level: the negative controls and the frequentist twin's Monte Carlo, as numbers.

Why: the suite checks these at a small size (``tests/person/test_delivered.py``,
``tests/person/test_frequentist_person.py``); this script records the numbers themselves.

1. **Arm-exclusive coaches, sigma_coach = 0** (Groningen only, all 8,192 invited, participant
   effect of extra_hulp 2.0 log-odds, take-up 8.8%, seed 2017): ``python -m
   bayes_bijstand.fit --microdata`` with the lean delivered formula (the CLI path), its ITT
   AME of extra_hulp beside the raw ITT difference, ``y ~ arm`` (bambi, no coach term) and
   the true ITT of the simulator (the same persons with and without the effect, 10x the data).
2. **A known sigma_coach** (six gemeenten, ~40 experiment coaches, true SD 0.6).
3. **The frequentist twin in the Oss-sized design** (control 120 clients over 4 coaches,
   zelf_in_actie 110 with 1 coach, extra_hulp 115 over 2; true effect 0, coach SD 0.5
   log-odds): Monte Carlo coverage of ``lpm_cluster``'s 90% intervals and the ratio of its
   mean reported SE to the Monte Carlo SD of the estimates.

Usage: ``python benchmarks/person_negative_controls.py [--mc-reps 300]``; writes
``benchmarks/results/person_negative_controls.{json,md}``.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "person"))

from _common import machine_info, write_json, write_text

from bayes_bijstand.microdata import validate_microdata
from bayes_bijstand.recovery import DELIVERED_FORMULA
from bayes_bijstand.simulate import simulate_microdata

RESULTS = Path(__file__).resolve().parent / "results"
ZELEN = {"gemeenten": ["groningen"], "groningen_fraction": 1.0, "tau": 0.0,
         "sigma_coach": 0.0, "effects": {"zelf_in_actie": 0.0, "extra_hulp": 2.0,
                                         "werken_loont": 0.0}}


def _raw_itt(d: pd.DataFrame, arm: str) -> tuple[float, float]:
    y = d["work_gt12h_m24"].astype(float)
    t, c = y[d["arm"] == arm], y[d["arm"] == "control"]
    return 100 * (t.mean() - c.mean()), 100 * np.sqrt(t.var() / len(t) + c.var() / len(c))


def _true_itt(arm: str) -> float:
    kw = {**ZELEN, "seed": 5, "scale": 10}
    a = simulate_microdata(**kw)
    b = simulate_microdata(**{**kw, "effects": {k: 0.0 for k in ZELEN["effects"]}})
    m = (a["arm"] == arm).to_numpy()
    return 100 * float(np.mean(a["work_gt12h_m24"].to_numpy(float)[m]
                               - b["work_gt12h_m24"].to_numpy(float)[m]))


def _row(s: pd.DataFrame, term: str, arm: str = "") -> dict[str, float]:
    r = s[(s["term"] == term) & (s["arm"].fillna("") == arm)].iloc[0]
    return {"estimate": float(r["estimate"]), "ci_low": float(r["ci_low"]),
            "ci_high": float(r["ci_high"])}


def zelen(draws: int) -> dict[str, Any]:
    """Negative control 1 through the CLI, with the raw and ``y ~ arm`` comparisons."""
    from bayes_bijstand.models.person_level import fit_person

    d = validate_microdata(simulate_microdata(seed=2017, **ZELEN))
    raw, raw_se = _raw_itt(d, "extra_hulp")
    take_up = float(d.loc[d["arm"] == "extra_hulp", "participated"].mean())
    with tempfile.TemporaryDirectory() as td:
        f = Path(td) / "zelen.csv"
        d.to_csv(f, index=False)
        t0 = time.perf_counter()
        p = subprocess.run([sys.executable, "-m", "bayes_bijstand.fit", "--microdata", str(f),
                            "--formula", DELIVERED_FORMULA, "--draws", str(draws), "--tune",
                            str(draws), "--chains", "2", "--out", str(Path(td) / "out"),
                            "--quiet"], capture_output=True, text=True, timeout=3600)
        secs = time.perf_counter() - t0
        summary = Path(td) / "out" / "person_summary.csv"
        if not summary.is_file():
            raise RuntimeError(f"exit {p.returncode}: {p.stderr}{p.stdout}")
        s = pd.read_csv(summary)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        plain = fit_person(d, formula="work_gt12h_m24 ~ arm", draws=draws, tune=draws,
                           chains=2, cores=1, sampler="nutpie", random_seed=1)
    ps = plain.summary()
    return {"design": ZELEN | {"seed": 2017, "persons": len(d), "take_up": take_up},
            "cli": {"formula": DELIVERED_FORMULA, "draws": draws, "chains": 2,
                    "seconds": secs, "exit_code": p.returncode,
                    "stdout": p.stdout.strip()[-2000:], "stderr": p.stderr.strip()[-2000:]},
            "ame_itt_pp": _row(s, "ame", "extra_hulp"),
            "ame_participants_pp": _row(s, "ame_participants", "extra_hulp"),
            "participant_effect_logodds": _row(s, "arm", "extra_hulp"),
            "sigma_coach": _row(s, "sigma_coach"),
            "raw_itt_pp": {"estimate": raw, "se": raw_se},
            "y_arm_ame_pp": _row(ps, "ame", "extra_hulp"),
            "true_itt_pp": _true_itt("extra_hulp")}


def known_sigma(draws: int) -> dict[str, Any]:
    """Negative control 2: a known sigma_coach (0.6) is recovered."""
    from bayes_bijstand.models.person_level import fit_person

    kw = {"gemeenten": ["utrecht", "tilburg", "wageningen", "deventer", "oss", "nijmegen"],
          "effects": {"zelf_in_actie": 0.2, "extra_hulp": 0.5, "werken_loont": 0.3},
          "tau": 0.1, "sigma_coach": 0.6, "sigma_caseworker": 0.2, "seed": 3}
    d = validate_microdata(simulate_microdata(**kw))
    t0 = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = fit_person(d, formula=DELIVERED_FORMULA, draws=draws, tune=draws, chains=2,
                         cores=1, sampler="nutpie", random_seed=1, target_accept=0.9)
    s = res.summary()
    return {"design": kw, "persons": len(d), "seconds": time.perf_counter() - t0,
            "sigma_coach": _row(s, "sigma_coach"),
            "sigma_caseworker": _row(s, "sigma_caseworker"),
            "divergences": int(res.tree["sample_stats"]["diverging"].sum())}


def oss_mc(reps: int, seed: int = 20261207) -> dict[str, Any]:
    """Monte Carlo of the frequentist twin in the Oss-sized design (true effect 0)."""
    from test_frequentist_person import OSS, _oss

    from bayes_bijstand.frequentist.person import lpm_cluster

    rng = np.random.default_rng(seed)
    rows = []
    t0 = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for r in range(reps):
            out = lpm_cluster(_oss(rng, 0.5), covariates=False)
            for _, o in out.iterrows():
                rows.append({"rep": r, "arm": o["arm"], "estimate": float(o["estimate"]),
                             "se": float(o["se"]), "covered": bool(o["ci_low"] <= 0 <= o["ci_high"]),
                             "method": o["method"]})
    df = pd.DataFrame(rows)
    per_arm = {}
    for arm, g in df.groupby("arm"):
        per_arm[str(arm)] = {"n": len(g), "coverage": float(g["covered"].mean()),
                             "se_ratio": float(g["se"].mean() / g["estimate"].std(ddof=1))}
    cov = float(df["covered"].mean())
    return {"design": {str(a): list(s) for a, s in OSS}, "coach_sd_logodds": 0.5,
            "reps": reps, "seed": seed, "methods": sorted(df["method"].unique()),
            "coverage": cov, "binomial_se": float(np.sqrt(0.09 / len(df))), "n": len(df),
            "per_arm": per_arm, "seconds": time.perf_counter() - t0}


def markdown(rep: dict[str, Any]) -> str:
    """Human-readable summary."""
    z, k, m = rep["zelen"], rep["known_sigma"], rep["oss_mc"]

    def ci(r: dict[str, float], f: str = ".2f") -> str:
        return f"{r['estimate']:{f}} [{r['ci_low']:{f}}, {r['ci_high']:{f}}]"

    lines = ["# Person level: negative controls and the frequentist twin's Monte Carlo", "",
             f"Written by `benchmarks/person_negative_controls.py` on {rep['date_utc']} "
             f"({rep['machine']['nproc']} cores, other jobs running). SYNTHETIC data.", "",
             "## 1. Arm-exclusive coaches, sigma_coach = 0 (Groningen, "
             f"{z['design']['persons']} clients, take-up {100 * z['design']['take_up']:.1f}%)",
             "", f"`fit --microdata` (formula `{z['cli']['formula']}`, 2 x {z['cli']['draws']} "
             f"draws, {z['cli']['seconds']:.0f} s, exit code {z['cli']['exit_code']}: 0 = "
             "passed the diagnostics gate, 1 = the output says it did not):", "",
             f"- ITT AME extra_hulp: {ci(z['ame_itt_pp'])} pp",
             f"- raw ITT difference: {z['raw_itt_pp']['estimate']:.2f} pp (se "
             f"{z['raw_itt_pp']['se']:.2f}); `y ~ arm`: {ci(z['y_arm_ame_pp'])} pp; true ITT "
             f"of the simulator: {z['true_itt_pp']:.2f} pp",
             f"- per-participant AME: {ci(z['ame_participants_pp'])} pp; participant effect "
             f"{ci(z['participant_effect_logodds'])} log-odds (truth 2.0)",
             f"- sigma_coach: {ci(z['sigma_coach'])} (truth 0)", "",
             f"## 2. Known sigma_coach 0.6 ({k['persons']} clients, six gemeenten)", "",
             f"- sigma_coach {ci(k['sigma_coach'])}; sigma_caseworker "
             f"{ci(k['sigma_caseworker'])} (truth 0.2); {k['divergences']} divergences, "
             f"{k['seconds']:.0f} s", "",
             f"## 3. Frequentist twin, Oss-sized design ({m['reps']} replications, true "
             "effect 0, coach SD 0.5 log-odds)", "",
             f"`lpm_cluster` ({', '.join(m['methods'])}): 90% intervals cover "
             f"{m['coverage']:.3f} of {m['n']} (binomial SE at 0.90: {m['binomial_se']:.3f}).",
             "", "| arm | n | coverage | mean SE / MC SD |", "|---|---|---|---|"]
    for arm, a in m["per_arm"].items():
        lines.append(f"| {arm} | {a['n']} | {a['coverage']:.3f} | {a['se_ratio']:.2f} |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    """Run the three parts and write JSON and Markdown."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--draws", type=int, default=500)
    ap.add_argument("--mc-reps", type=int, default=300)
    ap.add_argument("--out", type=Path, default=RESULTS / "person_negative_controls.json")
    a = ap.parse_args(argv)
    rep: dict[str, Any] = {"machine": machine_info(), "command": " ".join(sys.argv),
                           "date_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
    rep["oss_mc"] = oss_mc(a.mc_reps)
    print("oss", rep["oss_mc"]["coverage"], flush=True)
    rep["zelen"] = zelen(a.draws)
    print("zelen", rep["zelen"]["ame_itt_pp"], flush=True)
    rep["known_sigma"] = known_sigma(a.draws)
    write_json(a.out, rep)
    write_text(a.out.with_suffix(".md"), markdown(rep))
    print(f"wrote {a.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
