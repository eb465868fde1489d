"""The cohort view's filters by treatment, disease course and age, its trend marks, and the CSV
that carries the same columns; and the disease course in the people import."""

from __future__ import annotations

import csv
import io
import re

from smoulder.store import import_into


def _people(app, t) -> None:
    # MRN-1001 born 1980 (41 on 2021-03-01), RRMS; MRN-1002 born 1960 (61), SPMS; MRN-2001 not set
    import_into(
        app.state.store,
        "people",
        t(
            "subject,birth_year,disease_course,onset_year\n"
            "MRN-1001,1980,rrms,2005\nMRN-1002,1960,Secondary progressive,1990\n"
        ),
    )


def test_filters_by_treatment_course_and_age(sqlite_clinic, login):
    from tests.web.conftest import t

    app, keys = sqlite_clinic
    _people(app, t)
    # a stopped course does not count as the current treatment
    import_into(
        app.state.store,
        "treatments",
        t("subject,drug,start_date,stop_date\nMRN-1002,Tecfidera,2019-01-01,2020-01-01\n"),
    )
    c = login(app, "dr.a")

    def got(query: str) -> list[str]:
        r = c.get(f"/api/cohort?{query}")
        assert r.status_code == 200, r.text
        return sorted(x["key"] for x in r.json()["rows"])

    a, b = keys["MRN-1001"], keys["MRN-1002"]
    assert got("") == sorted([a, b])
    assert got("treatment=ocrelizumab") == [a]
    assert got("treatment=none") == [b]
    assert got("treatment=dimethyl%20fumarate") == []  # stopped in 2020
    assert got("course=RRMS") == [a] and got("course=SPMS") == [b]
    assert got("course=unknown") == [] and got("course=PPMS") == []
    assert got("age_min=50") == [b] and got("age_max=50") == [a]
    assert got("age_min=41&age_max=41") == [a]
    assert got("treatment=ocrelizumab&course=SPMS") == []
    assert c.get("/api/cohort?course=benign").status_code == 422
    assert c.get("/api/cohort?treatment=vitamin%20D").status_code == 422
    assert c.get("/api/cohort?age_min=-1").status_code == 422
    row = next(x for x in c.get("/api/cohort").json()["rows"] if x["key"] == a)
    assert (row["age"], row["disease_course"], row["treatment"]) == (41, "RRMS", "ocrelizumab")
    # the EDSS at each visit, and the change over the two years before the last visit:
    # 2021-02-04 (4.0) against 2020-01-01 (2.0)
    assert [p["edss"] for p in row["edss_trend"]] == [2.0, 3.0, 3.0, 4.0, 4.0]
    assert row["edss_change_2y"] == 2.0
    assert row["visit_overdue"] is False  # the frozen day is 2021-03-01

    page = c.get("/cohort?course=RRMS&age_min=&age_max=").text
    assert a in page and b not in page
    assert page.count('<svg class="spark"') == 1
    assert 'aria-label="EDSS from 2 (2020) to 4 (2021)"' in page


def test_the_csv_carries_the_page_columns(sqlite_clinic, login):
    from tests.web.conftest import t

    app, keys = sqlite_clinic
    _people(app, t)
    text = login(app, "dr.a").get("/api/cohort.csv?course=RRMS").text
    rows = list(csv.DictReader(io.StringIO(text)))
    assert list(rows[0]) == [
        "key",
        "name",
        "subject",
        "age",
        "disease_course",
        "treatment",
        "edss_change_2y",
        "edss_trend",
        "n_pira",
        "n_raw",
        "n_prl",
        "n_sel",
        "n_digital",
        "n_relapses",
        "last_edss",
        "last_visit",
        "visit_overdue",
    ]
    assert [(r["key"], r["age"], r["disease_course"], r["treatment"]) for r in rows] == [
        (keys["MRN-1001"], "41", "RRMS", "ocrelizumab")
    ]
    assert rows[0]["edss_trend"] == "2 3 3 4 4" and rows[0]["visit_overdue"] == "no"
    res = list(csv.DictReader(io.StringIO(login(app, "res").get("/api/cohort.csv").text)))
    assert "name" not in res[0] and {r["disease_course"] for r in res} == {"RRMS", "SPMS", ""}


