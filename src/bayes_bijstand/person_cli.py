"""``fit --microdata FILE``: the person-level path of the fit CLI.

Loads and validates the microdata, fits the bambi model with coach random effects, applies
the diagnostics gate and the disclosure rules, and writes the same kinds of outputs as the
summary-level fits (netCDF, summary.json, summary.csv, coach effects anonymised).
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

from .diagnostics import check
from .io import atomic_path, atomic_write_json, atomic_write_text, sha256_file
from .microdata import disclosure_check, load_microdata


def run_person(opts: Any) -> int:
    """Fit one person-level model from ``opts`` and write outputs; returns the exit code."""
    from .models.person_level import DEFAULT_FORMULA, fit_person, identification_report

    data = load_microdata(opts.microdata)
    formula = opts.formula or DEFAULT_FORMULA
    out = Path(opts.out)
    out.mkdir(parents=True, exist_ok=True)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        res = fit_person(data, formula=formula, family=opts.family,
                         draws=opts.draws or 1000, tune=opts.tune or 1000,
                         chains=opts.chains or 4, random_seed=opts.seed or 2017,
                         sampler=opts.sampler or "nutpie")
    notes = sorted({str(w.message) for w in caught if "confound" in str(w.message).lower()})
    diag = check(res.tree, var_names=tuple(v for v in res.tree["posterior"].data_vars
                                           if not v.endswith("_offset")))
    summary = res.summary()
    coaches = res.coach_effects()
    atomic_write_text(out / "person_summary.csv", disclosure_check(summary).to_csv(index=False)
                      if "n" in summary.columns else summary.to_csv(index=False))
    atomic_write_text(out / "coach_effects.csv", coaches.to_csv(index=False))
    with atomic_path(out / "fits" / "person_level.nc") as tmp:
        res.tree.to_netcdf(tmp, engine="h5netcdf", mode="w")
    synthetic = bool(data.get("synthetic", False).all()) if "synthetic" in data else False
    atomic_write_json(out / "summary.json", {
        "kind": "person_level", "formula": formula, "family": opts.family,
        "microdata": str(opts.microdata), "microdata_sha256": sha256_file(opts.microdata),
        "synthetic": synthetic, "n_persons": res.n_persons, "n_rows": res.n_rows,
        "collapsed": res.collapsed, "status": diag.status, "diagnostics": diag.to_dict(),
        "identification": identification_report(data), "warnings": notes,
        "effects": summary.to_dict(orient="records") if diag.passed else [],
        "seed": opts.seed or 2017,
    })
    print(summary.to_string(index=False))
    if not diag.passed:
        print("FAILED diagnostics: " + "; ".join(diag.problems))
        return 0 if opts.allow_warnings else 1
    return 0
