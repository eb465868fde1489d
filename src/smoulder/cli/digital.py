"""``smoulder digital``: import phone/wearable/home-test data and detect sustained worsening.

Examples
--------
::

    smoulder digital import apple-health export.zip --subject p01 --out measures.csv
    smoulder digital detect measures.csv --out events.csv
    smoulder digital detect measures.csv --method changepoint cusum --relapses relapses.csv \\
        --plots plots/ --out results/events.csv
    smoulder digital measures            # the catalogue of measures
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from smoulder.cli.digital_import import add_future_dates, register_export, register_import


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "digital",
        help="phone, wearable and home-test data: import, detect sustained worsening",
        description="Import phone, wearable, home-test and questionnaire data into the long table "
        "subject,date,measure,value,unit and detect sustained worsening between visits.",
    )
    dsub = p.add_subparsers(dest="digital_command", metavar="COMMAND")
    p.set_defaults(func=lambda ns: _help(p))
    register_import(dsub)
    register_export(dsub)
    _register_detect(dsub)
    c = dsub.add_parser("measures", help="list the catalogue of measures")
    c.add_argument("--json", action="store_true", help="print JSON")
    c.set_defaults(func=run_measures)


def _help(p: argparse.ArgumentParser) -> int:
    p.print_help()
    return 2


#: The detectors (:data:`smoulder.digital.settings.METHODS`; a test keeps the two equal).
METHODS = ("changepoint", "cusum", "rolling", "consecutive")

#: Settings parameter -> command-line flag, so that settings errors name the flag.
FLAGS = {
    "methods": "--method",
    "alpha": "--alpha",
    "min_sustained": "--min-sustained",
    "min_baseline": "--min-baseline",
    "min_change_pct": "--min-change-pct",
    "min_wear_hours": "--min-wear-hours",
    "min_valid_days": "--min-valid-days",
    "practice": "--practice",
    "max_plots": "--max-plots",
}


def _register_detect(dsub: argparse._SubParsersAction) -> None:
    # every settings flag defaults to None (the settings' own default, stated in the help and
    # checked against DetectSettings by a test), so --help needs no heavy import
    p = dsub.add_parser(
        "detect",
        help="detect sustained worsening in a long table of measures",
        description="Read the long table subject,date,measure,value[,unit], summarise each "
        "person's measures by week and write one row per detected sustained "
        "worsening (onset, detection date, baseline and current level, change).",
    )
    p.add_argument("measures", type=Path, help="long table (CSV, TSV or Parquet)")
    p.add_argument(
        "--out",
        type=Path,
        required=True,
        help="events table (.csv, .tsv or .parquet); settings, weekly table and gaps are "
        "written beside it, all or nothing, never over an input",
    )
    p.add_argument(
        "--method",
        nargs="+",
        choices=METHODS,
        default=None,
        help="detectors to run (default: changepoint)",
    )
    p.add_argument(
        "--measure",
        nargs="+",
        metavar="NAME",
        default=None,
        help="only these measures (default: all in the table)",
    )
    p.add_argument(
        "--relapses",
        type=Path,
        default=None,
        help="relapse onsets (subject,date) to flag events that start soon after one",
    )
    p.add_argument("--subject-col", default="subject")
    p.add_argument("--date-col", default="date")
    p.add_argument("--measure-col", default="measure")
    p.add_argument("--value-col", default="value")
    p.add_argument(
        "--on-duplicate",
        default="error",
        choices=["error", "first", "last", "max", "min", "mean"],
        help="what to do with conflicting records of one subject, measure and time",
    )
    p.add_argument(
        "--alpha",
        type=float,
        default=None,
        help="false-alarm probability per 52 weeks of stable data (default 0.05)",
    )
    p.add_argument(
        "--min-sustained",
        type=int,
        default=None,
        help="weeks a change must last (default 12)",
    )
    p.add_argument(
        "--min-baseline",
        type=int,
        default=None,
        help="weeks of baseline needed (default 8)",
    )
    p.add_argument(
        "--min-change-pct",
        type=float,
        default=None,
        help="smallest change reported for ratio measures, %% (default 5)",
    )
    p.add_argument(
        "--min-wear-hours",
        type=float,
        default=None,
        help="hours of wear a day of steps needs, when wear time is known (default 10)",
    )
    p.add_argument(
        "--min-valid-days",
        type=int,
        default=None,
        help="valid days a week of a passive stream needs (default 4)",
    )
    p.add_argument(
        "--practice",
        choices=["detect", "none"],
        default=None,
        help="find and leave out the learning phase of home tests (default detect)",
    )
    p.add_argument(
        "--fhir-out",
        type=Path,
        default=None,
        help="also write the events as a FHIR R4 Bundle of Observations (JSON)",
    )
    p.add_argument(
        "--plots",
        type=Path,
        default=None,
        help="folder for one plot per person and measure with an event",
    )
    p.add_argument("--max-plots", type=int, default=50, help="the most plots written (default 50)")
    p.add_argument(
        "--sep",
        default=None,
        help="field separator of text tables: , ; tab | (default: tab for .tsv, comma otherwise)",
    )
    add_future_dates(p)
    p.add_argument("--quiet", action="store_true", help="no progress bar or summary")
    p.add_argument("--json", action="store_true", help="print a JSON summary on stdout")
    p.set_defaults(func=run_detect)


def restate(exc: Exception, flags: dict[str, str] = FLAGS) -> Exception:
    """A settings error in the user's words: the parameter that starts it becomes its flag.

    Parameters
    ----------
    exc : SettingsError
        The error the settings raised (``alpha must be ... (got 0.7)``).
    flags : dict
        Parameter name -> flag.

    Returns
    -------
    SettingsError
        ``--alpha must be ... (got 0.7)``; the same error when the parameter has no flag.
    """
    from smoulder.exceptions import SettingsError

    name = str(getattr(exc, "parameter", None) or "")
    msg = str(exc)
    if name not in flags or not msg.startswith(name):
        return exc
    out = SettingsError(flags[name] + msg[len(name) :])
    out.parameter, out.given = getattr(exc, "parameter", None), getattr(exc, "given", None)
    return out


def detect_settings_from_args(ns: argparse.Namespace) -> Any:
    """:class:`~smoulder.digital.settings.DetectSettings` from the flags (errors name the flag)."""
    from smoulder.digital.settings import DetectSettings
    from smoulder.exceptions import SettingsError

    try:
        return DetectSettings.from_mapping(
            None,
            methods=tuple(ns.method) if ns.method else None,
            alpha=ns.alpha,
            min_sustained=ns.min_sustained,
            min_baseline=ns.min_baseline,
            min_change_pct=ns.min_change_pct,
            min_wear_hours=ns.min_wear_hours,
            min_valid_days=ns.min_valid_days,
            practice=ns.practice,
        )
    except SettingsError as exc:
        raise restate(exc) from None


def run_detect(ns: argparse.Namespace) -> int:
    """Run ``smoulder digital detect`` through :func:`smoulder.pipelines.digital.run`."""
    from smoulder.exceptions import SettingsError

    if ns.max_plots < 0:
        raise SettingsError(f"--max-plots must be 0 or more (got {ns.max_plots})")
    settings = detect_settings_from_args(ns)
    from smoulder.io.delimited import parse_sep
    from smoulder.pipelines import digital as pipeline

    options = dict(
        settings=settings,
        relapses=ns.relapses,
        only_measures=ns.measure,
        out=ns.out,
        fhir_out=ns.fhir_out,
        plots=ns.plots,
        max_plots=ns.max_plots,
        subject_col=ns.subject_col,
        date_col=ns.date_col,
        measure_col=ns.measure_col,
        value_col=ns.value_col,
        on_duplicate=ns.on_duplicate,
        future_dates=ns.future_dates,
        sep=parse_sep(ns.sep),
    )
    show = not ns.quiet and not ns.json and sys.stderr.isatty()
    if show:
        from rich.progress import Progress

        with Progress(transient=True) as bar:
            task = bar.add_task("detecting", total=None)
            res = pipeline.run(
                ns.measures,
                progress=lambda done, total: bar.update(task, completed=done, total=total),
                **options,
            )
    else:
        res = pipeline.run(ns.measures, **options)
    paths = pipeline.output_paths(
        res, ns.out, fhir_out=ns.fhir_out, plots=ns.plots, max_plots=ns.max_plots
    )
    ev = res.events
    report = res.inputs or {}
    summary = {
        "events": int(len(ev)),
        "people_with_events": int(ev["subject"].nunique()) if len(ev) else 0,
        "people": int(res.weekly["subject"].nunique()),
        "series": int(res.weekly.groupby(["subject", "measure"], observed=True).ngroups),
        "by_method": {k: int(v) for k, v in ev["method"].value_counts().items()},
        "learning_phases": int(len(res.learning)),
        "gaps": int(len(res.gaps)),
        "decision_limits": res.limits,
        "outputs": {k: str(v) for k, v in paths.items()},
        "input": report,
    }
    if ns.json:
        print(json.dumps(summary, indent=2))
    elif not ns.quiet:
        for w in report.get("warnings", []):
            print(f"warning: {w}", file=sys.stderr)
        print(
            f"{summary['series']} series of {summary['people']} people: "
            f"{summary['events']} sustained worsening events in "
            f"{summary['people_with_events']} people; "
            f"{summary['learning_phases']} learning phases left out; "
            f"{summary['gaps']} gaps of 2+ weeks reported"
        )
        print(f"wrote {ns.out}")
    return 0


def run_measures(ns: argparse.Namespace) -> int:
    """Run ``smoulder digital measures``: the catalogue, as a table or JSON."""
    from smoulder.schema.catalogue import MEASURES

    rows = [
        {
            "name": m.name,
            "unit": m.unit,
            "worse": m.worse,
            "kind": m.kind,
            "sdc": m.sdc,
            "practice_effect": m.practice_effect,
            "loinc": m.loinc,
            "loinc_also": list(m.loinc_also),
            "description": m.description,
        }
        for m in MEASURES.values()
    ]
    if ns.json:
        print(json.dumps(rows, indent=2))
    else:
        for r in rows:
            print(
                f"{r['name']:<26} {r['unit']:<8} {r['worse']:<6} worse  {r['kind']:<9} "
                f"{r['description']}"
            )
    return 0
