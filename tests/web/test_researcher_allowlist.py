"""Issue 10 item 2: the pseudonymised researcher view is built from an allow-list of coded fields.

A marker is planted in every field a clinic or a person can write (through every import kind, the
lifestyle form and the lifestyle API); it must never reach a researcher in any page, JSON answer,
CSV or report (HTML and the PDF's text), while the clinician who wrote it still sees it (so the test
can tell a hidden field from a field that was never written)."""

from __future__ import annotations

import json
import re
import shutil
import subprocess

import pandas as pd
import pytest

from smoulder.schema.treatments import canonical_treatment

MARK = "zqxmark"
MEASURE = "two_minute_walk"


def _upload(c, token, kind, name, body, mime="text/csv", **extra):
    r = c.post(
        "/api/imports",
        data={"kind": kind, **extra},
        files={"file": (name, body, mime)},
        headers={"x-csrf-token": token},
    )
    assert r.status_code == 201, (kind, r.status_code, r.text)
    return r.json()


def _apple_export(subject_date: str) -> bytes:
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n<HealthData locale="en_GB">\n'
        f' <Record type="HKQuantityTypeIdentifierStepCount" sourceName="{MARK} phone" '
        f'sourceVersion="{MARK}1" device="&lt;&lt;HKDevice: {MARK}&gt;&gt;" unit="count" '
        f'creationDate="{subject_date} 10:00:00 +0000" startDate="{subject_date} 09:00:00 +0000" '
        f'endDate="{subject_date} 09:30:00 +0000" value="1234"/>\n</HealthData>\n'
    ).encode()


def _pdf_text(data: bytes, tmp_path) -> str:
    if shutil.which("pdftotext") is None:
        pytest.skip("pdftotext (poppler-utils) not installed")
    p = tmp_path / "r.pdf"
    p.write_bytes(data)
    return subprocess.run(
        ["pdftotext", str(p), "-"], capture_output=True, text=True, check=True
    ).stdout


def plant_markers(app, login, csrf, keys) -> dict[str, str]:
    """Write the marker into every writable field; return the new people's subjects."""
    from smoulder.io.fhir import measures_to_bundle

    c = login(app, "dr.a")
    t = csrf(c)
    subj = f"MRN-{MARK}-1"
    _upload(
        c,
        t,
        "people",
        "p.csv",
        f"subject,name,sex,birth_year\n{subj},Name {MARK},F,1979\n".encode(),
    )
    _upload(c, t, "visits", "v.csv", f"subject,date,edss\n{subj},2021-01-01,2.0\n".encode())
    _upload(
        c,
        t,
        "treatments",
        "t.csv",
        (
            "subject,drug,start_date,stop_date\n"
            f"MRN-1001,{MARK}-umab,2021-01-02,\n{subj},{MARK} trial drug,2021-01-02,\n"
            f"{subj},Ocrevus,2020-06-01,2020-12-01\n"
        ).encode(),
    )
    _upload(c, t, "relapses", "r.csv", f"subject,date\n{subj},2020-11-01\n".encode())
    _upload(c, t, "mri", "m.csv", f"subject,date,active\n{subj},2021-01-05,yes\n".encode())
    _upload(
        c,
        t,
        "prl",
        "l.tsv",
        b"label\tvolume_mm3\trim_score\tprl\n1\t100\t0.8\ttrue\n",
        "text/tab-separated-values",
        subject=subj,
        session_date="2021-01-05",
    )
    _upload(
        c,
        t,
        "sel",
        "s.csv",
        f"subject,date,label,volume_mm3,sel\n{subj},2021-01-05,1,100,definite\n".encode(),
    )
    _upload(
        c,
        t,
        "devices",
        "d.csv",
        (
            "subject,date,measure,value,unit\n"
            f"MRN-1001,2021-01-04,{MARK}_measure,5,{MARK}_unit\n"
            f"MRN-1001,2021-01-04,steps,5000,{MARK}\n"
            f"{subj},2021-01-04,{MEASURE},120,m\n"
        ).encode(),
    )
    _upload(
        c,
        t,
        "device_events",
        "e.csv",
        (
            "subject,measure,onset_date,detected_date,baseline_value,current_value,change_pct\n"
            f"MRN-1001,{MARK}_measure,2021-01-04,2021-01-20,5,4,-20\n"
        ).encode(),
    )
    _upload(
        c,
        t,
        "lifestyle",
        "ls.csv",
        (
            "subject,date,exercise_min_week,diet,smoking,medications,comorbidities,notes\n"
            f"MRN-1001,2021-01-06,100,mixed,never,{MARK} pills,{MARK} problem,{MARK} note\n"
        ).encode(),
    )
    df = pd.DataFrame(
        {
            "subject": [f"fhir-{MARK}"],
            "date": pd.to_datetime(["2021-01-04"]),
            "measure": ["steps"],
            "value": [5000.0],
            "unit": ["count"],
        }
    )
    _upload(c, t, "fhir", "o.json", json.dumps(measures_to_bundle(df)).encode(), "application/json")
    _upload(
        c,
        t,
        "apple_health",
        "export.xml",
        _apple_export("2021-01-07"),
        "application/xml",
        subject=subj,
    )
    # the lifestyle form and the lifestyle API, by the person themself
    alice = login(app, "alice")
    at = csrf(alice)
    r = alice.post(
        f"/patients/{keys['MRN-1001']}/lifestyle",
        data={
            "csrf_token": at,
            "date": "2021-01-08",
            "medications": f"{MARK} form pills",
            "comorbidities": f"{MARK} form problem",
            "notes": f"{MARK} form note",
        },
        follow_redirects=False,
    )
    assert r.status_code == 303, r.text
    r = alice.post(
        f"/api/patients/{keys['MRN-1001']}/lifestyle",
        json={"date": "2021-01-09", "medications": f"{MARK} api", "notes": f"{MARK} api"},
        headers={"x-csrf-token": at},
    )
    assert r.status_code == 201, r.text
    return {"subject": subj}


