"""The progression analysis of a partitioned Parquet dataset on dask.distributed gives what one
machine gives for the same rows in one file: same events, summary and unconfirmed changes in the
same order, same counts, settings and input report (its source aside)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.dataset as pads
import pyarrow.parquet as pq
import pytest

from smoulder.exceptions import ColumnNotFoundError, InputDataError
from smoulder.pipelines import partitioned, progression
from smoulder.synth import simulate_cohort

OPTIONS = {"event": "multiple", "classify_cdw": True, "return_unconfirmed": True}


@pytest.fixture(scope="module")
def client():
    with partitioned.cluster_client(n_workers=2, processes=False) as c:
        yield c


@pytest.fixture(scope="module")
def cohort(tmp_path_factory):
    c = simulate_cohort(150, seed=13)
    d = tmp_path_factory.mktemp("cohort")
    v = c.visits.assign(subject=c.visits["subject"].astype(str))
    r = c.relapses.assign(subject=c.relapses["subject"].astype(str))
    m = c.mri.assign(subject=c.mri["subject"].astype(str))
    v.to_parquet(d / "visits.parquet", index=False)
    r.to_csv(d / "relapses.csv", index=False)
    m.to_parquet(d / "mri.parquet", index=False)
    return v, d


def single(path: Path, d: Path, **kw):
    return progression.run(path, d / "relapses.csv", d / "mri.parquet", **OPTIONS, **kw)


def assert_same(one, many):
    pd.testing.assert_frame_equal(one.events, many.events)
    pd.testing.assert_frame_equal(one.summary, many.summary)
    pd.testing.assert_frame_equal(one.unconfirmed, many.unconfirmed)
    assert one.counts() == many.counts()
    assert one.settings.to_toml() == many.settings.to_toml()
    a, b = one.ingest.to_dict(), many.ingest.to_dict()
    assert (a.pop("source"), b.pop("source")) != (None, None)
    assert a == b


def run_many(path, d, client, **kw):
    said: list[str] = []
    res = partitioned.run(
        path,
        d / "relapses.csv",
        d / "mri.parquet",
        client=client,
        progress=said.append,
        **OPTIONS,
        **kw,
    )
    return res, any("repartitioning" in s for s in said)


def test_subjects_split_across_uneven_files(cohort, client, tmp_path):
    v, d = cohort
    cuts = [0, 7, 1500, 1501, len(v)]  # a subject's visits in two or three files
    for i in range(4):
        v.iloc[cuts[i] : cuts[i + 1]].to_parquet(tmp_path / f"part{i}.parquet", index=False)
    assert v.iloc[6]["subject"] == v.iloc[7]["subject"]
    many, repartitioned = run_many(tmp_path, d, client)
    assert repartitioned
    assert many.counts()["subjects"] == 150 and many.counts()["cdw_events"] > 20
    assert_same(single(d / "visits.parquet", d), many)


def test_disjoint_files_with_an_empty_one_are_read_where_they_lie(cohort, client, tmp_path):
    v, d = cohort
    ids = v["subject"].unique()
    groups = [ids[:3], ids[3:3], ids[3:100], ids[100:]]  # uneven, one file without rows
    for i, g in enumerate(groups):
        v[v["subject"].isin(g)].to_parquet(tmp_path / f"g{i}.parquet", index=False)
    assert pq.read_metadata(tmp_path / "g1.parquet").num_rows == 0
    many, repartitioned = run_many(tmp_path, d, client)
    assert not repartitioned
    assert_same(single(d / "visits.parquet", d), many)


def test_one_partition_and_forced_hash_partitions(cohort, client, tmp_path):
    v, d = cohort
    (tmp_path / "one").mkdir()
    v.to_parquet(tmp_path / "one" / "all.parquet", index=False)
    one = single(d / "visits.parquet", d)
    assert_same(one, run_many(tmp_path / "one", d, client)[0])
    many, repartitioned = run_many(tmp_path / "one", d, client, partitions=5)
    assert repartitioned
    assert_same(one, many)


def test_one_file_of_row_groups(cohort, client, tmp_path):
    v, d = cohort
    # row groups of 500 rows: subjects straddle their edges, so the rows are repartitioned
    pq.write_table(
        pa.Table.from_pandas(v, preserve_index=False), tmp_path / "v.parquet", row_group_size=500
    )
    assert pq.ParquetFile(tmp_path / "v.parquet").num_row_groups > 5
    many, repartitioned = run_many(tmp_path / "v.parquet", d, client)
    assert repartitioned
    assert_same(single(d / "visits.parquet", d), many)


@pytest.mark.slow  # one partition per subject (or year): many small tasks
def test_hive_partitions_by_subject_keep_ids_as_written(client, tmp_path):
    c = simulate_cohort(12, seed=2)
    v = c.visits.assign(subject="0" + c.visits["subject"].astype(str).str[-3:])  # "0001"...
    v[["subject", "date", "edss"]].to_parquet(tmp_path / "flat.parquet", index=False)
    table = pa.Table.from_pandas(v[["subject", "date", "edss"]], preserve_index=False)
    pads.write_dataset(
        table,
        tmp_path / "hive",
        format="parquet",
        partitioning=["subject"],
        partitioning_flavor="hive",
    )
    assert (tmp_path / "hive" / "subject=0001").is_dir()
    one = progression.run(tmp_path / "flat.parquet", event="multiple")
    many = partitioned.run(tmp_path / "hive", client=client, event="multiple")
    pd.testing.assert_frame_equal(one.events, many.events)
    pd.testing.assert_frame_equal(one.summary, many.summary)
    assert many.summary["subject"].astype(str).iloc[0] == "0001"


@pytest.mark.slow  # one partition per subject (or year): many small tasks
def test_hive_partitions_by_year_are_repartitioned(cohort, client, tmp_path):
    v, d = cohort
    table = pa.Table.from_pandas(v.assign(year=v["date"].dt.year), preserve_index=False)
    pads.write_dataset(
        table,
        tmp_path / "by_year",
        format="parquet",
        partitioning=["year"],
        partitioning_flavor="hive",
    )
    many, repartitioned = run_many(tmp_path / "by_year", d, client)
    assert repartitioned
    assert_same(single(d / "visits.parquet", d), many)


def test_warnings_are_summed_over_partitions(client, tmp_path):
    # 3 future visits (of 3 subjects in different files), 2 relapses of 2 unknown subjects
    future = (dt.date.today() + dt.timedelta(days=40)).isoformat()
    rows = []
    for k in range(6):
        for y, e in ((2020, 2.0), (2021, 3.0), (2022, 3.0)):
            rows.append((f"p{k}", f"{y}-03-01", e))
        if k % 2:
            rows.append((f"p{k}", future, 3.0))
    v = pd.DataFrame(rows, columns=["subject", "date", "edss"]).assign(
        date=lambda x: pd.to_datetime(x["date"])
    )
    rel = pd.DataFrame({"subject": ["p1", "zz1", "zz2"], "date": ["2019-01-01"] * 3})
    rel.to_csv(tmp_path / "rel.csv", index=False)
    (tmp_path / "ds").mkdir()
    v.to_parquet(tmp_path / "all.parquet", index=False)
    for k in range(3):
        v[v["subject"].isin([f"p{2 * k}", f"p{2 * k + 1}"])].to_parquet(
            tmp_path / "ds" / f"{k}.parquet", index=False
        )
    one = progression.run(tmp_path / "all.parquet", tmp_path / "rel.csv")
    many = partitioned.run(tmp_path / "ds", tmp_path / "rel.csv", client=client)
    assert len(one.ingest.warnings) == 2
    expected = [
        w.replace(str(tmp_path / "all.parquet"), str(tmp_path / "ds")) for w in one.ingest.warnings
    ]
    assert many.ingest.warnings == expected
    assert "3 visits dated after today" in many.ingest.warnings[0]
    assert many.ingest.warnings[1].startswith("2 relapses for 2 subjects not in the visits")


def test_merge_warnings_sums_counts_not_dates_or_seconds():
    got = partitioned.merge_warnings(
        [
            [
                "d/x: 1,200 visits dated after today (2026-12-01) were kept",
                "7 T25FW values above 180 s (kept; check them)",
            ],
            [
                "3 relapses for 2 subjects not in the visits table were ignored",
                "d/x: 5 visits dated after today (2026-12-01) were kept",
            ],
        ]
    )
    assert got == [
        "3 relapses for 2 subjects not in the visits table were ignored",
        "d/x: 1,205 visits dated after today (2026-12-01) were kept",
        "7 T25FW values above 180 s (kept; check them)",
    ]


# --------------------------------------------------------------------------- errors
def test_a_folder_without_parquet_files(tmp_path, client):
    (tmp_path / "notes.csv").write_text("subject,date,edss\n")
    with pytest.raises(InputDataError, match="no Parquet files"):
        partitioned.run(tmp_path, client=client)


def test_mixed_schemas_name_the_file_and_column(cohort, tmp_path, client):
    v, _ = cohort
    v.iloc[:100].to_parquet(tmp_path / "a.parquet", index=False)
    v.iloc[100:].assign(edss=v["edss"].iloc[100:].astype(str)).to_parquet(
        tmp_path / "b.parquet", index=False
    )
    with pytest.raises(InputDataError) as e:
        partitioned.run(tmp_path, client=client)
    msg = str(e.value)
    assert msg.startswith(str(tmp_path / "b.parquet")) and "'edss'" in msg and "mixed" in msg


def test_missing_column_names_the_file(cohort, tmp_path, client):
    v, _ = cohort
    v.drop(columns="edss").to_parquet(tmp_path / "a.parquet", index=False)
    with pytest.raises(ColumnNotFoundError, match=r"a\.parquet.*missing value column 'edss'"):
        partitioned.run(tmp_path, client=client)


def test_bad_value_names_the_original_file_and_row(cohort, tmp_path, client):
    v, _ = cohort
    v.iloc[:2000].to_parquet(tmp_path / "a.parquet", index=False)
    b = v.iloc[2000:].reset_index(drop=True)
    b.loc[5, "edss"] = 12.5  # the 6th data row: row 7 as a spreadsheet counts (header row 1)
    b.to_parquet(tmp_path / "b.parquet", index=False)
    with pytest.raises(InputDataError) as e:
        partitioned.run(tmp_path, client=client)  # a subject spans a and b: repartitioned
    assert (e.value.file, e.value.row) == (str(tmp_path / "b.parquet"), 7)
    assert str(e.value).startswith(f"{tmp_path / 'b.parquet'}, row 7, column 'edss'")


def test_out_inside_the_dataset_is_refused_before_any_work(cohort, tmp_path, client):
    v, _ = cohort
    v.to_parquet(tmp_path / "a.parquet", index=False)
    with pytest.raises(Exception, match="inside the dataset"):
        partitioned.run(tmp_path, client=client, out=tmp_path / "events.parquet")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.parquet"]


def test_written_files_match_one_machine(cohort, tmp_path, client):
    v, d = cohort
    for i, g in enumerate(np.array_split(v["subject"].unique(), 3)):
        (tmp_path / "ds").mkdir(exist_ok=True)
        v[v["subject"].isin(g)].to_parquet(tmp_path / "ds" / f"{i}.parquet", index=False)
    one = single(d / "visits.parquet", d, out=tmp_path / "one" / "ev.csv", plots=False)
    many = partitioned.run(
        tmp_path / "ds",
        d / "relapses.csv",
        d / "mri.parquet",
        client=client,
        out=tmp_path / "many" / "ev.csv",
        plots=False,
        **OPTIONS,
    )
    assert sorted(p.name for p in (tmp_path / "many").iterdir()) == sorted(
        p.name for p in (tmp_path / "one").iterdir()
    )
    for key in ("events", "summary", "unconfirmed", "settings"):
        assert many.files[key].read_bytes() == one.files[key].read_bytes(), key
