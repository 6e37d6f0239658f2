"""Where the shipped evidence files live (package data)."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

DATA = resources.files("bayes_bijstand") / "evidence" / "data"


def data_dir() -> Path:
    """Directory of the shipped evidence files."""
    return Path(str(DATA))
