"""FHIR R4 bundles in and out, with errors naming the JSON path."""

from __future__ import annotations

import copy
import json

import numpy as np
import pandas as pd
import pytest

from smoulder.exceptions import InputDataError
from smoulder.io.fhir import (
    events_to_bundle,
    measures_to_bundle,
    read_events_bundle,
    read_fhir,
    write_bundle,
)

UCUM = "http://unitsofmeasure.org"


def obs(code, value, date="2021-03-01", system="http://loinc.org", subject="Patient/p1", **extra):
    r = {
        "resourceType": "Observation",
        "status": "final",
        "code": {"coding": [{"system": system, "code": code}]},
        "subject": {"reference": subject},
        "effectiveDateTime": date,
    }
    if value is not None:
        r["valueQuantity"] = value
    r.update(extra)
    return r


def bundle(*resources):
    return {
        "resourceType": "Bundle",
        "type": "collection",
        "entry": [{"resource": r} for r in resources],
    }


SMOULDER = "https://smoulder.dev/fhir/measure"
GOOD = bundle(
    # 23:30 at -05:00 stays 1 March (the date of its own offset)
    obs(
        "41950-7",
        {"value": 5234, "unit": "steps/day", "system": UCUM, "code": "/d"},
        "2021-03-01T23:30:00-05:00",
    ),
    # 3.6 km/h = 1.0 m/s
    obs(
        "walking_speed",
        {"value": 3.6, "unit": "km/h", "system": UCUM, "code": "km/h"},
        system=SMOULDER,
    ),
    obs(
        "two_minute_walk",
        {"value": 131.5, "unit": "m", "system": UCUM, "code": "m"},
        system=SMOULDER,
        effectiveDateTime=None,
    ),
    {
        "resourceType": "QuestionnaireResponse",
        "status": "completed",
        "questionnaire": "https://smoulder.dev/fhir/Questionnaire/msws12",
        "subject": {"reference": "Patient/p1"},
        "authored": "2021-03-02T10:00:00+01:00",
        "item": [
            {"linkId": "q1", "answer": [{"valueInteger": 3}]},
            {"linkId": "total", "answer": [{"valueDecimal": 45.8}]},
        ],
    },
    {
        "resourceType": "QuestionnaireResponse",
        "status": "completed",
        "subject": {"reference": "Patient/p2"},
        "authored": "2021-03-02",
        "item": [{"linkId": "pdds", "answer": [{"valueInteger": 3}]}],
    },
    {"resourceType": "Patient", "id": "p1"},
    obs(
        "41950-7",
        {"value": 999, "unit": "steps/day", "system": UCUM, "code": "/d"},
        "2021-03-01",
        status="entered-in-error",
    ),
)
# the 2-minute walk uses a period instead of a date-time
del GOOD["entry"][2]["resource"]["effectiveDateTime"]
GOOD["entry"][2]["resource"]["effectivePeriod"] = {
    "start": "2021-03-02T09:00:00+01:00",
    "end": "2021-03-02T09:02:00+01:00",
}


def test_reads_observations_and_questionnaire_totals():
    df, report = read_fhir(GOOD)
    got = [
        (r.subject, str(r.date.date()), r.measure, round(r.value, 9), r.unit)
        for r in df.itertuples()
    ]
    assert got == [
        ("p1", "2021-03-01", "steps", 5234.0, "count"),
        ("p1", "2021-03-01", "walking_speed", 1.0, "m/s"),
        ("p1", "2021-03-02", "msws12", 45.8, "score"),
        ("p1", "2021-03-02", "two_minute_walk", 131.5, "m"),
        ("p2", "2021-03-02", "pdds", 3.0, "score"),
    ]
    assert report.reasons["Patient resources (not measures) ignored"] == 1
    assert report.reasons["Observations with status entered-in-error left out"] == 1
    assert report.reasons["questionnaire items that are not PRO totals (not used)"] == 1
    assert report.rows_read == 6 and report.rows_rejected == 1


def test_invalid_resource_names_the_json_path():
    b = copy.deepcopy(GOOD)
    b["entry"][1]["resource"]["valueQuantity"]["value"] = "fast"
    with pytest.raises(InputDataError) as e:
        read_fhir(b)
    assert "entry[1].resource.valueQuantity.value" in str(e.value) and "fast" in str(e.value)
    df, report = read_fhir(b, on_error="keep-valid")
    assert (
        "walking_speed" not in set(df["measure"])
        and report.reasons["invalid Observation resources left out"] == 1
    )


