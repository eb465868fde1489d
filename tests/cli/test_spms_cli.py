"""``smoulder spms`` as a user runs it: the contract of the issue, outputs, and bad input."""

from __future__ import annotations

import csv
import subprocess
import sys

import pandas as pd

from smoulder.cli import main

HEADER = "ID,dateEDSS,EDSS,FSpyr,FScrbl,FSbstem,FSsens,FSsph,FSvis,FScereb,FSamb\n"
ROWS = [
    "p1,2015-01-01,3.0,1,0,0,1,0,0,0,0",
    "p1,2015-06-30,4.0,2,0,0,1,0,0,0,1",
    "p1,2015-12-27,4.0,2,0,0,1,0,0,0,1",
    "p1,2016-06-24,4.5,3,0,0,1,0,0,0,2",
    "p2,2015-01-01,3.0,1,0,0,1,0,0,0,0",
    "p2,2015-06-30,4.0,2,0,0,1,0,0,0,1",
    "p2,2015-12-27,4.0,2,0,0,1,0,0,0,1",
    "p2,2016-06-24,,,,,,,,,",
]
CONTRACT = [
    "--subject-col", "ID", "--date-col", "dateEDSS", "--edss-col", "EDSS",
    "--fs-cols", "FSpyr", "FScrbl", "FSbstem", "FSsens", "FSsph", "FSvis", "FScereb",
    "--ambulation-col", "FSamb",
]  # fmt: skip


def write(tmp_path, rows=ROWS):
    v = tmp_path / "visits.csv"
    v.write_text(HEADER + "\n".join(rows) + "\n")
    r = tmp_path / "relapses.csv"
    r.write_text("ID,dateEDSS\np2,2015-05-01\n")  # p2: relapse between baseline and worsening
    return v, r


def test_the_contract_of_the_issue(tmp_path, capsys):
    v, r = write(tmp_path)
    out = tmp_path / "res" / "spms.csv"
    rc = main(["spms", str(v), "--relapses", str(r), *CONTRACT, "--out", str(out)])
    assert rc == 0, capsys.readouterr().err
    with out.open() as f:
        text = list(csv.reader(f))
    assert text[0][:5] == ["subject", "spms", "spms_date", "spms_edss", "leading_fs"]
    # pyramidal and ambulation both rose by one grade at the worsening
    assert text[1][:5] == ["p1", "true", "2015-06-30", "4", "pyramidal+ambulation"]
    assert text[2][:5] == ["p2", "false", "", "", ""]
    t = pd.read_csv(out)
    assert (
        t.loc[0, "baseline_date"] == "2015-01-01" and t.loc[0, "confirmation_date"] == "2015-12-27"
    )
    for name in ("spms_steps.csv", "spms_settings.toml", "spms_settings.json", "spms_methods.txt",
                 "spms.png", "spms.svg", "spms.pdf"):  # fmt: skip
        assert (out.parent / name).stat().st_size > 0, name
    methods = (out.parent / "spms_methods.txt").read_text()
    assert "1 of 2 subjects met the definition" in methods
    assert "1 visits without an EDSS score were left out (rows 9)" in methods
    assert "tProgression" not in methods and "90.75 days" in methods
    steps = pd.read_csv(out.parent / "spms_steps.csv")
    assert steps.loc[steps["subject"] == "p2", "kind"].tolist() == [
        "baseline",
        "worsening did not convert",
        "baseline moved: worsening that began with a relapse",
    ]
    err = capsys.readouterr().err
    assert "visits without an EDSS" in err


def test_msoutcomes_defaults_are_flags(tmp_path):
    v, r = write(tmp_path)
    out = tmp_path / "spms.csv"
    # a longer confirmation than the 357 days of follow-up after the worsening: no conversion
    rc = main(["spms", str(v), *CONTRACT, "--confirmation-days", "400", "--out", str(out)])
    assert rc == 0
    assert pd.read_csv(out)["spms"].tolist() == [False, False]
    assert "confirmation_days = 400.0" in (tmp_path / "spms_settings.toml").read_text()


def test_days_post_relapse_column_as_in_sample_data(tmp_path):
    rows = [x + ("," + ("-59" if x.startswith("p2,2015-06-30") else "")) for x in ROWS]
    v = tmp_path / "v.csv"
    v.write_text(HEADER.strip() + ",daysPostRelapse\n" + "\n".join(rows) + "\n")
    out = tmp_path / "spms.csv"
    rc = main(["spms", str(v), *CONTRACT, "--days-since-relapse-col", "daysPostRelapse",
               "--out", str(out)])  # fmt: skip
    assert rc == 0
    assert pd.read_csv(out)["spms"].tolist() == [True, False]


def test_a_bad_score_names_file_row_column_value_and_range_and_writes_nothing(tmp_path, capsys):
    rows = list(ROWS)
    rows[2] = "p1,2015-12-27,4.0,2,7,0,1,0,0,0,1"  # cerebellar 7
    v, r = write(tmp_path, rows)
    out = tmp_path / "res" / "spms.csv"
    rc = main(["spms", str(v), *CONTRACT, "--out", str(out)])
    err = capsys.readouterr().err
    assert rc == 2
    assert f"{v}, row 4, column 'FScrbl': cerebellar score out of range (got 7)" in err
    assert "expected a whole number from 0 to 5" in err
    assert not out.parent.exists() or list(out.parent.iterdir()) == []


def test_a_bad_setting_is_restated_with_its_flag(tmp_path, capsys):
    v, r = write(tmp_path)
    rc = main(["spms", str(v), *CONTRACT, "--min-edss", "4.2", "--out", str(tmp_path / "s.csv")])
    assert rc == 2
    assert "--min-edss must be on the EDSS grid (0.5 steps) from 0 to 9.5 (got 4.2)" in (
        capsys.readouterr().err
    )


def test_a_missing_column_is_named(tmp_path, capsys):
    v, r = write(tmp_path)
    rc = main(["spms", str(v), "--subject-col", "ID", "--date-col", "dateEDSS",
               "--edss-col", "EDSS_score", "--out", str(tmp_path / "s.csv")])  # fmt: skip
    assert rc == 2 and "missing EDSS column 'EDSS_score'" in capsys.readouterr().err


def test_help_answers_without_loading_pandas():
    code = (
        "import sys, argparse; from smoulder.cli import spms, neda, multiverse\n"
        "sub = argparse.ArgumentParser().add_subparsers()\n"
        "for m in (spms, neda, multiverse): m.register(sub)\n"
        "print('pandas' in sys.modules, 'numpy' in sys.modules)"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert proc.stdout.strip() == "False False"
