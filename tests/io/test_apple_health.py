"""Apple Health exports: units, sources, midnight, DST, travel, sleep, broken files.

Every expected value below is worked out by hand in the comment next to it.
"""

from __future__ import annotations

import zipfile

import numpy as np
import pandas as pd
import pytest

from smoulder.exceptions import InputDataError
from smoulder.io.apple_health import read_apple_health

HEAD = """<?xml version="1.0" encoding="UTF-8"?>
<!DOCTYPE HealthData [
<!ELEMENT HealthData (ExportDate,Me,(Record|Workout)*)>
<!ATTLIST HealthData locale CDATA #REQUIRED>
<!ELEMENT ExportDate EMPTY>
<!ATTLIST ExportDate value CDATA #REQUIRED>
<!ELEMENT Me EMPTY>
<!ATTLIST Me HKCharacteristicTypeIdentifierDateOfBirth CDATA #REQUIRED>
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
<!ELEMENT MetadataEntry EMPTY>
<!ATTLIST MetadataEntry key CDATA #REQUIRED value CDATA #REQUIRED>
]>
<HealthData locale="en_GB">
 <ExportDate value="2021-07-01 10:00:00 +0200"/>
 <Me HKCharacteristicTypeIdentifierDateOfBirth="1980-01-01"/>
"""
TAIL = "</HealthData>\n"
FIRST = HEAD.count("\n") + 1  # line of the first record
WATCH = "Anna’s Apple Watch"
PHONE = "Anna’s iPhone"
T = "HKQuantityTypeIdentifier"


def rec(kind, start, end, value, source=WATCH, unit="count", extra=""):
    u = f' unit="{unit}"' if unit is not None else ""
    return (
        f' <Record type="{kind}" sourceName="{source}" sourceVersion="7.4"{u} '
        f'creationDate="{end}" startDate="{start}" endDate="{end}" value="{value}"{extra}/>\n'
    )


def steps(start, end, value, source=WATCH):
    return rec(T + "StepCount", start, end, value, source)


def export(tmp_path, records, name="export.xml"):
    p = tmp_path / name
    p.write_text(HEAD + "".join(records) + TAIL, encoding="utf-8")
    return p


def daily(df, measure):
    sub = df[df["measure"] == measure]
    return {str(d.date()): round(v, 6) for d, v in zip(sub["date"], sub["value"], strict=True)}


OVERLAP = [
    # hour 09 local: watch 600, phone 700 overlapping -> only one source counts
    steps("2021-05-03 09:00:00 +0200", "2021-05-03 09:10:00 +0200", 600),
    steps("2021-05-03 09:02:00 +0200", "2021-05-03 09:12:00 +0200", 700, PHONE),
    # hour 14: phone only (watch off) -> 1000 counts under any rule
    steps("2021-05-03 14:00:00 +0200", "2021-05-03 14:30:00 +0200", 1000, PHONE),
    # hour 16: watch only
    steps("2021-05-03 16:00:00 +0200", "2021-05-03 16:05:00 +0200", 300),
]


def test_phone_and_watch_steps_are_not_double_counted(tmp_path):
    p = export(tmp_path, OVERLAP)
    df, report = read_apple_health(p, subject="s1")
    # default priority Watch > iPhone: 600 (h09 watch) + 1000 (h14 phone) + 300 (h16) = 1900
    assert daily(df, "steps") == {"2021-05-03": 1900.0}
    assert df["subject"].unique().tolist() == ["s1"]
    assert (
        report.reasons[
            "hours measured by several sources (only the preferred source counted, never summed)"
        ]
        == 1
    )
    # the larger total per hour: 700 + 1000 + 300 = 2000
    df, _ = read_apple_health(p, subject="s1", dedup="max")
    assert daily(df, "steps") == {"2021-05-03": 2000.0}
    # user priority iPhone first: 700 + 1000 + 300 = 2000
    df, _ = read_apple_health(p, subject="s1", source_priority=["iphone", "watch"])
    assert daily(df, "steps") == {"2021-05-03": 2000.0}


