"""OMOP CDM v5.4 out: smoulder's visits, relapses, treatments, MRI and people tables as CDM rows.

:func:`read_smoulder_tables` reads and checks the tables (the same readers and rules as
``smoulder progression``); :func:`to_omop` turns them into PERSON, VISIT_OCCURRENCE, MEASUREMENT,
CONDITION_OCCURRENCE, DRUG_EXPOSURE, PROCEDURE_OCCURRENCE and the CONCEPT and VOCABULARY rows of
smoulder's local concepts, every table with all of its CDM v5.4 columns in CDM order.

Mapping (concept ids: :mod:`smoulder.schema.omop_concepts`, docs/omop.md):

* each subject is a PERSON; ``person_id`` is the subject id when every id is a whole number
  (without leading zeros), else 1, 2, ... in sorted order; the id is kept in
  ``person_source_value``. Sex and birth year come from the people table when given.
* each visit day is a VISIT_OCCURRENCE (outpatient visit, registry record) and each outcome
  value a MEASUREMENT linked to it (timed tests in seconds).
* each relapse is a CONDITION_OCCURRENCE (onset, end); each treatment a DRUG_EXPOSURE
  (``verbatim_end_date`` is the stop date, empty while ongoing; ``drug_exposure_end_date``, which
  the CDM requires, is the stop date or else the start date).
* each MRI scan is a PROCEDURE_OCCURRENCE with an activity MEASUREMENT (yes/no) and the lesion
  counts when the table has them.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from smoulder.exceptions import InputDataError
from smoulder.io.ingest import IngestReport
from smoulder.io.omop_tables import frame_for, parse_dates
from smoulder.schema import omop_concepts as C
from smoulder.schema.dates import DateRule
from smoulder.schema.treatments import canonical_treatment

MRI_COUNTS = {"new_or_enlarging_t2": "mri_new_t2", "gd_enhancing": "mri_gd"}
_SOURCE = {"edss": "EDSS", "t25fw": "T25FW", "nhpt": "9HPT", "sdmt": "SDMT"}


# ----------------------------------------------------------------------------- reading
def read_smoulder_tables(
    visits: Path,
    *,
    relapses: Path | None = None,
    treatments: Path | None = None,
    mri: Path | None = None,
    people: Path | None = None,
    sep: str | None = None,
    future_dates: str | DateRule = "warn",
) -> tuple[dict[str, pd.DataFrame], IngestReport]:
    """Read and check smoulder's tables (docs/tables.md) for an export."""
    from smoulder.io.delimited import read_arrow_file
    from smoulder.io.tables import read_mri_activity, read_relapses, validate_visits

    rule = future_dates if isinstance(future_dates, DateRule) else DateRule(future_dates)
    table = read_arrow_file(visits, dictionary_cols=("subject",), sep=sep, what="visits table")
    present = [o for o in C.OUTCOMES if o in table.column_names]
    if not present:
        raise InputDataError(
            "no outcome column",
            file=str(visits),
            expected="columns subject, date and at least one of edss, t25fw, nhpt, sdmt",
        )
    report = IngestReport(source=str(visits), rows_read=table.num_rows)
    wide: pd.DataFrame | None = None
    for o in present:
        df, rep = validate_visits(
            table, str(visits), value_col=o, outcome=o, on_missing="drop", future_dates=rule
        )
        report.warnings.extend(rep.warnings)
        part = df[["subject", "date", "value"]].rename(columns={"value": o})
        part["subject"] = part["subject"].astype(str)
        wide = part if wide is None else wide.merge(part, on=["subject", "date"], how="outer")
    assert wide is not None
    wide = wide.sort_values(["subject", "date"], kind="stable").reset_index(drop=True)
    empty = table.num_rows - len(wide)
    if empty > 0:
        report.add("visits without any outcome value left out", empty, rejected=True)
    out: dict[str, pd.DataFrame] = {"visits": wide}
    known = pd.Index(sorted(wide["subject"].unique()))
    if relapses is not None:
        raw = read_arrow_file(relapses, sep=sep, what="relapses table")
        end = "end_date" if "end_date" in raw.column_names else None
        rel, rrep = read_relapses(
            relapses, end_date_col=end, known_subjects=known, future_dates=rule, sep=sep
        )
        report.warnings.extend(rrep.warnings)
        rel = rel[["subject", "date", "end_date"]].copy()
        rel["subject"] = rel["subject"].astype(str)
        out["relapses"] = rel
    if mri is not None:
        m, mrep = read_mri_activity(mri, known_subjects=known, future_dates=rule, sep=sep)
        report.warnings.extend(mrep.warnings)
        raw = read_arrow_file(mri, sep=sep, what="MRI activity table").to_pandas()
        m = m.copy()
        m["subject"] = m["subject"].astype(str)
        for col in MRI_COUNTS:
            if col in raw.columns:
                m[col] = _counts(raw[col], m["row"].to_numpy(), str(mri), col)
        out["mri"] = m.drop(columns="row")
    if treatments is not None:
        out["treatments"] = _treatments(treatments, sep, set(known))
    if people is not None:
        out["people"] = _people(people, sep)
    return out, report


