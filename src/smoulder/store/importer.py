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
people         subject, [name, sex, birth_year, clinician]
visits         subject, date, [edss, t25fw, nhpt, sdmt] (at least one score per row)
relapses       subject, date, [end_date]
treatments     subject, drug, start_date, [stop_date]
mri            subject, date, [active]
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
import io
import math
import secrets
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
from sqlalchemy import insert, select, update
from sqlalchemy.orm import Session

from smoulder.exceptions import InputDataError
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

MISSING = {"", "n/a", "na", "nan", "none", "null"}
MAX_REPORTED_ERRORS = 200
MIN_DATE = dt.date(1900, 1, 1)
DIETS = ("healthy", "mixed", "unhealthy")
SMOKING = ("never", "former", "current")
SEL_CLASSES = ("definite", "possible", "no")


@dataclass
class RowError:
    """One problem in one cell (``row`` counts the header as row 1, as a spreadsheet does)."""

    row: int | None
    column: str | None
    value: str | None
    message: str
    expected: str = ""

    def __str__(self) -> str:
        where = ", ".join(x for x in (f"row {self.row}" if self.row else "",
                                      f"column '{self.column}'" if self.column else "") if x)
        text = f"{where}: {self.message}" if where else self.message
        if self.value is not None:
            text += f" (got {self.value[:60]!r})"
        if self.expected:
            text += f"; expected {self.expected}"
        return text

    def to_dict(self) -> dict[str, Any]:
        return {"row": self.row, "column": self.column, "value": self.value, "message": self.message,
                "expected": self.expected}


class ImportFailed(InputDataError):
    """An import was refused; ``errors`` lists every bad row (nothing was written)."""

    def __init__(self, source: str, errors: list[RowError], total: int | None = None) -> None:
        self.errors = errors
        self.total = total if total is not None else len(errors)
        first = errors[0]
        more = f" and {self.total - 1} more problem(s)" if self.total > 1 else ""
        super().__init__(
            f"{first.message}{more}; nothing was imported", file=source, row=first.row,
            column=first.column, value=first.value, expected=first.expected or None,
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

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "source": self.source, "rows_read": self.rows_read,
                "inserted": self.inserted, "updated": self.updated, "unchanged": self.unchanged,
                "merged_duplicates": self.merged_duplicates, "people_created": self.people_created}

    def __str__(self) -> str:
        return (f"{self.source}: {self.rows_read} rows read, {self.inserted} inserted, {self.updated} "
                f"updated, {self.unchanged} unchanged, {self.merged_duplicates} identical duplicates "
                f"merged, {self.people_created} people created")


# ----------------------------------------------------------------------------- cell parsers
class _Bad(Exception):
    def __init__(self, message: str, expected: str) -> None:
        super().__init__(message)
        self.message = message
        self.expected = expected


Parser = Callable[[str], Any]


def _date(text: str) -> dt.date:
    try:
        d = dt.date.fromisoformat(text.strip()[:10]) if len(text.strip()) in (10, 19, 20, 25) else None
    except ValueError:
        d = None
    if d is None:
        raise _Bad("unparseable date", "an ISO date YYYY-MM-DD")
    if d < MIN_DATE or d > dt.date.today() + dt.timedelta(days=1):
        raise _Bad("date out of range", f"a date between {MIN_DATE} and today")
    return d


def _number(lo: float, hi: float, *, step: float | None = None, integer: bool = False,
            lo_open: bool = False) -> Parser:
    rng = f"{'(' if lo_open else '['}{lo:g}, {hi:g}]"
    what = "a whole number" if integer else "a number"
    if step:
        what += f" on the {step:g} grid"
    expected = f"{what} in {rng}"

    def parse(text: str) -> float:
        try:
            x = float(text)
        except ValueError:
            raise _Bad("not a number", expected) from None
        if not math.isfinite(x) or x < lo or x > hi or (lo_open and x == lo):
            raise _Bad("value out of range", expected)
        if integer and x != round(x):
            raise _Bad("not a whole number", expected)
        if step and abs(x / step - round(x / step)) > 1e-9:
            raise _Bad(f"not on the {step:g} grid", expected)
        return int(x) if integer else x

    return parse


def _finite(text: str) -> float:
    try:
        x = float(text)
    except ValueError:
        raise _Bad("not a number", "a finite number") from None
    if not math.isfinite(x):
        raise _Bad("not a finite number", "a finite number")
    return x


