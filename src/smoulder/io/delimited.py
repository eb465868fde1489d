"""Opening table files (CSV, TSV, Parquet) with the checks every reader shares.

Before a table is parsed its first bytes are looked at, so that a file which is not a text table
gets a message saying what it is (an Excel workbook, a zip archive, a Parquet file under a
``.csv`` name, UTF-16 text, binary data) instead of a parser error or a traceback; the header is
checked for its number of columns (at most :data:`MAX_COLUMNS`, so that a header-only file of
10,000 columns costs milliseconds, not seconds) and for names given twice (named with both
positions). Parser errors are translated: a row with the wrong number of fields names its row and
the delimiter the header seems to use (``--sep``); text that is not UTF-8 names the line and byte
and the encoding it looks like.

Every function here takes either a path (:func:`read_arrow_file`) or bytes
(:func:`sniff_bytes`, :func:`header_fields`, :func:`encoding_problem`); none guesses which.
"""

from __future__ import annotations

import csv
import io
import os
from collections.abc import Sequence
from pathlib import Path

import pyarrow as pa

from smoulder.exceptions import InputDataError, SettingsError
from smoulder.io.outputs import check_input_file, suffix_of

__all__ = [
    "MAX_COLUMNS",
    "HEAD_BYTES",
    "NULL_VALUES",
    "SEPARATORS",
    "parse_sep",
    "sniff_bytes",
    "header_fields",
    "check_header",
    "encoding_problem",
    "delimiter_hint",
    "read_arrow_file",
    "renamed_error",
]

#: the most columns a table may have (clinic tables have tens)
MAX_COLUMNS = 1000
#: bytes looked at before parsing
HEAD_BYTES = 1 << 20
NULL_VALUES = ["", "NA", "N/A", "n/a", "NaN", "nan", "NULL", "null"]
#: names of separators for ``--sep``
SEPARATORS = {",": ",", ";": ";", "tab": "\t", "\\t": "\t", "\t": "\t", "|": "|"}
_EXPECTED_TABLE = "a CSV, TSV or Parquet table saved as UTF-8 text (or Parquet)"
_PARQUET = (".parquet", ".pq")


def parse_sep(text: str | None) -> str | None:
    """The separator character for a ``--sep`` value (``,``, ``;``, ``tab``, ``|``), or None."""
    if text is None:
        return None
    sep = SEPARATORS.get(text.lower() if text.strip() else text)
    if sep is None:
        raise SettingsError(f"--sep must be one of , ; tab | (got {text!r})")
    return sep


def _sep_name(sep: str) -> str:
    return "tab" if sep == "\t" else repr(sep)


# --------------------------------------------------------------------------- sniffing
def sniff_bytes(head: bytes, name: str, *, parquet_ok: bool = False) -> None:
    """Refuse bytes that are not a UTF-8 text table, saying what they look like.

    Parameters
    ----------
    head : bytes
        The first bytes of the file (up to :data:`HEAD_BYTES`).
    name : str
        The file name for messages.
    parquet_ok : bool
        Whether the name says Parquet (then Parquet bytes are expected, and anything else refused).
    """
    is_parquet = head[:4] == b"PAR1"
    if parquet_ok:
        if not is_parquet:
            raise InputDataError(
                "is not a Parquet file (it does not start with PAR1)",
                file=name,
                expected="a Parquet file, or a CSV/TSV file named .csv or .tsv",
            )
        return
    if is_parquet:
        raise InputDataError(
            "is a Parquet file under a text-table name",
            file=name,
            expected="the .parquet suffix for Parquet files",
        )
    known = (
        (b"PK\x03\x04", "a zip archive or an Excel workbook (.xlsx)"),
        (b"\xd0\xcf\x11\xe0", "an old Excel workbook (.xls)"),
        (b"%PDF", "a PDF document"),
        (b"\x1f\x8b", "gzip-compressed data"),
        (b"SQLite format 3", "an SQLite database"),
    )
    for magic, what in known:
        if head.startswith(magic):
            extra = "; name it .csv.gz to read it compressed" if magic == b"\x1f\x8b" else ""
            raise InputDataError(
                f"is not a text table: it looks like {what}{extra}",
                file=name,
                expected="a table saved as CSV (UTF-8)",
            )
    if head.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise InputDataError(
            "is UTF-16 text (Excel's 'Unicode text')",
            file=name,
            expected="the table saved as 'CSV UTF-8'",
        )
    sample = head[:65536]
    if b"\x00" in sample:
        raise InputDataError(
            "is not a text table (binary data: it holds NUL bytes)",
            file=name,
            expected="a table saved as CSV (UTF-8)",
        )
    if sample and sum(b < 9 or 13 < b < 32 for b in sample[:4096]) > len(sample[:4096]) // 20:
        raise InputDataError(
            "is not a text table (binary data: control characters)",
            file=name,
            expected="a table saved as CSV (UTF-8)",
        )


