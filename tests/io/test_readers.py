"""Readers: every bad input gives an error naming file, row, column and value; nothing is lost silently."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from smoulder.exceptions import ColumnNotFoundError, InputDataError
from smoulder.io.tables import read_mri_activity, read_relapses, read_visits, validate_visits


def write(tmp_path, text, name="visits.csv"):
    p = tmp_path / name
    p.write_text(text)
    return p


def test_reads_sorts_and_reports(tmp_path):
    p = write(tmp_path, "id,date,EDSS\nb,2020-01-01,2\na,2020-02-01,3.0\na,2020-01-01,2.5\n")
    df, rep = read_visits(p, subject_col="id", value_col="EDSS")
    assert df["subject"].astype(str).tolist() == ["a", "a", "b"]
    assert df["date"].dt.strftime("%Y-%m-%d").tolist() == ["2020-01-01", "2020-02-01", "2020-01-01"]
    assert df["value"].tolist() == [2.5, 3.0, 2.0]
    assert (rep.rows_read, rep.rows_used, rep.rows_corrected, rep.rows_rejected) == (3, 3, 0, 0)


@pytest.mark.parametrize(
    "text,row,column,fragment",
    [
        ("id,date,EDSS\nb,2020-01-01,2\na,2020-02-30,3.0\n", 3, "date", "impossible date"),
        ("id,date,EDSS\nb,2020-01-01,2\na,02/03/2020,3.0\n", 3, "date", "unparseable date"),
        ("id,date,EDSS\nb,1890-01-01,2\n", 2, "date", "impossible date"),
        ("id,date,EDSS\nb,2020-01-01,2\nb,2020-03-01,7.3\n", 3, "EDSS", "0.5 grid"),
        ("id,date,EDSS\nb,2020-01-01,2\nb,2020-03-01,10.5\n", 3, "EDSS", "between 0 and 10"),
        ("id,date,EDSS\nb,2020-01-01,2\nb,2020-03-01,high\n", 3, "EDSS", "not a number"),
        ("id,date,EDSS\nb,2020-01-01,2\nb,2020-03-01,\n", 3, "EDSS", "missing"),
        ("id,date,EDSS\nb,2020-01-01,2\n,2020-03-01,2\n", 3, "id", "missing subject"),
        ("id,date,EDSS\nb,2020-01-01,2\nb,,2\n", 3, "date", "missing date"),
    ],
)
def test_bad_rows_are_named(tmp_path, text, row, column, fragment):
    p = write(tmp_path, text)
    with pytest.raises(InputDataError) as err:
        read_visits(p, subject_col="id", value_col="EDSS")
    e = err.value
    assert e.row == row and e.column == column and e.file == str(p)
    assert fragment in str(e) and str(p) in str(e) and f"row {row}" in str(e)


def test_count_of_other_bad_rows(tmp_path):
    p = write(
        tmp_path,
        "id,date,EDSS\nb,2020-01-01,2\nb,2020-02-01,7.3\nb,2020-03-01,7.2\nb,2020-04-01,1.1\n",
    )
    with pytest.raises(InputDataError, match=r"and 2 more rows"):
        read_visits(p, subject_col="id", value_col="EDSS")


def test_timed_tests_and_sdmt(tmp_path):
    p = write(tmp_path, "id,date,T25FW\nb,2020-01-01,-4\n")
    with pytest.raises(InputDataError, match="positive"):
        read_visits(p, subject_col="id", value_col="T25FW", outcome="t25fw")
    p = write(tmp_path, "id,date,T25FW\nb,2020-01-01,999\n")
    with pytest.raises(InputDataError, match="missing-value code"):
        read_visits(p, subject_col="id", value_col="T25FW", outcome="t25fw")
    p = write(tmp_path, "id,date,T25FW\nb,2020-01-01,200\nb,2020-02-01,6\n")
    _, rep = read_visits(p, subject_col="id", value_col="T25FW", outcome="t25fw")
    assert any("above 180" in w for w in rep.warnings)
    p = write(tmp_path, "id,date,SDMT\nb,2020-01-01,120\n")
    with pytest.raises(InputDataError, match="SDMT"):
        read_visits(p, subject_col="id", value_col="SDMT", outcome="sdmt")


def test_missing_column_suggests(tmp_path):
    p = write(tmp_path, "id,date,EDS\nb,2020-01-01,2\n")
    with pytest.raises(ColumnNotFoundError, match="did you mean 'EDS'"):
        read_visits(p, subject_col="id", value_col="EDSS")


def test_empty_files(tmp_path):
    with pytest.raises(InputDataError, match="empty"):
        read_visits(write(tmp_path, ""), subject_col="id", value_col="EDSS")
    with pytest.raises(InputDataError, match="no data rows"):
        read_visits(write(tmp_path, "id,date,EDSS\n"), subject_col="id", value_col="EDSS")


def test_duplicate_visits_policies(tmp_path):
    text = "id,date,EDSS\nb,2020-01-01,2\nb,2020-01-01,2\nb,2020-06-01,3\nb,2020-06-01,4\nb,2020-12-01,4\n"
    p = write(tmp_path, text)
    with pytest.raises(
        InputDataError,
        match=r"2 visits on 2020-06-01 with different values \[3.0, 4.0\] \(rows 4, 5\)",
    ):
        read_visits(p, subject_col="id", value_col="EDSS")
    expected = {"first": 3.0, "last": 4.0, "max": 4.0, "min": 3.0, "mean": 3.5}
    for policy, value in expected.items():
        df, rep = read_visits(p, subject_col="id", value_col="EDSS", on_duplicate=policy)
        assert df["value"].tolist() == [2.0, value, 4.0], policy
        # one identical duplicate merged, one conflicting pair resolved
        assert rep.rows_corrected == 2 and rep.rows_used == 3
    # a mean EDSS is rounded up to the 0.5 grid
    p2 = write(tmp_path, "id,date,EDSS\nb,2020-06-01,3\nb,2020-06-01,3.5\n", "v2.csv")
    df, _ = read_visits(p2, subject_col="id", value_col="EDSS", on_duplicate="mean")
    assert df["value"].tolist() == [3.5]


def test_row_order_and_format_do_not_matter(tmp_path):
    rng = np.random.default_rng(3)
    base = pd.DataFrame(
        {
            "id": np.repeat(["x", "y", "z"], 4),
            "date": pd.date_range("2020-01-01", periods=4, freq="90D").strftime("%Y-%m-%d").tolist()
            * 3,
            "EDSS": rng.integers(0, 12, 12) / 2,
        }
    )
    base.to_csv(tmp_path / "a.csv", index=False)
    base.sample(frac=1, random_state=1).to_csv(tmp_path / "b.csv", index=False)
    base.to_parquet(tmp_path / "c.parquet", index=False)
    frames = [
        read_visits(tmp_path / f, subject_col="id", value_col="EDSS")[0]
        for f in ("a.csv", "b.csv", "c.parquet")
    ]
    for f in frames[1:]:
        pd.testing.assert_frame_equal(
            frames[0].astype({"subject": str}), f.astype({"subject": str})
        )


def test_validconf_column(tmp_path):
    p = write(
        tmp_path, "id,date,EDSS,ok\nb,2020-01-01,2,yes\nb,2020-06-01,3,no\nb,2020-12-01,3,1\n"
    )
    df, _ = read_visits(p, subject_col="id", value_col="EDSS", validconf_col="ok")
    assert df["validconf"].tolist() == [True, False, True]
    p = write(tmp_path, "id,date,EDSS,ok\nb,2020-01-01,2,maybe\n")
    with pytest.raises(InputDataError, match="yes/no"):
        read_visits(p, subject_col="id", value_col="EDSS", validconf_col="ok")


def test_relapses_unknown_subjects_warned_and_counted(tmp_path):
    p = write(
        tmp_path,
        "id,date,end\na,2020-01-01,2020-02-01\nzz,2020-01-01,\nzz,2020-03-01,\na,2020-01-01,2020-02-01\n",
        "rel.csv",
    )
    rel, rep = read_relapses(p, subject_col="id", end_date_col="end", known_subjects=["a", "b"])
    assert rel["subject"].tolist() == ["a"]
    assert rep.rows_rejected == 2 and rep.rows_corrected == 1
    assert "2 relapses for 1 subjects not in the visits table" in rep.warnings[0]
    bad = write(tmp_path, "id,date,end\na,2020-03-01,2020-02-01\n", "rel2.csv")
    with pytest.raises(InputDataError, match="ends before it starts"):
        read_relapses(bad, subject_col="id", end_date_col="end")


def test_mri_activity_counts_and_flags(tmp_path):
    p = write(
        tmp_path,
        "subject,date,active\na,2020-01-01,0\na,2021-01-01,3\na,2022-01-01,true\n",
        "mri.csv",
    )
    mri, _ = read_mri_activity(p)
    assert mri["active"].tolist() == [False, True, True]


def test_dataframe_input_is_validated_too():
    df = pd.DataFrame(
        {
            "subject": ["a", "a"],
            "date": pd.to_datetime(["2020-01-01", "2020-02-01"]),
            "value": [2.0, 11.0],
        }
    )
    with pytest.raises(InputDataError, match="row 3"):
        validate_visits(df)
