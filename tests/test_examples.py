"""Every example in examples/ runs (tiny draws), so the newcomer's entry points never rot."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
# The examples' own sampler (nutpie): after the session's first compilation PyTensor's
# on-disk cache makes each example's compile ~25 s; the PyMC sampler took 2-4x as long here.
_FAST = ["--draws", "60", "--chains", "2", "--no-retry"]
TINY = {"pooled_meta_analysis.py": ["work_gt12h", *_FAST],
        "own_estimates.py": _FAST,
        "prior_sensitivity.py": ["social_trust", "--factors", "2", *_FAST],
        "person_level.py": [],
        "one_stage_two_stage.py": _FAST}


#: examples that fit the summary-level model and print a status line before any result
STATUS = {"pooled_meta_analysis.py", "own_estimates.py", "prior_sensitivity.py"}


def test_every_example_is_covered() -> None:
    assert {p.name for p in EXAMPLES.glob("*.py")} == set(TINY)


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(TINY))
def test_example_runs(name: str) -> None:
    proc = subprocess.run([sys.executable, str(EXAMPLES / name), *TINY[name]],
                          capture_output=True, text=True, timeout=600)
    assert "Traceback" not in proc.stderr, proc.stderr[-2000:]
    assert proc.stdout.strip()
    if name in STATUS:
        # a status line always; results only when the gate passed (exit 0), else exit 1 and
        # "no result" (the smoke test's tiny draws may well fail the gate)
        assert "status: " in proc.stdout and "diagnostics " in proc.stdout
        failed = "FAILED" in proc.stdout
        assert proc.returncode == (1 if failed else 0), proc.stderr[-2000:]
        assert ("no result" in proc.stdout) == failed
    else:
        assert proc.returncode == 0, proc.stderr[-2000:]
