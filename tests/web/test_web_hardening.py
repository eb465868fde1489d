"""Issue 10, web app: an upload is data never a path, bounded parameters instead of 500s, the same
headers on every answer, refusals audited, HSTS, idle sessions, one session per user, a health
check that tells strangers nothing, the Host header checked."""

from __future__ import annotations

import json
import threading
import time

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from smoulder.store.models import AuditEntry, DeviceMeasure, Person
from smoulder.web import WebSettings, create_app

PASSWORD = "correct horse battery"
SECURITY = ("content-security-policy", "x-frame-options", "x-content-type-options")


def _settings(app, **kw) -> WebSettings:
    base = app.state.settings
    return WebSettings(**{**base.model_dump(), **kw})


def _bundle_for(subject: str) -> dict:
    import pandas as pd

    from smoulder.io.fhir import measures_to_bundle

    df = pd.DataFrame(
        {
            "subject": [subject] * 2,
            "date": pd.to_datetime(["2021-01-04", "2021-01-05"]),
            "measure": ["steps"] * 2,
            "value": [5000.0, 7000.0],
            "unit": ["count"] * 2,
        }
    )
    return measures_to_bundle(df)


def _fhir(c, token, body: bytes, name: str = "obs.json"):
    return c.post(
        "/api/imports",
        data={"kind": "fhir"},
        files={"file": (name, body, "application/json")},
        headers={"x-csrf-token": token},
    )


def _n_device(app) -> int:
    with app.state.store.session() as s:
        return len(s.scalars(select(DeviceMeasure.id)).all())


# ----------------------------------------------------------------------------- item 1
def test_a_json_string_body_is_never_opened_as_a_path(sqlite_clinic, login, csrf, tmp_path):
    app, _ = sqlite_clinic
    c = login(app, "dr.a")
    token = csrf(c)
    # a FHIR bundle lying on the server's disk, for a person dr.a looks after
    server_file = tmp_path / "server-side-bundle.json"
    server_file.write_text(json.dumps(_bundle_for("MRN-1002")))
    before = _n_device(app)
    answers = []
    for path in (str(server_file), "/etc/shadow", "/nonexistent/file.json", "/etc/hostname"):
        r = _fhir(c, token, json.dumps(path).encode())
        answers.append((r.status_code, r.json()["detail"]))
        assert r.status_code == 422, (path, r.status_code, r.text)
        assert "JSON object" in r.json()["detail"] and "a JSON string" in r.json()["detail"]
    # the answer is the same whether the file exists or not: nothing was looked up
    assert len(set(answers)) == 1
    assert _n_device(app) == before


@pytest.mark.parametrize(
    "body,what",
    [
        (b"[1,2,3]", "a JSON array"),
        (b"42", "a JSON number"),
        (b"[" * 100_000, "not valid JSON"),
        (b"{" * 100_000, "not valid JSON"),
        (b'{"resourceType": "Patient", "id": "x"}', "resourceType 'Patient'"),
        (b'{"entry": []}', "no resourceType"),
        (b"null", "JSON null"),
        (b"\xff\xfe{}", "not UTF-8"),
    ],
)
def test_fhir_bodies_that_are_not_a_bundle_are_a_422_that_says_so(
    sqlite_clinic, login, csrf, body, what
):
    app, _ = sqlite_clinic
    c = login(app, "dr.a")
    r = _fhir(c, csrf(c), body)
    assert r.status_code == 422, r.text
    assert what in r.json()["detail"]
    assert "Bundle" in r.json()["detail"]  # says what was expected
    assert all(h in r.headers for h in SECURITY)


# ----------------------------------------------------------------------------- item 5
@pytest.mark.parametrize(
    "path",
    [
        "/api/cohort?offset=9223372036854775808",
        "/api/cohort?offset=-1",
        "/api/cohort?limit=100000",
        "/api/patients?offset=9223372036854775808",
        "/api/patients?limit=0",
        "/api/cohort.csv?sort=x%00",
    ],
)
def test_unbounded_query_parameters_are_a_422_not_a_500(sqlite_clinic, login, path):
    app, _ = sqlite_clinic
    c = login(app, "dr.a")
    r = c.get(path)
    assert r.status_code == 422 if "sort" not in path else r.status_code in (200, 422), r.text
    assert all(h in r.headers for h in SECURITY)
    if r.status_code == 422:
        body = r.json()
        assert isinstance(body["detail"], str) and body["errors"][0]["column"]


