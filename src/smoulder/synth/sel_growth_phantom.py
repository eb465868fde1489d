"""A second, independently built family of longitudinal SEL phantoms, for held-out reporting.

:mod:`smoulder.synth.sel_phantom` (the family the SEL engine is tuned on) draws ellipsoids whose
edge is redrawn larger at each scan, on one grid, with uniform atrophy and a linear bias field.
This family differs in every part that could flatter a method tuned there:

- **anatomy**: the MNI152 T1 template's own intensities for T1 (with its texture), FLAIR built
  from the tissue maps with other levels and a texture; lesions with internal texture;
- **shapes and sizes**: spheres, ovoids and lobulated star shapes, small (3-5 mm diameter),
  medium (6-10 mm) and large (12-18 mm), some periventricular;
- **growth fields**: ``push`` (the lesion dilates and pushes the tissue outward, volume
  preserving outside it: the deformation reaches beyond the edge, decaying as 1/r^2),
  ``push_compressive`` (the push decays within a few mm and compresses the tissue next to the
  lesion), ``front`` (level-set growth at constant normal speed, replacing tissue),
  ``eccentric`` (a front whose speed varies 1 +- e around the lesion) and ``one_sided`` (a front
  on one hemisphere only: expanding, but not concentric);
- **atrophy**: global volume loss about an off-centre point, ventricles that enlarge and push
  the periventricular tissue (volume preserving outside them), and a smooth divergence-free
  non-rigid distortion that differs per visit;
- **scanner**: a pose of every visit (baseline too) up to 3 degrees and 4 mm, a field of view
  with its own size, position and tilt at every visit, other voxel sizes at follow-ups,
  optionally a FLAIR on its own grid with head motion between the T1 and the FLAIR of a visit,
  a Gaussian point-spread function, a smooth multiplicative bias field, gain, a small change of
  contrast (a power law), Rician noise;
- **new lesions beside old ones**: a new lesion appears between baseline and the first
  follow-up touching, overlapping or 1-2 mm away from a stable old one;
- **rater masks**: each baseline lesion is cut from its partial-volume map at its own threshold
  (0.35-0.65), as raters differ.

The truth is exact: every lesion's volume relative to the brain at every visit (``g(t)`` times
its baseline volume; push growth is exactly volume-preserving outside the lesion, the level-set
growth is solved on a 0.25 mm grid).

Example
-------
>>> from smoulder.synth.sel_growth_phantom import simulate_growth_phantom
>>> ph = simulate_growth_phantom(seed=3, n_lesions=6)  # doctest: +SKIP
>>> ph.truth[
...     ["label", "kind", "pattern", "size_class", "true_expansion_pct_per_year"]
... ]  # doctest: +SKIP
"""

from __future__ import annotations

import datetime as _dt
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from scipy import ndimage
from scipy.spatial.transform import Rotation

from smoulder.synth._growth_fields import CurlField, StarShape, push_inverse, radial_inverse
from smoulder.synth._growth_lesions import (
    FrontLesion,
    lesion_membership,
    make_lesion_specs,
)

#: Lesion kinds and whether each is a true SEL (``one_sided`` expands but is not concentric).
GROWTH_KINDS = {
    "expanding": True,
    "one_sided": None,
    "stable": False,
    "shrinking": False,
    "new_beside_old": False,
}

#: Centres (MNI mm) of the lateral ventricles' bodies and the radius of their expanding cores.
VENTRICLES = (np.array([9.0, -15.0, 13.0]), np.array([-9.0, -15.0, 13.0]))
VENTRICLE_CORE_MM = 6.0

#: Field of view of the reviewer's 1 mm subject (137 x 155 x 110 mm) about the brain.
DEFAULT_FOV_MM = (137.0, 155.0, 110.0)
FOV_CENTER = np.array([0.0, -18.0, 20.0])

FOLLOW_UP_VOXELS = ((1.0, 1.0, 1.0), (0.95, 0.95, 1.1), (1.1, 1.1, 1.0), (1.0, 1.0, 1.25))


