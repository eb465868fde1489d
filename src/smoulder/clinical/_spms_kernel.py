"""Compiled per-subject scan for conversion to secondary progressive MS (CORe rule).

Works on flat arrays: every visit of every subject sorted by subject then day, ``offsets``
marking where each subject starts (the layout of :mod:`smoulder.clinical._kernel`). Each subject
is scanned on its own, in parallel, and writes one row of the outputs, so subjects cannot
influence each other.

The rule (Lorscheider et al., Brain 2016, as operationalised by CORe in MSoutcomes' ``spmsDx``;
deliberate differences are listed in ``docs/spms.md``), for one subject:

1. visits before the first visit with functional-system (FS) scores are ignored;
2. the baseline is the first visit more than ``relapse_free_days`` after a relapse that has FS
   scores;
3. a visit is *worsened* when its EDSS is at least ``min_edss`` and exceeds the baseline by the
   step (1.5 from 0, 1.0 below ``half_step_from``, 0.5 from it); a worsening lasts through
   worsened visits and through up to ``tolerated_dips`` consecutive non-worsened visits between
   them (or at the very end of follow-up);
4. the candidate event is the first worsened visit whose worsening lasts at least
   ``confirmation_days`` up to its last visit outside relapse windows, or the first visit that
   starts an improvement (0.5 below baseline at consecutive visits) lasting
   ``improvement_days``;
5. relapses between the baseline and the candidate that were followed by a jump of the EDSS
   move the baseline (to a visit that stayed within one step for ``rebaseline_days``, or to the
   candidate);
6. an improvement moves the baseline to its first visit; a worsening converts when it lasts to
   the last visit, has no relapse since the previous visit and none within
   ``relapse_free_days`` before it, the EDSS stays at least ``min_edss`` through confirmation,
   the pyramidal score is at least ``min_pyramidal`` (or the EDSS at least
   ``pyramidal_waived_from``), and the leading FS (largest increase from baseline) is still
   increased ``confirmation_days`` later;
7. a worsening that fails goes on from the visit after it (from the visit after its last
   relapse-free visit when it did not last to the end); one that began with a relapse moves the
   baseline to itself.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

import numpy as np
from numba import njit, prange

from smoulder import _compiled

# float parameters
F_MIN_EDSS, F_MIN_PYR, F_PYR_WAIVE, F_T_REL, F_T_CONF, F_T_REG, F_T_REBL = 0, 1, 2, 3, 4, 5, 6
F_STEP0, F_STEP, F_STEP_HI, F_HALF_FROM, F_IMPR, F_SIG_EDSS, F_SIG_JUMP = 7, 8, 9, 10, 11, 12, 13
N_F = 14
# integer parameters
I_LEAD, I_SUST, I_DIPS, I_MINVIS, I_MISSFS = 0, 1, 2, 3, 4
N_I = 5
#: value of ``ip[I_MISSFS]``: 0 strict, 1 lenient, 2 lenient with a pyramidal column given
MISSFS_LENIENT, MISSFS_LENIENT_PYR = 1, 2

# status codes
S_CONVERTED, S_NOT_MET, S_FEW_VISITS, S_NO_FS, S_NO_BASELINE = 0, 1, 2, 3, 4
# integer output columns (local visit indices, -1 = none)
O_EVENT, O_BASE, O_CONF, O_LEADCONF, O_PREV, O_STATUS, O_LEADMASK, O_REBL = 0, 1, 2, 3, 4, 5, 6, 7
N_O = 8

N_SYSTEMS = (
    8  # pyramidal, cerebellar, brainstem, sensory, bowel/bladder, visual, cerebral, ambulation
)

# steps of the audit trail (what the scan did, visit by visit)
T_BASELINE, T_FAILED, T_IMPROVED, T_RELAPSE_JUMP, T_RELAPSE_WORSENING, T_CONVERTED = (
    1,
    2,
    3,
    4,
    5,
    6,
)
# reasons a worsening failed (bits of the detail)
R_SUSTAINED, R_RELAPSE, R_EDSS, R_PYRAMIDAL, R_LEADING = 1, 2, 4, 8, 16
#: detail bit: the baseline moved past visits without FS scores
R_SKIPPED_NO_FS = 32
#: detail bit (relapse jump): the baseline moved to a stable visit after the relapse
R_STABLE_VISIT = 64
# columns of the trail rows
C_KIND, C_VISIT, C_BASE, C_DETAIL = 0, 1, 2, 3


@njit(cache=True, inline="always")
def _step(b, fp):
    if b == 0.0:
        return fp[F_STEP0]
    if b < fp[F_HALF_FROM]:
        return fp[F_STEP]
    return fp[F_STEP_HI]


@njit(cache=True, inline="always")
def _worse(x, b, fp):
    return x >= fp[F_MIN_EDSS] and x - b >= _step(b, fp) - 1e-9


@njit(cache=True, inline="always")
def _better(x, b, fp):
    return b - x >= fp[F_IMPR] - 1e-9


@njit(cache=True)
def _run_end(e, b, i, n, dips, fp):
    """Last visit of the worsening that starts at worsened visit ``i`` (baseline EDSS ``b``)."""
    j = i
    while j + 1 < n:
        if _worse(e[j + 1], b, fp):
            j += 1
            continue
        q = 0
        while j + 1 + q < n and not _worse(e[j + 1 + q], b, fp):
            q += 1
        if q > dips:
            break
        if j + 1 + q >= n:
            j = n - 1  # a short dip at the very end is bridged
            break
        j = j + 1 + q
    return j


@njit(cache=True, inline="always")
def _delta(fs, j, b, k, mode):
    """Change of system ``k`` from baseline ``b`` at visit ``j`` (NaN: unknown)."""
    d = fs[j, k] - fs[b, k]
    if np.isnan(d) and mode > 0:
        return 1.0 if (k == 0 and mode == MISSFS_LENIENT_PYR) else 0.0
    return d


@njit(cache=True)
def _with_fs(hasfs, i, n):
    """First visit at or after ``i`` with functional-system scores (-1 if none)."""
    while i < n and not hasfs[i]:
        i += 1
    return i if i < n else -1


@njit(cache=True, inline="always")
def _note(trail, nt, kind, visit, base, detail):
    if nt < trail.shape[0]:
        trail[nt, C_KIND] = kind
        trail[nt, C_VISIT] = visit
        trail[nt, C_BASE] = base
        trail[nt, C_DETAIL] = detail
    return nt + 1


@njit(cache=True)
def _scan_subject(t, e, fs, hasfs, dpr, fp, ip, out, trail):
    """Scan one subject: the result row in ``out``; the steps in ``trail`` (returns their count)."""
    n = t.shape[0]
    dips = ip[I_DIPS]
    nt = 0
    out[:] = -1
    out[O_LEADMASK] = 0
    out[O_REBL] = 0
    if n < ip[I_MINVIS]:
        out[O_STATUS] = S_FEW_VISITS
        return nt
    f = _with_fs(hasfs, 0, n)
    if f < 0:
        out[O_STATUS] = S_NO_FS
        return nt
    if n - f < ip[I_MINVIS]:
        out[O_STATUS] = S_FEW_VISITS
        return nt
    t_rel = fp[F_T_REL]
    relfree = np.empty(n, dtype=np.bool_)
    interv = np.empty(n, dtype=np.bool_)
    for i in range(n):
        relfree[i] = dpr[i] > t_rel
        gap = t[i] - t[i - 1] if i > f else 0.0
        interv[i] = dpr[i] <= gap
    b = -1
    for i in range(f, n):
        if relfree[i] and hasfs[i]:
            b = i
            break
    if b < 0:
        out[O_STATUS] = S_NO_BASELINE
        return nt
    out[O_STATUS] = S_NOT_MET
    first_free = f
    while not relfree[first_free]:
        first_free += 1
    nt = _note(trail, nt, T_BASELINE, b, b, R_SKIPPED_NO_FS if first_free < b else 0)
    start = b
    guard = 0
    while n - start > 1:
        guard += 1
        if guard > 4 * n + 8:
            out[O_STATUS] = -1  # cannot happen; signals a defect instead of looping
            return nt
        eb = e[b]
        # -- the first candidate: a lasting worsening or a lasting improvement
        ev = -1
        worsening = False
        last_free = -1
        for i in range(start, n):
            if _worse(e[i], eb, fp):
                r = _run_end(e, eb, i, n, dips, fp)
                lf = -1
                for j in range(r, start - 1, -1):
                    if relfree[j]:
                        lf = j
                        break
                held = (t[lf] - t[i]) if lf >= 0 else 0.0
                if held >= fp[F_T_CONF]:
                    ev, worsening, last_free = i, True, lf
                    break
            elif _better(e[i], eb, fp):
                j = i
                while j + 1 < n and _better(e[j + 1], eb, fp):
                    j += 1
                if t[j] - t[i] >= fp[F_T_REG]:
                    ev = i
                    break
        if ev < 0:
            break
        # -- relapses followed by a jump of the EDSS before the candidate move the baseline
        last_sig = -1
        if eb < fp[F_HALF_FROM]:
            for i in range(start, ev):
                if i == b or i == f:
                    continue
                if (
                    interv[i]
                    and e[i] > fp[F_SIG_EDSS]
                    and e[i] - eb >= fp[F_SIG_JUMP] - 1e-9
                    and e[i] - e[i - 1] >= fp[F_SIG_JUMP] - 1e-9
                ):
                    last_sig = i
        if last_sig >= 0:
            nb = ev
            detail = 0
            if last_sig < ev - 1:
                for c in range(last_sig + 1, ev):
                    if not hasfs[c]:
                        continue
                    thr = _step(e[c], fp)
                    j = c
                    while j + 1 < ev and abs(e[j + 1] - e[c]) < thr - 1e-9:
                        j += 1
                    if t[j] - t[c] >= fp[F_T_REBL]:
                        nb = c
                        detail = R_STABLE_VISIT
                        break
            nb2 = _with_fs(hasfs, nb, n)
            if nb2 < 0:
                break
            if nb2 != nb:
                detail |= R_SKIPPED_NO_FS
            b = nb2
            start = nb2 + 1
            out[O_REBL] += 1
            nt = _note(trail, nt, T_RELAPSE_JUMP, last_sig, b, detail)
            continue
        if not worsening:
            nb = _with_fs(hasfs, ev, n)
            if nb < 0:
                break
            b = nb
            start = nb + 1
            out[O_REBL] += 1
            nt = _note(trail, nt, T_IMPROVED, ev, b, R_SKIPPED_NO_FS if nb != ev else 0)
            continue
        # -- does the worsening at ``ev`` convert?
        sustained = last_free == n - 1
        conf = -1
        low = e[ev]
        for j in range(ev + 1, n):
            if e[j] < low:
                low = e[j]
            if t[j] - t[ev] >= fp[F_T_CONF]:
                conf = j
                break
        relapse_ok = relfree[ev] and not interv[ev]
        edss_ok = e[ev] >= fp[F_MIN_EDSS] and low >= fp[F_MIN_EDSS]
        p = fs[ev, 0]
        if e[ev] >= fp[F_PYR_WAIVE]:
            pyr_ok = True
        elif np.isnan(p):
            pyr_ok = fp[F_MIN_PYR] <= 0.0
        else:
            pyr_ok = p >= fp[F_MIN_PYR]
        # leading functional systems: the largest increase from baseline at the event. With
        # lenient missing scores (CORe), an unknown change counts as 0, an unknown pyramidal
        # change as +1, and a visit without the system's score as still increased.
        mode = ip[I_MISSFS]
        lenient = mode > 0
        mx = 0.0
        for k in range(N_SYSTEMS):
            d = _delta(fs, ev, b, k, mode)
            if not np.isnan(d) and d > mx:
                mx = d
        mask = 0
        lead_conf = -1
        if mx > 0.0:
            for k in range(N_SYSTEMS):
                d = _delta(fs, ev, b, k, mode)
                if np.isnan(d) or d != mx:
                    continue
                first_ok = -1
                for j in range(ev + 1, n):
                    x = fs[j, k] - fs[b, k]
                    if np.isnan(x):
                        if not lenient:
                            continue
                    elif x <= 0.0:
                        break
                    if first_ok < 0 and t[j] - t[ev] >= fp[F_T_CONF]:
                        first_ok = j
                if first_ok >= 0:
                    mask |= 1 << k
                    if lead_conf < 0 or first_ok < lead_conf:
                        lead_conf = first_ok
        lead_ok = mask != 0 or ip[I_LEAD] == 0
        sust_ok = sustained or ip[I_SUST] == 0
        if sust_ok and relapse_ok and edss_ok and pyr_ok and lead_ok:
            out[O_STATUS] = S_CONVERTED
            out[O_EVENT] = ev
            out[O_BASE] = b
            out[O_CONF] = conf
            out[O_LEADCONF] = lead_conf
            out[O_PREV] = ev - 1
            if mask == 0:
                # leading systems that were not confirmed (allowed when confirmation is off)
                for k in range(N_SYSTEMS):
                    d = _delta(fs, ev, b, k, mode)
                    if mx > 0.0 and not np.isnan(d) and d == mx:
                        mask |= 1 << (k + N_SYSTEMS)
            out[O_LEADMASK] = mask
            nt = _note(trail, nt, T_CONVERTED, ev, b, 0)
            return nt
        why = 0
        if not sust_ok:
            why |= R_SUSTAINED
        if not relapse_ok:
            why |= R_RELAPSE
        if not edss_ok:
            why |= R_EDSS
        if not pyr_ok:
            why |= R_PYRAMIDAL
        if not lead_ok:
            why |= R_LEADING
        nt = _note(trail, nt, T_FAILED, ev, b, why)
        if ip[I_SUST] == 1 and not sustained:
            start = last_free + 1
        else:
            start = ev + 1
            if not relapse_ok:
                nb = _with_fs(hasfs, ev, n)
                if nb < 0:
                    break
                b = nb
                start = nb + 1
                out[O_REBL] += 1
                nt = _note(
                    trail, nt, T_RELAPSE_WORSENING, ev, b, R_SKIPPED_NO_FS if nb != ev else 0
                )
    out[O_BASE] = b  # the baseline in use when the scan ended
    return nt


@njit(cache=True, parallel=True)
def scan_all(offsets, t, e, fs, hasfs, dpr, fp, ip):
    """Scan every subject; return the per-subject rows, the trail rows and their counts.

    Subject ``s`` owns trail rows ``2 (offsets[s] + s)`` onwards (room for ``2 n + 2`` steps:
    each turn of the scan notes at most two steps and moves on by at least one visit).
    """
    nsub = offsets.shape[0] - 1
    out = np.full((nsub, N_O), -1, dtype=np.int64)
    trail = np.full((2 * (offsets[nsub] + nsub), 4), -1, dtype=np.int64)
    counts = np.zeros(nsub, dtype=np.int64)
    for s in prange(nsub):
        a = offsets[s]
        z = offsets[s + 1]
        r0 = 2 * (a + s)
        counts[s] = _scan_subject(
            t[a:z],
            e[a:z],
            fs[a:z],
            hasfs[a:z],
            dpr[a:z],
            fp,
            ip,
            out[s],
            trail[r0 : r0 + 2 * (z - a) + 2],
        )
    return out, trail, counts


def scan_for(visits: int) -> Any:
    """:func:`scan_all`, or while it is not compiled yet (a new machine) and the input has at most
    :func:`smoulder._compiled.interpret_limit` visits, the same source run as plain Python (call
    it under ``np.errstate(all="ignore")``: compiled code divides and wraps silently)."""
    if _compiled.interpreting(scan_all, int(visits)):
        return _interpreted()
    return scan_all


@lru_cache(maxsize=1)
def _interpreted() -> Any:
    from smoulder.clinical import _spms_kernel

    return _compiled.twin(_spms_kernel)[__name__].scan_all
