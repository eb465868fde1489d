"""A Parquet input is read for the columns the analysis uses only (issue 13): the result is that of
the whole table, and messages about columns still name every column of the file."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from smoulder.exceptions import InputDataError
from smoulder.io.tables import read_inputs


def _visits(n_sub: int = 6) -> pd.DataFrame:
    rng = np.random.default_rng(2)
    ids = [f"P{k}" for k in range(n_sub) for _ in range(4)]
    day = [200 * j for _ in range(n_sub) for j in range(4)]
    return pd.DataFrame(
        {
            "notes": ["free text"] * len(ids),  # a column the analysis never reads
            "subject": ids,
            "date": (pd.Timestamp("2019-01-01") + pd.to_timedelta(day, "D")).date,
            "edss": rng.choice([1.0, 2.0, 3.5, 4.0], size=len(ids)),
            "sdmt": rng.integers(20, 60, size=len(ids)).astype(float),
            "ok": [True, False, True, True] * n_sub,
        }
    )


def _write(frame: pd.DataFrame, path):
    pq.write_table(pa.Table.from_pandas(frame, preserve_index=False), path)
    return path


def test_only_needed_columns_give_the_whole_tables_result(tmp_path):
    visits = _visits()
    relapses = pd.DataFrame(
        {
            "subject": ["P1", "P3", "nobody"],
            "date": [pd.Timestamp("2019-05-01").date()] * 3,
            "end": [pd.Timestamp("2019-06-01").date(), None, None],
            "comment": ["x", "y", "z"],
        }
    )
    vpath, rpath = _write(visits, tmp_path / "v.parquet"), _write(relapses, tmp_path / "r.parquet")
    opts = {"value_col": "edss", "validconf_col": "ok", "relapse_end_col": "end"}
    got = read_inputs(vpath, rpath, valuedelta_col="sdmt", **opts)
    want = read_inputs(visits, relapses, valuedelta_col="sdmt", **opts)
    pd.testing.assert_frame_equal(got.visits, want.visits)
    pd.testing.assert_frame_equal(got.relapses, want.relapses)
    assert got.report.warnings == want.report.warnings
    assert list(got.visits.columns) == ["subject", "date", "value", "validconf", "valuedelta"]
    assert got.visits["validconf"].tolist() == visits["ok"].tolist()


def test_a_missing_column_lists_every_column_of_the_file(tmp_path):
    vpath = _write(_visits(), tmp_path / "v.parquet")
    with pytest.raises(InputDataError) as err:
        read_inputs(vpath, value_col="EDSS_score")
    msg = str(err.value)
    assert "EDSS_score" in msg and str(vpath) in msg
    for name in ("notes", "subject", "date", "edss", "sdmt", "ok"):  # read or not
        assert name in msg


@pytest.mark.parametrize(
    ("value", "row", "message"),
    [(None, 4, "missing EDSS value"), (11.0, 4, "EDSS must be between 0 and 10")],
)
def test_bad_values_name_file_row_and_column(tmp_path, value, row, message):
    visits = _visits()
    visits.loc[2, "edss"] = value  # the third data row: row 4 with the header
    vpath = _write(visits, tmp_path / "v.parquet")
    with pytest.raises(InputDataError) as err:
        read_inputs(vpath, value_col="edss")
    e = err.value
    assert e.file == str(vpath) and e.row == row and e.column == "edss"
    assert message in str(e)


def test_large_integer_ids_match_across_files(tmp_path):
    big = [2**62 + k for k in (5, 1, 3)]  # past float precision: kept exactly, as text
    visits = pd.DataFrame(
        {
            "subject": np.repeat(np.array(big, dtype=np.int64), 2),
            "date": (pd.Timestamp("2020-01-01") + pd.to_timedelta([0, 300] * 3, "D")).date,
            "edss": [1.0, 2.0] * 3,
        }
    )
    relapses = pd.DataFrame(
        {
            "subject": np.array([big[1], big[1] + 1], dtype=np.int64),
            "date": [pd.Timestamp("2020-03-01").date()] * 2,
        }
    )
    vpath, rpath = _write(visits, tmp_path / "v.parquet"), _write(relapses, tmp_path / "r.parquet")
    got = read_inputs(vpath, rpath, value_col="edss")
    assert list(got.visits["subject"].cat.categories) == sorted(str(b) for b in big)
    assert got.relapses["subject"].astype(str).tolist() == [str(big[1])]
    assert got.report.warnings == ["1 relapses for 1 subjects not in the visits table were ignored"]
