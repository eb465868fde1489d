"""What users see: health, cohort table, person time line and summary, lifestyle log, imports, OpenAPI."""

from __future__ import annotations

import io

import pyarrow as pa
import pyarrow.parquet as pq
from fastapi.testclient import TestClient

from smoulder.web.app import plotly_js_path


def test_health_answers_without_login(sqlite_clinic):
    app, _ = sqlite_clinic
    r = TestClient(app).get("/api/health")
    assert r.status_code == 200
    assert r.json() == {"status": "ok"}  # strangers learn nothing else


def test_patients_list_is_what_the_caller_may_see(clinic, login, names):
    app, keys = clinic
    got = login(app, "dr.a").get("/api/patients").json()
    assert got["total"] == 2
    assert sorted(p["name"] for p in got["patients"]) == sorted(
        [names["MRN-1001"], names["MRN-1002"]]
    )
    mine = login(app, "alice").get("/api/patients").json()["patients"]
    assert [p["key"] for p in mine] == [keys["MRN-1001"]]


def test_cohort_sorts_and_filters_on_signals(clinic, login):
    app, keys = clinic
    c = login(app, "res")
    rows = c.get("/api/cohort?sort=n_pira&desc=true").json()["rows"]
    assert rows[0]["key"] == keys["MRN-1001"]
    assert (
        rows[0]["n_pira"],
        rows[0]["n_raw"],
        rows[0]["n_prl"],
        rows[0]["n_digital"],
        rows[0]["last_edss"],
    ) == (1, 1, 1, 1, 4.0)
    # MRN-2001 has the highest last EDSS (5.0)
    assert (
        c.get("/api/cohort?sort=last_edss&desc=true").json()["rows"][0]["key"] == keys["MRN-2001"]
    )
    assert [r["key"] for r in c.get("/api/cohort?sort=last_edss&desc=false").json()["rows"]][
        0
    ] == keys["MRN-1002"]
    for signal in ("pira", "prl", "digital", "any"):
        got = c.get(f"/api/cohort?signal={signal}").json()
        assert [r["key"] for r in got["rows"]] == [keys["MRN-1001"]] and got["total"] == 1
    assert c.get("/api/cohort?signal=sel").json()["total"] == 0
    assert (
        c.get(f"/api/cohort?q={keys['MRN-2001'][2:6]}").json()["rows"][0]["key"] == keys["MRN-2001"]
    )
    page = c.get("/cohort?signal=pira").text
    assert keys["MRN-1001"] in page and keys["MRN-2001"] not in page
    # SQL metacharacters in the search box are just text
    assert c.get("/api/cohort?q=%27%3B%20DROP%20TABLE%20people%3B--").json()["total"] == 0
    assert c.get("/api/cohort").json()["total"] == 3


