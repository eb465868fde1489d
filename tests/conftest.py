"""Fixtures shared by every test folder."""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator

import pytest

PG_URL = os.environ.get("SMOULDER_TEST_POSTGRES_URL")

# ITK reads its thread count once per process, when ANTs first runs: a registration's `threads`
# setting cannot lower it afterwards, and several threads make registrations differ from run to
# run. The tests compare registrations with each other, so they run ITK on one thread throughout.
os.environ.setdefault("ITK_GLOBAL_DEFAULT_NUMBER_OF_THREADS", "1")


@pytest.fixture
def fresh_postgres_url() -> Iterator[Callable[[], str]]:
    """A factory of throw-away databases on the PostgreSQL test server (``.ci/run`` starts it and
    sets ``SMOULDER_TEST_POSTGRES_URL``): each call creates a new database and returns its URL;
    every database made in a test is dropped after it, so no test ever shares patient-like data."""
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    made: list[str] = []
    admin = None
    base = make_url(PG_URL) if PG_URL else None

    def make() -> str:
        nonlocal admin
        if base is None:
            raise RuntimeError("SMOULDER_TEST_POSTGRES_URL is not set")
        if admin is None:
            admin = create_engine(base, isolation_level="AUTOCOMMIT")
        name = f"smoulder_t_{uuid.uuid4().hex[:12]}"
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
        made.append(name)
        return base.set(database=name).render_as_string(hide_password=False)

    yield make
    if admin is not None:
        with admin.connect() as conn:
            for name in made:
                conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


#: Debian's chromium (never a browser downloaded by Playwright); ``.ci/run`` installs it
CHROMIUM = os.environ.get("SMOULDER_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


@pytest.fixture
def browser() -> Iterator[object]:
    """A headless chromium for the browser tests (skipped where it is not installed)."""
    from pathlib import Path

    if not Path(CHROMIUM).exists():
        pytest.skip(
            f"chromium not found at {CHROMIUM} (set SMOULDER_CHROMIUM; .ci/run installs it)"
        )
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield b
        b.close()