def _bool(text: str) -> bool:
    t = text.strip().lower()
    if t in ("1", "true", "yes", "y", "t"):
        return True
    if t in ("0", "false", "no", "n", "f"):
        return False
    raise _Bad("not a yes/no value", "true/false, yes/no or 1/0")


def _active(text: str) -> bool:
    try:
        return _bool(text)
    except _Bad:
        try:
            x = float(text)
        except ValueError:
            raise _Bad("not a yes/no value or lesion count", "true/false, yes/no or a lesion count") from None
        if not math.isfinite(x) or x < 0 or x != round(x):
            raise _Bad("not a lesion count", "true/false, yes/no or a lesion count >= 0") from None
        return x > 0


def _choice(options: Iterable[str]) -> Parser:
    opts = tuple(options)

    def parse(text: str) -> str:
        t = text.strip().lower()
        if t not in opts:
            raise _Bad("unknown value", " | ".join(opts))
        return t

    return parse


def _text(maxlen: int, *, required: bool = False) -> Parser:
    def parse(text: str) -> str:
        t = text.strip()
        if len(t) > maxlen:
            raise _Bad("text too long", f"at most {maxlen} characters")
        if any(ord(c) < 32 and c not in "\t\n\r" for c in t):
            raise _Bad("control characters in text", "printable text")
        if required and not t:
            raise _Bad("empty", "a non-empty text")
        return t

    return parse


def _subject(text: str) -> str:
    t = text.strip()
    if not t or len(t) > 64 or any(c.isspace() or ord(c) < 32 for c in t):
        raise _Bad("not a valid subject id", "an id of 1-64 characters without spaces")
    return t


def _label(text: str) -> int:
    return int(_number(1, 2**31 - 1, integer=True)(text))


EDSS = _number(0, 10, step=0.5)
SECONDS_T25FW = _number(0, 300, lo_open=True)
SECONDS_NHPT = _number(0, 600, lo_open=True)
SDMT = _number(0, 110, integer=True)


@dataclass
class _Col:
    name: str
    parse: Parser
    required: bool = False
    attr: str | None = None


# kind -> (columns, natural key columns (after subject), model)
SPECS: dict[str, list[_Col]] = {
    "people": [_Col("subject", _subject, True), _Col("name", _text(200)),
               _Col("sex", _choice(("f", "m", "x"))),
               _Col("birth_year", _number(1900, dt.date.today().year, integer=True)),
               _Col("clinician", _text(80))],
    "visits": [_Col("subject", _subject, True), _Col("date", _date, True), _Col("edss", EDSS),
               _Col("t25fw", SECONDS_T25FW), _Col("nhpt", SECONDS_NHPT), _Col("sdmt", SDMT)],
    "relapses": [_Col("subject", _subject, True), _Col("date", _date, True, "onset_date"),
                 _Col("end_date", _date)],
    "treatments": [_Col("subject", _subject, True), _Col("drug", _text(100, required=True), True),
                   _Col("start_date", _date, True), _Col("stop_date", _date)],
    "mri": [_Col("subject", _subject, True), _Col("date", _date, True), _Col("active", _active)],
    "prl": [_Col("subject", _subject, True), _Col("date", _date, True), _Col("label", _label, True),
            _Col("n_voxels", _number(0, 1e9, integer=True)), _Col("volume_mm3", _number(0, 1e7)),
            _Col("centroid_x_mm", _finite), _Col("centroid_y_mm", _finite), _Col("centroid_z_mm", _finite),
            _Col("rim_score", _finite), _Col("prl", _bool, True)],
    "sel": [_Col("subject", _subject, True), _Col("date", _date, True), _Col("label", _label, True),
            _Col("volume_mm3", _number(0, 1e7)), _Col("centroid_x_mm", _finite),
            _Col("centroid_y_mm", _finite), _Col("centroid_z_mm", _finite),
            _Col("expansion_pct_per_year", _finite), _Col("concentricity", _finite),
            _Col("constancy", _finite), _Col("sel", _choice(SEL_CLASSES), True)],
    "devices": [_Col("subject", _subject, True), _Col("date", _date, True),
                _Col("measure", _text(64, required=True), True), _Col("value", _finite, True),
                _Col("unit", _text(32))],
    "device_events": [_Col("subject", _subject, True), _Col("measure", _text(64, required=True), True),
                      _Col("onset_date", _date, True), _Col("detected_date", _date),
                      _Col("baseline_value", _finite), _Col("current_value", _finite),
                      _Col("change_pct", _finite)],
    "lifestyle": [_Col("subject", _subject, True), _Col("date", _date, True),
                  _Col("exercise_min_week", _number(0, 10080, integer=True)),
                  _Col("diet", _choice(DIETS)), _Col("smoking", _choice(SMOKING)),
                  _Col("alcohol_units_week", _number(0, 300)), _Col("sleep_hours", _number(0, 24)),
                  _Col("medications", _text(2000)), _Col("comorbidities", _text(2000)),
                  _Col("notes", _text(2000))],
}
KEYS: dict[str, tuple[str, ...]] = {
    "people": ("subject",), "visits": ("subject", "date"), "relapses": ("subject", "date"),
    "treatments": ("subject", "drug", "start_date"), "mri": ("subject", "date"),
    "prl": ("subject", "date", "label"), "sel": ("subject", "date", "label"),
    "devices": ("subject", "date", "measure"), "device_events": ("subject", "measure", "onset_date"),
    "lifestyle": ("subject", "date"),
}
KINDS = tuple(SPECS)
UPLOAD_SUFFIXES = (".csv", ".tsv", ".txt", ".parquet")


