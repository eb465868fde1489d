"""Arrow columns of a table read from a file, parsed for the clinic-table contracts.

:class:`ArrowColumns` is the :class:`~smoulder.schema.tables.ColumnSource` of a table read with
pyarrow: ids stay dictionary-encoded, dates typed as dates are checked without copies and text is
parsed with Arrow's compute kernels. The rules themselves (messages, value checks, duplicates) are
those of :mod:`smoulder.schema`, so a file and a DataFrame with the same content give the same
result.
"""

from __future__ import annotations

import weakref
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from smoulder.exceptions import ColumnNotFoundError, InputDataError
from smoulder.schema import _columns as C
from smoulder.schema.dates import DateRule, DateScan
from smoulder.schema.report import IngestReport

#: the value rules of an outcome, for the readers that check values themselves (REDCap, OMOP)
_check_values = C.check_values

__all__ = ["ArrowColumns", "missing_column", "suggest", "arrow_text", "remember_text"]

suggest = C.suggest


def missing_column(role: str, col: str, columns: list[str], source: str) -> ColumnNotFoundError:
    """The error for a missing column of a file: close names, or the separator the header seems
    to use when it was read as one column."""
    from smoulder.io.delimited import delimiter_hint

    sep_hint = delimiter_hint(columns[0], ",") if len(columns) == 1 else ""
    return C.missing_column(role, col, columns, source, sep_hint)


#: the Arrow text of subject-id categories (by the id of the pandas Index, which is immutable)
_TEXT: dict[int, tuple[weakref.ref[pd.Index], pa.Array]] = {}


def remember_text(index: pd.Index, text: pa.Array) -> None:
    """Remember that the categories ``index`` are the Arrow strings ``text`` (ids read from a
    file), so that writing them again costs no conversion of a million Python strings."""
    key = id(index)
    _TEXT[key] = (weakref.ref(index, lambda _ref: _TEXT.pop(key, None)), text)


def arrow_text(index: pd.Index) -> pa.Array | None:
    """Categories as an Arrow string array (remembered, or converted once and remembered);
    None when they are not all text."""
    hit = _TEXT.get(id(index))
    if hit is not None and hit[0]() is index:
        return hit[1]
    try:
        text = pa.array(index.to_numpy(dtype=object), type=pa.string())
    except (pa.ArrowInvalid, pa.ArrowTypeError, TypeError):
        return None
    if text.null_count:
        return None
    remember_text(index, text)
    return text


def _pick(arr: Any) -> Any:
    """A lazy value getter for :func:`~smoulder.schema._columns.first_bad` over an Arrow array."""
    return lambda i: arr[i].as_py()


def _one_chunk(arr: Any) -> Any:
    if isinstance(arr, pa.ChunkedArray):
        return arr.combine_chunks() if arr.num_chunks != 1 else arr.chunk(0)
    return arr


