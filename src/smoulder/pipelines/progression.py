"""The progression pipeline: visits, relapses and MRI activity (files or DataFrames) -> checks ->
the engine -> events, summary, settings, report and figures.

The command line (``smoulder progression``), the store, the demo and the Python API all run a
progression analysis through :func:`run`; :func:`write` writes a result (also what
``ProgressionResult.write`` calls).

Examples
--------
>>> import pandas as pd
>>> from smoulder.pipelines import progression
>>> v = pd.DataFrame(
...     {
...         "subject": ["a"] * 4,
...         "date": ["2020-01-01", "2020-07-01", "2021-01-01", "2021-07-01"],
...         "edss": [2.0, 3.0, 3.0, 3.0],
...     }
... )
>>> res = progression.run(v, value_col="edss", event="multiple")
>>> res.counts()["cdw_events"]
1
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pandas as pd

from smoulder._params import json_text
from smoulder.clinical.result import ProgressionResult
from smoulder.clinical.settings import ProgressionSettings
from smoulder.exceptions import SettingsError
from smoulder.pipelines._clinical import Progress, check_inputs, settings_from, staged, step
from smoulder.pipelines._files import FIGURE_DPI, FIGURE_FORMATS, figure_paths, save_figure

__all__ = [
    "run",
    "write",
    "planned_outputs",
    "INPUT_LABELS",
    "FIGURE_DPI",
    "FIGURE_FORMATS",
    "save_figure",
]

#: How the Python API names the inputs in messages (the command line passes its flags).
INPUT_LABELS = {
    "visits": "visits",
    "relapses": "relapses",
    "mri_activity": "mri_activity",
    "groups": "groups",
    "settings": "settings",
    "out": "out",
}


# the figure helpers are shared with the other pipelines (kept importable from here)
_figure_paths = figure_paths


def planned_outputs(
    out: Path,
    *,
    plots: bool,
    group_col: str | None = None,
    unconfirmed: bool = False,
) -> list[Path]:
    """Every file a run with ``out`` may write: the events file first, then those beside it.

    Parameters
    ----------
    out : Path
        The events file; the others are named after its stem.
    plots : bool
        Include the Kaplan-Meier and trajectory figures.
    group_col : str, optional
        The group column when groups are compared (hazard ratios, and a figure with ``plots``).
    unconfirmed : bool
        Include the table of unconfirmed changes.

    Returns
    -------
    list of Path
        ``out``, the summary, settings (TOML and JSON) and report, then the optional files.
    """
    stem = out.with_suffix("")
    names = [
        f"{stem}_summary{out.suffix}",
        f"{stem}_settings.toml",
        f"{stem}_settings.json",
        f"{stem}_report.md",
    ]
    if unconfirmed:
        names.append(f"{stem}_unconfirmed{out.suffix}")
    if plots:
        names += [f"{stem}_{fig}.{ext}" for fig in ("km", "trajectories") for ext in FIGURE_FORMATS]
    if group_col is not None:
        names.append(f"{stem}_hazard_ratio_{group_col}.csv")
        if plots:
            names += [f"{stem}_km_by_{group_col}.{ext}" for ext in FIGURE_FORMATS]
    return [out, *(Path(n) for n in names)]


def run(
    visits: str | Path | pd.DataFrame,
    relapses: str | Path | pd.DataFrame | None = None,
    mri_activity: str | Path | pd.DataFrame | None = None,
    settings: ProgressionSettings | Mapping[str, Any] | str | Path | None = None,
    *,
    out: str | Path | None = None,
    subject_col: str = "subject",
    date_col: str = "date",
    value_col: str | None = None,
    validconf_col: str | None = None,
    valuedelta_col: str | None = None,
    relapse_date_col: str | None = None,
    relapse_end_col: str | None = None,
    mri_date_col: str | None = None,
    mri_active_col: str = "active",
    on_duplicate: str = "error",
    on_missing: str = "error",
    sep: str | None = None,
    date_format: str = "iso",
    future_dates: Any = "warn",
    groups: str | Path | pd.DataFrame | None = None,
    group_col: str = "arm",
    reference_group: str | None = None,
    plots: bool = True,
    max_trajectory_plots: int = 12,
    km_min_at_risk: int = 10,
    return_unconfirmed: bool = False,
    labels: Mapping[str, str] | None = None,
    source: str | None = None,
    progress: Progress | None = None,
    **overrides: Any,
) -> ProgressionResult:
    """Run a progression analysis from files or DataFrames; write its files when ``out`` is given.

    Parameters
    ----------
    visits, relapses, mri_activity : path or DataFrame
        The tables (CSV, TSV or Parquet files, or DataFrames); relapses and MRI optional.
    settings : ProgressionSettings, mapping or path, optional
        The analysis options, or a settings file written beside an earlier output;
        ``overrides`` (keyword options such as ``event="multiple"``) win over it.
    out : path, optional
        The events file (``.csv``, ``.tsv`` or ``.parquet``); the summary, settings, report and
        figures are written beside it, all or nothing, never over an input.
    subject_col, date_col, value_col, validconf_col, valuedelta_col : str
        Visits columns (``value_col`` defaults to the outcome's name).
    relapse_date_col, relapse_end_col, mri_date_col, mri_active_col : str
        Relapse and MRI columns.
    on_duplicate, on_missing, sep, date_format, future_dates
        Reading rules (see :mod:`smoulder.schema.tables`).
    groups : path or DataFrame, optional
        Subject and group (e.g. trial arm): Kaplan-Meier per group and Cox hazard ratios.
    group_col, reference_group : str
        The group column and the reference level of the hazard ratios.
    plots : bool
        Write the Kaplan-Meier and trajectory figures.
    max_trajectory_plots : int
        Subjects in the trajectory figure.
    km_min_at_risk : int
        The Kaplan-Meier figures stop each curve where fewer than this many subjects remain at
        risk (default 10; said in the caption, the report and the settings JSON).
    return_unconfirmed : bool
        Also report every change that was never confirmed (``<stem>_unconfirmed``).
    labels : mapping, optional
        How messages name the inputs (the command line passes its flags).
    source : str, optional
        How messages name tables given as DataFrames (``store``; default ``<visits>``, ...).
    progress : callable, optional
        Told what happens before each step.

    Returns
    -------
    ProgressionResult
        With ``files`` (name -> path) when ``out`` was given.
    """
    from smoulder.clinical.progression import run_validated
    from smoulder.io.tables import read_inputs

    names = {**INPUT_LABELS, **(labels or {})}
    inputs = check_inputs(
        {
            "visits": visits,
            "relapses": relapses,
            "mri_activity": mri_activity,
            "groups": groups,
            "settings": settings if isinstance(settings, (str, Path)) else None,
        },
        names,
    )
    s = settings_from(ProgressionSettings, settings, **overrides)
    _check_min_at_risk(km_min_at_risk, names.get("km_min_at_risk", "km_min_at_risk"))
    out_path = Path(out) if out is not None else None
    outputs = (
        planned_outputs(
            out_path,
            plots=plots,
            group_col=group_col if groups is not None else None,
            unconfirmed=return_unconfirmed,
        )
        if out_path is not None
        else []
    )
    with staged(out_path, outputs, inputs, flag=names.get("out", "--out")) as stage:
        step(progress, "reading and checking the visits")
        got = read_inputs(
            visits,
            relapses,
            mri_activity,
            sep=sep,
            subject_col=subject_col,
            source=source,
            date_col=date_col,
            value_col=value_col or s.outcome,
            outcome=s.outcome,
            validconf_col=validconf_col,
            valuedelta_col=valuedelta_col,
            relapse_date_col=relapse_date_col,
            relapse_end_col=relapse_end_col,
            mri_date_col=mri_date_col,
            mri_active_col=mri_active_col,
            on_duplicate=on_duplicate,
            on_missing=on_missing,
            future_dates=future_dates,
            date_format=date_format,
        )
        from smoulder.clinical._kernel import interpreting, needs_compiling

        first = (
            " (compiling the engine first: first run on this machine only,"
            " about half a minute on 2 cores)"
        )
        compiles = needs_compiling() and not interpreting(len(got.visits))
        step(progress, f"scanning {len(got.visits):,} visits{first if compiles else ''}")
        result = run_validated(
            got.visits,
            got.relapses,
            got.mri_activity,
            s,
            ingest=got.report,
            return_unconfirmed=return_unconfirmed,
        )
        if stage is not None and out_path is not None:
            written = _write_files(
                result,
                stage.path(out_path),
                plots=plots,
                max_trajectory_plots=max_trajectory_plots,
                date_format=date_format,
                progress=progress,
                km_min_at_risk=km_min_at_risk,
            )
            if groups is not None:
                step(progress, "comparing groups")
                written.update(
                    _group_comparison(
                        result,
                        groups,
                        stage.path(out_path),
                        subject_col=subject_col,
                        group_col=group_col,
                        reference_group=reference_group,
                        plots=plots,
                        sep=sep,
                        label=names["groups"],
                        km_min_at_risk=km_min_at_risk,
                    )
                )
    if out_path is not None:
        result.files = {k: out_path.parent / v.name for k, v in written.items()}
    return result


def write(
    result: ProgressionResult,
    out: str | Path,
    *,
    plots: bool = True,
    max_trajectory_plots: int = 12,
    date_format: str = "iso",
    km_min_at_risk: int = 10,
) -> dict[str, Path]:
    """Write a result's files next to ``out`` (the events file), all or nothing.

    ``<stem>_summary``, ``<stem>_settings.toml`` / ``.json``, ``<stem>_report.md``, with
    ``return_unconfirmed`` ``<stem>_unconfirmed``, and with ``plots`` ``<stem>_km.png`` and
    ``<stem>_trajectories.png``. With ``date_format="day"`` the tables give day numbers.

    Parameters
    ----------
    result : ProgressionResult
        What :func:`run` returned.
    out : path
        The events file (``.csv``, ``.tsv`` or ``.parquet``).
    plots : bool
        Write the Kaplan-Meier and trajectory figures.
    max_trajectory_plots : int
        Subjects in the trajectory figure.
    date_format : {"iso", "day"}
        Dates in the tables as ISO dates or as day numbers (the trajectory figure is then
        left out).
    km_min_at_risk : int
        The Kaplan-Meier figure stops where fewer than this many subjects remain at risk.

    Returns
    -------
    dict of str to Path
        The written files by key (``events``, ``summary``, ``settings``, ``settings_json``,
        ``report``, ...).

    Raises
    ------
    OutputError
        An output that cannot be written or has the wrong suffix (nothing is then written).
    """
    _check_min_at_risk(km_min_at_risk, "km_min_at_risk")
    out = Path(out)
    outputs = planned_outputs(out, plots=plots, unconfirmed=result.unconfirmed is not None)
    with staged(out, outputs, flag="out") as stage:
        written = _write_files(
            result,
            stage.path(out),
            plots=plots,
            max_trajectory_plots=max_trajectory_plots,
            date_format=date_format,
            km_min_at_risk=km_min_at_risk,
        )
    return {k: out.parent / v.name for k, v in written.items()}


def _check_min_at_risk(value: Any, flag: str) -> None:
    """Refuse a cut-off that is not a whole number of at least 1, naming ``flag``."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise SettingsError(
            f"{flag} must be a whole number of subjects of at least 1, e.g. 10 (got {value!r})"
        )


