"""The contracts of the clinic tables: visits, relapses and MRI activity.

Each ``validate_*`` function takes a table and returns a normalised pandas DataFrame plus an
:class:`~smoulder.schema.report.IngestReport` (rows read, used, corrected, rejected, and why). Bad
input raises :class:`~smoulder.exceptions.InputDataError` naming the source, the row (as a
spreadsheet shows it: the header is row 1, the first data row is row 2), the column, the offending
value and the expected form; the whole table is rejected (all or nothing). Nothing is dropped
silently.

These checks read no files. A table is given either as a pandas DataFrame or as any
:class:`ColumnSource`; :mod:`smoulder.io.tables` reads CSV, TSV and Parquet files with pyarrow and
hands their columns to the same functions through an Arrow column source, so a file and a
DataFrame with the same content give the same result and the same messages.

Examples
--------
>>> import pandas as pd
>>> raw = pd.DataFrame(
...     {
...         "id": ["p1", "p1", " p2"],
...         "day": ["2020-01-01", "2020-07-01", "2020-01-01"],
...         "EDSS": [2, 3, 1],
...     }
... )
>>> visits, report = validate_visits(raw, subject_col="id", date_col="day", value_col="EDSS")
>>> visits[["subject", "value"]].values.tolist()
[['p1', 2.0], ['p1', 3.0], ['p2', 1.0]]
>>> report.rows_corrected  # the id written with a space in front
1
"""

from __future__ import annotations

from typing import Any, Protocol, runtime_checkable

import numpy as np
import pandas as pd

from smoulder.exceptions import InputDataError
from smoulder.schema import _columns as C
from smoulder.schema import _fastcheck as F
from smoulder.schema._known_ids import (
    _as_str_index,
    _known_codes,
    _known_dtype,
    _positions,
    _sorted_unique_events,
)
from smoulder.schema.dates import DateRule, DateScan
from smoulder.schema.report import IngestReport

__all__ = [
    "ColumnSource",
    "FrameColumns",
    "IngestReport",
    "validate_visits",
    "validate_relapses",
    "validate_mri_activity",
    "DUPLICATE_POLICIES",
    "ON_MISSING",
    "STRIPPED_IDS",
]

DUPLICATE_POLICIES = C.DUPLICATE_POLICIES
ON_MISSING = C.ON_MISSING
STRIPPED_IDS = C.STRIPPED_IDS


@runtime_checkable
class ColumnSource(Protocol):
    """The columns of a table, parsed one rule at a time (a DataFrame, or a file's Arrow table).

    ``rows`` arguments give the spreadsheet row of each position, for messages.
    """

    names: list[str]
    n_rows: int

    def subjects(
        self, name: str, rows: Any, source: str, report: IngestReport | None
    ) -> pd.Categorical:
        """Subject ids as a categorical with sorted categories (ids stripped and counted)."""

    def day_numbers(
        self,
        name: str,
        rows: Any,
        source: str,
        rule: DateRule,
        date_format: str,
        take: np.ndarray | None = None,
    ) -> tuple[np.ndarray, DateScan]:
        """Day numbers of a date column (only the positions ``take``, when given)."""

    def numbers(self, name: str, rows: Any, source: str) -> np.ndarray:
        """A numeric column as float64, missing cells NaN."""

    def booleans(self, name: str, rows: Any, source: str, counts_ok: bool = False) -> np.ndarray:
        """A yes/no column as bools."""

    def nulls(self, name: str) -> np.ndarray:
        """Which cells of a column are empty."""

    def values(self, name: str) -> np.ndarray:
        """A column's values as they are (extra columns carried through)."""

    def take(self, idx: np.ndarray) -> ColumnSource:
        """The rows at positions ``idx``."""

    def separator_hint(self) -> str:
        """For a file whose header was split with the wrong separator: a hint naming it."""