def test_researchers_filter_on_the_controlled_list_and_see_only_coded_treatments(
    sqlite_clinic, login
):
    from tests.web.conftest import t

    app, keys = sqlite_clinic
    import_into(
        app.state.store,
        "treatments",
        t("subject,drug,start_date\nMRN-2001,Mrs Smith's trial drug,2020-02-01\n"),
    )
    c = login(app, "res")
    rows = {x["key"]: x for x in c.get("/api/cohort").json()["rows"]}
    assert rows[keys["MRN-1001"]]["treatment"] == "ocrelizumab"
    assert rows[keys["MRN-2001"]]["treatment"] is None  # not on the list: no name at all
    other = [x["key"] for x in c.get("/api/cohort?treatment=other").json()["rows"]]
    assert other == [keys["MRN-2001"]]
    assert "Smith" not in c.get("/cohort").text and "Smith" not in c.get("/api/cohort.csv").text


def test_a_people_file_without_the_course_keeps_the_stored_one(sqlite_clinic):
    from tests.web.conftest import t

    from smoulder.store import ImportFailed
    from smoulder.store.models import Person

    app, _ = sqlite_clinic
    _people(app, t)
    rep = import_into(app.state.store, "people", t("subject,name\nMRN-1001,Alice Example\n"))
    assert rep.unchanged == 1
    with app.state.store.session() as s:
        p = s.query(Person).filter(Person.subject == "MRN-1001").one()
        assert (p.disease_course, p.onset_year) == ("RRMS", 2005)
    try:
        import_into(
            app.state.store,
            "people",
            t("subject,disease_course,birth_year,onset_year\nMRN-1001,benign,1980,1975\n"),
        )
    except ImportFailed as exc:
        problems = [(e.row, e.column, e.message, e.expected) for e in exc.errors]
    else:  # pragma: no cover
        raise AssertionError("a bad course and an onset before birth must be refused")
    assert problems == [
        (2, "disease_course", "unknown disease course", "CIS | RRMS | SPMS | PPMS"),
        (2, "onset_year", "onset_year before birth_year", "a year from 1980 (the birth year) on"),
    ]


def test_whole_number_parameters_refuse_other_forms(sqlite_clinic, login):
    """Regression (found by the API fuzzer): ``offset=0.0`` was taken as 0, although the
    documented type is an integer."""
    app, _ = sqlite_clinic
    c = login(app, "dr.a")
    for query in ("offset=0.0", "limit=1e1", "offset=%200.5", "age_min=40.0"):
        r = c.get(f"/api/cohort?{query}")
        assert r.status_code == 422, (query, r.status_code)
        assert "whole number" in r.text, r.text
    assert c.get("/api/patients?offset=1.0").status_code == 422
    assert c.get("/cohort?page=1.0").status_code == 422
    # the ordinary forms still work
    assert c.get("/api/cohort?offset=0&limit=1").status_code == 200
    assert c.get("/api/cohort?offset=%200&limit=1").status_code == 200
    assert c.get("/api/patients?offset=0&limit=10").status_code == 200


def test_a_course_not_recorded_is_said_on_the_page_and_empty_in_the_csv(sqlite_clinic, login):
    """The page says "not recorded" where no disease course is on record (what the course filter
    calls it); the CSV leaves that cell empty, as every missing value in it (read as missing by
    spreadsheets, pandas and R), and "not recorded" never stands for a course there."""
    from tests.web.conftest import t

    app, keys = sqlite_clinic
    _people(app, t)  # MRN-1001 RRMS, MRN-1002 SPMS; nothing for MRN-2001
    c = login(app, "res")
    page = c.get("/cohort?sort=pseudonym&desc=false").text
    cells = re.findall(r'<td data-label="Course">(.*?)</td>', page)
    assert sorted(cells) == ['<span class="meta">not recorded</span>', "RRMS", "SPMS"]
    rows = {r["key"]: r for r in csv.DictReader(io.StringIO(c.get("/api/cohort.csv").text))}
    assert rows[keys["MRN-2001"]]["disease_course"] == ""
    assert [rows[keys[k]]["disease_course"] for k in ("MRN-1001", "MRN-1002")] == ["RRMS", "SPMS"]
    # the course filter's "not recorded" is the same people
    unknown = c.get("/cohort?course=unknown").text
    assert keys["MRN-2001"] in unknown and keys["MRN-1001"] not in unknown
