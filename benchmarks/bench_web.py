"""API load on loopback: requests per second and latency of the person view and the cohort view.

Builds a SQLite clinic of 10,000 simulated people (visits, relapses, MRI activity, progression
analysed from the store) plus one person with ten years of everything (20 clinic visits, relapses,
two treatments, yearly MRI with per-lesion PRL/SEL results, ten years of daily step counts and
weekly two-minute walks, monthly lifestyle entries). Starts the app with uvicorn in a subprocess
on 127.0.0.1 (one worker) and drives it with an httpx client from a few threads, bounded in
request count and time. Prints the figures; it is not a pass/fail test.

Targets on the 2-core development machine: person view >= 200 requests/s with p95 <= 100 ms;
cohort view (10,000 people, one sorted and filtered page) p95 <= 500 ms.

Run: ``.venv/bin/python benchmarks/bench_web.py [--people 10000] [--requests 2000] [--seconds 20]``
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
import pandas as pd

PASSWORD = "benchmark-password-1"


def _iso(s: pd.Series) -> pd.Series:
    return s.dt.strftime("%Y-%m-%d")


def build(db_path: Path, n_people: int, seed: int = 0) -> str:
    """Fill a fresh SQLite clinic; return the pseudonym of the ten-year person."""
    from smoulder.store import Store
    from smoulder.store.accounts import create_user
    from smoulder.store.analyses import refresh
    from smoulder.store.importer import import_frame
    from smoulder.store.models import CareLink, Person
    from smoulder.synth import simulate_cohort

    store = Store(f"sqlite:///{db_path}")
    rng = np.random.default_rng(seed)
    t0 = time.perf_counter()
    c = simulate_cohort(n_people, seed=seed, start_date="2005-01-01")
    v = c.visits.drop(columns="unscheduled").astype({"subject": str})
    v["date"] = _iso(v["date"])
    r = c.relapses.astype({"subject": str})
    r["date"], r["end_date"] = _iso(r["date"]), _iso(r["end_date"])
    m = c.mri.astype({"subject": str})
    m["date"] = _iso(m["date"])
    # the person with ten years of everything
    me = "BENCH-0001"
    days = pd.date_range("2014-01-01", "2023-12-31", freq="D")
    visit_days = days[::183][:20]
    mv = pd.DataFrame(
        {
            "subject": me,
            "date": visit_days.strftime("%Y-%m-%d"),
            "edss": np.clip(
                np.round((2 + np.arange(20) * 0.15 + rng.normal(0, 0.3, 20)) * 2) / 2, 0, 10
            ),
            "t25fw": np.round(5 + np.arange(20) * 0.1, 1),
            "nhpt": np.round(20 + rng.normal(0, 1, 20), 1),
            "sdmt": np.round(55 - np.arange(20) * 0.4).astype(int),
        }
    )
    v = pd.concat([v, mv.astype(str)], ignore_index=True)
    r = pd.concat(
        [
            r,
            pd.DataFrame(
                {
                    "subject": me,
                    "date": ["2016-03-01", "2019-05-10"],
                    "end_date": ["2016-04-01", "2019-06-10"],
                }
            ),
        ],
        ignore_index=True,
    )
    scans = days[::365][:10].strftime("%Y-%m-%d")
    m = pd.concat(
        [m, pd.DataFrame({"subject": me, "date": scans, "active": ["false"] * 10})],
        ignore_index=True,
    )
    with store.session() as s:
        for kind, df in (("visits", v), ("relapses", r), ("mri", m)):
            import_frame(s, kind, df.astype(str), source=kind)
        import_frame(
            s,
            "treatments",
            pd.DataFrame(
                {
                    "subject": me,
                    "drug": ["fingolimod", "ocrelizumab"],
                    "start_date": ["2014-06-01", "2018-01-01"],
                    "stop_date": ["2017-12-01", ""],
                }
            ),
            source="t",
        )
        lesions = [
            (me, d, k, 100.0 + k, "true" if k <= 2 else "false")
            for d in scans[-3:]
            for k in range(1, 11)
        ]
        import_frame(
            s,
            "prl",
            pd.DataFrame(lesions, columns=["subject", "date", "label", "volume_mm3", "prl"]).astype(
                str
            ),
            source="prl",
        )
        import_frame(
            s,
            "sel",
            pd.DataFrame(
                [(me, scans[-1], k, "definite" if k < 3 else "no") for k in range(1, 11)],
                columns=["subject", "date", "label", "sel"],
            ).astype(str),
            source="sel",
        )
        steps = pd.DataFrame(
            {
                "subject": me,
                "date": days.strftime("%Y-%m-%d"),
                "measure": "steps",
                "value": np.round(6000 * rng.lognormal(0, 0.3, len(days))),
                "unit": "count",
            }
        )
        walk = pd.DataFrame(
            {
                "subject": me,
                "date": days[::7].strftime("%Y-%m-%d"),
                "measure": "two_minute_walk",
                "value": np.round(130 * rng.lognormal(0, 0.1, len(days[::7])), 1),
                "unit": "m",
            }
        )
        import_frame(s, "devices", pd.concat([steps, walk]).astype(str), source="devices")
        months = days[::30]
        import_frame(
            s,
            "lifestyle",
            pd.DataFrame(
                {
                    "subject": me,
                    "date": months.strftime("%Y-%m-%d"),
                    "exercise_min_week": rng.integers(0, 300, len(months)),
                    "diet": "mixed",
                    "smoking": "never",
                    "alcohol_units_week": 2,
                    "sleep_hours": 7,
                    "medications": "vitamin D",
                    "comorbidities": "",
                    "notes": "",
                }
            ).astype(str),
            source="lifestyle",
        )
        print(f"  imported in {time.perf_counter() - t0:.1f} s", flush=True)
        t1 = time.perf_counter()
        out = refresh(s)
        print(
            f"  analyses from the store in {time.perf_counter() - t1:.1f} s: {out['progression']['events']} "
            f"progression events; digital: {out['digital']['events']} events",
            flush=True,
        )
        doc = create_user(s, "bench", PASSWORD, "clinician")
        ids = list(s.scalars(__import__("sqlalchemy").select(Person.id)))
        s.execute(
            __import__("sqlalchemy").insert(CareLink),
            [{"user_id": doc.id, "person_id": i} for i in ids],
        )
        key = s.query(Person).filter(Person.subject == me).one().pseudonym
        s.commit()
    store.dispose()
    return key


def free_port() -> int:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    return port


def load(base: str, cookies: dict, path: str, n: int, seconds: float, threads: int) -> dict:
    import httpx

    lat: list[float] = []
    errors = 0
    lock = threading.Lock()
    deadline = time.perf_counter() + seconds
    counter = iter(range(n))

    def worker() -> None:
        nonlocal errors
        with httpx.Client(base_url=base, cookies=cookies, timeout=30) as c:
            while time.perf_counter() < deadline:
                with lock:
                    if next(counter, None) is None:
                        return
                t = time.perf_counter()
                r = c.get(path)
                dt_ = time.perf_counter() - t
                with lock:
                    lat.append(dt_)
                    if r.status_code != 200:
                        errors += 1

    ts = [threading.Thread(target=worker) for _ in range(threads)]
    t0 = time.perf_counter()
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    wall = time.perf_counter() - t0
    arr = np.array(lat) * 1000
    return {
        "requests": len(lat),
        "errors": errors,
        "seconds": wall,
        "rps": len(lat) / wall,
        "p50": float(np.percentile(arr, 50)),
        "p95": float(np.percentile(arr, 95)),
        "max": float(arr.max()),
        "mean": statistics.fmean(arr),
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--people", type=int, default=10_000)
    ap.add_argument(
        "--requests", type=int, default=2000, help="at most this many requests per scenario"
    )
    ap.add_argument("--seconds", type=float, default=20.0, help="at most this long per scenario")
    ap.add_argument("--threads", type=int, default=4, help="client threads")
    ap.add_argument("--keep", type=Path, default=None, help="keep the database here")
    a = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="smoulder-bench-web-"))
    db = (a.keep or tmp) / "bench.sqlite"
    db.parent.mkdir(parents=True, exist_ok=True)
    if db.exists():
        db.unlink()
    print(
        f"building a clinic of {a.people:,} people + one with ten years of data in {db}", flush=True
    )
    key = build(db, a.people)
    port = free_port()
    code = (
        "import uvicorn; from smoulder.web import create_app, WebSettings; "
        f"uvicorn.run(create_app(WebSettings(database_url='sqlite:///{db}')), host='127.0.0.1', port={port}, "
        "log_level='warning', access_log=False)"
    )
    server = subprocess.Popen(
        [sys.executable, "-c", code], env={**os.environ, "PYTHONUNBUFFERED": "1"}
    )
    base = f"http://127.0.0.1:{port}"
    try:
        import httpx

        for _ in range(200):
            try:
                if httpx.get(f"{base}/api/health", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.1)
        r = httpx.post(f"{base}/api/login", json={"username": "bench", "password": PASSWORD})
        r.raise_for_status()
        cookies = dict(r.cookies)
        scenarios = [
            ("person view, page (HTML with the plot data)", f"/patients/{key}"),
            ("person view, API (JSON time line + summary)", f"/api/patients/{key}"),
            (
                "cohort view, page (10,000 people, sorted by PIRA, 50 rows)",
                "/cohort?sort=n_pira&desc=true",
            ),
            (
                "cohort view, API (filter PIRA, sorted by last EDSS)",
                "/api/cohort?signal=pira&sort=last_edss&desc=true",
            ),
        ]
        print(
            f"\nserver: uvicorn, 1 worker, SQLite; client: httpx, {a.threads} threads; "
            f"at most {a.requests} requests or {a.seconds:g} s per scenario (after 50 warm-up requests)"
        )
        print(
            f"{'scenario':62s} {'req/s':>7s} {'p50 ms':>7s} {'p95 ms':>7s} {'max ms':>7s} {'n':>6s} {'errors':>6s}"
        )
        for name, path in scenarios:
            load(base, cookies, path, 50, 30, 2)
            res = load(base, cookies, path, a.requests, a.seconds, a.threads)
            print(
                f"{name:62s} {res['rps']:7.1f} {res['p50']:7.1f} {res['p95']:7.1f} {res['max']:7.1f} "
                f"{res['requests']:6d} {res['errors']:6d}",
                flush=True,
            )
        size = httpx.get(f"{base}/patients/{key}", cookies=cookies).content
        print(f"\nperson page size {len(size) / 1024:.0f} KiB; date {dt.date.today()}")
    finally:
        server.terminate()
        server.wait(timeout=10)
        if a.keep is None:
            import shutil

            shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
