"""Lesions, rims, veins and mimics of the MRI phantom (family A), drawn on supersampled patches.

Everything is drawn in the *grid frame*: millimetres along the voxel axes (voxel index times voxel
size), so the third voxel axis is the acquisition's slice normal whatever the grid's obliquity to
the scanner. Occupancies are averaged from ``ss`` sub-samples per voxel and axis (about 0.5 mm
apart), so thin rims and veins are partial-volumed as on a scanner.

Shape models (``SHAPES``): ``ellipsoid`` (axes within +-30 % of the mean radius), ``lobulated``
(an ellipsoid with 2-5 Gaussian bumps of its radius), ``dawson`` (a thin ovoid, 2.5-4 times longer
than wide: a Dawson finger), ``confluent`` (two overlapping ellipsoids, one label), all in a random
orientation. A rim is the lesion's inner shell of the given thickness (a Euclidean distance on the
sub-sample grid, so it is exact for every shape) over an azimuthal arc about the slice normal.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage

SHAPES = ("ellipsoid", "lobulated", "dawson", "confluent")

#: Sub-sample spacing (mm) aimed at: ``ss = ceil(voxel / SUBSAMPLE_MM)`` per axis, at most 4.
SUBSAMPLE_MM = 0.5


def subsamples(vs: np.ndarray) -> np.ndarray:
    """Sub-samples per voxel along each axis (1-4, about 0.5 mm apart)."""
    return np.minimum(4, np.maximum(1, np.ceil(np.asarray(vs) / SUBSAMPLE_MM - 1e-9))).astype(int)


@dataclass
class Patch:
    """A box of the grid and the frame coordinates (mm, relative to ``center``) of its sub-samples."""

    sl: tuple[slice, ...]
    ss: np.ndarray
    rel: np.ndarray  # (3, nx*ssx, ny*ssy, nz*ssz)
    step: np.ndarray  # sub-sample spacing per axis (mm)

    def mean(self, a: np.ndarray) -> np.ndarray:
        """Block mean of a sub-sample array to voxels."""
        return block_mean(a, self.ss)


def patch(center: np.ndarray, extent_mm: float, vs: np.ndarray, shape: tuple[int, ...]) -> Patch:
    """Voxel box around ``center`` (frame mm) reaching ``extent_mm`` in every direction."""
    ss = subsamples(vs)
    c_vox = center / vs
    half = np.ceil(extent_mm / vs).astype(int) + 1
    lo = np.maximum(np.floor(c_vox).astype(int) - half, 0)
    hi = np.minimum(np.floor(c_vox).astype(int) + half + 1, shape)
    sl = tuple(slice(int(a), int(b)) for a, b in zip(lo, hi, strict=True))
    axes = []
    for a, b, v, s, c in zip(lo, hi, vs, ss, center, strict=True):
        offs = (np.arange(s) + 0.5) / s - 0.5
        axes.append((np.arange(a, b)[:, None] + offs[None, :]).ravel() * v - c)
    rel = np.stack(np.meshgrid(*axes, indexing="ij"))
    return Patch(sl=sl, ss=ss, rel=rel, step=vs / ss)


def block_mean(a: np.ndarray, ss: np.ndarray) -> np.ndarray:
    """Mean over blocks of ``ss`` sub-samples per axis."""
    s = a.shape
    if tuple(ss) == (1, 1, 1):
        return np.asarray(a, dtype=np.float32)
    r = a.reshape(s[0] // ss[0], ss[0], s[1] // ss[1], ss[1], s[2] // ss[2], ss[2])
    return np.asarray(r.mean(axis=(1, 3, 5)), dtype=np.float32)


def random_rotation(rng: np.random.Generator) -> np.ndarray:
    """A uniformly random rotation matrix."""
    q, r = np.linalg.qr(rng.normal(size=(3, 3)))
    q *= np.sign(np.diag(r))
    if np.linalg.det(q) < 0:
        q[:, 0] *= -1
    return q


def unit(v: np.ndarray) -> np.ndarray:
    return np.asarray(v, float) / float(np.linalg.norm(v))


@dataclass
class Shape:
    """A lesion shape: an implicit function (<= 1 inside) and its largest extent (mm)."""

    kind: str
    parts: list[tuple[np.ndarray, np.ndarray, np.ndarray]]  # (offset, semi-axes, rotation)
    bumps: list[tuple[np.ndarray, float, float]]  # (direction, amplitude, width)
    extent: float

    @property
    def min_radius(self) -> float:
        """Smallest semi-axis of its parts (mm): a rim must leave a core."""
        return float(min(a.min() for _, a, _ in self.parts))

    def rho(self, rel: np.ndarray) -> np.ndarray:
        """Normalised radius: < 1 inside the lesion."""
        out = None
        for off, axes, rot in self.parts:
            loc = np.tensordot(rot.T, rel - off.reshape(3, *([1] * (rel.ndim - 1))), axes=1)
            r = np.sqrt(sum((loc[j] / axes[j]) ** 2 for j in range(3)))
            if self.bumps:
                n = np.sqrt((loc**2).sum(axis=0)) + 1e-9
                mod = np.ones_like(r)
                for d, amp, w in self.bumps:
                    cosang = np.tensordot(rot.T @ d, loc, axes=1) / n
                    mod += amp * np.exp(-(1.0 - cosang) / w)
                r = r / mod
            out = r if out is None else np.minimum(out, r)
        assert out is not None
        return out


def draw_shape(rng: np.random.Generator, kind: str, radius: float) -> Shape:
    """A random shape of equivalent radius about ``radius`` mm (see module docstring)."""
    if kind == "ellipsoid" or kind == "lobulated":
        axes = radius * rng.uniform(0.7, 1.3, 3)
        axes *= radius / np.cbrt(np.prod(axes))
        bumps = []
        if kind == "lobulated":
            for _ in range(int(rng.integers(2, 6))):
                bumps.append((unit(rng.normal(size=3)), float(rng.uniform(0.15, 0.4)), 0.15))
            axes *= 0.85  # bumps add volume
        return Shape(kind, [(np.zeros(3), axes, random_rotation(rng))], bumps, 1.45 * axes.max())
    if kind == "dawson":
        ratio = rng.uniform(2.5, 4.0)
        w = radius / np.cbrt(ratio)  # equal volume to a sphere of ``radius``
        axes = np.array([w * ratio, w * rng.uniform(0.8, 1.0), w])
        return Shape(kind, [(np.zeros(3), axes, random_rotation(rng))], [], float(axes.max()) + 0.5)
    if kind == "confluent":
        r1, r2 = radius * rng.uniform(0.65, 0.85), radius * rng.uniform(0.5, 0.8)
        d = unit(rng.normal(size=3)) * (r1 + r2) * rng.uniform(0.6, 0.9)
        parts = []
        for off, r in ((-d * r2 / (r1 + r2), r1), (d * r1 / (r1 + r2), r2)):
            axes = r * rng.uniform(0.8, 1.2, 3)
            axes *= r / np.cbrt(np.prod(axes))
            parts.append((off, axes, random_rotation(rng)))
        ext = max(float(np.linalg.norm(o)) + float(a.max()) for o, a, _ in parts) + 0.5
        return Shape(kind, parts, [], ext)
    raise ValueError(f"unknown lesion shape {kind!r}; expected one of {SHAPES}")


def inner_distance(inside: np.ndarray, step: np.ndarray) -> np.ndarray:
    """Distance (mm) of each inside sub-sample to the lesion's edge (0 outside)."""
    return np.asarray(
        ndimage.distance_transform_edt(np.pad(inside, 1), sampling=step)[1:-1, 1:-1, 1:-1]
    )