def test_unknown_loinc_is_a_clear_error_or_left_out_on_request():
    b = bundle(
        obs("41950-7", {"value": 100, "code": "/d", "system": UCUM}),
        obs("8867-4", {"value": 60, "code": "/min", "system": UCUM}),
    )  # heart rate: not a catalogue measure
    with pytest.raises(InputDataError) as e:
        read_fhir(b)
    msg = str(e.value)
    assert (
        "entry[1].resource.code.coding" in msg
        and "http://loinc.org|8867-4" in msg
        and "41950-7" in msg
    )
    df, report = read_fhir(b, on_error="keep-valid")
    assert df["value"].tolist() == [100.0]
    assert report.rows_rejected == 1


def test_impossible_values_and_units_name_the_path():
    with pytest.raises(
        InputDataError, match=r"entry\[0\]\.resource\.valueQuantity\.value.*impossible value"
    ):
        read_fhir(bundle(obs("41950-7", {"value": -5, "code": "/d", "system": UCUM})))
    with pytest.raises(InputDataError, match=r"entry\[0\]\.resource\.valueQuantity\.code.*furlong"):
        read_fhir(
            bundle(
                obs(
                    "walking_speed",
                    {"value": 1, "code": "furlong/h", "system": UCUM},
                    system=SMOULDER,
                )
            )
        )


