"""Opening and parsing an Apple Health export safely (:mod:`smoulder.io.apple_health`).

The export (a zip archive, its export.xml, or the unzipped folder; a path or bytes) is opened
with bounded costs: the zip's expansion ratio and size are checked before reading, any document
type declaration or entity declaration after the (blanked) header is refused, and no element or
attribute may grow past :data:`MAX_ELEMENT_BYTES`.
"""

from __future__ import annotations

import contextlib
import io
import queue
import re
import threading
import xml.parsers.expat
import zipfile
import zlib
from collections.abc import Callable, Generator
from pathlib import Path
from typing import IO, TYPE_CHECKING

from smoulder.exceptions import InputDataError
from smoulder.io.ingest import IngestReport

if TYPE_CHECKING:
    from smoulder.io._apple_reader import ProgressCallback, _Reader

_BLOCK = 1 << 20


#: an export.xml may be at most this many times larger than its compressed size in the zip
MAX_EXPANSION_RATIO = 200
#: the largest export.xml read (a 10-year export is a few GB)
MAX_XML_BYTES = 64 << 30
#: the longest element or attribute (Apple's records are a few hundred bytes)
MAX_ELEMENT_BYTES = 4 << 20
REFUSED_DTD = "XML entities and DTDs are not accepted"
_EXPECTED_EXPORT = (
    "export.zip from the Health app, the export.xml inside it, or the unzipped folder"
)

#: a function opening a fresh stream of the export.xml: (stream, uncompressed size, display name)
Opener = Callable[[], tuple[IO[bytes], int, str]]
#: what the report says of the clinical document found beside export.xml (it is never read)
CDA_NOT_READ = (
    "export_cda.xml (the clinical document) not read: the records are read from export.xml"
)


class _Opener:
    """An :data:`Opener` that also knows which files of the export it leaves unread."""

    def __init__(self, fn: Opener, not_read: tuple[str, ...] = ()) -> None:
        self.fn = fn
        self.not_read = not_read

    def __call__(self) -> tuple[IO[bytes], int, str]:
        return self.fn()


def files_not_read(opener: Opener) -> tuple[str, ...]:
    """Files of the export beside export.xml that are not read (export_cda.xml)."""
    return opener.not_read if isinstance(opener, _Opener) else ()


def export_opener(path: Path, max_xml_bytes: int = MAX_XML_BYTES) -> Opener:
    """Check an export on disk (zip, xml or the unzipped folder) and return its opener."""
    if path.is_dir():  # the unzipped folder
        found = [
            q
            for q in (path / "export.xml", path / "apple_health_export" / "export.xml")
            if q.is_file()
        ]
        if not found:
            raise InputDataError(
                "no export.xml in this folder", file=str(path), expected=_EXPECTED_EXPORT
            )
        path = found[0]
        if (path.parent / "export_cda.xml").is_file():
            return _Opener(export_opener(path, max_xml_bytes), ("export_cda.xml",))
    if not path.exists():
        raise InputDataError("file not found", file=str(path), expected=_EXPECTED_EXPORT)
    with open(path, "rb") as f:
        magic = f.read(4)
    if magic == b"PK\x03\x04" or zipfile.is_zipfile(path):
        return _zip_opener(path, str(path), max_xml_bytes)
    size = path.stat().st_size
    _check_size(size, str(path), max_xml_bytes)
    return lambda: (open(path, "rb"), size, str(path))


def export_bytes_opener(data: bytes, name: str, max_xml_bytes: int = MAX_XML_BYTES) -> Opener:
    """Check an export given as bytes (an upload of export.zip or export.xml); return its opener."""
    if data[:4] == b"PK\x03\x04":
        return _zip_opener(data, name, max_xml_bytes)
    _check_size(len(data), name, max_xml_bytes)
    return lambda: (io.BytesIO(data), len(data), name)


def _check_size(size: int, name: str, limit: int) -> None:
    if size > limit:
        raise InputDataError(
            f"export.xml is {size / (1 << 30):.1f} GiB",
            file=name,
            expected=f"an export.xml of at most {limit / (1 << 30):.1f} GiB",
        )


