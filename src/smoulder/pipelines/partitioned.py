"""The progression analysis of a partitioned Parquet dataset on dask.distributed workers, with
results identical to one machine's.

A visits dataset (a folder of Parquet files, hive folders included, or one Parquet file split
into row groups; see :mod:`smoulder.io.datasets`) is analysed partition by partition: each
worker reads and checks its part with the same contracts as :func:`smoulder.pipelines.progression.run`
and runs the same engine, and the client gathers the events, the per-subject summary, the
unconfirmed changes and the input report in the order one machine gives them. The files are
then written all or nothing by :func:`smoulder.pipelines.progression.write`.

Every subject must lie wholly in one partition. When the files (or the row groups of a single
file) already hold disjoint subjects, each is one partition and is read where it lies. Otherwise
(a dataset partitioned by year or centre, or a subject in two files), the rows are repartitioned
by a stable hash of the subject id (SipHash-2-4, :func:`smoulder.io.datasets.subject_buckets`)
into ``partitions`` parts, through Parquet files in a scratch folder the workers share. Relapses
and MRI scans (a file, a dataset or a DataFrame) are read by the client and sent to the
partition of their subject. Error messages name the file and the row of the original dataset.

Examples
--------
>>> from smoulder.pipelines import partitioned  # doctest: +SKIP
>>> res = partitioned.run(
...     "visits/", "relapses.csv", n_workers=2, out="events.csv"
... )  # doctest: +SKIP
"""

from __future__ import annotations

import logging
import re
import shutil
import tempfile
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from smoulder.clinical.result import ProgressionResult
from smoulder.clinical.settings import ProgressionSettings
from smoulder.exceptions import InputDataError
from smoulder.io import datasets as D
from smoulder.pipelines._clinical import Progress, settings_from, step

__all__ = ["run", "cluster_client"]

from smoulder.pipelines._partition_tasks import (
    _bucket_piece,
    _engine,
    _piece_ids,
    _rows_for,
    _validate_partition,
)


# --------------------------------------------------------------------------- the cluster
@contextmanager
def cluster_client(
    client: Any = None,
    scheduler: str | None = None,
    n_workers: int | None = None,
    *,
    processes: bool = True,
) -> Iterator[Any]:
    """A ``distributed.Client``: the one given, one connected to ``scheduler``, or a
    LocalCluster of ``n_workers`` single-threaded workers (default 2) started and closed here.

    Parameters
    ----------
    client : distributed.Client, optional
        Used as it is (and left open).
    scheduler : str, optional
        Address of a running scheduler (``tcp://host:8786``).
    n_workers : int, optional
        Workers of the local cluster, one thread each.
    processes : bool
        Local workers as processes (default) or as threads of this process (for tests).
    """
    if client is not None:
        yield client
        return
    from distributed import Client, LocalCluster

    if scheduler:
        with Client(scheduler) as c:
            yield c
        return
    with (
        LocalCluster(
            n_workers=max(1, n_workers or 2),
            threads_per_worker=1,
            processes=processes,
            dashboard_address=":0",  # a free port (None still tries 8787)
            # a bad row is the user's error, returned to the client as one line: no worker logs
            silence_logs=logging.CRITICAL,
        ) as cluster,
        Client(cluster) as c,
    ):
        yield c


# --------------------------------------------------------------------------- client side
def _side_table(
    data: Any, subject_col: str, sep: str | None, what: str
) -> tuple[Any, np.ndarray, np.ndarray, list[str], str]:
    """A relapses or MRI table read by the client: the Arrow table, its piece and row per row,
    the piece labels and the source name."""
    import pyarrow as pa

    from smoulder.io.delimited import read_arrow_file

    if isinstance(data, pd.DataFrame):
        t = D.to_table(data)
        return t, np.zeros(t.num_rows, np.int64), np.arange(t.num_rows), ["<" + what + ">"], what
    p = Path(data)
    if p.is_dir():
        layout = D.scan_dataset(p, required={"subject": subject_col}, what=f"{what} dataset")
        parts = [D.read_piece(x, subject_col=subject_col) for x in layout.pieces]
        t = pa.concat_tables(parts, promote_options="permissive")
        pieces = np.concatenate([np.full(x.num_rows, i) for i, x in enumerate(parts)])
        rows = np.concatenate(
            [D.table_rows(x, y.num_rows) for x, y in zip(layout.pieces, parts, strict=True)]
        )
        return t, pieces, rows, [x.path for x in layout.pieces], str(p)
    t = read_arrow_file(p, dictionary_cols=(subject_col,), sep=sep, what=f"{what} table")
    return t, np.zeros(t.num_rows, np.int64), np.arange(t.num_rows), [str(p)], str(p)


