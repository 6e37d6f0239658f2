"""``python -m bayes_bijstand.report --posterior DIR --out FILE``: rebuild the HTML report.

Useful after editing nothing but wanting the report again (or on another machine from a
copied output directory). Bad input (no ``summary.json``) is a one-line error, exit code 2.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ..errors import InputError


def build_parser() -> argparse.ArgumentParser:
    """The argument parser (kept separate so tests and docs can inspect it)."""
    p = argparse.ArgumentParser(
        prog="python -m bayes_bijstand.report",
        description="Write the self-contained HTML report (figures embedded, no external "
                    "requests) of a bayes_bijstand run directory.")
    p.add_argument("--posterior", type=Path, required=True, metavar="DIR",
                   help="run output directory (the --out of bayes_bijstand.fit); must contain "
                        "summary.json")
    p.add_argument("--out", type=Path, metavar="FILE",
                   help="HTML file to write (default: DIR/report.html)")
    p.add_argument("--full", action="store_true",
                   help="embed every figure as the original PNG, sampler diagnostics included "
                        "(several times larger; the default embeds light WebP copies and links "
                        "the sampler diagnostics as files next to the report)")
    p.add_argument("--ci-prob", type=float, metavar="P",
                   help="check that the run's intervals are at this level (they are computed "
                        "by fit --ci-prob, which the report states; default: the run's)")
    p.add_argument("--debug", action="store_true",
                   help="on an error, show the Python traceback before the one-line message")
    return p


def _check_level(posterior: Path, ci_prob: float) -> None:
    """The report cannot recompute intervals: a different level is a one-line error."""
    import json

    try:
        level = float(json.loads((posterior / "summary.json").read_text(encoding="utf-8"))
                      .get("ci", {}).get("prob", 0.9))
    except (OSError, ValueError):
        return  # write_report gives the one-line error for a missing or broken summary.json
    if abs(level - ci_prob) > 1e-9:
        raise InputError("--ci-prob", f"the run in {posterior} has {100 * level:g}% intervals; "
                         f"rerun fit --ci-prob {ci_prob:g} --out {posterior} for "
                         f"{100 * ci_prob:g}% (it refits)")


def main(argv: list[str] | None = None) -> int:
    """Entry point; returns the exit code (0 ok, 2 bad input, 3 internal error: one line
    each, never a traceback; ``--debug`` shows it, see :mod:`bayes_bijstand.cli`)."""
    from ..cli import guard, wants_debug

    return guard(lambda: _main(argv), debug=wants_debug(argv),
                 interrupted="the report was not written")


def _main(argv: list[str] | None) -> int:
    args = build_parser().parse_args(argv)
    from .build import write_report

    out = args.out or args.posterior / "report.html"
    try:
        if args.ci_prob is not None:
            _check_level(args.posterior, args.ci_prob)
        path = write_report(args.posterior, out, full=args.full)
    except InputError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"report: {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
