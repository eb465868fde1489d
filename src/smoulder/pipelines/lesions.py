"""Lesion segmentation pipeline: read FLAIR (+ T1, brain mask), check, segment, write.

``run(flair, t1=..., brain_mask=..., out=DIR)`` reads the NIfTI files with nibabel, checks them (3-D,
valid affine, finite voxels; a T1 that lies over the same head; a brain mask on the FLAIR grid
holding 0/1), loads the MNI152 template that nilearn ships, calls
:func:`smoulder.imaging.lesionseg.segment_lesions` and, when ``out`` is given, writes:

``lesions_dseg.nii.gz``
    lesion labels 1..N (int16) on the FLAIR grid, with the FLAIR's affine;
``lesions.tsv`` + ``lesions.json``
    one row per lesion (volume, centroid in mm, location class, peak brightness), ``n/a`` for
    missing values; the sidecar holds column descriptions, the settings, version, methods paragraph
    and the inputs;
``lesions_brainmask.nii.gz``
    the brain mask that was used (uint8);
``lesions_qc.html``
    a self-contained QC page (FLAIR montages with the lesion and brain outlines).

Files are written under temporary names and renamed into place only when all succeeded.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from smoulder.exceptions import InputDataError
from smoulder.imaging.lesionseg import LesionSegResult, LesionSegSettings, segment_lesions
from smoulder.imaging.lesionseg.register import RegistrationFailed
from smoulder.io import bids as bio
from smoulder.io import nifti
from smoulder.pipelines._files import atomic_outputs, output_plan
from smoulder.schema import images as img
from smoulder.schema.images import Volume

__all__ = ["run", "write", "read_image", "OUTPUT_NAMES", "COLUMN_DESCRIPTIONS"]

OUTPUT_NAMES = {
    "dseg": "lesions_dseg.nii.gz",
    "table": "lesions.tsv",
    "sidecar": "lesions.json",
    "brain_mask": "lesions_brainmask.nii.gz",
    "qc": "lesions_qc.html",
}

COLUMN_DESCRIPTIONS = {
    "label": "Lesion label in lesions_dseg.nii.gz",
    "n_voxels": "Voxels of the lesion on the FLAIR grid",
    "volume_mm3": "Lesion volume in cubic millimetres",
    "centroid_x_mm": "Centroid, world x (RAS, mm, from the FLAIR affine)",
    "centroid_y_mm": "Centroid, world y (RAS, mm)",
    "centroid_z_mm": "Centroid, world z (RAS, mm)",
    "location": "periventricular, juxtacortical, infratentorial or deep white matter",
    "peak_z": "Peak FLAIR brightness in standard deviations of the local normal-appearing white matter",
}


def read_image(path: str | Path, flag: str, what: str = "image", *, signal: bool = True) -> Volume:
    """Read a 3-D NIfTI image with :func:`smoulder.io.nifti.load_volume`; with ``signal``, refuse a constant one.

    Parameters
    ----------
    path : path
        The NIfTI file.
    flag : str
        The flag the image was given for, named in errors (``"--flair"``).
    what : str
        What the image is, in messages (``"FLAIR"``, ``"brain mask"``).
    signal : bool
        Refuse an image whose voxels all hold the same value.

    Returns
    -------
    Volume
        The image's data, affine and voxel sizes.

    Raises
    ------
    InputDataError
        An unreadable, non-3-D or constant image, naming the file, the flag and the expected
        form.
    """
    try:
        vol = nifti.load_volume(path)
        if signal:
            img.check_has_signal(vol, what)
    except InputDataError as exc:
        raise InputDataError(f"{exc} (given for {flag})") from None
    return vol


def _check_mask(mask: Volume, flair: Volume) -> np.ndarray:
    if not img.same_grid(mask, flair):
        raise InputDataError(
            f"brain mask is not on the FLAIR grid (shape {mask.shape} vs {flair.shape}, or another affine)",
            file=mask.source,
            expected="a brain mask on the FLAIR's grid for --brain-mask (same shape and affine)",
        )
    d = mask.data
    vals = np.unique(d)
    if not np.all(np.isin(vals, [0, 1])):
        v = tuple(int(i) for i in np.unravel_index(int(np.argmax(~np.isin(d, [0, 1]))), d.shape))
        raise InputDataError(
            f"brain mask holds values other than 0 and 1, the first at voxel {v}",
            file=mask.source,
            value=float(d[v]),
            expected="a binary brain mask (0 outside, 1 inside) for --brain-mask",
        )
    m = d > 0
    vol_ml = float(m.sum() * np.prod(flair.zooms) / 1000.0)
    if vol_ml < 300:
        raise InputDataError(
            f"brain mask covers only {vol_ml:.0f} mL",
            file=mask.source,
            expected="a whole-brain mask (an adult brain is 900-1700 mL) for --brain-mask",
        )
    return m


def run(
    flair: str | Path,
    *,
    t1: str | Path | None = None,
    brain_mask: str | Path | None = None,
    out: str | Path | None = None,
    settings: LesionSegSettings | None = None,
    **overrides: Any,
) -> LesionSegResult:
    """Read, check, segment and (with ``out``) write; returns the result.

    Parameters
    ----------
    flair : path
        FLAIR NIfTI (native clinical scans are fine: thick slices, bias, skull and neck).
    t1 : path, optional
        T1-weighted NIfTI of the same session (registered rigidly to the FLAIR when on another grid).
    brain_mask : path, optional
        Binary brain mask on the FLAIR grid (skips the template-based brain extraction).
    out : path, optional
        Output directory (created); the files of :data:`OUTPUT_NAMES` are written there.
    settings : LesionSegSettings, optional
        Parameters; ``overrides`` change single ones (``None`` values are ignored).

    Returns
    -------
    LesionSegResult
        The lesion labels and table, the brain mask, settings and counts.

    Raises
    ------
    SettingsError
        An invalid value in ``overrides``.
    InputDataError
        A bad image, a T1 over another head, a brain mask off the FLAIR grid, not binary or too
        small, or an ``out`` that is a file.
    OutputError
        An output that would overwrite an input or cannot be written (checked before any work).
    """
    from smoulder.io.templates import load_mni152

    s = settings or LesionSegSettings()
    if any(v is not None for v in overrides.values()):
        s = s.replace(**{k: v for k, v in overrides.items() if v is not None})
    inputs = {"--flair": flair, "--t1": t1, "--brain-mask": brain_mask}
    if out is not None:
        bio.check_out_dir(out)
        output_plan(plan_outputs(out).values(), inputs).check()
    f = read_image(flair, "--flair", "FLAIR")
    t = read_image(t1, "--t1", "T1") if t1 is not None else None
    if t is not None:
        frac = img.world_overlap_fraction(f, t)
        if frac < 0.5:
            raise InputDataError(
                f"only {frac:.0%} of the FLAIR's field of view lies inside the T1 in world space",
                file=t.source,
                expected="a T1 of the same head and session for --t1 (affines placing both over one head)",
            )
    mask = None
    if brain_mask is not None:
        mask = _check_mask(read_image(brain_mask, "--brain-mask", "brain mask", signal=False), f)
    try:
        res = segment_lesions(f, t1=t, brain_mask=mask, template=load_mni152(), settings=s)
    except RegistrationFailed as exc:
        raise InputDataError(
            str(exc),
            file=str(t1 if t is not None else flair),
            expected="a head the template can be placed on; give --brain-mask MASK.nii.gz "
            "(a brain mask on the FLAIR grid, e.g. from the T1 with a tool you trust)",
        ) from None
    res.inputs = {
        "flair": str(flair),
        "t1": str(t1) if t1 is not None else None,
        "brain_mask": str(brain_mask) if brain_mask is not None else None,
    }
    if out is not None:
        write(res, out)
    return res


def plan_outputs(out_dir: str | Path, names: dict[str, str] | None = None) -> dict[str, Path]:
    """Every output path of a run (keys of :data:`OUTPUT_NAMES`), decided before any work."""
    return {k: Path(out_dir) / v for k, v in {**OUTPUT_NAMES, **(names or {})}.items()}


def sidecar(res: LesionSegResult) -> dict[str, Any]:
    """The JSON sidecar of ``lesions.tsv``: columns, settings, version, methods, inputs."""
    return {
        **{c: COLUMN_DESCRIPTIONS.get(c, c) for c in res.lesions.columns},
        "GeneratedBy": [
            {"Name": "smoulder", "Version": res.version, "CodeURL": "smoulder lesions"}
        ],
        "Settings": res.settings.to_dict(),
        "MethodsParagraph": res.methods(),
        "Steps": res.notes,
        "Counts": res.counts,
        "Inputs": res.inputs,
        "LesionCount": res.n_lesions,
        "LesionVolumeML": round(res.total_volume_ml, 4),
        "BrainVolumeML": round(res.brain_volume_ml, 1),
        "VoxelSizeMM": list(res.zooms),
        "Seconds": round(float(res.seconds), 1),
        "Note": "Evidence for a reader to check, not a diagnosis.",
    }


def write(res: LesionSegResult, out: str | Path, **options: Any) -> dict[str, Path]:
    """Write every output of ``res`` into ``out``, all or nothing; return the paths by name.

    Parameters
    ----------
    res : LesionSegResult
        What :func:`run` returned.
    out : path
        The output folder (created if missing).
    **options
        ``names``: a mapping renaming any of the keys of :data:`OUTPUT_NAMES`; other options
        are ignored.

    Returns
    -------
    dict of str to Path
        The path of every output by the keys of :data:`OUTPUT_NAMES`.

    Raises
    ------
    InputDataError
        ``out`` exists and is not a folder.
    OutputError
        An output that is an input of the run (:func:`smoulder.pipelines._files.output_plan`)
        or cannot be written; nothing is then written.
    """
    from smoulder.imaging.lesionseg.qc import qc_html

    bio.check_out_dir(out)
    paths = plan_outputs(out, options.get("names"))
    inputs = {f"--{k.replace('_', '-')}": v for k, v in res.inputs.items() if v is not None}
    grid = Volume(np.zeros((1, 1, 1), np.float32), np.asarray(res.affine, float))
    with atomic_outputs(paths.values(), inputs) as stage:
        nifti.save_volume(stage.path(paths["dseg"]), grid, res.labels, np.int16)
        nifti.save_volume(stage.path(paths["brain_mask"]), grid, res.brain_mask, np.uint8)
        bio.write_tsv(res.lesions, stage.path(paths["table"]))
        bio.write_json(stage.path(paths["sidecar"]), sidecar(res))
        page = qc_html(
            res.flair,
            res.labels,
            res.brain_mask,
            res.affine,
            res.zooms,
            res.lesions,
            methods=res.methods(),
            source=str(res.inputs.get("flair") or ""),
        )
        bio.write_text(stage.path(paths["qc"]), page)
    return paths
