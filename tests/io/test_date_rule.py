"""One date rule for every reader (``smoulder.schema.dates``), and the daily table smoulder writes
is read back by every command that reads it."""

from __future__ import annotations

import datetime as dt
import json

import pandas as pd
import pytest

from smoulder.cli import main
from smoulder.exceptions import InputDataError
from smoulder.io.apple_health import read_apple_health
from smoulder.io.fhir import read_fhir_json
from smoulder.io.measures import read_measures
from smoulder.io.tables import read_mri_activity, read_relapses, read_visits
from smoulder.schema.dates import DateRule
from smoulder.store.importer import ImportFailed, import_frame
from smoulder.store.validation import _validate

FUTURE = "2150-03-01"  # possible, after today
ANCIENT = "1850-03-01"  # before 1900-01-01: impossible


def visits(tmp_path, date):
    p = tmp_path / "v.csv"
    p.write_text(f"subject,date,edss\np1,2020-01-01,2\np1,{date},3\n")
    return read_visits(p, value_col="edss")


def relapses(tmp_path, date):
    p = tmp_path / "r.csv"
    p.write_text(f"subject,date\np1,2020-01-01\np1,{date}\n")
    return read_relapses(p)


def mri(tmp_path, date):
    p = tmp_path / "m.csv"
    p.write_text(f"subject,date,active\np1,2020-01-01,no\np1,{date},yes\n")
    return read_mri_activity(p)


def measures(tmp_path, date):
    p = tmp_path / "l.csv"
    p.write_text(f"subject,date,measure,value\np1,2020-01-01,steps,10\np1,{date},steps,20\n")
    return read_measures(p)


def fhir(tmp_path, date):
    obs = lambda d: {  # noqa: E731
        "resource": {
            "resourceType": "Observation",
            "status": "final",
            "code": {"coding": [{"system": "http://loinc.org", "code": "41950-7"}]},
            "subject": {"reference": "Patient/p1"},
            "effectiveDateTime": d,
            "valueQuantity": {"value": 10},
        }
    }
    return read_fhir_json(
        {
            "resourceType": "Bundle",
            "type": "collection",
            "entry": [obs("2020-01-01"), obs(date)],
        }
    )


def apple(tmp_path, date):
    def rec(d):
        return (
            f' <Record type="HKQuantityTypeIdentifierStepCount" sourceName="Watch" '
            f'unit="count" startDate="{d} 09:00:00 +0200" endDate="{d} 09:10:00 +0200" value="10"/>\n'
        )

    p = tmp_path / "export.xml"
    p.write_text(
        '<?xml version="1.0"?>\n<HealthData locale="en">\n'
        + rec("2020-01-01")
        + rec(date)
        + "</HealthData>\n"
    )
    return read_apple_health(p, "p1")


def store(tmp_path, date):
    df = pd.DataFrame({"subject": ["p1", "p1"], "date": ["2020-01-01", date], "edss": ["2", "3"]})
    notes: dict[str, int] = {}
    return _validate("visits", df, "visits.csv", notes=notes), notes


READERS = [visits, relapses, mri, measures, fhir, apple]


@pytest.mark.parametrize("reader", READERS, ids=lambda r: r.__name__)
def test_every_reader_keeps_and_counts_a_future_date_and_refuses_1850(tmp_path, reader):
    _, report = reader(tmp_path, FUTURE)
    kept = {k: v for k, v in report.reasons.items() if "after today (kept)" in k}
    assert list(kept.values()) == [1], report.reasons
    assert any("dated after today" in w for w in report.warnings)
    with pytest.raises(InputDataError, match=r"(impossible|unparseable).*|1900-01-01"):
        reader(tmp_path, ANCIENT)


def test_the_store_applies_the_same_rule(tmp_path):
    records, notes = store(tmp_path, FUTURE)
    assert [r["date"] for r in records] == [dt.date(2020, 1, 1), dt.date(2150, 3, 1)]
    assert notes == {"rows dated after today (kept)": 1}
    with pytest.raises(ImportFailed, match=r"row 3, column 'date': impossible date.*1900-01-01"):
        store(tmp_path, ANCIENT)
    with pytest.raises(ImportFailed, match=r"row 3, column 'date': date in the future"):
        _validate(
            "visits",
            pd.DataFrame(
                {"subject": ["p1", "p1"], "date": ["2020-01-01", FUTURE], "edss": ["2", "3"]}
            ),
            "v.csv",
            rule=DateRule("refuse"),
        )


