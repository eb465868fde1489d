"""A realistic simulated Apple Health export, with ground truth, written as a stream.

The file looks like the Health app's ``export.xml`` (XML declaration, the internal DTD, a
``HealthData`` root with ``ExportDate`` and ``Me``, then ``Record`` elements with ``type``,
``sourceName``, ``sourceVersion``, ``device``, ``unit``, ``creationDate``, ``startDate``,
``endDate`` and ``value``; HRV records carry ``HeartRateVariabilityMetadataList`` children) and
holds what makes real exports hard:

* an iPhone and an Apple Watch that both count steps in the same hours (the phone misses some
  steps, the watch is taken off for charging and on some days not worn at all);
* records of types smoulder does not use (heart rate, energy, distance), which are most of a real
  export;
* daylight-saving changes of the home zone (Europe/Berlin by default) and trips to other time
  zones (New York, Tokyo, Los Angeles), so dates carry changing offsets;
* sleep stages from the watch (core, deep, REM, awake) and in-bed time from the phone;
* optional sustained decline of walking speed and steps from a given date.

Records never cross an hour boundary, so the daily step count the reader should find under the
default source rule (watch first, phone in hours without watch records) is known exactly and
returned with the nightly sleep as ground truth. Everything is deterministic given the seed, and
the writer streams month-sized batches, so a 10-year export of several million records takes
well under a minute and little memory.

Examples
--------
>>> from smoulder.synth.apple_health import write_apple_health_export
>>> info = write_apple_health_export("export.zip", years=1, seed=1)  # doctest: +SKIP
>>> info.n_records  # doctest: +SKIP
612345
"""

from __future__ import annotations

import datetime as dt
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd

from smoulder.synth._apple_days import _fmt_dates, _simulate_days

__all__ = ["AppleExportInfo", "write_apple_health_export"]

Q = "HKQuantityTypeIdentifier"
WATCH = "Anna’s Apple Watch"
PHONE = "Anna’s iPhone"
_DEV_WATCH = (
    "&lt;&lt;HKDevice: 0x281f4c5a0&gt;, name:Apple Watch, manufacturer:Apple Inc., model:Watch, "
    "hardware:Watch6,2, software:8.3&gt;"
)
_DEV_PHONE = (
    "&lt;&lt;HKDevice: 0x281f4d130&gt;, name:iPhone, manufacturer:Apple Inc., model:iPhone, "
    "hardware:iPhone13,2, software:15.2&gt;"
)
_TRIP_ZONES = ("America/New_York", "Asia/Tokyo", "America/Los_Angeles")

