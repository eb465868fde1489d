"""The command line, run as a user would: files in, files out, clear errors."""

from __future__ import annotations

import json
import subprocess
import sys

import pandas as pd
import pytest

from smoulder.cli import main


def visits_file(tmp_path):
    p = tmp_path / "visits.csv"
    p.write_text(
        "id,date,EDSS\n"
        "p1,2020-01-01,2.0\np1,2020-04-10,3.0\np1,2020-07-19,3.0\np1,2020-10-27,4.0\np1,2021-02-04,4.0\n"
        "p2,2020-01-01,1.0\np2,2020-07-01,1.0\n"
    )
    r = tmp_path / "relapses.csv"
    r.write_text("id,date\np1,2020-02-20\nghost,2020-01-01\n")
    return p, r


def test_progression_contract(tmp_path):
    v, r = visits_file(tmp_path)
    out = tmp_path / "out" / "events.csv"
    rc = main(
        [
            "progression",
            str(v),
            "--relapses",
            str(r),
            "--outcome",
            "edss",
            "--subject-col",
            "id",
            "--date-col",
            "date",
            "--value-col",
            "EDSS",
            "--event",
            "multiple",
            "--baseline",
            "roving",
            "--classify-cdw",
            "--conf-days",
            "84",
            "--conf-tol-days",
            "7",
            "730.5",
            "--require-sust-days",
            "0",
            "--relapse-to-bl",
            "30",
            "--relapse-to-event",
            "0",
            "--relapse-to-conf",
            "30",
            "--relapse-assoc",
            "90",
            "--sub-threshold-rebl",
            "none",
            "--skip-local-extrema",
            "none",
            "--proceed-from",
            "firstconf",
            "--edss-half-step-from",
            "6.0",
            "--out",
            str(out),
            "--no-plots",
        ]
    )
    assert rc == 0
    ev = pd.read_csv(out, dtype=str, keep_default_na=False)
    for col in [
        "subject",
        "nevent",
        "event_type",
        "cdw_type",
        "pirma",
        "baseline_date",
        "baseline_value",
        "event_date",
        "event_value",
        "confirmation_date",
        "confirmation_value",
        "time_to_event_days",
        "sustained_days",
        "sustained_to_last",
    ]:
        assert col in ev.columns
    # p1: 2.0 -> 3.0 at day 100 (50 days after the relapse: RAW), confirmed at day 200;
    # roving baseline 3.0 at day 200, then 4.0 at day 300 confirmed at day 400 (PIRA)
    assert ev[
        ["subject", "event_type", "cdw_type", "event_date", "confirmation_date"]
    ].values.tolist() == [
        ["p1", "CDW", "RAW", "2020-04-10", "2020-07-19"],
        ["p1", "CDW", "PIRA", "2020-10-27", "2021-02-04"],
    ]
    summary = pd.read_csv(tmp_path / "out" / "events_summary.csv")
    assert summary["subject"].tolist() == ["p1", "p2"] and summary["n_cdw"].tolist() == [2, 0]
    settings = (tmp_path / "out" / "events_settings.toml").read_text()
    assert 'event = "multiple"' in settings
    # rerun from the settings file gives the same events
    out2 = tmp_path / "again.csv"
    assert (
        main(
            [
                "progression",
                str(v),
                "--relapses",
                str(r),
                "--subject-col",
                "id",
                "--value-col",
                "EDSS",
                "--settings",
                str(tmp_path / "out" / "events_settings.toml"),
                "--out",
                str(out2),
                "--no-plots",
            ]
        )
        == 0
    )
    assert out2.read_text() == out.read_text()
    meta = json.loads((tmp_path / "out" / "events_settings.json").read_text())
    assert (
        meta["input"]["rows_read"] == 7
        and "1 relapses for 1 subjects" in meta["input"]["warnings"][0]
    )


def test_several_windows_and_plots(tmp_path):
    v, r = visits_file(tmp_path)
    out = tmp_path / "events.csv"
    assert (
        main(
            [
                "progression",
                str(v),
                "--subject-col",
                "id",
                "--value-col",
                "EDSS",
                "--conf-days",
                "84",
                "--conf-days",
                "168",
                "--out",
                str(out),
            ]
        )
        == 0
    )
    ev = pd.read_csv(out)
    assert {"conf84_date", "conf168_date"} <= set(ev.columns)
    assert (tmp_path / "events_km.png").stat().st_size > 0
    assert (tmp_path / "events_trajectories.png").stat().st_size > 0


def test_bad_input_exit_code_and_message(tmp_path, capsys):
    p = tmp_path / "v.csv"
    p.write_text("id,date,EDSS\np1,2020-01-01,2\np1,2020-13-01,3\n")
    out = tmp_path / "e.csv"
    rc = main(
        ["progression", str(p), "--subject-col", "id", "--value-col", "EDSS", "--out", str(out)]
    )
    assert rc == 2
    err = capsys.readouterr().err
    assert "v.csv, row 3, column 'date'" in err and "2020-13-01" in err
    assert not out.exists()


