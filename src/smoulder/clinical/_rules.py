"""The compiled building blocks of the scan (numba): comparisons, confirmation, relapse windows.

Each function works on one subject's arrays: ``v`` values, ``dl`` the minimal change at each visit
taken as a baseline, ``t`` days, ``okc`` whether a visit may confirm. ``dirn`` is +1 when higher
values are worse and -1 when lower values are. See :mod:`smoulder.clinical._kernel` for the scan.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from smoulder.clinical._codes import SkipExtrema


@njit(cache=True)
def wors(x, b, d, dirn, st):  # pragma: no cover - compiled
    """``x`` is worse than the reference ``b`` by at least ``d`` (by anything, with ``st``)."""
    if st:
        return x > b if dirn > 0 else x < b
    return (x - b >= d) if dirn > 0 else (x - b <= -d)


@njit(cache=True)
def impr(x, b, d, dirn, st):  # pragma: no cover - compiled
    """``x`` is better than the reference ``b`` by at least ``d`` (by anything, with ``st``)."""
    if st:
        return x < b if dirn > 0 else x > b
    return (x - b <= -d) if dirn > 0 else (x - b >= d)


@njit(cache=True)
def local_extremum(v, dl, i, n, dirn, skip):  # pragma: no cover - compiled
    """Whether visit ``i`` is a (strict) local minimum or maximum."""
    if skip == SkipExtrema.NONE:
        return False
    st = skip == SkipExtrema.ALL
    prec = v[i] if i == 0 else v[i - 1]
    subs = v[i] if i == n - 1 else v[i + 1]
    vis = v[i]
    d = dl[i]
    extr = (wors(prec, vis, d, dirn, st) and wors(subs, vis, d, dirn, st)) or (
        impr(prec, vis, d, dirn, st) and impr(subs, vis, d, dirn, st)
    )
    # an undulating course (same value two visits back) is not an extremum
    if i >= 2 and vis == v[i - 2]:
        return False
    return extr


@njit(cache=True)
def is_dir(x, b, d, dirn, worsening):  # pragma: no cover - compiled
    """A meaningful worsening (or, with ``worsening`` false, improvement) from ``b``."""
    st = b != b  # False, typed as a boolean (a literal would be compiled apart)
    if worsening:
        return wors(x, b, d, dirn, st)
    return impr(x, b, d, dirn, st)


@njit(cache=True)
def held(v, c, conf0, b, d, dirn, worsening, st, check_int):  # pragma: no cover - compiled
    """The change from ``b`` seen at visit ``c`` is still there at the confirmation visit
    ``conf0`` (and, with ``check_int``, at every visit in between)."""
    if worsening:
        if not wors(v[c], b, d, dirn, st):
            return False
    elif not impr(v[c], b, d, dirn, st):
        return False
    if not check_int:
        return wors(v[conf0], b, d, dirn, st) if worsening else impr(v[conf0], b, d, dirn, st)
    for x in range(c + 1, conf0 + 1):
        if worsening:
            if not wors(v[x], b, d, dirn, st):
                return False
        elif not impr(v[x], b, d, dirn, st):
            return False
    return True


@njit(cache=True)
def last_delta(v, dl, c, conf0, n, dirn, worsening, skip, check_int):  # pragma: no cover
    """Last visit before ``c`` from which the event's change is meaningful (0 if none).

    As msprog's ``find_last_delta_idx``: walking back from the event, the first visit that is no
    local extremum (under ``skip``) and from which both the event and every visit up to the first
    confirmation (only the confirmation, without ``check_int``) differ meaningfully.
    """
    iref = c
    while iref > 1:
        iref -= 1
        if local_extremum(v, dl, iref, n, dirn, skip):
            continue
        if not is_dir(v[c], v[iref], dl[iref], dirn, worsening):
            continue
        ok = True
        if check_int:
            for x in range(c + 1, conf0 + 1):
                if not is_dir(v[x], v[iref], dl[iref], dirn, worsening):
                    ok = False
                    break
        else:
            ok = is_dir(v[conf0], v[iref], dl[iref], dirn, worsening)
        if ok:
            return iref
    return 0


@njit(cache=True)
def in_window(dt, lo, hi, w):  # pragma: no cover - compiled
    """``dt`` days after the event lie in confirmation window ``w`` (any window if ``w < 0``)."""
    if w >= 0:
        return lo[w] <= dt <= hi[w]
    for k in range(lo.shape[0]):
        if lo[k] <= dt <= hi[k]:
            return True
    return False


@njit(cache=True)
def first_conf(t, okc, c, limit, lo, hi, w):  # pragma: no cover - compiled
    """First confirmation visit after ``c`` and before ``limit`` in window ``w`` (-1: any)."""
    for x in range(c + 1, limit):
        if okc[x] and in_window(t[x] - t[c], lo, hi, w):
            return x
    return -1


@njit(cache=True)
def first_at_or_after(days, t0):  # pragma: no cover - compiled
    """Position of the first of the sorted ``days`` that is ``>= t0`` (binary search)."""
    a = 0
    b = days.shape[0]
    while a < b:
        m = (a + b) // 2
        if days[m] < t0:
            a = m + 1
        else:
            b = m
    return a


@njit(cache=True)
def first_after(days, t0):  # pragma: no cover - compiled
    """Position of the first of the sorted ``days`` that is ``> t0`` (binary search)."""
    a = 0
    b = days.shape[0]
    while a < b:
        m = (a + b) // 2
        if days[m] <= t0:
            a = m + 1
        else:
            b = m
    return a


@njit(cache=True)
def hits(days, t0, t1):  # pragma: no cover - compiled
    """Whether any of the sorted ``days`` falls in [t0, t1]."""
    j = first_at_or_after(days, t0)
    return j < days.shape[0] and days[j] <= t1


@njit(cache=True)
def window_free(days, tprec, tev, tconf, ri):  # pragma: no cover - compiled
    """No day of ``days`` inside the PIRA windows around the three checkpoints.

    ``ri`` holds (before, after) days for the preceding visit, the event and the confirmation;
    a NaN end is open: the window goes on to the next checkpoint's end (msprog's ``NULL``).
    """
    t0 = np.nan
    t1 = np.nan
    for k in range(3):
        tk = tprec if k == 0 else (tev if k == 1 else tconf)
        a = ri[2 * k]
        b = ri[2 * k + 1]
        if not np.isnan(a):
            t0 = tk - a
        if not np.isnan(b):
            t1 = tk + b
            if t1 > t0 and hits(days, t0, t1):
                return False
    return True


@njit(cache=True)
def rand01(seed, salt):  # pragma: no cover - compiled
    """Deterministic uniform number in [0, 1) from two 64-bit integers (splitmix64)."""
    z = np.uint64(seed) ^ (np.uint64(salt) * np.uint64(0x9E3779B97F4A7C15))
    z = z + np.uint64(0x9E3779B97F4A7C15)
    z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    z = z ^ (z >> np.uint64(31))
    return (z >> np.uint64(11)) * (1.0 / 9007199254740992.0)
