"""Native acquisition of the FLAIR/T1 phantoms: scanner grids, resampling, bias fields, noise."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy import ndimage

from smoulder.synth._flair_anatomy import Space, _head_layers


@dataclass
class Grid:
    shape: tuple[int, int, int]
    affine: np.ndarray


def _rot(angles_deg: np.ndarray) -> np.ndarray:
    a = np.deg2rad(angles_deg)
    rx = np.array([[1, 0, 0], [0, np.cos(a[0]), -np.sin(a[0])], [0, np.sin(a[0]), np.cos(a[0])]])
    ry = np.array([[np.cos(a[1]), 0, np.sin(a[1])], [0, 1, 0], [-np.sin(a[1]), 0, np.cos(a[1])]])
    rz = np.array([[np.cos(a[2]), -np.sin(a[2]), 0], [np.sin(a[2]), np.cos(a[2]), 0], [0, 0, 1]])
    return rz @ ry @ rx


def native_grid(
    space: Space,
    zooms: np.ndarray,
    angles: np.ndarray,
    shift: np.ndarray,
    head: bool,
    obj: np.ndarray | None = None,
) -> Grid:
    """A rotated grid with voxel sizes ``zooms`` covering the head (or the brain) plus a margin."""
    r = _rot(np.asarray(angles, float))
    if head:
        lo_w, hi_w = np.array([-88.0, -120.0, -125.0]), np.array([88.0, 92.0, 96.0])
    else:
        lo_w, hi_w = np.array([-75.0, -110.0, -75.0]), np.array([75.0, 78.0, 85.0])
    if obj is not None:
        ijk = np.argwhere(obj)
        w = ijk @ space.affine[:3, :3].T + space.affine[:3, 3]
        lo_w, hi_w = w.min(0) - 6, w.max(0) + 6
    corners = np.array(
        [
            [
                lo_w[0] if i & 1 else hi_w[0],
                lo_w[1] if i & 2 else hi_w[1],
                lo_w[2] if i & 4 else hi_w[2],
            ]
            for i in range(8)
        ]
    )
    centre = (lo_w + hi_w) / 2 + shift
    loc = (corners - (lo_w + hi_w) / 2) @ r  # extents along the rotated axes
    ext = loc.max(0) - loc.min(0)
    shape = tuple(int(np.ceil(e / z)) for e, z in zip(ext, zooms, strict=True))
    m = r @ np.diag(zooms)
    origin = centre - m @ ((np.array(shape) - 1) / 2.0)
    aff = np.eye(4)
    aff[:3, :3] = m
    aff[:3, 3] = origin
    return Grid(shape=shape, affine=aff)  # type: ignore[arg-type]


def _sample_points(
    space: Space, grid: Grid, zooms: np.ndarray, sub: tuple[float, float, float]
) -> list[np.ndarray]:
    src = np.linalg.inv(space.affine) @ grid.affine
    idx = [np.arange(n, dtype=np.float32) + o for n, o in zip(grid.shape, sub, strict=True)]
    coords = []
    for r in range(3):
        c = np.float32(src[r, 3])
        acc = np.full(grid.shape, c, np.float32)
        for k in range(3):
            shp = [1, 1, 1]
            shp[k] = grid.shape[k]
            acc += (np.float32(src[r, k]) * idx[k]).reshape(shp)
        coords.append(acc)
    return coords


def _offsets(zooms: np.ndarray) -> list[tuple[float, float, float]]:
    """Sub-voxel sample offsets (fractions of a voxel) averaging over each voxel's extent."""
    per_axis = []
    for z in zooms:
        n = max(1, int(round(z / 1.0)))
        per_axis.append(list((np.arange(n) + 0.5) / n - 0.5) if n > 1 else [0.0])
    return [(a, b, c) for a in per_axis[0] for b in per_axis[1] for c in per_axis[2]]


def resample_native(
    space: Space, grid: Grid, images: dict[str, np.ndarray], zooms: np.ndarray
) -> dict[str, np.ndarray]:
    """Average each 1 mm image over every native voxel (box slice profile)."""
    out = {k: np.zeros(grid.shape, np.float32) for k in images}
    offs = _offsets(zooms)
    for o in offs:
        pts = _sample_points(space, grid, zooms, o)
        for k, img in images.items():
            out[k] += ndimage.map_coordinates(
                np.asarray(img, np.float32), pts, order=1, mode="constant", cval=0.0
            )
    for k in out:
        out[k] /= len(offs)
    return out


def resample_labels(
    space: Space, grid: Grid, ids: np.ndarray, frac: np.ndarray, zooms: np.ndarray
) -> np.ndarray:
    """The lesion id most present in each native voxel (max over sub-samples, nearest neighbour)."""
    best = np.zeros(grid.shape, np.int32)
    for o in _offsets(zooms):
        pts = _sample_points(space, grid, zooms, o)
        v = ndimage.map_coordinates(ids, pts, order=0, mode="constant", cval=0)
        best = np.maximum(best, v)
    return best