@dataclass
class GrowthPhantom:
    """Images of one subject of the held-out family and its per-lesion truth.

    Attributes
    ----------
    t1, flair : list of nibabel.Nifti1Image
        One per visit; every visit has its own grid (and the FLAIR its own with ``flair_own_grid``).
    lesions, brain : nibabel.Nifti1Image
        Baseline lesion labels (label ``k`` = row ``k`` of :attr:`truth`) and brain mask, on the
        baseline T1 grid.
    dates, years : list
        ISO dates and years since baseline.
    truth : pandas.DataFrame
        Per baseline lesion: ``label, kind, pattern, shape, size_class, periventricular, is_sel,
        diameter_mm, true_expansion_pct_per_year, volume_mm3_<i>`` (truth relative to the brain at
        visit ``i``), ``center_x_mm, center_y_mm, center_z_mm`` (baseline scanner space),
        ``n_voxels``.
    settings : dict
        The arguments that produced it.
    """

    t1: list[Any]
    flair: list[Any]
    lesions: Any
    brain: Any
    dates: list[str]
    years: list[float]
    truth: pd.DataFrame
    settings: dict = field(default_factory=dict)

    def save(self, directory: str, prefix: str = "") -> dict[str, Any]:
        """Write ``<prefix>t1_<i>.nii.gz``, ``flair_<i>``, ``lesions``, ``brain``, ``truth.tsv``."""
        import os

        import nibabel as nib

        os.makedirs(directory, exist_ok=True)
        out: dict[str, Any] = {"t1": [], "flair": [], "dates": list(self.dates)}
        for i, (t1, fl) in enumerate(zip(self.t1, self.flair, strict=True), start=1):
            for name, img in (("t1", t1), ("flair", fl)):
                p = os.path.join(directory, f"{prefix}{name}_{i}.nii.gz")
                nib.save(img, p)
                out[name].append(p)
        for name, img in (("lesions", self.lesions), ("brain", self.brain)):
            p = os.path.join(directory, f"{prefix}{name}.nii.gz")
            nib.save(img, p)
            out[name] = p
        p = os.path.join(directory, f"{prefix}truth.tsv")
        self.truth.to_csv(p, sep="\t", index=False, na_rep="n/a")
        out["truth"] = p
        return out


def _templates() -> dict[str, Any]:
    from nilearn import datasets

    t1 = datasets.load_mni152_template(resolution=1)
    arr = {
        "t1": np.asarray(t1.dataobj, np.float32) / 0.87,  # white matter ~ 1
        "gm": np.asarray(datasets.load_mni152_gm_template(resolution=1).dataobj, np.float32),
        "wm": np.asarray(datasets.load_mni152_wm_template(resolution=1).dataobj, np.float32),
        "brain": np.asarray(datasets.load_mni152_brain_mask(resolution=1).dataobj, np.float32),
    }
    arr["tex"] = arr["t1"] - ndimage.gaussian_filter(arr["t1"], 2.0)
    return {"maps": arr, "inv": np.linalg.inv(np.asarray(t1.affine, float))}


def _sample(tpl: dict[str, Any], pts: np.ndarray, names: Sequence[str]) -> dict[str, np.ndarray]:
    inv = tpl["inv"]
    vox = inv[:3, :3] @ pts + inv[:3, 3:4]
    return {
        n: ndimage.map_coordinates(tpl["maps"][n], vox, order=1, mode="constant", cval=0.0)
        for n in names
    }


def _rigid(rng: np.random.Generator, deg: float, mm: float, center: np.ndarray) -> np.ndarray:
    axis = rng.normal(size=3)
    axis /= np.linalg.norm(axis)
    r = Rotation.from_rotvec(np.deg2rad(rng.uniform(-deg, deg)) * axis).as_matrix()
    m = np.eye(4)
    m[:3, :3] = r
    m[:3, 3] = center - r @ center + rng.uniform(-mm, mm, 3)
    return m


def _grid(
    rng: np.random.Generator, fov: np.ndarray, vs: np.ndarray, jitter_mm: float, tilt_deg: float
) -> tuple[tuple[int, ...], np.ndarray]:
    size = fov * rng.uniform(0.96, 1.04, 3)
    shape = tuple(int(n) for n in np.round(size / vs))
    rot = _rigid(rng, tilt_deg, 0.0, np.zeros(3))[:3, :3]
    center = FOV_CENTER + rng.uniform(-jitter_mm, jitter_mm, 3)
    aff = np.eye(4)
    aff[:3, :3] = rot @ np.diag(vs)
    aff[:3, 3] = center - aff[:3, :3] @ ((np.array(shape) - 1) / 2.0)
    return shape, aff