def day_numbers(
    arr: pa.ChunkedArray | pa.Array,
    rows: Any,
    source: str,
    column: str,
    rule: DateRule | None = None,
    date_format: str = "iso",
) -> tuple[np.ndarray, DateScan]:
    """Day numbers (days since 1970-01-01) of an Arrow date column, checking every value.

    Dates already typed as dates (Parquet, or CSV cells pyarrow recognised) are checked in one
    compiled pass without copies; text is parsed as ISO 8601 and rejected with the row when it is
    not a real calendar date. With ``date_format="day"`` the cells are whole day numbers from each
    subject's start (msprog's ``date_format="day"``). Returns the days and the scan of future
    dates (:mod:`smoulder.schema.dates`); impossible dates raise.
    """
    rule = rule or DateRule()
    C.check_date_format(date_format)
    if date_format == "day":
        vals = numbers(
            arr, rows, source, column, expected="a whole number of days (--date-format day)"
        )
        return C.whole_day_numbers(vals, rows, source, column), DateScan(-1, 0, -1, 0)
    arr = _one_chunk(arr)
    t = arr.type
    if pa.types.is_date(t) or pa.types.is_timestamp(t):
        if arr.null_count:
            C.first_bad(
                np.asarray(arr.is_null()), rows, None, source, column, "missing date", C.ISO_DATE
            )
        if pa.types.is_date32(t):
            out = np.asarray(arr.view(pa.int32()))
        else:
            out = arr.to_numpy(zero_copy_only=False).astype("datetime64[D]").astype(np.int64)
        return out, C.range_checked(out, rows, source, column, rule)
    if pa.types.is_integer(t):
        raise InputDataError(
            "dates are whole numbers",
            file=source,
            column=column,
            expected="ISO dates YYYY-MM-DD, or --date-format day when they are day numbers "
            "(days from each subject's start, as msprog's date_format='day')",
        )
    text = arr.cast(pa.string())
    if text.null_count:
        C.first_bad(
            np.asarray(text.is_null()), rows, None, source, column, "missing date", C.ISO_DATE
        )
    head = pc.utf8_slice_codeunits(text, 0, 10)
    ok_shape = np.asarray(pc.match_substring_regex(head, r"^\d{4}-\d{2}-\d{2}$").fill_null(False))
    if not ok_shape.all():
        C.first_bad(~ok_shape, rows, _pick(text), source, column, "unparseable date", C.ISO_DATE)
    parsed = pc.strptime(head, format="%Y-%m-%d", unit="s", error_is_null=True)
    failed = np.asarray(parsed.is_null())
    if not failed.any():
        # strptime may roll 2021-02-30 over to March: a real date prints back the same
        back = pc.strftime(parsed, format="%Y-%m-%d")
        failed = ~np.asarray(pc.equal(back, head).fill_null(False))
    C.first_bad(
        failed,
        rows,
        _pick(text),
        source,
        column,
        "impossible date",
        "a real calendar date YYYY-MM-DD",
    )
    out = parsed.to_numpy(zero_copy_only=False).astype("datetime64[D]").astype(np.int64)
    return out, C.range_checked(out, rows, source, column, rule)


def _id_runs(arr: Any) -> tuple[pa.Array, np.ndarray]:
    """Runs of equal ids: the id of each run (text) and its length.

    A registry file holds each subject's visits together, so a million subjects x 20 visits are
    a million runs: hashing and sorting the runs' ids instead of the rows' costs a twentieth.
    Dictionary chunks are compared by their integer indices, text chunks by value; a file in any
    order gives the same ids (at worst one run per row).
    """
    chunks = arr.chunks if isinstance(arr, pa.ChunkedArray) else [arr]
    values: list[pa.Array] = []
    lengths: list[np.ndarray] = []
    for chunk in chunks:
        n = len(chunk)
        if n == 0:
            continue
        if pa.types.is_dictionary(chunk.type):
            idx = np.asarray(chunk.indices if not chunk.null_count else chunk.indices.fill_null(0))
            change = idx[1:] != idx[:-1]
        else:
            chunk = chunk.cast(pa.string())
            change = ~np.asarray(pc.equal(chunk.slice(1), chunk.slice(0, n - 1)).fill_null(False))
        starts = np.empty(int(change.sum()) + 1, dtype=np.int64)
        starts[0] = 0
        starts[1:] = np.flatnonzero(change) + 1
        if pa.types.is_dictionary(chunk.type):
            run = chunk.dictionary.take(pa.array(idx[starts])).cast(pa.string())
        else:
            run = chunk.take(pa.array(starts))
        values.append(run)
        lengths.append(np.diff(np.append(starts, n)))
    if not values:
        return pa.array([], type=pa.string()), np.zeros(0, dtype=np.int64)
    ids, length = pa.concat_arrays(values), np.concatenate(lengths)
    if len(ids) > 1:  # a run cut by a chunk boundary is one run
        same = np.asarray(pc.equal(ids.slice(1), ids.slice(0, len(ids) - 1)).fill_null(False))
        if same.any():
            keep = np.ones(len(ids), dtype=bool)
            keep[1:] = ~same
            length = np.add.reduceat(length, np.flatnonzero(keep))
            ids = ids.filter(pa.array(keep))
    return ids, length


def _increasing(ids: pa.Array) -> bool:
    """Whether text ids are strictly increasing (byte order, as Arrow sorts)."""
    if len(ids) < 2:
        return True
    return bool(pc.all(pc.less(ids.slice(0, len(ids) - 1), ids.slice(1))).as_py())


