"""Compiled per-subject scan for confirmed disability events.

This module holds the hot loop of :mod:`smoulder.clinical.progression`. It is written for numba
and works on flat arrays: all visits of all subjects sorted by subject then day, with ``offsets``
marking where each subject starts. Each subject is scanned independently (in parallel over
subjects, on threads: the compiled code releases the GIL) and writes its events into its own slice
of the output arrays, so no subject can influence another.

The scan follows the msprog framework (Montobbio et al., Mult Scler 2024): a baseline visit, a
search for the first visit whose value differs from the baseline by at least the minimal change,
confirmation at later visits inside the confirmation windows, optional sustained-change
requirements, relapse exclusions, re-baselining and PIRA/RAW classification. Where we deliberately
differ from the reference implementation the difference is documented in ``docs/progression.md``.

The options arrive as one :class:`~smoulder.clinical._codes.ScanOptions` record and every choice
is a named code of :mod:`smoulder.clinical._codes`.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

import numpy as np
from numba import njit

from smoulder import _compiled
from smoulder.clinical import _rules as R
from smoulder.clinical._codes import (
    N_OINT,
    O_BL,
    O_CONF,
    O_EVENT,
    O_LASTDELTA,
    O_PCONF,
    O_SUST,
    BaselineMode,
    EventMode,
    EventType,
    Pirma,
    PrecedingVisit,
    SubThreshold,
)
from smoulder.clinical._kernel_parts import (
    Events,
    Scratch,
    Unconfirmed,
    Visits,
    copy_event,
    copy_unconfirmed,
    new_events,
    new_unconfirmed,
    note_unconfirmed,
    relapse_distances,
    select_events,
)


@njit(cache=True)
def scan_subject(vis, lo, hi, opt, subj_hash, out, base, room, uout, ubase, uroom, scratch):  # noqa: E501  # pragma: no cover
    """Scan one subject; write its events at rows ``base..base+k`` of ``out``, its unconfirmed
    changes (with ``opt.record_unconfirmed``) at rows ``ubase..ubase+u`` of ``uout``, and return
    ``(k, u)``.

    ``vis`` is the subject's :class:`Visits`, ``lo``/``hi`` the confirmation windows, ``opt`` the
    :class:`~smoulder.clinical._codes.ScanOptions`. At most ``room`` events (``uroom`` changes) are
    written; a larger count tells the caller to rerun the subject with more room. ``scratch`` is
    space owned by the calling thread, at least as long as this subject needs (``n`` visits;
    ``n * (relapses + 1) + 4`` detections). ``(-1, -1)`` signals a defect.
    """
    t, v, dl, vc, rel = vis.t, vis.v, vis.dl, vis.vc, vis.rel
    crm, crp, okc, found = scratch.crm, scratch.crp, scratch.okc, scratch.found
    wconf, pconf_w, unc = scratch.wconf, scratch.pconf_w, scratch.unconf
    record = opt.record_unconfirmed
    # msprog does not look for improvements in these modes
    cdi_unsought = (
        opt.event == EventMode.FIRST_CDW
        or opt.event == EventMode.FIRST_PIRA
        or opt.event == EventMode.FIRST_RAW
    ) and (opt.baseline == BaselineMode.FIXED or opt.baseline == BaselineMode.ROVING_WORS)
    n = t.shape[0]
    nu = n - n  # 0, typed like n (a literal 0 would be compiled apart)
    # typed (not literal) constants: a literal argument costs a compiled specialisation each
    yes = n >= 0
    no = n < 0
    any_w = np.int64(-1)
    nw = lo.shape[0]
    nrel = rel.shape[0]
    dirn = opt.direction
    ev_mode = opt.event
    bmode = opt.baseline
    st_rebl = opt.sub_threshold
    rel_rebl = opt.relapse_rebl and nrel > 0
    skip = opt.skip_extrema
    check_int = opt.check_intermediate
    ra0, ra1 = opt.assoc_after_relapse, opt.assoc_before_relapse
    roving_w = bmode == BaselineMode.ROVING or bmode == BaselineMode.ROVING_WORS
    roving_i = bmode == BaselineMode.ROVING or bmode == BaselineMode.ROVING_IMPR
    pira_only = ev_mode == EventMode.FIRST_PIRA
    raw_only = ev_mode == EventMode.FIRST_RAW
    static_for_type = bmode == BaselineMode.FIXED or bmode == BaselineMode.ROVING_IMPR
    assoc_gap = 0.0 if pira_only else ra0
    sub_i_ok = st_rebl == SubThreshold.EVENT or st_rebl == SubThreshold.IMPROVEMENT
    sub_w_ok = st_rebl == SubThreshold.EVENT or st_rebl == SubThreshold.WORSENING

    relapse_distances(t, rel, crm, crp)
    for i in range(n):
        okc[i] = crm[i] >= opt.conf_after_relapse and crp[i] >= opt.conf_before_relapse and vc[i]

    # detected events, in detection order (before de-duplication)
    cap = found.etype.shape[0]
    nd = 0
    n_cdi = 0
    n_cdw = 0
    n_raw = 0
    n_pira = 0

    bl = n - n
    search = 1
    proceed = n > 0
    irel = -1
    for r in range(nrel):
        if rel[r] > t[0]:
            irel = r
            break
    have_last = False
    last_w = 0.0
    last_dw = 0.0
    guard = 0
    while proceed:
        guard += 1
        if guard > 8 * n * (nrel + 2) + 64:
            return -1, -1  # cannot happen; signals a defect rather than looping forever
        # -- place the baseline: skip visits near a relapse or at local extrema
        lextr = R.local_extremum(v, dl, bl, n, dirn, skip)
        while proceed and (
            crm[bl] < opt.bl_after_relapse or crp[bl] < opt.bl_before_relapse or lextr
        ):
            bl += 1
            lextr = bl < n and R.local_extremum(v, dl, bl, n, dirn, skip)
            if bl > n - 2:
                proceed = False
        if rel_rebl and irel >= 0 and bl < n:
            nxt = -1
            for r in range(irel, nrel):
                if rel[r] > t[bl]:
                    nxt = r
                    break
            irel = nxt
        if search <= bl:
            search = bl + 1
        if bl > n - 1:
            bl = n - 1
            proceed = False
        # worsening and improvement references; they differ only under bl_geq
        bl_i = v[bl]
        bl_di = dl[bl]
        bl_w = bl_i
        bl_dw = bl_di
        if opt.bl_geq and have_last:
            if (dirn > 0 and last_w > bl_w) or (dirn < 0 and last_w < bl_w):
                bl_w = last_w
                bl_dw = last_dw
        have_last = True
        last_w = bl_w
        last_dw = bl_dw

        # -- first visit that differs meaningfully from the baseline
        st = st_rebl != SubThreshold.NONE
        c = -1
        for x in range(search, n):
            if (R.wors(v[x], bl_w, bl_dw, dirn, st) or R.impr(v[x], bl_i, bl_di, dirn, st)) and (
                crm[x] >= opt.event_after_relapse and crp[x] >= opt.event_before_relapse
            ):
                c = x
                break
        if c < 0:
            proceed = False
        elif rel_rebl and irel >= 0 and t[c] > rel[irel] + assoc_gap:
            # the change lies beyond the next relapse: re-baseline after it (below)
            search = c
        else:
            conf0 = R.first_conf(t, okc, c, n, lo, hi, any_w)
            has_conf = conf0 >= 0
            # confirmed improvement, sub-threshold improvement, worsening, sub-threshold worsening
            # (as msprog: where improvements are not looked for, a confirmed one is no event: the
            # search goes on from the next visit and the change counts as unconfirmed)
            cdi = (
                has_conf
                and not cdi_unsought
                and R.held(v, c, conf0, bl_i, bl_di, dirn, no, no, check_int)
            )
            sub_i = (
                not cdi
                and has_conf
                and roving_i
                and sub_i_ok
                and R.held(v, c, conf0, bl_i, bl_di, dirn, no, yes, check_int)
            )
            cdw = False
            imputed = False
            if not cdi and not sub_i and R.wors(v[c], bl_w, bl_dw, dirn, no):
                cdw = has_conf and R.held(v, c, conf0, bl_w, bl_dw, dirn, yes, no, check_int)
                if (
                    not cdw
                    and c == n - 1
                    and opt.impute_probability > 0
                    and t[c] - t[0] <= opt.impute_max_follow_up
                ):
                    p = opt.impute_probability
                    if p >= 1.0 or R.rand01(subj_hash, c) < p:
                        cdw = True
                        imputed = True
            sub_w = (
                not cdi
                and not sub_i
                and not cdw
                and has_conf
                and roving_w
                and sub_w_ok
                and R.held(v, c, conf0, bl_w, bl_dw, dirn, yes, yes, check_int)
            )

            if cdi or cdw:
                worsening = cdw
                b_ref = bl_w if worsening else bl_i
                b_d = bl_dw if worsening else bl_di
                if imputed:
                    conf0 = n - 1
                # first later visit at which the change is no longer present
                nonsust = -1
                for x in range(conf0 + 1, n):
                    if not R.is_dir(v[x], b_ref, b_d, dirn, worsening):
                        nonsust = x
                        break
                limit = n if nonsust < 0 else nonsust
                valid = True
                sust_req = opt.sust_days
                if sust_req > 0:
                    if check_int:
                        valid = nonsust < 0 or (t[nonsust] - t[c]) >= sust_req
                    else:
                        sv = n - 1
                        if t[n - 1] - t[c] >= sust_req:
                            for x in range(c + 1, n):
                                if t[x] - t[c] >= sust_req:
                                    sv = x
                                    break
                        valid = R.is_dir(v[sv], b_ref, b_d, dirn, worsening)
                # earliest confirmation per window (inside the sustained stretch)
                wconf[:] = -1
                first_w = -1
                if not imputed:
                    for w in range(nw):
                        wconf[w] = R.first_conf(t, okc, c, limit, lo, hi, w)
                        if first_w < 0 and wconf[w] >= 0:
                            first_w = wconf[w]
                include = valid
                etype = EventType.CDI
                pirma = Pirma.UNKNOWN
                pconf_first = -1
                pconf_w[:] = -1
                lastd = 0
                if valid:
                    lastd = R.last_delta(v, dl, c, conf0, n, dirn, worsening, skip, check_int)
                if valid and worsening:
                    etype = EventType.CDW
                    if opt.rawpira and (crm[c] <= ra0 or crp[c] <= ra1):
                        if pira_only and static_for_type:
                            include = False
                        else:
                            etype = EventType.RAW
                    elif opt.rawpira:
                        if raw_only and static_for_type:
                            include = False
                        else:
                            if opt.prec_type == PrecedingVisit.BASELINE:
                                tprec = t[bl]
                            elif opt.prec_type == PrecedingVisit.LAST:
                                tprec = t[c - 1]
                            else:
                                tprec = t[lastd]
                            any_free = False
                            all_mri_free = False
                            for x in range(c + 1, limit) if not imputed else range(n - 1, n):
                                if not imputed and not (
                                    okc[x] and R.in_window(t[x] - t[c], lo, hi, any_w)
                                ):
                                    continue
                                if R.window_free(rel, tprec, t[c], t[x], opt.indep):
                                    if not any_free:
                                        pconf_first = x
                                    any_free = True
                                    if not imputed:
                                        for w in range(nw):
                                            if pconf_w[w] < 0 and lo[w] <= t[x] - t[c] <= hi[w]:
                                                pconf_w[w] = x
                                    if opt.have_mri and R.window_free(
                                        vis.mri_act, tprec, t[c], t[x], opt.indep
                                    ):
                                        all_mri_free = True
                            if any_free:
                                etype = EventType.PIRA
                                if opt.have_mri:
                                    # no scan at all between baseline and confirmation: unknown
                                    if R.hits(vis.mri_all, t[bl], t[pconf_first]):
                                        pirma = Pirma.YES if all_mri_free else Pirma.NO
                            elif pira_only and static_for_type:
                                include = False
                if include:
                    if nd >= cap:
                        return -1, -1
                    found.ints[nd, :] = -1
                    found.ints[nd, O_EVENT] = c
                    found.ints[nd, O_BL] = bl
                    found.ints[nd, O_CONF] = -1 if imputed else conf0
                    found.ints[nd, O_LASTDELTA] = lastd
                    found.ints[nd, O_SUST] = n - 1 if nonsust < 0 else nonsust - 1
                    found.ints[nd, O_PCONF] = pconf_first
                    found.etype[nd] = etype
                    found.pirma[nd] = pirma
                    found.blval[nd] = b_ref
                    found.imputed[nd] = imputed
                    for w in range(nw):
                        found.conf_w[nd, w] = wconf[w]
                        found.pconf_w[nd, w] = pconf_w[w]
                    nd += 1
                    if etype == EventType.CDI:
                        n_cdi += 1
                    else:
                        n_cdw += 1
                        if etype == EventType.RAW:
                            n_raw += 1
                        elif etype == EventType.PIRA:
                            n_pira += 1
                if record and not valid:  # confirmed, but not sustained long enough
                    if nu >= unc.change.shape[0]:
                        return -1, -1
                    note_unconfirmed(unc, nu, c, bl, bl_w, crm[c], crp[c])
                    nu += 1
                # where to go on from, and the new baseline
                if imputed or first_w < 0:
                    search = c + 1
                else:
                    newref = c if opt.proceed_from_event else first_w
                    if (roving_w and worsening) or (roving_i and not worsening):
                        bl = newref
                    elif not include:
                        newref = c
                    search = newref + 1
            elif sub_i or sub_w:
                newref = c if opt.proceed_from_event else conf0
                bl = newref
                search = newref + 1
            else:
                search = c + 1
                if record:  # a change that no visit confirmed
                    if nu >= unc.change.shape[0]:
                        return -1, -1
                    note_unconfirmed(unc, nu, c, bl, bl_w, crm[c], crp[c])
                    nu += 1

        # -- re-baseline after a relapse crossed by the search
        if rel_rebl and proceed and search < n:
            crossed = False
            for r in range(nrel):
                if t[bl] < rel[r] and rel[r] + assoc_gap < t[search]:
                    crossed = True
                    break
            if crossed:
                target = rel[irel] if irel >= 0 else -np.inf
                nb = -1
                for x in range(bl, n):
                    if target <= t[x]:
                        nb = x
                        break
                if nb >= 0:
                    bl = nb
                    search = bl + 1
                if nb < 0 or bl > n - 2:
                    proceed = False
        if proceed:
            if ev_mode == EventMode.FIRST and nd > 1:
                proceed = False
            elif ev_mode == EventMode.FIRST_CDW and n_cdw > 0:
                proceed = False
            elif ev_mode == EventMode.FIRST_CDI and n_cdi > 0:
                proceed = False
            elif ev_mode == EventMode.FIRST_PIRA and n_pira > 0:
                proceed = False
            elif ev_mode == EventMode.FIRST_RAW and n_raw > 0:
                proceed = False

    # -- keep the requested events, in date order
    chosen = np.empty(nd, dtype=np.bool_)
    order = select_events(found, nd, ev_mode, chosen)
    k = 0
    for q in range(nd):
        a = order[q]
        if not chosen[a]:
            continue
        if k >= room:
            k += 1  # counted, not written: the caller reruns this subject with more room
            continue
        copy_event(found, a, out, base + k, nw)
        k += 1
    for q in range(min(nu, uroom)):  # more than uroom: counted, the caller reruns the subject
        copy_unconfirmed(unc, q, uout, ubase + q)
    return k, nu


@njit(cache=True, nogil=True)
def scan_range(s0, s1, offsets, t, v, dl, vc, rel_off, rel, mri_off, mri_act, mri_all_off, mri_all, lo, hi, opt, subj_hash, out_off, out, counts, uout_off, uout, ucounts):  # noqa: E501  # fmt: skip  # pragma: no cover
    """Scan subjects ``s0`` to ``s1 - 1`` with one set of scratch space (releases the GIL)."""
    nw = lo.shape[0]
    maxn = s1 - s1 + 1
    maxcap = s1 - s1 + 4  # typed like s1: a literal 4 compiles new_events a second time
    for s in range(s0, s1):
        n = offsets[s + 1] - offsets[s]
        nr = rel_off[s + 1] - rel_off[s]
        maxn = max(maxn, n)
        maxcap = max(maxcap, n * (nr + 1) + 4)
    crm = np.empty(maxn)
    crp = np.empty(maxn)
    okc = np.empty(maxn, dtype=np.bool_)
    found = new_events(maxcap, nw)
    unconf = new_unconfirmed(maxcap if opt.record_unconfirmed else 0)
    wconf = np.empty(nw, dtype=np.int64)
    pconf_w = np.empty(nw, dtype=np.int64)
    for s in range(s0, s1):
        a = offsets[s]
        b = offsets[s + 1]
        room = out_off[s + 1] - out_off[s]
        uroom = uout_off[s + 1] - uout_off[s]
        if b <= a or (room == 0 and uroom == 0):
            continue
        n = b - a
        nr = rel_off[s + 1] - rel_off[s]
        cap = n * (nr + 1) + 4
        ucap = cap if opt.record_unconfirmed else 0
        vis = Visits(
            t[a:b],
            v[a:b],
            dl[a:b],
            vc[a:b],
            rel[rel_off[s] : rel_off[s + 1]],
            mri_act[mri_off[s] : mri_off[s + 1]],
            mri_all[mri_all_off[s] : mri_all_off[s + 1]],
        )
        scratch = Scratch(
            crm[:n],
            crp[:n],
            okc[:n],
            Events(
                found.ints[:cap],
                found.etype[:cap],
                found.pirma[:cap],
                found.blval[:cap],
                found.imputed[:cap],
                found.conf_w[:cap],
                found.pconf_w[:cap],
            ),
            wconf,
            pconf_w,
            Unconfirmed(
                unconf.change[:ucap],
                unconf.bl[:ucap],
                unconf.blval[:ucap],
                unconf.since_relapse[:ucap],
                unconf.to_relapse[:ucap],
            ),
        )
        k, u = scan_subject(
            vis, lo, hi, opt, subj_hash[s], out, out_off[s], room, uout, uout_off[s], uroom, scratch
        )
        counts[s] = k
        ucounts[s] = u


def scan_all(offsets, t, v, dl, vc, rel_off, rel, mri_off, mri_act, mri_all_off, mri_all, lo, hi, opt, subj_hash, out_off, uout_off):  # noqa: E501  # fmt: skip
    """Scan every subject; return the events and unconfirmed changes (local visit indices) and
    the counts of both per subject.

    Subject ``s`` writes its events at rows ``out_off[s]`` to ``out_off[s + 1]`` of the events
    (its unconfirmed changes likewise by ``uout_off``); a count may exceed that room (then only
    the first rows are written and the caller reruns it with more). Subjects are processed in
    chunks of about equal numbers of visits, on ``NUMBA_NUM_THREADS`` threads (the compiled scan
    releases the GIL); each chunk allocates its scratch space once and writes only its own rows,
    so the result never depends on the threads.

    On a machine where the scan is not compiled yet, an input of at most
    :func:`smoulder._compiled.interpret_limit` visits runs the same code interpreted (see
    :func:`interpreting`) instead of waiting for the compiler.
    """
    nsub = offsets.shape[0] - 1
    nw = lo.shape[0]
    nout = int(out_off[nsub])
    nuout = int(uout_off[nsub])
    out = Events(
        np.empty((nout, N_OINT), dtype=np.int32),
        np.empty(nout, dtype=np.int8),
        np.empty(nout, dtype=np.int8),
        np.empty(nout),
        np.empty(nout, dtype=np.bool_),
        np.empty((nout, nw), dtype=np.int32),
        np.empty((nout, nw), dtype=np.int32),
    )
    uout = Unconfirmed(
        np.empty(nuout, dtype=np.int32),
        np.empty(nuout, dtype=np.int32),
        np.empty(nuout),
        np.empty(nuout),
        np.empty(nuout),
    )
    counts = np.zeros(nsub, dtype=np.int64)
    ucounts = np.zeros(nsub, dtype=np.int64)
    args = (offsets, t, v, dl, vc, rel_off, rel, mri_off, mri_act, mri_all_off, mri_all, lo, hi)
    tail = (opt, subj_hash, out_off, out, counts, uout_off, uout, ucounts)
    if interpreting(t.shape[0]):
        with np.errstate(all="ignore"):  # compiled code wraps and divides silently: so do we
            _interpreted_scan()(0, nsub, *args, *tail)
        return out, counts, uout, ucounts
    threads = _threads()
    if threads <= 1 or nsub < 2048:
        scan_range(0, nsub, *args, *tail)
        return out, counts, uout, ucounts
    # chunks of about equal work (visits), a few per thread so that uneven ones even out
    nchunks = min(nsub, 8 * threads)
    bounds = np.searchsorted(offsets, np.linspace(0, offsets[-1], nchunks + 1)).astype(np.int64)
    bounds[0], bounds[-1] = 0, nsub
    bounds = np.unique(np.minimum(bounds, nsub))
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(threads) as pool:
        jobs = [
            pool.submit(scan_range, int(a), int(b), *args, *tail)
            for a, b in zip(bounds[:-1], bounds[1:], strict=True)
        ]
        for job in jobs:
            job.result()
    return out, counts, uout, ucounts


def _threads() -> int:
    """Threads for the scan: ``NUMBA_NUM_THREADS`` (numba's default: every core)."""
    from numba.core import config

    return max(1, int(getattr(config, "NUMBA_NUM_THREADS", 1)))


def needs_compiling() -> bool:
    """Whether the scan is neither compiled in this process nor in numba's cache on disk (the
    first run on a machine, or after an upgrade), so that the caller can say so."""
    return not _compiled.is_compiled(scan_range)


def interpreting(visits: int) -> bool:
    """Whether a scan of ``visits`` visits runs interpreted: the scan is not compiled yet and
    the input is small (compiling would take longer than scanning)."""
    return _compiled.interpreting(scan_range, int(visits))


@lru_cache(maxsize=1)
def _interpreted_scan() -> Any:
    """``scan_range`` as plain Python, calling only plain Python twins of the scan's parts."""
    from smoulder.clinical import _kernel, _kernel_parts

    spaces = _compiled.twin(R, _kernel_parts, _kernel)
    return spaces[__name__].scan_range