def _counts(col: pd.Series, rows: np.ndarray, source: str, name: str) -> pd.Series:
    vals: list[int | None] = []
    for r in rows:
        v = col.iloc[int(r) - 2]
        if v is None or (isinstance(v, float) and np.isnan(v)) or str(v).strip() == "":
            vals.append(None)
            continue
        try:
            x = float(v)
        except ValueError:
            x = -1.0
        if x < 0 or x != round(x):
            raise InputDataError(
                "not a lesion count",
                file=source,
                row=int(r),
                column=name,
                value=str(v),
                expected="a whole number of lesions, 0 or more (empty when not counted)",
            )
        vals.append(int(x))
    return pd.Series(pd.array(vals, dtype="Int64"))


def _text_table(path: Path, sep: str | None, what: str, needed: tuple[str, ...]) -> pd.DataFrame:
    from smoulder.io._columns import missing_column
    from smoulder.io.delimited import header_fields, read_arrow_file

    p = Path(path)
    if p.name.lower().endswith((".parquet", ".pq")):
        df = read_arrow_file(p, what=what).to_pandas()
        df = df.astype(object).where(df.notna(), None)
    else:
        with open(p, "rb") as f:
            head = f.read(1 << 16)
        names = header_fields(head, sep or ("\t" if p.suffix.lower() == ".tsv" else ","))
        df = read_arrow_file(p, string_cols=names, sep=sep, what=what).to_pandas()
        df = df.astype(object).where(df.notna(), None)
    for c in needed:
        if c not in df.columns:
            raise missing_column(what, c, list(df.columns), str(p))
    return df


def _treatments(path: Path, sep: str | None, known: set[str]) -> pd.DataFrame:
    df = _text_table(path, sep, "treatments table", ("subject", "drug", "start_date"))
    rows = np.arange(len(df)) + 2
    src = str(path)
    subj = [None if v is None else str(v).strip() for v in df["subject"]]
    for i, s in enumerate(subj):
        if not s:
            raise InputDataError(
                "empty subject",
                file=src,
                row=int(rows[i]),
                column="subject",
                expected="a subject id",
            )
    drug = [None if v is None else str(v).strip() for v in df["drug"]]
    for i, d in enumerate(drug):
        if not d:
            raise InputDataError(
                "empty drug",
                file=src,
                row=int(rows[i]),
                column="drug",
                expected="the substance or brand name of the therapy",
            )
    start = parse_dates(df["start_date"], rows, src, "start_date")
    if np.isnat(start).any():
        i = int(np.flatnonzero(np.isnat(start))[0])
        raise InputDataError(
            "missing start date",
            file=src,
            row=int(rows[i]),
            column="start_date",
            expected="a date YYYY-MM-DD",
        )
    stop = parse_dates(
        df["stop_date"] if "stop_date" in df.columns else [None] * len(df), rows, src, "stop_date"
    )
    before = ~np.isnat(stop) & (stop < start)
    if before.any():
        i = int(np.flatnonzero(before)[0])
        raise InputDataError(
            "treatment stops before it starts",
            file=src,
            row=int(rows[i]),
            column="stop_date",
            value=str(stop[i]),
            expected="a stop date on or after start_date",
        )
    out = pd.DataFrame(
        {
            "subject": subj,
            "drug": drug,
            "start_date": start.astype("datetime64[s]"),
            "stop_date": stop.astype("datetime64[s]"),
        }
    )
    return out.sort_values(["subject", "start_date", "drug"], kind="stable").reset_index(drop=True)


