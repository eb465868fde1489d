"""Subject ids read from files are numbered per run of equal ids (issue 13, registry scale): the
result must be what sorting and numbering every row's id gives, whatever the file's order, its
row groups and dictionaries, and ids written with spaces around them."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from smoulder.io.tables import read_visits
from smoulder.schema.report import IngestReport


def _expected(ids: list[str]) -> tuple[list[str], np.ndarray]:
    """Categories and codes by a different method: pandas factorize of the stripped ids."""
    codes, uniq = pd.factorize(pd.Series(ids).str.strip(), sort=True)
    return list(uniq), codes


@pytest.mark.parametrize("order", ["sorted", "shuffled", "runs_out_of_order"])
@pytest.mark.parametrize("row_group_size", [7, 1000])
def test_ids_from_parquet_match_sorting_every_row(tmp_path, order, row_group_size):
    rng = np.random.default_rng(5)
    n_sub = 40
    names = [f"P{k:03d}" for k in range(n_sub)]
    visits_per = rng.integers(1, 6, size=n_sub)
    ids = [names[k] for k in range(n_sub) for _ in range(visits_per[k])]
    day = [j for k in range(n_sub) for j in range(visits_per[k])]
    frame = pd.DataFrame({"subject": ids, "day": day})
    if order == "shuffled":
        frame = frame.sample(frac=1.0, random_state=3)
    elif order == "runs_out_of_order":  # each subject together, subjects not sorted
        perm = rng.permutation(n_sub)
        frame = pd.concat([frame[frame.subject == names[k]] for k in perm])
    frame = frame.reset_index(drop=True)
    # a few ids written with spaces: the same subject as without
    frame.loc[frame.index[::9], "subject"] = " " + frame.loc[frame.index[::9], "subject"]
    frame["date"] = (pd.Timestamp("2020-01-01") + pd.to_timedelta(frame["day"] * 30, "D")).dt.date
    frame["edss"] = 2.0
    path = tmp_path / "v.parquet"
    pq.write_table(
        pa.Table.from_pandas(frame[["subject", "date", "edss"]], preserve_index=False),
        path,
        row_group_size=row_group_size,
    )
    visits, report = read_visits(path, value_col="edss")
    cats, _ = _expected(frame["subject"].tolist())
    assert list(visits["subject"].cat.categories) == cats == sorted(names)
    # every subject keeps its own visits: counts per subject as in the file
    got = visits.groupby("subject", observed=True).size()
    want = frame["subject"].str.strip().value_counts().sort_index()
    assert got.to_dict() == want.to_dict()
    assert report.rows_corrected == len(frame.index[::9])


def test_ids_from_text_chunks_with_blank_id_are_refused(tmp_path):
    path = tmp_path / "v.csv"
    path.write_text("subject,date,edss\na,2020-01-01,1\na,2020-06-01,1\n  ,2020-06-01,1\n")
    from smoulder.exceptions import InputDataError

    with pytest.raises(InputDataError) as err:
        read_visits(path, value_col="edss")
    assert err.value.row == 4
    assert "empty subject id" in str(err.value)


def test_runs_cut_by_chunks_are_one_subject():
    from smoulder.io._columns import subjects

    # one subject's rows split over two chunks with different dictionaries
    a = pa.array(["x", "x", "y"]).dictionary_encode()
    b = pa.array(["y", "z"]).dictionary_encode()
    col = pa.chunked_array([a, b])
    cat = subjects(col, np.arange(2, 7), "f", "subject", IngestReport(source="f"))
    assert list(cat.categories) == ["x", "y", "z"]
    assert list(cat.codes) == [0, 0, 1, 1, 2]
