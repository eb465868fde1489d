"""``smoulder progression``: CDW/CDI/PIRA/RAW/PIRMA from a visits file."""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from pathlib import Path
from typing import Any

from smoulder.exceptions import SettingsError


def _days(text: str) -> float:
    if text.lower() in ("inf", "infinity"):
        return math.inf
    try:
        return float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected a number of days or 'inf', got {text!r}"
        ) from None


def _open_days(text: str) -> float | None:
    if text.lower() in ("none", "open"):
        return None
    return _days(text)


def add_settings_arguments(p: argparse.ArgumentParser) -> None:
    """The analysis options, under msprog's names with dashes (defaults come from the settings model)."""
    g = p.add_argument_group(
        "analysis options (msprog names; defaults as msprog unless documented)"
    )
    S = argparse.SUPPRESS
    g.add_argument(
        "--outcome",
        choices=["edss", "t25fw", "nhpt", "sdmt", "custom"],
        default=S,
        help="outcome measure (default edss)",
    )
    g.add_argument(
        "--direction",
        choices=["increase", "decrease"],
        default=S,
        help="custom outcome: which direction is worse",
    )
    g.add_argument(
        "--min-change", type=float, default=S, help="custom outcome: minimal change in points"
    )
    g.add_argument(
        "--min-change-pct", type=float, default=S, help="minimal change in %% of baseline"
    )
    g.add_argument("--min-change-combine", choices=["min", "max"], default=S)
    g.add_argument(
        "--edss-half-step-from",
        type=float,
        default=S,
        help="EDSS baseline from which +0.5 counts (default 6.0, consensus; 5.5 = msprog)",
    )
    g.add_argument(
        "--event",
        choices=["firstCDW", "firstCDI", "first", "firstPIRA", "firstRAW", "multiple"],
        default=S,
    )
    g.add_argument(
        "--classify-cdw",
        action="store_true",
        default=S,
        help="classify each CDW as PIRA, RAW or undefined (msprog's RAW_PIRA)",
    )
    g.add_argument(
        "--baseline", choices=["fixed", "roving", "roving_impr", "roving_wors"], default=S
    )
    g.add_argument("--proceed-from", choices=["firstconf", "event"], default=S)
    g.add_argument(
        "--sub-threshold-rebl", choices=["none", "event", "improvement", "worsening"], default=S
    )
    g.add_argument("--bl-geq", action="store_true", default=S)
    g.add_argument("--relapse-rebl", action="store_true", default=S)
    g.add_argument("--skip-local-extrema", choices=["none", "strict", "all"], default=S)
    g.add_argument(
        "--conf-days",
        type=float,
        action="extend",
        nargs="+",
        default=S,
        help="confirmation period(s) in days; repeat for several windows ('confirmed at any of')",
    )
    g.add_argument(
        "--conf-tol-days",
        type=_days,
        nargs="+",
        default=S,
        metavar="DAYS",
        help="tolerance before [and after] the confirmation period (default 7 730.5)",
    )
    g.add_argument(
        "--require-sust-days",
        type=_days,
        default=S,
        help="days the change must be sustained, or inf",
    )
    g.add_argument(
        "--no-check-intermediate",
        dest="check_intermediate",
        action="store_false",
        default=S,
        help="confirm only at the confirmation visit, not at every visit in between",
    )
    for name in ("relapse-to-bl", "relapse-to-event", "relapse-to-conf", "relapse-assoc"):
        g.add_argument(
            f"--{name}",
            type=_days,
            nargs="+",
            default=S,
            metavar="DAYS",
            help="days after [and before] a relapse",
        )
    g.add_argument(
        "--relapse-indep-prec", type=_open_days, nargs=2, default=S, metavar=("BEFORE", "AFTER")
    )
    g.add_argument(
        "--relapse-indep-event", type=_open_days, nargs=2, default=S, metavar=("BEFORE", "AFTER")
    )
    g.add_argument(
        "--relapse-indep-conf", type=_open_days, nargs=2, default=S, metavar=("BEFORE", "AFTER")
    )
    g.add_argument(
        "--relapse-indep-prec-type", choices=["baseline", "last", "last_delta"], default=S
    )
    g.add_argument(
        "--impute-last-visit",
        type=float,
        default=S,
        help="impute unconfirmed worsening at the last visit: probability, or max follow-up days",
    )
    g.add_argument("--seed", type=int, default=S, help="seed for probabilistic imputation")
    g.add_argument(
        "--settings",
        type=Path,
        default=None,
        help="TOML/JSON settings file (as written beside every output); flags override it",
    )


