"""Two-visit FLAIR phantoms with planted new, enlarging, shrinking and stable lesions (known truth).

The anatomy is the MNI152 template that nilearn ships (as the SEL phantoms,
:mod:`smoulder.synth.sel_phantom`), cropped to a box and sampled at the requested voxel size.
White-matter lesions are ellipsoids, or *lobulated* unions of two or three ellipsoids, with a
partial-volume edge and a FLAIR brightness drawn per lesion:

- ``stable``: the same at both visits;
- ``new``: absent at baseline, present at follow-up;
- ``enlarging``: its volume multiplied by ``1 + g/100`` (``g`` drawn from ``growth_pct``);
- ``shrinking``: its volume multiplied by ``1 - h/100`` (``h`` from ``shrink_pct``).

The follow-up then gets global atrophy (a uniform scaling of the brain about its centre), a
random rigid pose change, an intensity drift (gain and a smooth bias field, linear or quadratic)
and Gaussian noise. Two families of settings exist, :data:`FAMILIES`: ``"tuning"`` (what the
method's defaults were chosen on) and ``"heldout"`` (other voxel size, lesion shapes, sizes,
contrasts, pose, atrophy, noise and bias: what the benchmark reports on).

Example
-------
>>> from smoulder.synth.activity_phantom import simulate_activity_pair
>>> ph = simulate_activity_pair(seed=1)  # doctest: +SKIP
>>> ph.truth[["label", "kind", "growth_pct"]]  # doctest: +SKIP
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

from smoulder.synth.sel_phantom import DEFAULT_BOX, FLAIR_LEVELS, _nifti, _rigid_matrix

__all__ = ["ActivityPhantom", "simulate_activity_pair", "FAMILIES", "KINDS"]

KINDS = ("stable", "new", "enlarging", "shrinking")

#: generator settings of the tuning family and of the held-out family
FAMILIES: dict[str, dict[str, Any]] = {
    "tuning": {
        "voxel_size": 1.5,
        "counts": {"stable": 4, "new": 3, "enlarging": 2, "shrinking": 1},
        "radius_mm": (2.5, 6.0),
        "new_radius_mm": (1.8, 4.5),
        "growth_pct": (60.0, 200.0),
        "shrink_pct": (20.0, 40.0),
        "contrast": (1.6, 2.0),
        "shapes": ("ellipsoid",),
        "atrophy_pct": 0.5,
        "misregistration_mm": 2.0,
        "misregistration_deg": 3.0,
        "drift": 0.05,
        "bias": "linear",
        "noise": 0.02,
    },
    "heldout": {
        "voxel_size": 1.2,
        "counts": {"stable": (2, 6), "new": (0, 4), "enlarging": (0, 3), "shrinking": (0, 2)},
        "radius_mm": (2.0, 7.5),
        "new_radius_mm": (1.6, 5.5),
        "growth_pct": (55.0, 300.0),
        "shrink_pct": (15.0, 50.0),
        "contrast": (1.45, 2.3),
        "shapes": ("ellipsoid", "lobulated"),
        "atrophy_pct": (0.0, 1.5),
        "misregistration_mm": 4.0,
        "misregistration_deg": 6.0,
        "drift": 0.08,
        "bias": "quadratic",
        "noise": (0.015, 0.035),
    },
}


@dataclass
class ActivityPhantom:
    """Two FLAIR scans of one phantom subject, the baseline lesion mask and the truth.

    Attributes
    ----------
    flair : list of nibabel.Nifti1Image
        Baseline and follow-up FLAIR (each on its own grid; the follow-up is posed differently).
    lesions : nibabel.Nifti1Image
        Baseline lesion labels (int16) on the baseline grid; label ``k`` is the row with
        ``label == k`` of :attr:`truth` (new lesions have labels but no baseline voxels).
    dates : list of str
        ISO dates of the two scans.
    truth : pandas.DataFrame
        One row per lesion: ``label, kind, shape, center_x_mm, center_y_mm, center_z_mm`` (baseline
        scanner space), ``radius_mm, volume_v1_mm3, volume_v2_mm3, growth_pct, contrast``.
    to_followup : numpy.ndarray
        4x4 world transform (pose change and atrophy) taking a baseline point to the follow-up
        scanner point of the same anatomy.
    settings : dict
        The settings that made the phantom.
    """

    flair: list[Any]
    lesions: Any
    dates: list[str]
    truth: pd.DataFrame
    to_followup: np.ndarray
    settings: dict = field(default_factory=dict)

    @property
    def expected_new(self) -> int:
        """New lesions planted."""
        return int((self.truth["kind"] == "new").sum())

    @property
    def expected_enlarging(self) -> int:
        """Enlarging lesions planted."""
        return int((self.truth["kind"] == "enlarging").sum())

    def save(self, directory: str, prefix: str = "") -> dict[str, Any]:
        """Write ``<prefix>flair_1.nii.gz``, ``flair_2``, ``lesions``, ``truth.tsv``; return paths."""
        import os

        import nibabel as nib

        os.makedirs(directory, exist_ok=True)
        out: dict[str, Any] = {"flair": [], "dates": list(self.dates)}
        for i, img in enumerate(self.flair, start=1):
            p = os.path.join(directory, f"{prefix}flair_{i}.nii.gz")
            nib.save(img, p)
            out["flair"].append(p)
        out["lesions"] = os.path.join(directory, f"{prefix}lesions.nii.gz")
        nib.save(self.lesions, out["lesions"])
        out["truth"] = os.path.join(directory, f"{prefix}truth.tsv")
        self.truth.to_csv(out["truth"], sep="\t", index=False, na_rep="n/a")
        return out


def _draw(rng: np.random.Generator, v: Any) -> Any:
    """A value, or a uniform draw from a (low, high) pair (an integer draw for int pairs)."""
    if isinstance(v, tuple) and len(v) == 2:
        if all(isinstance(x, int) for x in v):
            return int(rng.integers(v[0], v[1] + 1))
        return float(rng.uniform(v[0], v[1]))
    return v


def _parts(
    rng: np.random.Generator, r: float, shape: str
) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """(offset, axes, rotation) of the ellipsoids making one lesion of equivalent radius ~``r``."""
    rot = Rotation.random(random_state=int(rng.integers(2**31))).as_matrix()
    axes = r * rng.uniform(0.75, 1.3, 3)
    axes *= r / np.cbrt(np.prod(axes))
    parts = [(np.zeros(3), axes, rot)]
    if shape == "lobulated":
        for _ in range(int(rng.integers(1, 3))):
            d = rng.normal(size=3)
            d /= np.linalg.norm(d)
            rr = r * rng.uniform(0.45, 0.7)
            parts.append((d * r * 0.7, np.full(3, rr), np.eye(3)))
    return parts


def simulate_activity_pair(
    seed: int = 0,
    *,
    family: str = "tuning",
    interval_years: float = 1.0,
    start_date: str = "2021-03-02",
    box_mm: Sequence[Sequence[float]] = DEFAULT_BOX,
    **overrides: Any,
) -> ActivityPhantom:
    """Simulate baseline and follow-up FLAIR of one subject with planted lesion changes.

    Parameters
    ----------
    seed : int
        Seed of the random generator; equal seeds give identical phantoms.
    family : str
        ``"tuning"`` or ``"heldout"`` (:data:`FAMILIES`).
    interval_years : float
        Time between the scans (> 0).
    start_date : str
        ISO date of the baseline.
    box_mm : ((xmin, xmax), (ymin, ymax), (zmin, zmax))
        Region of MNI space imaged.
    **overrides
        Any key of the family (``counts``, ``voxel_size``, ``noise``...); a range ``(low, high)``
        is drawn from per phantom, ``counts`` maps each kind of :data:`KINDS` to a number or range.

    Returns
    -------
    ActivityPhantom
    """
    if family not in FAMILIES:
        raise ValueError(f"unknown family {family!r}; expected one of {sorted(FAMILIES)}")
    if not interval_years > 0:
        raise ValueError(f"interval_years must be > 0, got {interval_years}")
    cfg = {**FAMILIES[family], **overrides}
    rng = np.random.default_rng(seed)
    counts = {k: _draw(rng, cfg["counts"].get(k, 0)) for k in KINDS}
    kinds = [k for k in KINDS for _ in range(int(counts[k]))]
    from smoulder.synth.mri import _templates

    gm_t, wm_t, brain_t, t_aff = _templates()
    vs = float(cfg["voxel_size"])
    lo = np.array([b[0] for b in box_mm], float)
    hi = np.array([b[1] for b in box_mm], float)
    shape = tuple(int(n) for n in np.maximum(np.round((hi - lo) / vs), 8).astype(int))
    affine = np.diag([vs, vs, vs, 1.0])
    affine[:3, 3] = lo + vs / 2
    ijk = np.indices(shape, dtype=np.float32).reshape(3, -1)
    world = (affine[:3, :3] @ ijk + affine[:3, 3:4]).astype(np.float64)
    t_inv = np.linalg.inv(t_aff)

    def tissues_at(pts: np.ndarray) -> dict[str, np.ndarray]:
        vox = t_inv[:3, :3] @ pts + t_inv[:3, 3:4]
        return {
            n: ndimage.map_coordinates(a, vox, order=1, mode="constant").reshape(shape)
            for n, a in (("gm", gm_t), ("wm", wm_t), ("brain", brain_t))
        }

    base = tissues_at(world)
    brain0 = base["brain"] > 0.5
    brain_center = world[:, brain0.ravel()].mean(axis=1)
    wm_core = ndimage.distance_transform_edt(base["wm"] > 0.5, sampling=vs)
    edge = np.minimum(world - lo[:, None], hi[:, None] - world).min(axis=0).reshape(shape)

    lesions: list[dict[str, Any]] = []
    placed: list[tuple[np.ndarray, float]] = []
    for i, kind in enumerate(kinds):
        r = _draw(rng, cfg["new_radius_mm"] if kind == "new" else cfg["radius_mm"])
        g = 0.0
        if kind == "enlarging":
            g = _draw(rng, cfg["growth_pct"])
        elif kind == "shrinking":
            g = -_draw(rng, cfg["shrink_pct"])
        center = None
        for _shrink in range(5):  # a crowded box: try smaller before giving up
            reach = r * 1.4 * max(1.0, (1 + g / 100.0) ** (1 / 3))
            cand = np.flatnonzero(((edge >= 10.0 + reach) & (wm_core >= 0.4 * r)).ravel())
            for _ in range(400):
                if cand.size == 0:
                    break
                c = world[:, rng.choice(cand)] + rng.uniform(-0.5, 0.5, 3) * vs
                if all(np.linalg.norm(c - pc) >= reach + pr + 4.0 for pc, pr in placed):
                    center = c
                    break
            if center is not None:
                break
            r *= 0.85
        if center is None:
            raise ValueError(f"could not place lesion {i + 1} of {len(kinds)} ({kind}, {r:.1f} mm)")
        placed.append((center, reach))
        shp = str(rng.choice(list(cfg["shapes"])))
        lesions.append(
            {
                "label": i + 1,
                "kind": kind,
                "shape": shp,
                "center": center,
                "radius": r,
                "growth": g,
                "parts": _parts(rng, r, shp),
                "contrast": _draw(rng, cfg["contrast"]),
            }
        )

    atrophy = _draw(rng, cfg["atrophy_pct"]) * interval_years
    noise = _draw(rng, cfg["noise"])
    axis = rng.normal(size=3)
    axis /= np.linalg.norm(axis)
    mm, deg = float(cfg["misregistration_mm"]), float(cfg["misregistration_deg"])
    rig2 = _rigid_matrix(axis * rng.uniform(-deg, deg), rng.uniform(-mm, mm, 3), brain_center)
    imgs = []
    labels0 = np.zeros(shape, np.int16)
    vols = np.zeros((len(lesions), 2))
    for visit in (0, 1):
        s = (1.0 - atrophy / 100.0) ** (1.0 / 3.0) if visit else 1.0
        scl = np.eye(4)
        scl[:3, :3] *= s
        scl[:3, 3] = brain_center - s * brain_center
        fwd = (rig2 if visit else np.eye(4)) @ scl
        to_followup = fwd
        inv = np.linalg.inv(fwd)
        anat = inv[:3, :3] @ world + inv[:3, 3:4]
        tis = tissues_at(anat)
        brain = tis["brain"] > 0.5
        gm, wm = tis["gm"] * brain, tis["wm"] * brain
        csf = np.clip(1.0 - gm - wm, 0.0, 1.0) * brain
        frac = np.zeros(shape, np.float32)
        fl_les = np.zeros(shape, np.float32)
        for li, les in enumerate(lesions):
            if les["kind"] == "new" and visit == 0:
                continue
            k = (1.0 + les["growth"] / 100.0) ** (1.0 / 3.0) if visit else 1.0
            f = np.zeros(shape, np.float32)
            for off, ax, rot in les["parts"]:
                rel = anat - (les["center"] + k * off)[:, None]
                loc = rot.T @ rel
                axk = ax * k
                rho = np.sqrt(((loc / axk[:, None]) ** 2).sum(axis=0))
                d_mm = (rho - 1.0) * float(np.cbrt(np.prod(axk)))
                f = np.maximum(f, np.clip(0.5 - d_mm / vs, 0.0, 1.0).reshape(shape))
            f *= brain
            vols[li, visit] = float(f.sum()) * vs**3 / (s**3)
            if visit == 0:
                labels0[(f >= 0.5) & (labels0 == 0)] = les["label"]
            frac = np.maximum(frac, f)
            fl_les = np.maximum(fl_les, f * FLAIR_LEVELS["wm"] * les["contrast"])
        fl = FLAIR_LEVELS["wm"] * wm + FLAIR_LEVELS["gm"] * gm + FLAIR_LEVELS["csf"] * csf
        fl = fl * (1 - frac) + fl_les
        rel_w = (world - world.mean(axis=1, keepdims=True)) / (hi - lo)[:, None]
        drift = float(cfg["drift"]) if visit else 0.0
        gain = 1.0 + drift * rng.normal()
        bias = 1.0 + (rng.normal(size=3) * drift) @ rel_w
        if cfg["bias"] == "quadratic":
            bias = bias + (rng.normal(size=3) * drift * 2.0) @ (rel_w**2 - 1.0 / 12.0)
        out = fl * gain * bias.reshape(shape) + rng.normal(size=shape) * noise
        imgs.append(_nifti(np.where(brain, np.abs(out), 0.0).astype(np.float32) * 100.0, affine))

    start = _dt.date.fromisoformat(start_date)
    dates = [
        start.isoformat(),
        (start + _dt.timedelta(days=round(interval_years * 365.25))).isoformat(),
    ]
    truth = pd.DataFrame(
        {
            "label": [les["label"] for les in lesions],
            "kind": [les["kind"] for les in lesions],
            "shape": [les["shape"] for les in lesions],
            "center_x_mm": [les["center"][0] for les in lesions],
            "center_y_mm": [les["center"][1] for les in lesions],
            "center_z_mm": [les["center"][2] for les in lesions],
            "radius_mm": [les["radius"] for les in lesions],
            "volume_v1_mm3": vols[:, 0].round(1),
            "volume_v2_mm3": vols[:, 1].round(1),
            "growth_pct": [les["growth"] for les in lesions],
            "contrast": [les["contrast"] for les in lesions],
        }
    )
    settings = {
        "seed": seed,
        "family": family,
        "interval_years": interval_years,
        **{k: v for k, v in cfg.items() if k != "counts"},
        "counts": counts,
        "atrophy_pct_drawn": atrophy,
        "noise_drawn": noise,
    }
    return ActivityPhantom(
        flair=imgs,
        lesions=_nifti(labels0, affine, np.int16),
        dates=dates,
        truth=truth,
        to_followup=to_followup,
        settings=settings,
    )