def _zip_opener(source: Path | bytes, name: str, max_xml_bytes: int) -> Opener:
    def open_zip() -> zipfile.ZipFile:
        try:
            return zipfile.ZipFile(io.BytesIO(source) if isinstance(source, bytes) else source)
        except (zipfile.BadZipFile, OSError, EOFError) as exc:
            raise InputDataError(
                "the zip archive is incomplete or damaged (its directory at the end is missing)"
                if "not a zip file" in str(exc).lower()
                else f"not a readable zip archive ({exc})",
                file=name,
                expected="the whole export.zip as the Health app wrote it; copy it again",
            ) from None

    with open_zip() as zf:
        info = _zip_member(zf, name, max_xml_bytes)
        cda = tuple(
            i.filename
            for i in zf.infolist()
            if i.filename.lower().rsplit("/", 1)[-1] == "export_cda.xml"
        )
    member = info.filename

    def opener() -> tuple[IO[bytes], int, str]:
        zf = open_zip()
        try:
            stream = zf.open(member)
        except (NotImplementedError, RuntimeError, zipfile.BadZipFile) as exc:
            zf.close()
            raise InputDataError(
                f"cannot unpack {member} ({exc})",
                file=name,
                expected="an export.zip as the Health app writes it (deflate, not encrypted)",
            ) from None
        return stream, info.file_size, f"{name}:{member}"

    return _Opener(opener, cda)


def _zip_member(zf: zipfile.ZipFile, name: str, max_xml_bytes: int) -> zipfile.ZipInfo:
    """The export.xml entry of an archive, refusing two of them and implausible expansion."""
    infos = [i for i in zf.infolist() if not i.is_dir()]
    base = [i for i in infos if i.filename.lower().rsplit("/", 1)[-1] == "export.xml"]
    if len(base) > 1:
        raise InputDataError(
            f"the archive holds {len(base)} export.xml files "
            f"({', '.join(i.filename for i in base[:5])})",
            file=name,
            expected="one Apple Health export: unzip it and give the export.xml you mean",
        )
    others = [
        i for i in infos if i.filename.lower().endswith(".xml") and "_cda" not in i.filename.lower()
    ]
    pick = base or others
    if len(pick) != 1:
        cda = [i for i in infos if "_cda" in i.filename.lower()]
        raise InputDataError(
            "the archive holds only export_cda.xml (the clinical document), not export.xml"
            if cda and not pick
            else "cannot find export.xml in the archive"
            if not pick
            else f"the archive holds {len(pick)} XML files and no export.xml",
            file=name,
            value=", ".join(i.filename for i in infos[:10]) or None,
            expected="an Apple Health export.zip containing apple_health_export/export.xml",
        )
    info = pick[0]
    if info.flag_bits & 0x1:
        raise InputDataError(
            f"{info.filename} is encrypted", file=name, expected="an export.zip without a password"
        )
    _check_size(info.file_size, f"{name}:{info.filename}", max_xml_bytes)
    ratio = info.file_size / max(info.compress_size, 1)
    if info.file_size > (1 << 20) and ratio > MAX_EXPANSION_RATIO:
        raise InputDataError(
            f"{info.filename} would expand {ratio:,.0f} times ({info.compress_size:,} bytes to "
            f"{info.file_size:,})",
            file=name,
            expected=f"an export.zip as the Health app writes it (it expands at most "
            f"{MAX_EXPANSION_RATIO} times)",
        )
    return info


CTRL = bytes(range(0, 9)) + b"\x0b\x0c" + bytes(range(14, 32))
CTRL_TABLE = bytes(32 if i in CTRL else i for i in range(256))
HEAD_LIMIT = 8 << 20


def blank_doctype(head: bytes, report: IngestReport) -> bytes:
    """Blank out the document type declaration, keeping line breaks (so line numbers stay true).

    smoulder needs nothing from Apple's internal DTD (it declares no entities and no defaults we
    use), and iOS 16 exports ship a malformed one (an ATTLIST without its closing ``>``) that
    stops every XML parser at about line 156.
    """
    i = head.find(b"<!DOCTYPE")
    if i < 0:
        return head
    bracket, close = head.find(b"[", i), head.find(b">", i)
    end = (
        head.find(b"]>", bracket) + 2
        if 0 <= bracket < close or (bracket >= 0 > close)
        else close + 1
    )
    if end <= i + 1:
        return head  # no end in sight: the parser refuses it (see secure_parser)
    if b"<!ENTITY" in head[i:end]:
        raise InputDataError(
            f"{REFUSED_DTD} (the document type declaration declares entities)",
            file=report.source,
            expected="an Apple Health export as the Health app writes it",
        )
    probe = xml.parsers.expat.ParserCreate()  # no entities can be declared: checked above
    probe.SetParamEntityParsing(xml.parsers.expat.XML_PARAM_ENTITY_PARSING_NEVER)
    try:
        probe.Parse(head[:end] + b"<HealthData/>", True)
    except xml.parsers.expat.ExpatError as exc:
        report.warnings.append(
            f"the export's document type declaration is malformed (line {exc.lineno}: "
            f"{xml.parsers.expat.ErrorString(exc.code)}; a known fault of iOS 16 exports); it was skipped"
        )
        report.add("malformed DTD skipped (the records do not depend on it)", 1)
    region = head[i:end]
    return (
        head[:i] + region.translate(bytes(10 if c == 10 else 32 for c in range(256))) + head[end:]
    )


