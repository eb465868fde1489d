"""Clinic tables from files: visits, relapses and MRI activity (CSV, TSV, Parquet), and the one
table writer.

Each ``read_*`` function reads a file with pyarrow (multi-threaded CSV parser, Parquet; subject ids
dictionary-encoded) and checks it against the contract of :mod:`smoulder.schema.tables`, returning
a normalised pandas DataFrame and an :class:`~smoulder.schema.report.IngestReport`. Bad input
raises :class:`~smoulder.exceptions.InputDataError` naming the file, the row (as a spreadsheet
shows it: the header is row 1), the column, the value and the expected form; the whole file is
rejected (all or nothing). A 20-million-row visits file is read and checked in a few seconds.

The ``validate_*`` names accept a pyarrow Table as well as a DataFrame; the checks themselves live
in :mod:`smoulder.schema.tables`.
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa

from smoulder.exceptions import InputDataError
from smoulder.io._columns import ArrowColumns, arrow_text
from smoulder.schema import tables as contracts
from smoulder.schema._columns import ids_as_text
from smoulder.schema.dates import DateRule
from smoulder.schema.report import IngestReport
from smoulder.schema.tables import DUPLICATE_POLICIES, ON_MISSING, STRIPPED_IDS

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
    "read_inputs",
]

__all__ += ["DUPLICATE_POLICIES", "ON_MISSING", "STRIPPED_IDS", "WRITE_SUFFIXES"]


def _columns(data: pd.DataFrame | pa.Table) -> Any:
    """The column source of a table: Arrow tables are parsed with pyarrow."""
    return ArrowColumns(data) if isinstance(data, pa.Table) else data


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


def validate_visits(
    data: pd.DataFrame | pa.Table, source: str = "<DataFrame>", **options: Any
) -> tuple[pd.DataFrame, IngestReport]:
    """Validate a visits table given as a DataFrame or a pyarrow Table; see
    :func:`smoulder.schema.tables.validate_visits` for the options."""
    return contracts.validate_visits(_columns(data), source, **options)


def validate_relapses(
    data: pd.DataFrame | pa.Table, source: str = "<DataFrame>", **options: Any
) -> tuple[pd.DataFrame, IngestReport]:
    """Validate relapse onsets given as a DataFrame or a pyarrow Table; see
    :func:`smoulder.schema.tables.validate_relapses`."""
    return contracts.validate_relapses(_columns(data), source, **options)


def validate_mri_activity(
    data: pd.DataFrame | pa.Table, source: str = "<DataFrame>", **options: Any
) -> tuple[pd.DataFrame, IngestReport]:
    """Validate MRI scans given as a DataFrame or a pyarrow Table; see
    :func:`smoulder.schema.tables.validate_mri_activity`."""
    return contracts.validate_mri_activity(_columns(data), source, **options)


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
    """Read and validate a visits file (CSV, TSV or Parquet); see
    :func:`smoulder.schema.tables.validate_visits`.

    ``sep`` (``--sep``) is the field separator of a text table (default: tab for ``.tsv``,
    comma otherwise).
    """
    table = _read_arrow(path, string_cols=(subject_col,), sep=sep, what="visits table")
    return contracts.validate_visits(
        ArrowColumns(table),
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
    """Read and validate a relapses file; see :func:`smoulder.schema.tables.validate_relapses`."""
    table = _read_arrow(path, string_cols=(subject_col,), sep=sep, what="relapses table")
    return contracts.validate_relapses(
        ArrowColumns(table),
        source=str(path),
        subject_col=subject_col,
        date_col=date_col,
        end_date_col=end_date_col,
        known_subjects=known_subjects,
        future_dates=future_dates,
        date_format=date_format,
    )


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
    """Read and validate an MRI activity file; see
    :func:`smoulder.schema.tables.validate_mri_activity`."""
    table = _read_arrow(path, string_cols=(subject_col,), sep=sep, what="MRI activity table")
    return contracts.validate_mri_activity(
        ArrowColumns(table),
        source=str(path),
        subject_col=subject_col,
        date_col=date_col,
        active_col=active_col,
        known_subjects=known_subjects,
        future_dates=future_dates,
        date_format=date_format,
    )


def _arrow_columns(
    path: str | Path,
    subject_col: str,
    sep: str | None,
    what: str,
    needed: tuple[str, ...] | None = None,
) -> ArrowColumns:
    """A table file for one analysis: of a Parquet file only the ``needed`` columns are read
    (the messages still list every column of the file)."""
    from smoulder.io.delimited import read_arrow_file

    table = read_arrow_file(
        path, dictionary_cols=(subject_col,), sep=sep, what=what, columns=needed
    )
    names = None
    if needed is not None and _suffix(Path(path)) in (".parquet", ".pq"):
        import pyarrow.parquet as pq

        names = list(pq.read_schema(path).names)
    return ArrowColumns(table, str(path), names)


def _needed_columns(subject_col: str, options: dict[str, Any]) -> list[tuple[str, ...]]:
    """The columns each of the visits, relapses and MRI tables is read for (as
    :func:`smoulder.schema.inputs.validate_inputs` names them, with its defaults)."""
    date = options.get("date_col", "date")
    visits = (
        subject_col,
        date,
        options.get("value_col", "value"),
        options.get("validconf_col"),
        options.get("valuedelta_col"),
    )
    relapses = (
        subject_col,
        options.get("relapse_date_col") or date,
        options.get("relapse_end_col"),
    )
    mri = (
        subject_col,
        options.get("mri_date_col") or date,
        options.get("mri_active_col", "active"),
    )
    return [tuple(c for c in cols if c) for cols in (visits, relapses, mri)]


def read_columns(
    path: str | Path, *, subject_col: str = "subject", sep: str | None = None, what: str = "table"
) -> ArrowColumns:
    """A table file read once (ids dictionary-encoded), to be checked by the schema's contracts,
    possibly several times (one outcome column after another)."""
    cols = ArrowColumns(_read_arrow(path, string_cols=(subject_col,), sep=sep, what=what))
    cols.source = str(path)
    return cols


def read_inputs(
    visits: str | Path | pd.DataFrame,
    relapses: str | Path | pd.DataFrame | None = None,
    mri_activity: str | Path | pd.DataFrame | None = None,
    *,
    sep: str | None = None,
    subject_col: str = "subject",
    source: str | None = None,
    **options: Any,
) -> Any:
    """Read (files) and check (files and DataFrames) the inputs of a clinical analysis.

    Each table is a path (CSV, TSV or Parquet, read with pyarrow), a table from
    :func:`read_columns`, or a DataFrame (named ``source`` in messages); see
    :func:`smoulder.schema.inputs.validate_inputs` for the options. Returns its
    :class:`~smoulder.schema.inputs.ClinicInputs`.
    """
    from smoulder.schema.inputs import validate_inputs

    what = ("visits table", "relapses table", "MRI activity table")
    defaults = ("<visits>", "<relapses>", "<mri>")
    tables: list[Any] = []
    sources: list[str] = []
    needed = _needed_columns(subject_col, options)
    for table, name, default, cols in zip(
        (visits, relapses, mri_activity), what, defaults, needed, strict=True
    ):
        if table is None or isinstance(table, pd.DataFrame):
            tables.append(table)
            sources.append(source or default)
        elif isinstance(table, ArrowColumns):  # a file read once for several analyses
            tables.append(table)
            sources.append(getattr(table, "source", default))
        else:
            # read when the checks reach it: a bad visits file is reported before a relapses
            # file is even opened
            tables.append(
                functools.partial(_arrow_columns, table, subject_col, sep, name, cols),
            )
            sources.append(str(table))
    return validate_inputs(
        tables[0],
        tables[1],
        tables[2],
        sources=(sources[0], sources[1], sources[2]),
        subject_col=subject_col,
        **options,
    )


#: suffixes :func:`write_table` writes
WRITE_SUFFIXES = (".csv", ".tsv", ".parquet", ".pq")


def write_table(df: pd.DataFrame, path: str | Path, *, text_cols: tuple[str, ...] = ()) -> None:
    """Write a table as Parquet (``.parquet``/``.pq``, as :meth:`pandas.DataFrame.to_parquet`
    writes it), or as CSV (``.csv``) or TSV (``.tsv``) with ISO dates, empty cells for missing
    values and lower-case booleans.

    ``text_cols`` names categorical columns (subject ids) written as their text, as
    ``astype(str)`` gives it, in every format: looked up by code in the categories' Arrow text
    (remembered from the file they were read from), without a million Python strings. The
    columns are handed to pyarrow one by one, and the file holds what ``DataFrame.to_parquet``
    would have written, pandas metadata included.

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
        import pyarrow.parquet as pq

        table = parquet_table(df, text_cols)
        if table is None:  # what only pandas knows how to store: let it
            shown = df.assign(**{c: ids_as_text(df[c]) for c in text_cols})
            shown.to_parquet(path, index=False)
        else:
            pq.write_table(table, path, compression="snappy")
        return
    out = {}
    for col in df.columns:
        s = df[col]
        if pd.api.types.is_datetime64_any_dtype(s):
            out[col] = pa.array(s.to_numpy().astype("datetime64[D]"), mask=s.isna().to_numpy())
        elif isinstance(s.dtype, pd.BooleanDtype):
            arr = s.to_numpy(dtype=object, na_value=None)
            out[col] = pa.array(arr, type=pa.bool_())
        elif isinstance(s.dtype, pd.CategoricalDtype) or col in text_cols:
            out[col] = _text_array(s)
        else:
            out[col] = pa.array(s.to_numpy(), from_pandas=True)
    table = pa.table(out)
    options = pacsv.WriteOptions(quoting_style="needed", delimiter="\t" if suf == ".tsv" else ",")
    pacsv.write_csv(table, path, write_options=options)


