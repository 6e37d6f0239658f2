#!/usr/bin/env bash
# One entry point that sets everything up on a fresh machine, then runs the job.
#   ./dev.sh fit [FLAGS]   create .venv (Python >= 3.12), install, run the main job
#                          (python -m bayes_bijstand.fit --all-gemeenten, or FLAGS if given)
#   ./dev.sh test [ARGS]   create .venv, install, run the test suite (pytest ARGS)
#   ./dev.sh bench         run the benchmarks (benchmarks/run_all.py)
set -euo pipefail
cd "$(dirname "$0")"

find_python() {
  local want cand
  want="$(tr -d '[:space:]' < .python-version 2>/dev/null || echo 3.12)"
  if command -v pyenv >/dev/null 2>&1; then
    cand="$(pyenv versions --bare 2>/dev/null | grep -E "^${want//./\\.}(\.|$)" | sort -V | tail -n 1 || true)"
    if [ -n "$cand" ] && [ -x "$(pyenv root)/versions/$cand/bin/python" ]; then
      echo "$(pyenv root)/versions/$cand/bin/python"; return
    fi
  fi
  for cand in "python$want" python3.13 python3.12 python3; do
    if command -v "$cand" >/dev/null 2>&1 && "$cand" -c 'import sys; sys.exit(sys.version_info < (3, 12))'; then
      command -v "$cand"; return
    fi
  done
  echo "error: Python >= 3.12 not found (install it, e.g. 'pyenv install 3.12')" >&2
  exit 2
}

setup() {
  local stamp=.venv/.setup-stamp want
  want="$(cat pyproject.toml .python-version | sha256sum | cut -d' ' -f1)"
  if [ ! -x .venv/bin/python ]; then
    echo "setting up .venv ..." >&2
    "$(find_python)" -m venv .venv
  fi
  if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
    .venv/bin/python -m pip install --quiet --upgrade pip >&2
    .venv/bin/python -m pip install --quiet -e ".[dev]" >&2
    echo "$want" > "$stamp"
  fi
}

browser() {
  # The report's browser test needs Chromium; install it where we may (root + apt), else it skips.
  if ! command -v chromium >/dev/null 2>&1 && command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium) >/dev/null 2>&1 \
      || echo "note: could not install chromium; the browser test will be skipped" >&2
  fi
}

cmd="${1:-}"; shift || true
case "$cmd" in
  fit)
    setup
    if [ "$#" -eq 0 ]; then set -- --all-gemeenten; fi
    exec .venv/bin/python -m bayes_bijstand.fit "$@" ;;
  robustness)
    # exact leave-one-municipality-out and multiverse refits of a finished run (default:
    # posterior/, the headline employment outcomes); adds them to its report.html
    setup
    exec .venv/bin/python -m bayes_bijstand.robustness --posterior posterior "$@" ;;
  test)
    # Two pytest workers (pytest-xdist), one test file each at a time: the suite's ~650 s of
    # CPU spread over two cores. TEST_WORKERS=0 runs it in this process; ARGS come last and
    # override (e.g. ./dev.sh test -n 0 tests/models).
    setup; browser
    exec .venv/bin/python -m pytest -n "${TEST_WORKERS:-2}" --dist loadfile "$@" ;;
  bench)
    # The alternatives the benchmarks compare against (PyMARE, NumPyro) are the bench extra.
    setup
    .venv/bin/python -m pip install --quiet -e ".[dev,bench]" >&2
    exec .venv/bin/python benchmarks/run_all.py "$@" ;;
  *)
    echo "usage: ./dev.sh fit [FLAGS] | ./dev.sh robustness [FLAGS] | ./dev.sh test [PYTEST ARGS] | ./dev.sh bench" >&2
    exit 2 ;;
esac
