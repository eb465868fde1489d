"""Reading and checking NIfTI images for the imaging engines.

Every check turns a bad input into an :class:`~smoulder.exceptions.InputDataError`
that names the file, the voxel or shape, and the expected form. The engines
(:mod:`smoulder.imaging.prl`, :mod:`smoulder.imaging.lesions`) take the plain
arrays and affines that these readers return.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from smoulder.exceptions import InputDataError

#: Tolerance (mm) when comparing two affines for "same grid".
AFFINE_TOL_MM = 1e-3


@dataclass
class Volume:
    """A 3-D image: voxel data, voxel-to-world (RAS mm) affine and where it came from."""

    data: np.ndarray
    affine: np.ndarray
    source: str = "<array>"

    @property
    def shape(self) -> tuple[int, ...]:
        return tuple(self.data.shape)

    @property
    def zooms(self) -> np.ndarray:
        """Voxel sizes in mm (column norms of the affine)."""
        return np.sqrt((self.affine[:3, :3] ** 2).sum(axis=0))

    @property
    def orientation(self) -> str:
        """Axis codes such as ``"RAS"`` or ``"LPS"``."""
        import nibabel as nib

        return "".join(nib.aff2axcodes(self.affine))

    def to_nifti(self, data: np.ndarray | None = None, dtype: type | None = None) -> Any:
        """A nibabel image of ``data`` (default: this volume's data) on this grid."""
        import nibabel as nib

        arr = self.data if data is None else data
        if dtype is not None:
            arr = np.asarray(arr, dtype=dtype)
        img = nib.Nifti1Image(arr, self.affine)
        img.header.set_xyzt_units("mm")
        return img


def _first_bad_voxel(mask: np.ndarray) -> tuple[int, ...]:
    return tuple(int(i) for i in np.unravel_index(int(np.argmax(mask)), mask.shape))


def volume_from_array(
    data: np.ndarray, affine: np.ndarray, source: str = "<array>", *, allow_nonfinite: bool = False
) -> Volume:
    """Check an array and affine as :func:`load_volume` checks a file, and wrap them."""
    data = np.asarray(data)
    if data.ndim == 4 and data.shape[3] == 1:
        data = data[..., 0]
    if data.ndim != 3:
        raise InputDataError(
            "image is not 3-D",
            file=source,
            value=tuple(data.shape),
            expected="a 3-D volume (x, y, z) or 4-D with one volume",
        )
    if min(data.shape) < 2:
        raise InputDataError(
            "image has a dimension of size < 2",
            file=source,
            value=tuple(data.shape),
            expected="at least 2 voxels along every axis",
        )
    affine = np.asarray(affine, dtype=float)
    if (
        affine.shape != (4, 4)
        or not np.all(np.isfinite(affine))
        or abs(np.linalg.det(affine[:3, :3])) < 1e-9
    ):
        raise InputDataError(
            "affine is missing, not finite or singular",
            file=source,
            expected="a valid voxel-to-world affine (qform/sform)",
        )
    if not np.issubdtype(data.dtype, np.number) and data.dtype != bool:
        raise InputDataError("image data are not numeric", file=source, value=str(data.dtype))
    if np.issubdtype(data.dtype, np.floating) and not allow_nonfinite:
        bad = ~np.isfinite(data)
        if bad.any():
            v = _first_bad_voxel(bad)
            raise InputDataError(
                f"{int(bad.sum())} NaN/inf voxels, the first at voxel {v}",
                file=source,
                value=float(data[v]),
                expected="finite values everywhere (set voxels outside the brain to 0)",
            )
    return Volume(data=data, affine=affine, source=source)


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
    """Read a lesion mask (binary or labelled): non-negative whole numbers."""
    vol = load_volume(path, dtype=np.float64)
    return labels_from_volume(vol)


def labels_from_volume(vol: Volume) -> Volume:
    """Check that a mask holds non-negative whole numbers and convert it to int32 labels."""
    d = np.asarray(vol.data)
    if d.dtype == bool:
        return Volume(d.astype(np.int32), vol.affine, vol.source)
    bad = (d < 0) | (np.abs(d - np.round(d)) > 1e-3)
    if bad.any():
        v = _first_bad_voxel(bad)
        raise InputDataError(
            f"lesion mask has {int(bad.sum())} voxels that are not whole non-negative "
            f"numbers, the first at voxel {v}",
            file=vol.source,
            value=float(d[v]),
            expected="0 for background and 1 (binary) or 1..N (labelled) for lesions",
        )
    return Volume(np.round(d).astype(np.int32), vol.affine, vol.source)


def same_grid(a: Volume, b: Volume, tol_mm: float = AFFINE_TOL_MM) -> bool:
    """True when both volumes have the same shape and (within ``tol_mm``) the same affine."""
    return a.shape == b.shape and bool(np.allclose(a.affine, b.affine, atol=tol_mm, rtol=0))


def check_same_grid(ref: Volume, other: Volume, what: str = "image") -> None:
    """Raise a clear error when ``other`` is not on ``ref``'s grid (shape, affine, orientation)."""
    if same_grid(ref, other):
        return
    if ref.orientation != other.orientation:
        detail = f"orientation {other.orientation} vs {ref.orientation}"
    elif ref.shape != other.shape:
        detail = f"shape {other.shape} vs {ref.shape}"
    else:
        diff = float(np.abs(ref.affine - other.affine).max())
        detail = f"affines differ by up to {diff:.3g} mm"
    raise InputDataError(
        f"{what} is not on the FLAIR grid ({detail}; FLAIR is {ref.source})",
        file=other.source,
        expected="images resampled to one grid, or --register resample|rigid to align them",
    )


def world_overlap_fraction(ref: Volume, other: Volume) -> float:
    """Fraction of ``ref``'s field of view (sampled on a coarse lattice) inside ``other``'s."""
    g = [np.linspace(0, n - 1, 9) for n in ref.shape]
    ijk = np.stack(np.meshgrid(*g, indexing="ij")).reshape(3, -1)
    xyz = ref.affine[:3, :3] @ ijk + ref.affine[:3, 3:4]
    inv = np.linalg.inv(other.affine)
    o = inv[:3, :3] @ xyz + inv[:3, 3:4]
    inside = np.all((o >= -0.5) & (o <= np.array(other.shape)[:, None] - 0.5), axis=0)
    return float(inside.mean())


def check_phase_units(vol: Volume, *, limit: float = 2 * np.pi) -> None:
    """Reject phase that is not unwrapped, filtered phase in radians.

    High-pass-filtered phase in radians stays within about +-pi; values whose
    99.9th percentile of magnitude exceeds ``limit`` (default 2 pi) are
    degrees, raw scanner integers (0-4095) or unfiltered phase.
    """
    d = np.abs(vol.data[vol.data != 0])
    if d.size == 0:
        raise InputDataError(
            "phase image is all zero", file=vol.source, expected="phase in radians"
        )
    p = float(np.percentile(d, 99.9))
    if p > limit:
        raise InputDataError(
            f"phase values reach {p:.3g} in magnitude (99.9th percentile), far outside +-pi",
            file=vol.source,
            expected="unwrapped, high-pass-filtered phase in radians (divide degrees by 57.3; rescale scanner "
            "integers 0..4095 to -pi..pi and unwrap/filter first)",
        )


def check_qsm_units(vol: Volume, units: str = "ppm") -> np.ndarray:
    """Return QSM in ppm; reject a map that looks like ppb when ppm was declared.

    Brain susceptibility lies within about +-0.5 ppm (veins up to ~1 ppm), so a
    99th percentile magnitude above 5 means ppb. ``units="ppb"`` divides by 1000.
    """
    if units not in ("ppm", "ppb"):
        raise InputDataError("unknown QSM units", value=units, expected="ppm or ppb")
    data = vol.data.astype(np.float32) / (1000.0 if units == "ppb" else 1.0)
    nz = np.abs(data[data != 0])
    if nz.size == 0:
        raise InputDataError(
            "QSM image is all zero", file=vol.source, expected="susceptibility in ppm"
        )
    p = float(np.percentile(nz, 99))
    if p > 5.0:
        raise InputDataError(
            f"QSM values reach {p:.3g} in magnitude (99th percentile), about 1000 times brain susceptibility "
            "in ppm",
            file=vol.source,
            expected="susceptibility in ppm (use --qsm-units ppb for a map in ppb)",
        )
    if p < 0.002:
        warnings.warn(
            f"{vol.source}: QSM values are tiny (99th percentile {p:.2g}); is the map in ppm?",
            stacklevel=2,
        )
    return data


__all__ = [
    "Volume",
    "load_volume",
    "load_label_volume",
    "labels_from_volume",
    "volume_from_array",
    "same_grid",
    "check_same_grid",
    "check_phase_units",
    "check_qsm_units",
    "world_overlap_fraction",
]
