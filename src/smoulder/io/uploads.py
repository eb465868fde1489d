"""Tables given as bytes (web uploads, store imports): read into a frame of text cells.

:func:`read_text_table_bytes` takes the content of a CSV, TSV or Parquet file and the name it came
with; the content is data, never a path. The same checks as for files apply
(:mod:`smoulder.io.delimited`): what a non-table file looks like, the encoding with line and
byte, at most :data:`~smoulder.io.delimited.MAX_COLUMNS` columns, column names given twice
(named with both positions, never silently renamed ``edss.1``), rows with the wrong number of
fields (row and delimiter hint).
"""

from __future__ import annotations

import csv
import io
import re
from pathlib import Path
from typing import IO

import pandas as pd

from smoulder.exceptions import InputDataError
from smoulder.io.delimited import (
    check_header,
    delimiter_hint,
    encoding_problem,
    header_fields,
    sniff_bytes,
)

__all__ = [
    "UPLOAD_SUFFIXES",
    "EXPORT_KINDS",
    "read_text_table_bytes",
    "device_export_frame",
    "as_bytes",
]

UPLOAD_SUFFIXES = (".csv", ".tsv", ".txt", ".parquet")


def as_bytes(data: bytes | bytearray | memoryview | IO[bytes], what: str) -> bytes:
    """The bytes of ``data`` (bytes, or an open binary file); a ``str`` is refused, not guessed."""
    if hasattr(data, "read") and not isinstance(data, (bytes, bytearray, memoryview)):
        data = data.read()  # type: ignore[union-attr]
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise TypeError(
            f"{what} takes the file's content as bytes or a binary file, not "
            f"{type(data).__name__} (a str is never taken as a path or as content)"
        )
    return bytes(data)


def read_text_table_bytes(
    data: bytes | bytearray | memoryview | IO[bytes], filename: str
) -> pd.DataFrame:
    """Read CSV, TSV or Parquet content into a frame of strings (missing cells as '').

    Parameters
    ----------
    data : bytes or binary file
        The file's content.
    filename : str
        The name it came with: its suffix says the format; messages name it.

    Raises
    ------
    InputDataError
        If the type is not supported or the content is not a readable table.
    """
    raw = as_bytes(data, "read_text_table_bytes")
    name = Path(filename).name or "upload"
    suffix = Path(name).suffix.lower()
    if suffix not in UPLOAD_SUFFIXES:
        raise InputDataError(
            "unsupported file type",
            file=name,
            value=suffix or "(none)",
            expected="a .csv, .tsv or .parquet file",
        )
    if suffix == ".parquet":
        return _parquet(raw, name)
    if not raw.strip():
        raise InputDataError(
            "the file is empty", file=name, expected="a header row and at least one data row"
        )
    sniff_bytes(raw[: 1 << 20], name)
    found = encoding_problem(raw)
    if found is not None:
        line, pos, hint = found
        raise InputDataError(
            f"line {line} (byte {pos + 1:,}) is not UTF-8 text", file=name, expected=hint
        )
    text = raw.decode("utf-8-sig")
    first = text.split("\n", 1)[0]
    sep = "\t" if suffix == ".tsv" or (suffix == ".txt" and "\t" in first) else ","
    names = [c.strip() for c in header_fields(raw, sep)]
    check_header(names, name)
    try:
        df = pd.read_csv(
            io.StringIO(text),
            sep=sep,
            dtype=str,
            keep_default_na=False,
            na_filter=False,
            header=0,
            names=names,
            engine="c",
        )
    except (pd.errors.ParserError, csv.Error, ValueError) as exc:
        msg = str(exc).splitlines()[0][:160] if str(exc) else type(exc).__name__
        m = re.search(r"line (\d+)", msg)  # "Expected 3 fields in line 5, saw 4"
        row = int(m.group(1)) if m else None
        raise InputDataError(
            f"cannot parse the table ({msg})" + delimiter_hint(first, sep),
            file=name,
            row=row,
            expected=f"a header row and rows with the same number of {sep!r}-separated fields",
        ) from None
    return df


