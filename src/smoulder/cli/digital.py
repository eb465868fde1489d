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


def _register_detect(dsub: argparse._SubParsersAction) -> None:
    from smoulder.digital.detect import METHODS, DetectSettings

    d = DetectSettings()
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
        default=list(d.methods),
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
        default=d.alpha,
        help="false-alarm probability per 52 weeks of stable data (default %(default)s)",
    )
    p.add_argument(
        "--min-sustained",
        type=int,
        default=d.min_sustained,
        help="weeks a change must last (default %(default)s)",
    )
    p.add_argument(
        "--min-baseline",
        type=int,
        default=d.min_baseline,
        help="weeks of baseline needed (default %(default)s)",
    )
    p.add_argument(
        "--min-change-pct",
        type=float,
        default=d.min_change_pct,
        help="smallest change reported for ratio measures, %% (default %(default)s)",
    )
    p.add_argument("--min-wear-hours", type=float, default=d.min_wear_hours)
    p.add_argument("--min-valid-days", type=int, default=d.min_valid_days)
    p.add_argument(
        "--practice",
        choices=["detect", "none"],
        default=d.practice,
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
    p.add_argument("--max-plots", type=int, default=50)
    p.add_argument(
        "--sep",
        default=None,
        help="field separator of text tables: , ; tab | (default: tab for .tsv, comma otherwise)",
    )
    add_future_dates(p)
    p.add_argument("--quiet", action="store_true", help="no progress bar or summary")
    p.add_argument("--json", action="store_true", help="print a JSON summary on stdout")
    p.set_defaults(func=run_detect)


def planned_detect_outputs(out: Path) -> list[Path]:
    """Every table ``digital detect --out OUT`` writes beside OUT."""
    stem = out.with_suffix("")
    return [
        Path(f"{stem}_settings.json"),
        Path(f"{stem}_weekly{out.suffix}"),
        Path(f"{stem}_gaps{out.suffix}"),
    ]


def run_detect(ns: argparse.Namespace) -> int:
    from smoulder.digital.detect import DetectSettings, detect
    from smoulder.exceptions import SettingsError
    from smoulder.io.delimited import parse_sep
    from smoulder.io.measures import read_measures
    from smoulder.io.outputs import JSON_SUFFIXES, TABLE_SUFFIXES, OutputPlan, check_input_file
    from smoulder.io.tables import read_relapses

    if ns.max_plots < 0:
        raise SettingsError(f"--max-plots must be 0 or more (got {ns.max_plots})")
    settings = DetectSettings.make(
        methods=tuple(ns.method),
        alpha=ns.alpha,
        min_sustained=ns.min_sustained,
        min_baseline=ns.min_baseline,
        min_change_pct=ns.min_change_pct,
        min_wear_hours=ns.min_wear_hours,
        min_valid_days=ns.min_valid_days,
        practice=ns.practice,
    )
    inputs = {"measures": ns.measures, "--relapses": ns.relapses}
    for flag, path in inputs.items():
        if path is not None:
            check_input_file(path, flag)
    plan = OutputPlan(inputs).add(ns.out, "--out", suffixes=TABLE_SUFFIXES)
    for path in planned_detect_outputs(ns.out):
        plan.add(path, "--out")
    plan.add(ns.fhir_out, "--fhir-out", suffixes=JSON_SUFFIXES).add_dir(ns.plots, "--plots")
    sep = parse_sep(ns.sep)
    with plan.staged() as stage:
        df, report = read_measures(
            ns.measures,
            subject_col=ns.subject_col,
            date_col=ns.date_col,
            measure_col=ns.measure_col,
            value_col=ns.value_col,
            on_duplicate=ns.on_duplicate,
            future_dates=ns.future_dates,
            sep=sep,
        )
        if ns.measure:
            from smoulder.schema.catalogue import get_measure

            for name in ns.measure:
                get_measure(name)
            df = df[df["measure"].isin(ns.measure)]
        relapses = None
        if ns.relapses is not None:
            relapses, _ = read_relapses(ns.relapses, future_dates=ns.future_dates, sep=sep)
        show = not ns.quiet and not ns.json and sys.stderr.isatty()
        if show:
            from rich.progress import Progress

            with Progress(transient=True) as bar:
                task = bar.add_task("detecting", total=None)
                res = detect(
                    df,
                    settings,
                    relapses=relapses,
                    progress=lambda done, total: bar.update(task, completed=done, total=total),
                )
        else:
            res = detect(df, settings, relapses=relapses)
        written = res.write(stage.path(ns.out))
        meta = json.loads(written["settings"].read_text())
        meta["input"] = report.to_dict()
        written["settings"].write_text(json.dumps(meta, indent=2, default=str))
        paths = {k: ns.out.parent / v.name for k, v in written.items()}
        if ns.fhir_out is not None:
            from smoulder.io.fhir import events_to_bundle, write_bundle

            write_bundle(events_to_bundle(res.events), stage.path(ns.fhir_out))
            paths["fhir"] = ns.fhir_out
        if ns.plots is not None:
            staged = stage.dir(ns.plots)
            for k, v in _write_plots(res, staged, relapses, ns.max_plots).items():
                paths[k] = ns.plots / v.relative_to(staged)
    ev = res.events
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
        "input": report.to_dict(),
    }
    if ns.json:
        print(json.dumps(summary, indent=2))
    elif not ns.quiet:
        for w in report.warnings:
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


def _write_plots(res, folder: Path, relapses, limit: int) -> dict[str, Path]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    folder.mkdir(parents=True, exist_ok=True)
    out: dict[str, Path] = {}
    pairs = res.events[["subject", "measure"]].drop_duplicates().head(limit)
    for i, (subject, measure) in enumerate(pairs.itertuples(index=False), start=1):
        ax = res.plot(subject, measure, relapses=relapses)
        # file names use a running number, not the subject id
        path = folder / f"series_{i:04d}_{measure}.png"
        ax.figure.tight_layout()
        ax.figure.savefig(path, dpi=110)
        plt.close(ax.figure)
        out[f"plot_{i}"] = path
    if len(pairs):
        index = folder / "plots_index.csv"
        pairs.assign(
            plot=[f"series_{i:04d}_{m}.png" for i, m in enumerate(pairs["measure"], start=1)]
        ).to_csv(index, index=False)
        out["plots_index"] = index
    return out


def run_measures(ns: argparse.Namespace) -> int:
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
