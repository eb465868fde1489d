"""The tasks the workers run for :mod:`smoulder.pipelines.partitioned`: subject ids of a piece,
repartitioning by the subject hash, reading and checking one partition (errors restated with the
original file and row), the engine, and the rows of the subjects a figure shows."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from smoulder.exceptions import InputDataError
from smoulder.io import datasets as D

_PIECE, _ROW = "__smoulder_piece", "__smoulder_row"


def _piece_ids(piece: D.Piece, subject_col: str) -> pd.Index:
    table = D.read_piece(piece, [subject_col], subject_col=subject_col)
    return D.subject_keys(table, subject_col)[1]


def _bucket_piece(
    i: int, piece: D.Piece, columns: list[str], subject_col: str, n: int, scratch: str
) -> int:
    """Write the rows of piece ``i`` to the scratch folder, one file per partition."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    table = D.read_piece(piece, columns, subject_col=subject_col)
    idx, ids = D.subject_keys(table, subject_col)
    bucket = np.where(idx >= 0, D.subject_buckets(ids, n)[np.maximum(idx, 0)], 0)
    table = table.append_column(_PIECE, pa.array(np.full(table.num_rows, i, np.int32)))
    table = table.append_column(_ROW, pa.array(D.table_rows(piece, table.num_rows)))
    order = np.argsort(bucket, kind="stable")
    edges = np.searchsorted(bucket[order], np.arange(n + 1))
    for k in range(n):
        rows = order[edges[k] : edges[k + 1]]
        if len(rows):
            part = Path(scratch) / f"part-{k:05d}"
            part.mkdir(exist_ok=True)
            pq.write_table(table.take(pa.array(rows)), part / f"piece-{i:06d}.parquet")
    return table.num_rows


def _read_partition(
    spec: tuple[str, Any], columns: list[str], subject_col: str
) -> tuple[Any, np.ndarray, np.ndarray]:
    """The visits of one partition and, per row, its piece and its row in that piece's file."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    kind, what = spec
    if kind == "piece":
        i, piece = what
        table = D.read_piece(piece, columns, subject_col=subject_col)
        return table, np.full(table.num_rows, i), D.table_rows(piece, table.num_rows)
    files = sorted(Path(what).glob("piece-*.parquet")) if Path(what).is_dir() else []
    if not files:
        return None, np.zeros(0, np.int64), np.zeros(0, np.int64)
    tables = [pq.read_table(f, read_dictionary=[subject_col]) for f in files]
    table = pa.concat_tables(tables, promote_options="permissive")
    pieces = np.asarray(table.column(_PIECE)).astype(np.int64)
    rows = np.asarray(table.column(_ROW)).astype(np.int64)
    return table.drop_columns([_PIECE, _ROW]), pieces, rows


def _relocated(err: InputDataError, labels: list[str], pieces: np.ndarray, rows: np.ndarray) -> Any:
    """The error of a partition's row restated with the file and row of the original data."""
    if err.row is None or not (0 <= err.row - 2 < len(rows)):
        return err
    at = err.row - 2
    old = ", ".join(
        [str(err.file)] * (err.file is not None)
        + [f"row {err.row}"]
        + [f"column '{err.column}'"] * (err.column is not None)
    )
    new = copy.copy(err)
    new.file, new.row = labels[int(pieces[at])], int(rows[at]) + 2
    where = ", ".join(
        [str(new.file), f"row {new.row}"] + [f"column '{err.column}'"] * (err.column is not None)
    )
    text = str(err)
    new.args = (where + text[len(old) :] if text.startswith(old) else text,)
    return new


def _validate_partition(
    spec: tuple[str, Any],
    rel: tuple[Any, np.ndarray, np.ndarray] | None,
    mri: tuple[Any, np.ndarray, np.ndarray] | None,
    labels: dict[str, list[str]],
    opts: dict[str, Any],
) -> tuple[Any, list[list[str]]]:
    """Read and check one partition as :func:`smoulder.schema.inputs.validate_inputs` does (the
    warnings kept per table, for the merge)."""
    from smoulder.io._columns import ArrowColumns
    from smoulder.io.tables import validate_mri_activity, validate_relapses
    from smoulder.schema.inputs import ClinicInputs, validate_inputs

    o = dict(opts)
    subject_col, source = o.pop("subject_col"), o.pop("source")
    table, pieces, rows = _read_partition(spec, o.pop("columns"), subject_col)
    if table is None or not table.num_rows:
        return None, [[], [], []]
    dates = {"future_dates": o["future_dates"], "date_format": o["date_format"]}
    try:
        got = validate_inputs(
            ArrowColumns(table), sources=(source, "", ""), subject_col=subject_col, **o
        )
    except InputDataError as err:
        raise _relocated(err, labels["visits"], pieces, rows) from None
    stages = [list(got.report.warnings), [], []]
    known = got.visits["subject"].cat.categories
    found: list[Any] = [None, None]
    for j, (part, check, key, extra) in enumerate(
        (
            (rel, validate_relapses, "relapses", {"end_date_col": o["relapse_end_col"]}),
            (mri, validate_mri_activity, "mri", {"active_col": o["mri_active_col"]}),
        )
    ):
        if part is None:
            continue
        col = o["relapse_date_col"] if key == "relapses" else o["mri_date_col"]
        try:
            found[j], rep = check(
                part[0],
                source=labels[f"{key}_source"][0],
                subject_col=subject_col,
                date_col=col or o["date_col"],
                known_subjects=known,
                **extra,
                **dates,
            )
        except InputDataError as err:
            raise _relocated(err, labels[key], part[1], part[2]) from None
        stages[j + 1] = list(rep.warnings)
        got.report.warnings.extend(rep.warnings)
    return ClinicInputs(got.visits, found[0], found[1], got.report), stages


def _engine(validated: tuple[Any, list[list[str]]], settings: Any, unconfirmed: bool) -> Any:
    from smoulder.clinical.progression import run_validated

    inputs, stages = validated
    if inputs is None:
        return None
    res = run_validated(
        inputs.visits,
        inputs.relapses,
        inputs.mri_activity,
        settings,
        ingest=inputs.report,
        return_unconfirmed=unconfirmed,
    )
    return {
        "events": res.events,
        "summary": res.summary,
        "unconfirmed": res.unconfirmed,
        "report": inputs.report.to_dict(),
        "stages": stages,
        "version": res.version,
    }


def _rows_for(validated: tuple[Any, Any], subjects: list[str]) -> tuple[Any, Any, Any]:
    """The validated visits, relapses and scans of ``subjects`` (for the trajectory figure)."""
    inputs = validated[0]
    if inputs is None:
        return None, None, None

    def rows(t: pd.DataFrame | None) -> pd.DataFrame | None:
        if t is None:
            return None
        return t.loc[t["subject"].astype(str).isin(subjects).to_numpy()]

    return rows(inputs.visits), rows(inputs.relapses), rows(inputs.mri_activity)