def _people(path: Path, sep: str | None) -> pd.DataFrame:
    df = _text_table(path, sep, "people table", ("subject",))
    rows = np.arange(len(df)) + 2
    sex = []
    for i, v in enumerate(df["sex"] if "sex" in df.columns else [None] * len(df)):
        t = (str(v).strip().lower() if v is not None else "") or None
        if t not in (None, "f", "m", "x"):
            raise InputDataError(
                "unknown sex",
                file=str(path),
                row=int(rows[i]),
                column="sex",
                value=t,
                expected="f, m, x or empty",
            )
        sex.append(t)
    yob: list[int | None] = []
    for i, v in enumerate(df["birth_year"] if "birth_year" in df.columns else [None] * len(df)):
        if v is None or str(v).strip() == "":
            yob.append(None)
            continue
        try:
            y = int(float(str(v)))
        except ValueError:
            y = -1
        if not 1900 <= y <= 2199:
            raise InputDataError(
                "not a birth year",
                file=str(path),
                row=int(rows[i]),
                column="birth_year",
                value=str(v),
                expected="a year such as 1975",
            )
        yob.append(y)
    return pd.DataFrame(
        {
            "subject": [str(s).strip() for s in df["subject"]],
            "sex": pd.array(sex, dtype="string"),
            "birth_year": pd.array(yob, dtype="Int64"),
        }
    )


# ----------------------------------------------------------------------------- mapping
def _person_ids(subjects: list[str]) -> dict[str, int]:
    if all(s.isdigit() and (s == "0" or not s.startswith("0")) and len(s) < 10 for s in subjects):
        return {s: int(s) for s in subjects}
    return {s: i + 1 for i, s in enumerate(sorted(subjects))}


def _concept_for(key: str, overrides: dict[str, list[int]] | None) -> int:
    if overrides and overrides.get(key):
        return int(overrides[key][0])
    return C.concept_id(key)


