"""Longitudinal MRI phantoms for slowly expanding lesions (SEL), with known ground truth.

One virtual subject is scanned at several time points. The anatomy is the
MNI152 grey/white-matter template that nilearn ships (no download), cropped to
a box and sampled at the requested voxel size. White-matter lesions of five
kinds are drawn as ellipsoids with a partial-volume edge:

- ``expanding``: grows concentrically, its volume multiplied by ``(1 + r)`` per
  year (``r`` drawn from ``expansion_pct_per_year``); its T1 signal falls by
  ``t1_drop_pct_per_year`` (tissue loss inside a chronic active lesion);
- ``stable``: unchanged;
- ``shrinking``: volume multiplied by ``(1 + r)`` per year with ``r < 0``;
- ``new_adjacent``: a stable lesion next to which a *new* lesion appears
  after baseline, touching it (a classic false SEL: one-sided growth).

Every time point then gets, in this order: global atrophy (a uniform scaling
of the whole brain about its centre, ``atrophy_pct_per_year`` of brain volume
per year, so lesions shrink with the brain), a small known rigid
misregistration (follow-ups only; baseline is the reference of the lesion
mask), a scanner-dependent intensity drift (global gain and a linear bias
field), and Gaussian noise. T1 and FLAIR of one time point share one grid.

The true expansion of a lesion is its *own* volume change, i.e. relative to
the brain: ``true_expansion_pct_per_year`` in :attr:`SELPhantom.truth`.
Everything is deterministic from the seed.

Example
-------
>>> from smoulder.synth.sel_phantom import simulate_sel_phantom
>>> ph = simulate_sel_phantom(seed=1, years=(0, 1, 2))  # doctest: +SKIP
>>> ph.truth[["label", "kind", "is_sel", "true_expansion_pct_per_year"]]  # doctest: +SKIP
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

#: Lesion kinds and whether each is a true SEL.
SEL_KINDS = {"expanding": True, "stable": False, "shrinking": False, "new_adjacent": False}

#: Tissue intensities (T1, FLAIR) relative to white-matter T1 = 1.
T1_LEVELS = {"wm": 1.0, "gm": 0.62, "csf": 0.22, "lesion": 0.55}
FLAIR_LEVELS = {"wm": 0.55, "gm": 0.70, "csf": 0.12, "lesion": 1.0}

DEFAULT_BOX = ((-56.0, 56.0), (-64.0, 40.0), (-12.0, 56.0))


@dataclass
class SELPhantom:
    """Images of one longitudinal phantom subject and its per-lesion ground truth.

    Attributes
    ----------
    t1, flair : list of nibabel.Nifti1Image
        One image per time point (T1 and FLAIR share each time point's grid).
    lesions : nibabel.Nifti1Image
        Baseline lesion labels (int16) on the baseline grid; label ``k`` is row
        ``k`` of :attr:`truth`.
    dates : list of str
        ISO dates of the time points.
    years : list of float
        Time since baseline in years (365.25-day years, as the dates give).
    truth : pandas.DataFrame
        One row per baseline lesion: ``label, kind, is_sel, true_expansion_pct_per_year,
        center_x_mm, center_y_mm, center_z_mm, radius_mm, n_voxels``.
    rigid : list of numpy.ndarray
        The 4x4 world (RAS mm) rigid transform applied to each time point
        (identity at baseline): anatomy point ``a`` appears at ``rigid @ a``.
    brain_scale : list of float
        Linear scale of the brain at each time point (atrophy).
    settings : dict
        The arguments that produced the phantom.
    """

    t1: list[Any]
    flair: list[Any]
    lesions: Any
    dates: list[str]
    years: list[float]
    truth: pd.DataFrame
    rigid: list[np.ndarray]
    brain_scale: list[float]
    brain: Any = None
    settings: dict = field(default_factory=dict)

    def save(self, directory: str, prefix: str = "") -> dict[str, Any]:
        """Write ``<prefix>t1_<i>.nii.gz``, ``flair_<i>``, ``lesions``, ``truth.tsv``; return paths (i from 1)."""
        import os

        import nibabel as nib

        os.makedirs(directory, exist_ok=True)
        out: dict[str, Any] = {"t1": [], "flair": [], "dates": list(self.dates)}
        for i, (t1, fl) in enumerate(zip(self.t1, self.flair, strict=True), start=1):
            for name, img in (("t1", t1), ("flair", fl)):
                p = os.path.join(directory, f"{prefix}{name}_{i}.nii.gz")
                nib.save(img, p)
                out[name].append(p)
        p = os.path.join(directory, f"{prefix}lesions.nii.gz")
        nib.save(self.lesions, p)
        out["lesions"] = p
        p = os.path.join(directory, f"{prefix}truth.tsv")
        self.truth.to_csv(p, sep="\t", index=False, na_rep="n/a")
        out["truth"] = p
        return out


def _tissue_sampler() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    from smoulder.synth.mri import _templates

    return _templates()


def _rigid_matrix(rot_deg: np.ndarray, trans_mm: np.ndarray, center: np.ndarray) -> np.ndarray:
    m = np.eye(4)
    r = Rotation.from_rotvec(np.deg2rad(rot_deg)).as_matrix()
    m[:3, :3] = r
    m[:3, 3] = center - r @ center + trans_mm
    return m


def simulate_sel_phantom(
    seed: int = 0,
    *,
    years: Sequence[float] = (0.0, 1.0, 2.0),
    start_date: str = "2020-01-15",
    voxel_size: float = 2.0,
    box_mm: Sequence[Sequence[float]] = DEFAULT_BOX,
    kinds: Sequence[str] | None = None,
    n_lesions: int = 10,
    radius_mm: tuple[float, float] = (4.0, 6.5),
    expansion_pct_per_year: tuple[float, float] = (10.0, 20.0),
    shrink_pct_per_year: tuple[float, float] = (-15.0, -8.0),
    t1_drop_pct_per_year: float = 3.0,
    atrophy_pct_per_year: float = 0.5,
    misregistration_mm: float = 1.0,
    misregistration_deg: float = 1.0,
    drift: float = 0.05,
    noise: float = 0.02,
) -> SELPhantom:
    """Simulate one subject at several time points: T1, FLAIR, baseline lesion mask and truth.

    Parameters
    ----------
    seed : int
        Seed of the random generator; equal seeds give identical phantoms.
    years : sequence of float
        Times of the scans in years since baseline (first must be 0, increasing).
    start_date : str
        ISO date of the baseline scan; the other dates follow ``years`` (365.25 days a year).
    voxel_size : float
        Isotropic voxel size in mm (1-3 mm are sensible).
    box_mm : ((xmin, xmax), (ymin, ymax), (zmin, zmax))
        Region of MNI space to image.
    kinds : sequence of str, optional
        Kind of each lesion, from :data:`SEL_KINDS`; default ``n_lesions`` lesions
        cycling through expanding, stable, shrinking, new_adjacent.
    radius_mm : (low, high)
        Range of the baseline lesion radius (ellipsoids with axes within +-15 %).
    expansion_pct_per_year, shrink_pct_per_year : (low, high)
        Ranges of the volume change per year of expanding and shrinking lesions.
    t1_drop_pct_per_year : float
        Fall of the T1 signal inside expanding lesions per year (percent of the lesion level).
    atrophy_pct_per_year : float
        Whole-brain volume loss per year (uniform scaling about the brain centre).
    misregistration_mm, misregistration_deg : float
        Largest translation per axis and rotation about a random axis of each follow-up.
    drift : float
        Scale of the intensity drift between scans: gain ``1 + drift * N(0, 1)`` and a
        linear bias field of amplitude ``drift`` across the box.
    noise : float
        SD of the Gaussian noise relative to white-matter T1 = 1.

    Returns
    -------
    SELPhantom
    """

    yrs = [float(y) for y in years]
    if len(yrs) < 2 or yrs[0] != 0.0 or any(b <= a for a, b in zip(yrs, yrs[1:], strict=False)):
        raise ValueError(
            f"years must start at 0 and increase, with at least two time points; got {yrs}"
        )
    rng = np.random.default_rng(seed)
    if kinds is None:
        order = ["expanding", "stable", "shrinking", "new_adjacent"]
        kinds = [order[i % 4] for i in range(n_lesions)]
    kinds = [str(k) for k in kinds]
    for k in kinds:
        if k not in SEL_KINDS:
            raise ValueError(f"unknown lesion kind {k!r}; expected one of {sorted(SEL_KINDS)}")

    gm_t, wm_t, brain_t, t_aff = _tissue_sampler()
    vs = float(voxel_size)
    lo = np.array([b[0] for b in box_mm], float)
    hi = np.array([b[1] for b in box_mm], float)
    shape = tuple(int(n) for n in np.maximum(np.round((hi - lo) / vs), 8).astype(int))
    affine = np.diag([vs, vs, vs, 1.0])
    affine[:3, 3] = lo + vs / 2
    ijk = np.indices(shape, dtype=np.float32).reshape(3, -1)
    world = (affine[:3, :3] @ ijk + affine[:3, 3:4]).astype(np.float64)  # (3, N)
    t_inv = np.linalg.inv(t_aff)

    def tissues_at(pts: np.ndarray) -> dict[str, np.ndarray]:
        vox = t_inv[:3, :3] @ pts + t_inv[:3, 3:4]
        return {
            name: ndimage.map_coordinates(arr, vox, order=1, mode="constant", cval=0.0).reshape(
                shape
            )
            for name, arr in (("gm", gm_t), ("wm", wm_t), ("brain", brain_t))
        }

    base = tissues_at(world)
    brain0 = base["brain"] > 0.5
    brain_center = world[:, brain0.ravel()].mean(axis=1)

    # ------------------------------------------------------------ lesion placement
    wm_core = ndimage.distance_transform_edt(base["wm"] > 0.5, sampling=vs)
    # keep lesions well inside the box: registration damps displacements near the image edge
    edge_mm = np.minimum(world - lo[:, None], hi[:, None] - world).min(axis=0).reshape(shape)
    placed: list[tuple[np.ndarray, float]] = []
    lesions: list[dict[str, Any]] = []
    radii = rng.uniform(radius_mm[0], radius_mm[1], size=len(kinds))
    for i, kind in enumerate(kinds):
        r = float(radii[i])
        reach = r * (1.9 if kind == "new_adjacent" else 1.35)
        cand = np.flatnonzero(((edge_mm >= 12.0 + reach) & (wm_core >= 0.5 * r)).ravel())
        center = None
        for _ in range(500):
            if cand.size == 0:
                break
            c = world[:, rng.choice(cand)] + rng.uniform(-0.5, 0.5, 3) * vs
            if all(np.linalg.norm(c - pc) >= reach + pr + 3.0 for pc, pr in placed):
                center = c
                break
        if center is None:
            raise ValueError(
                f"could not place lesion {i + 1} of {len(kinds)} (radius {r:.1f} mm) in the white "
                "matter of this box; use fewer or smaller lesions or a larger box_mm"
            )
        placed.append((center, reach))
        axes = r * rng.uniform(0.85, 1.15, 3)
        axes *= r / np.cbrt(np.prod(axes))
        if kind == "expanding":
            rate = float(rng.uniform(*expansion_pct_per_year))
        elif kind == "shrinking":
            rate = float(rng.uniform(*shrink_pct_per_year))
        else:
            rate = 0.0
        les = {
            "label": i + 1,
            "kind": kind,
            "center": center,
            "axes": axes,
            "rot": Rotation.random(random_state=int(rng.integers(2**31))).as_matrix(),
            "rate": rate,
            "level": float(rng.uniform(0.95, 1.05)),
        }
        if kind == "new_adjacent":
            d = rng.normal(size=3)
            d /= np.linalg.norm(d)
            r_new = float(rng.uniform(0.55, 0.7) * r)
            les["new_center"] = center + d * (r + 0.6 * r_new)
            les["new_radius"] = r_new
            les["new_onset"] = yrs[1] * 0.5
        lesions.append(les)

    # ------------------------------------------------------------------ per scan
    t1_imgs, fl_imgs, rigids, scales = [], [], [], []
    labels0 = np.zeros(shape, np.int16)
    start = _dt.date.fromisoformat(start_date)
    dates = [(start + _dt.timedelta(days=int(round(y * 365.25)))).isoformat() for y in yrs]
    for ti, t in enumerate(yrs):
        s = (1.0 - atrophy_pct_per_year / 100.0) ** (t / 3.0)
        if ti == 0:
            rig = np.eye(4)
        else:
            axis = rng.normal(size=3)
            axis /= np.linalg.norm(axis)
            rig = _rigid_matrix(
                axis * rng.uniform(-misregistration_deg, misregistration_deg),
                rng.uniform(-misregistration_mm, misregistration_mm, 3),
                brain_center,
            )
        scl = np.eye(4)
        scl[:3, :3] *= s
        scl[:3, 3] = brain_center - s * brain_center
        fwd = rig @ scl  # anatomy -> scanner world at time t
        inv = np.linalg.inv(fwd)
        anat = inv[:3, :3] @ world + inv[:3, 3:4]
        tis = tissues_at(anat)
        brain = tis["brain"] > 0.5
        gm, wm = tis["gm"] * brain, tis["wm"] * brain
        csf = np.clip(1.0 - gm - wm, 0.0, 1.0) * brain
        frac = np.zeros(shape, np.float32)
        t1_les = np.zeros(shape, np.float32)
        fl_les = np.zeros(shape, np.float32)
        for les in lesions:
            g = (1.0 + les["rate"] / 100.0) ** (t / 3.0)
            parts = [(les["center"], les["axes"] * g, les["rot"])]
            if "new_center" in les and t >= les["new_onset"]:
                parts.append((les["new_center"], np.full(3, les["new_radius"]), np.eye(3)))
            for pi, (c, ax, rot) in enumerate(parts):
                rel = anat - c[:, None]
                loc = rot.T @ rel
                rho = np.sqrt(((loc / ax[:, None]) ** 2).sum(axis=0))
                d_mm = (rho - 1.0) * float(np.cbrt(np.prod(ax)))  # approximate signed distance
                f = np.clip(0.5 - d_mm / vs, 0.0, 1.0).reshape(shape).astype(np.float32)
                f *= brain
                if ti == 0 and pi == 0:
                    labels0[(f >= 0.5) & (labels0 == 0)] = les["label"]
                drop = (
                    (1.0 - t1_drop_pct_per_year / 100.0 * t)
                    if les["kind"] == "expanding" and pi == 0
                    else 1.0
                )
                frac = np.maximum(frac, f)
                t1_les = np.maximum(t1_les, f * T1_LEVELS["lesion"] * drop * les["level"])
                fl_les = np.maximum(fl_les, f * FLAIR_LEVELS["lesion"] * les["level"])
        t1 = T1_LEVELS["wm"] * wm + T1_LEVELS["gm"] * gm + T1_LEVELS["csf"] * csf
        fl = FLAIR_LEVELS["wm"] * wm + FLAIR_LEVELS["gm"] * gm + FLAIR_LEVELS["csf"] * csf
        t1 = t1 * (1 - frac) + t1_les
        fl = fl * (1 - frac) + fl_les
        gain = 1.0 + drift * rng.normal(size=2) if ti > 0 else np.ones(2)
        grad = rng.normal(size=(2, 3)) * drift if ti > 0 else np.zeros((2, 3))
        rel_w = (world - world.mean(axis=1, keepdims=True)) / (hi - lo)[:, None]
        imgs = []
        for ci, img in enumerate((t1, fl)):
            bias = (1.0 + grad[ci] @ rel_w).reshape(shape)
            out = img * gain[ci] * bias + rng.normal(size=shape) * noise
            imgs.append(np.where(brain, np.abs(out), 0.0).astype(np.float32) * 100.0)
        t1_imgs.append(_nifti(imgs[0], affine))
        fl_imgs.append(_nifti(imgs[1], affine))
        rigids.append(rig)
        scales.append(s)
        if ti == 0:
            brain_img = _nifti(brain.astype(np.uint8), affine, np.uint8)

    counts = np.bincount(labels0.ravel(), minlength=len(lesions) + 1)
    truth = pd.DataFrame(
        {
            "label": [les["label"] for les in lesions],
            "kind": [les["kind"] for les in lesions],
            "is_sel": [SEL_KINDS[les["kind"]] for les in lesions],
            "true_expansion_pct_per_year": [les["rate"] for les in lesions],
            "center_x_mm": [les["center"][0] for les in lesions],
            "center_y_mm": [les["center"][1] for les in lesions],
            "center_z_mm": [les["center"][2] for les in lesions],
            "radius_mm": [float(np.cbrt(np.prod(les["axes"]))) for les in lesions],
            "n_voxels": counts[1 : len(lesions) + 1],
        }
    )
    settings = {
        "seed": seed,
        "years": yrs,
        "voxel_size": vs,
        "box_mm": [list(b) for b in box_mm],
        "kinds": kinds,
        "atrophy_pct_per_year": atrophy_pct_per_year,
        "noise": noise,
        "drift": drift,
        "misregistration_mm": misregistration_mm,
        "misregistration_deg": misregistration_deg,
        "t1_drop_pct_per_year": t1_drop_pct_per_year,
    }
    return SELPhantom(
        t1=t1_imgs,
        flair=fl_imgs,
        lesions=_nifti(labels0, affine, np.int16),
        dates=dates,
        years=yrs,
        truth=truth,
        rigid=rigids,
        brain_scale=scales,
        brain=brain_img,
        settings=settings,
    )


def _nifti(a: np.ndarray, affine: np.ndarray, dtype: type = np.float32) -> Any:
    import nibabel as nib

    img = nib.Nifti1Image(np.asarray(a, dtype=dtype), affine)
    img.header.set_xyzt_units("mm")
    return img


__all__ = ["SELPhantom", "simulate_sel_phantom", "SEL_KINDS"]
