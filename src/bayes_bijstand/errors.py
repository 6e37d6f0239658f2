"""Exceptions that carry enough context for a one-line, actionable message.

Every error a user can cause with their own input is an :class:`InputError` (bad data file)
or a :class:`SpecError` (bad model specification). The CLI turns these into one line on
stderr and exit code 2; it never shows a traceback for them.
"""

from __future__ import annotations


class BayesBijstandError(Exception):
    """Base class for all errors raised on purpose by this package."""


class InputError(BayesBijstandError, ValueError):
    """A problem in a user-supplied data file, located by file, row and field.

    ``row`` is the 1-based line number in the file as a spreadsheet shows it (the header is
    line 1), or ``None`` when the problem concerns the whole file.
    """

    def __init__(self, file: str, message: str, *, row: int | None = None,
                 field: str | None = None) -> None:
        self.file = str(file)
        self.row = row
        self.field = field
        self.message = message
        super().__init__(self.one_line())

    def one_line(self) -> str:
        where = self.file
        if self.row is not None:
            where += f", row {self.row}"
        if self.field is not None:
            where += f", field '{self.field}'"
        return f"{where}: {self.message}"


class SpecError(BayesBijstandError, ValueError):
    """A problem in a model specification (TOML) file, located by file and key."""

    def __init__(self, file: str, message: str, *, key: str | None = None) -> None:
        self.file = str(file)
        self.key = key
        self.message = message
        where = self.file + (f", key '{key}'" if key else "")
        super().__init__(f"{where}: {message}")


class OutputError(BayesBijstandError):
    """The output directory cannot take the run's files: not writable, full, locked by
    another run, or a path that would resolve outside it."""


class DiagnosticsError(BayesBijstandError):
    """A fit failed the diagnostics gate (after its retry)."""
