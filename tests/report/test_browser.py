"""Render the report in headless Chromium: it loads, and the DOM has the overview table."""

from __future__ import annotations

import os
import re
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


# A copy of the report with a probe script (the report itself has no script): after the load
# event it records where the headline figure sits and loads every embedded image afresh.
PROBE = """<script>addEventListener('load', function () {
  var d = document.documentElement, f = document.getElementById('headline-figure');
  var r = f ? f.getBoundingClientRect() : null;
  d.setAttribute('data-headline-top', r ? String(Math.round(r.top)) : 'none');
  d.setAttribute('data-headline-bottom', r ? String(Math.round(r.bottom)) : 'none');
  d.setAttribute('data-viewport', String(window.innerHeight));
  var imgs = Array.prototype.slice.call(document.images), left = imgs.length, bad = [];
  function done() { if (--left === 0) { d.setAttribute('data-broken', String(bad.length)); } }
  if (!left) { d.setAttribute('data-broken', '0'); }
  imgs.forEach(function (im) {
    var t = new Image();
    t.onload = function () { if (!t.naturalWidth) { bad.push(im.alt); } done(); };
    t.onerror = function () { bad.push(im.alt); done(); };
    t.src = im.src;
  });
});</script>"""


def _probe(chromium: str, report_file: Path, tmp_path: Path) -> dict[str, str]:
    page = tmp_path / "probe.html"
    text = report_file.read_text(encoding="utf-8")
    page.write_text(text.replace("</head>", PROBE + "</head>", 1), encoding="utf-8")
    r = _run(chromium, tmp_path / "profile", "--window-size=1280,800",
             "--virtual-time-budget=10000", "--dump-dom", page.resolve().as_uri())
    assert r.returncode == 0, r.stderr[-2000:]
    m = re.search(r"<html[^>]*>", r.stdout)
    return dict(re.findall(r'data-([a-z-]+)="([^"]*)"', m.group(0))) if m else {}


def test_headline_on_first_screen_and_no_broken_images(chromium: str, report_file: Path,
                                                       tmp_path: Path) -> None:
    got = _probe(chromium, report_file, tmp_path)
    assert got.get("headline-top", "none") != "none", got
    top, vh = int(got["headline-top"]), int(got["viewport"])
    assert 0 <= top < vh / 2, got  # the answer starts in the top half of the first screen
    assert got.get("broken") == "0", got
