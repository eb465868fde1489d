"""MRI activity pipeline: two FLAIR scans (+ baseline lesions) -> new and enlarging T2 lesions.

``run(flair1, flair2, dates, lesions=..., out=DIR)`` reads the NIfTI files, checks them, segments
the baseline lesions with :mod:`smoulder.pipelines.lesions`' engine when no mask is given, calls
:func:`smoulder.imaging.activity.detect_activity` and, when ``out`` is given, writes:

``mri_activity.tsv``
    the table ``smoulder progression --mri-activity`` reads: ``subject, date`` (the follow-up
    scan), ``active`` (new + enlarging T2 lesions), ``new_t2``, ``enlarging_t2``,
    ``gd_enhancing`` (``n/a``: FLAIR cannot show enhancement), ``previous_date``;
``changes.tsv`` + ``changes.json``
    one row per new lesion and per growing baseline lesion (volumes in mm3, growth %, centroid in
    mm in the follow-up scanner space); the sidecar holds column descriptions, settings,
    transforms, quality figures and a methods paragraph;
``changes_dseg.nii.gz``, ``difference_z.nii.gz``, ``baseline_lesions_dseg.nii.gz``
    the changes (row numbers), the difference in noise SDs and the baseline lesions, in the
    halfway space on the baseline FLAIR's grid;
``qc/change_<n>.png``
    one QC figure per change (baseline, follow-up and difference in three planes).

Files are written under temporary names and renamed into place only when all succeeded.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import numpy as np

from smoulder.exceptions import InputDataError, SettingsError
from smoulder.imaging.activity import ActivityResult, ActivitySettings, detect_activity
from smoulder.io import bids as bio
from smoulder.io import nifti
from smoulder.pipelines._files import atomic_outputs, output_plan, settings_from
from smoulder.schema import images as img
from smoulder.schema.images import Volume

__all__ = ["run", "write", "OUTPUT_NAMES", "COLUMN_DESCRIPTIONS", "subject_from_path"]

OUTPUT_NAMES = {
    "activity": "mri_activity.tsv",
    "changes": "changes.tsv",
    "sidecar": "changes.json",
    "changes_dseg": "changes_dseg.nii.gz",
    "difference": "difference_z.nii.gz",
    "baseline_lesions": "baseline_lesions_dseg.nii.gz",
}

COLUMN_DESCRIPTIONS = {
    "change": "Number of the change (its voxels in changes_dseg.nii.gz, its figure qc/change_<n>.png)",
    "kind": "new, enlarging, or growing_below_threshold (a baseline lesion that grew less than enlarging_pct; not counted)",
    "counted": "Whether the change counts as MRI activity",
    "baseline_label": "Label of the baseline lesion (baseline_lesions_dseg.nii.gz); n/a for a new lesion",
    "n_voxels": "Changed voxels (halfway space, baseline grid)",
    "volume_mm3": "Volume of the changed voxels in cubic millimetres",
    "baseline_volume_mm3": "Volume of the baseline lesion in cubic millimetres",
    "growth_pct": "Volume change of the baseline lesion from its excess FLAIR signal (%)",
    "peak_z": "Largest signal increase inside the change, in noise SDs of the difference image",
    "centroid_x_mm": "Centroid, world x in the follow-up scan's space (RAS, mm)",
    "centroid_y_mm": "Centroid, world y (RAS, mm)",
    "centroid_z_mm": "Centroid, world z (RAS, mm)",
}

ACTIVITY_DESCRIPTIONS = {
    "subject": "Subject id",
    "date": "Date of the follow-up scan (ISO 8601)",
    "active": "New plus enlarging T2 lesions since the previous scan (a count; > 0 is MRI activity)",
    "new_t2": "New T2 lesions",
    "enlarging_t2": "Enlarging T2 lesions",
    "gd_enhancing": "Gadolinium-enhancing lesions: n/a, FLAIR cannot show enhancement",
    "previous_date": "Date of the scan compared against",
}


def subject_from_path(path: str | Path) -> str | None:
    """The BIDS subject label (``sub-<label>``) in a file name, as ``sub-<label>``, or None."""
    m = re.search(r"(?:^|[/_\\])(sub-[A-Za-z0-9]+)", str(path))
    return m.group(1) if m else None


def _read(path: str | Path, flag: str, what: str, labels: bool = False) -> Volume:
    try:
        vol = nifti.load_label_volume(path) if labels else nifti.load_volume(path)
        if not labels:
            img.check_has_signal(vol, what)
    except InputDataError as exc:
        raise InputDataError(f"{exc} (given for {flag})") from None
    return vol


def run(
    flair1: str | Path,
    flair2: str | Path,
    dates: tuple[str, str] | list[str],
    *,
    lesions: str | Path | None = None,
    brain_mask: str | Path | None = None,
    subject: str | None = None,
    out: str | Path | None = None,
    settings: ActivitySettings | dict[str, Any] | None = None,
    **overrides: Any,
) -> ActivityResult:
    """Read, check, find new and enlarging lesions and (with ``out``) write; returns the result.

    Parameters
    ----------
    flair1, flair2 : path
        Baseline and follow-up FLAIR (NIfTI, 3-D; grids may differ).
    dates : two ISO dates
        Scan dates, strictly increasing.
    lesions : path, optional
        Baseline lesion labels or mask on ``flair1``'s grid; without it ``smoulder lesions``
        segments the baseline FLAIR (MNI152 template that nilearn ships, offline).
    brain_mask : path, optional
        Brain mask on ``flair1``'s grid.
    subject : str, optional
        Subject id of the activity table (default: the ``sub-<label>`` of the file names).
    out : path, optional
        Output directory.
    settings : ActivitySettings or mapping, optional
        Parameters; ``overrides`` change single ones (``None`` values are ignored).

    Returns
    -------
    ActivityResult

    Raises
    ------
    SettingsError
        Dates missing, not ISO or out of order; no subject id; a bad parameter.
    InputDataError
        A missing, unreadable, 4-D or constant image; a mask off the baseline grid; scans that do
        not overlap or resemble each other.
    OutputError
        An output that would overwrite an input or cannot be written (checked before any work).
    """
    s = settings_from(ActivitySettings, settings, overrides)
    img.parse_dates(list(dates), 2)
    sid = subject or subject_from_path(flair2) or subject_from_path(flair1)
    if not sid:
        raise SettingsError(
            "no subject id: give --subject ID (the file names hold no BIDS sub-<label>)"
        )
    inputs = {
        "--flair (baseline)": flair1,
        "--flair (follow-up)": flair2,
        "--lesions": lesions,
        "--brain-mask": brain_mask,
    }
    inputs = {k: v for k, v in inputs.items() if v is not None}
    if out is not None:
        bio.check_out_dir(out)
        output_plan(plan_outputs(out).values(), inputs).check()
    f1 = _read(flair1, "--flair", "baseline FLAIR")
    f2 = _read(flair2, "--flair", "follow-up FLAIR")
    les = _read(lesions, "--lesions", "lesion mask", labels=True) if lesions is not None else None
    bm = (
        _read(brain_mask, "--brain-mask", "brain mask", labels=True)
        if brain_mask is not None
        else None
    )
    notes: list[str] = []
    if les is None:
        from smoulder.imaging.lesionseg import segment_lesions
        from smoulder.io.templates import load_mni152

        seg = segment_lesions(
            f1, brain_mask=None if bm is None else bm.data > 0, template=load_mni152()
        )
        les = f1.like(np.asarray(seg.labels, np.int32), source="<smoulder lesions>")
        if bm is None:
            bm = f1.like(
                np.asarray(seg.brain_mask, np.uint8), source="<smoulder lesions brain mask>"
            )
        notes.append(f"baseline lesions segmented by smoulder lesions: {seg.n_lesions}")
    res = detect_activity(f1, f2, list(dates), lesions=les, brain_mask=bm, subject=sid, settings=s)
    res.lesions_given = lesions is not None
    res.notes.extend(notes)
    res.inputs = {
        "flair": [str(flair1), str(flair2)],
        "lesions": str(lesions) if lesions is not None else None,
        "brain_mask": str(brain_mask) if brain_mask is not None else None,
    }
    if out is not None:
        write(res, out)
    return res


def plan_outputs(out_dir: str | Path, n_changes: int = 0) -> dict[str, Path]:
    """Every output path (keys of :data:`OUTPUT_NAMES`, then ``qc_<n>``), decided before writing."""
    paths = {k: Path(out_dir) / v for k, v in OUTPUT_NAMES.items()}
    for i in range(1, n_changes + 1):
        paths[f"qc_{i}"] = Path(out_dir) / "qc" / f"change_{i}.png"
    return paths


def sidecar(res: ActivityResult) -> dict[str, Any]:
    """The JSON sidecar of ``changes.tsv``."""
    return {
        **COLUMN_DESCRIPTIONS,
        "ActivityColumns": ACTIVITY_DESCRIPTIONS,
        "GeneratedBy": [
            {"Name": "smoulder", "Version": res.version, "CodeURL": "smoulder mri-activity"}
        ],
        "Subject": res.subject,
        "Dates": res.dates,
        "Settings": res.settings.to_dict(),
        "MethodsParagraph": res.methods(),
        "NewT2": res.n_new,
        "EnlargingT2": res.n_enlarging,
        "BaselineLesions": res.n_baseline_lesions,
        "StructuralCorrelation": round(res.similarity, 4),
        "NoiseSD": round(res.noise_sd, 5),
        "WhiteMatterLevels": {k: round(v, 5) for k, v in res.levels.items()},
        "TransformBaselineToFollowup": np.round(res.transform, 6).tolist(),
        "HalfwayMatrix": np.round(res.halfway, 6).tolist(),
        "Space": "halfway space on the baseline FLAIR's grid (maps); follow-up scanner space (centroids)",
        "Notes": res.notes,
        "Inputs": res.inputs,
        "Note": "Evidence for a reader to check, not a diagnosis.",
    }


def write(res: ActivityResult, out: str | Path, **options: Any) -> dict[str, Path]:
    """Write every output of ``res`` into ``out``, all or nothing; return the paths by name.

    Parameters
    ----------
    res : ActivityResult
        What :func:`run` (or the engine) returned.
    out : path
        The output folder (created if missing).
    **options
        Ignored (the signature every pipeline's ``write`` has).

    Returns
    -------
    dict of str to Path

    Raises
    ------
    InputDataError
        ``out`` exists and is not a folder.
    OutputError
        An output that is an input of the run or cannot be written; nothing is then written.
    """
    from smoulder.imaging.activity.qc import change_png

    bio.check_out_dir(out)
    paths = plan_outputs(out, len(res.rows))
    inputs: dict[str, Any] = {}
    for i, f in enumerate(res.inputs.get("flair") or []):
        inputs[f"--flair ({i + 1})"] = f
    for k in ("lesions", "brain_mask"):
        if res.inputs.get(k):
            inputs[f"--{k.replace('_', '-')}"] = res.inputs[k]
    grid = Volume(np.zeros((1, 1, 1), np.float32), res.affine)
    zooms = grid.zooms
    n1, n2 = res.flair_halfway
    with atomic_outputs(paths.values(), inputs) as stage:
        bio.write_tsv(res.activity, stage.path(paths["activity"]))
        bio.write_tsv(res.changes, stage.path(paths["changes"]))
        bio.write_json(stage.path(paths["sidecar"]), sidecar(res))
        nifti.save_volume(stage.path(paths["changes_dseg"]), grid, res.change_labels, np.int16)
        nifti.save_volume(stage.path(paths["difference"]), grid, res.z, np.float32)
        nifti.save_volume(
            stage.path(paths["baseline_lesions"]), grid, res.baseline_labels, np.int16
        )
        for r in res.rows:
            i = int(r["change"])
            base = res.baseline_labels == r["baseline_label"] if r["baseline_label"] else None
            title = (
                f"{res.subject} {res.dates[0]} → {res.dates[1]}: change {i}, {r['kind']}, "
                f"{r['volume_mm3']:.0f} mm³"
                + (
                    f", lesion {r['baseline_label']} grew {r['growth_pct']} %"
                    if base is not None
                    else ""
                )
            )
            png = change_png(
                n1,
                n2,
                res.z,
                res.change_labels == i,
                base,
                zooms,
                title,
                codes=img.axis_codes(res.affine),
            )
            p = stage.path(paths[f"qc_{i}"])
            p.parent.mkdir(parents=True, exist_ok=True)
            p.write_bytes(png)
    return paths
