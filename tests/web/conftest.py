"""A small clinic with two clinicians, a researcher and two people with MS, on a fresh database per test."""

from __future__ import annotations

import datetime as dt
import os
import re

import pandas as pd
import pytest
from fastapi.testclient import TestClient

from smoulder.store import Store, import_into
from smoulder.store.accounts import assign, create_user
from smoulder.store.analyses import refresh
from smoulder.store.importer import read_upload
from smoulder.store.models import Person
from smoulder.web import WebSettings, create_app

PASSWORD = "correct horse battery"
# the test client's host name (starlette's TestClient) besides the loopback names
HOSTS = ["testserver", "127.0.0.1", "localhost", "::1"]


def settings(url: str, **kw) -> WebSettings:
    return WebSettings(database_url=url, allowed_hosts=HOSTS, **kw)


PG_URL = os.environ.get("SMOULDER_TEST_POSTGRES_URL")

NAMES = {
    "MRN-1001": "Alice Example",
    "MRN-1002": "Bob <script>alert('x')</script> O'Brien",
    "MRN-2001": "Carol Otherclinic",
}


def t(text: str, name: str = "t.csv") -> pd.DataFrame:
    return read_upload(text.encode(), name)


def build_clinic(store: Store) -> dict:
    """Fill a store; return the people's pseudonyms by subject."""
    with store.session() as s:
        a = create_user(s, "dr.a", PASSWORD, "clinician", display_name="Dr A")
        b = create_user(s, "dr.b", PASSWORD, "clinician", display_name="Dr B")
        create_user(s, "res", PASSWORD, "researcher", display_name="Researcher")
        s.commit()
    people = "subject,name,sex,birth_year\n" + "".join(
        f'{k},"{v.replace(chr(34), chr(34) * 2)}",F,1980\n' for k, v in NAMES.items()
    )
    import_into(store, "people", t(people))
    with store.session() as s:
        ps = {p.subject: p for p in s.query(Person)}
        assign(s, a, ps["MRN-1001"])
        assign(s, a, ps["MRN-1002"])
        assign(s, b, ps["MRN-2001"])
        create_user(s, "alice", PASSWORD, "patient", person=ps["MRN-1001"], display_name="Alice")
        create_user(s, "carol", PASSWORD, "patient", person=ps["MRN-2001"], display_name="Carol")
        s.commit()
        keys = {k: p.pseudonym for k, p in ps.items()}
    import_into(
        store,
        "visits",
        t(
            "subject,date,edss,t25fw,nhpt,sdmt\n"
            "MRN-1001,2020-01-01,2.0,5.0,20,50\nMRN-1001,2020-04-10,3.0,5.2,20,49\nMRN-1001,2020-07-19,3.0,5.5,21,50\n"
            "MRN-1001,2020-10-27,4.0,6.0,22,47\nMRN-1001,2021-02-04,4.0,7.5,22,42\n"
            "MRN-1002,2020-01-01,1.0,4.0,18,60\nMRN-1002,2020-07-01,1.0,4.0,18,61\n"
            "MRN-2001,2020-01-01,5.0,8.0,30,40\nMRN-2001,2020-07-01,5.0,8.0,30,41\n"
        ),
    )
    import_into(store, "relapses", t("subject,date,end_date\nMRN-1001,2020-02-20,2020-03-20\n"))
    import_into(
        store,
        "treatments",
        t("subject,drug,start_date,stop_date\nMRN-1001,ocrelizumab,2020-05-01,\n"),
    )
    import_into(
        store, "mri", t("subject,date,active\nMRN-1001,2020-06-01,no\nMRN-1001,2021-01-20,yes\n")
    )
    import_into(
        store,
        "prl",
        t("label\tvolume_mm3\trim_score\tprl\n1\t300\t0.9\ttrue\n2\t40\t0.1\tfalse\n", "l.tsv"),
        subject="MRN-1001",
        session_date="2021-01-20",
    )
    days = pd.date_range("2020-06-01", "2021-01-31", freq="D")
    steps = "".join(
        f"MRN-1001,{d.date()},two_minute_walk,{130 if d < pd.Timestamp('2020-11-01') else 100},m\n"
        for d in days[::7]
    )
    import_into(store, "devices", t("subject,date,measure,value,unit\n" + steps))
    import_into(
        store,
        "device_events",
        t(
            "subject,measure,onset_date,detected_date,baseline_value,current_value,"
            "change_pct\nMRN-1001,two_minute_walk,2020-11-02,2020-11-30,130,100,-23.1\n"
        ),
    )
    import_into(
        store,
        "lifestyle",
        t(
            "subject,date,exercise_min_week,diet,smoking,alcohol_units_week,sleep_hours,"
            "medications,comorbidities,notes\n"
            "MRN-1001,2020-12-01,60,mixed,current,10,5.5,vitamin D,migraine,secret note a1\n"
            "MRN-2001,2020-12-01,200,healthy,never,2,8,,,secret note b1\n"
        ),
    )
    with store.session() as s:
        refresh(s)
        s.commit()
    return keys


