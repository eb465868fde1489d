"""The store: migrations, idempotent all-or-nothing imports, analyses recomputed from the store."""

from __future__ import annotations

import json

import pandas as pd
import pytest
from sqlalchemy import func, inspect, select

from smoulder import __version__
from smoulder.store import ImportFailed, current_revision, import_into
from smoulder.store.accounts import create_user, verify_password
from smoulder.store.analyses import refresh
from smoulder.store.db import downgrade, migrate
from smoulder.store.importer import read_upload
from smoulder.store.models import (
    AnalysisRun,
    Assessment,
    Base,
    LesionResult,
    MriSession,
    Person,
    PersonSignals,
    ProgressionEvent,
)


def table(text: str, name: str = "t.csv") -> pd.DataFrame:
    return read_upload(text.encode(), name)


def count(store, model) -> int:
    with store.session() as s:
        return s.scalar(select(func.count()).select_from(model))


# the hand-worked timeline of tests/test_cli.py: EDSS 2 -> 3 fifty days after a relapse (RAW,
# confirmed at day 200), then 3 -> 4 at day 300 with no relapse near (PIRA, confirmed at day 400)
VISITS = (
    "subject,date,edss,sdmt\n"
    "p1,2020-01-01,2.0,50\np1,2020-04-10,3.0,\np1,2020-07-19,3.0,\np1,2020-10-27,4.0,\np1,2021-02-04,4.0,48\n"
    "p2,2020-01-01,1.0,60\np2,2020-07-01,1.0,61\n"
)
RELAPSES = "subject,date,end_date\np1,2020-02-20,2020-03-20\n"


def test_migrations_create_the_schema_the_models_describe(store):
    assert current_revision(store.engine) == "0004"
    tables = set(inspect(store.engine).get_table_names())
    assert set(Base.metadata.tables) <= tables
    # the migration scripts and the models agree (no pending autogenerate differences)
    from alembic.autogenerate import compare_metadata
    from alembic.runtime.migration import MigrationContext

    with store.engine.connect() as conn:
        diffs = compare_metadata(
            MigrationContext.configure(conn, opts={"compare_type": True}), Base.metadata
        )
    assert diffs == []
    migrate(store.engine)  # running again is a no-op
    downgrade(store.engine)
    assert set(inspect(store.engine).get_table_names()) <= {"alembic_version"}


def test_upgrading_an_older_database_keeps_its_data(tmp_path):
    from sqlalchemy import text

    from smoulder.store import Store

    st = Store(f"sqlite:///{tmp_path / 'old.sqlite'}", migrate_schema=False)
    migrate(st.engine, "0001")
    with st.engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO people (subject, pseudonym, name, data_version, created_at) "
                "VALUES ('old-1', 'P-OLD00001', 'Old Record', 0, '2020-01-01 00:00:00')"
            )
        )
    assert "ix_audit_log_person_at" not in {
        i["name"] for i in inspect(st.engine).get_indexes("audit_log")
    }
    st.dispose()
    st = Store(f"sqlite:///{tmp_path / 'old.sqlite'}")  # opening migrates to the newest revision
    assert current_revision(st.engine) == "0004"
    assert "ix_audit_log_person_at" in {
        i["name"] for i in inspect(st.engine).get_indexes("audit_log")
    }
    with st.session() as s:
        assert s.scalar(select(Person.name).where(Person.subject == "old-1")) == "Old Record"
    st.dispose()


