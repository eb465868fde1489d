"""The table writer and the order check behind ``smoulder progression`` at registry scale.

``write_table`` hands columns to pyarrow one by one instead of through pandas; what a user reads
back must be what ``DataFrame.to_parquet`` (Parquet) or the earlier column conversion (CSV) gave.
"""

from __future__ import annotations

import csv

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from smoulder.io._columns import arrow_text, remember_text
from smoulder.io.tables import write_table
from smoulder.schema import _fastcheck as F


def _frame(n: int = 5000) -> pd.DataFrame:
    rng = np.random.default_rng(7)
    ids = pd.Index([f"S{i:05d}" for i in range(n // 2)], dtype=object)
    codes = np.sort(rng.integers(0, len(ids), n)).astype(np.int32)
    dates = pd.to_datetime("2020-01-01") + pd.to_timedelta(rng.integers(0, 900, n), unit="D")
    dates = dates.to_numpy().copy()
    dates[::7] = np.datetime64("NaT")
    pirma = pd.array(rng.integers(0, 2, n).astype(bool), dtype="boolean")
    pirma[::5] = pd.NA
    value = rng.integers(0, 20, n) / 2.0
    value[::11] = np.nan
    return pd.DataFrame(
        {
            "subject": pd.Categorical.from_codes(codes, categories=ids),
            "nevent": np.arange(n, dtype=np.int64),
            "event_type": np.array(["CDW", "CDI"], dtype=object)[rng.integers(0, 2, n)],
            "pirma": pirma,
            "event_date": dates,
            "value": value,
            "imputed": rng.integers(0, 2, n).astype(bool),
            "arm": pd.Categorical(rng.choice(["placebo", "active"], n)),
        }
    )


def test_parquet_is_what_pandas_writes(tmp_path):
    df = _frame()
    expected = df.assign(subject=df["subject"].astype(str))
    expected.to_parquet(tmp_path / "pandas.parquet", index=False)
    write_table(df, tmp_path / "ours.parquet", text_cols=("subject",))
    ours, theirs = (
        pq.read_table(tmp_path / "ours.parquet"),
        pq.read_table(tmp_path / "pandas.parquet"),
    )
    assert ours.equals(theirs)
    assert ours.schema.equals(theirs.schema, check_metadata=True)  # pandas metadata included
    back = pd.read_parquet(tmp_path / "ours.parquet")
    pd.testing.assert_frame_equal(back, pd.read_parquet(tmp_path / "pandas.parquet"))
    assert back["subject"].dtype == object and back["arm"].dtype == "category"
    assert back["pirma"].dtype == "boolean" and back["pirma"].isna().sum() == 1000
    assert back["event_date"].isna().sum() == len(df[::7])


def test_ids_written_from_the_text_they_were_read_as(tmp_path):
    # categories read from a file remember their Arrow text: the writer looks ids up by code
    cats = pd.Index(["a", "b", "c"], dtype=object)
    remember_text(cats, pa.array(["a", "b", "c"]))
    assert arrow_text(cats).to_pylist() == ["a", "b", "c"]
    df = pd.DataFrame({"subject": pd.Categorical.from_codes([2, 0, 0, 1], categories=cats)})
    write_table(df, tmp_path / "e.csv", text_cols=("subject",))
    rows = list(csv.reader((tmp_path / "e.csv").open()))
    assert rows == [["subject"], ["c"], ["a"], ["a"], ["b"]]


def test_csv_keeps_its_conventions(tmp_path):
    df = _frame(400)
    write_table(df, tmp_path / "e.csv", text_cols=("subject",))
    lines = list(csv.reader((tmp_path / "e.csv").open()))
    assert lines[0] == "subject,nevent,event_type,pirma,event_date,value,imputed,arm".split(",")
    first = lines[1]
    assert first[0] == str(df["subject"].iloc[0])
    assert first[3] == "" and first[4] == ""  # missing boolean and date: empty cells
    assert first[6] in ("true", "false")
    second = lines[2]
    assert second[4] == str(df["event_date"].iloc[1].date())  # ISO date, no time


def test_parquet_falls_back_to_pandas_for_what_only_it_stores(tmp_path):
    df = pd.DataFrame({"a": [1, 2]})
    df.attrs["note"] = "kept"
    write_table(df, tmp_path / "a.parquet")
    assert pd.read_parquet(tmp_path / "a.parquet").attrs == {"note": "kept"}


@pytest.mark.parametrize("block", [1, 2, 3, 1 << 18])
def test_order_state(monkeypatch, block):
    monkeypatch.setattr(F, "_ORDER_BLOCK", block)
    c = np.array([0, 0, 0, 1, 1, 2], dtype=np.int32)
    assert F.order_state(c, np.array([1, 2, 3, 1, 5, 0])) == (True, False)
    assert F.order_state(c, np.array([1, 2, 2, 1, 5, 0])) == (True, True)  # a repeated day
    assert F.order_state(c, np.array([1, 3, 2, 1, 5, 0])) == (False, False)  # days back
    assert F.order_state(c[::-1].copy(), np.arange(6.0)) == (False, False)  # subjects back
    assert F.order_state(c, np.array([1.0, np.nan, 3, 1, 5, 0])) == (True, False)
    assert F.order_state(c[:1], np.array([4])) == (True, False)
    assert F.order_state(c[:0], np.array([])) == (True, False)