def subjects(
    arr: Any, rows: Any, source: str, column: str, report: IngestReport | None = None
) -> pd.Categorical:
    """Subject ids of an Arrow column as a categorical with sorted categories.

    The ids are taken once per run of equal ids (a registry's rows come subject by subject),
    then stripped, sorted and numbered: a few distinct ids, never the millions of rows. Spaces
    around an id are stripped and the rows counted in ``report``.
    """
    if arr.null_count:
        nulls = np.asarray(_one_chunk(arr).is_null())
        C.first_bad(nulls, rows, None, source, column, "missing subject id", "a subject id")
    run_ids, run_len = _id_runs(arr)
    sorted_runs = _increasing(run_ids)
    if sorted_runs:  # a file sorted by subject: each run is one subject, in order
        dictionary, run_idx = run_ids, np.arange(len(run_ids), dtype=np.int64)
    else:
        encoded = pc.dictionary_encode(run_ids)
        dictionary = encoded.dictionary
        run_idx = np.asarray(encoded.indices).astype(np.int64)
    trimmed = pc.utf8_trim_whitespace(dictionary)
    changed = np.asarray(pc.not_equal(trimmed, dictionary).fill_null(False))
    changed_any = bool(changed.any())
    in_order = sorted_runs and not changed_any
    if changed_any:  # a few distinct ids: count their rows, then work on the stripped ids
        per_entry = np.bincount(run_idx, weights=run_len, minlength=len(changed))
        C.stripped(report, int(per_entry[changed].sum()))
        raw_dictionary, dictionary = dictionary, trimmed
    else:
        raw_dictionary = dictionary
    empty_entry = np.asarray(pc.equal(dictionary, "").fill_null(True))
    if empty_entry.any():
        indices = np.repeat(run_idx, run_len)
        C.first_bad(
            empty_entry[indices],
            rows,
            lambda i: raw_dictionary[int(indices[i])].as_py(),
            source,
            column,
            "empty subject id",
            "a subject id",
        )
    if in_order:  # sorted and unique already: one category per run
        cats = pd.Index(np.asarray(dictionary.to_numpy(zero_copy_only=False), dtype=object))
        remember_text(cats, dictionary)
        codes = np.repeat(np.arange(len(cats), dtype=np.int32), run_len)
        return pd.Categorical.from_codes(codes, dtype=_categorical_dtype(cats), validate=False)
    # categories in sorted order; stripping may make two entries one id
    order = np.asarray(pc.sort_indices(dictionary)).astype(np.int64)
    sorted_names = dictionary.take(pa.array(order))
    is_new = np.ones(len(order), dtype=bool)
    if len(order) > 1:
        is_new[1:] = ~np.asarray(
            pc.equal(sorted_names.slice(1), sorted_names.slice(0, len(order) - 1)).fill_null(False)
        )
    rank = np.cumsum(is_new) - 1
    remap = np.empty(len(order), dtype=np.int32)
    remap[order] = rank
    text = sorted_names.filter(pa.array(is_new))
    cats = pd.Index(np.asarray(text.to_numpy(zero_copy_only=False), dtype=object))
    remember_text(cats, text)
    codes = np.repeat(remap[run_idx], run_len)
    # every category is used (each comes from a run of at least one row), and unique
    dtype = _categorical_dtype(cats)
    return pd.Categorical.from_codes(codes, dtype=dtype, validate=False)


def _fixed_width(text: pa.Array, width: int) -> np.ndarray | None:
    """Text as a numpy ``S{width}`` array (NUL-padded, so that numpy compares it in byte order,
    as Arrow sorts): a view of the Arrow buffer when every string has ``width`` bytes, else a
    padded copy (longer strings cut, for the caller to mask). None for text holding NUL bytes
    (padding would make two ids one) or ids too long to pad cheaply."""
    if pa.types.is_large_string(text.type):
        off_type: Any = np.int64
    elif pa.types.is_string(text.type):
        off_type = np.int32
    else:
        return None
    if text.null_count or width <= 0 or width > 256:
        return None
    n = len(text)
    bufs = text.buffers()
    offsets = np.frombuffer(
        bufs[1], dtype=off_type, count=n + 1, offset=text.offset * np.dtype(off_type).itemsize
    ).astype(np.int64)
    start, end = int(offsets[0]), int(offsets[-1])
    data = (
        np.frombuffer(bufs[2], dtype=np.uint8, count=end - start, offset=start)
        if n
        else np.zeros(0, np.uint8)
    )
    if data.size and np.any(data == 0):
        return None
    lengths = np.diff(offsets)
    if n and (lengths == width).all():
        return data.view(f"S{width}")
    out = np.zeros((n, width), dtype=np.uint8)
    keep = np.minimum(lengths, width)
    row = np.repeat(np.arange(n), keep)
    # the byte positions of each string's first ``keep`` bytes, and where they go in its row
    first = np.repeat(offsets[:-1] - start, keep)
    col = np.arange(len(row)) - np.repeat(np.cumsum(keep) - keep, keep)
    out[row, col] = data[first + col]
    return out.view(f"S{width}").ravel()


