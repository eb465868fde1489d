"""The EDSS-plus composite pipeline: one visits table with a column per outcome -> checks -> the
first confirmed worsening in any component -> events, summary and settings files.

Examples
--------
>>> import pandas as pd
>>> from smoulder.pipelines import composite
>>> v = pd.DataFrame(
...     {
...         "subject": ["p1"] * 4,
...         "date": ["2020-01-01", "2020-04-10", "2020-07-19", "2020-10-27"],
...         "edss": [2.0, 2.0, 3.0, 3.0],
...         "t25fw": [5.0, 6.0, 6.0, 6.0],
...     }
... )
>>> res = composite.run(v, components=["edss", "t25fw"])
>>> res.events[["subject", "components"]].values.tolist()
[['p1', 't25fw']]
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from smoulder._params import json_text
from smoulder.clinical.composite import CompositeResult, CompositeSettings
from smoulder.exceptions import SettingsError
from smoulder.pipelines._clinical import Progress, check_inputs, settings_from, staged, step
from smoulder.pipelines._files import landed, write_beside

__all__ = ["run", "write", "planned_outputs"]


def planned_outputs(out: Path) -> list[Path]:
    """The events file, then the summary and settings beside it.

    Parameters
    ----------
    out : Path
        The events file; the others are named after its stem.

    Returns
    -------
    list of Path
        ``out``, ``<stem>_summary``, ``<stem>_settings.toml`` and ``<stem>_settings.json``.
    """
    stem = out.with_suffix("")
    return [
        out,
        Path(f"{stem}_summary{out.suffix}"),
        Path(f"{stem}_settings.toml"),
        Path(f"{stem}_settings.json"),
    ]


def run(
    visits: str | Path | pd.DataFrame,
    relapses: str | Path | pd.DataFrame | None = None,
    mri_activity: str | Path | pd.DataFrame | None = None,
    settings: CompositeSettings | Mapping[str, Any] | str | Path | None = None,
    *,
    components: Sequence[str] | None = None,
    component_cols: Sequence[str] | None = None,
    out: str | Path | None = None,
    subject_col: str = "subject",
    date_col: str = "date",
    on_duplicate: str = "error",
    on_missing: str = "error",
    sep: str | None = None,
    date_format: str = "iso",
    future_dates: Any = "warn",
    labels: Mapping[str, str] | None = None,
    progress: Progress | None = None,
    **overrides: Any,
) -> CompositeResult:
    """Run the composite from a visits table (file or DataFrame) with one column per component.

    Parameters
    ----------
    visits, relapses, mri_activity : path or DataFrame
        The tables; relapses and MRI activity optional.
    settings : CompositeSettings, mapping or path, optional
        Options shared by every component; ``overrides`` win over it.
    components : sequence of str, optional
        Outcomes in tie-break order (default the settings': EDSS, T25FW, 9HPT).
    component_cols : sequence of str, optional
        The column of each component (default: the outcome names).
    out : path, optional
        The events table; ``<stem>_summary`` and ``<stem>_settings.toml``/``.json`` beside it.
    subject_col, date_col, on_duplicate, on_missing, sep, date_format, future_dates
        Reading rules (see :mod:`smoulder.schema.tables`).
    labels : mapping, optional
        How messages name the inputs (the command line passes its flags).
    progress : callable, optional
        Told what happens before each step.

    Returns
    -------
    CompositeResult
    """
    from smoulder.clinical.composite import composite_cdw
    from smoulder.io.tables import read_columns, read_inputs

    names = {"visits": "visits", "relapses": "relapses", "mri_activity": "mri_activity"}
    names.update({"settings": "settings", "out": "out", **(labels or {})})
    inputs = check_inputs(
        {
            "visits": visits,
            "relapses": relapses,
            "mri_activity": mri_activity,
            "settings": settings if isinstance(settings, (str, Path)) else None,
        },
        names,
    )
    if components is not None:
        overrides["components"] = list(components)
    s = settings_from(CompositeSettings, settings, **overrides)
    cols = list(component_cols) if component_cols is not None else list(s.components)
    if len(cols) != len(s.components):
        raise SettingsError(
            f"{names.get('component_cols', 'component_cols')} needs one column per component "
            f"({len(s.components)}); got {len(cols)}"
        )
    out_path = Path(out) if out is not None else None
    outputs = planned_outputs(out_path) if out_path is not None else []
    with staged(out_path, outputs, inputs, flag=names["out"]) as stage:
        step(progress, "reading and checking the visits")
        table: Any = visits
        if isinstance(visits, (str, Path)):
            table = read_columns(visits, subject_col=subject_col, sep=sep, what="visits table")
        reading = {
            "sep": sep,
            "subject_col": subject_col,
            "date_col": date_col,
            "on_duplicate": on_duplicate,
            "on_missing": on_missing,
            "future_dates": future_dates,
            "date_format": date_format,
        }
        per_outcome: dict[str, pd.DataFrame] = {}
        rel = mri = None
        for i, (outcome, col) in enumerate(zip(s.components, cols, strict=True)):
            got = read_inputs(
                table,
                relapses if i == 0 else None,
                mri_activity if i == 0 else None,
                value_col=col,
                outcome=outcome,
                **reading,
            )
            per_outcome[outcome] = got.visits
            if i == 0:
                rel, mri = got.relapses, got.mri_activity
        step(progress, "scanning every component")
        result = composite_cdw(per_outcome, rel, mri, s)
        if stage is not None and out_path is not None:
            written = _write_files(result, stage.path(out_path), date_format=date_format)
    if out_path is not None:
        result.files = landed(out_path, written)
    return result


def write(result: CompositeResult, out: str | Path, *, date_format: str = "iso") -> dict[str, Path]:
    """Write the composite's events, summary and settings next to ``out``, all or nothing.

    Parameters
    ----------
    result : CompositeResult
        What :func:`run` returned.
    out : path
        The events file (``.csv``, ``.tsv`` or ``.parquet``).
    date_format : {"iso", "day"}
        Dates in the tables as ISO dates or as day numbers.

    Returns
    -------
    dict of str to Path
        The written files: ``events``, ``summary``, ``settings`` and ``settings_json``.

    Raises
    ------
    OutputError
        An output that cannot be written or has the wrong suffix (nothing is then written).
    """
    out = Path(out)
    return write_beside(
        out, planned_outputs(out), lambda at: _write_files(result, at, date_format=date_format)
    )


def _write_files(result: CompositeResult, out: Path, *, date_format: str) -> dict[str, Path]:
    from smoulder.io.tables import write_table

    def shown(df: pd.DataFrame) -> pd.DataFrame:
        if date_format != "day":
            return df
        from smoulder.schema.dates import to_day_numbers

        return to_day_numbers(df)

    paths = dict(
        zip(("events", "summary", "settings", "settings_json"), planned_outputs(out), strict=True)
    )
    write_table(shown(result.events), paths["events"])
    write_table(shown(result.summary), paths["summary"])
    paths["settings"].write_text(result.settings.to_toml(), encoding="utf-8")
    meta = {
        "smoulder_version": result.version,
        "settings": result.settings.to_dict(),
        "subjects": int(len(result.summary)),
        "subjects_with_event": int(result.summary["event"].sum()),
    }
    paths["settings_json"].write_text(json_text(meta), encoding="utf-8")
    return paths
