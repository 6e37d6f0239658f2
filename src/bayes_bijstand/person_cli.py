"""``fit --microdata FILE``: the person-level path of the fit CLI.

Loads and validates the microdata, fits the bambi model (by default the delivered-treatment
model with coach effects on the delivered treatment), applies the diagnostics gate and the
disclosure rules, and writes the same kinds of outputs as the summary-level fits
(netCDF, summary.json, person_summary.csv, coach_effects.csv).

Disclosure (unless ``--secure-env``): coach ids never leave - every file carries the
anonymous labels of ``coach_effects.csv`` (``coach k`` by posterior mean within a gemeente;
coaches under 10 clients suppressed and unranked); ``fits/person_level.nc`` holds the
posterior and sampler statistics only (no observed or constant data, no caseworker
levels); every table row and every count in the identification text describing fewer than
10 persons is suppressed.
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

from .diagnostics import Diagnostics, check
from .io import atomic_path, atomic_write_json, atomic_write_text, netcdf_engine, sha256_file
from .microdata import disclosure_check, load_microdata

DEFAULT_SEED = 2017


def person_gate(res: Any) -> Diagnostics:
    """The package's gate (R-hat, ESS, divergences, E-BFMI) over a person-level fit's
    parameters (bambi's non-centred ``*_offset`` helpers excluded)."""
    return check(res.tree, var_names=tuple(v for v in res.tree["posterior"].data_vars
                                           if not v.endswith("_offset")))


def run_person(opts: Any) -> int:
    """Fit one person-level model from ``opts`` and write outputs; returns the exit code."""
    from .models.person_level import (
        DEFAULT_FORMULA,
        export_tree,
        fit_person,
        identification_report,
    )

    data = load_microdata(opts.microdata)
    formula = opts.formula or DEFAULT_FORMULA
    seed = DEFAULT_SEED if opts.seed is None else int(opts.seed)
    secure = bool(getattr(opts, "secure_env", False))
    out = Path(opts.out)
    out.mkdir(parents=True, exist_ok=True)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        res = fit_person(data, formula=formula, family=opts.family,
                         draws=opts.draws or 1000, tune=opts.tune or 1000,
                         chains=opts.chains or 4, random_seed=seed,
                         sampler=opts.sampler or "nutpie")
    notes = sorted({str(w.message) for w in caught if "confound" in str(w.message).lower()})
    diag = person_gate(res)
    ci_prob = getattr(opts, "ci_prob", None)
    summary = res.summary(ci_prob=ci_prob)
    checked = disclosure_check(summary, count_columns=["n"])
    try:
        coaches = res.coach_effects(ci_prob=ci_prob)
    except ValueError:
        coaches = None
    atomic_write_text(out / "person_summary.csv", checked.to_csv(index=False))
    if coaches is not None:
        atomic_write_text(out / "coach_effects.csv", coaches.to_csv(index=False))
    with atomic_path(out / "fits" / "person_level.nc") as tmp:
        export_tree(res, secure_env=secure).to_netcdf(tmp, engine=netcdf_engine(), mode="w")
    synthetic = bool(data.get("synthetic", False).all()) if "synthetic" in data else False
    atomic_write_json(out / "summary.json", {
        "kind": "person_level", "formula": formula, "family": opts.family,
        "microdata": str(opts.microdata), "microdata_sha256": sha256_file(opts.microdata),
        "synthetic": synthetic, "n_persons": res.n_persons, "n_rows": res.n_rows,
        "collapsed": res.collapsed, "status": diag.status, "diagnostics": diag.to_dict(),
        "identification": identification_report(data, formula), "warnings": notes,
        "effects": checked.to_dict(orient="records") if diag.passed else [],
        "secure_env": secure, "seed": seed,
    })
    print(checked.drop(columns="suppressed").to_string(index=False))
    if not diag.passed:
        print("FAILED diagnostics (effects are not reported in summary.json): "
              + "; ".join(diag.problems))
        return 0 if opts.allow_warnings else 1
    print("status: passed diagnostics")
    return 0