def test_bad_setting(tmp_path, capsys):
    v, _ = visits_file(tmp_path)
    rc = main(
        [
            "progression",
            str(v),
            "--subject-col",
            "id",
            "--value-col",
            "EDSS",
            "--conf-tol-days",
            "1",
            "2",
            "3",
            "--out",
            str(tmp_path / "e.csv"),
        ]
    )
    assert rc == 2 and "conf-tol-days" in capsys.readouterr().err


@pytest.mark.parametrize("args", [["--version"], ["progression", "--help"]])
def test_module_entry_point(args):
    proc = subprocess.run([sys.executable, "-m", "smoulder", *args], capture_output=True, text=True)
    assert proc.returncode == 0 and ("smoulder" in proc.stdout)


def test_demo_writes_everything(tmp_path):
    assert main(["demo", "--out", str(tmp_path)]) == 0
    for name in [
        "edss_events.csv",
        "edss_events_summary.csv",
        "edss_events_km.png",
        "composite_events.csv",
        "composite_km_by_arm.png",
        "composite_km_by_arm.svg",
        "composite_km_by_arm.pdf",
        "composite_hazard_ratio.csv",
        "milestone_edss6.csv",
        "demo_report.md",
    ]:
        assert (tmp_path / name).stat().st_size > 0, name
    report = (tmp_path / "demo_report.md").read_text()
    assert "hazard ratio" in report and "PIRA" in report


def test_groups_give_km_and_hazard_ratio(tmp_path):
    from smoulder.synth import simulate_cohort, write_cohort

    c = simulate_cohort(300, seed=21, pira_drift_per_year=(0.2, 0.5), active_effect=0.3)
    paths = write_cohort(c, tmp_path, fmt="csv")
    out = tmp_path / "res" / "events.csv"
    rc = main(
        [
            "progression",
            str(paths["visits"]),
            "--relapses",
            str(paths["relapses"]),
            "--value-col",
            "edss",
            "--classify-cdw",
            "--groups",
            str(paths["subjects"]),
            "--group-col",
            "arm",
            "--reference-group",
            "placebo",
            "--out",
            str(out),
        ]
    )
    assert rc == 0
    hr = pd.read_csv(tmp_path / "res" / "events_hazard_ratio_arm.csv")
    assert hr["group"].tolist() == ["active"] and hr["reference"].tolist() == ["placebo"]
    # drift and relapses are cut by 70 % in the active arm: fewer first worsenings
    assert (
        hr["hazard_ratio"].iloc[0] < 1
        and hr["ci_lower"].iloc[0] < hr["hazard_ratio"].iloc[0] < hr["ci_upper"].iloc[0]
    )
    assert (tmp_path / "res" / "events_km_by_arm.png").stat().st_size > 0


def test_composite_and_milestone_commands(tmp_path):
    p = tmp_path / "v.csv"
    # p1: walk +20 % at day 100 (confirmed at 200), EDSS only later; p2: EDSS 6 reached and held
    p.write_text(
        "id,date,EDSS,T25FW,NHPT\n"
        "p1,2020-01-01,2.0,5.0,20\np1,2020-04-10,2.0,6.0,20\np1,2020-07-19,3.0,6.0,20\np1,2020-10-27,3.0,6.0,20\n"
        "p2,2020-01-01,5.0,5.0,20\np2,2020-04-10,6.0,5.0,20\np2,2020-07-19,6.5,5.0,20\n"
    )
    out = tmp_path / "comp.csv"
    assert (
        main(
            [
                "composite",
                str(p),
                "--subject-col",
                "id",
                "--component-cols",
                "EDSS",
                "T25FW",
                "NHPT",
                "--out",
                str(out),
            ]
        )
        == 0
    )
    ev = pd.read_csv(out)
    assert ev[["subject", "event_date", "components"]].values.tolist() == [
        ["p1", "2020-04-10", "t25fw"],
        ["p2", "2020-04-10", "edss"],
    ]
    assert (tmp_path / "comp_summary.csv").exists()
    ms = tmp_path / "ms.csv"
    assert (
        main(
            [
                "milestone",
                str(p),
                "--subject-col",
                "id",
                "--value-col",
                "EDSS",
                "--milestone",
                "6",
                "--out",
                str(ms),
            ]
        )
        == 0
    )
    got = pd.read_csv(ms)
    assert (
        got["reached"].tolist() == [False, True] and got["event_date"].tolist()[1] == "2020-04-10"
    )


def test_a_missing_optional_package_names_the_extra(monkeypatch, capsys):
    """Without the imaging extra, an imaging command says which extra to install (no traceback)."""
    import smoulder.cli.prl as prl_cli

    def no_nibabel(ns):
        raise ModuleNotFoundError("No module named 'nibabel'", name="nibabel")

    monkeypatch.setattr(prl_cli, "run", no_nibabel)
    rc = main(["prl", "--flair", "f.nii.gz", "--qsm", "q.nii.gz", "--out", "o"])
    assert rc == 2
    err = capsys.readouterr().err
    assert (
        "'imaging' extra" in err
        and "pip install 'smoulder[imaging]'" in err
        and "Traceback" not in err
    )
