"""Reading and checking import tables: every cell parsed, every problem reported with its row.

Nothing here touches the database; :mod:`smoulder.store.importer` writes what passes.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import pandas as pd

from smoulder.exceptions import InputDataError
from smoulder.schema.dates import EARLIEST, LATEST, DateRule

MISSING = {"", "n/a", "na", "nan", "none", "null"}
MAX_COLUMNS = 1000
MAX_REPORTED_ERRORS = 200
MIN_DATE = EARLIEST
#: columns holding the date of the event itself: dates after today follow the date rule there
#: (an end, stop or detection date after today is only checked for being possible)
EVENT_DATE_COLUMNS = ("date", "start_date", "onset_date")
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
        where = ", ".join(
            x
            for x in (
                f"row {self.row}" if self.row else "",
                f"column '{self.column}'" if self.column else "",
            )
            if x
        )
        text = f"{where}: {self.message}" if where else self.message
        if self.value is not None:
            text += f" (got {self.value[:60]!r})"
        if self.expected:
            text += f"; expected {self.expected}"
        return text

    def to_dict(self) -> dict[str, Any]:
        return {
            "row": self.row,
            "column": self.column,
            "value": self.value,
            "message": self.message,
            "expected": self.expected,
        }


class ImportFailed(InputDataError):
    """An import was refused; ``errors`` lists every bad row (nothing was written)."""

    def __init__(self, source: str, errors: list[RowError], total: int | None = None) -> None:
        self.errors = errors
        self.total = total if total is not None else len(errors)
        first = errors[0]
        more = f" and {self.total - 1} more problem(s)" if self.total > 1 else ""
        super().__init__(
            f"{first.message}{more}; nothing was imported",
            file=source,
            row=first.row,
            column=first.column,
            value=first.value,
            expected=first.expected or None,
        )


# ----------------------------------------------------------------------------- cell parsers
class _Bad(Exception):
    def __init__(self, message: str, expected: str) -> None:
        super().__init__(message)
        self.message = message
        self.expected = expected


Parser = Callable[[str], Any]


def _date(text: str) -> dt.date:
    try:
        d = (
            dt.date.fromisoformat(text.strip()[:10])
            if len(text.strip()) in (10, 19, 20, 25)
            else None
        )
    except ValueError:
        d = None
    if d is None:
        raise _Bad("unparseable date", "an ISO date YYYY-MM-DD")
    if d < EARLIEST or d > LATEST:
        raise _Bad("impossible date", DateRule.expected())
    return d


def _number(
    lo: float, hi: float, *, step: float | None = None, integer: bool = False, lo_open: bool = False
) -> Parser:
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
            raise _Bad(
                "not a yes/no value or lesion count", "true/false, yes/no or a lesion count"
            ) from None
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


def _course(text: str) -> str:
    from smoulder.schema.disease_course import COURSES, canonical_course

    code = canonical_course(text)
    if code is None:
        raise _Bad("unknown disease course", " | ".join(COURSES))
    return code


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
    "people": [
        _Col("subject", _subject, True),
        _Col("name", _text(200)),
        _Col("sex", _choice(("f", "m", "x"))),
        _Col("birth_year", _number(1900, dt.date.today().year, integer=True)),
        _Col("clinician", _text(80)),
        _Col("disease_course", _course),
        _Col("onset_year", _number(1900, dt.date.today().year, integer=True)),
    ],
    "visits": [
        _Col("subject", _subject, True),
        _Col("date", _date, True),
        _Col("edss", EDSS),
        _Col("t25fw", SECONDS_T25FW),
        _Col("nhpt", SECONDS_NHPT),
        _Col("sdmt", SDMT),
    ],
    "relapses": [
        _Col("subject", _subject, True),
        _Col("date", _date, True, "onset_date"),
        _Col("end_date", _date),
    ],
    "treatments": [
        _Col("subject", _subject, True),
        _Col("drug", _text(100, required=True), True),
        _Col("start_date", _date, True),
        _Col("stop_date", _date),
    ],
    "mri": [
        _Col("subject", _subject, True),
        _Col("date", _date, True),
        _Col("active", _active),
        _Col("t2_lesions", _number(0, 100000, integer=True)),
        _Col("new_enlarging", _number(0, 100000, integer=True)),
        _Col("gd_enhancing", _number(0, 100000, integer=True)),
    ],
    "prl": [
        _Col("subject", _subject, True),
        _Col("date", _date, True),
        _Col("label", _label, True),
        _Col("n_voxels", _number(0, 1e9, integer=True)),
        _Col("volume_mm3", _number(0, 1e7)),
        _Col("centroid_x_mm", _finite),
        _Col("centroid_y_mm", _finite),
        _Col("centroid_z_mm", _finite),
        _Col("rim_score", _finite),
        _Col("prl", _bool, True),
    ],
    "sel": [
        _Col("subject", _subject, True),
        _Col("date", _date, True),
        _Col("label", _label, True),
        _Col("volume_mm3", _number(0, 1e7)),
        _Col("centroid_x_mm", _finite),
        _Col("centroid_y_mm", _finite),
        _Col("centroid_z_mm", _finite),
        _Col("expansion_pct_per_year", _finite),
        _Col("concentricity", _finite),
        _Col("constancy", _finite),
        _Col("sel", _choice(SEL_CLASSES), True),
    ],
    "devices": [
        _Col("subject", _subject, True),
        _Col("date", _date, True),
        _Col("measure", _text(64, required=True), True),
        _Col("value", _finite, True),
        _Col("unit", _text(32)),
    ],
    "device_events": [
        _Col("subject", _subject, True),
        _Col("measure", _text(64, required=True), True),
        _Col("onset_date", _date, True),
        _Col("detected_date", _date),
        _Col("baseline_value", _finite),
        _Col("current_value", _finite),
        _Col("change_pct", _finite),
    ],
    "lifestyle": [
        _Col("subject", _subject, True),
        _Col("date", _date, True),
        _Col("exercise_min_week", _number(0, 10080, integer=True)),
        _Col("diet", _choice(DIETS)),
        _Col("smoking", _choice(SMOKING)),
        _Col("alcohol_units_week", _number(0, 300)),
        _Col("sleep_hours", _number(0, 24)),
        _Col("medications", _text(2000)),
        _Col("comorbidities", _text(2000)),
        _Col("notes", _text(2000)),
    ],
}
KEYS: dict[str, tuple[str, ...]] = {
    "people": ("subject",),
    "visits": ("subject", "date"),
    "relapses": ("subject", "date"),
    "treatments": ("subject", "drug", "start_date"),
    "mri": ("subject", "date"),
    "prl": ("subject", "date", "label"),
    "sel": ("subject", "date", "label"),
    "devices": ("subject", "date", "measure"),
    "device_events": ("subject", "measure", "onset_date"),
    "lifestyle": ("subject", "date"),
}
KINDS = tuple(SPECS)
UPLOAD_SUFFIXES = (".csv", ".tsv", ".txt", ".parquet")
#: input-report notes (reason -> rows) of the last :func:`_validate` call are returned with it
STRIPPED_SUBJECTS = "subject ids with spaces around them, stripped"


# ----------------------------------------------------------------------------- reading
def read_upload(data: bytes | IO[bytes], filename: str) -> pd.DataFrame:
    """Read CSV, TSV or Parquet bytes (or an open binary file) into a frame of strings.

    The content is data, never a path (see :func:`smoulder.io.uploads.read_text_table_bytes` for
    the checks: file type, encoding, at most 1,000 columns, no column named twice).

    Raises
    ------
    InputDataError
        If the file type is not supported or the file cannot be parsed.
    """
    from smoulder.io.uploads import read_text_table_bytes

    return read_text_table_bytes(data, filename)


def read_path(path: str | Path) -> pd.DataFrame:
    """Read a CSV/TSV/Parquet file from disk into a frame of strings."""
    from smoulder.io.outputs import check_input_file

    p = check_input_file(path, "file", expected="a .csv, .tsv or .parquet table")
    return read_upload(p.read_bytes(), p.name)


# ----------------------------------------------------------------------------- validation
def _validate(
    kind: str,
    df: pd.DataFrame,
    source: str,
    *,
    rule: DateRule | None = None,
    notes: dict[str, int] | None = None,
) -> list[dict[str, Any]]:
    """Parse every cell; raise :class:`ImportFailed` listing the bad ones.

    ``rule`` is the date rule (:mod:`smoulder.schema.dates`; default: future dates kept). What was
    corrected or left out is counted in ``notes`` (reason -> rows): subject ids stripped of
    spaces, rows dated after today.
    """
    rule = rule or DateRule()
    last_ok = rule.last_ok
    future_rows: set[int] = set()
    stripped = 0
    spec = SPECS[kind]
    cols = list(df.columns)
    errors: list[RowError] = []
    total = 0
    if len(cols) > MAX_COLUMNS:
        raise ImportFailed(
            source,
            [
                RowError(
                    1,
                    None,
                    None,
                    f"the table has {len(cols):,} columns",
                    f"at most {MAX_COLUMNS:,} columns",
                )
            ],
        )
    first: dict[str, int] = {}
    for i, c in enumerate(cols, start=1):
        if c in first:
            raise ImportFailed(
                source,
                [
                    RowError(
                        1,
                        c,
                        None,
                        f"column appears twice (columns {first[c]} and {i})",
                        "each column name once; rename or remove one of them",
                    )
                ],
            )
        first[c] = i
    missing = [c.name for c in spec if c.required and c.name not in cols]
    if missing:
        raise ImportFailed(
            source,
            [
                RowError(
                    1,
                    m,
                    None,
                    "required column missing",
                    "columns " + ", ".join(c.name for c in spec if c.required),
                )
                for m in missing
            ],
        )
    if len(df) == 0:
        raise ImportFailed(
            source,
            [RowError(None, None, None, "no data rows", "a header row and at least one data row")],
        )
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
                        errors.append(
                            RowError(i + 2, c.name, raw, "required value missing", "a value")
                        )
                rec[c.name] = None
                continue
            try:
                value = c.parse(raw)
            except _Bad as bad:
                total += 1
                if len(errors) < MAX_REPORTED_ERRORS:
                    errors.append(RowError(i + 2, c.name, raw, bad.message, bad.expected))
                rec[c.name] = None
                continue
            if c.parse is _subject and value != raw:
                stripped += 1
            elif c.name in EVENT_DATE_COLUMNS and c.parse is _date and value > last_ok:
                if rule.future == "refuse":
                    total += 1
                    if len(errors) < MAX_REPORTED_ERRORS:
                        errors.append(
                            RowError(
                                i + 2,
                                c.name,
                                raw,
                                "date in the future",
                                f"a date up to {last_ok} (future dates refused)",
                            )
                        )
                future_rows.add(i + 2)
            rec[c.name] = value
        out.append(rec)
    if notes is not None:
        if stripped:
            notes[STRIPPED_SUBJECTS] = notes.get(STRIPPED_SUBJECTS, 0) + stripped
        if future_rows and rule.future != "refuse":
            reason = rule.future_reason("rows")
            notes[reason] = notes.get(reason, 0) + len(future_rows)
    if future_rows and rule.future == "drop":
        out = [r for r in out if r["_row"] not in future_rows]
    # cross-field checks
    for rec in out:
        row = rec["_row"]
        problems: list[RowError] = []
        if (
            kind == "visits"
            and all(rec.get(k) is None for k in ("edss", "t25fw", "nhpt", "sdmt"))
            and not any(e.row == row for e in errors)
        ):
            problems.append(
                RowError(
                    row,
                    None,
                    None,
                    "no score in this row",
                    "at least one of edss, t25fw, nhpt, sdmt",
                )
            )
        if (
            kind == "people"
            and rec.get("onset_year") is not None
            and rec.get("birth_year") is not None
            and rec["onset_year"] < rec["birth_year"]
        ):
            problems.append(
                RowError(
                    row,
                    "onset_year",
                    str(rec["onset_year"]),
                    "onset_year before birth_year",
                    f"a year from {rec['birth_year']} (the birth year) on",
                )
            )
        for start, stop in (
            ("date", "end_date"),
            ("start_date", "stop_date"),
            ("onset_date", "detected_date"),
        ):
            if rec.get(start) and rec.get(stop) and rec[stop] < rec[start]:
                problems.append(
                    RowError(
                        row,
                        stop,
                        str(rec[stop]),
                        f"{stop} before {start}",
                        f"a date on or after {start}",
                    )
                )
        total += len(problems)
        errors.extend(problems[: max(0, MAX_REPORTED_ERRORS - len(errors))])
    if total:
        raise ImportFailed(source, errors, total)
    return out


def _dedupe(
    kind: str, records: list[dict[str, Any]], source: str
) -> tuple[list[dict[str, Any]], int]:
    key_cols = KEYS[kind]
    seen: dict[tuple, dict[str, Any]] = {}
    errors: list[RowError] = []
    merged = 0
    for rec in records:
        key = tuple(rec[k] for k in key_cols)
        if key in seen:
            first = seen[key]
            if {k: v for k, v in first.items() if k != "_row"} == {
                k: v for k, v in rec.items() if k != "_row"
            }:
                merged += 1
                continue
            errors.append(
                RowError(
                    rec["_row"],
                    ", ".join(key_cols),
                    " / ".join(map(str, key)),
                    f"conflicts with row {first['_row']} (same {', '.join(key_cols)}, different values)",
                    "one row per " + ", ".join(key_cols),
                )
            )
        else:
            seen[key] = rec
    if errors:
        raise ImportFailed(source, errors[:MAX_REPORTED_ERRORS], len(errors))
    return list(seen.values()), merged


# FHIR bundles and Apple Health exports become the devices table (see smoulder.io.uploads)
from smoulder.io.uploads import EXPORT_KINDS, device_export_frame  # noqa: E402, F401
