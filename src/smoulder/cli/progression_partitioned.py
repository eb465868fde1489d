"""``smoulder progression DATASET --partitioned``: the progression analysis of a partitioned
Parquet dataset on dask.distributed workers (see :mod:`smoulder.pipelines.partitioned`).

Imports nothing heavy at module level (``--help`` stays fast).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from smoulder.exceptions import SettingsError


def _count(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a whole number >= 1, got {text!r}")
    return value


def add_arguments(p: argparse.ArgumentParser) -> None:
    """``--partitioned`` and the cluster flags."""
    g = p.add_argument_group(
        "partitioned datasets (VISITS a folder of Parquet files or a Parquet file of row groups)"
    )
    g.add_argument(
        "--partitioned",
        action="store_true",
        help="analyse VISITS partition by partition on dask.distributed workers (results "
        "identical to one machine); subjects spanning files are repartitioned by a hash of the id",
    )
    g.add_argument(
        "--workers",
        type=_count,
        default=None,
        help="local cluster workers, 1 thread each (default 2)",
    )
    g.add_argument(
        "--scheduler", default=None, metavar="ADDRESS", help="a running dask scheduler instead"
    )
    g.add_argument(
        "--partitions",
        type=_count,
        default=None,
        help="repartition into N parts by subject hash (default: the files, when their subjects "
        "are disjoint)",
    )
    g.add_argument(
        "--scratch-dir",
        type=Path,
        default=None,
        help="folder every worker sees, for repartitioned rows (default: the temporary folder)",
    )


def check_flags(ns: argparse.Namespace) -> None:
    """Cluster flags only with ``--partitioned``, and one cluster at a time."""
    given = [
        f
        for f, k in (
            ("--workers", "workers"),
            ("--scheduler", "scheduler"),
            ("--partitions", "partitions"),
            ("--scratch-dir", "scratch_dir"),
        )
        if getattr(ns, k, None) is not None
    ]
    if given and not ns.partitioned:
        raise SettingsError(f"{given[0]} needs --partitioned")
    if ns.workers is not None and ns.scheduler is not None:
        raise SettingsError("give --workers (a local cluster) or --scheduler, not both")
    if ns.partitioned and ns.groups is not None:
        raise SettingsError(
            "--groups is not available with --partitioned (run the groups on one machine)"
        )


def run(ns: argparse.Namespace) -> int:
    """Run the analysis of ``ns.visits`` as a partitioned dataset; print what ``progression``
    prints."""
    from smoulder.cli.progression import progress_display, reading_options, settings_from_args
    from smoulder.pipelines import partitioned
    from smoulder.pipelines._clinical import check_inputs

    t0 = time.perf_counter()
    files = {
        k: v
        for k, v in (
            ("relapses", ns.relapses),
            ("mri_activity", ns.mri_activity),
            ("settings", ns.settings),
        )
        if v is not None and not Path(v).is_dir()
    }
    check_inputs(
        files,
        {"relapses": "--relapses", "mri_activity": "--mri-activity", "settings": "--settings"},
    )
    s = settings_from_args(ns)
    opts = reading_options(ns)
    with progress_display(ns) as progress:
        result = partitioned.run(
            ns.visits,
            ns.relapses,
            ns.mri_activity,
            s,
            out=ns.out,
            scheduler=ns.scheduler,
            n_workers=ns.workers,
            partitions=ns.partitions,
            scratch_dir=ns.scratch_dir,
            subject_col=ns.subject_col,
            date_col=ns.date_col,
            value_col=ns.value_col,
            validconf_col=ns.validconf_col,
            valuedelta_col=ns.valuedelta_col,
            relapse_date_col=ns.relapse_date_col,
            relapse_end_col=ns.relapse_end_col,
            mri_date_col=ns.mri_date_col,
            mri_active_col=ns.mri_active_col,
            on_duplicate=ns.on_duplicate,
            on_missing=ns.on_missing,
            plots=not ns.no_plots,
            return_unconfirmed=ns.return_unconfirmed,
            progress=progress,
            **opts,
        )
    elapsed = time.perf_counter() - t0
    counts = result.counts()
    paths = result.files
    if ns.json:
        out = {
            "counts": counts,
            "files": {k: str(v) for k, v in paths.items()},
            "seconds": elapsed,
            "input": result.ingest.to_dict(),
        }
        print(json.dumps(out))
    elif not ns.quiet:
        for w in result.ingest.warnings:
            print(f"warning: {w}", file=sys.stderr)
        pira = (
            f" ({counts['pira_events']:,} PIRA, {counts['raw_events']:,} RAW)" if s.rawpira else ""
        )
        print(
            f"{counts['subjects']:,} subjects, {counts['visits']:,} visits: "
            f"{counts['cdw_events']:,} CDW{pira}, {counts['cdi_events']:,} CDI in {elapsed:.2f} s"
        )
        print(
            f"events: {paths['events']}\nsummary: {paths['summary']}\nsettings: {paths['settings']}"
        )
    return 0