def to_omop(
    tables: dict[str, pd.DataFrame],
    *,
    concepts: dict[str, list[int]] | None = None,
    drug_ids: dict[str, int] | None = None,
) -> tuple[dict[str, pd.DataFrame], list[str]]:
    """CDM v5.4 tables from smoulder's tables; returns the tables and warnings.

    ``concepts`` (``--concepts``) replaces the id written for a key; ``drug_ids`` (from
    ``--vocabulary``) the RxNorm ingredient id of a substance.
    """
    warnings: list[str] = []
    visits = tables["visits"]
    people = tables.get("people")
    subjects = sorted(
        set(visits["subject"]).union(
            *(set(t["subject"]) for k, t in tables.items() if k != "people" and len(t))
        )
    )
    pid = _person_ids(subjects)
    registry = C.concept_id("registry")
    # PERSON
    sex = (
        {
            k: (None if pd.isna(x) else str(x))
            for k, x in zip(people["subject"], people["sex"], strict=True)
        }
        if people is not None
        else {}
    )
    yob = (
        dict(zip(people["subject"], people["birth_year"], strict=True))
        if people is not None
        else {}
    )
    missing_yob = [s for s in subjects if yob.get(s) is None or pd.isna(yob.get(s))]
    if missing_yob:
        warnings.append(
            f"{len(missing_yob):,} persons have no birth year: PERSON.year_of_birth, which the CDM "
            "requires, is left empty (give --people with a birth_year column)"
        )
    gender = {"f": C.concept_id("female"), "m": C.concept_id("male")}
    out: dict[str, pd.DataFrame] = {}
    out["person"] = frame_for(
        "person",
        {
            "person_id": [pid[s] for s in subjects],
            "gender_concept_id": [gender.get(sex.get(s) or "", 0) for s in subjects],
            "year_of_birth": [None if s in missing_yob else int(yob[s]) for s in subjects],
            "race_concept_id": [0] * len(subjects),
            "ethnicity_concept_id": [0] * len(subjects),
            "person_source_value": subjects,
            "gender_source_value": [sex.get(s) for s in subjects],
        },
        len(subjects),
    )
    # VISIT_OCCURRENCE + MEASUREMENT
    v = visits.reset_index(drop=True)
    n = len(v)
    vid = np.arange(1, n + 1)
    dates = v["date"].to_numpy().astype("datetime64[D]")
    out["visit_occurrence"] = frame_for(
        "visit_occurrence",
        {
            "visit_occurrence_id": vid,
            "person_id": [pid[s] for s in v["subject"]],
            "visit_concept_id": [C.concept_id("outpatient_visit")] * n,
            "visit_start_date": dates,
            "visit_end_date": dates,
            "visit_type_concept_id": [registry] * n,
        },
        n,
    )
    m: dict[str, list[Any]] = {
        k: []
        for k in (
            "person_id",
            "measurement_concept_id",
            "measurement_date",
            "value_as_number",
            "value_as_concept_id",
            "unit_concept_id",
            "visit_occurrence_id",
            "measurement_source_value",
            "unit_source_value",
        )
    }

    def add(
        person: int,
        key: str,
        date: Any,
        value: float | None,
        vconcept: int | None,
        visit: int | None,
        source: str,
    ) -> None:
        timed = key in C.TIMED
        m["person_id"].append(person)
        m["measurement_concept_id"].append(_concept_for(key, concepts))
        m["measurement_date"].append(date)
        m["value_as_number"].append(value)
        m["value_as_concept_id"].append(vconcept)
        m["unit_concept_id"].append(C.concept_id("second") if timed else None)
        m["visit_occurrence_id"].append(visit)
        m["measurement_source_value"].append(source)
        m["unit_source_value"].append("s" if timed else None)

    for o in C.OUTCOMES:
        if o not in v.columns:
            continue
        vals = v[o].to_numpy(dtype=float)
        for i in np.flatnonzero(~np.isnan(vals)):
            add(
                pid[v["subject"].iloc[i]],
                o,
                dates[i],
                float(vals[i]),
                None,
                int(vid[i]),
                _SOURCE[o],
            )
    # CONDITION_OCCURRENCE
    rel = tables.get("relapses")
    if rel is not None and len(rel):
        k = len(rel)
        out["condition_occurrence"] = frame_for(
            "condition_occurrence",
            {
                "condition_occurrence_id": np.arange(1, k + 1),
                "person_id": [pid[s] for s in rel["subject"]],
                "condition_concept_id": [_concept_for("relapse", concepts)] * k,
                "condition_start_date": rel["date"].to_numpy().astype("datetime64[D]"),
                "condition_end_date": rel["end_date"].to_numpy().astype("datetime64[D]"),
                "condition_type_concept_id": [registry] * k,
                "condition_source_value": ["MS relapse"] * k,
            },
            k,
        )
    # DRUG_EXPOSURE
    tr = tables.get("treatments")
    if tr is not None and len(tr):
        k = len(tr)
        ids, srcs, unmapped = [], [], 0
        for d in tr["drug"]:
            t = canonical_treatment(d)
            name = t.name if t is not None else None
            cid = None
            if name is not None:
                cid = (drug_ids or {}).get(name)
                if cid is None and concepts and concepts.get(name):
                    cid = int(concepts[name][0])
                if cid is None:
                    c = C.drug_concept(name)
                    cid = c.concept_id if c is not None else None
            if cid is None:
                unmapped += 1
            ids.append(cid if cid is not None else 0)
            srcs.append(str(d)[:50])
        if unmapped:
            warnings.append(
                f"{unmapped:,} drug exposures written with drug_concept_id 0 (no RxNorm ingredient "
                "id known here; give --vocabulary with an Athena download to resolve them)"
            )
        start = tr["start_date"].to_numpy().astype("datetime64[D]")
        stop = tr["stop_date"].to_numpy().astype("datetime64[D]")
        out["drug_exposure"] = frame_for(
            "drug_exposure",
            {
                "drug_exposure_id": np.arange(1, k + 1),
                "person_id": [pid[s] for s in tr["subject"]],
                "drug_concept_id": ids,
                "drug_exposure_start_date": start,
                "drug_exposure_end_date": np.where(np.isnat(stop), start, stop),
                "verbatim_end_date": stop,
                "drug_type_concept_id": [registry] * k,
                "drug_source_value": srcs,
            },
            k,
        )
    # PROCEDURE_OCCURRENCE + MRI findings
    mri = tables.get("mri")
    if mri is not None and len(mri):
        k = len(mri)
        mdates = mri["date"].to_numpy().astype("datetime64[D]")
        out["procedure_occurrence"] = frame_for(
            "procedure_occurrence",
            {
                "procedure_occurrence_id": np.arange(1, k + 1),
                "person_id": [pid[s] for s in mri["subject"]],
                "procedure_concept_id": [_concept_for("mri_scan", concepts)] * k,
                "procedure_date": mdates,
                "procedure_type_concept_id": [registry] * k,
                "procedure_source_value": ["MRI brain"] * k,
            },
            k,
        )
        yes, no = C.concept_id("yes"), C.concept_id("no")
        for i in range(k):
            p = pid[mri["subject"].iloc[i]]
            act = bool(mri["active"].iloc[i])
            add(p, "mri_active", mdates[i], None, yes if act else no, None, "MRI activity")
            for col, key in MRI_COUNTS.items():
                if col in mri.columns and not pd.isna(mri[col].iloc[i]):
                    add(
                        p,
                        key,
                        mdates[i],
                        float(mri[col].iloc[i]),
                        None,
                        None,
                        {
                            "mri_new_t2": "new or enlarging T2 lesions",
                            "mri_gd": "Gd-enhancing lesions",
                        }[key],
                    )
    k = len(m["person_id"])
    m["measurement_id"] = list(range(1, k + 1))
    m["measurement_type_concept_id"] = [registry] * k
    out["measurement"] = frame_for("measurement", m, k)
    out.update(local_vocabulary(concepts))
    return out, warnings


