"""Partitioned Parquet datasets: a folder of Parquet files (hive ``key=value`` folders included,
as :mod:`pyarrow.dataset` writes them) or one Parquet file split into row groups.

:func:`scan_dataset` lists the pieces of a dataset and checks it before anything is read: a folder
without Parquet files, files whose columns differ (names or types) and a missing column are
refused with a one-line error naming the file. :func:`read_piece` reads one piece (the columns of
its hive folders added as text), :func:`subject_keys` gives the subject ids of a table as the
clinic-table contracts will see them (text, spaces stripped), and :func:`subject_buckets` gives
each id its partition by a stable hash.

The hash is SipHash-2-4 of the UTF-8 id with pandas' fixed key (:func:`pandas.util.hash_array`,
``hash_key="0123456789123456"``, ``categorize=False``) modulo the number of partitions: the same
id lands in the same partition on every machine, process and run.
"""

from __future__ import annotations

import urllib.parse
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from smoulder.exceptions import ColumnNotFoundError, InputDataError

__all__ = [
    "Piece",
    "DatasetLayout",
    "scan_dataset",
    "read_piece",
    "subject_keys",
    "subject_buckets",
    "HASH_KEY",
]

#: the key of the subject hash (pandas' default; never change it: partitions would move)
HASH_KEY = "0123456789123456"
_PARQUET = (".parquet", ".pq")
_EXPECTED = (
    "a folder of Parquet files (as pyarrow.dataset writes them, hive key=value folders allowed) "
    "or one Parquet file"
)


@dataclass(frozen=True)
class Piece:
    """One readable part of a dataset: a file, or one row group of a file."""

    path: str
    #: the row group, or None for the whole file
    row_group: int | None = None
    #: rows of the file before this piece (row numbers in messages count from the file's start)
    row_offset: int = 0
    rows: int = 0
    #: columns given by the hive folders (``year=2020/``), as text
    hive: tuple[tuple[str, str], ...] = ()

    @property
    def label(self) -> str:
        """How messages name the piece."""
        return self.path if self.row_group is None else f"{self.path} (row group {self.row_group})"


@dataclass
class DatasetLayout:
    """The pieces of a dataset, in a stable order (sorted paths, then row groups)."""

    root: Path
    pieces: list[Piece]
    columns: list[str]
    hive_columns: list[str] = field(default_factory=list)

    @property
    def rows(self) -> int:
        return sum(p.rows for p in self.pieces)

    @property
    def files(self) -> list[str]:
        return list(dict.fromkeys(p.path for p in self.pieces))


def _hive_parts(rel: Path) -> tuple[tuple[str, str], ...]:
    out = []
    for part in rel.parent.parts:
        if "=" in part:
            key, _, value = part.partition("=")
            out.append((urllib.parse.unquote(key), urllib.parse.unquote(value)))
    return tuple(out)


def _parquet_files(root: Path) -> list[Path]:
    # hidden and underscore files (_SUCCESS, _common_metadata, .crc) are not data, as in pyarrow
    found = [
        p
        for p in root.rglob("*")
        if p.is_file()
        and p.name.lower().endswith(_PARQUET)
        and not any(s.startswith((".", "_")) for s in p.relative_to(root).parts)
    ]
    return sorted(found, key=lambda p: p.relative_to(root).as_posix())


def _kind(t: pa.DataType) -> str:
    """A column's type as it matters here (text is text, however it is encoded)."""
    if pa.types.is_dictionary(t):
        t = t.value_type
    if pa.types.is_string(t) or pa.types.is_large_string(t):
        return "string"
    if pa.types.is_binary(t) or pa.types.is_large_binary(t):
        return "binary"
    if pa.types.is_integer(t):
        return "integer"
    if pa.types.is_floating(t):
        return "floating"
    if pa.types.is_timestamp(t) or pa.types.is_date(t):
        return "date"
    if pa.types.is_null(t):  # a column without a value (an empty file written by pandas)
        return "null"
    return str(t)


def scan_dataset(
    path: str | Path, *, required: dict[str, str] | None = None, what: str = "visits dataset"
) -> DatasetLayout:
    """List and check the pieces of a Parquet dataset.

    Parameters
    ----------
    path : path
        A folder of Parquet files (searched recursively; hive ``key=value`` folders add their
        columns) or one Parquet file (one piece per row group).
    required : mapping of role to column, optional
        Columns every file must have (``{"subject": "patient_id", ...}``).
    what : str
        What the dataset is, for messages.

    Returns
    -------
    DatasetLayout

    Raises
    ------
    InputDataError
        A missing path, no Parquet file, an unreadable file, or files whose columns differ
        (naming the file and the column); :class:`ColumnNotFoundError` for a required column
        no file has (naming the first file).
    """
    import pyarrow.parquet as pq

    root = Path(path)
    if not root.exists():
        raise InputDataError(f"the {what} does not exist", file=str(root), expected=_EXPECTED)
    if root.is_dir():
        files = _parquet_files(root)
        if not files:
            raise InputDataError(
                f"the {what} folder has no Parquet files (.parquet, .pq)",
                file=str(root),
                expected=_EXPECTED,
            )
    elif root.name.lower().endswith(_PARQUET):
        files = [root]
    else:
        raise InputDataError(f"not a Parquet {what}", file=str(root), expected=_EXPECTED)
    pieces: list[Piece] = []
    first: tuple[str, dict[str, str]] | None = None
    hive_names: list[str] = []
    for f in files:
        try:
            meta = pq.ParquetFile(f).metadata
            schema = meta.schema.to_arrow_schema()
        except (pa.ArrowInvalid, OSError) as exc:
            raise InputDataError(
                f"not a readable Parquet file ({exc})", file=str(f), expected="a Parquet file"
            ) from None
        hive = _hive_parts(f.relative_to(root)) if root.is_dir() else ()
        kinds = {n: _kind(schema.field(n).type) for n in schema.names}
        kinds.update({k: "string" for k, _ in hive if k not in kinds})
        if first is None:
            first = (str(f), kinds)
            hive_names = [k for k, _ in hive]
        else:
            _same_columns(str(f), kinds, *first)
        if len(files) == 1 and meta.num_row_groups > 1:
            offset = 0
            for k in range(meta.num_row_groups):
                n = meta.row_group(k).num_rows
                pieces.append(Piece(str(f), k, offset, n, hive))
                offset += n
        else:
            pieces.append(Piece(str(f), None, 0, meta.num_rows, hive))
    assert first is not None
    columns = list(first[1])
    for role, col in (required or {}).items():
        if col not in first[1]:
            raise ColumnNotFoundError(
                f"missing {role} column '{col}'; columns found: {', '.join(columns[:30])}",
                file=first[0],
                column=col,
            )
    return DatasetLayout(root, pieces, columns, hive_names)