_NUMBER = re.compile(r"(?<![\w.\-:/,])(\d{1,3}(?:,\d{3})+|\d+)(?![\w.\-:/,]| s\b)")


def merge_warnings(per_partition: list[list[str]]) -> list[str]:
    """One table's warnings over all partitions: the same warning with its counts summed (the
    numbers that are not parts of dates, paths or seconds), in the order one machine gives."""
    groups: dict[str, list[int]] = {}
    for warnings in per_partition:
        for w in warnings:
            nums = [int(m.replace(",", "")) for m in _NUMBER.findall(w)]
            key = _NUMBER.sub("{}", w.replace("{", "{{").replace("}", "}}"))
            got = groups.setdefault(key, [0] * len(nums))
            groups[key] = [a + b for a, b in zip(got, nums, strict=True)]
    # relapses (scans) of unknown subjects come before future dates in a table's checks
    order = sorted(groups, key=lambda k: "not in the visits table" not in k)
    return [k.format(*(f"{n:,}" for n in groups[k])) for k in order]


def _merge_report(parts: list[dict[str, Any]], source: str) -> Any:
    from smoulder.schema.report import IngestReport

    report = IngestReport(source)
    for p in parts:
        report.rows_read += p["report"]["rows_read"]
        report.rows_used += p["report"]["rows_used"]
        report.rows_rejected += p["report"]["rows_rejected"]
        report.rows_corrected += p["report"]["rows_corrected"]
        for reason, n in p["report"]["reasons"].items():
            report.reasons[reason] = report.reasons.get(reason, 0) + n
    for stage in range(3):
        report.warnings += merge_warnings([p["stages"][stage] for p in parts])
    return report


def _gathered(frames: list[pd.DataFrame], subjects: pd.Index) -> pd.DataFrame:
    """Partition tables as one, ids on the categories of all subjects, in subject order (each
    subject's rows kept in the engine's order)."""
    kept = [f for f in frames if len(f)] or frames[:1]
    dtype = pd.CategoricalDtype(subjects)
    out = pd.concat(
        [f.assign(subject=pd.Categorical(f["subject"].astype(str), dtype=dtype)) for f in kept],
        ignore_index=True,
    )
    order = np.argsort(out["subject"].cat.codes.to_numpy(), kind="stable")
    return out.take(order).reset_index(drop=True)


def _split(
    side: tuple[Any, np.ndarray, np.ndarray, list[str], str] | None,
    subject_col: str,
    where: Any,
    n: int,
) -> list[Any]:
    """A client-side table cut into the partitions of its subjects (``where`` maps distinct ids
    to partitions)."""
    import pyarrow as pa

    if side is None:
        return [None] * n
    t, pieces, rows = side[:3]
    idx, ids = D.subject_keys(t, subject_col)
    part_of = where(ids)
    part = np.where(idx >= 0, part_of[np.maximum(idx, 0)] if len(ids) else 0, 0)
    order = np.argsort(part, kind="stable")
    edges = np.searchsorted(part[order], np.arange(n + 1))
    out = []
    for k in range(n):
        r = order[edges[k] : edges[k + 1]]
        out.append((t.take(pa.array(r)), pieces[r], rows[r]))
    return out


def _elsewhere(names: pd.Index, home: np.ndarray) -> np.ndarray:
    """A partition with visits for the relapses and scans of subjects without any (there they
    are left out and counted, as on one machine)."""
    alive = np.unique(home)
    if not len(alive):
        return np.zeros(len(names), dtype=np.int64)
    return alive[D.subject_buckets(names, len(alive))]


def _check_out(out: Path, outputs: list[Path], root: Path, inputs: dict[str, Any]) -> None:
    from smoulder.io.outputs import OutputError, OutputPlan

    plan = OutputPlan({k: v for k, v in inputs.items() if isinstance(v, (str, Path))})
    for i, p in enumerate(outputs):
        plan.add(p, "--out", suffixes=(".csv", ".tsv", ".parquet", ".pq") if i == 0 else None)
    plan.check()
    if root.is_dir() and out.resolve().is_relative_to(root.resolve()):
        raise OutputError(
            f"--out {out}: is inside the dataset {root} (it would be read as data next time); "
            "choose an output outside it"
        )


