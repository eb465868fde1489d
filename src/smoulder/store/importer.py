"""Import of the tables the engines read into the store: validated, idempotent, all-or-nothing.

Every row is checked before anything is written. If any row is bad, :class:`ImportFailed` lists
every bad row (row number as a spreadsheet shows it, column, value, what was expected) and the
database is left exactly as it was. Importing the same file twice changes nothing: rows are
matched on their natural key (e.g. subject and date), identical rows are counted as unchanged and
changed rows are updated.

Kinds and their columns (``subject`` is the clinic's id for a person):

============== ======================================================================
kind           columns (optional ones in brackets)
============== ======================================================================
people         subject, [name, sex, birth_year, clinician, disease_course (RRMS|SPMS|PPMS|CIS),
               onset_year]
visits         subject, date, [edss, t25fw, nhpt, sdmt] (at least one score per row)
relapses       subject, date, [end_date]
treatments     subject, drug, start_date, [stop_date]
mri            subject, date, [active, t2_lesions, new_enlarging, gd_enhancing]
prl            [subject, date], label, [n_voxels, volume_mm3, centroid_{x,y,z}_mm, rim_score], prl
sel            [subject, date], label, [volume_mm3, centroid_*_mm, expansion_pct_per_year,
               concentricity, constancy], sel (definite|possible|no)
devices        subject, date, measure, value, [unit]
device_events  subject, measure, onset_date, [detected_date, baseline_value, current_value,
               change_pct]
lifestyle      subject, date, [exercise_min_week, diet, smoking, alcohol_units_week,
               sleep_hours, medications, comorbidities, notes]
============== ======================================================================

The per-lesion tables (``prl``: the imaging pipeline's ``lesions.tsv``; ``sel``) have no subject
or date columns when they come from a BIDS derivative: pass ``subject=`` and ``session_date=``.
"""

from __future__ import annotations

import datetime as dt
import secrets
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
from sqlalchemy import insert, select, update
from sqlalchemy.orm import Session

from smoulder.exceptions import InputDataError
from smoulder.schema.dates import DateRule
from smoulder.store.models import (
    Assessment,
    CareLink,
    DeviceEvent,
    DeviceMeasure,
    LesionResult,
    LifestyleEntry,
    MriSession,
    Person,
    Relapse,
    Treatment,
    User,
)
from smoulder.store.validation import (
    DIETS,
    EXPORT_KINDS,
    KEYS,
    KINDS,
    MAX_REPORTED_ERRORS,
    SEL_CLASSES,
    SMOKING,
    SPECS,
    ImportFailed,
    RowError,
    _dedupe,
    _validate,
    device_export_frame,
    read_path,
    read_upload,
)


@dataclass
class ImportReport:
    """What an import did: rows read, inserted, updated, unchanged; people created."""

    kind: str
    source: str
    rows_read: int = 0
    inserted: int = 0
    updated: int = 0
    unchanged: int = 0
    merged_duplicates: int = 0
    people_created: int = 0
    person_ids: set[int] = field(default_factory=set)
    #: corrections and rows left out, by reason (subject ids stripped, rows dated after today)
    notes: dict[str, int] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "source": self.source,
            "rows_read": self.rows_read,
            "inserted": self.inserted,
            "updated": self.updated,
            "unchanged": self.unchanged,
            "merged_duplicates": self.merged_duplicates,
            "people_created": self.people_created,
            "notes": dict(self.notes),
        }

    def __str__(self) -> str:
        return (
            f"{self.source}: {self.rows_read} rows read, {self.inserted} inserted, {self.updated} "
            f"updated, {self.unchanged} unchanged, {self.merged_duplicates} identical duplicates "
            f"merged, {self.people_created} people created"
            + "".join(f"; {reason}: {n}" for reason, n in self.notes.items())
        )


# ----------------------------------------------------------------------------- writing
def new_pseudonym() -> str:
    """A random pseudonym such as ``P-7K3QX9AD`` (no relation to the clinic id)."""
    alphabet = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"
    return "P-" + "".join(secrets.choice(alphabet) for _ in range(8))