def _same_columns(name: str, kinds: dict[str, str], first_name: str, first: dict[str, str]) -> None:
    for col, kind in first.items():
        if col not in kinds:
            raise InputDataError(
                f"mixed schemas: column '{col}' of {first_name} is missing here",
                file=name,
                expected="every file of the dataset with the same columns",
            )
        if kind == "null":  # learn the type from the first file that has values
            first[col] = kinds[col]
        elif kinds[col] not in (kind, "null"):
            raise InputDataError(
                f"mixed schemas: column '{col}' is {kinds[col]} here and {kind} in {first_name}",
                file=name,
                column=col,
                expected="every file of the dataset with the same column types",
            )
    extra = [c for c in kinds if c not in first]
    if extra:
        raise InputDataError(
            f"mixed schemas: column '{extra[0]}' is not in {first_name}",
            file=name,
            expected="every file of the dataset with the same columns",
        )


def read_piece(
    piece: Piece, columns: list[str] | None = None, *, subject_col: str = ""
) -> pa.Table:
    """Read one piece (``columns``, default all), the hive folder columns added as text and the
    subject column dictionary-encoded (as the single-file reader reads it)."""
    import pyarrow.parquet as pq

    hive = dict(piece.hive)
    try:
        names = pq.read_schema(piece.path).names
        wanted = [subject_col] if subject_col in names else None
        pf = pq.ParquetFile(piece.path, read_dictionary=wanted)
        cols = [c for c in (columns or names) if c in names]
        if piece.row_group is None:
            table = pf.read(columns=cols)
        else:
            table = pf.read_row_group(piece.row_group, columns=cols)
    except (pa.ArrowInvalid, OSError) as exc:
        raise InputDataError(
            f"not a readable Parquet file ({exc})", file=piece.label, expected="a Parquet file"
        ) from None
    for col in columns or list(hive):
        if col in hive and col not in table.column_names:
            value = pa.array([hive[col]], pa.string()).dictionary_encode()
            table = table.append_column(
                col,
                pa.DictionaryArray.from_arrays(
                    pa.array(np.zeros(table.num_rows, np.int32)), value.dictionary
                ),
            )
    if subject_col and subject_col in table.column_names:
        col = table.column(subject_col)
        if not pa.types.is_dictionary(col.type) and (
            pa.types.is_string(col.type) or pa.types.is_large_string(col.type)
        ):
            i = table.column_names.index(subject_col)
            table = table.set_column(i, subject_col, pc.dictionary_encode(col))
    return table


def subject_keys(table: pa.Table, subject_col: str) -> tuple[np.ndarray, pd.Index]:
    """The subject ids of a table as the contracts read them (text, spaces around removed):
    an index per row into the distinct ids (-1 for a missing id) and those ids."""
    col = table.column(subject_col)
    col = col.combine_chunks() if isinstance(col, pa.ChunkedArray) else col
    if pa.types.is_dictionary(col.type):
        col = col.dictionary.take(col.indices) if len(col) else col.dictionary.slice(0, 0)
    text = pc.utf8_trim_whitespace(col.cast(pa.string()))
    enc = pc.dictionary_encode(text)
    idx = np.asarray(enc.indices.fill_null(-1), dtype=np.int64)
    return idx, pd.Index(enc.dictionary.to_pylist(), dtype=object)


def subject_buckets(ids: pd.Index | np.ndarray, n: int) -> np.ndarray:
    """The partition (0 to ``n - 1``) of each subject id, by the stable hash of the module
    docstring."""
    values = np.asarray(ids, dtype=object)
    if not len(values):
        return np.zeros(0, dtype=np.int64)
    h = pd.util.hash_array(values, hash_key=HASH_KEY, categorize=False)
    return (h % np.uint64(max(n, 1))).astype(np.int64)


def table_rows(piece: Piece, n: int) -> np.ndarray:
    """Row numbers in the piece's file (0-based, header not counted) of its ``n`` rows."""
    return np.arange(piece.row_offset, piece.row_offset + n, dtype=np.int64)


def to_table(obj: Any) -> pa.Table:
    """An Arrow table of a DataFrame or table (for the client-side tables)."""
    return obj if isinstance(obj, pa.Table) else pa.Table.from_pandas(obj, preserve_index=False)
