"""``smoulder lesions``: white-matter lesion segmentation on FLAIR (+ T1)."""

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
    "n4": "--no-n4",
    "registration": "--registration",
    "seed": "--seed",
    "z_seed": "--z-seed",
    "z_grow": "--z-grow",
    "min_lesion_voxels": "--min-lesion-voxels",
}


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "lesions",
        help="segment white-matter lesions on FLAIR (+ T1)",
        description=(
            "Segment white-matter lesions on a FLAIR image (native clinical scans: thick slices, bias, "
            "skull and neck are handled). Writes OUT/lesions_dseg.nii.gz (labels on the FLAIR grid), "
            "OUT/lesions.tsv (+ .json: volume, centroid, location class per lesion), "
            "OUT/lesions_brainmask.nii.gz and OUT/lesions_qc.html. Method and parameters: docs/lesions.md."
        ),
    )
    p.add_argument("--flair", type=Path, help="FLAIR image (NIfTI)")
    p.add_argument(
        "--t1", type=Path, help="T1-weighted image of the same session (NIfTI), optional"
    )
    p.add_argument(
        "--brain-mask",
        type=Path,
        help="binary brain mask on the FLAIR grid (default: from the MNI152 template)",
    )
    p.add_argument("--out", type=Path, help="output directory")
    add_common_flags(
        p,
        table="lesions",
        seed_help="random seed of the registration, >= 1 (default 1)",
        z_seed_help="seed brightness, SD above white matter (default 5)",
        z_grow_help="growth brightness, SD above white matter (default 3)",
    )
    p.add_argument(
        "--registration",
        choices=["syn", "affine"],
        default=None,
        help="template registration: affine + SyN (default) or affine only (faster, coarser priors)",
    )
    p.add_argument(
        "--min-lesion-voxels",
        type=int,
        default=None,
        help="smallest lesion reported, in voxels (default 3)",
    )
    add_report_flags(p)
    p.set_defaults(func=run)


def _settings(ns: argparse.Namespace) -> Any:
    from smoulder.imaging.lesionseg import LesionSegSettings

    return settings_from_args(LesionSegSettings, ns.settings, _overrides(ns), FLAGS)


def _overrides(ns: argparse.Namespace) -> dict[str, Any]:
    return {**common_overrides(ns), "min_lesion_voxels": ns.min_lesion_voxels}


def run(ns: argparse.Namespace) -> int:
    from smoulder.cli._progress import steps_shown
    from smoulder.exceptions import SettingsError

    if ns.flair is None or ns.out is None:
        raise SettingsError("smoulder lesions needs --flair FLAIR.nii.gz and --out DIR")
    from smoulder.pipelines import lesions as pipeline

    settings = _settings(ns)
    t0 = time.perf_counter()
    with steps_shown(ns):
        res = pipeline.run(
            ns.flair, t1=ns.t1, brain_mask=ns.brain_mask, out=ns.out, settings=settings
        )
    summary = {
        "lesions": res.n_lesions,
        "volume_ml": round(res.total_volume_ml, 3),
        "brain_ml": round(res.brain_volume_ml, 1),
        "locations": res.lesions["location"].value_counts().to_dict() if res.n_lesions else {},
        "seconds": round(time.perf_counter() - t0, 1),
        "outputs": {k: str(Path(ns.out) / v) for k, v in pipeline.OUTPUT_NAMES.items()},
    }
    if ns.json:
        print(json.dumps(summary))
    elif not ns.quiet:
        print(
            f"{summary['lesions']} lesions, {summary['volume_ml']:.2f} mL (brain {summary['brain_ml']:.0f} mL); "
            f"wrote {ns.out} in {summary['seconds']} s",
            file=sys.stdout,
        )
    return 0


__all__ = ["register", "run"]
