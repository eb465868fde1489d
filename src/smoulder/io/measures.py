"""Read, validate and write the long table of digital measures.

The long table is the common currency of smoulder's digital pillar: every reader (Apple Health,
FHIR, CSV/TSV/Parquet) produces it and the detectors read it::

    subject, date, measure, value, unit

one row per subject, local calendar day and measure, ``value`` in the measure's canonical unit
(see :mod:`smoulder.schema.catalogue`).

Rules applied by :func:`validate_measures` (all-or-nothing: the first bad row stops the import
with an :class:`~smoulder.exceptions.InputDataError` naming the file, row, column, value and the
expected form):

* ``measure`` must be a catalogue name; ``unit`` (optional column, empty = canonical) must be a
  unit the catalogue knows for that measure; values are converted to the canonical unit and
  must lie inside ``Measure.valid_range``.
* ``date`` is an ISO date (``2021-03-28``) or date-time (``2021-03-28T01:30``,
  ``2021-03-28 01:30:00 +0100``, ``...Z``). **Time-zone rule**: a date-time belongs to the local
  calendar date *of its own offset* (the date on the person's clock when it was recorded), so
  ``2021-03-28T23:30:00-05:00`` is 28 March even though it is 29 March in UTC. With
  ``timezone="Europe/Berlin"`` date-times with an offset are instead converted to that zone
  first (date-times without offset are taken as already local). Rows whose offset differs from
  the most common one are counted in the report.
* Duplicates: rows with the same subject, measure and time (the instant for date-times, the day
  for dates) are merged when their values are equal (counted as corrected) and otherwise
  rejected, unless a policy is chosen (``on_duplicate="first"|"last"|"max"|"min"|"mean"``).
* Several rows of one subject and measure at different times of one day are combined into the
  daily value by the catalogue's ``daily`` rule (steps add up, speeds take the median, PROs the
  last answer), counted in the report. Days without rows stay absent: gaps are never filled.

Examples
--------
>>> import pandas as pd
>>> raw = pd.DataFrame(
...     {
...         "subject": ["a", "a"],
...         "date": ["2021-03-01T08:00+01:00", "2021-03-01T18:00+01:00"],
...         "measure": ["steps", "steps"],
...         "value": [1200, 800],
...         "unit": ["count", "count"],
...     }
... )
>>> df, report = validate_measures(raw)
>>> df[["subject", "measure", "value"]].to_dict("records")
[{'subject': 'a', 'measure': 'steps', 'value': 2000.0}]
"""

from __future__ import annotations

import difflib
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from smoulder.exceptions import ColumnNotFoundError, InputDataError
from smoulder.io._columns import missing_column
from smoulder.io._measure_daily import (
    Labels,
    _Cols,
    _raise_at,
    _resolve_duplicates,
    _to_daily,
)
from smoulder.io._measure_times import _codes, _first, _to_arrow, date_rule_rows, parse_times
from smoulder.io.ingest import IngestReport
from smoulder.io.tables import STRIPPED_IDS, write_table
from smoulder.schema.catalogue import MEASURES, Measure, measure_names
from smoulder.schema.dates import DateRule

__all__ = [
    "LONG_COLUMNS",
    "DUPLICATE_POLICIES",
    "read_measures",
    "read_measures_bytes",
    "validate_measures",
    "write_measures",
    "daily_combine",
]

LONG_COLUMNS = ("subject", "date", "measure", "value", "unit")
DUPLICATE_POLICIES = ("error", "first", "last", "max", "min", "mean")