class FrameColumns:
    """A pandas DataFrame as a :class:`ColumnSource`."""

    def __init__(self, frame: pd.DataFrame) -> None:
        self.frame = frame
        self.names = [str(c) for c in frame.columns]
        self.n_rows = len(frame)

    def _col(self, name: str) -> pd.Series:
        return self.frame[name].reset_index(drop=True)

    def subjects(
        self, name: str, rows: Any, source: str, report: IngestReport | None
    ) -> pd.Categorical:
        return C.series_subjects(self._col(name), rows, source, name, report)

    def day_numbers(
        self,
        name: str,
        rows: Any,
        source: str,
        rule: DateRule,
        date_format: str,
        take: np.ndarray | None = None,
    ) -> tuple[np.ndarray, DateScan]:
        col = self._col(name)
        if take is not None:
            col = col.iloc[take].reset_index(drop=True)
        return C.series_day_numbers(col, rows, source, name, rule, date_format)

    def numbers(self, name: str, rows: Any, source: str) -> np.ndarray:
        return C.series_numbers(self._col(name), rows, source, name)

    def booleans(self, name: str, rows: Any, source: str, counts_ok: bool = False) -> np.ndarray:
        return C.series_booleans(self._col(name), rows, source, name, counts_ok)

    def nulls(self, name: str) -> np.ndarray:
        out: np.ndarray = self._col(name).isna().to_numpy()
        return out

    def values(self, name: str) -> np.ndarray:
        out: np.ndarray = self._col(name).to_numpy()
        return out

    def take(self, idx: np.ndarray) -> FrameColumns:
        return FrameColumns(self.frame.iloc[idx])

    def separator_hint(self) -> str:
        return ""


def _source(data: Any) -> ColumnSource:
    if isinstance(data, pd.DataFrame):
        return FrameColumns(data)
    if isinstance(data, ColumnSource):
        return data
    raise TypeError(
        f"a table must be a pandas DataFrame (or read with smoulder.io); got {type(data).__name__}"
    )


def _require(cols: ColumnSource, needed: dict[str, str | None], source: str) -> None:
    for role, col in needed.items():
        if col is not None and col not in cols.names:
            raise C.missing_column(role, col, cols.names, source, cols.separator_hint())


def _seconds(days: np.ndarray) -> np.ndarray:
    """Day numbers as int64 seconds since 1970 (one new array, whatever the integer type)."""
    if days.dtype.kind in "iu":
        return np.multiply(days, 86400, dtype=np.int64)
    out: np.ndarray = days.astype(np.int64) * 86400
    return out


def _rule(future_dates: str | DateRule) -> DateRule:
    return future_dates if isinstance(future_dates, DateRule) else DateRule(future_dates)