def test_person_view_has_every_source_on_one_time_line_and_a_plain_summary(clinic, login):
    app, keys = clinic
    c = login(app, "dr.a")
    tl = c.get(f"/api/patients/{keys['MRN-1001']}").json()
    assert [(e["type"], e["event_date"], e["confirmation_date"]) for e in tl["events"]] == [
        ("RAW", "2020-04-10", "2020-07-19"),
        ("PIRA", "2020-10-27", "2021-02-04"),
    ]
    assert tl["relapses"] == [{"onset": "2020-02-20", "end": "2020-03-20"}]
    assert tl["treatments"] == [
        {
            "drug": "ocrelizumab",
            "drug_class": "anti-CD20",
            "start": "2020-05-01",
            "stop": None,
        }
    ]
    assert [(m["date"], m["active"], m["n_prl"]) for m in tl["mri"]] == [
        ("2020-06-01", False, 0),
        ("2021-01-20", True, 1),
    ]
    # the decline is both imported and found again by smoulder.digital from the stored measures
    assert {(e["measure"], e["source"]) for e in tl["device_events"]} == {
        ("two_minute_walk", "import"),
        ("two_minute_walk", "smoulder.digital"),
    }
    dev = tl["device"]["two_minute_walk"]
    assert dev["unit"] == "m" and dev["values"][0] == 130 and dev["values"][-1] == 100
    assert tl["lifestyle"][0]["smoking"] == "current"
    assert {a["kind"] for a in tl["analyses"]} >= {"progression"}
    s = tl["summary"]
    # hand-worked: last two visits 2020-10-27 and 2021-02-04
    # the last visit with its age as of the (frozen) day of the page, 2021-03-01
    assert s[0] == (
        "Since the previous clinic visit on 2020-10-27 (last visit 2021-02-04, 3 weeks ago):"
    )
    assert "EDSS stayed at 4." in s
    assert (
        "The timed 25-foot walk took 7.5 s, 25 % slower than before (6 s) "
        "(at least 20 %: a meaningful change if confirmed)."
    ) in s
    assert (
        "The SDMT (processing speed) score went down from 47 to 42 "
        "(4 points or more: a meaningful change if confirmed)."
    ) in s
    assert any(
        x.startswith("A worsening of EDSS from 3 to 4 on 2020-10-27, confirmed on 2021-02-04")
        and "PIRA" in x
        for x in s
    )
    assert not any("RAW" in x for x in s)  # the RAW event was confirmed before the previous visit
    assert "MRI on 2021-01-20: new or enlarging lesions (activity), 1 paramagnetic rim lesion." in s
    page = c.get(f"/patients/{keys['MRN-1001']}").text
    assert 'src="/static/plotly.min.js"' in page and 'id="timeline"' in page
    assert "EDSS stayed at 4." in page


def test_plotly_is_served_from_the_installed_package(sqlite_clinic):
    app, _ = sqlite_clinic
    r = TestClient(app).get("/static/plotly.min.js")
    assert r.status_code == 200 and r.content == plotly_js_path().read_bytes()
    assert TestClient(app).get("/static/person.js").status_code == 200


def test_openapi_documents_the_rest_api(sqlite_clinic):
    app, _ = sqlite_clinic
    spec = TestClient(app).get("/openapi.json").json()
    for path in (
        "/api/health",
        "/api/patients",
        "/api/patients/{key}",
        "/api/cohort",
        "/api/imports",
        "/api/patients/{key}/lifestyle",
        "/api/patients/{key}/report",
        "/api/login",
    ):
        assert path in spec["paths"], path
    assert "multipart/form-data" in spec["paths"]["/api/imports"]["post"]["requestBody"]["content"]


def test_lifestyle_log_form_and_api(sqlite_clinic, login, csrf):
    app, keys = sqlite_clinic
    c = login(app, "alice")
    k = keys["MRN-1001"]
    form = c.get(f"/patients/{k}/lifestyle").text
    assert 'name="viewport"' in form and 'inputmode="numeric"' in form
    token = csrf(c)
    bad = c.post(
        f"/api/patients/{k}/lifestyle",
        json={"date": "2021-04-01", "sleep_hours": 30, "smoking": "lots"},
        headers={"x-csrf-token": token},
    )
    assert bad.status_code == 422
    errs = {e["column"]: e["message"] for e in bad.json()["errors"]}
    assert set(errs) == {"body.sleep_hours", "body.smoking"}
    assert "less than or equal to 24" in errs["body.sleep_hours"]
    assert "sleep_hours" in bad.json()["detail"]
    # a value the schema allows but the record's rules refuse: the same answer's shape
    bad = c.post(
        f"/api/patients/{k}/lifestyle",
        json={"date": "1850-01-01"},
        headers={"x-csrf-token": token},
    )
    assert bad.status_code == 422 and bad.json()["errors"][0]["column"] == "date"
    assert len(c.get(f"/api/patients/{k}/lifestyle").json()["entries"]) == 1
    r = c.post(
        f"/api/patients/{k}/lifestyle",
        headers={"x-csrf-token": token},
        json={
            "date": "2021-04-01",
            "exercise_min_week": 150,
            "sleep_hours": 7.5,
            "diet": "healthy",
            "notes": "<img src=x onerror=alert(1)>",
        },
    )
    assert r.status_code == 201
    entries = c.get(f"/api/patients/{k}/lifestyle").json()["entries"]
    assert (
        entries[-1]["exercise_min_week"] == 150
        and entries[-1]["notes"] == "<img src=x onerror=alert(1)>"
    )
    page = c.get(f"/patients/{k}").text
    assert "<img src=x" not in page and "&lt;img src=x onerror=alert(1)&gt;" in page
    # the form shows field errors and keeps what was typed
    r = c.post(
        f"/patients/{k}/lifestyle",
        data={"csrf_token": token, "date": "2021-13-01", "sleep_hours": "7"},
    )
    assert r.status_code == 422 and 'value="7"' in r.text
    # in words a person can act on, next to the field
    assert "Date must be a real day between 1 January 1900 and today" in r.text
    assert 'name="date" value="2021-13-01" required aria-invalid="true"' in r.text
    r = c.post(
        f"/patients/{k}/lifestyle",
        data={"csrf_token": token, "date": "2021-04-02", "sleep_hours": "25"},
    )
    assert r.status_code == 422 and "Sleep must be between 0 and 24 hours a night." in r.text
    assert "sleep_hours" not in r.text.split('id="form-errors"')[1].split("</div>")[0]


