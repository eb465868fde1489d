"""Reading and checking import tables: every cell parsed, every problem reported with its row.

Nothing here touches the database; :mod:`smoulder.store.importer` writes what passes.
"""

from __future__ import annotations

import datetime as dt
import io
import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from smoulder.exceptions import InputDataError

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
    if d < MIN_DATE or d > dt.date.today() + dt.timedelta(days=1):
        raise _Bad("date out of range", f"a date between {MIN_DATE} and today")
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
    "mri": [_Col("subject", _subject, True), _Col("date", _date, True), _Col("active", _active)],
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
        raise InputDataError(
            "unsupported file type",
            file=name,
            value=suffix or "(none)",
            expected="a .csv, .tsv or .parquet file",
        )
    if suffix == ".parquet":
        import pyarrow.parquet as pq

        try:
            df = pq.read_table(io.BytesIO(data)).to_pandas()
        except Exception as exc:  # noqa: BLE001 - any parse failure is the user's file
            raise InputDataError(
                f"not a readable Parquet file ({type(exc).__name__})",
                file=name,
                expected="a Parquet file",
            ) from None
        for c in df.columns:
            s = df[c]
            if pd.api.types.is_datetime64_any_dtype(s):
                df[c] = s.dt.strftime("%Y-%m-%d")
        return df.astype(object).where(df.notna(), "").astype(str)
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise InputDataError(
            "file is not UTF-8 text", file=name, expected="a UTF-8 CSV/TSV file"
        ) from None
    if "\x00" in text:
        raise InputDataError(
            "file contains NUL bytes (binary?)", file=name, expected="a UTF-8 CSV/TSV file"
        )
    sep = "\t" if suffix == ".tsv" or (suffix == ".txt" and "\t" in text.split("\n", 1)[0]) else ","
    try:
        df = pd.read_csv(
            io.StringIO(text),
            sep=sep,
            dtype=str,
            keep_default_na=False,
            na_filter=False,
            skipinitialspace=True,
        )
    except Exception as exc:  # noqa: BLE001
        raise InputDataError(
            f"cannot parse the table ({str(exc).splitlines()[0][:120]})",
            file=name,
            expected="a header row and rows with the same number of fields",
        ) from None
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
        raise ImportFailed(
            source, [RowError(1, dup[0], None, "column appears twice", "unique column names")]
        )
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


EXPORT_KINDS = ("fhir", "apple_health")


def device_export_frame(
    kind: str, data: bytes, filename: str, subject: str | None = None
) -> pd.DataFrame:
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
            raise InputDataError(
                "unknown export kind", value=kind, expected=" | ".join(EXPORT_KINDS)
            )
    except ImportError:
        raise InputDataError(
            f"reading {kind} exports needs the digital readers (smoulder.io.{kind}), which "
            "are not installed",
            file=name,
        ) from None
    if kind == "fhir":
        if suffix != ".json":
            raise InputDataError(
                "unsupported file type",
                file=name,
                value=suffix,
                expected="a FHIR bundle .json file",
            )
        try:
            bundle = json.loads(data.decode("utf-8-sig"))
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise InputDataError(
                f"not valid JSON ({type(exc).__name__})",
                file=name,
                expected="a FHIR R4 Bundle in JSON",
            ) from None
        df, _ = read_fhir(bundle, subject=subject or None)
    else:
        if suffix not in (".zip", ".xml"):
            raise InputDataError(
                "unsupported file type",
                file=name,
                value=suffix,
                expected="export.zip or export.xml from the Health app",
            )
        if not subject:
            raise InputDataError(
                "an Apple Health export carries no id: give the subject",
                file=name,
                expected="the person's clinic id",
            )
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / f"export{suffix}"
            path.write_bytes(data)
            df, _ = read_apple_health(path, subject)
    out = pd.DataFrame(
        {
            "subject": df["subject"].astype(str),
            "date": pd.to_datetime(df["date"]).dt.strftime("%Y-%m-%d"),
            "measure": df["measure"].astype(str),
            "value": df["value"].astype(float).map(repr),
            "unit": df["unit"].astype(str) if "unit" in df else "",
        }
    )
    return out