def run(
    dataset: str | Path,
    relapses: str | Path | pd.DataFrame | None = None,
    mri_activity: str | Path | pd.DataFrame | None = None,
    settings: ProgressionSettings | Mapping[str, Any] | str | Path | None = None,
    *,
    out: str | Path | None = None,
    client: Any = None,
    scheduler: str | None = None,
    n_workers: int | None = None,
    processes: bool = True,
    partitions: int | None = None,
    scratch_dir: str | Path | None = None,
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
    plots: bool = True,
    max_trajectory_plots: int = 12,
    return_unconfirmed: bool = False,
    progress: Progress | None = None,
    **overrides: Any,
) -> ProgressionResult:
    """Run a progression analysis over a partitioned Parquet dataset on dask.distributed.

    The result (events, summary, unconfirmed changes, counts, settings and input report) is
    the one :func:`smoulder.pipelines.progression.run` gives for the same rows in one file.

    Parameters
    ----------
    dataset : path
        The visits: a folder of Parquet files (hive folders allowed) or one Parquet file with
        several row groups; every file with the same columns.
    relapses, mri_activity : path or DataFrame, optional
        Relapse onsets and MRI scans: a CSV, TSV or Parquet file, a dataset folder, or a
        DataFrame (read by the client and sent to the partition of each subject).
    settings : ProgressionSettings, mapping or path, optional
        The analysis options (``overrides`` win over them).
    out : path, optional
        The events file; the other files are written beside it, all or nothing (never inside the
        dataset folder).
    client : distributed.Client, optional
        The cluster to use; else ``scheduler`` (an address), else a LocalCluster of
        ``n_workers`` single-threaded workers (default 2; ``processes=False``: threads).
    partitions : int, optional
        Repartition into this many parts by the hash of the subject id, whatever the files
        hold. Default: the files (or row groups) when their subjects are disjoint, else as many
        hash partitions as files, at most four per worker thread.
    scratch_dir : path, optional
        Where repartitioned rows are written (a folder every worker sees; default the system's
        temporary folder); removed at the end.
    subject_col, date_col, value_col, validconf_col, valuedelta_col, relapse_date_col, relapse_end_col, mri_date_col, mri_active_col, on_duplicate, on_missing, sep, date_format, future_dates
        As for :func:`smoulder.pipelines.progression.run`.
    plots, max_trajectory_plots, return_unconfirmed, progress
        As for :func:`smoulder.pipelines.progression.run`.

    Returns
    -------
    ProgressionResult
        Its ``visits`` (``relapses``, ``mri_activity``) hold the rows of the subjects in the
        trajectory figure only; ``files`` the written files when ``out`` was given.

    Raises
    ------
    InputDataError
        A dataset without Parquet files, files with different columns, a missing column, or a
        bad value (naming the original file and row).
    """
    from smoulder.pipelines.progression import planned_outputs, write

    s = settings_from(ProgressionSettings, settings, **overrides)
    value_col = value_col or s.outcome
    required = {"subject": subject_col, "date": date_col, "value": value_col}
    required.update(
        {k: c for k, c in (("validconf", validconf_col), ("valuedelta", valuedelta_col)) if c}
    )
    step(progress, "listing the dataset")
    layout = D.scan_dataset(dataset, required=required)
    out_path = Path(out) if out is not None else None
    if out_path is not None:
        outputs = planned_outputs(out_path, plots=plots, unconfirmed=return_unconfirmed)
        inputs = {"visits": None, "--relapses": relapses, "--mri-activity": mri_activity}
        _check_out(out_path, outputs, layout.root, inputs)
    rel = _side_table(relapses, subject_col, sep, "relapses") if relapses is not None else None
    mri = (
        _side_table(mri_activity, subject_col, sep, "MRI activity")
        if mri_activity is not None
        else None
    )
    columns = list(dict.fromkeys(c for c in (*required.values(),) if c))
    opts = {
        "subject_col": subject_col,
        "source": str(layout.root),
        "columns": columns,
        "date_col": date_col,
        "value_col": value_col,
        "outcome": s.outcome,
        "validconf_col": validconf_col,
        "valuedelta_col": valuedelta_col,
        "relapse_date_col": relapse_date_col,
        "relapse_end_col": relapse_end_col,
        "mri_date_col": mri_date_col,
        "mri_active_col": mri_active_col,
        "on_duplicate": on_duplicate,
        "on_missing": on_missing,
        "future_dates": future_dates,
        "date_format": date_format,
    }
    labels = {
        "visits": [p.path for p in layout.pieces],
        "relapses": rel[3] if rel else [],
        "relapses_source": [rel[4] if rel else ""],
        "mri": mri[3] if mri else [],
        "mri_source": [mri[4] if mri else ""],
    }
    scratch: str | None = None
    with cluster_client(client, scheduler, n_workers, processes=processes) as c:
        try:
            step(progress, f"finding the subjects of {len(layout.pieces):,} pieces")
            ids = c.gather(c.map(_piece_ids, layout.pieces, subject_col=subject_col, pure=False))
            every = pd.Index(np.concatenate([np.asarray(i, dtype=object) for i in ids]))
            if partitions is None and not every.has_duplicates:
                n = len(layout.pieces)
                specs: list[Any] = [("piece", (i, p)) for i, p in enumerate(layout.pieces)]
                home = np.repeat(np.arange(n), [len(i) for i in ids])

                def where(names: pd.Index) -> np.ndarray:
                    at = every.get_indexer(names)
                    return np.where(at >= 0, home[np.maximum(at, 0)], _elsewhere(names, home))
            else:
                threads = sum(c.nthreads().values()) or 1
                n = max(1, partitions or min(len(layout.pieces), 4 * threads))
                step(progress, f"repartitioning {layout.rows:,} rows into {n:,} by subject")
                scratch = tempfile.mkdtemp(prefix="smoulder-partitions-", dir=scratch_dir)
                c.gather(
                    c.map(
                        _bucket_piece,
                        range(len(layout.pieces)),
                        layout.pieces,
                        columns=columns,
                        subject_col=subject_col,
                        n=n,
                        scratch=scratch,
                        pure=False,
                    )
                )
                specs = [("bucket", str(Path(scratch) / f"part-{k:05d}")) for k in range(n)]

                distinct = pd.Index(every.unique())
                home = D.subject_buckets(distinct, n)

                def where(names: pd.Index) -> np.ndarray:
                    at = distinct.get_indexer(names)
                    return np.where(at >= 0, D.subject_buckets(names, n), _elsewhere(names, home))

            step(progress, f"checking and scanning {n:,} partitions on the cluster")
            # the relapses and scans of each partition go to the cluster once, not in the graph
            sides = [
                c.scatter(_split(t, subject_col, where, n)) if t is not None else [None] * n
                for t in (rel, mri)
            ]
            validated = c.map(
                _validate_partition,
                specs,
                sides[0],
                sides[1],
                labels=labels,
                opts=opts,
                pure=False,
            )
            found = c.gather(
                c.map(_engine, validated, settings=s, unconfirmed=return_unconfirmed, pure=False)
            )
            result = _assemble([f for f in found if f is not None], s, str(layout.root))
            if plots and len(result.events):
                chosen = result.plotted_subjects(max_trajectory_plots)
                rows = c.gather(c.map(_rows_for, validated, subjects=chosen, pure=False))
                result = _with_plot_rows(result, rows, chosen, rel is not None, mri is not None)
            del validated
        finally:
            if scratch is not None:
                shutil.rmtree(scratch, ignore_errors=True)
    if out_path is not None:
        step(
            progress, f"writing {len(result.events):,} events and {len(result.summary):,} subjects"
        )
        result.files = write(
            result,
            out_path,
            plots=plots,
            max_trajectory_plots=max_trajectory_plots,
            date_format=date_format,
        )
    return result