def azimuth(rel: np.ndarray) -> np.ndarray:
    """Angle about the slice normal (the third grid axis) of frame coordinates."""
    return np.asarray(np.arctan2(rel[1], rel[0]))


def arc_mask(phi: np.ndarray, arcs: list[tuple[float, float]]) -> np.ndarray:
    """Sub-samples whose azimuth lies in one of the arcs (centre, half-width in radians)."""
    m = np.zeros(phi.shape, bool)
    for c, hw in arcs:
        m |= np.abs(np.angle(np.exp(1j * (phi - c)))) <= hw
    return m


def draw_rim_arcs(
    rng: np.random.Generator, coverage: float, gaps: int
) -> tuple[list[tuple[float, float]], float]:
    """Arcs covering ``coverage`` of the circle, split by ``gaps`` gaps; returns (arcs, net coverage).

    The arc starts at a random angle; each gap (10-30 degrees) is cut out of it, so the net
    coverage is ``coverage`` minus the gaps.
    """
    start = rng.uniform(-np.pi, np.pi)
    total = coverage * 2 * np.pi
    if gaps <= 0:
        return [(start + total / 2, total / 2)], coverage
    gap_w = rng.uniform(np.radians(10), np.radians(30), gaps)
    cuts = np.sort(rng.uniform(0.1, 0.9, gaps)) * total
    arcs = []
    a = 0.0
    for c, g in zip(cuts, gap_w, strict=True):
        b = max(a, c - g / 2)
        if b > a:
            arcs.append((start + (a + b) / 2, (b - a) / 2))
        a = c + g / 2
    if total > a:
        arcs.append((start + (a + total) / 2, (total - a) / 2))
    net = sum(2 * hw for _, hw in arcs) / (2 * np.pi)
    return arcs, float(net)