def settings_from_args(ns: argparse.Namespace) -> Any:
    from smoulder.clinical.settings import ProgressionSettings

    base: dict[str, Any] = {}
    if ns.settings is not None:
        try:
            base = ProgressionSettings.from_file(ns.settings).model_dump()
        except (UnicodeDecodeError, AttributeError, TypeError):
            raise SettingsError(
                f"{ns.settings}: --settings is not a settings file; expected the TOML or JSON "
                "settings written beside every output"
            ) from None
    simple = [
        "outcome",
        "direction",
        "min_change",
        "min_change_pct",
        "min_change_combine",
        "edss_half_step_from",
        "event",
        "classify_cdw",
        "baseline",
        "proceed_from",
        "sub_threshold_rebl",
        "bl_geq",
        "relapse_rebl",
        "skip_local_extrema",
        "conf_days",
        "require_sust_days",
        "check_intermediate",
        "relapse_to_bl",
        "relapse_to_event",
        "relapse_to_conf",
        "relapse_assoc",
        "impute_last_visit",
        "seed",
    ]
    for key in simple:
        if hasattr(ns, key):
            base[key] = getattr(ns, key)
    if hasattr(ns, "conf_tol_days"):
        tol = ns.conf_tol_days
        if len(tol) > 2:
            raise SettingsError(f"--conf-tol-days takes one or two numbers; got {len(tol)}")
        base["conf_tol_days"] = tol
    for key in ("relapse_to_bl", "relapse_to_event", "relapse_to_conf", "relapse_assoc"):
        if key in base and isinstance(base[key], list) and len(base[key]) > 2:
            raise SettingsError(
                f"--{key.replace('_', '-')} takes one or two numbers; got {base[key]}"
            )
    ri = dict(
        base.get(
            "relapse_indep",
            {"prec": (0, 0), "event": (90, 30), "conf": (90, 30), "prec_type": "baseline"},
        )
    )
    changed = False
    for key in ("prec", "event", "conf"):
        if hasattr(ns, f"relapse_indep_{key}"):
            ri[key] = tuple(getattr(ns, f"relapse_indep_{key}"))
            changed = True
    if hasattr(ns, "relapse_indep_prec_type"):
        ri["prec_type"] = ns.relapse_indep_prec_type
        changed = True
    if changed:
        base["relapse_indep"] = ri
    return ProgressionSettings.from_mapping(base)


def add_input_arguments(p: argparse.ArgumentParser, *, on_missing: bool = True) -> None:
    """Flags on how input tables are read (shared by progression, composite and milestone)."""
    g = p.add_argument_group("reading the tables")
    g.add_argument(
        "--sep",
        default=None,
        metavar="SEP",
        help="field separator of text tables: , ; tab | (default: tab for .tsv, comma otherwise)",
    )
    g.add_argument(
        "--date-format",
        choices=["iso", "day"],
        default="iso",
        help="iso: dates YYYY-MM-DD (default); day: whole numbers of days from each subject's "
        "start (msprog's date_format='day'), for visits, relapses and MRI; outputs then give days",
    )
    g.add_argument(
        "--future-dates",
        choices=["warn", "refuse", "drop"],
        default="warn",
        help="dates after today (simulated or date-shifted data): kept and counted (warn, "
        "default), refused, or left out and counted (drop)",
    )
    if on_missing:
        g.add_argument(
            "--on-missing",
            choices=["error", "drop"],
            default="error",
            help="visits without an outcome value: stop (error, default) or leave them out and "
            "count them (drop, as msprog)",
        )