class _Chain:
    """Scanner world point at one visit -> anatomy point (the inverses of every map, in order)."""

    def __init__(self, ph: dict[str, Any], visit: int, t: float, extra: np.ndarray | None):
        self.ph, self.t = ph, t
        pose = ph["pose"][visit] if extra is None else extra @ ph["pose"][visit]
        self.pose_inv = np.linalg.inv(pose)
        s = ph["scale"] ** t
        self.scale_c = ph["scale_center"]
        self.s = s
        self.curl_scale = ph["curl_scale"][visit]
        self.g_vent = (1.0 + ph["vent_rate"]) ** t

    def __call__(self, y: np.ndarray) -> np.ndarray:
        return self.local(self.smooth(y))

    def smooth(self, y: np.ndarray) -> np.ndarray:
        """The smooth part of the inverse: pose, atrophy scaling and the distortion."""
        x = self.pose_inv[:3, :3] @ y + self.pose_inv[:3, 3:4]
        x = self.scale_c[:, None] + (x - self.scale_c[:, None]) / self.s
        return self.ph["curl"].inverse(x, self.curl_scale)

    def local(self, x: np.ndarray) -> np.ndarray:
        """The exact part: ventricles and lesion pushes (kinks at lesion edges)."""
        x = x.copy()
        for c in VENTRICLES:
            x = radial_inverse(c, VENTRICLE_CORE_MM, self.g_vent, x)
        for les in reversed(self.ph["lesions"]):
            if les.pattern in ("push", "push_compressive"):
                g = les.factor(self.t)
                near = ((x - les.shape.center[:, None]) ** 2).sum(axis=0) < (9.5 * les.rmax) ** 2
                if near.any() and g != 1.0:
                    x[:, near] = push_inverse(
                        les.shape, g, x[:, near], compressive=les.pattern == "push_compressive"
                    )
        return x

    def forward_center(self, c: np.ndarray) -> np.ndarray:
        """Approximate scanner position of an anatomy point (for choosing local boxes)."""
        x = self.scale_c + (c - self.scale_c) * self.s
        pose = np.linalg.inv(self.pose_inv)
        return pose[:3, :3] @ x + pose[:3, 3]


def _render(
    ph: dict[str, Any],
    chain: _Chain,
    shape: tuple[int, ...],
    aff: np.ndarray,
    *,
    t: float,
    contrasts: Sequence[str],
) -> tuple[dict[str, np.ndarray], np.ndarray, list[np.ndarray]]:
    """Images (``t1``, ``flair``) of one visit on one grid; also the brain and per-lesion PV maps."""
    x = chain.local(_smooth_on_grid(chain, shape, aff))
    tis = _sample(ph["tpl"], x, ("t1", "gm", "wm", "brain", "tex"))
    brain = (tis["brain"] > 0.5).reshape(shape)
    pv_all = [_lesion_pv(les, chain, shape, aff, t) for les in ph["all_lesions"]]
    frac = np.zeros(shape, np.float32)
    owner = np.full(shape, -1, np.int32)
    for k, pv in enumerate(pv_all):
        upd = pv > frac
        owner[upd] = k
        frac = np.maximum(frac, pv)
    frac *= brain
    at = frac.ravel() > 0
    out = {}
    for contrast in contrasts:
        if contrast == "t1":
            img = tis["t1"].copy()
            levels = np.array([les.t1_level(t) for les in ph["all_lesions"]] + [0.0])
        else:
            gm, wm = tis["gm"], tis["wm"]
            csf = np.clip(1.0 - gm - wm, 0.0, 1.0)
            img = (0.60 * wm + 0.80 * gm + 0.10 * csf) * (1.0 + 0.8 * tis["tex"])
            levels = np.array([les.flair_level for les in ph["all_lesions"]] + [0.0])
        level = levels[owner.ravel()].astype(np.float32)
        if contrast == "flair" and at.any():
            level[at] *= 1.0 + 0.06 * ph["lesion_texture"](x[:, at])
        f = frac.ravel()
        out[contrast] = (img * (1.0 - f) + f * level).reshape(shape).astype(np.float32)
    return out, brain, pv_all


