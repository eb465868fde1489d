"""One date rule for every reader.

Visits, relapses and MRI tables, the long table of digital measures, Apple Health exports, FHIR
bundles and store imports all apply this rule, so a table one of them writes is accepted by every
other.

The rule
--------
* **Impossible**: a date before :data:`EARLIEST` (1900-01-01) or after :data:`LATEST`
  (2199-12-31), or no real calendar date at all (2021-02-30). Always refused, naming the row.
* **In the future**: a date after today plus :data:`FUTURE_TOLERANCE_DAYS` (1 day, for time zones
  ahead of the machine's). Simulated cohorts and date-shifted de-identified registries contain
  such dates legitimately (msprog accepts them), so what happens is a choice
  (``--future-dates``, :data:`FUTURE_POLICIES`):

  - ``warn`` (default): kept, counted in the input report and named in a warning;
  - ``refuse``: the first one stops the import, naming its row;
  - ``drop``: left out and counted in the input report as rejected.

* Apple Health exports also carry their own export date: records after it are left out and
  counted whatever the policy (the phone cannot have measured them), see
  :mod:`smoulder.io.apple_health`.
* **Day numbers** (``--date-format day``, msprog's ``date_format="day"``): whole numbers of days
  from each subject's own start (negative allowed), which are not calendar dates, so the future
  rule does not apply; they must lie within :data:`MAX_DAY_NUMBER` days of 0. They are carried as
  dates from :data:`DAY_ORIGIN` internally and written back as day numbers.

Examples
--------
>>> import datetime as dt
>>> import numpy as np
>>> rule = DateRule(today=dt.date(2024, 1, 1))
>>> days = np.array([day_number(dt.date(2023, 5, 1)), day_number(dt.date(2030, 1, 1))])
>>> scan = rule.scan(days)
>>> (scan.first_impossible, scan.n_future, scan.first_future)
(-1, 1, 1)
>>> rule.classify(dt.date(1899, 12, 31))
'impossible'
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

import numpy as np
from numba import njit

from smoulder._compiled import for_rows
from smoulder.exceptions import SettingsError

__all__ = [
    "EARLIEST",
    "LATEST",
    "FUTURE_TOLERANCE_DAYS",
    "FUTURE_POLICIES",
    "DATE_FORMATS",
    "DAY_ORIGIN",
    "MAX_DAY_NUMBER",
    "DateRule",
    "DateScan",
    "day_number",
    "check_day_numbers",
    "to_day_numbers",
]

EARLIEST = dt.date(1900, 1, 1)
LATEST = dt.date(2199, 12, 31)
FUTURE_TOLERANCE_DAYS = 1
FUTURE_POLICIES = ("warn", "refuse", "drop")
DATE_FORMATS = ("iso", "day")
#: day 0 of ``--date-format day`` inside smoulder (never shown: outputs are written as day numbers)
DAY_ORIGIN = dt.date(2000, 1, 1)
MAX_DAY_NUMBER = 36_525  # 100 years either way


def day_number(d: dt.date) -> int:
    """Days since 1970-01-01 (numpy's day numbers)."""
    return (d - dt.date(1970, 1, 1)).days


@njit(cache=True)
def _scan(days, lo, hi, last_ok):  # pragma: no cover - compiled
    first_bad = -1
    n_bad = 0
    first_future = -1
    n_future = 0
    for i in range(days.shape[0]):
        d = days[i]
        if d < lo or d > hi:
            if first_bad < 0:
                first_bad = i
            n_bad += 1
        elif d > last_ok:
            if first_future < 0:
                first_future = i
            n_future += 1
    return first_bad, n_bad, first_future, n_future


@dataclass(frozen=True)
class DateScan:
    """Positions (first, -1 when none) and counts of impossible and future dates in a column."""

    first_impossible: int
    n_impossible: int
    first_future: int
    n_future: int


@dataclass(frozen=True)
class DateRule:
    """The accepted range of dates and what to do with dates in the future.

    Parameters
    ----------
    future : {"warn", "refuse", "drop"}
        Policy for dates after today (plus one day); see the module docstring.
    today : date, optional
        The day taken as today (default: the machine's date when the rule is used); fix it to make
        a run reproducible.
    """

    future: str = "warn"
    today: dt.date | None = None

    def __post_init__(self) -> None:
        if self.future not in FUTURE_POLICIES:
            raise SettingsError(
                f"--future-dates must be one of {', '.join(FUTURE_POLICIES)} (got {self.future!r})"
            )

    # ------------------------------------------------------------------ bounds
    @property
    def last_ok(self) -> dt.date:
        """The latest date that is not 'in the future' (today plus the tolerance)."""
        return (self.today or dt.date.today()) + dt.timedelta(days=FUTURE_TOLERANCE_DAYS)

    def bounds(self) -> tuple[int, int, int]:
        """(earliest, latest possible, latest not in the future) as day numbers since 1970."""
        return day_number(EARLIEST), day_number(LATEST), day_number(self.last_ok)

    @staticmethod
    def expected() -> str:
        """The accepted range in words, for messages."""
        return f"a date between {EARLIEST} and {LATEST}"

    # ------------------------------------------------------------------ checks
    def scan(self, days: np.ndarray) -> DateScan:
        """One pass over day numbers (days since 1970, any integer dtype)."""
        lo, hi, last_ok = self.bounds()
        arr = np.asarray(days)
        if arr.dtype.kind in "iu" and (
            not len(arr) or (int(arr.min()) >= lo and int(arr.max()) <= min(last_ok, hi))
        ):  # every date possible and none in the future: two passes, no int64 copy
            return DateScan(-1, 0, -1, 0)
        arr = np.ascontiguousarray(arr, dtype=np.int64)
        scan = for_rows(_scan, len(arr), 20_000)  # small and not compiled yet: interpreted
        return DateScan(*(int(x) for x in scan(arr, lo, hi, last_ok)))

    def future_mask(self, days: np.ndarray) -> np.ndarray:
        """True where a day number lies after today plus the tolerance."""
        return np.asarray(days) > self.bounds()[2]

    def classify(self, d: dt.date) -> str:
        """``"ok"``, ``"future"`` or ``"impossible"`` for one date."""
        if d < EARLIEST or d > LATEST:
            return "impossible"
        if d > self.last_ok:
            return "future"
        return "ok"

    def future_warning(self, n: int, what: str, source: str) -> str:
        """The warning for ``n`` kept future dates."""
        return (
            f"{source}: {n:,} {what} dated after today ({self.last_ok - dt.timedelta(days=1)}) "
            "were kept (simulated or date-shifted data?); --future-dates refuse stops at them, "
            "--future-dates drop leaves them out"
        )

    def future_reason(self, what: str) -> str:
        """The input-report reason for future dates under the current policy."""
        if self.future == "drop":
            return f"{what} dated after today left out (--future-dates drop)"
        return f"{what} dated after today (kept)"


def check_day_numbers(values: np.ndarray) -> tuple[int, int]:
    """First position and count of day numbers that are not whole or lie beyond ±MAX_DAY_NUMBER."""
    v = np.asarray(values, dtype=np.float64)
    bad = ~np.isfinite(v) | (v != np.round(v)) | (np.abs(v) > MAX_DAY_NUMBER)
    idx = np.flatnonzero(bad)
    return (int(idx[0]), len(idx)) if len(idx) else (-1, 0)


def day_origin_number() -> int:
    """The day number (since 1970) of day 0 of ``--date-format day``."""
    return day_number(DAY_ORIGIN)


def to_day_numbers(df: Any) -> Any:
    """A copy of a table with every date column as whole day numbers (``--date-format day``).

    The inverse of reading day numbers: a date ``DAY_ORIGIN + n`` becomes ``n`` (nullable integer,
    empty where there is no date), so outputs speak the day numbers the input used.
    """
    import pandas as pd

    out = df.copy()
    origin = np.datetime64(DAY_ORIGIN, "D")
    for c in out.columns:
        if pd.api.types.is_datetime64_any_dtype(out[c]):
            d = out[c].to_numpy().astype("datetime64[D]")
            n = (d - origin).astype("timedelta64[D]").astype(np.int64)
            out[c] = pd.array(np.where(np.isnat(d), 0, n), dtype="Int64")
            out.loc[np.isnat(d), c] = pd.NA
    return out
