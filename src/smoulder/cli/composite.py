"""``smoulder composite`` (EDSS-plus) and ``smoulder milestone`` (e.g. confirmed EDSS 6)."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from smoulder.cli.progression import (
    add_input_arguments,
    add_settings_arguments,
    check_inputs,
    reading_options,
    settings_from_args,
)


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("visits", type=Path, help="visits table with one column per outcome")
    p.add_argument(
        "--relapses", type=Path, help="relapse onsets (same subject and date column names)"
    )
    p.add_argument("--subject-col", default="subject")
    p.add_argument("--date-col", default="date")
    p.add_argument(
        "--on-duplicate", choices=["error", "first", "last", "max", "min", "mean"], default="error"
    )
    p.add_argument(
        "--out",
        type=Path,
        required=True,
        help="output table (.csv, .tsv or .parquet); written all or nothing, never over an input",
    )
    add_input_arguments(p)


def register(sub: argparse._SubParsersAction) -> None:
    c = sub.add_parser(
        "composite",
        help="first confirmed worsening in any of several outcomes (EDSS-plus)",
        description="EDSS-plus: the first confirmed worsening in any of EDSS, T25FW and 9HPT (or the outcomes you name).",
    )
    _common(c)
    c.add_argument(
        "--mri-activity", type=Path, help="MRI scans with activity (PIRMA of the composite event)"
    )
    c.add_argument(
        "--components",
        nargs="+",
        default=["edss", "t25fw", "nhpt"],
        choices=["edss", "t25fw", "nhpt", "sdmt"],
        help="outcomes in tie-break order",
    )
    c.add_argument(
        "--component-cols",
        nargs="+",
        default=None,
        metavar="COL",
        help="column of each component in the visits file (default: the outcome names)",
    )
    add_settings_arguments(c)
    c.set_defaults(func=run_composite)

    m = sub.add_parser(
        "milestone",
        help="first confirmed reach of a value, e.g. EDSS 6",
        description="First visit at or beyond a milestone, confirmed (and optionally sustained), per subject.",
    )
    _common(m)
    m.add_argument("--value-col", default=None, help="value column (default: the outcome's name)")
    m.add_argument("--milestone", type=float, required=True, help="value to reach, e.g. 6.0")
    add_settings_arguments(m)
    m.set_defaults(func=run_milestone)


def _read(ns: argparse.Namespace, value_col: str, outcome: str, opts: dict[str, Any]):  # noqa: ANN202
    from smoulder.io.tables import read_visits

    return read_visits(
        ns.visits,
        subject_col=ns.subject_col,
        date_col=ns.date_col,
        value_col=value_col,
        outcome=outcome,
        on_duplicate=ns.on_duplicate,
        on_missing=ns.on_missing,
        **opts,
    )


def _relapses(ns: argparse.Namespace, known, opts: dict[str, Any]):  # noqa: ANN001, ANN202
    from smoulder.io.tables import read_relapses

    if ns.relapses is None:
        return None
    return read_relapses(
        ns.relapses,
        subject_col=ns.subject_col,
        date_col=ns.date_col,
        known_subjects=known,
        **opts,
    )[0]


def _plan(ns: argparse.Namespace, extra_outputs: list[Path]):  # noqa: ANN202
    from smoulder.io.outputs import TABLE_SUFFIXES, OutputPlan

    inputs = check_inputs(
        ns,
        {
            "visits": "visits",
            "relapses": "--relapses",
            "mri_activity": "--mri-activity",
            "settings": "--settings",
        },
    )
    plan = OutputPlan(inputs).add(ns.out, "--out", suffixes=TABLE_SUFFIXES)
    for p in extra_outputs:
        plan.add(p, "--out")
    return plan


def _as_days(df, date_format: str):  # noqa: ANN001, ANN202
    if date_format != "day":
        return df
    from smoulder.schema.dates import to_day_numbers

    return to_day_numbers(df)


def run_composite(ns: argparse.Namespace) -> int:
    from smoulder.clinical.composite import composite_cdw
    from smoulder.exceptions import SettingsError
    from smoulder.io.tables import read_mri_activity, write_table

    summary_path = Path(f"{ns.out.with_suffix('')}_summary{ns.out.suffix}")
    plan = _plan(ns, [summary_path])
    s = settings_from_args(ns)
    opts = reading_options(ns)
    cols = ns.component_cols or ns.components
    if len(cols) != len(ns.components):
        raise SettingsError(
            f"--component-cols needs one column per component ({len(ns.components)}); got {len(cols)}"
        )
    with plan.staged() as stage:
        tables = {}
        for outcome, col in zip(ns.components, cols, strict=True):
            tables[outcome], _ = _read(ns, col, outcome, opts)
        known = tables[ns.components[0]]["subject"].cat.categories
        relapses = _relapses(ns, known, opts)
        mri = None
        if ns.mri_activity is not None:
            mri = read_mri_activity(
                ns.mri_activity,
                subject_col=ns.subject_col,
                date_col=ns.date_col,
                known_subjects=known,
                **opts,
            )[0]
        res = composite_cdw(tables, relapses, mri, s)
        write_table(_as_days(res.events, ns.date_format), stage.path(ns.out))
        write_table(_as_days(res.summary, ns.date_format), stage.path(summary_path))
    print(
        f"{int(res.summary['event'].sum()):,} of {len(res.summary):,} subjects with a composite worsening; "
        f"events: {ns.out}"
    )
    return 0


def run_milestone(ns: argparse.Namespace) -> int:
    from smoulder.clinical.milestones import check_milestone, confirmed_milestone
    from smoulder.io.tables import write_table

    plan = _plan(ns, [])
    s = settings_from_args(ns)
    check_milestone(ns.milestone, s.outcome, name="--milestone")
    opts = reading_options(ns)
    with plan.staged() as stage:
        visits, _ = _read(ns, ns.value_col or s.outcome, s.outcome, opts)
        relapses = _relapses(ns, visits["subject"].cat.categories, opts)
        res = confirmed_milestone(visits, ns.milestone, relapses, s)
        write_table(_as_days(res, ns.date_format), stage.path(ns.out))
    print(
        f"{int(res['reached'].sum()):,} of {len(res):,} subjects reached {ns.milestone:g} (confirmed); {ns.out}"
    )
    return 0
