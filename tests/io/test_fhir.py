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


def test_unknown_codes_are_left_out_and_counted_or_refused_with_strict():
    height = obs("8302-2", {"value": 172, "code": "cm", "system": UCUM})
    height["code"]["coding"][0]["display"] = "Body height"
    b = bundle(obs("41950-7", {"value": 100, "code": "/d", "system": UCUM}), height, height)
    df, report = read_fhir(b)
    assert df["value"].tolist() == [100.0]
    assert report.skipped_codes == [
        {
            "system": "http://loinc.org",
            "code": "8302-2",
            "display": "Body height",
            "why": "code not in the measures catalogue",
            "count": 2,
        }
    ]
    assert report.rows_read == 3 and report.rows_used == 1 and report.rows_rejected == 2
    assert "http://loinc.org|8302-2|Body height: 2" in str(report)
    with pytest.raises(InputDataError) as e:
        read_fhir(b, strict=True)
    msg = str(e.value)
    assert "entry[1].resource.code.coding" in msg and "http://loinc.org|8302-2|Body height" in msg
    assert "without --strict" in msg


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


# --------------------------------------------------------------------------- real-world bundles
# Written by hand to mimic what EHR exports hold: a Synthea-like transaction bundle (patients by
# urn:uuid with several identifiers, vital signs and laboratory codes smoulder does not read, a
# blood-pressure panel, a value marked absent, a status entered-in-error, claims), a searchset
# with an included Patient, and an HL7 mHealth step count over a period.
PID = "urn:uuid:6f1c2a4e-0000-4000-8000-000000000001"
V2 = "http://terminology.hl7.org/CodeSystem/v2-0203"


def loinc_obs(code, display, value=None, *, when="2022-05-03T08:15:00-04:00", **extra):
    r = {
        "resourceType": "Observation",
        "status": "final",
        "category": [
            {
                "coding": [
                    {
                        "system": "http://terminology.hl7.org/CodeSystem/observation-category",
                        "code": "vital-signs",
                    }
                ]
            }
        ],
        "code": {
            "coding": [{"system": "http://loinc.org", "code": code, "display": display}],
            "text": display,
        },
        "subject": {"reference": PID},
        "encounter": {"reference": "urn:uuid:enc-1"},
        "effectiveDateTime": when,
        "issued": "2022-05-03T08:15:00.000-04:00",
    }
    if value is not None:
        r["valueQuantity"] = value
    r.update(extra)
    return r


def q(value, unit, code=None):
    return {"value": value, "unit": unit, "system": UCUM, "code": code or unit}


def synthea_like_bundle():
    patient = {
        "resourceType": "Patient",
        "id": "6f1c2a4e-0000-4000-8000-000000000001",
        "identifier": [
            {"system": "https://github.com/synthetichealth/synthea", "value": "6f1c2a4e-0001"},
            {
                "type": {"coding": [{"system": V2, "code": "SS"}]},
                "system": "http://hl7.org/fhir/sid/us-ssn",
                "value": "999-12-3456",
            },
            {
                "type": {
                    "coding": [{"system": V2, "code": "MR", "display": "Medical Record Number"}]
                },
                "system": "http://hospital.smarthealthit.org",
                "value": "MRN-0042",
            },
        ],
        "name": [{"family": "Doe", "given": ["Jo"]}],
        "gender": "female",
        "birthDate": "1980-02-01",
    }
    resources = [
        patient,
        {
            "resourceType": "Encounter",
            "id": "enc-1",
            "status": "finished",
            "class": {"code": "AMB"},
        },
        loinc_obs("8302-2", "Body Height", q(165.1, "cm")),
        loinc_obs("29463-7", "Body Weight", q(154.3, "[lb_av]")),
        loinc_obs("8867-4", "Heart rate", q(72, "/min")),
        loinc_obs(
            "85354-9",
            "Blood pressure panel with all children optional",
            component=[
                {
                    "code": {"coding": [{"system": "http://loinc.org", "code": "8480-6"}]},
                    "valueQuantity": q(120, "mm[Hg]"),
                },
                {
                    "code": {"coding": [{"system": "http://loinc.org", "code": "8462-4"}]},
                    "valueQuantity": q(80, "mm[Hg]"),
                },
            ],
        ),
        loinc_obs(
            "29463-7",
            "Body Weight",
            dataAbsentReason={
                "coding": [
                    {
                        "system": "http://terminology.hl7.org/CodeSystem/data-absent-reason",
                        "code": "asked-declined",
                    }
                ]
            },
            when="2022-05-04T08:15:00-04:00",
        ),
        loinc_obs("8867-4", "Heart rate", q(250, "/min"), status="entered-in-error"),
        loinc_obs(
            "72166-2",
            "Tobacco smoking status",
            valueCodeableConcept={
                "coding": [{"system": "http://snomed.info/sct", "code": "266919005"}]
            },
        ),
        loinc_obs(
            "8867-4", "Heart rate", valueString="irregular", when="2022-05-05T08:00:00-04:00"
        ),
        loinc_obs("93832-4", "Sleep duration", q(432, "min"), when="2022-05-03T07:00:00-04:00"),
        loinc_obs("41953-1", "Walking distance 24 hour Calculated", q(1.5, "[mi_i]")),
        loinc_obs("8302-2", "Body Height", q(165.2, "cm"), when="2023-01-10T10:00:00-05:00"),
        {
            "resourceType": "Claim",
            "id": "claim-1",
            "status": "active",
            "use": "claim",
            "patient": {"reference": PID},
        },
    ]
    entries = []
    for i, r in enumerate(resources):
        url = (
            PID if r["resourceType"] == "Patient" else f"urn:uuid:00000000-0000-4000-8000-{i:012d}"
        )
        entries.append(
            {"fullUrl": url, "resource": r, "request": {"method": "POST", "url": r["resourceType"]}}
        )
    entries.append({"request": {"method": "DELETE", "url": "Observation/old-1"}})
    return {"resourceType": "Bundle", "type": "transaction", "entry": entries}