# (type, unit, source): source 0 = watch, 1 = phone
_TYPES: list[tuple[str, str | None, int]] = [
    (Q + "StepCount", "count", 0),  # 0
    (Q + "StepCount", "count", 1),  # 1
    (Q + "DistanceWalkingRunning", "km", 0),  # 2
    (Q + "DistanceWalkingRunning", "km", 1),  # 3
    (Q + "HeartRate", "count/min", 0),  # 4
    (Q + "ActiveEnergyBurned", "kcal", 0),  # 5
    (Q + "BasalEnergyBurned", "kcal", 0),  # 6
    (Q + "WalkingSpeed", "km/hr", 1),  # 7
    (Q + "WalkingStepLength", "cm", 1),  # 8
    (Q + "WalkingAsymmetryPercentage", "%", 1),  # 9
    (Q + "WalkingDoubleSupportPercentage", "%", 1),  # 10
    (Q + "FlightsClimbed", "count", 1),  # 11
    (Q + "HeartRateVariabilitySDNN", "ms", 0),  # 12
    (Q + "SixMinuteWalkTestDistance", "m", 1),  # 13
    ("HKCategoryTypeIdentifierSleepAnalysis", None, 0),  # 14
    ("HKCategoryTypeIdentifierSleepAnalysis", None, 1),  # 15
]
_HEADER = """<?xml version="1.0" encoding="UTF-8"?>
<!DOCTYPE HealthData [
<!-- HealthKit Export Version: 11 -->
<!ELEMENT HealthData (ExportDate,Me,(Record|Correlation|Workout|ActivitySummary|ClinicalRecord)*)>
<!ATTLIST HealthData
  locale CDATA #REQUIRED
>
<!ELEMENT ExportDate EMPTY>
<!ATTLIST ExportDate
  value CDATA #REQUIRED
>
<!ELEMENT Me EMPTY>
<!ATTLIST Me
  HKCharacteristicTypeIdentifierDateOfBirth                   CDATA #REQUIRED
  HKCharacteristicTypeIdentifierBiologicalSex                 CDATA #REQUIRED
  HKCharacteristicTypeIdentifierBloodType                     CDATA #REQUIRED
  HKCharacteristicTypeIdentifierFitzpatrickSkinType           CDATA #REQUIRED
  HKCharacteristicTypeIdentifierCardioFitnessMedicationsUse   CDATA #REQUIRED
>
<!ELEMENT Record ((MetadataEntry|HeartRateVariabilityMetadataList)*)>
<!ATTLIST Record
  type          CDATA #REQUIRED
  unit          CDATA #IMPLIED
  value         CDATA #IMPLIED
  sourceName    CDATA #REQUIRED
  sourceVersion CDATA #IMPLIED
  device        CDATA #IMPLIED
  creationDate  CDATA #IMPLIED
  startDate     CDATA #REQUIRED
  endDate       CDATA #REQUIRED
>
<!-- Note: Any Records that appear as children of a correlation also appear as top-level records in this document. -->
<!ELEMENT Correlation ((MetadataEntry|Record)*)>
<!ELEMENT Workout ((MetadataEntry|WorkoutEvent|WorkoutRoute|WorkoutStatistics)*)>
<!ELEMENT ActivitySummary EMPTY>
<!ELEMENT ClinicalRecord EMPTY>
<!ELEMENT MetadataEntry EMPTY>
<!ATTLIST MetadataEntry
  key   CDATA #REQUIRED
  value CDATA #REQUIRED
>
<!ELEMENT HeartRateVariabilityMetadataList (InstantaneousBeatsPerMinute*)>
<!ELEMENT InstantaneousBeatsPerMinute EMPTY>
<!ATTLIST InstantaneousBeatsPerMinute
  bpm  CDATA #REQUIRED
  time CDATA #REQUIRED
>
]>
<HealthData locale="en_GB">
 <ExportDate value="{export_date}"/>
 <Me HKCharacteristicTypeIdentifierDateOfBirth="1981-04-02" HKCharacteristicTypeIdentifierBiologicalSex="HKBiologicalSexFemale" HKCharacteristicTypeIdentifierBloodType="HKBloodTypeNotSet" HKCharacteristicTypeIdentifierFitzpatrickSkinType="HKFitzpatrickSkinTypeNotSet" HKCharacteristicTypeIdentifierCardioFitnessMedicationsUse="None"/>
"""


@dataclass
class AppleExportInfo:
    """What was written, with the ground truth the reader should recover.

    Attributes
    ----------
    path : Path
        The file written (``.zip`` or ``.xml``).
    n_records : int
        ``Record`` elements written (all types).
    n_catalogue_records : int
        Records of types in the measures catalogue.
    daily_steps : Series
        Steps per local date under the default source rule (watch hours, else phone hours).
    nightly_sleep : Series
        Hours asleep per wake-up date (watch stages core, deep, REM).
    daily_walking_speed_true : Series
        The person's underlying walking speed (m/s) per local date, before sample noise.
    daily_wear_hours : Series
        Local clock hours per date in which the watch was worn (it records heart rate then);
        days without any are absent.
    daily_walking_distance : Series
        Metres walked per local date under the default source rule (watch hours, else phone
        hours), from the distance records as written (empty without ``other_types``).
    xml_bytes : int
        Size of the XML document.
    """

    path: Path
    n_records: int = 0
    n_catalogue_records: int = 0
    daily_steps: pd.Series = field(default_factory=lambda: pd.Series(dtype=float))
    nightly_sleep: pd.Series = field(default_factory=lambda: pd.Series(dtype=float))
    daily_walking_speed_true: pd.Series = field(default_factory=lambda: pd.Series(dtype=float))
    daily_wear_hours: pd.Series = field(default_factory=lambda: pd.Series(dtype=float))
    daily_walking_distance: pd.Series = field(default_factory=lambda: pd.Series(dtype=float))
    xml_bytes: int = 0


