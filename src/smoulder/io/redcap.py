"""REDCap in: the flat CSV export with its data dictionary, through a mapping file written once.

The export may have raw headers (field names) or label headers (field labels), raw values
(choice codes) or labels; repeated instruments (``redcap_repeat_instrument``,
``redcap_repeat_instance``), longitudinal events (``redcap_event_name``) and checkbox columns
(``field___1``) are understood. Dates are read as ISO ``YYYY-MM-DD`` (how REDCap exports them) or
in the field's own validation format (``date_dmy``, ``date_mdy``, ``datetime_*``) as a re-saved
spreadsheet writes them. The mapping (TOML, docs/redcap.md) says which fields are the subject,
the visit date and the outcomes, relapses, treatments, MRI activity and people, and how choice
codes translate; :func:`read_mapping` checks it against the dictionary before any data is read.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from smoulder.exceptions import InputDataError
from smoulder.io._redcap_read import _check_outcomes, _norm, _Reader
from smoulder.io.ingest import IngestReport
from smoulder.io.redcap_mapping import (
    Dictionary,
    Field,
    Mapping,
    _read_csv,
    read_dictionary,
    read_mapping,
)
from smoulder.schema.dates import DateRule
from smoulder.schema.treatments import canonical_treatment

_SPECIAL = {
    "redcap_event_name": "Event Name",
    "redcap_repeat_instrument": "Repeat Instrument",
    "redcap_repeat_instance": "Repeat Instance",
    "redcap_data_access_group": "Data Access Group",
}


# ----------------------------------------------------------------------------- the export
@dataclass
class RedcapImport:
    """The smoulder tables read from a REDCap export, and the input report."""

    visits: pd.DataFrame
    relapses: pd.DataFrame
    treatments: pd.DataFrame
    mri: pd.DataFrame
    people: pd.DataFrame
    report: IngestReport

    def tables(self) -> dict[str, pd.DataFrame]:
        return {
            "visits": self.visits,
            "relapses": self.relapses,
            "treatments": self.treatments,
            "mri": self.mri,
            "people": self.people,
        }


class _Export:
    """The export's columns resolved to field names (raw or label headers)."""

    def __init__(self, df: pd.DataFrame, d: Dictionary, source: str) -> None:
        self.df = df
        self.d = d
        self.source = source
        cols = list(df.columns)
        self.raw = d.record_id in cols
        self.col: dict[str, str] = {}  # field or field___code -> column
        if self.raw:
            for c in cols:
                self.col[c] = c
        else:
            by_label: dict[str, list[str]] = {}
            for f in d.fields.values():
                by_label.setdefault(f.label.strip(), []).append(f.name)
            for special, label in _SPECIAL.items():
                by_label.setdefault(label, []).append(special)
            for c in cols:
                m = re.match(r"^(.*) \(choice=(.*)\)$", c.strip())
                if m:
                    names = [
                        n
                        for n in by_label.get(m.group(1).strip(), [])
                        if d.fields.get(n) and d.fields[n].type == "checkbox"
                    ]
                    if names:
                        f = d.fields[names[0]]
                        code = next(
                            (k for k, v in f.choices.items() if v == m.group(2).strip()), None
                        )
                        if code is not None:
                            self.col[f"{f.name}___{code}"] = c
                    continue
                names = by_label.get(c.strip(), [])
                if len(names) == 1:
                    self.col[names[0]] = c
        if d.record_id not in self.col:
            raise InputDataError(
                f"neither the record id field {d.record_id!r} nor its label {d.fields[d.record_id].label!r} is a column",
                file=source,
                expected="the export of the project whose dictionary was given (raw or label headers)",
            )
        self.rows = np.arange(len(df)) + 2

    def values(self, field: str) -> list[Any]:
        c = self.col.get(field)
        if c is None:
            raise InputDataError(
                f"no column for the field {field!r}"
                + (
                    ""
                    if self.raw
                    else f" (label {self.d.fields[field].label!r})"
                    if field in self.d.fields
                    else ""
                ),
                file=self.source,
                expected="an export that includes every field the mapping names",
            )
        return [
            None if v is None or str(v).strip() == "" else str(v).strip()
            for v in self.df[c].tolist()
        ]

    def has(self, field: str) -> bool:
        return field in self.col

    def checkbox(self, field: str) -> dict[str, list[bool]]:
        f = self.d.fields[field]
        out = {}
        for code in f.choices:
            c = self.col.get(f"{field}___{code}") or self.col.get(f"{field}___{_norm(code)}")
            if c is None:
                raise InputDataError(
                    f"no column for the checkbox {field}___{code}",
                    file=self.source,
                    expected="the export's checkbox columns field___code",
                )
            out[code] = [str(v).strip().lower() in ("1", "checked") for v in self.df[c].tolist()]
        return out

    def column_name(self, field: str) -> str:
        return self.col.get(field, field)


