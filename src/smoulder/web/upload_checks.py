"""Cheap checks of an uploaded body before any reader sees it (the web side of issue 10 items 1
and 4), so an upload costs about what its size says, whatever the readers do:

* a FHIR upload must be a JSON *object* whose ``resourceType`` is one the reader takes; a JSON
  string (which a reader might take for a path), array, number or null is refused, and so is JSON
  nested deeper than any FHIR resource;
* a table may have at most :data:`MAX_COLUMNS` columns (its header is counted, not parsed);
* an Apple Health zip may expand at most :data:`MAX_EXPANSION` times its size and hold at most
  :data:`MAX_MEMBERS` files; the XML prolog (before ``<HealthData``) is at most
  :data:`MAX_PROLOG_BYTES` long and declares no entity.

Each failure is an :class:`UploadRefused` with a status and a sentence that says what was expected.
"""

from __future__ import annotations

import io
import json
import re
import zipfile
import zlib

FHIR_TYPES = ("Bundle", "Observation", "QuestionnaireResponse")
MAX_JSON_DEPTH = 64
MAX_COLUMNS = 500
MAX_EXPANSION = 100
MAX_MEMBERS = 10_000
MAX_PROLOG_BYTES = 1024 * 1024
_JSON_KIND = {
    str: "a JSON string",
    list: "a JSON array",
    int: "a JSON number",
    float: "a JSON number",
    bool: "a JSON true/false",
    type(None): "JSON null",
}


class UploadRefused(Exception):
    """An upload refused before any reader ran: HTTP status and a message for the user."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def _too_deep(value: object, limit: int = MAX_JSON_DEPTH) -> bool:
    """True when containers nest more than ``limit`` deep (iterative; stops at the first)."""
    stack = [(value, 1)]
    while stack:
        v, depth = stack.pop()
        if depth > limit:
            return True
        if isinstance(v, dict):
            stack.extend((x, depth + 1) for x in v.values() if isinstance(x, dict | list))
        elif isinstance(v, list):
            stack.extend((x, depth + 1) for x in v if isinstance(x, dict | list))
    return False


def check_fhir(data: bytes, name: str) -> None:
    """Refuse a FHIR upload that is not a JSON object with a resourceType the reader takes."""
    expected = f"a FHIR R4 JSON object whose resourceType is {', '.join(FHIR_TYPES[:-1])} or {FHIR_TYPES[-1]}"
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise UploadRefused(422, f"{name}: not UTF-8 text; expected {expected}") from None
    deep = (
        f"{name}: not valid JSON for FHIR: nested deeper than {MAX_JSON_DEPTH} levels; "
        f"expected {expected}"
    )
    try:
        value = json.loads(text)
    except RecursionError:
        raise UploadRefused(422, deep) from None
    except json.JSONDecodeError as exc:
        raise UploadRefused(
            422,
            f"{name}: not valid JSON (line {exc.lineno}, column {exc.colno}: {exc.msg}); "
            f"expected {expected}",
        ) from None
    if _too_deep(value):
        raise UploadRefused(422, deep)
    if not isinstance(value, dict):
        kind = _JSON_KIND.get(type(value), "not a JSON object")
        raise UploadRefused(
            422, f"{name}: the upload is {kind}, not a JSON object; expected {expected}"
        )
    rtype = value.get("resourceType")
    if rtype is None:
        raise UploadRefused(422, f"{name}: no resourceType; expected {expected}")
    if rtype not in FHIR_TYPES:
        shown = repr(rtype)[:40]
        raise UploadRefused(
            422, f"{name}: resourceType {shown} is not read here; expected {expected}"
        )


def check_table(data: bytes, name: str, suffix: str) -> None:
    """Refuse a table with more than :data:`MAX_COLUMNS` columns (header counted, not parsed)."""
    if suffix == ".parquet":
        try:
            import pyarrow.parquet as pq

            n = pq.read_metadata(io.BytesIO(data)).num_columns
        except Exception:  # noqa: BLE001 - the reader reports unreadable files in its own words
            return
    else:
        head = data[: 1024 * 1024].split(b"\n", 1)[0]
        sep = b"\t" if suffix == ".tsv" or (suffix == ".txt" and b"\t" in head) else b","
        n = head.count(sep) + 1
    if n > MAX_COLUMNS:
        raise UploadRefused(
            422,
            f"{name}: the header has {n:,} columns; an import table has at most {MAX_COLUMNS} "
            "(the columns of its kind, plus any others, which are ignored)",
        )


_ENTITY = re.compile(rb"<!ENTITY", re.IGNORECASE)


def _check_prolog(head: bytes, name: str) -> None:
    root = head.find(b"<HealthData")
    prolog = head if root < 0 else head[:root]
    if root < 0 and len(head) >= MAX_PROLOG_BYTES:
        raise UploadRefused(
            422,
            f"{name}: no <HealthData> element in the first {MAX_PROLOG_BYTES // 1024} KiB "
            "(a long comment or DTD before it); expected an Apple Health export.xml",
        )
    if _ENTITY.search(prolog):
        raise UploadRefused(
            422,
            f"{name}: the XML declares entities (<!ENTITY ...>), which an Apple Health export never "
            "does; refused unread",
        )


def check_apple_health(data: bytes, name: str, suffix: str) -> None:
    """Refuse zips that expand far beyond their size and XML whose prolog is long or declares
    entities (reads at most :data:`MAX_PROLOG_BYTES` of decompressed text)."""
    if suffix == ".xml":
        _check_prolog(data[:MAX_PROLOG_BYTES], name)
        return
    try:
        zf = zipfile.ZipFile(io.BytesIO(data))
        infos = zf.infolist()
    except (zipfile.BadZipFile, OSError, ValueError):
        raise UploadRefused(422, f"{name}: not a readable zip file; expected export.zip") from None
    if len(infos) > MAX_MEMBERS:
        raise UploadRefused(
            422, f"{name}: {len(infos):,} files in the zip; at most {MAX_MEMBERS:,}"
        )
    total = sum(i.file_size for i in infos)
    if total > MAX_EXPANSION * max(len(data), 1):
        raise UploadRefused(
            422,
            f"{name}: expands {total / max(len(data), 1):,.0f} times its size ({total:,} bytes); "
            f"an Apple Health export expands at most about {MAX_EXPANSION} times",
        )
    for info in infos:
        if info.filename.rsplit("/", 1)[-1] == "export.xml":
            try:
                with zf.open(info) as fh:
                    head = fh.read(MAX_PROLOG_BYTES)
            except (zipfile.BadZipFile, OSError, ValueError, zlib.error, NotImplementedError):
                raise UploadRefused(422, f"{name}: export.xml cannot be unpacked") from None
            _check_prolog(head, f"{name}: {info.filename}")


__all__ = [
    "UploadRefused",
    "check_fhir",
    "check_table",
    "check_apple_health",
    "FHIR_TYPES",
    "MAX_COLUMNS",
]
