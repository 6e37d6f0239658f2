"""The last line of defence shared by every command-line entry point.

:func:`guard` runs a CLI body and turns whatever escapes it into one line on stderr and an
exit code, so that no user ever sees a traceback (``--debug`` shows it, before the line):

====  =======================================================================================
code  meaning
====  =======================================================================================
0     success
1     a main fit failed diagnostics (``fit``; see its help)
2     bad input or an unusable output directory: one ``error:`` line naming file, row and
      field (or line and key, or the directory)
3     an unexpected internal error (a bug, or the machine ran out of memory): one ``error:``
      line with the exception type; rerun with ``--debug`` for the traceback
130   interrupted (Ctrl-C, SIGINT)
143   terminated (SIGTERM, as sent by ``kill``, ``timeout`` and batch schedulers)
====  =======================================================================================

SIGTERM is handled like SIGINT (:func:`terminate_like_interrupt`): the run unwinds through
the same clean-up, so child processes are stopped and temporary files removed.
"""

from __future__ import annotations

import errno
import signal
import sys
import traceback
from collections.abc import Callable

from .errors import BayesBijstandError

__all__ = ["EXIT_INTERNAL", "Terminated", "guard", "one_line", "terminate_like_interrupt",
           "wants_debug"]

EXIT_INPUT = 2
EXIT_INTERNAL = 3
EXIT_INTERRUPTED = 130
EXIT_TERMINATED = 143


class Terminated(KeyboardInterrupt):
    """Raised in the main thread on SIGTERM: unwinds like Ctrl-C (same clean-up)."""


def one_line(text: object) -> str:
    """``text`` on one line (runs of whitespace, newlines included, become one space)."""
    return " ".join(str(text).split())


def wants_debug(argv: list[str] | None) -> bool:
    """Whether ``--debug`` is among the arguments (checked before argparse runs)."""
    return "--debug" in (sys.argv[1:] if argv is None else argv)


def _on_sigterm(signum: int, frame: object) -> None:
    raise Terminated()


def terminate_like_interrupt() -> Callable[[], None]:
    """Install the SIGTERM handler (main thread only); returns a function restoring the old one."""
    try:
        previous = signal.signal(signal.SIGTERM, _on_sigterm)
    except ValueError:  # not the main thread (e.g. called from a test's worker thread)
        return lambda: None
    return lambda: signal.signal(signal.SIGTERM, previous)


def _os_message(exc: OSError) -> str:
    what = exc.filename or ""
    reason = exc.strerror or type(exc).__name__
    if exc.errno == errno.ENOSPC:
        reason += " (free some space or choose another --out)"
    elif exc.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
        reason += " (choose a writable --out)"
    return f"{what}: {reason}" if what else reason


def guard(body: Callable[[], int], *, debug: bool = False,
          interrupted: str = "interrupted") -> int:
    """Run ``body`` (a CLI's real main); any exception becomes one line and an exit code.

    ``interrupted``: the message after Ctrl-C / SIGTERM (e.g. that completed fits are kept).
    """
    restore = terminate_like_interrupt()
    try:
        return body()
    except SystemExit:
        raise
    except Terminated:
        _say(f"terminated (SIGTERM): {interrupted}", debug)
        return EXIT_TERMINATED
    except KeyboardInterrupt:
        _say(f"interrupted: {interrupted}", debug)
        return EXIT_INTERRUPTED
    except BayesBijstandError as exc:
        _say(f"error: {one_line(exc)}", debug)
        return EXIT_INPUT
    except MemoryError:
        _say("error: out of memory: the input is too large for this machine (see "
             "docs/reliability.md, 'size limits')", debug)
        return EXIT_INTERNAL
    except OSError as exc:
        _say(f"error: {one_line(_os_message(exc))}", debug)
        return EXIT_INPUT
    except Exception as exc:  # noqa: BLE001 - the last line of defence
        _say(f"error: internal error ({type(exc).__name__}: {one_line(exc)[:300]}); rerun with "
             "--debug for the traceback and please report it", debug)
        return EXIT_INTERNAL
    finally:
        restore()


def _say(line: str, debug: bool) -> None:
    if debug:
        traceback.print_exc()
    try:
        print(line, file=sys.stderr, flush=True)
    except OSError:  # stderr closed (e.g. the caller went away): nothing left to tell
        pass