def _lesion_pv(
    les: FrontLesion, chain: _Chain, shape: tuple[int, ...], aff: np.ndarray, t: float
) -> np.ndarray:
    """Partial-volume fraction of one lesion from ss^3 sub-samples per voxel, pulled back to anatomy."""
    pv = np.zeros(shape, np.float32)
    if not les.present(t):
        return pv
    ss = 3 if les.rmax < 4.0 else 2
    offs = (np.arange(ss) + 0.5) / ss - 0.5
    inv_aff = np.linalg.inv(aff)
    c = inv_aff[:3, :3] @ chain.forward_center(les.shape.center) + inv_aff[:3, 3]
    half = np.ceil(les.reach_mm(t) / np.linalg.svd(aff[:3, :3])[1].min()) + 2
    lo = np.maximum(np.floor(c - half).astype(int), 0)
    hi = np.minimum(np.ceil(c + half).astype(int) + 1, shape)
    if np.any(hi <= lo):
        return pv
    axes = [np.arange(a, b) for a, b in zip(lo, hi, strict=True)]
    sub = [(ax[:, None] + offs[None, :]).ravel().astype(np.float64) for ax in axes]
    gi = np.stack(np.meshgrid(*sub, indexing="ij")).reshape(3, -1)
    # the smooth part of the chain on the box's voxels (+1), interpolated to the sub-samples
    # (the distortion varies over 25-40 mm: trilinear error < 1e-4 mm); the rest exactly
    box = [np.arange(a - 1, b + 1) for a, b in zip(lo, hi, strict=True)]
    vox = np.stack(np.meshgrid(*box, indexing="ij"))
    xs = chain.smooth(aff[:3, :3] @ vox.reshape(3, -1) + aff[:3, 3:4]).reshape(3, *vox.shape[1:])
    rel = gi - (lo - 1)[:, None]
    xx = chain.local(np.stack([ndimage.map_coordinates(xs[k], rel, order=1) for k in range(3)]))
    inside = lesion_membership(les, xx, t).reshape(
        len(axes[0]), ss, len(axes[1]), ss, len(axes[2]), ss
    )
    pv[tuple(slice(a, b) for a, b in zip(lo, hi, strict=True))] = inside.mean(axis=(1, 3, 5))
    return pv


def _smooth_on_grid(
    chain: _Chain, shape: tuple[int, ...], aff: np.ndarray, step: int = 4
) -> np.ndarray:
    """The smooth part of the chain at every voxel, from a lattice every ``step`` voxels.

    Pose and scaling are affine (interpolated exactly); the distortion varies over 25-40 mm, so
    trilinear interpolation from 4 voxels errs by < 0.01 mm.
    """
    axes = [np.unique(np.r_[np.arange(0, n, step), n - 1]) for n in shape]
    lat = np.stack(np.meshgrid(*axes, indexing="ij"))
    xs = chain.smooth(aff[:3, :3] @ lat.reshape(3, -1) + aff[:3, 3:4]).reshape(3, *lat.shape[1:])
    # fractional lattice coordinates of every voxel
    frac = [
        np.interp(np.arange(n), ax, np.arange(ax.size)) for n, ax in zip(shape, axes, strict=True)
    ]
    grid = np.stack(np.meshgrid(*frac, indexing="ij")).reshape(3, -1)
    return np.stack([ndimage.map_coordinates(xs[k], grid, order=1) for k in range(3)])


