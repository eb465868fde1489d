"""NIfTI in and out for the imaging pipelines: every image read is checked, every image written is
on a known grid.

:func:`load_volume` reads a file into a :class:`~smoulder.schema.images.Volume` and checks it
(:func:`~smoulder.schema.images.volume_from_array`: 3-D, a valid affine, finite voxels); errors
name the file and the voxel. :func:`save_volume` writes an array on a volume's grid.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from smoulder.exceptions import InputDataError
from smoulder.schema.images import Volume, labels_from_volume, volume_from_array


def load_volume(path: str | Path, *, dtype: type = np.float32) -> Volume:
    """Read a NIfTI file and check it: 3-D, valid affine, finite voxels.

    Parameters
    ----------
    path : str or Path
        ``.nii`` or ``.nii.gz`` file.
    dtype : numpy dtype
        Type of the returned data.

    Raises
    ------
    InputDataError
        When the file is missing or unreadable, not 3-D, has no valid affine
        or holds NaN/inf voxels (the first offending voxel is named).
    """
    import nibabel as nib

    p = str(path)
    if not Path(p).exists():
        raise InputDataError("file not found", file=p, expected="an existing NIfTI file")
    if Path(p).is_dir():
        raise InputDataError("is a directory", file=p, expected="a NIfTI file (.nii or .nii.gz)")
    try:
        img: Any = nib.load(p)
        data = np.asarray(img.dataobj)
    except Exception as exc:  # nibabel raises several types
        raise InputDataError(
            f"cannot read image ({exc.__class__.__name__}: {exc})",
            file=p,
            expected="a NIfTI-1/2 file (.nii or .nii.gz)",
        ) from None
    vol = volume_from_array(data, img.affine, p)
    vol.data = vol.data.astype(dtype, copy=False)
    return vol


def load_label_volume(path: str | Path) -> Volume:
    """Read a lesion mask (binary or labelled): non-negative whole numbers, as int32 labels."""
    vol = load_volume(path, dtype=np.float64)
    return labels_from_volume(vol)


def volume_from_image(img: Any, source: str = "<image>") -> Volume:
    """A checked :class:`Volume` from an in-memory nibabel image (e.g. a phantom's)."""
    return volume_from_array(np.asarray(img.dataobj), img.affine, source)


def to_nifti(grid: Volume, data: np.ndarray | None = None, dtype: type | None = None) -> Any:
    """A nibabel image of ``data`` (default: the volume's own data) on ``grid``'s affine, in mm."""
    import nibabel as nib

    arr = grid.data if data is None else data
    if dtype is not None:
        arr = np.asarray(arr, dtype=dtype)
    img = nib.Nifti1Image(arr, grid.affine)
    img.header.set_xyzt_units("mm")
    return img


def save_volume(
    path: str | Path, grid: Volume, data: np.ndarray | None = None, dtype: type | None = None
) -> Path:
    """Write ``data`` (default: the volume's data) on ``grid`` to a NIfTI file; return the path."""
    import nibabel as nib

    nib.save(to_nifti(grid, data, dtype), str(path))
    return Path(path)


__all__ = ["load_volume", "load_label_volume", "volume_from_image", "to_nifti", "save_volume"]
