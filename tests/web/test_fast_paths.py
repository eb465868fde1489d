"""The fast read paths of the person views (issue 15, "Fast under a clinic's load") keep every
rule of the slow ones: the same people are visible to the same users, every view is on the audit
trail before its answer arrives, and nothing cached outlives a write."""

from __future__ import annotations

from sqlalchemy import func, select

from smoulder.store.models import AuditEntry, Person, User
from smoulder.store.repo import find_visible, find_visible_row


def test_the_prebuilt_access_rule_is_the_access_rule_for_every_user_and_person(sqlite_clinic):
    app, keys = sqlite_clinic
    store = app.state.store
    with store.session() as s:
        users = list(s.scalars(select(User)))
        people = list(s.scalars(select(Person)))
        # a user of a role that sees nobody, and a patient account without a record
        users += [
            User(id=999, username="x", role="auditor", display_name="", password_hash=""),
            User(id=998, username="y", role="patient", person_id=None, password_hash=""),
        ]
        seen: dict[str, set[str]] = {}
        for u in users:
            for p in people:
                slow = find_visible(s, u, p.pseudonym)
                with store.engine.connect() as conn:
                    fast = find_visible_row(conn, u, p.pseudonym)
                assert (slow is None) == (fast is None), (u.username, p.subject)
                if fast is not None:
                    assert (fast.id, fast.subject, fast.name, fast.data_version) == (
                        slow.id,
                        slow.subject,
                        slow.name,
                        slow.data_version,
                    )
                    seen.setdefault(u.username, set()).add(p.subject)
        with store.engine.connect() as conn:
            assert find_visible_row(conn, users[0], "P-NOSUCH") is None
            assert find_visible_row(conn, users[0], "P-" + "X" * 40) is None
    # worked out from the clinic's care links by hand
    assert seen == {
        "dr.a": {"MRN-1001", "MRN-1002"},
        "dr.b": {"MRN-2001"},
        "res": {"MRN-1001", "MRN-1002", "MRN-2001"},
        "alice": {"MRN-1001"},
        "carol": {"MRN-2001"},
    }


def _views(store, person_id: int, resource: str) -> int:
    with store.session() as s:
        return s.scalar(
            select(func.count())
            .select_from(AuditEntry)
            .where(
                AuditEntry.person_id == person_id,
                AuditEntry.action == "view",
                AuditEntry.resource == resource,
            )
        )


def test_each_view_is_committed_to_the_trail_before_its_answer(sqlite_clinic, login):
    app, keys = sqlite_clinic
    store = app.state.store
    k = keys["MRN-1001"]
    with store.session() as s:
        pid = s.scalar(select(Person.id).where(Person.pseudonym == k))
    paths = {
        "person page": f"/patients/{k}",
        "api person": f"/api/patients/{k}",
        "api audit": f"/api/patients/{k}/audit",
    }
    for username in ("dr.a", "alice"):
        c = login(app, username)
        for _ in range(3):  # the second and third answers come from the cache: still audited
            for resource, path in paths.items():
                before = _views(store, pid, resource)
                assert c.get(path).status_code == 200
                # read through another connection as soon as the answer is in
                assert _views(store, pid, resource) == before + 1, (username, path)
    # the researcher's page has no access list, and is audited all the same
    c = login(app, "res")
    before = _views(store, pid, "person page")
    assert c.get(f"/patients/{k}").status_code == 200
    assert _views(store, pid, "person page") == before + 1


def test_the_access_list_shows_the_views_before_this_one(sqlite_clinic, login):
    app, keys = sqlite_clinic
    k = keys["MRN-1001"]
    alice = login(app, "alice")
    first = alice.get(f"/patients/{k}").text
    assert "Nobody had opened your record before now." in first
    dr = login(app, "dr.a")
    assert dr.get(f"/patients/{k}").status_code == 200
    again = alice.get(f"/patients/{k}").text  # the clinician's view since, and her own
    assert "Dr A (clinician)" in again and "Nobody had opened" not in again


def test_a_refused_person_is_refused_on_the_fast_paths_and_audited(sqlite_clinic, login):
    app, keys = sqlite_clinic
    store = app.state.store
    k = keys["MRN-2001"]  # dr.b's patient
    with store.session() as s:
        pid = s.scalar(select(Person.id).where(Person.pseudonym == k))
    c = login(app, "dr.a")
    for path in (f"/patients/{k}", f"/api/patients/{k}", f"/api/patients/{k}/audit"):
        r = c.get(path)
        assert r.status_code == 404 and "Carol" not in r.text
    with store.session() as s:
        denied = s.scalar(
            select(func.count())
            .select_from(AuditEntry)
            .where(AuditEntry.person_id == pid, AuditEntry.action == "denied")
        )
        viewed = _views(store, pid, "person page") + _views(store, pid, "api person")
    assert denied == 3 and viewed == 0


def test_a_cached_view_is_not_served_after_an_import(sqlite_clinic, login, csrf):
    app, keys = sqlite_clinic
    k = keys["MRN-1002"]
    dr = login(app, "dr.a")
    old = dr.get(f"/api/patients/{k}").json()["assessments"]
    page = dr.get(f"/patients/{k}").text
    assert dr.get(f"/api/patients/{k}").json()["assessments"] == old  # cached now
    assert "2021-01-15" not in page
    r = dr.post(
        "/api/imports",
        data={"kind": "visits"},
        files={"file": ("v.csv", b"subject,date,edss\nMRN-1002,2021-01-15,1.5\n", "text/csv")},
        headers={"x-csrf-token": csrf(dr)},
    )
    assert r.status_code in (200, 201), r.text
    new = dr.get(f"/api/patients/{k}").json()["assessments"]
    assert len(new) == len(old) + 1 and new[-1]["date"] == "2021-01-15" and new[-1]["edss"] == 1.5
    assert "2021-01-15" in dr.get(f"/patients/{k}").text


