"""Background field removal: V-SHARP, PDF and SWI-style homodyne filtering.

The phase of a head holds the *local* field of the brain's own susceptibility (veins, iron,
myelin, rims) on top of a *background* field tens to hundreds of times larger from air, bone
and the shim. Inside the brain the background field is harmonic (its sources lie outside):

``vsharp``
    Variable-radius SHARP (Schweser et al., NeuroImage 2011; Li et al., NeuroImage 2011):
    a harmonic function equals its mean over any sphere inside the region where it is
    harmonic, so ``phase - sphere_mean(phase)`` has no background; each voxel uses the largest
    sphere (``max_radius_mm`` down to about one voxel) that fits inside the mask, and the
    result is deconvolved with the largest kernel (truncated where ``|1 - S(k)| <
    threshold``). Works on a slab and on any unwrapped phase whose errors are harmonic.
``pdf``
    Projection onto dipole fields (Liu et al., NMR Biomed 2011): the background is fitted as
    the field of susceptibility sources outside the mask (including beyond the field of
    view), by conjugate gradients, with B0 along the direction from the affine.
``homodyne``
    What scanners do for SWI (Haacke et al., MRM 2004): divide the complex signal by its
    low-passed self (a Hanning window in k-space that reaches zero at spatial frequency
    ``1 / window_mm``), which needs no unwrapping but also removes the local field's slow
    parts and leaves wraps where the background changes quickly (near sinuses).
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
from scipy import fft, ndimage

from smoulder.imaging.phase.fields import dipole_kernel, embed, fast_shape


def sphere_kernel(shape: tuple[int, ...], zooms: npt.ArrayLike, radius_mm: float) -> np.ndarray:
    """Normalised sphere (radius in mm, anisotropic voxels) centred at index 0 of ``shape``."""
    vs = np.asarray(zooms, dtype=float)
    axes = []
    for n, v in zip(shape, vs, strict=True):
        off = np.fft.fftfreq(n) * n  # signed offsets 0, 1, ..., -1
        axes.append((off * v) ** 2)
    g = np.meshgrid(*axes, indexing="ij", sparse=True)
    ball = (g[0] + g[1] + g[2]) <= radius_mm**2 + 1e-9
    k = ball.astype(np.float32)
    return k / k.sum()


def vsharp(
    phase: np.ndarray,
    mask: np.ndarray,
    zooms: npt.ArrayLike,
    *,
    max_radius_mm: float = 12.0,
    min_radius_mm: float | None = None,
    n_radii: int = 8,
    threshold: float = 0.05,
) -> tuple[np.ndarray, np.ndarray]:
    """Local phase by variable-radius SHARP, and the mask where it is valid.

    Parameters
    ----------
    phase : numpy.ndarray
        Unwrapped total phase (any unit; the result has the same unit).
    mask : numpy.ndarray of bool
        Where the phase is reliable (the brain).
    zooms : sequence of float
        Voxel sizes (mm).
    max_radius_mm, min_radius_mm : float
        Largest and smallest sphere radius; ``min_radius_mm`` defaults to the largest voxel
        size (a sphere of at least the 6 nearest neighbours).
    n_radii : int
        Radii used, geometrically spaced between the two.
    threshold : float
        Truncation of the deconvolution: frequencies where ``|1 - S(k)| < threshold`` are
        set to zero.

    Returns
    -------
    local : numpy.ndarray of float32
        Background-free phase, zero outside ``valid``.
    valid : numpy.ndarray of bool
        The mask eroded by the smallest radius.
    """
    vs = np.asarray(zooms, dtype=float)
    m = np.asarray(mask, dtype=bool)
    r_min = float(vs.max()) if min_radius_mm is None else float(min_radius_mm)
    r_min = max(r_min, float(vs.max()))
    r_max = max(float(max_radius_mm), r_min)
    radii = np.unique(np.geomspace(r_min, r_max, max(int(n_radii), 1)))
    pad = np.ceil(r_max / vs).astype(int) + 1
    pshape = fast_shape(m.shape, pad)
    p_pad, inner = embed(np.where(m, phase, 0.0).astype(np.float32), pshape)
    m_pad, _ = embed(m.astype(np.float32), pshape)
    P = fft.rfftn(p_pad)
    M = fft.rfftn(m_pad)
    combined = np.zeros(pshape, dtype=np.float32)
    valid = np.zeros(pshape, dtype=bool)
    s_max = None
    for r in radii:  # ascending: a larger sphere that fits overwrites a smaller one
        S = fft.rfftn(sphere_kernel(pshape, vs, float(r)))
        inside = fft.irfftn(S * M, s=pshape) > 0.999
        hp = p_pad - fft.irfftn(S * P, s=pshape)
        combined[inside] = hp[inside]
        if r == radii[0]:
            valid = inside
        s_max = S
    assert s_max is not None
    kern = 1.0 - s_max
    inv = np.where(np.abs(kern) > threshold, 1.0 / np.where(kern == 0, 1.0, kern), 0.0)
    combined *= valid
    local = fft.irfftn(inv * fft.rfftn(combined), s=pshape) * valid
    return np.ascontiguousarray(local[inner], dtype=np.float32), np.ascontiguousarray(valid[inner])


def pdf(
    phase: np.ndarray,
    mask: np.ndarray,
    zooms: npt.ArrayLike,
    b0: npt.ArrayLike,
    *,
    weights: np.ndarray | None = None,
    n_iter: int = 40,
    tol: float = 1e-3,
    pad: float = 0.25,
) -> np.ndarray:
    """Local phase by projection onto dipole fields (sources outside ``mask``; B0 along ``b0``).

    Minimises ``|| W (phase - D * chi_out) ||^2`` inside the mask over susceptibility sources
    ``chi_out`` outside it (in the field of view and in a margin of ``pad`` of each dimension
    around it), by conjugate gradients on the normal equations. Returns ``phase - D * chi_out``
    inside the mask (zero outside).
    """
    vs = np.asarray(zooms, dtype=float)
    m = np.asarray(mask, dtype=bool)
    pshape = fast_shape(m.shape, [int(np.ceil(n * pad)) for n in m.shape])
    m_pad, inner = embed(m, pshape)
    out = ~m_pad
    w = np.ones(m.shape, np.float32) if weights is None else np.asarray(weights, np.float32)
    w_pad, _ = embed(np.where(m, w, 0.0).astype(np.float32), pshape)
    f_pad, _ = embed(np.where(m, phase, 0.0).astype(np.float32), pshape)
    D = dipole_kernel(pshape, vs, b0)

    def conv(x: np.ndarray) -> np.ndarray:
        return np.asarray(fft.irfftn(D * fft.rfftn(x), s=pshape), dtype=np.float32)

    def normal(x: np.ndarray) -> np.ndarray:  # A^T W^2 A, A = M D P_out
        return conv(w_pad**2 * conv(x * out)) * out

    b = conv(w_pad**2 * f_pad) * out
    x = np.zeros(pshape, np.float32)
    r = b.copy()
    p = r.copy()
    rr = float(np.vdot(r, r))
    r0 = np.sqrt(rr) if rr > 0 else 1.0
    for _ in range(int(n_iter)):
        if np.sqrt(rr) <= tol * r0:
            break
        ap = normal(p)
        alpha = rr / max(float(np.vdot(p, ap)), 1e-30)
        x += alpha * p
        r -= alpha * ap
        rr_new = float(np.vdot(r, r))
        p = r + (rr_new / rr) * p
        rr = rr_new
    local = (f_pad - conv(x * out)) * m_pad
    return np.ascontiguousarray(local[inner], dtype=np.float32)


def _hanning(n: int, v: float, window_mm: float) -> np.ndarray:
    """1-D Hanning window over the FFT frequencies of ``n`` samples of ``v`` mm, zero at 1/window_mm."""
    k = np.abs(np.fft.fftfreq(n, d=v))
    kc = 1.0 / window_mm
    return np.where(k < kc, 0.5 * (1.0 + np.cos(np.pi * k / kc)), 0.0)


def homodyne(
    phase_rad: np.ndarray,
    zooms: npt.ArrayLike,
    *,
    magnitude: np.ndarray | None = None,
    window_mm: float = 8.0,
    dims: int = 2,
    slice_axis: int = 2,
) -> np.ndarray:
    """High-pass phase by complex division with a k-space Hanning low-pass (SWI homodyne).

    ``angle(z / lowpass(z))`` with ``z = magnitude * exp(i phase)``; ``dims = 2`` filters each
    slice in-plane (as scanners do), ``dims = 3`` the whole volume. The Hanning window reaches
    zero at spatial frequency ``1 / window_mm``: on a 256 mm field of view, ``window_mm = 8``
    is the scanners' 64-sample window of a 256 matrix.
    """
    vs = np.asarray(zooms, dtype=float)
    amp = np.ones(phase_rad.shape, np.float32) if magnitude is None else magnitude
    z = np.asarray(amp, dtype=np.float32) * np.exp(1j * np.asarray(phase_rad, dtype=np.float32))
    axes = [a for a in range(3) if dims == 3 or a != slice_axis]
    Z = fft.fftn(z.astype(np.complex64), axes=axes)
    for a in axes:
        shape = [1, 1, 1]
        shape[a] = z.shape[a]
        Z *= _hanning(z.shape[a], float(vs[a]), window_mm).reshape(shape).astype(np.float32)
    low = fft.ifftn(Z, axes=axes)
    return np.angle(z * np.conj(low)).astype(np.float32)


def gaussian_highpass(
    phase: np.ndarray, mask: np.ndarray, zooms: npt.ArrayLike, sigma_mm: float = 10.0
) -> np.ndarray:
    """Phase minus its Gaussian low-pass normalised within the mask (zero outside)."""
    vs = np.asarray(zooms, dtype=float)
    m = np.asarray(mask, dtype=bool)
    sig = sigma_mm / vs
    p = np.where(m, phase, 0.0).astype(np.float32)
    num = ndimage.gaussian_filter(p, sig, mode="constant")
    den = ndimage.gaussian_filter(m.astype(np.float32), sig, mode="constant")
    return np.where(m, p - num / np.maximum(den, 1e-3), 0.0).astype(np.float32)


__all__ = ["sphere_kernel", "vsharp", "pdf", "homodyne", "gaussian_highpass"]