def test_the_cohort_page_with_a_huge_page_number_is_an_error_page_with_headers(
    sqlite_clinic, login
):
    app, _ = sqlite_clinic
    c = login(app, "dr.a")
    r = c.get("/cohort?page=9223372036854775808")
    assert r.status_code == 422 and "page" in r.text and "<html" in r.text
    assert all(h in r.headers for h in SECURITY)


def test_every_error_answer_carries_the_security_headers(sqlite_clinic, login):
    app, _ = sqlite_clinic

    @app.get("/api/boom", include_in_schema=False)
    def boom() -> dict:
        raise RuntimeError("secret internal detail MRN-1001")

    @app.get("/boom", include_in_schema=False)
    def boom_page() -> dict:
        raise RuntimeError("secret internal detail MRN-1001")

    c = login(app, "dr.a")
    raw = TestClient(app, raise_server_exceptions=False, cookies=c.cookies)
    answers = {
        404: raw.get("/no-such-page"),
        405: raw.delete("/api/patients"),
        500: raw.get("/api/boom"),
        413: raw.post(
            "/api/imports",
            content=b"x" * (app.state.settings.max_upload_bytes + 200_000),
            headers={"content-type": "multipart/form-data; boundary=x"},
        ),
    }
    page500 = raw.get("/boom")
    for status, r in [*answers.items(), (500, page500)]:
        assert r.status_code == status, (status, r.status_code, r.text[:200])
        for h in SECURITY:
            assert h in r.headers, (status, h)
        assert "secret internal detail" not in r.text and "Traceback" not in r.text
    assert answers[500].json() == {"detail": "internal error; the request was not completed"}
    assert "<html" in page500.text


# ----------------------------------------------------------------------------- item 6
def _audit(app) -> list[tuple]:
    with app.state.store.session() as s:
        return [
            (a.user_id, a.action, a.resource, a.person_id, a.detail)
            for a in s.scalars(select(AuditEntry).order_by(AuditEntry.id))
        ]


def test_refusals_are_audited_without_patient_identifiers(sqlite_clinic, login, csrf, names):
    app, keys = sqlite_clinic
    c = login(app, "dr.a")
    token = csrf(c)
    n0 = len(_audit(app))
    # a record dr.a may not see (carol's), a write without CSRF, a refused import naming
    # another clinic's subject, a researcher-only refusal
    assert c.get(f"/api/patients/{keys['MRN-2001']}").status_code == 404
    assert c.get("/api/patients/P-NOSUCH00").status_code == 404
    assert c.post(f"/api/patients/{keys['MRN-1001']}/lifestyle", json={}).status_code == 403
    r = c.post(
        "/api/imports",
        data={"kind": "visits"},
        files={"file": ("v.csv", b"subject,date,edss\nMRN-2001,2021-03-01,9.5\n", "text/csv")},
        headers={"x-csrf-token": token},
    )
    assert r.status_code == 422
    r = c.post(
        "/api/imports",
        data={"kind": "visits"},
        files={"file": ("v.exe", b"MZ", "application/octet-stream")},
        headers={"x-csrf-token": token},
    )
    assert r.status_code == 415
    res = login(app, "res")
    assert res.get(f"/api/patients/{keys['MRN-1001']}/audit").status_code == 403
    new = _audit(app)[n0:]
    actions = [(a[1], a[2]) for a in new]
    with app.state.store.session() as s:
        carol_id = s.scalar(select(Person.id).where(Person.subject == "MRN-2001"))
    denied = [a for a in new if a[1] == "denied"]
    # the refused look at carol's record is on carol's own trail (by id, not in the text)
    assert any(a[3] == carol_id and "/api/patients/{key}" in a[2] for a in denied), actions
    assert any("csrf" in a[4].lower() for a in denied), actions
    assert any(a[3] is None and "no such person" in a[4] for a in denied), actions
    refused = [a for a in new if a[1] == "refused"]
    assert {a[2] for a in refused} >= {"import visits"}, actions
    assert any("422" in a[4] for a in refused) and any("415" in a[4] for a in refused)
    assert any(a[1] == "denied" and "audit" in a[2] for a in new)
    text = " ".join(f"{a[2]} {a[4]}" for a in new)
    for ident in [*names.values(), *names, *keys.values()]:
        assert ident not in text, ident
    carol = login(app, "carol")
    trail = carol.get(f"/api/patients/{keys['MRN-2001']}/audit").json()["entries"]
    assert any(e["user"] == "dr.a" and e["action"] == "denied" for e in trail)


