"""The clinic under load: ``smoulder serve --demo`` on loopback, many clients at once.

What the issue measured (issue 15, "Fast under a clinic's load"): ``smoulder serve --demo`` (one
worker, SQLite), the load client on the same 2 cores. Because client and server share the cores,
the figure that travels between machines is the *ratio* of a page's throughput to that of
``GET /api/health`` (the cheapest answer through the same middlewares) measured in the same run.

Scenarios: ``/api/health``, the person page, its JSON and the cohort page with 20 concurrent
clients; the person page with 4. Every view of a person writes an audit row (batched by the audit
writer: each request still waits until its row is committed). Optionally the same on PostgreSQL
with several worker processes (``--postgres URL --workers N``; the URL is an account that may
create databases: a throw-away database is made and dropped).

The client is a plain keep-alive HTTP/1.1 client (``http.client``) per thread, so that it takes as
little of the shared CPU as possible. Prints the figures beside those the issue gives for today; it
is not a pass/fail test.

Run: ``.venv/bin/python benchmarks/bench_web.py [--seconds 15] [--postgres URL --workers 2]``
"""

from __future__ import annotations

import argparse
import datetime as dt
import http.client
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

import numpy as np

PASSWORD = "smoulder-demo-2024"
# the figures for today (one worker, SQLite, 2 cores shared with the client)
TODAY = {
    "health20": (154.0, None),
    "page20": (61.0, 554.0),
    "json20": (84.0, 355.0),
    "cohort20": (54.0, 570.0),
    "page4": (87.0, 69.0),
}


def free_port() -> int:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    return port


def wait_up(port: int, proc: subprocess.Popen, seconds: float = 900) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"the server exited with code {proc.returncode}")
        try:
            c = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            c.request("GET", "/api/health")
            if c.getresponse().status == 200:
                return
        except OSError:
            pass
        time.sleep(0.5)
    raise SystemExit("the server did not answer /api/health")


def request(conn: http.client.HTTPConnection, method: str, path: str, headers: dict, body=None):
    conn.request(method, path, body=body, headers=headers)
    r = conn.getresponse()
    return r.status, r.getheaders(), r.read()


def sign_in(port: int, username: str) -> dict:
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    status, headers, body = request(
        c,
        "POST",
        "/api/login",
        {"content-type": "application/json"},
        json.dumps({"username": username, "password": PASSWORD}),
    )
    if status != 200:
        raise SystemExit(f"sign-in as {username} failed: {status} {body[:200]!r}")
    cookie = next(v for k, v in headers if k.lower() == "set-cookie").split(";", 1)[0]
    return {"cookie": cookie}


def person_key(port: int, auth: dict) -> str:
    """The record of the clinician's patient with the most signals (PIRA first)."""
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    status, _, body = request(c, "GET", "/api/cohort?sort=n_pira&desc=true&limit=1", auth)
    if status != 200:
        raise SystemExit(f"/api/cohort answered {status}")
    return json.loads(body)["rows"][0]["key"]


def load(port: int, auth: dict, path: str, clients: int, seconds: float) -> dict:
    lat: list[float] = []
    errors = 0
    lock = threading.Lock()
    start = threading.Barrier(clients + 1)
    stop_at = [0.0]

    def worker() -> None:
        nonlocal errors
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        mine: list[float] = []
        bad = 0
        start.wait()
        while time.perf_counter() < stop_at[0]:
            t = time.perf_counter()
            try:
                status, _, _ = request(conn, "GET", path, auth)
            except (OSError, http.client.HTTPException):
                conn.close()
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
                status = 0
            mine.append(time.perf_counter() - t)
            bad += status != 200
        conn.close()
        with lock:
            lat.extend(mine)
            errors += bad

    threads = [threading.Thread(target=worker) for _ in range(clients)]
    for t in threads:
        t.start()
    stop_at[0] = time.perf_counter() + seconds
    t0 = time.perf_counter()
    start.wait()
    for t in threads:
        t.join()
    wall = time.perf_counter() - t0
    arr = np.array(lat) * 1000
    return {
        "n": len(lat),
        "errors": errors,
        "rps": len(lat) / wall,
        "p50": float(np.percentile(arr, 50)),
        "p95": float(np.percentile(arr, 95)),
    }


