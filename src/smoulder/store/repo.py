"""Read side of the store: who may see whom, one person's time line, the cohort table, the audit log.

Access rules (enforced here, used by every web route and report):

* ``clinician``: the people on their list (``care_links``);
* ``researcher``: everyone, pseudonymised: the time line is rebuilt from an allow-list of coded
  fields (:mod:`smoulder.store.pseudonymise`), so no name, clinic id or free text ever reaches them;
* ``patient``: only their own record.
"""

from __future__ import annotations

import datetime as dt
import json
import statistics
from collections import defaultdict
from typing import Any

from sqlalchemy import Connection, Select, and_, bindparam, insert, select
from sqlalchemy.orm import Session

from smoulder.store.fastread import DriverStatement, PersonRow, as_datetime
from smoulder.store.models import (
    AnalysisRun,
    Assessment,
    AuditEntry,
    CareLink,
    DeviceEvent,
    DeviceMeasure,
    LesionResult,
    LifestyleEntry,
    MriSession,
    Person,
    ProgressionEvent,
    Relapse,
    Treatment,
    User,
    utcnow,
)
from smoulder.store.pseudonymise import researcher_person, researcher_view

# what a read-only view needs of a person: the ORM object or its columns read on their own
PersonLike = Person | PersonRow


def pseudonymised(user: User) -> bool:
    """True when the user may only see pseudonymised data."""
    return user.role == "researcher"


def visible_people(user: User) -> Select:
    """A SELECT of the ``Person`` rows this user may see."""
    q = select(Person)
    if user.role == "clinician":
        q = q.join(CareLink, and_(CareLink.person_id == Person.id, CareLink.user_id == user.id))
    elif user.role == "patient":
        q = q.where(Person.id == (user.person_id if user.person_id is not None else -1))
    elif user.role != "researcher":
        q = q.where(Person.id == -1)
    return q


def find_visible(session: Session, user: User, key: str) -> Person | None:
    """The person with pseudonym ``key`` if this user may see them, else None (no hint which)."""
    if not isinstance(key, str) or len(key) > 32:
        return None
    return session.scalars(visible_people(user).where(Person.pseudonym == key)).first()


# The same rule as :func:`visible_people`, as statements built once (a person page runs one on
# every view; building a SELECT costs more than running it). Keep the two in step: the tests
# compare them for every role.
_PEOPLE = Person.__table__
_BY_KEY = select(_PEOPLE).where(_PEOPLE.c.pseudonym == bindparam("k"))
_VISIBLE_BY_KEY = {
    "clinician": _BY_KEY.join_from(
        _PEOPLE,
        CareLink.__table__,
        and_(CareLink.person_id == _PEOPLE.c.id, CareLink.user_id == bindparam("u")),
    ),
    "patient": _BY_KEY.where(_PEOPLE.c.id == bindparam("u")),
    "researcher": _BY_KEY,
}
_VISIBLE_FAST = {role: DriverStatement(q) for role, q in _VISIBLE_BY_KEY.items()}
_PERSON_COLUMNS = [c.key for c in _PEOPLE.columns]


def find_visible_row(conn: Connection | Session, user: User, key: str) -> PersonLike | None:
    """:func:`find_visible` for read-only views: the person's columns (a
    :class:`~smoulder.store.fastread.PersonRow` on a plain connection, a detached ``Person`` on a
    session; do not change it), read with a statement built once.

    The same access rule as :func:`visible_people`: a clinician's list, a patient's own record,
    everyone for a researcher, nobody for any other role.
    """
    if not isinstance(key, str) or len(key) > 32:
        return None
    q = _VISIBLE_BY_KEY.get(user.role)
    if q is None:
        return None
    u = user.person_id if user.role == "patient" else user.id
    if user.role == "patient" and u is None:
        return None
    if isinstance(conn, Connection):  # the driver's cursor: a person page runs this on every view
        rows = _VISIBLE_FAST[user.role].rows(conn, {"k": key, "u": u})
        if not rows:
            return None
        values = dict(zip(_PERSON_COLUMNS, rows[0], strict=True))
        values["created_at"] = as_datetime(values["created_at"])
        return PersonRow(**values)
    row = conn.execute(q, {"k": key, "u": u}).first()
    return None if row is None else Person(**row._asdict())


def can_edit(user: User, person: Person, session: Session) -> bool:
    """May this user add entries (lifestyle) to this person's record?"""
    if user.role == "patient":
        return user.person_id == person.id
    if user.role == "clinician":
        return session.get(CareLink, (user.id, person.id)) is not None
    return False


def person_public(person: PersonLike, user: User) -> dict[str, Any]:
    """What this user may see of a person's identity."""
    out: dict[str, Any] = {
        "key": person.pseudonym,
        "sex": person.sex,
        "birth_year": person.birth_year,
        "disease_course": person.disease_course,
        "onset_year": person.onset_year,
    }
    if pseudonymised(user):
        return researcher_person(out)
    out["name"] = person.name or person.subject
    out["subject"] = person.subject
    return out