def _people(
    session: Session,
    subjects: set[str],
    user: User | None,
    source: str,
    rows: dict[str, int],
    report: ImportReport,
    create: bool = True,
) -> dict[str, int]:
    """Map subject ids to person ids, creating unknown people (linked to the importing clinician)."""
    found: dict[str, int] = {}
    subj = sorted(subjects)
    for i in range(0, len(subj), 500):
        for pid, s in session.execute(
            select(Person.id, Person.subject).where(Person.subject.in_(subj[i : i + 500]))
        ):
            found[s] = pid
    if user is not None:
        mine = set(session.scalars(select(CareLink.person_id).where(CareLink.user_id == user.id)))
        foreign = [s for s in subj if s in found and found[s] not in mine]
        if foreign:
            errs = [
                RowError(
                    rows[s],
                    "subject",
                    None,
                    "this subject id belongs to a record you do not look after",
                    "a subject on your list, or a new subject id",
                )
                for s in foreign
            ]
            raise ImportFailed(source, errs[:MAX_REPORTED_ERRORS], len(errs))
    new = [s for s in subj if s not in found]
    if new and not create:
        raise ImportFailed(
            source,
            [RowError(rows[s], "subject", s, "unknown subject", "a known subject") for s in new][
                :MAX_REPORTED_ERRORS
            ],
            len(new),
        )
    used = set(session.scalars(select(Person.pseudonym))) if new else set()
    for s in new:
        pseudo = new_pseudonym()
        while pseudo in used:  # pragma: no cover - 32^8 space
            pseudo = new_pseudonym()
        used.add(pseudo)
        p = Person(subject=s, pseudonym=pseudo, name="", data_version=0)
        session.add(p)
        session.flush()
        found[s] = p.id
        report.people_created += 1
        if user is not None:
            session.add(CareLink(user_id=user.id, person_id=p.id))
    return found


_MODEL_FIELDS: dict[str, tuple[type, dict[str, str]]] = {
    # kind -> (model, {record column: model attribute}) excluding the person/session key
    "visits": (
        Assessment,
        {"date": "date", "edss": "edss", "t25fw": "t25fw", "nhpt": "nhpt", "sdmt": "sdmt"},
    ),
    "relapses": (Relapse, {"date": "onset_date", "end_date": "end_date"}),
    "treatments": (
        Treatment,
        {"drug": "drug", "start_date": "start_date", "stop_date": "stop_date"},
    ),
    "mri": (
        MriSession,
        {
            "date": "date",
            "active": "active",
            "t2_lesions": "t2_lesions",
            "new_enlarging": "new_enlarging",
            "gd_enhancing": "gd_enhancing",
        },
    ),
    "devices": (
        DeviceMeasure,
        {"date": "date", "measure": "measure", "value": "value", "unit": "unit"},
    ),
    "device_events": (
        DeviceEvent,
        {
            "measure": "measure",
            "onset_date": "onset_date",
            "detected_date": "detected_date",
            "baseline_value": "baseline_value",
            "current_value": "current_value",
            "change_pct": "change_pct",
        },
    ),
    "lifestyle": (
        LifestyleEntry,
        {
            k: k
            for k in (
                "date",
                "exercise_min_week",
                "diet",
                "smoking",
                "alcohol_units_week",
                "sleep_hours",
                "medications",
                "comorbidities",
                "notes",
            )
        },
    ),
}
_LESION_FIELDS = {
    "prl": ("volume_mm3", "centroid_x_mm", "centroid_y_mm", "centroid_z_mm", "rim_score", "prl"),
    "sel": (
        "volume_mm3",
        "centroid_x_mm",
        "centroid_y_mm",
        "centroid_z_mm",
        "expansion_pct_per_year",
        "concentricity",
        "constancy",
        "sel",
    ),
}
_TEXT_DEFAULTS = {"unit", "medications", "comorbidities", "notes", "name"}


def _upsert(
    session: Session,
    model: type,
    key_attrs: tuple[str, ...],
    rows: list[dict[str, Any]],
    report: ImportReport,
    scope: tuple[str, set[int]],
) -> set[int]:
    """Insert new rows, update changed ones, count unchanged ones; return the scope ids touched."""
    scope_attr, scope_ids = scope
    cols = [getattr(model, a) for a in ("id", *rows[0].keys())]
    existing: dict[tuple, tuple[int, dict[str, Any]]] = {}
    ids = sorted(scope_ids)
    names = list(rows[0].keys())
    for i in range(0, len(ids), 500):
        q = select(*cols).where(getattr(model, scope_attr).in_(ids[i : i + 500]))
        for r in session.execute(q):
            vals = dict(zip(names, r[1:], strict=True))
            existing[tuple(vals[a] for a in key_attrs)] = (r[0], vals)
    inserts, updates, touched = [], [], set()
    for rec in rows:
        key = tuple(rec[a] for a in key_attrs)
        if key not in existing:
            inserts.append(rec)
            touched.add(rec[scope_attr])
        elif existing[key][1] != rec:
            updates.append({"id": existing[key][0], **rec})
            touched.add(rec[scope_attr])
        else:
            report.unchanged += 1
    if inserts:
        session.execute(insert(model), inserts)
    if updates:
        session.execute(update(model), updates)
    report.inserted += len(inserts)
    report.updated += len(updates)
    return touched