def segment_distance(rel: np.ndarray, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Distance (mm) of points ``rel`` (3, ...) to the segment ``a``-``b``."""
    ab = b - a
    t = sum((rel[i] - a[i]) * ab[i] for i in range(3)) / float(ab @ ab)
    t = np.clip(t, 0.0, 1.0)
    return np.asarray(np.sqrt(sum((rel[i] - (a[i] + t * ab[i])) ** 2 for i in range(3))))


def draw_vein(
    chi: np.ndarray,
    vs: np.ndarray,
    a: np.ndarray,
    b: np.ndarray,
    radius: float,
    value: float,
) -> None:
    """Add a straight vein (a cylinder of ``radius`` mm from ``a`` to ``b``, frame mm) to ``chi``."""
    center = (a + b) / 2
    extent = float(np.linalg.norm(b - a) / 2 + radius + 1)
    p = patch(center, extent, vs, chi.shape)
    occ = p.mean(segment_distance(p.rel, a - center, b - center) <= radius)
    chi[p.sl] += value * occ


def surface_point(
    rng: np.random.Generator, inside: np.ndarray, rel: np.ndarray, step: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """A random point on the lesion's surface and its outward normal (frame mm, patch-relative)."""
    edge = inside & ~ndimage.binary_erosion(inside)
    idx = np.argwhere(edge)
    i = idx[rng.integers(len(idx))]
    smooth = ndimage.gaussian_filter(inside.astype(np.float32), 1.0 / step.clip(min=1e-3) * 0.7)
    g = np.array([np.gradient(smooth, axis=j)[tuple(i)] / step[j] for j in range(3)])
    normal = unit(-g) if np.linalg.norm(g) > 0 else unit(rng.normal(size=3))
    return rel[(slice(None), *i)], normal


__all__ = [
    "SHAPES",
    "Patch",
    "Shape",
    "patch",
    "block_mean",
    "subsamples",
    "random_rotation",
    "draw_shape",
    "inner_distance",
    "azimuth",
    "arc_mask",
    "draw_rim_arcs",
    "segment_distance",
    "draw_vein",
    "surface_point",
]