def _offsets(
    first_hour: int, n_hours: int, home: str, trips: list[tuple[int, int, str]]
) -> np.ndarray:
    """UTC offset in seconds for each UTC hour, home zone with trips to other zones."""
    out = np.empty(n_hours, dtype=np.int64)
    zones: dict[str, ZoneInfo] = {}

    def fill(lo: int, hi: int, name: str) -> None:
        z = zones.setdefault(name, ZoneInfo(name))
        # offsets change at most a few times a year: evaluate at day steps, refine on change
        h = lo
        while h < hi:
            step = min(24, hi - h)
            o0 = dt.datetime.fromtimestamp((first_hour + h) * 3600, z).utcoffset()
            o1 = dt.datetime.fromtimestamp((first_hour + h + step - 1) * 3600, z).utcoffset()
            if o0 == o1:
                out[h : h + step] = int(o0.total_seconds())  # type: ignore[union-attr]
            else:
                for k in range(step):
                    o = dt.datetime.fromtimestamp((first_hour + h + k) * 3600, z).utcoffset()
                    out[h + k] = int(o.total_seconds())  # type: ignore[union-attr]
            h += step

    fill(0, n_hours, home)
    for lo, hi, name in trips:
        fill(max(lo, 0), min(hi, n_hours), name)
    return out


