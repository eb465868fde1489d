"""Fast, strict readers and validators for clinic tables: visits, relapses, MRI activity.

Every reader returns a normalised pandas DataFrame plus an :class:`IngestReport`
(rows read, used, corrected, rejected, and why). Bad input raises
:class:`~smoulder.exceptions.InputDataError` naming the file, the row (as a
spreadsheet shows it: the header is row 1, the first data row is row 2), the
column, the offending value and the expected form; the whole file is rejected
(all-or-nothing). Nothing is dropped silently.

Reading uses pyarrow (multi-threaded CSV parser, Parquet) with vectorised checks,
so a 20-million-row visits file is read and validated in a few seconds.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa

from smoulder.exceptions import InputDataError
from smoulder.io._columns import (
    DUPLICATE_POLICIES,
    STRIPPED_IDS,
    _booleans,
    _check_values,
    _col,
    _columns_of,
    _day_numbers,
    _first_bad,
    _future_rows,
    _numbers,
    _require,
    _resolve_duplicates,
    _Rows,
    _subjects,
)
from smoulder.io.ingest import IngestReport
from smoulder.schema.dates import DateRule

__all__ = [
    "IngestReport",
    "read_table",
    "read_visits",
    "read_relapses",
    "read_mri_activity",
    "validate_visits",
    "validate_relapses",
    "validate_mri_activity",
    "write_table",
]

__all__ += ["DUPLICATE_POLICIES", "ON_MISSING", "STRIPPED_IDS", "WRITE_SUFFIXES"]


# --------------------------------------------------------------------------- reading
def _suffix(path: Path) -> str:
    name = path.name.lower()
    for s in (".csv.gz", ".tsv.gz", ".csv", ".tsv", ".txt", ".parquet", ".pq"):
        if name.endswith(s):
            return s
    return path.suffix.lower()


def _read_arrow(
    path: str | Path,
    string_cols: tuple[str, ...] = (),
    *,
    sep: str | None = None,
    what: str = "table",
) -> pa.Table:
    """Read a CSV/TSV/Parquet file into an Arrow table, with named columns read as text (ids
    dictionary-encoded); see :func:`smoulder.io.delimited.read_arrow_file` for the checks."""
    from smoulder.io.delimited import read_arrow_file

    return read_arrow_file(path, dictionary_cols=string_cols, sep=sep, what=what)


def read_table(path: str | Path, *, sep: str | None = None) -> pd.DataFrame:
    """Read any CSV/TSV/Parquet table into pandas (no validation beyond the file checks)."""
    return _read_arrow(path, sep=sep).to_pandas()


ON_MISSING = ("error", "drop")


def validate_visits(
    data: pd.DataFrame | pa.Table,
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

    Returns a DataFrame with ``subject`` (categorical, categories sorted),
    ``date`` (datetime64), ``value`` (float64), ``validconf`` (bool) and the
    ``extra_cols``, sorted by subject and date; and the :class:`IngestReport`.
    Errors give the row of the source as a spreadsheet numbers it.

    Duplicate policy (several visits of one subject on one day): identical
    duplicates are always merged (counted as corrected). Otherwise ``"error"``
    (default) stops with both rows named; ``"first"``/``"last"`` keep the row
    that comes first/last in the file; ``"max"``/``"min"``/``"mean"`` combine
    the values (a mean EDSS is rounded up to the 0.5 grid). A merged visit may
    confirm an event if any of its rows could.

    ``on_missing`` (``--on-missing``): ``"error"`` (default) stops at a visit without a value;
    ``"drop"`` leaves such visits out and counts them (as msprog and pymsprog do).
    ``future_dates`` (``--future-dates``): the policy for dates after today, see
    :mod:`smoulder.schema.dates` (default: kept and counted). ``date_format`` (``--date-format``):
    ``"iso"`` dates, or ``"day"`` numbers of days from each subject's start.
    Subject ids with spaces around them are stripped and counted.
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
    rule = future_dates if isinstance(future_dates, DateRule) else DateRule(future_dates)
    outcome = str(outcome).lower()
    cols = _columns_of(data)
    _require(
        cols,
        {"subject": subject_col, "date": date_col, "value": value_col, "validconf": validconf_col},
        source,
    )
    _require(cols, {f"extra ({c})": c for c in extra_cols}, source)
    n = data.num_rows if isinstance(data, pa.Table) else len(data)
    report = IngestReport(source=source, rows_read=n)
    if n == 0:
        raise InputDataError(
            "no data rows", file=source, expected="a header row and at least one data row"
        )
    rows: Any = _Rows(2) if _rows is None else _rows
    subj = _subjects(_col(data, subject_col), rows, source, subject_col, report)
    days, scan = _day_numbers(_col(data, date_col), rows, source, date_col, rule, date_format)
    values = _numbers(_col(data, value_col), rows, source, value_col)
    drop = _future_rows(days, scan, rule, report, "visits")
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
        rows = idx + 2 if isinstance(rows, _Rows) else np.asarray(rows)[idx]
        data = data.filter(pa.array(keep)) if isinstance(data, pa.Table) else data.iloc[idx]
        subj = subj[keep].remove_unused_categories()
        days, values = days[keep], values[keep]
    _check_values(values, rows, outcome, source, value_col, report)
    vc = (
        _booleans(_col(data, validconf_col), rows, source, validconf_col) if validconf_col else None
    )
    extras = {}
    for c in extra_cols:
        col = _col(data, c)
        extras[c] = (
            col.to_pandas() if isinstance(col, (pa.ChunkedArray, pa.Array)) else col
        ).to_numpy()
    from smoulder.io import _fastcheck as F

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
        "date": (days.astype(np.int64) * 86400).view("datetime64[s]"),
        "value": values,
        "validconf": vc if vc is not None else np.ones(len(values), dtype=bool),
    }
    frame.update(extras)
    df = pd.DataFrame(frame, copy=False)
    if has_dup:
        pos = order if order is not None else np.arange(len(df))
        df["row"] = (pos + 2) if isinstance(rows, _Rows) else np.asarray(rows)[pos]
        df = _resolve_duplicates(df, on_duplicate, outcome, source, report, value_col, date_col)
        df = df.drop(columns="row").reset_index(drop=True)
    report.rows_used = len(df)
    return df, report


def read_visits(
    path: str | Path,
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
    sep: str | None = None,
) -> tuple[pd.DataFrame, IngestReport]:
    """Read and validate a visits file (CSV, TSV or Parquet); see :func:`validate_visits`.

    ``sep`` (``--sep``) is the field separator of a text table (default: tab for ``.tsv``,
    comma otherwise).
    """
    table = _read_arrow(path, string_cols=(subject_col,), sep=sep, what="visits table")
    return validate_visits(
        table,
        source=str(path),
        subject_col=subject_col,
        date_col=date_col,
        value_col=value_col,
        outcome=outcome,
        validconf_col=validconf_col,
        on_duplicate=on_duplicate,
        extra_cols=extra_cols,
        on_missing=on_missing,
        future_dates=future_dates,
        date_format=date_format,
    )


# --------------------------------------------------------------------------- relapses and MRI
def _dated_events(
    data: pd.DataFrame | pa.Table,
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
    cols = _columns_of(data)
    _require(cols, {"subject": subject_col, "date": date_col}, source)
    n = data.num_rows if isinstance(data, pa.Table) else len(data)
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
    subj = _subjects(_col(data, subject_col), rows, source, subject_col, report)
    days, scan = _day_numbers(_col(data, date_col), rows, source, date_col, rule, date_format)
    future = _future_rows(days, scan, rule, report, what)
    dates = days.astype("datetime64[D]")
    df = pd.DataFrame({"subject": subj, "date": dates.astype("datetime64[s]"), "row": rows})
    if known_subjects is not None:
        known = _as_str_index(known_subjects)
        position = known.get_indexer(_as_str_index(subj.categories))
        codes = np.asarray(subj.codes)
        unknown = position[codes] < 0
        if known.is_unique and known.is_monotonic_increasing:
            # express the ids in the visits table's categories: the engine then needs no lookup
            df["subject"] = pd.Categorical.from_codes(
                np.where(unknown, -1, position[codes]).astype(np.int32),
                dtype=pd.CategoricalDtype(known),
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
        unknown = np.zeros(n, dtype=bool)
    if future is not None:
        unknown = unknown | future
    return df, report, unknown


def _end_dates(
    data: pd.DataFrame | pa.Table,
    column: str,
    rows: np.ndarray,
    source: str,
    rule: DateRule,
    date_format: str,
    report: IngestReport,
) -> np.ndarray:
    """Optional end dates (empty cells allowed) under the same date rule as the onsets."""
    col = _col(data, column)
    if isinstance(col, pd.Series):
        nulls = col.isna().to_numpy()
        present = col[~nulls]
    else:
        if isinstance(col, pa.ChunkedArray):
            col = col.combine_chunks() if col.num_chunks != 1 else col.chunk(0)
        nulls = np.asarray(col.is_null())
        present = col.filter(pa.array(~nulls)) if nulls.any() else col
    end = np.full(len(rows), np.datetime64("NaT"), dtype="datetime64[D]")
    if (~nulls).any():
        idx = np.flatnonzero(~nulls)
        days, scan = _day_numbers(present, rows[idx], source, column, rule, date_format)
        if scan.n_future:  # an end in the future is counted; the onset decides what is kept
            report.add("relapse end dates after today (kept)", scan.n_future)
        end[idx] = days.astype("datetime64[D]")
    return end


def validate_relapses(
    data: pd.DataFrame | pa.Table,
    source: str = "<DataFrame>",
    *,
    subject_col: str = "subject",
    date_col: str = "date",
    end_date_col: str | None = None,
    known_subjects: Any = None,
    future_dates: str | DateRule = "warn",
    date_format: str = "iso",
) -> tuple[pd.DataFrame, IngestReport]:
    """Validate relapse onsets: ``subject, date, end_date, row`` sorted by subject and onset.

    ``future_dates`` and ``date_format`` as in :func:`validate_visits` (onsets after today are
    counted, refused or left out; end dates after today are counted).
    """
    rule = future_dates if isinstance(future_dates, DateRule) else DateRule(future_dates)
    if end_date_col:
        _require(_columns_of(data), {"end date": end_date_col}, source)
    df, report, unknown = _dated_events(
        data, source, subject_col, date_col, known_subjects, "relapses", rule, date_format
    )
    if len(df) and end_date_col:
        rows = df["row"].to_numpy()
        end = _end_dates(data, end_date_col, rows, source, rule, date_format, report)
        before = (~np.isnat(end)) & (end < df["date"].to_numpy().astype("datetime64[D]"))
        _first_bad(
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


def _as_str_index(values: Any) -> pd.Index:
    """An Index of ids as strings, reusing ``values`` when it already is one (and its hash table)."""
    if isinstance(values, pd.Index) and values.dtype == object:
        return values
    return pd.Index(np.asarray(values, dtype=object)).astype(str)


def _sorted_unique_events(df: pd.DataFrame, report: IngestReport, reason: str) -> pd.DataFrame:
    """Sort dated events by subject and date (if needed) and merge exact (subject, date) repeats."""
    from smoulder.io import _fastcheck as F

    codes = (
        df["subject"].cat.codes.to_numpy()
        if isinstance(df["subject"].dtype, pd.CategoricalDtype)
        else None
    )
    if codes is None:
        df = df.sort_values(["subject", "date"], kind="stable")
    else:
        days = df["date"].to_numpy().view(np.int64)
        is_sorted, _ = F.order_state(codes, days)
        if not is_sorted:
            df = df.iloc[np.lexsort((days, codes))]
    dup = df.duplicated(["subject", "date"]).to_numpy() if len(df) else np.zeros(0, dtype=bool)
    if dup.any():
        report.add(reason, int(dup.sum()), corrected=True)
        df = df.loc[~dup]
    return df.reset_index(drop=True)


def read_relapses(
    path: str | Path,
    *,
    subject_col: str = "subject",
    date_col: str = "date",
    end_date_col: str | None = None,
    known_subjects: Any = None,
    future_dates: str | DateRule = "warn",
    date_format: str = "iso",
    sep: str | None = None,
) -> tuple[pd.DataFrame, IngestReport]:
    """Read and validate a relapses file; see :func:`validate_relapses`."""
    table = _read_arrow(path, string_cols=(subject_col,), sep=sep, what="relapses table")
    return validate_relapses(
        table,
        source=str(path),
        subject_col=subject_col,
        date_col=date_col,
        end_date_col=end_date_col,
        known_subjects=known_subjects,
        future_dates=future_dates,
        date_format=date_format,
    )


def validate_mri_activity(
    data: pd.DataFrame | pa.Table,
    source: str = "<DataFrame>",
    *,
    subject_col: str = "subject",
    date_col: str = "date",
    active_col: str = "active",
    known_subjects: Any = None,
    future_dates: str | DateRule = "warn",
    date_format: str = "iso",
) -> tuple[pd.DataFrame, IngestReport]:
    """Validate MRI scans: ``subject, date, active, row``; ``active`` accepts yes/no or lesion counts.

    ``future_dates`` and ``date_format`` as in :func:`validate_visits`.
    """
    rule = future_dates if isinstance(future_dates, DateRule) else DateRule(future_dates)
    _require(_columns_of(data), {"activity": active_col}, source)
    df, report, unknown = _dated_events(
        data, source, subject_col, date_col, known_subjects, "MRI scans", rule, date_format
    )
    if len(df):
        df["active"] = _booleans(
            _col(data, active_col), df["row"].to_numpy(), source, active_col, counts_ok=True
        )
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


def read_mri_activity(
    path: str | Path,
    *,
    subject_col: str = "subject",
    date_col: str = "date",
    active_col: str = "active",
    known_subjects: Any = None,
    future_dates: str | DateRule = "warn",
    date_format: str = "iso",
    sep: str | None = None,
) -> tuple[pd.DataFrame, IngestReport]:
    """Read and validate an MRI activity file; see :func:`validate_mri_activity`."""
    table = _read_arrow(path, string_cols=(subject_col,), sep=sep, what="MRI activity table")
    return validate_mri_activity(
        table,
        source=str(path),
        subject_col=subject_col,
        date_col=date_col,
        active_col=active_col,
        known_subjects=known_subjects,
        future_dates=future_dates,
        date_format=date_format,
    )


#: suffixes :func:`write_table` writes
WRITE_SUFFIXES = (".csv", ".tsv", ".parquet", ".pq")


def write_table(df: pd.DataFrame, path: str | Path) -> None:
    """Write a table as Parquet (``.parquet``/``.pq``), or as CSV (``.csv``) or TSV (``.tsv``) with
    ISO dates, empty cells for missing values and lower-case booleans.

    Raises
    ------
    InputDataError
        For any other suffix (``.xlsx`` is refused, never written as CSV under that name).
    """
    import pyarrow.csv as pacsv

    path = Path(path)
    suf = _suffix(path)
    if suf not in WRITE_SUFFIXES:
        raise InputDataError(
            f"cannot write {suf or 'files without a suffix'!r} tables",
            file=str(path),
            expected="a name ending in " + ", ".join(WRITE_SUFFIXES),
        )
    path.parent.mkdir(parents=True, exist_ok=True)
    if suf in (".parquet", ".pq"):
        df.to_parquet(path, index=False)
        return

    out = {}
    for col in df.columns:
        s = df[col]
        if pd.api.types.is_datetime64_any_dtype(s):
            out[col] = pa.array(s.to_numpy().astype("datetime64[D]"), mask=s.isna().to_numpy())
        elif isinstance(s.dtype, pd.BooleanDtype):
            arr = s.to_numpy(dtype=object, na_value=None)
            out[col] = pa.array(arr, type=pa.bool_())
        elif isinstance(s.dtype, pd.CategoricalDtype):
            out[col] = pa.array(s.astype(str).to_numpy())
        else:
            out[col] = pa.array(s.to_numpy(), from_pandas=True)
    table = pa.table(out)
    options = pacsv.WriteOptions(quoting_style="needed", delimiter="\t" if suf == ".tsv" else ",")
    pacsv.write_csv(table, path, write_options=options)
