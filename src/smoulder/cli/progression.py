"""``smoulder progression``: CDW/CDI/PIRA/RAW/PIRMA from a visits file.

This module imports nothing heavy at module level: ``--help`` and argument errors answer without
numpy, pandas, pyarrow, numba or pydantic (the choice lists come from
:mod:`smoulder.clinical.choices`). The work is done by :mod:`smoulder.pipelines.progression`.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from smoulder.clinical import choices as C
from smoulder.exceptions import SettingsError
from smoulder.schema import choices as R


# --------------------------------------------------------------------------- value types
def _days(text: str) -> float:
    if text.lower() in ("inf", "infinity"):
        return math.inf
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected a number of days or 'inf', got {text!r}"
        ) from None
    if math.isnan(value) or value < 0:
        raise argparse.ArgumentTypeError(f"expected a number of days >= 0, got {text!r}")
    return value


def _open_days(text: str) -> float | None:
    if text.lower() in ("none", "open"):
        return None
    return _days(text)


def _positive_days(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number of days, got {text!r}") from None
    if not (value > 0 and math.isfinite(value)):
        raise argparse.ArgumentTypeError(
            f"conf_days must be a positive number of days, got {text!r}"
        )
    return value


def _number(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    return value


#: flag of each option whose value the flags give (for messages)
FLAGS = {
    "outcome": "--outcome",
    "direction": "--direction",
    "min_change": "--min-change",
    "min_change_pct": "--min-change-pct",
    "min_change_combine": "--min-change-combine",
    "edss_half_step_from": "--edss-half-step-from",
    "event": "--event",
    "classify_cdw": "--classify-cdw",
    "baseline": "--baseline",
    "proceed_from": "--proceed-from",
    "sub_threshold_rebl": "--sub-threshold-rebl",
    "bl_geq": "--bl-geq",
    "relapse_rebl": "--relapse-rebl",
    "skip_local_extrema": "--skip-local-extrema",
    "conf_days": "--conf-days",
    "conf_tol_days": "--conf-tol-days",
    "require_sust_days": "--require-sust-days",
    "check_intermediate": "--no-check-intermediate",
    "relapse_to_bl": "--relapse-to-bl",
    "relapse_to_event": "--relapse-to-event",
    "relapse_to_conf": "--relapse-to-conf",
    "relapse_assoc": "--relapse-assoc",
    "pira_definition": "--pira-definition",
    "relapse_indep": "--relapse-indep-*",
    "impute_last_visit": "--impute-last-visit",
    "seed": "--seed",
    "milestone": "--milestone",
    "components": "--components",
}


def add_settings_arguments(p: argparse.ArgumentParser) -> None:
    """The analysis options, under msprog's names with dashes (defaults come from the settings)."""
    g = p.add_argument_group(
        "analysis options (msprog names; defaults as msprog unless documented)"
    )
    S = argparse.SUPPRESS
    g.add_argument(
        "--outcome", choices=C.OUTCOMES, default=S, help="outcome measure (default edss)"
    )
    g.add_argument(
        "--direction",
        choices=C.DIRECTIONS,
        default=S,
        help="custom outcome: which direction is worse",
    )
    g.add_argument(
        "--min-change", type=_number, default=S, help="custom outcome: minimal change in points"
    )
    g.add_argument(
        "--min-change-pct", type=_number, default=S, help="minimal change in %% of baseline"
    )
    g.add_argument("--min-change-combine", choices=C.COMBINE, default=S)
    g.add_argument(
        "--edss-half-step-from",
        type=_number,
        default=S,
        help="EDSS baseline from which +0.5 counts (default 6.0, consensus; 5.5 = msprog)",
    )
    g.add_argument("--event", choices=C.EVENTS, default=S)
    g.add_argument(
        "--classify-cdw",
        action="store_true",
        default=S,
        help="classify each CDW as PIRA, RAW or undefined (msprog's RAW_PIRA)",
    )
    g.add_argument("--baseline", choices=C.BASELINES, default=S)
    g.add_argument("--proceed-from", choices=C.PROCEED_FROM, default=S)
    g.add_argument("--sub-threshold-rebl", choices=C.SUB_THRESHOLD_REBASELINE, default=S)
    g.add_argument("--bl-geq", action="store_true", default=S)
    g.add_argument("--relapse-rebl", action="store_true", default=S)
    g.add_argument("--skip-local-extrema", choices=C.SKIP_LOCAL_EXTREMA, default=S)
    g.add_argument(
        "--conf-days",
        type=_positive_days,
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
        "--pira-definition",
        choices=C.PIRA_DEFINITIONS,
        default=S,
        help="a named PIRA definition (relapse-free windows and baseline scheme, spelled out in "
        "the settings file); the options below still win over it",
    )
    for key in ("prec", "event", "conf"):
        g.add_argument(
            f"--relapse-indep-{key}",
            type=_open_days,
            nargs=2,
            default=S,
            metavar=("BEFORE", "AFTER"),
            help="days before and after (none: open) in which no relapse may start"
            if key == "prec"
            else None,
        )
    g.add_argument("--relapse-indep-prec-type", choices=C.PRECEDING_VISITS, default=S)
    g.add_argument(
        "--impute-last-visit",
        type=_number,
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


_SIMPLE = [
    k for k in FLAGS if k not in ("conf_tol_days", "relapse_indep", "milestone", "components")
]


def option_flags(ns: argparse.Namespace) -> dict[str, Any]:
    """The options the flags give (those not given are absent: the settings file keeps them)."""
    got: dict[str, Any] = {k: getattr(ns, k) for k in _SIMPLE if hasattr(ns, k)}
    if hasattr(ns, "conf_tol_days"):
        if len(ns.conf_tol_days) > 2:
            raise SettingsError(
                f"--conf-tol-days takes one or two numbers; got {len(ns.conf_tol_days)}"
            )
        got["conf_tol_days"] = ns.conf_tol_days
    for key in ("relapse_to_bl", "relapse_to_event", "relapse_to_conf", "relapse_assoc"):
        if key in got and len(got[key]) > 2:
            raise SettingsError(
                f"--{key.replace('_', '-')} takes one or two numbers; got {got[key]}"
            )
    indep = {
        k: getattr(ns, f"relapse_indep_{k}")
        for k in ("prec", "event", "conf")
        if hasattr(ns, f"relapse_indep_{k}")
    }
    if hasattr(ns, "relapse_indep_prec_type"):
        indep["prec_type"] = ns.relapse_indep_prec_type
    if indep:
        got["relapse_indep"] = indep
    return got


def settings_from_args(ns: argparse.Namespace, cls: Any = None, **extra: Any) -> Any:
    """Settings from ``--settings`` then the flags (one rule), errors restated with the flag."""
    from smoulder.clinical.settings import ProgressionSettings
    from smoulder.pipelines._clinical import read_settings_file

    cls = cls or ProgressionSettings
    flags = option_flags(ns)
    flags.update({k: v for k, v in extra.items() if v is not None})
    base: dict[str, Any] = read_settings_file(ns.settings) if ns.settings is not None else {}
    try:
        if "relapse_indep" in flags:
            # a --relapse-indep-* flag changes one part of the windows in force (those of the
            # settings file, of --pira-definition, or the defaults)
            part = flags.pop("relapse_indep")
            before = cls.from_mapping(base, **flags).relapse_indep
            flags["relapse_indep"] = {**before, **part}
        return cls.from_mapping(base, **flags)
    except SettingsError as err:
        raise restate(err, flags, ns.settings) from None


def restate(err: SettingsError, flags: dict[str, Any], settings_file: Path | None) -> SettingsError:
    """The settings error in the command line's words: the flag that gave the value, or the
    settings file it came from."""
    param = (err.parameter or "").split(".")[0]
    msg = str(err)
    if param in flags and param in FLAGS:
        flag = FLAGS[param]
        if param == "relapse_indep":  # name the one flag of the window at fault
            for key in ("prec_type", "prec", "event", "conf"):
                if f"['{key}']" in msg:
                    flag = f"--relapse-indep-{key.replace('_', '-')}"
                    break
            return _restated(f"{flag}: {msg}", err)
        msg = flag + msg[len(param) :] if msg.startswith(param) else f"{flag}: {msg}"
    elif settings_file is not None and param:
        msg = f"{settings_file}: {msg} (the value comes from --settings)"
    return _restated(msg, err)


def _restated(msg: str, err: SettingsError) -> SettingsError:
    out = SettingsError(msg)
    out.parameter, out.given = err.parameter, err.given
    return out


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
        choices=R.DATE_FORMATS,
        default="iso",
        help="iso: dates YYYY-MM-DD (default); day: whole numbers of days from each subject's "
        "start (msprog's date_format='day'), for visits, relapses and MRI; outputs then give days",
    )
    g.add_argument(
        "--future-dates",
        choices=R.FUTURE_DATES,
        default="warn",
        help="dates after today (simulated or date-shifted data): kept and counted (warn, "
        "default), refused, or left out and counted (drop)",
    )
    if on_missing:
        g.add_argument(
            "--on-missing",
            choices=R.ON_MISSING,
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


def _at_least_one(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected a whole number of subjects, e.g. 10, got {text!r}"
        ) from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected at least 1 subject, got {text!r}")
    return value


def add_km_arguments(p: argparse.ArgumentParser) -> None:
    """``--km-min-at-risk N``: where the Kaplan-Meier figures stop (every command drawing one)."""
    p.add_argument(
        "--km-min-at-risk",
        type=_at_least_one,
        default=10,
        metavar="N",
        help="Kaplan-Meier figures stop each curve where fewer than N subjects remain at risk "
        "(default 10; said in the caption, the report and the settings JSON)",
    )


def add_run_arguments(p: argparse.ArgumentParser) -> None:
    """``--quiet`` (no progress, no summary line) and ``--json`` (counts for scripts)."""
    p.add_argument("--quiet", action="store_true", help="print nothing but errors")
    p.add_argument("--json", action="store_true", help="print the counts and files as JSON")


@contextmanager
def progress_display(ns: argparse.Namespace) -> Iterator[Any]:
    """A progress callable for the pipelines: a rich status line on stderr, shown only when a
    step takes more than a second (never with ``--quiet`` or ``--json``, or off a terminal)."""
    if getattr(ns, "quiet", False) or getattr(ns, "json", False) or not sys.stderr.isatty():
        yield None
        return
    from smoulder.cli._progress import DelayedStatus

    with DelayedStatus() as status:
        yield status.update


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
        choices=R.DUPLICATE_POLICIES,
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
        "--return-unconfirmed",
        action="store_true",
        help="also write <stem>_unconfirmed: every change from a baseline that was never "
        "confirmed (msprog's unconfirmed table)",
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
    add_km_arguments(p)
    add_run_arguments(p)
    # --- partitioned datasets on dask.distributed (issue 13): smoulder.cli.progression_partitioned
    from smoulder.cli import progression_partitioned

    progression_partitioned.add_arguments(p)
    # ---
    p.set_defaults(func=run)


#: how the pipelines name the inputs in messages, on the command line
LABELS = {
    "visits": "visits",
    "relapses": "--relapses",
    "mri_activity": "--mri-activity",
    "groups": "--groups",
    "settings": "--settings",
    "out": "--out",
    "km_min_at_risk": "--km-min-at-risk",
}


#: a visits file large enough to be scanned compiled even on a new machine (a Parquet file of
#: about 200,000 visits, where the interpreted first run stops, is about 1 MB)
_LARGE_FILE_BYTES = 1_000_000


def _large_file(path: Any) -> bool:
    try:
        return Path(path).stat().st_size > _LARGE_FILE_BYTES
    except (OSError, TypeError, ValueError):
        return False


def run(ns: argparse.Namespace) -> int:
    # --- partitioned datasets on dask.distributed (issue 13)
    from smoulder.cli import progression_partitioned
    from smoulder.pipelines import progression
    from smoulder.pipelines._clinical import check_inputs

    progression_partitioned.check_flags(ns)
    if ns.partitioned:
        return progression_partitioned.run(ns)
    # ---
    t0 = time.perf_counter()
    # inputs first (a missing --settings file is named as such), then the options they give
    check_inputs(
        {
            "visits": ns.visits,
            "relapses": ns.relapses,
            "mri_activity": ns.mri_activity,
            "groups": ns.groups,
            "settings": ns.settings,
        },
        LABELS,
    )
    s = settings_from_args(ns)
    opts = reading_options(ns)
    from smoulder.clinical._kernel import needs_compiling

    if not needs_compiling() or _large_file(ns.visits):  # the engine runs compiled: start lean
        from smoulder._compiled import start_compiler_without_blas

        start_compiler_without_blas()
    with progress_display(ns) as progress:
        result = progression.run(
            ns.visits,
            ns.relapses,
            ns.mri_activity,
            s,
            out=ns.out,
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
            groups=ns.groups,
            group_col=ns.group_col,
            reference_group=ns.reference_group,
            plots=not ns.no_plots,
            km_min_at_risk=ns.km_min_at_risk,
            return_unconfirmed=ns.return_unconfirmed,
            labels=LABELS,
            progress=progress,
            **opts,
        )
    elapsed = time.perf_counter() - t0
    counts = result.counts()
    report = result.ingest
    paths = result.files
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