def mhealth_step_count():
    """An HL7 mHealth-style step count: LOINC 55423-8 over a period, {steps} as the UCUM unit."""
    return {
        "resourceType": "Observation",
        "id": "step-count-1",
        "status": "final",
        "category": [
            {
                "coding": [
                    {
                        "system": "http://terminology.hl7.org/CodeSystem/observation-category",
                        "code": "activity",
                    }
                ]
            }
        ],
        "code": {
            "coding": [
                {
                    "system": "http://loinc.org",
                    "code": "55423-8",
                    "display": "Number of steps in unspecified time Pedometer",
                }
            ]
        },
        "subject": {"reference": "Patient/mh-1"},
        "effectivePeriod": {
            "start": "2022-06-01T09:00:00+02:00",
            "end": "2022-06-01T11:30:00+02:00",
        },
        "device": {"display": "phone pedometer"},
        "valueQuantity": {"value": 4400, "unit": "steps", "system": UCUM, "code": "{steps}"},
    }


def test_a_synthea_like_bundle_imports_what_is_known_and_counts_the_rest_by_code():
    df, report = read_fhir(synthea_like_bundle())
    got = [
        (r.subject, str(r.date.date()), r.measure, round(r.value, 6), r.unit)
        for r in df.itertuples()
    ]
    # the subject is the medical record number (never the social security number); 154.3 lb =
    # 154.3 * 0.45359237 kg; 432 min = 7.2 h; 1.5 mi = 1.5 * 1609.344 m; dates of their own offset
    assert got == [
        ("MRN-0042", "2022-05-03", "body_weight", round(154.3 * 0.45359237, 6), "kg"),
        ("MRN-0042", "2022-05-03", "heart_rate", 72.0, "/min"),
        ("MRN-0042", "2022-05-03", "sleep_hours", 7.2, "h"),
        ("MRN-0042", "2022-05-03", "walking_distance", 2414.016, "m"),
    ]
    skipped = {(c["code"], c["why"]): c["count"] for c in report.skipped_codes}
    assert skipped == {
        ("8302-2", "code not in the measures catalogue"): 2,
        ("85354-9", "a panel of components (blood pressure ...), not a catalogue measure"): 1,
        ("29463-7", "no value (dataAbsentReason asked-declined)"): 1,
        ("72166-2", "code not in the measures catalogue"): 1,
        ("8867-4", "not a number (valueString)"): 1,
    }
    assert report.skipped_codes[0]["display"] == "Body Height"  # the most frequent first
    assert report.reasons["Observations with status entered-in-error left out"] == 1
    assert report.reasons["Patient resources (not measures) ignored"] == 1
    assert report.reasons["Claim resources (not measures) ignored"] == 1
    assert report.reasons["Encounter resources (not measures) ignored"] == 1
    assert report.reasons["bundle entries without a resource (requests or responses) ignored"] == 1
    # 11 Observations read: 4 used, 6 skipped by code, 1 entered in error
    assert (report.rows_read, report.rows_used, report.rows_rejected) == (11, 4, 7)
    assert "999-12-3456" not in str(report) and "999-12-3456" not in json.dumps(report.to_dict())
    with pytest.raises(
        InputDataError, match=r"entry\[2\]\.resource\.code\.coding.*8302-2\|Body Height"
    ):
        read_fhir(synthea_like_bundle(), strict=True)


