"""NEDA-3/NEDA-4 and treatment epochs, file to file: read -> validate -> engine -> write.

Inputs: visits (subject, date, EDSS), relapse onsets, MRI scans (activity, and brain volume for
NEDA-4), treatments (subject, drug, start, stop) and, for custom periods, a periods table
(subject, period, start, end). Outputs next to ``out`` (the per-period table): ``<stem>_persons``,
``<stem>_summary``, the settings (``<stem>_settings.toml``: the ``[neda]``, ``[epochs]`` and
``[progression]`` tables), ``<stem>_methods.txt``, ``<stem>.png`` and, with treatments,
``<stem>_epochs``, ``<stem>_events`` (every event with its treatment and days on it),
``<stem>_rates_by_drug`` / ``_by_class`` / ``_by_efficacy`` and ``<stem>_rates.png``. All are
written to temporary names and renamed into place together.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from smoulder.clinical.epochs import EpochResult, EpochSettings
from smoulder.clinical.neda import NEDAResult, NEDASettings, assess_neda
from smoulder.exceptions import ColumnNotFoundError, InputDataError
from smoulder.pipelines._files import atomic_outputs, check_output_path, load_table, settings_from

__all__ = ["run", "write"]


def _require(df: pd.DataFrame, cols: dict[str, str], source: str) -> None:
    for role, col in cols.items():
        if col not in df.columns:
            raise ColumnNotFoundError(
                f"missing {role} column '{col}'. Columns found: {', '.join(map(str, df.columns))}",
                file=source,
                column=col,
            )


def _volumes(raw: pd.DataFrame, validated: pd.DataFrame, col: str, source: str) -> np.ndarray:
    """Brain volumes of the validated scans (from each scan's first row), checked positive."""
    _require(raw, {"brain volume": col}, source)
    v = pd.to_numeric(raw[col], errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)
    text = (
        np.isnan(v)
        & raw[col].notna().to_numpy()
        & (raw[col].astype(str).str.strip() != "").to_numpy()
    )
    bad = text | (~np.isnan(v) & (v <= 0))
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise InputDataError(
            "brain volume must be a positive number",
            file=source,
            row=i + 2,
            column=col,
            value=raw[col].iloc[i],
            expected="a volume (e.g. mL), or an empty cell when not measured",
        )
    return v[validated["row"].to_numpy() - 2]


def _periods_table(df: pd.DataFrame, source: str, subject_col: str) -> pd.DataFrame:
    _require(
        df, {"subject": subject_col, "period": "period", "start": "start", "end": "end"}, source
    )
    out = pd.DataFrame({"subject": df[subject_col].astype(str), "period": df["period"]})
    for col in ("start", "end"):
        d = pd.to_datetime(
            df[col].astype("string").str.slice(0, 10), format="%Y-%m-%d", errors="coerce"
        )
        if d.isna().any():
            i = int(np.flatnonzero(d.isna().to_numpy())[0])
            raise InputDataError("unparseable date", file=source, row=i + 2, column=col,
                                 value=df[col].iloc[i], expected="an ISO date YYYY-MM-DD")  # fmt: skip
        out[col] = d
    rev = (out["end"] < out["start"]).to_numpy()
    if rev.any():
        i = int(np.flatnonzero(rev)[0])
        raise InputDataError("period ends before it starts", file=source, row=i + 2, column="end",
                             value=str(out["end"].iloc[i].date()), expected="an end on or after the start")  # fmt: skip
    return out


def run(
    visits: str | Path | pd.DataFrame,
    relapses: str | Path | pd.DataFrame | None = None,
    mri: str | Path | pd.DataFrame | None = None,
    treatments: str | Path | pd.DataFrame | None = None,
    periods_table: str | Path | pd.DataFrame | None = None,
    *,
    subject_col: str = "subject",
    date_col: str = "date",
    edss_col: str = "edss",
    relapse_date_col: str | None = None,
    mri_date_col: str | None = None,
    mri_active_col: str = "active",
    volume_col: str | None = None,
    drug_col: str = "drug",
    start_col: str = "start",
    stop_col: str | None = "stop",
    class_col: str | None = None,
    on_duplicate: str = "error",
    settings: NEDASettings | Mapping[str, Any] | None = None,
    epoch_settings: EpochSettings | Mapping[str, Any] | None = None,
    out: str | Path | None = None,
    plots: bool = True,
    **overrides: Any,
) -> NEDAResult:
    """Validate the tables, assess NEDA (and treatment epochs) and write when ``out`` is set.

    Parameters
    ----------
    visits : path or DataFrame
        Visits with subject, date and EDSS (CSV, TSV or Parquet file, or a DataFrame).
    relapses, mri : path or DataFrame, optional
        Relapse onsets; MRI scans with an activity column (and brain volume for NEDA-4).
    treatments : path or DataFrame, optional
        Treatment courses (subject, drug, start, stop): treatment epochs and rates by drug.
        Courses of subjects without visits are ignored (with a note).
    periods_table : path or DataFrame, optional
        Custom periods (``subject``, ``period``, ``start``, ``end``; ISO dates).
    subject_col, date_col, edss_col : str
        Visits columns (``subject_col`` also names the subject in the other tables).
    relapse_date_col, mri_date_col : str, optional
        Date columns of the relapses and MRI tables (default: ``date_col``).
    mri_active_col : str
        The MRI activity column.
    volume_col : str, optional
        The MRI brain volume column (positive numbers, empty when not measured), for NEDA-4.
    drug_col, start_col, stop_col, class_col : str
        Treatments columns (``stop_col`` None: no stop column; ``class_col``: own drug classes).
    on_duplicate : str
        What to do with duplicate visits (see :mod:`smoulder.schema.tables`).
    settings : NEDASettings or mapping, optional
        NEDA options; ``overrides`` (keyword options) win over them.
    epoch_settings : EpochSettings or mapping, optional
        Treatment epoch options.
    out : path, optional
        The per-period table; the other files are written beside it (see the module docstring).
    plots : bool
        Write the figures.

    Returns
    -------
    NEDAResult
        Periods, persons and summary tables (and the treatment epochs when given).

    Raises
    ------
    InputDataError
        A missing column or a bad value in a table, naming the file, row and column.
    SettingsError
        Invalid settings.
    OutputError
        An ``out`` that cannot be written or would overwrite an input (checked before any work).
    """
    from smoulder.io.tables import validate_mri_activity, validate_relapses, validate_visits
    from smoulder.schema.treatments import validate_treatments

    s = settings_from(
        NEDASettings, dict(settings) if isinstance(settings, Mapping) else settings, overrides
    )
    es = settings_from(
        EpochSettings,
        dict(epoch_settings) if isinstance(epoch_settings, Mapping) else epoch_settings,
        {},
    )
    inputs = {
        "VISITS": visits,
        "--relapses": relapses,
        "--mri": mri,
        "--treatments": treatments,
        "--periods-table": periods_table,
    }
    if out is not None:
        check_output_path(out, inputs=inputs)
    vdf, vsrc = load_table(visits, "visits")
    vis, report = validate_visits(
        vdf, vsrc, subject_col=subject_col, date_col=date_col, value_col=edss_col,
        outcome="edss", on_duplicate=on_duplicate,
    )  # fmt: skip
    known = pd.Index(vis["subject"].cat.categories.astype(str))
    notes = list(report.warnings)
    rel = None
    if relapses is not None:
        rdf, rsrc = load_table(relapses, "relapses")
        rel, rrep = validate_relapses(rdf, rsrc, subject_col=subject_col,
                                      date_col=relapse_date_col or date_col, known_subjects=known)  # fmt: skip
        notes.extend(rrep.warnings)
    scans = None
    if mri is not None:
        mdf, msrc = load_table(mri, "mri")
        scans, mrep = validate_mri_activity(mdf, msrc, subject_col=subject_col,
                                            date_col=mri_date_col or date_col,
                                            active_col=mri_active_col, known_subjects=known)  # fmt: skip
        notes.extend(mrep.warnings)
        if volume_col:
            scans["brain_volume"] = _volumes(mdf, scans, volume_col, msrc)
    tr = None
    if treatments is not None:
        tdf, tsrc = load_table(treatments, "treatments")
        tr = validate_treatments(tdf, tsrc, subject_col=subject_col, drug_col=drug_col,
                                 start_col=start_col, stop_col=stop_col, class_col=class_col)  # fmt: skip
        unknown = ~tr["subject"].isin(known)
        if unknown.any():
            notes.append(
                f"{int(unknown.sum()):,} treatment courses of subjects without visits were ignored"
            )
            tr = tr[~unknown].reset_index(drop=True)
    per = None
    if periods_table is not None:
        pdf, psrc = load_table(periods_table, "periods")
        per = _periods_table(pdf, psrc, subject_col)
    result = assess_neda(vis, rel, scans, tr, per, s, es)
    result.notes.extend(notes)
    if out is not None:
        write(result, out, plots=plots, inputs=inputs)
    return result


def write(
    result: NEDAResult | EpochResult,
    out: str | Path,
    *,
    plots: bool = True,
    inputs: Mapping[str, Any] | None = None,
) -> dict[str, Path]:
    """Write the tables, settings, methods paragraph and figures next to ``out``.

    Parameters
    ----------
    result : NEDAResult or EpochResult
        What :func:`run` returned, or a treatment epochs result alone (its tables are then
        written as ``<stem>_<table>``, with ``<stem>_rates.png``).
    out : path
        The per-period table (``.csv``, ``.tsv`` or ``.parquet``; not written for an
        EpochResult); its stem names the other files.
    plots : bool
        Write the figures.
    inputs : mapping of str to path, optional
        The files read (flag -> path), which no output may overwrite.

    Returns
    -------
    dict of str to Path
        The written files by file stem (tables and figures), ``settings`` and ``methods``.

    Raises
    ------
    OutputError
        An output that cannot be written or would overwrite an input (nothing is then written).
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from smoulder.io.tables import write_table

    out = check_output_path(out, inputs=inputs)
    stem, suffix = out.with_suffix(""), out.suffix
    figures: dict[str, Any]
    if isinstance(result, EpochResult):
        tables = {f"{stem}_{k}{suffix}": v for k, v in result.tables().items()}
        settings = result.settings.to_toml()
        figures = {f"{stem}_rates.png": result} if plots else {}
    else:
        t = result.tables()
        tables = {str(out): t.pop("periods")}
        tables.update({f"{stem}_{k}{suffix}": v for k, v in t.items()})
        settings = result.settings.to_toml()
        if result.epoch_result is not None:
            settings += "\n" + result.epoch_result.settings.to_toml()
        figures = {f"{stem}.png": result} if plots else {}
        if plots and result.epoch_result is not None:
            figures[f"{stem}_rates.png"] = result.epoch_result
    ps = getattr(result, "progression_settings", None)
    if ps is not None and hasattr(ps, "to_toml"):
        settings += "\n" + ps.to_toml()
    paths: dict[str, Path] = {}
    with atomic_outputs(paths.values(), inputs) as files:
        for name, table in tables.items():
            write_table(table, files.path(name))
            paths[Path(name).stem] = Path(name)
        paths["settings"] = Path(f"{stem}_settings.toml")
        files.path(paths["settings"]).write_text(
            f"# smoulder {result.version}\n" + settings, "utf-8"
        )
        paths["methods"] = Path(f"{stem}_methods.txt")
        text = result.methods() + "\n"
        if getattr(result, "notes", None):
            text += "\nNotes on the input:\n" + "".join(f"- {n}\n" for n in result.notes)
        files.path(paths["methods"]).write_text(text, "utf-8")
        for name, res in figures.items():
            fig, ax = plt.subplots(figsize=(7.2, 4.4))
            res.plot(ax=ax)
            fig.tight_layout()
            fig.savefig(files.path(name), dpi=120)
            plt.close(fig)
            paths[Path(name).stem] = Path(name)
    return paths
