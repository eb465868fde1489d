"""``smoulder digital import``: Apple Health exports, FHIR bundles and long tables -> the long table.

The ``digital`` command group (``smoulder.cli.digital``) calls :func:`register_import` with its
sub-parsers; each import writes ``subject,date,measure,value,unit`` (CSV with ISO dates, or
Parquet by suffix) and prints a summary of what was read, corrected and left out.

Examples
--------
::

    smoulder digital import apple-health export.zip --subject p01 --out measures.csv
    smoulder digital import fhir bundle.json --out measures.csv
    smoulder digital import table raw.tsv --out measures.parquet --on-duplicate mean
    smoulder digital export fhir measures.csv --out measures.json
    smoulder digital export fhir events.csv --events --out events.json
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd

__all__ = [
    "register_import",
    "register_export",
    "run_apple_health",
    "run_fhir",
    "run_table",
    "run_export_fhir",
]


def register_import(digital_sub: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Add ``import`` with the sub-commands ``apple-health``, ``fhir`` and ``table``.

    Parameters
    ----------
    digital_sub : argparse sub-parsers action
        The sub-parsers of the ``digital`` command group.

    Returns
    -------
    argparse.ArgumentParser
        The ``import`` parser.
    """
    p = digital_sub.add_parser(
        "import",
        help="turn an Apple Health export, a FHIR bundle or a raw table into the long table of measures",
        description="Write the long table subject,date,measure,value,unit (one row per subject, local day and "
        "measure; values in the catalogue's canonical units).",
    )
    sub = p.add_subparsers(dest="import_kind", metavar="SOURCE")
    p.set_defaults(func=lambda ns: _need_kind(p))

    a = sub.add_parser(
        "apple-health",
        help="Apple Health export.zip or export.xml",
        description="Stream an Apple Health export (any size, bounded memory) into daily values.",
    )
    a.add_argument(
        "export",
        type=Path,
        help="export.zip from the Health app, the export.xml inside it, or the unzipped folder",
    )
    a.add_argument("--subject", required=True, help="subject id to write in the subject column")
    a.add_argument(
        "--source-priority",
        nargs="+",
        metavar="NAME",
        default=None,
        help="substrings of sourceName or of the device name/model, most preferred first, choosing one "
        "source per hour of steps and "
        "per night of sleep (default: Watch iPhone)",
    )
    a.add_argument(
        "--dedup",
        choices=["priority", "max"],
        default="priority",
        help="one source per hour by priority (ties: larger total), or always the larger total",
    )
    a.add_argument(
        "--wear-sources",
        nargs="+",
        metavar="NAME",
        default=["Watch"],
        help="sourceName substrings of worn devices whose heart-rate samples give wear_hours "
        "(default: Watch)",
    )
    a.add_argument("--no-wear", action="store_true", help="do not write wear_hours")
    a.add_argument(
        "--sleep-day-start-hour",
        type=float,
        default=18.0,
        help="local hour at which a sleep day starts (default 18)",
    )
    a.add_argument(
        "--keep-valid",
        action="store_true",
        help="leave bad records out (counted) and keep what precedes broken XML instead of stopping",
    )
    _common(a)
    a.set_defaults(func=run_apple_health)

    f = sub.add_parser(
        "fhir",
        help="FHIR R4 Bundle or bulk data (NDJSON) of Observations / QuestionnaireResponses",
        description="Read Observations of the catalogue's LOINC or smoulder codes and PRO totals "
        "from a Bundle of any type (an EHR or Synthea export, a searchset, a transaction) or "
        "bulk data; Observations of other codes are left out and counted by code.",
    )
    f.add_argument("bundle", type=Path, help="Bundle JSON file, or bulk data (.ndjson)")
    f.add_argument(
        "--subject", default=None, help="subject id for every row (default: from each resource)"
    )
    f.add_argument(
        "--patient-identifier",
        default=None,
        metavar="SYSTEM",
        help="identifier system of the file's Patient resources that gives the subject id "
        "(default: the medical record number, else the first identifier that is not a social "
        "security, licence, passport or tax number, else Patient.id)",
    )
    f.add_argument(
        "--strict",
        action="store_true",
        help="refuse the file at the first Observation smoulder does not read (a code outside "
        "the catalogue, no value, no date) instead of leaving it out and counting it",
    )
    f.add_argument(
        "--keep-valid",
        action="store_true",
        help="leave invalid resources out (counted) instead of stopping",
    )
    f.add_argument(
        "--on-duplicate", choices=["error", "first", "last", "max", "min", "mean"], default="error"
    )
    f.add_argument(
        "--timezone", default=None, help="IANA zone for dates (default: each date's own offset)"
    )
    _common(f)
    f.set_defaults(func=run_fhir)

    t = sub.add_parser(
        "table",
        help="a raw long table (CSV, TSV or Parquet) to validate and normalise",
        description="Check names, units, ranges and duplicates; reduce date-times to daily values.",
    )
    t.add_argument("table", type=Path)
    for role in ("subject", "date", "measure", "value", "unit"):
        t.add_argument(f"--{role}-col", default=role)
    t.add_argument(
        "--on-duplicate", choices=["error", "first", "last", "max", "min", "mean"], default="error"
    )
    t.add_argument(
        "--timezone", default=None, help="IANA zone for date-times (default: each one's own offset)"
    )
    t.add_argument(
        "--sep",
        default=None,
        help="field separator: , ; tab | (default: tab for .tsv, comma otherwise)",
    )
    _common(t)
    t.set_defaults(func=run_table)
    return p


