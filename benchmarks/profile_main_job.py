"""Where the main job's time goes: stage totals from a cProfile of ``fit --all-gemeenten``.

Profile a run, then summarise it (or compare two profiles side by side)::

    python -m cProfile -o before.prof -m bayes_bijstand.fit --all-gemeenten --out /tmp/run
    python benchmarks/profile_main_job.py before.prof [after.prof]

The stages are cumulative wall seconds of the main process's functions (the figures are
drawn in a second process, which this profile does not see; ``figures: waiting`` is how
long the main process waited for it). Stages nest: "sampling" includes "compile". The
seconds are cProfile's cumulative wall time of each function, summed over its calls; with
the sampler's threads a nested stage can add up to more than its parent, so read them as
shares, not as a partition. cProfile's own overhead inflates Python-heavy stages (the gate,
graph outputs, evidence selection) more than the compiled sampler.
"""

from __future__ import annotations

import argparse
import pstats
import sys

#: (label, file suffix, function) of each stage; in nesting order.
STAGES: tuple[tuple[str, str, str], ...] = (
    ("run: all fits", "executors.py", "run_locally"),
    ("fit_meta (per fit)", "meta.py", "fit_meta"),
    ("sampling incl. compile and retries", "backends.py", "_sample_nutpie"),
    ("compile (numba, per padding)", "backends.py", "compiled_model"),
    ("exact normal-normal draws", "backends.py", "_sample_exact"),
    ("graph outputs (deterministics, log-lik)", "backends.py", "graph_outputs"),
    ("diagnostics gate", "diagnostics.py", "check"),
    ("netCDF write", "meta.py", "to_netcdf"),
    ("evidence selection (select_rows)", "selection.py", "select_rows"),
    ("frequentist twin", "meta.py", "_twin"),
    ("figures: waiting for the figure process", "figures.py", "result"),
    ("figures: drawn in the main process", "figures.py", "draw_here"),
    ("run tables (aggregate)", "aggregate.py", "aggregate"),
)


def stage_seconds(path: str) -> dict[str, tuple[float, int]]:
    """(cumulative seconds, calls) of each stage in the profile ``path``."""
    stats = pstats.Stats(path).stats  # type: ignore[attr-defined]
    out: dict[str, tuple[float, int]] = {}
    for label, suffix, func in STAGES:
        secs, calls = 0.0, 0
        for (file, _line, name), (_cc, nc, _tt, ct, _callers) in stats.items():
            if file.endswith(suffix) and name == func:
                secs += ct
                calls += nc
        out[label] = (secs, calls)
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("profiles", nargs="+", help="cProfile output files (one, or before and after)")
    a = ap.parse_args(argv)
    cols = [stage_seconds(p) for p in a.profiles]
    head = "| stage | " + " | ".join(f"{p}: s (calls)" for p in a.profiles) + " |"
    print(head)
    print("|---|" + "---|" * len(cols))
    for label, *_ in STAGES:
        cells = []
        for c in cols:
            secs, calls = c[label]
            cells.append(f"{secs:.1f} ({calls})")
        print(f"| {label} | " + " | ".join(cells) + " |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
