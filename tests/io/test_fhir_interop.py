"""FHIR from EHRs and phones (issue 14): the LOINC codes read, the docs' mapping, the store's import."""

from __future__ import annotations

import copy
import json
import re
from pathlib import Path

import pandas as pd
import pytest

from smoulder.io.fhir import read_fhir
from smoulder.schema.catalogue import MEASURES

UCUM = "http://unitsofmeasure.org"
DOCS = Path(__file__).resolve().parents[2] / "docs" / "fhir.md"


def obs(code, value, when, system="http://loinc.org", **extra):
    r = {
        "resourceType": "Observation",
        "status": "final",
        "code": {"coding": [{"system": system, "code": code}]},
        "subject": {"reference": "Patient/p1"},
        "effectiveDateTime": when,
        "valueQuantity": value,
    }
    r.update(extra)
    return r


def bundle(*resources):
    return {
        "resourceType": "Bundle",
        "type": "collection",
        "entry": [{"resource": r} for r in resources],
    }


def q(value, code):
    return {"value": value, "system": UCUM, "code": code}


# (LOINC code, records of one day as (local time, value, UCUM code), measure, daily value by hand)
CASES = [
    ("41950-7", [("12:00", 8123, "/d")], "steps", 8123.0),
    # HL7 mHealth step counts over parts of a day add up: 4400 + 3000
    ("55423-8", [("09:00", 4400, "{steps}"), ("14:00", 3000, "{steps}")], "steps", 7400.0),
    # 3.6 km/h = 1 m/s
    ("41957-2", [("12:00", 3.6, "km/h")], "walking_speed", 1.0),
    # 1.5 mi = 1.5 * 1609.344 m
    ("41953-1", [("12:00", 1.5, "[mi_i]")], "walking_distance", 2414.016),
    # pedometer distances of one day add up: 1.2 km + 800 m
    ("55430-3", [("09:00", 1.2, "km"), ("18:00", 800, "m")], "walking_distance", 2000.0),
    # 432 min = 7.2 h
    ("93832-4", [("07:00", 432, "min")], "sleep_hours", 7.2),
    ("8867-4", [("08:00", 64, "/min")], "heart_rate", 64.0),
    # 154 lb = 154 * 0.45359237 kg
    ("29463-7", [("08:00", 154, "[lb_av]")], "body_weight", 69.85322498),
]


def test_the_cases_cover_every_loinc_code_of_the_catalogue():
    codes = {c for m in MEASURES.values() for c in ((m.loinc,) if m.loinc else ()) + m.loinc_also}
    assert {c for c, *_ in CASES} == codes


@pytest.mark.parametrize("code, records, measure, expected", CASES, ids=[c[0] for c in CASES])
def test_each_loinc_code_of_the_catalogue_is_read_as_its_measure(code, records, measure, expected):
    b = bundle(*(obs(code, q(v, u), f"2022-06-01T{t}:00+02:00") for t, v, u in records))
    df, report = read_fhir(b)
    assert df[["measure", "unit"]].values.tolist() == [[measure, MEASURES[measure].unit]]
    assert str(df["date"].iloc[0].date()) == "2022-06-01"
    assert df["value"].iloc[0] == pytest.approx(expected)
    assert report.skipped_codes == []


def _table(heading: str) -> list[list[str]]:
    """Body rows of the first markdown table after ``heading`` in docs/fhir.md."""
    text = DOCS.read_text(encoding="utf-8")
    rest = text[text.index(heading) :]
    block = []
    for line in rest[rest.index("\n|") + 1 :].splitlines():
        if not line.startswith("|"):
            break
        block.append([c.strip() for c in line.strip("|").split("|")])
    assert len(block) > 2, heading
    return block[2:]  # after the header and its rule


def test_the_docs_list_every_mapped_code_and_every_measure_without_one():
    mapped = {row[0]: re.findall(r"`(\w+)`", row[2])[0] for row in _table("## LOINC mapping")}
    expected = {
        c: m.name for m in MEASURES.values() for c in ((m.loinc,) if m.loinc else ()) + m.loinc_also
    }
    assert mapped == expected
    written = {row[0] for row in _table("## LOINC mapping") if row[3].startswith("written")}
    assert written == {m.loinc for m in MEASURES.values() if m.loinc}
    named = {
        name for row in _table("**No standard code.**") for name in re.findall(r"`(\w+)`", row[0])
    }
    assert named == {m.name for m in MEASURES.values() if not m.loinc}


def test_store_import_reads_bulk_data_like_digital_import_and_names_the_file(tmp_path, capsys):
    """``smoulder store-import fhir`` takes NDJSON as ``digital import fhir`` does (issue 14)."""
    from smoulder.cli import main

    steps = [
        obs("41950-7", {"value": v, "system": UCUM, "code": "/d"}, f"2021-03-0{d}")
        for d, v in ((1, 5000), (2, 6200))
    ]
    nd = tmp_path / "Observation.ndjson"
    nd.write_text("".join(json.dumps(r) + "\n" for r in steps))
    db = f"sqlite:///{tmp_path / 'clinic.sqlite'}"
    assert main(["store-import", "fhir", str(nd), "--database", db]) == 0
    assert "Observation.ndjson: 2 rows read, 2 inserted" in capsys.readouterr().out
    out = tmp_path / "measures.csv"
    assert main(["digital", "import", "fhir", str(nd), "--out", str(out), "--quiet"]) == 0
    assert pd.read_csv(out)[["date", "value"]].values.tolist() == [
        ["2021-03-01", 5000.0],
        ["2021-03-02", 6200.0],
    ]
    # the same values as a Bundle are the rows already stored
    as_bundle = tmp_path / "same.json"
    as_bundle.write_text(json.dumps(bundle(*steps)))
    assert main(["store-import", "fhir", str(as_bundle), "--database", db]) == 0
    assert "same.json: 2 rows read, 0 inserted, 0 updated, 2 unchanged" in capsys.readouterr().out
    # errors name the file (and the line, or the JSON path), never '<bundle>'
    bad = copy.deepcopy(steps[1])
    bad["valueQuantity"]["value"] = -5
    nd.write_text(json.dumps(steps[0]) + "\n" + json.dumps(bad) + "\n")
    as_bundle.write_text(json.dumps(bundle(steps[0], bad)))
    for f, where in ((nd, "Observation.ndjson, line 2"), (as_bundle, "same.json, entry[1]")):
        assert main(["store-import", "fhir", str(f), "--database", db]) != 0
        err = capsys.readouterr().err
        assert where in err and "impossible value for steps" in err and "<bundle>" not in err
