"""``smoulder serve``: the clinic web app; ``smoulder user add`` and ``smoulder store-import`` to run it for real.

``smoulder serve --demo`` makes a fresh embedded SQLite database filled from the virtual cohort,
writes consultation reports for a few people, prints the address and the demo logins, and serves.

This module only parses arguments and calls into :mod:`smoulder.web` and :mod:`smoulder.store`
(no database queries here).
"""

from __future__ import annotations

import argparse
import getpass
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from smoulder.exceptions import SettingsError

if TYPE_CHECKING:
    from smoulder.synth.demo_store import DemoClinic

DEFAULT_DB = "smoulder.sqlite"
DB_HELP = (
    "SQLAlchemy URL (sqlite:///clinic.sqlite, postgresql+psycopg://user:pw@host/db) or the path "
    "of a SQLite file; also SMOULDER_DATABASE_URL"
)


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "serve",
        help="serve the clinic web app (cohort view, person view, lifestyle log, reports, REST API)",
        description="Serve the web app. With --demo: a fresh SQLite database filled from the virtual cohort "
        "(every signal represented), demo logins printed, consultation reports written.",
    )
    p.add_argument(
        "--demo", action="store_true", help="fresh demo database from the virtual cohort"
    )
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    p.add_argument("--port", type=int, default=8000, help="port (default 8000)")
    p.add_argument(
        "--database",
        default=None,
        help=f"{DB_HELP} (default ./{DEFAULT_DB}, which must exist)",
    )
    p.add_argument(
        "--secure-cookies",
        action="store_true",
        help="send the session cookie only over HTTPS and add Strict-Transport-Security "
        "(use behind TLS)",
    )
    p.add_argument(
        "--workers",
        type=int,
        default=1,
        help="worker processes (default 1); limits and caches are kept in the database, so every "
        "worker holds the same limits (use PostgreSQL for more than one)",
    )
    p.add_argument(
        "--allowed-hosts",
        nargs="+",
        default=None,
        metavar="HOST",
        help="Host header names the app answers to (default: 127.0.0.1 localhost ::1; '*': any)",
    )
    p.add_argument(
        "--forwarded-allow-ips",
        nargs="*",
        default=None,
        metavar="IP",
        help="proxies whose X-Forwarded-For is believed (default: none, the header is ignored)",
    )
    p.add_argument(
        "--idle-minutes",
        type=float,
        default=None,
        help="end a session not used for this long (default 30; sessions last at most 8 hours)",
    )
    p.add_argument(
        "--out",
        type=Path,
        default=Path("smoulder-demo-output"),
        help="--demo: folder for the demo database and reports (default smoulder-demo-output)",
    )
    p.add_argument(
        "--demo-people", type=int, default=40, help="--demo: number of virtual people (default 40)"
    )
    p.add_argument(
        "--no-serve",
        action="store_true",
        help="prepare (and with --demo write the reports), then exit",
    )
    p.set_defaults(func=run)

    u = sub.add_parser(
        "user",
        help="manage accounts of the web app",
        description="Add an account (password from SMOULDER_PASSWORD or asked for).",
    )
    usub = u.add_subparsers(dest="user_command", metavar="ACTION")
    add = usub.add_parser("add", help="add an account")
    add.add_argument("username")
    add.add_argument("--role", required=True, choices=["clinician", "researcher", "patient"])
    add.add_argument(
        "--person", default=None, help="patient accounts: the person's clinic id (subject)"
    )
    add.add_argument(
        "--patients",
        nargs="*",
        default=(),
        metavar="SUBJECT",
        help="clinician accounts: clinic ids of the people they look after",
    )
    add.add_argument("--display-name", default="")
    add.add_argument("--database", default=None, help=f"{DB_HELP} (required)")
    add.set_defaults(func=run_user_add)

    imp = sub.add_parser(
        "store-import",
        help="import a table into the clinic database",
        description="Import CSV/TSV/Parquet into the database: checked row by row, all or "
        "nothing, idempotent; analyses are brought up to date afterwards.",
    )
    imp.add_argument(
        "kind",
        choices=[
            "people",
            "visits",
            "relapses",
            "treatments",
            "mri",
            "prl",
            "sel",
            "devices",
            "device_events",
            "lifestyle",
            "fhir",
            "apple_health",
        ],
    )
    imp.add_argument("file", type=Path)
    imp.add_argument(
        "--subject",
        default=None,
        help="per-lesion tables without a subject column; the person of an Apple Health export",
    )
    imp.add_argument("--session-date", default=None, help="per-lesion tables without a date column")
    imp.add_argument("--database", default=None, help=f"{DB_HELP} (required)")
    imp.set_defaults(func=run_store_import)