def _scanner(
    img: np.ndarray, brain: np.ndarray, rng: np.random.Generator, p: dict[str, Any]
) -> np.ndarray:
    """Point-spread function, bias field, gain, contrast change, Rician noise, skull stripping."""
    out = ndimage.gaussian_filter(img, 0.42)
    grid = np.indices(img.shape, dtype=np.float32)
    rel = [(g / max(n - 1, 1) - 0.5) * 2 for g, n in zip(grid, img.shape, strict=True)]
    c = rng.normal(size=9) * p["bias"]
    logb = (
        c[0] * rel[0] + c[1] * rel[1] + c[2] * rel[2]
        + c[3] * rel[0] * rel[1] + c[4] * rel[1] * rel[2] + c[5] * rel[0] * rel[2]
        + c[6] * (rel[0] ** 2 - 1 / 3) + c[7] * (rel[1] ** 2 - 1 / 3) + c[8] * (rel[2] ** 2 - 1 / 3)
    )  # fmt: skip
    gamma = 1.0 + rng.uniform(-p["contrast_drift"], p["contrast_drift"])
    out = np.power(np.clip(out, 0.0, None), gamma) * np.exp(logb)
    sd = p["noise"]
    re = out + rng.normal(size=out.shape) * sd
    im = rng.normal(size=out.shape) * sd
    out = np.sqrt(re * re + im * im)
    gain = p["intensity_scale"] * rng.uniform(0.8, 1.2)
    keep = ndimage.binary_dilation(brain, iterations=1)
    return np.where(keep, out * gain, 0.0).astype(np.float32)


