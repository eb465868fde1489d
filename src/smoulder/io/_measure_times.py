"""Date and date-time parsing of the long table of measures (:mod:`smoulder.io.measures`).

A date-time belongs to the local calendar date of its own UTC offset; see the module docstring
of :mod:`smoulder.io.measures` for the time-zone rule. The range of dates follows
:mod:`smoulder.schema.dates`, as in every reader.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from smoulder.io.ingest import IngestReport
from smoulder.schema.dates import DateRule

# ISO date, optionally a time (T or space), optional seconds/fraction, optional offset or Z
_DATETIME_RE = (
    r"^\d{4}-\d{2}-\d{2}"
    r"(?P<t>[T ](?P<h>\d{2}):(?P<m>\d{2})(?::(?P<s>\d{2})(?P<f>\.\d+)?)?\s*(?P<z>Z|[+-]\d{2}:?\d{2})?)?$"
)
EXPECTED_DATE = "an ISO date YYYY-MM-DD or date-time YYYY-MM-DDTHH:MM[:SS][+HH:MM|Z]"


def _first(mask: np.ndarray) -> tuple[int, int]:
    bad = np.flatnonzero(mask)
    return int(bad[0]), len(bad)


def _to_arrow(col: Any) -> pa.Array:
    if isinstance(col, pd.Series):
        if pd.api.types.is_datetime64_any_dtype(col):
            return pa.array(col)
        if pd.api.types.is_numeric_dtype(col) and not pd.api.types.is_bool_dtype(col):
            return pa.array(col.to_numpy(dtype=np.float64), from_pandas=True)
        return pa.array(
            col.astype("string").to_numpy(dtype=object, na_value=None), type=pa.string()
        )
    if isinstance(col, pa.ChunkedArray):
        col = col.combine_chunks() if col.num_chunks != 1 else col.chunk(0)
    if pa.types.is_dictionary(col.type):
        col = col.cast(col.type.value_type)
    return col


def _codes(text: pa.Array) -> tuple[np.ndarray, np.ndarray]:
    """Integer codes of a text column (nulls as "") and its distinct values, codes in sorted order."""
    enc = pc.dictionary_encode(text.fill_null(""))
    uniq = np.asarray(enc.dictionary.to_pylist(), dtype=object)
    order = np.argsort(uniq.astype(str), kind="stable")
    rank = np.empty(len(order), dtype=np.int64)
    rank[order] = np.arange(len(order))
    return rank[np.asarray(enc.indices).astype(np.int64)], uniq[order]


def parse_times(
    col: pa.Array,
    raise_at: Any,
    column: str,
    timezone: str | None,
    report: IngestReport,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Local day numbers, time keys (seconds; the instant when an offset is given) and has-time flags.

    ``raise_at(position, column, message, value, expected, count)`` raises for a bad cell.
    """
    n = len(col)
    t = col.type
    if pa.types.is_date(t) or pa.types.is_timestamp(t):
        if col.null_count:
            i, k = _first(np.asarray(col.is_null()))
            raise_at(i, column, "missing date", None, EXPECTED_DATE, k)
        s = pd.Series(col.to_pandas())
        has_time = np.zeros(n, dtype=bool)
        if pa.types.is_timestamp(t):
            if t.tz is not None:
                zone = timezone or t.tz
                s = s.dt.tz_convert(zone)
                instants = s.dt.tz_convert("UTC").dt.tz_localize(None)
                key = instants.to_numpy().astype("datetime64[s]").astype(np.int64)
                s = s.dt.tz_localize(None)
            else:
                key = s.to_numpy().astype("datetime64[s]").astype(np.int64)
            has_time = np.ones(n, dtype=bool)
        local = s.to_numpy().astype("datetime64[s]").astype(np.int64)
        days = np.floor_divide(local, 86400)
        if not pa.types.is_timestamp(t):
            key = days * 86400
        return days, key, has_time
    text = col.cast(pa.string())
    if text.null_count:
        i, k = _first(np.asarray(text.is_null()))
        raise_at(i, column, "missing date", None, EXPECTED_DATE, k)
    text = pc.utf8_trim_whitespace(text)
    parts = pc.extract_regex(text, _DATETIME_RE)  # null where the text does not match
    ok = ~np.asarray(parts.is_null())
    if not ok.all():
        i, k = _first(~ok)
        raise_at(i, column, "unparseable date", text[i].as_py(), EXPECTED_DATE, k)
    head = pc.utf8_slice_codeunits(text, 0, 10)
    parsed = pc.strptime(head, format="%Y-%m-%d", unit="s", error_is_null=True)
    failed = np.asarray(parsed.is_null())
    if (
        not failed.any()
    ):  # strptime may roll 2021-02-30 over to March: a real date prints back the same
        failed = ~np.asarray(
            pc.equal(pc.strftime(parsed, format="%Y-%m-%d"), head).fill_null(False)
        )
    if failed.any():
        i, k = _first(failed)
        raise_at(i, column, "impossible date", text[i].as_py(), "a real calendar date", k)
    days = parsed.to_numpy(zero_copy_only=False).astype("datetime64[D]").astype(np.int64)
    has_time = np.asarray(pc.not_equal(parts.field("t"), "").fill_null(False))

    def num(name: str) -> np.ndarray:
        f = parts.field(name)
        f = pc.if_else(pc.equal(f, ""), "0", f)
        return np.asarray(f.cast(pa.float64()).fill_null(0.0).to_numpy(zero_copy_only=False))

    hh, mm, ss = num("h"), num("m"), num("s")
    bad_clock = has_time & ((hh > 23) | (mm > 59) | (ss > 60))
    if bad_clock.any():
        i, k = _first(bad_clock)
        raise_at(i, column, "impossible time of day", text[i].as_py(), EXPECTED_DATE, k)
    local = days * 86400 + (hh * 3600 + mm * 60 + ss).astype(np.int64)
    has_off = np.asarray(pc.not_equal(parts.field("z"), "").fill_null(False))
    zone_code, zone_uniq = _codes(
        parts.field("z")
    )  # a handful of distinct offsets, no Python strings per row
    off = np.zeros(n, dtype=np.int64)
    if has_off.any():
        present, inv = np.unique(zone_code[has_off], return_inverse=True)
        uniq = zone_uniq[present]
        secs = []
        for z in uniq:
            if z == "Z":
                secs.append(0)
                continue
            digits = z[1:].replace(":", "")
            h, m = int(digits[:2]), int(digits[2:])
            if h > 14 or m > 59:
                j = int(np.flatnonzero(has_off)[np.flatnonzero(uniq[inv] == z)[0]])
                raise_at(
                    j,
                    column,
                    "impossible UTC offset",
                    text[j].as_py(),
                    "an offset between -14:00 and +14:00",
                    1,
                )
            secs.append((1 if z[0] == "+" else -1) * (h * 3600 + m * 60))
        off[has_off] = np.asarray(secs, dtype=np.int64)[inv]
        counts = np.bincount(inv)
        common = int(np.argmax(counts))
        other = int(len(inv) - counts[common])
        if other:
            report.add(
                "date-times with a UTC offset other than the most common one", other, corrected=True
            )
            shown = ", ".join(str(u) for u in uniq[:6])
            report.warnings.append(
                f"mixed UTC offsets ({shown}); each date-time is taken on the "
                + (
                    "calendar date of its own offset"
                    if timezone is None
                    else f"calendar date in {timezone}"
                )
            )
        report.add(
            "date-times reduced to their local calendar date", int(has_time.sum()), corrected=True
        )
    elif has_time.any():
        report.add(
            "date-times reduced to their local calendar date", int(has_time.sum()), corrected=True
        )
    key = np.where(has_off, local - off, local)
    if timezone is not None and has_off.any():
        inst = pd.to_datetime(key[has_off], unit="s").tz_localize("UTC").tz_convert(timezone)
        days = days.copy()
        days[has_off] = inst.tz_localize(None).to_numpy().astype("datetime64[D]").astype(np.int64)
    return days, key, has_time


def date_rule_rows(
    days: np.ndarray,
    raise_at: Any,
    column: str,
    rule: DateRule,
    report: IngestReport,
) -> np.ndarray | None:
    """Apply the date rule to local day numbers: raise on impossible dates (and on future ones
    under ``--future-dates refuse``); count future ones, and return them under ``drop``."""
    scan = rule.scan(days)
    if scan.first_impossible >= 0:
        i = scan.first_impossible
        raise_at(
            i,
            column,
            "impossible date",
            str(np.datetime64(int(days[i]), "D")),
            rule.expected(),
            scan.n_impossible,
        )
    if not scan.n_future:
        return None
    if rule.future == "refuse":
        i = scan.first_future
        raise_at(
            i,
            column,
            "date in the future",
            str(np.datetime64(int(days[i]), "D")),
            f"a date up to {rule.last_ok} (--future-dates refuse); --future-dates warn keeps "
            "such dates, drop leaves them out",
            scan.n_future,
        )
    report.add(rule.future_reason("rows"), scan.n_future, rejected=rule.future == "drop")
    if rule.future == "drop":
        return rule.future_mask(days)
    report.warnings.append(rule.future_warning(scan.n_future, "rows", report.source))
    return None
