"""SPMS conversion, file to file: read -> validate -> :func:`~smoulder.clinical.spms.assess_spms`
-> write.

The visits table carries the EDSS and the functional-system scores (MSoutcomes' layout works
as it is: ``ID, dateEDSS, EDSS, FSpyr ... FSamb, daysPostRelapse``); relapses come as a table of
onsets, as a days-since-relapse column, or both. Visits without an EDSS are left out (counted
in the notes), as ``spmsDx`` does.

Outputs (``out`` is the table, ``.csv`` or ``.parquet``): the per-subject table, the audit
trail of every step the rule took (``<stem>_steps``), the settings
(``<stem>_settings.toml`` and ``.json``), the methods paragraph (``<stem>_methods.txt``) and,
unless ``plots=False``, the cumulative conversion curve (``<stem>.png``, ``.svg``, ``.pdf``). All are written to
temporary names and renamed into place together.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from smoulder.clinical.spms import SPMSResult, SPMSSettings, assess_spms
from smoulder.exceptions import ColumnNotFoundError, InputDataError
from smoulder.pipelines._files import (
    FIGURE_FORMATS,
    atomic_outputs,
    check_output_path,
    draw_into,
    figure_paths,
    load_table,
    methods_text,
    settings_from,
)
from smoulder.schema.functional_systems import FS_NAMES, validate_functional_systems

__all__ = ["run", "write", "fs_columns"]

_SKIP = {"", "-", "none", "na"}


def fs_columns(
    fs_cols: Sequence[str | None] | Mapping[str, str] | None, ambulation_col: str | None
) -> dict[str, str]:
    """System -> column from ``--fs-cols`` (the seven systems in MSoutcomes' order; ``none`` or
    ``-`` for a system not recorded) and ``--ambulation-col``.

    Parameters
    ----------
    fs_cols : sequence of str or None, mapping of str to str, or None
        Up to seven columns, in MSoutcomes' order (pyramidal, cerebellar, brainstem, sensory,
        bowel/bladder, visual, cerebral; None, ``""``, ``-``, ``none`` or ``na``: not
        recorded), or a mapping system -> column taken as it is.
    ambulation_col : str, optional
        The ambulation score column.

    Returns
    -------
    dict of str to str
        Column by system name (``ambulation`` included when given).

    Raises
    ------
    InputDataError
        More than seven columns in ``fs_cols``.
    """
    out: dict[str, str] = {}
    if isinstance(fs_cols, Mapping):
        out.update({str(k): str(v) for k, v in fs_cols.items()})
    elif fs_cols:
        cols = list(fs_cols)
        if len(cols) > len(FS_NAMES):
            raise InputDataError(
                f"--fs-cols takes at most {len(FS_NAMES)} columns (got {len(cols)})",
                expected="pyramidal cerebellar brainstem sensory bowel/bladder visual cerebral, "
                "in that order ('none' for a system not recorded)",
            )
        for name, col in zip(FS_NAMES, cols, strict=False):
            if col is not None and str(col).strip().lower() not in _SKIP:
                out[name] = str(col)
    if ambulation_col:
        out["ambulation"] = ambulation_col
    return out


def _missing_cells(col: pd.Series) -> np.ndarray:
    if pd.api.types.is_numeric_dtype(col):
        return col.isna().to_numpy()
    text = col.astype("string").str.strip().str.lower()
    return (col.isna() | text.isin(["", "na", "n/a", "nan", "null"]).fillna(True)).to_numpy(
        dtype=bool
    )


def run(
    visits: str | Path | pd.DataFrame,
    relapses: str | Path | pd.DataFrame | None = None,
    *,
    subject_col: str = "subject",
    date_col: str = "date",
    edss_col: str = "edss",
    fs_cols: Sequence[str | None] | Mapping[str, str] | None = None,
    ambulation_col: str | None = None,
    days_since_relapse_col: str | None = None,
    relapse_subject_col: str | None = None,
    relapse_date_col: str | None = None,
    ambulation_scale: str = "neurostatus",
    on_duplicate: str = "error",
    settings: SPMSSettings | Mapping[str, Any] | None = None,
    out: str | Path | None = None,
    plots: bool = True,
    **overrides: Any,
) -> SPMSResult:
    """Validate the tables, identify SPMS conversion and write the outputs when ``out`` is set.

    Parameters mirror the command line (``smoulder spms --help``).

    Parameters
    ----------
    visits : path or DataFrame
        Visits with EDSS and functional-system scores (CSV, TSV or Parquet file, or a
        DataFrame); visits without an EDSS are left out (said in the notes).
    relapses : path or DataFrame, optional
        Relapse onsets.
    subject_col, date_col, edss_col : str
        Visits columns.
    fs_cols, ambulation_col
        The functional-system and ambulation columns (see :func:`fs_columns`).
    days_since_relapse_col : str, optional
        A visits column of days since the most recent relapse (empty if none).
    relapse_subject_col, relapse_date_col : str, optional
        Relapses columns (default: ``subject_col`` and ``date_col``).
    ambulation_scale : {"neurostatus", "imed"}
        The scale of the ambulation scores.
    on_duplicate : str
        What to do with duplicate visits (see :mod:`smoulder.schema.tables`).
    settings : SPMSSettings or mapping, optional
        The rule's options; ``overrides`` (:class:`~smoulder.clinical.spms.SPMSSettings`
        fields as keywords) win over them.
    out : path, optional
        The per-subject table (``.csv``, ``.tsv`` or ``.parquet``); the other files go beside it.
    plots : bool
        Write the cumulative conversion curve.

    Returns
    -------
    SPMSResult
        The per-subject table, the audit trail of every step, settings and notes.

    Raises
    ------
    InputDataError
        A missing column or a bad value in a table, naming the file, row and column.
    SettingsError
        Invalid settings.
    OutputError
        An ``out`` that cannot be written or would overwrite an input (checked before any work).
    """
    from smoulder.io.tables import validate_relapses, validate_visits

    s = settings_from(
        SPMSSettings, dict(settings) if isinstance(settings, Mapping) else settings, overrides
    )
    inputs = {"VISITS": visits, "--relapses": relapses}
    if out is not None:
        check_output_path(out, inputs=inputs)
    vis, vsource = load_table(visits, "visits")
    mapping = fs_columns(fs_cols, ambulation_col)
    if edss_col not in vis.columns:
        raise ColumnNotFoundError(
            f"missing EDSS column '{edss_col}'. Columns found: {', '.join(map(str, vis.columns))}",
            file=vsource,
            column=edss_col,
        )
    fs = validate_functional_systems(
        vis, mapping, source=vsource, ambulation_scale=ambulation_scale
    )
    notes: list[str] = []
    no_edss = _missing_cells(vis[edss_col])
    if no_edss.any():
        notes.append(
            f"{int(no_edss.sum()):,} visits without an EDSS score were left out (rows "
            f"{', '.join(str(r) for r in (np.flatnonzero(no_edss)[:5] + 2))}"
            f"{', ...' if no_edss.sum() > 5 else ''})"
        )
    keep = ~no_edss
    rows = np.flatnonzero(keep) + 2
    base_cols = [c for c in (subject_col, date_col, edss_col) if c in vis.columns]
    table = vis.loc[keep, base_cols].copy()
    extra = []
    for name in fs.columns:
        table[f"__fs_{name}"] = fs.loc[keep, name].to_numpy()
        extra.append(f"__fs_{name}")
    if days_since_relapse_col:
        if days_since_relapse_col not in vis.columns:
            raise ColumnNotFoundError(
                f"missing days-since-relapse column '{days_since_relapse_col}'. Columns found: "
                f"{', '.join(map(str, vis.columns))}",
                file=vsource,
                column=days_since_relapse_col,
            )
        raw = vis[days_since_relapse_col]
        num = pd.to_numeric(raw, errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)
        bad = np.isnan(num) & ~_missing_cells(raw)
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            raise InputDataError(
                "not a number of days",
                file=vsource,
                row=i + 2,
                column=days_since_relapse_col,
                value=raw.iloc[i],
                expected="days since the most recent relapse, or empty if none",
            )
        table["__dpr"] = num[keep]
        extra.append("__dpr")
    validated, report = validate_visits(
        table,
        source=vsource,
        subject_col=subject_col,
        date_col=date_col,
        value_col=edss_col,
        outcome="edss",
        on_duplicate=on_duplicate,
        extra_cols=extra,
        _rows=rows,
    )
    frame = pd.DataFrame(
        {"subject": validated["subject"], "date": validated["date"], "edss": validated["value"]}
    )
    for name in fs.columns:
        frame[name] = validated[f"__fs_{name}"].to_numpy(dtype=np.float64)
    if days_since_relapse_col:
        frame["days_since_relapse"] = validated["__dpr"].to_numpy(dtype=np.float64)
    rel = None
    if relapses is not None:
        rdf, rsource = load_table(relapses, "relapses")
        rel, rrep = validate_relapses(
            rdf,
            source=rsource,
            subject_col=relapse_subject_col or subject_col,
            date_col=relapse_date_col or date_col,
            known_subjects=pd.Index(validated["subject"].cat.categories.astype(str)),
        )
        notes.extend(rrep.warnings)
    notes.extend(report.warnings)
    result = assess_spms(frame, rel, s)
    result.notes.extend(notes)
    if out is not None:
        write(result, out, plots=plots, inputs=inputs)
    return result


def write(
    result: SPMSResult,
    out: str | Path,
    *,
    plots: bool = True,
    inputs: Mapping[str, Any] | None = None,
) -> dict[str, Path]:
    """Write the per-subject table, settings, methods paragraph and figure next to ``out``.

    Parameters
    ----------
    result : SPMSResult
        What :func:`run` returned.
    out : path
        The per-subject table (``.csv``, ``.tsv`` or ``.parquet``).
    plots : bool
        Write the cumulative conversion curve (``<stem>.png``, ``.svg`` and ``.pdf``, 300 dpi).
    inputs : mapping of str to path, optional
        The files read (flag -> path), which no output may overwrite.

    Returns
    -------
    dict of str to Path
        ``spms``, ``steps``, ``settings``, ``settings_json``, ``methods`` and, with ``plots``,
        ``plot`` (the PNG), ``plot_svg`` and ``plot_pdf``.

    Raises
    ------
    OutputError
        An output that cannot be written or would overwrite an input (nothing is then written).
    """
    from smoulder.io.tables import write_table

    out = check_output_path(out, inputs=inputs)
    stem = out.with_suffix("")
    paths = {
        "spms": out,
        "steps": Path(f"{stem}_steps{out.suffix}"),
        "settings": Path(f"{stem}_settings.toml"),
        "settings_json": Path(f"{stem}_settings.json"),
        "methods": Path(f"{stem}_methods.txt"),
    }
    if plots:
        paths.update(figure_paths("plot", {e: Path(f"{stem}.{e}") for e in FIGURE_FORMATS}))
    with atomic_outputs(paths.values(), inputs) as files:
        write_table(result.summary, files.path(out))
        write_table(result.steps, files.path(paths["steps"]))
        header = f"# smoulder {result.version}: SPMS conversion (Lorscheider 2016, CORe rule)\n"
        files.path(paths["settings"]).write_text(header + result.settings.to_toml(), "utf-8")
        files.path(paths["settings_json"]).write_text(result.settings.to_json() + "\n", "utf-8")
        files.path(paths["methods"]).write_text(
            methods_text(result.methods(), result.notes), "utf-8"
        )
        if plots:
            draw_into(files, stem, lambda: _conversion_figure(result))
    return paths


def _conversion_figure(result: SPMSResult) -> Any:
    """The cumulative conversion curve on a figure of its own."""
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.4, 4.2))
    result.plot(ax=ax)
    fig.tight_layout()
    return fig
