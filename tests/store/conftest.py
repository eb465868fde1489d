"""Fixtures: every test gets its own fresh database (SQLite file; PostgreSQL when configured).

PostgreSQL tests run when ``SMOULDER_TEST_POSTGRES_URL`` is set (``.ci/run`` sets it): each test
creates its own database on that server and drops it afterwards, so no patient-like data is ever
shared between tests.
"""

from __future__ import annotations

import os

import pytest

from smoulder.store import Store

PG_URL = os.environ.get("SMOULDER_TEST_POSTGRES_URL")


def _backends() -> list:
    params = [pytest.param("sqlite", id="sqlite")]
    params.append(
        pytest.param(
            "postgresql",
            id="postgresql",
            marks=pytest.mark.skipif(
                not PG_URL,
                reason="SMOULDER_TEST_POSTGRES_URL not set (CI starts a PostgreSQL server and sets it)",
            ),
        )
    )
    return params


@pytest.fixture(params=_backends())
def store(request, tmp_path, fresh_postgres_url):
    if request.param == "sqlite":
        st = Store(f"sqlite:///{tmp_path / 'store.sqlite'}")
    else:
        st = Store(fresh_postgres_url())
    yield st
    st.dispose()


@pytest.fixture
def sqlite_store(tmp_path):
    st = Store(f"sqlite:///{tmp_path / 'store.sqlite'}")
    yield st
    st.dispose()