def header_fields(head: bytes, sep: str) -> list[str]:
    """The names in the first line of ``head`` (quotes handled), as text."""
    if head.startswith(b"\xef\xbb\xbf"):
        head = head[3:]
    end = head.find(b"\n")
    line = head if end < 0 else head[:end]
    text = line.decode("utf-8", errors="replace").rstrip("\r")
    return next(csv.reader([text], delimiter=sep), [])


def check_header(names: Sequence[str], name: str) -> None:
    """Refuse more than :data:`MAX_COLUMNS` columns and names given twice (in linear time)."""
    if len(names) > MAX_COLUMNS:
        raise InputDataError(
            f"the table has {len(names):,} columns",
            file=name,
            expected=f"at most {MAX_COLUMNS:,} columns (a clinic table has tens)",
        )
    first: dict[str, int] = {}
    for i, raw in enumerate(names, start=1):
        key = str(raw).strip()
        if key in first:
            shown = key if key else "(empty)"
            raise InputDataError(
                f"column '{shown}' appears twice (columns {first[key]} and {i})",
                file=name,
                row=1,
                expected="each column name once; rename or remove one of them",
            )
        first[key] = i


def delimiter_hint(header: bytes | str, sep: str) -> str:
    """A hint naming the delimiter the header seems to use, when it is not ``sep`` ('' if none)."""
    text = header.decode("utf-8", errors="replace") if isinstance(header, bytes) else header
    text = text.split("\n", 1)[0]
    counts = {c: text.count(c) for c in (",", ";", "\t", "|") if c != sep}
    best = max(counts, key=counts.__getitem__)
    if counts[best] == 0 or counts[best] <= text.count(sep):
        return ""
    hint = (
        f"; the header has {text.count(sep)} {_sep_name(sep)} but {counts[best]} "
        f"{_sep_name(best)}: the file looks {_sep_name(best)}-separated, use --sep "
        f"{'tab' if best == chr(9) else best}"
    )
    if best == ";" and sep == ",":
        hint += " (and decimal points, not commas, in numbers)"
    return hint


def encoding_problem(data: bytes, start_line: int = 1) -> tuple[int, int, str] | None:
    """The line, byte offset and an encoding hint of the first bytes that are not UTF-8, or None."""
    try:
        data.decode("utf-8")
        return None
    except UnicodeDecodeError as exc:
        pos = exc.start
    line = data.count(b"\n", 0, pos) + start_line
    lo = data.rfind(b"\n", 0, pos) + 1
    hi = data.find(b"\n", pos)
    chunk = data[lo : hi if hi >= 0 else len(data)]
    try:
        shown = chunk.decode("cp1252")
        hint = (
            f"it looks like Latin-1/Windows-1252 text ({shown[:40]!r}); re-save the file as "
            "UTF-8 (in Excel: 'CSV UTF-8')"
        )
    except UnicodeDecodeError:
        hint = "re-save the file as UTF-8 text"
    return line, pos, hint


def _encoding_error(path: Path) -> InputDataError | None:
    done = 0
    line = 1
    with _open_text_bytes(path) as f:
        carry = b""
        while True:
            block = f.read(1 << 24)
            if not block:
                break
            data = carry + block
            # do not split a multi-byte character at the block end
            cut = len(data)
            while cut > 0 and len(data) - cut < 3 and (data[cut - 1] & 0xC0) == 0x80:
                cut -= 1
            if cut > 0 and data[cut - 1] >= 0xC0:
                cut -= 1
            part, carry = data[:cut], data[cut:]
            found = encoding_problem(part, line)
            if found is not None:
                ln, pos, hint = found
                return InputDataError(
                    f"line {ln} (byte {done + pos + 1:,}) is not UTF-8 text",
                    file=str(path),
                    expected=hint,
                )
            line += part.count(b"\n")
            done += len(part)
    return None


def _open_text_bytes(path: Path) -> io.BufferedIOBase:
    if suffix_of(path) in (".csv.gz", ".tsv.gz"):
        import gzip

        return gzip.open(path, "rb")  # type: ignore[return-value]
    return open(path, "rb")


def renamed_error(exc: InputDataError, old: str, new: str) -> InputDataError:
    """The same error naming ``new`` (an upload's name) instead of ``old`` (the temporary file)."""
    out = InputDataError(str(exc.args[0]).replace(old, new) if exc.args else str(exc))
    out.file = new if exc.file is None else str(exc.file).replace(old, new)
    out.row, out.column, out.value, out.expected = exc.row, exc.column, exc.value, exc.expected
    return out