def test_import_through_the_api_is_checked_and_idempotent(sqlite_clinic, login, csrf):
    app, keys = sqlite_clinic
    c = login(app, "dr.a")
    h = {"x-csrf-token": csrf(c)}
    good = b"subject,date,edss,sdmt\nMRN-1002,2021-01-05,1.5,59\nNEW-1,2021-01-05,2.0,55\n"
    r = c.post(
        "/api/imports",
        data={"kind": "visits"},
        files={"file": ("v.csv", good, "text/csv")},
        headers=h,
    )
    assert r.status_code == 201, r.text
    assert (r.json()["inserted"], r.json()["people_created"]) == (2, 1)
    again = c.post(
        "/api/imports",
        data={"kind": "visits"},
        files={"file": ("v.csv", good, "text/csv")},
        headers=h,
    )
    assert (again.json()["inserted"], again.json()["unchanged"]) == (0, 2)
    assert c.get("/api/patients").json()["total"] == 3  # the new person is on dr.a's list
    bad = b"subject,date,edss\nMRN-1002,2021-02-05,2.0\nMRN-1002,2021-03-05,11\n"
    r = c.post(
        "/api/imports",
        data={"kind": "visits"},
        files={"file": ("bad.csv", bad, "text/csv")},
        headers=h,
    )
    assert r.status_code == 422
    assert r.json()["errors"] == [
        {
            "row": 3,
            "column": "edss",
            "value": "11",
            "message": "value out of range",
            "expected": "a number on the 0.5 grid in [0, 10]",
        }
    ]
    visits = c.get(f"/api/patients/{keys['MRN-1002']}").json()["assessments"]
    assert [v["date"] for v in visits] == [
        "2020-01-01",
        "2020-07-01",
        "2021-01-05",
    ]  # row 2 not written either
    r = c.post(
        "/api/imports",
        data={"kind": "visits"},
        files={"file": ("v.csv", good, "image/png")},
        headers=h,
    )
    assert r.status_code == 415
    r = c.post(
        "/api/imports",
        data={"kind": "visits"},
        files={"file": ("v.exe", good, "text/csv")},
        headers=h,
    )
    assert r.status_code == 415
    big = b"subject,date,edss\n" + b"MRN-1002,2021-01-05,1.5\n" * 300_000
    r = c.post(
        "/api/imports",
        data={"kind": "visits"},
        files={"file": ("big.csv", big, "text/csv")},
        headers=h,
    )
    assert r.status_code == 413
    r = c.post(
        "/api/imports",
        data={"kind": "nonsense"},
        files={"file": ("v.csv", good, "text/csv")},
        headers=h,
    )
    assert r.status_code == 422 and "unknown kind" in r.json()["detail"]
    garbage = b"\x89PNG\r\n\x1a\n\x00\x00"
    r = c.post(
        "/api/imports",
        data={"kind": "visits"},
        files={"file": ("v.csv", garbage, "text/csv")},
        headers=h,
    )
    assert r.status_code == 422
    # Parquet works the same way
    buf = io.BytesIO()
    pq.write_table(
        pa.table(
            {"subject": ["MRN-1002"], "date": pa.array([19000], pa.date32()), "active": [True]}
        ),
        buf,
    )
    r = c.post(
        "/api/imports",
        data={"kind": "mri"},
        files={"file": ("m.parquet", buf.getvalue(), "application/octet-stream")},
        headers=h,
    )
    assert r.status_code == 201 and r.json()["inserted"] == 1
    assert c.get(f"/api/patients/{keys['MRN-1002']}").json()["mri"][0]["date"] == "2022-01-08"


