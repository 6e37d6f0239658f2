"""``python -m bayes_bijstand.plots FIT.nc [...]``: draw the figures of stored fits.

The main job draws the sampler diagnostics (rank, trace, energy) only for a fit that
failed the diagnostics gate; this draws them, or any other figure, for any fit it wrote::

    python -m bayes_bijstand.plots posterior/fits/work_gt8h.nc --only rank trace energy

By default the figures go where the run puts them: ``<run>/figures/<outcome>/`` beside the
``fits/`` folder of the file. Bad input is a one-line error (exit code 2).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ..errors import InputError


def build_parser() -> argparse.ArgumentParser:
    """The argument parser (kept separate so tests and docs can inspect it)."""
    from . import FIGURES

    p = argparse.ArgumentParser(
        prog="python -m bayes_bijstand.plots",
        description="Draw the figures of fits stored by bayes_bijstand.fit (fits/*.nc).")
    p.add_argument("fits", nargs="+", type=Path, metavar="FIT.nc",
                   help="netCDF files of stored fits (OUT/fits/<name>.nc)")
    p.add_argument("--only", nargs="+", choices=list(FIGURES), metavar="FIGURE",
                   help=f"only these figures (default: all): {', '.join(FIGURES)}")
    p.add_argument("--out", type=Path, metavar="DIR",
                   help="folder for the figures (default: the run's figures/<outcome>/ next "
                        "to the fits/ folder of each file)")
    p.add_argument("--svg", action="store_true", help="write an SVG copy of each PNG too")
    p.add_argument("--debug", action="store_true",
                   help="on an error, show the Python traceback before the one-line message")
    return p


def main(argv: list[str] | None = None) -> int:
    """Entry point; returns the exit code (0 ok, 2 bad input, 3 internal error)."""
    from ..cli import guard, wants_debug

    return guard(lambda: _main(argv), debug=wants_debug(argv),
                 interrupted="the figures drawn so far are complete files")


def _main(argv: list[str] | None) -> int:
    args = build_parser().parse_args(argv)
    from ..meta import MetaResult
    from . import make_figures

    formats = ("png", "svg") if args.svg else ("png",)
    for path in args.fits:
        if not path.is_file():
            raise InputError(str(path), "no such file (a stored fit: OUT/fits/<name>.nc)")
        try:
            result = MetaResult.from_netcdf(path)
        except (OSError, KeyError, ValueError) as exc:
            raise InputError(str(path), f"not a fit written by bayes_bijstand.fit ({exc})") \
                from None
        out = args.out or path.resolve().parent.parent / "figures" / result.outcome
        written = make_figures(result, out, only=tuple(args.only) if args.only else None,
                               formats=formats)
        for w in written:
            print(w)
    return 0


if __name__ == "__main__":
    sys.exit(main())