def bias_field(shape: tuple[int, ...], peak_to_peak: float, rng: np.random.Generator) -> np.ndarray:
    """exp(cubic polynomial of the normalised coordinates), peak-to-peak of the log = given."""
    if peak_to_peak <= 0:
        return np.ones(shape, np.float32)
    ax = [np.linspace(-1, 1, n, dtype=np.float32) for n in shape]
    x, y, z = np.meshgrid(*ax, indexing="ij", sparse=True)
    terms = [x, y, z, x * y, x * z, y * z, x * x, y * y, z * z, x * y * z, x**3, y**3, z**3]
    log = np.zeros(shape, np.float32)
    for t in terms:
        log = log + np.float32(rng.normal()) * t
    log -= log.mean()
    span = float(log.max() - log.min())
    log *= peak_to_peak / max(span, 1e-6)
    return np.exp(log).astype(np.float32)


def acquire(
    img: np.ndarray,
    shape: tuple[int, ...],
    bias_pp: float,
    snr: float,
    rng: np.random.Generator,
    gain: float | None = None,
) -> np.ndarray:
    """Bias field, Rician noise (SD = 1 / snr of white matter) and an arbitrary scanner gain."""
    b = bias_field(shape, bias_pp, rng)
    sd = 1.0 / max(snr, 1e-3)
    re = img * b + rng.normal(0, sd, shape).astype(np.float32)
    im = rng.normal(0, sd, shape).astype(np.float32)
    g = float(rng.uniform(300, 900)) if gain is None else gain
    return (np.sqrt(re * re + im * im) * g).astype(np.float32)


def degrade(
    image: np.ndarray,
    affine: np.ndarray,
    *,
    rng: np.random.Generator,
    slice_mm: float,
    slice_axis: int,
    rotation_deg: tuple[float, float, float],
    bias_pp: float,
    labels: np.ndarray | None,
    head: bool,
    contrast: str,
    head_seed: int,
) -> dict[str, Any]:
    """See :func:`smoulder.synth.flair_phantom.degrade_to_clinical`."""
    z_in = np.sqrt((affine[:3, :3] ** 2).sum(0))
    ijk = np.argwhere(image > 0)
    w = ijk @ affine[:3, :3].T + affine[:3, 3]
    lo = np.floor(w.min(0)) - np.array([16, 20, 70 if head else 8])
    hi = np.ceil(w.max(0)) + np.array([16, 20, 16 if head else 8])
    aff = np.eye(4)
    aff[:3, 3] = lo
    space = Space(shape=tuple(int(v) for v in hi - lo + 1), affine=aff)  # type: ignore[arg-type]
    grid1 = Grid(space.shape, aff)
    src_space = Space(shape=tuple(image.shape), affine=affine)  # type: ignore[arg-type]
    img = resample_native(src_space, grid1, {"a": image}, np.ones(3))["a"]
    brain = (
        resample_native(src_space, grid1, {"a": (image > 0).astype(np.float32)}, np.ones(3))["a"]
        > 0.5
    )
    pos = img[brain]
    level = float(np.percentile(pos, 60)) if pos.size else 1.0
    if head:
        scaled = img / level
        low = float(np.percentile(scaled[brain], 5)) if brain.any() else 0.2
        f, t = _head_layers(
            space, brain, scaled, scaled, np.random.default_rng(head_seed), csf_level=low
        )
        img = (f if contrast == "flair" else t) * level
    lab_frac = None
    if labels is not None:
        lab_frac = resample_native(
            src_space, grid1, {"a": (labels > 0).astype(np.float32)}, np.ones(3)
        )["a"]
    zooms = np.ones(3) * float(z_in.min())
    zooms[slice_axis] = slice_mm
    grid = native_grid(
        space,
        zooms,
        np.asarray(rotation_deg, float),
        np.zeros(3),
        head=False,
        obj=img > 0.02 * float(img.max()),
    )
    ims = {"image": img} if lab_frac is None else {"image": img, "lesion": lab_frac}
    res = resample_native(space, grid, ims, zooms)
    b = bias_field(grid.shape, bias_pp, rng)
    out_img = (res["image"] * b).astype(np.float32)
    lab_out = (res["lesion"] >= 0.5).astype(np.int32) if lab_frac is not None else None
    return {
        "image": out_img,
        "affine": grid.affine,
        "labels": lab_out,
        "params": {
            "slice_mm": slice_mm,
            "slice_axis": slice_axis,
            "rotation_deg": list(rotation_deg),
            "bias_peak_to_peak": bias_pp,
            "head": head,
            "zooms": zooms.tolist(),
        },
    }