def test_a_renamed_watch_is_recognised_by_its_device(tmp_path):
    watch_dev = ' device="&lt;&lt;HKDevice: 0x1&gt;, name:Apple Watch, manufacturer:Apple Inc., model:Watch&gt;"'
    phone_dev = ' device="&lt;&lt;HKDevice: 0x2&gt;, name:iPhone, manufacturer:Apple Inc., model:iPhone&gt;"'
    sc = T + "StepCount"
    p = export(
        tmp_path,
        [
            # the watch is called "Tick" and the phone "Pocket": only their device strings tell them apart;
            # the first "Tick" record has no device attribute, a later one has
            rec(sc, "2021-05-03 08:00:00 +0200", "2021-05-03 08:10:00 +0200", 50, "Tick"),
            rec(
                sc,
                "2021-05-03 09:00:00 +0200",
                "2021-05-03 09:10:00 +0200",
                600,
                "Tick",
                extra=watch_dev,
            ),
            rec(
                sc,
                "2021-05-03 09:02:00 +0200",
                "2021-05-03 09:12:00 +0200",
                700,
                "Pocket",
                extra=phone_dev,
            ),
            rec(
                sc,
                "2021-05-03 08:02:00 +0200",
                "2021-05-03 08:12:00 +0200",
                80,
                "Pocket",
                extra=phone_dev,
            ),
            rec(
                T + "HeartRate",
                "2021-05-03 09:30:00 +0200",
                "2021-05-03 09:30:00 +0200",
                70,
                "Tick",
                "count/min",
            ),
        ],
    )
    df, _ = read_apple_health(p, subject="s1")
    # hour 08: watch 50 (not the phone's 80); hour 09: watch 600 (not 700)
    assert daily(df, "steps") == {"2021-05-03": 650.0}
    assert daily(df, "wear_hours") == {"2021-05-03": 1.0}


def test_record_across_midnight_is_split_in_proportion_to_time(tmp_path):
    # 23:55 -> 00:10 is 15 minutes: 5/15 of 300 = 100 on the 3rd, 10/15 = 200 on the 4th
    p = export(tmp_path, [steps("2021-05-03 23:55:00 +0200", "2021-05-04 00:10:00 +0200", 300)])
    df, report = read_apple_health(p, subject="s1")
    assert daily(df, "steps") == {"2021-05-03": 100.0, "2021-05-04": 200.0}
    assert report.reasons["records across midnight split between days in proportion to time"] == 1


def test_daylight_saving_day(tmp_path):
    # 28 March 2021, Europe: 02:00 CET becomes 03:00 CEST.
    # phone 01:30+0100 -> 03:30+0200 lasts one real hour (00:30Z-01:30Z): 60 steps in local hour 01
    # (UTC hour 00) and 60 in UTC hour 01; the watch also measured UTC hour 01 (03:10+0200 = 01:10Z),
    # so the watch's 50 replace the phone's 60 there. 23:30->00:30 (+0200) gives 30 to each day.
    # 28 March: 60 + 50 + 30 = 140; 29 March: 30.
    p = export(
        tmp_path,
        [
            steps("2021-03-28 01:30:00 +0100", "2021-03-28 03:30:00 +0200", 120, PHONE),
            steps("2021-03-28 03:10:00 +0200", "2021-03-28 03:20:00 +0200", 50),
            steps("2021-03-28 23:30:00 +0200", "2021-03-29 00:30:00 +0200", 60),
        ],
    )
    df, _ = read_apple_health(p, subject="s1")
    assert daily(df, "steps") == {"2021-03-28": 140.0, "2021-03-29": 30.0}


