"""REDCap flat exports through a mapping: raw and label exports, checks, round trip via OMOP."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

sys.path.insert(0, str(Path(__file__).parent))
from redcap_fixtures import LABELS, MAPPING, RAW, write_project  # noqa: E402

from smoulder.exceptions import InputDataError  # noqa: E402
from smoulder.io.redcap import read_dictionary, read_mapping, read_redcap  # noqa: E402


def _read(tmp_path: Path, **kw: str):  # noqa: ANN202
    export, dictionary, mapping = write_project(tmp_path, **kw)
    d = read_dictionary(dictionary)
    return read_redcap(export, d, read_mapping(mapping, d))


def _d(*days: str) -> list:
    return [np.datetime64(x, "s") if x else np.datetime64("NaT", "s") for x in days]


def _check_tables(res) -> None:  # noqa: ANN001
    v = res.visits
    assert list(v.columns) == ["subject", "date", "edss", "t25fw", "sdmt"]
    assert v["subject"].tolist() == ["1", "1", "2"]
    assert v["date"].tolist() == _d("2020-01-15", "2020-07-20", "2021-03-01")
    assert v["edss"].tolist() == [2.0, 3.0, 4.0]  # dropdown codes 3, 5, 7 -> their labels
    assert v["t25fw"].tolist()[:2] == [6.1, 7.0] and np.isnan(v["t25fw"].iloc[2])
    assert v["sdmt"].tolist() == [50.0, 48.0, 44.0]
    assert res.relapses["date"].tolist() == _d("2020-03-20")
    assert res.relapses["end_date"].tolist() == _d("2020-04-05")
    t = res.treatments
    assert t["drug"].tolist() == ["ocrelizumab", "dimethyl fumarate"]  # brand labels, canonical
    assert t["start_date"].tolist() == _d("2020-02-01", "2021-03-15")
    assert pd.isna(t["stop_date"].iloc[0]) and t["stop_date"].iloc[1] == np.datetime64("2021-09-30")
    m = res.mri
    assert m["active"].tolist() == [True, False]
    assert m["new_or_enlarging_t2"].tolist() == [2, 0]
    assert res.people["sex"].tolist() == ["f", "m"]
    assert res.people["birth_year"].tolist() == [1980, 1975]


def test_raw_export_with_events_repeats_checkboxes_and_dmy_mdy_dates(tmp_path: Path) -> None:
    _check_tables(_read(tmp_path, export=RAW))


def test_label_export_gives_the_same_tables(tmp_path: Path) -> None:
    _check_tables(_read(tmp_path, export=LABELS))


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        (
            'edss = "edss"',
            'edss = "edds"',
            r"\[visits\] edss = 'edds' is not a field of the dictionary; did you mean 'edss'",
        ),
        (
            'date = "visit_date"',
            'date = "notes"',
            r"\[visits\] date = 'notes' is a notes field, not a date",
        ),
        (
            '"3" = false',
            '"4" = false',
            r"\[mri\] active_choices: '4' is not a choice of mri_findings; expected codes of mri_findings: 1 \(New or enlarging T2 lesion\)",
        ),
        (
            'sdmt = "sdmt"',
            'sdmt = "sex"',
            r"\[visits\] sdmt = 'sex' is a radio whose labels are not numbers",
        ),
        ('start = "dmt_start"\n', "", r"\[treatments\] has no 'start' field"),
        ("[people]", "[persons]", r"unknown section \[persons\]"),
    ],
)
def test_mapping_is_checked_against_the_dictionary(
    tmp_path: Path, old: str, new: str, message: str
) -> None:
    assert old in MAPPING
    with pytest.raises(InputDataError, match=message):
        _read(tmp_path, mapping=MAPPING.replace(old, new, 1))


def test_date_in_another_form_names_row_column_and_expected_form(tmp_path: Path) -> None:
    bad = RAW.replace("15-01-2020", "2020/15/01")
    with pytest.raises(
        InputDataError,
        match=r"export\.csv, row 2, column 'visit_date': not a date of date_dmy \(got '2020/15/01'\); expected YYYY-MM-DD \(as REDCap exports\) or DD-MM-YYYY",
    ):
        _read(tmp_path, export=bad)


def test_choice_not_in_dictionary_is_refused(tmp_path: Path) -> None:
    bad = RAW.replace("15-01-2020,3,", "15-01-2020,9,")
    with pytest.raises(
        InputDataError,
        match=r"row 2, column 'edss': not a choice of edss \(got '9'\); expected one of 0 \(0\), 1 \(1.0\)",
    ):
        _read(tmp_path, export=bad)


def test_edss_off_the_grid_is_refused_with_its_row(tmp_path: Path) -> None:
    dictionary = read_dictionary(write_project(tmp_path)[1])
    assert dictionary.fields["edss"].choices["3"] == "2.0"
    bad = MAPPING.replace("sex_choices", "sex_choices").replace(
        '[visits]\ndate = "visit_date"\nedss = "edss"',
        '[visits]\ndate = "visit_date"\nedss = "edss"\nedss_choices = { "3" = 2.2 }',
    )
    with pytest.raises(
        InputDataError, match=r"row 2, column 'edss': EDSS must be between 0 and 10 on the 0.5 grid"
    ):
        _read(tmp_path, mapping=bad)


def test_export_of_another_project_is_refused(tmp_path: Path) -> None:
    with pytest.raises(
        InputDataError,
        match="neither the record id field 'record_id' nor its label 'Record ID' is a column",
    ):
        _read(tmp_path, export="id,visit\n1,2020-01-01\n")


def test_redcap_to_omop_and_back_is_identical(tmp_path: Path) -> None:
    pytest.importorskip("omop_cdm")
    from smoulder.io.omop import read_omop
    from smoulder.io.omop_export import to_omop
    from smoulder.io.omop_tables import FolderSource, write_folder

    res = _read(tmp_path)
    tables = {k: v for k, v in res.tables().items() if len(v)}
    cdm, _ = to_omop(tables)
    write_folder(cdm, tmp_path / "cdm", "csv")
    back = read_omop(FolderSource(tmp_path / "cdm"))
    for k, df in tables.items():
        got = back.tables()[k]
        assert list(got.columns) == list(df.columns), k
        pd.testing.assert_frame_equal(
            got.reset_index(drop=True).astype(object),
            df.reset_index(drop=True).astype(object),
            check_dtype=False,
        )


def test_future_dates_follow_the_one_date_rule(tmp_path: Path) -> None:
    import datetime as dt

    from smoulder.schema.dates import DateRule

    export, dictionary, mapping = write_project(tmp_path)
    d = read_dictionary(dictionary)
    m = read_mapping(mapping, d)
    rule = DateRule("drop", today=dt.date(2020, 12, 31))  # the 2021 visit and MRI lie ahead
    res = read_redcap(export, d, m, future_dates=rule)
    assert res.visits["date"].tolist() == _d("2020-01-15", "2020-07-20")
    assert res.mri["date"].tolist() == _d("2020-04-10")
    assert res.report.reasons["visits dated after today left out (--future-dates drop)"] == 1
    with pytest.raises(InputDataError, match=r"row 8, column 'visit_date': date after today"):
        read_redcap(export, d, m, future_dates=DateRule("refuse", today=dt.date(2020, 12, 31)))