def label_of(person: PersonLike, user: User) -> str:
    """How this person is named on screen for this user (pseudonym for researchers)."""
    if pseudonymised(user):
        return person.pseudonym
    return person.name or person.subject


def _iso(d: dt.date | None) -> str | None:
    return d.isoformat() if d is not None else None


def _weekly(rows: list[tuple[dt.date, float]]) -> tuple[list[str], list[float]]:
    """Weekly medians (Monday of each ISO week) of a daily series."""
    weeks: dict[dt.date, list[float]] = defaultdict(list)
    for d, v in rows:
        weeks[d - dt.timedelta(days=d.weekday())].append(v)
    keys = sorted(weeks)
    return [k.isoformat() for k in keys], [round(statistics.median(weeks[k]), 3) for k in keys]


def timeline(session: Session, person: PersonLike, user: User) -> dict[str, Any]:
    """Everything on one person's time line, as plain JSON-ready data.

    Device measures are summarised as weekly medians (a decade of daily steps stays small).
    Researchers get :func:`~smoulder.store.pseudonymise.researcher_view` of it: coded fields only.
    """
    pid = person.id
    assessments = [
        {"date": _iso(d), "edss": e, "t25fw": t, "nhpt": n, "sdmt": s}
        for d, e, t, n, s in session.execute(
            select(
                Assessment.date, Assessment.edss, Assessment.t25fw, Assessment.nhpt, Assessment.sdmt
            )
            .where(Assessment.person_id == pid)
            .order_by(Assessment.date)
        )
    ]
    relapses = [
        {"onset": _iso(a), "end": _iso(b)}
        for a, b in session.execute(
            select(Relapse.onset_date, Relapse.end_date)
            .where(Relapse.person_id == pid)
            .order_by(Relapse.onset_date)
        )
    ]
    treatments = [
        {"drug": a, "drug_class": _drug_class(a), "start": _iso(b), "stop": _iso(c)}
        for a, b, c in session.execute(
            select(Treatment.drug, Treatment.start_date, Treatment.stop_date)
            .where(Treatment.person_id == pid)
            .order_by(Treatment.start_date)
        )
    ]
    sessions = session.execute(
        select(
            MriSession.id,
            MriSession.date,
            MriSession.active,
            MriSession.t2_lesions,
            MriSession.new_enlarging,
            MriSession.gd_enhancing,
        )
        .where(MriSession.person_id == pid)
        .order_by(MriSession.date)
    ).all()
    lesions_by_session: dict[int, list[Any]] = defaultdict(list)
    if sessions:
        for les in session.scalars(
            select(LesionResult)
            .where(LesionResult.session_id.in_([s[0] for s in sessions]))
            .order_by(LesionResult.label)
        ):
            lesions_by_session[les.session_id].append(les)
    mri = []
    for sid, date, active, t2, new, gd in sessions:
        found = lesions_by_session.get(sid, [])
        prl_rated = [x for x in found if x.method == "prl"]
        sel_rated = [x for x in found if x.method == "sel"]
        mri.append(
            {
                "date": _iso(date),
                "active": active,
                "t2_lesions": t2,
                "new_enlarging": new,
                "gd_enhancing": gd,
                "prl_rated": bool(prl_rated),
                "n_prl": sum(1 for x in prl_rated if x.prl),
                "n_lesions": len(prl_rated),
                "sel_rated": bool(sel_rated),
                "n_sel_definite": sum(1 for x in sel_rated if x.sel == "definite"),
                "n_sel_possible": sum(1 for x in sel_rated if x.sel == "possible"),
                "lesions": [
                    {
                        "method": x.method,
                        "label": x.label,
                        "volume_mm3": x.volume_mm3,
                        "rim_score": x.rim_score,
                        "prl": x.prl,
                        "expansion_pct_per_year": x.expansion_pct_per_year,
                        "sel": x.sel,
                    }
                    for x in found
                ],
            }
        )
    events = [
        {
            "type": (c or "undefined") if t == "CDW" else "CDI",
            "event_type": t,
            "outcome": o,
            "baseline_date": _iso(bd),
            "baseline_value": bv,
            "event_date": _iso(ed),
            "event_value": ev,
            "confirmation_date": _iso(cd),
        }
        for o, t, c, bd, bv, ed, ev, cd in session.execute(
            select(
                ProgressionEvent.outcome,
                ProgressionEvent.event_type,
                ProgressionEvent.cdw_type,
                ProgressionEvent.baseline_date,
                ProgressionEvent.baseline_value,
                ProgressionEvent.event_date,
                ProgressionEvent.event_value,
                ProgressionEvent.confirmation_date,
            )
            .where(ProgressionEvent.person_id == pid)
            .order_by(ProgressionEvent.event_date)
        )
    ]
    series: dict[str, list[tuple[dt.date, float]]] = defaultdict(list)
    units: dict[str, str] = {}
    for m, d, v, u in session.execute(
        select(DeviceMeasure.measure, DeviceMeasure.date, DeviceMeasure.value, DeviceMeasure.unit)
        .where(DeviceMeasure.person_id == pid)
        .order_by(DeviceMeasure.measure, DeviceMeasure.date)
    ):
        series[m].append((d, v))
        units[m] = u
    device = {}
    for m, rows in series.items():
        dates, values = _weekly(rows)
        device[m] = {"unit": units[m], "dates": dates, "values": values, "n_days": len(rows)}
    device_events = [
        {
            "measure": m,
            "onset_date": _iso(a),
            "detected_date": _iso(b),
            "baseline_value": c,
            "current_value": d,
            "change_pct": e,
            "source": s,
        }
        for m, a, b, c, d, e, s in session.execute(
            select(
                DeviceEvent.measure,
                DeviceEvent.onset_date,
                DeviceEvent.detected_date,
                DeviceEvent.baseline_value,
                DeviceEvent.current_value,
                DeviceEvent.change_pct,
                DeviceEvent.source,
            )
            .where(DeviceEvent.person_id == pid)
            .order_by(DeviceEvent.onset_date)
        )
    ]
    lifestyle = [
        {
            "date": _iso(x.date),
            "exercise_min_week": x.exercise_min_week,
            "diet": x.diet,
            "smoking": x.smoking,
            "alcohol_units_week": x.alcohol_units_week,
            "sleep_hours": x.sleep_hours,
            "medications": x.medications,
            "comorbidities": x.comorbidities,
            "notes": x.notes,
        }
        for x in session.scalars(
            select(LifestyleEntry)
            .where(LifestyleEntry.person_id == pid)
            .order_by(LifestyleEntry.date)
        )
    ]
    analyses = [
        {
            "kind": r.kind,
            "version": r.version,
            "computed_at": r.computed_at.isoformat(timespec="seconds"),
            "status": r.status,
            "message": r.message,
            "settings": json.loads(r.settings_json),
        }
        for r in session.scalars(
            select(AnalysisRun).where(AnalysisRun.person_id == pid).order_by(AnalysisRun.kind)
        )
    ]
    out = {
        "person": person_public(person, user),
        "assessments": assessments,
        "relapses": relapses,
        "treatments": treatments,
        "mri": mri,
        "events": events,
        "device": device,
        "device_events": device_events,
        "lifestyle": lifestyle,
        "analyses": analyses,
    }
    if pseudonymised(user):
        view = researcher_view(out)
        view["person"] = researcher_person(view["person"])
        return view
    return out


