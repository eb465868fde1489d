"""Physics-based MRI phantoms with paramagnetic rim lesions and known ground truth.

A susceptibility map is built on the MNI152 tissue templates that nilearn ships
(no download): white matter, cortical grey matter, deep grey matter with iron,
medullary veins, and white-matter lesions of several kinds (with a paramagnetic
rim of varying coverage, thickness and strength, rimless, diffusely
paramagnetic, next to a vein, with a partial rim). The field is computed with
the k-space dipole kernel (B0 along the image z axis), converted to phase at
3 T and TE 20 ms (about 16 rad per ppm), a smooth background field and noise
are added, and the phase is high-pass filtered as scanners' SWI phase is. A QSM
map is reconstructed from the noisy local field by thresholded k-space division
(TKD), and a matching FLAIR is drawn from the tissue classes. Everything is
deterministic from the seed.

Example
-------
>>> from smoulder.synth.mri import simulate_mri_phantom
>>> ph = simulate_mri_phantom(seed=1, voxel_size=2.0, n_lesions=4)  # doctest: +SKIP
>>> ph.truth[["label", "kind", "is_prl"]]  # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

import numpy as np
import pandas as pd
from scipy import ndimage

from smoulder.imaging.dipole import dipole_field, tkd_inversion

GAMMA_MHZ_PER_T = 42.577478  # proton gyromagnetic ratio / 2pi

#: Lesion kinds the phantom draws, and whether each is a true PRL.
LESION_KINDS = {
    "prl": True,  # paramagnetic rim covering >= 70 % of the edge
    "rimless": False,  # no rim
    "partial_rim": False,  # rim over 15-45 % of the edge
    "diffuse": False,  # uniformly paramagnetic (bright on QSM), no rim
    "vein_adjacent": False,  # rimless lesion with a vein running along its edge
}
DEFAULT_KIND_WEIGHTS = {
    "prl": 0.35,
    "rimless": 0.25,
    "partial_rim": 0.15,
    "diffuse": 0.1,
    "vein_adjacent": 0.15,
}

CHI_WM = -0.03  # ppm, relative to CSF
CHI_GM = 0.01
CHI_DEEP_GM = 0.08  # extra iron in deep grey matter
CHI_VEIN = 0.35  # deoxygenated venous blood


@dataclass
class MRIPhantom:
    """Images (nibabel) of one phantom subject and its per-lesion ground truth.

    Attributes
    ----------
    flair, phase, qsm, lesions, chi : nibabel.Nifti1Image
        FLAIR (arbitrary units), high-pass-filtered phase (radians, in
        ``phase_convention``), QSM (ppm), lesion labels (int16, 0 = background)
        and the true susceptibility (ppm), all on one grid.
    truth : pandas.DataFrame
        One row per lesion: ``label, kind, is_prl, center_x_mm, center_y_mm,
        center_z_mm, radius_mm, rim_coverage, rim_thickness_mm,
        rim_strength_ppm, core_delta_ppm, n_voxels``.
    settings : dict
        The arguments that produced the phantom.
    """

    flair: object
    phase: object
    qsm: object
    lesions: object
    chi: object
    truth: pd.DataFrame
    settings: dict = field(default_factory=dict)

    def save(self, directory: str, prefix: str = "") -> dict[str, str]:
        """Write the images as ``<prefix>flair.nii.gz`` etc. and ``<prefix>truth.tsv``; return paths."""
        import os

        import nibabel as nib

        os.makedirs(directory, exist_ok=True)
        out = {}
        for name in ("flair", "phase", "qsm", "lesions", "chi"):
            path = os.path.join(directory, f"{prefix}{name}.nii.gz")
            nib.save(getattr(self, name), path)
            out[name] = path
        path = os.path.join(directory, f"{prefix}truth.tsv")
        self.truth.to_csv(path, sep="\t", index=False, na_rep="n/a")
        out["truth"] = path
        return out


@lru_cache(maxsize=2)
def _templates() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """MNI152 1 mm grey and white matter probability maps, brain mask and affine (offline)."""
    from nilearn import datasets

    gm = datasets.load_mni152_gm_template(resolution=1)
    wm = datasets.load_mni152_wm_template(resolution=1)
    brain = datasets.load_mni152_brain_mask(resolution=1)
    return (
        np.asarray(gm.dataobj, dtype=np.float32),
        np.asarray(wm.dataobj, dtype=np.float32),
        np.asarray(brain.dataobj, dtype=np.float32),
        np.asarray(gm.affine, dtype=float),
    )


def _grid(
    box_mm: Sequence[Sequence[float]], voxel_size: np.ndarray
) -> tuple[tuple[int, ...], np.ndarray]:
    lo = np.array([b[0] for b in box_mm], dtype=float)
    hi = np.array([b[1] for b in box_mm], dtype=float)
    vs = np.asarray(voxel_size, dtype=float)
    shape = tuple(int(n) for n in np.maximum(np.round((hi - lo) / vs), 4).astype(int))
    affine = np.diag([*vs, 1.0])
    affine[:3, 3] = lo + vs / 2
    return shape, affine


def _resample_templates(shape: tuple[int, ...], affine: np.ndarray) -> dict[str, np.ndarray]:
    gm, wm, brain, t_aff = _templates()
    ijk = np.indices(shape, dtype=np.float32).reshape(3, -1)
    xyz = affine[:3, :3] @ ijk + affine[:3, 3:4]
    src = np.linalg.inv(t_aff)
    vox = src[:3, :3] @ xyz + src[:3, 3:4]
    out = {}
    for name, arr in (("gm", gm), ("wm", wm), ("brain", brain)):
        out[name] = ndimage.map_coordinates(arr, vox, order=1, mode="constant", cval=0.0).reshape(
            shape
        )
    return out


def _supersampled_local(
    center: np.ndarray, extent_mm: float, affine: np.ndarray, shape: tuple[int, ...], ss: int
) -> tuple[tuple[slice, ...], list[np.ndarray]]:
    """Bounding box (slices) around ``center`` and world coordinates of ss^3 sub-samples per voxel."""
    vs = np.abs(np.diag(affine)[:3])
    c_vox = (center - affine[:3, 3]) / vs
    half = np.ceil(extent_mm / vs).astype(int) + 1
    lo = np.maximum(np.floor(c_vox).astype(int) - half, 0)
    hi = np.minimum(np.floor(c_vox).astype(int) + half + 1, shape)
    sl = tuple(slice(int(a), int(b)) for a, b in zip(lo, hi, strict=True))
    offs = (np.arange(ss) + 0.5) / ss - 0.5
    axes = [
        (np.arange(a, b)[:, None] + offs[None, :]).ravel() * v + o
        for a, b, v, o in zip(lo, hi, vs, affine[:3, 3], strict=True)
    ]
    return sl, list(np.meshgrid(*axes, indexing="ij"))


def _block_mean(a: np.ndarray, ss: int) -> np.ndarray:
    if ss == 1:
        return a.astype(np.float32)
    s = a.shape
    return (
        a.reshape(s[0] // ss, ss, s[1] // ss, ss, s[2] // ss, ss)
        .mean(axis=(1, 3, 5))
        .astype(np.float32)
    )


def _segment_distance(pts: list[np.ndarray], a: np.ndarray, b: np.ndarray) -> np.ndarray:
    ab = b - a
    t = ((pts[0] - a[0]) * ab[0] + (pts[1] - a[1]) * ab[1] + (pts[2] - a[2]) * ab[2]) / float(
        ab @ ab
    )
    t = np.clip(t, 0.0, 1.0)
    return np.sqrt(sum((pts[i] - (a[i] + t * ab[i])) ** 2 for i in range(3)))


def _draw_vein(
    chi: np.ndarray,
    affine: np.ndarray,
    a: np.ndarray,
    b: np.ndarray,
    radius: float,
    ss: int,
    value: float = CHI_VEIN,
) -> None:
    shape = chi.shape
    center = (a + b) / 2
    extent = float(np.linalg.norm(b - a) / 2 + radius + 1)
    sl, pts = _supersampled_local(center, extent, affine, shape, ss)
    occ = _block_mean(_segment_distance(pts, a, b) <= radius, ss)
    chi[sl] += value * occ


def simulate_mri_phantom(
    seed: int = 0,
    *,
    voxel_size: float | Sequence[float] = 2.0,
    box_mm: Sequence[Sequence[float]] = ((-56, 56), (-60, 36), (4, 44)),
    n_lesions: int = 12,
    kinds: Sequence[str] | None = None,
    kind_weights: dict[str, float] | None = None,
    radius_mm: tuple[float, float] = (3.0, 7.0),
    rim_strength_ppm: tuple[float, float] = (0.04, 0.10),
    rim_thickness_mm: tuple[float, float] = (1.0, 2.0),
    n_veins: int = 20,
    phase_noise_rad: float = 0.05,
    flair_noise: float = 0.03,
    field_strength_t: float = 3.0,
    te_ms: float = 20.0,
    highpass_sigma_mm: float = 10.0,
    background_field_ppm: float = 0.5,
    phase_convention: str = "paramagnetic-negative",
) -> MRIPhantom:
    """Simulate one subject: FLAIR, phase, QSM, lesion labels and per-lesion truth.

    Parameters
    ----------
    seed : int
        Seed of the random generator; equal seeds give identical phantoms.
    voxel_size : float or sequence of 3 floats
        Isotropic or per-axis voxel size in mm (0.65-2 mm are sensible).
    box_mm : ((xmin, xmax), (ymin, ymax), (zmin, zmax))
        Region of MNI space to simulate (a crop keeps it fast). The default
        covers the periventricular white matter and centrum semiovale.
    n_lesions : int
        Number of lesions (ignored when ``kinds`` is given).
    kinds : sequence of str, optional
        Kind of each lesion, from :data:`LESION_KINDS`; otherwise drawn with
        ``kind_weights`` (default :data:`DEFAULT_KIND_WEIGHTS`).
    radius_mm : (low, high)
        Range of the lesion's mean radius (ellipsoids with axes within +-20 %).
    rim_strength_ppm, rim_thickness_mm : (low, high)
        Range of the rim's susceptibility above the lesion core and its thickness.
    n_veins : int
        Number of medullary veins drawn in white matter (besides those next to lesions).
    phase_noise_rad : float
        SD of the phase noise (1 / magnitude SNR): 0.025 good, 0.05 typical, 0.1 poor.
    flair_noise : float
        SD of the FLAIR noise relative to lesion intensity 1.
    field_strength_t, te_ms : float
        Give the phase per ppm: ``2 pi * 42.58 MHz/T * B0 * TE`` (16.05 rad/ppm at 3 T, 20 ms).
    highpass_sigma_mm : float
        Gaussian high-pass filter of the phase (SD of the subtracted low-pass).
    background_field_ppm : float
        Amplitude of a smooth background field added before high-pass filtering.
    phase_convention : {"paramagnetic-negative", "paramagnetic-positive"}
        Sign of the written phase: in the default (left-handed) convention a
        paramagnetic field shift gives negative phase.

    Returns
    -------
    MRIPhantom
    """
    if phase_convention not in ("paramagnetic-negative", "paramagnetic-positive"):
        raise ValueError(
            f"phase_convention must be 'paramagnetic-negative' or 'paramagnetic-positive', "
            f"got {phase_convention!r}"
        )
    import nibabel as nib

    rng = np.random.default_rng(seed)
    vs = np.broadcast_to(np.asarray(voxel_size, dtype=float), (3,)).copy()
    shape, affine = _grid(box_mm, vs)
    t = _resample_templates(shape, affine)
    gm, wm, brain = t["gm"], t["wm"], t["brain"] > 0.5
    csf = np.clip(1.0 - gm - wm, 0.0, 1.0) * brain
    depth = ndimage.distance_transform_edt(np.pad(brain, 1, constant_values=False), sampling=vs)[
        1:-1, 1:-1, 1:-1
    ]
    deep = np.clip((depth - 22.0) / 6.0, 0.0, 1.0) * gm * (gm > 0.4)
    chi = (wm * CHI_WM + gm * CHI_GM + deep * CHI_DEEP_GM).astype(np.float32)
    chi *= brain
    ss = int(min(4, max(1, np.ceil(vs.max() / 0.5))))

    # ---------------------------------------------------------------- lesions
    if kinds is None:
        w = kind_weights or DEFAULT_KIND_WEIGHTS
        names = list(w)
        p = np.array([w[k] for k in names], dtype=float)
        kinds = list(rng.choice(names, size=n_lesions, p=p / p.sum()))
    kinds = [str(k) for k in kinds]
    for k in kinds:
        if k not in LESION_KINDS:
            raise ValueError(f"unknown lesion kind {k!r}; expected one of {sorted(LESION_KINDS)}")
    wm_core = ndimage.distance_transform_edt(wm > 0.5, sampling=vs)
    idx = np.indices(shape).reshape(3, -1).T
    margin_vox = np.ceil(8.0 / vs).astype(int)
    inside_box = np.all((idx >= margin_vox) & (idx < np.array(shape) - margin_vox), axis=1)
    wm_flat = wm_core.ravel()
    placed: list[tuple[np.ndarray, float]] = []
    rows = []
    lesion_frac = np.zeros(shape, np.float32)
    labels = np.zeros(shape, np.int16)
    flair_lesion = np.zeros(shape, np.float32)
    # sort by decreasing size so the big ones find room first; keep the drawn kind order for labels
    radii = rng.uniform(radius_mm[0], radius_mm[1], size=len(kinds))
    for i, kind in enumerate(kinds):
        r = float(radii[i])
        ok = inside_box & (wm_flat >= 0.6 * r)
        cand = np.flatnonzero(ok)
        center = None
        for _ in range(400):
            if len(cand) == 0:
                break
            c = affine[:3, :3] @ idx[rng.choice(cand)] + affine[:3, 3]
            c = c + rng.uniform(-0.5, 0.5, 3) * vs
            if all(np.linalg.norm(c - pc) >= r + pr + 4.0 for pc, pr in placed):
                center = c
                break
        if center is None:
            raise ValueError(
                f"could not place lesion {i + 1} of {len(kinds)} (radius {r:.1f} mm) in the "
                "white matter of this box; use fewer or smaller lesions or a larger box_mm"
            )
        placed.append((center, r))
        axes = r * rng.uniform(0.8, 1.2, 3)
        axes *= r / np.cbrt(np.prod(axes))
        rot = _random_rotation(rng)
        extent = float(axes.max()) + 1.0
        sl, pts = _supersampled_local(center, extent, affine, shape, ss)
        rel = np.stack([p - c for p, c in zip(pts, center, strict=True)])  # (3, ...)
        loc = np.tensordot(rot.T, rel, axes=1)  # lesion frame
        rho = np.sqrt(sum((loc[j] / axes[j]) ** 2 for j in range(3)))
        inside = rho <= 1.0
        core_delta = float(rng.uniform(0.01, 0.025))
        coverage = 0.0
        thick = 0.0
        strength = 0.0
        if kind == "diffuse":
            core_delta = float(rng.uniform(0.05, 0.08))
        elif kind in ("prl", "partial_rim"):
            coverage = float(rng.uniform(0.7, 1.0) if kind == "prl" else rng.uniform(0.15, 0.45))
            thick = float(rng.uniform(*rim_thickness_mm))
            strength = float(rng.uniform(*rim_strength_ppm))
        frac = _block_mean(inside, ss)
        region = labels[sl]
        new = (frac >= 0.5) & (region == 0)
        region[new] = i + 1
        lesion_frac[sl] = np.maximum(lesion_frac[sl], frac)
        chi[sl] += frac * (CHI_WM + core_delta - chi[sl])
        flair_lesion[sl] = np.maximum(flair_lesion[sl], frac * rng.uniform(0.9, 1.1))
        if coverage > 0:
            # rim: inner band of the ellipsoid over an azimuthal arc (about the B0 / z axis) of
            # the given fraction, so every axial slice shows the same in-plane coverage
            band = inside & (rho >= 1.0 - thick / r)
            phi = np.arctan2(rel[1], rel[0])
            phi0 = rng.uniform(-np.pi, np.pi)
            dphi = np.angle(np.exp(1j * (phi - phi0)))
            arc = np.abs(dphi) <= coverage * np.pi
            chi[sl] += strength * _block_mean(band & arc, ss)
        if kind == "vein_adjacent":
            # a vein tangent to the lesion's edge in an axial plane, just outside it
            ang = rng.uniform(0, 2 * np.pi)
            normal = np.array([np.cos(ang), np.sin(ang), 0.0])
            along = np.array([-np.sin(ang), np.cos(ang), rng.uniform(-0.3, 0.3)])
            along /= np.linalg.norm(along)
            base = center + normal * (r + 0.6)
            half = r + 6.0
            _draw_vein(
                chi,
                affine,
                base - along * half,
                base + along * half,
                float(rng.uniform(0.6, 0.9)),
                ss,
            )
        rows.append(
            {
                "label": i + 1,
                "kind": kind,
                "is_prl": LESION_KINDS[kind],
                "center_x_mm": center[0],
                "center_y_mm": center[1],
                "center_z_mm": center[2],
                "radius_mm": r,
                "rim_coverage": coverage,
                "rim_thickness_mm": thick,
                "rim_strength_ppm": strength,
                "core_delta_ppm": core_delta,
            }
        )

    # ----------------------------------------------------------------- veins
    wm_pts = np.flatnonzero((wm.ravel() > 0.7) & inside_box)
    for _ in range(n_veins):
        if len(wm_pts) == 0:
            break
        a = affine[:3, :3] @ idx[rng.choice(wm_pts)] + affine[:3, 3]
        d = rng.normal(size=3)
        d /= np.linalg.norm(d)
        b = a + d * rng.uniform(10, 25)
        _draw_vein(chi, affine, a, b, float(rng.uniform(0.5, 0.8)), ss)
    chi *= brain

    # ------------------------------------------------ field, phase, QSM, FLAIR
    local_field = dipole_field(chi - CHI_WM * brain, vs)
    rad_per_ppm = 2 * np.pi * GAMMA_MHZ_PER_T * field_strength_t * te_ms * 1e-3
    xyz = [(np.arange(n) - n / 2) * v / 100.0 for n, v in zip(shape, vs, strict=True)]
    gx, gy, gz = np.meshgrid(*xyz, indexing="ij")
    c = rng.normal(size=6) * background_field_ppm
    bg = c[0] * gx + c[1] * gy + c[2] * gz + c[3] * gx * gy + c[4] * gz**2 + c[5] * gy * gz
    noise = rng.normal(size=shape).astype(np.float32) * phase_noise_rad
    raw_phase = rad_per_ppm * (local_field + bg) + noise
    raw_phase *= brain
    # high-pass: subtract a Gaussian low-pass normalised within the brain mask
    sig = highpass_sigma_mm / vs
    num = ndimage.gaussian_filter(raw_phase, sig, mode="nearest")
    den = ndimage.gaussian_filter(brain.astype(np.float32), sig, mode="nearest")
    phase = np.where(brain, raw_phase - num / np.maximum(den, 1e-3), 0.0).astype(np.float32)
    sign = -1.0 if phase_convention == "paramagnetic-negative" else 1.0
    phase *= sign
    noisy_field = local_field + noise / rad_per_ppm
    qsm = tkd_inversion(noisy_field * brain, vs)
    wm_sel = (wm > 0.9) & (labels == 0)
    if wm_sel.any():
        qsm += CHI_WM - float(np.median(qsm[wm_sel]))
    qsm = (qsm * brain).astype(np.float32)
    flair = (0.55 * wm + 0.68 * gm + 0.12 * csf) * brain
    flair = flair * (1 - lesion_frac) + flair_lesion
    flair = ndimage.gaussian_filter(flair, 0.4) + rng.normal(size=shape) * flair_noise
    flair = np.abs(flair).astype(np.float32) * brain

    truth = pd.DataFrame(
        rows,
        columns=[
            "label",
            "kind",
            "is_prl",
            "center_x_mm",
            "center_y_mm",
            "center_z_mm",
            "radius_mm",
            "rim_coverage",
            "rim_thickness_mm",
            "rim_strength_ppm",
            "core_delta_ppm",
        ],
    )
    counts = np.bincount(labels.ravel(), minlength=len(rows) + 1)
    truth["n_voxels"] = counts[1 : len(rows) + 1]
    hdr_aff = affine.copy()

    def img(a: np.ndarray, dtype: type = np.float32) -> Any:
        im = nib.Nifti1Image(np.asarray(a, dtype=dtype), hdr_aff)
        im.header.set_xyzt_units("mm")
        return im

    settings = {
        "seed": seed,
        "voxel_size": vs.tolist(),
        "box_mm": [list(b) for b in box_mm],
        "kinds": kinds,
        "phase_noise_rad": phase_noise_rad,
        "field_strength_t": field_strength_t,
        "te_ms": te_ms,
        "rad_per_ppm": rad_per_ppm,
        "highpass_sigma_mm": highpass_sigma_mm,
        "phase_convention": phase_convention,
        "n_veins": n_veins,
    }
    return MRIPhantom(
        flair=img(flair),
        phase=img(phase),
        qsm=img(qsm),
        lesions=img(labels, np.int16),
        chi=img(chi),
        truth=truth,
        settings=settings,
    )


def _random_rotation(rng: np.random.Generator) -> np.ndarray:
    q, r = np.linalg.qr(rng.normal(size=(3, 3)))
    q *= np.sign(np.diag(r))
    if np.linalg.det(q) < 0:
        q[:, 0] *= -1
    return q


__all__ = [
    "MRIPhantom",
    "simulate_mri_phantom",
    "dipole_field",
    "tkd_inversion",
    "LESION_KINDS",
    "DEFAULT_KIND_WEIGHTS",
]
