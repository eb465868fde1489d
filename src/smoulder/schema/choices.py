"""Choices of the table contracts, in a module that imports nothing (for the command line)."""

from __future__ import annotations

#: Several visits of one subject on one day (``--on-duplicate``).
DUPLICATE_POLICIES = ("error", "first", "last", "max", "min", "mean")
#: A visit without a value (``--on-missing``).
ON_MISSING = ("error", "drop")
#: Dates after today (``--future-dates``), see :mod:`smoulder.schema.dates`.
FUTURE_DATES = ("warn", "refuse", "drop")
#: ISO dates, or whole days from each subject's start (``--date-format``).
DATE_FORMATS = ("iso", "day")
