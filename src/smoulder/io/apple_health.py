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
* **Refused whatever on_error says** (:mod:`smoulder.io._apple_xml`): a document type or entity
  declaration anywhere but the header (and entities declared in the header), entity
  references, an element or attribute longer than 4 MiB, a zip entry expanding more than 200
  times, an archive with two export.xml, export_cda.xml, an export without usable records.
* **Dates** (:mod:`smoulder.schema.dates`): records dated after the export's ``ExportDate`` are
  left out and counted; records after today follow ``future_dates`` (kept and counted by
  default).

Examples
--------
>>> from smoulder.io.apple_health import read_apple_health, read_apple_health_bytes
>>> df, report = read_apple_health("export.zip", subject="p01")  # doctest: +SKIP

The same from the bytes of a (tiny) export.xml:

>>> xml = (
...     b'<?xml version="1.0"?>\\n<HealthData locale="en_GB">\\n'
...     b' <ExportDate value="2021-07-01 10:00:00 +0200"/>\\n'
...     b' <Record type="HKQuantityTypeIdentifierStepCount" sourceName="Watch" unit="count"'
...     b' startDate="2021-06-30 09:00:00 +0200" endDate="2021-06-30 09:10:00 +0200"'
...     b' value="800"/>\\n'
...     b' <Record type="HKQuantityTypeIdentifierStepCount" sourceName="Watch" unit="count"'
...     b' startDate="2021-07-03 09:00:00 +0200" endDate="2021-07-03 09:10:00 +0200"'
...     b' value="900"/>\\n'
...     b"</HealthData>\\n"
... )
>>> df, report = read_apple_health_bytes(xml, "p01", name="export.xml")
>>> df[["subject", "measure", "value", "unit"]].values.tolist()
[['p01', 'steps', 800.0, 'count']]
>>> report.reasons["records dated after the export date (2021-07-01) left out"]
1
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import IO, Any

import pandas as pd

from smoulder.exceptions import InputDataError, SettingsError
from smoulder.io._apple_reader import (
    APPLE_TYPES,
    DEFAULT_SOURCE_PRIORITY,
    DEFAULT_WEAR_SOURCES,
    ProgressCallback,
    _Reader,
)
from smoulder.io._apple_reduce import ASLEEP_VALUES
from smoulder.io._apple_xml import (
    CDA_NOT_READ,
    MAX_XML_BYTES,
    Opener,
    _ControlCharacters,
    _parse,
    _SpacedAttributes,
    export_bytes_opener,
    export_opener,
    files_not_read,
)
from smoulder.io.ingest import IngestReport
from smoulder.schema.dates import DateRule

__all__ = [
    "read_apple_health",
    "read_apple_health_bytes",
    "APPLE_TYPES",
    "ASLEEP_VALUES",
    "DEFAULT_SOURCE_PRIORITY",
    "DEFAULT_WEAR_SOURCES",
]


def read_apple_health(
    path: str | os.PathLike[str],
    subject: str,
    *,
    source_priority: Sequence[str] | None = None,
    dedup: str = "priority",
    on_error: str = "raise",
    sleep_day_start_hour: float = 18.0,
    progress: ProgressCallback | None = None,
    chunk_records: int = 200_000,
    wear_sources: Sequence[str] | None = DEFAULT_WEAR_SOURCES,
    future_dates: str | DateRule = "warn",
    max_xml_bytes: int = MAX_XML_BYTES,
) -> tuple[pd.DataFrame, IngestReport]:
    """Read an Apple Health export into the long table of daily values.

    Parameters
    ----------
    path : str or Path
        A path on disk (for uploaded content use :func:`read_apple_health_bytes`):
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
        everything read before a break in the XML, and count both in the report
        (``--keep-valid``). A document type or entity declaration outside the header, an element
        longer than 4 MiB or a zip that expands more than 200 times always stops the import.
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

    future_dates : {"warn", "refuse", "drop"} or DateRule
        Records dated after today (``--future-dates``), see :mod:`smoulder.schema.dates`. Records
        dated after the export's own ``ExportDate`` are always left out and counted.
    max_xml_bytes : int
        The largest export.xml accepted (uncompressed).

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
        file, an archive without export.xml or with two, or an export without usable records.
    """
    if isinstance(path, (bytes, bytearray, memoryview)):
        raise TypeError("read_apple_health takes a path; use read_apple_health_bytes for content")
    opener = export_opener(Path(path), max_xml_bytes)
    return _read(
        opener,
        subject,
        source_priority=source_priority,
        dedup=dedup,
        on_error=on_error,
        sleep_day_start_hour=sleep_day_start_hour,
        progress=progress,
        chunk_records=chunk_records,
        wear_sources=wear_sources,
        future_dates=future_dates,
    )


