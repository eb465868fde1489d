"""Compiled per-subject scan for confirmed disability events.

This module holds the hot loop of :mod:`smoulder.clinical.progression`. It is
written for numba and works on flat arrays: all visits of all subjects sorted
by subject then day, with ``offsets`` marking where each subject starts. Each
subject is scanned independently (in parallel over subjects) and writes its
events into its own slice of the output arrays, so no subject can influence
another.

The scan follows the msprog framework (Montobbio et al., Mult Scler 2024):
a baseline visit, a search for the first visit whose value differs from the
baseline by at least the minimal change, confirmation at later visits inside
the confirmation windows, optional sustained-change requirements, relapse
exclusions, re-baselining and PIRA/RAW classification. Where we deliberately
differ from the reference implementation the difference is documented in
``docs/progression.md``.

Integer codes used below (see ``progression.py`` for the mapping):

* event mode: 0 firstCDW, 1 firstCDI, 2 first, 3 firstPIRA, 4 firstRAW, 5 multiple
* baseline: 0 fixed, 1 roving, 2 roving_impr, 3 roving_wors
* sub-threshold re-baseline: 0 none, 1 event, 2 improvement, 3 worsening
* skip local extrema: 0 none, 1 strict, 2 all
* PIRA preceding visit: 0 baseline, 1 last, 2 last_delta
* event type out: 1 CDI, 2 CDW (undefined), 3 RAW, 4 PIRA
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

T_CDI = 1
T_CDW = 2
T_RAW = 3
T_PIRA = 4

# positions in the float parameter vector
P_RTB0, P_RTB1, P_RTE0, P_RTE1, P_RTC0, P_RTC1, P_RA0, P_RA1 = 0, 1, 2, 3, 4, 5, 6, 7
P_RI = 8  # 6 values: prec0, prec1, event0, event1, conf0, conf1 (NaN = open end)
P_SUST = 14
P_IMPUTE_P = 15
P_IMPUTE_FU = 16
N_FPARAMS = 17

# positions in the integer parameter vector
I_DIR, I_EVENT, I_BASELINE, I_PROCEED, I_STREBL, I_BLGEQ, I_RELREBL = 0, 1, 2, 3, 4, 5, 6
I_SKIP, I_CHECKINT, I_RAWPIRA, I_PRECTYPE, I_SEED, I_HAVE_MRI = 7, 8, 9, 10, 11, 12
N_IPARAMS = 13

# columns of the per-event integer output (global visit indices, -1 = none)
O_EVENT, O_BL, O_CONF, O_LASTDELTA, O_SUST, O_PCONF = 0, 1, 2, 3, 4, 5
N_OINT = 6


@njit(cache=True, inline="always")
def _wors(x, b, d, dirn, st):
    if st:
        return x > b if dirn > 0 else x < b
    return (x - b >= d) if dirn > 0 else (x - b <= -d)


@njit(cache=True, inline="always")
def _impr(x, b, d, dirn, st):
    if st:
        return x < b if dirn > 0 else x > b
    return (x - b <= -d) if dirn > 0 else (x - b >= d)


@njit(cache=True)
def _local_extremum(v, dl, i, n, dirn, skip):
    """Whether visit ``i`` is a (strict) local minimum or maximum."""
    if skip == 0:
        return False
    st = skip == 2
    prec = v[i] if i == 0 else v[i - 1]
    subs = v[i] if i == n - 1 else v[i + 1]
    vis = v[i]
    d = dl[i]
    extr = (_wors(prec, vis, d, dirn, st) and _wors(subs, vis, d, dirn, st)) or (
        _impr(prec, vis, d, dirn, st) and _impr(subs, vis, d, dirn, st)
    )
    # an undulating course (same value two visits back) is not an extremum
    if i >= 2 and vis == v[i - 2]:
        return False
    return extr


@njit(cache=True)
def _is_dir(x, b, d, dirn, worsening):
    if worsening:
        return _wors(x, b, d, dirn, False)
    return _impr(x, b, d, dirn, False)


@njit(cache=True)
def _held(v, c, conf0, b, d, dirn, worsening, st, check_int):
    """The change from ``b`` seen at visit ``c`` is still there at the confirmation visit
    ``conf0`` (and, with ``check_int``, at every visit in between)."""
    if worsening:
        if not _wors(v[c], b, d, dirn, st):
            return False
    elif not _impr(v[c], b, d, dirn, st):
        return False
    if not check_int:
        return _wors(v[conf0], b, d, dirn, st) if worsening else _impr(v[conf0], b, d, dirn, st)
    for x in range(c + 1, conf0 + 1):
        if worsening:
            if not _wors(v[x], b, d, dirn, st):
                return False
        elif not _impr(v[x], b, d, dirn, st):
            return False
    return True


@njit(cache=True)
def _last_delta(v, dl, c, conf0, n, dirn, worsening, skip, check_int):
    """Last visit before ``c`` from which the event's change is meaningful (0 if none)."""
    iref = c
    while iref > 1:
        iref -= 1
        if _local_extremum(v, dl, iref, n, dirn, skip):
            continue
        if not _is_dir(v[c], v[iref], dl[iref], dirn, worsening):
            continue
        ok = True
        if check_int:
            for x in range(c + 1, conf0 + 1):
                if not _is_dir(v[x], v[iref], dl[iref], dirn, worsening):
                    ok = False
                    break
        else:
            ok = _is_dir(v[conf0], v[iref], dl[iref], dirn, worsening)
        if ok:
            return iref
    return 0