def import_frame(
    session: Session,
    kind: str,
    df: pd.DataFrame,
    *,
    source: str = "<table>",
    user: User | None = None,
    subject: str | None = None,
    session_date: str | dt.date | None = None,
    future_dates: str | DateRule = "warn",
) -> ImportReport:
    """Validate and import one table inside the caller's transaction (the caller commits).

    Parameters
    ----------
    session : Session
        An open ORM session; nothing is committed here, and on error nothing has been written.
    kind : str
        One of :data:`KINDS`.
    df : DataFrame
        The table; cells are read as text and parsed per column.
    source : str
        Name used in messages (file name).
    user : User, optional
        The importing clinician: may only touch people on their list; new people are linked to them.
    subject, session_date : optional
        Subject and scan date for per-lesion tables without those columns.
    future_dates : {"warn", "refuse", "drop"} or DateRule
        Rows dated after today (:mod:`smoulder.schema.dates`): kept and counted in
        ``report.notes`` (default), refused, or left out and counted.

    Returns
    -------
    ImportReport

    Raises
    ------
    ImportFailed
        Listing every bad row; the session is left unchanged.
    """
    if kind not in SPECS:
        raise InputDataError("unknown import kind", value=kind, expected=" | ".join(KINDS))
    df = df.copy()
    df.columns = [str(c).strip() for c in df.columns]
    df = df.astype(object).where(df.notna(), "").astype(str)
    if kind in ("prl", "sel"):
        if "subject" not in df.columns and subject is not None:
            df["subject"] = str(subject)
        if "date" not in df.columns and session_date is not None:
            df["date"] = str(session_date)
    report = ImportReport(kind=kind, source=source, rows_read=len(df))
    rule = future_dates if isinstance(future_dates, DateRule) else DateRule(future_dates)
    records = _validate(kind, df, source, rule=rule, notes=report.notes)
    records, report.merged_duplicates = _dedupe(kind, records, source)
    first_row: dict[str, int] = {}
    for r in records:
        first_row.setdefault(r["subject"], r["_row"])
    # every check that can fail runs before the first write; a database error rolls the
    # caller's transaction back (see import_into)
    if kind == "people":
        _import_people(session, records, user, source, first_row, report)
    else:
        pids = _people(session, set(first_row), user, source, first_row, report)
        if kind in ("prl", "sel"):
            _import_lesions(session, kind, records, pids, report)
        else:
            model, fields = _MODEL_FIELDS[kind]
            rows = []
            for r in records:
                row: dict[str, Any] = {"person_id": pids[r["subject"]]}
                for col, attr in fields.items():
                    v = r.get(col)
                    row[attr] = ("" if v is None else v) if attr in _TEXT_DEFAULTS else v
                if kind == "mri" and row["active"] is None:
                    # activity follows from the counts when only they are given
                    counts = [
                        row[k] for k in ("new_enlarging", "gd_enhancing") if row[k] is not None
                    ]
                    row["active"] = sum(counts) > 0 if counts else None
                rows.append(row)
            key_attrs = ("person_id",) + tuple(fields[k] for k in KEYS[kind] if k != "subject")
            report.person_ids |= _upsert(
                session, model, key_attrs, rows, report, ("person_id", set(pids.values()))
            )
    _bump(session, report.person_ids)
    return report


def _bump(session: Session, person_ids: set[int]) -> None:
    ids = sorted(person_ids)
    for i in range(0, len(ids), 500):
        session.execute(
            update(Person)
            .where(Person.id.in_(ids[i : i + 500]))
            .values(data_version=Person.data_version + 1)
        )


