"""Fields and geometry shared by the raw-phase steps: wrapping, B0 direction, dipole kernel.

B0 points along the scanner's bore, the world z axis of the image affine (NIfTI scanner
coordinates, RAS). In an oblique acquisition it is *not* along a voxel axis, so the dipole
kernel here takes B0 as any unit vector in the voxel-axis frame, from :func:`b0_direction`.
Pure numpy / scipy; no file access.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
from scipy import fft

from smoulder.exceptions import InputDataError

#: Proton gyromagnetic ratio / 2 pi, MHz per tesla.
GAMMA_MHZ_PER_T = 42.577478


def rad_per_ppm(field_strength_t: float, echo_time_ms: float) -> float:
    """Phase (radians) accrued per ppm of field offset: ``2 pi * gamma * B0 * TE``.

    >>> round(rad_per_ppm(3.0, 20.0), 2)
    16.05
    """
    return 2.0 * np.pi * GAMMA_MHZ_PER_T * field_strength_t * echo_time_ms * 1e-3


def wrap(x: npt.ArrayLike) -> np.ndarray:
    """Wrap angles (radians) into [-pi, pi].

    >>> float(wrap(3 * np.pi / 2))
    -1.5707963267948966
    """
    a = np.asarray(x)
    return a - (2.0 * np.pi) * np.round(a / (2.0 * np.pi))


def voxel_sizes(affine: npt.ArrayLike) -> np.ndarray:
    """Voxel sizes (mm): the column norms of the affine."""
    a = np.asarray(affine, dtype=float)
    return np.sqrt((a[:3, :3] ** 2).sum(axis=0))


def b0_direction(affine: npt.ArrayLike) -> np.ndarray:
    """Unit vector of B0 (world z) expressed along the voxel axes of ``affine``.

    Component ``i`` is the cosine of the angle between voxel axis ``i`` and the scanner's
    z axis. For an axial acquisition stored axis-aligned it is ``(0, 0, +-1)``; for a
    slab tilted by 20 degrees about the left-right axis it is ``(0, +-0.34, +-0.94)``.

    Raises
    ------
    InputDataError
        When the affine is singular or its axes are not orthogonal (a sheared grid).

    Examples
    --------
    >>> import numpy as np
    >>> t = np.deg2rad(30)
    >>> aff = np.eye(4)
    >>> aff[1:3, 1:3] = [[np.cos(t), -np.sin(t)], [np.sin(t), np.cos(t)]]
    >>> np.round(b0_direction(aff), 3).tolist()
    [0.0, 0.5, 0.866]
    """
    a = np.asarray(affine, dtype=float)
    if a.shape != (4, 4) or not np.all(np.isfinite(a)):
        raise InputDataError(
            "the image affine is not a finite 4 x 4 matrix", expected="a valid NIfTI affine"
        )
    zooms = voxel_sizes(a)
    if np.any(zooms <= 0):
        raise InputDataError("the image affine is singular", expected="a valid NIfTI affine")
    u = a[:3, :3] / zooms
    gram = u.T @ u
    if np.max(np.abs(gram - np.eye(3))) > 1e-3:
        raise InputDataError(
            "the image grid is sheared (its voxel axes are not at right angles)",
            expected="an image whose voxel axes are orthogonal (reslice or convert without "
            "gantry-tilt shear)",
        )
    b = u[2, :].copy()
    return b / np.linalg.norm(b)


def b0_tilt_deg(affine: npt.ArrayLike) -> float:
    """Angle (degrees) between B0 and the voxel axis closest to it."""
    b = np.abs(b0_direction(affine))
    return float(np.degrees(np.arccos(np.clip(b.max(), -1.0, 1.0))))


def fast_shape(shape: tuple[int, ...], pad_vox: npt.ArrayLike) -> tuple[int, ...]:
    """Grid of at least ``shape + 2 * pad`` voxels per axis whose FFT is fast."""
    p = np.broadcast_to(np.asarray(pad_vox, dtype=int), (len(shape),))
    return tuple(
        fft.next_fast_len(int(n + 2 * q), real=True) for n, q in zip(shape, p, strict=True)
    )


def embed(a: np.ndarray, shape: tuple[int, ...]) -> tuple[np.ndarray, tuple[slice, ...]]:
    """``a`` centred in a zero array of ``shape``; returns it and the slices of ``a`` in it."""
    out = np.zeros(shape, dtype=a.dtype)
    o = [(p - n) // 2 for p, n in zip(shape, a.shape, strict=True)]
    inner = tuple(slice(s, s + n) for s, n in zip(o, a.shape, strict=True))
    out[inner] = a
    return out, inner


def kspace(shape: tuple[int, ...], zooms: npt.ArrayLike) -> list[np.ndarray]:
    """Spatial frequencies (cycles/mm) along each voxel axis on the ``rfftn`` half grid (sparse)."""
    vs = np.asarray(zooms, dtype=float)
    freqs = [np.fft.fftfreq(n, d=v) for n, v in zip(shape[:-1], vs[:-1], strict=True)]
    freqs.append(np.fft.rfftfreq(shape[-1], d=vs[-1]))
    return list(np.meshgrid(*freqs, indexing="ij", sparse=True))


def dipole_kernel(shape: tuple[int, ...], zooms: npt.ArrayLike, b0: npt.ArrayLike) -> np.ndarray:
    """``D(k) = 1/3 - (k . b0)^2 / |k|^2`` on the ``rfftn`` half grid; ``D(0) = 0``.

    ``b0`` is the unit B0 vector in the voxel-axis frame (:func:`b0_direction`); the voxel
    axes are orthogonal, so ``|k|^2`` is the sum of the squared frequencies along them.

    On an even grid the Nyquist frequency stands for both ``+k`` and ``-k``; with B0 oblique,
    ``(k . b0)^2`` differs between the two, and taking one of them makes the kernel
    non-Hermitian (a real field would get a spurious high-frequency part). The kernel is
    therefore averaged over both signs of every Nyquist component, which drops the cross
    terms ``k_i k_j b_i b_j`` that involve one.
    """
    k = kspace(shape, zooms)
    b = np.asarray(b0, dtype=float)
    b = b / np.linalg.norm(b)
    k2 = k[0] ** 2 + k[1] ** 2 + k[2] ** 2
    kc = []  # components with the Nyquist entries zeroed, for the cross terms
    for ax, (n, ka) in enumerate(zip(shape, k, strict=True)):
        kk = np.array(ka, copy=True)
        if n % 2 == 0:
            flat = kk.reshape(-1)
            nyq = n // 2 if ax < 2 else flat.size - 1
            flat[nyq] = 0.0
        kc.append(kk)
    kb2 = (
        (k[0] * b[0]) ** 2
        + (k[1] * b[1]) ** 2
        + (k[2] * b[2]) ** 2
        + 2
        * (kc[0] * kc[1] * b[0] * b[1] + kc[0] * kc[2] * b[0] * b[2] + kc[1] * kc[2] * b[1] * b[2])
    )
    with np.errstate(invalid="ignore", divide="ignore"):
        d = 1.0 / 3.0 - kb2 / k2
    d[0, 0, 0] = 0.0
    return d.astype(np.float32)


def dipole_convolve(
    chi: np.ndarray, zooms: npt.ArrayLike, b0: npt.ArrayLike, pad: float = 0.5
) -> np.ndarray:
    """Field (ppm of B0) of a susceptibility map (ppm) with B0 along ``b0`` (voxel frame).

    The map is zero-padded by ``pad`` of each dimension so that the circular convolution
    does not fold fields back in. For ``b0 = (0, 0, 1)`` this equals
    :func:`smoulder.imaging.dipole.dipole_field`.
    """
    chi = np.asarray(chi, dtype=np.float32)
    pshape = fast_shape(chi.shape, [int(np.ceil(n * pad / 2)) for n in chi.shape])
    padded, inner = embed(chi, pshape)
    d = dipole_kernel(pshape, zooms, b0)
    f = fft.irfftn(d * fft.rfftn(padded), s=pshape, axes=(0, 1, 2))
    return np.ascontiguousarray(f[inner], dtype=np.float32)


def tkd(
    field: np.ndarray,
    zooms: npt.ArrayLike,
    b0: npt.ArrayLike,
    threshold: float = 0.2,
    pad: float = 0.5,
) -> np.ndarray:
    """Thresholded k-space division with B0 along ``b0`` (voxel frame): susceptibility from field.

    As :func:`smoulder.imaging.dipole.tkd_inversion` (``|D| < threshold`` replaced by
    ``sign(D) * threshold``), for B0 in any direction, so oblique slabs are inverted about
    the scanner's B0 rather than the nearest voxel axis.
    """
    f = np.asarray(field, dtype=np.float32)
    pshape = fast_shape(f.shape, [int(np.ceil(n * pad / 2)) for n in f.shape])
    padded, inner = embed(f, pshape)
    d = dipole_kernel(pshape, zooms, b0)
    small = np.abs(d) < threshold
    d_inv = np.where(small, np.sign(d) / threshold, 1.0 / np.where(small, 1.0, d))
    d_inv[d == 0] = 0.0
    chi = fft.irfftn(d_inv.astype(np.float32) * fft.rfftn(padded), s=pshape, axes=(0, 1, 2))
    return np.ascontiguousarray(chi[inner], dtype=np.float32)


__all__ = [
    "tkd",
    "GAMMA_MHZ_PER_T",
    "rad_per_ppm",
    "wrap",
    "voxel_sizes",
    "b0_direction",
    "b0_tilt_deg",
    "dipole_kernel",
    "dipole_convolve",
]
