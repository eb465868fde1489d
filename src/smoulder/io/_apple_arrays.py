"""Array and stream helpers of the Apple Health reader (:mod:`smoulder.io.apple_health`).

Vectorised parsing of Apple's date strings, hashing of records for duplicate detection and a
set of seen hashes that grows without re-sorting everything.
"""

from __future__ import annotations

from typing import Any

import numpy as np


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


DAYS_IN_MONTH = np.array([0, 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31])


class _Layout:
    """Where the 18 digits (year 4, month, day, hour, minute, second, offset hours and minutes),
    the separators and the offset's sign stand in one date format."""

    def __init__(self, width: int, digits: list[int], seps: dict[int, int], sign: int) -> None:
        self.width, self.sign = width, sign
        self.digits = np.array(digits)
        self.seps = seps


#: ``2021-03-28 01:30:00 +0100``: every export since iOS 9
LONG = _Layout(
    25,
    [0, 1, 2, 3, 5, 6, 8, 9, 11, 12, 14, 15, 17, 18, 21, 22, 23, 24],
    {4: ord("-"), 7: ord("-"), 10: ord(" "), 13: ord(":"), 16: ord(":"), 19: ord(" ")},
    20,
)
#: ``20140104084300-0800``: iOS 8 exports
COMPACT = _Layout(19, [*range(14), 15, 16, 17, 18], {}, 14)


def _rows(strs: list[Any], width: int) -> np.ndarray:
    """The strings as an ``(n, width + 1)`` byte array (a newline after each); a string of
    another length or not ASCII becomes a row of zeros (not a date)."""
    n = len(strs)
    try:
        buf = ("\n".join(strs) + "\n").encode("ascii")
        if len(buf) == (width + 1) * n:
            return np.frombuffer(buf, dtype=np.uint8).reshape(n, width + 1)
    except (TypeError, UnicodeEncodeError):
        pass
    a = np.zeros((n, width + 1), dtype=np.uint8)
    for i, s in enumerate(strs):
        if isinstance(s, str) and len(s) == width and s.isascii():
            a[i, :width] = np.frombuffer(s.encode("ascii"), dtype=np.uint8)
            a[i, width] = 10
    return a


def _parse(a: np.ndarray, lay: _Layout) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    ok = a[:, lay.width] == 10
    for pos, ch in lay.seps.items():
        ok &= a[:, pos] == ch
    ok &= (a[:, lay.sign] == ord("+")) | (a[:, lay.sign] == ord("-"))
    d = a[:, lay.digits].astype(np.int64) - 48
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
    off = np.where(a[:, lay.sign] == ord("-"), -1, 1) * (oh * 3600 + om * 60)
    return local, off, ok


def parse_apple_dates(strs: list[Any]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Parse Apple dates: local seconds, offset seconds and ok flags, vectorised.

    ``2021-03-28 01:30:00 +0100`` (every export since iOS 9) and the compact
    ``20140104084300-0800`` of iOS 8 exports; both may appear in one list.

    Parameters
    ----------
    strs : list of str
        The attribute values (``None`` or anything else is not a date).

    Returns
    -------
    local, offset : array of int64
        Seconds since 1970-01-01 on the local clock, and the UTC offset in seconds.
    ok : array of bool
        Which strings were dates.

    Examples
    --------
    >>> local, off, ok = parse_apple_dates(["2014-01-04 08:43:00 -0800", "20140104084300-0800"])
    >>> local.tolist() == [local[0]] * 2, off.tolist(), ok.tolist()
    (True, [-28800, -28800], [True, True])
    """
    n = len(strs)
    local, off, ok = _parse(_rows(strs, LONG.width), LONG)
    if ok.all() or n == 0:
        return local, off, ok
    rest = np.flatnonzero(~ok)
    sub = [strs[i] for i in rest.tolist()]
    if not any(isinstance(s, str) and len(s) == COMPACT.width for s in sub):
        return local, off, ok
    loc2, off2, ok2 = _parse(_rows(sub, COMPACT.width), COMPACT)
    local[rest], off[rest], ok[rest] = loc2, off2, ok2
    return local, off, ok


def fmt_offset(sec: int) -> str:
    sign = "+" if sec >= 0 else "-"
    sec = abs(sec)
    return f"{sign}{sec // 3600:02d}{sec % 3600 // 60:02d}"
