"""``smoulder digital import``: files in, the long table out, clear errors and nothing written on bad input."""

from __future__ import annotations

import argparse
import json
import sys

import pytest

from smoulder.cli.digital_import import register_export, register_import
from smoulder.exceptions import SmoulderError

WATCH = "Anna’s Apple Watch"
PHONE = "Anna’s iPhone"


def run(args: list[str]) -> int:
    """Run as ``smoulder digital import ...`` would (the lead wires the real ``digital`` group)."""
    parser = argparse.ArgumentParser(prog="smoulder")
    sub = parser.add_subparsers(dest="command")
    digital = sub.add_parser("digital")
    dsub = digital.add_subparsers(dest="digital_command")
    register_import(dsub)
    register_export(dsub)
    ns = parser.parse_args(args)
    try:
        return int(ns.func(ns) or 0)
    except SmoulderError as exc:
        print(f"smoulder digital: error: {exc}", file=sys.stderr)
        return 2


def steps(start, end, value, source=WATCH):
    return (
        f'<Record type="HKQuantityTypeIdentifierStepCount" sourceName="{source}" unit="count" '
        f'startDate="{start}" endDate="{end}" value="{value}"/>\n'
    )


def export(tmp_path, records):
    p = tmp_path / "export.xml"
    p.write_text(
        '<?xml version="1.0" encoding="UTF-8"?>\n<HealthData locale="en_GB">\n'
        + "".join(records)
        + "</HealthData>\n",
        encoding="utf-8",
    )
    return p


RECORDS = [
    steps("2021-05-03 09:00:00 +0200", "2021-05-03 09:10:00 +0200", 600),
    steps("2021-05-03 09:02:00 +0200", "2021-05-03 09:12:00 +0200", 700, PHONE),
    steps("2021-05-03 14:00:00 +0200", "2021-05-03 14:30:00 +0200", 1000, PHONE),
    # 23:50 -> 00:10: 100 steps on each day
    steps("2021-05-03 23:50:00 +0200", "2021-05-04 00:10:00 +0200", 200),
]


def test_apple_health_writes_the_long_table(tmp_path, capsys):
    out = tmp_path / "out" / "measures.csv"
    rc = run(
        [
            "digital",
            "import",
            "apple-health",
            str(export(tmp_path, RECORDS)),
            "--subject",
            "p01",
            "--out",
            str(out),
        ]
    )
    assert rc == 0
    # 3 May: watch 600 in hour 09 (the phone's 700 not added), phone 1000 in hour 14, 100 before midnight
    assert out.read_text() == (
        '"subject","date","measure","value","unit"\n'
        '"p01",2021-05-03,"steps",1700,"count"\n'
        '"p01",2021-05-04,"steps",100,"count"\n'
    )
    printed = capsys.readouterr().out
    assert "wrote 2 rows" in printed and "hours measured by several sources" in printed


def test_apple_health_source_priority_and_json(tmp_path, capsys):
    out = tmp_path / "m.csv"
    rc = run(
        [
            "digital",
            "import",
            "apple-health",
            str(export(tmp_path, RECORDS)),
            "--subject",
            "p01",
            "--out",
            str(out),
            "--source-priority",
            "iPhone",
            "Watch",
            "--json",
        ]
    )
    assert rc == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["rows_written"] == 2 and summary["days_per_measure"] == {"steps": 2}
    assert summary["report"]["rows_read"] == 4
    assert "1800" in out.read_text()  # the phone's 700 + 1000 + 100


def test_apple_health_wear_hours_from_the_watch(tmp_path):
    beats = [
        f'<Record type="HKQuantityTypeIdentifierHeartRate" sourceName="{WATCH}" unit="count/min" '
        f'startDate="2021-05-03 {h:02d}:30:00 +0200" endDate="2021-05-03 {h:02d}:30:00 +0200" value="70"/>\n'
        for h in (8, 9, 13)
    ]
    p = export(tmp_path, RECORDS + beats)
    out = tmp_path / "m.csv"
    assert (
        run(
            [
                "digital",
                "import",
                "apple-health",
                str(p),
                "--subject",
                "p01",
                "--out",
                str(out),
                "--quiet",
            ]
        )
        == 0
    )
    assert '"p01",2021-05-03,"wear_hours",3,"h"' in out.read_text()
    assert (
        run(
            [
                "digital",
                "import",
                "apple-health",
                str(p),
                "--subject",
                "p01",
                "--out",
                str(out),
                "--quiet",
                "--no-wear",
            ]
        )
        == 0
    )
    assert "wear_hours" not in out.read_text()


