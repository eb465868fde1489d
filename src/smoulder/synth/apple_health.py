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
_SLEEP_VALUES = np.array(
    [
        b"HKCategoryValueSleepAnalysisAsleepCore",
        b"HKCategoryValueSleepAnalysisAsleepDeep",
        b"HKCategoryValueSleepAnalysisAsleepREM",
        b"HKCategoryValueSleepAnalysisAwake",
        b"HKCategoryValueSleepAnalysisInBed",
    ],
    dtype=object,
)

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


def _civil(days: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Year, month, day of days since 1970-01-01 (Hinnant's algorithm), vectorised."""
    z = days + 719468
    era = np.floor_divide(z, 146097)
    doe = z - era * 146097
    yoe = (doe - doe // 1460 + doe // 36524 - doe // 146096) // 365
    y = yoe + era * 400
    doy = doe - (365 * yoe + yoe // 4 - yoe // 100)
    mp = (5 * doy + 2) // 153
    d = doy - (153 * mp + 2) // 5 + 1
    m = mp + np.where(mp < 10, 3, -9)
    return y + (m <= 2), m, d


def _fmt_dates(utc: np.ndarray, off: np.ndarray) -> list[bytes]:
    """Apple date strings ``YYYY-MM-DD hh:mm:ss +hhmm`` as bytes, vectorised."""
    loc = utc + off
    days = np.floor_divide(loc, 86400)
    sod = loc - days * 86400
    y, m, d = _civil(days)
    n = len(utc)
    out = np.empty((n, 25), dtype=np.uint8)

    def put(col: int, width: int, v: np.ndarray) -> None:
        for k in range(width - 1, -1, -1):
            out[:, col + k] = 48 + v % 10
            v = v // 10

    put(0, 4, y)
    out[:, 4] = out[:, 7] = ord("-")
    put(5, 2, m)
    put(8, 2, d)
    out[:, 10] = out[:, 19] = ord(" ")
    put(11, 2, sod // 3600)
    out[:, 13] = out[:, 16] = ord(":")
    put(14, 2, sod % 3600 // 60)
    put(17, 2, sod % 60)
    out[:, 20] = np.where(off < 0, ord("-"), ord("+"))
    a = np.abs(off)
    put(21, 2, a // 3600)
    put(23, 2, a % 3600 // 60)
    return out.view("S25").ravel().tolist()


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


_CLOSE = b'"/>\n'


def _simulate_days(
    rng: np.random.Generator,
    days: np.ndarray,
    day0: int,
    first_hour: int,
    offs: np.ndarray,
    steps_mean: float,
    speed: float,
    decline_day: int | None,
    decline: float,
    off_prob: float,
    other_types: bool,
    steps_truth: dict[int, float],
    sleep_truth: dict[int, float],
    speed_truth: dict[int, float],
    wear_truth: dict[int, set[int]],
    distance_truth: dict[int, float] | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, list[bytes], list[bytes]]:
    """Records of a batch of days: kind, start, end (UTC seconds), value bytes, closing bytes."""
    kinds: list[np.ndarray] = []
    starts: list[np.ndarray] = []
    ends: list[np.ndarray] = []
    values: list[list[bytes]] = []
    extras: list[list[bytes]] = []

    def emit(
        kind: int | np.ndarray,
        s: np.ndarray,
        e: np.ndarray,
        v: list[bytes],
        x: list[bytes] | None = None,
    ) -> None:
        n = len(s)
        kinds.append(np.broadcast_to(np.asarray(kind, dtype=np.int64), (n,)).copy())
        starts.append(s.astype(np.int64))
        ends.append(e.astype(np.int64))
        values.append(v)
        extras.append(x if x is not None else [_CLOSE] * n)

    # UTC hours of the batch (a local day is near these hours; we work hour by hour in UTC)
    h_lo = (day0 + int(days[0])) * 24 - first_hour
    h_hi = (day0 + int(days[-1]) + 1) * 24 - first_hour
    hours = np.arange(h_lo, h_hi)
    utc_h = (first_hour + hours) * 3600
    off = offs[hours]
    local = utc_h + off
    lday = np.floor_divide(local, 86400)
    lhour = np.floor_divide(local - lday * 86400, 3600)
    uniq_days = np.unique(lday)
    # per local day: activity level, decline, watch worn
    dow = (uniq_days + 3) % 7  # 0 = Monday
    level = np.exp(rng.normal(0, 0.25, len(uniq_days))) * np.where(dow >= 5, 0.85, 1.0)
    factor = np.ones(len(uniq_days))
    if decline_day is not None:
        factor = np.where(uniq_days >= decline_day, 1.0 - decline, 1.0)
    watch_day = rng.random(len(uniq_days)) >= off_prob
    di = np.searchsorted(uniq_days, lday)
    awake = (lhour >= 7) & (lhour <= 22)
    profile = np.where(awake, 1.0 + 0.8 * np.exp(-((lhour - 12.5) ** 2) / 8.0), 0.0)
    true_steps = np.round(
        steps_mean / 17.0 * profile * level[di] * factor[di] * rng.gamma(2.0, 0.5, len(hours))
    )
    worn = watch_day[di] & ~((lhour == 19) & (rng.random(len(hours)) < 0.6))
    carried = awake & (rng.random(len(hours)) < 0.75)
    watch_steps = np.where(worn, true_steps, 0)
    phone_steps = np.where(carried, np.round(true_steps * rng.uniform(0.6, 0.95, len(hours))), 0)
    counted = np.where(watch_steps > 0, watch_steps, phone_steps)
    for d, v in zip(lday.tolist(), counted.tolist(), strict=True):
        if v > 0:
            steps_truth[d] = steps_truth.get(d, 0.0) + v

    metres: dict[
        int, np.ndarray
    ] = {}  # per source kind: metres walked in each hour, from the values as written

    def split(total: np.ndarray, kind: int, per: float) -> None:
        has = total > 0
        hi = np.flatnonzero(has)
        k = np.clip((total[hi] // per).astype(np.int64) + 1, 1, 10)
        idx = np.repeat(hi, k)
        j = np.arange(len(idx)) - np.repeat(np.cumsum(k) - k, k)
        slot = 3600 // np.repeat(k, k)
        s = utc_h[idx] + j * slot + (rng.random(len(idx)) * slot * 0.4).astype(np.int64)
        e = s + 30 + (rng.random(len(idx)) * slot * 0.5).astype(np.int64)
        w = rng.random(len(idx)) + 0.05
        wsum = np.add.reduceat(w, np.cumsum(k) - k)
        v = np.floor(total[idx] * w / np.repeat(wsum, k))
        first = np.cumsum(k) - k
        rest = total[hi] - np.add.reduceat(v, first)
        v[first] += rest
        ok = v > 0
        emit(kind, s[ok], e[ok], np.char.mod(b"%d", v[ok].astype(np.int64)).tolist())
        if other_types:  # a distance record for every step record, as the devices write them
            km = v[ok] * 0.00072 * rng.uniform(0.9, 1.1, int(ok.sum()))
            text = np.char.mod(b"%.5f", km)
            emit(kind + 2, s[ok], e[ok], text.tolist())
            written = text.astype(np.float64) * 1000.0
            metres[kind] = np.bincount(idx[ok], weights=written, minlength=len(hours))

    split(watch_steps, 0, 120)
    split(phone_steps, 1, 250)
    if other_types and distance_truth is not None:
        walked = np.where(watch_steps > 0, metres[0], metres[1])
        for d, v in zip(lday.tolist(), walked.tolist(), strict=True):
            if v > 0:
                distance_truth[d] = distance_truth.get(d, 0.0) + v

    # gait metrics from the phone, about one sample per carried waking hour
    gait = np.flatnonzero(carried & (rng.random(len(hours)) < 0.6))
    if len(gait):
        gs = utc_h[gait] + rng.integers(0, 3000, len(gait))
        ge = gs + rng.integers(20, 300, len(gait))
        dd = di[gait]
        day_speed = speed * factor * np.exp(rng.normal(0, 0.03, len(uniq_days)))
        true_v = day_speed[dd]
        for d, v in zip(uniq_days.tolist(), day_speed.tolist(), strict=True):
            speed_truth[d] = v
        v = true_v * np.exp(rng.normal(0, 0.08, len(gait)))
        emit(7, gs, ge, np.char.mod(b"%.3f", v * 3.6).tolist())
        emit(
            8,
            gs,
            ge,
            np.char.mod(
                b"%.1f", 100 * 0.55 * (v / speed) ** 0.5 * rng.uniform(0.95, 1.05, len(gait))
            ).tolist(),
        )
        emit(
            9, gs, ge, np.char.mod(b"%.4f", np.clip(rng.gamma(1.5, 0.02, len(gait)), 0, 1)).tolist()
        )
        emit(
            10,
            gs,
            ge,
            np.char.mod(b"%.4f", np.clip(rng.normal(0.28, 0.02, len(gait)), 0, 1)).tolist(),
        )
        fl = gait[rng.random(len(gait)) < 0.25]
        if len(fl):
            fs = utc_h[fl] + 3200
            emit(11, fs, fs + 40, np.char.mod(b"%d", rng.integers(1, 5, len(fl))).tolist())

    # six-minute-walk estimate once a week (Sunday 09:00 local)
    sund = np.flatnonzero((lhour == 9) & ((lday + 3) % 7 == 6))
    if len(sund):
        sw = 460 * factor[di[sund]] * rng.normal(1, 0.04, len(sund))
        emit(13, utc_h[sund], utc_h[sund], np.char.mod(b"%.1f", sw).tolist())

    # watch: HRV a few times a night, with instantaneous beats as children
    night = np.flatnonzero(worn & ((lhour >= 1) & (lhour <= 5)) & (rng.random(len(hours)) < 0.8))
    if len(night):
        hs = utc_h[night] + rng.integers(0, 3000, len(night))
        he = hs + 60
        children = []
        for t in _fmt_dates(hs, off[night]):
            tt = t[11:19].decode()
            children.append(
                (
                    '">\n  <HeartRateVariabilityMetadataList>\n'
                    + "".join(
                        f'   <InstantaneousBeatsPerMinute bpm="{58 + j}" time="{tt}.{j}0 AM"/>\n'
                        for j in range(4)
                    )
                    + "  </HeartRateVariabilityMetadataList>\n </Record>\n"
                ).encode()
            )
        emit(
            12,
            hs,
            he,
            np.char.mod(b"%.3f", rng.lognormal(np.log(45), 0.3, len(night))).tolist(),
            children,
        )

    # sleep per local night, in the offset of that evening
    for k, d in enumerate(uniq_days.tolist()):
        ev = np.flatnonzero((lday == d) & (lhour == 23))
        if not len(ev):
            continue
        o = int(off[ev[0]])
        bed = (d * 86400 + 23 * 3600 - o) + int(rng.normal(0, 1800))
        wake = bed + int(rng.normal(7.8, 0.6) * 3600)
        emit(15, np.array([bed - 900]), np.array([wake + 600]), [_SLEEP_VALUES[4]])
        if not watch_day[k] or (k + 1 < len(watch_day) and not watch_day[k + 1]):
            continue
        cuts = np.sort(rng.integers(bed + 600, wake - 600, 5))
        bounds = np.concatenate([[bed], cuts, [wake]])
        stages = np.array([0, 1, 0, 3, 2, 0])
        emit(14, bounds[:-1], bounds[1:], [_SLEEP_VALUES[i] for i in stages])
        # each asleep segment counts for the local date of (its end + 6 h), in the offset of its end
        seg_end = bounds[1:]
        end_loc = seg_end + offs[np.floor_divide(seg_end, 3600) - first_hour]
        nights = np.floor_divide(end_loc + 6 * 3600, 86400)
        for nd, hours in zip(
            nights[stages != 3].tolist(),
            (np.diff(bounds)[stages != 3] / 3600.0).tolist(),
            strict=True,
        ):
            sleep_truth[nd] = sleep_truth.get(nd, 0.0) + hours

    if other_types:
        on = np.flatnonzero(worn)
        for lh in np.floor_divide(local[on], 3600).tolist():
            wear_truth.setdefault(lh // 24, set()).add(lh)
        rep = 12
        idx = np.repeat(on, rep)
        j = np.tile(np.arange(rep), len(on))
        hs = utc_h[idx] + j * 300 + rng.integers(0, 200, len(idx))
        hr = np.where(awake[idx], 78, 58) + rng.normal(0, 6, len(idx))
        emit(4, hs, hs, np.char.mod(b"%d", np.round(hr).astype(np.int64)).tolist())
        emit(6, hs, hs + 290, np.char.mod(b"%.3f", rng.uniform(4.8, 5.6, len(idx))).tolist())
        act = np.flatnonzero(worn & awake)
        rep = 20
        idx = np.repeat(act, rep)
        j = np.tile(np.arange(rep), len(act))
        hs = utc_h[idx] + j * 180 + rng.integers(0, 100, len(idx))
        emit(5, hs, hs + 60, np.char.mod(b"%.3f", rng.gamma(1.2, 0.6, len(idx))).tolist())

    kind = np.concatenate(kinds)
    s = np.concatenate(starts)
    e = np.concatenate(ends)
    vals = [v for lst in values for v in lst]
    ext = [x for lst in extras for x in lst]
    return kind, s, e, vals, ext
