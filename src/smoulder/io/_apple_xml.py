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
import threading
import xml.parsers.expat
import zipfile
import zlib
from collections.abc import Generator
from pathlib import Path
from typing import IO, TYPE_CHECKING

from smoulder.exceptions import InputDataError
from smoulder.io.ingest import IngestReport

if TYPE_CHECKING:
    from smoulder.io._apple_reader import ProgressCallback, _Reader

_BLOCK = 1 << 20


def open_export(path: Path) -> tuple[IO[bytes], int, str]:
    """The export.xml stream of a zip or xml file, its uncompressed size and a display name."""
    if not path.exists():
        raise InputDataError("file not found", file=str(path))
    if path.is_dir():  # the unzipped folder
        found = [
            q
            for q in (path / "export.xml", path / "apple_health_export" / "export.xml")
            if q.is_file()
        ]
        if not found:
            raise InputDataError(
                "no export.xml in this folder",
                file=str(path),
                expected="export.zip, export.xml or the unzipped apple_health_export folder",
            )
        path = found[0]
    with open(path, "rb") as f:
        magic = f.read(4)
    if magic == b"PK\x03\x04" and not zipfile.is_zipfile(path):
        raise InputDataError(
            "the zip archive is incomplete or damaged (its directory at the end is missing)",
            file=str(path),
            expected="the whole export.zip as the Health app wrote it; copy it again",
        )
    if zipfile.is_zipfile(path):
        try:
            zf = zipfile.ZipFile(path)
        except (zipfile.BadZipFile, OSError) as exc:
            raise InputDataError(f"not a readable zip archive ({exc})", file=str(path)) from None
        infos = [i for i in zf.infolist() if not i.is_dir()]
        xmls = [
            i
            for i in infos
            if i.filename.lower().endswith(".xml") and "_cda" not in i.filename.lower()
        ]
        pick = [i for i in xmls if i.filename.lower().rsplit("/", 1)[-1] == "export.xml"] or xmls
        if len(pick) != 1:
            raise InputDataError(
                "cannot find export.xml in the archive",
                file=str(path),
                value=", ".join(i.filename for i in infos[:10]),
                expected="an Apple Health export.zip containing apple_health_export/export.xml",
            )
        info = pick[0]
        return zf.open(info), info.file_size, f"{path}:{info.filename}"
    return open(path, "rb"), path.stat().st_size, str(path)


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
        return head  # no end in sight: let the parser report it
    probe = xml.parsers.expat.ParserCreate()
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


class _ControlCharacters(Exception):
    """The XML holds control characters that XML 1.0 forbids: read again with them replaced."""


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
    sanitize: bool,
) -> None:
    parser = xml.parsers.expat.ParserCreate()
    reader.parser = parser
    parser.StartElementHandler = reader.handler()
    done = 0
    head: bytes | None = b""
    block = b""
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
                if not block:
                    parser.Parse(b"", True)
                    break
                parser.Parse(block, False)
                done += n
                if reader.pending() >= reader.chunk_records:
                    reader.flush()
                if progress is not None:
                    progress(done, total)
    except xml.parsers.expat.ExpatError as exc:
        invalid_token = xml.parsers.expat.errors.codes[
            xml.parsers.expat.errors.XML_ERROR_INVALID_TOKEN
        ]
        if (
            not sanitize
            and exc.code == invalid_token
            and len(block.translate(None, CTRL)) != len(block)
        ):
            raise _ControlCharacters from None
        what = xml.parsers.expat.ErrorString(exc.code) if exc.code else str(exc)
        _broken(
            reader, f"malformed or truncated XML: {what}", (exc.lineno, exc.offset + 1), on_error
        )


def _broken(reader: _Reader, message: str, where: tuple[int, int] | None, on_error: str) -> None:
    loc = f"line {where[0]}, column {where[1]}" if where else None
    if on_error != "keep-valid":
        raise InputDataError(
            message + "; nothing was imported",
            file=f"{reader.source}, {loc}" if loc else reader.source,
            expected="a complete Apple Health export (or on_error='keep-valid' to keep the "
            "records before the break)",
        )
    reader.report.warnings.append(
        f"{message} at {loc or 'an unknown place'}: records after this point were not read"
    )
    reader.report.add("file broken: the rest of the file was not read", 1, rejected=False)