def test_upgrading_from_0002_adds_the_login_throttle_and_keeps_sessions(tmp_path):
    from sqlalchemy import text

    from smoulder.store import Store

    st = Store(f"sqlite:///{tmp_path / 'old2.sqlite'}", migrate_schema=False)
    migrate(st.engine, "0002")
    with st.engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO users (username, password_hash, role, display_name, created_at) "
                "VALUES ('doc', 'x', 'clinician', 'Doc', '2020-01-01 00:00:00')"
            )
        )
        conn.execute(
            text(
                "INSERT INTO web_sessions (token_hash, user_id, csrf_token, created_at, expires_at) "
                "VALUES ('h1', 1, 'c1', '2020-01-01 00:00:00', '2999-01-01 00:00:00')"
            )
        )
    assert "login_throttle" not in inspect(st.engine).get_table_names()
    st.dispose()
    st = Store(f"sqlite:///{tmp_path / 'old2.sqlite'}")
    assert current_revision(st.engine) == "0004"
    assert "login_throttle" in inspect(st.engine).get_table_names()
    cols = {c["name"] for c in inspect(st.engine).get_columns("web_sessions")}
    assert "last_seen_at" in cols
    with st.engine.connect() as conn:
        row = conn.execute(text("SELECT csrf_token, last_seen_at FROM web_sessions")).one()
    assert row == ("c1", None)  # kept; its idle clock starts from its creation time
    downgrade(st.engine, "0002")
    assert "login_throttle" not in inspect(st.engine).get_table_names()
    st.dispose()


def test_upgrading_from_0003_adds_the_course_and_the_lesion_counts(tmp_path):
    from sqlalchemy import text

    from smoulder.store import Store

    st = Store(f"sqlite:///{tmp_path / 'old3.sqlite'}", migrate_schema=False)
    migrate(st.engine, "0003")
    with st.engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO people (subject, pseudonym, name, data_version, created_at) "
                "VALUES ('old-1', 'P-OLD00001', 'Old Record', 0, '2020-01-01 00:00:00')"
            )
        )
        conn.execute(
            text("INSERT INTO mri_sessions (person_id, date, active) VALUES (1, '2020-02-02', 1)")
        )
    st.dispose()
    st = Store(f"sqlite:///{tmp_path / 'old3.sqlite'}")
    assert current_revision(st.engine) == "0004"
    with st.session() as s:
        p = s.query(Person).one()
        assert (p.name, p.disease_course, p.onset_year) == ("Old Record", None, None)
        m = s.query(MriSession).one()
        assert (m.active, m.t2_lesions, m.new_enlarging, m.gd_enhancing) == (True, None, None, None)
    downgrade(st.engine, "0003")
    assert "disease_course" not in {c["name"] for c in inspect(st.engine).get_columns("people")}
    st.dispose()


def test_people_import_keeps_what_a_file_does_not_mention(store):
    """Regression: a people file without a name column (e.g. only the disease course) wiped
    every name it touched."""
    import_into(store, "people", table("subject,name,sex,birth_year\nq1,Quinn Example,X,1970\n"))
    rep = import_into(store, "people", table("subject,disease_course,onset_year\nq1,PPMS,2001\n"))
    assert rep.updated == 1
    with store.session() as s:
        p = s.query(Person).filter(Person.subject == "q1").one()
        assert (p.name, p.sex, p.birth_year) == ("Quinn Example", "X", 1970)
        assert (p.disease_course, p.onset_year) == ("PPMS", 2001)
    # an empty cell clears the value; the same file twice changes nothing
    import_into(store, "people", table("subject,disease_course\nq1,\n"))
    assert import_into(store, "people", table("subject,disease_course\nq1,\n")).unchanged == 1
    with store.session() as s:
        p = s.query(Person).filter(Person.subject == "q1").one()
        assert (p.name, p.disease_course, p.onset_year) == ("Quinn Example", None, 2001)


def test_mri_lesion_counts_are_stored_and_give_the_activity(store):
    rep = import_into(
        store,
        "mri",
        table(
            "subject,date,t2_lesions,new_enlarging,gd_enhancing\n"
            "m1,2020-01-01,12,0,0\nm1,2021-01-01,14,2,1\nm1,2022-01-01,14,,\n"
        ),
    )
    assert rep.inserted == 3
    with store.session() as s:
        got = [
            (str(m.date), m.t2_lesions, m.new_enlarging, m.gd_enhancing, m.active)
            for m in s.query(MriSession).order_by(MriSession.date)
        ]
    # activity follows from the counts when the file does not give it; no counts, no activity
    assert got == [
        ("2020-01-01", 12, 0, 0, False),
        ("2021-01-01", 14, 2, 1, True),
        ("2022-01-01", 14, None, None, None),
    ]
    with pytest.raises(ImportFailed) as err:
        import_into(store, "mri", table("subject,date,t2_lesions\nm1,2023-01-01,-3\n"))
    assert [(e.row, e.column, e.message) for e in err.value.errors] == [
        (2, "t2_lesions", "value out of range")
    ]


