"""Records and small helpers of the compiled scan (numba): one subject's visits, rows of events,
a thread's scratch space, relapse distances and the choice of events to report.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
from numba import njit

from smoulder.clinical._codes import N_OINT, O_EVENT, EventMode, EventType


class Visits(NamedTuple):
    """One subject's visits (days ``t``, values ``v``, minimal change ``dl``, may-confirm ``vc``)
    and event days (relapse onsets, active MRI scans, all MRI scans), each sorted."""

    t: np.ndarray
    v: np.ndarray
    dl: np.ndarray
    vc: np.ndarray
    rel: np.ndarray
    mri_act: np.ndarray
    mri_all: np.ndarray


class Events(NamedTuple):
    """Rows of events: visit indices (``ints``, columns ``O_*``), type, PIRMA, baseline value,
    imputed, and the confirmation visit per window (all and PIRA)."""

    ints: np.ndarray
    etype: np.ndarray
    pirma: np.ndarray
    blval: np.ndarray
    imputed: np.ndarray
    conf_w: np.ndarray
    pconf_w: np.ndarray


class Unconfirmed(NamedTuple):
    """Rows of changes that were never confirmed (msprog's ``unconfirmed``): the change visit,
    the baseline visit and value, and the days since the last and to the next relapse onset."""

    change: np.ndarray
    bl: np.ndarray
    blval: np.ndarray
    since_relapse: np.ndarray
    to_relapse: np.ndarray


class Scratch(NamedTuple):
    """Working space of one thread: relapse distances, may-confirm flags, detections."""

    crm: np.ndarray
    crp: np.ndarray
    okc: np.ndarray
    found: Events
    wconf: np.ndarray
    pconf_w: np.ndarray
    unconf: Unconfirmed


@njit(cache=True)
def new_unconfirmed(n):  # pragma: no cover - compiled
    return Unconfirmed(
        np.empty(n, dtype=np.int32),
        np.empty(n, dtype=np.int32),
        np.empty(n),
        np.empty(n),
        np.empty(n),
    )


@njit(cache=True)
def new_events(n, nw):  # pragma: no cover - compiled
    return Events(
        np.empty((n, N_OINT), dtype=np.int32),
        np.empty(n, dtype=np.int8),
        np.empty(n, dtype=np.int8),
        np.empty(n),
        np.empty(n, dtype=np.bool_),
        np.empty((n, nw), dtype=np.int32),
        np.empty((n, nw), dtype=np.int32),
    )


@njit(cache=True)
def copy_event(src, a, dst, row, nw):  # pragma: no cover - compiled
    for col in range(N_OINT):
        dst.ints[row, col] = src.ints[a, col]
    dst.etype[row] = src.etype[a]
    dst.pirma[row] = src.pirma[a]
    dst.blval[row] = src.blval[a]
    dst.imputed[row] = src.imputed[a]
    for w in range(nw):
        dst.conf_w[row, w] = src.conf_w[a, w]
        dst.pconf_w[row, w] = src.pconf_w[a, w]


@njit(cache=True)
def note_unconfirmed(unc, row, c, bl, blval, since, until):  # pragma: no cover - compiled
    unc.change[row] = c
    unc.bl[row] = bl
    unc.blval[row] = blval
    unc.since_relapse[row] = since
    unc.to_relapse[row] = until


@njit(cache=True)
def copy_unconfirmed(src, a, dst, row):  # pragma: no cover - compiled
    note_unconfirmed(
        dst, row, np.int64(src.change[a]), np.int64(src.bl[a]), src.blval[a],
        src.since_relapse[a], src.to_relapse[a],
    )  # fmt: skip


@njit(cache=True)
def relapse_distances(t, rel, crm, crp):  # pragma: no cover - compiled
    """Days from each visit back to the last relapse onset and on to the next (same day: 0, 0)."""
    n = t.shape[0]
    nrel = rel.shape[0]
    j = 0
    for i in range(n):
        while j < nrel and rel[j] <= t[i]:
            j += 1
        crm[i] = t[i] - rel[j - 1] if j > 0 else np.inf
        k = j - 1 if (j > 0 and rel[j - 1] == t[i]) else j
        crp[i] = rel[k] - t[i] if k < nrel else np.inf


@njit(cache=True)
def select_events(found, nd, ev_mode, chosen):  # pragma: no cover - compiled
    """Mark the detections to report, in date order; return their positions by event visit.

    A visit found twice (after a relapse re-baseline) keeps its last finding.
    """
    keep = np.zeros(nd, dtype=np.bool_)
    for a in range(nd):
        keep[a] = True
        for b in range(a + 1, nd):
            if found.ints[b, O_EVENT] == found.ints[a, O_EVENT]:
                keep[a] = False
                break
    # detections by event visit (insertion sort: a handful per subject; kept ones are distinct)
    order = np.arange(nd)
    for q in range(1, nd):
        x = order[q]
        p = q - 1
        while p >= 0 and found.ints[order[p], O_EVENT] > found.ints[x, O_EVENT]:
            order[p + 1] = order[p]
            p -= 1
        order[p + 1] = x
    for a in range(nd):
        chosen[a] = False
    if ev_mode == EventMode.MULTIPLE:
        for a in range(nd):
            chosen[a] = keep[a]
        return order
    for q in range(nd):
        a = order[q]
        if not keep[a]:
            continue
        tp = found.etype[a]
        if (
            ev_mode == EventMode.FIRST
            or (ev_mode == EventMode.FIRST_CDW and tp >= EventType.CDW)
            or (ev_mode == EventMode.FIRST_CDI and tp == EventType.CDI)
            or (ev_mode == EventMode.FIRST_PIRA and tp == EventType.PIRA)
            or (ev_mode == EventMode.FIRST_RAW and tp == EventType.RAW)
        ):
            chosen[a] = True
            break
    return order
