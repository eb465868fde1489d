"""``smoulder composite`` (EDSS-plus) and ``smoulder milestone`` (e.g. confirmed EDSS 6)."""

from __future__ import annotations

import argparse
from pathlib import Path

from smoulder.cli.progression import add_settings_arguments, settings_from_args


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
    p.add_argument("--out", type=Path, required=True, help="output table (.csv or .parquet)")


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


def _read(ns: argparse.Namespace, value_col: str, outcome: str):  # noqa: ANN202
    from smoulder.io.tables import read_visits

    return read_visits(
        ns.visits,
        subject_col=ns.subject_col,
        date_col=ns.date_col,
        value_col=value_col,
        outcome=outcome,
        on_duplicate=ns.on_duplicate,
    )


def _relapses(ns: argparse.Namespace, known):  # noqa: ANN001, ANN202
    from smoulder.io.tables import read_relapses

    if ns.relapses is None:
        return None
    return read_relapses(
        ns.relapses, subject_col=ns.subject_col, date_col=ns.date_col, known_subjects=known
    )[0]


def run_composite(ns: argparse.Namespace) -> int:
    from smoulder.clinical.composite import composite_cdw
    from smoulder.exceptions import SettingsError
    from smoulder.io.tables import read_mri_activity, write_table

    s = settings_from_args(ns)
    cols = ns.component_cols or ns.components
    if len(cols) != len(ns.components):
        raise SettingsError(
            f"--component-cols needs one column per component ({len(ns.components)}); got {len(cols)}"
        )
    tables = {}
    for outcome, col in zip(ns.components, cols, strict=True):
        tables[outcome], _ = _read(ns, col, outcome)
    known = tables[ns.components[0]]["subject"].cat.categories
    relapses = _relapses(ns, known)
    mri = None
    if ns.mri_activity is not None:
        mri = read_mri_activity(
            ns.mri_activity, subject_col=ns.subject_col, date_col=ns.date_col, known_subjects=known
        )[0]
    res = composite_cdw(tables, relapses, mri, s)
    write_table(res.events, ns.out)
    stem = ns.out.with_suffix("")
    write_table(res.summary, Path(f"{stem}_summary{ns.out.suffix}"))
    print(
        f"{int(res.summary['event'].sum()):,} of {len(res.summary):,} subjects with a composite worsening; "
        f"events: {ns.out}"
    )
    return 0


def run_milestone(ns: argparse.Namespace) -> int:
    from smoulder.clinical.milestones import confirmed_milestone
    from smoulder.io.tables import write_table

    s = settings_from_args(ns)
    visits, _ = _read(ns, ns.value_col or s.outcome, s.outcome)
    relapses = _relapses(ns, visits["subject"].cat.categories)
    res = confirmed_milestone(visits, ns.milestone, relapses, s)
    write_table(res, ns.out)
    print(
        f"{int(res['reached'].sum()):,} of {len(res):,} subjects reached {ns.milestone:g} (confirmed); {ns.out}"
    )
    return 0
