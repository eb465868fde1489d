"""Streaming reader of Apple Health exports (``export.zip`` or ``export.xml``).

The file is parsed with the standard library's expat parser in blocks of 1 MiB; records of the
types in the measures catalogue (``Measure.apple_types``) are collected in chunks, turned into
numeric arrays and reduced at once (hourly sums per source for additive measures, single samples
for the others, sleep per night), so memory stays bounded whatever the size of the export (a
10-year export of several million records is read in well under 500 MB).

Rules (documented in ``docs/digital_import.md``):

* **Units.** Apple's unit strings are converted with the catalogue (``km/hr``, ``cm``, ``mi/hr``,
  ``in`` ...). HealthKit stores percentages as fractions (``unit="%" value="0.07"`` is 7 %), so
  walking asymmetry and double-support values with unit ``%`` are multiplied by 100.
* **Time.** Every date carries its own UTC offset (``2021-03-28 01:30:00 +0100``). A record
  belongs to the local calendar date of its own offset, the date on the person's clock: a trip
  to New York puts that week's steps on New York dates; on a daylight-saving day the local day
  has 23 or 25 hours and all of them count. A record's local time line runs from its
  ``startDate`` in the start's offset; durations come from the UTC instants, so a record across
  a DST change keeps its true length.
* **Additive measures** (catalogue ``daily == "sum"``: steps, flights climbed) are spread over
  the local hours they cover in proportion to time (a record from 23:50 to 00:10 gives half its
  steps to each day). Phone and watch both count steps, so sources are **never summed**: for
  each hour (keyed by its UTC start, so two devices agree even across DST) only one source
  counts, chosen by the source-priority list (case-insensitive substrings of ``sourceName`` or of
  the name and model in the source's ``device`` attribute, so a renamed watch is still a watch;
  default ``("Watch", "iPhone")``: the watch wins, then the phone, then any other app); among
  sources of equal rank the one with the larger total in that hour wins. With
  ``dedup="max"`` the larger total always wins. The daily value is the sum over hours.
* **Other measures** (walking speed, step length, asymmetry, double support, six-minute-walk
  estimate, HRV) are single samples dated by the local date of their start, combined per day by
  the catalogue rule (median, or the last estimate of the day); samples of all sources count.
* **Sleep**: only asleep categories count (``Asleep``, ``AsleepUnspecified``, ``AsleepCore``,
  ``AsleepDeep``, ``AsleepREM``; ``InBed`` and ``Awake`` are counted in the report and left out).
  A night is assigned to its wake-up date: a segment counts for date *D* when it ends between
  18:00 on *D-1* and 18:00 on *D* (local time of its end; ``sleep_day_start_hour``). Segments of
  one source in one night add up; of several sources one is chosen as for steps.
* **Wear time**: heart-rate samples of worn devices (``sourceName`` containing "Watch" by default)
  give ``wear_hours``, the number of local clock hours of a day with at least one sample, so
  that the daily aggregation can leave out days the watch was hardly worn.
* **Duplicates**: records identical in type, source, start, end and value are merged (counted).
* **Bad input**: an impossible value (negative steps, 20 m/s walking speed), an unknown unit, an
  unparseable date or an end before the start stops the import with an error naming the line of
  the record; malformed or truncated XML stops it with the line and column. With
  ``on_error="keep-valid"`` bad records are left out and counted, and for broken XML every
  record before the break is kept; the report says what was lost. The document type
  declaration is skipped (line breaks kept), since iOS 16 exports ship a malformed one; control
  characters that XML forbids are replaced by spaces (the file is then read a second time).

Examples
--------
>>> from smoulder.io.apple_health import read_apple_health
>>> df, report = read_apple_health("export.zip", subject="p01")  # doctest: +SKIP
>>> df.columns.tolist()  # doctest: +SKIP
['subject', 'date', 'measure', 'value', 'unit']
"""

from __future__ import annotations

import contextlib
import io
import queue
import re
import threading
import xml.parsers.expat
import zipfile
import zlib
from collections.abc import Callable, Generator, Sequence
from pathlib import Path
from typing import IO, Any

import numpy as np
import pandas as pd

from smoulder.digital.catalogue import MEASURES, Measure
from smoulder.exceptions import InputDataError, SettingsError
from smoulder.io._apple_arrays import (
    CTRL,
    CTRL_TABLE,
    HEAD_LIMIT,
    SeenSet,
    blank_doctype,
    fmt_offset,
    mix64,
    open_export,
    parse_apple_dates,
)
from smoulder.io.tables import IngestReport

