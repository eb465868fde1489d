"""The long table of digital measures: units, ranges, time zones, duplicates, daily values."""

from __future__ import annotations

import pandas as pd
import pytest

from smoulder.exceptions import ColumnNotFoundError, InputDataError
from smoulder.io.measures import read_measures, validate_measures, write_measures


def write(tmp_path, text, name="m.csv"):
    p = tmp_path / name
    p.write_text(text)
    return p


def test_daily_values_follow_the_catalogue_rule_and_units_are_converted(tmp_path):
    p = write(
        tmp_path,
        "subject,date,measure,value,unit\n"
        "s1,2021-03-01T08:00:00+01:00,steps,1200,count\n"
        "s1,2021-03-01T18:30:00+01:00,steps,800,count\n"
        "s1,2021-03-01T09:00:00+01:00,walking_speed,3.6,km/h\n"
        "s1,2021-03-01T12:00:00+01:00,walking_speed,1.2,m/s\n"
        "s1,2021-03-01T17:00:00+01:00,walking_speed,0.9,\n"
        "s1,2021-03-02,step_length,65,cm\n"
        "s2,2021-03-01,msis29_physical,30,score\n",
    )
    df, report = read_measures(p)
    assert list(df.columns) == ["subject", "date", "measure", "value", "unit"]
    got = {(r.subject, str(r.date.date()), r.measure): (r.value, r.unit) for r in df.itertuples()}
    # steps add up (1200 + 800); walking speed is the median of 1.0, 1.2, 0.9 m/s; 65 cm = 0.65 m
    assert got == {
        ("s1", "2021-03-01", "steps"): (2000.0, "count"),
        ("s1", "2021-03-01", "walking_speed"): (pytest.approx(1.0), "m/s"),
        ("s1", "2021-03-02", "step_length"): (pytest.approx(0.65), "m"),
        ("s2", "2021-03-01", "msis29_physical"): (30.0, "score"),
    }
    assert report.rows_read == 7 and report.rows_used == 4
    assert report.reasons["values converted to the canonical unit"] == 2
    # 2 steps rows -> 1, 3 speed rows -> 1: four rows folded away
    assert (
        report.reasons[
            "rows at several times of one day combined into the daily value (catalogue rule)"
        ]
        == 3
    )


def test_datetime_belongs_to_the_date_of_its_own_offset():
    raw = pd.DataFrame(
        {
            "subject": ["a", "a", "a"],
            "date": [
                "2021-03-28T23:30:00-05:00",
                "2021-03-29T06:00:00Z",
                "2021-03-27 10:00:00 +0100",
            ],
            "measure": ["steps"] * 3,
            "value": [100.0, 50.0, 10.0],
        }
    )
    df, report = validate_measures(raw)
    # 23:30 at -05:00 is 28 March on the person's clock although it is 29 March in UTC
    assert [(str(d.date()), v) for d, v in zip(df["date"], df["value"], strict=True)] == [
        ("2021-03-27", 10.0),
        ("2021-03-28", 100.0),
        ("2021-03-29", 50.0),
    ]
    assert report.reasons["date-times with a UTC offset other than the most common one"] == 2
    assert any("mixed UTC offsets" in w for w in report.warnings)


def test_timezone_option_converts_offsets_to_one_zone():
    raw = pd.DataFrame(
        {
            "subject": ["a", "a"],
            "date": ["2021-03-28T23:30:00-05:00", "2021-03-28T12:00"],
            "measure": ["steps"] * 2,
            "value": [100.0, 7.0],
        }
    )
    df, _ = validate_measures(raw, timezone="Europe/Berlin")
    # 23:30-05:00 = 04:30 UTC on the 29th = 06:30 CEST on the 29th; the naive time stays local
    assert [(str(d.date()), v) for d, v in zip(df["date"], df["value"], strict=True)] == [
        ("2021-03-28", 7.0),
        ("2021-03-29", 100.0),
    ]


def test_unknown_measure_names_the_row_and_suggests(tmp_path):
    p = write(
        tmp_path,
        "subject,date,measure,value\ns1,2021-03-01,steps,10\ns1,2021-03-02,walkng_speed,1.0\n",
    )
    with pytest.raises(InputDataError) as e:
        read_measures(p)
    msg = str(e.value)
    assert (
        "row 3" in msg and "'measure'" in msg and "walkng_speed" in msg and "walking_speed" in msg
    )


@pytest.mark.parametrize(
    "line,unit_ok,fragment",
    [
        ("s1,2021-03-02,walking_speed,20,m/s", True, "between 0.05 and 3 m/s"),
        ("s1,2021-03-02,steps,-5,count", True, "between 0 and 100000"),
        ("s1,2021-03-02,steps,5,furlongs", False, "one of"),
    ],
)
def test_impossible_values_and_unknown_units_are_rejected(tmp_path, line, unit_ok, fragment):
    p = write(
        tmp_path, "subject,date,measure,value,unit\ns1,2021-03-01,steps,10,count\n" + line + "\n"
    )
    with pytest.raises(InputDataError) as e:
        read_measures(p)
    msg = str(e.value)
    assert "row 3" in msg and fragment in msg
    assert ("'value'" in msg) if unit_ok else ("'unit'" in msg)


