"""The confirmed-milestone pipeline (e.g. EDSS 6 reached and confirmed): visits (file or
DataFrame) -> checks -> one row per subject -> the table and its settings files.

Examples
--------
>>> import pandas as pd
>>> from smoulder.pipelines import milestones
>>> v = pd.DataFrame(
...     {
...         "subject": ["a"] * 4,
...         "date": ["2020-01-01", "2020-06-01", "2020-12-01", "2021-06-01"],
...         "edss": [5.0, 6.0, 6.5, 6.0],
...     }
... )
>>> milestones.run(v, value_col="edss", milestone=6).summary["reached"].tolist()
[True]
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pandas as pd

from smoulder._params import json_text
from smoulder.clinical.milestones import MilestoneResult, MilestoneSettings
from smoulder.pipelines._clinical import Progress, check_inputs, settings_from, staged, step
from smoulder.pipelines._files import landed, write_beside

__all__ = ["run", "write", "planned_outputs"]


def planned_outputs(out: Path) -> list[Path]:
    """The table, then its settings beside it.

    Parameters
    ----------
    out : Path
        The per-subject table; the settings are named after its stem.

    Returns
    -------
    list of Path
        ``out``, ``<stem>_settings.toml`` and ``<stem>_settings.json``.
    """
    stem = out.with_suffix("")
    return [out, Path(f"{stem}_settings.toml"), Path(f"{stem}_settings.json")]


def run(
    visits: str | Path | pd.DataFrame,
    relapses: str | Path | pd.DataFrame | None = None,
    settings: MilestoneSettings | Mapping[str, Any] | str | Path | None = None,
    *,
    milestone: float | None = None,
    out: str | Path | None = None,
    subject_col: str = "subject",
    date_col: str = "date",
    value_col: str | None = None,
    on_duplicate: str = "error",
    on_missing: str = "error",
    sep: str | None = None,
    date_format: str = "iso",
    future_dates: Any = "warn",
    labels: Mapping[str, str] | None = None,
    progress: Progress | None = None,
    **overrides: Any,
) -> MilestoneResult:
    """First confirmed reach of ``milestone`` per subject, from a file or a DataFrame.

    Parameters
    ----------
    visits, relapses : path or DataFrame
        The tables (relapses optional).
    settings : MilestoneSettings, mapping or path, optional
        The milestone and confirmation options; ``milestone`` and ``overrides`` win over it.
    milestone : float, optional
        The value to reach (refused before anything is read when the outcome cannot take it).
    out : path, optional
        The per-subject table; ``<stem>_settings.toml``/``.json`` beside it.
    subject_col, date_col, value_col, on_duplicate, on_missing, sep, date_format, future_dates
        Reading rules (``value_col`` defaults to the outcome's name).
    labels : mapping, optional
        How messages name the inputs.
    progress : callable, optional
        Told what happens before each step.

    Returns
    -------
    MilestoneResult
    """
    from smoulder.clinical.milestones import confirmed_milestone
    from smoulder.io.tables import read_inputs

    names = {"visits": "visits", "relapses": "relapses", "settings": "settings", "out": "out"}
    names.update(labels or {})
    inputs = check_inputs(
        {
            "visits": visits,
            "relapses": relapses,
            "settings": settings if isinstance(settings, (str, Path)) else None,
        },
        names,
    )
    s = settings_from(MilestoneSettings, settings, milestone=milestone, **overrides)
    out_path = Path(out) if out is not None else None
    outputs = planned_outputs(out_path) if out_path is not None else []
    with staged(out_path, outputs, inputs, flag=names["out"]) as stage:
        step(progress, "reading and checking the visits")
        got = read_inputs(
            visits,
            relapses,
            sep=sep,
            subject_col=subject_col,
            date_col=date_col,
            value_col=value_col or s.outcome,
            outcome=s.outcome,
            on_duplicate=on_duplicate,
            on_missing=on_missing,
            future_dates=future_dates,
            date_format=date_format,
        )
        step(progress, f"scanning {len(got.visits):,} visits")
        result = confirmed_milestone(got.visits, relapses=got.relapses, settings=s)
        if stage is not None and out_path is not None:
            written = _write_files(result, stage.path(out_path), date_format=date_format)
    if out_path is not None:
        result.files = landed(out_path, written)
    return result


def write(result: MilestoneResult, out: str | Path, *, date_format: str = "iso") -> dict[str, Path]:
    """Write the per-subject table and its settings next to ``out``, all or nothing.

    Parameters
    ----------
    result : MilestoneResult
        What :func:`run` returned.
    out : path
        The per-subject table (``.csv``, ``.tsv`` or ``.parquet``).
    date_format : {"iso", "day"}
        Dates in the table as ISO dates or as day numbers.

    Returns
    -------
    dict of str to Path
        The written files: ``milestone``, ``settings`` and ``settings_json``.

    Raises
    ------
    OutputError
        An output that cannot be written or has the wrong suffix (nothing is then written).
    """
    out = Path(out)
    return write_beside(
        out, planned_outputs(out), lambda at: _write_files(result, at, date_format=date_format)
    )


def _write_files(result: MilestoneResult, out: Path, *, date_format: str) -> dict[str, Path]:
    from smoulder.io.tables import write_table

    table = result.summary
    if date_format == "day":
        from smoulder.schema.dates import to_day_numbers

        table = to_day_numbers(table)
    paths = dict(zip(("milestone", "settings", "settings_json"), planned_outputs(out), strict=True))
    write_table(table, paths["milestone"])
    paths["settings"].write_text(result.settings.to_toml(), encoding="utf-8")
    meta = {
        "smoulder_version": result.version,
        "settings": result.settings.to_dict(),
        "subjects": int(len(result.summary)),
        "reached": int(result.summary["reached"].sum()),
    }
    paths["settings_json"].write_text(json_text(meta), encoding="utf-8")
    return paths
