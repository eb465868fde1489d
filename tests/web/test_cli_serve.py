"""The command line around the web app: the demo clinic, accounts, imports from files."""

from __future__ import annotations

from sqlalchemy import func, select

from smoulder.cli import main
from smoulder.store import Store
from smoulder.store.models import DeviceEvent, LifestyleEntry, PersonSignals, Treatment, User


def test_serve_demo_prepares_a_fresh_database_with_every_signal(tmp_path, capsys):
    out = tmp_path / "demo"
    assert main(["serve", "--demo", "--no-serve", "--out", str(out), "--demo-people", "12"]) == 0
    text = capsys.readouterr().out
    assert (
        "demo logins" in text and "dr.demo" in text and "researcher" in text and "patient" in text
    )
    assert "would serve http://127.0.0.1:8000/" in text
    store = Store(f"sqlite:///{out / 'smoulder-demo.sqlite'}")
    with store.session() as s:
        sig = s.scalars(select(PersonSignals)).all()
        assert len(sig) == 12
        # every smouldering signal is represented in the demo clinic
        assert all(
            sum(getattr(x, k) > 0 for x in sig) > 0
            for k in ("n_pira", "n_raw", "n_prl", "n_sel", "n_digital")
        )
        assert s.scalar(select(func.count()).select_from(Treatment)) > 0
        assert s.scalar(select(func.count()).select_from(LifestyleEntry)) > 0
        assert (
            s.scalar(
                select(func.count())
                .select_from(DeviceEvent)
                .where(DeviceEvent.source == "smoulder.digital")
            )
            > 0
        )
        assert sorted(s.scalars(select(User.role))) == [
            "clinician",
            "clinician",
            "patient",
            "researcher",
        ]
    store.dispose()
    reports = sorted((out / "reports").iterdir())
    assert reports and all(p.stat().st_size > 1000 for p in reports)
    assert {p.suffix for p in reports} == {".html", ".pdf"}
    # fresh: a second run starts again from an empty database (same people, not twice as many)
    assert main(["serve", "--demo", "--no-serve", "--out", str(out), "--demo-people", "12"]) == 0
    store = Store(f"sqlite:///{out / 'smoulder-demo.sqlite'}")
    with store.session() as s:
        assert s.scalar(select(func.count()).select_from(PersonSignals)) == 12
    store.dispose()


def test_serve_refuses_contradictory_options(tmp_path, capsys):
    assert (
        main(
            [
                "serve",
                "--demo",
                "--database",
                "sqlite:///x.sqlite",
                "--no-serve",
                "--out",
                str(tmp_path),
            ]
        )
        == 2
    )
    assert "leave out --database" in capsys.readouterr().err
    assert main(["serve", "--database", "mysql://x", "--no-serve"]) == 2
    assert "must start with 'sqlite:///' or 'postgresql+psycopg://'" in capsys.readouterr().err


def test_store_import_and_user_add_from_the_command_line(tmp_path, capsys, monkeypatch):
    url = f"sqlite:///{tmp_path / 'c.sqlite'}"
    visits = tmp_path / "visits.csv"
    visits.write_text("subject,date,edss\nQ1,2021-01-01,2.0\nQ1,2021-07-01,2.5\n")
    assert main(["store-import", "visits", str(visits), "--database", url]) == 0
    assert "2 rows read, 2 inserted" in capsys.readouterr().out
    assert main(["store-import", "visits", str(visits), "--database", url]) == 0
    assert "0 inserted, 0 updated, 2 unchanged" in capsys.readouterr().out
    bad = tmp_path / "bad.csv"
    bad.write_text("subject,date,edss\nQ2,2021-01-01,12\nQ2,2021-02-30,2\n")
    assert main(["store-import", "visits", str(bad), "--database", url]) == 2
    err = capsys.readouterr().err
    assert "2 problem(s) in bad.csv; nothing was imported" in err
    assert (
        "row 2, column 'edss': value out of range" in err
        and "row 3, column 'date': unparseable date" in err
    )
    monkeypatch.setenv("SMOULDER_PASSWORD", "a long enough password")
    assert (
        main(["user", "add", "doc", "--role", "clinician", "--patients", "Q1", "--database", url])
        == 0
    )
    assert (
        main(["user", "add", "q1", "--role", "patient", "--person", "Q1", "--database", url]) == 0
    )
    assert (
        main(["user", "add", "q2", "--role", "patient", "--person", "NOPE", "--database", url]) == 2
    )
    from fastapi.testclient import TestClient

    from smoulder.web import WebSettings, create_app

    app = create_app(WebSettings(database_url=url, allowed_hosts=["testserver"]))
    c = TestClient(app)
    assert (
        c.post(
            "/api/login", json={"username": "doc", "password": "a long enough password"}
        ).status_code
        == 200
    )
    assert c.get("/api/patients").json()["total"] == 1
    app.state.store.dispose()


