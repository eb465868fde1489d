"""Security: nobody reads a record they may not see, through any route; researchers never see names;
no session means nothing; cookies, CSRF, login rate limiting and the audit trail work."""

from __future__ import annotations

import re
import shutil
import subprocess

import pytest
from fastapi.testclient import TestClient

from smoulder.web import WebSettings, create_app
from smoulder.web.app import iter_routes

# how to fill each path parameter; a route with a parameter missing here fails the tests, so a new
# route cannot escape them
PARAMS = {"key"}
LIFESTYLE = {
    "date": "2021-03-01",
    "exercise_min_week": "30",
    "diet": "mixed",
    "smoking": "never",
    "alcohol_units_week": "1",
    "sleep_hours": "7",
    "medications": "",
    "comorbidities": "",
    "notes": "x",
}


def app_routes(app):
    """Every (method, path template) the app answers, except static files and the OpenAPI document."""
    out = []
    routes = iter_routes(app.routes)
    # nothing in the OpenAPI document escapes the enumeration
    documented = set(app.openapi()["paths"])
    assert documented <= {r.path for r in routes}
    for r in routes:
        path = r.path
        if path in ("/openapi.json", "/static/plotly.min.js"):
            continue
        for m in sorted(getattr(r, "methods", None) or []):
            if m == "HEAD":
                continue
            out.append((m, path, r))
    assert len(out) >= 15, "route enumeration found suspiciously few routes"
    return out


def fill(path: str, key: str) -> str:
    params = set(re.findall(r"{(\w+)}", path))
    unknown = params - PARAMS
    assert not unknown, f"route {path} has parameters {unknown} this test does not know how to fill"
    return path.replace("{key}", key)


def call(client, method: str, path: str, csrf: str = "", subject: str = "MRN-2001"):
    headers = {"x-csrf-token": csrf} if csrf else {}
    if method == "GET":
        return client.get(path, headers=headers, follow_redirects=False)
    if path.endswith("/lifestyle") and path.startswith("/api/"):
        return client.post(
            path, json={k: v for k, v in LIFESTYLE.items()}, headers=headers, follow_redirects=False
        )
    data = dict(LIFESTYLE, csrf_token=csrf)
    if path in ("/import", "/api/imports"):
        files = {
            "file": ("v.csv", f"subject,date,edss\n{subject},2021-03-01,9.5\n".encode(), "text/csv")
        }
        return client.post(
            path,
            data={"kind": "visits", "csrf_token": csrf},
            files=files,
            headers=headers,
            follow_redirects=False,
        )
    return client.request(method, path, data=data, headers=headers, follow_redirects=False)


def pdf_text(data: bytes, tmp_path) -> str:
    if not data.startswith(b"%PDF"):
        return ""
    if shutil.which("pdftotext") is None:
        pytest.skip("pdftotext (poppler-utils) not installed")
    p = tmp_path / "r.pdf"
    p.write_bytes(data)
    return subprocess.run(
        ["pdftotext", str(p), "-"], capture_output=True, text=True, check=True
    ).stdout


def test_no_session_gets_nothing(clinic):
    app, keys = clinic
    c = TestClient(app)
    for method, template, _ in app_routes(app):
        path = fill(template, keys["MRN-1001"])
        r = call(c, method, path)
        if (method, template) in (("GET", "/api/health"), ("POST", "/api/login")):
            continue
        if template.startswith("/api"):
            assert r.status_code == 401, (method, path, r.status_code)
            assert "Alice" not in r.text
        elif template in ("/login",):
            assert r.status_code in (200, 403)
        else:
            assert r.status_code == 303 and r.headers["location"].startswith("/login"), (
                method,
                path,
                r.status_code,
            )
    # also paths that do not exist under /api
    assert c.get("/api/nothing-here").status_code == 401
    assert c.delete("/api/patients").status_code == 401
    assert c.get("/api/health").json()["status"] == "ok"