def test_import_page_shows_every_bad_row(sqlite_clinic, login, csrf):
    app, _ = sqlite_clinic
    c = login(app, "dr.a")
    bad = b"subject,date,edss\nX1,2021-02-05,2.2\nX1,yesterday,2.0\n"
    r = c.post(
        "/import",
        data={"kind": "visits", "csrf_token": csrf(c)},
        files={"file": ("bad.csv", bad, "text/csv")},
    )
    assert r.status_code == 422
    assert (
        "not on the 0.5 grid" in r.text
        and "unparseable date" in r.text
        and 'id="import-errors"' in r.text
    )
    assert c.get("/api/patients").json()["total"] == 2
    forbidden = login(app, "alice").get("/import")
    assert forbidden.status_code == 403


def test_fhir_bundle_upload_becomes_device_measures(sqlite_clinic, login, csrf):
    import json

    import pandas as pd

    from smoulder.io.fhir import measures_to_bundle

    app, keys = sqlite_clinic
    c = login(app, "dr.a")
    h = {"x-csrf-token": csrf(c)}
    df = pd.DataFrame(
        {
            "subject": ["MRN-1002"] * 3,
            "date": pd.to_datetime(["2021-01-04", "2021-01-05", "2021-01-11"]),
            "measure": ["steps"] * 3,
            "value": [5000.0, 7000.0, 4000.0],
            "unit": ["count"] * 3,
        }
    )
    body = json.dumps(measures_to_bundle(df)).encode()
    r = c.post(
        "/api/imports",
        data={"kind": "fhir"},
        files={"file": ("obs.json", body, "application/fhir+json")},
        headers=h,
    )
    assert r.status_code == 201, r.text
    assert r.json()["inserted"] == 3 and r.json()["kind"] == "devices"
    steps = c.get(f"/api/patients/{keys['MRN-1002']}").json()["device"]["steps"]
    # weekly medians: week of 2021-01-04 -> median(5000, 7000); week of 2021-01-11 -> 4000
    assert steps["dates"] == ["2021-01-04", "2021-01-11"] and steps["values"] == [6000.0, 4000.0]
    # the same bundle again changes nothing; a broken one is refused
    again = c.post(
        "/api/imports",
        data={"kind": "fhir"},
        files={"file": ("obs.json", body, "application/json")},
        headers=h,
    )
    assert again.json()["unchanged"] == 3
    r = c.post(
        "/api/imports",
        data={"kind": "fhir"},
        files={"file": ("obs.json", b"{not json", "application/json")},
        headers=h,
    )
    assert r.status_code == 422 and "not valid JSON" in r.json()["detail"]
    # another clinician's person cannot be written through a bundle either
    df["subject"] = "MRN-2001"
    r = c.post(
        "/api/imports",
        data={"kind": "fhir"},
        files={"file": ("o.json", json.dumps(measures_to_bundle(df)).encode(), "application/json")},
        headers=h,
    )
    assert r.status_code == 422


def rows_in(fragment: str) -> list[list[str]]:
    import re

    return [
        [re.sub(r"<[^>]+>", "", c).strip() for c in re.findall(r"<td[^>]*>(.*?)</td>", r)]
        for r in re.findall(r"<tr>(.*?)</tr>", fragment.split("<tbody>")[1])
    ]