# ----------------------------------------------------------------------------- reading
def read_upload(data: bytes, filename: str) -> pd.DataFrame:
    """Read CSV, TSV or Parquet bytes into a frame of strings (missing cells as '').

    Raises
    ------
    InputDataError
        If the file type is not supported or the file cannot be parsed.
    """
    name = Path(filename).name or "upload"
    suffix = Path(name).suffix.lower()
    if suffix not in UPLOAD_SUFFIXES:
        raise InputDataError("unsupported file type", file=name, value=suffix or "(none)",
                             expected="a .csv, .tsv or .parquet file")
    if suffix == ".parquet":
        import pyarrow.parquet as pq

        try:
            df = pq.read_table(io.BytesIO(data)).to_pandas()
        except Exception as exc:  # noqa: BLE001 - any parse failure is the user's file
            raise InputDataError(f"not a readable Parquet file ({type(exc).__name__})", file=name,
                                 expected="a Parquet file") from None
        for c in df.columns:
            s = df[c]
            if pd.api.types.is_datetime64_any_dtype(s):
                df[c] = s.dt.strftime("%Y-%m-%d")
        return df.astype(object).where(df.notna(), "").astype(str)
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise InputDataError("file is not UTF-8 text", file=name, expected="a UTF-8 CSV/TSV file") from None
    if "\x00" in text:
        raise InputDataError("file contains NUL bytes (binary?)", file=name, expected="a UTF-8 CSV/TSV file")
    sep = "\t" if suffix == ".tsv" or (suffix == ".txt" and "\t" in text.split("\n", 1)[0]) else ","
    try:
        df = pd.read_csv(io.StringIO(text), sep=sep, dtype=str, keep_default_na=False, na_filter=False,
                         skipinitialspace=True)
    except Exception as exc:  # noqa: BLE001
        raise InputDataError(f"cannot parse the table ({str(exc).splitlines()[0][:120]})", file=name,
                             expected="a header row and rows with the same number of fields") from None
    df.columns = [str(c).strip() for c in df.columns]
    return df


def read_path(path: str | Path) -> pd.DataFrame:
    """Read a CSV/TSV/Parquet file from disk into a frame of strings."""
    p = Path(path)
    return read_upload(p.read_bytes(), p.name)


