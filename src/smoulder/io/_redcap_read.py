"""Reading the fields of a REDCap export row by row (part of :mod:`smoulder.io.redcap`)."""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

import numpy as np
import pandas as pd

from smoulder.exceptions import InputDataError
from smoulder.io.ingest import IngestReport
from smoulder.io.redcap_mapping import Mapping
from smoulder.schema.dates import DateRule


def _norm(text: str) -> str:
    return re.sub(r"[^0-9a-z]+", "_", str(text).strip().lower()).strip("_")


def _date(text: str, validation: str) -> dt.date | None:
    t = text.strip()
    m = re.match(r"^(\d{4})-(\d{1,2})-(\d{1,2})", t)
    try:
        if m:
            return dt.date(int(m.group(1)), int(m.group(2)), int(m.group(3)))
        m = re.match(r"^(\d{1,2})[-/.](\d{1,2})[-/.](\d{4})", t)
        if m and validation.endswith("dmy"):
            return dt.date(int(m.group(3)), int(m.group(2)), int(m.group(1)))
        if m and validation.endswith("mdy"):
            return dt.date(int(m.group(3)), int(m.group(1)), int(m.group(2)))
        m = re.match(r"^(\d{4})/(\d{1,2})/(\d{1,2})", t)
        if m:
            return dt.date(int(m.group(1)), int(m.group(2)), int(m.group(3)))
    except ValueError:
        return None
    return None


_FORM_TEXT = {"dmy": "DD-MM-YYYY", "mdy": "MM-DD-YYYY", "ymd": "YYYY-MM-DD"}