def secure_parser() -> xml.parsers.expat.XMLParserType:
    """An expat parser that refuses any document type or entity declaration and external entity.

    The header's DTD is blanked before parsing (:func:`blank_doctype`); any other one, wherever it
    appears (after a long comment, say), stops the import, so entities are never expanded.
    """
    parser = xml.parsers.expat.ParserCreate()
    parser.SetParamEntityParsing(xml.parsers.expat.XML_PARAM_ENTITY_PARSING_NEVER)

    def refuse(*_args: object) -> int:
        raise _Refused(REFUSED_DTD)

    parser.StartDoctypeDeclHandler = refuse
    parser.EntityDeclHandler = refuse
    parser.UnparsedEntityDeclHandler = refuse
    parser.ExternalEntityRefHandler = refuse
    return parser


class _Refused(Exception):
    """Raised inside expat handlers for a construct smoulder refuses (DTDs, entities)."""


class _ControlCharacters(Exception):
    """The XML holds control characters that XML 1.0 forbids: read again with them replaced."""


class _SpacedAttributes(Exception):
    """Attribute names with spaces (iOS 8 exports with metadata from some apps, e.g. Withings'
    ``Health Mate App Version="2.6.0"``): read again with the spaces replaced by ``_``."""


#: an attribute name with spaces after the closing quote of the previous attribute; a double
#: quote cannot occur inside a double-quoted value, so ``" words with spaces="`` is always a name
_SPACED_NAME = re.compile(rb'"(\s+)([A-Za-z_][\w.\-]*(?: +[\w.\-]+)+)(=")')


def repair_spaced_names(block: bytes) -> tuple[bytes, int]:
    """Replace the spaces inside attribute names by ``_`` (same length: lines stay true).

    Parameters
    ----------
    block : bytes
        XML that ends at the end of a tag (elements never split).

    Returns
    -------
    bytes, int
        The repaired XML and the number of names repaired.

    Examples
    --------
    >>> repair_spaced_names(b'<Record source="W" Health Mate App Version="2.6.0" value="1"/>')
    (b'<Record source="W" Health_Mate_App_Version="2.6.0" value="1"/>', 1)
    """
    n = 0

    def fix(m: re.Match[bytes]) -> bytes:
        nonlocal n
        n += 1
        return b'"' + m.group(1) + m.group(2).replace(b" ", b"_") + m.group(3)

    return _SPACED_NAME.sub(fix, block), n


def _prefetch(stream: IO[bytes], size: int, depth: int = 4) -> Generator[bytes, None, None]:
    """Blocks of ``stream`` read (and unzipped) by a helper thread while the caller parses.

    Decompression and file reads release the GIL, so on two or more cores they overlap with the
    parser. At most ``depth`` blocks wait in the queue (bounded memory). The last block is
    ``b""``; a read error is raised in the caller.
    """
    q: queue.Queue[bytes | BaseException] = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def work() -> None:
        try:
            while not stop.is_set():
                b = stream.read(size)
                while not stop.is_set():
                    try:
                        q.put(b, timeout=0.1)
                        break
                    except queue.Full:
                        continue
                if not b:
                    return
        except BaseException as exc:  # handed to the caller
            while not stop.is_set():
                try:
                    q.put(exc, timeout=0.1)
                    return
                except queue.Full:
                    continue

    t = threading.Thread(target=work, name="smoulder-apple-read", daemon=True)
    t.start()
    try:
        while True:
            item = q.get()
            if isinstance(item, BaseException):
                raise item
            yield item
            if not item:
                return
    finally:
        stop.set()
        t.join()


