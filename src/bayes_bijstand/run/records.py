"""The one schema of a job record, ``OUT/fits/<name>.json``, and how it is read and written.

A record is written last, after the fit's netCDF and figures (atomic), so its presence means
the job is complete; its ``fit_key`` lets a rerun skip the job (resume). The run-level
outputs (``summary.json``, the tables, the report) are built from records only.
"""

from __future__ import annotations

import json
import platform
from pathlib import Path
from typing import Any, TypedDict

import numpy as np
import pandas as pd

from ..io import _json_default, atomic_write_text, sha256_file


class FitRecord(TypedDict):
    """``fits/<name>.json``: what one fit used and found (keys in the order written)."""

    name: str
    outcome: str
    pooling: str
    role: str  # main | pooling | contribution | joint | loo | variant | trajectory
    dropped_grade: str
    left_out: str  # loo: the municipality left out ("" otherwise)
    variant: str  # variant: the multiverse assumption changed ("" otherwise)
    grades: list[str]
    fit_key: str  # content hash of everything that determines the fit (resume)
    status: str  # passed | failed (the diagnostics gate)
    diagnostics: dict[str, Any]
    kind: str  # binary | score
    unit: str
    display_factor: float
    label_en: str
    label_nl: str
    mid: float
    n_rows_used: int
    n_rows_total: int
    gemeenten: list[str]
    components: list[str]
    arms: list[str]
    netcdf: str  # relative to OUT
    netcdf_bytes: int  # size of the netCDF when written (resume verifies it)
    netcdf_sha256: str  # its content hash (resume verifies it)
    figures: list[str]  # relative to OUT
    pooled: list[dict[str, Any]]  # MetaResult.summary() rows
    gemeente_effects: list[dict[str, Any]]  # MetaResult.gemeenten() rows
    i2: list[dict[str, Any]]  # MetaResult.i2() rows
    coach: list[dict[str, Any]]  # MetaResult.coach() rows (empty: no coach component)
    evidence: list[dict[str, Any]]  # every evidence row of the outcome, with used/reason
    seed: int
    sampler: str  # the path that ran: the MCMC backend, or the exact normal-normal draws
    versions: dict[str, str]
    inputs: dict[str, str]  # hashes of the run's input files
    resumed: bool  # True when read back instead of refitted


def table_rows(df: pd.DataFrame) -> list[dict[str, Any]]:
    """A table as JSON-ready rows (NaN -> ``None``, floats to 10 significant digits)."""
    df = df.replace({np.nan: None})
    return json.loads(df.to_json(orient="records", double_precision=10))


def versions() -> dict[str, str]:
    """Versions of Python and the packages that determine a fit (recorded in every output)."""
    import h5netcdf
    import scipy
    import xarray

    from ..meta import _versions as v

    out = dict(v())
    out.update(python=platform.python_version(), scipy=scipy.__version__,
               xarray=xarray.__version__, h5netcdf=h5netcdf.__version__)
    return dict(sorted(out.items()))


def read_if_current(rec_path: Path, nc_path: Path, key: str) -> FitRecord | None:
    """The record at ``rec_path`` if it and its netCDF exist and it carries ``key``."""
    if not (rec_path.exists() and nc_path.exists()):
        return None
    try:
        rec = json.loads(rec_path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, OSError, UnicodeDecodeError):
        return None
    if not (isinstance(rec, dict) and rec.get("fit_key") == key):
        return None
    # The record is written after its netCDF, but a netCDF can still be damaged later (a
    # truncated copy, a full disk, an editor): resume only a file of the recorded size and
    # content hash; anything else is refitted.
    try:
        if nc_path.stat().st_size != rec.get("netcdf_bytes") or \
                sha256_file(nc_path) != rec.get("netcdf_sha256"):
            return None
    except OSError:
        return None
    return rec  # type: ignore[return-value]


def write_record(rec_path: Path, rec: FitRecord) -> None:
    """Write a record (atomic), keys in the order written (not sorted).

    Reading it back gives the same key order as the fresh record had, so the tables built
    from a resumed run's records have the same columns in the same order as a fresh run's
    (byte-identical CSVs).
    """
    atomic_write_text(rec_path, json.dumps(rec, indent=2, default=_json_default) + "\n")