def run_scenarios(port: int, seconds: float, label: str) -> dict:
    auth = sign_in(port, "dr.demo")
    key = person_key(port, auth)
    plan = [
        ("health20", "/api/health", 20, "GET /api/health"),
        ("page20", f"/patients/{key}", 20, "person page (HTML)"),
        ("json20", f"/api/patients/{key}", 20, "person JSON"),
        ("cohort20", "/cohort", 20, "cohort page"),
        ("page4", f"/patients/{key}", 4, "person page (HTML)"),
    ]
    out = {}
    print(f"\n{label}")
    print(
        f"{'scenario':24s} {'clients':>7s} {'req/s':>7s} {'p50 ms':>7s} {'p95 ms':>7s} "
        f"{'x health':>8s} {'errors':>6s}   today (issue): req/s, p95, x health"
    )
    for name, path, clients, text in plan:
        load(port, auth, path, clients, min(3.0, seconds / 3))  # warm-up
        res = load(port, auth, path, clients, seconds)
        out[name] = res
        ratio = res["rps"] / out["health20"]["rps"]
        t_rps, t_p95 = TODAY[name]
        today = f"{t_rps:5.0f}/s" + (f", p95 {t_p95:4.0f} ms" if t_p95 else "")
        today += f", {t_rps / TODAY['health20'][0]:.2f}"
        print(
            f"{text:24s} {clients:7d} {res['rps']:7.1f} {res['p50']:7.1f} {res['p95']:7.1f} "
            f"{ratio:8.2f} {res['errors']:6d}   {today}",
            flush=True,
        )
    page = out["page20"]["rps"] / out["health20"]["rps"]
    print(
        f"target: person page >= 0.60 x health at 20 clients (measured {page:.2f}; today 0.42), "
        f"p95 <= 100 ms at 4 clients (measured {out['page4']['p95']:.0f} ms; today 69 ms)"
    )
    return out


def serve(args: list[str], env: dict | None = None) -> tuple[subprocess.Popen, int]:
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "smoulder", "serve", "--port", str(port), *args],
        env={**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.STDOUT,
    )
    return proc, port


def stop(proc: subprocess.Popen) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:  # pragma: no cover
        proc.kill()


def sqlite_demo(seconds: float, people: int) -> None:
    tmp = Path(tempfile.mkdtemp(prefix="smoulder-bench-web-"))
    try:
        t0 = time.perf_counter()
        proc, port = serve(["--demo", "--out", str(tmp), "--demo-people", str(people)])
        try:
            wait_up(port, proc)
            print(f"smoulder serve --demo ready in {time.perf_counter() - t0:.0f} s", flush=True)
            run_scenarios(port, seconds, "smoulder serve --demo: 1 worker, SQLite")
        finally:
            stop(proc)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def postgres_demo(admin_url: str, workers: int, seconds: float, people: int) -> None:
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    from smoulder.store import Store
    from smoulder.synth.demo_store import fill_demo_store

    base = make_url(admin_url)
    name = f"smoulder_bench_{uuid.uuid4().hex[:10]}"
    admin = create_engine(base, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    url = base.set(database=name).render_as_string(hide_password=False)
    try:
        store = Store(url)
        fill_demo_store(store, n_subjects=people)
        store.dispose()
        proc, port = serve(["--database", url, "--workers", str(workers)])
        try:
            wait_up(port, proc, 120)
            run_scenarios(port, seconds, f"smoulder serve --workers {workers}: PostgreSQL")
        finally:
            stop(proc)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--seconds", type=float, default=15.0, help="measured seconds per scenario")
    ap.add_argument("--people", type=int, default=40, help="demo people (as serve --demo-people)")
    ap.add_argument(
        "--postgres",
        default=os.environ.get("SMOULDER_TEST_POSTGRES_URL"),
        help="PostgreSQL URL of an account that may create databases (default "
        "SMOULDER_TEST_POSTGRES_URL); empty to skip",
    )
    ap.add_argument("--workers", type=int, default=2, help="worker processes on PostgreSQL")
    ap.add_argument("--skip-sqlite", action="store_true")
    a = ap.parse_args()
    print(f"bench_web {dt.date.today()}; load average {os.getloadavg()[0]:.1f} at the start")
    if not a.skip_sqlite:
        sqlite_demo(a.seconds, a.people)
    if a.postgres:
        postgres_demo(a.postgres, a.workers, a.seconds, a.people)
    print(f"load average {os.getloadavg()[0]:.1f} at the end")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
