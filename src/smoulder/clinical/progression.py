"""Confirmed disability worsening (CDW) and improvement (CDI), PIRA, RAW and PIRMA.

The public entry point is :func:`assess`, which takes a visits table and
optional relapse and MRI-activity tables as pandas DataFrames and returns a
:class:`~smoulder.clinical.result.ProgressionResult`. The hot loop runs
compiled (numba) and in parallel over subjects; see ``_kernel.py``.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from smoulder import __version__
from smoulder.clinical import _kernel as K
from smoulder.clinical._codes import (
    O_BL,
    O_CONF,
    O_EVENT,
    O_LASTDELTA,
    O_PCONF,
    O_SUST,
    EventType,
    Pirma,
    scan_options,
    windows,
)
from smoulder.clinical.result import ProgressionResult
from smoulder.clinical.settings import ProgressionSettings, make_settings
from smoulder.exceptions import SettingsError
from smoulder.schema._fastcheck import order_state

_TYPE_NAME = np.array(["", "CDI", "CDW", "CDW", "CDW"], dtype=object)
_CDW_TYPE_NAME = np.array(["", "", "undefined", "RAW", "PIRA"], dtype=object)

#: events per subject the first pass makes room for
_EVENT_ROOM = 4
#: unconfirmed changes per subject the first pass makes room for (with ``return_unconfirmed``)
_UNCONFIRMED_ROOM = 8


def _to_days(dates: pd.Series | np.ndarray) -> np.ndarray:
    """Day numbers (days since 1970-01-01, int64) of dates."""
    arr = np.asarray(dates)
    if arr.dtype == np.dtype("datetime64[s]"):
        return arr.view(np.int64) // 86400
    return arr.astype("datetime64[D]").astype(np.int64)


def _day_floats(dates: np.ndarray) -> np.ndarray:
    """Day numbers (days since 1970-01-01, floored) of dates, as float64."""
    arr = np.asarray(dates)
    if arr.dtype == np.dtype("datetime64[s]"):  # what the readers give: one pass, exact
        out: np.ndarray = arr.view(np.int64) / 86400.0
        return np.floor(out, out=out)
    return _to_days(arr).astype(np.float64)


#: nanoseconds in a day
_NS_PER_DAY = 86_400 * 10**9


def _ns_dates(days: np.ndarray, idx: np.ndarray) -> np.ndarray:
    """``datetime64[ns]`` of the day numbers ``days[idx]`` (whole days), NaT where ``idx < 0``."""
    out = days[np.maximum(idx, 0)].astype(np.int64) * _NS_PER_DAY
    out[idx < 0] = np.iinfo(np.int64).min  # NaT
    return out.view("datetime64[ns]")


def _group_offsets(codes: np.ndarray, nsub: int) -> np.ndarray:
    off = np.zeros(nsub + 1, dtype=np.int64)
    np.cumsum(np.bincount(codes, minlength=nsub), out=off[1:])
    return off


def _subject_codes(table: pd.DataFrame, categories: pd.Index) -> np.ndarray:
    """Codes of ``table``'s subjects in ``categories`` (-1 for subjects not there)."""
    col = table["subject"]
    if isinstance(col.dtype, pd.CategoricalDtype):
        own_cats = col.cat.categories
        if own_cats is categories or (
            len(own_cats) == len(categories) and own_cats.equals(categories)
        ):
            return col.cat.codes.to_numpy().astype(np.int64)
        # map the table's own categories onto ours once, then translate its codes
        lookup = categories.get_indexer(col.cat.categories.astype(str))
        own = col.cat.codes.to_numpy()
        return np.where(own >= 0, lookup[own], -1).astype(np.int64)
    return categories.get_indexer(col.astype(str)).astype(np.int64)


