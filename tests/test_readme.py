"""The README's Python quickstart runs verbatim from a directory outside the repository."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

README = Path(__file__).resolve().parents[1] / "README.md"


def quickstart() -> str:
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(encoding="utf-8"), re.S)
    assert blocks, "README has no python block"
    return blocks[0]


# The block runs unchanged; only the sampler is shrunk (as in the examples' smoke tests) so
# that the test costs seconds: every spec it loads gets 100 draws x 2 chains, no retry.
SHRINK = """
import bayes_bijstand.meta as _meta
import bayes_bijstand.specs as _specs

_load, _fit = _specs.load_spec, _meta.fit_meta
_specs.load_spec = lambda *a, **k: _load(*a, **k).with_overrides(draws=100, tune=100, chains=2)
_meta.fit_meta = lambda *a, **k: _fit(*a, **{**k, "retry": False})
"""


@pytest.mark.slow
def test_readme_quickstart_runs_verbatim_from_a_temporary_directory(tmp_path: Path) -> None:
    script = tmp_path / "quickstart.py"
    script.write_text(quickstart(), encoding="utf-8")
    runner = tmp_path / "run.py"
    runner.write_text(SHRINK + f"\nexec(compile(open({str(script)!r}).read(), "
                      f"{str(script)!r}, 'exec'), {{'__name__': '__main__'}})\n")
    proc = subprocess.run([sys.executable, str(runner)], cwd=tmp_path, capture_output=True,
                          text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "Bayesian random-effects meta-analysis" in proc.stdout  # print(res)
    assert "diagnostics: " in proc.stdout and "pooled effect (mu_arm)" in proc.stdout
    assert "groningen" in proc.stdout  # print(ev[...]) and res.gemeenten()
    assert (tmp_path / "work_gt12h.nc").stat().st_size > 0