def _write_files(
    result: ProgressionResult,
    out: Path,
    *,
    plots: bool,
    max_trajectory_plots: int,
    date_format: str,
    progress: Progress | None = None,
    km_min_at_risk: int = 10,
) -> dict[str, Path]:
    """Every file of a result at ``out`` (a path inside the staging folder)."""
    shown = result
    if date_format == "day":
        from smoulder.schema.dates import to_day_numbers

        shown = dataclasses.replace(
            result,
            events=to_day_numbers(result.events),
            summary=to_day_numbers(result.summary),
            unconfirmed=(
                to_day_numbers(result.unconfirmed) if result.unconfirmed is not None else None
            ),
        )
    stem = out.with_suffix("")
    step(progress, f"writing {len(result.events):,} events and {len(result.summary):,} subjects")
    paths: dict[str, Path] = {"events": out}
    paths["summary"] = Path(f"{stem}_summary{out.suffix}")
    tables = [(shown.events, out), (shown.summary, paths["summary"])]
    if shown.unconfirmed is not None:
        paths["unconfirmed"] = Path(f"{stem}_unconfirmed{out.suffix}")
        tables.append((shown.unconfirmed, paths["unconfirmed"]))
    _write_tables(tables)
    paths["settings"] = Path(f"{stem}_settings.toml")
    paths["settings"].write_text(result.settings.to_toml(), encoding="utf-8")
    paths["settings_json"] = Path(f"{stem}_settings.json")
    meta: dict[str, Any] = {
        "smoulder_version": result.version,
        "settings": result.settings.to_dict(),
        "counts": result.counts(),
    }
    if result.ingest is not None and hasattr(result.ingest, "to_dict"):
        meta["input"] = result.ingest.to_dict()
    if plots:
        meta["figures"] = {"km_min_at_risk": km_min_at_risk}
    paths["settings_json"].write_text(json_text(meta), encoding="utf-8")
    paths["report"] = Path(f"{stem}_report.md")
    report = result.report_text()
    if plots:
        report = report.rstrip("\n") + "\n\n" + km_cut_sentence(km_min_at_risk) + "\n"
    paths["report"].write_text(report, encoding="utf-8")
    if plots:
        step(progress, "drawing the figures")
        # day numbers: the time-to-event curve only, trajectories would show made-up dates
        drawn = result if date_format != "day" else dataclasses.replace(result, visits=None)
        paths.update(
            _write_plots(
                drawn,
                stem,
                max_trajectory_plots=max_trajectory_plots,
                km_min_at_risk=km_min_at_risk,
            )
        )
    return paths