def _cohort_lists(store) -> int:
    with store.session() as s:
        return s.scalar(
            select(func.count())
            .select_from(AuditEntry)
            .where(AuditEntry.action == "list", AuditEntry.resource == "cohort page")
        )


def test_the_cached_cohort_page_follows_every_write_and_is_audited_each_time(
    sqlite_clinic, login, csrf
):
    """The cohort table is rendered once per store revision: a second view is the same page (and
    still on the audit trail), an import shows at once, a new care link shows the person."""
    from smoulder.store.accounts import assign

    app, keys = sqlite_clinic
    store = app.state.store
    dr = login(app, "dr.a")
    first = dr.get("/cohort").text
    before = _cohort_lists(store)
    again = dr.get("/cohort")
    assert again.status_code == 200 and _cohort_lists(store) == before + 1
    # the same table (the page around it carries this request's CSRF token)
    table = first.split("<h1>Cohort", 1)[1]
    assert again.text.split("<h1>Cohort", 1)[1] == table
    assert "Carol" not in table and "2 people" in table
    # a visit imported for Bob: his last EDSS and last visit change on the next view
    r = dr.post(
        "/api/imports",
        data={"kind": "visits"},
        files={"file": ("v.csv", b"subject,date,edss\nMRN-1002,2021-06-01,6.5\n", "text/csv")},
        headers={"x-csrf-token": csrf(dr)},
    )
    assert r.status_code in (200, 201), r.text
    after = dr.get("/cohort").text
    assert "2021-06-01" in after and "2021-06-01" not in first
    # dr.b's patient linked to dr.a as well: on dr.a's next cohort page
    with store.session() as s:
        from smoulder.store.models import User as U

        a = s.scalar(select(U).where(U.username == "dr.a"))
        carol = s.scalar(select(Person).where(Person.subject == "MRN-2001"))
        assign(s, a, carol)
        s.commit()
    linked = dr.get("/cohort").text
    assert "Carol Otherclinic" in linked and "3 people" in linked
    # another clinician's cached page is never handed to dr.a, nor dr.a's to dr.b
    assert "Alice" not in login(app, "dr.b").get("/cohort").text


def _audit_count(store, resource: str) -> int:
    with store.session() as s:
        return s.scalar(
            select(func.count())
            .select_from(AuditEntry)
            .where(AuditEntry.action == "list", AuditEntry.resource == resource)
        )


def test_the_cached_cohort_json_follows_every_write_and_is_kept_per_reader(
    sqlite_clinic, login, csrf
):
    """``GET /api/cohort`` is made once per reader, store revision, day and query, like the page:
    a repeat is the same answer and on the audit trail again, an import shows at once, a new care
    link shows the person, and one reader's answer is never another's."""
    from smoulder.store.accounts import assign

    app, keys = sqlite_clinic
    store = app.state.store
    dr = login(app, "dr.a")
    first = dr.get("/api/cohort?sort=last_visit&desc=true").json()
    before = _audit_count(store, "api cohort")
    again = dr.get("/api/cohort?sort=last_visit&desc=true")
    assert again.json() == first and _audit_count(store, "api cohort") == before + 1
    assert first["total"] == 2
    assert {r["key"] for r in first["rows"]} == {keys["MRN-1001"], keys["MRN-1002"]}
    # another query is another answer
    assert (
        dr.get("/api/cohort?sort=last_visit&desc=true&limit=1").json()["rows"] == first["rows"][:1]
    )
    r = dr.post(
        "/api/imports",
        data={"kind": "visits"},
        files={"file": ("v.csv", b"subject,date,edss\nMRN-1002,2021-06-01,6.5\n", "text/csv")},
        headers={"x-csrf-token": csrf(dr)},
    )
    assert r.status_code in (200, 201), r.text
    after = dr.get("/api/cohort?sort=last_visit&desc=true").json()
    bob = next(x for x in after["rows"] if x["key"] == keys["MRN-1002"])
    assert bob["last_visit"] == "2021-06-01" and bob["last_edss"] == 6.5
    assert after["rows"][0]["key"] == keys["MRN-1002"]
    with store.session() as s:
        a = s.scalar(select(User).where(User.username == "dr.a"))
        carol = s.scalar(select(Person).where(Person.subject == "MRN-2001"))
        assign(s, a, carol)
        s.commit()
    linked = dr.get("/api/cohort?sort=last_visit&desc=true").json()
    assert linked["total"] == 3 and keys["MRN-2001"] in {r["key"] for r in linked["rows"]}
    # dr.b asks the same query: dr.b's own people, never dr.a's cached answer
    other = login(app, "dr.b").get("/api/cohort?sort=last_visit&desc=true").json()
    assert {r["key"] for r in other["rows"]} == {keys["MRN-2001"]}
    # a researcher asking the same gets the pseudonymised rows (no names)
    res = login(app, "res").get("/api/cohort?sort=last_visit&desc=true").json()
    assert res["total"] == 3 and all("name" not in r or r["name"] is None for r in res["rows"])