@njit(cache=True)
def _first_conf(t, okc, c, limit, lo, hi, w):
    """First confirmation visit after ``c`` and before ``limit`` in window ``w`` (-1: any)."""
    nw = lo.shape[0]
    for x in range(c + 1, limit):
        if not okc[x]:
            continue
        dt = t[x] - t[c]
        if w >= 0:
            if lo[w] <= dt <= hi[w]:
                return x
        else:
            for k in range(nw):
                if lo[k] <= dt <= hi[k]:
                    return x
    return -1


@njit(cache=True)
def _in_any_window(t, c, x, lo, hi):
    dt = t[x] - t[c]
    for k in range(lo.shape[0]):
        if lo[k] <= dt <= hi[k]:
            return True
    return False


@njit(cache=True)
def _hits(days, t0, t1):
    """Whether any of the sorted ``days`` falls in [t0, t1]."""
    j = np.searchsorted(days, t0)
    return j < days.shape[0] and days[j] <= t1


@njit(cache=True)
def _window_free(days, tprec, tev, tconf, ri):
    """No day of ``days`` inside the PIRA windows around the three checkpoints."""
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
            if t1 > t0 and _hits(days, t0, t1):
                return False
    return True


@njit(cache=True)
def _rand01(seed, salt):
    """Deterministic uniform number in [0, 1) from two 64-bit integers (splitmix64)."""
    z = np.uint64(seed) ^ (np.uint64(salt) * np.uint64(0x9E3779B97F4A7C15))
    z = z + np.uint64(0x9E3779B97F4A7C15)
    z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    z = z ^ (z >> np.uint64(31))
    return (z >> np.uint64(11)) * (1.0 / 9007199254740992.0)


