"""Reductions of one chunk of Apple Health records (:mod:`smoulder.io.apple_health`): additive
measures spread over the local clock hours they cover, sleep segments summed per night."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from smoulder.io._apple_arrays import mix64

if TYPE_CHECKING:  # pragma: no cover
    from smoulder.io._apple_reader import _Reader

ASLEEP_VALUES = frozenset(
    {
        "HKCategoryValueSleepAnalysisAsleep",
        "HKCategoryValueSleepAnalysisAsleepUnspecified",
        "HKCategoryValueSleepAnalysisAsleepCore",
        "HKCategoryValueSleepAnalysisAsleepDeep",
        "HKCategoryValueSleepAnalysisAsleepREM",
    }
)
NOT_ASLEEP_VALUES = frozenset(
    {"HKCategoryValueSleepAnalysisInBed", "HKCategoryValueSleepAnalysisAwake"}
)


def reduce_additive(
    r: _Reader,
    qi: np.ndarray,
    c: np.ndarray,
    s: np.ndarray,
    value: np.ndarray,
    ls: np.ndarray,
    us: np.ndarray,
    ue: np.ndarray,
    os_: np.ndarray,
) -> None:
    """Spread additive records (steps, flights, distance) over the local clock hours they cover,
    in proportion to time, and keep their sums per type, source, UTC hour and local day."""
    lstart = ls[qi]
    dur = ue[qi] - us[qi]
    lend = lstart + dur
    first = np.floor_divide(lstart, 3600)
    last = np.where(dur > 0, np.floor_divide(lend - 1, 3600), first)
    nb = last - first + 1
    midnight = (dur > 0) & (np.floor_divide(lstart, 86400) != np.floor_divide(lend - 1, 86400))
    r.report.add(
        "records across midnight split between days in proportion to time",
        int(midnight.sum()),
        corrected=True,
    )
    idx = np.repeat(np.arange(len(qi)), nb)
    k = np.arange(len(idx)) - np.repeat(np.cumsum(nb) - nb, nb)
    bs = (first[idx] + k) * 3600
    ov = np.minimum(bs + 3600, lend[idx]) - np.maximum(bs, lstart[idx])
    d = dur[idx]
    share = np.where(d > 0, ov / np.where(d > 0, d, 1), 1.0)
    part = pd.DataFrame(
        {
            "code": c[idx].astype(np.int16),
            "sid": s[idx].astype(np.int32),
            "ubin": bs - os_[qi][idx],
            "day": np.floor_divide(bs, 86400),
            "value": value[idx] * share,
        }
    )
    r.add_parts.append(
        part.groupby(["code", "sid", "ubin", "day"], sort=False, as_index=False)["value"].sum()
    )


def reduce_sleep(
    r: _Reader,
    si: np.ndarray,
    code: np.ndarray,
    sid: np.ndarray,
    us: np.ndarray,
    ue: np.ndarray,
    le: np.ndarray,
    lines: np.ndarray,
    vals: list[Any],
) -> None:
    """Keep the asleep segments of sleep records (rows ``si``), summed per source and night."""
    cats = np.array([vals[i] for i in si], dtype=object)
    asleep = np.array([v in ASLEEP_VALUES for v in cats], dtype=bool)
    other = np.array([v in NOT_ASLEEP_VALUES for v in cats], dtype=bool)
    unknown = ~asleep & ~other
    keep = r._bad(
        unknown,
        lines[si],
        code[si],
        "unknown sleep category",
        "value",
        lambda i: cats[i],
        "one of " + ", ".join(sorted(ASLEEP_VALUES | NOT_ASLEEP_VALUES)),
    )
    r.report.add(
        "sleep records in bed or awake (not counted as sleep)", int(other.sum()), corrected=True
    )
    if other.any():
        r.note_unusable(code[si[other]], "in bed or awake, not asleep")
    si = si[asleep & keep]
    if not len(si):
        return
    h = mix64(
        us[si].astype(np.uint64) ^ mix64(ue[si].astype(np.uint64) + np.uint64(0x9E3779B97F4A7C15))
    )
    h = mix64(h ^ (code[si].astype(np.uint64) << np.uint64(32)) ^ sid[si].astype(np.uint64))
    dup = r.seen.duplicates(h)
    if dup.any():
        r.report.add("identical duplicate records merged", int(dup.sum()), corrected=True)
        si = si[~dup]
    part = pd.DataFrame(
        {
            "sid": sid[si].astype(np.int32),
            "night": np.floor_divide(le[si] + r.sleep_shift, 86400),
            "value": (ue[si] - us[si]) / 3600.0,
        }
    )
    r.sleep_parts.append(part.groupby(["sid", "night"], sort=False, as_index=False)["value"].sum())
