"""The magnetic dipole kernel: forward field of a susceptibility map and its TKD inversion.

B0 is a direction in the frame of the voxel axes: either one voxel axis (``b0_axis``, default the
third: images acquired axially and stored axis-aligned) or any unit vector (``b0_direction``), which
:func:`b0_direction` derives from an image's affine (the scanner's z axis in world coordinates,
expressed along the voxel axes), so oblique acquisitions get the kernel of their real field
direction. Pure numpy, no file access; real FFTs on a zero-padded grid.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt


def b0_direction(affine: npt.ArrayLike) -> np.ndarray:
    """Unit vector of B0 (world/scanner z) in the frame of the voxel axes of ``affine``.

    NIfTI world coordinates are scanner coordinates (RAS), whose z axis is the magnet's bore, so
    B0 = (0, 0, 1) in world space. Along voxel axis ``j`` (unit vector ``a_j / |a_j|``, ``a_j`` the
    affine's column) its component is ``a_zj / |a_j|``. A sheared affine is first replaced by its
    nearest orthogonal matrix (polar decomposition).

    Examples
    --------
    >>> import numpy as np
    >>> b0_direction(np.diag([2.0, 2.0, 3.0, 1.0])).round(3).tolist()
    [0.0, 0.0, 1.0]
    >>> c, s = np.cos(np.pi / 6), np.sin(np.pi / 6)  # grid tilted 30 degrees about x
    >>> a = np.eye(4)
    >>> a[1:3, 1:3] = [[c, -s], [s, c]]
    >>> b0_direction(a).round(3).tolist()
    [0.0, 0.5, 0.866]
    """
    a = np.asarray(affine, dtype=float)[:3, :3]
    u, _, vt = np.linalg.svd(a)
    r = u @ vt  # orthonormal voxel-axis directions as columns
    b = r.T @ np.array([0.0, 0.0, 1.0])
    return np.asarray(b / np.linalg.norm(b), dtype=float)


def _b0_vector(b0_axis: int, b0_dir: npt.ArrayLike | None) -> np.ndarray:
    if b0_dir is None:
        v = np.zeros(3)
        v[b0_axis] = 1.0
        return v
    v = np.asarray(b0_dir, dtype=float).reshape(3)
    n = float(np.linalg.norm(v))
    if not n > 0:
        raise ValueError("b0_direction must be a non-zero 3-vector")
    return v / n


def _dipole_kernel(
    shape: tuple[int, ...], vs: np.ndarray, b0_axis: int = 2, b0_dir: npt.ArrayLike | None = None
) -> np.ndarray:
    """``D(k) = 1/3 - (k.b)^2/|k|^2`` on the half-spectrum grid of ``numpy.fft.rfftn``."""
    freqs = [np.fft.fftfreq(n, d=v) for n, v in zip(shape[:-1], vs[:-1], strict=True)]
    freqs.append(np.fft.rfftfreq(shape[-1], d=vs[-1]))
    k = np.meshgrid(*freqs, indexing="ij", sparse=True)
    k2 = k[0] ** 2 + k[1] ** 2 + k[2] ** 2
    b = _b0_vector(b0_axis, b0_dir)
    kb = sum(k[j] * b[j] for j in range(3) if b[j] != 0.0)
    with np.errstate(invalid="ignore", divide="ignore"):
        d = 1.0 / 3.0 - kb**2 / k2
    d[0, 0, 0] = 0.0
    return np.asarray(d)


def _padded(a: np.ndarray, pad: float) -> tuple[np.ndarray, tuple[slice, ...]]:
    shape = a.shape
    pshape = tuple(int(n + 2 * int(np.ceil(n * pad / 2))) for n in shape)
    out = np.zeros(pshape, dtype=np.float64)
    o = tuple((p - n) // 2 for p, n in zip(pshape, shape, strict=True))
    inner = tuple(slice(s, s + n) for s, n in zip(o, shape, strict=True))
    out[inner] = a
    return out, inner


def dipole_field(
    chi: np.ndarray,
    voxel_size: npt.ArrayLike,
    pad: float = 0.5,
    b0_axis: int = 2,
    b0_direction: npt.ArrayLike | None = None,
) -> np.ndarray:
    """Local field (ppm of B0) of a susceptibility map (ppm), B0 along voxel axis ``b0_axis``.

    Uses the k-space dipole kernel ``D(k) = 1/3 - kz^2/|k|^2`` (Lorentz-sphere
    corrected) on a grid zero-padded by ``pad`` of each dimension; the mean is
    set to zero (``D(0) = 0``).

    Parameters
    ----------
    chi : numpy.ndarray
        Susceptibility (ppm).
    voxel_size : sequence of float
        Voxel sizes in mm.
    pad : float
        Zero padding, as a fraction of each dimension.
    b0_axis : int
        Voxel axis along B0 (used when ``b0_direction`` is None).
    b0_direction : sequence of 3 floats, optional
        B0 as a vector along the voxel axes (e.g. :func:`b0_direction` of the affine).

    Returns
    -------
    numpy.ndarray of float32
        Local field in ppm of B0.

    Examples
    --------
    A uniform sphere has no field inside it (the Lorentz sphere cancels it).

    >>> import numpy as np
    >>> g = np.indices((32, 32, 32)) - 15.5
    >>> sphere = ((g**2).sum(0) < 36).astype(float)
    >>> f = dipole_field(sphere, (1, 1, 1))
    >>> bool(abs(f[16, 16, 16]) < 0.02)
    True
    """
    padded, inner = _padded(np.asarray(chi), pad)
    d = _dipole_kernel(padded.shape, np.asarray(voxel_size, dtype=float), b0_axis, b0_direction)
    f = np.fft.irfftn(d * np.fft.rfftn(padded), s=padded.shape, axes=(0, 1, 2))
    return f[inner].astype(np.float32)


def tkd_inversion(
    field_ppm: np.ndarray,
    voxel_size: npt.ArrayLike,
    threshold: float = 0.2,
    pad: float = 0.5,
    b0_axis: int = 2,
    b0_direction: npt.ArrayLike | None = None,
) -> np.ndarray:
    """Thresholded k-space division: susceptibility (ppm) from a local field (ppm).

    Where ``|D(k)| < threshold`` the kernel is replaced by ``sign(D) * threshold``
    (TKD, Shmueli et al. 2009); the result is slightly underestimated and has
    mild streaks, which is fine for finding rims.

    Parameters
    ----------
    field_ppm : numpy.ndarray
        Local field (ppm of B0).
    voxel_size : sequence of float
        Voxel sizes in mm.
    threshold : float
        Smallest kernel magnitude divided by.
    pad : float
        Zero padding, as a fraction of each dimension.
    b0_axis : int
        Voxel axis along B0 (used when ``b0_direction`` is None).
    b0_direction : sequence of 3 floats, optional
        B0 as a vector along the voxel axes (e.g. :func:`b0_direction` of the affine).

    Returns
    -------
    numpy.ndarray of float32
        Susceptibility estimate (ppm).
    """
    padded, inner = _padded(np.asarray(field_ppm), pad)
    d = _dipole_kernel(padded.shape, np.asarray(voxel_size, dtype=float), b0_axis, b0_direction)
    small = np.abs(d) < threshold
    d_inv = np.where(small, np.sign(d) / threshold, 1.0 / np.where(small, 1.0, d))
    d_inv[d == 0] = 0.0
    chi = np.fft.irfftn(d_inv * np.fft.rfftn(padded), s=padded.shape, axes=(0, 1, 2))
    return chi[inner].astype(np.float32)


__all__ = ["b0_direction", "dipole_field", "tkd_inversion"]
