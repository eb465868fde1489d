"""The CDM reader: persons and measurements (part of :mod:`smoulder.io.omop`)."""

from __future__ import annotations

from collections import Counter
from typing import Any

import numpy as np
import pandas as pd

from smoulder.exceptions import InputDataError
from smoulder.io._omop_events import _Events
from smoulder.io.ingest import IngestReport
from smoulder.io.omop_common import SOURCE_VALUES
from smoulder.io.omop_common import sorted_rows as _sorted
from smoulder.io.omop_tables import CdmSource, parse_dates, parse_ints, parse_numbers
from smoulder.schema import omop_concepts as C
from smoulder.schema.dates import DateRule

_SECONDS_UNITS = {"s", "sec", "secs", "second", "seconds"}
_MINUTE_UNITS = {"min", "mins", "minute", "minutes"}


class _Reader(_Events):
    def __init__(
        self,
        source: CdmSource,
        concepts: Any,
        subject_from: str,
        rule: DateRule,
        on_missing: str,
    ) -> None:
        self.src = source
        self.concepts = concepts
        self.subject_from = subject_from
        self.rule = rule
        self.on_missing = on_missing
        self.report = IngestReport(source="OMOP CDM")
        self.skipped: dict[str, Counter[int]] = {}

    # ------------------------------------------------------------------ helpers
    def load(self, name: str) -> pd.DataFrame | None:
        """A CDM table with each row's number in its source (``__row__``) kept through filters."""
        df = self.src.table(name)
        if df is not None:
            df["__row__"] = np.arange(len(df), dtype=np.int64) + self.src.first_row
        return df

    def rows(self, df: pd.DataFrame) -> np.ndarray:
        if "__row__" in df.columns:
            return df["__row__"].to_numpy(dtype=np.int64)
        return np.arange(len(df), dtype=np.int64) + self.src.first_row

    def need(self, df: pd.DataFrame, table: str, cols: tuple[str, ...]) -> None:
        from smoulder.io._columns import missing_column

        for c in cols:
            if c not in df.columns:
                raise missing_column(f"CDM {table}", c, list(df.columns), self.src.label(table))

    def col(self, df: pd.DataFrame, name: str) -> list[Any]:
        return df[name].tolist() if name in df.columns else [None] * len(df)

    def dates(
        self, df: pd.DataFrame, table: str, date_col: str, datetime_col: str | None
    ) -> np.ndarray:
        label = self.src.label(table)
        rows = self.rows(df)
        d = parse_dates(self.col(df, date_col), rows, label, date_col)
        if datetime_col and datetime_col in df.columns:
            dt_ = parse_dates(self.col(df, datetime_col), rows, label, datetime_col)
            d = np.where(np.isnat(d), dt_, d)
        return d

    def check_range(self, days: np.ndarray, rows: np.ndarray, label: str, column: str) -> None:
        """The one date rule: impossible dates refused; dates after today by --future-dates."""
        lo, hi, last = self.rule.bounds()
        ok = ~np.isnat(days)
        n = days.astype("datetime64[D]").astype(np.int64)
        bad = ok & ((n < lo) | (n > hi))
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            raise InputDataError(
                "impossible date",
                file=label,
                row=int(rows[i]),
                column=column,
                value=str(days[i]),
                expected=DateRule.expected(),
            )
        fut = ok & (n > last)
        if fut.any() and self.rule.future == "refuse":
            i = int(np.flatnonzero(fut)[0])
            raise InputDataError(
                "date after today",
                file=label,
                row=int(rows[i]),
                column=column,
                value=str(days[i]),
                expected="dates up to today, or --future-dates warn|drop",
            )

    def future(self, days: np.ndarray, what: str) -> np.ndarray:
        """Rows dated after today: counted (and left out under --future-dates drop)."""
        n = days.astype("datetime64[D]").astype(np.int64)
        fut = ~np.isnat(days) & (n > self.rule.bounds()[2])
        if fut.any():
            k = int(fut.sum())
            if self.rule.future == "drop":
                self.report.add(self.rule.future_reason(what), k, rejected=True)
                return fut
            self.report.add(f"{what} dated after today (kept)", k)
        return np.zeros(len(days), dtype=bool)

    def skip(self, table: str, concept_ids: np.ndarray) -> None:
        if len(concept_ids):
            self.skipped.setdefault(table, Counter()).update(int(x) for x in concept_ids)

    # ------------------------------------------------------------------ persons
    def persons(self) -> tuple[dict[int, str], pd.DataFrame]:
        df = self.load("person")
        label = self.src.label("person")
        if df is None:
            raise InputDataError(
                "no PERSON table",
                file=label,
                expected="a CDM extract with person.csv (or .tsv, .parquet) beside the other tables",
            )
        self.need(df, "person", ("person_id",))
        rows = self.rows(df)
        pid = parse_ints(df["person_id"], rows, label, "person_id")
        if (pid < 0).any():
            i = int(np.flatnonzero(pid < 0)[0])
            raise InputDataError(
                "missing person_id",
                file=label,
                row=int(rows[i]),
                column="person_id",
                expected="an integer id on every PERSON row",
            )
        dup = pd.Series(pid).duplicated().to_numpy()
        if dup.any():
            i = int(np.flatnonzero(dup)[0])
            raise InputDataError(
                "person_id given twice",
                file=label,
                row=int(rows[i]),
                column="person_id",
                value=int(pid[i]),
                expected="one PERSON row per person_id",
            )
        if self.subject_from == "person_source_value":
            self.need(df, "person", ("person_source_value",))
            subj = [None if v is None else str(v).strip() for v in df["person_source_value"]]
            for i, s in enumerate(subj):
                if not s:
                    raise InputDataError(
                        "empty person_source_value",
                        file=label,
                        row=int(rows[i]),
                        column="person_source_value",
                        expected="a subject id on every PERSON row, or --subject-from person_id",
                    )
            if len(set(subj)) < len(subj):
                seen: set[str] = set()
                for i, s in enumerate(subj):
                    if s in seen:
                        raise InputDataError(
                            "person_source_value given twice",
                            file=label,
                            row=int(rows[i]),
                            column="person_source_value",
                            value=s,
                            expected="one subject id per person, or --subject-from person_id",
                        )
                    seen.add(s or "")
        else:
            subj = [str(int(x)) for x in pid]
        ids = dict(zip(pid.tolist(), [str(s) for s in subj], strict=True))
        gender = parse_ints(self.col(df, "gender_concept_id"), rows, label, "gender_concept_id")
        sex = np.where(
            gender == C.concept_id("female"), "f", np.where(gender == C.concept_id("male"), "m", "")
        )
        gsrc = [
            None if v is None else str(v).strip().lower()
            for v in self.col(df, "gender_source_value")
        ]
        sex = np.array(
            [
                x if x else (g if g in ("f", "m", "x") else "")
                for x, g in zip(sex, gsrc, strict=True)
            ],
            dtype=object,
        )
        yob = parse_ints(self.col(df, "year_of_birth"), rows, label, "year_of_birth")
        people = pd.DataFrame(
            {
                "subject": [ids[p] for p in pid.tolist()],
                "sex": pd.array([s or None for s in sex], dtype="string"),
                "birth_year": pd.array([y if y > 0 else None for y in yob.tolist()], dtype="Int64"),
            }
        )
        self.report.rows_read += len(df)
        return ids, _sorted(people, ["subject"])

    def subjects(self, df: pd.DataFrame, table: str, ids: dict[int, str]) -> np.ndarray:
        label = self.src.label(table)
        rows = self.rows(df)
        pid = parse_ints(self.col(df, "person_id"), rows, label, "person_id")
        out = np.array([ids.get(int(p)) for p in pid], dtype=object)
        unknown = np.array([s is None for s in out])
        if unknown.any():
            i = int(np.flatnonzero(unknown)[0])
            raise InputDataError(
                "person_id not in the PERSON table",
                file=label,
                row=int(rows[i]),
                column="person_id",
                value=int(pid[i]),
                expected="a person_id of a PERSON row",
            )
        return out

    def visit_dates(self) -> dict[int, np.datetime64]:
        df = self.load("visit_occurrence")
        if df is None or "visit_occurrence_id" not in df.columns:
            return {}
        label = self.src.label("visit_occurrence")
        rows = self.rows(df)
        vid = parse_ints(df["visit_occurrence_id"], rows, label, "visit_occurrence_id")
        d = self.dates(df, "visit_occurrence", "visit_start_date", "visit_start_datetime")
        return {int(v): d[i] for i, v in enumerate(vid) if v >= 0 and not np.isnat(d[i])}

    # ------------------------------------------------------------------ measurements
    def measurements(
        self, ids: dict[int, str], visit_dates: dict[int, np.datetime64]
    ) -> tuple[pd.DataFrame, pd.DataFrame]:
        """Outcome values (long: subject, date, outcome, value, row) and MRI findings."""
        keys = (*C.OUTCOMES, "mri_active", "mri_new_t2", "mri_gd")
        empty = pd.DataFrame(columns=["subject", "date", "key", "value", "row"])
        df = self.load("measurement")
        if df is None:
            return empty, empty
        label = self.src.label("measurement")
        self.need(df, "measurement", ("person_id", "measurement_concept_id"))
        self.report.rows_read += len(df)
        rows = self.rows(df)
        concept = parse_ints(df["measurement_concept_id"], rows, label, "measurement_concept_id")
        by_id = self.concepts.key_of(keys)
        key = np.array([by_id.get(int(c)) for c in concept], dtype=object)
        src = [
            None if v is None else str(v).strip().lower()
            for v in self.col(df, "measurement_source_value")
        ]
        for i in np.flatnonzero(key == None):  # noqa: E711 - concept 0 or unknown: source value
            k = SOURCE_VALUES.get(src[i] or "")
            if k in keys:
                key[i] = k
        mine = np.array([k is not None for k in key])
        self.skip("measurement", concept[~mine])
        if not mine.any():
            return empty, empty
        df, rows, key = df.loc[mine].reset_index(drop=True), rows[mine], key[mine]
        subj = self.subjects(df, "measurement", ids)
        days = self.dates(df, "measurement", "measurement_date", "measurement_datetime")
        if np.isnat(days).any():
            vid = parse_ints(
                self.col(df, "visit_occurrence_id"), rows, label, "visit_occurrence_id"
            )
            for i in np.flatnonzero(np.isnat(days)):
                days[i] = visit_dates.get(int(vid[i]), np.datetime64("NaT"))
            if np.isnat(days).any():
                i = int(np.flatnonzero(np.isnat(days))[0])
                raise InputDataError(
                    "no date",
                    file=label,
                    row=int(rows[i]),
                    column="measurement_date",
                    expected="a measurement_date, a measurement_datetime or a visit_occurrence_id "
                    "of a visit with a start date",
                )
        self.check_range(days, rows, label, "measurement_date")
        value = parse_numbers(self.col(df, "value_as_number"), rows, label, "value_as_number")
        vsrc = self.col(df, "value_source_value")
        for i in np.flatnonzero(np.isnan(value)):
            try:
                value[i] = float(str(vsrc[i]).strip()) if vsrc[i] is not None else np.nan
            except ValueError:
                pass
        vconcept = parse_ints(
            self.col(df, "value_as_concept_id"), rows, label, "value_as_concept_id"
        )
        is_active = key == "mri_active"
        value = np.where(
            is_active & np.isnan(value) & (vconcept == C.concept_id("yes")),
            1.0,
            np.where(is_active & np.isnan(value) & (vconcept == C.concept_id("no")), 0.0, value),
        )
        unit = parse_ints(self.col(df, "unit_concept_id"), rows, label, "unit_concept_id")
        usrc = [
            None if v is None else str(v).strip().lower() for v in self.col(df, "unit_source_value")
        ]
        for i in range(len(df)):
            if key[i] not in C.TIMED or np.isnan(value[i]):
                continue
            if unit[i] == C.concept_id("minute") or (
                unit[i] in (-1, 0) and usrc[i] in _MINUTE_UNITS
            ):
                value[i] *= 60.0
            elif not (
                unit[i] == C.concept_id("second")
                or (unit[i] in (-1, 0) and (usrc[i] in _SECONDS_UNITS or not usrc[i]))
            ):
                raise InputDataError(
                    f"unknown unit for the {key[i].upper()} time",
                    file=label,
                    row=int(rows[i]),
                    column="unit_concept_id",
                    value=int(unit[i]) if unit[i] >= 0 else usrc[i],
                    expected="8555 (second) or 8550 (minute), or unit_source_value s or min",
                )
        missing = np.isnan(value)
        if missing.any():
            if self.on_missing == "drop":
                self.report.add(
                    "measurements without a value left out (--on-missing drop)",
                    int(missing.sum()),
                    rejected=True,
                )
            else:
                i = int(np.flatnonzero(missing)[0])
                raise InputDataError(
                    f"{str(key[i]).upper()} measurement without a value",
                    file=label,
                    row=int(rows[i]),
                    column="value_as_number",
                    expected="a number in value_as_number, or --on-missing drop to leave such rows out (counted)",
                )
        keep = ~missing & ~self.future(days, "measurements")
        long = pd.DataFrame(
            {
                "subject": subj[keep],
                "date": days[keep],
                "key": key[keep],
                "value": value[keep],
                "row": rows[keep],
            }
        )
        outcome = long["key"].isin(C.OUTCOMES).to_numpy()
        for k in C.OUTCOMES:
            sel = long["key"].to_numpy() == k
            if sel.any():
                from smoulder.io._columns import _check_values

                _check_values(
                    long.loc[sel, "value"].to_numpy(),
                    long.loc[sel, "row"].to_numpy(),
                    k,
                    label,
                    "value_as_number",
                    self.report,
                )
        mri = long.loc[~outcome].reset_index(drop=True)
        for k in ("mri_new_t2", "mri_gd"):
            v = mri.loc[mri["key"] == k]
            bad = (v["value"] < 0) | (v["value"] != np.round(v["value"]))
            if bad.any():
                r = v.loc[bad].iloc[0]
                raise InputDataError(
                    "not a lesion count",
                    file=label,
                    row=int(r["row"]),
                    column="value_as_number",
                    value=float(r["value"]),
                    expected="a whole number of lesions, 0 or more",
                )
        return long.loc[outcome].reset_index(drop=True), mri
