"""The small image and prior containers of the lesion segmentation engine."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

import numpy as np

from smoulder.exceptions import InputDataError
from smoulder.schema.images import Volume

__all__ = ["Priors", "TemplateLike", "as_image"]


class TemplateLike(Protocol):
    """What the engine needs of a template (e.g. :class:`smoulder.io.templates.MNI152Template`)."""

    @property
    def t1(self) -> np.ndarray: ...

    @property
    def brain_mask(self) -> np.ndarray: ...

    @property
    def gm(self) -> np.ndarray: ...

    @property
    def wm(self) -> np.ndarray: ...

    @property
    def csf(self) -> np.ndarray: ...

    @property
    def affine(self) -> np.ndarray: ...

    @property
    def name(self) -> str: ...


@dataclass
class Priors:
    """Tissue priors and anatomical regions on the FLAIR grid (0..1 floats or bools).

    Built by registering a template (:func:`smoulder.imaging.lesionseg.segment_lesions` does it),
    or given directly (tests, or priors from another tool). ``ventricles``, ``cortex`` and
    ``infratentorial`` drive the location classes.
    """

    wm: np.ndarray
    gm: np.ndarray
    csf: np.ndarray
    brain: np.ndarray
    ventricles: np.ndarray
    cortex: np.ndarray
    infratentorial: np.ndarray
    notes: list[str] = field(default_factory=list)


def _source(obj: object, default: str) -> str:
    return str(getattr(obj, "source", None) or default)


def as_image(obj: object, what: str, flag: str) -> Volume:
    """Check an image-like object (``data``, ``affine``) and return a :class:`~smoulder.schema.images.Volume`.

    Errors name the image (its ``source`` file when known) and the expected form in the command
    line's words (``flag``).
    """
    src = _source(obj, what)
    data = getattr(obj, "data", None)
    affine = getattr(obj, "affine", None)
    if data is None or affine is None:
        raise InputDataError(
            f"{what} has no voxel data or no affine",
            file=src,
            expected=f"a 3-D NIfTI image for {flag}",
        )
    arr = np.asarray(data)
    if arr.ndim == 4 and arr.shape[3] == 1:
        arr = arr[..., 0]
    if arr.ndim != 3:
        raise InputDataError(
            f"{what} is not a 3-D image",
            file=src,
            value=tuple(arr.shape),
            expected=f"a 3-D volume (x, y, z) for {flag}",
        )
    if min(arr.shape) < 3:
        raise InputDataError(
            f"{what} has fewer than 3 voxels along an axis",
            file=src,
            value=tuple(arr.shape),
            expected=f"at least 3 voxels along every axis for {flag}",
        )
    if not (np.issubdtype(arr.dtype, np.number) or arr.dtype == bool):
        raise InputDataError(f"{what} is not numeric", file=src, value=str(arr.dtype))
    aff = np.asarray(affine, dtype=float)
    if (
        aff.shape != (4, 4)
        or not np.all(np.isfinite(aff))
        or abs(np.linalg.det(aff[:3, :3])) < 1e-9
    ):
        raise InputDataError(
            f"{what} has a missing, non-finite or singular affine",
            file=src,
            expected="a valid voxel-to-world affine (qform/sform)",
        )
    if np.issubdtype(arr.dtype, np.floating):
        bad = ~np.isfinite(arr)
        if bad.any():
            v = tuple(int(i) for i in np.unravel_index(int(np.argmax(bad)), arr.shape))
            raise InputDataError(
                f"{what} has {int(bad.sum())} NaN/inf voxels, the first at voxel {v}",
                file=src,
                expected="finite values everywhere (set voxels outside the head to 0)",
            )
    return Volume(data=arr, affine=aff, source=src)