__all__ = [
    "read_apple_health",
    "APPLE_TYPES",
    "ASLEEP_VALUES",
    "DEFAULT_SOURCE_PRIORITY",
    "DEFAULT_WEAR_SOURCES",
]

SLEEP_TYPE = "HKCategoryTypeIdentifierSleepAnalysis"
HEART_RATE_TYPE = "HKQuantityTypeIdentifierHeartRate"
DEFAULT_WEAR_SOURCES = ("Watch",)
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
DEFAULT_SOURCE_PRIORITY = ("Watch", "iPhone")
#: HealthKit percentages are fractions 0-1: unit "%" means "fraction" for these measures
_PERCENT_AS_FRACTION = frozenset({"walking_asymmetry", "double_support"})
_MAX_RECORD_SECONDS = 31 * 86400
_BLOCK = 1 << 20
#: the name and model fields of a record's device string (``<<HKDevice: ...>, name:Apple Watch, ...>``)
_DEVICE_FIELD = re.compile(r"(?:^|[,\s])(?:name|model):([^,>]*)")

#: Apple record type -> catalogue measure
APPLE_TYPES: dict[str, Measure] = {t: m for m in MEASURES.values() for t in m.apple_types}

ProgressCallback = Callable[[int, int], None]


class _Reader:
    """State of one streaming read: chunk buffers, reduced partial results and the report."""

    def __init__(
        self,
        source: str,
        subject: str,
        priority: Sequence[str],
        dedup: str,
        on_error: str,
        sleep_day_start_hour: float,
        chunk_records: int,
        wear_sources: Sequence[str] = (),
    ) -> None:
        self.source = source
        self.subject = subject
        self.priority = [p.lower() for p in priority]
        self.dedup = dedup
        self.keep_valid = on_error == "keep-valid"
        self.sleep_shift = int(round((24 - sleep_day_start_hour) * 3600))
        self.chunk_records = chunk_records
        self.report = IngestReport(source=source)
        self.measures: list[Measure] = []
        self.type_names: list[str] = []
        self.codes: dict[str, int] = {}
        for t, m in APPLE_TYPES.items():
            self.codes[t] = len(self.type_names)
            self.type_names.append(t)
            self.measures.append(m)
        self.sleep_code = self.codes.get(SLEEP_TYPE, -1)
        self.wear_sources = [w.lower() for w in wear_sources]
        self.wear_on = bool(self.wear_sources) and "wear_hours" in MEASURES
        self.hr_code = len(self.type_names)
        if self.wear_on:
            self.codes[HEART_RATE_TYPE] = self.hr_code
        self.wear_buf: tuple[list[Any], list[Any]] = ([], [])
        self.wear_hours: list[np.ndarray] = []
        self.hr_records = 0
        self.additive = np.array(
            [m.daily == "sum" and m.name != "sleep_hours" for m in self.measures]
        )
        self.sources: dict[str, int] = {}
        self.devices: dict[int, str] = {}
        self.no_device: set[int] = set()
        self.units: dict[str | None, int] = {}
        self.factors: dict[tuple[int, int], float] = {}
        self.buf: tuple[list[Any], ...] = ([], [], [], [], [], [], [])
        self.other_records = 0
        self.type_counts = np.zeros(len(self.type_names), dtype=np.int64)
        self.offsets: dict[int, int] = {}
        self.seen = SeenSet()
        self.add_parts: list[pd.DataFrame] = []
        self.point_parts: list[pd.DataFrame] = []
        self.sleep_parts: list[pd.DataFrame] = []
        self.parser: Any = None

    # ---------------------------------------------------------------- parsing
    def handler(self) -> Callable[[str, dict[str, str]], None]:
        t_a, s_a, u_a, st_a, en_a, v_a, ln_a = (x.append for x in self.buf)
        codes_get = self.codes.get
        sources = self.sources
        src_get = sources.get
        units = self.units
        unit_get = units.get
        parser = self.parser
        state = self
        hr = self.hr_code
        w_s, w_st = (x.append for x in self.wear_buf)
        devices, no_device = self.devices, self.no_device

        def start(name: str, attrs: dict[str, str]) -> None:
            if name != "Record":
                return
            code = codes_get(attrs.get("type"))  # type: ignore[arg-type]
            if code is None:
                state.other_records += 1
                return
            sn = attrs.get("sourceName", "")
            sid = src_get(sn)
            if sid is None:
                sid = sources[sn] = len(sources)
                no_device.add(sid)
            if no_device and sid in no_device:  # remember each source's device (name, model) once
                dev = attrs.get("device")
                if dev:
                    devices[sid] = dev
                    no_device.discard(sid)
            if code == hr:
                w_s(sid)
                w_st(attrs.get("startDate"))
                return
            un = attrs.get("unit")
            uid = unit_get(un)
            if uid is None:
                uid = units[un] = len(units)
            t_a(code)
            s_a(sid)
            u_a(uid)
            st_a(attrs.get("startDate"))
            en_a(attrs.get("endDate"))
            v_a(attrs.get("value"))
            ln_a(parser.CurrentLineNumber)

        return start

    def pending(self) -> int:
        return len(self.buf[0]) + len(self.wear_buf[0])

    # ---------------------------------------------------------------- errors
    def _bad(
        self,
        mask: np.ndarray,
        lines: np.ndarray,
        codes: np.ndarray,
        reason: str,
        attr: str,
        values: Any,
        expected: str,
    ) -> np.ndarray:
        """Raise for the first bad record, or (keep-valid) count them; return the rows to keep."""
        if not mask.any():
            return ~mask
        bad = np.flatnonzero(mask)
        i = int(bad[0])
        if not self.keep_valid:
            more = f" (and {len(bad) - 1:,} more records)" if len(bad) > 1 else ""
            val = values(i) if callable(values) else None
            raise InputDataError(
                f"{self.type_names[codes[i]]} record: {reason}{more}",
                file=f"{self.source}, line {int(lines[i])}",
                column=attr,
                value=val,
                expected=expected + "; or use on_error='keep-valid' to leave bad records out",
            )
        self.report.add(f"records left out: {reason}", len(bad), rejected=True)
        return ~mask

    # ---------------------------------------------------------------- chunks
    def flush(self) -> None:
        self._flush_wear()
        if not len(self.buf[0]):
            return
        t_l, s_l, u_l, st_l, en_l, v_l, ln_l = self.buf
        code = np.asarray(t_l, dtype=np.int64)
        sid = np.asarray(s_l, dtype=np.int64)
        uid = np.asarray(u_l, dtype=np.int64)
        lines = np.asarray(ln_l, dtype=np.int64)
        starts, ends, vals = list(st_l), list(en_l), list(v_l)
        for lst in self.buf:
            lst.clear()
        self.report.rows_read += len(code)
        self.type_counts += np.bincount(code, minlength=len(self.type_names))

        ls, os_, ok_s = parse_apple_dates(starts)
        keep = self._bad(
            ~ok_s,
            lines,
            code,
            "missing or unparseable startDate",
            "startDate",
            lambda i: starts[i],
            "a date like 2021-03-28 01:30:00 +0100",
        )
        le, oe, ok_e = parse_apple_dates(ends)
        keep &= self._bad(
            ~ok_e & keep,
            lines,
            code,
            "missing or unparseable endDate",
            "endDate",
            lambda i: ends[i],
            "a date like 2021-03-28 01:30:00 +0100",
        )
        us, ue = ls - os_, le - oe
        keep &= self._bad(
            keep & (ue < us),
            lines,
            code,
            "endDate before startDate",
            "endDate",
            lambda i: f"{starts[i]} .. {ends[i]}",
            "an end at or after the start",
        )
        keep &= self._bad(
            keep & (ue - us > _MAX_RECORD_SECONDS),
            lines,
            code,
            "record longer than 31 days",
            "endDate",
            lambda i: f"{starts[i]} .. {ends[i]}",
            "a record shorter than 31 days",
        )
        is_sleep = code == self.sleep_code
        if is_sleep.any():
            self._sleep(np.flatnonzero(is_sleep & keep), code, sid, us, ue, le, lines, vals)
        q = ~is_sleep & keep
        if not q.any():
            return
        qi = np.flatnonzero(q)
        try:
            value = np.array([vals[i] for i in qi], dtype=np.float64)
        except (TypeError, ValueError):
            value = np.array([_float(vals[i]) for i in qi], dtype=np.float64)
        qkeep = self._bad(
            ~np.isfinite(value),
            lines[qi],
            code[qi],
            "missing or non-numeric value",
            "value",
            lambda i: vals[qi[i]],
            "a number",
        )
        # units: one factor per (type, unit) pair
        pair = code[qi] * 65536 + uid[qi]
        upairs, inv = np.unique(pair, return_inverse=True)
        fac = np.empty(len(upairs), dtype=np.float64)
        unit_names = {v: k for k, v in self.units.items()}
        for j, p in enumerate(upairs):
            c, u = int(p // 65536), int(p % 65536)
            f = self.factors.get((c, u))
            if f is None:
                f = self._factor(c, unit_names[u], qi[inv == j], lines, code)
                self.factors[(c, u)] = f
            fac[j] = f
        factor = fac[inv]
        qkeep &= ~np.isnan(factor)
        value = value * np.where(np.isnan(factor), 1.0, factor)
        lo = np.array([m.valid_range[0] for m in self.measures])[code[qi]]
        hi = np.array([m.valid_range[1] for m in self.measures])[code[qi]]
        qkeep &= self._bad(
            qkeep & ((value < lo) | (value > hi)),
            lines[qi],
            code[qi],
            "impossible value",
            "value",
            lambda i: float(value[i]),
            "a value in the measure's possible range ("
            + _ranges(set(code[qi].tolist()), self.measures)
            + ")",
        )
        qi, value = qi[qkeep], value[qkeep]
        c, s = code[qi], sid[qi]
        # exact duplicates (type, source, start, end, value)
        h = mix64(
            us[qi].astype(np.uint64)
            ^ mix64(ue[qi].astype(np.uint64) + np.uint64(0x9E3779B97F4A7C15))
        )
        h = mix64(h ^ value.view(np.uint64))
        h = mix64(h ^ (c.astype(np.uint64) << np.uint64(32)) ^ s.astype(np.uint64))
        dup = self.seen.duplicates(h)
        if dup.any():
            self.report.add("identical duplicate records merged", int(dup.sum()), corrected=True)
            qi, value, c, s = qi[~dup], value[~dup], c[~dup], s[~dup]
        offs, cnt = np.unique(os_[qi], return_counts=True)
        for o, k in zip(offs.tolist(), cnt.tolist(), strict=True):
            self.offsets[o] = self.offsets.get(o, 0) + k
        add = self.additive[c]
        if add.any():
            self._additive(qi[add], c[add], s[add], value[add], ls, us, ue, os_)
        pt = ~add
        if pt.any():
            pi = qi[pt]
            self.point_parts.append(
                pd.DataFrame(
                    {
                        "code": c[pt].astype(np.int16),
                        "sid": s[pt].astype(np.int32),
                        "ustart": us[pi],
                        "day": np.floor_divide(ls[pi], 86400),
                        "value": value[pt],
                    }
                )
            )

    def _flush_wear(self) -> None:
        """Local clock hours with a heart-rate sample from a worn device (wear time)."""
        sids, starts = self.wear_buf
        if not sids:
            return
        sid = np.asarray(sids, dtype=np.int64)
        local, _, ok = parse_apple_dates(list(starts))
        sids.clear()
        starts.clear()
        self.hr_records += len(sid)
        worn_src = np.array(
            [any(w in t for w in self.wear_sources) for t in self.source_texts()], dtype=bool
        )
        self.report.add(
            "heart-rate records with an unparseable date (not used for wear time)", int((~ok).sum())
        )
        keep = ok & worn_src[sid]
        if keep.any():
            self.wear_hours.append(np.unique(np.floor_divide(local[keep], 3600)))

    def _factor(
        self, c: int, unit: str | None, rows: np.ndarray, lines: np.ndarray, code: np.ndarray
    ) -> float:
        m = self.measures[c]
        if unit == "%" and m.name in _PERCENT_AS_FRACTION:
            return 100.0
        try:
            return m.unit_factor(unit)
        except InputDataError as exc:
            mask = np.zeros(len(code), dtype=bool)
            mask[rows] = True
            self._bad(
                mask,
                lines,
                code,
                f"unit not known for {m.name}",
                "unit",
                lambda i: unit,
                exc.expected or "a known unit",
            )
            return float("nan")

    def _additive(
        self,
        qi: np.ndarray,
        c: np.ndarray,
        s: np.ndarray,
        value: np.ndarray,
        ls: np.ndarray,
        us: np.ndarray,
        ue: np.ndarray,
        os_: np.ndarray,
    ) -> None:
        lstart = ls[qi]
        dur = ue[qi] - us[qi]
        lend = lstart + dur
        first = np.floor_divide(lstart, 3600)
        last = np.where(dur > 0, np.floor_divide(lend - 1, 3600), first)
        nb = last - first + 1
        midnight = (dur > 0) & (np.floor_divide(lstart, 86400) != np.floor_divide(lend - 1, 86400))
        self.report.add(
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
        self.add_parts.append(
            part.groupby(["code", "sid", "ubin", "day"], sort=False, as_index=False)["value"].sum()
        )

    def _sleep(
        self,
        si: np.ndarray,
        code: np.ndarray,
        sid: np.ndarray,
        us: np.ndarray,
        ue: np.ndarray,
        le: np.ndarray,
        lines: np.ndarray,
        vals: list[Any],
    ) -> None:
        cats = np.array([vals[i] for i in si], dtype=object)
        asleep = np.array([v in ASLEEP_VALUES for v in cats], dtype=bool)
        other = np.array([v in NOT_ASLEEP_VALUES for v in cats], dtype=bool)
        unknown = ~asleep & ~other
        keep = self._bad(
            unknown,
            lines[si],
            code[si],
            "unknown sleep category",
            "value",
            lambda i: cats[i],
            "one of " + ", ".join(sorted(ASLEEP_VALUES | NOT_ASLEEP_VALUES)),
        )
        self.report.add(
            "sleep records in bed or awake (not counted as sleep)", int(other.sum()), corrected=True
        )
        si = si[asleep & keep]
        if not len(si):
            return
        h = mix64(
            us[si].astype(np.uint64)
            ^ mix64(ue[si].astype(np.uint64) + np.uint64(0x9E3779B97F4A7C15))
        )
        h = mix64(h ^ (code[si].astype(np.uint64) << np.uint64(32)) ^ sid[si].astype(np.uint64))
        dup = self.seen.duplicates(h)
        if dup.any():
            self.report.add("identical duplicate records merged", int(dup.sum()), corrected=True)
            si = si[~dup]
        part = pd.DataFrame(
            {
                "sid": sid[si].astype(np.int32),
                "night": np.floor_divide(le[si] + self.sleep_shift, 86400),
                "value": (ue[si] - us[si]) / 3600.0,
            }
        )
        self.sleep_parts.append(
            part.groupby(["sid", "night"], sort=False, as_index=False)["value"].sum()
        )

    # ---------------------------------------------------------------- result
    def source_texts(self) -> list[str]:
        """Per source id: its sourceName with the name and model of its device, lower case."""
        out = []
        for nm in sorted(self.sources, key=self.sources.__getitem__):
            dev = self.devices.get(self.sources[nm], "")
            parts = [nm] + [m.group(1) for m in _DEVICE_FIELD.finditer(dev)]
            out.append(" ".join(parts).lower())
        return out

    def _rank(self) -> np.ndarray:
        texts = self.source_texts()
        rank = np.full(max(len(texts), 1), len(self.priority), dtype=np.int64)
        if self.dedup == "priority":
            for i, low in enumerate(texts):
                for r, p in enumerate(self.priority):
                    if p in low:
                        rank[i] = r
                        break
        return rank

    def _choose(self, totals: pd.DataFrame, key: list[str]) -> pd.DataFrame:
        """One source per key: best rank, then larger total, then first seen."""
        totals = totals.assign(rank=self._rank()[totals["sid"].to_numpy()])
        totals = totals.sort_values(
            key + ["rank", "value", "sid"],
            ascending=[True] * len(key) + [True, False, True],
            kind="stable",
        )
        return totals.drop_duplicates(key)[key + ["sid"]]

    def result(self) -> pd.DataFrame:
        rows: list[pd.DataFrame] = []
        rep = self.report
        if self.add_parts:
            a = pd.concat(self.add_parts, ignore_index=True)
            a = a.groupby(["code", "sid", "ubin", "day"], sort=False, as_index=False)["value"].sum()
            tot = a.groupby(["code", "ubin", "sid"], sort=False, as_index=False)["value"].sum()
            chosen = self._choose(tot, ["code", "ubin"])
            n_src = tot.groupby(["code", "ubin"], sort=False).size()
            rep.add(
                "hours measured by several sources (only the preferred source counted, never summed)",
                int((n_src > 1).sum()),
                corrected=True,
            )
            a = a.merge(chosen, on=["code", "ubin", "sid"], how="inner")
            daily = a.groupby(["code", "day"], as_index=False)["value"].sum()
            rows.append(daily)
        if self.point_parts:
            p = pd.concat(self.point_parts, ignore_index=True).sort_values(
                ["code", "day", "ustart"], kind="stable"
            )
            for c, sub in p.groupby("code", sort=False):
                rule = self.measures[int(c)].daily
                g = sub.groupby("day", sort=False)["value"]
                v = g.last() if rule == "last" else g.agg(rule)
                rows.append(
                    pd.DataFrame({"code": int(c), "day": v.index.to_numpy(), "value": v.to_numpy()})
                )
        if self.sleep_parts:
            s = pd.concat(self.sleep_parts, ignore_index=True)
            s = s.groupby(["sid", "night"], sort=False, as_index=False)["value"].sum()
            chosen = self._choose(s, ["night"])
            n_src = s.groupby("night").size()
            rep.add(
                "nights measured by several sources (only the preferred source counted, never summed)",
                int((n_src > 1).sum()),
                corrected=True,
            )
            s = s.merge(chosen, on=["night", "sid"], how="inner")
            rows.append(
                pd.DataFrame(
                    {
                        "code": self.sleep_code,
                        "day": s["night"].to_numpy(),
                        "value": s["value"].to_numpy(),
                    }
                )
            )
        if self.wear_hours:
            hours = np.unique(np.concatenate(self.wear_hours))
            wdays, wcount = np.unique(np.floor_divide(hours, 24), return_counts=True)
            other_days = (
                np.unique(np.concatenate([r["day"].to_numpy(dtype=np.int64) for r in rows]))
                if rows
                else wdays
            )
            span = other_days[(other_days >= wdays[0]) & (other_days <= wdays[-1])]
            all_days = np.union1d(wdays, span)
            value = np.zeros(len(all_days))
            value[np.searchsorted(all_days, wdays)] = np.minimum(wcount, 24)
            rows.append(pd.DataFrame({"code": self.hr_code, "day": all_days, "value": value}))
            rep.add("heart-rate records read for wear time", self.hr_records)
            rep.add(
                "days with wear_hours (0 on days with other data but no sample from a worn device)",
                len(all_days),
            )
        if not rows:
            return pd.DataFrame(
                {
                    "subject": pd.Series([], dtype=object),
                    "date": pd.Series([], dtype="datetime64[s]"),
                    "measure": pd.Series([], dtype=object),
                    "value": pd.Series([], dtype=float),
                    "unit": pd.Series([], dtype=object),
                }
            )
        out = pd.concat(rows, ignore_index=True)
        out["value"] = out["value"].astype(np.float64)
        # daily totals must be possible too (e.g. more than 24 h of sleep in a night)
        all_measures = self.measures + ([MEASURES["wear_hours"]] if self.wear_on else [])
        lo = np.array([m.valid_range[0] for m in all_measures])[out["code"].to_numpy()]
        hi = np.array([m.valid_range[1] for m in all_measures])[out["code"].to_numpy()]
        v = out["value"].to_numpy()
        bad = (v < lo - 1e-9) | (v > hi + 1e-9)
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            m = all_measures[int(out["code"].iloc[i])]
            day = str(np.datetime64(int(out["day"].iloc[i]), "D"))
            if not self.keep_valid:
                raise InputDataError(
                    f"impossible daily {m.name} on {day}"
                    + (f" (and {int(bad.sum()) - 1} more days)" if bad.sum() > 1 else ""),
                    file=self.source,
                    column=m.name,
                    value=float(v[i]),
                    expected=f"a daily value between {m.valid_range[0]:g} and {m.valid_range[1]:g} {m.unit}; "
                    "or use on_error='keep-valid' to leave such days out",
                )
            rep.add("days left out: impossible daily total", int(bad.sum()))
            out = out.loc[~bad]
        out = out.sort_values(["day", "code"], kind="stable")
        names = np.array([m.name for m in all_measures], dtype=object)
        units = np.array([m.unit for m in all_measures], dtype=object)
        code = out["code"].to_numpy()
        df = pd.DataFrame(
            {
                "subject": np.full(len(out), self.subject, dtype=object),
                "date": (out["day"].to_numpy(dtype=np.int64) * 86400).astype("datetime64[s]"),
                "measure": names[code],
                "value": out["value"].to_numpy(),
                "unit": units[code],
            }
        )
        df = df.sort_values(["date", "measure"], kind="stable").reset_index(drop=True)
        rep.rows_used = rep.rows_read - rep.rows_rejected
        if self.other_records:
            rep.add("records of types smoulder does not use (not read)", self.other_records)
        for c, k in enumerate(self.type_counts.tolist()):
            if k:
                rep.add(f"{self.type_names[c]} records read", k)
        if len(self.offsets) > 1:
            common = max(self.offsets, key=self.offsets.__getitem__)
            n_other = sum(k for o, k in self.offsets.items() if o != common)
            rep.add(
                f"records in a UTC offset other than the most common ({fmt_offset(common)}), "
                "dated by their own offset",
                n_other,
                corrected=True,
            )
            rep.warnings.append(
                "UTC offsets seen: "
                + ", ".join(f"{fmt_offset(o)} ({k:,})" for o, k in sorted(self.offsets.items()))
            )
        return df


def _ranges(codes: set[int], measures: list[Measure]) -> str:
    return "; ".join(
        f"{measures[c].name} {measures[c].valid_range[0]:g} to {measures[c].valid_range[1]:g} "
        f"{measures[c].unit}"
        for c in sorted(codes)
    )


def _float(x: Any) -> float:
    try:
        return float(x)
    except (TypeError, ValueError):
        return float("nan")


def read_apple_health(
    path: str | Path,
    subject: str,
    *,
    source_priority: Sequence[str] | None = None,
    dedup: str = "priority",
    on_error: str = "raise",
    sleep_day_start_hour: float = 18.0,
    progress: ProgressCallback | None = None,
    chunk_records: int = 200_000,
    wear_sources: Sequence[str] | None = DEFAULT_WEAR_SOURCES,
) -> tuple[pd.DataFrame, IngestReport]:
    """Read an Apple Health export into the long table of daily values.

    Parameters
    ----------
    path : str or Path
        ``export.zip`` as the Health app writes it, the ``export.xml`` inside it, or the unzipped
        ``apple_health_export`` folder.
    subject : str
        Subject id written in the ``subject`` column (the export itself carries no id).
    source_priority : sequence of str, optional
        Case-insensitive substrings of ``sourceName``, most preferred first, used to choose one
        source per hour (steps, flights) or night (sleep). Default ``("Watch", "iPhone")``.
    dedup : {"priority", "max"}
        ``"priority"``: the source-priority list decides, ties go to the larger total;
        ``"max"``: the source with the larger total in the hour or night always wins.
    on_error : {"raise", "keep-valid"}
        Stop at the first bad record or broken XML (default), or leave bad records out, keep
        everything read before a break in the XML, and count both in the report.
    sleep_day_start_hour : float
        Local hour at which a new sleep day starts (default 18: a segment ending between 18:00
        on D-1 and 18:00 on D counts for the night of D).
    progress : callable, optional
        Called as ``progress(bytes_done, bytes_total)`` after every 1 MiB of XML.
    chunk_records : int
        Records held before they are reduced (bounds memory).
    wear_sources : sequence of str or None
        Case-insensitive ``sourceName`` substrings of worn devices (default ``("Watch",)``). Their
        heart-rate samples give ``wear_hours``: the number of local clock hours of a day with at
        least one sample (the watch samples heart rate every few minutes while worn), written
        for every day from the first to the last worn day that has any data (0 when the watch
        was not worn). ``None`` or empty: no ``wear_hours``.

    Returns
    -------
    DataFrame
        ``subject, date, measure, value, unit``: one row per local day and measure, values in the
        catalogue's canonical units.
    IngestReport
        Records read, used and left out, every correction (duplicates merged, records split at
        midnight, hours and nights with several sources, other UTC offsets) and warnings.

    Raises
    ------
    InputDataError
        On the first bad record (naming the line), broken XML (line and column), a missing
        file or an archive without export.xml.
    """
    if on_error not in ("raise", "keep-valid"):
        raise SettingsError(f"on_error must be 'raise' or 'keep-valid' (got {on_error!r})")
    if dedup not in ("priority", "max"):
        raise SettingsError(f"dedup must be 'priority' or 'max' (got {dedup!r})")
    if not str(subject).strip():
        raise SettingsError("subject must be a non-empty id")
    if not 0 <= sleep_day_start_hour <= 24:
        raise SettingsError(
            f"sleep_day_start_hour must be between 0 and 24 (got {sleep_day_start_hour})"
        )
    priority = tuple(DEFAULT_SOURCE_PRIORITY if source_priority is None else source_priority)
    p = Path(path)
    for sanitize in (False, True):
        stream, total, name = open_export(p)
        reader = _Reader(
            name,
            str(subject),
            priority,
            dedup,
            on_error,
            sleep_day_start_hour,
            max(1000, chunk_records),
            wear_sources or (),
        )
        try:
            _parse(reader, stream, total, progress, on_error, sanitize)
        except _ControlCharacters:
            continue  # read again, replacing control characters (rare: they break the XML)
        break
    reader.flush()
    if progress is not None:
        progress(total, total)
    return reader.result(), reader.report


class _ControlCharacters(Exception):
    """The XML holds control characters that XML 1.0 forbids: read again with them replaced."""


def _prefetch(stream: IO[bytes], size: int, depth: int = 4) -> Generator[bytes, None, None]:
    """Blocks of ``stream`` read (and unzipped) by a helper thread while the caller parses.

    Decompression and file reads release the GIL, so on two or more cores they overlap with the
    parser. At most ``depth`` blocks wait in the queue (bounded memory). The last block is
    ``b""``; a read error is raised in the caller.
    """
    q: queue.Queue[bytes | BaseException] = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def work() -> None:
        try:
            while not stop.is_set():
                b = stream.read(size)
                while not stop.is_set():
                    try:
                        q.put(b, timeout=0.1)
                        break
                    except queue.Full:
                        continue
                if not b:
                    return
        except BaseException as exc:  # handed to the caller
            while not stop.is_set():
                try:
                    q.put(exc, timeout=0.1)
                    return
                except queue.Full:
                    continue

    t = threading.Thread(target=work, name="smoulder-apple-read", daemon=True)
    t.start()
    try:
        while True:
            item = q.get()
            if isinstance(item, BaseException):
                raise item
            yield item
            if not item:
                return
    finally:
        stop.set()
        t.join()


def _parse(
    reader: _Reader,
    stream: IO[bytes],
    total: int,
    progress: ProgressCallback | None,
    on_error: str,
    sanitize: bool,
) -> None:
    parser = xml.parsers.expat.ParserCreate()
    reader.parser = parser
    parser.StartElementHandler = reader.handler()
    done = 0
    head: bytes | None = b""
    block = b""
    blocks = _prefetch(stream, _BLOCK)
    try:
        with stream, contextlib.closing(blocks):
            while True:
                try:
                    block = next(blocks)
                except (
                    zipfile.BadZipFile,
                    EOFError,
                    OSError,
                    io.UnsupportedOperation,
                    zlib.error,
                ) as exc:
                    _broken(reader, f"the archive is damaged ({exc})", None, on_error)
                    break
                n = len(block)
                if head is not None:
                    # hold the first bytes until the DTD (if any) is complete, then blank it
                    head += block
                    if block and b"<HealthData" not in head and len(head) < HEAD_LIMIT:
                        continue
                    block, head = blank_doctype(head, reader.report), None
                if sanitize and block:
                    clean = block.translate(CTRL_TABLE)
                    if clean != block:
                        reader.report.add(
                            "control characters (forbidden in XML) replaced by spaces",
                            sum(block.count(bytes([c])) for c in CTRL),
                            corrected=True,
                        )
                        block = clean
                if not block:
                    parser.Parse(b"", True)
                    break
                parser.Parse(block, False)
                done += n
                if reader.pending() >= reader.chunk_records:
                    reader.flush()
                if progress is not None:
                    progress(done, total)
    except xml.parsers.expat.ExpatError as exc:
        invalid_token = xml.parsers.expat.errors.codes[
            xml.parsers.expat.errors.XML_ERROR_INVALID_TOKEN
        ]
        if (
            not sanitize
            and exc.code == invalid_token
            and len(block.translate(None, CTRL)) != len(block)
        ):
            raise _ControlCharacters from None
        what = xml.parsers.expat.ErrorString(exc.code) if exc.code else str(exc)
        _broken(
            reader, f"malformed or truncated XML: {what}", (exc.lineno, exc.offset + 1), on_error
        )


def _broken(reader: _Reader, message: str, where: tuple[int, int] | None, on_error: str) -> None:
    loc = f"line {where[0]}, column {where[1]}" if where else None
    if on_error != "keep-valid":
        raise InputDataError(
            message + "; nothing was imported",
            file=f"{reader.source}, {loc}" if loc else reader.source,
            expected="a complete Apple Health export (or on_error='keep-valid' to keep the "
            "records before the break)",
        )
    reader.report.warnings.append(
        f"{message} at {loc or 'an unknown place'}: records after this point were not read"
    )
    reader.report.add("file broken: the rest of the file was not read", 1, rejected=False)
