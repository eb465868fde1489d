"""The compiled scan's vocabulary: named codes, and its options as one typed record.

The kernel (:mod:`smoulder.clinical._kernel`) works on integers and floats only. Every choice of
:class:`~smoulder.clinical.settings.ProgressionSettings` has a named code here (an ``IntEnum``,
which numba compiles as a constant), and :func:`scan_options` turns a settings object into the one
:class:`ScanOptions` record the kernel reads, in one place.
"""

from __future__ import annotations

import math
from enum import IntEnum
from typing import NamedTuple

import numpy as np

from smoulder.clinical.settings import ProgressionSettings


class EventMode(IntEnum):
    """Which events to report (``event``)."""

    FIRST_CDW = 0
    FIRST_CDI = 1
    FIRST = 2
    FIRST_PIRA = 3
    FIRST_RAW = 4
    MULTIPLE = 5


class BaselineMode(IntEnum):
    """Baseline scheme (``baseline``)."""

    FIXED = 0
    ROVING = 1
    ROVING_IMPR = 2
    ROVING_WORS = 3


class SubThreshold(IntEnum):
    """Which confirmed sub-threshold changes move a roving baseline (``sub_threshold_rebl``)."""

    NONE = 0
    EVENT = 1
    IMPROVEMENT = 2
    WORSENING = 3


class SkipExtrema(IntEnum):
    """Whether the baseline may sit at a local extremum (``skip_local_extrema``)."""

    NONE = 0
    STRICT = 1
    ALL = 2


class PrecedingVisit(IntEnum):
    """The visit PIRA's first relapse-free window is anchored to (``relapse_indep['prec_type']``)."""

    BASELINE = 0
    LAST = 1
    LAST_DELTA = 2


class EventType(IntEnum):
    """Type of a detected event, as the kernel writes it."""

    NONE = 0
    CDI = 1
    CDW = 2  # worsening not classified, or neither RAW nor PIRA (undefined)
    RAW = 3
    PIRA = 4


class Pirma(IntEnum):
    """Whether a PIRA event had MRI activity in its windows."""

    UNKNOWN = -1
    NO = 0  # MRI activity in the windows: PIRA, not PIRMA
    YES = 1


#: columns of the per-event integer output (global visit indices, -1 = none)
O_EVENT, O_BL, O_CONF, O_LASTDELTA, O_SUST, O_PCONF = 0, 1, 2, 3, 4, 5
N_OINT = 6

_EVENT = {
    "firstCDW": EventMode.FIRST_CDW,
    "firstCDI": EventMode.FIRST_CDI,
    "first": EventMode.FIRST,
    "firstPIRA": EventMode.FIRST_PIRA,
    "firstRAW": EventMode.FIRST_RAW,
    "multiple": EventMode.MULTIPLE,
}
_BASELINE = {
    "fixed": BaselineMode.FIXED,
    "roving": BaselineMode.ROVING,
    "roving_impr": BaselineMode.ROVING_IMPR,
    "roving_wors": BaselineMode.ROVING_WORS,
}
_SUB = {
    "none": SubThreshold.NONE,
    "event": SubThreshold.EVENT,
    "improvement": SubThreshold.IMPROVEMENT,
    "worsening": SubThreshold.WORSENING,
}
_SKIP = {"none": SkipExtrema.NONE, "strict": SkipExtrema.STRICT, "all": SkipExtrema.ALL}
_PREC = {
    "baseline": PrecedingVisit.BASELINE,
    "last": PrecedingVisit.LAST,
    "last_delta": PrecedingVisit.LAST_DELTA,
}


class ScanOptions(NamedTuple):
    """Every option of the scan, as plain numbers (built by :func:`scan_options`).

    Relapse distances are in days: ``*_after_relapse`` is the minimum (or, for ``assoc``, the
    maximum) number of days since the last relapse onset, ``*_before_relapse`` until the next one.
    """

    direction: int  # +1 when higher values are worse, -1 when lower values are
    event: int  # EventMode
    baseline: int  # BaselineMode
    proceed_from_event: bool
    sub_threshold: int  # SubThreshold
    bl_geq: bool
    relapse_rebl: bool
    skip_extrema: int  # SkipExtrema
    check_intermediate: bool
    rawpira: bool
    prec_type: int  # PrecedingVisit
    have_mri: bool
    bl_after_relapse: float
    bl_before_relapse: float
    event_after_relapse: float
    event_before_relapse: float
    conf_after_relapse: float
    conf_before_relapse: float
    assoc_after_relapse: float
    assoc_before_relapse: float
    #: PIRA's relapse-free windows: days before/after the preceding visit, the event and the
    #: confirmation (NaN: an open end that merges two windows)
    indep: tuple[float, float, float, float, float, float]
    sust_days: float
    impute_probability: float
    impute_max_follow_up: float
    #: also keep every change that was never confirmed (``return_unconfirmed``)
    record_unconfirmed: bool


def scan_options(
    s: ProgressionSettings, have_mri: bool, record_unconfirmed: bool = False
) -> ScanOptions:
    """The kernel's options for settings ``s`` (``have_mri``: an MRI activity table is given;
    ``record_unconfirmed``: keep the changes that were never confirmed)."""
    ri = s.relapse_indep
    indep: list[float] = []
    for key in ("prec", "event", "conf"):
        a, b = ri[key]
        indep += [math.nan if a is None else float(a), math.nan if b is None else float(b)]
    if s.impute_last_visit <= 1:
        imp_p, imp_fu = float(s.impute_last_visit), math.inf
    else:
        imp_p, imp_fu = 1.0, float(s.impute_last_visit)
    return ScanOptions(
        direction=int(s.minimal_change().direction),
        event=int(_EVENT[s.event]),
        baseline=int(_BASELINE[s.baseline]),
        proceed_from_event=s.proceed_from == "event",
        sub_threshold=int(_SUB[s.sub_threshold_rebl]),
        # as in msprog, bl_geq only acts when re-baselining after relapses
        bl_geq=bool(s.bl_geq and s.relapse_rebl),
        relapse_rebl=bool(s.relapse_rebl),
        skip_extrema=int(_SKIP[s.skip_local_extrema]),
        check_intermediate=bool(s.check_intermediate),
        rawpira=bool(s.rawpira),
        prec_type=int(_PREC[ri["prec_type"]]),
        have_mri=bool(have_mri),
        bl_after_relapse=float(s.relapse_to_bl[0]),
        bl_before_relapse=float(s.relapse_to_bl[1]),
        event_after_relapse=float(s.relapse_to_event[0]),
        event_before_relapse=float(s.relapse_to_event[1]),
        conf_after_relapse=float(s.relapse_to_conf[0]),
        conf_before_relapse=float(s.relapse_to_conf[1]),
        assoc_after_relapse=float(s.relapse_assoc[0]),
        assoc_before_relapse=float(s.relapse_assoc[1]),
        indep=(indep[0], indep[1], indep[2], indep[3], indep[4], indep[5]),
        sust_days=float(s.require_sust_days),
        impute_probability=imp_p,
        impute_max_follow_up=imp_fu,
        record_unconfirmed=bool(record_unconfirmed),
    )


def windows(s: ProgressionSettings) -> tuple[np.ndarray, np.ndarray]:
    """The confirmation windows as two float arrays: earliest and latest day after the event."""
    win = s.windows()
    lo = np.array([w[0] for w in win], dtype=np.float64)
    hi = np.array([w[1] for w in win], dtype=np.float64)
    return lo, hi
