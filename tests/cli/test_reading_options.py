"""How the command line reads tables: future dates, missing values, day numbers, spaces in ids,
separators, TSV outputs, and the last-resort guard against tracebacks."""

from __future__ import annotations

import datetime as dt
import errno
import json

import pandas as pd
import pytest

from smoulder.cli import main

# p1: EDSS 2.0 at day 0, 3.0 at day 100 (+1.0 from a baseline of 2.0), confirmed at day 200
DAYS = "subject,day,edss\np1,0,2.0\np1,100,3.0\np1,200,3.0\np2,0,1.0\np2,150,1.0\n"


def _iso(day: int, origin: str = "2000-01-01") -> str:
    return str(dt.date.fromisoformat(origin) + dt.timedelta(days=day))


def test_day_numbers_are_read_and_written_back_as_day_numbers(tmp_path):
    v = tmp_path / "visits.csv"
    v.write_text(DAYS)
    rc = main(
        ["progression", str(v), "--date-col", "day", "--date-format", "day"]
        + ["--out", str(tmp_path / "ev.csv"), "--no-plots", "--quiet"]
    )
    assert rc == 0
    ev = pd.read_csv(tmp_path / "ev.csv")
    assert ev[["subject", "baseline_date", "event_date", "confirmation_date"]].values.tolist() == [
        ["p1", 0, 100, 200]
    ]
    # the same visits as calendar dates give the same event
    iso = tmp_path / "iso.csv"
    iso.write_text(
        "subject,day,edss\n"
        + "".join(
            f"{s},{_iso(int(d), '2013-05-07')},{e}\n"
            for s, d, e in (ln.split(",") for ln in DAYS.splitlines()[1:])
        )
    )
    assert (
        main(["progression", str(iso), "--date-col", "day", "--out", str(tmp_path / "b.csv")]) == 0
    )
    b = pd.read_csv(tmp_path / "b.csv")
    assert b["event_date"].tolist() == [_iso(100, "2013-05-07")]


def test_visits_without_a_value_are_refused_or_dropped_and_counted(tmp_path, capsys):
    v = tmp_path / "visits.csv"
    v.write_text(
        "subject,date,edss\np1,2020-01-01,2.0\np1,2020-03-01,\np1,2020-05-01,3.0\n"
        "p1,2020-09-01,3.0\np2,2020-01-01,\n"
    )
    out = tmp_path / "ev.csv"
    assert main(["progression", str(v), "--out", str(out), "--no-plots"]) == 2
    assert "row 3" in capsys.readouterr().err and not out.exists()
    rc = main(["progression", str(v), "--on-missing", "drop", "--out", str(out), "--no-plots"])
    assert rc == 0
    meta = json.loads((tmp_path / "ev_settings.json").read_text())
    reasons = meta["input"]["reasons"]
    assert reasons["visits without a EDSS value left out (--on-missing drop)"] == 2
    assert meta["input"]["rows_rejected"] == 2 and meta["input"]["rows_used"] == 3
    # p2 had only a visit without a value: it is not a subject of the analysis
    assert pd.read_csv(tmp_path / "ev_summary.csv")["subject"].tolist() == ["p1"]


def test_future_dates_are_kept_and_counted_by_default_refused_or_dropped_on_request(
    tmp_path, capsys
):
    v = tmp_path / "visits.csv"
    v.write_text(
        "subject,date,edss\np1,2020-01-01,2.0\np1,2020-06-01,3.0\np1,2021-01-01,3.0\n"
        "p1,2150-01-01,4.0\np1,2150-06-01,4.0\n"
    )
    out = tmp_path / "ev.csv"
    assert main(["progression", str(v), "--out", str(out), "--no-plots"]) == 0
    err = capsys.readouterr().err
    assert "2 visits dated after today" in err and "--future-dates refuse" in err
    meta = json.loads((tmp_path / "ev_settings.json").read_text())
    assert meta["input"]["reasons"]["visits dated after today (kept)"] == 2
    assert meta["counts"]["visits"] == 5
    assert main(["progression", str(v), "--future-dates", "drop", "--out", str(out)]) == 0
    meta = json.loads((tmp_path / "ev_settings.json").read_text())
    assert meta["counts"]["visits"] == 3
    assert meta["input"]["reasons"]["visits dated after today left out (--future-dates drop)"] == 2
    out2 = tmp_path / "refused.csv"
    assert main(["progression", str(v), "--future-dates", "refuse", "--out", str(out2)]) == 2
    assert "row 5" in capsys.readouterr().err and not out2.exists()