def test_import_is_idempotent_and_reports_what_changed(store):
    rep = import_into(store, "visits", table(VISITS))
    assert (rep.rows_read, rep.inserted, rep.updated, rep.unchanged, rep.people_created) == (
        7,
        7,
        0,
        0,
        2,
    )
    with store.session() as s:
        versions = dict(s.execute(select(Person.subject, Person.data_version)).all())
        pseudonyms = sorted(s.scalars(select(Person.pseudonym)))
    again = import_into(store, "visits", table(VISITS))
    assert (again.inserted, again.updated, again.unchanged, again.people_created) == (0, 0, 7, 0)
    with store.session() as s:
        assert dict(s.execute(select(Person.subject, Person.data_version)).all()) == versions
        assert sorted(s.scalars(select(Person.pseudonym))) == pseudonyms
    changed = import_into(
        store, "visits", table(VISITS.replace("p2,2020-07-01,1.0,61", "p2,2020-07-01,1.5,61"))
    )
    assert (changed.inserted, changed.updated, changed.unchanged) == (0, 1, 6)
    with store.session() as s:
        assert (
            s.scalar(
                select(Assessment.edss)
                .join(Person)
                .where(Person.subject == "p2", Assessment.date == pd.Timestamp("2020-07-01").date())
            )
            == 1.5
        )
        new_versions = dict(s.execute(select(Person.subject, Person.data_version)).all())
    assert new_versions == {"p1": versions["p1"], "p2": versions["p2"] + 1}
    assert count(store, Assessment) == 7


def test_bad_rows_are_all_reported_and_nothing_is_written(store):
    import_into(store, "visits", table("subject,date,edss\nkeep,2019-01-01,2.0\n"))
    bad = (
        "subject,date,edss,t25fw\n"
        "a,2020-01-01,2.0,5\n"
        "a,2020-13-01,2.5,5\n"  # row 3: impossible month
        "b,2020-02-01,7.3,5\n"  # row 4: off the 0.5 grid
        "b,2020-03-01,3.0,-1\n"  # row 5: negative walk time
        "c,2020-03-01,,\n"
    )  # row 6: no score at all
    with pytest.raises(ImportFailed) as info:
        import_into(store, "visits", table(bad, "visits.csv"), source="visits.csv")
    errs = [(e.row, e.column) for e in info.value.errors]
    assert errs == [(3, "date"), (4, "edss"), (5, "t25fw"), (6, None)]
    assert info.value.total == 4
    msg = str(info.value)
    assert msg.startswith(
        "visits.csv, row 3, column 'date': unparseable date and 3 more problem(s)"
    )
    assert "YYYY-MM-DD" in msg
    # nothing from the refused file: still only the one person and one visit
    assert count(store, Person) == 1 and count(store, Assessment) == 1


def test_conflicting_duplicates_are_refused_identical_ones_merged(store):
    with pytest.raises(ImportFailed) as info:
        import_into(
            store,
            "relapses",
            table("subject,date,end_date\nx,2020-01-01,2020-02-01\nx,2020-01-01,2020-03-01\n"),
        )
    assert info.value.errors[0].row == 3 and "conflicts with row 2" in info.value.errors[0].message
    rep = import_into(
        store,
        "relapses",
        table("subject,date,end_date\nx,2020-01-01,2020-02-01\nx,2020-01-01,2020-02-01\n"),
    )
    assert (rep.inserted, rep.merged_duplicates) == (1, 1)