def _url(arg: str | None, command: str) -> str:
    """The database URL from --database or SMOULDER_DATABASE_URL (required for writes)."""
    from smoulder.store.db import database_url

    value = arg or os.environ.get("SMOULDER_DATABASE_URL")
    if not value:
        if command == "serve":
            return database_url(DEFAULT_DB)
        raise SettingsError(
            f"{command} needs --database (e.g. --database clinic.sqlite or a PostgreSQL URL) or "
            "SMOULDER_DATABASE_URL; nothing was written"
        )
    return database_url(value)


def _open(url: str, *, must_exist: bool) -> Any:
    """Open (and migrate) the store; say so when a new SQLite file is made."""
    from smoulder.store import Store
    from smoulder.store.db import check_database, sqlite_path

    new = check_database(url, must_exist=must_exist)
    store = Store(url)
    if new:
        print(f"created a new database at {sqlite_path(url).resolve()}")  # type: ignore[union-attr]
    return store


def prepare_demo(
    out: Path,
    n_people: int = 40,
    progress: Callable[[str], None] | None = None,
    reports: bool = True,
) -> tuple[str, DemoClinic, list[Path]]:
    """Make a fresh demo database in ``out`` and (unless ``reports`` is false) write consultation
    reports; return (url, clinic, reports written)."""
    from smoulder.store import Store
    from smoulder.synth.demo_store import fill_demo_store, write_demo_reports

    if out.exists() and not out.is_dir():
        raise SettingsError(
            f"--out {out} is a file; give a folder for the demo database and reports"
        )
    out.mkdir(parents=True, exist_ok=True)
    db = out / "smoulder-demo.sqlite"
    for suffix in ("", "-wal", "-shm"):
        Path(str(db) + suffix).unlink(missing_ok=True)
    url = f"sqlite:///{db.resolve()}"
    store = Store(url)
    try:
        clinic = fill_demo_store(store, n_subjects=n_people, progress=progress)
        written = write_demo_reports(store, clinic, out / "reports", progress) if reports else []
    finally:
        store.dispose()
    return url, clinic, written


def _exit_on_signal(signum: int, frame: Any) -> None:
    raise SystemExit(0)


def _reports_process(url: str, patient_key: str, folder: str) -> None:
    """The report job's own process. The server stops it when it stops (SIGTERM to a daemon
    process): the signal becomes ``SystemExit`` here, so the report being written is removed
    rather than left half-written. Ctrl+C in a terminal reaches this process too; it is ignored
    here, and the server stops the job."""
    import signal

    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, _exit_on_signal)
    _write_reports_job(url, patient_key, folder)


def _write_reports_job(url: str, patient_key: str, folder: str) -> None:
    """The demo's consultation reports, written while the server answers."""
    from smoulder.store import Store
    from smoulder.synth.demo_store import write_demo_reports

    store = Store(url)
    try:
        write_demo_reports(store, patient_key, folder)
    except Exception as exc:  # noqa: BLE001 - a message, never a traceback, for the user
        print(f"the demo's consultation reports could not be written: {exc}", file=sys.stderr)
    finally:
        store.dispose()


def _reports_in_background(url: str, clinic: DemoClinic, folder: Path) -> Any:
    """Start writing the demo's reports in another process (it ends with the server)."""
    import multiprocessing

    job = multiprocessing.get_context("spawn").Process(
        target=_reports_process,
        args=(url, clinic.patient_key, str(folder)),
        daemon=True,
        name="smoulder-demo-reports",
    )
    job.start()
    return job


def _settings(ns: argparse.Namespace, url: str) -> Any:
    from smoulder.web.settings import WebSettings

    values: dict[str, Any] = {
        "database_url": url,
        "demo": bool(ns.demo),
        "secure_cookies": bool(ns.secure_cookies),
    }
    if ns.allowed_hosts:
        values["allowed_hosts"] = ns.allowed_hosts
    if ns.forwarded_allow_ips is not None:
        values["forwarded_allow_ips"] = ns.forwarded_allow_ips
    if ns.idle_minutes is not None:
        values["idle_minutes"] = ns.idle_minutes
    return WebSettings.make(**values)


