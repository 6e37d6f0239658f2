"""Size and load time of ``report.html`` in headless Chromium, with the budget asserted.

    .venv/bin/python benchmarks/bench_report.py --posterior OUT [--full] [--repeat 3]
        [--budget-s 3] [--budget-mb 5] [--result benchmarks/results/report.json]

Builds the report of a run directory (``OUT`` of ``python -m bayes_bijstand.fit``) into a
temporary folder, copies it with one added line of script that stores the navigation
timing's ``loadEventStart`` in the DOM, and opens that copy ``--repeat`` times in headless
Chromium (fresh profile each time): once with ``--screenshot`` (the wall time to load, lay
out, decode and paint the first screen) and once with ``--dump-dom`` (returns after the load
event, which the probe timed). Reported: file size, number of embedded images, load time (ms
from navigation start to the load event; median and max) and the screenshot wall time, less
that of the same browser on an empty page (its start-up cost): ``first_screen_s_median``.
Exit code 1 when either median time or the size exceeds the budget (default: 3 s, 5 MB), 2
when Chromium is missing.
The shipped report itself has no script; only the measured copy does.
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import write_json  # noqa: E402

PROBE = ("<script>addEventListener('load',function(){var n=performance.getEntriesByType("
         "'navigation')[0];document.documentElement.setAttribute('data-load-ms',"
         "String(Math.round(n.loadEventStart)));});</script>")


def chromium() -> str | None:
    """Path of a Chromium binary, or None."""
    for name in ("chromium", "chromium-browser", "google-chrome"):
        found = shutil.which(name)
        if found:
            return found
    return None


def _browser(binary: str, prof: str, *args: str) -> list[str]:
    return [binary, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
            "--no-first-run", "--disable-background-networking", "--disable-component-update",
            "--disable-sync", f"--user-data-dir={prof}", "--window-size=1280,800", *args]


def open_once(binary: str, page: Path) -> tuple[float, float | None]:
    """(wall seconds to a screenshot of the first screen, load-event ms or None): two fresh
    browser starts, one taking a screenshot (load, layout, decode and paint of the first
    screen) and one dumping the DOM with the probe's load time."""
    with tempfile.TemporaryDirectory(prefix="bench-report-prof-") as prof:
        shot = Path(prof) / "shot.png"
        t0 = time.perf_counter()
        subprocess.run(_browser(binary, prof, f"--screenshot={shot}", page.resolve().as_uri()),
                       capture_output=True, text=True, timeout=300, check=False)
        wall = time.perf_counter() - t0
    with tempfile.TemporaryDirectory(prefix="bench-report-prof-") as prof:
        r = subprocess.run(_browser(binary, prof, "--dump-dom", page.resolve().as_uri()),
                           capture_output=True, text=True, timeout=300, check=False)
    m = re.search(r'data-load-ms="(\d+)"', r.stdout)
    return wall, (float(m.group(1)) if m else None)


def main(argv: list[str] | None = None) -> int:
    """Entry point; see the module docstring."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--posterior", type=Path, required=True)
    ap.add_argument("--report", type=Path, help="measure this HTML file instead of building one")
    ap.add_argument("--full", action="store_true")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--budget-s", type=float, default=3.0)
    ap.add_argument("--budget-mb", type=float, default=5.0)
    ap.add_argument("--result", type=Path)
    a = ap.parse_args(argv)
    binary = chromium()
    if binary is None:
        print("no chromium binary found", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory(prefix="bench-report-") as d:
        page = Path(d) / "report.html"
        t0 = time.perf_counter()
        if a.report:
            shutil.copyfile(a.report, page)
            build_s = float("nan")
        else:
            from bayes_bijstand.report import write_report

            write_report(a.posterior, page, full=a.full)
            build_s = time.perf_counter() - t0
        text = page.read_text(encoding="utf-8")
        size_mb = len(text.encode("utf-8")) / 1e6
        n_img = len(re.findall(r"<img\b", text))
        probe = Path(d) / "probe.html"
        probe.write_text(text.replace("</head>", PROBE + "</head>", 1), encoding="utf-8")
        blank = Path(d) / "blank.html"
        blank.write_text("<!DOCTYPE html><html><head>" + PROBE + "</head><body></body></html>",
                         encoding="utf-8")
        runs = [open_once(binary, probe) for _ in range(a.repeat)]
        blanks = [open_once(binary, blank) for _ in range(a.repeat)]
    loads = [ms for _, ms in runs if ms is not None]
    res = {
        "report": str(a.report or "built"), "full": a.full, "size_mb": round(size_mb, 2),
        "images_embedded": n_img, "build_s": round(build_s, 2),
        "load_ms": loads, "load_ms_median": statistics.median(loads) if loads else None,
        "load_ms_max": max(loads) if loads else None,
        "screenshot_wall_s": [round(w, 2) for w, _ in runs],
        "blank_page_screenshot_wall_s": [round(w, 2) for w, _ in blanks],
        "first_screen_s_median": round(statistics.median(w for w, _ in runs)
                                       - statistics.median(w for w, _ in blanks), 2),
        "budget_s": a.budget_s, "budget_mb": a.budget_mb,
    }
    ok = (bool(loads) and res["load_ms_median"] <= 1000 * a.budget_s
          and res["first_screen_s_median"] <= a.budget_s and size_mb <= a.budget_mb)
    res["within_budget"] = ok
    print(json.dumps(res, indent=1))
    if a.result:
        write_json(a.result, res)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
