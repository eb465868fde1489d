"""``smoulder import omop|redcap`` and ``smoulder export omop|omop-concepts`` as a user runs them."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

sys.path.insert(0, str(Path(__file__).parents[1] / "io"))
from omop_fixtures import MEASUREMENT, write_extract  # noqa: E402
from redcap_fixtures import write_project  # noqa: E402

from smoulder.cli import main  # noqa: E402

pytest.importorskip("omop_cdm")
ROOT = Path(__file__).parents[2]


def test_help_answers_without_pandas() -> None:
    # the interop commands alone (other command modules are not this test's concern)
    code = (
        "import argparse, sys; from smoulder.cli import interop\n"
        "p = argparse.ArgumentParser(); interop.register(p.add_subparsers(dest='command'))\n"
        "for a in (['import', 'omop', '--help'], ['export', 'omop', '--help'], ['import', 'redcap', '--help']):\n"
        "    try: p.parse_args(a)\n"
        "    except SystemExit: pass\n"
        "bad = [m for m in ('pandas', 'numpy', 'sqlalchemy', 'omop_cdm', 'pyarrow') if m in sys.modules]\n"
        "print(bad); sys.exit(1 if bad else 0)"
    )
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stdout + r.stderr


def test_import_export_import_on_the_command_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cdm = write_extract(tmp_path / "cdm")
    t1 = tmp_path / "t1"
    assert main(["import", "omop", str(cdm), "--out", str(t1)]) == 0
    out = capsys.readouterr().out
    assert "4 visits, 2 relapses, 2 treatments, 2 mri, 2 people" in out
    assert sorted(p.name for p in t1.iterdir()) == [
        "import_report.json",
        "mri.csv",
        "people.csv",
        "relapses.csv",
        "treatments.csv",
        "visits.csv",
    ]
    e = tmp_path / "e"
    args = [
        "export",
        "omop",
        str(t1 / "visits.csv"),
        "--relapses",
        str(t1 / "relapses.csv"),
        "--treatments",
        str(t1 / "treatments.csv"),
        "--mri",
        str(t1 / "mri.csv"),
        "--people",
        str(t1 / "people.csv"),
        "--out",
        str(e),
        "--format",
        "tsv",
    ]
    assert main(args) == 0
    assert (
        (e / "measurement.tsv")
        .read_text()
        .split("\n", 1)[0]
        .startswith("measurement_id\tperson_id\tmeasurement_concept_id")
    )
    t2 = tmp_path / "t2"
    assert main(["import", "omop", str(e), "--out", str(t2), "--quiet"]) == 0
    for name in ("visits", "relapses", "treatments", "mri", "people"):
        assert (t1 / f"{name}.csv").read_bytes() == (t2 / f"{name}.csv").read_bytes(), name


def test_bad_cell_is_one_line_and_nothing_is_written(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cdm = write_extract(
        tmp_path / "cdm", **{"MEASUREMENT.csv": MEASUREMENT.replace("\t21.5\t", "\t21,5\t")}
    )
    out = tmp_path / "out"
    assert main(["import", "omop", str(cdm), "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0
    assert (
        "smoulder import omop: error:" in err
        and "MEASUREMENT.csv, row 6, column 'value_as_number': not a number (got '21,5')" in err
    )
    assert not out.exists()


def test_folder_and_database_are_exclusive(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["import", "omop", "--out", str(tmp_path / "o")]) == 2
    assert "give a CDM folder or --database URL" in capsys.readouterr().err


def test_export_to_sqlite_and_import_back(tmp_path: Path) -> None:
    t1 = tmp_path / "t1"
    assert (
        main(
            [
                "import",
                "omop",
                str(write_extract(tmp_path / "cdm")),
                "--out",
                str(t1),
                "--quiet",
                "--subject-from",
                "person_source_value",
            ]
        )
        == 0
    )
    url = f"sqlite:///{tmp_path / 'cdm.db'}"
    args = [
        "export",
        "omop",
        str(t1 / "visits.csv"),
        "--relapses",
        str(t1 / "relapses.csv"),
        "--people",
        str(t1 / "people.csv"),
        "--database",
        url,
        "--quiet",
    ]
    assert main(args) == 0
    t2 = tmp_path / "t2"
    assert (
        main(
            [
                "import",
                "omop",
                "--database",
                url,
                "--out",
                str(t2),
                "--quiet",
                "--subject-from",
                "person_source_value",
            ]
        )
        == 0
    )
    assert (t1 / "visits.csv").read_bytes() == (t2 / "visits.csv").read_bytes()
    assert pd.read_csv(t2 / "visits.csv")["subject"].tolist()[0] == "MS-0007"


def test_export_to_database_needs_birth_years(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    v = tmp_path / "v.csv"
    v.write_text("subject,date,edss\np1,2020-01-01,2.0\n")
    assert main(["export", "omop", str(v), "--database", f"sqlite:///{tmp_path / 'x.db'}"]) == 2
    assert "year_of_birth is required" in capsys.readouterr().err


def test_redcap_check_and_import(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    export, dictionary, mapping = write_project(tmp_path / "rc")
    assert (
        main(
            [
                "import",
                "redcap",
                str(export),
                "--dictionary",
                str(dictionary),
                "--mapping",
                str(mapping),
                "--check",
            ]
        )
        == 0
    )
    assert "the mapping fits the dictionary (16 fields)" in capsys.readouterr().out
    out = tmp_path / "t"
    assert (
        main(
            [
                "import",
                "redcap",
                str(export),
                "--dictionary",
                str(dictionary),
                "--mapping",
                str(mapping),
                "--out",
                str(out),
                "--format",
                "parquet",
                "--quiet",
            ]
        )
        == 0
    )
    v = pd.read_parquet(out / "visits.parquet")
    assert v["edss"].tolist() == [2.0, 3.0, 4.0]
    mapping.write_text(mapping.read_text().replace('"edss"', '"edsss"', 1))
    assert (
        main(
            [
                "import",
                "redcap",
                str(export),
                "--dictionary",
                str(dictionary),
                "--mapping",
                str(mapping),
                "--check",
            ]
        )
        == 2
    )
    assert "did you mean 'edss'" in capsys.readouterr().err


def test_concepts_table_and_vocabulary_check(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["export", "omop-concepts"]) == 0
    text = capsys.readouterr().out
    assert "edss,2070000001," in text and "natalizumab,735843," in text
    # a hand-written Athena-style CONCEPT.csv (tab-separated, a quote that is not a CSV quote)
    # in which natalizumab has another id: the check says so and exits 2
    vocab = tmp_path / "vocab"
    vocab.mkdir()
    rows = [
        "concept_id\tconcept_name\tdomain_id\tvocabulary_id\tconcept_class_id\tstandard_concept\tconcept_code\tvalid_start_date\tvalid_end_date\tinvalid_reason"
    ]
    rows.append("9999999\tnatalizumab\tDrug\tRxNorm\tIngredient\tS\t354770\t19700101\t20991231\t")
    rows.append("1314273\trituximab\tDrug\tRxNorm\tIngredient\tS\t121191\t19700101\t20991231\t")
    rows.append("9202\tOutpatient Visit\tVisit\tVisit\tVisit\tS\tOP\t19700101\t20991231\t")
    rows.append(
        "4188539\tYes\tMeas Value\tSNOMED\tQualifier Value\tS\t373066001\t19700101\t20991231\t"
    )
    rows.append('123\t5" ruler\tDevice\tSNOMED\tPhysical Object\tS\t1\t19700101\t20991231\t')
    (vocab / "CONCEPT.csv").write_text("\n".join(rows) + "\n")
    assert (
        main(
            [
                "export",
                "omop-concepts",
                "--vocabulary",
                str(vocab),
                "--out",
                str(tmp_path / "c.csv"),
            ]
        )
        == 2
    )
    err = capsys.readouterr().err
    assert "mismatch: natalizumab: smoulder has 735843, the vocabulary 9999999" in err
    assert "rituximab" not in err and "outpatient_visit" not in err
    checked = pd.read_csv(tmp_path / "c.csv").set_index("key")["vocabulary_check"]
    assert checked["rituximab"] == "ok" and checked["edss"] == "local"


@pytest.mark.slow
def test_r_example_reproduces_the_msprog_vignette_table(tmp_path: Path) -> None:
    rscript = shutil.which("Rscript")
    lib = ROOT / "benchmarks" / ".rlib"
    if rscript is None or not (lib / "msprog").is_dir():
        pytest.skip(
            "needs Rscript and msprog in benchmarks/.rlib (bash benchmarks/setup_r_peers.sh)"
        )
    smoulder = Path(sys.executable).parent / "smoulder"
    env = {
        **os.environ,
        "R_LIBS_USER": str(lib),
        "SMOULDER": str(smoulder),
        "NUMBA_NUM_THREADS": "1",
    }
    r = subprocess.run(
        [rscript, str(ROOT / "docs" / "examples" / "msprog_vignette.R")],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
        cwd=tmp_path,
    )
    assert r.returncode == 0, r.stdout + r.stderr
    assert "identical to msprog's results table: TRUE" in r.stdout
    assert "7  7      1        CDW      779      372        372       407      TRUE" in r.stdout


def test_export_takes_drug_ids_from_the_vocabulary(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    v = tmp_path / "v.csv"
    v.write_text("subject,date,edss\n1,2021-01-01,2.0\n")
    t = tmp_path / "t.csv"
    t.write_text("subject,drug,start_date,stop_date\n1,Ocrevus,2021-02-01,\n")
    vocab = tmp_path / "vocab"
    vocab.mkdir()
    (vocab / "CONCEPT.csv").write_text(
        "concept_id\tconcept_name\tdomain_id\tvocabulary_id\tconcept_class_id\tstandard_concept\tconcept_code\n"
        "35603563\tocrelizumab\tDrug\tRxNorm\tIngredient\tS\t1876366\n"
        "1\tocrelizumab 30 MG/ML Injectable Solution\tDrug\tRxNorm\tClinical Drug\t\t1876371\n"
    )
    out = tmp_path / "cdm"
    assert main(["export", "omop", str(v), "--treatments", str(t), "--out", str(out)]) == 0
    assert "drug_concept_id 0" in capsys.readouterr().err  # not known without a vocabulary
    out2 = tmp_path / "cdm2"
    assert (
        main(
            [
                "export",
                "omop",
                str(v),
                "--treatments",
                str(t),
                "--vocabulary",
                str(vocab),
                "--out",
                str(out2),
                "--quiet",
            ]
        )
        == 0
    )
    d = pd.read_csv(out2 / "drug_exposure.csv")
    assert d["drug_concept_id"].tolist() == [35603563]
    assert d["drug_source_value"].tolist() == ["Ocrevus"]
