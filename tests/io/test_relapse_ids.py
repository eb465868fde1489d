"""Relapse (and MRI) ids read from a file are looked up in the visits table's ids directly
(issue 13, registry scale): the result, its counts and its messages must be those of the same
tables given as DataFrames (checked by pandas, a different method), whatever the ids look like."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

from smoulder.exceptions import InputDataError
from smoulder.io._columns import sorted_positions
from smoulder.io.tables import STRIPPED_IDS, read_inputs

ID_SETS = {
    "fixed width": [f"S{k:07d}" for k in range(30)],
    "varied width": ["a", "b", "ab", "B", "10", "9", "abc", "a b", "zz", "P1", "P10", "P2"],
    "non-ASCII": ["Zoë", "Zoe", "Åsa", "Ärzte", "émile", "ß", "日本", "z"],
}


def _write(frame: pd.DataFrame, path, *, row_group_size: int = 1000, dictionary: bool = True):
    table = pa.Table.from_pandas(frame, preserve_index=False)
    pq.write_table(table, path, row_group_size=row_group_size, use_dictionary=dictionary)
    return path


def _tables(names: list[str], rng: np.random.Generator) -> tuple[pd.DataFrame, pd.DataFrame]:
    visit_ids = [n for n in names for _ in range(3)]
    visits = pd.DataFrame(
        {
            "subject": visit_ids,
            "date": [
                pd.Timestamp("2020-01-01").date() + pd.Timedelta(days=200 * (i % 3))
                for i in range(len(visit_ids))
            ],  # fmt: skip
            "edss": 2.0,
        }
    )
    # relapses of known subjects (some written with spaces), of unknown ones (one longer than
    # any known id, one that is a known id's prefix), repeats, in shuffled order
    known = list(rng.choice(names, size=2 * len(names)))
    unknown = ["nobody", "x" * 40, names[0][:-1] or "q", "nobody"]
    ids = known + unknown
    ids = [f" {s}" if i % 7 == 3 else s for i, s in enumerate(ids)]
    days = rng.integers(0, 500, size=len(ids))
    relapses = pd.DataFrame(
        {
            "subject": ids,
            "date": [(pd.Timestamp("2020-01-01") + pd.Timedelta(days=int(d))).date() for d in days],
        }  # fmt: skip
    )
    relapses = relapses.sample(frac=1.0, random_state=1).reset_index(drop=True)
    return visits, relapses


@pytest.mark.parametrize("ids", list(ID_SETS))
@pytest.mark.parametrize("dictionary", [True, False])
@pytest.mark.parametrize("row_group_size", [5, 1000])
def test_relapse_ids_from_parquet_as_from_dataframes(tmp_path, ids, dictionary, row_group_size):
    rng = np.random.default_rng(7)
    names = ID_SETS[ids]
    visits, relapses = _tables(names, rng)
    if ids == "varied width":
        assert names[0][:-1] == ""  # "a" has no prefix: the id "q" stands in for it
    vpath = _write(visits, tmp_path / "v.parquet")
    rpath = _write(relapses, tmp_path / "r.parquet", row_group_size=row_group_size, dictionary=dictionary)  # fmt: skip
    got = read_inputs(vpath, rpath, value_col="edss")
    want = read_inputs(visits, relapses, value_col="edss")
    pd.testing.assert_frame_equal(got.relapses, want.relapses)
    assert got.relapses["subject"].dtype == got.visits["subject"].dtype
    assert got.report.warnings == want.report.warnings
    # worked out by hand: 4 relapse rows of 3 distinct ids not in the visits
    assert "4 relapses for 3 subjects not in the visits table were ignored" in got.report.warnings
    # every known relapse kept, each once per (subject, date)
    stripped = relapses.assign(subject=relapses["subject"].str.strip())
    kept = stripped[stripped["subject"].isin(names)].drop_duplicates()
    assert len(got.relapses) == len(kept)


def test_relapse_ids_with_spaces_are_counted_as_corrected(tmp_path):
    visits = pd.DataFrame({"subject": ["a", "b"], "date": ["2020-01-01"] * 2, "edss": [1.0, 2.0]})
    relapses = pd.DataFrame({"subject": [" a", "b ", "b", "c "], "date": ["2020-02-01"] * 4})
    vpath = _write(visits, tmp_path / "v.parquet")
    rpath = _write(relapses, tmp_path / "r.parquet")
    from smoulder.io.tables import read_relapses, read_visits

    vis, _ = read_visits(vpath, value_col="edss")
    rel, report = read_relapses(rpath, known_subjects=vis["subject"].cat.categories)
    assert report.reasons[STRIPPED_IDS] == 3  # " a", "b " and "c "
    assert report.reasons["duplicate relapse rows merged"] == 1
    assert rel["subject"].tolist() == ["a", "b"]  # "b " and "b" on one day are one relapse
    assert report.warnings == ["1 relapses for 1 subjects not in the visits table were ignored"]


@pytest.mark.parametrize(
    ("ids", "row", "message"),
    [
        (["a", "a", None, "a"], 4, "missing subject id"),
        (["a", "  ", "a", "a"], 3, "empty subject id"),
    ],
)
def test_bad_relapse_ids_name_file_row_and_column(tmp_path, ids, row, message):
    visits = pd.DataFrame({"subject": ["a"], "date": ["2020-01-01"], "edss": [1.0]})
    relapses = pd.DataFrame({"pid": ids, "date": ["2020-02-01"] * 4})
    vpath = _write(visits.rename(columns={"subject": "pid"}), tmp_path / "v.parquet")
    rpath = _write(relapses, tmp_path / "r.parquet")
    with pytest.raises(InputDataError) as err:
        read_inputs(vpath, rpath, value_col="edss", subject_col="pid")
    e = err.value
    assert e.file == str(rpath) and e.row == row and e.column == "pid"
    assert message in str(e)


def _index_in(query: list, known: list) -> list[int]:
    got = pc.index_in(pa.array(query, pa.string()), value_set=pa.array(known, pa.string()))
    return [-1 if x is None else x for x in got.to_pylist()]


@pytest.mark.parametrize(
    ("query", "known"),
    [
        (["b", "a", "zz", "c", "", "a"], ["a", "b", "c"]),  # not there, empty, repeats
        (["abc", "ab", "abcd", "a"], ["ab", "abc"]),  # prefixes and longer ids
        (["a\x00", "a", "b"], ["a", "a\x00", "b"]),  # NUL bytes: matched by hashing
        (["b", "a"], ["b", "a"]),  # known not sorted: matched by hashing
        (["Zoë", "Zoe", "日本"], sorted(["Zoe", "Zoë", "日本", "z"])),
        ([], ["a"]),
        (["a"], []),
    ],
)
def test_sorted_positions_as_index_in(query, known):
    got = sorted_positions(pa.array(query, pa.string()), pa.array(known, pa.string()))
    assert got.tolist() == _index_in(query, known)


def test_sorted_positions_on_sliced_and_large_text():
    known = pa.array(["x", "a", "b", "c", "d"], pa.string()).slice(1)  # an offset into buffers
    query = pa.array(["q", "d", "a", "zz"], pa.large_string()).slice(1, 3)
    got = sorted_positions(query, known)
    assert got.tolist() == [3, 0, -1]
