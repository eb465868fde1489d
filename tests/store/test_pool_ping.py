"""PostgreSQL connections that sat idle in the pool are checked before use (a dropped link costs a
reconnect, not a failed request); connections in steady use are not pinged on every checkout."""

from __future__ import annotations

import os

import pytest
from sqlalchemy import event, text

import smoulder.store.db as db
from smoulder.store import Store

pytestmark = pytest.mark.skipif(
    not os.environ.get("SMOULDER_TEST_POSTGRES_URL"), reason="needs SMOULDER_TEST_POSTGRES_URL"
)


def test_a_connection_killed_while_idle_is_replaced_without_an_error(
    fresh_postgres_url, monkeypatch
):
    store = Store(fresh_postgres_url())
    try:
        with store.engine.connect() as conn:
            first = conn.scalar(text("SELECT pg_backend_pid()"))
        # the server drops the pooled connection (a restart, a proxy timeout) while it is idle
        with db.make_engine(store.url).connect() as other:
            assert other.scalar(text("SELECT pg_terminate_backend(:p)"), {"p": first}) is True
        monkeypatch.setattr(db, "IDLE_PING_S", 0.0)  # it has been idle "long enough"
        with store.engine.connect() as conn:
            assert conn.scalar(text("SELECT 41 + 1")) == 42
            assert conn.scalar(text("SELECT pg_backend_pid()")) != first
    finally:
        store.dispose()


def test_a_connection_in_steady_use_is_not_pinged_at_each_checkout(fresh_postgres_url, monkeypatch):
    store = Store(fresh_postgres_url())
    try:
        pings: list[int] = []
        real = store.engine.dialect.do_ping
        monkeypatch.setattr(store.engine.dialect, "do_ping", lambda c: pings.append(1) or real(c))
        opened: list[int] = []
        event.listen(store.engine, "connect", lambda *a: opened.append(1))
        for _ in range(5):
            with store.engine.connect() as conn:
                assert conn.scalar(text("SELECT 2")) == 2
        # the pooled connection (opened by the migrations) reused five times, never pinged
        assert pings == [] and opened == []
    finally:
        store.dispose()