def _lengths(text: pa.Array) -> np.ndarray:
    return np.asarray(pc.binary_length(text).fill_null(0)).astype(np.int64)


def sorted_positions(query: pa.Array, known: pa.Array) -> np.ndarray:
    """Where each text of ``query`` is in ``known`` (text sorted and unique in byte order, as
    :func:`arrow_text` gives sorted categories), -1 where it is not there.

    Two sorted lists of ids of at most 256 bytes are matched by binary search over their bytes
    (no hash table of a million strings: a tenth of :func:`pyarrow.compute.index_in`'s time);
    anything else (NUL bytes, ``known`` not strictly increasing) goes to ``index_in``.
    """
    n_q, n_k = len(query), len(known)
    if n_q == 0:
        return np.zeros(0, dtype=np.int64)
    if n_k == 0:
        return np.full(n_q, -1, dtype=np.int64)
    k_len = _lengths(known)
    width = int(k_len.max())
    k = _fixed_width(known, width)
    q = _fixed_width(query, width) if k is not None else None
    if k is not None and q is not None and bool((k[1:] > k[:-1]).all()):
        idx = np.searchsorted(k, q)
        np.minimum(idx, n_k - 1, out=idx)
        found = k[idx] == q
        if int(_lengths(query).max()) > width:  # cut to ``width`` bytes: never in ``known``
            found &= _lengths(query) <= width
        return np.where(found, idx, -1).astype(np.int64)
    got = pc.index_in(query, value_set=known)
    return np.asarray(got.fill_null(-1)).astype(np.int64)


def known_subject_codes(
    arr: Any,
    rows: Any,
    source: str,
    column: str,
    report: IngestReport | None,
    known_text: pa.Array,
) -> tuple[np.ndarray, int]:
    """Subject ids of an Arrow column as codes into ``known_text`` (the visits table's sorted
    categories as Arrow text), -1 for ids not there, and how many distinct ids those are.

    The same checks and counts as :func:`subjects` (missing and empty ids refused with their
    row, spaces around an id stripped and counted), but the ids of each run are looked up in
    the known ids directly: no sorting, numbering or Python strings of the file's own ids.
    """
    if arr.null_count:
        nulls = np.asarray(_one_chunk(arr).is_null())
        C.first_bad(nulls, rows, None, source, column, "missing subject id", "a subject id")
    run_ids, run_len = _id_runs(arr)
    trimmed = pc.utf8_trim_whitespace(run_ids)
    changed = np.asarray(pc.not_equal(trimmed, run_ids).fill_null(False))
    if changed.any():
        C.stripped(report, int(run_len[changed].sum()))
    empty = np.asarray(pc.equal(trimmed, "").fill_null(True))
    if empty.any():
        ends = np.cumsum(run_len)
        C.first_bad(
            np.repeat(empty, run_len),
            rows,
            lambda i: run_ids[int(np.searchsorted(ends, i, side="right"))].as_py(),
            source,
            column,
            "empty subject id",
            "a subject id",
        )
    pos = sorted_positions(trimmed, known_text)
    unknown = pos < 0
    n_subjects = 0
    if unknown.any():
        n_subjects = int(pc.count_distinct(trimmed.filter(pa.array(unknown))).as_py())
    codes = np.repeat(pos.astype(np.int32), run_len)
    return codes, n_subjects


def _categorical_dtype(cats: pd.Index) -> pd.CategoricalDtype:
    """The dtype of sorted categories known to be unique.

    pandas checks that categories are unique each time a categorical is made from codes, by
    hashing them (seconds for a million ids) unless the index already knows: a strictly
    increasing index knows after one cheap comparison pass, cached on the index.
    """
    _ = cats.is_monotonic_increasing
    fast = getattr(pd.CategoricalDtype, "_from_fastpath", None)
    if fast is not None:
        dtype: pd.CategoricalDtype = fast(cats, False)
        return dtype
    return pd.CategoricalDtype(cats, ordered=False)