def _need_kind(p: argparse.ArgumentParser) -> int:
    p.print_help(sys.stderr)
    return 2


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--out",
        type=Path,
        required=True,
        help="long table to write (.csv, .tsv or .parquet); written all or nothing, never over "
        "the input",
    )
    add_future_dates(p)
    p.add_argument("--quiet", action="store_true", help="no progress bar and no summary")
    p.add_argument("--json", action="store_true", help="print the summary as JSON")


def add_future_dates(p: argparse.ArgumentParser) -> None:
    """``--future-dates warn|refuse|drop`` (see :mod:`smoulder.schema.dates`)."""
    p.add_argument(
        "--future-dates",
        choices=["warn", "refuse", "drop"],
        default="warn",
        help="records dated after today: kept and counted (warn, default), refused, or left out "
        "and counted (drop)",
    )


def _plan(ns: argparse.Namespace, inputs: dict[str, Any], *, check_files: bool = True) -> Any:
    """The output plan of an import: ``--out`` (a table), checked against the inputs."""
    from smoulder.io.outputs import TABLE_SUFFIXES, OutputPlan, check_input_file

    if check_files:
        for flag, path in inputs.items():
            if path is not None:
                check_input_file(path, flag)
    return OutputPlan(inputs).add(ns.out, "--out", suffixes=TABLE_SUFFIXES)


@contextmanager
def _progress(quiet: bool, what: str) -> Iterator[Callable[[int, int], None] | None]:
    if quiet or not sys.stderr.isatty():
        yield None
        return
    from rich.progress import (
        BarColumn,
        DownloadColumn,
        Progress,
        TimeRemainingColumn,
        TransferSpeedColumn,
    )

    with Progress(
        "[progress.description]{task.description}",
        BarColumn(),
        DownloadColumn(),
        TransferSpeedColumn(),
        TimeRemainingColumn(),
        transient=True,
    ) as bar:
        task = bar.add_task(what, total=None)

        def update(done: int, total: int) -> None:
            bar.update(task, completed=done, total=total)

        yield update


def _finish(ns: argparse.Namespace, df: pd.DataFrame, report: Any) -> int:
    per = df.groupby("measure").size().to_dict() if len(df) else {}
    summary = {
        "out": str(ns.out),
        "rows_written": int(len(df)),
        "subjects": int(df["subject"].nunique()) if len(df) else 0,
        "first_date": str(df["date"].min().date()) if len(df) else None,
        "last_date": str(df["date"].max().date()) if len(df) else None,
        "days_per_measure": {str(k): int(v) for k, v in per.items()},
        "report": report.to_dict(),
    }
    if ns.json:
        print(json.dumps(summary, indent=1))
    elif not ns.quiet:
        print(str(report))
        print(
            f"wrote {len(df):,} rows ({summary['subjects']} subject(s), {summary['first_date']} to "
            f"{summary['last_date']}) to {ns.out}"
        )
        for k, v in per.items():
            print(f"  {k}: {v:,} days")
    return 0


def run_apple_health(ns: argparse.Namespace) -> int:
    """Run ``smoulder digital import apple-health``."""
    from smoulder.exceptions import InputDataError
    from smoulder.io.apple_health import read_apple_health
    from smoulder.io.measures import write_measures

    if not ns.export.exists():
        raise InputDataError(
            "file not found (export)",
            file=str(ns.export),
            expected="export.zip from the Health app, the export.xml inside it, or the unzipped "
            "folder",
        )
    plan = _plan(ns, {"export": ns.export}, check_files=False)
    with plan.staged() as stage:
        with _progress(ns.quiet or ns.json, "reading export") as cb:
            df, report = read_apple_health(
                ns.export,
                ns.subject,
                source_priority=ns.source_priority,
                dedup=ns.dedup,
                on_error="keep-valid" if ns.keep_valid else "raise",
                sleep_day_start_hour=ns.sleep_day_start_hour,
                progress=cb,
                wear_sources=None if ns.no_wear else ns.wear_sources,
                future_dates=ns.future_dates,
            )
        write_measures(df, stage.path(ns.out))
    return _finish(ns, df, report)


