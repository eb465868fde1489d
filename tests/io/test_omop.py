"""OMOP CDM v5.4 in and out: a hand-written extract with real quirks, round trips, bad cells."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

pytest.importorskip("omop_cdm")

sys.path.insert(0, str(Path(__file__).parent))
from omop_fixtures import MEASUREMENT, PERSON, write_extract  # noqa: E402

from smoulder.exceptions import InputDataError  # noqa: E402
from smoulder.io.omop import read_omop  # noqa: E402
from smoulder.io.omop_export import read_smoulder_tables, to_omop  # noqa: E402
from smoulder.io.omop_tables import (  # noqa: E402
    DatabaseSource,
    FolderSource,
    columns,
    write_database,
    write_folder,
)
from smoulder.schema import omop_concepts as C  # noqa: E402


def _d(*days: str) -> list[np.datetime64]:
    return [np.datetime64(d, "s") if d else np.datetime64("NaT", "s") for d in days]


def test_hand_written_extract_reads_into_smoulder_tables(tmp_path: Path) -> None:
    res = read_omop(FolderSource(write_extract(tmp_path / "cdm")))
    v = res.visits
    assert list(v.columns) == ["subject", "date", "edss", "t25fw", "nhpt", "sdmt"]
    assert v["subject"].tolist() == ["101", "101", "101", "102"]
    # 2020-04-02 comes from measurement_datetime, 2020-07-20 from the linked visit
    assert v["date"].tolist() == _d("2020-01-15", "2020-04-02", "2020-07-20", "2021-03-01")
    assert v["edss"].tolist() == [2.0, 2.5, 3.5, 4.0]
    assert v["t25fw"].iloc[0] == pytest.approx(6.0)  # 0.1 minute
    assert v["nhpt"].iloc[0] == 21.5  # concept 0, found by its source value
    assert v["sdmt"].iloc[3] == 48.0 and np.isnan(v["sdmt"].iloc[0])
    r = res.relapses
    assert r["subject"].tolist() == ["101", "102"]
    assert r["date"].tolist() == _d("2020-03-20", "2021-01-10")
    assert r["end_date"].tolist()[0] == np.datetime64("2020-04-05", "s") and pd.isna(
        r["end_date"].iloc[1]
    )
    t = res.treatments
    assert t["drug"].tolist() == ["natalizumab", "ocrelizumab"]  # CONCEPT_ANCESTOR; brand name
    assert pd.isna(t["stop_date"].iloc[0])  # verbatim_end_date empty: ongoing
    assert t["stop_date"].iloc[1] == np.datetime64("2021-09-30", "s")
    m = res.mri
    assert m["active"].tolist() == [True, False]
    assert m["new_or_enlarging_t2"].tolist()[0] == 2 and pd.isna(m["new_or_enlarging_t2"].iloc[1])
    assert res.people["sex"].tolist() == ["f", "m"]  # 8532.0 read as 8532
    assert res.people["birth_year"].tolist() == [1980, 1975]
    reasons = res.report.reasons
    assert reasons["drug exposures that are not MS disease-modifying therapies left out"] == 1
    assert reasons["MRI scans without an activity finding left out"] == 1
    assert any(
        k.startswith("measurement rows of other concepts") and "3004249" in k for k in reasons
    )


def test_subject_from_person_source_value(tmp_path: Path) -> None:
    res = read_omop(
        FolderSource(write_extract(tmp_path / "cdm")), subject_from="person_source_value"
    )
    assert res.visits["subject"].unique().tolist() == ["MS-0007", "MS-0012"]


def test_imported_tables_run_through_progression(tmp_path: Path) -> None:
    from smoulder.cli import main

    out = tmp_path / "tables"
    assert (
        main(["import", "omop", str(write_extract(tmp_path / "cdm")), "--out", str(out), "--quiet"])
        == 0
    )
    ev = tmp_path / "ev" / "events.csv"
    args = [
        "progression",
        str(out / "visits.csv"),
        "--relapses",
        str(out / "relapses.csv"),
        "--relapse-end-col",
        "end_date",
        "--mri-activity",
        str(out / "mri.csv"),
        "--out",
        str(ev),
        "--no-plots",
        "--quiet",
    ]
    assert main(args) == 0
    summary = pd.read_csv(tmp_path / "ev" / "events_summary.csv")
    assert summary["n_visits"].tolist() == [3, 1]
    # T25FW is recorded at one visit only: progression needs --on-missing drop for it
    assert (
        main(
            [
                *args[:2],
                "--outcome",
                "t25fw",
                "--on-missing",
                "drop",
                "--out",
                str(ev),
                "--no-plots",
                "--quiet",
            ]
        )
        == 0
    )


def _smoulder_tables() -> dict[str, pd.DataFrame]:
    visits = pd.DataFrame(
        {
            "subject": ["a7", "a7", "a7", "b2"],
            "date": pd.to_datetime(["2019-05-01", "2019-11-03", "2020-06-30", "2021-01-02"]).astype(
                "datetime64[s]"
            ),
            "edss": [1.5, 2.0, np.nan, 6.5],
            "t25fw": [5.25, np.nan, 6.0, 12.4],
            "nhpt": [19.0, np.nan, np.nan, np.nan],
            "sdmt": [55.0, 54.0, 51.0, np.nan],
        }
    )
    relapses = pd.DataFrame(
        {"subject": ["a7"], "date": _d("2019-09-10"), "end_date": _d("2019-10-01")}
    )
    treatments = pd.DataFrame(
        {
            "subject": ["a7", "b2"],
            "drug": ["dimethyl fumarate", "siponimod"],
            "start_date": _d("2019-06-01", "2020-02-02"),
            "stop_date": _d("2020-06-01", ""),
        }
    )
    mri = pd.DataFrame(
        {
            "subject": ["a7", "a7", "b2"],
            "date": _d("2019-09-20", "2020-09-20", "2021-01-05"),
            "active": [True, False, False],
            "new_or_enlarging_t2": pd.array([1, 0, None], dtype="Int64"),
            "gd_enhancing": pd.array([1, 0, 0], dtype="Int64"),
        }
    )
    people = pd.DataFrame(
        {
            "subject": ["a7", "b2"],
            "sex": pd.array(["f", None], dtype="string"),
            "birth_year": pd.array([1988, 1969], dtype="Int64"),
        }
    )
    return {
        "visits": visits,
        "relapses": relapses,
        "treatments": treatments,
        "mri": mri,
        "people": people,
    }


def _write_inputs(folder: Path, tables: dict[str, pd.DataFrame]) -> dict[str, Path]:
    from smoulder.io.tables import write_table

    folder.mkdir(parents=True, exist_ok=True)
    paths = {}
    for k, df in tables.items():
        paths[k] = folder / f"{k}.csv"
        write_table(df, paths[k])
    return paths


def _same(a: pd.DataFrame, b: pd.DataFrame) -> None:
    assert list(a.columns) == list(b.columns)
    for c in a.columns:
        x, y = a[c], b[c]
        if pd.api.types.is_datetime64_any_dtype(x):
            assert x.astype("datetime64[s]").tolist() == y.astype("datetime64[s]").tolist(), c
        elif pd.api.types.is_float_dtype(x):
            np.testing.assert_array_equal(x.to_numpy(float), y.to_numpy(float), err_msg=c)
        else:
            assert [None if pd.isna(v) else v for v in x] == [
                None if pd.isna(v) else v for v in y
            ], c


@pytest.mark.parametrize("fmt", ["csv", "tsv", "parquet"])
def test_round_trip_smoulder_omop_smoulder_is_identical(tmp_path: Path, fmt: str) -> None:
    original = _smoulder_tables()
    paths = _write_inputs(tmp_path / "in", original)
    tables, _ = read_smoulder_tables(
        paths["visits"],
        relapses=paths["relapses"],
        treatments=paths["treatments"],
        mri=paths["mri"],
        people=paths["people"],
    )
    cdm, warnings = to_omop(tables)
    assert warnings == [] or all("drug_concept_id 0" in w for w in warnings)  # siponimod
    write_folder(cdm, tmp_path / "cdm", fmt)
    back = read_omop(FolderSource(tmp_path / "cdm"), subject_from="person_source_value")
    for k, df in original.items():
        _same(back.tables()[k], df)


def test_round_trip_through_sqlite(tmp_path: Path) -> None:
    original = _smoulder_tables()
    paths = _write_inputs(tmp_path / "in", original)
    tables, _ = read_smoulder_tables(
        paths["visits"],
        relapses=paths["relapses"],
        treatments=paths["treatments"],
        mri=paths["mri"],
        people=paths["people"],
    )
    cdm, _ = to_omop(tables)
    url = f"sqlite:///{tmp_path / 'cdm.db'}"
    counts = write_database(cdm, url)
    # outcome values (EDSS 3, T25FW 3, 9HPT 1, SDMT 3) + MRI activity (3) + lesion counts (2 + 3)
    assert counts["measurement"] == 10 + 3 + 5
    back = read_omop(DatabaseSource(url), subject_from="person_source_value")
    for k, df in original.items():
        _same(back.tables()[k], df)
    with pytest.raises(InputDataError, match="already holds 2 rows"):
        write_database(cdm, url)


def test_export_has_every_cdm54_column_in_order_and_the_required_ones_filled(
    tmp_path: Path,
) -> None:
    paths = _write_inputs(tmp_path / "in", _smoulder_tables())
    tables, _ = read_smoulder_tables(
        paths["visits"],
        relapses=paths["relapses"],
        treatments=paths["treatments"],
        mri=paths["mri"],
        people=paths["people"],
    )
    cdm, _ = to_omop(tables)
    for name, df in cdm.items():
        cols = columns(name)
        assert list(df.columns) == [c.name for c in cols]
        for c in cols:
            if c.required:
                assert df[c.name].notna().all(), (name, c.name)
    m = cdm["measurement"]
    t25 = m[m["measurement_concept_id"] == C.concept_id("t25fw")]
    assert set(t25["unit_concept_id"]) == {8555}
    # integer subject ids become person_id; others are numbered in sorted order
    assert cdm["person"]["person_id"].tolist() == [1, 2]
    assert cdm["person"]["person_source_value"].tolist() == ["a7", "b2"]
    d = cdm["drug_exposure"]
    assert d["drug_concept_id"].tolist() == [C.concept_id("dimethyl fumarate"), 0]
    assert d["drug_exposure_end_date"].iloc[1] == d["drug_exposure_start_date"].iloc[1]
    assert pd.isna(d["verbatim_end_date"].iloc[1])


def test_concepts_file_adds_site_concept_ids(tmp_path: Path) -> None:
    # a site's own EDSS concept, with a source value smoulder does not know
    text = MEASUREMENT.replace("\t2070000001\t", "\t3000123\t").replace("\tEDSS\t", "\tKurtzke\t")
    text = text.replace("\tedss\t", "\tKurtzke\t")
    folder = write_extract(tmp_path / "cdm", **{"MEASUREMENT.csv": text})
    plain = read_omop(FolderSource(folder))
    assert "edss" not in plain.visits.columns
    assert any("3000123 (4)" in k for k in plain.report.reasons)
    res = read_omop(FolderSource(folder), concepts={"edss": [3000123]})
    assert res.visits["edss"].tolist() == [2.0, 2.5, 3.5, 4.0]


@pytest.mark.parametrize(
    ("file", "old", "new", "message"),
    [
        (
            "MEASUREMENT.csv",
            "2020-01-15\t\t32817\t2.0",
            "2020-13-15\t\t32817\t2.0",
            r"MEASUREMENT\.csv, row 2, column 'measurement_date': not a date",
        ),
        (
            "MEASUREMENT.csv",
            "0.1\t\t8550",
            "0.1\t\t8582",
            r"row 5, column 'unit_concept_id': unknown unit for the T25FW time .*8555 \(second\) or 8550",
        ),
        (
            "MEASUREMENT.csv",
            "\t2.5\t",
            "\t2.7\t",
            r"row 3, column 'value_as_number': EDSS must be between 0 and 10 on the 0.5 grid",
        ),
        (
            "MEASUREMENT.csv",
            "8\t102\t2070000001",
            "8\t999\t2070000001",
            r"row 9, column 'person_id': person_id not in the PERSON table",
        ),
        (
            "PERSON.csv",
            "8507\t1975",
            "male\t1975",
            r"PERSON\.csv, row 3, column 'gender_concept_id': not a whole number",
        ),
    ],
)
def test_bad_cells_name_file_row_column_and_form(
    tmp_path: Path, file: str, old: str, new: str, message: str
) -> None:
    src = {"MEASUREMENT.csv": MEASUREMENT, "PERSON.csv": PERSON}[file]
    assert old in src
    folder = write_extract(tmp_path / "cdm", **{file: src.replace(old, new, 1)})
    with pytest.raises(InputDataError, match=message):
        read_omop(FolderSource(folder))


def test_missing_person_table_is_named(tmp_path: Path) -> None:
    folder = write_extract(tmp_path / "cdm", **{"PERSON.csv": ""})
    with pytest.raises(InputDataError, match="no PERSON table.*person.csv"):
        read_omop(FolderSource(folder))


def test_missing_value_refused_or_dropped_and_counted(tmp_path: Path) -> None:
    folder = write_extract(
        tmp_path / "cdm", **{"MEASUREMENT.csv": MEASUREMENT.replace("\t3.5\t", "\t\t")}
    )
    with pytest.raises(
        InputDataError,
        match="row 4, column 'value_as_number': EDSS measurement without a value.*--on-missing drop",
    ):
        read_omop(FolderSource(folder))
    res = read_omop(FolderSource(folder), on_missing="drop")
    assert len(res.visits) == 3
    assert res.report.reasons["measurements without a value left out (--on-missing drop)"] == 1


def test_drugs_resolved_by_concept_names_of_the_extract(tmp_path: Path) -> None:
    concept = "concept_id\tconcept_name\tdomain_id\tvocabulary_id\tconcept_class_id\tstandard_concept\tconcept_code\n40000002\tfingolimod 0.5 MG Oral Capsule [Gilenya]\tDrug\tRxNorm\tBranded Drug\tS\t1012896\n"
    drug = "drug_exposure_id,person_id,drug_concept_id,drug_exposure_start_date,drug_exposure_end_date,drug_type_concept_id\n1,101,40000002,2020-02-01,2020-03-01,32817\n"
    folder = write_extract(
        tmp_path / "cdm",
        **{"CONCEPT.csv": concept, "DRUG_EXPOSURE.csv": drug, "CONCEPT_ANCESTOR.csv": ""},
    )
    res = read_omop(FolderSource(folder))
    assert res.treatments["drug"].tolist() == ["fingolimod"]
    # no verbatim_end_date column: drug_exposure_end_date is the stop
    assert res.treatments["stop_date"].tolist() == _d("2020-03-01")


def test_local_concepts_are_in_the_reserved_range_and_unique() -> None:
    ids = [c.concept_id for c in C.ALL if c.concept_id is not None]
    assert len(ids) == len(set(ids))
    assert all(c.concept_id >= 2_000_000_000 for c in C.LOCAL)
    assert all(not c.local for c in C.STANDARD + C.DRUGS)
    from smoulder.schema.treatments import treatment_names

    assert set(treatment_names()) == {c.key for c in C.DRUGS} | set(C.NOT_DRUGS)


def test_future_dates_follow_the_one_date_rule(tmp_path: Path) -> None:
    import datetime as dt

    from smoulder.schema.dates import DateRule

    folder = write_extract(tmp_path / "cdm")
    rule = DateRule("drop", today=dt.date(2020, 5, 1))  # 2020-07-20 and 2021 lie "after today"
    res = read_omop(FolderSource(folder), future_dates=rule)
    assert res.visits["date"].tolist() == _d("2020-01-15", "2020-04-02")
    # EDSS of 2020-07-20 (date from its visit), SDMT and EDSS of 2021-03-01, MRI of 2021-02-20
    assert res.report.reasons["measurements dated after today left out (--future-dates drop)"] == 4
    with pytest.raises(InputDataError, match=r"row 4, column 'measurement_date': date after today"):
        read_omop(FolderSource(folder), future_dates=DateRule("refuse", today=dt.date(2020, 5, 1)))


def test_two_different_values_on_one_day(tmp_path: Path) -> None:
    extra = "12\t101\t2070000001\t2020-01-15\t\t32817\t3.0\t\t\t1\tEDSS\t\n"
    folder = write_extract(tmp_path / "cdm", **{"MEASUREMENT.csv": MEASUREMENT + extra})
    with pytest.raises(
        InputDataError, match=r"two different EDSS values on one day \(2 in row 2, 3 in row 13\)"
    ):
        read_omop(FolderSource(folder))
    res = read_omop(FolderSource(folder), on_duplicate="max")
    assert res.visits["edss"].iloc[0] == 3.0
