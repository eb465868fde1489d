"""``smoulder progression DATASET --partitioned``: flags, one-line errors, and the files of a run
on a local cluster, identical to the single-file run's."""

from __future__ import annotations

import pandas as pd
import pytest

from smoulder.cli import main

VISITS = (
    # p1: EDSS 2.0 -> 3.0 (+1.0), confirmed 6 months later; p2 stable; p3 in both files
    [("p1", "2020-01-01", 2.0), ("p1", "2020-07-01", 3.0), ("p1", "2021-01-01", 3.0)],
    [("p2", "2020-01-01", 1.0), ("p2", "2021-01-01", 1.0), ("p3", "2020-01-01", 4.0)],
    [("p3", "2020-08-01", 5.0), ("p3", "2021-02-01", 5.0)],
)


def write_dataset(folder):
    folder.mkdir()
    for i, rows in enumerate(VISITS):
        df = pd.DataFrame(rows, columns=["subject", "date", "edss"])
        df.assign(date=pd.to_datetime(df["date"])).to_parquet(folder / f"{i}.parquet", index=False)
    every = pd.concat(pd.read_parquet(folder / f"{i}.parquet") for i in range(len(VISITS)))
    every.to_parquet(folder.parent / "all.parquet", index=False)


def test_cluster_flags_need_partitioned(tmp_path, capsys):
    write_dataset(tmp_path / "ds")
    rc = main(
        [
            "progression",
            str(tmp_path / "all.parquet"),
            "--workers",
            "2",
            "--out",
            str(tmp_path / "e.csv"),
        ]
    )
    assert rc != 0
    assert (
        capsys.readouterr().err.strip().splitlines()[-1].endswith("--workers needs --partitioned")
    )


def test_workers_and_scheduler_together_are_refused(tmp_path, capsys):
    rc = main(
        [
            "progression",
            str(tmp_path),
            "--partitioned",
            "--workers",
            "2",
            "--scheduler",
            "tcp://127.0.0.1:1",
            "--out",
            str(tmp_path / "e.csv"),
        ]
    )
    assert rc != 0
    assert "not both" in capsys.readouterr().err


def test_an_empty_folder_is_one_line(tmp_path, capsys):
    (tmp_path / "ds").mkdir()
    rc = main(
        ["progression", str(tmp_path / "ds"), "--partitioned", "--out", str(tmp_path / "e.csv")]
    )
    err = capsys.readouterr().err.strip()
    assert rc != 0 and len(err.splitlines()) == 1
    assert "no Parquet files" in err and "Traceback" not in err
    assert not (tmp_path / "e.csv").exists()


def test_a_missing_column_names_the_file(tmp_path, capsys):
    write_dataset(tmp_path / "ds")
    rc = main(
        [
            "progression",
            str(tmp_path / "ds"),
            "--partitioned",
            "--value-col",
            "EDSS",
            "--out",
            str(tmp_path / "e.csv"),
        ]
    )
    err = capsys.readouterr().err.strip()
    assert rc != 0 and len(err.splitlines()) == 1
    assert str(tmp_path / "ds" / "0.parquet") in err and "'EDSS'" in err


@pytest.mark.slow
def test_the_files_match_the_single_file_run(tmp_path, capsys):
    write_dataset(tmp_path / "ds")
    common = ["--event", "multiple", "--no-plots", "--quiet"]
    assert (
        main(
            [
                "progression",
                str(tmp_path / "all.parquet"),
                *common,
                "--out",
                str(tmp_path / "one" / "e.csv"),
            ]
        )
        == 0
    )
    assert (
        main(
            [
                "progression",
                str(tmp_path / "ds"),
                "--partitioned",
                "--workers",
                "1",
                *common,
                "--out",
                str(tmp_path / "many" / "e.csv"),
            ]
        )
        == 0
    )
    ev = pd.read_csv(tmp_path / "many" / "e.csv")
    assert ev["subject"].tolist() == ["p1", "p3"]  # p3's worsening spans two files
    for name in ("e.csv", "e_summary.csv", "e_settings.toml"):
        assert (tmp_path / "many" / name).read_bytes() == (tmp_path / "one" / name).read_bytes()
