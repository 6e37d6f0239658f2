"""The HTML report of a run: ``write_report(posterior_dir, out_file) -> Path``.

See :mod:`bayes_bijstand.report.build` for what goes in it; ``python -m
bayes_bijstand.report --posterior DIR --out FILE`` writes it from the command line.
"""

from __future__ import annotations

from .build import render, write_report

__all__ = ["render", "write_report"]
