"""gzip answers assembled from independently compressed pieces.

A person page is one cached part (the record, the same for every clinician who opens it until the
data change) between two small parts made for each request (the signed-in user and their CSRF
token above it, the access list below it). Compressing the whole 40 KB page on every request
would cost more than it saves; here the cached part is compressed once and kept, and the small
parts made for the request are not compressed at all: they go as *stored* deflate blocks (their
bytes as they are, behind a 5-byte block header), which costs nothing.

Each compressed piece is raw deflate ended by a *full flush*: the output ends on a byte boundary
and the next piece refers to nothing before it, so pieces made separately concatenate into one
valid deflate stream (the technique of parallel gzip tools). The gzip trailer's CRC-32 runs over
the whole uncompressed answer.

It also keeps secrets out of reach of compression side channels (BREACH): the part holding the
CSRF token is never compressed, and no compressed piece shares a window with another, so the
record's compressed size does not depend on anything the request chose. Pages that echo the
request's own input (a cohort filter) are not compressed this way.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterable, Mapping

# gzip header: magic, deflate, no flags, no time stamp, no extra flags, OS unknown
_HEADER = b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\xff"
_LEVEL = 6
# the final empty block of a deflate stream (BFINAL=1, fixed Huffman, end of block)
_FINAL = zlib.compressobj(_LEVEL, zlib.DEFLATED, -15).flush(zlib.Z_FINISH)
MIN_BYTES = 1024  # below this gzip's own 18 bytes and the CPU are not worth it


def deflate_piece(data: bytes, level: int = _LEVEL) -> bytes:
    """``data`` as raw deflate blocks that end on a full flush (no final block)."""
    c = zlib.compressobj(level, zlib.DEFLATED, -15)
    return c.compress(data) + c.flush(zlib.Z_FULL_FLUSH)


_STORED_MAX = 65535  # the most bytes one stored block holds


def stored_piece(data: bytes) -> bytes:
    """``data`` as stored (uncompressed) deflate blocks, none of them final (RFC 1951, 3.2.4).

    The stream is on a byte boundary here (after the gzip header or a full flush), so each block's
    three header bits and their padding make one zero byte, then LEN and its complement."""
    out = []
    for i in range(0, len(data), _STORED_MAX):
        chunk = data[i : i + _STORED_MAX]
        n = len(chunk)
        out.append(b"\x00" + n.to_bytes(2, "little") + (n ^ 0xFFFF).to_bytes(2, "little"))
        out.append(chunk)
    return b"".join(out)


class Piece:
    """Bytes of an answer that are sent many times: compressed once, on first use."""

    __slots__ = ("data", "_deflated")

    def __init__(self, data: bytes) -> None:
        self.data = data
        self._deflated: bytes | None = None

    @property
    def deflated(self) -> bytes:
        if self._deflated is None:  # a race only computes the same bytes twice
            self._deflated = deflate_piece(self.data)
        return self._deflated


def gzip_join(pieces: Iterable[bytes | Piece]) -> bytes:
    """One gzip member whose uncompressed content is the pieces in order.

    :class:`Piece` pieces go in their kept compressed form; ``bytes`` pieces (made for this
    request) go uncompressed, as stored blocks."""
    out = [_HEADER]
    crc = 0
    size = 0
    for p in pieces:
        data = p.data if isinstance(p, Piece) else p
        if not data:
            continue
        out.append(p.deflated if isinstance(p, Piece) else stored_piece(data))
        crc = zlib.crc32(data, crc)
        size += len(data)
    out.append(_FINAL)
    out.append(crc.to_bytes(4, "little") + (size & 0xFFFFFFFF).to_bytes(4, "little"))
    return b"".join(out)


def accepts_gzip(headers: Mapping[str, str]) -> bool:
    """Whether the request's ``Accept-Encoding`` allows gzip (``gzip`` or ``*`` with q > 0)."""
    value = headers.get("accept-encoding", "")
    if not value:
        return False
    ok = {}
    for item in value.lower().split(","):
        name, _, params = item.strip().partition(";")
        q = 1.0
        for param in params.split(";"):
            k, _, v = param.strip().partition("=")
            if k == "q":
                try:
                    q = float(v)
                except ValueError:
                    q = 0.0
        ok[name.strip()] = q > 0
    if "gzip" in ok:
        return ok["gzip"]
    return ok.get("*", False)


def encoded(pieces: list[bytes | Piece], gzip: bool) -> tuple[bytes, dict[str, str]]:
    """The answer's body and the headers that go with it (``Vary`` always: a cache in between
    must not give a gzip answer to a client that did not ask for it)."""
    headers = {"vary": "Accept-Encoding"}
    total = sum(len(p.data if isinstance(p, Piece) else p) for p in pieces)
    if not gzip or total < MIN_BYTES:
        return b"".join(p.data if isinstance(p, Piece) else p for p in pieces), headers
    headers["content-encoding"] = "gzip"
    return gzip_join(pieces), headers


__all__ = [
    "Piece",
    "accepts_gzip",
    "deflate_piece",
    "encoded",
    "gzip_join",
    "stored_piece",
    "MIN_BYTES",
]