def _frame(cols: dict[str, Any], by: list[str]) -> pd.DataFrame:
    df = pd.DataFrame(cols)
    return df.sort_values(by, kind="stable").reset_index(drop=True) if len(df) else df


def read_redcap(
    path: str | Path,
    dictionary: Dictionary,
    mapping: Mapping,
    *,
    future_dates: str | DateRule = "warn",
    on_missing: str = "drop",
) -> RedcapImport:
    """Read a REDCap CSV export into smoulder's tables (the same as :func:`smoulder.io.omop.read_omop`).

    ``on_missing``: visits (rows with a visit date) without any outcome value are left out and
    counted (``drop``, default: REDCap rows of other instruments share the record) or refused.
    """
    from smoulder.io.outputs import check_input_file

    p = check_input_file(path, "export", expected="a REDCap CSV export")
    rule = future_dates if isinstance(future_dates, DateRule) else DateRule(future_dates)
    df = _read_csv(p, "REDCap export")
    report = IngestReport(source=str(p), rows_read=len(df))
    ex = _Export(df, dictionary, str(p))
    r = _Reader(ex, mapping, rule, report)
    subj = np.array(r.subject, dtype=object)
    if any(s is None for s in subj):
        i = next(i for i, s in enumerate(subj) if s is None)
        raise InputDataError(
            "empty record id",
            file=str(p),
            row=int(ex.rows[i]),
            column=ex.column_name(mapping.subject),
            expected="a record id on every row",
        )
    last = np.datetime64(rule.last_ok, "D")

    def future(d: np.ndarray, what: str) -> np.ndarray:
        fut = ~np.isnat(d) & (d > last)
        if fut.any():
            report.add(rule.future_reason(what), int(fut.sum()), rejected=rule.future == "drop")
            if rule.future == "drop":
                return ~fut
        return np.ones(len(d), dtype=bool)

    # visits
    sec = mapping.sections["visits"]
    idx = r.rows_of("visits")
    vd = r.dates("visits", "date", idx, True)
    outs = [k for k in ("edss", "t25fw", "nhpt", "sdmt") if k in sec]
    vals = {k: r.numbers("visits", k, idx) for k in outs}
    for k in outs:
        if mapping.units.get(k) == "min":
            vals[k] = vals[k] * 60.0
    none = (
        np.all(np.isnan(np.vstack([vals[k] for k in outs])), axis=0)
        if len(idx)
        else np.zeros(0, dtype=bool)
    )
    if none.any():
        if on_missing == "error":
            i = idx[np.flatnonzero(none)[0]]
            raise InputDataError(
                "visit without any outcome value",
                file=str(p),
                row=int(ex.rows[i]),
                column=ex.column_name(sec[outs[0]]),
                expected="a value, or --on-missing drop",
            )
        report.add("visit dates without any outcome value left out", int(none.sum()), rejected=True)
    keep = ~none & future(vd, "visits")
    visits = _frame(
        {
            "subject": subj[idx][keep],
            "date": vd[keep].astype("datetime64[s]"),
            **{k: vals[k][keep] for k in outs},
        },
        ["subject", "date"],
    )
    order = np.lexsort((vd[keep], subj[idx][keep].astype(str)))
    if len(visits):
        _check_outcomes(
            visits,
            np.asarray(ex.rows[idx][keep])[order],
            str(p),
            {k: ex.column_name(sec[k]) for k in outs},
            report,
        )
    dup = visits.duplicated(["subject", "date"], keep=False)
    if dup.any():
        same = visits.duplicated()
        report.add("identical visits on one day merged", int(same.sum()), corrected=True)
        visits = visits.loc[~same].reset_index(drop=True)
        if visits.duplicated(["subject", "date"]).any():
            s, d = visits.loc[visits.duplicated(["subject", "date"]), ["subject", "date"]].iloc[0]
            raise InputDataError(
                f"two different visits of record {s} on {pd.Timestamp(d).date()}",
                file=str(p),
                column=ex.column_name(sec["date"]),
                expected="one visit per record and day (merge them in REDCap)",
            )
    empty: dict[str, list[Any]] = {"subject": [], "date": []}
    # relapses
    relapses = pd.DataFrame({**empty, "end_date": []})
    if "relapses" in mapping.sections:
        idx = r.rows_of("relapses")
        on = r.dates("relapses", "onset", idx, True)
        end = (
            r.dates("relapses", "end", idx, False)
            if "end" in mapping.sections["relapses"]
            else np.full(len(idx), np.datetime64("NaT"), dtype="datetime64[D]")
        )
        bad = ~np.isnat(end) & (end < on)
        if bad.any():
            i = idx[np.flatnonzero(bad)[0]]
            raise InputDataError(
                "relapse ends before it starts",
                file=str(p),
                row=int(ex.rows[i]),
                column=ex.column_name(mapping.sections["relapses"]["end"]),
                expected="an end on or after the onset",
            )
        kept = future(on, "relapses")
        relapses = (
            _frame(
                {
                    "subject": subj[idx][kept],
                    "date": on[kept].astype("datetime64[s]"),
                    "end_date": end[kept].astype("datetime64[s]"),
                },
                ["subject", "date"],
            )
            .drop_duplicates(["subject", "date"])
            .reset_index(drop=True)
        )
    # treatments
    treatments = pd.DataFrame({"subject": [], "drug": [], "start_date": [], "stop_date": []})
    if "treatments" in mapping.sections:
        sec = mapping.sections["treatments"]
        idx = r.rows_of("treatments")
        start = r.dates("treatments", "start", idx, True)
        stop = (
            r.dates("treatments", "stop", idx, False)
            if "stop" in sec
            else np.full(len(idx), np.datetime64("NaT"), dtype="datetime64[D]")
        )
        drugs = r.choice_values("treatments", "drug", idx)
        names = []
        for j, d in enumerate(drugs):
            if d is None:
                raise InputDataError(
                    "treatment without a drug",
                    file=str(p),
                    row=int(ex.rows[idx[j]]),
                    column=ex.column_name(sec["drug"]),
                    expected="the therapy's name or choice",
                )
            t = canonical_treatment(str(d))
            names.append(t.name if t is not None else str(d))
        bad = ~np.isnat(stop) & (stop < start)
        if bad.any():
            i = idx[np.flatnonzero(bad)[0]]
            raise InputDataError(
                "treatment stops before it starts",
                file=str(p),
                row=int(ex.rows[i]),
                column=ex.column_name(sec["stop"]),
                expected="a stop date on or after the start",
            )
        kept = future(start, "treatments")
        treatments = _frame(
            {
                "subject": subj[idx][kept],
                "drug": np.array(names, dtype=object)[kept] if names else [],
                "start_date": start[kept].astype("datetime64[s]"),
                "stop_date": stop[kept].astype("datetime64[s]"),
            },
            ["subject", "start_date", "drug"],
        )
    # MRI
    mri = pd.DataFrame({**empty, "active": []})
    if "mri" in mapping.sections:
        sec = mapping.sections["mri"]
        idx = r.rows_of("mri")
        md = r.dates("mri", "date", idx, True)
        cols: dict[str, Any] = {}
        for key, col in (("new_t2", "new_or_enlarging_t2"), ("gd", "gd_enhancing")):
            if key in sec:
                v = r.numbers("mri", key, idx)
                bad = ~np.isnan(v) & ((v < 0) | (v != np.round(v)))
                if bad.any():
                    i = idx[np.flatnonzero(bad)[0]]
                    raise InputDataError(
                        "not a lesion count",
                        file=str(p),
                        row=int(ex.rows[i]),
                        column=ex.column_name(sec[key]),
                        value=float(v[np.flatnonzero(bad)[0]]),
                        expected="a whole number of lesions, 0 or more",
                    )
                cols[col] = pd.array([None if np.isnan(x) else int(x) for x in v], dtype="Int64")
        if "active" in sec:
            act = r.flags("mri", "active", idx)
        else:
            act = [None] * len(idx)
        derived = [
            a
            if a is not None
            else (
                any(int(cols[c][j]) > 0 for c in cols if not pd.isna(cols[c][j]))
                if any(not pd.isna(cols[c][j]) for c in cols)
                else None
            )
            for j, a in enumerate(act)
        ]
        unknown = np.array([a is None for a in derived], dtype=bool)
        if unknown.any():
            report.add(
                "MRI scans without an activity finding left out", int(unknown.sum()), rejected=True
            )
        kept = ~unknown & future(md, "MRI scans")
        mri = _frame(
            {
                "subject": subj[idx][kept],
                "date": md[kept].astype("datetime64[s]"),
                "active": np.array([bool(a) for a in derived], dtype=bool)[kept]
                if len(derived)
                else [],
                **{c: v[kept] for c, v in cols.items()},
            },
            ["subject", "date"],
        )
    # people
    people = pd.DataFrame({"subject": [], "sex": [], "birth_year": []})
    if "people" in mapping.sections:
        sec = mapping.sections["people"]
        first = next(iter(sec.values()))
        idx = np.array([i for i, v in enumerate(ex.values(first)) if v is not None], dtype=np.int64)
        sex: list[Any] = [None] * len(idx)
        if "sex" in sec:
            sex = []
            for j, v in enumerate(r.choice_values("people", "sex", idx)):
                low = None if v is None else str(v).strip().lower()
                low = {"female": "f", "male": "m", "woman": "f", "man": "m"}.get(low or "", low)
                if low not in (None, "f", "m", "x"):
                    raise InputDataError(
                        "unknown sex",
                        file=str(p),
                        row=int(ex.rows[idx[j]]),
                        column=ex.column_name(sec["sex"]),
                        value=v,
                        expected="f, m or x (map choice codes with [people] sex_choices)",
                    )
                sex.append(low)
        yob: list[Any] = [None] * len(idx)
        if "birth_year" in sec:
            yob = [None if np.isnan(x) else int(x) for x in r.numbers("people", "birth_year", idx)]
        elif "birth_date" in sec:
            yob = [
                None if np.isnat(d) else int(str(d)[:4])
                for d in r.dates("people", "birth_date", idx, False)
            ]
        people = (
            _frame(
                {
                    "subject": subj[idx],
                    "sex": pd.array(sex, dtype="string"),
                    "birth_year": pd.array(yob, dtype="Int64"),
                },
                ["subject"],
            )
            .drop_duplicates("subject")
            .reset_index(drop=True)
        )
    report.rows_used = len(visits) + len(relapses) + len(treatments) + len(mri)
    return RedcapImport(visits, relapses, treatments, mri, people, report)


__all__ = [
    "Dictionary",
    "Field",
    "Mapping",
    "RedcapImport",
    "read_dictionary",
    "read_mapping",
    "read_redcap",
]