def _parquet(raw: bytes, name: str) -> pd.DataFrame:
    import pyarrow as pa
    import pyarrow.parquet as pq

    sniff_bytes(raw[:8], name, parquet_ok=True)
    try:
        names = pq.ParquetFile(io.BytesIO(raw)).schema_arrow.names
    except (pa.ArrowException, OSError, ValueError) as exc:
        raise InputDataError(
            f"not a readable Parquet file ({type(exc).__name__})",
            file=name,
            expected="a Parquet file",
        ) from None
    check_header([str(c) for c in names], name)
    try:
        df = pq.read_table(io.BytesIO(raw)).to_pandas()
    except (pa.ArrowException, OSError, ValueError) as exc:
        raise InputDataError(
            f"not a readable Parquet file ({type(exc).__name__})",
            file=name,
            expected="a Parquet file",
        ) from None
    for c in df.columns:
        s = df[c]
        if pd.api.types.is_datetime64_any_dtype(s):
            df[c] = s.dt.strftime("%Y-%m-%d")
    return df.astype(object).where(df.notna(), "").astype(str)


EXPORT_KINDS = ("fhir", "apple_health")


def device_export_frame(
    kind: str,
    data: bytes | IO[bytes],
    filename: str,
    subject: str | None = None,
    *,
    max_xml_bytes: int | None = None,
) -> pd.DataFrame:
    """Turn a FHIR R4 bundle (``.json``, or ``.ndjson`` bulk data) or an Apple Health export
    (``.zip``/``.xml``), given as bytes, into the ``devices`` long table, through the digital
    pillar's readers (imported only when used).

    The content is data, never a path: a JSON string such as ``"/etc/shadow"`` is refused as "not
    a FHIR resource". ``max_xml_bytes`` bounds the unzipped size of an Apple Health export.

    Raises
    ------
    InputDataError
        The readers are not installed, the file is not of that kind, or a record is invalid.
    """
    raw = as_bytes(data, "device_export_frame")
    name = Path(filename).name or "upload"
    suffix = Path(name).suffix.lower()
    try:
        if kind == "fhir":
            from smoulder.io.fhir import read_fhir_bytes
        elif kind == "apple_health":
            from smoulder.io.apple_health import read_apple_health_bytes
        else:
            raise InputDataError(
                "unknown export kind", value=kind, expected=" | ".join(EXPORT_KINDS)
            )
    except ImportError:
        raise InputDataError(
            f"reading {kind} exports needs the digital readers (smoulder.io.{kind}), which "
            "are not installed",
            file=name,
        ) from None
    if kind == "fhir":
        if suffix not in (".json", ".ndjson", ".jsonl"):
            raise InputDataError(
                "unsupported file type",
                file=name,
                value=suffix,
                expected="a FHIR bundle .json file or FHIR bulk data .ndjson",
            )
        df, _ = read_fhir_bytes(raw, name, subject=subject or None)
    else:
        if suffix not in (".zip", ".xml"):
            raise InputDataError(
                "unsupported file type",
                file=name,
                value=suffix,
                expected="export.zip or export.xml from the Health app",
            )
        if not subject:
            raise InputDataError(
                "an Apple Health export carries no id: give the subject",
                file=name,
                expected="the person's clinic id",
            )
        limit = {} if max_xml_bytes is None else {"max_xml_bytes": max_xml_bytes}
        df, _ = read_apple_health_bytes(raw, subject, name=name, **limit)
    out = pd.DataFrame(
        {
            "subject": df["subject"].astype(str),
            "date": pd.to_datetime(df["date"]).dt.strftime("%Y-%m-%d"),
            "measure": df["measure"].astype(str),
            "value": df["value"].astype(float).map(repr),
            "unit": df["unit"].astype(str) if "unit" in df else "",
        }
    )
    return out
