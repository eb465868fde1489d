"""``smoulder mri-activity``: new and enlarging T2 lesions between two FLAIR scans (for PIRMA)."""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

from smoulder.cli._imaging_args import (
    add_common_flags,
    add_report_flags,
    common_overrides,
    settings_from_args,
)

#: command-line flag of each settings parameter that has one (errors name the flag)
FLAGS = {
    "registration": "--registration",
    "seed": "--seed",
    "n4": "--no-n4",
    "z_seed": "--z-seed",
    "z_grow": "--z-grow",
    "min_voxels": "--min-voxels",
    "min_volume_mm3": "--min-volume-mm3",
    "enlarging_pct": "--enlarging-pct",
    "min_similarity": "--min-similarity",
}


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "mri-activity",
        help="new and enlarging T2 lesions between two FLAIR scans (MRI activity for PIRMA)",
        description=(
            "Find new and enlarging T2 lesions between a baseline and a follow-up FLAIR: registration "
            "to a halfway space, bias correction and intensity normalisation, change segmentation. "
            "Writes OUT/mri_activity.tsv (the table 'smoulder progression --mri-activity' reads), "
            "OUT/changes.tsv (+ .json), change maps and one QC figure per change in OUT/qc/. "
            "Method and parameters: docs/mri_activity.md."
        ),
    )
    p.add_argument(
        "--flair",
        type=Path,
        nargs="+",
        metavar="FLAIR",
        help="baseline and follow-up FLAIR (NIfTI)",
    )
    p.add_argument("--dates", nargs="+", metavar="DATE", help="the two scan dates (YYYY-MM-DD)")
    p.add_argument(
        "--lesions",
        type=Path,
        help="baseline lesion labels or mask on the baseline FLAIR's grid (default: segmented by "
        "smoulder lesions)",
    )
    p.add_argument("--brain-mask", type=Path, help="brain mask on the baseline FLAIR's grid")
    p.add_argument(
        "--subject", help="subject id in the table (default: sub-<label> of the file names)"
    )
    p.add_argument("--out", type=Path, help="output directory")
    add_common_flags(
        p,
        table="mri_activity",
        seed_help="ANTs random seed, >= 1 (default 1)",
        z_seed_help="seed threshold, noise SDs (default 5)",
        z_grow_help="growth threshold, noise SDs (default 3)",
    )
    p.add_argument(
        "--registration",
        choices=["rigid", "affine"],
        default=None,
        help="follow-up to baseline: rigid (default) or affine",
    )
    p.add_argument(
        "--min-voxels", type=int, default=None, help="smallest change in voxels (default 3)"
    )
    p.add_argument(
        "--min-volume-mm3", type=float, default=None, help="smallest change in mm3 (default 10)"
    )
    p.add_argument(
        "--enlarging-pct",
        type=float,
        default=None,
        help="volume growth of a baseline lesion that makes it enlarging, %% (default 50)",
    )
    p.add_argument(
        "--min-similarity",
        type=float,
        default=None,
        help="structural correlation below which the pair is refused (default 0.5)",
    )
    add_report_flags(p)
    p.set_defaults(func=run)


def _overrides(ns: argparse.Namespace) -> dict[str, Any]:
    return {
        **common_overrides(ns),
        "min_voxels": ns.min_voxels,
        "min_volume_mm3": ns.min_volume_mm3,
        "enlarging_pct": ns.enlarging_pct,
        "min_similarity": ns.min_similarity,
    }


def _settings(ns: argparse.Namespace) -> Any:
    from smoulder.imaging.activity import ActivitySettings

    return settings_from_args(ActivitySettings, ns.settings, _overrides(ns), FLAGS)


def run(ns: argparse.Namespace) -> int:
    from smoulder.cli._progress import steps_shown
    from smoulder.exceptions import SettingsError

    if not ns.flair or ns.out is None or not ns.dates:
        raise SettingsError(
            "smoulder mri-activity needs --flair V1.nii.gz V2.nii.gz --dates D1 D2 --out DIR"
        )
    if len(ns.flair) != 2:
        raise SettingsError(
            f"--flair takes two images (baseline and follow-up), got {len(ns.flair)}"
        )
    if len(ns.dates) != 2:
        raise SettingsError(
            f"--dates takes two ISO dates (baseline and follow-up scan), got {len(ns.dates)}"
        )
    from smoulder.pipelines import mri_activity as pipeline

    settings = _settings(ns)
    t0 = time.perf_counter()
    with steps_shown(ns):
        res = pipeline.run(
            ns.flair[0],
            ns.flair[1],
            list(ns.dates),
            lesions=ns.lesions,
            brain_mask=ns.brain_mask,
            subject=ns.subject,
            out=ns.out,
            settings=settings,
        )
    summary = {
        "subject": res.subject,
        "dates": res.dates,
        "new_t2": res.n_new,
        "enlarging_t2": res.n_enlarging,
        "baseline_lesions": res.n_baseline_lesions,
        "similarity": round(res.similarity, 3),
        "seconds": round(time.perf_counter() - t0, 1),
        "activity_table": str(Path(ns.out) / pipeline.OUTPUT_NAMES["activity"]),
    }
    if ns.json:
        print(json.dumps(summary))
    elif not ns.quiet:
        print(
            f"{res.subject} {res.dates[0]} -> {res.dates[1]}: {res.n_new} new and {res.n_enlarging} "
            f"enlarging T2 lesions; wrote {ns.out} in {summary['seconds']} s",
            file=sys.stdout,
        )
    return 0


__all__ = ["register", "run"]