@pytest.mark.parametrize(
    "who,own,other",
    [
        ("alice", "MRN-1001", "MRN-2001"),
        ("carol", "MRN-2001", "MRN-1001"),
        ("dr.a", "MRN-1001", "MRN-2001"),
        ("dr.b", "MRN-2001", "MRN-1002"),
    ],
)
def test_nobody_reads_or_changes_a_record_they_may_not_see(
    sqlite_clinic, login, csrf, names, who, own, other, tmp_path
):
    app, keys = sqlite_clinic
    c = login(app, who)
    token = csrf(c)
    assert (
        c.get(f"/patients/{keys[own]}").status_code == 200
    )  # the test can tell success from refusal
    forbidden = [
        names[other],
        other,
        keys[other],
        "secret note b1" if other == "MRN-2001" else "secret note a1",
    ]
    with app.state.store.session() as s:
        from sqlalchemy import func, select

        from smoulder.store.models import Assessment, LifestyleEntry

        before = (
            s.scalar(select(func.count()).select_from(LifestyleEntry)),
            s.scalar(select(func.count()).select_from(Assessment)),
        )
    checked = 0
    for method, template, _ in app_routes(app):
        if template == "/logout" or template == "/api/logout":
            continue
        if "{key}" in template:
            path = fill(template, keys[other])
            r = call(c, method, path, token)
            assert r.status_code in (403, 404), (who, method, path, r.status_code)
        else:
            r = call(c, method, template, token, subject=other)
        body = r.text if not r.content.startswith(b"%PDF") else pdf_text(r.content, tmp_path)
        for secret in forbidden:
            if template in ("/import", "/api/imports") and secret == other:
                continue  # the caller's own upload named this id; see the next assertion
            assert secret not in body, (who, method, template, secret)
        if method == "POST" and template in ("/import", "/api/imports") and who.startswith("dr."):
            assert r.status_code in (403, 422) and "9.5" not in body
        checked += 1
    assert checked >= 15
    with app.state.store.session() as s:
        after = (
            s.scalar(select(func.count()).select_from(LifestyleEntry)),
            s.scalar(select(func.count()).select_from(Assessment)),
        )
    assert after == before
    # the import route never wrote the other clinic's person (dr.b's MRN-2001 for dr.a)


def test_researcher_never_sees_names_or_clinic_ids(sqlite_clinic, login, csrf, names, tmp_path):
    app, keys = sqlite_clinic
    c = login(app, "res")
    token = csrf(c)
    identifiers = list(names.values()) + list(names) + ["Alice", "Carol", "secret note"]
    seen_pages = 0
    for method, template, _ in app_routes(app):
        if method != "GET":
            continue
        for key in keys.values():
            r = call(c, method, fill(template, key), token)
            body = r.text if not r.content.startswith(b"%PDF") else pdf_text(r.content, tmp_path)
            for ident in identifiers:
                assert ident not in body, (template, ident)
            if r.status_code == 200:
                seen_pages += 1
            if "{key}" not in template:
                break
    assert seen_pages >= 10
    # researchers see everyone, by pseudonym, with the signals
    rows = c.get("/api/cohort?limit=10").json()["rows"]
    assert sorted(r["key"] for r in rows) == sorted(keys.values())
    assert all(r["name"] is None and r["subject"] is None for r in rows)
    # searching by name finds nothing for a researcher
    assert c.get("/api/cohort?q=Alice").json()["total"] == 0
    # researchers cannot write
    assert (
        c.post(
            f"/api/patients/{keys['MRN-1001']}/lifestyle",
            json={"date": "2021-01-01"},
            headers={"x-csrf-token": token},
        ).status_code
        == 403
    )


def test_script_in_text_is_escaped_never_executed(sqlite_clinic, login):
    app, keys = sqlite_clinic
    c = login(app, "dr.a")
    for path in (f"/patients/{keys['MRN-1002']}", "/cohort?sort=name&desc=false"):
        html = c.get(path).text
        assert "<script>alert(" not in html
        assert "&lt;script&gt;alert(" in html
    report = c.get(f"/patients/{keys['MRN-1002']}/report.html").text
    assert "<script>" not in report and "&lt;script&gt;" in report
    # the JSON embedded for the plot cannot close its script element
    page = c.get(f"/patients/{keys['MRN-1002']}").text
    data = page.split('<script id="timeline-data" type="application/json">')[1].split("</script>")[
        0
    ]
    assert "<" not in data


def test_cookie_flags_and_secure_setting(sqlite_clinic):
    app, keys = sqlite_clinic
    c = TestClient(app)
    r = c.post("/api/login", json={"username": "dr.a", "password": "correct horse battery"})
    assert r.status_code == 200
    cookie = r.headers["set-cookie"].lower()
    assert (
        "httponly" in cookie
        and "samesite=strict" in cookie
        and "secure" not in cookie.replace("secure=", "")
    )
    app2 = create_app(
        WebSettings(**{**app.state.settings.model_dump(), "secure_cookies": True}),
        store=app.state.store,
    )
    r2 = TestClient(app2).post(
        "/api/login", json={"username": "dr.a", "password": "correct horse battery"}
    )
    assert "; secure" in r2.headers["set-cookie"].lower()
    assert (
        r.headers["x-frame-options"] == "DENY"
        and "default-src 'self'" in r.headers["content-security-policy"]
    )


def test_csrf_is_required_for_every_write(sqlite_clinic, login, csrf):
    app, keys = sqlite_clinic
    c = login(app, "alice")
    k = keys["MRN-1001"]
    n_before = len(c.get(f"/api/patients/{k}/lifestyle").json()["entries"])
    assert (
        c.post(f"/patients/{k}/lifestyle", data=LIFESTYLE, follow_redirects=False).status_code
        == 403
    )
    assert (
        c.post(
            f"/patients/{k}/lifestyle",
            data=dict(LIFESTYLE, csrf_token="forged"),
            follow_redirects=False,
        ).status_code
        == 403
    )
    assert c.post(f"/api/patients/{k}/lifestyle", json={"date": "2021-03-02"}).status_code == 403
    assert len(c.get(f"/api/patients/{k}/lifestyle").json()["entries"]) == n_before
    r = c.post(
        f"/patients/{k}/lifestyle", data=dict(LIFESTYLE, csrf_token=csrf(c)), follow_redirects=False
    )
    assert r.status_code == 303
    assert len(c.get(f"/api/patients/{k}/lifestyle").json()["entries"]) == n_before + 1
    # the login form needs its own token too
    fresh = TestClient(app)
    fresh.get("/login")
    r = fresh.post(
        "/login",
        data={"username": "alice", "password": "correct horse battery", "csrf_token": "x"},
        follow_redirects=False,
    )
    assert r.status_code == 403


