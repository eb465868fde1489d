"""The small exception tree of smoulder.

Every error a user can cause derives from :class:`SmoulderError`, itself a
``ValueError`` so that callers that already catch ``ValueError`` keep working.
"""

from __future__ import annotations


class SmoulderError(ValueError):
    """Base class of all errors raised on bad input or bad settings."""


class InputDataError(SmoulderError):
    """A table or file does not have the expected content.

    The message names the file, the row (1-based, as a spreadsheet shows it,
    counting the header as row 1), the column, the offending value and the
    expected form.
    """

    def __init__(
        self,
        message: str,
        *,
        file: str | None = None,
        row: int | None = None,
        column: str | None = None,
        value: object = None,
        expected: str | None = None,
    ) -> None:
        self.file = file
        self.row = row
        self.column = column
        self.value = value
        self.expected = expected
        parts = []
        if file is not None:
            parts.append(f"{file}")
        if row is not None:
            parts.append(f"row {row}")
        if column is not None:
            parts.append(f"column '{column}'")
        where = ", ".join(parts)
        full = f"{where}: {message}" if where else message
        if value is not None:
            full += f" (got {value!r})"
        if expected is not None:
            full += f"; expected {expected}"
        super().__init__(full)


class ColumnNotFoundError(InputDataError):
    """A required column is missing from a table."""


class SettingsError(SmoulderError):
    """An analysis setting has an invalid value.

    ``parameter`` names the first offending parameter (as the Python API spells it) and ``given``
    holds what was given, so that the command line can restate the error with its flag name.
    """

    parameter: str | None = None
    given: object = None
