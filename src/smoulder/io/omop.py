"""OMOP CDM v5.4 in: visits, relapses, treatments and MRI activity from a CDM extract.

:func:`read_omop` reads a CDM folder or database (:mod:`smoulder.io.omop_tables`) into the tables
``smoulder progression`` and the store read (``visits``, ``relapses``, ``treatments``, ``mri``,
``people``); :func:`smoulder.io.omop_export.to_omop` writes them out again. The concepts are those
of :mod:`smoulder.schema.omop_concepts`, plus any given with ``--concepts FILE``.

What is read
------------
* PERSON (required): the subject is ``person_id`` (default) or ``person_source_value``
  (``--subject-from person_source_value``); sex from ``gender_concept_id``, ``year_of_birth``.
* MEASUREMENT: EDSS, T25FW, 9HPT and SDMT by ``measurement_concept_id`` or, when the concept is 0
  or unknown, by ``measurement_source_value`` (``EDSS``, ``T25FW``, ``9HPT``, ``SDMT``, ...). The
  value is ``value_as_number`` (else a number in ``value_source_value``). Timed tests must be in
  seconds (``unit_concept_id`` 8555, or ``unit_source_value`` ``s``) or minutes (8550, ``min``:
  converted). The date is ``measurement_date``, else ``measurement_datetime``, else the linked
  visit's start (``visit_occurrence_id``). MRI findings (activity yes/no, new or enlarging T2 and
  gadolinium-enhancing lesion counts) come from here too.
* CONDITION_OCCURRENCE and OBSERVATION: relapse onsets (and ends).
* DRUG_EXPOSURE: MS disease-modifying therapies, by ingredient concept, through CONCEPT_ANCESTOR or
  the CONCEPT names when the extract holds them, or by ``drug_source_value``.
* PROCEDURE_OCCURRENCE: MRI scans (a scan with no finding recorded is counted and left out).

Everything else is counted by concept and left out; bad cells stop the import with the file, row,
column and expected form.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from smoulder.exceptions import InputDataError
from smoulder.io.ingest import IngestReport
from smoulder.io.omop_tables import CdmSource, parse_dates, parse_ints, parse_numbers
from smoulder.schema import omop_concepts as C
from smoulder.schema.dates import DateRule
from smoulder.schema.treatments import canonical_treatment

#: source values recognised when a measurement's concept is 0 or unknown (lower case)
SOURCE_VALUES = {
    "edss": "edss",
    "expanded disability status scale": "edss",
    "t25fw": "t25fw",
    "25fw": "t25fw",
    "t25fwt": "t25fw",
    "timed 25-foot walk": "t25fw",
    "nhpt": "nhpt",
    "9hpt": "nhpt",
    "9-hole peg test": "nhpt",
    "nine-hole peg test": "nhpt",
    "sdmt": "sdmt",
    "symbol digit modalities test": "sdmt",
    "ms relapse": "relapse",
    "relapse": "relapse",
    "mri activity": "mri_active",
    "new or enlarging t2 lesions": "mri_new_t2",
    "gd-enhancing lesions": "mri_gd",
    "mri brain": "mri_scan",
}
_SECONDS_UNITS = {"s", "sec", "secs", "second", "seconds"}
_MINUTE_UNITS = {"min", "mins", "minute", "minutes"}
SUBJECT_FROM = ("person_id", "person_source_value")
MRI_COUNT_COLUMNS = {"mri_new_t2": "new_or_enlarging_t2", "mri_gd": "gd_enhancing"}


@dataclass
class ConceptSet:
    """Concept ids meaning each smoulder key (the table's, plus ``--concepts`` additions)."""

    ids: dict[str, set[int]] = field(default_factory=dict)

    @classmethod
    def default(cls, extra: dict[str, list[int]] | None = None) -> ConceptSet:
        ids = {c.key: {c.concept_id} for c in C.ALL if c.concept_id is not None}
        for k, v in (extra or {}).items():
            ids.setdefault(k, set()).update(v)
        return cls(ids)

    def key_of(self, keys: tuple[str, ...]) -> dict[int, str]:
        return {i: k for k in keys for i in self.ids.get(k, ())}


@dataclass
class OmopImport:
    """The smoulder tables read from a CDM, and the input report."""

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


class _Reader:
    def __init__(
        self,
        source: CdmSource,
        concepts: ConceptSet,
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
    def rows(self, df: pd.DataFrame) -> np.ndarray:
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
        df = self.src.table("person")
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
                "missing person_id", file=label, row=int(rows[i]), column="person_id",
                expected="an integer id on every PERSON row",
            )
        dup = pd.Series(pid).duplicated().to_numpy()
        if dup.any():
            i = int(np.flatnonzero(dup)[0])
            raise InputDataError(
                "person_id given twice", file=label, row=int(rows[i]), column="person_id",
                value=int(pid[i]), expected="one PERSON row per person_id",
            )
        if self.subject_from == "person_source_value":
            self.need(df, "person", ("person_source_value",))
            subj = [None if v is None else str(v).strip() for v in df["person_source_value"]]
            for i, s in enumerate(subj):
                if not s:
                    raise InputDataError(
                        "empty person_source_value", file=label, row=int(rows[i]),
                        column="person_source_value",
                        expected="a subject id on every PERSON row, or --subject-from person_id",
                    )
            if len(set(subj)) < len(subj):
                seen: set[str] = set()
                for i, s in enumerate(subj):
                    if s in seen:
                        raise InputDataError(
                            "person_source_value given twice", file=label, row=int(rows[i]),
                            column="person_source_value", value=s,
                            expected="one subject id per person, or --subject-from person_id",
                        )
                    seen.add(s or "")
        else:
            subj = [str(int(x)) for x in pid]
        ids = dict(zip(pid.tolist(), [str(s) for s in subj], strict=True))
        gender = parse_ints(self.col(df, "gender_concept_id"), rows, label, "gender_concept_id")
        sex = np.where(gender == C.concept_id("female"), "f", np.where(gender == C.concept_id("male"), "m", ""))
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
                "person_id not in the PERSON table", file=label, row=int(rows[i]),
                column="person_id", value=int(pid[i]),
                expected="a person_id of a PERSON row",
            )
        return out

    def visit_dates(self) -> dict[int, np.datetime64]:
        df = self.src.table("visit_occurrence")
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
        df = self.src.table("measurement")
        if df is None:
            return empty, empty
        label = self.src.label("measurement")
        self.need(df, "measurement", ("person_id", "measurement_concept_id"))
        self.report.rows_read += len(df)
        rows = self.rows(df)
        concept = parse_ints(df["measurement_concept_id"], rows, label, "measurement_concept_id")
        by_id = self.concepts.key_of(keys)
        key = np.array([by_id.get(int(c)) for c in concept], dtype=object)
        src = [None if v is None else str(v).strip().lower() for v in self.col(df, "measurement_source_value")]
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
            vid = parse_ints(self.col(df, "visit_occurrence_id"), rows, label, "visit_occurrence_id")
            for i in np.flatnonzero(np.isnat(days)):
                days[i] = visit_dates.get(int(vid[i]), np.datetime64("NaT"))
            if np.isnat(days).any():
                i = int(np.flatnonzero(np.isnat(days))[0])
                raise InputDataError(
                    "no date", file=label, row=int(rows[i]), column="measurement_date",
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
        vconcept = parse_ints(self.col(df, "value_as_concept_id"), rows, label, "value_as_concept_id")
        is_active = key == "mri_active"
        value = np.where(
            is_active & np.isnan(value) & (vconcept == C.concept_id("yes")), 1.0,
            np.where(is_active & np.isnan(value) & (vconcept == C.concept_id("no")), 0.0, value),
        )
        unit = parse_ints(self.col(df, "unit_concept_id"), rows, label, "unit_concept_id")
        usrc = [None if v is None else str(v).strip().lower() for v in self.col(df, "unit_source_value")]
        for i in range(len(df)):
            if key[i] not in C.TIMED or np.isnan(value[i]):
                continue
            if unit[i] == C.concept_id("minute") or (unit[i] in (-1, 0) and usrc[i] in _MINUTE_UNITS):
                value[i] *= 60.0
            elif not (unit[i] == C.concept_id("second") or (unit[i] in (-1, 0) and (usrc[i] in _SECONDS_UNITS or not usrc[i]))):
                raise InputDataError(
                    f"unknown unit for the {key[i].upper()} time", file=label, row=int(rows[i]),
                    column="unit_concept_id", value=int(unit[i]) if unit[i] >= 0 else usrc[i],
                    expected="8555 (second) or 8550 (minute), or unit_source_value s or min",
                )
        missing = np.isnan(value)
        if missing.any():
            if self.on_missing == "drop":
                self.report.add("measurements without a value left out (--on-missing drop)", int(missing.sum()), rejected=True)
            else:
                i = int(np.flatnonzero(missing)[0])
                raise InputDataError(
                    f"{str(key[i]).upper()} measurement without a value", file=label, row=int(rows[i]),
                    column="value_as_number",
                    expected="a number in value_as_number, or --on-missing drop to leave such rows out (counted)",
                )
        keep = ~missing & ~self.future(days, "measurements")
        long = pd.DataFrame(
            {"subject": subj[keep], "date": days[keep], "key": key[keep], "value": value[keep], "row": rows[keep]}
        )
        outcome = long["key"].isin(C.OUTCOMES).to_numpy()
        for k in C.OUTCOMES:
            sel = long["key"].to_numpy() == k
            if sel.any():
                from smoulder.io._columns import _check_values

                _check_values(long.loc[sel, "value"].to_numpy(), long.loc[sel, "row"].to_numpy(), k, label, "value_as_number", self.report)
        mri = long.loc[~outcome].reset_index(drop=True)
        for k in ("mri_new_t2", "mri_gd"):
            v = mri.loc[mri["key"] == k]
            bad = (v["value"] < 0) | (v["value"] != np.round(v["value"]))
            if bad.any():
                r = v.loc[bad].iloc[0]
                raise InputDataError(
                    "not a lesion count", file=label, row=int(r["row"]), column="value_as_number",
                    value=float(r["value"]), expected="a whole number of lesions, 0 or more",
                )
        return long.loc[outcome].reset_index(drop=True), mri

    # ------------------------------------------------------------------ relapses
    def relapses(self, ids: dict[int, str]) -> pd.DataFrame:
        parts = []
        relapse_ids = self.concepts.ids.get("relapse", set())
        for table, prefix in (("condition_occurrence", "condition"), ("observation", "observation")):
            df = self.src.table(table)
            if df is None:
                continue
            label = self.src.label(table)
            self.need(df, table, ("person_id", f"{prefix}_concept_id"))
            self.report.rows_read += len(df)
            rows = self.rows(df)
            concept = parse_ints(df[f"{prefix}_concept_id"], rows, label, f"{prefix}_concept_id")
            src = [None if v is None else str(v).strip().lower() for v in self.col(df, f"{prefix}_source_value")]
            mine = np.array(
                [int(c) in relapse_ids or (c in (-1, 0) and SOURCE_VALUES.get(s or "") == "relapse") for c, s in zip(concept, src, strict=True)],
                dtype=bool,
            )
            self.skip(table, concept[~mine])
            if not mine.any():
                continue
            df, rows = df.loc[mine].reset_index(drop=True), rows[mine]
            subj = self.subjects(df, table, ids)
            start_col = "condition_start_date" if prefix == "condition" else "observation_date"
            start = self.dates(df, table, start_col, start_col.replace("_date", "_datetime"))
            if np.isnat(start).any():
                i = int(np.flatnonzero(np.isnat(start))[0])
                raise InputDataError("relapse without an onset date", file=label, row=int(rows[i]), column=start_col, expected="a date YYYY-MM-DD")
            self.check_range(start, rows, label, start_col)
            if prefix == "condition":
                end = self.dates(df, table, "condition_end_date", "condition_end_datetime")
                before = ~np.isnat(end) & (end < start)
                if before.any():
                    i = int(np.flatnonzero(before)[0])
                    raise InputDataError("relapse ends before it starts", file=label, row=int(rows[i]), column="condition_end_date", value=str(end[i]), expected="an end date on or after condition_start_date")
            else:
                end = np.full(len(df), np.datetime64("NaT"), dtype="datetime64[D]")
            keep = ~self.future(start, "relapses")
            parts.append(pd.DataFrame({"subject": subj[keep], "date": start[keep], "end_date": end[keep]}))
        out = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame({"subject": [], "date": [], "end_date": []})
        out["date"] = out["date"].astype("datetime64[s]")
        out["end_date"] = out["end_date"].astype("datetime64[s]")
        n = len(out)
        out = out.drop_duplicates(["subject", "date"])
        if n > len(out):
            self.report.add("relapses recorded twice on one day merged", n - len(out), corrected=True)
        return _sorted(out, ["subject", "date"])

    # ------------------------------------------------------------------ treatments
    def drug_names(self) -> dict[int, str]:
        """Drug concept id -> substance: the table's ingredients, --concepts additions, and the
        extract's CONCEPT_ANCESTOR and CONCEPT rows when it holds them."""
        names: dict[int, str] = {}
        for c in C.DRUGS:
            for i in self.concepts.ids.get(c.key, ()):
                names[i] = c.key
        anc = self.src.table("concept_ancestor")
        if anc is not None and {"ancestor_concept_id", "descendant_concept_id"} <= set(anc.columns):
            label = self.src.label("concept_ancestor")
            rows = self.rows(anc)
            a = parse_ints(anc["ancestor_concept_id"], rows, label, "ancestor_concept_id")
            d = parse_ints(anc["descendant_concept_id"], rows, label, "descendant_concept_id")
            known = dict(names)
            for x, y in zip(a.tolist(), d.tolist(), strict=True):
                if x in known and y not in names:
                    names[y] = known[x]
        con = self.src.table("concept")
        if con is not None and {"concept_id", "concept_name"} <= set(con.columns):
            label = self.src.label("concept")
            rows = self.rows(con)
            cid = parse_ints(con["concept_id"], rows, label, "concept_id")
            vocab = self.col(con, "vocabulary_id")
            subst = sorted((c.key for c in C.DRUGS), key=len, reverse=True)
            for i, name in enumerate(con["concept_name"].tolist()):
                if cid[i] in names or name is None:
                    continue
                if vocab[i] is not None and not str(vocab[i]).startswith("RxNorm"):
                    continue
                low = str(name).strip().lower()
                for s in subst:
                    if low == s or low.startswith(s + " "):
                        names[int(cid[i])] = s
                        break
        return names

    def treatments(self, ids: dict[int, str]) -> pd.DataFrame:
        cols = ["subject", "drug", "start_date", "stop_date"]
        df = self.src.table("drug_exposure")
        if df is None:
            return pd.DataFrame({c: [] for c in cols})
        label = self.src.label("drug_exposure")
        self.need(df, "drug_exposure", ("person_id", "drug_concept_id", "drug_exposure_start_date"))
        self.report.rows_read += len(df)
        rows = self.rows(df)
        concept = parse_ints(df["drug_concept_id"], rows, label, "drug_concept_id")
        names = self.drug_names()
        srcv = self.col(df, "drug_source_value")
        drug = []
        for c, s in zip(concept.tolist(), srcv, strict=True):
            name = names.get(c)
            if name is None:
                t = canonical_treatment(s)
                name = t.name if t is not None else None
            drug.append(name)
        mine = np.array([d is not None for d in drug], dtype=bool)
        if (~mine).any():
            self.report.add("drug exposures that are not MS disease-modifying therapies left out", int((~mine).sum()), rejected=True)
        if not mine.any():
            return pd.DataFrame({c: [] for c in cols})
        df, rows = df.loc[mine].reset_index(drop=True), rows[mine]
        drug_arr = np.array(drug, dtype=object)[mine]
        subj = self.subjects(df, "drug_exposure", ids)
        start = self.dates(df, "drug_exposure", "drug_exposure_start_date", "drug_exposure_start_datetime")
        if np.isnat(start).any():
            i = int(np.flatnonzero(np.isnat(start))[0])
            raise InputDataError("drug exposure without a start date", file=label, row=int(rows[i]), column="drug_exposure_start_date", expected="a date YYYY-MM-DD")
        self.check_range(start, rows, label, "drug_exposure_start_date")
        if "verbatim_end_date" in df.columns:
            stop = self.dates(df, "drug_exposure", "verbatim_end_date", None)
        else:
            stop = self.dates(df, "drug_exposure", "drug_exposure_end_date", "drug_exposure_end_datetime")
        before = ~np.isnat(stop) & (stop < start)
        if before.any():
            i = int(np.flatnonzero(before)[0])
            raise InputDataError("treatment stops before it starts", file=label, row=int(rows[i]), column="verbatim_end_date" if "verbatim_end_date" in df.columns else "drug_exposure_end_date", value=str(stop[i]), expected="an end date on or after drug_exposure_start_date")
        keep = ~self.future(start, "drug exposures")
        out = pd.DataFrame({"subject": subj[keep], "drug": drug_arr[keep], "start_date": start[keep].astype("datetime64[s]"), "stop_date": stop[keep].astype("datetime64[s]")})
        return _sorted(out.drop_duplicates(), ["subject", "start_date", "drug"])

    # ------------------------------------------------------------------ MRI
    def mri(self, ids: dict[int, str], findings: pd.DataFrame) -> pd.DataFrame:
        scans = set()
        df = self.src.table("procedure_occurrence")
        if df is not None:
            label = self.src.label("procedure_occurrence")
            self.need(df, "procedure_occurrence", ("person_id", "procedure_concept_id"))
            self.report.rows_read += len(df)
            rows = self.rows(df)
            concept = parse_ints(df["procedure_concept_id"], rows, label, "procedure_concept_id")
            srcv = [None if v is None else str(v).strip().lower() for v in self.col(df, "procedure_source_value")]
            scan_ids = self.concepts.ids.get("mri_scan", set())
            mine = np.array([int(c) in scan_ids or (c in (-1, 0) and SOURCE_VALUES.get(s or "") == "mri_scan") for c, s in zip(concept, srcv, strict=True)], dtype=bool)
            self.skip("procedure_occurrence", concept[~mine])
            if mine.any():
                d2, r2 = df.loc[mine].reset_index(drop=True), rows[mine]
                subj = self.subjects(d2, "procedure_occurrence", ids)
                days = self.dates(d2, "procedure_occurrence", "procedure_date", "procedure_datetime")
                self.check_range(days, r2, label, "procedure_date")
                scans = {(s, d) for s, d in zip(subj, days.astype("datetime64[D]"), strict=True) if not np.isnat(d)}
        cols = ["subject", "date", "active"]
        if findings.empty:
            if scans:
                self.report.add("MRI scans without an activity finding left out", len(scans), rejected=True)
            return pd.DataFrame({c: [] for c in cols})
        f = findings.copy()
        f["date"] = f["date"].astype("datetime64[s]")
        wide = f.pivot_table(index=["subject", "date"], columns="key", values="value", aggfunc="max")
        found = {(s, np.datetime64(d, "D")) for s, d in wide.index}
        scans = {(s, np.datetime64(d, "D")) for s, d in scans}
        unmatched = {x for x in scans if x not in found}
        if unmatched:
            self.report.add("MRI scans without an activity finding left out", len(unmatched), rejected=True)
        out = wide.reset_index()
        out.columns.name = None
        counts = [k for k in ("mri_new_t2", "mri_gd") if k in out.columns]
        active = out["mri_active"] if "mri_active" in out.columns else pd.Series(np.nan, index=out.index)
        derived = (out[counts].fillna(0).sum(axis=1) > 0) if counts else pd.Series(False, index=out.index)
        out["active"] = np.where(active.isna(), derived, active > 0).astype(bool)
        res = out[["subject", "date", "active"]].copy()
        for k in counts:
            res[MRI_COUNT_COLUMNS[k]] = pd.array([None if pd.isna(x) else int(x) for x in out[k]], dtype="Int64")
        res["date"] = res["date"].astype("datetime64[s]")
        return _sorted(res, ["subject", "date"])


def _sorted(df: pd.DataFrame, by: list[str]) -> pd.DataFrame:
    return df.sort_values(by, kind="stable").reset_index(drop=True) if len(df) else df.reset_index(drop=True)


def _wide_visits(long: pd.DataFrame, label: str, on_duplicate: str, report: IngestReport) -> pd.DataFrame:
    """One row per subject and day with a column per outcome present."""
    if long.empty:
        raise InputDataError(
            "no EDSS, T25FW, 9HPT or SDMT measurements",
            file=label,
            expected="MEASUREMENT rows with the concept ids of docs/omop.md (or give yours with "
            "--concepts), or measurement_source_value EDSS, T25FW, 9HPT or SDMT",
        )
    long = long.copy()
    long["date"] = long["date"].astype("datetime64[s]")
    key = ["subject", "date", "key"]
    same = long.duplicated(key + ["value"])
    if same.any():
        report.add("identical measurements on one day merged", int(same.sum()), corrected=True)
        long = long.loc[~same]
    clash = long.duplicated(key, keep=False)
    if clash.any():
        if on_duplicate == "error":
            rows = long.loc[clash].sort_values(key).head(2)
            a, b = rows.iloc[0], rows.iloc[1]
            raise InputDataError(
                f"two different {str(a['key']).upper()} values on one day ({a['value']:g} in row "
                f"{int(a['row'])}, {b['value']:g} in row {int(b['row'])})",
                file=label,
                row=int(b["row"]),
                column="value_as_number",
                expected="one value per subject, day and measure, or --on-duplicate first|last|max|min",
            )
        report.add(f"measurements on the same day resolved (--on-duplicate {on_duplicate})", int(clash.sum()) - int(long.loc[clash].drop_duplicates(key).shape[0]), corrected=True)
        long = long.sort_values(key + ["row"], kind="stable")
        agg = {"first": "first", "last": "last", "max": "max", "min": "min"}[on_duplicate]
        long = long.groupby(key, as_index=False, observed=True).agg(value=("value", agg))
    wide = long.pivot(index=["subject", "date"], columns="key", values="value").reset_index()
    wide.columns.name = None
    present = [k for k in C.OUTCOMES if k in wide.columns]
    return _sorted(wide[["subject", "date", *present]], ["subject", "date"])


def read_omop(
    source: CdmSource,
    *,
    subject_from: str = "person_id",
    concepts: dict[str, list[int]] | None = None,
    future_dates: str | DateRule = "warn",
    on_missing: str = "error",
    on_duplicate: str = "error",
) -> OmopImport:
    """Read a CDM extract into smoulder's tables; see the module docstring.

    Parameters
    ----------
    source : CdmSource
        :class:`~smoulder.io.omop_tables.FolderSource` or
        :class:`~smoulder.io.omop_tables.DatabaseSource`.
    subject_from : {"person_id", "person_source_value"}
        Which PERSON column is the subject id (``--subject-from``).
    concepts : dict, optional
        More concept ids per key (``edss``, ``relapse``, a substance name, ...): ``--concepts``.
    future_dates, on_missing, on_duplicate
        ``--future-dates``, ``--on-missing``, ``--on-duplicate`` as in ``smoulder progression``.

    Returns
    -------
    OmopImport
        ``visits`` (subject, date and one column per outcome found: edss, t25fw, nhpt, sdmt),
        ``relapses`` (subject, date, end_date), ``treatments`` (subject, drug, start_date,
        stop_date), ``mri`` (subject, date, active, and lesion counts when recorded), ``people``
        (subject, sex, birth_year) and the input report.
    """
    if subject_from not in SUBJECT_FROM:
        raise InputDataError(f"unknown --subject-from {subject_from!r}", expected=" | ".join(SUBJECT_FROM))
    rule = future_dates if isinstance(future_dates, DateRule) else DateRule(future_dates)
    r = _Reader(source, ConceptSet.default(concepts), subject_from, rule, on_missing)
    ids, people = r.persons()
    long, findings = r.measurements(ids, r.visit_dates())
    visits = _wide_visits(long, source.label("measurement"), on_duplicate, r.report)
    relapses = r.relapses(ids)
    treatments = r.treatments(ids)
    mri = r.mri(ids, findings)
    for table, counter in r.skipped.items():
        n = sum(counter.values())
        top = ", ".join(f"{c} ({k:,})" for c, k in counter.most_common(5))
        r.report.add(f"{table} rows of other concepts left out (most common: {top})", n, rejected=True)
    r.report.rows_used = len(visits) + len(relapses) + len(treatments) + len(mri)
    return OmopImport(visits, relapses, treatments, mri, people, r.report)


__all__ = ["ConceptSet", "OmopImport", "SOURCE_VALUES", "SUBJECT_FROM", "read_omop"]