def test_refuse_and_drop_are_the_same_everywhere(tmp_path):
    p = tmp_path / "v.csv"
    p.write_text(f"subject,date,edss\np1,2020-01-01,2\np1,{FUTURE},3\n")
    with pytest.raises(InputDataError, match=r"row 3, column 'date': date in the future"):
        read_visits(p, value_col="edss", future_dates="refuse")
    df, report = read_visits(p, value_col="edss", future_dates="drop")
    assert len(df) == 1 and report.rows_rejected == 1
    lp = tmp_path / "l.csv"
    lp.write_text(f"subject,date,measure,value\np1,2020-01-01,steps,10\np1,{FUTURE},steps,20\n")
    with pytest.raises(InputDataError, match=r"row 3, column 'date': date in the future"):
        read_measures(lp, future_dates="refuse")
    df, report = read_measures(lp, future_dates="drop")
    assert df["date"].dt.year.tolist() == [2020] and report.rows_rejected == 1


def test_a_fixed_today_makes_the_rule_reproducible():
    rule = DateRule(today=dt.date(2020, 6, 1))
    assert rule.classify(dt.date(2020, 6, 2)) == "ok"  # one day of tolerance (time zones)
    assert rule.classify(dt.date(2020, 6, 3)) == "future"
    assert rule.classify(dt.date(2200, 1, 1)) == "impossible"
    with pytest.raises(ValueError, match="--future-dates must be one of warn, refuse, drop"):
        DateRule("sometimes")


def test_records_after_the_export_date_are_left_out_and_counted(tmp_path):
    def rec(d, v):
        return (
            f' <Record type="HKQuantityTypeIdentifierStepCount" sourceName="Watch" '
            f'unit="count" startDate="{d} 09:00:00 +0200" endDate="{d} 09:10:00 +0200" value="{v}"/>\n'
        )

    p = tmp_path / "export.xml"
    p.write_text(
        '<?xml version="1.0"?>\n<HealthData locale="en">\n'
        ' <ExportDate value="2021-07-01 10:00:00 +0200"/>\n'
        + rec("2021-06-30", 100)
        + rec("2021-07-01", 200)  # the export day itself counts
        + rec("2031-07-02", 300)
        + "</HealthData>\n"
    )
    df, report = read_apple_health(p, "p1")
    assert dict(zip(df["date"].dt.strftime("%Y-%m-%d"), df["value"], strict=True)) == {
        "2021-06-30": 100.0,
        "2021-07-01": 200.0,
    }
    assert report.reasons["records dated after the export date (2021-07-01) left out"] == 1
    assert report.rows_rejected == 1


def test_the_daily_table_smoulder_writes_is_read_by_detect_export_and_store(tmp_path):
    """A long table with a date after today (simulated data) goes through every reader."""
    from smoulder.store import Store
    from smoulder.store.importer import import_file

    raw = tmp_path / "raw.csv"
    start = pd.Timestamp("2140-01-05")  # simulated, after today
    rows = [
        ("p1", (start + pd.Timedelta(days=d)).date().isoformat(), "steps", 5000 + 10 * (d % 7))
        for d in range(0, 7 * 30)
    ]
    pd.DataFrame(rows, columns=["subject", "date", "measure", "value"]).to_csv(raw, index=False)
    daily = tmp_path / "daily.csv"
    assert main(["digital", "import", "table", str(raw), "--out", str(daily), "--quiet"]) == 0
    bundle = tmp_path / "daily.json"
    assert main(["digital", "export", "fhir", str(daily), "--out", str(bundle), "--quiet"]) == 0
    back = tmp_path / "back.csv"
    assert main(["digital", "import", "fhir", str(bundle), "--out", str(back), "--quiet"]) == 0
    assert pd.read_csv(back).equals(pd.read_csv(daily))
    events = tmp_path / "events.csv"
    assert main(["digital", "detect", str(daily), "--out", str(events), "--quiet"]) == 0
    assert json.loads((tmp_path / "events_settings.json").read_text())["input"]["rows_read"] == 210
    db = Store(f"sqlite:///{tmp_path / 'store.sqlite'}")
    with db.session() as s:
        report = import_file(s, "devices", daily)
        s.commit()
    assert report.inserted == 210 and report.notes == {"rows dated after today (kept)": 210}
    with db.session() as s:
        report = import_file(s, "fhir", bundle)
        s.commit()
    assert report.unchanged == 210
    db.dispose()
    assert import_frame  # the store's frame import is the one both paths use