def test_truncated_json_reports_line_and_column(tmp_path):
    p = tmp_path / "bundle.json"
    text = json.dumps(GOOD, indent=1)
    p.write_text(text[: len(text) // 2])
    with pytest.raises(InputDataError, match=r"line \d+, column \d+.*truncated"):
        read_fhir(p)


def test_measures_round_trip_through_a_bundle_file(tmp_path):
    df = pd.DataFrame(
        {
            "subject": ["p1", "p1", "p1", "p2", "p2"],
            "date": pd.to_datetime(
                ["2021-03-01", "2021-03-01", "2021-03-02", "2021-03-01", "2021-03-05"]
            ).astype("datetime64[s]"),
            "measure": ["steps", "walking_speed", "sleep_hours", "sdmt_phone", "msis29_physical"],
            "value": [5234.0, 1.07, 7.25, 52.0, 31.25],
            "unit": ["count", "m/s", "h", "score", "score"],
        }
    )
    b = measures_to_bundle(df)
    steps = b["entry"][0]["resource"]
    assert steps["code"]["coding"][0] == {"system": "http://loinc.org", "code": "41950-7"}
    assert steps["valueQuantity"]["code"] == "/d"
    write_bundle(b, tmp_path / "out.json")
    back, report = read_fhir(tmp_path / "out.json")
    pd.testing.assert_frame_equal(back, df)
    assert report.rows_rejected == 0


def test_events_round_trip():
    events = pd.DataFrame(
        {
            "subject": ["p1", "p2"],
            "measure": ["walking_speed", "two_minute_walk"],
            "onset_date": pd.to_datetime(["2021-06-01", "2021-02-08"]).astype("datetime64[s]"),
            "detected_date": pd.to_datetime(["2021-08-10", "2021-04-12"]).astype("datetime64[s]"),
            "baseline_value": [1.2, 130.0],
            "current_value": [1.05, 115.5],
            "change_pct": [-12.5, np.nan],
            "method": ["rolling", "cusum"],
            "n_weeks": [6, 4],
            "change_sdc": [np.nan, np.nan],  # no published detectable change: absent in every event
        }
    )
    b = events_to_bundle(events)
    r = b["entry"][0]["resource"]
    assert r["code"]["text"] == "sustained worsening of walking_speed"
    assert r["effectivePeriod"] == {"start": "2021-06-01", "end": "2021-08-10"}
    comps = {c["code"]["coding"][0]["code"]: c for c in r["component"]}
    assert comps["baseline_value"]["valueQuantity"]["code"] == "m/s"
    assert comps["change_pct"]["valueQuantity"] == {
        "value": -12.5,
        "unit": "%",
        "system": UCUM,
        "code": "%",
    }
    # the missing change of the second event is marked absent, and comes back missing
    comps2 = {c["code"]["coding"][0]["code"]: c for c in b["entry"][1]["resource"]["component"]}
    assert comps2["change_pct"]["dataAbsentReason"]["coding"][0]["code"] == "unknown"
    assert "valueQuantity" not in comps2["change_pct"]
    back = read_events_bundle(b)
    pd.testing.assert_frame_equal(back, events)
    # a bundle with measures and events: the events are counted, not read as measures
    mixed = measures_to_bundle(
        pd.DataFrame(
            {"subject": ["p1"], "date": ["2021-06-01"], "measure": ["steps"], "value": [4000.0]}
        )
    )
    mixed["entry"] += b["entry"]
    df, report = read_fhir(mixed)
    assert df["value"].tolist() == [4000.0]
    assert report.reasons["smoulder worsening events (not measures) ignored"] == 2


def test_bulk_data_ndjson_names_the_line(tmp_path):
    lines = [json.dumps(e["resource"]) for e in GOOD["entry"]]
    p = tmp_path / "Observation.ndjson"
    p.write_text("\n".join(lines) + "\n")
    df, _ = read_fhir(p)
    assert len(df) == 5 and df["value"].sum() == pytest.approx(5234 + 1.0 + 45.8 + 131.5 + 3)
    bad = copy.deepcopy(GOOD["entry"][0]["resource"])
    bad["valueQuantity"]["value"] = -1
    p.write_text("\n".join(lines[:2] + [json.dumps(bad)]) + "\n")
    with pytest.raises(
        InputDataError, match=r"line 3: resource\.valueQuantity\.value.*impossible value"
    ):
        read_fhir(p)
    p.write_text(lines[0] + "\n" + lines[1][:40] + "\n")
    with pytest.raises(InputDataError, match=r"line 2, column \d+"):
        read_fhir(p)


def test_conflicting_duplicate_observations_name_both_paths():
    q = {"value": 100, "code": "/d", "system": UCUM}
    b = bundle(obs("41950-7", q), obs("41950-7", dict(q, value=120)), obs("41950-7", q))
    with pytest.raises(InputDataError) as e:
        read_fhir(b)
    assert "entry[0].resource.valueQuantity.value" in str(e.value)
    assert "entry[1].resource.valueQuantity.value" in str(e.value) and "conflicting" in str(e.value)
    df, report = read_fhir(b, on_duplicate="max")
    assert df["value"].tolist() == [120.0]
    assert report.reasons["identical duplicate rows merged"] == 1


# --------------------------------------------------------------------------- data, never a path
def test_a_json_string_naming_a_file_is_refused_not_opened(tmp_path):
    from smoulder.io.fhir import read_fhir_bytes, read_fhir_json

    on_disk = tmp_path / "server_bundle.json"
    on_disk.write_text(json.dumps(GOOD))
    upload = json.dumps(str(on_disk)).encode()
    with pytest.raises(InputDataError, match=r"upload\.json: a JSON string, not a FHIR resource"):
        read_fhir_bytes(upload, "upload.json")
    with pytest.raises(InputDataError, match="a JSON string, not a FHIR resource"):
        read_fhir_json(str(on_disk))
    # the old entry point no longer guesses what a str is
    with pytest.raises(TypeError, match="does not guess"):
        read_fhir(str(on_disk))
    with pytest.raises(TypeError, match="does not guess"):
        read_events_bundle(str(on_disk))


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        (b"[1, 2, 3]", "a JSON array, not a FHIR resource"),
        (b"42", "a JSON number, not a FHIR resource"),
        (b"null", "JSON null, not a FHIR resource"),
        (b'{"resourceType": "Patient"}', "not a FHIR resource of the expected type"),
        (b'{"id": 1}', "a JSON object without a resourceType"),
        (b"[" * 100_000, "nested more than 64 levels deep (at [0][0][0]"),
        (
            b'{"resourceType": "Bundle", "entry": [{"resource": ' + b"[" * 80 + b"]" * 80 + b"}]}",
            "nested more than 64 levels deep (at entry[0].resource[0]",
        ),
        (b"\xff\xfe{}", "line 1 (byte 1) is not UTF-8 text"),
    ],
    ids=["array", "number", "null", "patient", "no-type", "deep", "deep-in-bundle", "binary"],
)
def test_json_that_is_not_a_resource_says_so(body, fragment):
    from smoulder.io.fhir import read_fhir_bytes

    with pytest.raises(InputDataError) as info:
        read_fhir_bytes(body, "upload.json")
    assert fragment in str(info.value) and "upload.json" in str(info.value)


def test_file_and_bytes_entry_points_agree(tmp_path):
    from smoulder.io.fhir import read_fhir_bytes, read_fhir_file

    p = tmp_path / "b.json"
    p.write_text(json.dumps(GOOD))
    a, _ = read_fhir_file(p)
    with open(p, "rb") as f:
        b, _ = read_fhir_bytes(f, "b.json")
    pd.testing.assert_frame_equal(a, b)
