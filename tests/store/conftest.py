"""Fixtures: every test gets its own fresh database (SQLite file; PostgreSQL when configured).

PostgreSQL tests run when ``SMOULDER_TEST_POSTGRES_URL`` is set (``.ci/run`` sets it): each test
creates its own database on that server and drops it afterwards, so no patient-like data is ever
shared between tests.
"""

from __future__ import annotations

import os
import uuid

import pytest

from smoulder.store import Store

PG_URL = os.environ.get("SMOULDER_TEST_POSTGRES_URL")


def _backends() -> list:
    params = [pytest.param("sqlite", id="sqlite")]
    params.append(pytest.param("postgresql", id="postgresql", marks=pytest.mark.skipif(
        not PG_URL, reason="SMOULDER_TEST_POSTGRES_URL not set (CI starts a PostgreSQL server and sets it)")))
    return params


def fresh_postgres_url() -> tuple[str, callable]:
    """Create a throw-away database on the test server; return its URL and a cleanup function."""
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    base = make_url(PG_URL)
    name = f"smoulder_t_{uuid.uuid4().hex[:12]}"
    admin = create_engine(base, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))

    def drop() -> None:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()

    return base.set(database=name).render_as_string(hide_password=False), drop


@pytest.fixture(params=_backends())
def store(request, tmp_path):
    if request.param == "sqlite":
        st = Store(f"sqlite:///{tmp_path / 'store.sqlite'}")
        yield st
        st.dispose()
    else:
        url, drop = fresh_postgres_url()
        st = Store(url)
        yield st
        st.dispose()
        drop()


@pytest.fixture
def sqlite_store(tmp_path):
    st = Store(f"sqlite:///{tmp_path / 'store.sqlite'}")
    yield st
    st.dispose()
