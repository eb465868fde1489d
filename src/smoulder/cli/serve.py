"""``smoulder serve``: the clinic web app; ``smoulder user add`` and ``smoulder store-import`` to run it for real.

``smoulder serve --demo`` makes a fresh embedded SQLite database filled from the virtual cohort,
writes consultation reports for a few people, prints the address and the demo logins, and serves.
"""

from __future__ import annotations

import argparse
import getpass
import os
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

from smoulder.exceptions import SettingsError

if TYPE_CHECKING:
    from smoulder.synth.demo_store import DemoClinic

DEFAULT_DB = "sqlite:///smoulder.sqlite"


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
        help=f"SQLAlchemy URL, e.g. sqlite:///clinic.sqlite or postgresql+psycopg://user:pw@host/db "
        f"(default {DEFAULT_DB}; also SMOULDER_DATABASE_URL)",
    )
    p.add_argument(
        "--secure-cookies",
        action="store_true",
        help="send the session cookie only over HTTPS (use behind TLS)",
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
    add.add_argument("--database", default=None)
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
    imp.add_argument("--database", default=None)
    imp.set_defaults(func=run_store_import)


def _url(arg: str | None) -> str:
    return arg or os.environ.get("SMOULDER_DATABASE_URL") or DEFAULT_DB


def prepare_demo(out: Path, n_people: int = 40) -> tuple[str, DemoClinic, list[Path]]:
    """Make a fresh demo database in ``out`` and write consultation reports; return (url, clinic, reports)."""
    from smoulder.report import build_report, render_html, render_pdf
    from smoulder.store import Store
    from smoulder.store.models import Person, PersonSignals, User
    from smoulder.store.repo import timeline
    from smoulder.synth.demo_store import fill_demo_store

    out.mkdir(parents=True, exist_ok=True)
    db = out / "smoulder-demo.sqlite"
    for suffix in ("", "-wal", "-shm"):
        Path(str(db) + suffix).unlink(missing_ok=True)
    url = f"sqlite:///{db.resolve()}"
    store = Store(url)
    clinic = fill_demo_store(store, n_subjects=n_people)
    reports_dir = out / "reports"
    reports_dir.mkdir(exist_ok=True)
    written: list[Path] = []
    with store.session() as s:
        viewer = (
            s.query(User).filter(User.username == "dr.demo").one()
        )  # sees names (not pseudonymised)
        rows = (
            s.query(Person, PersonSignals)
            .join(PersonSignals, PersonSignals.person_id == Person.id)
            .order_by(
                (
                    PersonSignals.n_pira
                    + PersonSignals.n_prl
                    + PersonSignals.n_sel
                    + PersonSignals.n_digital
                ).desc(),
                Person.subject,
            )
            .limit(3)
            .all()
        )
        chosen = [p for p, _ in rows]
        me = s.query(Person).filter(Person.pseudonym == clinic.patient_key).one()
        if me not in chosen:
            chosen.insert(0, me)
        for p in chosen:
            tl = timeline(s, p, viewer)
            rep = build_report(tl, p.name or p.subject)
            stem = reports_dir / f"report-{p.pseudonym}"
            stem.with_suffix(".html").write_text(render_html(rep), encoding="utf-8")
            stem.with_suffix(".pdf").write_bytes(render_pdf(rep))
            written += [stem.with_suffix(".html"), stem.with_suffix(".pdf")]
    store.dispose()
    return url, clinic, written


def run(ns: argparse.Namespace) -> int:
    from smoulder.store.db import make_engine

    if ns.port < 1 or ns.port > 65535:
        raise SettingsError(f"--port must be in 1..65535; got {ns.port}")
    if ns.demo:
        if ns.database:
            raise SettingsError(
                "--demo makes its own fresh SQLite database in --out; leave out --database"
            )
        t0 = time.perf_counter()
        url, clinic, reports = prepare_demo(ns.out, ns.demo_people)
        print(
            f"demo database ready in {time.perf_counter() - t0:.1f} s: {ns.out / 'smoulder-demo.sqlite'} "
            f"({clinic.counts.get('people', 0)} people, {clinic.counts.get('visits', 0)} visits, "
            f"{clinic.counts.get('devices', 0)} device values)"
        )
        digital_msg = clinic.analysis.get("digital", {}).get("message")
        if digital_msg:
            print(f"note: {digital_msg}")
        print(f"consultation reports: {ns.out / 'reports'}/ ({len(reports)} files)")
        print("demo logins (user name / password: what they see):")
        for user, pw, role, what in clinic.logins:
            print(f"  {user:11s} / {pw}   {role}: {what}")
    else:
        url = _url(ns.database)
        make_engine(url)  # validates the URL form before anything else
    address = f"http://{ns.host}:{ns.port}/"
    if ns.no_serve:
        print(f"not serving (--no-serve); would serve {address} on {url.split('://')[0]}")
        return 0
    from smoulder.web import WebSettings, create_app

    app = create_app(WebSettings(database_url=url, secure_cookies=ns.secure_cookies))
    print(f"smoulder is serving at {address}  (Ctrl+C to stop)", flush=True)
    import uvicorn

    # no access log: request paths carry pseudonyms, and logs must not hold identifiers
    uvicorn.run(app, host=ns.host, port=ns.port, log_level="warning", access_log=False)
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
    from smoulder.store import Store
    from smoulder.store.accounts import assign, create_user
    from smoulder.store.models import Person

    store = Store(_url(ns.database))
    with store.session() as s:
        person = None
        if ns.person:
            person = s.query(Person).filter(Person.subject == ns.person).one_or_none()
            if person is None:
                raise SettingsError(f"no person with clinic id {ns.person!r}; import them first")
        user = create_user(
            s, ns.username, _password(), ns.role, display_name=ns.display_name, person=person
        )
        for subj in ns.patients:
            p = s.query(Person).filter(Person.subject == subj).one_or_none()
            if p is None:
                raise SettingsError(f"no person with clinic id {subj!r}; import them first")
            assign(s, user, p)
        s.commit()
    store.dispose()
    print(f"added {ns.role} {ns.username}")
    return 0


def run_store_import(ns: argparse.Namespace) -> int:
    from smoulder.store import Store
    from smoulder.store.analyses import refresh
    from smoulder.store.importer import ImportFailed, import_file

    store = Store(_url(ns.database))
    with store.session() as s:
        try:
            report = import_file(
                s, ns.kind, ns.file, subject=ns.subject, session_date=ns.session_date
            )
            analysis = refresh(s, report.person_ids) if report.person_ids else {}
            s.commit()
        except ImportFailed as exc:
            s.rollback()
            print(
                f"smoulder store-import: {exc.total} problem(s) in {ns.file.name}; nothing was imported:",
                file=sys.stderr,
            )
            for e in exc.errors:
                print(f"  {e}", file=sys.stderr)
            return 2
        except BaseException:
            s.rollback()
            raise
        finally:
            store.dispose()
    print(report)
    msg = analysis.get("digital", {}).get("message") if analysis else ""
    if msg:
        print(f"note: {msg}")
    return 0
