"""Render the report in headless Chromium: it loads, and the DOM has the overview table."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

pytestmark = pytest.mark.browser


def _chromium() -> str | None:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        found = shutil.which(name)
        if found:
            return found
    return "/usr/bin/chromium" if os.access("/usr/bin/chromium", os.X_OK) else None


def _run(binary: str, profile: Path, *args: str) -> subprocess.CompletedProcess[str]:
    cmd = [binary, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
           "--no-first-run", "--disable-background-networking", "--disable-component-update",
           "--disable-sync", f"--user-data-dir={profile}", *args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=120, check=False)


@pytest.fixture(scope="module")
def chromium() -> str:
    b = _chromium()
    if b is None:
        pytest.skip("no chromium binary found")
    return b


def test_dom_has_overview(chromium: str, report_file: Path, tmp_path: Path) -> None:
    r = _run(chromium, tmp_path / "profile", "--dump-dom", report_file.resolve().as_uri())
    assert r.returncode == 0, r.stderr[-2000:]
    dom = r.stdout
    assert 'id="overview"' in dom
    assert "<tbody>" in dom and "zelf in actie" in dom
    assert "FAILED DIAGNOSTICS" in dom


def test_screenshot(chromium: str, report_file: Path, tmp_path: Path) -> None:
    shot = tmp_path / "shot.png"
    r = _run(chromium, tmp_path / "profile", "--window-size=1280,1600", f"--screenshot={shot}",
             report_file.resolve().as_uri())
    assert r.returncode == 0, r.stderr[-2000:]
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert shot.stat().st_size > 10_000
