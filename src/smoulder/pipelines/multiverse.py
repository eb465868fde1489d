"""The multiverse of PIRA definitions, file to file: read -> validate -> engine -> write.

The grid is data: a TOML file with a ``[multiverse]`` table (``base`` options,
``[multiverse.dimensions.<name>]`` tables of options, or ``[[multiverse.definitions]]``), or a CSV
with one definition per row (a ``name`` column and one column per option; cells are JSON values,
``inf`` and ``open`` as words). Without a grid, Müller et al. (JAMA Neurol 2025)'s 360 definitions
run. Definitions are spread over ``workers`` processes (each runs the compiled scan on one
thread); results are identical for any number of workers.

Outputs next to ``out`` (the per-definition table): ``<stem>_settings.toml`` (the whole grid,
as it ran), ``<stem>_methods.txt`` and the specification-curve figure ``<stem>.png`` (also ``.svg`` and ``.pdf``).
"""

from __future__ import annotations

import json
import math
import os
import re
import tomllib
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import pandas as pd

from smoulder.clinical.multiverse import (
    MultiverseResult,
    MultiverseSettings,
    expand_grid,
    run_multiverse,
)
from smoulder.exceptions import InputDataError, SettingsError
from smoulder.pipelines._files import (
    FIGURE_FORMATS,
    atomic_outputs,
    check_output_path,
    draw_into,
    figure_paths,
    load_table,
    methods_text,
)

__all__ = ["run", "write", "load_grid"]


def _cell(text: Any) -> Any:
    if not isinstance(text, str):
        return None if pd.isna(text) else text
    t = text.strip()
    if t == "":
        return None
    low = t.lower()
    if low in ("inf", "infinity"):
        return math.inf
    if low in ("open", "none"):
        return "open"
    if low in ("true", "false"):
        return low == "true"
    words = re.sub(r"\binf(inity)?\b", "Infinity", t, flags=re.IGNORECASE)
    words = re.sub(r"\b(open|none)\b", '"open"', words, flags=re.IGNORECASE)
    try:
        return json.loads(words)
    except json.JSONDecodeError:
        return t


def load_grid(path: str | Path) -> dict[str, Any]:
    """The ``[multiverse]`` mapping of a TOML grid, or definitions from a CSV grid.

    Parameters
    ----------
    path : path
        A ``.toml`` file (its ``[multiverse]`` table, or the whole file without one) or a CSV
        with one definition per row (see the module docstring).

    Returns
    -------
    dict
        The mapping :class:`~smoulder.clinical.multiverse.MultiverseSettings` reads; for a CSV
        ``{"definitions": [...]}``, each named by its ``name`` (or ``definition``) column, else
        ``row <n>``.

    Raises
    ------
    InputDataError
        A missing file, invalid TOML, a ``multiverse`` that is not a table, or a CSV without rows.
    """
    p = Path(path)
    if not p.exists():
        raise InputDataError("grid file not found", file=str(p))
    if p.suffix.lower() == ".toml":
        try:
            data = tomllib.loads(p.read_text(encoding="utf-8"))
        except tomllib.TOMLDecodeError as exc:
            raise InputDataError(f"not valid TOML ({exc})", file=str(p)) from None
        inner = data.get("multiverse", data)
        if not isinstance(inner, dict):
            raise InputDataError("no [multiverse] table", file=str(p))
        return inner
    df = pd.read_csv(p, dtype=str, keep_default_na=False)
    if df.empty:
        raise InputDataError(
            "the grid has no definitions", file=str(p), expected="one row per definition"
        )
    defs = []
    for i, row in df.iterrows():
        d: dict[str, Any] = {}
        for col, val in row.items():
            v = _cell(val)
            if v is not None:
                d["name" if col in ("name", "definition") else str(col)] = v
        d.setdefault("name", f"row {int(str(i)) + 2}")
        defs.append(d)
    return {"definitions": defs}


