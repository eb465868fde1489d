"""Single-pass checks over large columns: compiled (no temporary arrays, first offender and
count), or in blocks of rows (:func:`order_state`)."""

from __future__ import annotations

import numpy as np
from numba import njit

# value rules
RULE_EDSS, RULE_POSITIVE_TIME, RULE_SDMT, RULE_FINITE = 0, 1, 2, 3


@njit(cache=True)
def check_values(v, rule, limit):
    """Return (first missing, n missing, first bad, n bad, first code-like, n code-like, n above ``limit``, n fractional)."""
    first_nan = -1
    n_nan = 0
    first_bad = -1
    n_bad = 0
    first_code = -1
    n_code = 0
    n_high = 0
    n_frac = 0
    for i in range(v.shape[0]):
        x = v[i]
        if np.isnan(x):
            if first_nan < 0:
                first_nan = i
            n_nan += 1
            continue
        bad = False
        if rule == RULE_EDSS:
            bad = x < 0.0 or x > 10.0 or x * 2.0 != np.round(x * 2.0)
        elif rule == RULE_POSITIVE_TIME:
            bad = x <= 0.0
            if not bad and x >= 777.0:
                if first_code < 0:
                    first_code = i
                n_code += 1
            elif x > limit:
                n_high += 1
        elif rule == RULE_SDMT:
            bad = x < 0.0 or x > 110.0
            if x != np.floor(x):
                n_frac += 1
        else:
            bad = not np.isfinite(x)
        if bad:
            if first_bad < 0:
                first_bad = i
            n_bad += 1
    return first_nan, n_nan, first_bad, n_bad, first_code, n_code, n_high, n_frac


@njit(cache=True)
def check_days(days, lo, hi):
    """First day outside [lo, hi] and the count of such days."""
    first = -1
    n = 0
    for i in range(days.shape[0]):
        d = days[i]
        if d < lo or d > hi:
            if first < 0:
                first = i
            n += 1
    return first, n


#: rows compared at a time by :func:`order_state` (temporaries stay in the cache)
_ORDER_BLOCK = 1 << 18


def order_state(codes: np.ndarray, days: np.ndarray) -> tuple[bool, bool]:
    """(sorted by subject then day, any repeated subject-day) for arrays in file order.

    Codes of any integer type and days of any numeric type, compared as they are (no converted
    copies of twenty million rows), a block of rows at a time. A missing day (NaN) is neither
    before, after nor equal to another.
    """
    n = min(len(codes), len(days))
    sorted_ = True
    dup = False
    for a in range(0, max(n - 1, 0), _ORDER_BLOCK):
        b = min(n, a + _ORDER_BLOCK + 1)  # one row of overlap: each neighbour pair once
        c0, c1 = codes[a : b - 1], codes[a + 1 : b]
        d0, d1 = days[a : b - 1], days[a + 1 : b]
        same = c1 == c0
        if sorted_ and ((c1 < c0).any() or (same & (d1 < d0)).any()):
            sorted_ = False
        if not dup and (same & (d1 == d0)).any():
            dup = True
    return sorted_, dup