#: the day the pages are computed for in these tests: a month after the clinic's last visit
TODAY = dt.date(2021, 3, 1)


@pytest.fixture(autouse=True)
def frozen_today(monkeypatch):
    """Ages ("4 weeks ago") and overdue flags depend on the day: fix it (tests may move it)."""
    from smoulder.web import views

    day = {"value": TODAY}
    monkeypatch.setattr(views, "today", lambda: day["value"])
    return day


@pytest.fixture(
    params=[
        "sqlite",
        pytest.param(
            "postgresql",
            marks=pytest.mark.skipif(
                not PG_URL,
                reason="SMOULDER_TEST_POSTGRES_URL not set (CI starts a PostgreSQL server and sets it)",
            ),
        ),
    ]
)
def clinic(request, tmp_path, fresh_postgres_url):
    if request.param == "sqlite":
        store = Store(f"sqlite:///{tmp_path / 'web.sqlite'}")
    else:
        store = Store(fresh_postgres_url())
    keys = build_clinic(store)
    app = create_app(settings(store.url), store=store)
    yield app, keys
    store.dispose()


@pytest.fixture
def sqlite_clinic(tmp_path):
    store = Store(f"sqlite:///{tmp_path / 'web.sqlite'}")
    keys = build_clinic(store)
    app = create_app(settings(store.url), store=store)
    yield app, keys
    store.dispose()


@pytest.fixture
def login():
    return _login


@pytest.fixture
def names():
    return NAMES


def _login(app, username: str, password: str = PASSWORD) -> TestClient:
    """A client signed in through the login form (CSRF double-submit included)."""
    c = TestClient(app)
    page = c.get("/login")
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)
    r = c.post(
        "/login",
        data={"username": username, "password": password, "csrf_token": token, "next": "/"},
        follow_redirects=False,
    )
    assert r.status_code == 303, r.text
    return c


@pytest.fixture
def csrf():
    return lambda client: client.get("/api/me").json()["csrf_token"]


@pytest.fixture
def live_server(tmp_path):
    """The app on a real loopback port (uvicorn in a thread), for the browser tests."""
    import socket
    import threading
    import time

    import uvicorn

    store = Store(f"sqlite:///{tmp_path / 'live.sqlite'}")
    keys = build_clinic(store)
    app = create_app(settings(store.url), store=store)
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", access_log=False)
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.05)
    assert server.started, "uvicorn did not start"
    yield f"http://127.0.0.1:{port}", keys
    server.should_exit = True
    thread.join(timeout=10)
    store.dispose()


@pytest.fixture
def clinic_tools():
    """The clinic builder and the test settings, for tests that make their own stores."""
    return build_clinic, settings, PASSWORD