def test_no_planted_marker_ever_reaches_a_researcher(sqlite_clinic, login, csrf, tmp_path):
    app, keys = sqlite_clinic
    plant_markers(app, login, csrf, keys)
    doc = login(app, "dr.a")
    # the clinician who wrote it sees it: the fields were written
    mine = doc.get(f"/api/patients/{keys['MRN-1001']}").text
    assert f"{MARK}-umab" in mine and f"{MARK} pills" in mine and f"{MARK}_measure" in mine

    res = login(app, "res")
    keys_all = [r["key"] for r in res.get("/api/cohort?limit=500").json()["rows"]]
    assert len(keys_all) == 5  # 3 people + the marker subject + the FHIR subject
    bodies: dict[str, str] = {}
    for path in ("/cohort", "/api/cohort?limit=500", "/api/cohort.csv", "/api/patients"):
        r = res.get(path)
        assert r.status_code == 200
        bodies[path] = r.text
    for k in keys_all:
        for path in (
            f"/patients/{k}",
            f"/api/patients/{k}",
            f"/api/patients/{k}/lifestyle",
            f"/patients/{k}/report.html",
            f"/api/patients/{k}/report?format=html",
        ):
            r = res.get(path)
            assert r.status_code == 200, (path, r.status_code)
            bodies[path] = r.text
        for path in (f"/patients/{k}/report.pdf", f"/api/patients/{k}/report?format=pdf"):
            r = res.get(path)
            assert r.content.startswith(b"%PDF")
            bodies[path] = _pdf_text(r.content, tmp_path)
    for path, body in bodies.items():
        assert MARK not in body.lower(), (path, body[body.lower().find(MARK) - 80 :][:200])
    # coded fields still get through: drugs on the controlled list (brand names mapped to the
    # substance, with its class), catalogue measures, lifestyle codes
    tl = res.get(f"/api/patients/{keys['MRN-1001']}").json()
    drugs = [(x["drug"], x["drug_class"]) for x in tl["treatments"]]
    assert ("ocrelizumab", "anti-CD20") in drugs
    assert (None, None) in drugs  # the marker drug: not on the list, so no name at all
    assert set(tl["device"]) == {MEASURE, "steps"}
    # a unit is shown only when it is one the catalogue knows for the measure
    assert tl["device"]["steps"]["unit"] is None and tl["device"][MEASURE]["unit"] == "m"
    assert {e["measure"] for e in tl["device_events"]} == {MEASURE}
    assert {x["diet"] for x in tl["lifestyle"]} >= {"mixed"}
    assert all(
        set(x)
        == {"date", "exercise_min_week", "diet", "smoking", "alcohol_units_week", "sleep_hours"}
        for x in tl["lifestyle"]
    )
    marked = next(
        r for r in res.get("/api/cohort?limit=500").json()["rows"] if r["n_prl"] and r["n_sel"]
    )
    other = res.get(f"/api/patients/{marked['key']}").json()
    assert ("ocrelizumab", "anti-CD20") in [
        (x["drug"], x["drug_class"]) for x in other["treatments"]
    ]
    page = res.get(f"/patients/{keys['MRN-1001']}").text
    assert "not on the controlled list" in page