def _drug_class(drug: str) -> str | None:
    from smoulder.schema.treatments import canonical_treatment

    t = canonical_treatment(drug)
    return t.drug_class if t is not None else None


def audit(
    session: Session,
    user: User | None,
    action: str,
    resource: str,
    person: PersonLike | int | None = None,
    detail: str = "",
) -> None:
    """Record who viewed or changed what (the caller commits); ``person`` a record or its id."""
    session.add(
        AuditEntry(
            user_id=user.id if user is not None else None,
            action=action[:20],
            resource=resource[:200],
            person_id=person.id if isinstance(person, Person | PersonRow) else person,
            detail=detail[:2000],
        )
    )


_AUDIT_COLUMNS = ("user_id", "action", "resource", "person_id", "detail", "at")
# every view writes one: run on the driver's cursor, one executemany per batch
_AUDIT_INSERT = DriverStatement(
    insert(AuditEntry).values({k: bindparam(k) for k in _AUDIT_COLUMNS})
)


class AuditWriter:
    """Audit entries of many concurrent requests committed together, none answered before its
    own entry is committed.

    Group commit: a request hands its entry over and waits. If no commit is running, it becomes
    the leader: it takes every entry waiting so far and writes them in one transaction; entries
    that arrive meanwhile wait for the next leader. So under load one commit carries many entries
    (one fsync instead of many), and with a single client nothing waits longer than its own commit.
    If a commit fails, every request of that batch gets the error (the caller answers 500 and the
    view is not shown without its audit entry).
    """

    def __init__(self, store: Any) -> None:
        import threading

        from smoulder.store.db import make_engine, sqlite_path

        self.store = store
        # its own connection: a leader never waits for the pool that its followers hold
        shared = store.url.startswith("sqlite") and sqlite_path(store.url) is None
        self._engine = (
            store.engine if shared else make_engine(store.url, pool_size=1, max_overflow=0)
        )
        # a plain connection, not an ORM session: an executemany of the batch, then a commit
        self._session = self._engine.connect
        self.insert_rows = _AUDIT_INSERT.executemany  # (connection, entries)
        self._cond = threading.Condition()
        self._queue: list[dict[str, Any]] = []
        self._open = 0  # the batch new entries join
        self._done = -1  # the last batch written (or failed)
        self._flushing = False
        self._errors: dict[int, BaseException] = {}
        self.commits = 0
        self.entries = 0

    def write(
        self,
        user: User | None,
        action: str,
        resource: str,
        person: PersonLike | int | None = None,
        detail: str = "",
    ) -> None:
        """Record one entry and return once it is committed (raises if the commit failed)."""
        entry = {
            "user_id": user.id if user is not None else None,
            "action": action[:20],
            "resource": resource[:200],
            "person_id": person.id if isinstance(person, Person | PersonRow) else person,
            "detail": detail[:2000],
            "at": utcnow(),
        }
        with self._cond:
            mine = self._open
            self._queue.append(entry)
            while True:
                if self._done >= mine:
                    err = self._errors.get(mine)
                    if err is not None:
                        raise err
                    return
                if not self._flushing:
                    self._flushing = True
                    # every waiting entry joined batch ``lead``: all of them are written now
                    batch, self._queue = self._queue, []
                    lead = self._open
                    self._open += 1
                    break
                self._cond.wait()
        err = None
        try:
            with self._session() as s:
                self.insert_rows(s, batch)
                s.commit()
        except BaseException as exc:  # noqa: BLE001 - handed to every waiter of the batch
            err = exc
        with self._cond:
            self._flushing = False
            self._done = lead
            self.commits += 1
            self.entries += len(batch)
            if err is not None:
                self._errors[lead] = err
            for old in [k for k in self._errors if k < lead - 1000]:
                del self._errors[old]
            self._cond.notify_all()
        if err is not None:
            raise err

    def dispose(self) -> None:
        """Close the writer's own connection."""
        if self._engine is not self.store.engine:
            self._engine.dispose()


