"""The REST API under schemathesis: every operation of ``/openapi.json``, signed in as each demo role
(clinician, other clinician, researcher, person with MS) with the CSRF header, against the app on
SQLite. No answer may be a 5xx, and every answer must match the OpenAPI document (status codes,
content types, headers and bodies).

The default run is small (a few examples per operation and role); ``-m slow`` adds a larger one.
The totals (operations, requests, 5xx) are printed at the end of the module.
"""

from __future__ import annotations

import random
import shutil
import tempfile
from collections import Counter
from pathlib import Path

import pytest
import schemathesis
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, settings
from schemathesis.checks import positive_data_acceptance

from smoulder.store import Store
from smoulder.synth.demo_store import DEMO_PASSWORD, fill_demo_store
from smoulder.web import WebSettings, create_app

ROLES = ("dr.demo", "dr.other", "researcher", "patient")
STATS: Counter = Counter()
OPERATIONS: set[tuple[str, str]] = set()
GENERATED: dict[int, str] = {}


# schemathesis reads the schema when the module is collected (its lazy fixture loader does not
# work with this pytest), so the app exists from import on, on an empty database in a temporary
# folder; the demo clinic is filled in by the module fixture below, only when the tests run
_TMP = Path(tempfile.mkdtemp(prefix="smoulder-fuzz-"))
_STORE = Store(f"sqlite:///{_TMP / 'fuzz.sqlite'}")
APP = create_app(
    WebSettings(
        database_url=_STORE.url,
        allowed_hosts=["testserver", "localhost", "127.0.0.1"],
        login_attempts=1000,
        login_attempts_per_address=100_000,
    ),
    store=_STORE,
)
schema = schemathesis.openapi.from_asgi("/openapi.json", APP)
schema.config.phases.coverage.enabled = False  # the quick run: schema examples and fuzzing
schema_long = schemathesis.openapi.from_asgi("/openapi.json", APP)  # every phase
DOCUMENTED = {
    (m.upper(), p) for p, ops in APP.openapi()["paths"].items() for m in ops if m != "parameters"
}
REPORTED: list[bool] = []


@pytest.fixture(scope="module")
def fuzz_app():
    fill_demo_store(_STORE, n_subjects=6, seed=11)
    yield APP
    _STORE.dispose()
    shutil.rmtree(_TMP, ignore_errors=True)


@pytest.fixture(scope="module")
def sessions(fuzz_app):
    """One signed-in session per demo role: cookie, CSRF token, the keys it may see."""
    out = {}
    for role in ROLES:
        out[role] = _login(fuzz_app, role)
    return out


def _login(app, username: str) -> dict:
    c = TestClient(app)
    r = c.post("/api/login", json={"username": username, "password": DEMO_PASSWORD})
    assert r.status_code == 200, r.text
    keys = [p["key"] for p in c.get("/api/patients?limit=1000").json()["patients"]]
    return {
        "cookie": c.cookies.get("smoulder_session"),
        "csrf": r.json()["csrf_token"],
        "keys": keys,
    }


@pytest.fixture(scope="session", autouse=True)
def report(request):
    yield
    if REPORTED or not STATS["requests"]:
        return
    REPORTED.append(True)
    seen = {op for op in OPERATIONS if op in DOCUMENTED}
    by = dict(sorted((STATS.get("by_status") or {}).items()))
    line = (
        f"schemathesis: {len(seen)} of {len(DOCUMENTED)} documented operations x {len(ROLES)} "
        f"roles, {STATS['requests']} requests, {STATS['5xx']} x 5xx; statuses {by}"
    )
    capture = request.config.pluginmanager.get_plugin("capturemanager")
    if capture is not None:
        with capture.global_and_fixture_disabled():
            print("\n" + line)


def _run_case(case, role: str, sessions: dict, app) -> None:
    s = sessions[role]
    if "key" in (case.path_parameters or {}) and s["keys"]:
        # half of the cases address a record this role may see, the rest what was generated
        generated = GENERATED.setdefault(id(case), case.path_parameters["key"])
        rnd = random.Random(repr(generated))
        case.path_parameters["key"] = rnd.choice(s["keys"]) if rnd.random() < 0.5 else generated
    headers = {"x-csrf-token": s["csrf"]}
    response = case.call(headers=headers, cookies={"smoulder_session": s["cookie"]})
    OPERATIONS.add((case.method.upper(), case.path))
    STATS["requests"] += 1
    by = STATS.get("by_status") or {}
    by[response.status_code] = by.get(response.status_code, 0) + 1
    STATS["by_status"] = by  # type: ignore[assignment]
    if response.status_code >= 500:
        STATS["5xx"] += 1
    assert response.status_code < 500, (case.method, case.path, response.status_code)
    # every conformance check runs (status codes, content types, headers, bodies, negative data
    # refused, Allow on 405); "schema-valid data is accepted" does not apply: an upload's content,
    # dates up to today and the rules across rows cannot be written in a schema
    case.validate_response(response, headers=headers, excluded_checks=[positive_data_acceptance])
    if case.path in ("/api/logout", "/api/login") and response.status_code == 200:
        sessions[role] = _login(app, role)  # signed out (or in again): a fresh session


@schema.parametrize()
@settings(max_examples=3, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
def test_every_operation_answers_within_its_schema(case, sessions, fuzz_app):
    for role in ROLES:  # each generated request, sent as each role
        _run_case(case, role, sessions, fuzz_app)


@pytest.mark.slow
@schema_long.parametrize()
@settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
def test_every_operation_answers_within_its_schema_long(case, sessions, fuzz_app):
    for role in ROLES:
        _run_case(case, role, sessions, fuzz_app)