def simulate_growth_phantom(
    seed: int = 0,
    *,
    years: Sequence[float] = (0.0, 1.0, 2.0),
    start_date: str = "2019-03-04",
    fov_mm: Sequence[float] = DEFAULT_FOV_MM,
    voxel_sizes: Sequence[Sequence[float]] | None = None,
    kinds: Sequence[str] | None = None,
    n_lesions: int = 12,
    sizes: Sequence[str] = ("small", "medium", "large"),
    expansion_pct_per_year: tuple[float, float] = (3.0, 40.0),
    shrink_pct_per_year: tuple[float, float] = (-15.0, -4.0),
    patterns: Sequence[str] = ("push", "push_compressive", "front", "eccentric"),
    atrophy_pct_per_year: tuple[float, float] = (0.3, 1.2),
    pose_deg: float = 3.0,
    pose_mm: float = 4.0,
    fov_jitter_mm: float = 6.0,
    tilt_deg: float = 4.0,
    flair_own_grid: bool = False,
    session_motion_mm: float = 1.0,
    noise: float = 0.02,
    bias: float = 0.05,
    contrast_drift: float = 0.03,
) -> GrowthPhantom:
    """Simulate one subject of the held-out family (see the module docstring).

    Parameters
    ----------
    seed : int
        Seed of every random choice.
    years : sequence of float
        Visit times in years (first 0, increasing).
    start_date : str
        ISO date of the baseline.
    fov_mm : (x, y, z)
        Field of view in mm (every visit varies it by +-4 % and moves and tilts it).
    voxel_sizes : sequence of (x, y, z), optional
        Voxel size per visit; default 1 mm at baseline and a size from
        :data:`FOLLOW_UP_VOXELS` at each follow-up.
    kinds : sequence of str, optional
        Kind of each lesion (:data:`GROWTH_KINDS`); default cycles expanding, stable, expanding,
        shrinking, expanding, new_beside_old, one_sided.
    n_lesions : int
        Lesions when ``kinds`` is not given.
    sizes : sequence of {"small", "medium", "large"}
        Size classes to draw from (diameters 3-5, 6-10, 12-18 mm).
    expansion_pct_per_year, shrink_pct_per_year : (low, high)
        Compound volume change per year relative to the brain (expansion drawn log-uniformly).
    patterns : sequence of str
        Growth fields of expanding lesions (``push``, ``push_compressive``, ``front``,
        ``eccentric``).
    atrophy_pct_per_year : (low, high)
        Range of whole-brain volume loss per year.
    pose_deg, pose_mm : float
        Largest head rotation and translation per axis at every visit.
    fov_jitter_mm, tilt_deg : float
        Largest shift and tilt of the field of view per visit.
    flair_own_grid : bool
        Give each FLAIR its own grid (1 x 1 x 1.2 mm, own field of view) and head motion of up to
        ``session_motion_mm`` (and as many tenths of a degree x 10) after the T1.
    session_motion_mm : float
        Head motion between T1 and FLAIR of one visit.
    noise, bias, contrast_drift : float
        Rician noise SD (white-matter T1 = 1), bias-field amplitude, and the largest change of
        the contrast exponent per scan.

    Returns
    -------
    GrowthPhantom
    """
    yrs = [float(v) for v in years]
    if len(yrs) < 2 or yrs[0] != 0.0 or any(b <= a for a, b in zip(yrs, yrs[1:], strict=False)):
        raise ValueError(f"years must start at 0 and increase (two or more); got {yrs}")
    rng = np.random.default_rng(seed)
    tpl = _templates()
    if kinds is None:
        order = ["expanding", "stable", "expanding", "shrinking", "expanding", "new_beside_old"]
        order.append("one_sided")
        kinds = [order[i % len(order)] for i in range(n_lesions)]
    for k in kinds:
        if k not in GROWTH_KINDS:
            raise ValueError(f"unknown lesion kind {k!r}; expected one of {sorted(GROWTH_KINDS)}")
    specs, new_lesions = make_lesion_specs(
        rng,
        tpl,
        list(kinds),
        sizes=list(sizes),
        patterns=list(patterns),
        expansion=expansion_pct_per_year,
        shrink=shrink_pct_per_year,
        first_follow_up=yrs[1],
        ventricles=VENTRICLES,
        ventricle_core=VENTRICLE_CORE_MM,
        fov_center=FOV_CENTER,
        fov=np.asarray(fov_mm, float),
    )
    n = len(yrs)
    atrophy = rng.uniform(*atrophy_pct_per_year)
    brain_center = np.array([0.0, -18.0, 18.0]) + rng.uniform(-10, 10, 3)
    ph: dict[str, Any] = {
        "tpl": tpl,
        "lesions": specs,
        "all_lesions": specs + new_lesions,
        "pose": [_rigid(rng, pose_deg, pose_mm, brain_center) for _ in range(n)],
        "scale": (1.0 - atrophy / 100.0) ** (1.0 / 3.0),
        "scale_center": brain_center,
        "vent_rate": rng.uniform(0.2, 0.5),
        "curl": CurlField(
            centers=brain_center[:, None] + rng.uniform(-40, 40, (3, 5)),
            dirs=_unit(rng.normal(size=(3, 5))),
            amp=rng.uniform(0.2, 0.5, 5),
            width=float(rng.uniform(25, 40)),
        ),
        "curl_scale": [0.0] + [float(rng.uniform(0.5, 1.5)) for _ in range(n - 1)],
        "lesion_texture": _texture(rng),
    }
    scan = {"noise": noise, "bias": bias, "contrast_drift": contrast_drift}
    scan["intensity_scale"] = float(rng.uniform(300, 1500))
    t1s, fls = [], []
    rendered: list[list[float]] = []
    labels0 = brain0 = None
    fov = np.asarray(fov_mm, float)
    for vi, t in enumerate(yrs):
        if voxel_sizes is not None:
            vs = np.asarray(voxel_sizes[vi], float)
        elif vi == 0:
            vs = np.ones(3)
        else:
            vs = np.asarray(FOLLOW_UP_VOXELS[int(rng.integers(len(FOLLOW_UP_VOXELS)))], float)
        shape, aff = _grid(rng, fov, vs, fov_jitter_mm if vi else 0.0, tilt_deg if vi else 0.0)
        chain = _Chain(ph, vi, t, None)
        if flair_own_grid:
            imgs, brain, pv = _render(ph, chain, shape, aff, t=t, contrasts=("t1",))
            t1 = imgs["t1"]
            fshape, faff = _grid(rng, fov, np.array([1.0, 1.0, 1.2]), fov_jitter_mm, tilt_deg)
            move = _rigid(rng, 1.0 * session_motion_mm, session_motion_mm, brain_center)
            fimgs, fbrain, _ = _render(
                ph, _Chain(ph, vi, t, move), fshape, faff, t=t, contrasts=("flair",)
            )
            fl = fimgs["flair"]
        else:
            imgs, brain, pv = _render(ph, chain, shape, aff, t=t, contrasts=("t1", "flair"))
            t1, fl, faff, fbrain = imgs["t1"], imgs["flair"], aff, brain
        vox_mm3 = abs(float(np.linalg.det(aff[:3, :3])))
        brain_ratio = ph["scale"] ** (3 * t)
        rendered.append([float(p.sum()) * vox_mm3 / brain_ratio for p in pv[: len(specs)]])
        t1s.append(_nifti(_scanner(t1, brain, rng, scan), aff))
        fls.append(_nifti(_scanner(fl, fbrain, rng, scan), faff))
        if vi == 0:
            labels0 = np.zeros(shape, np.int16)
            for li, les in enumerate(specs):
                cut = (pv[li] >= les.mask_threshold) & (labels0 == 0) & brain
                labels0[cut] = li + 1
            brain0 = brain.astype(np.uint8)
            base_aff, base_chain = aff, chain
    assert labels0 is not None and brain0 is not None
    truth = _truth(specs, yrs, labels0, base_aff, base_chain, np.array(rendered))
    start = _dt.date.fromisoformat(start_date)
    dates = [(start + _dt.timedelta(days=int(round(v * 365.25)))).isoformat() for v in yrs]
    settings = {
        "seed": seed,
        "years": yrs,
        "fov_mm": list(fov_mm),
        "kinds": list(kinds),
        "flair_own_grid": flair_own_grid,
        "noise": noise,
        "atrophy_pct_per_year": float(atrophy),
    }
    return GrowthPhantom(
        t1=t1s,
        flair=fls,
        lesions=_nifti(labels0, base_aff, np.int16),
        brain=_nifti(brain0, base_aff, np.uint8),
        dates=dates,
        years=yrs,
        truth=truth,
        settings=settings,
    )


