"""Building blocks of phantom family B (:mod:`smoulder.synth.mri_heldout`).

Tissue templates, rotations, the fine simulation grid, metaball lesions, tubes for veins, the
dipole field on the fine grid, the SWI homodyne filter, SHARP background removal, the closed-form
L2 dipole inversion and the truth coverage measured on acquisition slices. Written independently
of family A (:mod:`smoulder.synth.mri`): no code is shared with it or with the PRL engine.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
from scipy import ndimage


@lru_cache(maxsize=1)
def _mni() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    from nilearn import datasets

    gm = datasets.load_mni152_gm_template(resolution=1)
    wm = datasets.load_mni152_wm_template(resolution=1)
    return (
        np.asarray(gm.dataobj, np.float32),
        np.asarray(wm.dataobj, np.float32),
        np.asarray(datasets.load_mni152_brain_mask(resolution=1).dataobj, np.float32),
        np.asarray(gm.affine, float),
    )


def _rot(rng: np.random.Generator, max_deg: float) -> np.ndarray:
    """Rotation by a uniform angle in [0, max_deg] about a random axis."""
    ax = rng.normal(size=3)
    ax /= np.linalg.norm(ax)
    t = np.radians(rng.uniform(0, max_deg))
    k = np.array([[0, -ax[2], ax[1]], [ax[2], 0, -ax[0]], [-ax[1], ax[0], 0]])
    return np.asarray(np.eye(3) + np.sin(t) * k + (1 - np.cos(t)) * (k @ k))


def _any_rot(rng: np.random.Generator) -> np.ndarray:
    a = rng.normal(size=4)
    w, x, y, z = a / np.linalg.norm(a)
    return np.array(
        [
            [1 - 2 * (y * y + z * z), 2 * (x * y - w * z), 2 * (x * z + w * y)],
            [2 * (x * y + w * z), 1 - 2 * (x * x + z * z), 2 * (y * z - w * x)],
            [2 * (x * z - w * y), 2 * (y * z + w * x), 1 - 2 * (x * x + y * y)],
        ]
    )


class _Fine:
    """The fine simulation grid (<= 0.5 mm), aligned with the acquisition grid."""

    def __init__(self, shape: tuple[int, ...], vs: np.ndarray, m: np.ndarray) -> None:
        self.m = m
        self.shape = tuple(int(n * k) for n, k in zip(shape, m, strict=True))
        self.h = vs / m  # fine spacing (mm)

    def coords(self, lo: np.ndarray, hi: np.ndarray) -> list[np.ndarray]:
        """Frame coordinates (mm) of fine voxel centres lo..hi-1 along each axis (open mesh)."""
        return [
            ((np.arange(a, b) + 0.5) * h).reshape([-1 if j == i else 1 for j in range(3)])
            for i, (a, b, h) in enumerate(zip(lo, hi, self.h, strict=True))
        ]

    def box(self, c: np.ndarray, r: float) -> tuple[np.ndarray, np.ndarray]:
        lo = np.maximum(np.floor((c - r) / self.h).astype(int), 0)
        hi = np.minimum(np.ceil((c + r) / self.h).astype(int) + 1, self.shape)
        return lo, hi


def _metaball(
    rng: np.random.Generator, kind: str, diam: float
) -> list[tuple[np.ndarray, np.ndarray]]:
    """Ball centres (mm, relative) and inverse covariance matrices of a metaball lesion."""
    r = diam / 2
    balls = []
    if kind == "blob":
        n, spread, aniso = int(rng.integers(1, 3)), 0.25 * r, 1.3
    elif kind == "lobed":
        n, spread, aniso = int(rng.integers(3, 7)), 0.55 * r, 1.2
    elif kind == "finger":
        n, spread, aniso = int(rng.integers(3, 6)), 0.0, 1.0
    else:
        n, spread, aniso = int(rng.integers(2, 5)), 0.0, 1.2
    axis = rng.normal(size=3)
    axis /= np.linalg.norm(axis)
    for j in range(n):
        if kind == "finger":
            off = axis * (j - (n - 1) / 2) * r * 1.4 / max(n - 1, 1)
            s = np.array([0.55, 0.35, 0.35]) * r * rng.uniform(0.85, 1.15, 3)
        elif kind == "confluent":
            side = 1.0 if j % 2 == 0 else -1.0
            off = axis * side * r * rng.uniform(0.45, 0.7) + rng.normal(size=3) * 0.1 * r
            s = np.full(3, 0.42 * r) * rng.uniform(0.8, 1.2, 3)
        else:
            off = rng.normal(size=3) * spread
            s = np.full(3, (0.55 if n > 1 else 0.62) * r) * rng.uniform(1 / aniso, aniso, 3)
        rot = _any_rot(rng)
        balls.append((off, rot @ np.diag(1.0 / s**2) @ rot.T))
    return balls


def _ball_field(balls: list[tuple[np.ndarray, np.ndarray]], x: list[np.ndarray]) -> np.ndarray:
    f: np.ndarray | float = 0.0
    for off, q in balls:
        d = [x[i] - off[i] for i in range(3)]
        e = sum(q[i, j] * d[i] * d[j] for i in range(3) for j in range(3))
        f = f + np.exp(-0.5 * e)
    return np.asarray(f)


def _sdf(inside: np.ndarray, h: np.ndarray) -> np.ndarray:
    """Signed distance (mm) to the edge: positive inside, negative outside."""
    din = ndimage.distance_transform_edt(np.pad(inside, 1), sampling=h)[1:-1, 1:-1, 1:-1]
    dout = ndimage.distance_transform_edt(~inside, sampling=h)
    return np.asarray(np.where(inside, din - 0.5 * h.min(), -(dout - 0.5 * h.min())))


def _soft(sdf: np.ndarray, h: float) -> np.ndarray:
    """Anti-aliased occupancy from a signed distance (a linear ramp over one fine voxel)."""
    return np.clip(0.5 + sdf / h, 0.0, 1.0).astype(np.float32)


def _tube(
    chi: np.ndarray,
    mag: np.ndarray,
    fine: _Fine,
    pts: np.ndarray,
    r0: float,
    r1: float,
    value: float,
) -> None:
    """A tube along a polyline (N, 3 mm) tapering from r0 to r1, with soft edges."""
    lo = np.maximum(np.floor((pts.min(0) - r0 - 1) / fine.h).astype(int), 0)
    hi = np.minimum(np.ceil((pts.max(0) + r0 + 1) / fine.h).astype(int) + 1, fine.shape)
    if np.any(hi <= lo):
        return
    x = fine.coords(lo, hi)
    best = np.full(tuple(hi - lo), np.inf, np.float32)
    rad = np.zeros_like(best)
    n = len(pts)
    for k in range(n - 1):
        a, b = pts[k], pts[k + 1]
        ab = b - a
        t = sum((x[i] - a[i]) * ab[i] for i in range(3)) / max(float(ab @ ab), 1e-9)
        t = np.clip(t, 0, 1)
        d = np.sqrt(sum((x[i] - a[i] - t * ab[i]) ** 2 for i in range(3)))
        rr = r0 + (r1 - r0) * (k + t) / (n - 1)
        closer = d < best
        best = np.where(closer, d, best)
        rad = np.where(closer, rr, rad)
    occ = _soft(rad - best, float(fine.h.min()))
    sl = tuple(slice(a, b) for a, b in zip(lo, hi, strict=True))
    chi[sl] += value * occ
    mag[sl] *= 1.0 - 0.6 * occ


def _curve(rng: np.random.Generator, start: np.ndarray, d: np.ndarray, length: float) -> np.ndarray:
    """A smooth random curve (polyline, 1 mm steps) from ``start`` along ``d``."""
    n = max(int(length), 2)
    pts = [start]
    v = d / np.linalg.norm(d)
    for _ in range(n):
        v = v + rng.normal(size=3) * 0.12
        v /= np.linalg.norm(v)
        pts.append(pts[-1] + v)
    return np.array(pts)


def _hann_lowpass(z: np.ndarray, vs: np.ndarray, period_mm: float) -> np.ndarray:
    """Complex low-pass with a 3-D Hann window in k-space reaching zero at 1/period_mm."""
    f = np.fft.fftn(z)
    kc = 1.0 / period_mm
    win: np.ndarray | float = 1.0
    for i, (n, v) in enumerate(zip(z.shape, vs, strict=True)):
        k = np.fft.fftfreq(n, d=v)
        w = np.where(np.abs(k) < kc, 0.5 * (1 + np.cos(np.pi * k / kc)), 0.0)
        win = win * w.reshape([-1 if j == i else 1 for j in range(3)])
    return np.asarray(np.fft.ifftn(f * win))


def _kernel(shape: tuple[int, ...], h: np.ndarray, b0: np.ndarray) -> np.ndarray:
    k = np.meshgrid(
        *[np.fft.fftfreq(n, d=v) for n, v in zip(shape, h, strict=True)], indexing="ij", sparse=True
    )
    k2 = sum(kk**2 for kk in k)
    kb = sum(kk * bb for kk, bb in zip(k, b0, strict=True))
    with np.errstate(invalid="ignore", divide="ignore"):
        d = 1 / 3 - kb**2 / k2
    d[0, 0, 0] = 0.0
    return np.asarray(d)


def _field(chi: np.ndarray, h: np.ndarray, b0: np.ndarray) -> np.ndarray:
    """Field (ppm) of chi on a grid padded to 1.25x, with the full complex FFT."""
    pad = [int(np.ceil(0.125 * n)) for n in chi.shape]
    p = np.pad(chi, [(q, q) for q in pad])
    f = np.real(np.fft.ifftn(_kernel(p.shape, h, b0) * np.fft.fftn(p)))
    return np.asarray(
        f[tuple(slice(q, q + n) for q, n in zip(pad, chi.shape, strict=True))], np.float32
    )


def _sharp(
    field: np.ndarray, mask: np.ndarray, vs: np.ndarray, radius: float, thr: float
) -> tuple[np.ndarray, np.ndarray]:
    """SHARP background removal (Schweser 2011): returns the local field and the eroded mask."""
    r = np.ceil(radius / vs).astype(int)
    g = np.meshgrid(*[np.arange(-q, q + 1) * v for q, v in zip(r, vs, strict=True)], indexing="ij")
    ball = (sum(gg**2 for gg in g) <= radius**2).astype(float)
    ball /= ball.sum()
    ker = np.zeros(field.shape)
    sl = tuple(slice(0, 2 * q + 1) for q in r)
    ker[sl] = ball
    ker = np.roll(ker, [-q for q in r], axis=(0, 1, 2))
    delta_minus = 1.0 - np.fft.fftn(ker)  # delta - SMV
    inner = ndimage.binary_erosion(mask, structure=ball > 0)
    hp = np.real(np.fft.ifftn(delta_minus * np.fft.fftn(field * mask))) * inner
    inv = np.where(
        np.abs(delta_minus) > thr, 1.0 / np.where(np.abs(delta_minus) > thr, delta_minus, 1), 0
    )
    local = np.real(np.fft.ifftn(inv * np.fft.fftn(hp))) * inner
    return local.astype(np.float32), inner


def _l2_qsm(
    local: np.ndarray, mask: np.ndarray, vs: np.ndarray, b0: np.ndarray, lam: float
) -> np.ndarray:
    """Closed-form L2 gradient-regularised dipole inversion (Bilgic et al. 2014)."""
    pad = [int(np.ceil(0.25 * n)) for n in local.shape]
    p = np.pad(local * mask, [(q, q) for q in pad])
    d = _kernel(p.shape, vs, b0)
    e2 = 0.0
    for i, (n, v) in enumerate(zip(p.shape, vs, strict=True)):
        k = np.fft.fftfreq(n)
        e = (np.abs(1 - np.exp(2j * np.pi * k)) / v) ** 2
        e2 = e2 + e.reshape([-1 if j == i else 1 for j in range(3)])
    den = d**2 + lam * e2
    den[0, 0, 0] = 1.0
    chi = np.real(np.fft.ifftn(d * np.fft.fftn(p) / den))
    return np.asarray(
        chi[tuple(slice(q, q + n) for q, n in zip(pad, local.shape, strict=True))] * mask,
        np.float32,
    )


def _slice_coverage(lesion2d: np.ndarray, rim2d: np.ndarray, h: np.ndarray, reach: float) -> float:
    """Fraction of 10-degree bins of a slice's lesion edge that have the rim within ``reach`` mm."""
    if lesion2d.sum() < 4:
        return float("nan")
    edge = lesion2d & ~ndimage.binary_erosion(lesion2d)
    near = (
        ndimage.distance_transform_edt(~rim2d, sampling=h) <= reach
        if rim2d.any()
        else np.zeros_like(rim2d)
    )
    ii, jj = np.nonzero(edge)
    ci, cj = np.nonzero(lesion2d)
    ang = np.arctan2((jj - cj.mean()) * h[1], (ii - ci.mean()) * h[0])
    b = ((ang + np.pi) / (2 * np.pi) * 36).astype(int) % 36
    occ = np.bincount(b, minlength=36) > 0
    hit = np.bincount(b, weights=near[ii, jj].astype(float), minlength=36)
    n = np.bincount(b, minlength=36)
    cov = (hit >= 0.5 * np.maximum(n, 1)) & occ
    return float(cov.sum() / max(occ.sum(), 1))
