"""The one error type for bad user input.

A user error names *where* the problem is (file, row, field) and *what* was
expected. The CLI prints ``str(error)`` on one line and exits with status 2;
library callers catch it as a ``ValueError``.
"""

from __future__ import annotations

import os

__all__ = ["InputError", "one_line"]


class InputError(ValueError):
    """Bad input from a user: a file, a row of it, a field of that row.

    Examples
    --------
    >>> str(InputError("not a number", file="m.csv", row=3, field="spacing_mm"))
    'm.csv: row 3: field spacing_mm: not a number'
    """

    def __init__(
        self,
        message: str,
        *,
        file: str | os.PathLike[str] | None = None,
        row: int | None = None,
        field: str | None = None,
    ) -> None:
        self.message = message
        self.file = None if file is None else os.fspath(file)
        self.row = row
        self.field = field
        super().__init__(self._format())

    def _format(self) -> str:
        parts = []
        if self.file is not None:
            parts.append(self.file)
        if self.row is not None:
            parts.append(f"row {self.row}")
        if self.field is not None:
            parts.append(f"field {self.field}")
        parts.append(self.message)
        return ": ".join(parts)


def one_line(error: BaseException) -> str:
    """An exception's message on one line (its type name when it has none), for an InputError."""
    return " ".join(str(error).split()) or type(error).__name__