def audit_import(
    session: Session,
    user: User | None,
    kind: str,
    person_ids: set[int],
    detail: str,
    via: str = "web",
) -> None:
    """Record an import: one ``import`` entry, and a ``change`` entry on each record it changed."""
    session.add(
        AuditEntry(
            user_id=user.id if user is not None else None,
            action="import",
            resource=f"import {kind}",
            detail=f"{detail} ({via})"[:2000],
        )
    )
    if person_ids:
        now = utcnow()
        session.execute(
            insert(AuditEntry),
            [
                {
                    "user_id": user.id if user is not None else None,
                    "action": "change",
                    "resource": f"import {kind}",
                    "person_id": pid,
                    "detail": via,
                    "at": now,
                }
                for pid in sorted(person_ids)
            ],
        )


def person_id_of(session: Connection | Session, key: str) -> int | None:
    """The id of the person with pseudonym ``key`` whoever may see them (to file a refusal on
    that record's own trail; never shown to the caller)."""
    if not isinstance(key, str) or len(key) > 32:
        return None
    return session.scalar(select(Person.id).where(Person.pseudonym == key))


_TRAIL = (  # built once: the person page reads it on every view
    select(
        AuditEntry.at,
        AuditEntry.action,
        AuditEntry.resource,
        User.username,
        User.role,
        User.display_name,
    )
    .outerjoin(User, User.id == AuditEntry.user_id)
    .where(AuditEntry.person_id == bindparam("p"))
    .order_by(AuditEntry.at.desc(), AuditEntry.id.desc())
    .limit(bindparam("n"))
)


_TRAIL_FAST = DriverStatement(_TRAIL)


def audit_for_person(
    session: Connection | Session, person: PersonLike, limit: int = 100
) -> list[dict[str, Any]]:
    """Who looked at or changed this person's record, newest first."""
    rows = (
        _TRAIL_FAST.rows(session, {"p": person.id, "n": limit})
        if isinstance(session, Connection)
        else session.execute(_TRAIL, {"p": person.id, "n": limit})
    )
    return [
        {
            "at": as_datetime(a).isoformat(timespec="seconds"),  # type: ignore[union-attr]
            "action": b,
            "resource": c,
            "user": d,
            "role": e,
            "display_name": f or None,
        }
        for a, b, c, d, e, f in rows
    ]


from smoulder.store.cohort import COHORT_FILTERS, COHORT_SORTS, cohort  # noqa: E402

__all__ = [
    "visible_people",
    "find_visible",
    "find_visible_row",
    "can_edit",
    "person_public",
    "label_of",
    "timeline",
    "cohort",
    "audit",
    "audit_import",
    "AuditWriter",
    "audit_for_person",
    "person_id_of",
    "pseudonymised",
    "COHORT_SORTS",
    "COHORT_FILTERS",
]