def reading_options(ns: argparse.Namespace) -> dict[str, Any]:
    """Reader keyword arguments from the flags of :func:`add_input_arguments`."""
    from smoulder.io.delimited import parse_sep
    from smoulder.schema.dates import DateRule

    return {
        "sep": parse_sep(ns.sep),
        "date_format": ns.date_format,
        "future_dates": DateRule(ns.future_dates),
    }


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "progression",
        help="confirmed disability worsening / improvement, PIRA, RAW, PIRMA",
        description="Detect confirmed disability events of one outcome in a visits table (CSV, TSV or Parquet).",
    )
    p.add_argument("visits", type=Path, help="visits table: subject, date, value")
    p.add_argument(
        "--relapses", type=Path, help="relapse onsets (same subject and date column names)"
    )
    p.add_argument("--mri-activity", type=Path, help="MRI scans with activity (enables PIRMA)")
    p.add_argument("--subject-col", default="subject")
    p.add_argument("--date-col", default="date")
    p.add_argument("--value-col", default=None, help="value column (default: the outcome's name)")
    p.add_argument("--validconf-col", default=None, help="column saying which visits may confirm")
    p.add_argument(
        "--valuedelta-col", default=None, help="column setting the minimal change at baseline"
    )
    p.add_argument(
        "--relapse-date-col",
        default=None,
        help="onset column in the relapses file (default --date-col)",
    )
    p.add_argument("--relapse-end-col", default=None, help="optional relapse end-date column")
    p.add_argument("--mri-date-col", default=None)
    p.add_argument("--mri-active-col", default="active")
    p.add_argument(
        "--on-duplicate",
        choices=["error", "first", "last", "max", "min", "mean"],
        default="error",
        help="several visits of one subject on one day (identical ones are always merged)",
    )
    add_input_arguments(p)
    add_settings_arguments(p)
    p.add_argument(
        "--groups",
        type=Path,
        default=None,
        help="table of subject and group (e.g. trial arm): Kaplan-Meier per group and Cox hazard ratios",
    )
    p.add_argument("--group-col", default="arm", help="group column in --groups (default arm)")
    p.add_argument(
        "--reference-group", default=None, help="reference level for hazard ratios (default: first)"
    )
    p.add_argument(
        "--out",
        type=Path,
        required=True,
        help="events file (.csv, .tsv or .parquet); summary, settings, report and plots are "
        "written beside it, all or nothing, never over an input",
    )
    p.add_argument(
        "--no-plots", action="store_true", help="skip the Kaplan-Meier and trajectory plots"
    )
    p.add_argument("--quiet", action="store_true")
    p.add_argument("--json", action="store_true", help="print the counts as JSON")
    p.set_defaults(func=run)


def planned_outputs(out: Path, *, plots: bool, group_col: str | None = None) -> list[Path]:
    """Every file ``smoulder progression --out OUT`` may write (for the output checks)."""
    stem = out.with_suffix("")
    names = [
        f"{stem}_summary{out.suffix}",
        f"{stem}_settings.toml",
        f"{stem}_settings.json",
        f"{stem}_report.md",
    ]
    if plots:
        names += [f"{stem}_km.png", f"{stem}_trajectories.png"]
    if group_col is not None:
        names.append(f"{stem}_hazard_ratio_{group_col}.csv")
        if plots:
            names.append(f"{stem}_km_by_{group_col}.png")
    return [out, *(Path(n) for n in names)]


def check_inputs(ns: argparse.Namespace, names: dict[str, str]) -> dict[str, Path | None]:
    """Check every input file named by the flags in ``names`` (attribute -> flag) exists."""
    from smoulder.io.outputs import check_input_file

    found: dict[str, Path | None] = {}
    for attr, flag in names.items():
        path = getattr(ns, attr, None)
        if path is not None:
            expected = (
                "a settings file (.toml or .json) as written beside every output"
                if attr == "settings"
                else "an existing CSV, TSV or Parquet table"
            )
            check_input_file(path, flag, expected=expected)
        found[flag] = path
    return found


def write_result(result: Any, out: Path, *, plots: bool, date_format: str) -> dict[str, Path]:
    """Write a progression result; with day numbers the tables give days, not dates."""
    if date_format != "day":
        return result.write(out, plots=plots)
    import dataclasses

    from smoulder.schema.dates import to_day_numbers

    days = dataclasses.replace(
        result, events=to_day_numbers(result.events), summary=to_day_numbers(result.summary)
    )
    paths = days.write(out, plots=False)
    if plots:  # the time-to-event curve only: trajectories would show made-up calendar dates
        paths.update(dataclasses.replace(result, visits=None).write_plots(out.with_suffix("")))
    return paths