# ----------------------------------------------------------------------------- validation
def _validate(kind: str, df: pd.DataFrame, source: str) -> list[dict[str, Any]]:
    spec = SPECS[kind]
    cols = list(df.columns)
    errors: list[RowError] = []
    total = 0
    dup = [c for c in set(cols) if cols.count(c) > 1]
    if dup:
        raise ImportFailed(source, [RowError(1, dup[0], None, "column appears twice", "unique column names")])
    missing = [c.name for c in spec if c.required and c.name not in cols]
    if missing:
        raise ImportFailed(source, [RowError(1, m, None, "required column missing",
                                             "columns " + ", ".join(c.name for c in spec if c.required))
                                    for m in missing])
    if len(df) == 0:
        raise ImportFailed(source, [RowError(None, None, None, "no data rows",
                                             "a header row and at least one data row")])
    present = [c for c in spec if c.name in cols]
    columns = {c.name: df[c.name].astype(str).tolist() for c in present}
    out: list[dict[str, Any]] = []
    for i in range(len(df)):
        rec: dict[str, Any] = {"_row": i + 2}
        for c in present:
            raw = columns[c.name][i]
            if raw.strip().lower() in MISSING:
                if c.required:
                    total += 1
                    if len(errors) < MAX_REPORTED_ERRORS:
                        errors.append(RowError(i + 2, c.name, raw, "required value missing", "a value"))
                rec[c.name] = None
                continue
            try:
                rec[c.name] = c.parse(raw)
            except _Bad as bad:
                total += 1
                if len(errors) < MAX_REPORTED_ERRORS:
                    errors.append(RowError(i + 2, c.name, raw, bad.message, bad.expected))
                rec[c.name] = None
        out.append(rec)
    # cross-field checks
    for rec in out:
        row = rec["_row"]
        problems: list[RowError] = []
        if kind == "visits" and all(rec.get(k) is None for k in ("edss", "t25fw", "nhpt", "sdmt")) and not any(
                e.row == row for e in errors):
            problems.append(RowError(row, None, None, "no score in this row", "at least one of edss, t25fw, nhpt, sdmt"))
        for start, stop in (("date", "end_date"), ("start_date", "stop_date"), ("onset_date", "detected_date")):
            if rec.get(start) and rec.get(stop) and rec[stop] < rec[start]:
                problems.append(RowError(row, stop, str(rec[stop]), f"{stop} before {start}",
                                         f"a date on or after {start}"))
        total += len(problems)
        errors.extend(problems[: max(0, MAX_REPORTED_ERRORS - len(errors))])
    if total:
        raise ImportFailed(source, errors, total)
    return out


def _dedupe(kind: str, records: list[dict[str, Any]], source: str) -> tuple[list[dict[str, Any]], int]:
    key_cols = KEYS[kind]
    seen: dict[tuple, dict[str, Any]] = {}
    errors: list[RowError] = []
    merged = 0
    for rec in records:
        key = tuple(rec[k] for k in key_cols)
        if key in seen:
            first = seen[key]
            if {k: v for k, v in first.items() if k != "_row"} == {k: v for k, v in rec.items() if k != "_row"}:
                merged += 1
                continue
            errors.append(RowError(rec["_row"], ", ".join(key_cols), " / ".join(map(str, key)),
                                   f"conflicts with row {first['_row']} (same {', '.join(key_cols)}, different values)",
                                   "one row per " + ", ".join(key_cols)))
        else:
            seen[key] = rec
    if errors:
        raise ImportFailed(source, errors[:MAX_REPORTED_ERRORS], len(errors))
    return list(seen.values()), merged


# ----------------------------------------------------------------------------- writing
def new_pseudonym() -> str:
    """A random pseudonym such as ``P-7K3QX9AD`` (no relation to the clinic id)."""
    alphabet = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"
    return "P-" + "".join(secrets.choice(alphabet) for _ in range(8))


def _people(session: Session, subjects: set[str], user: User | None, source: str,
            rows: dict[str, int], report: ImportReport, create: bool = True) -> dict[str, int]:
    """Map subject ids to person ids, creating unknown people (linked to the importing clinician)."""
    found: dict[str, int] = {}
    subj = sorted(subjects)
    for i in range(0, len(subj), 500):
        for pid, s in session.execute(select(Person.id, Person.subject).where(Person.subject.in_(subj[i:i + 500]))):
            found[s] = pid
    if user is not None:
        mine = set(session.scalars(select(CareLink.person_id).where(CareLink.user_id == user.id)))
        foreign = [s for s in subj if s in found and found[s] not in mine]
        if foreign:
            errs = [RowError(rows[s], "subject", None, "this subject id belongs to a record you do not look after",
                             "a subject on your list, or a new subject id") for s in foreign]
            raise ImportFailed(source, errs[:MAX_REPORTED_ERRORS], len(errs))
    new = [s for s in subj if s not in found]
    if new and not create:
        raise ImportFailed(source, [RowError(rows[s], "subject", s, "unknown subject", "a known subject")
                                    for s in new][:MAX_REPORTED_ERRORS], len(new))
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
    "visits": (Assessment, {"date": "date", "edss": "edss", "t25fw": "t25fw", "nhpt": "nhpt", "sdmt": "sdmt"}),
    "relapses": (Relapse, {"date": "onset_date", "end_date": "end_date"}),
    "treatments": (Treatment, {"drug": "drug", "start_date": "start_date", "stop_date": "stop_date"}),
    "mri": (MriSession, {"date": "date", "active": "active"}),
    "devices": (DeviceMeasure, {"date": "date", "measure": "measure", "value": "value", "unit": "unit"}),
    "device_events": (DeviceEvent, {"measure": "measure", "onset_date": "onset_date",
                                    "detected_date": "detected_date", "baseline_value": "baseline_value",
                                    "current_value": "current_value", "change_pct": "change_pct"}),
    "lifestyle": (LifestyleEntry, {k: k for k in ("date", "exercise_min_week", "diet", "smoking",
                                                   "alcohol_units_week", "sleep_hours", "medications",
                                                   "comorbidities", "notes")}),
}
_LESION_FIELDS = {
    "prl": ("volume_mm3", "centroid_x_mm", "centroid_y_mm", "centroid_z_mm", "rim_score", "prl"),
    "sel": ("volume_mm3", "centroid_x_mm", "centroid_y_mm", "centroid_z_mm", "expansion_pct_per_year",
            "concentricity", "constancy", "sel"),
}
_TEXT_DEFAULTS = {"unit", "medications", "comorbidities", "notes", "name"}


