"""``smoulder digital detect`` and the whole digital path from an Apple Health export, as a user runs it."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from smoulder.cli import main

MONDAY = pd.Timestamp("2024-01-01")


def write_walks(path, *, subject="p1", step_at=20, weeks=52):
    v = np.tile([130.0, 143.0], weeks // 2)
    v[step_at:] *= 0.6
    rows = [
        (
            subject,
            (MONDAY + pd.Timedelta(weeks=i, days=2)).date().isoformat(),
            "two_minute_walk",
            v[i],
            "m",
        )
        for i in range(weeks)
    ]
    # a second person, stable, with the distance in feet (converted by the reader)
    rows += [
        (
            "p2",
            (MONDAY + pd.Timedelta(weeks=i, days=1)).date().isoformat(),
            "two_minute_walk",
            round(v[i % 2] / 0.3048, 3),
            "ft",
        )
        for i in range(weeks)
    ]
    pd.DataFrame(rows, columns=["subject", "date", "measure", "value", "unit"]).to_csv(
        path, index=False
    )


def test_detect_contract(tmp_path, capsys):
    src = tmp_path / "measures.csv"
    write_walks(src)
    out = tmp_path / "res" / "events.csv"
    rc = main(
        ["digital", "detect", str(src), "--out", str(out), "--plots", str(tmp_path / "plots")]
    )
    assert rc == 0
    ev = pd.read_csv(out, dtype=str, keep_default_na=False)
    for col in [
        "subject",
        "measure",
        "onset_date",
        "detected_date",
        "baseline_value",
        "current_value",
        "change_pct",
    ]:
        assert col in ev.columns
    assert ev[["subject", "measure", "onset_date", "detected_date"]].values.tolist() == [
        ["p1", "two_minute_walk", "2024-05-20", "2024-07-22"]
    ]
    assert float(ev["change_pct"].iloc[0]) == pytest.approx(-40.0)
    meta = json.loads((tmp_path / "res" / "events_settings.json").read_text())
    assert meta["input"]["rows_read"] == 104 and meta["settings"]["methods"] == ["changepoint"]
    assert "methods_paragraph" in meta
    # the plot is named by a running number, never by the subject id
    plots = sorted(p.name for p in (tmp_path / "plots").iterdir())
    assert plots == ["plots_index.csv", "series_0001_two_minute_walk.png"]
    assert "1 sustained worsening events in 1 people" in capsys.readouterr().out


def test_detect_json_summary_and_methods(tmp_path, capsys):
    src = tmp_path / "measures.csv"
    write_walks(src)
    rc = main(
        [
            "digital",
            "detect",
            str(src),
            "--out",
            str(tmp_path / "e.parquet"),
            "--json",
            "--method",
            "changepoint",
            "rolling",
            "--fhir-out",
            str(tmp_path / "e.json"),
        ]
    )
    assert rc == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["people"] == 2 and summary["by_method"] == {"changepoint": 1, "rolling": 1}
    table = pd.read_parquet(tmp_path / "e.parquet")
    assert table["method"].tolist() == ["changepoint", "rolling"]
    # the FHIR export reads back to the same events
    from smoulder.io.fhir import read_events_bundle

    back = read_events_bundle(tmp_path / "e.json")
    assert back["subject"].tolist() == ["p1", "p1"]
    assert pd.to_datetime(back["onset_date"]).tolist() == table["onset_date"].tolist()
    assert back["change_pct"].astype(float).tolist() == pytest.approx(table["change_pct"].tolist())


def test_detect_bad_input_names_row_and_column_and_writes_nothing(tmp_path, capsys):
    src = tmp_path / "measures.csv"
    src.write_text(
        "subject,date,measure,value,unit\np1,2024-01-03,two_minute_walk,120,m\n"
        "p1,2024-01-10,two_minute_walks,118,m\n"
    )
    out = tmp_path / "events.csv"
    assert main(["digital", "detect", str(src), "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert "row 3" in err and "'measure'" in err and "two_minute_walks" in err
    assert not out.exists()
    assert main(["digital", "detect", str(src), "--out", str(out), "--alpha", "0.9"]) == 2
    assert "alpha" in capsys.readouterr().err


@pytest.mark.slow
def test_apple_health_export_to_events(tmp_path):
    """Import a simulated 2-year Apple Health export whose walking declines by 25 % from
    2016-01-01 (phone and watch overlapping, trips across time zones), then detect: the
    sustained worsening is found in walking speed with its onset near the true date."""
    from smoulder.synth.apple_health import write_apple_health_export

    export = tmp_path / "export.zip"
    write_apple_health_export(
        export,
        years=2.0,
        start="2015-01-01",
        seed=4,
        decline_from="2016-01-01",
        decline_fraction=0.25,
    )
    measures = tmp_path / "measures.csv"
    assert (
        main(
            [
                "digital",
                "import",
                "apple-health",
                str(export),
                "--subject",
                "p01",
                "--out",
                str(measures),
                "--quiet",
            ]
        )
        == 0
    )
    table = pd.read_csv(measures)
    assert set(table["subject"]) == {"p01"}
    assert {"steps", "walking_speed"} <= set(table["measure"])
    events = tmp_path / "events.csv"
    assert main(["digital", "detect", str(measures), "--out", str(events), "--quiet"]) == 0
    ev = pd.read_csv(events, parse_dates=["onset_date", "detected_date"])
    speed = ev[ev["measure"] == "walking_speed"]
    assert len(speed) >= 1
    first = speed.sort_values("onset_date").iloc[0]
    assert abs((first["onset_date"] - pd.Timestamp("2016-01-01")).days) <= 28
    assert first["change_pct"] < -15
    assert (ev["detected_date"] >= pd.Timestamp("2016-01-01") - pd.Timedelta(days=28)).all()