def write_apple_health_export(
    path: str | Path,
    *,
    years: float = 1.0,
    start: str = "2015-01-01",
    seed: int = 0,
    home_zone: str = "Europe/Berlin",
    trips_per_year: float = 2.0,
    daily_steps_mean: float = 6500.0,
    walking_speed: float = 1.25,
    decline_from: str | None = None,
    decline_fraction: float = 0.0,
    watch_off_day_prob: float = 0.05,
    other_types: bool = True,
) -> AppleExportInfo:
    """Write a simulated Apple Health export (``.zip`` or ``.xml`` by suffix) and its ground truth.

    Parameters
    ----------
    path : str or Path
        ``export.zip`` (holds ``apple_health_export/export.xml``) or ``export.xml``.
    years : float
        Length of the record in years (365.25 days each).
    start : str
        First local date (ISO).
    seed : int
        Seed of the random generator: the same seed writes the same file.
    home_zone : str
        IANA zone of home (daylight-saving changes included).
    trips_per_year : float
        Mean number of trips (5 to 14 days) to other time zones per year.
    daily_steps_mean : float
        Mean steps per day before weekly rhythm and noise.
    walking_speed : float
        Usual walking speed in m/s.
    decline_from : str, optional
        Local date from which walking speed, step length and steps decline sustainedly.
    decline_fraction : float
        Size of that decline (0.1 = 10 % lower).
    watch_off_day_prob : float
        Probability that the watch is not worn on a day.
    other_types : bool
        Also write heart rate, energy and distance records (most of a real export).

    Returns
    -------
    AppleExportInfo
    """
    path = Path(path)
    rng = np.random.default_rng(seed)
    n_days = int(round(years * 365.25))
    day0 = int(np.datetime64(start, "D").astype(np.int64))
    first_hour = day0 * 24 - 24  # one spare day before, for offsets
    n_hours = (n_days + 3) * 24
    trips: list[tuple[int, int, str]] = []
    n_trips = rng.poisson(trips_per_year * years)
    for _ in range(n_trips):
        s = int(rng.integers(24, (n_days - 14) * 24)) if n_days > 20 else 24
        trips.append((s, s + int(rng.integers(5, 15)) * 24, str(rng.choice(_TRIP_ZONES))))
    offs = _offsets(first_hour, n_hours, home_zone, trips)
    decline_day = int(np.datetime64(decline_from, "D").astype(np.int64)) if decline_from else None

    info = AppleExportInfo(path=path)
    steps_truth: dict[int, float] = {}
    sleep_truth: dict[int, float] = {}
    speed_truth: dict[int, float] = {}
    wear_truth: dict[int, set[int]] = {}
    prefixes = []
    for tname, unit, src in _TYPES:
        name, ver, dev = (WATCH, "8.3", _DEV_WATCH) if src == 0 else (PHONE, "15.2", _DEV_PHONE)
        u = f' unit="{unit}"' if unit else ""
        prefixes.append(
            f' <Record type="{tname}" sourceName="{name}" sourceVersion="{ver}" device="{dev}"{u} '
            'creationDate="'.encode()
        )
    catalogue_kinds = {0, 1, 2, 3, 7, 8, 9, 10, 11, 12, 13, 14, 15}
    distance_truth: dict[int, float] = {}

    export_day = day0 + n_days
    export_date = _fmt_dates(np.array([export_day * 86400 + 36000]), np.array([offs[-1]]))[
        0
    ].decode()
    stream, closer = _open_out(path)
    try:
        stream.write(_HEADER.replace("{export_date}", export_date).encode())
        size = len(_HEADER) + 40
        batch = 30
        for b0 in range(0, n_days, batch):
            days = np.arange(b0, min(n_days, b0 + batch))
            recs = _simulate_days(
                rng,
                days,
                day0,
                first_hour,
                offs,
                daily_steps_mean,
                walking_speed,
                decline_day,
                decline_fraction,
                watch_off_day_prob,
                other_types,
                steps_truth,
                sleep_truth,
                speed_truth,
                wear_truth,
                distance_truth,
            )
            kinds, st, en, vals, extra = recs
            order = np.lexsort((st, kinds))
            kinds, st, en = kinds[order], st[order], en[order]
            vals = [vals[i] for i in order]
            extra = [extra[i] for i in order]
            so = offs[np.floor_divide(st, 3600) - first_hour]
            eo = offs[np.floor_divide(en, 3600) - first_hour]
            created = en + (rng.integers(1, 300, len(en)))
            sd, ed, cd = _fmt_dates(st, so), _fmt_dates(en, eo), _fmt_dates(created, eo)
            parts: list[bytes] = []
            ext = parts.extend
            for i in range(len(kinds)):
                k = kinds[i]
                ext(
                    (
                        prefixes[k],
                        cd[i],
                        b'" startDate="',
                        sd[i],
                        b'" endDate="',
                        ed[i],
                        b'" value="',
                        vals[i],
                        extra[i],
                    )
                )
            blob = b"".join(parts)
            stream.write(blob)
            size += len(blob)
            info.n_records += len(kinds)
            info.n_catalogue_records += int(np.isin(kinds, list(catalogue_kinds)).sum())
        stream.write(b"</HealthData>\n")
    finally:
        closer()
    info.xml_bytes = size
    info.daily_steps = _series(steps_truth, "steps")
    info.nightly_sleep = _series(sleep_truth, "sleep_hours")
    info.daily_walking_speed_true = _series(speed_truth, "walking_speed")
    info.daily_wear_hours = _series({d: float(len(h)) for d, h in wear_truth.items()}, "wear_hours")
    info.daily_walking_distance = _series(distance_truth, "walking_distance")
    return info


def _series(d: dict[int, float], name: str) -> pd.Series:
    keys = np.array(sorted(d), dtype=np.int64)
    idx = pd.DatetimeIndex((keys * 86400).astype("datetime64[s]"), name="date")
    return pd.Series([d[k] for k in keys], index=idx, name=name, dtype=float)


def _open_out(path: Path) -> tuple[IO[bytes], Callable[[], None]]:
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.suffix.lower() == ".zip":
        zf = zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=1)
        w = zf.open("apple_health_export/export.xml", "w", force_zip64=True)

        def close_zip() -> None:
            w.close()
            zf.close()

        return w, close_zip
    f = open(path, "wb", buffering=1 << 22)
    return f, f.close