def test_ids_with_spaces_around_them_are_one_subject_and_counted(tmp_path):
    v = tmp_path / "visits.csv"
    v.write_text("subject,date,edss\np1,2020-01-01,2.0\n p1,2020-06-01,3.0\np1 ,2021-01-01,3.0\n")
    r = tmp_path / "relapses.csv"
    r.write_text("subject,date\n p1 ,2019-06-01\n")
    out = tmp_path / "ev.csv"
    rc = main(["progression", str(v), "--relapses", str(r), "--out", str(out), "--no-plots"])
    assert rc == 0
    summary = pd.read_csv(tmp_path / "ev_summary.csv")
    assert summary["subject"].tolist() == ["p1"] and summary["n_visits"].tolist() == [3]
    assert pd.read_csv(out)["event_date"].tolist() == ["2020-06-01"]
    reasons = json.loads((tmp_path / "ev_settings.json").read_text())["input"]["reasons"]
    assert (
        reasons["subject ids with spaces around them, stripped (' p1' and 'p1' are one subject)"]
        == 2
    )


def test_semicolon_tables_with_sep_and_tsv_outputs(tmp_path):
    v = tmp_path / "visits.csv"
    v.write_text("subject;date;edss\np1;2020-01-01;2.0\np1;2020-06-01;3.0\np1;2021-01-01;3.0\n")
    out = tmp_path / "ev.tsv"
    assert main(["progression", str(v), "--sep", ";", "--out", str(out), "--no-plots"]) == 0
    ev = pd.read_csv(out, sep="\t")
    assert ev[["subject", "event_date"]].values.tolist() == [["p1", "2020-06-01"]]
    assert "\t" in out.read_text().splitlines()[0]
    assert pd.read_csv(tmp_path / "ev_summary.tsv", sep="\t")["subject"].tolist() == ["p1"]


def test_an_internal_error_is_one_line_and_a_traceback_only_when_debugging(
    tmp_path, monkeypatch, capsys
):
    import smoulder.cli.progression as prog

    def boom(ns):
        raise RuntimeError("the kernel fell over")

    monkeypatch.setattr(prog, "run", boom)
    args = ["progression", str(tmp_path / "v.csv"), "--out", str(tmp_path / "o.csv")]
    monkeypatch.delenv("SMOULDER_DEBUG", raising=False)
    assert main(args) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [
        "smoulder progression: internal error: RuntimeError: the kernel fell over; please report "
        "it (run again with SMOULDER_DEBUG=1 for the details)"
    ]
    monkeypatch.setenv("SMOULDER_DEBUG", "1")
    with pytest.raises(RuntimeError, match="fell over"):
        main(args)


def test_os_errors_name_the_file(tmp_path, monkeypatch, capsys):
    import smoulder.cli.progression as prog

    def full(ns):
        raise OSError(errno.ENOSPC, "No space left on device", "/data/events.csv")

    monkeypatch.setattr(prog, "run", full)
    monkeypatch.delenv("SMOULDER_DEBUG", raising=False)
    assert main(["progression", "v.csv", "--out", "o.csv"]) == 2
    assert capsys.readouterr().err.strip() == (
        "smoulder progression: error: /data/events.csv: No space left on device; free some space "
        "or write elsewhere; nothing was written"
    )


def test_a_failing_run_leaves_no_output(tmp_path, monkeypatch):
    """The computation fails after reading: none of the outputs of the set exists."""
    import smoulder.clinical.progression as engine

    v = tmp_path / "visits.csv"
    v.write_text("subject,date,edss\np1,2020-01-01,2.0\np1,2020-06-01,3.0\n")

    def broken(*args, **kwargs):
        raise MemoryError

    monkeypatch.setattr(engine, "run_validated", broken)
    assert main(["progression", str(v), "--out", str(tmp_path / "out" / "ev.csv")]) == 1
    assert sorted(p.name for p in tmp_path.rglob("*")) == ["visits.csv"]