def _events_by_subject(
    table: pd.DataFrame | None,
    categories: pd.Index,
    day_col: str = "date",
    flag: str | None = None,
    codes: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Sorted day arrays per subject (CSR layout) for relapses or MRI scans."""
    nsub = len(categories)
    if table is None or len(table) == 0:
        return np.zeros(nsub + 1, dtype=np.int64), np.zeros(0, dtype=np.float64)
    if codes is None:
        codes = _subject_codes(table, categories)
    keep = codes >= 0
    if flag is not None:
        keep &= table[flag].to_numpy(dtype=bool)
    codes = codes[keep]
    days = _to_days(table[day_col].to_numpy()[keep]).astype(np.float64)
    if not order_state(codes, days)[0]:
        order = np.lexsort((days, codes))
        codes, days = codes[order], days[order]
    return _group_offsets(codes, nsub), np.ascontiguousarray(days)


def assess(
    visits: pd.DataFrame,
    relapses: pd.DataFrame | None = None,
    mri_activity: pd.DataFrame | None = None,
    settings: ProgressionSettings | dict[str, Any] | None = None,
    *,
    subject_col: str = "subject",
    date_col: str = "date",
    value_col: str = "value",
    validconf_col: str | None = None,
    valuedelta_col: str | None = None,
    relapse_date_col: str | None = None,
    relapse_end_col: str | None = None,
    mri_date_col: str | None = None,
    mri_active_col: str = "active",
    on_duplicate: str = "error",
    on_missing: str = "error",
    source: str = "<visits>",
    return_unconfirmed: bool = False,
    **options: Any,
) -> ProgressionResult:
    """Detect confirmed disability events of one outcome for any number of subjects.

    Parameters
    ----------
    visits : DataFrame
        One row per assessment: subject, date, value (and optionally a
        ``validconf`` column saying which visits may confirm an event).
    relapses : DataFrame, optional
        Relapse onsets: subject and onset date (same column names as
        ``visits`` unless ``relapse_date_col`` is given).
    mri_activity : DataFrame, optional
        MRI scans: subject, scan date and whether new/enlarging T2 or
        gadolinium-enhancing lesions were seen (``mri_active_col``). Enables
        the PIRMA flag of PIRA events.
    settings : ProgressionSettings or mapping, optional
        Analysis options; keyword ``options`` override single fields (e.g.
        ``event="multiple", baseline="roving", classify_cdw=True``).
    subject_col, date_col, value_col, validconf_col : str
        Column names in ``visits``.
    valuedelta_col : str, optional
        Column whose value sets the minimal change at each baseline instead of
        ``value_col`` (msprog's ``valuedelta_col``).
    on_duplicate : str
        Policy for several visits of one subject on one day; see
        :func:`smoulder.io.tables.validate_visits`.

    Returns
    -------
    ProgressionResult
        Events, per-subject summary, settings, ingest report, plots.

    Examples
    --------
    >>> import pandas as pd
    >>> v = pd.DataFrame(
    ...     {
    ...         "subject": ["a"] * 4,
    ...         "date": pd.to_datetime(["2020-01-01", "2020-07-01", "2021-01-01", "2021-07-01"]),
    ...         "value": [2.0, 3.0, 3.0, 3.0],
    ...     }
    ... )
    >>> res = assess(v, outcome="edss")
    >>> res.events[["event_type", "event_date", "confirmation_date"]].astype(str).values.tolist()
    [['CDW', '2020-07-01', '2021-01-01']]
    """
    from smoulder.schema.inputs import validate_inputs

    s = make_settings(settings, **options)
    got = validate_inputs(
        visits,
        relapses,
        mri_activity,
        sources=(source, "<relapses>", "<mri>"),
        subject_col=subject_col,
        date_col=date_col,
        value_col=value_col,
        outcome=s.outcome,
        validconf_col=validconf_col,
        valuedelta_col=valuedelta_col,
        relapse_date_col=relapse_date_col,
        relapse_end_col=relapse_end_col,
        mri_date_col=mri_date_col,
        mri_active_col=mri_active_col,
        on_duplicate=on_duplicate,
        on_missing=on_missing,
    )
    return run_validated(
        got.visits,
        got.relapses,
        got.mri_activity,
        s,
        ingest=got.report,
        return_unconfirmed=return_unconfirmed,
    )


def run_validated(
    visits: pd.DataFrame,
    relapses: pd.DataFrame | None,
    mri_activity: pd.DataFrame | None,
    settings: ProgressionSettings,
    ingest: Any = None,
    *,
    return_unconfirmed: bool = False,
) -> ProgressionResult:
    """Run the engine on tables already validated by :mod:`smoulder.schema.tables`.

    Parameters
    ----------
    visits : DataFrame
        ``subject``, ``date``, ``value``, ``validconf`` (and optionally ``valuedelta``), one row
        per subject and day, as :func:`smoulder.schema.tables.validate_visits` returns them.
    relapses, mri_activity : DataFrame or None
        Validated relapse onsets (``subject``, ``date``) and MRI scans (``subject``, ``date``,
        ``active``).
    settings : ProgressionSettings
        What to look for (:func:`make_settings` builds them from keywords).
    ingest : IngestReport, optional
        The validation report, carried into the result's notes.
    return_unconfirmed : bool
        Also build :attr:`ProgressionResult.unconfirmed`, the changes never confirmed.

    Returns
    -------
    ProgressionResult

    Examples
    --------
    >>> import pandas as pd
    >>> from smoulder.clinical import make_settings, run_validated
    >>> visits = pd.DataFrame(
    ...     {
    ...         "subject": pd.Categorical(["a"] * 4),
    ...         "date": pd.to_datetime(["2020-01-01", "2020-07-01", "2021-01-01", "2021-07-01"]),
    ...         "value": [2.0, 3.0, 2.0, 2.0],
    ...         "validconf": True,
    ...     }
    ... )
    >>> res = run_validated(visits, None, None, make_settings(), return_unconfirmed=True)
    >>> len(res.events)
    0
    >>> u = res.unconfirmed.iloc[0]
    >>> str(u.date.date()), float(u.value), float(u.baseline_value)
    ('2020-07-01', 3.0, 2.0)
    """
    s = settings
    subj = visits["subject"]
    if isinstance(subj.dtype, pd.CategoricalDtype):
        cat = subj.cat
        if not cat.categories.is_monotonic_increasing:
            subj = subj.cat.reorder_categories(cat.categories.sort_values())
        codes = subj.cat.codes.to_numpy()  # int8/16/32 as pandas keeps them: no int64 copy
        categories = subj.cat.categories
    else:
        codes, uniq = pd.factorize(subj.astype(str), sort=True)
        categories = pd.Index(uniq)
    # day numbers as the floats the scan takes (one array; also what the tables are built from)
    t = _day_floats(visits["date"].to_numpy())
    values = visits["value"].to_numpy(dtype=np.float64)
    vc = (
        visits["validconf"].to_numpy(dtype=bool)
        if "validconf" in visits
        else np.ones(len(values), bool)
    )
    dvals = visits["valuedelta"].to_numpy(dtype=np.float64) if "valuedelta" in visits else values
    # sort by subject then day (stable); inputs from the readers are already sorted
    is_sorted, has_dup = order_state(codes, t)
    if not is_sorted:
        order = np.lexsort((t, codes))
        codes, t, values, vc, dvals = (
            codes[order],
            t[order],
            values[order],
            vc[order],
            dvals[order],
        )
        has_dup = order_state(codes, t)[1]
    if has_dup:
        raise SettingsError("visits must have one row per subject and day; validate them first")
    # subjects are runs of equal codes now: where each starts
    run_starts = np.flatnonzero(codes[1:] != codes[:-1]) + 1
    if len(codes) and codes[0] < 0:
        raise SettingsError("visits have rows without a subject id; validate them first")
    n_runs = len(run_starts) + 1 if len(codes) else 0
    if isinstance(subj.dtype, pd.CategoricalDtype) and n_runs != len(categories):
        # subjects without visits: numbered away, as remove_unused_categories does
        subj = subj.cat.remove_unused_categories()
        categories = subj.cat.categories
    if categories.dtype != object or categories.inferred_type != "string":
        categories = pd.Index(categories.astype(str))
    nsub = len(categories)
    offsets = np.zeros(nsub + 1, dtype=np.int64)
    if nsub:
        offsets[1:-1] = run_starts
        offsets[-1] = len(codes)
    mc = s.minimal_change()
    delta = mc.delta(dvals)
    rel_off, rel_days = _events_by_subject(relapses, categories)
    have_mri = mri_activity is not None
    mri_codes = (
        _subject_codes(mri_activity, categories)
        if mri_activity is not None and len(mri_activity)
        else None
    )
    mri_off, mri_act = _events_by_subject(
        mri_activity, categories, flag="active" if have_mri else None, codes=mri_codes
    )
    mri_all_off, mri_all = _events_by_subject(mri_activity, categories, codes=mri_codes)
    opt = scan_options(s, have_mri, record_unconfirmed=return_unconfirmed)
    lo, hi = windows(s)
    if 0 < opt.impute_probability < 1:
        # probabilistic imputation draws from a stream keyed by the seed and the subject's id
        subj_hash = pd.util.hash_array(categories.to_numpy(dtype=object)).astype(
            np.uint64
        ) ^ np.uint64(s.seed)
    else:
        subj_hash = np.zeros(nsub, dtype=np.uint64)
    # Output room: a few events (and unconfirmed changes) per subject; the rare subject with more
    # is scanned again with room for all of them (events: one per visit at most).
    n_vis = np.diff(offsets)
    room = np.minimum(n_vis, _EVENT_ROOM)
    uroom = np.minimum(n_vis, _UNCONFIRMED_ROOM) if return_unconfirmed else np.zeros_like(n_vis)
    args = (
        offsets,
        t,
        values,
        delta,
        vc,
        rel_off,
        rel_days,
        mri_off,
        mri_act,
        mri_all_off,
        mri_all,
        lo,
        hi,
        opt,
        subj_hash,
    )
    out_off, uout_off = _room_offsets(room), _room_offsets(uroom)
    outs, counts, uouts, ucounts = K.scan_all(*args, out_off, uout_off)
    over = (counts > room) | (ucounts > uroom)
    outs2 = uouts2 = None
    out_off2, uout_off2 = out_off, uout_off
    if over.any():
        most = n_vis * (np.diff(rel_off) + 1) + 4  # every change found once per relapse at most
        out_off2 = _room_offsets(np.where(over, n_vis, 0))
        uout_off2 = _room_offsets(np.where(over & return_unconfirmed, most, 0))
        outs2, counts2, uouts2, ucounts2 = K.scan_all(*args, out_off2, uout_off2)
        counts = np.where(over, counts2, counts)
        ucounts = np.where(over, ucounts2, ucounts)
    if np.any(counts < 0):
        bad = categories[np.flatnonzero(counts < 0)[0]]
        raise RuntimeError(
            f"internal error: the scan did not terminate for one subject ({bad!r}); please report"
        )

    # subject s has counts[s] events, in the first pass or (when it overflowed) the second
    ev_sub, within, take = _gather(counts, over, out_off, out_off2, outs, outs2)
    starts = offsets[:-1][ev_sub]

    o_type_e, o_pirma_e, o_blval_e, o_imp_e = take(1), take(2), take(3), take(4)

    def glob(col: np.ndarray) -> np.ndarray:
        return np.where(col >= 0, starts + col, -1)

    def pick_date(idx: np.ndarray) -> np.ndarray:
        return _ns_dates(t, idx)

    def pick_val(idx: np.ndarray) -> np.ndarray:
        out = values[np.maximum(idx, 0)]
        out[idx < 0] = np.nan
        return out

    ev_i = glob(take(0, O_EVENT))
    bl_i = glob(take(0, O_BL))
    cf_i = glob(take(0, O_CONF))
    ld_i = glob(take(0, O_LASTDELTA))
    su_i = glob(take(0, O_SUST))
    imputed = o_imp_e
    pc_i = np.where(imputed, -1, glob(take(0, O_PCONF)))
    types = o_type_e.astype(np.int64)
    first_day = t[offsets[:-1]]
    nevent = within + 1
    pirma = pd.array(np.where(o_pirma_e == Pirma.YES, True, False), dtype="boolean")
    pirma[o_pirma_e == Pirma.UNKNOWN] = pd.NA
    subject_dtype = (
        subj.dtype
        if isinstance(subj.dtype, pd.CategoricalDtype) and subj.dtype.categories is categories
        else pd.CategoricalDtype(categories)
    )
    events = pd.DataFrame(
        {
            "subject": pd.Categorical.from_codes(ev_sub, dtype=subject_dtype, validate=False),
            "nevent": nevent.astype(np.int64),
            "event_type": _TYPE_NAME[types],
            "cdw_type": _CDW_TYPE_NAME[types],
            "pirma": pirma,
            "baseline_date": pick_date(bl_i),
            "baseline_value": o_blval_e,
            "event_date": pick_date(ev_i),
            "event_value": pick_val(ev_i),
            "confirmation_date": pick_date(cf_i),
            "confirmation_value": pick_val(cf_i),
            # differences of whole day numbers held as floats: exact
            "time_to_event_days": t[np.maximum(ev_i, 0)] - first_day[ev_sub],
            "baseline_to_event_days": t[np.maximum(ev_i, 0)] - t[np.maximum(bl_i, 0)],
            "sustained_days": t[np.maximum(su_i, 0)] - t[np.maximum(ev_i, 0)],
            "sustained_to_last": su_i == (offsets[1:][ev_sub] - 1),
            "imputed": imputed,
            "last_delta_date": pick_date(np.where(ld_i >= 0, ld_i, -1)),
            "last_delta_value": pick_val(np.where(ld_i >= 0, ld_i, -1)),
            "pira_confirmation_date": pick_date(pc_i),
            "pira_confirmation_value": pick_val(pc_i),
        },
        copy=False,
    )
    if not s.rawpira:
        events["cdw_type"] = np.where(events["event_type"] == "CDW", "", events["cdw_type"])
    if len(s.conf_days) > 1:
        for w, c in enumerate(s.conf_days):
            cw = glob(take(5, w))
            events[f"conf{c:g}_date"] = pick_date(cw)
            events[f"conf{c:g}_value"] = pick_val(cw)
            if s.rawpira:
                pw = glob(take(6, w))
                events[f"pira_conf{c:g}_date"] = pick_date(pw)
                events[f"pira_conf{c:g}_value"] = pick_val(pw)

    summary = _summary(subject_dtype, offsets, t, types, ev_sub, o_pirma_e, nsub)
    unconfirmed = None
    if return_unconfirmed:
        u_sub, _, utake = _gather(ucounts, over, uout_off, uout_off2, uouts, uouts2)
        ustart = offsets[:-1][u_sub]
        unconfirmed = _unconfirmed_table(
            subject_dtype, u_sub, ustart + utake(0), ustart + utake(1), utake(2), utake(3),
            utake(4), t, values,
        )  # fmt: skip
    return ProgressionResult(
        events=events,
        summary=summary,
        settings=s,
        ingest=ingest,
        version=__version__,
        visits=visits,
        relapses=relapses,
        mri_activity=mri_activity,
        unconfirmed=unconfirmed,
    )


def _room_offsets(room: np.ndarray) -> np.ndarray:
    """Where each subject's rows start in an output with ``room[s]`` rows for subject ``s``."""
    off = np.zeros(len(room) + 1, dtype=np.int64)
    np.cumsum(room, out=off[1:])
    return off


def _gather(
    counts: np.ndarray,
    over: np.ndarray,
    off1: np.ndarray,
    off2: np.ndarray,
    out1: Any,
    out2: Any,
) -> tuple[np.ndarray, np.ndarray, Any]:
    """Rows of every subject's output, from the first pass or (subjects in ``over``) the second:
    the subject of each row, its position within the subject, and ``take(field, column)``."""
    nsub = len(counts)
    n = int(counts.sum())
    sub = np.repeat(np.arange(nsub), counts)
    within = np.arange(n) - np.repeat(np.cumsum(counts) - counts, counts)
    second = over[sub]
    rows1 = np.where(second, 0, off1[:-1][sub] + within)
    rows2 = (off2[:-1][sub] + within)[second]

    def take(k: int, col: int | None = None) -> np.ndarray:
        """Field ``k`` of the scan output for every row, from whichever pass holds it."""
        a = out1[k] if col is None else out1[k][:, col]
        got = a[rows1]
        if out2 is not None and second.any():
            b = out2[k] if col is None else out2[k][:, col]
            got[second] = b[rows2]
        return got

    return sub, within, take


def _unconfirmed_table(
    subject_dtype: pd.CategoricalDtype,
    sub: np.ndarray,
    change: np.ndarray,
    bl: np.ndarray,
    blval: np.ndarray,
    since: np.ndarray,
    until: np.ndarray,
    days: np.ndarray,
    values: np.ndarray,
) -> pd.DataFrame:
    """The changes that were never confirmed (``UNCONFIRMED_COLUMNS``), in detection order."""

    def dates(idx: np.ndarray) -> np.ndarray:
        return _ns_dates(days, idx)

    return pd.DataFrame(
        {
            "subject": pd.Categorical.from_codes(sub, dtype=subject_dtype, validate=False),
            "baseline_date": dates(bl),
            "baseline_value": blval,
            "date": dates(change),
            "value": values[change],
            "days_since_relapse": np.where(np.isinf(since), np.nan, since),
            "days_to_next_relapse": np.where(np.isinf(until), np.nan, until),
        },
        copy=False,
    )


def _summary(
    subject_dtype: pd.CategoricalDtype,
    offsets: np.ndarray,
    days: np.ndarray,
    types: np.ndarray,
    ev_sub: np.ndarray,
    pirma: np.ndarray,
    nsub: int,
) -> pd.DataFrame:
    n_visits = np.diff(offsets)
    # every subject has at least one visit: the ids come from the visits
    first = days[offsets[:-1]].astype(np.int64)
    last = days[offsets[1:] - 1].astype(np.int64)

    def count(mask: np.ndarray) -> np.ndarray:
        return np.bincount(ev_sub[mask], minlength=nsub).astype(np.int64)

    summary = pd.DataFrame(
        {
            "subject": pd.Categorical.from_codes(
                np.arange(nsub), dtype=subject_dtype, validate=False
            ),
            "first_visit_date": first.astype("datetime64[D]").astype("datetime64[ns]"),
            "last_visit_date": last.astype("datetime64[D]").astype("datetime64[ns]"),
            "follow_up_days": (last - first).astype(np.float64),
            "n_visits": n_visits.astype(np.int64),
            "n_cdw": count(types >= EventType.CDW),
            "n_cdi": count(types == EventType.CDI),
            "n_pira": count(types == EventType.PIRA),
            "n_raw": count(types == EventType.RAW),
            "n_undefined": count(types == EventType.CDW),
            "n_pirma": count((types == EventType.PIRA) & (pirma == Pirma.YES)),
        },
        copy=False,
    )
    # event sequence text ("RAW, PIRA, CDI"), concatenated per subject in one vectorised pass
    seq = np.full(nsub, "", dtype=object)
    if len(ev_sub):
        starts = np.r_[0, np.flatnonzero(np.diff(ev_sub)) + 1]
        first = np.zeros(len(types), dtype=bool)
        first[starts] = True
        lead = np.array(["", "CDI", "CDW", "RAW", "PIRA"], dtype=object)
        rest = np.array(["", ", CDI", ", CDW", ", RAW", ", PIRA"], dtype=object)
        names = np.where(first, lead[types], rest[types])
        seq[ev_sub[starts]] = np.add.reduceat(names, starts)
    summary["event_sequence"] = seq
    return summary