def _upsert(session: Session, model: type, key_attrs: tuple[str, ...], rows: list[dict[str, Any]],
            report: ImportReport, scope: tuple[str, set[int]]) -> set[int]:
    """Insert new rows, update changed ones, count unchanged ones; return the scope ids touched."""
    scope_attr, scope_ids = scope
    cols = [getattr(model, a) for a in ("id", *rows[0].keys())]
    existing: dict[tuple, tuple[int, dict[str, Any]]] = {}
    ids = sorted(scope_ids)
    names = list(rows[0].keys())
    for i in range(0, len(ids), 500):
        q = select(*cols).where(getattr(model, scope_attr).in_(ids[i:i + 500]))
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


def import_frame(session: Session, kind: str, df: pd.DataFrame, *, source: str = "<table>",
                 user: User | None = None, subject: str | None = None,
                 session_date: str | dt.date | None = None) -> ImportReport:
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
    records = _validate(kind, df, source)
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
                rows.append(row)
            key_attrs = ("person_id",) + tuple(fields[k] for k in KEYS[kind] if k != "subject")
            report.person_ids |= _upsert(session, model, key_attrs, rows, report,
                                         ("person_id", set(pids.values())))
    _bump(session, report.person_ids)
    return report


def _bump(session: Session, person_ids: set[int]) -> None:
    ids = sorted(person_ids)
    for i in range(0, len(ids), 500):
        session.execute(update(Person).where(Person.id.in_(ids[i:i + 500]))
                        .values(data_version=Person.data_version + 1))


def _import_people(session: Session, records: list[dict[str, Any]], user: User | None, source: str,
                   first_row: dict[str, int], report: ImportReport) -> None:
    clinicians = {r["clinician"] for r in records if r.get("clinician")}
    by_name = {}
    if clinicians:
        for u in session.scalars(select(User).where(User.username.in_(sorted(clinicians)))):
            if u.role == "clinician":
                by_name[u.username] = u
        unknown = [r for r in records if r.get("clinician") and r["clinician"] not in by_name]
        if unknown:
            raise ImportFailed(source, [RowError(r["_row"], "clinician", r["clinician"], "no clinician account with this user name",
                                                 "the user name of a clinician") for r in unknown][:MAX_REPORTED_ERRORS], len(unknown))
    known = set(session.scalars(select(Person.subject).where(Person.subject.in_(sorted(first_row)))))
    pids = _people(session, set(first_row), user, source, first_row, report)
    rows: list[dict[str, Any]] = [{"id": pids[r["subject"]], "name": r.get("name") or "",
             "sex": r["sex"].upper() if r.get("sex") else None, "birth_year": r.get("birth_year")}
            for r in records]
    current = {p.id: (p.name, p.sex, p.birth_year)
               for p in session.scalars(select(Person).where(Person.id.in_([r["id"] for r in rows])))}
    changed = [r for r in rows if current[r["id"]] != (r["name"], r["sex"], r["birth_year"])]
    if changed:
        session.execute(update(Person), changed)
    report.inserted = sum(1 for r in records if r["subject"] not in known)
    report.updated = sum(1 for r in records if r["subject"] in known and pids[r["subject"]] in {c["id"] for c in changed})
    report.unchanged = len(records) - report.inserted - report.updated
    report.person_ids |= {r["id"] for r in changed}
    links = {(lk.user_id, lk.person_id) for lk in session.scalars(select(CareLink).where(
        CareLink.person_id.in_(list(pids.values()))))}
    for r in records:
        if r.get("clinician"):
            key = (by_name[r["clinician"]].id, pids[r["subject"]])
            if key not in links:
                session.add(CareLink(user_id=key[0], person_id=key[1]))
                links.add(key)
    session.flush()