def local_vocabulary(concepts: dict[str, list[int]] | None = None) -> dict[str, pd.DataFrame]:
    """CONCEPT and VOCABULARY rows of smoulder's local concepts (those not replaced by --concepts)."""
    local = [c for c in C.LOCAL if not (concepts and concepts.get(c.key))]
    k = len(local)
    concept = frame_for(
        "concept",
        {
            "concept_id": [c.concept_id for c in local],
            "concept_name": [c.name for c in local],
            "domain_id": [c.domain for c in local],
            "vocabulary_id": [c.vocabulary_id for c in local],
            "concept_class_id": [c.concept_class_id for c in local],
            "standard_concept": ["S"] * k,
            "concept_code": [c.concept_code for c in local],
            "valid_start_date": [np.datetime64("2025-01-01")] * k,
            "valid_end_date": [np.datetime64("2099-12-31")] * k,
        },
        k,
    )
    vocab = frame_for(
        "vocabulary",
        {
            "vocabulary_id": [C.LOCAL_VOCABULARY],
            "vocabulary_name": ["smoulder local concepts for MS outcomes"],
            "vocabulary_reference": ["docs/omop.md of smoulder"],
            "vocabulary_version": ["smoulder 1"],
            "vocabulary_concept_id": [0],
        },
        1,
    )
    return {"concept": concept, "vocabulary": vocab}


__all__ = ["MRI_COUNTS", "local_vocabulary", "read_smoulder_tables", "to_omop"]