def test_travel_dates_follow_the_records_own_offset_and_units_convert(tmp_path):
    # in New York (-0400): 23:30 local on 10 June is 03:30 UTC on the 11th but stays 10 June.
    # walking speeds 3.6, 5.4, 4.32 km/hr = 1.0, 1.5, 1.2 m/s: median 1.2
    ws = T + "WalkingSpeed"
    p = export(
        tmp_path,
        [
            rec(ws, "2021-06-09 08:00:00 +0200", "2021-06-09 08:01:00 +0200", 3.6, PHONE, "km/hr"),
            rec(ws, "2021-06-10 08:00:00 -0400", "2021-06-10 08:01:00 -0400", 3.6, PHONE, "km/hr"),
            rec(ws, "2021-06-10 12:00:00 -0400", "2021-06-10 12:01:00 -0400", 5.4, PHONE, "km/hr"),
            rec(ws, "2021-06-10 23:30:00 -0400", "2021-06-10 23:31:00 -0400", 4.32, PHONE, "km/hr"),
            rec(
                T + "WalkingStepLength",
                "2021-06-09 08:00:00 +0200",
                "2021-06-09 08:01:00 +0200",
                70,
                PHONE,
                "cm",
            ),
            # HealthKit percentages are fractions: 0.07 with unit % is 7 %
            rec(
                T + "WalkingAsymmetryPercentage",
                "2021-06-09 08:00:00 +0200",
                "2021-06-09 08:01:00 +0200",
                0.07,
                PHONE,
                "%",
            ),
            rec(
                T + "WalkingDoubleSupportPercentage",
                "2021-06-09 08:00:00 +0200",
                "2021-06-09 08:01:00 +0200",
                0.285,
                PHONE,
                "%",
            ),
            rec(
                T + "HeartRateVariabilitySDNN",
                "2021-06-09 03:00:00 +0200",
                "2021-06-09 03:01:00 +0200",
                41.5,
                WATCH,
                "ms",
            ),
            # the six-minute-walk estimate takes the day's last value
            rec(
                T + "SixMinuteWalkTestDistance",
                "2021-06-09 01:00:00 +0200",
                "2021-06-09 01:00:00 +0200",
                480,
                PHONE,
                "m",
            ),
            rec(
                T + "SixMinuteWalkTestDistance",
                "2021-06-09 21:00:00 +0200",
                "2021-06-09 21:00:00 +0200",
                455,
                PHONE,
                "m",
            ),
            rec(
                T + "FlightsClimbed",
                "2021-06-09 10:00:00 +0200",
                "2021-06-09 10:01:00 +0200",
                3,
                PHONE,
                "count",
            ),
            rec(
                T + "ActiveEnergyBurned",
                "2021-06-09 10:00:00 +0200",
                "2021-06-09 10:01:00 +0200",
                7,
                WATCH,
                "kcal",
            ),
        ],
    )
    df, report = read_apple_health(p, subject="s1")
    assert daily(df, "walking_speed") == {"2021-06-09": 1.0, "2021-06-10": 1.2}
    assert daily(df, "step_length") == {"2021-06-09": 0.7}
    assert daily(df, "walking_asymmetry") == {"2021-06-09": 7.0}
    assert daily(df, "double_support") == {"2021-06-09": 28.5}
    assert daily(df, "hrv_sdnn") == {"2021-06-09": 41.5}
    assert daily(df, "six_minute_walk_estimate") == {"2021-06-09": 455.0}
    assert daily(df, "flights_climbed") == {"2021-06-09": 3.0}
    assert set(df["unit"]) == {"m/s", "m", "%", "ms", "count"}
    assert "wear_hours" not in set(df["measure"])  # no heart rate from a watch: no wear time
    # 3 records at -0400 against 8 at +0200
    assert (
        report.reasons[
            "records in a UTC offset other than the most common (+0200), dated by their own offset"
        ]
        == 3
    )
    assert report.reasons["records of types smoulder does not use (not read)"] == 1
    assert report.rows_read == 11


def test_sleep_counts_asleep_time_per_night_on_the_wake_up_date(tmp_path):
    sl = "HKCategoryTypeIdentifierSleepAnalysis"
    v = "HKCategoryValueSleepAnalysis"
    p = export(
        tmp_path,
        [
            # watch: core 23:00-02:00 (3 h), awake 02:00-02:10 (not sleep), deep 02:10-03:40 (1.5 h),
            # REM 03:40-06:40 (3 h), a nap 14:00-14:30 (0.5 h, ends before 18:00): night of 3 May = 8.0 h
            rec(
                sl,
                "2021-05-02 23:00:00 +0200",
                "2021-05-03 02:00:00 +0200",
                v + "AsleepCore",
                unit=None,
            ),
            rec(
                sl, "2021-05-03 02:00:00 +0200", "2021-05-03 02:10:00 +0200", v + "Awake", unit=None
            ),
            rec(
                sl,
                "2021-05-03 02:10:00 +0200",
                "2021-05-03 03:40:00 +0200",
                v + "AsleepDeep",
                unit=None,
            ),
            rec(
                sl,
                "2021-05-03 03:40:00 +0200",
                "2021-05-03 06:40:00 +0200",
                v + "AsleepREM",
                unit=None,
            ),
            rec(
                sl,
                "2021-05-03 14:00:00 +0200",
                "2021-05-03 14:30:00 +0200",
                v + "AsleepCore",
                unit=None,
            ),
            # phone in bed (never sleep) and another app's 8 h (lower priority than the watch)
            rec(
                sl,
                "2021-05-02 22:30:00 +0200",
                "2021-05-03 07:00:00 +0200",
                v + "InBed",
                PHONE,
                unit=None,
            ),
            rec(
                sl,
                "2021-05-02 23:00:00 +0200",
                "2021-05-03 07:00:00 +0200",
                v + "AsleepUnspecified",
                "SleepApp",
                unit=None,
            ),
            # the next evening: 22:00 on 3 May to 06:00 on 4 May (8 h) belongs to 4 May
            rec(
                sl,
                "2021-05-03 22:00:00 +0200",
                "2021-05-04 06:00:00 +0200",
                v + "AsleepCore",
                unit=None,
            ),
        ],
    )
    df, report = read_apple_health(p, subject="s1")
    assert daily(df, "sleep_hours") == {"2021-05-03": 8.0, "2021-05-04": 8.0}
    assert report.reasons["sleep records in bed or awake (not counted as sleep)"] == 2
    assert (
        report.reasons[
            "nights measured by several sources (only the preferred source counted, never summed)"
        ]
        == 1
    )