# --------------------------------------------------------------------------- visits
def validate_visits(
    data: pd.DataFrame | ColumnSource,
    source: str = "<DataFrame>",
    *,
    subject_col: str = "subject",
    date_col: str = "date",
    value_col: str = "value",
    outcome: str = "edss",
    validconf_col: str | None = None,
    on_duplicate: str = "error",
    extra_cols: tuple[str, ...] | list[str] = (),
    on_missing: str = "error",
    future_dates: str | DateRule = "warn",
    date_format: str = "iso",
    _rows: np.ndarray | None = None,
) -> tuple[pd.DataFrame, IngestReport]:
    """Validate and normalise a visits table.

    Parameters
    ----------
    data : DataFrame or ColumnSource
        One row per assessment.
    source : str
        How messages name the table (a file name, ``"store"``).
    subject_col, date_col, value_col, validconf_col : str
        Column names; ``validconf_col`` (optional) says which visits may confirm an event.
    outcome : {"edss", "t25fw", "nhpt", "sdmt", "custom"}
        Sets the value rules (EDSS on the 0.5 grid in [0, 10], positive times, SDMT 0-110).
    on_duplicate : {"error", "first", "last", "max", "min", "mean"}
        Several visits of one subject on one day (``--on-duplicate``): identical duplicates are
        always merged (counted as corrected); otherwise ``"error"`` stops with both rows named,
        ``"first"``/``"last"`` keep the row that comes first/last, ``"max"``/``"min"``/``"mean"``
        combine the values (a mean EDSS is rounded up to the 0.5 grid). A merged visit may
        confirm an event if any of its rows could.
    extra_cols : sequence of str
        Columns carried through unchanged.
    on_missing : {"error", "drop"}
        A visit without a value (``--on-missing``): stop, or leave it out and count it (as msprog
        and pymsprog do).
    future_dates : {"warn", "refuse", "drop"} or DateRule
        Dates after today (``--future-dates``), see :mod:`smoulder.schema.dates`.
    date_format : {"iso", "day"}
        ISO dates, or whole numbers of days from each subject's start (``--date-format``).
    _rows : array of int, optional
        The file's row number of each row of ``data`` (for a caller that left rows out before);
        by default row ``i`` is row ``i + 2`` (after the header).

    Returns
    -------
    visits : DataFrame
        ``subject`` (categorical, categories sorted), ``date`` (datetime64), ``value`` (float64),
        ``validconf`` (bool) and the ``extra_cols``, sorted by subject and date.
    report : IngestReport
        Rows read, used, corrected and rejected, and why.

    Raises
    ------
    InputDataError
        Naming the source, row, column, value and the expected form.
    """
    if on_duplicate not in DUPLICATE_POLICIES:
        raise InputDataError(
            f"unknown duplicate policy {on_duplicate!r}",
            expected="--on-duplicate " + " | ".join(DUPLICATE_POLICIES),
        )
    if on_missing not in ON_MISSING:
        raise InputDataError(
            f"unknown missing-value policy {on_missing!r}", expected="--on-missing error | drop"
        )
    rule = _rule(future_dates)
    outcome = str(outcome).lower()
    cols = _source(data)
    _require(
        cols,
        {"subject": subject_col, "date": date_col, "value": value_col, "validconf": validconf_col},
        source,
    )
    _require(cols, {f"extra ({c})": c for c in extra_cols}, source)
    n = cols.n_rows
    report = IngestReport(source=source, rows_read=n)
    if n == 0:
        raise InputDataError(
            "no data rows", file=source, expected="a header row and at least one data row"
        )
    rows: Any = C.Rows(2) if _rows is None else np.asarray(_rows)
    subj = cols.subjects(subject_col, rows, source, report)
    days, scan = cols.day_numbers(date_col, rows, source, rule, date_format)
    values = cols.numbers(value_col, rows, source)
    drop = C.future_rows(days, scan, rule, report, "visits")
    if on_missing == "drop":
        missing = np.isnan(values)
        if missing.any():
            name = outcome.upper() if outcome != "custom" else "value"
            report.add(
                f"visits without a {name} value left out (--on-missing drop)",
                int(missing.sum()),
                rejected=True,
            )
            drop = missing if drop is None else (drop | missing)
    if drop is not None and drop.any():
        keep = ~drop
        if not keep.any():
            raise InputDataError(
                "no visits left after leaving out the ones with a missing value or a future date",
                file=source,
                expected="at least one visit with a value and a date up to today",
            )
        idx = np.flatnonzero(keep)
        rows = idx + 2 if isinstance(rows, C.Rows) else rows[idx]
        cols = cols.take(idx)
        subj = subj[keep].remove_unused_categories()
        days, values = days[keep], values[keep]
    C.check_values(values, rows, outcome, source, value_col, report)
    vc = cols.booleans(validconf_col, rows, source) if validconf_col else None
    extras = {c: cols.values(c) for c in extra_cols}
    codes = np.asarray(subj.codes)
    is_sorted, has_dup = F.order_state(codes, days)
    order = None
    if not is_sorted:
        order = np.lexsort((days, codes))
        codes, days, values = codes[order], days[order], values[order]
        vc = vc[order] if vc is not None else None
        extras = {k: v[order] for k, v in extras.items()}
        has_dup = F.order_state(codes, days)[1]
    frame: dict[str, Any] = {
        "subject": pd.Categorical.from_codes(codes, dtype=subj.dtype, validate=False),
        "date": _seconds(days).view("datetime64[s]"),
        "value": values,
        "validconf": vc if vc is not None else np.ones(len(values), dtype=bool),
    }
    frame.update(extras)
    df = pd.DataFrame(frame, copy=False)
    if has_dup:
        pos = order if order is not None else np.arange(len(df))
        df["row"] = (pos + 2) if isinstance(rows, C.Rows) else np.asarray(rows)[pos]
        df = C.resolve_duplicates(df, on_duplicate, outcome, source, report, value_col, date_col)
        df = df.drop(columns="row").reset_index(drop=True)
    report.rows_used = len(df)
    return df, report