def test_failed_logins_record_the_name_as_typed_and_the_address(sqlite_clinic):
    app, _ = sqlite_clinic
    c = TestClient(app, client=("203.0.113.7", 5000))
    c.post("/api/login", json={"username": "dr.a", "password": "wrong one"})
    c.post("/api/login", json={"username": "x" * 500, "password": "wrong"})
    failed = [a for a in _audit(app) if a[1] == "login_failed"]
    assert len(failed) == 2
    assert "dr.a" in failed[0][4] and "203.0.113.7" in failed[0][4]
    assert len(failed[1][4]) < 200 and "xxxx" in failed[1][4]


# ----------------------------------------------------------------------------- item 7
def test_health_tells_strangers_only_that_it_is_up(sqlite_clinic):
    app, _ = sqlite_clinic
    r = TestClient(app).get("/api/health")
    assert r.status_code == 200 and r.json() == {"status": "ok"}


def test_hsts_only_with_secure_cookies(sqlite_clinic):
    app, _ = sqlite_clinic
    assert "strict-transport-security" not in TestClient(app).get("/login").headers
    secure = create_app(_settings(app, secure_cookies=True), store=app.state.store)
    for path in ("/login", "/api/health", "/nothing"):
        h = TestClient(secure).get(path).headers["strict-transport-security"]
        assert "max-age=31536000" in h


def test_the_host_header_is_checked(sqlite_clinic):
    app, _ = sqlite_clinic
    c = TestClient(app)
    assert c.get("/login").status_code == 200
    r = c.get("/login", headers={"host": "evil.example"})
    assert r.status_code == 400 and "host" in r.text.lower()
    assert all(h in r.headers for h in SECURITY)
    # the default list is the loopback names
    default = WebSettings(database_url=app.state.store.url)
    assert set(default.allowed_hosts) == {"127.0.0.1", "localhost", "::1"}


def _api_login(c, username="dr.a", password=PASSWORD):
    return c.post("/api/login", json={"username": username, "password": password})


def test_a_new_login_ends_the_users_older_sessions(sqlite_clinic):
    app, _ = sqlite_clinic
    first, second, other = TestClient(app), TestClient(app), TestClient(app)
    assert _api_login(first).status_code == 200
    assert _api_login(other, "dr.b").status_code == 200
    assert first.get("/api/me").status_code == 200
    assert _api_login(second).status_code == 200
    assert first.get("/api/me").status_code == 401
    assert second.get("/api/me").status_code == 200
    assert other.get("/api/me").status_code == 200  # somebody else's session is untouched


def test_idle_sessions_expire_before_their_lifetime(sqlite_clinic):
    app, _ = sqlite_clinic
    idle = create_app(_settings(app, idle_minutes=1.5 / 60), store=app.state.store)
    c = TestClient(idle)
    assert _api_login(c).status_code == 200
    for _ in range(3):  # kept alive by use
        time.sleep(0.8)
        assert c.get("/api/me").status_code == 200
    time.sleep(2.0)
    assert c.get("/api/me").status_code == 401


# ----------------------------------------------------------------------------- item 3
def test_the_right_password_from_another_address_still_works(sqlite_clinic):
    app, _ = sqlite_clinic
    attacker = TestClient(app, client=("198.51.100.9", 4000))
    for _ in range(5):
        assert _api_login(attacker, password="wrong password").status_code == 401
    r = _api_login(attacker)
    assert r.status_code == 429 and int(r.headers["retry-after"]) >= 1
    assert "Too many" in r.json()["detail"]
    owner = TestClient(app, client=("192.0.2.20", 4001))
    assert _api_login(owner).status_code == 200


def test_back_off_grows_per_user_and_address(sqlite_clinic):
    import datetime as dt

    from smoulder.store.models import utcnow

    app, _ = sqlite_clinic
    fast = create_app(_settings(app, login_attempts=2, login_backoff_s=0.5), store=app.state.store)
    now = [utcnow()]
    fast.state.limiter.clock = lambda: now[0]  # a clock the test moves (no sleeping, no races)
    c = TestClient(fast, client=("198.51.100.10", 4000))
    assert _api_login(c, password="wrong password").status_code == 401
    assert _api_login(c, password="wrong password").status_code == 401
    waits = []
    for _ in range(4):
        r = _api_login(c, password="wrong password")
        assert r.status_code == 429
        wait = float(r.json()["retry_after_s"])
        waits.append(wait)
        now[0] += dt.timedelta(seconds=wait * 0.9)
        assert _api_login(c, password="wrong password").status_code == 429  # not yet
        now[0] += dt.timedelta(seconds=wait * 0.1 + 0.01)
        assert _api_login(c, password="wrong password").status_code == 401
    # 0.5 s, then 1 s, 2 s, 4 s (each time: what was left of the wait when the attempt came)
    assert waits == pytest.approx([0.5, 1.0, 2.0, 4.0], abs=0.02), waits
    # another address is not slowed down at all
    other = TestClient(fast, client=("198.51.100.11", 4000))
    assert _api_login(other).status_code == 200