def numbers(
    arr: Any, rows: Any, source: str, column: str, expected: str = "a number"
) -> np.ndarray:
    """An Arrow column as float64 (nulls NaN); text that is no number is refused with its row."""
    arr = _one_chunk(arr)
    if (
        pa.types.is_integer(arr.type)
        or pa.types.is_floating(arr.type)
        or pa.types.is_null(arr.type)
    ):
        vals: np.ndarray = arr.cast(pa.float64()).to_numpy(zero_copy_only=False)
        return vals
    text = arr.cast(pa.string())
    try:
        vals = text.cast(pa.float64()).to_numpy(zero_copy_only=False)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        vals = C.series_numbers(
            pd.Series(text.to_numpy(zero_copy_only=False)), rows, source, column, expected
        )
    return vals


class ArrowColumns:
    """A pyarrow Table read from a file, as a :class:`~smoulder.schema.tables.ColumnSource`."""

    def __init__(
        self, table: pa.Table, source: str = "<table>", names: list[str] | None = None
    ) -> None:
        self.table = table
        self.source = source
        # every column of the file, for messages, when only some were read
        self.names = list(table.column_names) if names is None else list(names)
        self.n_rows = table.num_rows

    def subjects(
        self, name: str, rows: Any, source: str, report: IngestReport | None
    ) -> pd.Categorical:
        return subjects(self.table.column(name), rows, source, name, report)

    def day_numbers(
        self,
        name: str,
        rows: Any,
        source: str,
        rule: DateRule,
        date_format: str,
        take: np.ndarray | None = None,
    ) -> tuple[np.ndarray, DateScan]:
        col = self.table.column(name)
        if take is not None:
            col = _one_chunk(col).take(pa.array(take))
        return day_numbers(col, rows, source, name, rule, date_format)

    def numbers(self, name: str, rows: Any, source: str) -> np.ndarray:
        return numbers(self.table.column(name), rows, source, name)

    def booleans(self, name: str, rows: Any, source: str, counts_ok: bool = False) -> np.ndarray:
        s = pd.Series(_one_chunk(self.table.column(name)).to_pandas())
        return C.series_booleans(s, rows, source, name, counts_ok)

    def nulls(self, name: str) -> np.ndarray:
        return np.asarray(_one_chunk(self.table.column(name)).is_null())

    def values(self, name: str) -> np.ndarray:
        out: np.ndarray = self.table.column(name).to_pandas().to_numpy()
        return out

    def positions(self, known: pd.Index, ids: pd.Index) -> np.ndarray | None:
        """Where each of ``ids`` is in ``known`` (-1: not there), hashed by Arrow; None when
        the ids are not all text (the caller then asks pandas)."""
        wanted, value_set = arrow_text(ids), arrow_text(known)
        if wanted is None or value_set is None:
            return None
        try:
            found = pc.index_in(wanted, value_set=value_set)
        except (pa.ArrowInvalid, pa.ArrowTypeError, TypeError):
            return None
        return np.asarray(found.fill_null(-1)).astype(np.int64)

    def known_subject_codes(
        self, name: str, rows: Any, source: str, report: IngestReport | None, known: pd.Index
    ) -> tuple[np.ndarray, int] | None:
        """Subject ids as codes into ``known`` (sorted unique text ids: the visits table's
        categories), -1 for ids not there, and how many distinct ids those are; None when
        ``known`` is not such an index (the caller then numbers the ids itself)."""
        if not isinstance(known, pd.Index) or known.dtype != object:
            return None
        if not (known.is_monotonic_increasing and known.is_unique):
            return None
        text = arrow_text(known)
        if text is None:
            return None
        return known_subject_codes(self.table.column(name), rows, source, name, report, text)

    def take(self, idx: np.ndarray) -> ArrowColumns:
        keep = np.zeros(self.n_rows, dtype=bool)
        keep[idx] = True
        return ArrowColumns(self.table.filter(pa.array(keep)), self.source, self.names)

    def separator_hint(self) -> str:
        from smoulder.io.delimited import delimiter_hint

        return delimiter_hint(self.names[0], ",") if len(self.names) == 1 else ""
