"""The digital pipeline: a long table in, validated, sustained worsening detected, files written.

The command line (``smoulder digital detect``), the store (:mod:`smoulder.store.analyses`) and the
Python API all run digital detection through this module, so the wiring exists once:

:func:`run`
    reads the long table (a file, with :func:`smoulder.io.measures.read_measures`) or validates a
    DataFrame (:func:`smoulder.io.measures.validate_measures`), reads relapse onsets, calls the
    engine (:func:`smoulder.digital.detect`) and, when ``out`` is given, writes the outputs;
:func:`write`
    writes a result's files all or nothing (:class:`smoulder.io.outputs.OutputPlan`): the events
    table at ``out`` (CSV, TSV or Parquet by suffix), ``<stem>_settings.json`` (software,
    settings, decision limits, methods paragraph, input report), ``<stem>_weekly`` and
    ``<stem>_gaps`` beside it, optionally a FHIR R4 Bundle of the events and one plot per person
    and measure with an event.

Examples
--------
>>> import pathlib, tempfile
>>> from smoulder.pipelines import digital
>>> from smoulder.synth.digital import simulate_weekly_tests
>>> data, truth = simulate_weekly_tests(n_subjects=4, decline_share=1.0, decline_pct=25, seed=2)
>>> tmp = tempfile.TemporaryDirectory()
>>> out = pathlib.Path(tmp.name) / "events.csv"
>>> res = digital.run(data, out=out)
>>> sorted(p.name for p in out.parent.iterdir())
['events.csv', 'events_gaps.csv', 'events_settings.json', 'events_weekly.csv']
>>> res.inputs["rows_read"] == len(data)
True
>>> tmp.cleanup()
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from smoulder._params import json_text
from smoulder.digital import DetectionResult, DetectSettings, detect, resolve_settings
from smoulder.io.outputs import JSON_SUFFIXES, TABLE_SUFFIXES, OutputPlan, Staging
from smoulder.schema.catalogue import get_measure

__all__ = [
    "run",
    "write",
    "planned_outputs",
    "output_paths",
    "settings_document",
    "resolve_settings",
]

PathLike = str | os.PathLike[str]


def planned_outputs(out: PathLike, *, weekly_table: bool = True) -> dict[str, Path]:
    """The tables :func:`write` puts at and beside ``out``, by key (plots and FHIR aside).

    Parameters
    ----------
    out : path
        The events table (``.csv``, ``.tsv`` or ``.parquet``).
    weekly_table : bool
        Whether the weekly and gaps tables are written too.

    Returns
    -------
    dict
        ``events``, ``settings`` and (with ``weekly_table``) ``weekly`` and ``gaps``.
    """
    out = Path(out)
    stem = out.with_suffix("")
    paths = {"events": out, "settings": Path(f"{stem}_settings.json")}
    if weekly_table:
        paths["weekly"] = Path(f"{stem}_weekly{out.suffix}")
        paths["gaps"] = Path(f"{stem}_gaps{out.suffix}")
    return paths


def _plot_pairs(result: DetectionResult, max_plots: int) -> pd.DataFrame:
    return result.events[["subject", "measure"]].drop_duplicates().head(max_plots)


def output_paths(
    result: DetectionResult,
    out: PathLike,
    *,
    weekly_table: bool = True,
    fhir_out: PathLike | None = None,
    plots: PathLike | None = None,
    max_plots: int = 50,
) -> dict[str, Path]:
    """Every path :func:`write` writes for ``result`` with these options, by key, in order.

    Parameters
    ----------
    result : DetectionResult
        The result to be written.
    out, weekly_table, fhir_out, plots, max_plots
        As for :func:`write`.

    Returns
    -------
    dict
        Final paths by key; plot files are numbered (``series_0001_<measure>.png``), never named
        after a subject.
    """
    paths = planned_outputs(out, weekly_table=weekly_table)
    if fhir_out is not None:
        paths["fhir"] = Path(fhir_out)
    if plots is not None:
        pairs = _plot_pairs(result, max_plots)
        for i, m in enumerate(pairs["measure"], start=1):
            paths[f"plot_{i}"] = Path(plots) / f"series_{i:04d}_{m}.png"
        if len(pairs):
            paths["plots_index"] = Path(plots) / "plots_index.csv"
    return paths


def _plan(
    inputs: Mapping[str, PathLike | None],
    out: PathLike,
    weekly_table: bool,
    fhir_out: PathLike | None,
    plots: PathLike | None,
) -> OutputPlan:
    plan = OutputPlan(dict(inputs))
    for key, path in planned_outputs(out, weekly_table=weekly_table).items():
        plan.add(path, "--out", suffixes=TABLE_SUFFIXES if key == "events" else None)
    return plan.add(fhir_out, "--fhir-out", suffixes=JSON_SUFFIXES).add_dir(plots, "--plots")


def run(
    measures: PathLike | pd.DataFrame,
    *,
    settings: DetectSettings | Mapping[str, Any] | None = None,
    relapses: PathLike | pd.DataFrame | None = None,
    only_measures: Sequence[str] | None = None,
    out: PathLike | None = None,
    weekly_table: bool = True,
    fhir_out: PathLike | None = None,
    plots: PathLike | None = None,
    max_plots: int = 50,
    source: str | None = None,
    subject_col: str = "subject",
    date_col: str = "date",
    measure_col: str = "measure",
    value_col: str = "value",
    unit_col: str | None = "unit",
    on_duplicate: str = "error",
    timezone: str | None = None,
    future_dates: str = "warn",
    sep: str | None = None,
    progress: Callable[[int, int], None] | None = None,
    **overrides: Any,
) -> DetectionResult:
    """Validate a long table, detect sustained worsening, and write the outputs when asked.

    Parameters
    ----------
    measures : path or DataFrame
        The long table ``subject, date, measure, value[, unit]``: a CSV, TSV or Parquet file, or a
        DataFrame (validated the same way: names, units, ranges, duplicates, daily values).
    settings : DetectSettings or mapping, optional
        Detection settings; ``overrides`` (keyword arguments) change single values.
    relapses : path or DataFrame, optional
        Relapse onsets (``subject, date``) to flag events that start soon after one.
    only_measures : sequence of str, optional
        Analyse only these catalogue measures (``--measure``).
    out : path, optional
        The events table to write (``.csv``, ``.tsv`` or ``.parquet``); nothing is written
        without it. Every output is checked before any work and written all or nothing.
    weekly_table : bool
        Also write the weekly and gaps tables beside ``out``.
    fhir_out : path, optional
        Also write the events as a FHIR R4 Bundle (``.json``).
    plots : path, optional
        A folder for one plot per person and measure with an event (at most ``max_plots``).
    max_plots : int
        The most plots written.
    source : str, optional
        The name of a DataFrame input in messages (default ``<DataFrame>``).
    subject_col, date_col, measure_col, value_col, unit_col : str
        Column names of the long table.
    on_duplicate, timezone, future_dates, sep
        As in :func:`smoulder.io.measures.read_measures` (``sep`` also for the relapses file).
    progress : callable, optional
        Called with ``(done, total)`` after each person and measure.

    Returns
    -------
    DetectionResult
        With ``inputs``, the input report of the long table. The paths written are those of
        :func:`output_paths` for the same options.

    Raises
    ------
    InputDataError
        A bad row or file, naming the file, row, column and the expected form.
    SettingsError
        A setting out of range.
    OutputError
        An output that would overwrite an input or cannot be written (before any work).
    """
    from smoulder.exceptions import SettingsError

    st = resolve_settings(settings, **overrides)
    if max_plots < 0:
        raise SettingsError(f"max_plots must be 0 or more (got {max_plots})")
    file_inputs: dict[str, PathLike | None] = {}
    if not isinstance(measures, pd.DataFrame):
        file_inputs["measures"] = measures
    if relapses is not None and not isinstance(relapses, pd.DataFrame):
        file_inputs["--relapses"] = relapses
    if out is None:
        if fhir_out is not None or plots is not None:
            raise SettingsError("fhir_out and plots need out (the events table) too")
        return _run(
            measures, st, relapses, only_measures, source, progress, _read_options(locals())
        )[0]
    from smoulder.io.outputs import check_input_file

    for flag, path in file_inputs.items():
        if path is not None:
            check_input_file(path, flag)
    plan = _plan(file_inputs, out, weekly_table, fhir_out, plots)
    with plan.staged() as stage:
        res, rel = _run(
            measures, st, relapses, only_measures, source, progress, _read_options(locals())
        )
        _write_files(res, stage, out, weekly_table, fhir_out, plots, max_plots, rel)
    return res


def _read_options(scope: Mapping[str, Any]) -> dict[str, Any]:
    keys = (
        "subject_col",
        "date_col",
        "measure_col",
        "value_col",
        "unit_col",
        "on_duplicate",
        "timezone",
        "future_dates",
        "sep",
    )
    return {k: scope[k] for k in keys}


def _run(
    measures: PathLike | pd.DataFrame,
    settings: DetectSettings,
    relapses: PathLike | pd.DataFrame | None,
    only: Sequence[str] | None,
    source: str | None,
    progress: Callable[[int, int], None] | None,
    options: dict[str, Any],
) -> tuple[DetectionResult, pd.DataFrame | None]:
    from smoulder.io.measures import read_measures, validate_measures

    if isinstance(measures, pd.DataFrame):
        opts = {k: v for k, v in options.items() if k != "sep"}
        df, report = validate_measures(measures, source or "<DataFrame>", **opts)
    else:
        df, report = read_measures(Path(measures), **options)
    if only:
        for name in only:
            get_measure(name)
        df = df[df["measure"].isin(list(only))]
    rel = None
    if isinstance(relapses, pd.DataFrame):
        rel = relapses
    elif relapses is not None:
        from smoulder.io.tables import read_relapses

        rel, _ = read_relapses(
            Path(relapses), future_dates=options["future_dates"], sep=options["sep"]
        )
    res = detect(df, settings, relapses=rel, progress=progress)
    res.inputs = report.to_dict()
    return res, rel


def write(
    result: DetectionResult,
    out: PathLike,
    *,
    weekly_table: bool = True,
    fhir_out: PathLike | None = None,
    plots: PathLike | None = None,
    max_plots: int = 50,
    relapses: pd.DataFrame | None = None,
) -> dict[str, Path]:
    """Write a result's files all or nothing and return their paths by key.

    Parameters
    ----------
    result : DetectionResult
        What :func:`smoulder.digital.detect` (or :func:`run`) returned.
    out : path
        The events table (``.csv``, ``.tsv`` or ``.parquet``).
    weekly_table : bool
        Also write ``<stem>_weekly`` and ``<stem>_gaps`` beside it.
    fhir_out : path, optional
        Also write the events as a FHIR R4 Bundle of Observations.
    plots : path, optional
        A folder for one plot per person and measure with an event, with ``plots_index.csv``.
    max_plots : int
        The most plots written.
    relapses : DataFrame, optional
        Relapse onsets drawn on the plots.

    Returns
    -------
    dict
        ``events``, ``settings``, ``weekly``, ``gaps`` and, when asked, ``fhir``, ``plot_<n>`` and
        ``plots_index``: the final paths.
    """
    with _plan({}, out, weekly_table, fhir_out, plots).staged() as stage:
        return _write_files(result, stage, out, weekly_table, fhir_out, plots, max_plots, relapses)


def settings_document(result: DetectionResult) -> dict[str, Any]:
    """The content of ``<stem>_settings.json``.

    Parameters
    ----------
    result : DetectionResult
        The result to describe.

    Returns
    -------
    dict
        Software and version, analysis, every setting, the decision limits, the methods
        paragraph and (from :func:`run`) the input report.
    """
    doc = {**result.provenance(), "methods_paragraph": result.methods()}
    if result.inputs is not None:
        doc["input"] = result.inputs
    return doc


def _write_files(
    result: DetectionResult,
    stage: Staging,
    out: PathLike,
    weekly_table: bool,
    fhir_out: PathLike | None,
    plots: PathLike | None,
    max_plots: int,
    relapses: pd.DataFrame | None,
) -> dict[str, Path]:
    from smoulder.io.tables import write_table

    paths = output_paths(
        result,
        out,
        weekly_table=weekly_table,
        fhir_out=fhir_out,
        plots=plots,
        max_plots=max_plots,
    )
    write_table(result.events, stage.path(paths["events"]))
    stage.path(paths["settings"]).write_text(json_text(settings_document(result)))
    if weekly_table:
        write_table(result.weekly, stage.path(paths["weekly"]))
        write_table(result.gaps, stage.path(paths["gaps"]))
    if fhir_out is not None:
        from smoulder.io.fhir import events_to_bundle, write_bundle

        write_bundle(events_to_bundle(result.events), stage.path(fhir_out))
    if plots is not None:
        _write_plots(result, stage.dir(plots), relapses, max_plots)
    return paths


def _write_plots(
    res: DetectionResult, folder: Path, relapses: pd.DataFrame | None, limit: int
) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.figure import Figure

    folder.mkdir(parents=True, exist_ok=True)
    pairs = _plot_pairs(res, limit)
    names = [f"series_{i:04d}_{m}.png" for i, m in enumerate(pairs["measure"], start=1)]
    for (subject, measure), name in zip(pairs.itertuples(index=False), names, strict=True):
        fig = res.plot(subject, measure, relapses=relapses).figure
        assert isinstance(fig, Figure)  # plot_series draws on a figure of its own
        fig.tight_layout()
        fig.savefig(folder / name, dpi=110)
        plt.close(fig)
    if len(pairs):
        pairs.assign(plot=names).to_csv(folder / "plots_index.csv", index=False)
