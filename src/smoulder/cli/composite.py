"""``smoulder composite`` (EDSS-plus) and ``smoulder milestone`` (e.g. confirmed EDSS 6).

Nothing heavy is imported at module level (see :mod:`smoulder.cli.progression`); the work is done
by :mod:`smoulder.pipelines.composite` and :mod:`smoulder.pipelines.milestones`.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from smoulder.cli.progression import (
    add_input_arguments,
    add_run_arguments,
    add_settings_arguments,
    progress_display,
    reading_options,
    settings_from_args,
)
from smoulder.clinical import choices as C
from smoulder.schema import choices as R


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("visits", type=Path, help="visits table with one column per outcome")
    p.add_argument(
        "--relapses", type=Path, help="relapse onsets (same subject and date column names)"
    )
    p.add_argument("--subject-col", default="subject")
    p.add_argument("--date-col", default="date")
    p.add_argument("--on-duplicate", choices=R.DUPLICATE_POLICIES, default="error")
    p.add_argument(
        "--out",
        type=Path,
        required=True,
        help="output table (.csv, .tsv or .parquet); settings are written beside it, all or "
        "nothing, never over an input",
    )
    add_input_arguments(p)


def _milestone_value(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None


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
        default=None,
        choices=C.COMPONENT_OUTCOMES,
        help="outcomes in tie-break order (default edss t25fw nhpt)",
    )
    c.add_argument(
        "--component-cols",
        nargs="+",
        default=None,
        metavar="COL",
        help="column of each component in the visits file (default: the outcome names)",
    )
    add_settings_arguments(c)
    add_run_arguments(c)
    c.set_defaults(func=run_composite)

    m = sub.add_parser(
        "milestone",
        help="first confirmed reach of a value, e.g. EDSS 6",
        description="First visit at or beyond a milestone, confirmed (and optionally sustained), per subject.",
    )
    _common(m)
    m.add_argument("--value-col", default=None, help="value column (default: the outcome's name)")
    m.add_argument(
        "--milestone", type=_milestone_value, required=True, help="value to reach, e.g. 6.0"
    )
    add_settings_arguments(m)
    add_run_arguments(m)
    m.set_defaults(func=run_milestone)


LABELS = {
    "visits": "visits",
    "relapses": "--relapses",
    "mri_activity": "--mri-activity",
    "settings": "--settings",
    "out": "--out",
    "component_cols": "--component-cols",
}


def run_composite(ns: argparse.Namespace) -> int:
    from smoulder.clinical.composite import CompositeSettings
    from smoulder.pipelines import composite
    from smoulder.pipelines._clinical import check_inputs

    check_inputs(
        {
            "visits": ns.visits,
            "relapses": ns.relapses,
            "mri_activity": ns.mri_activity,
            "settings": ns.settings,
        },
        LABELS,
    )
    s = settings_from_args(ns, CompositeSettings, components=ns.components)
    with progress_display(ns) as progress:
        res = composite.run(
            ns.visits,
            ns.relapses,
            ns.mri_activity,
            s,
            component_cols=ns.component_cols,
            out=ns.out,
            subject_col=ns.subject_col,
            date_col=ns.date_col,
            on_duplicate=ns.on_duplicate,
            on_missing=ns.on_missing,
            labels=LABELS,
            progress=progress,
            **reading_options(ns),
        )
    n, total = int(res.summary["event"].sum()), len(res.summary)
    if ns.json:
        print(
            json.dumps(
                {
                    "subjects": total,
                    "subjects_with_event": n,
                    "files": {k: str(v) for k, v in res.files.items()},
                }
            )
        )
    elif not ns.quiet:
        print(f"{n:,} of {total:,} subjects with a composite worsening; events: {ns.out}")
    return 0


def run_milestone(ns: argparse.Namespace) -> int:
    from smoulder.clinical.milestones import MilestoneSettings
    from smoulder.pipelines import milestones
    from smoulder.pipelines._clinical import check_inputs

    check_inputs({"visits": ns.visits, "relapses": ns.relapses, "settings": ns.settings}, LABELS)
    s = settings_from_args(ns, MilestoneSettings, milestone=ns.milestone)
    with progress_display(ns) as progress:
        res = milestones.run(
            ns.visits,
            ns.relapses,
            s,
            out=ns.out,
            subject_col=ns.subject_col,
            date_col=ns.date_col,
            value_col=ns.value_col,
            on_duplicate=ns.on_duplicate,
            on_missing=ns.on_missing,
            labels=LABELS,
            progress=progress,
            **reading_options(ns),
        )
    n, total = int(res.summary["reached"].sum()), len(res.summary)
    if ns.json:
        print(
            json.dumps(
                {
                    "subjects": total,
                    "reached": n,
                    "files": {k: str(v) for k, v in res.files.items()},
                }
            )
        )
    elif not ns.quiet:
        print(f"{n:,} of {total:,} subjects reached {s.milestone:g} (confirmed); {ns.out}")
    return 0