def test_missing_column_and_wrong_file_type(store):
    with pytest.raises(
        ImportFailed, match="required column missing.*expected columns subject, date"
    ):
        import_into(store, "mri", table("subject,when,active\na,2020-01-01,yes\n"))
    from smoulder.exceptions import InputDataError

    with pytest.raises(InputDataError, match="unsupported file type"):
        read_upload(b"MZ\x90\x00", "visits.exe")
    with pytest.raises(InputDataError, match="NUL bytes"):
        read_upload(b"subject,date\x00\n", "visits.csv")


def test_sql_metacharacters_are_data_not_code(store):
    evil = "Robert'); DROP TABLE people;--"
    rep = import_into(store, "people", table(f'subject,name\nq1,"{evil}"\n'))
    assert rep.inserted == 1
    with store.session() as s:
        assert s.scalar(select(Person.name).where(Person.subject == "q1")) == evil
    assert "people" in inspect(store.engine).get_table_names()


def test_clinician_cannot_import_into_someone_elses_patient(store):
    with store.session() as s:
        a = create_user(s, "dr.a", "correct horse battery", "clinician")
        b = create_user(s, "dr.b", "correct horse battery", "clinician")
        s.commit()
    import_into(store, "visits", table("subject,date,edss\nmine,2020-01-01,2.0\n"), user=a)
    with pytest.raises(ImportFailed, match="record you do not look after"):
        import_into(store, "visits", table("subject,date,edss\nmine,2020-06-01,6.0\n"), user=b)
    with store.session() as s:
        assert s.scalars(select(Assessment.edss)).all() == [2.0]
        assert verify_password(s.get(type(a), a.id).password_hash, "correct horse battery")
        assert not verify_password(s.get(type(a), a.id).password_hash, "wrong")


def test_lesion_tables_attach_to_mri_sessions_and_count_on_the_latest_scan(store):
    import_into(store, "mri", table("subject,date,active\nm1,2021-01-10,no\nm1,2022-01-10,yes\n"))
    prl = (
        "label\tn_voxels\tvolume_mm3\tcentroid_x_mm\tcentroid_y_mm\tcentroid_z_mm\trim_score\tprl\n"
        "1\t120\t120.0\t10\t20\t30\t0.9\ttrue\n2\t40\t40.0\t-5\t2\t8\t0.1\tfalse\n3\t300\t300\t1\t1\t1\t0.8\ttrue\n"
    )
    rep = import_into(
        store,
        "prl",
        table(prl, "sub-m1_ses-2_lesions.tsv"),
        subject="m1",
        session_date="2022-01-10",
    )
    assert rep.inserted == 3
    old = prl.replace("0.8\ttrue", "0.8\tfalse")
    import_into(store, "prl", table(old, "lesions.tsv"), subject="m1", session_date="2021-01-10")
    sel = (
        "subject,date,label,volume_mm3,centroid_x_mm,centroid_y_mm,centroid_z_mm,expansion_pct_per_year,"
        "concentricity,constancy,sel\n"
        "m1,2022-01-10,1,120,10,20,30,5.2,0.8,0.9,definite\nm1,2022-01-10,4,50,1,2,3,1.0,0.2,0.1,possible\n"
    )
    import_into(store, "sel", table(sel))
    with pytest.raises(ImportFailed, match="unknown value.*definite \\| possible \\| no"):
        import_into(store, "sel", table(sel.replace("possible", "maybe")))
    with store.session() as s:
        assert s.scalar(select(func.count()).select_from(MriSession)) == 2
        refresh(s)
        s.commit()
        sig = s.scalars(select(PersonSignals)).one()
        # latest scan: lesions 1 and 3 are PRLs; one definite SEL
        assert (sig.n_prl, sig.n_sel) == (2, 1)
        assert s.scalar(select(func.count()).select_from(LesionResult)) == 8


