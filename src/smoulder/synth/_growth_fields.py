"""Deformation fields and lesion shapes of the held-out SEL phantom family (:mod:`.sel_growth_phantom`).

Every map here is written as a *forward* map of anatomy points and its *inverse*, evaluated on
arrays of points of shape ``(3, N)`` in mm (MNI space). The renderer pulls each output voxel back
through the inverses, so the images are exact samples of the deformed anatomy (no forward splatting).

- :class:`StarShape`: a star-shaped lesion, boundary radius ``rho(n)`` per direction ``n``
  (sphere, ovoid, lobulated); its exact volume by quadrature.
- :func:`push_inverse`: a lesion that grows by pushing the surrounding tissue outward. Inside,
  a uniform dilation by ``g^(1/3)`` (volume x ``g``); outside, each ray is mapped by
  ``r'^3 = r^3 + (g - 1) rho^3`` (volume preserving, Jacobian 1, displacement decaying as
  ``1/r^2``) or, ``compressive``, by an exponentially decaying push that compresses the nearby
  tissue (Jacobian < 1 outside the edge).
- :func:`radial_inverse`: the same incompressible exterior for the ventricles (tissue moves, no
  volume changes outside them).
- :class:`CurlField`: a smooth divergence-free distortion (curl of Gaussian vector potentials):
  non-rigid motion without volume change to first order.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

#: Quadrature directions on the unit sphere (Fibonacci lattice): exact volumes of star shapes.
_N_DIRS = 6000


def fibonacci_sphere(n: int = _N_DIRS) -> np.ndarray:
    """``n`` nearly uniform unit vectors, shape ``(3, n)``."""
    k = np.arange(n) + 0.5
    z = 1.0 - 2.0 * k / n
    phi = np.pi * (1.0 + 5**0.5) * k
    s = np.sqrt(1.0 - z * z)
    return np.stack([s * np.cos(phi), s * np.sin(phi), z])


@dataclass
class StarShape:
    """A lesion whose boundary is ``center + rho(n) n`` (``n`` a unit direction).

    ``axes`` and ``rot`` give an ellipsoid (``rot`` columns are its axes in mm space); ``lobes``
    (directions ``(3, K)``), ``lobe_amp`` and ``lobe_width`` add bumps
    ``rho *= 1 + sum_k a_k exp((n . d_k - 1) / w)``.
    """

    center: np.ndarray
    axes: np.ndarray
    rot: np.ndarray
    lobes: np.ndarray | None = None
    lobe_amp: np.ndarray | None = None
    lobe_width: float = 0.1

    def rho(self, n: np.ndarray) -> np.ndarray:
        """Boundary radius along unit directions ``n`` (3, N)."""
        loc = self.rot.T @ n
        r = 1.0 / np.sqrt(((loc / self.axes[:, None]) ** 2).sum(axis=0))
        if self.lobes is not None and self.lobe_amp is not None:
            bump = np.exp((self.lobes.T @ n - 1.0) / self.lobe_width)  # (K, N)
            r = r * (1.0 + (self.lobe_amp[:, None] * bump).sum(axis=0))
        return r

    def volume(self) -> float:
        """Exact volume ``(1/3) integral rho^3 dOmega`` (mm^3)."""
        d = fibonacci_sphere()
        return float(4.0 * np.pi / 3.0 * np.mean(self.rho(d) ** 3))

    def polar(self, pts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Distance from the centre and unit direction of points (3, N)."""
        rel = pts - self.center[:, None]
        r = np.sqrt((rel**2).sum(axis=0))
        n = rel / np.maximum(r, 1e-9)
        n[:, r < 1e-9] = np.array([[0.0], [0.0], [1.0]])
        return r, n


def _blend(r: np.ndarray, rho: np.ndarray, reach: float) -> np.ndarray:
    """1 up to ``reach`` boundary radii, smoothly 0 by ``1.5 reach`` (keeps the fields local)."""
    x = np.clip((r / np.maximum(rho, 1e-6) - reach) / (0.5 * reach), 0.0, 1.0)
    return 1.0 - x * x * (3.0 - 2.0 * x)


