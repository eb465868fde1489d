"""Relapses, treatments and MRI scans of an OMOP CDM extract (part of :mod:`smoulder.io.omop`)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from smoulder.exceptions import InputDataError
from smoulder.io.ingest import IngestReport
from smoulder.io.omop_common import MRI_COUNT_COLUMNS, SOURCE_VALUES
from smoulder.io.omop_common import sorted_rows as _sorted
from smoulder.io.omop_tables import CdmSource, parse_ints
from smoulder.schema import omop_concepts as C
from smoulder.schema.dates import DateRule
from smoulder.schema.treatments import canonical_treatment


class _Events:
    """Mixin of the CDM reader: relapses, treatments, MRI (uses the reader's helpers)."""

    src: CdmSource
    concepts: Any
    report: IngestReport
    rule: DateRule
    # helpers of the reader (smoulder.io._omop_read._Reader)
    load: Any
    need: Any
    rows: Any
    col: Any
    skip: Any
    subjects: Any
    dates: Any
    check_range: Any
    future: Any

    # ------------------------------------------------------------------ relapses
    def relapses(self, ids: dict[int, str]) -> pd.DataFrame:
        parts = []
        relapse_ids = self.concepts.ids.get("relapse", set())
        for table, prefix in (
            ("condition_occurrence", "condition"),
            ("observation", "observation"),
        ):
            df = self.load(table)
            if df is None:
                continue
            label = self.src.label(table)
            self.need(df, table, ("person_id", f"{prefix}_concept_id"))
            self.report.rows_read += len(df)
            rows = self.rows(df)
            concept = parse_ints(df[f"{prefix}_concept_id"], rows, label, f"{prefix}_concept_id")
            src = [
                None if v is None else str(v).strip().lower()
                for v in self.col(df, f"{prefix}_source_value")
            ]
            mine = np.array(
                [
                    int(c) in relapse_ids
                    or (c in (-1, 0) and SOURCE_VALUES.get(s or "") == "relapse")
                    for c, s in zip(concept, src, strict=True)
                ],
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
                raise InputDataError(
                    "relapse without an onset date",
                    file=label,
                    row=int(rows[i]),
                    column=start_col,
                    expected="a date YYYY-MM-DD",
                )
            self.check_range(start, rows, label, start_col)
            if prefix == "condition":
                end = self.dates(df, table, "condition_end_date", "condition_end_datetime")
                before = ~np.isnat(end) & (end < start)
                if before.any():
                    i = int(np.flatnonzero(before)[0])
                    raise InputDataError(
                        "relapse ends before it starts",
                        file=label,
                        row=int(rows[i]),
                        column="condition_end_date",
                        value=str(end[i]),
                        expected="an end date on or after condition_start_date",
                    )
            else:
                end = np.full(len(df), np.datetime64("NaT"), dtype="datetime64[D]")
            keep = ~self.future(start, "relapses")
            parts.append(
                pd.DataFrame({"subject": subj[keep], "date": start[keep], "end_date": end[keep]})
            )
        out = (
            pd.concat(parts, ignore_index=True)
            if parts
            else pd.DataFrame({"subject": [], "date": [], "end_date": []})
        )
        out["date"] = out["date"].astype("datetime64[s]")
        out["end_date"] = out["end_date"].astype("datetime64[s]")
        n = len(out)
        out = out.drop_duplicates(["subject", "date"])
        if n > len(out):
            self.report.add(
                "relapses recorded twice on one day merged", n - len(out), corrected=True
            )
        return _sorted(out, ["subject", "date"])

    # ------------------------------------------------------------------ treatments
    def drug_names(self) -> dict[int, str]:
        """Drug concept id -> substance: the table's ingredients, --concepts additions, and the
        extract's CONCEPT_ANCESTOR and CONCEPT rows when it holds them."""
        names: dict[int, str] = {}
        for c in C.DRUGS:
            for i in self.concepts.ids.get(c.key, ()):
                names[i] = c.key
        anc = self.load("concept_ancestor")
        if anc is not None and {"ancestor_concept_id", "descendant_concept_id"} <= set(anc.columns):
            label = self.src.label("concept_ancestor")
            rows = self.rows(anc)
            a = parse_ints(anc["ancestor_concept_id"], rows, label, "ancestor_concept_id")
            d = parse_ints(anc["descendant_concept_id"], rows, label, "descendant_concept_id")
            known = dict(names)
            for x, y in zip(a.tolist(), d.tolist(), strict=True):
                if x in known and y not in names:
                    names[y] = known[x]
        con = self.load("concept")
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
        df = self.load("drug_exposure")
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
            self.report.add(
                "drug exposures that are not MS disease-modifying therapies left out",
                int((~mine).sum()),
                rejected=True,
            )
        if not mine.any():
            return pd.DataFrame({c: [] for c in cols})
        df, rows = df.loc[mine].reset_index(drop=True), rows[mine]
        drug_arr = np.array(drug, dtype=object)[mine]
        subj = self.subjects(df, "drug_exposure", ids)
        start = self.dates(
            df, "drug_exposure", "drug_exposure_start_date", "drug_exposure_start_datetime"
        )
        if np.isnat(start).any():
            i = int(np.flatnonzero(np.isnat(start))[0])
            raise InputDataError(
                "drug exposure without a start date",
                file=label,
                row=int(rows[i]),
                column="drug_exposure_start_date",
                expected="a date YYYY-MM-DD",
            )
        self.check_range(start, rows, label, "drug_exposure_start_date")
        if "verbatim_end_date" in df.columns:
            stop = self.dates(df, "drug_exposure", "verbatim_end_date", None)
        else:
            stop = self.dates(
                df, "drug_exposure", "drug_exposure_end_date", "drug_exposure_end_datetime"
            )
        before = ~np.isnat(stop) & (stop < start)
        if before.any():
            i = int(np.flatnonzero(before)[0])
            raise InputDataError(
                "treatment stops before it starts",
                file=label,
                row=int(rows[i]),
                column="verbatim_end_date"
                if "verbatim_end_date" in df.columns
                else "drug_exposure_end_date",
                value=str(stop[i]),
                expected="an end date on or after drug_exposure_start_date",
            )
        keep = ~self.future(start, "drug exposures")
        out = pd.DataFrame(
            {
                "subject": subj[keep],
                "drug": drug_arr[keep],
                "start_date": start[keep].astype("datetime64[s]"),
                "stop_date": stop[keep].astype("datetime64[s]"),
            }
        )
        return _sorted(out.drop_duplicates(), ["subject", "start_date", "drug"])

    # ------------------------------------------------------------------ MRI
    def mri(self, ids: dict[int, str], findings: pd.DataFrame) -> pd.DataFrame:
        scans = set()
        df = self.load("procedure_occurrence")
        if df is not None:
            label = self.src.label("procedure_occurrence")
            self.need(df, "procedure_occurrence", ("person_id", "procedure_concept_id"))
            self.report.rows_read += len(df)
            rows = self.rows(df)
            concept = parse_ints(df["procedure_concept_id"], rows, label, "procedure_concept_id")
            srcv = [
                None if v is None else str(v).strip().lower()
                for v in self.col(df, "procedure_source_value")
            ]
            scan_ids = self.concepts.ids.get("mri_scan", set())
            mine = np.array(
                [
                    int(c) in scan_ids
                    or (c in (-1, 0) and SOURCE_VALUES.get(s or "") == "mri_scan")
                    for c, s in zip(concept, srcv, strict=True)
                ],
                dtype=bool,
            )
            self.skip("procedure_occurrence", concept[~mine])
            if mine.any():
                d2, r2 = df.loc[mine].reset_index(drop=True), rows[mine]
                subj = self.subjects(d2, "procedure_occurrence", ids)
                days = self.dates(
                    d2, "procedure_occurrence", "procedure_date", "procedure_datetime"
                )
                self.check_range(days, r2, label, "procedure_date")
                scans = {
                    (s, d)
                    for s, d in zip(subj, days.astype("datetime64[D]"), strict=True)
                    if not np.isnat(d)
                }
        cols = ["subject", "date", "active"]
        if findings.empty:
            if scans:
                self.report.add(
                    "MRI scans without an activity finding left out", len(scans), rejected=True
                )
            return pd.DataFrame({c: [] for c in cols})
        f = findings.copy()
        f["date"] = f["date"].astype("datetime64[s]")
        wide = f.pivot_table(
            index=["subject", "date"], columns="key", values="value", aggfunc="max"
        )
        found = {(s, np.datetime64(d, "D")) for s, d in wide.index}
        scans = {(s, np.datetime64(d, "D")) for s, d in scans}
        unmatched = {x for x in scans if x not in found}
        if unmatched:
            self.report.add(
                "MRI scans without an activity finding left out", len(unmatched), rejected=True
            )
        out = wide.reset_index()
        out.columns.name = None
        counts = [k for k in ("mri_new_t2", "mri_gd") if k in out.columns]
        active = (
            out["mri_active"] if "mri_active" in out.columns else pd.Series(np.nan, index=out.index)
        )
        derived = (
            (out[counts].fillna(0).sum(axis=1) > 0) if counts else pd.Series(False, index=out.index)
        )
        out["active"] = np.where(active.isna(), derived, active > 0).astype(bool)
        res = out[["subject", "date", "active"]].copy()
        for k in counts:
            res[MRI_COUNT_COLUMNS[k]] = pd.array(
                [None if pd.isna(x) else int(x) for x in out[k]], dtype="Int64"
            )
        res["date"] = res["date"].astype("datetime64[s]")
        return _sorted(res, ["subject", "date"])
