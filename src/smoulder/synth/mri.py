"""Physics-based MRI phantoms with paramagnetic rim lesions, their mimics and known ground truth.

A susceptibility map is built on the MNI152 tissue templates that nilearn ships (no download):
white matter, cortical grey matter, deep grey matter with iron, medullary veins, and white-matter
lesions of several kinds (:data:`LESION_KINDS`): with a paramagnetic rim (complete, patchy or with
gaps), with a partial rim, rimless, with a central vein, diffusely paramagnetic (with or without a
gradient), or with a vein along the edge; in several shapes (ellipsoids, lobulated, Dawson fingers,
confluent pairs; :mod:`smoulder.synth.mri_lesions`). The grid may be oblique to the scanner (B0 is
world z, expressed along the voxel axes) and anisotropic (thick slices). The field is computed with
the k-space dipole kernel, converted to phase (about 16 rad per ppm at 3 T and TE 20 ms), a smooth
background field and noise are added, and the phase is high-pass filtered as scanners' SWI phase
is; optional smooth residual fields remain after filtering. A QSM map is reconstructed from the
noisy local field by thresholded k-space division (TKD), and a matching FLAIR is drawn from the
tissue classes. Everything is deterministic from the seed.

This is phantom family A, on which smoulder's PRL rule is tuned; :mod:`smoulder.synth.mri_heldout`
is an independently written family B for held-out evaluation.

Example
-------
>>> from smoulder.synth.mri import simulate_mri_phantom
>>> ph = simulate_mri_phantom(seed=1, voxel_size=2.0, n_lesions=4)  # doctest: +SKIP
>>> ph.truth[["label", "kind", "is_prl"]]  # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
from scipy import ndimage

from smoulder.imaging.dipole import b0_direction, dipole_field, tkd_inversion
from smoulder.synth import mri_lesions as ml
from smoulder.synth.mri_grid import (
    MRIPhantom,
    _grid,
    _resample_templates,
    _templates,  # noqa: F401  (used by smoulder.synth.sel_phantom)
    rotation_about,
)

GAMMA_MHZ_PER_T = 42.577478  # proton gyromagnetic ratio / 2pi

#: Lesion kinds the phantom draws, and whether each is a true PRL.
LESION_KINDS = {
    "prl": True,  # paramagnetic rim covering >= 2/3 of the edge (prl_coverage)
    "rimless": False,  # no rim
    "partial_rim": False,  # rim over well under 2/3 of the edge (partial_coverage)
    "diffuse": False,  # paramagnetic throughout (bright on QSM), no rim
    "vein_adjacent": False,  # rimless lesion with a vein running along its edge
    "central_vein": False,  # rimless lesion with a vein through its core
}
#: The default mix (the phantoms of earlier versions).
DEFAULT_KIND_WEIGHTS = {
    "prl": 0.35,
    "rimless": 0.25,
    "partial_rim": 0.15,
    "diffuse": 0.1,
    "vein_adjacent": 0.15,
}
#: A mix rich in every mimic, for tuning and benchmarks (each non-PRL kind well represented).
MIMIC_KIND_WEIGHTS = {
    "prl": 0.3,
    "rimless": 0.12,
    "partial_rim": 0.16,
    "diffuse": 0.14,
    "vein_adjacent": 0.14,
    "central_vein": 0.14,
}
#: Class balance of real 3 T scans: about 6 % PRLs and 11 % diffusely paramagnetic lesions (domain
#: reference); the split of the remaining 83 % among the other kinds is an assumption of smoulder.
REAL_SCAN_KIND_WEIGHTS = {
    "prl": 0.06,
    "diffuse": 0.11,
    "partial_rim": 0.08,
    "central_vein": 0.30,
    "vein_adjacent": 0.05,
    "rimless": 0.40,
}
KIND_WEIGHT_PRESETS = {
    "default": DEFAULT_KIND_WEIGHTS,
    "mimics": MIMIC_KIND_WEIGHTS,
    "real-scan": REAL_SCAN_KIND_WEIGHTS,
}

#: Family A's wide randomised ranges (the tuning family of ``benchmarks/bench_prl.py``).
WIDE_SETTINGS: dict[str, Any] = {
    "kind_weights": "mimics",
    "shape_weights": {"ellipsoid": 0.4, "lobulated": 0.25, "dawson": 0.2, "confluent": 0.15},
    "radius_mm": (1.5, 10.0),
    "radius_distribution": "log-uniform",
    "min_prl_radius_mm": 2.5,
    "prl_radius_mm": (2.5, 10.0),
    "rim_strength_ppm": (0.01, 0.08),
    "rim_thickness_mm": (0.5, 2.5),
    "prl_coverage": (0.7, 1.0),
    "partial_coverage": (0.1, 0.5),
    "complete_rim_prob": 0.4,
    "rim_gap_prob": 0.3,
    "patchy_rim_prob": 0.3,
    "core_delta_ppm": (0.0, 0.025),
    "diffuse_delta_ppm": (0.03, 0.08),
    "diffuse_gradient_prob": 0.5,
    "prl_central_vein_prob": 0.3,
    "residual_field_ppm": 0.01,
    "mask_offset_mm": (-0.5, 0.5),
}

CHI_WM = -0.03  # ppm, relative to CSF
CHI_GM = 0.01
CHI_DEEP_GM = 0.08  # extra iron in deep grey matter
CHI_VEIN = 0.35  # deoxygenated venous blood

TRUTH_COLUMNS = [
    "label",
    "kind",
    "is_prl",
    "shape",
    "center_x_mm",
    "center_y_mm",
    "center_z_mm",
    "radius_mm",
    "rim_coverage",
    "rim_thickness_mm",
    "rim_strength_ppm",
    "rim_gaps",
    "rim_patchy",
    "core_delta_ppm",
    "diffuse_gradient",
    "central_vein",
    "edge_vein",
    "edge_vein_b0_deg",
    "mask_offset_mm",
]


def _weights(w: Mapping[str, float] | str | None, default: Mapping[str, float]) -> dict[str, float]:
    if w is None:
        return dict(default)
    if isinstance(w, str):
        if w not in KIND_WEIGHT_PRESETS:
            raise ValueError(
                f"unknown kind_weights preset {w!r}; expected one of {sorted(KIND_WEIGHT_PRESETS)}"
            )
        return dict(KIND_WEIGHT_PRESETS[w])
    return dict(w)


def _draw_choice(rng: np.random.Generator, w: Mapping[str, float], n: int) -> list[str]:
    names = list(w)
    p = np.array([w[k] for k in names], dtype=float)
    return [str(k) for k in rng.choice(names, size=n, p=p / p.sum())]


def _uniform(rng: np.random.Generator, lim: Sequence[float]) -> float:
    return float(rng.uniform(lim[0], lim[1]))


def simulate_mri_phantom(
    seed: int = 0,
    *,
    voxel_size: float | Sequence[float] = 2.0,
    box_mm: Sequence[Sequence[float]] = ((-56, 56), (-60, 36), (4, 44)),
    n_lesions: int = 12,
    kinds: Sequence[str] | None = None,
    kind_weights: Mapping[str, float] | str | None = None,
    shape_weights: Mapping[str, float] | None = None,
    radius_mm: tuple[float, float] = (3.0, 7.0),
    radius_distribution: str = "uniform",
    min_prl_radius_mm: float = 0.0,
    prl_radius_mm: tuple[float, float] | None = None,
    rim_strength_ppm: tuple[float, float] = (0.04, 0.10),
    rim_thickness_mm: tuple[float, float] = (1.0, 2.0),
    prl_coverage: tuple[float, float] = (0.7, 1.0),
    partial_coverage: tuple[float, float] = (0.15, 0.45),
    complete_rim_prob: float = 0.0,
    rim_gap_prob: float = 0.0,
    patchy_rim_prob: float = 0.0,
    core_delta_ppm: tuple[float, float] = (0.01, 0.025),
    diffuse_delta_ppm: tuple[float, float] = (0.05, 0.08),
    diffuse_gradient_prob: float = 0.0,
    prl_central_vein_prob: float = 0.0,
    mask_offset_mm: tuple[float, float] = (0.0, 0.0),
    n_veins: int = 20,
    phase_noise_rad: float = 0.05,
    flair_noise: float = 0.03,
    field_strength_t: float = 3.0,
    te_ms: float = 20.0,
    highpass_sigma_mm: float = 10.0,
    background_field_ppm: float = 0.5,
    residual_field_ppm: float = 0.0,
    oblique_deg: float = 0.0,
    oblique_axis: Sequence[float] = (1.0, 0.0, 0.0),
    phase_convention: str = "paramagnetic-negative",
) -> MRIPhantom:
    """Simulate one subject: FLAIR, phase, QSM, lesion labels and per-lesion truth.

    Parameters
    ----------
    seed : int
        Seed of the random generator; equal seeds give identical phantoms.
    voxel_size : float or sequence of 3 floats
        Isotropic or per-axis voxel size in mm (0.5-2 mm in plane; the third axis is the slice
        axis and may be thicker).
    box_mm : ((xmin, xmax), (ymin, ymax), (zmin, zmax))
        Region of MNI space to simulate (a crop keeps it fast). The default covers the
        periventricular white matter and centrum semiovale.
    n_lesions : int
        Number of lesions (ignored when ``kinds`` is given).
    kinds : sequence of str, optional
        Kind of each lesion, from :data:`LESION_KINDS`; otherwise drawn with ``kind_weights``.
    kind_weights : mapping or {"default", "mimics", "real-scan"}, optional
        Probabilities of the kinds (default :data:`DEFAULT_KIND_WEIGHTS`); ``"real-scan"`` is the
        class balance of real scans (:data:`REAL_SCAN_KIND_WEIGHTS`, about 6 % PRLs).
    shape_weights : mapping, optional
        Probabilities of the shapes of :data:`~smoulder.synth.mri_lesions.SHAPES` (default all
        ellipsoids).
    radius_mm : (low, high)
        Range of the lesion's equivalent radius (of the sphere of equal volume), drawn with
        ``radius_distribution`` (``uniform`` or ``log-uniform``: small lesions more common).
    min_prl_radius_mm : float
        PRLs are at least this large (a rim cannot be rated on a 3 mm lesion).
    prl_radius_mm : (low, high), optional
        PRLs draw their radius from this range (with ``radius_distribution``) instead of
        ``radius_mm`` clamped at ``min_prl_radius_mm`` (which piles small PRLs up at the floor);
        real PRLs are larger than other lesions (mean diameter 11.9 mm against 6.4-7.8 mm).
    rim_strength_ppm, rim_thickness_mm : (low, high)
        Range of the rim's susceptibility above the lesion core and its thickness.
    prl_coverage, partial_coverage : (low, high)
        Fraction of the edge (azimuth about the slice normal) covered by the rim of a PRL and
        of a partial rim.
    complete_rim_prob : float
        Probability that a PRL's rim goes all round before gaps are cut (real rims mostly do).
    rim_gap_prob, patchy_rim_prob : float
        Probability that a rim has 1-2 gaps (10-30 degrees each, within its arc; a PRL keeps
        its net coverage in ``prl_coverage``), and that its strength varies along the edge
        (between 40 and 100 % of the drawn strength).
    core_delta_ppm, diffuse_delta_ppm : (low, high)
        Susceptibility of the lesion above white matter: ordinary lesions, diffusely paramagnetic.
    diffuse_gradient_prob : float
        Probability that a diffuse lesion has a gradient (linear across it, or brighter centre).
    prl_central_vein_prob : float
        Probability that a PRL also has a central vein.
    mask_offset_mm : (low, high)
        The lesion mask's edge is moved outwards (positive) or inwards (negative) by an amount
        drawn from this range, as segmentations differ from the true edge (FLAIR shows the
        true lesion).
    n_veins : int
        Number of medullary veins drawn in white matter (besides those of the lesions).
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
    residual_field_ppm : float
        Amplitude of smooth residual fields (Gaussian blobs, 12-30 mm) left after filtering, in
        the phase and in the field QSM is reconstructed from.
    oblique_deg, oblique_axis : float, sequence of 3 floats
        The voxel grid is rotated by ``oblique_deg`` about ``oblique_axis`` (world) relative to
        the scanner, whose B0 stays along world z.
    phase_convention : {"paramagnetic-negative", "paramagnetic-positive"}
        Sign of the written phase: in the default (left-handed) convention a paramagnetic field
        shift gives negative phase.

    Returns
    -------
    MRIPhantom
    """
    if phase_convention not in ("paramagnetic-negative", "paramagnetic-positive"):
        raise ValueError(
            f"phase_convention must be 'paramagnetic-negative' or 'paramagnetic-positive', "
            f"got {phase_convention!r}"
        )
    if radius_distribution not in ("uniform", "log-uniform"):
        raise ValueError(
            f"radius_distribution must be 'uniform' or 'log-uniform', got {radius_distribution!r}"
        )
    import nibabel as nib

    rng = np.random.default_rng(seed)
    vs = np.broadcast_to(np.asarray(voxel_size, dtype=float), (3,)).copy()
    rot = rotation_about(oblique_axis, oblique_deg) if oblique_deg else np.eye(3)
    shape, affine = _grid(box_mm, vs, rot)
    b0 = b0_direction(affine)
    t = _resample_templates(shape, affine)
    gm, wm, brain = t["gm"], t["wm"], t["brain"] > 0.5
    csf = np.clip(1.0 - gm - wm, 0.0, 1.0) * brain
    depth = ndimage.distance_transform_edt(np.pad(brain, 1, constant_values=False), sampling=vs)[
        1:-1, 1:-1, 1:-1
    ]
    deep = np.clip((depth - 22.0) / 6.0, 0.0, 1.0) * gm * (gm > 0.4)
    chi = (wm * CHI_WM + gm * CHI_GM + deep * CHI_DEEP_GM).astype(np.float32)
    chi *= brain

    # ---------------------------------------------------------------- lesions
    if kinds is None:
        kinds = _draw_choice(rng, _weights(kind_weights, DEFAULT_KIND_WEIGHTS), n_lesions)
    kinds = [str(k) for k in kinds]
    for k in kinds:
        if k not in LESION_KINDS:
            raise ValueError(f"unknown lesion kind {k!r}; expected one of {sorted(LESION_KINDS)}")
    sw = dict(shape_weights) if shape_weights else {"ellipsoid": 1.0}
    for k in sw:
        if k not in ml.SHAPES:
            raise ValueError(f"unknown lesion shape {k!r}; expected one of {list(ml.SHAPES)}")
    shapes = _draw_choice(rng, sw, len(kinds)) if len(sw) > 1 else [next(iter(sw))] * len(kinds)
    lo_r, hi_r = radius_mm
    if radius_distribution == "uniform":
        radii = rng.uniform(lo_r, hi_r, size=len(kinds))
    else:
        radii = np.exp(rng.uniform(np.log(lo_r), np.log(hi_r), size=len(kinds)))
    if prl_radius_mm is not None:
        lo_p, hi_p = prl_radius_mm
        if radius_distribution == "uniform":
            prl_r = rng.uniform(lo_p, hi_p, size=len(kinds))
        else:
            prl_r = np.exp(rng.uniform(np.log(lo_p), np.log(hi_p), size=len(kinds)))
        radii = np.where([k == "prl" for k in kinds], prl_r, radii)
    wm_core = ndimage.distance_transform_edt(wm > 0.5, sampling=vs)
    idx = np.indices(shape).reshape(3, -1).T
    margin_vox = np.ceil(8.0 / vs).astype(int)
    inside_box = np.all((idx >= margin_vox) & (idx < np.array(shape) - margin_vox), axis=1)
    inside_box &= brain.ravel()
    wm_flat = wm_core.ravel()
    placed: list[tuple[np.ndarray, float]] = []
    rows = []
    lesion_frac = np.zeros(shape, np.float32)
    labels = np.zeros(shape, np.int16)
    flair_lesion = np.zeros(shape, np.float32)
    veins: list[tuple[np.ndarray, np.ndarray, float, float]] = []  # frame mm
    for i, kind in enumerate(kinds):
        r = float(radii[i])
        if kind == "prl":
            r = max(r, min_prl_radius_mm)
        shp = ml.draw_shape(rng, shapes[i], r)
        ext = shp.extent
        cand = np.flatnonzero(inside_box & (wm_flat >= 0.6 * min(r, ext)))
        center = None
        for _ in range(400):
            if len(cand) == 0:
                break
            c = idx[rng.choice(cand)] * vs + rng.uniform(-0.5, 0.5, 3) * vs
            if all(np.linalg.norm(c - pc) >= ext + pe + 2.0 for pc, pe in placed):
                center = c
                break
        if center is None:
            raise ValueError(
                f"could not place lesion {i + 1} of {len(kinds)} (radius {r:.1f} mm) in the "
                "white matter of this box; use fewer or smaller lesions or a larger box_mm"
            )
        placed.append((center, ext))
        p = ml.patch(center, ext + 1.0, vs, shape)
        inside = shp.rho(p.rel) <= 1.0
        frac = p.mean(inside)
        # the lesion mask, as a segmentation would draw it: the edge moved by mask_offset_mm
        offset = _uniform(rng, mask_offset_mm)
        if offset > 0:
            outside_d = ndimage.distance_transform_edt(~inside, sampling=p.step)
            mask_frac = p.mean(inside | (outside_d <= offset))
        elif offset < 0:
            mask_frac = p.mean(ml.inner_distance(inside, p.step) > -offset)
        else:
            mask_frac = frac
        region = labels[p.sl]
        region[(mask_frac >= 0.5) & (region == 0)] = i + 1
        lesion_frac[p.sl] = np.maximum(lesion_frac[p.sl], frac)
        flair_lesion[p.sl] = np.maximum(flair_lesion[p.sl], frac * rng.uniform(0.9, 1.1))
        row: dict[str, Any] = {
            "label": i + 1,
            "kind": kind,
            "is_prl": LESION_KINDS[kind],
            "shape": shapes[i],
            "radius_mm": r,
            "rim_coverage": 0.0,
            "rim_thickness_mm": 0.0,
            "rim_strength_ppm": 0.0,
            "rim_gaps": 0,
            "rim_patchy": False,
            "diffuse_gradient": "none",
            "central_vein": False,
            "edge_vein": False,
            "edge_vein_b0_deg": np.nan,
            "mask_offset_mm": offset,
        }
        # lesion tissue: core susceptibility (diffuse: a whole-lesion shift, maybe with a gradient)
        if kind == "diffuse":
            delta = _uniform(rng, diffuse_delta_ppm)
            prof = np.ones(inside.shape, np.float32)
            if rng.uniform() < diffuse_gradient_prob:
                if rng.uniform() < 0.5:
                    d = ml.unit(rng.normal(size=3))
                    g = rng.uniform(0.4, 1.0)
                    prof = (1.0 + g * np.tensordot(d, p.rel, axes=1) / ext).astype(np.float32)
                    row["diffuse_gradient"] = "linear"
                else:
                    rr = np.sqrt((p.rel**2).sum(axis=0)) / ext
                    prof = 1.4 - 0.8 * np.minimum(rr, 1.0) ** 2
                    row["diffuse_gradient"] = "centre"
                prof = np.clip(prof, 0.0, None)
            tissue = p.mean(inside * prof * delta)
        else:
            delta = _uniform(rng, core_delta_ppm)
            tissue = frac * delta
        row["core_delta_ppm"] = delta
        chi[p.sl] += frac * (CHI_WM - chi[p.sl]) + tissue
        if kind in ("prl", "partial_rim"):
            lim = prl_coverage if kind == "prl" else partial_coverage
            cov = _uniform(rng, lim)
            if kind == "prl" and rng.uniform() < complete_rim_prob:
                cov = 1.0
            gaps = int(rng.integers(1, 3)) if rng.uniform() < rim_gap_prob else 0
            arcs, net = ml.draw_rim_arcs(rng, cov, gaps)
            for _ in range(10):  # a PRL keeps its net coverage in range: widen the arc by the gaps
                if kind != "prl" or net >= lim[0] - 1e-9:
                    break
                cov = min(1.0, cov + (lim[0] - net) + 0.01)
                arcs, net = ml.draw_rim_arcs(rng, cov, gaps)
            # the rim leaves a core: at most 45 % of the smallest semi-axis
            thick = min(_uniform(rng, rim_thickness_mm), 0.45 * shp.min_radius)
            strength = _uniform(rng, rim_strength_ppm)
            band = inside & (ml.inner_distance(inside, p.step) <= thick)
            phi = ml.azimuth(p.rel)
            weight = (band & ml.arc_mask(phi, arcs)).astype(np.float32)
            if rng.uniform() < patchy_rim_prob:
                ph0, ph1 = rng.uniform(0, 2 * np.pi, 2)
                n1, n2 = rng.integers(1, 4, 2)
                mod = 0.5 + 0.25 * (np.cos(n1 * phi + ph0) + np.cos(n2 * phi + ph1))
                weight *= 0.4 + 0.6 * np.clip(mod, 0.0, 1.0)
                row["rim_patchy"] = True
            chi[p.sl] += strength * p.mean(weight)
            row.update(
                rim_coverage=net, rim_thickness_mm=thick, rim_strength_ppm=strength, rim_gaps=gaps
            )
        if kind == "central_vein" or (kind == "prl" and rng.uniform() < prl_central_vein_prob):
            # a vein through the core (within a quarter of the smallest radius of the centre),
            # continuing well outside the lesion at both ends
            d = ml.unit(rng.normal(size=3))
            if rng.uniform() < 0.5:  # half of them roughly across the slices, as medullary veins
                d = ml.unit(d * np.array([0.5, 0.5, 1.0]) + np.array([0, 0, np.sign(d[2]) or 1.0]))
            off = ml.unit(np.cross(d, rng.normal(size=3))) * rng.uniform(0, 0.25) * r
            half = ext + rng.uniform(4.0, 10.0)
            veins.append(
                (center + off - d * half, center + off + d * half, rng.uniform(0.3, 0.7), 1.0)
            )
            row["central_vein"] = True
        if kind == "vein_adjacent":
            # a vein tangent to the lesion's surface at a random point, its axis a random direction
            # in the tangent plane (any orientation to B0), centred from just inside to just outside
            # the edge, running well beyond the lesion
            pt, normal = ml.surface_point(rng, inside, p.rel, p.step)
            tang = ml.unit(np.cross(normal, rng.normal(size=3)))
            rv = float(rng.uniform(0.4, 0.9))
            base = center + pt + normal * (rv + rng.uniform(-0.5, 0.8))
            half = ext + rng.uniform(4.0, 12.0)
            veins.append((base - tang * half, base + tang * half, rv, 1.0))
            row["edge_vein"] = True
            row["edge_vein_b0_deg"] = float(np.degrees(np.arccos(min(1.0, abs(tang @ b0)))))
        cw = affine[:3, :3] @ (center / vs) + affine[:3, 3]
        row.update(center_x_mm=cw[0], center_y_mm=cw[1], center_z_mm=cw[2])
        rows.append(row)

    # ----------------------------------------------------------------- veins
    wm_pts = np.flatnonzero((wm.ravel() > 0.7) & inside_box)
    for _ in range(n_veins):
        if len(wm_pts) == 0:
            break
        a = idx[rng.choice(wm_pts)] * vs
        d = ml.unit(rng.normal(size=3))
        veins.append((a, a + d * rng.uniform(10, 25), float(rng.uniform(0.5, 0.8)), 1.0))
    for a, b, rv, scale in veins:
        ml.draw_vein(chi, vs, a, b, rv, CHI_VEIN * scale)
    chi *= brain

    # ------------------------------------------------ field, phase, QSM, FLAIR
    local_field = dipole_field(chi - CHI_WM * brain, vs, b0_direction=b0)
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
    residual = np.zeros(shape, np.float32)
    if residual_field_ppm > 0:
        extent = np.array(shape) * vs
        for _ in range(3):
            c0 = rng.uniform(0, 1, 3) * extent
            w = rng.uniform(12.0, 30.0)
            g2 = sum(
                ((np.arange(n) * v - c0[j]) ** 2).reshape([-1 if k == j else 1 for k in range(3)])
                for j, (n, v) in enumerate(zip(shape, vs, strict=True))
            )
            residual += (
                rng.choice([-1.0, 1.0]) * residual_field_ppm * np.exp(-g2 / (2 * w * w))
            ).astype(np.float32)
        phase = np.where(brain, phase + rad_per_ppm * residual, 0.0).astype(np.float32)
    sign = -1.0 if phase_convention == "paramagnetic-negative" else 1.0
    phase *= sign
    noisy_field = local_field + noise / rad_per_ppm + residual
    qsm = tkd_inversion(noisy_field * brain, vs, b0_direction=b0)
    wm_sel = (wm > 0.9) & (labels == 0)
    if wm_sel.any():
        qsm += CHI_WM - float(np.median(qsm[wm_sel]))
    qsm = (qsm * brain).astype(np.float32)
    flair = (0.55 * wm + 0.68 * gm + 0.12 * csf) * brain
    flair = flair * (1 - lesion_frac) + flair_lesion
    flair = ndimage.gaussian_filter(flair, 0.4) + rng.normal(size=shape) * flair_noise
    flair = np.abs(flair).astype(np.float32) * brain

    truth = pd.DataFrame(rows, columns=TRUTH_COLUMNS)
    counts = np.bincount(labels.ravel(), minlength=len(rows) + 1)
    truth["n_voxels"] = counts[1 : len(rows) + 1]

    def img(a: np.ndarray, dtype: type = np.float32) -> Any:
        im = nib.Nifti1Image(np.asarray(a, dtype=dtype), affine)
        im.header.set_xyzt_units("mm")
        return im

    settings = {
        "family": "A",
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
        "oblique_deg": oblique_deg,
        "b0_direction": b0.tolist(),
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


__all__ = [
    "MRIPhantom",
    "simulate_mri_phantom",
    "rotation_about",
    "dipole_field",
    "tkd_inversion",
    "LESION_KINDS",
    "DEFAULT_KIND_WEIGHTS",
    "MIMIC_KIND_WEIGHTS",
    "REAL_SCAN_KIND_WEIGHTS",
    "WIDE_SETTINGS",
    "TRUTH_COLUMNS",
]