def push_inverse(
    shape: StarShape,
    g: float,
    pts: np.ndarray,
    *,
    compressive: bool = False,
    decay_mm: float = 1.5,
    reach: float = 6.0,
) -> np.ndarray:
    """Anatomy points that the growth of ``shape`` by volume factor ``g`` moves to ``pts``.

    The forward map dilates the lesion by ``g^(1/3)`` about its centre and pushes the exterior
    outward along each ray: volume preserving (``r'^3 = r^3 + (g - 1) rho^3``) or, with
    ``compressive``, ``r' = r + D exp(-(r - rho) / decay_mm)`` with ``D = rho (g^(1/3) - 1)``.
    Beyond ``reach`` boundary radii the push fades out (displacement there < 0.3 % of ``D``).
    """
    if g == 1.0:
        return pts
    r1, n = shape.polar(pts)
    rho = shape.rho(n)
    s = g ** (1.0 / 3.0)
    inside = r1 <= rho * s
    r0 = np.empty_like(r1)
    r0[inside] = r1[inside] / s
    out = ~inside
    if compressive:
        d = rho[out] * (s - 1.0)
        lam = np.maximum(decay_mm, 2.0 * np.abs(d))  # keeps the forward map monotonic
        x = r1[out] - d  # fixed point of r = r1 - d exp(-(r - rho)/lam)
        for _ in range(40):
            x = r1[out] - d * np.exp(-(x - rho[out]) / lam)
        r0[out] = np.maximum(x, rho[out])
    else:
        r0[out] = np.cbrt(np.maximum(r1[out] ** 3 - (g - 1.0) * rho[out] ** 3, 0.0))
    w = _blend(r1, rho, reach)
    r0 = r1 + w * (r0 - r1)
    return shape.center[:, None] + n * r0[None, :]


def radial_inverse(center: np.ndarray, radius: float, g: float, pts: np.ndarray) -> np.ndarray:
    """Inverse of a sphere of ``radius`` growing by volume factor ``g`` with an incompressible exterior."""
    if g == 1.0:
        return pts
    rel = pts - center[:, None]
    r1 = np.sqrt((rel**2).sum(axis=0))
    n = rel / np.maximum(r1, 1e-9)
    s = g ** (1.0 / 3.0)
    r0 = np.where(
        r1 <= radius * s,
        r1 / s,
        np.cbrt(np.maximum(r1**3 - (g - 1.0) * radius**3, 0.0)),
    )
    return center[:, None] + n * r0[None, :]


@dataclass
class CurlField:
    """``u(x) = sum_k grad(phi_k(x)) x e_k`` with Gaussian ``phi_k``: divergence free, smooth."""

    centers: np.ndarray  # (3, K)
    dirs: np.ndarray  # (3, K)
    amp: np.ndarray  # (K,) mm
    width: float  # mm

    def __call__(self, pts: np.ndarray, scale: float = 1.0) -> np.ndarray:
        u = np.zeros_like(pts)
        if scale == 0.0:
            return u
        for k in range(self.centers.shape[1]):
            rel = pts - self.centers[:, k : k + 1]
            phi = np.exp(-(rel**2).sum(axis=0) / (2 * self.width**2))
            grad = -rel / self.width**2 * phi  # (3, N)
            # amplitude: max |grad phi| is exp(-1/2)/width; normalise to amp mm
            u += np.cross(grad.T, self.dirs[:, k]).T * (self.amp[k] * scale * self.width / 0.6065)
        return u

    def inverse(self, pts: np.ndarray, scale: float) -> np.ndarray:
        """Points ``x`` with ``x + u(x) = pts`` (fixed-point iteration; |grad u| << 1)."""
        x = pts.copy()
        for _ in range(4):
            x = pts - self(x, scale)
        return x


__all__ = ["StarShape", "CurlField", "push_inverse", "radial_inverse", "fibonacci_sphere"]