def _import_lesions(session: Session, kind: str, records: list[dict[str, Any]], pids: dict[str, int],
                    report: ImportReport) -> None:
    # MRI sessions: create the ones missing (activity unknown)
    wanted = {(pids[r["subject"]], r["date"]) for r in records}
    person_ids = sorted({p for p, _ in wanted})
    sessions = {(p, d): sid for sid, p, d in session.execute(
        select(MriSession.id, MriSession.person_id, MriSession.date).where(MriSession.person_id.in_(person_ids)))}
    missing = sorted(wanted - set(sessions))
    if missing:
        session.execute(insert(MriSession), [{"person_id": p, "date": d, "active": None} for p, d in missing])
        sessions = {(p, d): sid for sid, p, d in session.execute(
            select(MriSession.id, MriSession.person_id, MriSession.date).where(MriSession.person_id.in_(person_ids)))}
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
    touched = _upsert(session, LesionResult, ("session_id", "method", "label"), rows, report,
                      ("session_id", set(owner)))
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


EXPORT_KINDS = ("fhir", "apple_health")


def device_export_frame(kind: str, data: bytes, filename: str, subject: str | None = None) -> pd.DataFrame:
    """Turn a FHIR R4 bundle (``.json``) or an Apple Health export (``.zip``/``.xml``) into the
    ``devices`` long table, through the digital pillar's readers (imported only when used).

    Raises
    ------
    InputDataError
        The readers are not installed, the file is not of that kind, or a record is invalid.
    """
    import json
    import tempfile

    name = Path(filename).name or "upload"
    suffix = Path(name).suffix.lower()
    try:
        if kind == "fhir":
            from smoulder.io.fhir import read_fhir
        elif kind == "apple_health":
            from smoulder.io.apple_health import read_apple_health
        else:
            raise InputDataError("unknown export kind", value=kind, expected=" | ".join(EXPORT_KINDS))
    except ImportError:
        raise InputDataError(f"reading {kind} exports needs the digital readers (smoulder.io.{kind}), which "
                             "are not installed", file=name) from None
    if kind == "fhir":
        if suffix != ".json":
            raise InputDataError("unsupported file type", file=name, value=suffix, expected="a FHIR bundle .json file")
        try:
            bundle = json.loads(data.decode("utf-8-sig"))
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise InputDataError(f"not valid JSON ({type(exc).__name__})", file=name,
                                 expected="a FHIR R4 Bundle in JSON") from None
        df, _ = read_fhir(bundle, subject=subject or None)
    else:
        if suffix not in (".zip", ".xml"):
            raise InputDataError("unsupported file type", file=name, value=suffix,
                                 expected="export.zip or export.xml from the Health app")
        if not subject:
            raise InputDataError("an Apple Health export carries no id: give the subject", file=name,
                                 expected="the person's clinic id")
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / f"export{suffix}"
            path.write_bytes(data)
            df, _ = read_apple_health(path, subject)
    out = pd.DataFrame({
        "subject": df["subject"].astype(str), "date": pd.to_datetime(df["date"]).dt.strftime("%Y-%m-%d"),
        "measure": df["measure"].astype(str), "value": df["value"].astype(float).map(repr),
        "unit": df["unit"].astype(str) if "unit" in df else "",
    })
    return out


def import_file(session: Session, kind: str, path: str | Path, **kwargs: Any) -> ImportReport:
    """Read a file from disk and :func:`import_frame` it (the caller commits)."""
    p = Path(path)
    if kind in EXPORT_KINDS:
        df = device_export_frame(kind, p.read_bytes(), p.name, kwargs.get("subject"))
        kwargs.pop("session_date", None)
        kwargs.pop("subject", None)
        return import_frame(session, "devices", df, source=p.name, **kwargs)
    return import_frame(session, kind, read_path(p), source=p.name, **kwargs)


__all__ = ["KINDS", "SPECS", "ImportFailed", "ImportReport", "RowError", "import_file", "import_frame", "import_into",
           "read_upload", "read_path", "new_pseudonym",
           "device_export_frame", "EXPORT_KINDS"]