def test_wear_hours_count_clock_hours_with_watch_heart_rate(tmp_path):
    hr = T + "HeartRate"

    def beat(when, source=WATCH):
        return rec(hr, when, when, 70, source, "count/min")

    p = export(
        tmp_path,
        [
            # 3 May: watch samples in the hours 08 (twice), 09 and 23 -> 3 h; the phone's sample does not count
            beat("2021-05-03 08:05:00 +0200"),
            beat("2021-05-03 08:40:00 +0200"),
            beat("2021-05-03 09:10:00 +0200"),
            beat("2021-05-03 23:59:00 +0200"),
            beat("2021-05-03 12:00:00 +0200", PHONE),
            # 4 May: steps from the phone only -> the watch was not worn: 0 h
            steps("2021-05-04 12:00:00 +0200", "2021-05-04 12:10:00 +0200", 500, PHONE),
            # 5 May: one watch hour -> 1 h
            beat("2021-05-05 10:00:00 +0200"),
            # 6 May: after the last worn day: no wear row
            steps("2021-05-06 12:00:00 +0200", "2021-05-06 12:10:00 +0200", 400, PHONE),
        ],
    )
    df, report = read_apple_health(p, subject="s1")
    assert daily(df, "wear_hours") == {"2021-05-03": 3.0, "2021-05-04": 0.0, "2021-05-05": 1.0}
    assert set(df.loc[df["measure"] == "wear_hours", "unit"]) == {"h"}
    assert report.reasons["heart-rate records read for wear time"] == 6
    df, _ = read_apple_health(p, subject="s1", wear_sources=None)
    assert "wear_hours" not in set(df["measure"])


def test_identical_duplicate_records_are_merged(tmp_path):
    r = steps("2021-05-03 09:00:00 +0200", "2021-05-03 09:10:00 +0200", 600)
    p = export(
        tmp_path, [r, r, steps("2021-05-03 10:00:00 +0200", "2021-05-03 10:10:00 +0200", 50)]
    )
    df, report = read_apple_health(p, subject="s1", chunk_records=1000)
    assert daily(df, "steps") == {"2021-05-03": 650.0}
    assert report.reasons["identical duplicate records merged"] == 1


def test_duplicates_are_found_across_chunks(tmp_path, monkeypatch):
    import smoulder.io._apple_xml as ax

    monkeypatch.setattr(ax, "_BLOCK", 4096)  # many small blocks, so the records span several chunks
    # 1,500 distinct 30-second records of 2 steps (1,440 on 3 May, 60 on 4 May), then the first 500 again
    recs = [
        steps(
            f"2021-05-{d:02d} {h:02d}:{m:02d}:00 +0200",
            f"2021-05-{d:02d} {h:02d}:{m:02d}:30 +0200",
            2,
        )
        for d in (3, 4)
        for h in range(24)
        for m in range(60)
    ][:1500]
    p = export(tmp_path, recs + recs[:500])
    df, report = read_apple_health(p, subject="s1", chunk_records=1000)
    assert daily(df, "steps") == {"2021-05-03": 2880.0, "2021-05-04": 120.0}
    assert report.reasons["identical duplicate records merged"] == 500


def test_negative_steps_name_the_record_line(tmp_path):
    p = export(
        tmp_path,
        [
            steps("2021-05-03 09:00:00 +0200", "2021-05-03 09:10:00 +0200", 600),
            steps("2021-05-03 10:00:00 +0200", "2021-05-03 10:10:00 +0200", -5),
        ],
    )
    with pytest.raises(InputDataError) as e:
        read_apple_health(p, subject="s1")
    msg = str(e.value)
    assert (
        f"line {FIRST + 1}" in msg
        and "StepCount" in msg
        and "impossible value" in msg
        and "-5" in msg
    )
    df, report = read_apple_health(p, subject="s1", on_error="keep-valid")
    assert daily(df, "steps") == {"2021-05-03": 600.0}
    assert report.rows_rejected == 1


def test_walking_speed_of_20_m_s_and_unknown_units_are_rejected(tmp_path):
    ws = T + "WalkingSpeed"
    p = export(
        tmp_path,
        [rec(ws, "2021-06-09 08:00:00 +0200", "2021-06-09 08:01:00 +0200", 72, PHONE, "km/hr")],
    )
    with pytest.raises(InputDataError, match=rf"line {FIRST}.*impossible value.*20"):
        read_apple_health(p, subject="s1")
    p = export(
        tmp_path,
        [rec(ws, "2021-06-09 08:00:00 +0200", "2021-06-09 08:01:00 +0200", 3, PHONE, "furlong/hr")],
    )
    with pytest.raises(InputDataError, match=rf"line {FIRST}.*unit.*furlong/hr"):
        read_apple_health(p, subject="s1")
    p = export(tmp_path, [steps("2021-06-09 8:00:00 +0200", "2021-06-09 08:01:00 +0200", 3)])
    with pytest.raises(InputDataError, match=rf"line {FIRST}.*startDate"):
        read_apple_health(p, subject="s1")