def test_store_import_needs_a_database_and_says_where_it_wrote(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("SMOULDER_DATABASE_URL", raising=False)
    visits = tmp_path / "visits.csv"
    visits.write_text("subject,date,edss\nQ1,2021-01-01,2.0\n")
    assert main(["store-import", "visits", str(visits)]) == 2
    err = capsys.readouterr().err
    assert "--database" in err and "SMOULDER_DATABASE_URL" in err and "Traceback" not in err
    assert not (tmp_path / "smoulder.sqlite").exists()
    # a plain file path is a SQLite file; a new one is announced with its full path
    assert main(["store-import", "visits", str(visits), "--database", "clinic.sqlite"]) == 0
    out = capsys.readouterr().out
    assert f"created a new database at {tmp_path / 'clinic.sqlite'}" in out
    assert main(["store-import", "visits", str(visits), "--database", "clinic.sqlite"]) == 0
    assert "created a new database" not in capsys.readouterr().out


def test_a_failed_import_into_a_new_database_leaves_no_database(tmp_path, capsys):
    # a FHIR bundle with nothing smoulder reads, and a visits table with an impossible EDSS
    bundle = tmp_path / "bad.json"
    bundle.write_text(
        '{"resourceType": "Bundle", "type": "collection", '
        '"entry": [{"resource": {"resourceType": "Observation"}}]}'
    )
    visits = tmp_path / "visits.csv"
    visits.write_text("subject,date,edss\nQ1,2021-01-01,12.0\n")
    for kind, path in (("fhir", bundle), ("visits", visits)):
        db = tmp_path / f"{kind}.sqlite"
        assert main(["store-import", kind, str(path), "--database", str(db)]) == 2
        captured = capsys.readouterr()
        assert "Traceback" not in captured.err and path.name in captured.err
        assert "created a new database" not in captured.out
        assert not db.exists(), f"{kind}: a failed import left {db.name} behind"
        assert not list(tmp_path.glob(f"{kind}.sqlite*"))
    # an existing database stays (with what it held) when a later import fails
    good = tmp_path / "good.csv"
    good.write_text("subject,date,edss\nQ1,2021-01-01,2.0\n")
    db = tmp_path / "clinic.sqlite"
    assert main(["store-import", "visits", str(good), "--database", str(db)]) == 0
    assert main(["store-import", "visits", str(visits), "--database", str(db)]) == 2
    assert db.exists()
    store = Store(f"sqlite:///{db}")
    try:
        from smoulder.store.models import Assessment

        with store.session() as s:
            assert s.scalar(select(func.count()).select_from(Assessment)) == 1
    finally:
        store.dispose()


def test_a_missing_or_foreign_database_is_a_message_not_a_traceback(tmp_path, capsys):
    not_sqlite = tmp_path / "notes.csv"
    not_sqlite.write_text("this is not a database\n" * 100)
    visits = tmp_path / "visits.csv"
    visits.write_text("subject,date,edss\nQ1,2021-01-01,2.0\n")
    cases = [
        (
            ["serve", "--database", f"sqlite:///{tmp_path / 'missing.sqlite'}", "--no-serve"],
            "no database at",
        ),
        (["serve", "--database", f"sqlite:///{not_sqlite}", "--no-serve"], "not a SQLite database"),
        (
            ["store-import", "visits", str(visits), "--database", f"sqlite:///{not_sqlite}"],
            "not a SQLite database",
        ),
        (
            [
                "store-import",
                "visits",
                str(visits),
                "--database",
                f"sqlite:///{tmp_path / 'no-dir' / 'x.sqlite'}",
            ],
            "folder",
        ),
        (
            ["user", "add", "doc", "--role", "clinician", "--database", str(not_sqlite)],
            "not a SQLite database",
        ),
        (["serve", "--database", str(tmp_path), "--no-serve"], "is a folder"),
    ]
    for argv, words in cases:
        code = main(argv)
        err = capsys.readouterr().err
        assert code == 2, (argv, code, err)
        assert words in err and "Traceback" not in err, (argv, err)
    assert not_sqlite.read_text().startswith("this is not a database")  # untouched


def test_command_line_imports_are_in_the_audit_trail(tmp_path, capsys):
    from smoulder.store.models import AuditEntry, Person

    url = f"sqlite:///{tmp_path / 'c.sqlite'}"
    visits = tmp_path / "visits.csv"
    visits.write_text("subject,date,edss\nQ1,2021-01-01,2.0\nQ2,2021-07-01,2.5\n")
    assert main(["store-import", "visits", str(visits), "--database", url]) == 0
    store = Store(url)
    with store.session() as s:
        entries = s.execute(
            select(AuditEntry.action, AuditEntry.resource, AuditEntry.person_id, AuditEntry.detail)
        ).all()
        people = set(s.scalars(select(Person.id)))
    store.dispose()
    assert ("import", "import visits") in {(a, r) for a, r, _, _ in entries}
    assert any("command line" in d for a, _, _, d in entries if a == "import")
    assert {p for a, _, p, _ in entries if a == "change"} == people
    assert all("Q1" not in d and "Q2" not in d for *_, d in entries)