def _text(
    col: pa.Array,
    labels: Labels,
    source: str,
    column: str,
    what: str,
    report: IngestReport | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """A non-empty text column as integer codes and sorted distinct values (blank cells are errors).

    Spaces around a value are stripped; with ``report`` the rows that had them are counted.
    """
    raw = col.cast(pa.string())
    text = pc.utf8_trim_whitespace(raw)
    if report is not None:
        changed = int(pc.sum(pc.not_equal(text, raw).fill_null(False)).as_py() or 0)
        if changed:
            report.add(STRIPPED_IDS, changed, corrected=True)
    empty = np.asarray(pc.equal(text, "").fill_null(True))
    if empty.any():
        i, n = _first(empty)
        _raise_at(
            i,
            labels,
            source,
            column,
            f"missing {what}",
            col.cast(pa.string())[i].as_py(),
            f"a {what}",
            n,
        )
    return _codes(text)


def _check_zone(zone: str) -> None:
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    try:
        ZoneInfo(zone)
    except (ZoneInfoNotFoundError, ValueError):
        from smoulder.exceptions import SettingsError

        raise SettingsError(
            f"--timezone {zone!r} is not a known time zone; expected an IANA name such as "
            "Europe/Berlin or America/New_York"
        ) from None


def daily_combine(values: pd.Series, rule: str) -> float:
    """Combine one day's values (ordered by time) by a catalogue ``daily`` rule.

    Parameters
    ----------
    values : Series
        The day's values in time order.
    rule : {"sum", "mean", "median", "max", "min", "last"}
        ``Measure.daily`` of the catalogue.

    Returns
    -------
    float
        The day's value.

    Examples
    --------
    >>> import pandas as pd
    >>> daily_combine(pd.Series([4400.0, 3000.0]), "sum")
    7400.0
    >>> daily_combine(pd.Series([1.1, 0.9, 1.0]), "last")
    1.0
    """
    if rule == "last":
        return float(values.iloc[-1])
    return float(getattr(values, rule)())


def validate_measures(
    data: pd.DataFrame | pa.Table,
    source: str = "<DataFrame>",
    *,
    subject_col: str = "subject",
    date_col: str = "date",
    measure_col: str = "measure",
    value_col: str = "value",
    unit_col: str | None = "unit",
    on_duplicate: str = "error",
    timezone: str | None = None,
    labels: Labels = None,
    future_dates: str | DateRule = "warn",
) -> tuple[pd.DataFrame, IngestReport]:
    """Validate and normalise a long table of digital measures.

    Parameters
    ----------
    data : DataFrame or pyarrow.Table
        The raw table.
    source : str
        Name used in error messages and the report (usually the file name).
    subject_col, date_col, measure_col, value_col, unit_col : str
        Column names; ``unit_col`` may be absent from the table (values are then taken to be in
        the canonical unit) or ``None``.
    on_duplicate : {"error", "first", "last", "max", "min", "mean"}
        What to do with rows of one subject, measure and time that disagree. Identical rows are
        always merged and counted.
    timezone : str, optional
        IANA zone to which date-times with an offset are converted before taking the calendar
        date. Default: each date-time's own offset.
    labels : sequence of str or callable, optional
        Names of the rows for error messages (for example JSON paths of FHIR resources), or a
        function ``(position, column) -> str`` naming the exact place of a bad cell; default:
        spreadsheet row numbers (header = row 1).
    future_dates : {"warn", "refuse", "drop"} or DateRule
        Dates after today (``--future-dates``): kept and counted (default), refused, or left out
        and counted; see :mod:`smoulder.schema.dates`.

    Returns
    -------
    DataFrame
        ``subject`` (str), ``date`` (datetime64, midnight), ``measure`` (str), ``value``
        (float, canonical unit), ``unit`` (canonical unit), sorted by subject, date and measure.
    IngestReport
        Rows read, used, corrected (merged duplicates, date-times reduced to dates, rows
        combined into daily values) and why.

    Raises
    ------
    InputDataError
        On the first bad row, naming file, row, column, value and the expected form.
    """
    if on_duplicate not in DUPLICATE_POLICIES:
        raise InputDataError(
            f"unknown duplicate policy {on_duplicate!r}",
            expected="--on-duplicate " + " | ".join(DUPLICATE_POLICIES),
        )
    if timezone is not None:
        _check_zone(timezone)
    cols = list(data.column_names) if isinstance(data, pa.Table) else [str(c) for c in data.columns]
    for role, c in (
        ("subject", subject_col),
        ("date", date_col),
        ("measure", measure_col),
        ("value", value_col),
    ):
        if c not in cols:
            raise missing_column(role, c, cols, source)
    n = data.num_rows if isinstance(data, pa.Table) else len(data)
    report = IngestReport(source=source, rows_read=n)
    if n == 0:
        raise InputDataError(
            "no data rows", file=source, expected="a header row and at least one data row"
        )

    def column(name: str) -> pa.Array:
        return _to_arrow(data.column(name) if isinstance(data, pa.Table) else data[name])

    subj_code, subj_uniq = _text(
        column(subject_col), labels, source, subject_col, "subject id", report
    )
    name_code, uniq_names = _text(column(measure_col), labels, source, measure_col, "measure name")
    measures: list[Measure] = []
    for j, name in enumerate(uniq_names):
        m = MEASURES.get(name)
        if m is None:
            i, k = _first(name_code == j)
            close = difflib.get_close_matches(name, MEASURES, n=3)
            hint = f"did you mean {', '.join(close)}? " if close else ""
            _raise_at(
                i,
                labels,
                source,
                measure_col,
                "unknown measure",
                name,
                f"{hint}a catalogue name: {', '.join(measure_names())}",
                k,
            )
        measures.append(m)  # type: ignore[arg-type]

    raw = column(value_col)
    if (
        pa.types.is_integer(raw.type)
        or pa.types.is_floating(raw.type)
        or pa.types.is_null(raw.type)
    ):
        values = raw.cast(pa.float64()).to_numpy(zero_copy_only=False).astype(np.float64)
    else:
        vs = pd.Series(raw.cast(pa.string()).to_numpy(zero_copy_only=False))
        values = pd.to_numeric(vs, errors="coerce").to_numpy(dtype=np.float64)
        bad = np.isnan(values) & vs.notna().to_numpy()
        if bad.any():
            i, k = _first(bad)
            _raise_at(i, labels, source, value_col, "not a number", vs.iloc[i], "a number", k)
    missing = ~np.isfinite(values)
    if missing.any():
        i, k = _first(missing)
        _raise_at(i, labels, source, value_col, "missing or infinite value", None, "a number", k)

    # units: convert per (measure, unit) pair
    if unit_col is not None and unit_col in cols:
        unit_code, unit_uniq = _codes(pc.utf8_trim_whitespace(column(unit_col).cast(pa.string())))
        puniq, pcode = np.unique(name_code * len(unit_uniq) + unit_code, return_inverse=True)
        factor = np.empty(len(puniq), dtype=np.float64)
        for j, pair in enumerate(puniq.tolist()):
            m, unit = measures[pair // len(unit_uniq)], unit_uniq[pair % len(unit_uniq)]
            try:
                factor[j] = m.unit_factor(unit or None)
            except InputDataError as exc:
                i, k = _first(pcode == j)
                _raise_at(
                    i,
                    labels,
                    source,
                    unit_col,
                    f"unit not known for measure '{m.name}'",
                    unit,
                    exc.expected or "a known unit",
                    k,
                )
        converted = int((factor[pcode] != 1.0).sum())
        if converted:
            report.add("values converted to the canonical unit", converted, corrected=True)
        values = values * factor[pcode]
    lo = np.array([m.valid_range[0] for m in measures])[name_code]
    hi = np.array([m.valid_range[1] for m in measures])[name_code]
    out = (values < lo) | (values > hi)
    if out.any():
        i, k = _first(out)
        m = measures[name_code[i]]
        _raise_at(
            i,
            labels,
            source,
            value_col,
            f"impossible value for {m.name}",
            float(values[i]),
            f"a value between {m.valid_range[0]:g} and {m.valid_range[1]:g} {m.unit} (after unit conversion)",
            k,
        )

    def raise_at(i: int, col: str, message: str, value: Any, expected: str, count: int) -> None:
        _raise_at(i, labels, source, col, message, value, expected, count)

    rule = future_dates if isinstance(future_dates, DateRule) else DateRule(future_dates)
    days, key, has_time = parse_times(column(date_col), raise_at, date_col, timezone, report)
    drop = date_rule_rows(days, raise_at, date_col, rule, report)
    work = _Cols(subj_code, name_code, has_time, key, values, days, np.arange(n, dtype=np.int64))
    if drop is not None:
        if drop.all():
            raise InputDataError(
                "no rows left after leaving out the ones dated after today",
                file=source,
                expected="at least one row dated up to today",
            )
        work = work.take(np.flatnonzero(~drop))
    work = _resolve_duplicates(
        work, on_duplicate, labels, source, value_col, report, subj_uniq, uniq_names
    )
    df = _to_daily(work, report, subj_uniq, measures)
    report.rows_used = int(len(df))
    return df, report


def read_measures(
    path: str | Path,
    *,
    subject_col: str = "subject",
    date_col: str = "date",
    measure_col: str = "measure",
    value_col: str = "value",
    unit_col: str | None = "unit",
    on_duplicate: str = "error",
    timezone: str | None = None,
    future_dates: str | DateRule = "warn",
    sep: str | None = None,
) -> tuple[pd.DataFrame, IngestReport]:
    """Read and validate a long table file (CSV, TSV or Parquet); see :func:`validate_measures`.

    Parameters
    ----------
    path : str or PathLike
        A file on disk; for uploaded content use :func:`read_measures_bytes`.
    subject_col, date_col, measure_col, value_col, unit_col, on_duplicate, timezone, future_dates
        As for :func:`validate_measures`.
    sep : str, optional
        The delimiter of a text file (default: from the suffix and the content).

    Returns
    -------
    DataFrame, IngestReport
        As for :func:`validate_measures`.

    Examples
    --------
    >>> df, report = read_measures("measures.csv")  # doctest: +SKIP
    """
    from smoulder.io.delimited import read_arrow_file

    text = [c for c in (subject_col, date_col, measure_col, unit_col) if c]
    table = read_arrow_file(path, string_cols=text, sep=sep, what="measures table")
    return validate_measures(
        table,
        str(path),
        subject_col=subject_col,
        date_col=date_col,
        measure_col=measure_col,
        value_col=value_col,
        unit_col=unit_col,
        on_duplicate=on_duplicate,
        timezone=timezone,
        future_dates=future_dates,
    )


def read_measures_bytes(
    data: bytes, name: str, **options: Any
) -> tuple[pd.DataFrame, IngestReport]:
    """Read and validate a long table given as the bytes of a CSV/TSV/Parquet file (an upload).

    Parameters
    ----------
    data : bytes
        The file's content (never a path).
    name : str
        The file name the content came with: its suffix says CSV, TSV or Parquet, and messages
        name it.
    options
        As for :func:`read_measures`.

    Returns
    -------
    DataFrame, IngestReport
        As for :func:`validate_measures`; the report and any error name ``name``.

    Examples
    --------
    >>> data = b"subject,date,measure,value,unit\\np1,2021-03-01,walking_speed,3.6,km/h\\n"
    >>> df, report = read_measures_bytes(data, "measures.csv")
    >>> df[["subject", "measure", "value", "unit"]].values.tolist()
    [['p1', 'walking_speed', 1.0, 'm/s']]
    >>> print(report)
    measures.csv: 1 rows read, 1 used, 1 corrected, 0 rejected
      - values converted to the canonical unit: 1
    """
    import tempfile

    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise TypeError(
            f"read_measures_bytes takes the file's bytes, not {type(data).__name__}; "
            "use read_measures for a path"
        )
    from smoulder.io.delimited import renamed_error
    from smoulder.io.outputs import suffix_of

    suffix = suffix_of(name) or ".csv"
    with tempfile.TemporaryDirectory(prefix="smoulder-upload-") as tmp:
        p = Path(tmp) / f"upload{suffix}"
        p.write_bytes(bytes(data))
        shown = Path(name).name
        try:
            df, report = read_measures(p, **options)
        except InputDataError as exc:
            raise renamed_error(exc, str(p), shown) from None
    report.source = shown
    report.warnings = [w.replace(str(p), shown) for w in report.warnings]
    return df, report


def write_measures(df: pd.DataFrame, path: str | Path) -> None:
    """Write a long table (``subject, date, measure, value, unit``) as CSV with ISO dates, or Parquet.

    Parameters
    ----------
    df : DataFrame
        The long table (:func:`validate_measures` gives one).
    path : str or Path
        ``.csv``, ``.tsv`` or ``.parquet``.

    Raises
    ------
    ColumnNotFoundError
        When one of the five columns is missing.
    """
    for c in LONG_COLUMNS:
        if c not in df.columns:
            raise ColumnNotFoundError(
                f"missing column '{c}' in the measures table",
                column=c,
                expected=", ".join(LONG_COLUMNS),
            )
    write_table(df[list(LONG_COLUMNS)], path)