def run_fhir(ns: argparse.Namespace) -> int:
    """Run ``smoulder digital import fhir``."""
    from smoulder.io.fhir import read_fhir_file
    from smoulder.io.measures import write_measures

    with _plan(ns, {"bundle": ns.bundle}).staged() as stage:
        df, report = read_fhir_file(
            ns.bundle,
            subject=ns.subject,
            strict=ns.strict,
            patient_identifier=ns.patient_identifier,
            on_error="keep-valid" if ns.keep_valid else "raise",
            on_duplicate=ns.on_duplicate,
            timezone=ns.timezone,
            future_dates=ns.future_dates,
        )
        write_measures(df, stage.path(ns.out))
    return _finish(ns, df, report)


def run_table(ns: argparse.Namespace) -> int:
    """Run ``smoulder digital import table``."""
    from smoulder.io.delimited import parse_sep
    from smoulder.io.measures import read_measures, write_measures

    with _plan(ns, {"table": ns.table}).staged() as stage:
        df, report = read_measures(
            ns.table,
            subject_col=ns.subject_col,
            date_col=ns.date_col,
            measure_col=ns.measure_col,
            value_col=ns.value_col,
            unit_col=ns.unit_col,
            on_duplicate=ns.on_duplicate,
            timezone=ns.timezone,
            future_dates=ns.future_dates,
            sep=parse_sep(ns.sep),
        )
        write_measures(df, stage.path(ns.out))
    return _finish(ns, df, report)


def register_export(digital_sub: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Add ``export`` with the sub-command ``fhir`` (long table or events table -> FHIR R4 Bundle).

    Parameters
    ----------
    digital_sub : argparse sub-parsers action
        The sub-parsers of the ``digital`` command group.
    """
    p = digital_sub.add_parser(
        "export",
        help="write measures or detected events as a FHIR R4 Bundle",
        description="Write a long table of measures, or the events table of "
        "'smoulder digital detect', as a FHIR R4 Bundle of Observations.",
    )
    sub = p.add_subparsers(dest="export_kind", metavar="FORMAT")
    p.set_defaults(func=lambda ns: _need_kind(p))
    f = sub.add_parser("fhir", help="FHIR R4 Bundle (JSON)")
    f.add_argument(
        "table", type=Path, help="long table of measures, or an events table with --events"
    )
    f.add_argument(
        "--events",
        action="store_true",
        help="the table is an events table (subject, measure, onset_date, detected_date, ...)",
    )
    f.add_argument(
        "--out", type=Path, required=True, help="Bundle JSON to write (.json; never over the input)"
    )
    f.add_argument("--quiet", action="store_true")
    f.set_defaults(func=run_export_fhir)
    return p


def run_export_fhir(ns: argparse.Namespace) -> int:
    """Run ``smoulder digital export fhir``."""
    from smoulder.io.fhir import events_to_bundle, measures_to_bundle, write_bundle
    from smoulder.io.outputs import JSON_SUFFIXES, OutputPlan, check_input_file

    check_input_file(ns.table, "table")
    plan = OutputPlan({"table": ns.table}).add(ns.out, "--out", suffixes=JSON_SUFFIXES)
    with plan.staged() as stage:
        if ns.events:
            bundle = events_to_bundle(_read_events_table(ns.table))
        else:
            from smoulder.io.measures import read_measures

            df, _ = read_measures(ns.table)
            bundle = measures_to_bundle(df)
        write_bundle(bundle, stage.path(ns.out))
    if not ns.quiet:
        print(f"wrote {len(bundle['entry']):,} Observations to {ns.out}")
    return 0


def _read_events_table(path: Path) -> pd.DataFrame:
    """The events table of ``smoulder digital detect`` with its date columns as dates."""
    import pandas as pd

    from smoulder.exceptions import InputDataError
    from smoulder.io.tables import read_table

    events = read_table(path)
    if not len(events):
        raise InputDataError(
            "no events in the table", file=str(path), expected="the events table of digital detect"
        )
    for c in events.columns:
        col = events[c]
        if (
            col.dtype == object
            and len(col.dropna())
            and col.dropna().astype(str).str.fullmatch(r"\d{4}-\d{2}-\d{2}").all()
        ):
            parsed = pd.to_datetime(col, errors="coerce", format="%Y-%m-%d")
            bad = parsed.isna() & col.notna()
            if bad.any():
                i = int(bad.to_numpy().nonzero()[0][0])
                raise InputDataError(
                    "impossible date",
                    file=str(path),
                    row=i + 2,
                    column=str(c),
                    value=str(col.iloc[i]),
                    expected="a real calendar date YYYY-MM-DD",
                )
            events[c] = parsed
    return events
