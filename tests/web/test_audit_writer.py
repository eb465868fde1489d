"""Views are audited through a group-commit writer: one commit carries the entries of every
request that waited meanwhile, no request returns before its own entry is committed, a failed
commit fails every request of its batch, and not a single view goes unrecorded under load."""

from __future__ import annotations

import threading

import httpx
import pytest
from sqlalchemy import func, select

from smoulder.store import Store
from smoulder.store.models import AuditEntry
from smoulder.store.repo import AuditWriter


@pytest.fixture
def store(tmp_path):
    st = Store(f"sqlite:///{tmp_path / 'audit.sqlite'}")
    yield st
    st.dispose()


def n_entries(store) -> int:
    with store.session() as s:
        return s.scalar(select(func.count()).select_from(AuditEntry))


def _hold_first_commit(writer: AuditWriter, until_queued: int, fail: bool = False) -> list[int]:
    """Make the first commit wait until ``until_queued`` entries wait behind it (and fail when
    ``fail``); return the sizes of the batches written."""
    import time

    sizes: list[int] = []
    made = writer._session

    class Session:
        def __init__(self) -> None:
            self.s = made()

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            self.s.close()

        def commit(self):
            if len(sizes) == 1:
                deadline = time.monotonic() + 30
                while time.monotonic() < deadline:
                    with writer._cond:
                        if len(writer._queue) >= until_queued:
                            break
                    time.sleep(0.005)
                if fail:
                    self.s.rollback()
                    raise RuntimeError("disk full")
            self.s.commit()

    insert = writer.insert_rows

    def insert_rows(conn, rows):
        sizes.append(len(rows))
        insert(conn.s, rows)

    writer._session = Session  # type: ignore[assignment]
    writer.insert_rows = insert_rows  # type: ignore[method-assign]
    return sizes


def _burst(writer: AuditWriter, n: int) -> list[BaseException | None]:
    results: list[BaseException | None] = [None] * n
    barrier = threading.Barrier(n)

    def one(i: int) -> None:
        barrier.wait()
        try:
            writer.write(None, "view", "person page", None, f"request {i}")
        except BaseException as exc:  # noqa: BLE001 - collected for the assertions
            results[i] = exc

    threads = [threading.Thread(target=one, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    return results


def test_one_commit_carries_every_entry_that_waited(store):
    writer = AuditWriter(store)
    sizes = _hold_first_commit(writer, until_queued=31)
    results = _burst(writer, 32)
    assert results == [None] * 32
    # the first request commits alone; the 31 that arrived meanwhile go in one more commit
    assert sorted(sizes) == [1, 31] and writer.commits == 2
    assert n_entries(store) == 32
    with store.session() as s:
        details = sorted(s.scalars(select(AuditEntry.detail)))
    assert details == sorted(f"request {i}" for i in range(32))
    writer.dispose()


def test_a_failed_commit_fails_every_request_of_its_batch_and_only_those(store):
    writer = AuditWriter(store)
    sizes = _hold_first_commit(writer, until_queued=7, fail=True)
    results = _burst(writer, 8)
    failed = [r for r in results if r is not None]
    # the first batch (one entry) failed and said so; the seven queued behind it were written
    assert sizes[0] == 1 and len(failed) == 1 and "disk full" in str(failed[0])
    assert n_entries(store) == 7
    writer.write(None, "view", "person page")  # the writer goes on working
    assert n_entries(store) == 8
    writer.dispose()


def test_every_view_under_load_is_on_the_trail(live_server, clinic_tools):
    base, keys = live_server
    _, _, password = clinic_tools
    with httpx.Client(base_url=base) as c:
        r = c.post("/api/login", json={"username": "dr.a", "password": password})
        assert r.status_code == 200
        cookies = dict(c.cookies)
    key = keys["MRN-1001"]
    n_threads, per_thread = 8, 5
    statuses: list[int] = []
    lock = threading.Lock()
    barrier = threading.Barrier(n_threads)

    def client() -> None:
        with httpx.Client(base_url=base, cookies=cookies, timeout=60) as c:
            barrier.wait()
            for i in range(per_thread):
                path = f"/patients/{key}" if i % 2 == 0 else f"/api/patients/{key}"
                code = c.get(path).status_code
                with lock:
                    statuses.append(code)

    threads = [threading.Thread(target=client) for _ in range(n_threads)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert statuses == [200] * (n_threads * per_thread)
    with httpx.Client(base_url=base, cookies=cookies) as c:
        trail = c.get(f"/api/patients/{key}/audit").json()["entries"]
    views = [e for e in trail if e["user"] == "dr.a" and e["action"] == "view"]
    # 3 page views and 2 API reads per client, and the audit read just now
    assert sum(e["resource"] == "person page" for e in views) == 3 * n_threads
    assert sum(e["resource"] == "api person" for e in views) == 2 * n_threads
    assert sum(e["resource"] == "api audit" for e in views) == 1