def test_login_rate_limit_and_uniform_failures(sqlite_clinic):
    from smoulder.store.models import utcnow

    app, _ = sqlite_clinic
    now = utcnow()
    # a clock that stands still: on a loaded machine the 2 s back-off can pass between requests
    app.state.limiter.clock = lambda: now
    c = TestClient(app)
    wrong = c.post("/api/login", json={"username": "dr.a", "password": "nope"})
    unknown = c.post("/api/login", json={"username": "nobody", "password": "nope"})
    assert wrong.status_code == unknown.status_code == 401 and wrong.json() == unknown.json()
    for _ in range(4):
        assert (
            c.post("/api/login", json={"username": "dr.a", "password": "nope"}).status_code == 401
        )
    # five failures: even the right password is refused for now
    r = c.post("/api/login", json={"username": "dr.a", "password": "correct horse battery"})
    assert r.status_code == 429 and "Too many" in r.json()["detail"]
    # another user name is not locked
    assert (
        c.post(
            "/api/login", json={"username": "dr.b", "password": "correct horse battery"}
        ).status_code
        == 200
    )


def test_logout_ends_the_session(sqlite_clinic, login, csrf):
    app, _ = sqlite_clinic
    c = login(app, "dr.a")
    cookie = c.cookies.get("smoulder_session")
    assert c.post("/api/logout", headers={"x-csrf-token": csrf(c)}).status_code == 200
    replay = TestClient(app, cookies={"smoulder_session": cookie})
    assert replay.get("/api/patients").status_code == 401


def test_audit_log_records_who_viewed_and_changed_what(sqlite_clinic, login, csrf):
    app, keys = sqlite_clinic
    doc = login(app, "dr.a")
    doc.get(f"/patients/{keys['MRN-1001']}")
    doc.get(f"/patients/{keys['MRN-1001']}/report.pdf")
    doc.post(
        "/api/imports",
        data={"kind": "visits"},
        headers={"x-csrf-token": csrf(doc)},
        files={"file": ("v.csv", b"subject,date,edss\nMRN-1001,2021-06-01,4.0\n", "text/csv")},
    )
    alice = login(app, "alice")
    alice.post(
        f"/api/patients/{keys['MRN-1001']}/lifestyle",
        json={"date": "2021-03-05", "sleep_hours": 7},
        headers={"x-csrf-token": csrf(alice)},
    )
    entries = alice.get(f"/api/patients/{keys['MRN-1001']}/audit").json()["entries"]
    seen = {(e["user"], e["action"], e["resource"]) for e in entries}
    assert ("dr.a", "view", "person page") in seen
    assert ("dr.a", "export", "report pdf") in seen
    assert ("alice", "create", "lifestyle entry") in seen
    assert ("dr.a", "change", "import visits") in seen
    # nobody else's views show up in Alice's trail
    carol = login(app, "carol")
    carol.get(f"/patients/{keys['MRN-2001']}")
    entries = alice.get(f"/api/patients/{keys['MRN-1001']}/audit").json()["entries"]
    assert all(e["user"] != "carol" for e in entries)


def test_sessions_expire_and_login_never_redirects_elsewhere(sqlite_clinic):
    import time

    app, _ = sqlite_clinic
    short = create_app(
        WebSettings(**{**app.state.settings.model_dump(), "session_hours": 2 / 3600}),
        store=app.state.store,
    )
    c = TestClient(short)
    assert (
        c.post(
            "/api/login", json={"username": "dr.a", "password": "correct horse battery"}
        ).status_code
        == 200
    )
    assert c.get("/api/patients").status_code == 200
    token = c.cookies.get("smoulder_session")
    time.sleep(2.3)
    # the server refuses the expired session even when a client keeps sending the cookie
    assert (
        TestClient(short, cookies={"smoulder_session": token}).get("/api/patients").status_code
        == 401
    )
    c = TestClient(app)
    page = c.get("/login?next=//evil.example/steal")
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)
    assert 'value="/"' in page.text  # the unsafe target was dropped
    r = c.post(
        "/login",
        data={
            "username": "dr.a",
            "password": "correct horse battery",
            "csrf_token": token,
            "next": "https://evil.example/",
        },
        follow_redirects=False,
    )
    assert r.status_code == 303 and r.headers["location"] == "/"
