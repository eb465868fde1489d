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

import json
import os
from pathlib import Path
from typing import Any

import numpy as np

from smoulder.exceptions import InputDataError
from smoulder.imaging.lesionseg import Image, LesionSegResult, LesionSegSettings, segment_lesions

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


def read_image(path: str | Path, flag: str) -> Image:
    """Read a 3-D NIfTI image and check it; errors name the file, the flag and the expected form."""
    import nibabel as nib

    p = str(path)
    if not Path(p).is_file():
        raise InputDataError("file not found", file=p, expected=f"an existing NIfTI file for {flag}")
    try:
        img: Any = nib.load(p)
        data = np.asarray(img.dataobj)
    except Exception as exc:  # nibabel raises several types
        raise InputDataError(
            f"cannot read image ({exc.__class__.__name__}: {exc})",
            file=p,
            expected=f"a NIfTI-1/2 file (.nii or .nii.gz) for {flag}",
        ) from None
    if data.ndim == 4 and data.shape[3] == 1:
        data = data[..., 0]
    if data.ndim != 3:
        raise InputDataError(
            f"image has {data.ndim} dimensions {tuple(data.shape)}",
            file=p,
            expected=f"a 3-D volume for {flag} (one volume of a 4-D series: split it first)",
        )
    if not np.issubdtype(data.dtype, np.number) and data.dtype != bool:
        raise InputDataError("image data are not numeric", file=p, value=str(data.dtype))
    affine = np.asarray(img.affine, float)
    if not np.all(np.isfinite(affine)) or abs(np.linalg.det(affine[:3, :3])) < 1e-9:
        raise InputDataError(
            "image has no valid voxel-to-world affine",
            file=p,
            expected="a NIfTI header with a valid qform or sform",
        )
    arr = data.astype(np.float32) if data.dtype != np.float32 else data
    bad = ~np.isfinite(arr)
    if bad.any():
        v = tuple(int(i) for i in np.unravel_index(int(np.argmax(bad)), arr.shape))
        raise InputDataError(
            f"{int(bad.sum())} NaN/inf voxels, the first at voxel {v}",
            file=p,
            expected=f"finite values everywhere in {flag} (set voxels outside the head to 0)",
        )
    if not (arr > 0).any():
        raise InputDataError("image is empty (no voxel above 0)", file=p, expected=f"a FLAIR/T1 scan for {flag}")
    return Image(data=arr, affine=affine, source=p)


def _overlap(ref: Image, other: Image) -> float:
    g = [np.linspace(0, n - 1, 9) for n in ref.shape]
    ijk = np.stack(np.meshgrid(*g, indexing="ij")).reshape(3, -1)
    xyz = ref.affine[:3, :3] @ ijk + ref.affine[:3, 3:4]
    inv = np.linalg.inv(other.affine)
    o = inv[:3, :3] @ xyz + inv[:3, 3:4]
    inside = np.all((o >= -0.5) & (o <= np.array(other.shape)[:, None] - 0.5), axis=0)
    return float(inside.mean())


def _check_mask(mask: Image, flair: Image) -> np.ndarray:
    if mask.shape != flair.shape or not np.allclose(mask.affine, flair.affine, atol=1e-3):
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
    """
    from smoulder.io.templates import load_mni152

    s = settings or LesionSegSettings()
    if any(v is not None for v in overrides.values()):
        s = s.replace(**{k: v for k, v in overrides.items() if v is not None})
    if out is not None:
        check_output_dir(out)
    f = read_image(flair, "--flair")
    t = read_image(t1, "--t1") if t1 is not None else None
    if t is not None:
        frac = _overlap(f, t)
        if frac < 0.5:
            raise InputDataError(
                f"only {frac:.0%} of the FLAIR's field of view lies inside the T1 in world space",
                file=t.source,
                expected="a T1 of the same head and session for --t1 (affines placing both over one head)",
            )
    mask = None
    if brain_mask is not None:
        mask = _check_mask(read_image(brain_mask, "--brain-mask"), f)
    res = segment_lesions(f, t1=t, brain_mask=mask, template=load_mni152(), settings=s)
    res.inputs = {
        "flair": str(flair),
        "t1": str(t1) if t1 is not None else None,
        "brain_mask": str(brain_mask) if brain_mask is not None else None,
    }
    if out is not None:
        write(res, out)
    return res


def check_output_dir(out: str | Path) -> None:
    """Fail early (before any computing) when ``out`` cannot be an output directory."""
    p = Path(out)
    if p.exists() and not p.is_dir():
        raise InputDataError("output path exists and is not a directory", file=str(p), expected="a directory for --out")


def sidecar(res: LesionSegResult) -> dict[str, Any]:
    """The JSON sidecar of ``lesions.tsv``: columns, settings, version, methods, inputs."""
    return {
        **{c: COLUMN_DESCRIPTIONS.get(c, c) for c in res.lesions.columns},
        "GeneratedBy": [{"Name": "smoulder", "Version": res.version, "CodeURL": "smoulder lesions"}],
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
    """Write every output of ``res`` into ``out`` atomically; return the paths by name."""
    import nibabel as nib

    from smoulder.imaging.lesionseg.qc import qc_html

    outdir = Path(out)
    check_output_dir(outdir)
    outdir.mkdir(parents=True, exist_ok=True)
    names = {**OUTPUT_NAMES, **options.get("names", {})}
    final = {k: outdir / v for k, v in names.items()}
    tmp = {k: p.with_name(f".tmp-{os.getpid()}-{p.name}") for k, p in final.items()}
    try:
        for key, arr, dtype in (("dseg", res.labels, np.int16), ("brain_mask", res.brain_mask, np.uint8)):
            img = nib.Nifti1Image(np.asarray(arr, dtype=dtype), res.affine)
            img.header.set_xyzt_units("mm")
            nib.save(img, str(tmp[key]))
        res.lesions.to_csv(tmp["table"], sep="\t", index=False, na_rep="n/a", float_format="%.6g")
        tmp["sidecar"].write_text(json.dumps(sidecar(res), indent=2, default=str), encoding="utf-8")
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
        tmp["qc"].write_text(page, encoding="utf-8")
        for k in final:
            os.replace(tmp[k], final[k])
    finally:
        for p in tmp.values():
            if p.exists():
                p.unlink()
    return final