def test_bad_dates_name_the_row(tmp_path):
    p = write(
        tmp_path, "subject,date,measure,value\ns1,2021-03-01,steps,10\ns1,01/03/2021,steps,10\n"
    )
    with pytest.raises(InputDataError, match=r"row 3, column 'date'.*01/03/2021"):
        read_measures(p)
    p = write(tmp_path, "subject,date,measure,value\ns1,2021-02-30,steps,10\n")
    with pytest.raises(InputDataError, match="row 2"):
        read_measures(p)


def test_duplicates_identical_merged_conflicting_rejected_or_resolved(tmp_path):
    text = (
        "subject,date,measure,value\n"
        "s1,2021-03-01,sdmt_phone,50\n"
        "s1,2021-03-01,sdmt_phone,50\n"
        "s1,2021-03-02,sdmt_phone,40\n"
        "s1,2021-03-02,sdmt_phone,44\n"
    )
    p = write(tmp_path, text)
    with pytest.raises(InputDataError) as e:
        read_measures(p)
    assert "row 5" in str(e.value) and "row 4" in str(e.value) and "conflicting" in str(e.value)
    df, report = read_measures(p, on_duplicate="max")
    assert df["value"].tolist() == [50.0, 44.0]
    assert report.reasons["identical duplicate rows merged"] == 1
    assert report.reasons["conflicting duplicate rows resolved (max)"] == 1
    df, _ = read_measures(p, on_duplicate="mean")
    assert df["value"].tolist() == [50.0, 42.0]


def test_missing_column_and_missing_value(tmp_path):
    with pytest.raises(ColumnNotFoundError, match="measure"):
        read_measures(write(tmp_path, "subject,date,value\ns1,2021-03-01,10\n"))
    with pytest.raises(InputDataError, match="row 2.*'value'"):
        read_measures(write(tmp_path, "subject,date,measure,value\ns1,2021-03-01,steps,\n"))


@pytest.mark.parametrize("name", ["out.csv", "out.parquet"])
def test_write_then_read_gives_the_same_table(tmp_path, name):
    raw = pd.DataFrame(
        {
            "subject": ["b", "a", "a"],
            "date": ["2021-03-02", "2021-03-01", "2021-03-01"],
            "measure": ["pdds", "steps", "walking_speed"],
            "value": [3.0, 4321.0, 1.25],
            "unit": ["score", "count", "m/s"],
        }
    )
    df, _ = validate_measures(raw)
    write_measures(df, tmp_path / name)
    back, report = read_measures(tmp_path / name)
    pd.testing.assert_frame_equal(back, df)
    assert report.rows_corrected == 0


@pytest.mark.parametrize(
    "policy,expected",
    [("first", 40.0), ("last", 43.0), ("min", 40.0), ("max", 46.0), ("mean", 43.0)],
)
def test_every_duplicate_policy(policy, expected):
    # three different values at the same instant (written in two offsets), in file order 40, 46, 43
    raw = pd.DataFrame(
        {
            "subject": ["a"] * 4,
            "date": [
                "2021-03-01T10:00:00+01:00",
                "2021-03-01T09:00:00Z",
                "2021-03-01T10:00:00+01:00",
                "2021-03-02",
            ],
            "measure": ["sdmt_phone"] * 4,
            "value": [40.0, 46.0, 43.0, 50.0],
        }
    )
    df, report = validate_measures(raw, on_duplicate=policy)
    assert df["value"].tolist() == [expected, 50.0]
    assert report.reasons[f"conflicting duplicate rows resolved ({policy})"] == 2


def test_daily_rules_last_and_even_median():
    raw = pd.DataFrame(
        {
            "subject": ["a"] * 7,
            # PRO answered twice on one day: the later answer counts even though it comes first in the file
            "date": [
                "2021-03-01T18:00",
                "2021-03-01T08:00",
                "2021-03-01T08:00",
                "2021-03-01T09:00",
                "2021-03-01T10:00",
                "2021-03-01T11:00",
                "2021-03-01",
            ],
            "measure": [
                "msws12",
                "msws12",
                "two_minute_walk",
                "two_minute_walk",
                "two_minute_walk",
                "two_minute_walk",
                "steps",
            ],
            "value": [50.0, 30.0, 100.0, 130.0, 120.0, 110.0, 4000.0],
        }
    )
    df, _ = validate_measures(raw)
    got = dict(zip(df["measure"], df["value"], strict=True))
    # median of 100, 110, 120, 130 is 115; a date-only row stands alone
    assert got == {"msws12": 50.0, "two_minute_walk": 115.0, "steps": 4000.0}
    assert df["measure"].tolist() == [
        "msws12",
        "steps",
        "two_minute_walk",
    ]  # sorted by subject, date, measure


def test_an_upload_is_named_by_its_own_name_in_the_report_and_in_errors():
    """The report of read_measures_bytes named the temporary file it was copied to."""
    from smoulder.io.measures import read_measures_bytes

    data = b"subject,date,measure,value,unit\np1,2021-03-01,steps,5000,count\n"
    df, report = read_measures_bytes(data, "from the phone.csv")
    assert df["value"].tolist() == [5000.0]
    assert report.source == "from the phone.csv"
    assert str(report).startswith("from the phone.csv: 1 rows read")
    future = b"subject,date,measure,value,unit\np1,2150-03-01,steps,5000,count\n"
    _, report = read_measures_bytes(future, "from the phone.csv")
    assert report.warnings and all("smoulder-upload" not in w for w in report.warnings)
    with pytest.raises(InputDataError, match=r"from the phone\.csv, row 2") as e:
        read_measures_bytes(data.replace(b"5000", b"-5"), "from the phone.csv")
    assert "smoulder-upload" not in str(e.value)
