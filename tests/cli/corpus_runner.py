"""Run many ``bayes_bijstand.fit`` command lines in one interpreter (the corpus tests' batch).

Usage: ``python corpus_runner.py JOBS.json RESULTS.json``. ``JOBS.json`` is a list of
``{"key": ..., "argv": [...]}``; every ``argv`` (the arguments after ``-m bayes_bijstand.fit``)
goes through the CLI's real entry point :func:`bayes_bijstand.fit.main`, the function that
``python -m bayes_bijstand.fit`` calls, with file descriptors 1 and 2 redirected to files, so
that everything the run writes (``print``, ``logging``, warnings, C extensions) is captured
as a subprocess would see it. ``RESULTS.json`` maps each key to ``{"code", "stdout",
"stderr"}``; an exception that escapes ``main`` is printed as Python would print it
(``Traceback ...``) into that case's stderr, and code 1.

Why: a fresh interpreter per corpus file spends ~2.5 s of CPU importing the scientific stack
before the first line of validation; 120 files cost minutes of the suite. What a batch does
not see - interpreter start-up and import-time output - is checked by the real-subprocess
cases that ``test_corpus_cli.py`` keeps and compares with this runner's results.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
import traceback
import warnings


def run_one(argv: list[str]) -> dict[str, object]:
    """One CLI run with fd-level capture; returns exit code, stdout and stderr."""
    from bayes_bijstand.fit import main

    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        sys.stdout.flush()
        sys.stderr.flush()
        saved = os.dup(1), os.dup(2)
        os.dup2(out.fileno(), 1)
        os.dup2(err.fileno(), 2)
        try:
            # a fresh warnings state per run: "shown once" registries do not carry over
            with warnings.catch_warnings():
                try:
                    code = main(list(argv))
                except SystemExit as exc:  # argparse usage errors
                    code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None
                                                                       else 1)
                    if exc.code is not None and not isinstance(exc.code, int):
                        print(exc.code, file=sys.stderr)
                except BaseException:  # noqa: BLE001 - report it as the interpreter would
                    traceback.print_exc()
                    code = 1
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
            os.dup2(saved[0], 1)
            os.dup2(saved[1], 2)
            os.close(saved[0])
            os.close(saved[1])
        out.seek(0)
        err.seek(0)
        return {"code": code, "stdout": out.read().decode("utf-8", "replace"),
                "stderr": err.read().decode("utf-8", "replace")}


def main(jobs_path: str, results_path: str) -> int:
    """Run every job of ``jobs_path`` in order and write the results."""
    with open(jobs_path, encoding="utf-8") as fh:
        jobs = json.load(fh)
    results = {job["key"]: run_one(job["argv"]) for job in jobs}
    with open(results_path, "w", encoding="utf-8") as fh:
        json.dump(results, fh)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], sys.argv[2]))