def test_a_new_timeline_field_is_hidden_until_it_is_allowed(sqlite_clinic):
    from smoulder.store.pseudonymise import researcher_view

    tl = {
        "person": {"key": "P-ABCDEFGH", "sex": "F", "birth_year": 1980, "name": "X", "new": 1},
        "assessments": [{"date": "2020-01-01", "edss": 2.0, "new_free_text": "hello"}],
        "brand_new_section": [{"anything": MARK}],
        "lifestyle": [{"date": "2020-01-01", "diet": "mixed", "mood_text": MARK}],
        "treatments": [{"drug": "Tysabri", "start": "2020-01-01", "stop": None, "dose": MARK}],
    }
    out = researcher_view(tl)
    assert "brand_new_section" not in out
    assert out["person"] == {
        "key": "P-ABCDEFGH",
        "sex": "F",
        "birth_year": 1980,
        "disease_course": None,
        "onset_year": None,
    }
    assert out["assessments"] == [
        {"date": "2020-01-01", "edss": 2.0, "t25fw": None, "nhpt": None, "sdmt": None}
    ]
    assert MARK not in json.dumps(out)
    assert out["treatments"][0]["drug"] == "natalizumab"


@pytest.mark.parametrize(
    "typed,substance,cls",
    [
        ("Ocrevus", "ocrelizumab", "anti-CD20"),
        ("  OCRELIZUMAB ", "ocrelizumab", "anti-CD20"),
        ("Gilenya", "fingolimod", "S1P receptor modulator"),
        ("Tecfidera", "dimethyl fumarate", "fumarate"),
        ("interferon beta-1a", "interferon beta-1a", "interferon beta"),
        ("Copaxone", "glatiramer acetate", "glatiramer acetate"),
        ("Mavenclad", "cladribine", "cladribine"),
        ("Kesimpta", "ofatumumab", "anti-CD20"),
        ("Briumvi", "ublituximab", "anti-CD20"),
        ("Vumerity", "diroximel fumarate", "fumarate"),
        ("teriflunomide", "teriflunomide", "teriflunomide"),
    ],
)
def test_the_controlled_treatment_list_maps_brands_to_substances(typed, substance, cls):
    t = canonical_treatment(typed)
    assert t is not None and (t.name, t.drug_class) == (substance, cls)


@pytest.mark.parametrize("typed", ["", "vitamin D", "ocrelizumab 600mg Mrs Smith", MARK, "x" * 500])
def test_anything_else_is_not_on_the_list(typed):
    assert canonical_treatment(typed) is None


def test_pseudonymised_cohort_rows_have_only_coded_fields(sqlite_clinic, login):
    app, _ = sqlite_clinic
    rows = login(app, "res").get("/api/cohort").json()["rows"]
    allowed = {
        "key",
        "sex",
        "birth_year",
        "name",
        "subject",
        "n_pira",
        "n_raw",
        "n_prl",
        "n_sel",
        "n_digital",
        "n_relapses",
        "last_edss",
        "last_visit",
        "visit_overdue",
        "disease_course",
        "onset_year",
        "age",
        "treatment",
        "edss_trend",
        "edss_change_2y",
    }
    assert rows and all(set(r) <= allowed and r["name"] is None for r in rows)
    # the current treatment as the substance from the controlled list; trend points coded
    assert {r["treatment"] for r in rows} == {"ocrelizumab", None}
    assert all(set(p) == {"date", "edss"} for r in rows for p in r["edss_trend"])
    assert all(re.fullmatch(r"P-[A-Z2-9]{8}", r["key"]) for r in rows)
