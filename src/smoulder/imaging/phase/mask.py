"""Where the phase can be trusted: a signal mask from the magnitude, or from the phase itself.

Outside the head the phase is noise; next to air/tissue interfaces (sinuses, ear canals) it
changes by more than pi per voxel and cannot be unwrapped. The mask keeps the largest
connected region with signal (magnitude above a fraction of its 99th percentile) and with
*reliable* phase (small wrapped second differences, Herraez et al. 2002), fills holes (veins
and iron-rich nuclei are dark at long echo times but belong to the brain) and erodes its edge.
Morphology is done on distances in mm, so anisotropic voxels are handled.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
from scipy import ndimage

from smoulder.imaging.phase.fields import wrap


def phase_quality(phase_rad: np.ndarray) -> np.ndarray:
    """Root mean square wrapped second difference over the 3 axes, averaged over 3x3x3 (rad).

    About ``2.4 sigma`` for smooth phase with white noise ``sigma`` (small); about 1.8
    (``pi / sqrt(3)``) for pure noise.
    """
    p = np.asarray(phase_rad, dtype=np.float32)
    acc = np.zeros(p.shape, np.float32)
    for ax in range(p.ndim):
        fwd = wrap(np.roll(p, -1, axis=ax) - p)
        bwd = wrap(p - np.roll(p, 1, axis=ax))
        d2 = wrap(fwd - bwd) ** 2
        # np.roll compares opposite faces of the grid: the edge slices take their neighbours'
        d2 = np.moveaxis(d2, ax, 0)
        if d2.shape[0] > 2:
            d2[0] = d2[1]
            d2[-1] = d2[-2]
        acc += np.moveaxis(d2, 0, ax).astype(np.float32)
    return np.sqrt(ndimage.uniform_filter(acc / p.ndim, size=3, mode="nearest"))


def _erode(mask: np.ndarray, zooms: np.ndarray, mm: float) -> np.ndarray:
    if mm <= 0:
        return mask
    # no padding: the edge of the field of view (a slab's end slices) is not an edge of the
    # head, and its phase is as good as the rest
    d = ndimage.distance_transform_edt(mask, sampling=zooms)
    return d > mm + 1e-6


def _dilate(mask: np.ndarray, zooms: np.ndarray, mm: float) -> np.ndarray:
    if mm <= 0:
        return mask
    return ndimage.distance_transform_edt(~mask, sampling=zooms) <= mm + 1e-6


def largest_component(mask: np.ndarray) -> np.ndarray:
    """The largest 6-connected component of ``mask`` (all False if empty)."""
    lab, n = ndimage.label(mask)
    if n == 0:
        return np.zeros(mask.shape, bool)
    counts = np.bincount(lab.ravel())
    counts[0] = 0
    return np.asarray(lab == int(np.argmax(counts)))


def fill_holes(
    mask: np.ndarray, slice_axis: int = 2, within: np.ndarray | None = None
) -> np.ndarray:
    """Fill holes in 3-D, then in each slice (holes open to the slab's top or bottom face).

    ``within`` limits what the slice-wise filling may add (e.g. to voxels with reliable phase:
    a region of aliased phase above a sinus is enclosed in its slices but not in 3-D).
    """
    out = np.asarray(ndimage.binary_fill_holes(mask))
    sliced = out.copy()
    for k in range(out.shape[slice_axis]):
        sl: list[slice | int] = [slice(None)] * 3
        sl[slice_axis] = k  # a 2-D slice: a (n, m, 1) block would touch its edge everywhere
        sliced[tuple(sl)] = ndimage.binary_fill_holes(out[tuple(sl)])
    if within is not None:
        sliced &= within | out
    return sliced


def signal_mask(
    phase_rad: np.ndarray,
    zooms: npt.ArrayLike,
    *,
    magnitude: np.ndarray | None = None,
    magnitude_fraction: float = 0.15,
    quality_max_rad: float = 1.0,
    open_mm: float = 2.0,
    erode_mm: float = 1.0,
    slice_axis: int = 2,
) -> np.ndarray:
    """Mask of brain voxels whose phase can be unwrapped.

    Parameters
    ----------
    phase_rad : numpy.ndarray
        Wrapped phase (radians).
    zooms : sequence of float
        Voxel sizes (mm).
    magnitude : numpy.ndarray, optional
        Magnitude image of the same echo. Without it, the mask comes from the phase quality alone.
    magnitude_fraction : float
        Signal threshold as a fraction of the magnitude's 99th percentile.
    quality_max_rad : float
        Largest :func:`phase_quality` of a kept voxel.
    open_mm : float
        Radius of the morphological opening that cuts thin bridges (brain to scalp).
    erode_mm : float
        Final erosion of the edge, whose phase is least reliable.
    slice_axis : int
        Voxel axis across slices (for the slice-wise hole filling).

    Returns
    -------
    numpy.ndarray of bool
    """
    vs = np.asarray(zooms, dtype=float)
    reliable = phase_quality(phase_rad) <= quality_max_rad
    if magnitude is not None:
        mag = np.asarray(magnitude, dtype=np.float32)
        sig = mag > magnitude_fraction * float(np.percentile(mag, 99))
        head = fill_holes(largest_component(_open(sig, vs, open_mm)), slice_axis)
        good = head & reliable
    else:
        good = reliable
    m = largest_component(_open(good, vs, open_mm))
    # dark or unreliable spots enclosed in the brain (veins, iron at long TE) belong to it; the
    # unreliable phase next to air stays out because it is open to the outside (slice-wise,
    # only reliable voxels are added: aliased phase above a sinus is enclosed in its slices)
    m = fill_holes(m, slice_axis, within=reliable)
    return _erode(m, vs, erode_mm)


def _open(mask: np.ndarray, zooms: np.ndarray, mm: float) -> np.ndarray:
    if mm <= 0:
        return mask
    return _dilate(_erode(mask, zooms, mm), zooms, mm) & mask


__all__ = ["phase_quality", "signal_mask", "largest_component", "fill_holes"]