# --------------------------------------------------------------------------- reading
def read_arrow_file(
    path: str | os.PathLike[str],
    *,
    string_cols: Sequence[str] = (),
    dictionary_cols: Sequence[str] = (),
    sep: str | None = None,
    what: str = "table",
    columns: Sequence[str] | None = None,
) -> pa.Table:
    """Read a CSV/TSV/Parquet file into an Arrow table after the shared checks.

    Parameters
    ----------
    path : path-like
        A file on disk (never content).
    string_cols, dictionary_cols : sequence of str
        Columns read as text, or as dictionary-encoded text (ids), whatever they look like.
    sep : str, optional
        The field separator; default by suffix (tab for ``.tsv``, comma otherwise).
    what : str
        What the table is, for messages ("visits table").
    columns : sequence of str, optional
        Only these columns of a Parquet file, those it has, in the file's order (the other
        columns are never decoded); text tables are read whole (every row's fields are checked).

    Raises
    ------
    InputDataError
        Naming the file (and row, line or column) and the expected form.
    """
    import pyarrow.csv as pacsv
    import pyarrow.parquet as pq

    p = check_input_file(path, what, expected=_EXPECTED_TABLE)
    suf = suffix_of(p)
    with _open_text_bytes(p) as f:
        try:
            head = f.read(HEAD_BYTES)
        except (OSError, EOFError) as exc:
            raise InputDataError(
                f"cannot read the file ({exc})", file=str(p), expected=_EXPECTED_TABLE
            ) from None
    if suf in _PARQUET:
        sniff_bytes(head, str(p), parquet_ok=True)
        try:
            # one open of the file, and not through pyarrow.dataset (a tenth of a second of
            # imports for one file): the same table as pq.read_table gives
            names = pq.read_schema(p).names
            check_header(names, str(p))
            wanted = [c for c in dictionary_cols if c in names]
            only = None if columns is None else [c for c in names if c in set(columns)]
            with pq.ParquetFile(p, read_dictionary=wanted) as pf:
                return pf.read(columns=only)
        except (pa.ArrowInvalid, OSError) as exc:
            raise InputDataError(
                f"not a readable Parquet file ({exc})", file=str(p), expected="a Parquet file"
            ) from None
    if not head.strip():
        raise InputDataError(
            "the file is empty", file=str(p), expected="a header row and at least one data row"
        )
    sniff_bytes(head, str(p))
    delim = sep or ("\t" if suf.startswith(".tsv") else ",")
    names = header_fields(head, delim)
    if b"\n" not in head and len(head) >= HEAD_BYTES:
        raise InputDataError(
            f"the first line is longer than {HEAD_BYTES // (1 << 20)} MiB",
            file=str(p),
            expected=f"a header row of at most {MAX_COLUMNS:,} column names",
        )
    check_header(names, str(p))
    column_types: dict[str, pa.DataType] = {c: pa.string() for c in string_cols}
    column_types.update({c: pa.dictionary(pa.int32(), pa.string()) for c in dictionary_cols})
    convert = pacsv.ConvertOptions(
        column_types=column_types, strings_can_be_null=True, null_values=NULL_VALUES
    )
    parse = pacsv.ParseOptions(delimiter=delim)

    def read(threads: bool) -> pa.Table:
        return pacsv.read_csv(
            p,
            parse_options=parse,
            convert_options=convert,
            read_options=pacsv.ReadOptions(block_size=1 << 24, use_threads=threads),
        )

    try:
        table = read(True)
    except pa.ArrowInvalid as exc:
        msg = str(exc)
    except UnicodeDecodeError:
        msg = "invalid UTF8"
    else:
        if any(pa.types.is_binary(t) or pa.types.is_large_binary(t) for t in table.schema.types):
            # pyarrow reads a column that is not UTF-8 as bytes: say where and what it looks like
            found = _encoding_error(p)
            if found is not None:
                raise found
        return table
    raise _translate(msg, p, head, delim, read) from None


def _translate(msg: str, p: Path, head: bytes, delim: str, read) -> InputDataError:  # noqa: ANN001
    if "Empty CSV file" in msg:
        return InputDataError(
            "the file is empty", file=str(p), expected="a header row and at least one data row"
        )
    if "invalid UTF8" in msg or "UTF8" in msg:
        found = _encoding_error(p)
        if found is not None:
            return found
    if "Expected" in msg and "columns" in msg:
        if "Row #" not in msg:
            try:  # single-threaded, pyarrow knows the row number
                read(False)
            except pa.ArrowInvalid as again:
                msg = str(again)
        body = msg.split("CSV parse error: ", 1)[-1]
        row = None
        if body.startswith("Row #"):
            num, _, body = body[5:].partition(": ")
            row = int(num) if num.isdigit() else None
        detail, _, text = body.partition(": ")
        return InputDataError(
            f"{detail.replace('Expected', 'expected')} (as many as the header)"
            + delimiter_hint(head, delim),
            file=str(p),
            row=row,
            value=text[:80] or None,
            expected=f"every row with the same number of {_sep_name(delim)}-separated fields as "
            "the header",
        )
    if "straddling" in msg or "block size" in msg:
        return InputDataError(
            "a row is longer than 16 MiB (an unclosed quote?)",
            file=str(p),
            expected="rows of ordinary length with every quote closed",
        )
    return InputDataError(
        f"cannot parse the file: {msg.splitlines()[0][:200]}",
        file=str(p),
        expected=_EXPECTED_TABLE,
    )