# --------------------------------------------------------------------------- relapses and MRI
def _dated_events(
    cols: ColumnSource,
    source: str,
    subject_col: str,
    date_col: str,
    known_subjects: Any,
    what: str,
    rule: DateRule,
    date_format: str,
) -> tuple[pd.DataFrame, IngestReport, np.ndarray]:
    """Subjects and dates of an events table, and the rows to leave out (unknown subjects, and
    future dates under ``--future-dates drop``)."""
    _require(cols, {"subject": subject_col, "date": date_col}, source)
    n = cols.n_rows
    report = IngestReport(source=source, rows_read=n)
    rows = np.arange(2, n + 2, dtype=np.int64)
    if n == 0:
        return (
            pd.DataFrame(
                {"subject": pd.Series([], dtype=str), "date": pd.to_datetime([]), "row": []}
            ),
            report,
            np.zeros(0, dtype=bool),
        )
    direct = _known_codes(cols, subject_col, rows, source, report, known_subjects)
    subj = cols.subjects(subject_col, rows, source, report) if direct is None else None
    days, scan = cols.day_numbers(date_col, rows, source, rule, date_format)
    future = C.future_rows(days, scan, rule, report, what)
    dates = days.astype("datetime64[D]")
    if direct is not None:
        # ids looked up in the visits table's categories by the column source (a file's Arrow
        # text): the same table and counts as numbering them first, without the sorting
        known = _as_str_index(known_subjects)
        codes, n_s = direct
        unknown = codes < 0
        df = pd.DataFrame(
            {
                "subject": pd.Categorical.from_codes(
                    codes, dtype=_known_dtype(known_subjects, known), validate=False
                ),
                "date": dates.astype("datetime64[s]"),
                "row": rows,
            }
        )
        if n_s:
            n_u = int(unknown.sum())
            report.warnings.append(
                f"{n_u:,} {what} for {n_s:,} subjects not in the visits table were ignored"
            )
            report.add(f"{what} for subjects not in the visits table", n_u, rejected=True)
    elif known_subjects is not None:
        assert subj is not None
        df = pd.DataFrame({"subject": subj, "date": dates.astype("datetime64[s]"), "row": rows})
        known = _as_str_index(known_subjects)
        position = _positions(cols, known, _as_str_index(subj.categories))
        codes = np.asarray(subj.codes)
        unknown = position[codes] < 0
        if known.is_monotonic_increasing and known.is_unique:
            # express the ids in the visits table's categories: the engine then needs no lookup
            df["subject"] = pd.Categorical.from_codes(
                np.where(unknown, -1, position[codes]).astype(np.int32),
                dtype=_known_dtype(known_subjects, known),
                validate=False,
            )
        if unknown.any():
            n_u = int(unknown.sum())
            n_s = int(len(np.unique(codes[unknown])))
            report.warnings.append(
                f"{n_u:,} {what} for {n_s:,} subjects not in the visits table were ignored"
            )
            report.add(f"{what} for subjects not in the visits table", n_u, rejected=True)
    else:
        assert subj is not None
        df = pd.DataFrame({"subject": subj, "date": dates.astype("datetime64[s]"), "row": rows})
        unknown = np.zeros(n, dtype=bool)
    if future is not None:
        unknown = unknown | future
    return df, report, unknown


def _end_dates(
    cols: ColumnSource,
    column: str,
    rows: np.ndarray,
    source: str,
    rule: DateRule,
    date_format: str,
    report: IngestReport,
) -> np.ndarray:
    """Optional end dates (empty cells allowed) under the same date rule as the onsets."""
    nulls = cols.nulls(column)
    end = np.full(len(rows), np.datetime64("NaT"), dtype="datetime64[D]")
    if (~nulls).any():
        idx = np.flatnonzero(~nulls)
        days, scan = cols.day_numbers(
            column, rows[idx], source, rule, date_format, take=idx if nulls.any() else None
        )
        if scan.n_future:  # an end in the future is counted; the onset decides what is kept
            report.add("relapse end dates after today (kept)", scan.n_future)
        end[idx] = days.astype("datetime64[D]")
    return end


