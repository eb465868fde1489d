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

from dataclasses import dataclass, field

import pandas as pd

from smoulder.exceptions import InputDataError
from smoulder.io.ingest import IngestReport
from smoulder.io.omop_common import (
    SOURCE_VALUES,
    SUBJECT_FROM,
)
from smoulder.io.omop_common import (
    sorted_rows as _sorted,
)
from smoulder.io.omop_tables import CdmSource
from smoulder.schema import omop_concepts as C
from smoulder.schema.dates import DateRule


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


def _wide_visits(
    long: pd.DataFrame, label: str, on_duplicate: str, report: IngestReport
) -> pd.DataFrame:
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
        report.add(
            f"measurements on the same day resolved (--on-duplicate {on_duplicate})",
            int(clash.sum()) - int(long.loc[clash].drop_duplicates(key).shape[0]),
            corrected=True,
        )
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
        raise InputDataError(
            f"unknown --subject-from {subject_from!r}", expected=" | ".join(SUBJECT_FROM)
        )
    rule = future_dates if isinstance(future_dates, DateRule) else DateRule(future_dates)
    from smoulder.io._omop_read import _Reader

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
        r.report.add(
            f"{table} rows of other concepts left out (most common: {top})", n, rejected=True
        )
    r.report.rows_used = len(visits) + len(relapses) + len(treatments) + len(mri)
    return OmopImport(visits, relapses, treatments, mri, people, r.report)


__all__ = ["ConceptSet", "OmopImport", "SOURCE_VALUES", "SUBJECT_FROM", "read_omop"]
