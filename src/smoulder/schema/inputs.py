"""The inputs of a clinical analysis checked together: visits, then relapses and MRI scans of the
same subjects.

:func:`validate_inputs` is the one place where the three tables meet: the visits decide which
subjects exist, relapses and scans of anyone else are left out and counted, and every warning ends
up in one :class:`~smoulder.schema.report.IngestReport`. The engine's :func:`smoulder.clinical.assess`
(DataFrames) and the pipelines (files read by :mod:`smoulder.io`) both call it.

Examples
--------
>>> import pandas as pd
>>> v = pd.DataFrame({"id": ["a", "a"], "date": ["2020-01-01", "2020-09-01"], "edss": [2, 3]})
>>> r = pd.DataFrame({"id": ["a", "zz"], "date": ["2020-03-01", "2020-03-01"]})
>>> got = validate_inputs(v, r, subject_col="id", value_col="edss")
>>> len(got.relapses), got.report.warnings
(1, ['1 relapses for 1 subjects not in the visits table were ignored'])
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple, TypeAlias

import pandas as pd

from smoulder.schema.dates import DateRule
from smoulder.schema.report import IngestReport
from smoulder.schema.tables import (
    ColumnSource,
    validate_mri_activity,
    validate_relapses,
    validate_visits,
)

__all__ = ["ClinicInputs", "validate_inputs"]

Table: TypeAlias = pd.DataFrame | ColumnSource | Callable[[], ColumnSource]


def _load(table: Any) -> Any:
    """A table, or a loader that gives it (so that a file is read only when its turn comes)."""
    return table() if callable(table) else table


class ClinicInputs(NamedTuple):
    """Validated tables of one analysis and the report of the visits (with every warning)."""

    visits: pd.DataFrame
    relapses: pd.DataFrame | None
    mri_activity: pd.DataFrame | None
    report: IngestReport


def validate_inputs(
    visits: Table,
    relapses: Table | None = None,
    mri_activity: Table | None = None,
    *,
    sources: tuple[str, str, str] = ("<visits>", "<relapses>", "<mri>"),
    subject_col: str = "subject",
    date_col: str = "date",
    value_col: str = "value",
    outcome: str = "edss",
    validconf_col: str | None = None,
    valuedelta_col: str | None = None,
    relapse_date_col: str | None = None,
    relapse_end_col: str | None = None,
    mri_date_col: str | None = None,
    mri_active_col: str = "active",
    on_duplicate: str = "error",
    on_missing: str = "error",
    future_dates: str | DateRule = "warn",
    date_format: str = "iso",
) -> ClinicInputs:
    """Check the visits, relapses and MRI activity of one analysis.

    Parameters
    ----------
    visits, relapses, mri_activity : DataFrame, ColumnSource or callable
        The tables (relapses and scans optional), or functions that read them when their turn
        comes.
    sources : tuple of str
        How messages name the three tables (file names, or ``<visits>`` for DataFrames).
    subject_col, date_col : str
        Subject and date columns, the same in every table unless ``relapse_date_col`` /
        ``mri_date_col`` name another date column.
    value_col, outcome, validconf_col, on_duplicate, on_missing
        See :func:`~smoulder.schema.tables.validate_visits`.
    valuedelta_col : str, optional
        A visits column that sets the minimal change instead of the value; returned as
        ``valuedelta``.
    relapse_end_col : str, optional
        Relapse end dates.
    mri_active_col : str
        Whether a scan showed activity.
    future_dates, date_format
        The date rule of every table.

    Returns
    -------
    ClinicInputs
        ``visits``, ``relapses`` and ``mri_activity`` (None when not given) and the report.
    """
    dates: dict[str, Any] = {"future_dates": future_dates, "date_format": date_format}
    vis, report = validate_visits(
        _load(visits),
        source=sources[0],
        subject_col=subject_col,
        date_col=date_col,
        value_col=value_col,
        outcome=outcome,
        validconf_col=validconf_col,
        on_duplicate=on_duplicate,
        extra_cols=(valuedelta_col,) if valuedelta_col else (),
        on_missing=on_missing,
        **dates,
    )
    if valuedelta_col:
        vis = vis.rename(columns={valuedelta_col: "valuedelta"})
    known: Any = vis["subject"].cat.categories
    rel = None
    if relapses is not None:
        rel, rrep = validate_relapses(
            _load(relapses),
            source=sources[1],
            subject_col=subject_col,
            date_col=relapse_date_col or date_col,
            end_date_col=relapse_end_col,
            known_subjects=known,
            **dates,
        )
        report.warnings.extend(rrep.warnings)
    mri = None
    if mri_activity is not None:
        mri, mrep = validate_mri_activity(
            _load(mri_activity),
            source=sources[2],
            subject_col=subject_col,
            date_col=mri_date_col or date_col,
            active_col=mri_active_col,
            known_subjects=known,
            **dates,
        )
        report.warnings.extend(mrep.warnings)
    return ClinicInputs(vis, rel, mri, report)
