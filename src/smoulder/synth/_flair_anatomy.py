"""Building blocks of :mod:`smoulder.synth.flair_phantom`: anatomy, lesions and head (acquisition: _flair_acquire)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from scipy import ndimage

LOCATIONS = ("periventricular", "juxtacortical", "infratentorial", "deep white matter")


@dataclass
class Space:
    """A 1 mm working grid in world (MNI) millimetres."""

    shape: tuple[int, int, int]
    affine: np.ndarray

    def world(self, axis: int) -> np.ndarray:
        """World coordinate ``axis`` (0 = x, 1 = y, 2 = z) of every voxel, broadcastable."""
        a = self.affine
        idx = [np.arange(n, dtype=np.float32) for n in self.shape]
        out = np.zeros((1, 1, 1), np.float32)
        for k in range(3):
            shp = [1, 1, 1]
            shp[k] = self.shape[k]
            out = out + (a[axis, k] * idx[k]).reshape(shp)
        return out + np.float32(a[axis, 3])


def head_space() -> Space:
    """x -88..88, y -122..92, z -130..98 mm at 1 mm (room for skull, face and neck)."""
    lo = np.array([-88.0, -122.0, -130.0])
    hi = np.array([88.0, 92.0, 98.0])
    shape = tuple(int(v) for v in (hi - lo + 1))
    aff = np.eye(4)
    aff[:3, 3] = lo
    return Space(shape=shape, affine=aff)  # type: ignore[arg-type]


def _template_on(space: Space) -> dict[str, np.ndarray]:
    from smoulder.io.templates import load_mni152

    tpl = load_mni152()
    out = {}
    # both grids are 1 mm and axis-aligned with integer offsets: copy the overlap
    off = np.round(space.affine[:3, 3] - tpl.affine[:3, 3]).astype(int)
    src = [
        slice(max(o, 0), min(o + n, m))
        for o, n, m in zip(off, space.shape, tpl.t1.shape, strict=True)
    ]
    dst = [slice(s.start - o, s.stop - o) for s, o in zip(src, off, strict=True)]
    for name in ("gm", "wm", "csf"):
        arr = np.zeros(space.shape, np.float32)
        arr[tuple(dst)] = getattr(tpl, name)[tuple(src)]
        out[name] = arr
    b = np.zeros(space.shape, np.float32)
    b[tuple(dst)] = tpl.brain_mask[tuple(src)].astype(np.float32)
    out["brain"] = b
    return out


def _interp_matrix(n: int, m: int) -> np.ndarray:
    """(n, m) matrix of linear interpolation from m coarse nodes spanning n fine samples."""
    pos = np.linspace(0, m - 1, n)
    lo = np.clip(np.floor(pos).astype(int), 0, m - 2)
    w = (pos - lo).astype(np.float32)
    mat = np.zeros((n, m), np.float32)
    mat[np.arange(n), lo] = 1 - w
    mat[np.arange(n), lo + 1] = w
    return mat


def _smooth_field(shape: tuple[int, ...], step: int, rng: np.random.Generator) -> np.ndarray:
    """Smooth zero-mean unit-SD field: smoothed random values every ``step`` voxels, upsampled.

    The coarse lattice is smoothed (cubic-like) and then interpolated separably, which costs a few
    multiply-adds per voxel instead of a 64-point spline per voxel.
    """
    coarse = [max(3, int(np.ceil(n / step)) + 1) for n in shape]
    c = ndimage.gaussian_filter(rng.standard_normal(coarse).astype(np.float32), 0.7, mode="wrap")
    mats = [_interp_matrix(n, m) for n, m in zip(shape, coarse, strict=True)]
    f = np.einsum("ia,abc->ibc", mats[0], c, optimize=True)
    f = np.einsum("jb,ibc->ijc", mats[1], f, optimize=True)
    f = np.einsum("kc,ijc->ijk", mats[2], f, optimize=True).astype(np.float32)
    return (f - f.mean()) / max(float(f.std()), 1e-6)


def infratentorial(space: Space) -> np.ndarray:
    """Below the tentorium (approximate plane in MNI space) or in the brainstem."""
    x, y, z = space.world(0), space.world(1), space.world(2)
    below_tent = (y < -38) & (z < -6 - 0.4 * np.abs(x))
    stem = (np.abs(x) < 15) & (y > -45) & (y < -8) & (z < -12)
    return np.asarray(below_tent | stem)


def deformed_tissue(
    space: Space, rng: np.random.Generator, *, deform_mm: float, ventricle_scale: float
) -> dict[str, np.ndarray]:
    """Template tissue fractions under a smooth random deformation and ventricle enlargement."""
    t = _template_on(space)
    shape = space.shape
    grid = np.indices(shape, dtype=np.float32)
    disp = [deform_mm * 0.5 * _smooth_field(shape, 24, rng) for _ in range(3)]
    # ventricle enlargement: sample closer to the ventricles' centre, fading out over ~30 mm
    c = np.linalg.inv(space.affine) @ np.array([0.0, -8.0, 14.0, 1.0])
    r2 = sum((grid[k] - c[k]) ** 2 / (s**2) for k, s in enumerate((26.0, 40.0, 20.0)))
    shrink = (1.0 - 1.0 / ventricle_scale) * np.exp(-r2)
    coords = [grid[k] - shrink * (grid[k] - c[k]) + disp[k] for k in range(3)]
    out = {
        name: ndimage.map_coordinates(t[name], coords, order=1, mode="constant", cval=0.0).astype(
            np.float32
        )
        for name in ("gm", "wm", "csf", "brain")
    }
    total = out["gm"] + out["wm"] + out["csf"]
    scale = np.where(total > 1, 1 / np.maximum(total, 1e-6), 1.0).astype(np.float32)
    for k in ("gm", "wm", "csf"):
        out[k] *= scale
    # inside the brain mask, whatever is not tissue is CSF
    out["csf"] = np.clip(out["brain"] - out["gm"] - out["wm"], out["csf"], 1).astype(np.float32)
    brain = out["brain"] > 0.5
    depth = ndimage.distance_transform_edt(brain)
    vent = (out["csf"] > 0.5) & (depth > 12)
    lab, n = ndimage.label(vent)
    if n:
        sizes = np.bincount(lab.ravel())
        sizes[0] = 0
        vent = np.isin(lab, np.flatnonzero(sizes >= 400))
    out["ventricles"] = vent
    out["depth"] = depth.astype(np.float32)
    out["dist_vent"] = ndimage.distance_transform_edt(~vent).astype(np.float32)
    cortex = (out["gm"] > 0.5) & (depth < 18)
    out["dist_ctx"] = ndimage.distance_transform_edt(~cortex).astype(np.float32)
    out["infra"] = infratentorial(space) & brain
    return out


def _zones(tissue: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    wm = tissue["wm"] > 0.6
    infra = tissue["infra"]
    dv, dc = tissue["dist_vent"], tissue["dist_ctx"]
    return {
        "periventricular": wm & ~infra & (dv >= 1) & (dv <= 4),
        "juxtacortical": (tissue["wm"] > 0.4) & ~infra & (dc >= 0.5) & (dc <= 2.5) & (dv > 8),
        "infratentorial": infra & (tissue["wm"] > 0.5),
        "deep white matter": wm & ~infra & (dv > 7) & (dc > 5),
    }


def _rotation(rng: np.random.Generator, long_axis: np.ndarray | None) -> np.ndarray:
    """Random orthonormal frame; its first column is ``long_axis`` when given."""
    m = rng.standard_normal((3, 3))
    if long_axis is not None:
        m[:, 0] = long_axis
    q, r = np.linalg.qr(m)
    q = q * np.sign(np.diag(r))
    return q


def _blob(
    center: np.ndarray,
    radii: np.ndarray,
    frame: np.ndarray,
    rough: float,
    rng: np.random.Generator,
    shape: tuple[int, ...],
    ss: int = 2,
) -> tuple[tuple[slice, ...], np.ndarray]:
    """Fraction (0..1) of each 1 mm voxel inside a roughened ellipsoid (``ss``^3 sub-samples)."""
    ext = float(radii.max()) * (1.6 + rough) + 1.5
    lo = np.maximum(np.floor(center - ext).astype(int), 0)
    hi = np.minimum(np.ceil(center + ext).astype(int) + 1, np.array(shape))
    if np.any(hi <= lo):
        return tuple(slice(0, 0) for _ in range(3)), np.zeros((0, 0, 0), np.float32)
    sl = tuple(slice(int(a), int(b)) for a, b in zip(lo, hi, strict=True))
    offs = (np.arange(ss) + 0.5) / ss - 0.5
    axes = [(np.arange(a, b)[:, None] + offs[None, :]).ravel() for a, b in zip(lo, hi, strict=True)]
    pts = np.stack(np.meshgrid(*axes, indexing="ij"), axis=-1) - center
    loc = pts @ frame  # coordinates along the blob's own axes
    rho = np.sqrt(((loc / radii) ** 2).sum(-1))
    if rough > 0:
        sigma = max(0.6, float(radii.mean()) * ss * 0.45)
        noise = ndimage.gaussian_filter(rng.standard_normal(rho.shape).astype(np.float32), sigma)
        noise /= max(float(noise.std()), 1e-6)
        rho = rho - rough * noise * np.clip(rho, 0, 1.5)
    inside = (rho <= 1.0).astype(np.float32)
    n = [b - a for a, b in zip(lo, hi, strict=True)]
    frac = inside.reshape(n[0], ss, n[1], ss, n[2], ss).mean(axis=(1, 3, 5))
    return sl, frac.astype(np.float32)


def draw_lesions(
    space: Space, tissue: dict[str, np.ndarray], rng: np.random.Generator, n: int, s: Any
) -> tuple[np.ndarray, np.ndarray, pd.DataFrame]:
    """Lesion fraction map, lesion ids (1..n) and the table of what was drawn."""
    shape = space.shape
    frac = np.zeros(shape, np.float32)
    ids = np.zeros(shape, np.int16)
    zones = _zones(tissue)
    cand = {k: np.argwhere(v) for k, v in zones.items()}
    w = np.array(s.location_weights, float)
    allowed = (tissue["gm"] + tissue["wm"] > 0.45) & (tissue["csf"] < 0.55)
    grad_v = np.gradient(ndimage.gaussian_filter(tissue["dist_vent"], 1.5))
    rows = []
    for i in range(1, n + 1):
        loc = LOCATIONS[int(rng.choice(4, p=w / w.sum()))]
        if cand[loc].shape[0] == 0:
            continue
        c = cand[loc][int(rng.integers(cand[loc].shape[0]))].astype(float) + rng.uniform(
            -0.5, 0.5, 3
        )
        vol = float(np.exp(rng.normal(np.log(s.volume_median_mm3), s.volume_log_sd)))
        if loc == "infratentorial":
            vol *= 0.6
        # (the extra draws below happen only when the setting is on, so families that leave
        # them at 0 give the same phantoms as before they existed)
        if s.tiny_fraction > 0 and rng.random() < s.tiny_fraction:
            vol = float(np.exp(rng.uniform(np.log(3.0), np.log(10.0))))  # a tiny lesion
        pv_confluent = (
            loc == "periventricular"
            and s.pv_confluent_fraction > 0
            and bool(rng.random() < s.pv_confluent_fraction)
        )
        if pv_confluent:  # confluent periventricular hyperintensity hugging the ventricle
            vol = max(vol, 150.0) * float(rng.uniform(1.5, 4.0))
        vol = float(np.clip(vol, 3.0, s.volume_max_mm3))
        confluent = (bool(rng.random() < s.confluent_fraction) and vol > 60) or pv_confluent
        rough = float(rng.uniform(*s.roughness)) if vol > 8 else 0.0
        ci = tuple(int(v) for v in np.clip(np.round(c), 0, np.array(shape) - 1))
        long_axis = None
        elong = float(rng.uniform(1.0, 1.6))
        if loc == "periventricular":
            gv = np.array([g[ci] for g in grad_v])
            if np.linalg.norm(gv) > 1e-3:
                long_axis = gv / np.linalg.norm(gv)
                elong = float(rng.uniform(1.5, 3.0))  # Dawson's finger
        shape_kind = (
            "confluent"
            if confluent
            else ("finger" if long_axis is not None else ("irregular" if rough > 0.25 else "ovoid"))
        )
        parts = (
            int(rng.integers(3, 7))
            if pv_confluent
            else (int(rng.integers(2, 5)) if confluent else 1)
        )
        target = vol
        local = None
        for attempt in range(2):
            acc: dict[tuple[tuple[int, int], ...], np.ndarray] = {}
            total = 0.0
            prng = np.random.default_rng(rng.integers(1 << 31))
            for k in range(parts):
                v_k = target / parts
                r0 = (3 * v_k / (4 * np.pi)) ** (1 / 3)
                ratios = np.array([elong, prng.uniform(0.6, 1.0), prng.uniform(0.6, 1.0)])
                radii = r0 * ratios / np.cbrt(ratios.prod())
                frame = _rotation(prng, long_axis)
                ck = c if k == 0 else c + prng.normal(0, 1, 3) * r0 * 1.2
                sl, fk = _blob(ck, radii, frame, rough, prng, shape)
                if fk.size == 0:
                    continue
                fk = fk * allowed[sl]
                key = tuple((x.start, x.stop) for x in sl)
                acc[key] = np.maximum(acc.get(key, 0), fk)
            total = float(sum(a.sum() for a in acc.values()))
            local = acc
            if total <= 0:
                break
            target = target * (vol / total) if attempt == 0 else target
        if not local or sum(a.sum() for a in local.values()) < 1.5:
            continue
        contrast = float(rng.uniform(*s.lesion_contrast))
        for key, fk in local.items():
            sl = tuple(slice(a, b) for a, b in key)
            region = frac[sl]
            upd = fk > region
            ids[sl][upd & (fk > 0.05)] = i
            region[:] = np.maximum(region, fk)
        rows.append(
            {
                "drawn_id": i,
                "location": loc,
                "shape": shape_kind,
                "target_mm3": vol,
                "contrast": contrast,
                "t1_ratio": float(rng.uniform(*s.t1_lesion)),
            }
        )
    drawn = pd.DataFrame(
        rows, columns=["drawn_id", "location", "shape", "target_mm3", "contrast", "t1_ratio"]
    )
    return frac, ids, drawn


def tissue_contrast(
    space: Space,
    tissue: dict[str, np.ndarray],
    lesion_frac: np.ndarray,
    lesion_id: np.ndarray,
    drawn: pd.DataFrame,
    p: dict[str, Any],
    rng: np.random.Generator,
) -> tuple[np.ndarray, np.ndarray]:
    """FLAIR and T1 (white matter = 1) from tissue fractions, lesions and normal mimics."""
    gm, wm, csf = tissue["gm"], tissue["wm"], tissue["csf"]
    wm_level = 1.0 + p["wm_variation"] * _smooth_field(space.shape, 20, rng)
    # periventricular caps: a bright band at the front and back of the lateral ventricles
    vent = tissue["ventricles"]
    y = space.world(1)
    if vent.any():
        yb = np.broadcast_to(y, vent.shape)
        yv = yb[vent]
        horn = (yb > np.percentile(yv, 85)) | (yb < np.percentile(yv, 12))
        band = np.exp(-tissue["dist_vent"] / 1.8) * horn * (tissue["dist_vent"] > 0)
        wm_level = wm_level * (1 + (p["caps_contrast"] - 1) * band)
    flair = wm * wm_level + gm * p["gm_contrast"] + csf * p["csf_level"]
    t1 = wm * 1.0 + gm * p["t1_gm"] + csf * 0.25
    if len(drawn):
        con = np.ones(int(drawn["drawn_id"].max()) + 1, np.float32)
        t1r = np.ones_like(con)
        con[drawn["drawn_id"].to_numpy()] = drawn["contrast"].to_numpy()
        t1r[drawn["drawn_id"].to_numpy()] = drawn["t1_ratio"].to_numpy()
        core = ndimage.gaussian_filter(lesion_frac, 1.0)
        core = np.clip(core / max(float(core.max()), 1e-6), 0, 1)
        tex = 1 + 0.04 * _smooth_field(space.shape, 3, rng)
        c = con[lesion_id]
        les_f = (1 + (c - 1) * (0.8 + 0.4 * core)) * tex
        les_t = t1r[lesion_id] * (1.05 - 0.15 * core)
        flair = (1 - lesion_frac) * flair + lesion_frac * les_f
        t1 = (1 - lesion_frac) * t1 + lesion_frac * les_t
    return flair.astype(np.float32), t1.astype(np.float32)


def add_head(
    space: Space,
    tissue: dict[str, np.ndarray],
    flair: np.ndarray,
    t1: np.ndarray,
    rng: np.random.Generator,
) -> tuple[np.ndarray, np.ndarray]:
    """CSF, skull, marrow, scalp around the brain; face and neck below it."""
    brain = tissue["brain"] > 0.5
    return _head_layers(
        space,
        brain,
        flair,
        t1,
        rng,
        csf_level=float(np.median(flair[tissue["csf"] > 0.9]))
        if (tissue["csf"] > 0.9).any()
        else 0.2,
    )


def _head_layers(
    space: Space,
    brain: np.ndarray,
    flair: np.ndarray,
    t1: np.ndarray,
    rng: np.random.Generator,
    *,
    csf_level: float,
) -> tuple[np.ndarray, np.ndarray]:
    from skimage.morphology import ball

    small = brain[::2, ::2, ::2]
    env = ndimage.binary_closing(small, ball(4), iterations=1) | small
    env = ndimage.binary_fill_holes(env)
    d_small = ndimage.distance_transform_edt(~env) * 2.0
    d = ndimage.zoom(
        d_small, [n / m for n, m in zip(brain.shape, d_small.shape, strict=True)], order=1
    )
    d = d[: brain.shape[0], : brain.shape[1], : brain.shape[2]]
    d = np.where(brain, 0, np.maximum(d, 0.5))
    x, y, z = space.world(0), space.world(1), space.world(2)
    t_csf = rng.uniform(1.0, 3.0)
    t_in, t_mar, t_out, t_scalp = 1.5, rng.uniform(2.0, 4.0), 1.5, rng.uniform(4.0, 8.0)
    b1 = t_csf
    b2 = b1 + t_in
    b3 = b2 + t_mar
    b4 = b3 + t_out
    b5 = b4 + t_scalp
    f = flair.copy()
    t = t1.copy()
    out = ~brain
    fat_f, fat_t = rng.uniform(0.7, 1.1), rng.uniform(1.2, 1.5)
    mar_f, mar_t = rng.uniform(0.4, 0.8), rng.uniform(0.8, 1.2)
    mus_f, mus_t = rng.uniform(0.5, 0.8), rng.uniform(0.55, 0.75)

    def put(m: np.ndarray, vf: float, vt: float) -> None:
        f[m] = vf
        t[m] = vt

    put(out & (d <= b1), csf_level, 0.25)
    put(out & (d > b1) & (d <= b2), 0.05, 0.05)
    put(out & (d > b2) & (d <= b3), mar_f, mar_t)
    put(out & (d > b3) & (d <= b4), 0.05, 0.05)
    put(out & (d > b4) & (d <= b5), fat_f, fat_t)
    # face and neck: soft tissue below the brain, fat at its surface, eyes, a spinal column
    neck = ((x / 58.0) ** 2 + ((y + 18) / 55.0) ** 2 <= 1) & (z < -35)
    face = (x / 62.0) ** 2 + ((y - 35) / 58.0) ** 2 + ((z + 45) / 38.0) ** 2 <= 1
    soft = np.broadcast_to(neck | face, brain.shape) & out & (d > b5 - 1.0)
    soft_core = ndimage.binary_erosion(soft, iterations=4)
    put(soft & ~soft_core, fat_f, fat_t)
    put(soft_core, mus_f, mus_t)
    for sx in (-32.0, 32.0):
        eye = (
            np.broadcast_to(((x - sx) ** 2 + (y - 52) ** 2 + (z + 32) ** 2) <= 12.0**2, brain.shape)
            & out
        )
        put(eye, 0.1, 0.2)
    cord = np.broadcast_to((x**2 + (y + 42) ** 2 <= 7.0**2) & (z < -60), brain.shape) & out
    vert = np.broadcast_to((x**2 + (y + 42) ** 2 <= 13.0**2) & (z < -60), brain.shape) & out & ~cord
    put(vert, mar_f, mar_t)
    put(cord, 0.9, 0.8)
    tex = 1 + 0.06 * _smooth_field(brain.shape, 6, rng)
    f = np.where(out, f * tex, f)
    t = np.where(out, t * tex, t)
    return f.astype(np.float32), t.astype(np.float32)