def test_concurrent_wrong_passwords_are_checked_at_most_the_limit(sqlite_clinic):
    app, _ = sqlite_clinic
    statuses: list[int] = []
    barrier = threading.Barrier(15)

    def attempt() -> None:
        c = TestClient(app, client=("198.51.100.11", 4000))
        barrier.wait()
        statuses.append(_api_login(c, password="wrong password").status_code)

    threads = [threading.Thread(target=attempt) for _ in range(15)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert statuses.count(401) <= 5 and statuses.count(401) + statuses.count(429) == 15, statuses


def test_argon2_work_from_unauthenticated_requests_is_bounded(sqlite_clinic, monkeypatch):
    import smoulder.store.accounts as accounts

    app, _ = sqlite_clinic
    capped = create_app(_settings(app, login_concurrency=2), store=app.state.store)
    lock = threading.Lock()
    state = {"now": 0, "peak": 0, "calls": 0}
    real = accounts.verify_password

    def counting(stored: str, password: str) -> bool:
        with lock:
            state["now"] += 1
            state["calls"] += 1
            state["peak"] = max(state["peak"], state["now"])
        try:
            time.sleep(0.2)
            return real(stored, password)
        finally:
            with lock:
                state["now"] -= 1

    monkeypatch.setattr(accounts, "verify_password", counting)
    statuses: list[int] = []

    def attempt(i: int) -> None:
        c = TestClient(capped, client=(f"198.51.100.{100 + i}", 4000))
        statuses.append(_api_login(c, username="dr.a", password="wrong password").status_code)

    threads = [threading.Thread(target=attempt, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert state["peak"] <= 2, state
    # unknown user names cost no argon2 work at all, yet take about as long
    state["calls"] = 0
    c = TestClient(capped, client=("198.51.100.200", 4000))
    t0 = time.perf_counter()
    assert _api_login(c, username="dr.a", password="wrong password").status_code == 401
    known = time.perf_counter() - t0
    calls_known = state["calls"]
    t0 = time.perf_counter()
    assert _api_login(c, username="nobody-here", password="wrong password").status_code == 401
    unknown = time.perf_counter() - t0
    assert calls_known == 1 and state["calls"] == 1, state
    assert unknown > 0.5 * known, (known, unknown)


def test_a_huge_login_body_is_refused_before_it_is_read(sqlite_clinic):
    app, _ = sqlite_clinic
    c = TestClient(app)

    def body():  # chunked: no Content-Length to refuse it by
        for _ in range(50):
            yield b" " * (1024 * 1024)

    r = c.post("/api/login", content=body(), headers={"content-type": "application/json"})
    assert r.status_code == 413 and "at most" in r.json()["detail"]
    r = c.post(
        "/api/login",
        content=b"{" + b" " * 100_000 + b"}",
        headers={"content-type": "application/json"},
    )
    assert r.status_code == 413


def test_an_upload_without_content_length_is_cut_off_while_streaming(sqlite_clinic, login, csrf):
    app, _ = sqlite_clinic
    small = create_app(_settings(app, max_upload_bytes=64 * 1024), store=app.state.store)
    c = login(small, "dr.a")
    boundary = "x" * 20

    def body():  # chunked transfer: the size is known only by counting
        yield (
            f'--{boundary}\r\nContent-Disposition: form-data; name="kind"\r\n\r\nvisits\r\n'
            f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="v.csv"\r\n'
            "Content-Type: text/csv\r\n\r\nsubject,date,edss\r\n"
        ).encode()
        for _ in range(40):
            yield b"MRN-1001,2021-01-01,2.0\r\n" * 400

    r = c.post(
        "/api/imports",
        content=body(),
        headers={
            "x-csrf-token": csrf(c),
            "content-type": f"multipart/form-data; boundary={boundary}",
        },
    )
    assert r.status_code == 413 and "at most" in r.json()["detail"], r.text
    assert any(a[1] == "refused" and a[4].startswith("413") for a in _audit(small))