def _chunk(payload: tuple[Any, ...]) -> pd.DataFrame:
    """One worker's share of the grid (one compiled thread per worker)."""
    visits, relapses, settings_json, idx = payload
    import numba

    numba.set_num_threads(1)
    s = MultiverseSettings.from_json(settings_json)
    table = run_multiverse(visits, relapses, s, subset=list(idx)).table
    table.insert(0, "_order", list(idx))
    return table


def run(
    visits: str | Path | pd.DataFrame,
    relapses: str | Path | pd.DataFrame | None = None,
    *,
    subject_col: str = "subject",
    date_col: str = "date",
    value_col: str = "edss",
    relapse_date_col: str | None = None,
    on_duplicate: str = "error",
    grid: str | Path | Mapping[str, Any] | MultiverseSettings | None = None,
    workers: int | None = None,
    out: str | Path | None = None,
    plots: bool = True,
    progress: Callable[[int, int], None] | None = None,
    **overrides: Any,
) -> MultiverseResult:
    """Validate the tables, run every definition of the grid and write when ``out`` is set.

    Parameters
    ----------
    visits : path or DataFrame
        Visits (CSV, TSV or Parquet file, or a DataFrame).
    relapses : path or DataFrame, optional
        Relapse onsets.
    subject_col, date_col, value_col : str
        Visits columns (``subject_col`` also names the subject in the relapses).
    relapse_date_col : str, optional
        The relapses' date column (default: ``date_col``).
    on_duplicate : str
        What to do with duplicate visits (see :mod:`smoulder.schema.tables`).
    grid : path, mapping or MultiverseSettings, optional
        The definitions (a TOML or CSV grid file, see :func:`load_grid`); default: Müller et
        al.'s 360 definitions.
    workers : int, optional
        Processes to spread the definitions over; default: the number of cores (at most 4,
        and one per 20 definitions). Results do not depend on it.
    out : path, optional
        The per-definition table; the settings, methods and figure are written beside it.
    plots : bool
        Write the specification-curve figure.
    progress : callable, optional
        Called with (definitions done, definitions in all) as the run goes.
    **overrides
        :class:`~smoulder.clinical.multiverse.MultiverseSettings` fields
        (e.g. ``persistence_min_follow_up_days``).

    Returns
    -------
    MultiverseResult
        One row per definition, the grid's dimensions and the settings.

    Raises
    ------
    SettingsError
        An invalid grid or definition, or ``workers`` below 1.
    InputDataError
        A bad grid file, or a missing column or bad value in a table.
    OutputError
        An ``out`` that cannot be written or would overwrite an input (checked before any work).
    """
    from smoulder.io.tables import validate_relapses, validate_visits

    if isinstance(grid, MultiverseSettings):
        s = grid.replace(**{k: v for k, v in overrides.items() if v is not None})
    else:
        mapping = load_grid(grid) if isinstance(grid, (str, Path)) else dict(grid or {})
        s = MultiverseSettings.from_mapping(mapping, **overrides)
    outcome = s.base.get("outcome", "edss")
    n_def = len(expand_grid(s))  # validates every definition before any work
    inputs = {"VISITS": visits, "--relapses": relapses}
    if isinstance(grid, (str, Path)):
        inputs["--grid"] = grid
    if out is not None:
        check_output_path(out, inputs=inputs)
    vdf, vsrc = load_table(visits, "visits")
    vis, report = validate_visits(vdf, vsrc, subject_col=subject_col, date_col=date_col,
                                  value_col=value_col, outcome=outcome, on_duplicate=on_duplicate)  # fmt: skip
    notes = list(report.warnings)
    rel = None
    if relapses is not None:
        rdf, rsrc = load_table(relapses, "relapses")
        rel, rrep = validate_relapses(rdf, rsrc, subject_col=subject_col,
                                      date_col=relapse_date_col or date_col,
                                      known_subjects=pd.Index(vis["subject"].cat.categories.astype(str)))  # fmt: skip
        notes.extend(rrep.warnings)
    if workers is None:
        workers = max(1, min(os.cpu_count() or 1, 4, n_def // 20))
    if workers < 1:
        raise SettingsError(f"workers must be 1 or more (got {workers})")
    if workers == 1 or n_def < 2:
        result = run_multiverse(vis, rel, s, progress=progress)
    else:
        result = _run_parallel(vis, rel, s, n_def, workers, progress)
    result.notes.extend(notes)
    if out is not None:
        write(result, out, plots=plots, inputs=inputs)
    return result


def _run_parallel(
    vis: pd.DataFrame,
    rel: pd.DataFrame | None,
    s: MultiverseSettings,
    n_def: int,
    workers: int,
    progress: Callable[[int, int], None] | None,
) -> MultiverseResult:
    import multiprocessing as mp
    import time
    from concurrent.futures import ProcessPoolExecutor, as_completed

    t0 = time.perf_counter()
    # small interleaved chunks keep the workers busy to the end and the progress moving
    size = max(1, min(12, n_def // (4 * workers) or 1))
    order = list(range(n_def))
    chunks = [order[i : i + size] for i in range(0, n_def, size)]
    text = s.to_json()
    parts = []
    done = 0
    with ProcessPoolExecutor(max_workers=workers, mp_context=mp.get_context("spawn")) as pool:
        futures = [pool.submit(_chunk, (vis, rel, text, c)) for c in chunks]
        for f in as_completed(futures):
            part = f.result()
            parts.append(part)
            done += len(part)
            if progress is not None:
                progress(done, n_def)
    table = pd.concat(parts).sort_values("_order").drop(columns="_order").reset_index(drop=True)
    dims = [c for c in expand_grid(s)[0].labels]
    from smoulder import __version__

    return MultiverseResult(table=table, dimensions=dims, settings=s, version=__version__,
                            seconds=time.perf_counter() - t0)  # fmt: skip


def write(
    result: MultiverseResult,
    out: str | Path,
    *,
    plots: bool = True,
    inputs: Mapping[str, Any] | None = None,
) -> dict[str, Path]:
    """Write the per-definition table, the grid as it ran, the methods paragraph and figure.

    Parameters
    ----------
    result : MultiverseResult
        What :func:`run` returned.
    out : path
        The per-definition table (``.csv``, ``.tsv`` or ``.parquet``).
    plots : bool
        Write the specification-curve figure (``<stem>.png``, ``.svg`` and ``.pdf``, 300 dpi).
    inputs : mapping of str to path, optional
        The files read (flag -> path), which no output may overwrite.

    Returns
    -------
    dict of str to Path
        ``multiverse``, ``settings``, ``methods`` and, with ``plots``, ``plot`` (the PNG), ``plot_svg`` and ``plot_pdf``.

    Raises
    ------
    OutputError
        An output that cannot be written or would overwrite an input (nothing is then written).
    """
    from smoulder.io.tables import write_table

    out = check_output_path(out, inputs=inputs)
    stem = out.with_suffix("")
    paths = {
        "multiverse": out,
        "settings": Path(f"{stem}_settings.toml"),
        "methods": Path(f"{stem}_methods.txt"),
    }
    if plots:
        paths.update(figure_paths("plot", {e: Path(f"{stem}.{e}") for e in FIGURE_FORMATS}))
    with atomic_outputs(paths.values(), inputs) as files:
        write_table(result.table, files.path(out))
        files.path(paths["settings"]).write_text(
            f"# smoulder {result.version}: multiverse of PIRA definitions\n"
            + result.settings.to_toml(),
            "utf-8",
        )
        files.path(paths["methods"]).write_text(
            methods_text(result.methods(), result.notes), "utf-8"
        )
        if plots:
            draw_into(files, stem, result.plot)
    return paths