def _assemble(
    found: list[dict[str, Any]], s: ProgressionSettings, source: str
) -> ProgressionResult:
    if not found:
        raise InputDataError(
            "the dataset has no visits rows", file=source, expected="at least one visit"
        )
    subjects = pd.Index(
        np.concatenate([f["summary"]["subject"].astype(str).to_numpy(object) for f in found])
    ).sort_values()
    unconfirmed = None
    if found[0]["unconfirmed"] is not None:
        unconfirmed = _gathered([f["unconfirmed"] for f in found], subjects)
    return ProgressionResult(
        events=_gathered([f["events"] for f in found], subjects),
        summary=_gathered([f["summary"] for f in found], subjects),
        settings=s,
        ingest=_merge_report(found, source),
        version=found[0]["version"],
        unconfirmed=unconfirmed,
    )


def _with_plot_rows(
    result: ProgressionResult, rows: list[Any], chosen: list[str], rel: bool, mri: bool
) -> ProgressionResult:
    import dataclasses

    subjects = result.summary["subject"].cat.categories

    def joined(k: int) -> pd.DataFrame | None:
        got = [r[k] for r in rows if r[k] is not None]
        return _gathered(got, subjects) if got else None

    return dataclasses.replace(
        result,
        visits=joined(0),
        relapses=joined(1) if rel else None,
        mri_activity=joined(2) if mri else None,
    )