def test_the_patient_identifier_system_can_be_chosen_and_a_missing_one_is_named():
    b = synthea_like_bundle()
    df, _ = read_fhir(b, patient_identifier="https://github.com/synthetichealth/synthea")
    assert set(df["subject"]) == {"6f1c2a4e-0001"}
    with pytest.raises(
        InputDataError, match=r"entry\[0\]\.resource\.identifier.*no identifier of system urn:x"
    ):
        read_fhir(b, patient_identifier="urn:x")
    # only sensitive identifiers: the Patient's id, not the social security number
    b["entry"][0]["resource"]["identifier"] = b["entry"][0]["resource"]["identifier"][1:2]
    df, _ = read_fhir(b)
    assert set(df["subject"]) == {"6f1c2a4e-0000-4000-8000-000000000001"}


def test_an_mhealth_step_count_over_a_period_and_a_searchset_with_an_included_patient(tmp_path):
    p = tmp_path / "step-count.json"
    p.write_text(json.dumps(mhealth_step_count()))
    df, report = read_fhir(p)
    assert df[["subject", "measure", "value", "unit"]].values.tolist() == [
        ["mh-1", "steps", 4400.0, "count"]
    ]
    assert str(df["date"].iloc[0].date()) == "2022-06-01"
    search = {
        "resourceType": "Bundle",
        "type": "searchset",
        "total": 2,
        "link": [{"relation": "self", "url": "https://ehr.example/fhir/Observation?code=55423-8"}],
        "entry": [
            {
                "fullUrl": "https://ehr.example/fhir/Observation/s1",
                "resource": {**mhealth_step_count(), "subject": {"reference": "Patient/123"}},
                "search": {"mode": "match"},
            },
            {
                "fullUrl": "https://ehr.example/fhir/Patient/123",
                "resource": {
                    "resourceType": "Patient",
                    "id": "123",
                    "identifier": [{"system": "urn:clinic", "value": "C-77"}],
                },
                "search": {"mode": "include"},
            },
        ],
    }
    df, report = read_fhir(search)
    assert df["subject"].tolist() == ["C-77"]
    # a reference to a patient not in the file keeps its id
    search["entry"].pop()
    df, _ = read_fhir(search)
    assert df["subject"].tolist() == ["123"]


def test_ndjson_is_recognised_by_its_content_whatever_the_suffix(tmp_path):
    from smoulder.io.fhir import read_fhir_bytes

    a = mhealth_step_count()
    b = {**mhealth_step_count(), "effectivePeriod": {"start": "2022-06-02T09:00:00+02:00"}}
    data = (json.dumps(a) + "\n" + json.dumps(b) + "\n").encode()
    df, report = read_fhir_bytes(data, "Observation.json")
    assert df["value"].tolist() == [4400.0, 4400.0]
    bad = data + b'{"resourceType": "Observation", "status": "final"\n'
    with pytest.raises(InputDataError, match=r"Observation\.json, line 3"):
        read_fhir_bytes(bad, "Observation.json")


def test_no_measures_found_says_what_was_left_out():
    b = synthea_like_bundle()
    b["entry"] = [
        e
        for e in b["entry"]
        if "resource" in e
        and e["resource"].get("code", {}).get("coding", [{}])[0].get("code")
        in (None, "8302-2", "85354-9")
    ]
    with pytest.raises(InputDataError) as e:
        read_fhir(b)
    msg = str(e.value)
    assert "no measures found; codes not read: http://loinc.org|8302-2|Body Height (2)" in msg
    assert "85354-9" in msg and "Claim resources (not measures) ignored: 1" in msg