def test_person_page_lists_events_mri_treatments(sqlite_clinic, login):
    import re

    app, keys = sqlite_clinic
    html = login(app, "dr.a").get(f"/patients/{keys['MRN-1001']}").text

    def rows(table_id: str) -> list[list[str]]:
        body = html.split(f'id="{table_id}"')[1].split("</tbody>")[0].split("<tbody>")[1]
        return [
            [re.sub(r"<[^>]+>", "", c).strip() for c in re.findall(r"<td[^>]*>(.*?)</td>", r)]
            for r in re.findall(r"<tr>(.*?)</tr>", body)
        ]

    assert rows("events") == [
        ["RAW", "EDSS", "2.0 (2020-01-01)", "3.0 (2020-04-10)", "2020-07-19"],
        ["PIRA", "EDSS", "3.0 (2020-07-19)", "4.0 (2020-10-27)", "2021-02-04"],
    ]
    # newest scan first: T2, new/enlarging, Gd+ (not recorded here), activity, PRL, SEL, QC link
    assert rows("mri") == [
        [
            "2021-01-20",
            "",
            "",
            "",
            "new or enlarging lesions",
            "1 of 2 lesions",
            "",
            "2 lesion results",
        ],
        ["2020-06-01", "", "", "", "none", "", "", ""],
    ]
    # the link opens that scan's lesion QC: one row per lesion
    qc = html.split('id="scan-2021-01-20"')[1].split("</details>")[0]
    assert [c for c in rows_in(qc)] == [
        ["PRL", "1", "300.0", "0.9", "yes", "", ""],
        ["PRL", "2", "40.0", "0.1", "no", "", ""],
    ]
    assert (
        "ocrelizumab (anti-CD20): 2020-05-01 to now" in html
        and "relapse 2020-02-20 to 2020-03-20" in html
    )


def test_a_person_sees_who_looked_at_their_record(sqlite_clinic, login):
    import re

    app, keys = sqlite_clinic
    login(app, "dr.a").get(f"/patients/{keys['MRN-1001']}/report.html")
    html = login(app, "alice").get(f"/patients/{keys['MRN-1001']}").text
    trail = html.split('id="trail"')[1].split("</ul>")[0]
    # in words, with the time in UTC (the page's script shows it in the reader's local time)
    assert "Dr A (clinician) opened a summary of your record" in trail
    assert re.search(r'<time datetime="\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ" data-local>', trail)
    assert "You opened your record" not in trail  # alice's own view is filed after the page
    assert 'id="trail"' not in login(app, "res").get(f"/patients/{keys['MRN-1001']}").text


def test_cohort_csv_download(sqlite_clinic, login, names):
    import csv
    import io

    app, keys = sqlite_clinic
    res = list(
        csv.DictReader(io.StringIO(login(app, "res").get("/api/cohort.csv?signal=any").text))
    )
    assert [r["key"] for r in res] == [keys["MRN-1001"]] and "name" not in res[0]
    assert (res[0]["n_pira"], res[0]["n_prl"], res[0]["last_edss"]) == ("1", "1", "4.0")
    doc = list(
        csv.DictReader(
            io.StringIO(login(app, "dr.a").get("/api/cohort.csv?sort=pseudonym&desc=false").text)
        )
    )
    assert sorted(r["subject"] for r in doc) == ["MRN-1001", "MRN-1002"]
    # names go out as text, never as spreadsheet formulas
    from smoulder.store import import_into
    from smoulder.store.importer import read_upload

    import_into(
        app.state.store,
        "people",
        read_upload(b'subject,name\nMRN-1002,"=HYPERLINK(""x"")"\n', "p.csv"),
    )
    doc = list(csv.DictReader(io.StringIO(login(app, "dr.a").get("/api/cohort.csv").text)))
    assert {r["name"] for r in doc} >= {'\'=HYPERLINK("x")'}
