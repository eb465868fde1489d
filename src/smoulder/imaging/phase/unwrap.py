"""Phase unwrapping: Laplacian (least-squares, DCT) and quality-guided (scikit-image).

``laplacian``
    Least-squares unwrapping (Ghiglia & Romero, JOSA A 1994): the wrapped differences
    between neighbours are the gradient of the unwrapped phase wherever it changes by less
    than pi per voxel; the phase whose gradient fits them best solves a Poisson equation,
    solved exactly with the discrete cosine transform (Neumann boundaries). Each axis is
    weighted by ``1 / voxel size^2`` so that the discrete Laplacian is the physical one. For a
    phase without residues (a ramp, a smooth field) the result is exact up to a constant;
    elsewhere the error is a field whose sources sit where the wrapped differences are
    wrong (noise, aliasing), i.e. harmonic inside a clean region, which the SHARP-type
    background removal that follows takes away.
``quality-guided``
    :func:`skimage.restoration.unwrap_phase` (Herraez et al., Applied Optics 2002):
    path-following in order of reliability, exact multiples of 2 pi, restricted to the mask.
    A wrong path leaves a 2 pi step inside the brain that no background removal can undo.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
from scipy import fft

from smoulder.imaging.phase.fields import wrap


def wrapped_gradient(phase_rad: np.ndarray, axis: int) -> np.ndarray:
    """``wrap(phase[i + 1] - phase[i])`` along ``axis`` (one element shorter)."""
    return wrap(np.diff(np.asarray(phase_rad, dtype=np.float64), axis=axis))


def _divergence(phase_rad: np.ndarray, weights: np.ndarray, mask: np.ndarray | None) -> np.ndarray:
    """``sum_a w_a (d_a[i] - d_a[i-1])`` with zero differences beyond the edges and outside ``mask``."""
    rho = np.zeros(phase_rad.shape, dtype=np.float64)
    for ax in range(phase_rad.ndim):
        d = wrapped_gradient(phase_rad, ax)
        if mask is not None:
            lo = [slice(None)] * phase_rad.ndim
            hi = [slice(None)] * phase_rad.ndim
            lo[ax] = slice(None, -1)
            hi[ax] = slice(1, None)
            d *= mask[tuple(lo)] & mask[tuple(hi)]
        d *= weights[ax]
        pad_after = [(0, 0)] * phase_rad.ndim
        pad_before = [(0, 0)] * phase_rad.ndim
        pad_after[ax] = (0, 1)
        pad_before[ax] = (1, 0)
        rho += np.pad(d, pad_after) - np.pad(d, pad_before)
    return rho


def solve_poisson_neumann(rho: np.ndarray, weights: npt.ArrayLike) -> np.ndarray:
    """Solve ``sum_a w_a (u[i+1] - 2 u[i] + u[i-1]) = rho`` with reflecting edges (DCT-II).

    The solution has mean zero (the constant is free).
    """
    w = np.asarray(weights, dtype=float)
    r = fft.dctn(rho, type=2, norm="ortho")
    eig = np.zeros(rho.shape, dtype=np.float64)
    for ax, n in enumerate(rho.shape):
        k = np.arange(n, dtype=np.float64)
        shape = [1] * rho.ndim
        shape[ax] = n
        eig = eig + w[ax] * (2.0 * np.cos(np.pi * k / n) - 2.0).reshape(shape)
    eig.flat[0] = 1.0
    r /= eig
    r.flat[0] = 0.0
    return np.asarray(fft.idctn(r, type=2, norm="ortho"))


def unwrap_laplacian(
    phase_rad: np.ndarray, zooms: npt.ArrayLike | None = None, mask: np.ndarray | None = None
) -> np.ndarray:
    """Least-squares (Laplacian) unwrapping, exact up to a constant for residue-free phase.

    Parameters
    ----------
    phase_rad : numpy.ndarray
        Wrapped phase (radians).
    zooms : sequence of float, optional
        Voxel sizes (mm); each axis is weighted by ``1 / size^2``. Default isotropic.
    mask : numpy.ndarray of bool, optional
        Differences with a voxel outside the mask are left out (noise outside the head then
        does not spread into it). The result outside the mask is meaningless.

    Returns
    -------
    numpy.ndarray
        Unwrapped phase (float64), mean zero over the grid.

    Examples
    --------
    A ramp of 1.3 rad per voxel (wrapped 4 times over 20 voxels) comes back exactly:

    >>> import numpy as np
    >>> ramp = 1.3 * np.arange(20.0)[:, None, None] * np.ones((1, 4, 3))
    >>> wrapped = np.angle(np.exp(1j * ramp))
    >>> u = unwrap_laplacian(wrapped)
    >>> bool(np.allclose(u - u.mean(), ramp - ramp.mean()))
    True
    """
    p = np.asarray(phase_rad, dtype=np.float64)
    vs = np.ones(p.ndim) if zooms is None else np.asarray(zooms, dtype=float)
    weights = 1.0 / vs**2
    m = None if mask is None else np.asarray(mask, dtype=bool)
    rho = _divergence(p, weights, m)
    return solve_poisson_neumann(rho, weights)


def unwrap_quality_guided(
    phase_rad: np.ndarray, mask: np.ndarray | None = None, seed: int = 0
) -> np.ndarray:
    """Reliability-sorted path-following unwrapping (scikit-image), restricted to ``mask``.

    Voxels outside the mask are returned as 0. Deterministic for a given ``seed``.
    """
    from skimage.restoration import unwrap_phase

    p = np.asarray(phase_rad, dtype=np.float64)
    # unwrap_phase wants [-pi, pi)
    p = np.where(p >= np.pi, p - 2 * np.pi, p)
    if mask is None:
        return np.asarray(unwrap_phase(p, rng=seed))
    m = np.asarray(mask, dtype=bool)
    out = unwrap_phase(np.ma.masked_array(p, mask=~m), rng=seed)
    return np.asarray(np.ma.filled(out, 0.0))


__all__ = [
    "wrapped_gradient",
    "solve_poisson_neumann",
    "unwrap_laplacian",
    "unwrap_quality_guided",
]