def test_bad_record_stops_with_the_line_and_writes_nothing(tmp_path, capsys):
    out = tmp_path / "m.csv"
    p = export(
        tmp_path, RECORDS + [steps("2021-05-05 09:00:00 +0200", "2021-05-05 09:10:00 +0200", -3)]
    )
    rc = run(
        [
            "digital",
            "import",
            "apple-health",
            str(p),
            "--subject",
            "p01",
            "--out",
            str(out),
            "--quiet",
        ]
    )
    assert rc == 2 and not out.exists()
    err = capsys.readouterr().err
    assert "line 7" in err and "impossible value" in err and "keep-valid" in err
    rc = run(
        [
            "digital",
            "import",
            "apple-health",
            str(p),
            "--subject",
            "p01",
            "--out",
            str(out),
            "--quiet",
            "--keep-valid",
        ]
    )
    assert rc == 0 and out.read_text().count("\n") == 3


def test_fhir_import(tmp_path):
    b = {
        "resourceType": "Bundle",
        "type": "collection",
        "entry": [
            {
                "resource": {
                    "resourceType": "Observation",
                    "status": "final",
                    "code": {"coding": [{"system": "http://loinc.org", "code": "41950-7"}]},
                    "subject": {"reference": "Patient/p7"},
                    "effectiveDateTime": "2021-03-01",
                    "valueQuantity": {
                        "value": 4321,
                        "system": "http://unitsofmeasure.org",
                        "code": "/d",
                    },
                }
            }
        ],
    }
    src = tmp_path / "bundle.json"
    src.write_text(json.dumps(b))
    out = tmp_path / "m.csv"
    assert run(["digital", "import", "fhir", str(src), "--out", str(out), "--quiet"]) == 0
    assert out.read_text().splitlines()[1] == '"p7",2021-03-01,"steps",4321,"count"'


def test_table_import_with_own_column_names(tmp_path):
    src = tmp_path / "raw.csv"
    src.write_text(
        "id,when,what,x\np1,2021-03-01T08:00:00+01:00,walking_speed,1.1\n"
        "p1,2021-03-01T18:00:00+01:00,walking_speed,1.3\n"
    )
    out = tmp_path / "m.parquet"
    assert (
        run(
            [
                "digital",
                "import",
                "table",
                str(src),
                "--subject-col",
                "id",
                "--date-col",
                "when",
                "--measure-col",
                "what",
                "--value-col",
                "x",
                "--out",
                str(out),
                "--quiet",
            ]
        )
        == 0
    )
    import pandas as pd

    df = pd.read_parquet(out)
    assert df["value"].tolist() == [pytest.approx(1.2)] and df["unit"].tolist() == ["m/s"]


def test_export_fhir_then_import_gives_the_same_table(tmp_path):
    src = tmp_path / "measures.csv"
    src.write_text(
        '"subject","date","measure","value","unit"\n'
        '"p1",2021-03-01,"steps",5234,"count"\n'
        '"p1",2021-03-01,"walking_speed",1.07,"m/s"\n'
        '"p2",2021-03-04,"msws12",41.7,"score"\n'
    )
    bundle = tmp_path / "bundle.json"
    assert run(["digital", "export", "fhir", str(src), "--out", str(bundle), "--quiet"]) == 0
    entries = json.loads(bundle.read_text())["entry"]
    assert [e["resource"]["code"]["coding"][-1]["code"] for e in entries] == [
        "steps",
        "walking_speed",
        "msws12",
    ]
    back = tmp_path / "back.csv"
    assert run(["digital", "import", "fhir", str(bundle), "--out", str(back), "--quiet"]) == 0
    assert back.read_text() == src.read_text()


def test_export_events_as_fhir(tmp_path):
    src = tmp_path / "events.csv"
    src.write_text(
        "subject,measure,method,onset_date,detected_date,baseline_value,current_value,change_pct\n"
        "p1,walking_speed,cusum,2021-06-07,2021-08-02,1.2,1.05,-12.5\n"
    )
    out = tmp_path / "events.json"
    assert (
        run(["digital", "export", "fhir", str(src), "--events", "--out", str(out), "--quiet"]) == 0
    )
    r = json.loads(out.read_text())["entry"][0]["resource"]
    assert r["effectivePeriod"] == {"start": "2021-06-07", "end": "2021-08-02"}
    assert r["code"]["text"] == "sustained worsening of walking_speed"
    comps = {c["code"]["coding"][0]["code"]: c for c in r["component"]}
    assert (
        comps["method"]["valueString"] == "cusum"
        and comps["current_value"]["valueQuantity"]["value"] == 1.05
    )