def read_apple_health_bytes(
    data: bytes | bytearray | memoryview | IO[bytes],
    subject: str,
    *,
    name: str = "export.zip",
    max_xml_bytes: int = MAX_XML_BYTES,
    **options: Any,
) -> tuple[pd.DataFrame, IngestReport]:
    """Read an Apple Health export given as bytes (an upload of export.zip or export.xml).

    Parameters
    ----------
    data : bytes or binary file
        The content (never a path); a zip archive is recognised by its first bytes.
    subject : str
        Subject id written in the ``subject`` column.
    name : str
        The file name it came with, for messages.
    max_xml_bytes : int
        The largest export.xml accepted (uncompressed); a web upload should pass a bound.
    options
        As for :func:`read_apple_health`.

    Returns
    -------
    DataFrame, IngestReport
        As for :func:`read_apple_health`.
    """
    if not isinstance(data, (bytes, bytearray, memoryview)) and hasattr(data, "read"):
        data = data.read()
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise TypeError(
            f"read_apple_health_bytes takes bytes or a binary file, not {type(data).__name__}"
        )
    opener = export_bytes_opener(bytes(data), name, max_xml_bytes)
    return _read(opener, subject, **options)


def _read(
    opener: Opener,
    subject: str,
    *,
    source_priority: Sequence[str] | None = None,
    dedup: str = "priority",
    on_error: str = "raise",
    sleep_day_start_hour: float = 18.0,
    progress: ProgressCallback | None = None,
    chunk_records: int = 200_000,
    wear_sources: Sequence[str] | None = DEFAULT_WEAR_SOURCES,
    future_dates: str | DateRule = "warn",
) -> tuple[pd.DataFrame, IngestReport]:
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
    rule = future_dates if isinstance(future_dates, DateRule) else DateRule(future_dates)
    fixes: frozenset[str] = frozenset()
    while True:
        stream, total, name = opener()
        reader = _Reader(
            name,
            str(subject),
            priority,
            dedup,
            on_error,
            sleep_day_start_hour,
            max(1000, chunk_records),
            wear_sources or (),
            rule,
        )
        try:
            _parse(reader, stream, total, progress, on_error, fixes)
        except _ControlCharacters:  # rare: they break the XML; read again, replacing them
            fixes = fixes | {"control"}
            continue
        except _SpacedAttributes:  # iOS 8 metadata attributes; read again, repairing them
            fixes = fixes | {"names"}
            continue
        break
    reader.flush()
    if progress is not None:
        progress(total, total)
    df = reader.result()
    report = reader.report
    report.add(CDA_NOT_READ, len(files_not_read(opener)))
    if reader.export_date is None:
        report.warnings.append(
            "the export has no ExportDate: records could not be checked against it"
        )
    if reader.future_kept:
        report.warnings.append(rule.future_warning(reader.future_kept, "records", name))
    if not len(df):
        raise InputDataError(
            "no usable records: " + _why_unusable(reader),
            file=name,
            expected="an Apple Health export with step, walking, sleep or other records of the "
            "measures catalogue (smoulder digital measures)",
        )
    return df, report


def _why_unusable(r: _Reader) -> str:
    """Why an export gave no usable record, by record type and reason (most records first)."""
    parts = [
        f"{t}: {n:,} {reason}"
        for (t, reason), n in sorted(r.unusable.items(), key=lambda kv: (-kv[1], kv[0]))
    ]
    if r.hr_records:
        worn = (
            f"{r.hr_not_worn:,} from no worn device (--wear-sources)" if r.hr_not_worn else "none"
        )
        parts.append(
            f"HKQuantityTypeIdentifierHeartRate: {r.hr_records:,} read for wear time only ({worn})"
        )
    others = sorted(r.other_types.items(), key=lambda kv: (-kv[1], str(kv[0])))
    if others:
        shown = ", ".join(f"{t} ({n:,})" for t, n in others[:5])
        more = f" and {len(others) - 5} more types" if len(others) > 5 else ""
        parts.append(f"types smoulder does not read: {shown}{more}")
    if not parts:
        return "the export holds no records at all"
    total = r.report.rows_read + r.hr_records + r.other_records
    return f"{total:,} records, none usable: " + "; ".join(parts)