@njit(cache=True)
def _scan_subject(
    t,
    v,
    dl,
    vc,
    rel,
    mri_act,
    mri_all,
    lo,
    hi,
    fp,
    ip,
    subj_hash,
    o_int,
    o_type,
    o_pirma,
    o_blval,
    o_imputed,
    o_conf_w,
    o_pconf_w,
    base,
    room,
    crm,
    crp,
    okc,
    d_int,
    d_type,
    d_pirma,
    d_blval,
    d_imp,
    d_conf_w,
    d_pconf_w,
    wconf,
    pconf_w,
):
    """Scan one subject; write its events at rows ``base..base+k`` and return ``k``.

    At most ``room`` events are written; a larger ``k`` tells the caller to rerun the subject.

    The arrays after ``base`` are scratch space owned by the calling thread, at least as long
    as this subject needs (``n`` visits; ``n * (relapses + 1) + 4`` detections).
    """
    n = t.shape[0]
    nw = lo.shape[0]
    nrel = rel.shape[0]
    dirn = ip[I_DIR]
    ev_mode = ip[I_EVENT]
    bmode = ip[I_BASELINE]
    from_event = ip[I_PROCEED] == 1
    st_rebl = ip[I_STREBL]
    bl_geq = ip[I_BLGEQ] == 1
    rel_rebl = ip[I_RELREBL] == 1 and nrel > 0
    skip = ip[I_SKIP]
    check_int = ip[I_CHECKINT] == 1
    rawpira = ip[I_RAWPIRA] == 1
    prec_type = ip[I_PRECTYPE]
    have_mri = ip[I_HAVE_MRI] == 1
    rtb0, rtb1 = fp[P_RTB0], fp[P_RTB1]
    rte0, rte1 = fp[P_RTE0], fp[P_RTE1]
    rtc0, rtc1 = fp[P_RTC0], fp[P_RTC1]
    ra0, ra1 = fp[P_RA0], fp[P_RA1]
    ri = fp[P_RI : P_RI + 6]
    sust_req = fp[P_SUST]
    imp_p = fp[P_IMPUTE_P]
    imp_fu = fp[P_IMPUTE_FU]
    roving_w = bmode == 1 or bmode == 3
    roving_i = bmode == 1 or bmode == 2
    pira_only = ev_mode == 3
    raw_only = ev_mode == 4
    static_for_type = bmode == 0 or bmode == 2
    assoc_gap = 0.0 if pira_only else ra0

    # distance of each visit from the closest relapse before / after (same day counts as both)
    j = 0
    for i in range(n):
        while j < nrel and rel[j] <= t[i]:
            j += 1
        crm[i] = t[i] - rel[j - 1] if j > 0 else np.inf
        k = j - 1 if (j > 0 and rel[j - 1] == t[i]) else j
        crp[i] = rel[k] - t[i] if k < nrel else np.inf
    for i in range(n):
        okc[i] = crm[i] >= rtc0 and crp[i] >= rtc1 and vc[i]

    # detected events, in detection order (before de-duplication)
    cap = d_type.shape[0]
    nd = 0
    n_cdi = 0
    n_cdw = 0
    n_raw = 0
    n_pira = 0

    bl = 0
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
            return -1  # cannot happen; signals a defect rather than looping forever
        # -- place the baseline: skip visits near a relapse or at local extrema
        lextr = _local_extremum(v, dl, bl, n, dirn, skip)
        while proceed and (crm[bl] < rtb0 or crp[bl] < rtb1 or lextr):
            bl += 1
            lextr = bl < n and _local_extremum(v, dl, bl, n, dirn, skip)
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
        if bl_geq and have_last:
            if (dirn > 0 and last_w > bl_w) or (dirn < 0 and last_w < bl_w):
                bl_w = last_w
                bl_dw = last_dw
        have_last = True
        last_w = bl_w
        last_dw = bl_dw

        # -- first visit that differs meaningfully from the baseline
        st = st_rebl != 0
        c = -1
        for x in range(search, n):
            if (_wors(v[x], bl_w, bl_dw, dirn, st) or _impr(v[x], bl_i, bl_di, dirn, st)) and (
                crm[x] >= rte0 and crp[x] >= rte1
            ):
                c = x
                break
        if c < 0:
            proceed = False
        elif rel_rebl and irel >= 0 and t[c] > rel[irel] + assoc_gap:
            # the change lies beyond the next relapse: re-baseline after it (below)
            search = c
        else:
            conf0 = _first_conf(t, okc, c, n, lo, hi, -1)
            has_conf = conf0 >= 0
            # confirmed improvement, sub-threshold improvement, worsening, sub-threshold worsening
            cdi = has_conf and _held(v, c, conf0, bl_i, bl_di, dirn, False, False, check_int)
            sub_i = (
                not cdi
                and has_conf
                and roving_i
                and (st_rebl == 1 or st_rebl == 2)
                and _held(v, c, conf0, bl_i, bl_di, dirn, False, True, check_int)
            )
            cdw = False
            imputed = False
            if not cdi and not sub_i and _wors(v[c], bl_w, bl_dw, dirn, False):
                cdw = has_conf and _held(v, c, conf0, bl_w, bl_dw, dirn, True, False, check_int)
                if not cdw and c == n - 1 and imp_p > 0 and t[c] - t[0] <= imp_fu:
                    if imp_p >= 1.0 or _rand01(subj_hash, c) < imp_p:
                        cdw = True
                        imputed = True
            sub_w = (
                not cdi
                and not sub_i
                and not cdw
                and has_conf
                and roving_w
                and (st_rebl == 1 or st_rebl == 3)
                and _held(v, c, conf0, bl_w, bl_dw, dirn, True, True, check_int)
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
                    if not _is_dir(v[x], b_ref, b_d, dirn, worsening):
                        nonsust = x
                        break
                limit = n if nonsust < 0 else nonsust
                valid = True
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
                        valid = _is_dir(v[sv], b_ref, b_d, dirn, worsening)
                # earliest confirmation per window (inside the sustained stretch)
                wconf[:] = -1
                first_w = -1
                if not imputed:
                    for w in range(nw):
                        wconf[w] = _first_conf(t, okc, c, limit, lo, hi, w)
                        if first_w < 0 and wconf[w] >= 0:
                            first_w = wconf[w]
                include = valid
                etype = T_CDI
                pirma = -1
                pconf_first = -1
                pconf_w[:] = -1
                lastd = 0
                if valid:
                    lastd = _last_delta(v, dl, c, conf0, n, dirn, worsening, skip, check_int)
                if valid and worsening:
                    etype = T_CDW
                    if rawpira and (crm[c] <= ra0 or crp[c] <= ra1):
                        if pira_only and static_for_type:
                            include = False
                        else:
                            etype = T_RAW
                    elif rawpira:
                        if raw_only and static_for_type:
                            include = False
                        else:
                            if prec_type == 0:
                                tprec = t[bl]
                            elif prec_type == 1:
                                tprec = t[c - 1]
                            else:
                                tprec = t[lastd]
                            any_free = False
                            all_mri_free = False
                            for x in range(c + 1, limit) if not imputed else range(n - 1, n):
                                if not imputed and not (okc[x] and _in_any_window(t, c, x, lo, hi)):
                                    continue
                                if _window_free(rel, tprec, t[c], t[x], ri):
                                    if not any_free:
                                        pconf_first = x
                                    any_free = True
                                    if not imputed:
                                        for w in range(nw):
                                            if pconf_w[w] < 0 and lo[w] <= t[x] - t[c] <= hi[w]:
                                                pconf_w[w] = x
                                    if have_mri and _window_free(mri_act, tprec, t[c], t[x], ri):
                                        all_mri_free = True
                            if any_free:
                                etype = T_PIRA
                                if have_mri:
                                    # no scan at all between baseline and confirmation: unknown
                                    if _hits(mri_all, t[bl], t[pconf_first]):
                                        pirma = 1 if all_mri_free else 0
                            elif pira_only and static_for_type:
                                include = False
                if include:
                    if nd >= cap:
                        return -1
                    d_int[nd, :] = -1
                    d_int[nd, O_EVENT] = c
                    d_int[nd, O_BL] = bl
                    d_int[nd, O_CONF] = -1 if imputed else conf0
                    d_int[nd, O_LASTDELTA] = lastd
                    d_int[nd, O_SUST] = n - 1 if nonsust < 0 else nonsust - 1
                    d_int[nd, O_PCONF] = pconf_first
                    d_type[nd] = etype
                    d_pirma[nd] = pirma
                    d_blval[nd] = b_ref
                    d_imp[nd] = imputed
                    for w in range(nw):
                        d_conf_w[nd, w] = wconf[w]
                        d_pconf_w[nd, w] = pconf_w[w]
                    nd += 1
                    if etype == T_CDI:
                        n_cdi += 1
                    else:
                        n_cdw += 1
                        if etype == T_RAW:
                            n_raw += 1
                        elif etype == T_PIRA:
                            n_pira += 1
                # where to go on from, and the new baseline
                if imputed or first_w < 0:
                    search = c + 1
                else:
                    newref = c if from_event else first_w
                    if (roving_w and worsening) or (roving_i and not worsening):
                        bl = newref
                    elif not include:
                        newref = c
                    search = newref + 1
            elif sub_i or sub_w:
                newref = c if from_event else conf0
                bl = newref
                search = newref + 1
            else:
                search = c + 1

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
            if ev_mode == 2 and nd > 1:
                proceed = False
            elif ev_mode == 0 and n_cdw > 0:
                proceed = False
            elif ev_mode == 1 and n_cdi > 0:
                proceed = False
            elif ev_mode == 3 and n_pira > 0:
                proceed = False
            elif ev_mode == 4 and n_raw > 0:
                proceed = False

    # -- de-duplicate (a visit found twice after a relapse re-baseline keeps the last finding)
    keep = np.zeros(nd, dtype=np.bool_)
    for a in range(nd):
        keep[a] = True
        for b in range(a + 1, nd):
            if d_int[b, O_EVENT] == d_int[a, O_EVENT]:
                keep[a] = False
                break
    order = np.argsort(d_int[:nd, O_EVENT])
    # -- keep the requested events
    chosen = np.zeros(nd, dtype=np.bool_)
    if ev_mode == 5:
        for a in range(nd):
            chosen[a] = keep[a]
    else:
        for q in range(nd):
            a = order[q]
            if not keep[a]:
                continue
            tp = d_type[a]
            if (
                ev_mode == 2
                or (ev_mode == 0 and tp >= T_CDW)
                or (ev_mode == 1 and tp == T_CDI)
                or (ev_mode == 3 and tp == T_PIRA)
                or (ev_mode == 4 and tp == T_RAW)
            ):
                chosen[a] = True
                break
    k = 0
    for q in range(nd):
        a = order[q]
        if not chosen[a]:
            continue
        if k >= room:
            k += 1  # counted, not written: the caller reruns this subject with more room
            continue
        row = base + k
        for col in range(N_OINT):
            o_int[row, col] = d_int[a, col]
        o_type[row] = d_type[a]
        o_pirma[row] = d_pirma[a]
        o_blval[row] = d_blval[a]
        o_imputed[row] = d_imp[a]
        for w in range(nw):
            o_conf_w[row, w] = d_conf_w[a, w]
            o_pconf_w[row, w] = d_pconf_w[a, w]
        k += 1
    return k


@njit(cache=True, parallel=True)
def scan_all(
    offsets,
    t,
    v,
    dl,
    vc,
    rel_off,
    rel,
    mri_off,
    mri_act_days,
    mri_all_off,
    mri_all_days,
    lo,
    hi,
    fp,
    ip,
    subj_hash,
    out_off,
):
    """Scan every subject; return per-event arrays (local visit indices) and counts per subject.

    Subject ``s`` writes its events at rows ``out_off[s]`` to ``out_off[s + 1]`` of the outputs;
    its count may exceed that room (then only the first events are written and the caller
    reruns it with more). Subjects are processed in chunks, in parallel; each chunk allocates
    its scratch space once.
    """
    nsub = offsets.shape[0] - 1
    nout = out_off[nsub]
    nw = lo.shape[0]
    o_int = np.empty((nout, N_OINT), dtype=np.int32)
    o_type = np.empty(nout, dtype=np.int8)
    o_pirma = np.empty(nout, dtype=np.int8)
    o_blval = np.empty(nout)
    o_imputed = np.empty(nout, dtype=np.bool_)
    o_conf_w = np.empty((nout, nw), dtype=np.int32)
    o_pconf_w = np.empty((nout, nw), dtype=np.int32)
    counts = np.zeros(nsub, dtype=np.int64)
    nchunks = min(nsub, 256)
    for ch in prange(nchunks):
        s0 = (nsub * ch) // nchunks
        s1 = (nsub * (ch + 1)) // nchunks
        maxn = 1
        maxcap = 4
        for s in range(s0, s1):
            n = offsets[s + 1] - offsets[s]
            nr = rel_off[s + 1] - rel_off[s]
            maxn = max(maxn, n)
            maxcap = max(maxcap, n * (nr + 1) + 4)
        crm = np.empty(maxn)
        crp = np.empty(maxn)
        okc = np.empty(maxn, dtype=np.bool_)
        d_int = np.full((maxcap, N_OINT), -1, dtype=np.int32)
        d_type = np.zeros(maxcap, dtype=np.int8)
        d_pirma = np.full(maxcap, -1, dtype=np.int8)
        d_blval = np.empty(maxcap)
        d_imp = np.zeros(maxcap, dtype=np.bool_)
        d_conf_w = np.full((maxcap, nw), -1, dtype=np.int32)
        d_pconf_w = np.full((maxcap, nw), -1, dtype=np.int32)
        wconf = np.full(nw, -1, dtype=np.int64)
        pconf_w = np.full(nw, -1, dtype=np.int64)
        for s in range(s0, s1):
            a = offsets[s]
            b = offsets[s + 1]
            if b <= a or out_off[s + 1] == out_off[s]:
                continue
            n = b - a
            nr = rel_off[s + 1] - rel_off[s]
            cap = n * (nr + 1) + 4
            counts[s] = _scan_subject(
                t[a:b],
                v[a:b],
                dl[a:b],
                vc[a:b],
                rel[rel_off[s] : rel_off[s + 1]],
                mri_act_days[mri_off[s] : mri_off[s + 1]],
                mri_all_days[mri_all_off[s] : mri_all_off[s + 1]],
                lo,
                hi,
                fp,
                ip,
                subj_hash[s],
                o_int,
                o_type,
                o_pirma,
                o_blval,
                o_imputed,
                o_conf_w,
                o_pconf_w,
                out_off[s],
                out_off[s + 1] - out_off[s],
                crm[:n],
                crp[:n],
                okc[:n],
                d_int[:cap],
                d_type[:cap],
                d_pirma[:cap],
                d_blval[:cap],
                d_imp[:cap],
                d_conf_w[:cap],
                d_pconf_w[:cap],
                wconf,
                pconf_w,
            )
    return o_int, o_type, o_pirma, o_blval, o_imputed, o_conf_w, o_pconf_w, counts
