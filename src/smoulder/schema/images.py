"""Image contracts: the :class:`Volume` data class and the checks every imaging input passes.

Nothing here reads a file. :mod:`smoulder.io.nifti` reads NIfTI files into a :class:`Volume` and
checks it with :func:`volume_from_array`; the engines (:mod:`smoulder.imaging`) take volumes or
plain arrays and check grids, units and masks with the functions below. Every check turns a bad
input into an :class:`~smoulder.exceptions.InputDataError` that names the file, the voxel or shape,
and the expected form.

Examples
--------
>>> import numpy as np
>>> v = Volume(np.zeros((4, 5, 6)), np.diag([2.0, 2.0, 3.0, 1.0]), "t1.nii.gz")
>>> v.zooms.tolist(), v.orientation
([2.0, 2.0, 3.0], 'RAS')
"""

from __future__ import annotations

import datetime as dt
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from smoulder.exceptions import InputDataError, SettingsError

#: Tolerance (mm) when comparing two affines for "same grid".
AFFINE_TOL_MM = 1e-3

#: Days in a year when dates become years since baseline.
DAYS_PER_YEAR = 365.25

_AXIS_CODES = (("L", "R"), ("P", "A"), ("I", "S"))


def axis_codes(affine: np.ndarray) -> str:
    """Orientation codes (``"RAS"``, ``"LPS"``, ...) of a voxel-to-world affine.

    Each voxel axis is assigned the world axis it points along most (RAS+ world, as NIfTI): the
    affine's rotation part is first replaced by its nearest orthogonal matrix (which removes
    zooms and shears), then, voxel axis by voxel axis, the largest remaining component names the
    world axis and its sign the direction; that world axis is not used again.

    Examples
    --------
    >>> import numpy as np
    >>> axis_codes(np.diag([-1.0, 1.0, 1.0, 1.0]))
    'LAS'
    """
    a = np.asarray(affine, dtype=float)[:3, :3]
    u, _, vt = np.linalg.svd(a)
    r = u @ vt
    codes = []
    for j in range(3):
        col = np.abs(r[:, j])
        i = int(np.argmax(col))
        codes.append(_AXIS_CODES[i][int(r[i, j] > 0)])
        r[i, :] = 0.0
    return "".join(codes)


@dataclass
class Volume:
    """A 3-D image: voxel data, the voxel-to-world (RAS mm) affine and where it came from.

    Attributes
    ----------
    data : numpy.ndarray
        Voxel values, 3-D.
    affine : numpy.ndarray
        4x4 voxel-to-world affine (RAS+, millimetres), as NIfTI stores it.
    source : str
        File name (or ``"<array>"``) named in error messages.
    """

    data: np.ndarray
    affine: np.ndarray
    source: str = "<array>"

    @property
    def shape(self) -> tuple[int, ...]:
        """Shape of the voxel grid."""
        return tuple(self.data.shape)

    @property
    def zooms(self) -> np.ndarray:
        """Voxel sizes in mm (column norms of the affine): the one place they are computed."""
        a = np.asarray(self.affine, dtype=float)
        return np.sqrt((a[:3, :3] ** 2).sum(axis=0))

    @property
    def orientation(self) -> str:
        """Axis codes such as ``"RAS"`` or ``"LPS"`` (see :func:`axis_codes`)."""
        return axis_codes(self.affine)

    def like(self, data: np.ndarray, source: str | None = None) -> Volume:
        """Another image on this grid (same affine)."""
        return Volume(data, self.affine, self.source if source is None else source)


def _first_bad_voxel(mask: np.ndarray) -> tuple[int, ...]:
    return tuple(int(i) for i in np.unravel_index(int(np.argmax(mask)), mask.shape))


def volume_from_array(
    data: np.ndarray, affine: np.ndarray, source: str = "<array>", *, allow_nonfinite: bool = False
) -> Volume:
    """Check an array and its affine and wrap them in a :class:`Volume`.

    Parameters
    ----------
    data : array_like
        3-D voxel data (4-D with one volume is accepted and squeezed).
    affine : array_like
        4x4 voxel-to-world affine.
    source : str
        File name for error messages.
    allow_nonfinite : bool
        Accept NaN/inf voxels (default: refuse them, naming the first).

    Raises
    ------
    InputDataError
        When the data are not 3-D, a dimension has fewer than 2 voxels, the affine is missing,
        not finite or singular, the data are not numeric, or (by default) a voxel is NaN/inf.

    Examples
    --------
    >>> import numpy as np
    >>> volume_from_array(np.ones((4, 4)), np.eye(4), "x.nii.gz")
    Traceback (most recent call last):
    ...
    smoulder.exceptions.InputDataError: x.nii.gz: image is not 3-D (got (4, 4)); expected a 3-D volume (x, y, z) or 4-D with one volume
    """
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


