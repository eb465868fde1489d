"""Limits and caches hold across worker processes: real ``smoulder serve --workers 4`` on the CI
PostgreSQL, concurrent wrong passwords, forwarded headers, and a person view cached in one process
while another writes."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
import time

import httpx
import pytest

from smoulder.store import Store

PASSWORD = "correct horse battery"

PG_URL = os.environ.get("SMOULDER_TEST_POSTGRES_URL")


def _port() -> int:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def _serve(url: str, *extra: str) -> tuple[subprocess.Popen, str]:
    port = _port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("SMOULDER_") or "TEST" in k}
    proc = subprocess.Popen(
        [sys.executable, "-m", "smoulder", "serve", "--database", url, "--port", str(port), *extra],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"server exited: {proc.stdout.read() if proc.stdout else ''}")
        try:
            if httpx.get(f"{base}/api/health", timeout=1).status_code == 200:
                return proc, base
        except httpx.HTTPError:
            time.sleep(0.2)
    proc.kill()
    raise AssertionError("server did not start")


def _stop(proc: subprocess.Popen) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:  # pragma: no cover
        proc.kill()


def _burst(base: str, n: int, username: str = "dr.a", headers=None) -> list[int]:
    barrier = threading.Barrier(n)
    out: list[int] = []

    def one(i: int) -> None:
        h = headers(i) if headers else {}
        barrier.wait()
        r = httpx.post(
            f"{base}/api/login",
            json={"username": username, "password": "wrong password"},
            headers=h,
            timeout=60,
        )
        out.append(r.status_code)

    threads = [threading.Thread(target=one, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return out


@pytest.mark.slow
@pytest.mark.skipif(not PG_URL, reason="SMOULDER_TEST_POSTGRES_URL not set (CI sets it)")
def test_four_workers_on_postgresql_hold_one_login_limit(fresh_postgres_url, clinic_tools):
    build_clinic, _, _ = clinic_tools
    url = fresh_postgres_url()
    store = Store(url)
    build_clinic(store)
    store.dispose()
    proc, base = _serve(url, "--workers", "4")
    try:
        statuses = _burst(base, 16)
        # at most the limit (5) of the concurrent wrong passwords were checked, whichever worker
        # each request reached; the rest waited (429), none failed
        assert statuses.count(401) <= 5 and statuses.count(429) >= 11, statuses
        assert set(statuses) <= {401, 429}, statuses
        # the right password still works (from the same loopback address, once the back-off of
        # that user and address has passed, it is only slowed down, never locked)
        r = httpx.post(
            f"{base}/api/login", json={"username": "dr.b", "password": PASSWORD}, timeout=30
        )
        assert r.status_code == 200
    finally:
        _stop(proc)


@pytest.mark.slow
def test_forwarded_for_is_ignored_unless_the_proxy_is_trusted(tmp_path, clinic_tools):
    build_clinic, _, _ = clinic_tools
    url = f"sqlite:///{tmp_path / 'xff.sqlite'}"
    store = Store(url)
    build_clinic(store)
    store.dispose()
    proc, base = _serve(url)
    try:
        # five wrong passwords for dr.a from loopback, each claiming another address: the claim
        # is not believed, so the sixth is slowed down
        for i in range(5):
            r = httpx.post(
                f"{base}/api/login",
                json={"username": "dr.a", "password": "wrong password"},
                headers={"x-forwarded-for": f"203.0.113.{i}"},
            )
            assert r.status_code == 401
        r = httpx.post(
            f"{base}/api/login",
            json={"username": "dr.a", "password": PASSWORD},
            headers={"x-forwarded-for": "203.0.113.99"},
        )
        assert r.status_code == 429, r.text
    finally:
        _stop(proc)
    assert _failed_from(url) == {"127.0.0.1"}  # the audit names the real peer
    proc, base = _serve(url, "--forwarded-allow-ips", "127.0.0.1")
    try:
        # behind a trusted proxy the forwarded address counts: another client is not slowed
        r = httpx.post(
            f"{base}/api/login",
            json={"username": "dr.a", "password": PASSWORD},
            headers={"x-forwarded-for": "198.51.100.5"},
        )
        assert r.status_code == 200, r.text
        httpx.post(
            f"{base}/api/login",
            json={"username": "dr.b", "password": "wrong password"},
            headers={"x-forwarded-for": "198.51.100.6"},
        )
    finally:
        _stop(proc)
    assert _failed_from(url) == {"127.0.0.1", "198.51.100.6"}


def _failed_from(url: str) -> set[str]:
    from sqlalchemy import select

    from smoulder.store.models import AuditEntry

    st = Store(url)
    with st.session() as s:
        details = s.scalars(
            select(AuditEntry.detail).where(AuditEntry.action == "login_failed")
        ).all()
    st.dispose()
    return {d.rsplit(" from ", 1)[-1] for d in details}


def test_a_person_view_cached_in_one_worker_is_never_stale_after_another_wrote(
    tmp_path, login, csrf, clinic_tools
):
    build_clinic, settings, _ = clinic_tools
    store_a = Store(f"sqlite:///{tmp_path / 'w.sqlite'}")
    keys = build_clinic(store_a)
    store_b = Store(store_a.url)  # two workers: two processes' worth of engines and caches
    from smoulder.web import create_app

    worker_a = create_app(settings(store_a.url), store=store_a)
    worker_b = create_app(settings(store_b.url), store=store_b)
    k = keys["MRN-1001"]
    reader = login(worker_a, "dr.a")
    before = reader.get(f"/api/patients/{k}").json()
    assert reader.get(f"/api/patients/{k}").json() == before  # now cached in worker A
    page = reader.get(f"/patients/{k}").text  # and the rendered page part
    assert "2021-05-05" not in page
    writer = login(worker_b, "alice")
    r = writer.post(
        f"/api/patients/{k}/lifestyle",
        json={"date": "2021-05-05", "sleep_hours": 6.5},
        headers={"x-csrf-token": csrf(writer)},
    )
    assert r.status_code == 201
    doc_b = login(worker_b, "dr.b")  # sign-ins in B do not disturb A's sessions of other users
    assert doc_b.get("/api/me").status_code == 200
    after = reader.get(f"/api/patients/{k}").json()
    assert [x["date"] for x in after["lifestyle"]][-1] == "2021-05-05"
    assert "2021-05-05" in reader.get(f"/patients/{k}").text
    # an import through worker B (new visit, analyses rerun) shows in worker A at once
    writer2 = login(worker_b, "dr.a")
    r = writer2.post(
        "/api/imports",
        data={"kind": "visits"},
        files={"file": ("v.csv", b"subject,date,edss\nMRN-1001,2021-06-01,4.5\n", "text/csv")},
        headers={"x-csrf-token": csrf(writer2)},
    )
    assert r.status_code in (200, 201), r.text
    reader = login(worker_a, "dr.a")
    latest = reader.get(f"/api/patients/{k}").json()["assessments"][-1]
    assert latest == {"date": "2021-06-01", "edss": 4.5, "t25fw": None, "nhpt": None, "sdmt": None}
    store_a.dispose()
    store_b.dispose()