def validate_relapses(
    data: pd.DataFrame | ColumnSource,
    source: str = "<DataFrame>",
    *,
    subject_col: str = "subject",
    date_col: str = "date",
    end_date_col: str | None = None,
    known_subjects: Any = None,
    future_dates: str | DateRule = "warn",
    date_format: str = "iso",
) -> tuple[pd.DataFrame, IngestReport]:
    """Validate relapse onsets.

    Parameters
    ----------
    data : DataFrame or ColumnSource
        One row per relapse.
    source, subject_col, date_col : str
        As in :func:`validate_visits`; ``date_col`` holds the onset.
    end_date_col : str, optional
        Optional end dates (empty cells allowed; an end before the onset is refused).
    known_subjects : sequence of str, optional
        The visits table's subjects: relapses of others are left out and counted.
    future_dates, date_format
        As in :func:`validate_visits` (onsets after today are counted, refused or left out; end
        dates after today are counted).

    Returns
    -------
    relapses : DataFrame
        ``subject, date, end_date, row``, sorted by subject and onset, repeats merged.
    report : IngestReport
    """
    rule = _rule(future_dates)
    cols = _source(data)
    if end_date_col:
        _require(cols, {"end date": end_date_col}, source)
    df, report, unknown = _dated_events(
        cols, source, subject_col, date_col, known_subjects, "relapses", rule, date_format
    )
    if len(df) and end_date_col:
        rows = df["row"].to_numpy()
        end = _end_dates(cols, end_date_col, rows, source, rule, date_format, report)
        before = (~np.isnat(end)) & (end < df["date"].to_numpy().astype("datetime64[D]"))
        C.first_bad(
            before,
            rows,
            lambda i: str(end[i]),
            source,
            end_date_col,
            "relapse ends before it starts",
            "an end date on or after the onset",
        )
        df["end_date"] = end.astype("datetime64[s]")
    else:
        df["end_date"] = pd.Series(pd.NaT, index=df.index, dtype="datetime64[s]")
    df = _sorted_unique_events(
        df.loc[~unknown] if unknown.any() else df, report, "duplicate relapse rows merged"
    )
    report.rows_used = len(df)
    return df[["subject", "date", "end_date", "row"]], report


def validate_mri_activity(
    data: pd.DataFrame | ColumnSource,
    source: str = "<DataFrame>",
    *,
    subject_col: str = "subject",
    date_col: str = "date",
    active_col: str = "active",
    known_subjects: Any = None,
    future_dates: str | DateRule = "warn",
    date_format: str = "iso",
) -> tuple[pd.DataFrame, IngestReport]:
    """Validate MRI scans and whether each showed activity.

    Parameters
    ----------
    data : DataFrame or ColumnSource
        One row per scan (several rows of one date are merged: active if any says so).
    active_col : str
        New/enlarging T2 or gadolinium-enhancing lesions: yes/no, true/false, 1/0 or a count.
    source, subject_col, date_col, known_subjects, future_dates, date_format
        As in :func:`validate_relapses`.

    Returns
    -------
    scans : DataFrame
        ``subject, date, active, row``, sorted by subject and date.
    report : IngestReport
    """
    rule = _rule(future_dates)
    cols = _source(data)
    _require(cols, {"activity": active_col}, source)
    df, report, unknown = _dated_events(
        cols, source, subject_col, date_col, known_subjects, "MRI scans", rule, date_format
    )
    if len(df):
        df["active"] = cols.booleans(active_col, df["row"].to_numpy(), source, counts_ok=True)
    else:
        df["active"] = pd.Series([], dtype=bool)
    df = df.loc[~unknown]
    # several rows for one scan date: active if any says so
    grouped = df.groupby(["subject", "date"], sort=True, as_index=False, observed=True).agg(
        active=("active", "any"), row=("row", "first")
    )
    report.add("MRI rows on the same date merged", len(df) - len(grouped), corrected=True)
    report.rows_used = len(grouped)
    return grouped[["subject", "date", "active", "row"]], report