class _Reader:
    def __init__(self, ex: Any, m: Mapping, rule: DateRule, report: IngestReport) -> None:
        self.ex, self.m, self.rule, self.report = ex, m, rule, report
        self.subject = ex.values(m.subject)
        inst = (
            ex.values("redcap_repeat_instrument")
            if ex.has("redcap_repeat_instrument")
            else [None] * len(ex.df)
        )
        self.instrument = [None if v is None else _norm(v) for v in inst]

    def rows_of(self, sec: str) -> np.ndarray:
        """Rows a section reads: its date (first key) filled, and its form when one is named."""
        first = next(iter(self.m.sections[sec].values()))
        filled = np.array([v is not None for v in self.ex.values(first)], dtype=bool)
        form = self.m.forms.get(sec)
        if form is not None:
            f = _norm(form)
            label = _norm(next((x.form for x in self.ex.d.fields.values() if x.form == form), form))
            filled &= np.array([i is None or i in (f, label) for i in self.instrument], dtype=bool)
        return np.flatnonzero(filled)

    def dates(self, sec: str, key: str, idx: np.ndarray, required: bool) -> np.ndarray:
        field = self.m.sections[sec][key]
        f = self.ex.d.fields[field]
        vals = self.ex.values(field)
        out = np.full(len(idx), np.datetime64("NaT"), dtype="datetime64[D]")
        lo, hi, last = self.rule.bounds()
        for j, i in enumerate(idx):
            v = vals[i]
            if v is None:
                if required:
                    raise InputDataError(
                        "missing date",
                        file=self.ex.source,
                        row=int(self.ex.rows[i]),
                        column=self.ex.column_name(field),
                        expected="a date",
                    )
                continue
            d = _date(v, f.validation)
            if d is None:
                form = _FORM_TEXT.get(f.validation[-3:], "YYYY-MM-DD")
                raise InputDataError(
                    f"not a date of {f.validation}",
                    file=self.ex.source,
                    row=int(self.ex.rows[i]),
                    column=self.ex.column_name(field),
                    value=v,
                    expected=f"YYYY-MM-DD (as REDCap exports) or {form}",
                )
            n = (d - dt.date(1970, 1, 1)).days
            if n < lo or n > hi:
                raise InputDataError(
                    "impossible date",
                    file=self.ex.source,
                    row=int(self.ex.rows[i]),
                    column=self.ex.column_name(field),
                    value=v,
                    expected=DateRule.expected(),
                )
            if n > last and self.rule.future == "refuse":
                raise InputDataError(
                    "date after today",
                    file=self.ex.source,
                    row=int(self.ex.rows[i]),
                    column=self.ex.column_name(field),
                    value=v,
                    expected="dates up to today, or --future-dates warn|drop",
                )
            out[j] = np.datetime64(d, "D")
        return out

    def numbers(self, sec: str, key: str, idx: np.ndarray) -> np.ndarray:
        field = self.m.sections[sec][key]
        f = self.ex.d.fields[field]
        cm = self.m.choices.get(sec, {}).get(key)
        vals = self.ex.values(field)
        out = np.full(len(idx), np.nan)
        for j, i in enumerate(idx):
            v = vals[i]
            if v is None:
                continue
            if f.type in ("dropdown", "radio"):
                code = (
                    v
                    if v in f.choices
                    else next((c for c, lab in f.choices.items() if lab == v), None)
                )
                if code is None:
                    raise InputDataError(
                        f"not a choice of {field}",
                        file=self.ex.source,
                        row=int(self.ex.rows[i]),
                        column=self.ex.column_name(field),
                        value=v,
                        expected="one of "
                        + ", ".join(f"{c} ({lab})" for c, lab in f.choices.items()),
                    )
                v = str(cm[code]) if cm is not None and code in cm else f.choices[code]
            try:
                out[j] = float(v.replace(",", ".") if "comma" in f.validation else v)
            except ValueError:
                raise InputDataError(
                    "not a number",
                    file=self.ex.source,
                    row=int(self.ex.rows[i]),
                    column=self.ex.column_name(field),
                    value=v,
                    expected="a number",
                ) from None
        return out

    def choice_values(self, sec: str, key: str, idx: np.ndarray) -> list[Any]:
        """Text of a field, choice codes translated (mapping, else the choice label)."""
        field = self.m.sections[sec][key]
        f = self.ex.d.fields[field]
        cm = self.m.choices.get(sec, {}).get(key)
        vals = self.ex.values(field)
        out: list[Any] = []
        for i in idx:
            v = vals[i]
            if v is not None and f.choices:
                code = (
                    v
                    if v in f.choices
                    else next((c for c, lab in f.choices.items() if lab == v), None)
                )
                if code is None:
                    raise InputDataError(
                        f"not a choice of {field}",
                        file=self.ex.source,
                        row=int(self.ex.rows[i]),
                        column=self.ex.column_name(field),
                        value=v,
                        expected="one of "
                        + ", ".join(f"{c} ({lab})" for c, lab in f.choices.items()),
                    )
                v = cm[code] if cm is not None and code in cm else f.choices[code]
            out.append(v)
        return out

    def flags(self, sec: str, key: str, idx: np.ndarray) -> list[bool | None]:
        field = self.m.sections[sec][key]
        f = self.ex.d.fields[field]
        cm = self.m.choices.get(sec, {}).get(key, {})
        if f.type == "checkbox":
            boxes = self.ex.checkbox(field)
            return [
                any(bool(cm.get(code, False)) and boxes[code][i] for code in boxes) for i in idx
            ]
        if f.type in ("yesno", "truefalse") and not cm:
            cm = {"1": True, "0": False}
        if f.type in ("text", "calc"):
            return [None if np.isnan(x) else bool(x > 0) for x in self.numbers(sec, key, idx)]
        out: list[bool | None] = []
        for v in (
            self.choice_values(sec, key, idx)
            if f.type in ("dropdown", "radio")
            else [self.ex.values(field)[i] for i in idx]
        ):
            if v is None:
                out.append(None)
            elif isinstance(v, bool):
                out.append(v)
            else:
                code = str(v)
                label_code = next((c for c, lab in f.choices.items() if lab == code), code)
                out.append(bool(cm.get(label_code, cm.get(code, False))))
        return out


def _check_outcomes(
    df: pd.DataFrame, rows: np.ndarray, source: str, columns: dict[str, str], report: IngestReport
) -> None:
    from smoulder.io._columns import _check_values

    for o, col in columns.items():
        v = df[o].to_numpy(dtype=float)
        ok = ~np.isnan(v)
        if ok.any():
            _check_values(v[ok], rows[ok], o, source, col, report)
