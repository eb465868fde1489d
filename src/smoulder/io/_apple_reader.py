"""The state of one streaming Apple Health read (:mod:`smoulder.io.apple_health`): records
collected per chunk, turned into arrays, checked and reduced (hourly sums per source, samples,
sleep per night, wear hours)."""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import pandas as pd

from smoulder.exceptions import InputDataError
from smoulder.io._apple_arrays import SeenSet, mix64, parse_apple_dates
from smoulder.io._apple_reduce import (
    reduce_additive,
    reduce_sleep,
)
from smoulder.io.ingest import IngestReport
from smoulder.schema.catalogue import MEASURES, Measure
from smoulder.schema.dates import DateRule

SLEEP_TYPE = "HKCategoryTypeIdentifierSleepAnalysis"
HEART_RATE_TYPE = "HKQuantityTypeIdentifierHeartRate"
DEFAULT_WEAR_SOURCES = ("Watch",)
DEFAULT_SOURCE_PRIORITY = ("Watch", "iPhone")
#: HealthKit percentages are fractions 0-1: unit "%" means "fraction" for these measures
_PERCENT_AS_FRACTION = frozenset({"walking_asymmetry", "double_support"})
_MAX_RECORD_SECONDS = 31 * 86400
#: the name and model fields of a record's device string (``<<HKDevice: ...>, name:Apple Watch, ...>``)
_DEVICE_FIELD = re.compile(r"(?:^|[,\s])(?:name|model):([^,>]*)")
#: a number written with a decimal comma (``0,5``): not what the Health app writes
_DECIMAL_COMMA = re.compile(r"[-+]?\d+,\d+")

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
        rule: DateRule | None = None,
    ) -> None:
        self.source = source
        self.rule = rule or DateRule()
        self.root: str | None = None
        self.export_date: str | None = None  # the ExportDate element's value
        self.export_day: int | None = None  # its local day number
        self.future_kept = 0
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
        self.other_types: dict[str | None, int] = {}  # records of types smoulder does not read
        #: (record type, reason) -> records that could not be used, for the report and for
        #: the message of an export without usable records
        self.unusable: dict[tuple[str, str], int] = {}
        self.hr_not_worn = 0
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
        other = self.other_types
        other_get = other.get

        def start(name: str, attrs: dict[str, str]) -> None:
            if name != "Record":
                if state.root is None or name == "ExportDate":
                    state.element(name, attrs)
                return
            t = attrs.get("type")
            code = codes_get(t)  # type: ignore[arg-type]
            if code is None:
                other[t] = other_get(t, 0) + 1
                return
            sn = attrs.get("sourceName")
            if sn is None:  # iOS 8 exports name the source "source"
                sn = attrs.get("source", "")
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

    def element(self, name: str, attrs: dict[str, str]) -> None:
        """The root element (must be HealthData) and the export's own date."""
        if self.root is None:
            self.root = name
            if name != "HealthData":
                cda = (
                    " (this is export_cda.xml, the clinical document)" if "Clinical" in name else ""
                )
                raise InputDataError(
                    f"not an Apple Health export.xml: its root element is <{name}>{cda}",
                    file=self.source,
                    expected="export.xml (root element <HealthData>) or the export.zip holding it",
                )
        elif name == "ExportDate" and self.export_date is None:
            value = attrs.get("value")
            local, _off, ok = parse_apple_dates([value])
            if ok[0]:
                self.export_date = value
                self.export_day = int(local[0] // 86400)

    def export_iso(self) -> str:
        """The export's own date as ``YYYY-MM-DD`` (whatever format the export wrote it in)."""
        return str(np.datetime64(self.export_day, "D")) if self.export_day is not None else "?"

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
                expected=expected + "; or --keep-valid to leave bad records out",
            )
        self.report.add(f"records left out: {reason}", len(bad), rejected=True)
        self.note_unusable(codes[bad], reason)
        return ~mask

    def note_unusable(self, codes: np.ndarray, reason: str) -> None:
        """Count records that could not be used, by type and reason."""
        for c, k in zip(*np.unique(codes, return_counts=True), strict=True):
            key = (self.type_names[int(c)], reason)
            self.unusable[key] = self.unusable.get(key, 0) + int(k)

    @property
    def other_records(self) -> int:
        """Records of types smoulder does not read."""
        return sum(self.other_types.values())

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
        keep &= self._dated(np.floor_divide(ls, 86400), keep, lines, code, starts)
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
        nan = ~np.isfinite(value)
        comma = (
            nan
            & np.array(
                [
                    isinstance(vals[i], str) and _DECIMAL_COMMA.fullmatch(vals[i]) is not None
                    for i in qi
                ]
            )
            if nan.any()
            else nan
        )
        qkeep = self._bad(
            comma,
            lines[qi],
            code[qi],
            "a decimal comma (the Health app writes 0.5, never 0,5: was the file rewritten by "
            "another program?)",
            "value",
            lambda i: vals[qi[i]],
            "a number with a decimal point, as in the export.xml the Health app writes",
        )
        qkeep &= self._bad(
            nan & ~comma,
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

    def _dated(
        self, day: np.ndarray, keep: np.ndarray, lines: np.ndarray, code: np.ndarray, starts: list
    ) -> np.ndarray:
        """The date rule: records after the export's own date are left out and counted (the
        phone cannot have measured them); the others follow :mod:`smoulder.schema.dates`."""
        out = np.ones(len(day), dtype=bool)
        if self.export_day is not None:
            after = keep & (day > self.export_day)
            if after.any():
                reason = f"dated after the export date ({self.export_iso()})"
                self.report.add(f"records {reason} left out", int(after.sum()), rejected=True)
                self.note_unusable(code[after], reason)
                out &= ~after
        lo, hi, last_ok = self.rule.bounds()
        impossible = keep & out & ((day < lo) | (day > hi))
        if impossible.any():
            out &= self._bad(
                impossible,
                lines,
                code,
                "impossible startDate",
                "startDate",
                lambda i: starts[i],
                self.rule.expected(),
            )
        future = keep & out & (day > last_ok)
        n_future = int(future.sum())
        if n_future:
            i = int(np.flatnonzero(future)[0])
            if self.rule.future == "refuse":
                raise InputDataError(
                    f"{self.type_names[code[i]]} record dated in the future"
                    + (f" (and {n_future - 1:,} more records)" if n_future > 1 else ""),
                    file=f"{self.source}, line {int(lines[i])}",
                    column="startDate",
                    value=starts[i],
                    expected=f"a date up to {self.rule.last_ok} (--future-dates refuse); "
                    "--future-dates warn keeps such records, drop leaves them out",
                )
            self.report.add(
                self.rule.future_reason("records"), n_future, rejected=self.rule.future == "drop"
            )
            if self.rule.future == "drop":
                self.note_unusable(code[future], "dated after today (--future-dates drop)")
                out &= ~future
            else:
                self.future_kept += n_future
        return out

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
        self.hr_not_worn += int((ok & ~worn_src[sid]).sum())
        if self.export_day is not None:
            after = keep & (np.floor_divide(local, 86400) > self.export_day)
            self.report.add(
                "heart-rate records dated after the export date (not used for wear time)",
                int(after.sum()),
            )
            keep &= ~after
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

    def _additive(self, *args: Any) -> None:
        reduce_additive(self, *args)

    def _sleep(self, *args: Any) -> None:
        reduce_sleep(self, *args)

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
        """The daily table (see :func:`smoulder.io._apple_result.daily_table`)."""
        from smoulder.io._apple_result import daily_table

        return daily_table(self)


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