def _write_tables(tables: list[tuple[pd.DataFrame, Path]]) -> None:
    """Write the tables (subject ids as text, as ``events_for_output`` gives them), side by side
    on Arrow's CPU threads when there are several (``OMP_NUM_THREADS=1``: one after another):
    the writers release the GIL, so the summary costs no wall time beside the events."""
    import pyarrow as pa

    from smoulder.io.tables import write_table

    ids = ("subject",)
    threads = min(len(tables), pa.cpu_count())
    if threads <= 1 or sum(len(df) for df, _ in tables) < 100_000:
        for df, path in tables:
            write_table(df, path, text_cols=ids)
        return
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(threads) as pool:
        jobs = [pool.submit(write_table, df, path, text_cols=ids) for df, path in tables]
        for job in jobs:
            job.result()


def km_cut_sentence(min_at_risk: int) -> str:
    """The report's sentence on where the Kaplan-Meier figures stop (``km_min_at_risk``)."""
    return (
        f"The Kaplan-Meier figures stop each curve where fewer than {min_at_risk} subjects "
        f"remain at risk (km_min_at_risk = {min_at_risk}); the counts above use every subject."
    )


def _write_plots(
    result: ProgressionResult,
    stem: Path,
    *,
    max_trajectory_plots: int = 12,
    km_min_at_risk: int = 10,
) -> dict[str, Path]:
    """The Kaplan-Meier curve of the first event and the trajectories of subjects with events,
    each as PNG, SVG and PDF."""
    import matplotlib

    matplotlib.use("Agg")

    paths: dict[str, Path] = {}
    fig = result.plot("km", min_at_risk=km_min_at_risk)
    if fig is not None:
        paths.update(_figure_paths("km_plot", save_figure(fig, f"{stem}_km")))
    fig = result.plot("trajectories", max_subjects=max_trajectory_plots)
    if fig is not None:
        paths.update(_figure_paths("trajectories_plot", save_figure(fig, f"{stem}_trajectories")))
    return paths