def test_progression_runs_from_the_store_and_is_recomputed_when_inputs_change(store):
    import_into(store, "visits", table(VISITS))
    import_into(store, "relapses", table(RELAPSES))
    with store.session() as s:
        out = refresh(s)
        s.commit()
        assert out["progression"] == {"checked": 2, "recomputed": 2, "events": 2}
        ev = s.execute(
            select(
                Person.subject,
                ProgressionEvent.cdw_type,
                ProgressionEvent.event_date,
                ProgressionEvent.confirmation_date,
            )
            .join(Person)
            .order_by(ProgressionEvent.event_date)
        ).all()
        assert [(a, b, str(c), str(d)) for a, b, c, d in ev] == [
            ("p1", "RAW", "2020-04-10", "2020-07-19"),
            ("p1", "PIRA", "2020-10-27", "2021-02-04"),
        ]
        run = s.scalars(select(AnalysisRun).join(Person).where(Person.subject == "p1")).one()
        assert run.version == __version__
        assert json.loads(run.settings_json)["event"] == "multiple"
        sig = s.scalars(
            select(PersonSignals)
            .join(Person, Person.id == PersonSignals.person_id)
            .where(Person.subject == "p1")
        ).one()
        assert (sig.n_pira, sig.n_raw, sig.last_edss, sig.n_relapses) == (1, 1, 4.0, 1)
        assert refresh(s)["progression"]["recomputed"] == 0
    # removing the relapse's effect: the first worsening is now far from any relapse -> PIRA too
    import_into(
        store,
        "relapses",
        table("subject,date,end_date\np1,2020-02-20,2020-03-20\np2,2019-01-01,\n"),
    )
    with store.session() as s:
        out = refresh(s)
        s.commit()
        assert out["progression"]["recomputed"] == 1  # only p2's inputs changed


def test_other_settings_mean_a_new_analysis(sqlite_store):
    from smoulder.clinical.progression import make_settings
    from smoulder.store.analyses import refresh_progression

    import_into(sqlite_store, "visits", table(VISITS))
    import_into(sqlite_store, "relapses", table(RELAPSES))
    with sqlite_store.session() as s:
        assert refresh_progression(s)["recomputed"] == 2
        s.commit()
        assert refresh_progression(s)["recomputed"] == 0
        # first event only: p1 keeps one event (the RAW one), and the runs record the new settings
        first = make_settings(event="firstCDW", baseline="roving", classify_cdw=True)
        assert refresh_progression(s, settings=first) == {
            "checked": 2,
            "recomputed": 2,
            "events": 1,
        }
        s.commit()
        assert s.scalars(select(ProgressionEvent.cdw_type)).all() == ["RAW"]
        assert {json.loads(x)["event"] for x in s.scalars(select(AnalysisRun.settings_json))} == {
            "firstCDW"
        }


def test_the_prl_pipelines_lesions_tsv_slots_in(sqlite_store, tmp_path):
    """A lesions.tsv written by the imaging pillar imports as is (extra columns are ignored)."""
    synth_mri = pytest.importorskip("smoulder.synth.mri")
    prl = pytest.importorskip("smoulder.imaging.prl")
    bids_io = pytest.importorskip("smoulder.io.bids")
    ph = synth_mri.simulate_mri_phantom(seed=2, kinds=["prl", "rimless"])
    res = prl.detect_prl(
        ph.qsm.get_fdata(), ph.lesions.get_fdata().astype(int), ph.qsm.affine, input_kind="qsm"
    )
    path = tmp_path / "sub-07_ses-1_desc-lesions.tsv"
    bids_io.write_tsv(res.lesions, path, {})
    from smoulder.store.importer import read_path

    rep = import_into(sqlite_store, "prl", read_path(path), subject="07", session_date="2024-01-01")
    assert rep.inserted == len(res.lesions)
    with sqlite_store.session() as s:
        refresh(s)
        s.commit()
        stored = s.execute(
            select(LesionResult.label, LesionResult.prl, LesionResult.volume_mm3).order_by(
                LesionResult.label
            )
        ).all()
        assert [(a, bool(b), round(c, 3)) for a, b, c in stored] == [
            (int(r.label), bool(r.prl), round(float(r.volume_mm3), 3))
            for r in res.lesions.itertuples()
        ]
        assert s.scalars(select(PersonSignals.n_prl)).one() == int(res.lesions["prl"].sum())