def _import_people(
    session: Session,
    records: list[dict[str, Any]],
    user: User | None,
    source: str,
    first_row: dict[str, int],
    report: ImportReport,
) -> None:
    clinicians = {r["clinician"] for r in records if r.get("clinician")}
    by_name = {}
    if clinicians:
        for u in session.scalars(select(User).where(User.username.in_(sorted(clinicians)))):
            if u.role == "clinician":
                by_name[u.username] = u
        unknown = [r for r in records if r.get("clinician") and r["clinician"] not in by_name]
        if unknown:
            raise ImportFailed(
                source,
                [
                    RowError(
                        r["_row"],
                        "clinician",
                        r["clinician"],
                        "no clinician account with this user name",
                        "the user name of a clinician",
                    )
                    for r in unknown
                ][:MAX_REPORTED_ERRORS],
                len(unknown),
            )
    known = set(
        session.scalars(select(Person.subject).where(Person.subject.in_(sorted(first_row))))
    )
    pids = _people(session, set(first_row), user, source, first_row, report)
    current_people = {
        p.id: p
        for p in session.scalars(
            select(Person).where(Person.id.in_([pids[r["subject"]] for r in records]))
        )
    }
    rows: list[dict[str, Any]] = []
    for r in records:
        pid = pids[r["subject"]]
        row = {
            "id": pid,
            "name": r.get("name") or "",
            "sex": r["sex"].upper() if r.get("sex") else None,
            "birth_year": r.get("birth_year"),
            "disease_course": r.get("disease_course"),
            "onset_year": r.get("onset_year"),
        }
        # a file without one of these columns keeps what is stored (an empty cell clears it)
        for col in ("name", "sex", "birth_year", "disease_course", "onset_year"):
            if col not in r:
                row[col] = getattr(current_people[pid], col)
        rows.append(row)
    fields = ("name", "sex", "birth_year", "disease_course", "onset_year")
    current = {pid: tuple(getattr(p, f) for f in fields) for pid, p in current_people.items()}
    changed = [r for r in rows if current[r["id"]] != tuple(r[f] for f in fields)]
    if changed:
        session.execute(update(Person), changed)
    report.inserted = sum(1 for r in records if r["subject"] not in known)
    report.updated = sum(
        1
        for r in records
        if r["subject"] in known and pids[r["subject"]] in {c["id"] for c in changed}
    )
    report.unchanged = len(records) - report.inserted - report.updated
    report.person_ids |= {r["id"] for r in changed}
    links = {
        (lk.user_id, lk.person_id)
        for lk in session.scalars(
            select(CareLink).where(CareLink.person_id.in_(list(pids.values())))
        )
    }
    for r in records:
        if r.get("clinician"):
            key = (by_name[r["clinician"]].id, pids[r["subject"]])
            if key not in links:
                session.add(CareLink(user_id=key[0], person_id=key[1]))
                links.add(key)
    session.flush()


def _import_lesions(
    session: Session,
    kind: str,
    records: list[dict[str, Any]],
    pids: dict[str, int],
    report: ImportReport,
) -> None:
    # MRI sessions: create the ones missing (activity unknown)
    wanted = {(pids[r["subject"]], r["date"]) for r in records}
    person_ids = sorted({p for p, _ in wanted})
    sessions = {
        (p, d): sid
        for sid, p, d in session.execute(
            select(MriSession.id, MriSession.person_id, MriSession.date).where(
                MriSession.person_id.in_(person_ids)
            )
        )
    }
    missing = sorted(wanted - set(sessions))
    if missing:
        session.execute(
            insert(MriSession), [{"person_id": p, "date": d, "active": None} for p, d in missing]
        )
        sessions = {
            (p, d): sid
            for sid, p, d in session.execute(
                select(MriSession.id, MriSession.person_id, MriSession.date).where(
                    MriSession.person_id.in_(person_ids)
                )
            )
        }
        report.person_ids |= {p for p, _ in missing}
    rows = []
    owner = {}
    for r in records:
        sid = sessions[(pids[r["subject"]], r["date"])]
        owner[sid] = pids[r["subject"]]
        row = {"session_id": sid, "method": kind, "label": r["label"]}
        for f in _LESION_FIELDS[kind]:
            row[f] = r.get(f)
        rows.append(row)
    touched = _upsert(
        session,
        LesionResult,
        ("session_id", "method", "label"),
        rows,
        report,
        ("session_id", set(owner)),
    )
    report.person_ids |= {owner[s] for s in touched}


def import_into(store: Any, kind: str, df: pd.DataFrame, **kwargs: Any) -> ImportReport:
    """Import into a :class:`~smoulder.store.db.Store` in one transaction: commit, or roll back on any error."""
    with store.session() as session:
        try:
            report = import_frame(session, kind, df, **kwargs)
            session.commit()
        except BaseException:
            session.rollback()
            raise
    return report


def import_file(session: Session, kind: str, path: str | Path, **kwargs: Any) -> ImportReport:
    """Read a file from disk and :func:`import_frame` it (the caller commits)."""
    from smoulder.io.outputs import check_input_file

    if kind not in SPECS and kind not in EXPORT_KINDS:
        raise InputDataError(
            "unknown import kind", value=kind, expected=" | ".join(KINDS + EXPORT_KINDS)
        )
    p = check_input_file(path, "file")
    if kind in EXPORT_KINDS:
        df = device_export_frame(kind, p.read_bytes(), p.name, kwargs.get("subject"))
        kwargs.pop("session_date", None)
        kwargs.pop("subject", None)
        return import_frame(session, "devices", df, source=p.name, **kwargs)
    return import_frame(session, kind, read_path(p), source=p.name, **kwargs)


__all__ = [
    "KINDS",
    "SPECS",
    "KEYS",
    "DIETS",
    "SMOKING",
    "SEL_CLASSES",
    "ImportFailed",
    "ImportReport",
    "RowError",
    "import_file",
    "import_frame",
    "import_into",
    "read_upload",
    "read_path",
    "new_pseudonym",
    "device_export_frame",
    "EXPORT_KINDS",
]
