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

from collections.abc import Sequence
from pathlib import Path

import pandas as pd

from smoulder.exceptions import SettingsError
from smoulder.io._apple_reader import (
    APPLE_TYPES,
    ASLEEP_VALUES,
    DEFAULT_SOURCE_PRIORITY,
    DEFAULT_WEAR_SOURCES,
    ProgressCallback,
    _Reader,
)
from smoulder.io._apple_xml import _ControlCharacters, _parse, open_export
from smoulder.io.ingest import IngestReport

__all__ = [
    "read_apple_health",
    "APPLE_TYPES",
    "ASLEEP_VALUES",
    "DEFAULT_SOURCE_PRIORITY",
    "DEFAULT_WEAR_SOURCES",
]


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