def _text_array(col: pd.Series) -> pa.Array:
    """A column as Arrow text, as ``astype(str)`` gives it."""
    if isinstance(col.dtype, pd.CategoricalDtype):
        return categorical_text(col)
    return pa.array(col.astype(str).to_numpy(dtype=object), from_pandas=True)


def categorical_text(col: pd.Series) -> pa.Array:
    """A categorical column as Arrow text, as ``astype(str)`` gives it: the categories converted
    once (or taken from the file they were read from), then looked up by code."""
    codes = col.cat.codes.to_numpy()
    cats = col.cat.categories
    if len(codes) and (codes >= 0).all() and cats.dtype == object:
        text = arrow_text(cats)
        if text is not None:
            return text.take(pa.array(codes))
    return pa.array(col.astype(str).to_numpy(dtype=object), type=pa.string())


def parquet_table(df: pd.DataFrame, text_cols: tuple[str, ...] = ()) -> pa.Table | None:
    """The Arrow table :meth:`pandas.DataFrame.to_parquet` writes for ``df`` (pandas metadata
    included), built column by column; None when pandas alone knows how (attributes, column names
    that are not text, an empty table)."""
    names = list(df.columns)
    if (
        not len(df)
        or df.attrs
        or not all(isinstance(c, str) for c in names)
        or len(set(names)) != len(names)
        or not isinstance(df.columns, pd.Index)
        or isinstance(df.columns, pd.MultiIndex)
    ):
        return None
    arrays = []
    for c in names:
        col = df[c]
        if c in text_cols:
            arrays.append(_text_array(col))
        else:  # what Table.from_pandas does with each column
            arrays.append(pa.array(col, from_pandas=True))
    # the pandas metadata of the same columns, from a few rows (it depends on the types only)
    head = df.iloc[: min(len(df), 64)]
    head = head.assign(**{c: ids_as_text(head[c]) for c in text_cols if c in head})
    try:
        meta = pa.Table.from_pandas(head, preserve_index=False).schema
    except (pa.ArrowInvalid, pa.ArrowTypeError):
        return None
    table = pa.Table.from_arrays(arrays, names=names)
    if not table.schema.equals(meta, check_metadata=False):
        return None
    return table.replace_schema_metadata(meta.metadata)
