"""The magnetic dipole kernel: forward field of a susceptibility map and its TKD inversion.

B0 is taken along the image's third (z) voxel axis. Pure numpy, no file access.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt


def _dipole_kernel(shape: tuple[int, ...], vs: np.ndarray) -> np.ndarray:
    k = np.meshgrid(*[np.fft.fftfreq(n, d=v) for n, v in zip(shape, vs, strict=True)], indexing="ij")
    k2 = k[0] ** 2 + k[1] ** 2 + k[2] ** 2
    with np.errstate(invalid="ignore", divide="ignore"):
        d = 1.0 / 3.0 - k[2] ** 2 / k2
    d[0, 0, 0] = 0.0
    return d


def dipole_field(chi: np.ndarray, voxel_size: npt.ArrayLike, pad: float = 0.5) -> np.ndarray:
    """Local field (ppm of B0) of a susceptibility map (ppm), B0 along the z axis.

    Uses the k-space dipole kernel ``D(k) = 1/3 - kz^2/|k|^2`` (Lorentz-sphere
    corrected) on a zero-padded grid; the mean is set to zero (``D(0) = 0``).

    Examples
    --------
    A uniform sphere has no field inside it (the Lorentz sphere cancels it).

    >>> import numpy as np
    >>> g = np.indices((32, 32, 32)) - 15.5
    >>> sphere = ((g ** 2).sum(0) < 36).astype(float)
    >>> f = dipole_field(sphere, (1, 1, 1))
    >>> bool(abs(f[16, 16, 16]) < 0.02)
    True
    """
    shape = chi.shape
    pshape = tuple(int(n + 2 * int(np.ceil(n * pad / 2))) for n in shape)
    padded = np.zeros(pshape, dtype=np.float64)
    o = tuple((p - n) // 2 for p, n in zip(pshape, shape, strict=True))
    inner = tuple(slice(a, a + n) for a, n in zip(o, shape, strict=True))
    padded[inner] = chi
    d = _dipole_kernel(pshape, np.asarray(voxel_size, dtype=float))
    f = np.fft.ifftn(d * np.fft.fftn(padded)).real
    return f[inner].astype(np.float32)


def tkd_inversion(field_ppm: np.ndarray, voxel_size: npt.ArrayLike, threshold: float = 0.2,
                  pad: float = 0.5) -> np.ndarray:
    """Thresholded k-space division: susceptibility (ppm) from a local field (ppm)."""
    shape = field_ppm.shape
    pshape = tuple(int(n + 2 * int(np.ceil(n * pad / 2))) for n in shape)
    padded = np.zeros(pshape, dtype=np.float64)
    o = tuple((p - n) // 2 for p, n in zip(pshape, shape, strict=True))
    inner = tuple(slice(a, a + n) for a, n in zip(o, shape, strict=True))
    padded[inner] = field_ppm
    d = _dipole_kernel(pshape, np.asarray(voxel_size, dtype=float))
    small = np.abs(d) < threshold
    d_inv = np.where(small, np.sign(d) / threshold, 1.0 / np.where(small, 1.0, d))
    d_inv[d == 0] = 0.0
    chi = np.fft.ifftn(d_inv * np.fft.fftn(padded)).real
    return chi[inner].astype(np.float32)


__all__ = ["dipole_field", "tkd_inversion"]