def labels_from_volume(vol: Volume) -> Volume:
    """Check that a mask holds non-negative whole numbers and convert it to int32 labels.

    Raises
    ------
    InputDataError
        Naming the first voxel that is negative or not a whole number.
    """
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


def check_has_signal(vol: Volume, what: str = "image") -> None:
    """Refuse an image that is all zero or holds one value everywhere: there is nothing to align.

    Raises
    ------
    InputDataError
        Naming the file and what the image is (e.g. "FLAIR of time point 2").

    Examples
    --------
    >>> import numpy as np
    >>> check_has_signal(
    ...     Volume(np.zeros((3, 3, 3)), np.eye(4), "t1_2.nii.gz"), "T1 of time point 2"
    ... )
    Traceback (most recent call last):
    ...
    smoulder.exceptions.InputDataError: t1_2.nii.gz: T1 of time point 2 is all zero; expected an image of the head (a failed export or conversion gives an empty file)
    """
    d = np.asarray(vol.data)
    lo, hi = (float(d.min()), float(d.max())) if d.size else (0.0, 0.0)
    if lo == hi == 0.0:
        raise InputDataError(
            f"{what} is all zero",
            file=vol.source,
            expected="an image of the head (a failed export or conversion gives an empty file)",
        )
    if lo == hi:
        raise InputDataError(
            f"{what} has the value {lo:g} in every voxel",
            file=vol.source,
            expected="an image of the head with varying intensities",
        )


def check_overlap(
    ref: Volume,
    other: Volume,
    what: str,
    *,
    reference: str = "the FLAIR",
    min_fraction: float = 0.5,
) -> None:
    """Refuse two images whose fields of view do not overlap in world space (not one head).

    ``min_fraction`` of ``ref``'s field of view must lie inside ``other``'s.
    """
    frac = world_overlap_fraction(ref, other)
    if frac < min_fraction:
        raise InputDataError(
            f"{what} does not overlap {reference} in world space (only {frac:.0%} of its field of "
            "view lies inside this image), so the two cannot be images of one head in one session",
            file=other.source,
            expected=f"images whose affines place them over the same head (>= {min_fraction:.0%} "
            "overlap; check the file order and the header's qform/sform)",
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


def parse_dates(dates: Sequence[Any], n_images: int | None = None) -> tuple[list[str], np.ndarray]:
    """Check the ISO dates of a series of scans and return them with years since the first.

    Parameters
    ----------
    dates : sequence
        One date per time point, in the order of the images: ISO 8601 text (``YYYY-MM-DD``, a
        time part is ignored), :class:`datetime.date` or :class:`datetime.datetime`.
    n_images : int, optional
        Number of images the dates belong to.

    Returns
    -------
    (list of str, numpy.ndarray)
        The dates as ``YYYY-MM-DD`` and the years since the first (365.25-day years).

    Raises
    ------
    SettingsError
        A date is missing or not ISO 8601, the count does not match the images, or the dates
        are not strictly increasing.

    Examples
    --------
    >>> iso, years = parse_dates(["2020-01-15", "2021-01-14"], 2)
    >>> iso, years.round(4).tolist()
    (['2020-01-15', '2021-01-14'], [0.0, 0.9993])
    """
    ds = list(dates)
    if n_images is not None and len(ds) != n_images:
        raise SettingsError(
            f"{n_images} time points (images) but {len(ds)} dates; give one ISO date "
            "(YYYY-MM-DD) per time point, in the order of the images"
        )
    parsed = []
    for i, d in enumerate(ds, start=1):
        if (
            d is None
            or (isinstance(d, float) and np.isnan(d))
            or str(d).strip().lower() in ("", "n/a", "nan", "na")
        ):
            raise SettingsError(
                f"date of time point {i} is missing; expected an ISO date YYYY-MM-DD"
            )
        if isinstance(d, dt.datetime):
            parsed.append(d.date())
            continue
        if isinstance(d, dt.date):
            parsed.append(d)
            continue
        try:
            parsed.append(dt.date.fromisoformat(str(d).strip()[:10]))
        except ValueError:
            raise SettingsError(
                f"date of time point {i} is not an ISO date: got {d!r}; expected YYYY-MM-DD"
            ) from None
    for i in range(1, len(parsed)):
        if parsed[i] <= parsed[i - 1]:
            raise SettingsError(
                f"dates must be strictly increasing in the order of the images: time point "
                f"{i + 1} ({parsed[i]}) is not after time point {i} ({parsed[i - 1]})"
            )
    days = np.array([(p - parsed[0]).days for p in parsed], dtype=float)
    return [p.isoformat() for p in parsed], days / DAYS_PER_YEAR


__all__ = [
    "AFFINE_TOL_MM",
    "DAYS_PER_YEAR",
    "Volume",
    "axis_codes",
    "volume_from_array",
    "labels_from_volume",
    "same_grid",
    "check_same_grid",
    "world_overlap_fraction",
    "check_has_signal",
    "check_overlap",
    "check_phase_units",
    "check_qsm_units",
    "parse_dates",
]