def run(ns: argparse.Namespace) -> int:
    from smoulder.clinical.progression import run_validated
    from smoulder.io.outputs import TABLE_SUFFIXES, OutputPlan
    from smoulder.io.tables import read_mri_activity, read_relapses, read_visits

    t0 = time.perf_counter()
    inputs = check_inputs(
        ns,
        {
            "visits": "visits",
            "relapses": "--relapses",
            "mri_activity": "--mri-activity",
            "groups": "--groups",
            "settings": "--settings",
        },
    )
    s = settings_from_args(ns)
    opts = reading_options(ns)
    plan = OutputPlan(inputs)
    group_col = ns.group_col if ns.groups is not None else None
    for i, path in enumerate(planned_outputs(ns.out, plots=not ns.no_plots, group_col=group_col)):
        plan.add(path, "--out", suffixes=TABLE_SUFFIXES if i == 0 else None)
    value_col = ns.value_col or s.outcome
    extra = (ns.valuedelta_col,) if ns.valuedelta_col else ()
    with plan.staged() as stage:
        visits, report = read_visits(
            ns.visits,
            subject_col=ns.subject_col,
            date_col=ns.date_col,
            value_col=value_col,
            outcome=s.outcome,
            validconf_col=ns.validconf_col,
            on_duplicate=ns.on_duplicate,
            extra_cols=extra,
            on_missing=ns.on_missing,
            **opts,
        )
        if ns.valuedelta_col:
            visits = visits.rename(columns={ns.valuedelta_col: "valuedelta"})
        known = (
            visits["subject"].cat.categories
            if hasattr(visits["subject"], "cat")
            else visits["subject"].unique()
        )
        relapses = None
        if ns.relapses is not None:
            relapses, rrep = read_relapses(
                ns.relapses,
                subject_col=ns.subject_col,
                date_col=ns.relapse_date_col or ns.date_col,
                end_date_col=ns.relapse_end_col,
                known_subjects=known,
                **opts,
            )
            report.warnings.extend(rrep.warnings)
        mri = None
        if ns.mri_activity is not None:
            mri, mrep = read_mri_activity(
                ns.mri_activity,
                subject_col=ns.subject_col,
                date_col=ns.mri_date_col or ns.date_col,
                active_col=ns.mri_active_col,
                known_subjects=known,
                **opts,
            )
            report.warnings.extend(mrep.warnings)
        result = run_validated(visits, relapses, mri, s, ingest=report)
        staged_out = stage.path(ns.out)
        written = write_result(
            result, staged_out, plots=not ns.no_plots, date_format=ns.date_format
        )
        if ns.groups is not None:
            written.update(_write_group_comparison(result, ns, staged_out))
    paths = {k: ns.out.parent / v.name for k, v in written.items()}
    elapsed = time.perf_counter() - t0
    counts = result.counts()
    if ns.json:
        print(
            json.dumps(
                {
                    "counts": counts,
                    "files": {k: str(v) for k, v in paths.items()},
                    "seconds": elapsed,
                    "input": report.to_dict(),
                }
            )
        )
    elif not ns.quiet:
        for w in report.warnings:
            print(f"warning: {w}", file=sys.stderr)
        print(
            f"{counts['subjects']:,} subjects, {counts['visits']:,} visits: "
            f"{counts['cdw_events']:,} CDW"
            + (
                f" ({counts['pira_events']:,} PIRA, {counts['raw_events']:,} RAW)"
                if s.rawpira
                else ""
            )
            + f", {counts['cdi_events']:,} CDI in {elapsed:.2f} s"
        )
        print(
            f"events: {paths['events']}\nsummary: {paths['summary']}\nsettings: {paths['settings']}"
        )
    return 0


def _write_group_comparison(result: Any, ns: argparse.Namespace, out: Path) -> dict[str, Path]:
    """Kaplan-Meier curves per group and hazard ratios against the reference group."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from smoulder.clinical.survival import cox_hazard_ratio, kaplan_meier, time_to_first_event
    from smoulder.exceptions import ColumnNotFoundError
    from smoulder.io.delimited import parse_sep
    from smoulder.io.tables import read_table, write_table

    groups = read_table(ns.groups, sep=parse_sep(ns.sep))
    for col in (ns.subject_col, ns.group_col):
        if col not in groups.columns:
            raise ColumnNotFoundError(
                f"missing column '{col}'; columns found: {', '.join(map(str, groups.columns[:30]))}",
                file=str(ns.groups),
                column=col,
            )
    groups = groups[[ns.subject_col, ns.group_col]].rename(columns={ns.subject_col: "subject"})
    groups["subject"] = groups["subject"].astype(str).str.strip()
    kind = {"firstCDI": "CDI", "firstPIRA": "PIRA", "firstRAW": "RAW"}.get(
        result.settings.event, "CDW"
    )
    tte = time_to_first_event(result.events, result.summary, kind=kind)
    stem = out.with_suffix("")
    paths: dict[str, Path] = {}
    km = kaplan_meier(tte, group=groups, label=kind)
    if not ns.no_plots:
        fig = km.plot()
        paths["km_by_group_plot"] = Path(f"{stem}_km_by_{ns.group_col}.png")
        fig.savefig(paths["km_by_group_plot"], dpi=110, bbox_inches="tight")
        plt.close(fig)
    hr = cox_hazard_ratio(tte, groups, ns.group_col, reference=ns.reference_group)
    paths["hazard_ratios"] = Path(f"{stem}_hazard_ratio_{ns.group_col}.csv")
    write_table(hr, paths["hazard_ratios"])
    return paths
