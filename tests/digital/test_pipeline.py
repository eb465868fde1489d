"""One pipeline for digital detection: the command line, the Python API (``result.write``) and the
store get the same validation, engine call and files."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from smoulder.cli import main
from smoulder.digital import DetectSettings, detect
from smoulder.exceptions import InputDataError
from smoulder.io.outputs import OutputError
from smoulder.pipelines import digital as pipeline

MONDAY = pd.Timestamp("2024-01-01")


def walks_table(path, weeks=52):
    v = np.tile([130.0, 143.0], weeks // 2)
    v[20:] *= 0.6
    rows = [
        ("p1", (MONDAY + pd.Timedelta(weeks=i, days=2)).date().isoformat(), "two_minute_walk", v[i])
        for i in range(weeks)
    ]
    rows += [
        (
            "p2",
            (MONDAY + pd.Timedelta(weeks=i, days=1)).date().isoformat(),
            "two_minute_walk",
            120.0,
        )
        for i in range(weeks)
    ]
    df = pd.DataFrame(rows, columns=["subject", "date", "measure", "value"])
    df.to_csv(path, index=False)
    return df


def test_cli_python_api_and_result_write_give_the_same_files(tmp_path, capsys):
    src = tmp_path / "walks.csv"
    walks_table(src)
    cli_out = tmp_path / "cli" / "events.csv"
    assert main(["digital", "detect", str(src), "--out", str(cli_out), "--quiet"]) == 0
    api_out = tmp_path / "api" / "events.csv"
    res = pipeline.run(src, out=api_out)
    names = ["events.csv", "events_settings.json", "events_weekly.csv", "events_gaps.csv"]
    assert sorted(p.name for p in cli_out.parent.iterdir()) == sorted(names)
    for name in names:
        a, b = (cli_out.parent / name).read_bytes(), (api_out.parent / name).read_bytes()
        if name.endswith(".json"):  # the input report names the file it read: the same here
            a, b = json.loads(a), json.loads(b)
        assert a == b, name
    # result.write (the AnalysisResult pattern) hands the result to the same pipeline
    written = res.write(tmp_path / "again" / "events.csv")
    assert written == pipeline.planned_outputs(tmp_path / "again" / "events.csv")
    for key, name in zip(("events", "weekly", "gaps"), names[0:1] + names[2:], strict=True):
        assert written[key].read_bytes() == (api_out.parent / name).read_bytes()
    meta = json.loads(written["settings"].read_text())
    assert meta["methods_paragraph"] == res.methods()
    assert meta["input"]["rows_read"] == 104 and meta["settings"]["methods"] == ["changepoint"]


def test_a_dataframe_is_validated_like_a_file(tmp_path):
    df = walks_table(tmp_path / "w.csv")
    df.loc[3, "value"] = -5.0
    with pytest.raises(InputDataError, match=r"store, row 5, column 'value'.*impossible value"):
        pipeline.run(df, source="store")
    df.loc[3, "value"] = 130.0
    res = pipeline.run(df.assign(unit="m"), settings=DetectSettings(methods="cusum"))
    assert res.inputs["rows_read"] == 104 and res.settings.methods == ("cusum",)
    direct = detect(df)  # the engine on an already valid table gives the same events
    assert pipeline.run(df).events.equals(direct.events)


def test_outputs_are_checked_before_any_work_and_never_overwrite_an_input(tmp_path):
    src = tmp_path / "walks.csv"
    walks_table(src)
    before = src.read_bytes()
    with pytest.raises(OutputError, match="--out"):
        pipeline.run(src, out=src)
    assert src.read_bytes() == before
    with pytest.raises(OutputError, match="--out"):
        pipeline.run(src, out=tmp_path / "events.xlsx")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["walks.csv"]


def test_only_measures_and_plots_with_relapses_from_a_file(tmp_path):
    src = tmp_path / "walks.csv"
    walks_table(src)
    rel = tmp_path / "relapses.csv"
    pd.DataFrame({"subject": ["p1"], "date": ["2024-05-15"]}).to_csv(rel, index=False)
    res = pipeline.run(
        src, relapses=rel, out=tmp_path / "o" / "ev.csv", plots=tmp_path / "plots", max_plots=5
    )
    assert res.relapse_flags and res.events["near_relapse"].tolist() == [True]
    paths = pipeline.output_paths(res, tmp_path / "o" / "ev.csv", plots=tmp_path / "plots")
    assert [k for k in paths if k.startswith("plot")] == ["plot_1", "plots_index"]
    assert paths["plot_1"].name == "series_0001_two_minute_walk.png"  # never a subject id
    assert all(p.exists() for p in paths.values())
    with pytest.raises(Exception, match="unknown measure 'steps_x'"):
        pipeline.run(src, only_measures=["steps_x"])


def test_store_runs_the_pipeline_and_records_its_settings(tmp_path):
    pytest.importorskip("sqlalchemy")
    from smoulder.store import Store
    from smoulder.store.analyses import refresh_digital
    from smoulder.store.importer import import_frame
    from smoulder.store.models import AnalysisRun, DeviceEvent

    df = walks_table(tmp_path / "w.csv").assign(unit="m")
    df["date"] = df["date"].astype(str)
    df["value"] = df["value"].map(repr)
    store = Store(f"sqlite:///{tmp_path / 'clinic.db'}")
    try:
        with store.session() as s:
            import_frame(s, "devices", df.astype(str), source="walks.csv")
            out = refresh_digital(s)
            s.commit()
            events = s.query(DeviceEvent).all()
            runs = s.query(AnalysisRun).filter(AnalysisRun.kind == "digital").all()
            assert out["recomputed"] == 2 and out["events"] == 1 and out["message"] == ""
            assert [(e.measure, e.onset_date.isoformat()) for e in events] == [
                ("two_minute_walk", "2024-05-20")
            ]
            meta = json.loads(runs[0].settings_json)
            assert meta["settings"] == DetectSettings().to_dict()
            # nothing changed: nothing recomputed
            assert refresh_digital(s)["recomputed"] == 0
    finally:
        store.dispose()
