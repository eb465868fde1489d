"""Array and stream helpers of the Apple Health reader (:mod:`smoulder.io.apple_health`).

Vectorised parsing of Apple's date strings, hashing of records for duplicate detection, a
set of seen hashes that grows without re-sorting everything, and the opening of the export
(zip or XML) with the document type declaration blanked out.
"""

from __future__ import annotations

import xml.parsers.expat
import zipfile
from pathlib import Path
from typing import IO, Any

import numpy as np

from smoulder.exceptions import InputDataError
from smoulder.io.tables import IngestReport


class SeenSet:
    """Hashes of records already read, as a few sorted arrays merged like a log-structured tree."""

    def __init__(self) -> None:
        self.levels: list[np.ndarray] = []

    def duplicates(self, h: np.ndarray) -> np.ndarray:
        """Mark hashes seen before (in earlier chunks or earlier in ``h``) and remember the new ones."""
        n = len(h)
        dup = np.zeros(n, dtype=bool)
        if n == 0:
            return dup
        order = np.argsort(h, kind="stable")
        hs = h[order]
        same = np.zeros(n, dtype=bool)
        same[1:] = hs[1:] == hs[:-1]
        dup[order] = same
        for lvl in self.levels:
            pos = np.minimum(np.searchsorted(lvl, h), len(lvl) - 1)
            dup |= lvl[pos] == h
        new = hs[~same]
        if len(self.levels):
            keep = np.ones(len(new), dtype=bool)
            for lvl in self.levels:
                pos = np.minimum(np.searchsorted(lvl, new), len(lvl) - 1)
                keep &= lvl[pos] != new
            new = new[keep]
        self.levels.append(new)
        while len(self.levels) > 1 and len(self.levels[-2]) <= 2 * len(self.levels[-1]):
            b = self.levels.pop()
            a = self.levels.pop()
            self.levels.append(np.sort(np.concatenate([a, b])))
        return dup


def mix64(h: np.ndarray) -> np.ndarray:
    """splitmix64 finaliser on uint64 arrays (wrapping arithmetic)."""
    h = h ^ (h >> np.uint64(30))
    h = h * np.uint64(0xBF58476D1CE4E5B9)
    h = h ^ (h >> np.uint64(27))
    h = h * np.uint64(0x94D049BB133111EB)
    return h ^ (h >> np.uint64(31))


def days_from_civil(y: np.ndarray, m: np.ndarray, d: np.ndarray) -> np.ndarray:
    """Days since 1970-01-01 of proleptic Gregorian dates (Hinnant's algorithm), vectorised."""
    y = y - (m <= 2)
    era = np.floor_divide(y, 400)
    yoe = y - era * 400
    doy = (153 * (m + np.where(m > 2, -3, 9)) + 2) // 5 + d - 1
    doe = yoe * 365 + yoe // 4 - yoe // 100 + doy
    return era * 146097 + doe - 719468


DIGITS = np.array([0, 1, 2, 3, 5, 6, 8, 9, 11, 12, 14, 15, 17, 18, 21, 22, 23, 24])
SEPS = {
    4: ord("-"),
    7: ord("-"),
    10: ord(" "),
    13: ord(":"),
    16: ord(":"),
    19: ord(" "),
    25: ord("\n"),
}
DAYS_IN_MONTH = np.array([0, 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31])


def parse_apple_dates(strs: list[Any]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Parse Apple dates ``YYYY-MM-DD hh:mm:ss +hhmm``: local seconds, offset seconds, ok flags."""
    n = len(strs)
    a: np.ndarray | None = None
    try:
        buf = ("\n".join(strs) + "\n").encode("ascii")
        if len(buf) == 26 * n:
            a = np.frombuffer(buf, dtype=np.uint8).reshape(n, 26)
    except (TypeError, UnicodeEncodeError):
        a = None
    if a is None:
        a = np.zeros((n, 26), dtype=np.uint8)
        for i, s in enumerate(strs):
            if isinstance(s, str) and len(s) == 25 and s.isascii():
                a[i, :25] = np.frombuffer(s.encode("ascii"), dtype=np.uint8)
                a[i, 25] = 10
    ok = np.ones(n, dtype=bool)
    for pos, ch in SEPS.items():
        ok &= a[:, pos] == ch
    ok &= (a[:, 20] == ord("+")) | (a[:, 20] == ord("-"))
    d = a[:, DIGITS].astype(np.int64) - 48
    ok &= ((d >= 0) & (d <= 9)).all(axis=1)
    d = np.where(ok[:, None], d, 0)
    year = d[:, 0] * 1000 + d[:, 1] * 100 + d[:, 2] * 10 + d[:, 3]
    month = d[:, 4] * 10 + d[:, 5]
    day = d[:, 6] * 10 + d[:, 7]
    hh = d[:, 8] * 10 + d[:, 9]
    mi = d[:, 10] * 10 + d[:, 11]
    ss = d[:, 12] * 10 + d[:, 13]
    oh = d[:, 14] * 10 + d[:, 15]
    om = d[:, 16] * 10 + d[:, 17]
    leap = (year % 4 == 0) & ((year % 100 != 0) | (year % 400 == 0))
    mclip = np.clip(month, 1, 12)
    dim = DAYS_IN_MONTH[mclip] + ((mclip == 2) & leap)
    ok &= (
        (month >= 1)
        & (month <= 12)
        & (day >= 1)
        & (day <= dim)
        & (hh <= 23)
        & (mi <= 59)
        & (ss <= 59)
    )
    ok &= (oh <= 14) & (om <= 59) & (year >= 1900)
    days = days_from_civil(year, mclip, np.where(ok, day, 1))
    local = days * 86400 + hh * 3600 + mi * 60 + ss
    off = np.where(a[:, 20] == ord("-"), -1, 1) * (oh * 3600 + om * 60)
    return local, off, ok


def fmt_offset(sec: int) -> str:
    sign = "+" if sec >= 0 else "-"
    sec = abs(sec)
    return f"{sign}{sec // 3600:02d}{sec % 3600 // 60:02d}"


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