def _group_comparison(
    result: ProgressionResult,
    groups: str | Path | pd.DataFrame,
    out: Path,
    *,
    subject_col: str,
    group_col: str,
    reference_group: str | None,
    plots: bool,
    sep: str | None,
    label: str,
    km_min_at_risk: int = 10,
) -> dict[str, Path]:
    """Kaplan-Meier curves per group and hazard ratios against the reference group."""
    from smoulder.clinical.survival import (
        cox_hazard_ratio,
        hazard_ratio_text,
        kaplan_meier,
        time_to_first_event,
    )
    from smoulder.exceptions import ColumnNotFoundError
    from smoulder.io.tables import read_table, write_table

    table = groups if isinstance(groups, pd.DataFrame) else read_table(groups, sep=sep)
    source = str(groups) if not isinstance(groups, pd.DataFrame) else label
    for col in (subject_col, group_col):
        if col not in table.columns:
            raise ColumnNotFoundError(
                f"missing column '{col}'; columns found: {', '.join(map(str, table.columns[:30]))}",
                file=source,
                column=col,
            )
    g = table[[subject_col, group_col]].rename(columns={subject_col: "subject"})
    g["subject"] = g["subject"].astype(str).str.strip()
    kind = {"firstCDI": "CDI", "firstPIRA": "PIRA", "firstRAW": "RAW"}.get(
        result.settings.event, "CDW"
    )
    tte = time_to_first_event(result.events, result.summary, kind=kind)
    stem = out.with_suffix("")
    paths: dict[str, Path] = {}
    km = kaplan_meier(tte, group=g, label=kind, min_at_risk=km_min_at_risk)
    hr = cox_hazard_ratio(tte, g, group_col, reference=reference_group)
    lines = [
        f"{r.group} vs {r.reference}: {hazard_ratio_text(r._asdict())}" for r in hr.itertuples()
    ]
    if plots:
        import matplotlib

        matplotlib.use("Agg")
        fig = km.plot(annotation="\n".join(lines) or None)
        written = save_figure(fig, f"{stem}_km_by_{group_col}")
        paths.update(_figure_paths("km_by_group_plot", written))
    paths["hazard_ratios"] = Path(f"{stem}_hazard_ratio_{group_col}.csv")
    write_table(hr, paths["hazard_ratios"])
    report = Path(f"{stem}_report.md")
    if report.exists():
        with report.open("a", encoding="utf-8") as fh:
            fh.write(group_report(km, hr, group_col, lines))
    return paths


def group_report(km: Any, hr: pd.DataFrame, group_col: str, lines: list[str]) -> str:
    """The report's section on the groups: hazard ratios with 95 % CI and log-rank p.

    Parameters
    ----------
    km : KMResult
        The curves per group (subjects and events of each).
    hr : DataFrame
        From :func:`smoulder.clinical.survival.cox_hazard_ratio`.
    group_col : str
        The group column (named in the heading).
    lines : list of str
        :func:`~smoulder.clinical.survival.hazard_ratio_text` of each row of ``hr``.
    """
    out = ["", f"## Groups ({group_col})", ""]
    for row in km.summary.itertuples():
        out.append(
            f"- {row.group}: {row.subjects:,} subjects, {row.events:,} with a first {km.label}"
        )
    out.append("")
    out += [f"- {line}" for line in lines]
    out += [
        "",
        "Hazard ratios are from a Cox proportional-hazards model of each group against the "
        "reference group, with the 95 % confidence interval; p is the log-rank test's. "
        f"The figure's curves stop where fewer than {km.settings.min_at_risk} subjects remain "
        "at risk.",
        "",
    ]
    return "\n".join(out)