def run(ns: argparse.Namespace) -> int:
    if ns.port < 1 or ns.port > 65535:
        raise SettingsError(f"--port must be in 1..65535; got {ns.port}")
    if ns.workers < 1 or ns.workers > 64:
        raise SettingsError(f"--workers must be in 1..64; got {ns.workers}")
    if ns.demo:
        if ns.database:
            raise SettingsError(
                "--demo makes its own fresh SQLite database in --out; leave out --database"
            )
        t0 = time.perf_counter()
        from smoulder.cli.progression import progress_display

        with progress_display(ns) as progress:
            # serving: the reports are written beside the running server, not before it
            url, clinic, reports = prepare_demo(
                ns.out, ns.demo_people, progress, reports=bool(ns.no_serve)
            )
        print(
            f"demo database ready in {time.perf_counter() - t0:.1f} s: {ns.out / 'smoulder-demo.sqlite'} "
            f"({clinic.counts.get('people', 0)} people, {clinic.counts.get('visits', 0)} visits, "
            f"{clinic.counts.get('devices', 0)} device values)"
        )
        digital_msg = clinic.analysis.get("digital", {}).get("message")
        if digital_msg:
            print(f"note: {digital_msg}")
        if ns.no_serve:
            print(f"consultation reports: {ns.out / 'reports'}/ ({len(reports)} files)")
        else:
            _reports_in_background(url, clinic, ns.out / "reports")
            print(
                f"consultation reports: being written to {ns.out / 'reports'}/ while the server"
                " starts (about half a minute)"
            )
        print("demo logins (user name / password: what they see):")
        for user, pw, role, what in clinic.logins:
            print(f"  {user:11s} / {pw}   {role}: {what}")
    else:
        from smoulder.store.db import check_database

        url = _url(ns.database, "serve")
        check_database(url, must_exist=True)
    settings = _settings(ns, url)
    address = f"http://{ns.host}:{ns.port}/"
    if ns.no_serve:
        print(f"not serving (--no-serve); would serve {address} on {url.split('://')[0]}")
        return 0
    from smoulder.web import create_app

    if ns.host not in settings.allowed_hosts and "*" not in settings.allowed_hosts:
        print(
            f"note: requests must name one of these hosts: {', '.join(settings.allowed_hosts)} "
            "(add the name clients use with --allowed-hosts)"
        )
    import uvicorn

    # no access log: request paths carry pseudonyms, and logs must not hold identifiers;
    # proxy headers are read by the app itself, only from --forwarded-allow-ips
    common: dict[str, Any] = {
        "host": ns.host,
        "port": ns.port,
        "log_level": "warning",
        "access_log": False,
        "proxy_headers": False,
        "server_header": False,
    }
    if ns.workers > 1:
        os.environ.update(settings.to_environment())
        print(
            f"smoulder is serving at {address} with {ns.workers} workers  (Ctrl+C to stop)",
            flush=True,
        )
        uvicorn.run("smoulder.web.app:create_app", factory=True, workers=ns.workers, **common)
        return 0
    app = create_app(settings)
    print(f"smoulder is serving at {address}  (Ctrl+C to stop)", flush=True)
    uvicorn.run(app, **common)
    return 0


def _password() -> str:
    pw = os.environ.get("SMOULDER_PASSWORD")
    if pw:
        return pw
    if not sys.stdin.isatty():
        raise SettingsError("set SMOULDER_PASSWORD or run in a terminal to type the password")
    pw = getpass.getpass("password: ")
    if pw != getpass.getpass("again: "):
        raise SettingsError("the passwords differ")
    return pw


def run_user_add(ns: argparse.Namespace) -> int:
    from smoulder.store.accounts import add_account
    from smoulder.store.db import check_database

    url = _url(ns.database, "user add")
    check_database(url, must_exist=False)  # before asking for a password
    password = _password()
    store = _open(url, must_exist=False)
    try:
        add_account(
            store,
            ns.username,
            password,
            ns.role,
            person=ns.person,
            patients=list(ns.patients),
            display_name=ns.display_name,
        )
    finally:
        store.dispose()
    print(f"added {ns.role} {ns.username}")
    return 0


def run_store_import(ns: argparse.Namespace) -> int:
    from smoulder.store import Store
    from smoulder.store.db import check_database, sqlite_path
    from smoulder.store.importer import ImportFailed
    from smoulder.store.service import import_file_into

    url = _url(ns.database, "store-import")
    new = check_database(url, must_exist=False)
    store = Store(url)
    done = False
    try:
        report, analysis = import_file_into(
            store, ns.kind, ns.file, subject=ns.subject, session_date=ns.session_date
        )
        done = True
    except ImportFailed as exc:
        print(
            f"smoulder store-import: {exc.total} problem(s) in {ns.file.name}; nothing was imported:",
            file=sys.stderr,
        )
        for e in exc.errors:
            print(f"  {e}", file=sys.stderr)
        return 2
    finally:
        store.dispose()
        db_file = sqlite_path(url) if new else None
        if db_file is not None and not done:
            # a failed import into a database this command made leaves no database behind
            for suffix in ("", "-wal", "-shm", "-journal"):
                Path(str(db_file) + suffix).unlink(missing_ok=True)
    if new:
        print(f"created a new database at {sqlite_path(url).resolve()}")  # type: ignore[union-attr]
    print(report)
    msg = analysis.get("digital", {}).get("message") if analysis else ""
    if msg:
        print(f"note: {msg}")
    return 0