def _parse(
    reader: _Reader,
    stream: IO[bytes],
    total: int,
    progress: ProgressCallback | None,
    on_error: str,
    fixes: frozenset[str] = frozenset(),
) -> None:
    """Parse the export into ``reader``; ``fixes`` are the repairs of a second read
    (``"control"``: control characters replaced; ``"names"``: spaced attribute names)."""
    sanitize, repair = "control" in fixes, "names" in fixes
    parser = secure_parser()
    reader.parser = parser
    parser.StartElementHandler = reader.handler()
    done = 0
    head: bytes | None = b""
    block = b""
    since_gt = 0  # bytes since the last '>': the element or attribute being read
    carry = b""  # repair mode: the bytes after the last '>' wait for the next block
    repaired = 0
    blocks = _prefetch(stream, _BLOCK)
    try:
        with stream, contextlib.closing(blocks):
            while True:
                try:
                    block = next(blocks)
                except (
                    zipfile.BadZipFile,
                    EOFError,
                    OSError,
                    io.UnsupportedOperation,
                    zlib.error,
                ) as exc:
                    _broken(reader, f"the archive is damaged ({exc})", None, on_error)
                    break
                n = len(block)
                if head is not None:
                    # hold the first bytes until the DTD (if any) is complete, then blank it
                    head += block
                    if block and b"<HealthData" not in head and len(head) < HEAD_LIMIT:
                        continue
                    block, head = blank_doctype(head, reader.report), None
                if sanitize and block:
                    clean = block.translate(CTRL_TABLE)
                    if clean != block:
                        reader.report.add(
                            "control characters (forbidden in XML) replaced by spaces",
                            sum(block.count(bytes([c])) for c in CTRL),
                            corrected=True,
                        )
                        block = clean
                if repair:
                    block, carry = carry + block, b""
                    if n:  # not the end: hold back an unfinished tag
                        cut = block.rfind(b">") + 1
                        block, carry = block[:cut], block[cut:]
                    block, k = repair_spaced_names(block)
                    repaired += k
                if not block and not n:
                    _finish(reader, parser, repaired)
                    break
                j = block.rfind(b">")
                since_gt = since_gt + len(block) if j < 0 else len(block) - j - 1
                if max(since_gt, len(carry)) > MAX_ELEMENT_BYTES:
                    raise InputDataError(
                        f"an XML element or attribute is longer than "
                        f"{MAX_ELEMENT_BYTES >> 20} MiB (after line {parser.CurrentLineNumber})",
                        file=reader.source,
                        expected="an Apple Health export as the Health app writes it (records "
                        "of a few hundred bytes); nothing was imported",
                    )
                parser.Parse(block, False)
                done += n
                if reader.pending() >= reader.chunk_records:
                    reader.flush()
                if progress is not None:
                    progress(done, total)
                if not n:  # the last bytes were held back (a header, or an unfinished tag)
                    _finish(reader, parser, repaired)
                    break
    except _Refused as exc:
        raise InputDataError(
            f"{exc} (line {parser.CurrentLineNumber}); nothing was imported",
            file=reader.source,
            expected="an Apple Health export as the Health app writes it",
        ) from None
    except xml.parsers.expat.ExpatError as exc:
        codes = xml.parsers.expat.errors.codes
        entity_errors = {
            codes[getattr(xml.parsers.expat.errors, k)]
            for k in (
                "XML_ERROR_UNDEFINED_ENTITY",
                "XML_ERROR_RECURSIVE_ENTITY_REF",
                "XML_ERROR_BINARY_ENTITY_REF",
                "XML_ERROR_ASYNC_ENTITY",
                "XML_ERROR_EXTERNAL_ENTITY_HANDLING",
                "XML_ERROR_ENTITY_DECLARED_IN_PE",
            )
            if hasattr(xml.parsers.expat.errors, k)
        }
        if exc.code in entity_errors:
            raise InputDataError(
                f"{REFUSED_DTD} (line {exc.lineno}, column {exc.offset + 1}: "
                f"{xml.parsers.expat.ErrorString(exc.code)}); nothing was imported",
                file=reader.source,
                expected="an Apple Health export as the Health app writes it",
            ) from None
        invalid_token = xml.parsers.expat.errors.codes[
            xml.parsers.expat.errors.XML_ERROR_INVALID_TOKEN
        ]
        if (
            not sanitize
            and exc.code == invalid_token
            and len(block.translate(None, CTRL)) != len(block)
        ):
            raise _ControlCharacters from None
        if not repair and exc.code == invalid_token and _SPACED_NAME.search(block):
            raise _SpacedAttributes from None
        what = xml.parsers.expat.ErrorString(exc.code) if exc.code else str(exc)
        _broken(
            reader, f"malformed or truncated XML: {what}", (exc.lineno, exc.offset + 1), on_error
        )


def _finish(reader: _Reader, parser: xml.parsers.expat.XMLParserType, repaired: int) -> None:
    if repaired:
        reader.report.add(
            "attribute names with spaces repaired (iOS 8 exports with metadata from some apps)",
            repaired,
            corrected=True,
        )
    parser.Parse(b"", True)


def _broken(reader: _Reader, message: str, where: tuple[int, int] | None, on_error: str) -> None:
    loc = f"line {where[0]}, column {where[1]}" if where else None
    if on_error != "keep-valid":
        raise InputDataError(
            message + "; nothing was imported",
            file=f"{reader.source}, {loc}" if loc else reader.source,
            expected="a complete Apple Health export (or --keep-valid to keep the records "
            "before the break)",
        )
    reader.report.warnings.append(
        f"{message} at {loc or 'an unknown place'}: records after this point were not read"
    )
    reader.report.add("file broken: the rest of the file was not read", 1, rejected=False)