def _truth(
    specs: list[FrontLesion],
    yrs: list[float],
    labels0: np.ndarray,
    aff: np.ndarray,
    chain: _Chain,
    rendered: np.ndarray,
) -> pd.DataFrame:
    """Per-lesion truth; volumes are those rendered (partial-volume sums, relative to the brain).

    ``true_expansion_pct_per_year`` is the log-linear fit through the origin of the rendered
    volume ratios (the measure the SEL engine reports), ``nominal_expansion_pct_per_year`` the
    rate the growth was built with (they differ by the sub-sampling error of small lesions).
    """
    counts = np.bincount(labels0.ravel(), minlength=len(specs) + 1)
    t = np.asarray(yrs[1:])
    rows = []
    for k, les in enumerate(specs):
        c = chain.forward_center(les.shape.center)
        row = {
            "label": k + 1,
            "kind": les.kind,
            "pattern": les.pattern,
            "shape": les.shape_name,
            "size_class": les.size_class,
            "periventricular": les.periventricular,
            "is_sel": GROWTH_KINDS[les.kind],
            "diameter_mm": float(2.0 * np.cbrt(3.0 * les.v0 / (4.0 * np.pi))),
            "true_expansion_pct_per_year": _log_fit(t, rendered[1:, k] / rendered[0, k]),
            "nominal_expansion_pct_per_year": float(les.rate),
            "center_x_mm": float(c[0]),
            "center_y_mm": float(c[1]),
            "center_z_mm": float(c[2]),
            "n_voxels": int(counts[k + 1]),
        }
        for i in range(len(yrs)):
            row[f"volume_mm3_{i + 1}"] = float(rendered[i, k])
        rows.append(row)
    return pd.DataFrame(rows)


def _log_fit(t: np.ndarray, ratios: np.ndarray) -> float:
    lr = np.log(np.maximum(ratios, 1e-9))
    return float((np.exp((t * lr).sum() / (t * t).sum()) - 1.0) * 100.0)


def _unit(v: np.ndarray) -> np.ndarray:
    return v / np.linalg.norm(v, axis=0, keepdims=True)


def _texture(rng: np.random.Generator) -> Any:
    """A smooth zero-mean unit-variance random function of anatomy position (3 mm waves)."""
    k = _unit(rng.normal(size=(3, 12))) * (2 * np.pi / rng.uniform(2.5, 4.0, 12))
    ph = rng.uniform(0, 2 * np.pi, 12)

    def f(x: np.ndarray) -> np.ndarray:
        return np.cos(k.T @ x + ph[:, None]).sum(axis=0) * np.sqrt(2.0 / 12)

    return f


def _nifti(a: np.ndarray, affine: np.ndarray, dtype: type = np.float32) -> Any:
    import nibabel as nib

    img = nib.Nifti1Image(np.asarray(a, dtype=dtype), affine)
    img.header.set_xyzt_units("mm")
    return img


__all__ = ["GrowthPhantom", "simulate_growth_phantom", "GROWTH_KINDS", "StarShape"]