def test_truncated_file_names_the_line_and_keeps_valid_records_only_on_request(tmp_path):
    good = export(tmp_path, OVERLAP)
    text = good.read_text(encoding="utf-8")
    cut = text[: text.index("2021-05-03 16:00:00")]  # the watch's hour-16 record is cut in half
    p = tmp_path / "cut.xml"
    p.write_text(cut, encoding="utf-8")
    with pytest.raises(InputDataError) as e:
        read_apple_health(p, subject="s1")
    assert f"line {FIRST + 3}" in str(e.value) and "truncated" in str(e.value)
    df, report = read_apple_health(p, subject="s1", on_error="keep-valid")
    # hours 09 (watch 600) and 14 (phone 1000) survive
    assert daily(df, "steps") == {"2021-05-03": 1600.0}
    assert any(f"line {FIRST + 3}" in w for w in report.warnings)


def test_zip_and_xml_give_the_same_table_and_progress_reaches_the_end(tmp_path):
    xml = export(tmp_path, OVERLAP)
    z = tmp_path / "export.zip"
    with zipfile.ZipFile(z, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.write(xml, "apple_health_export/export.xml")
        zf.writestr("apple_health_export/export_cda.xml", "<ClinicalDocument/>")
    seen = []
    a, _ = read_apple_health(xml, subject="s1")
    b, _ = read_apple_health(
        z, subject="s1", progress=lambda done, total: seen.append((done, total))
    )
    assert a.equals(b)
    assert seen[-1][0] == seen[-1][1] == xml.stat().st_size
    # the unzipped folder works too
    with zipfile.ZipFile(z) as zf:
        zf.extractall(tmp_path / "unzipped")
    c, _ = read_apple_health(tmp_path / "unzipped", subject="s1")
    assert a.equals(c)


def test_the_clinical_document_beside_export_xml_is_said_to_be_not_read(tmp_path):
    """Every export.zip holds export_cda.xml too: the report says it is not read."""
    xml = export(tmp_path, OVERLAP)
    cda = '<?xml version="1.0"?>\n<ClinicalDocument xmlns="urn:hl7-org:v3"/>\n'
    z = tmp_path / "export.zip"
    with zipfile.ZipFile(z, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("apple_health_export/export_cda.xml", cda)  # before export.xml
        zf.write(xml, "apple_health_export/export.xml")
    note = "export_cda.xml (the clinical document) not read: the records are read from export.xml"
    a, plain = read_apple_health(xml, subject="s1")
    b, zipped = read_apple_health(z, subject="s1")
    assert a.equals(b)
    assert note not in plain.reasons and zipped.reasons[note] == 1
    assert note in str(zipped)
    folder = tmp_path / "unzipped"
    with zipfile.ZipFile(z) as zf:
        zf.extractall(folder)
    c, unzipped = read_apple_health(folder, subject="s1")
    assert a.equals(c) and unzipped.reasons[note] == 1
    # the clinical document alone is named, never a traceback
    with pytest.raises(InputDataError, match="root element is <ClinicalDocument>"):
        read_apple_health(folder / "apple_health_export" / "export_cda.xml", subject="s1")


def test_damaged_and_incomplete_archives(tmp_path):
    xml = export(
        tmp_path,
        [
            steps(
                f"2021-05-{d:02d} {h:02d}:00:00 +0200", f"2021-05-{d:02d} {h:02d}:10:00 +0200", 10
            )
            for d in range(1, 29)
            for h in range(24)
        ],
    )
    z = tmp_path / "export.zip"
    with zipfile.ZipFile(z, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.write(xml, "apple_health_export/export.xml")
    data = z.read_bytes()
    half = tmp_path / "half.zip"
    half.write_bytes(data[: len(data) // 2])  # an interrupted copy
    with pytest.raises(InputDataError, match="incomplete or damaged"):
        read_apple_health(half, subject="s1")
    bad = tmp_path / "bad.zip"
    mid = len(data) // 2
    bad.write_bytes(data[:mid] + bytes(b ^ 0xFF for b in data[mid : mid + 64]) + data[mid + 64 :])
    with pytest.raises(InputDataError, match="damaged|malformed"):
        read_apple_health(bad, subject="s1")


def test_archive_without_export_xml(tmp_path):
    z = tmp_path / "export.zip"
    with zipfile.ZipFile(z, "w") as zf:
        zf.writestr("notes.txt", "hello")
    with pytest.raises(InputDataError, match="export.xml"):
        read_apple_health(z, subject="s1")


def test_simulated_export_gives_back_its_ground_truth(tmp_path):
    from smoulder.synth.apple_health import write_apple_health_export

    # 90 days from 1 March 2021 cross the spring DST change; a seed with a trip abroad
    info = write_apple_health_export(
        tmp_path / "export.zip", years=90 / 365.25, start="2021-03-01", seed=3, trips_per_year=8
    )
    again = write_apple_health_export(
        tmp_path / "again.zip", years=90 / 365.25, start="2021-03-01", seed=3, trips_per_year=8
    )
    assert info.n_records == again.n_records and info.daily_steps.equals(again.daily_steps)
    df, report = read_apple_health(info.path, subject="sim")
    steps = df[df["measure"] == "steps"].set_index("date")["value"]
    pd.testing.assert_series_equal(steps, info.daily_steps.reindex(steps.index), check_names=False)
    assert len(steps) == len(info.daily_steps)
    sleep = df[df["measure"] == "sleep_hours"].set_index("date")["value"]
    assert np.allclose(sleep, info.nightly_sleep.reindex(sleep.index)) and len(sleep) == len(
        info.nightly_sleep
    )
    wear = df[df["measure"] == "wear_hours"].set_index("date")["value"]
    assert (wear == info.daily_wear_hours.reindex(wear.index).fillna(0)).all()
    assert (wear == 0).sum() > 0 and wear.max() <= 24  # some days without the watch
    dist = df[df["measure"] == "walking_distance"].set_index("date")["value"]
    truth = info.daily_walking_distance.reindex(dist.index)
    assert len(dist) == len(info.daily_walking_distance) and np.allclose(dist, truth)
    assert report.rows_read == info.n_catalogue_records and report.rows_rejected == 0
    # phone and watch overlapped, and several offsets (+0100, +0200 and a trip) were seen
    assert (
        report.reasons[
            "hours measured by several sources (only the preferred source counted, never summed)"
        ]
        > 0
    )
    assert len(report.warnings[0].split(",")) >= 3


# ------------------------------------------------------------------ property: splitting by local day
from datetime import datetime, timedelta, timezone  # noqa: E402

from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

RECORD = st.tuples(
    st.integers(0, 6 * 24 * 60 - 1),  # start minute within six days
    st.integers(0, 5 * 60),  # duration in minutes (up to 5 h, often across midnight)
    st.integers(0, 5000),  # steps
    st.sampled_from([-300, 60, 120, 330, 540]),  # the record's own UTC offset in minutes
)


@settings(
    max_examples=40,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(st.lists(RECORD, min_size=1, max_size=12))
def test_steps_of_one_source_are_shared_between_local_days_by_time(tmp_path, records):
    """One source, records anywhere: each local day gets the time-weighted share of every record.

    The expected values come from datetime arithmetic on each record's own offset, independently
    of the reader's hour bins.
    """
    base = datetime(2021, 3, 1)
    expected: dict[str, float] = {}
    lines = []
    seen = set()
    for start_min, dur, value, off in records:
        tz = timezone(timedelta(minutes=off))
        start = (base + timedelta(minutes=start_min)).replace(tzinfo=tz)
        end = start + timedelta(minutes=dur)
        fmt = "%Y-%m-%d %H:%M:%S %z"
        lines.append(steps(start.strftime(fmt), end.strftime(fmt), value))
        if (
            start,
            dur,
            value,
        ) in seen:  # the same instants and value: a duplicate, merged by the reader
            continue
        seen.add((start, dur, value))
        day = start.replace(hour=0, minute=0)
        while True:
            nxt = day + timedelta(days=1)
            if dur == 0:
                share = 1.0 if day <= start < nxt else 0.0
            else:
                overlap = (min(end, nxt) - max(start, day)).total_seconds()
                share = max(overlap, 0.0) / (dur * 60)
            if share > 0:
                key = day.strftime("%Y-%m-%d")
                expected[key] = expected.get(key, 0.0) + value * share
            if dur == 0 or nxt >= end:
                break
            day = nxt
    p = export(tmp_path, lines)
    df, report = read_apple_health(p, subject="s1", wear_sources=None)
    got = daily(df, "steps")
    assert report.reasons.get("identical duplicate records merged", 0) == len(lines) - len(seen)
    for k in set(got) | set(expected):
        assert got.get(k, 0.0) == pytest.approx(expected.get(k, 0.0), abs=1e-6)


def test_ios16_export_with_a_malformed_dtd_is_read_and_lines_stay_true(tmp_path):
    # iOS 16 exports lack the '>' closing some ATTLIST declarations in the DTD
    broken = HEAD.replace(
        "<!ELEMENT MetadataEntry EMPTY>",
        "<!ATTLIST VisionPrescription\n"
        "  type             CDATA #REQUIRED\n  dateIssued       CDATA #REQUIRED\n"
        "<!ELEMENT MetadataEntry EMPTY>",
    )
    first = broken.count("\n") + 1
    p = tmp_path / "export.xml"
    p.write_text(
        broken + steps("2021-05-03 09:00:00 +0200", "2021-05-03 09:10:00 +0200", 600) + TAIL
    )
    df, report = read_apple_health(p, subject="s1")
    assert daily(df, "steps") == {"2021-05-03": 600.0}
    assert any("document type declaration is malformed" in w for w in report.warnings)
    p.write_text(
        broken
        + steps("2021-05-03 09:00:00 +0200", "2021-05-03 09:10:00 +0200", 600)
        + steps("2021-05-03 10:00:00 +0200", "2021-05-03 10:10:00 +0200", -1)
        + TAIL
    )
    with pytest.raises(InputDataError, match=rf"line {first + 1},"):
        read_apple_health(p, subject="s1")


def test_control_characters_are_replaced_and_counted(tmp_path):
    # a vertical tab (forbidden in XML 1.0) in a source name, as some exports contain
    p = export(
        tmp_path,
        [
            steps(
                "2021-05-03 09:00:00 +0200",
                "2021-05-03 09:10:00 +0200",
                600,
                "Anna\x0bs Apple Watch",
            ),
            steps("2021-05-03 09:02:00 +0200", "2021-05-03 09:12:00 +0200", 700, PHONE),
        ],
    )
    df, report = read_apple_health(p, subject="s1")
    assert daily(df, "steps") == {"2021-05-03": 600.0}  # still recognised as the watch
    assert report.reasons["control characters (forbidden in XML) replaced by spaces"] == 1


def test_impossible_night_of_sleep_names_the_date(tmp_path):
    sl, v = "HKCategoryTypeIdentifierSleepAnalysis", "HKCategoryValueSleepAnalysisAsleepCore"
    # 23 h and an overlapping 2 h from one app: 25 h asleep in the night of 3 May
    p = export(
        tmp_path,
        [
            rec(sl, "2021-05-02 18:30:00 +0200", "2021-05-03 17:30:00 +0200", v, "SleepApp", None),
            rec(sl, "2021-05-03 10:00:00 +0200", "2021-05-03 12:00:00 +0200", v, "SleepApp", None),
            steps("2021-05-03 09:00:00 +0200", "2021-05-03 09:10:00 +0200", 600),
        ],
    )
    with pytest.raises(InputDataError, match=r"impossible daily sleep_hours on 2021-05-03.*got 25"):
        read_apple_health(p, subject="s1")
    df, report = read_apple_health(p, subject="s1", on_error="keep-valid")
    assert "sleep_hours" not in set(df["measure"]) and daily(df, "steps") == {"2021-05-03": 600.0}
    assert report.reasons["days left out: impossible daily total"] == 1


# ------------------------------------------------------------------ exports of other iOS versions
# Written by hand to mimic the quirks of exports nobody here wrote: iOS 8 wrote compact dates
# (``20150618090000+0200``), named the source ``source`` rather than ``sourceName`` and put the
# metadata of some apps into attributes whose names hold spaces (not well-formed XML); phones set
# to US units write mi, mi/hr, in and lb.
IOS8 = """<?xml version="1.0" encoding="UTF-8"?>
<!DOCTYPE HealthData [
<!ELEMENT HealthData (ExportDate,Me,(Record|Correlation|Workout)*)>
<!ATTLIST HealthData locale CDATA #REQUIRED>
<!ELEMENT ExportDate EMPTY>
<!ATTLIST ExportDate value CDATA #REQUIRED>
<!ELEMENT Me EMPTY>
<!ELEMENT Record EMPTY>
]>
<HealthData locale="de_DE">
 <ExportDate value="20150620101500+0200"/>
 <Me HKCharacteristicTypeIdentifierDateOfBirth="19800101"/>
 <Record type="HKQuantityTypeIdentifierStepCount" source="Jos iPhone" unit="count" creationDate="20150618092000+0200" startDate="20150618090000+0200" endDate="20150618091000+0200" value="420"/>
 <Record type="HKQuantityTypeIdentifierStepCount" source="Jos iPhone" unit="count" creationDate="20150619010000+0200" startDate="20150618233000+0200" endDate="20150619003000+0200" value="100"/>
 <Record type="HKQuantityTypeIdentifierBodyMass" source="ScaleMate" unit="lb" creationDate="20150619071600+0200" startDate="20150619071500+0200" endDate="20150619071500+0200" ScaleMate App Version="3.1" HKWasUserEntered="0" Scale Serial Number="xx12" value="160"/>
 <Record type="HKQuantityTypeIdentifierStepCount" source="Jos iPhone" unit="count" creationDate="20150621091000+0200" startDate="20150621090000+0200" endDate="20150621091000+0200" value="50"/>
</HealthData>
"""


def test_an_ios8_export_with_compact_dates_source_and_spaced_attribute_names(tmp_path):
    p = tmp_path / "export.xml"
    p.write_text(IOS8, encoding="utf-8")
    df, report = read_apple_health(p, "s8")
    # 420 steps at 09:00; the 23:30-00:30 record gives half of its 100 to each day; 160 lb =
    # 160 * 0.45359237 kg; the record of 21 June is after the export date (20 June): left out
    assert daily(df, "steps") == {"2015-06-18": 470.0, "2015-06-19": 50.0}
    assert daily(df, "body_weight") == {"2015-06-19": round(160 * 0.45359237, 6)}
    assert (
        report.reasons[
            "attribute names with spaces repaired (iOS 8 exports with metadata from some apps)"
        ]
        == 2
    )
    assert report.reasons["records dated after the export date (2015-06-20) left out"] == 1
    assert "the export has no ExportDate" not in " ".join(report.warnings)


def test_us_units_are_converted(tmp_path):
    day = "2021-05-03 {} +0200"
    p = export(
        tmp_path,
        [
            rec(
                T + "WalkingSpeed",
                day.format("10:00:00"),
                day.format("10:01:00"),
                2.5,
                PHONE,
                "mi/hr",
            ),
            rec(
                T + "WalkingStepLength",
                day.format("10:00:00"),
                day.format("10:01:00"),
                26,
                PHONE,
                "in",
            ),
            rec(
                T + "DistanceWalkingRunning",
                day.format("11:00:00"),
                day.format("11:30:00"),
                1.25,
                PHONE,
                "mi",
            ),
            rec(T + "BodyMass", day.format("07:00:00"), day.format("07:00:00"), 150, "Scale", "lb"),
        ],
    )
    df, _ = read_apple_health(p, "us")
    # 2.5 mi/h = 2.5 * 0.44704 m/s; 26 in = 0.6604 m; 1.25 mi = 2011.68 m; 150 lb = 68.0388555 kg
    assert daily(df, "walking_speed") == {"2021-05-03": round(2.5 * 0.44704, 6)}
    assert daily(df, "step_length") == {"2021-05-03": 0.6604}
    assert daily(df, "walking_distance") == {"2021-05-03": 2011.68}
    assert daily(df, "body_weight") == {"2021-05-03": round(150 * 0.45359237, 6)}


def test_a_decimal_comma_is_named_not_called_a_missing_value(tmp_path):
    p = export(
        tmp_path,
        [
            rec(
                T + "WalkingSpeed",
                "2021-05-03 10:00:00 +0200",
                "2021-05-03 10:01:00 +0200",
                "1,25",
                PHONE,
                "m/s",
            )
        ],
    )
    with pytest.raises(InputDataError) as e:
        read_apple_health(p, "s1")
    msg = str(e.value)
    assert f"line {FIRST}" in msg and "decimal comma" in msg and "'1,25'" in msg


def test_no_usable_records_says_why_by_type_and_reason(tmp_path):
    day = "2021-{} +0200"
    p = export(
        tmp_path,
        [
            rec(
                T + "ActiveEnergyBurned",
                day.format("05-03 10:00:00"),
                day.format("05-03 10:05:00"),
                3,
                WATCH,
                "kcal",
            ),
            rec(
                T + "ActiveEnergyBurned",
                day.format("05-03 11:00:00"),
                day.format("05-03 11:05:00"),
                4,
                WATCH,
                "kcal",
            ),
            steps(day.format("07-05 10:00:00"), day.format("07-05 10:05:00"), 300),
            rec(
                "HKCategoryTypeIdentifierSleepAnalysis",
                day.format("05-03 23:00:00"),
                "2021-05-04 07:00:00 +0200",
                "HKCategoryValueSleepAnalysisInBed",
                PHONE,
                None,
            ),
            rec(
                T + "WalkingSpeed",
                day.format("05-03 10:00:00"),
                day.format("05-03 10:01:00"),
                25,
                PHONE,
                "m/s",
            ),
        ],
    )
    with pytest.raises(InputDataError) as e:
        read_apple_health(p, "s1", on_error="keep-valid", wear_sources=None)
    msg = str(e.value)
    assert "no usable records: 5 records, none usable: " in msg
    assert "HKQuantityTypeIdentifierStepCount: 1 dated after the export date (2021-07-01)" in msg
    assert "HKCategoryTypeIdentifierSleepAnalysis: 1 in bed or awake, not asleep" in msg
    assert "HKQuantityTypeIdentifierWalkingSpeed: 1 impossible value" in msg
    assert "types smoulder does not read: HKQuantityTypeIdentifierActiveEnergyBurned (2)" in msg
