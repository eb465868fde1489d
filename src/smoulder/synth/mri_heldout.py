"""Phantom family B: an independently built physics phantom for held-out evaluation of PRL calls.

smoulder's PRL rule is tuned on family A (:mod:`smoulder.synth.mri`). Family B is a second phantom
written separately, with other models at every step, so a figure measured on it is not a figure
measured on the tuning distribution:

============================  ==========================================  ===========================
step                          family A (tuning)                           family B (this module)
============================  ==========================================  ===========================
lesion shape                  ellipsoids, bumps, ovoids, two ellipsoids   metaballs: sums of 1-6
                                                                          anisotropic Gaussians,
                                                                          thresholded (blob, lobed,
                                                                          finger, confluent)
rim                           inner shell (exact distance) over an arc    a band of the signed distance
                              about the slice normal, hard edges          (from 0.4 mm outside to
                                                                          inside the edge), a tapered
                                                                          window about an axis tilted
                                                                          up to 25 degrees, Fourier
                                                                          patchiness
ground truth                  by construction (arc fraction)              measured on the acquisition
                                                                          slices of the noise-free rim
veins                         straight cylinders                          curved, tapered tubes;
                                                                          edge veins hug the edge over
                                                                          an arc of 30-100 degrees
partial volume                susceptibility averaged per voxel           complex signal averaged per
                                                                          voxel (intravoxel dephasing)
field                         dipole kernel on the acquisition grid       dipole kernel on a <= 0.5 mm
                                                                          grid, own implementation
background                    polynomial, Gaussian high-pass              analytic fields of air
                                                                          spheres outside the brain,
                                                                          SWI homodyne filter (k-space
                                                                          Hann window)
noise                         Gaussian phase noise                        complex Gaussian noise; phase
                                                                          noise grows where magnitude
                                                                          is low (veins, iron)
QSM                           TKD of the noisy local field                SHARP background removal +
                                                                          closed-form L2 gradient-
                                                                          regularised inversion
lesion mask                   voxels >= half inside the lesion            the edge moved by a random
                                                                          segmentation offset
============================  ==========================================  ===========================

The tissue anatomy is the MNI152 template (the only brain nilearn ships offline), at other
susceptibilities and with a random texture. Everything is deterministic from the seed.

Examples
--------
>>> from smoulder.synth.mri_heldout import simulate_heldout_phantom
>>> ph = simulate_heldout_phantom(seed=1, voxel_size=1.0, n_lesions=6)  # doctest: +SKIP
>>> ph.truth[["label", "kind", "is_prl", "truth_coverage"]]  # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
from scipy import ndimage

from smoulder.synth.mri import LESION_KINDS, MRIPhantom
from smoulder.synth.mri_heldout_physics import (
    _ball_field,
    _curve,
    _field,
    _Fine,
    _hann_lowpass,
    _l2_qsm,
    _metaball,
    _mni,
    _rot,
    _sdf,
    _sharp,
    _slice_coverage,
    _soft,
    _tube,
)

GAMMA_HZ_PER_T = 42.577478e6

#: Kind mix of family B (other proportions than family A's).
HELDOUT_KIND_WEIGHTS = {
    "prl": 0.28,
    "rimless": 0.14,
    "partial_rim": 0.14,
    "diffuse": 0.14,
    "vein_adjacent": 0.15,
    "central_vein": 0.15,
}
SHAPES_B = ("blob", "lobed", "finger", "confluent")
PRL_MIN_COVERAGE = 2.0 / 3.0  # the consensus threshold that defines the ground truth


def simulate_heldout_phantom(
    seed: int = 0,
    *,
    voxel_size: float | Sequence[float] = 1.0,
    box_mm: Sequence[Sequence[float]] = ((-50, 50), (-66, 26), (-2, 40)),
    n_lesions: int = 12,
    kind_weights: Mapping[str, float] | None = None,
    kinds: Sequence[str] | None = None,
    diameter_mm: tuple[float, float] = (3.0, 20.0),
    rim_strength_ppm: tuple[float, float] = (0.012, 0.08),
    rim_thickness_mm: tuple[float, float] = (0.5, 2.5),
    phase_noise_rad: float = 0.05,
    oblique_max_deg: float = 0.0,
    field_strength_t: float = 3.0,
    te_ms: float = 20.0,
    n_veins: int = 30,
    phase_convention: str = "paramagnetic-negative",
) -> MRIPhantom:
    """Simulate one family-B subject (see the module docstring for how it differs from family A).

    Parameters
    ----------
    seed : int
        Seed of the random generator.
    voxel_size : float or 3 floats
        Acquisition voxel size (mm); the third axis is the slice axis.
    box_mm : ((xmin, xmax), (ymin, ymax), (zmin, zmax))
        Region of MNI space.
    n_lesions : int
        Number of lesions (ignored when ``kinds`` is given).
    kind_weights : mapping, optional
        Probabilities of the kinds (default :data:`HELDOUT_KIND_WEIGHTS`).
    kinds : sequence of str, optional
        The designed kind of each lesion. ``prl`` and ``partial_rim`` are relabelled by the
        measured truth coverage (a PRL when the noise-free rim covers >= 2/3 of the edge on >= 2
        consecutive acquisition slices).
    diameter_mm : (low, high)
        Equivalent diameter, log-uniform; PRLs at least 5 mm.
    rim_strength_ppm, rim_thickness_mm : (low, high)
        Rim susceptibility above the core (log-uniform) and thickness (uniform; at most 45 % of
        the lesion's depth).
    phase_noise_rad : float
        Phase noise SD in white matter (complex noise of SD ``phase_noise_rad`` x WM magnitude).
    oblique_max_deg : float
        The acquisition grid is rotated by up to this angle about a random axis (B0 = world z).
    field_strength_t, te_ms : float
        Phase per ppm.
    n_veins : int
        Curved background veins.
    phase_convention : str
        Sign convention of the written phase.

    Returns
    -------
    MRIPhantom
        ``truth`` has ``label, kind, designed_kind, is_prl, shape, diameter_mm, truth_coverage``
        (the noise-free rim's sustained coverage over 2 consecutive slices), the rim and mimic
        parameters and ``n_voxels``.
    """
    import nibabel as nib

    rng = np.random.default_rng(np.random.SeedSequence([seed, 0xB]))
    vs = np.broadcast_to(np.asarray(voxel_size, float), (3,)).copy()
    lo = np.array([b[0] for b in box_mm], float)
    hi = np.array([b[1] for b in box_mm], float)
    shape = tuple(int(n) for n in np.round((hi - lo) / vs).astype(int))
    rot = _rot(rng, oblique_max_deg) if oblique_max_deg > 0 else np.eye(3)
    affine = np.eye(4)
    affine[:3, :3] = rot @ np.diag(vs)
    affine[:3, 3] = (lo + hi) / 2 - affine[:3, :3] @ ((np.array(shape) - 1) / 2)
    b0 = rot.T @ np.array([0.0, 0.0, 1.0])  # scanner z along the voxel axes
    m = np.maximum(1, np.ceil(vs / 0.5 - 1e-9)).astype(int)
    fine = _Fine(shape, vs, m)
    # fine voxel centres in world coordinates -> MNI templates
    gm_t, wm_t, br_t, t_aff = _mni()
    fi = [np.arange(n) for n in fine.shape]
    g = np.meshgrid(*[(a + 0.5) / k - 0.5 for a, k in zip(fi, m, strict=True)], indexing="ij")
    ijk = np.stack([x.ravel() for x in g])
    xyz = affine[:3, :3] @ ijk + affine[:3, 3:4]
    src = np.linalg.inv(t_aff)
    tv = src[:3, :3] @ xyz + src[:3, 3:4]
    del g, ijk
    gm = ndimage.map_coordinates(gm_t, tv, order=1).reshape(fine.shape)
    wm = ndimage.map_coordinates(wm_t, tv, order=1).reshape(fine.shape)
    brain = ndimage.map_coordinates(br_t, tv, order=1).reshape(fine.shape) > 0.5
    del tv
    chi_wm = rng.uniform(-0.04, -0.02)
    depth = ndimage.distance_transform_edt(np.pad(brain, 1), sampling=fine.h)[1:-1, 1:-1, 1:-1]
    iron = rng.uniform(0.05, 0.15) * np.clip((depth - rng.uniform(18, 26)) / 5, 0, 1) * (gm > 0.45)
    texture = ndimage.gaussian_filter(rng.normal(size=fine.shape).astype(np.float32), 8 / fine.h)
    texture *= 0.004 / max(float(texture.std()), 1e-9)
    chi = ((wm * chi_wm + gm * rng.uniform(0.0, 0.02) + iron + wm * texture) * brain).astype(
        np.float32
    )
    mag = ((0.95 * wm + 0.8 * gm + 0.55 * (1 - gm - wm).clip(0)) * brain + 0.05).astype(np.float32)
    mag *= 1.0 - 0.3 * (iron > 0.02)
    les_occ = np.zeros(fine.shape, np.float32)
    seg_occ = np.zeros(fine.shape, np.float32)
    lab_fine = np.zeros(fine.shape, np.int16)
    flair_les = np.zeros(fine.shape, np.float32)

    weights = dict(kind_weights or HELDOUT_KIND_WEIGHTS)
    if kinds is None:
        names = list(weights)
        p = np.array([weights[k] for k in names])
        kinds = [str(k) for k in rng.choice(names, size=n_lesions, p=p / p.sum())]
    kinds = list(kinds)
    wm_deep = ndimage.distance_transform_edt(wm > 0.5, sampling=fine.h)
    cand_mask = (wm_deep > 1.5) & brain
    margin = np.ceil(10 / fine.h).astype(int)
    cand_mask[: margin[0]] = cand_mask[-margin[0] :] = False
    cand_mask[:, : margin[1]] = cand_mask[:, -margin[1] :] = False
    cand_mask[:, :, : margin[2]] = cand_mask[:, :, -margin[2] :] = False
    cand = np.argwhere(cand_mask[::2, ::2, ::2]) * 2
    rows: list[dict[str, Any]] = []
    placed: list[tuple[np.ndarray, float]] = []
    for i, kind in enumerate(kinds):
        if kind not in LESION_KINDS:
            raise ValueError(
                f"unknown lesion kind {kind!r}; expected one of {sorted(LESION_KINDS)}"
            )
        lo_d = max(diameter_mm[0], 5.0) if kind in ("prl",) else diameter_mm[0]
        diam = float(np.exp(rng.uniform(np.log(lo_d), np.log(diameter_mm[1]))))
        shp = str(rng.choice(SHAPES_B, p=[0.35, 0.25, 0.2, 0.2]))
        balls = _metaball(rng, shp, diam)
        reach = diam * (1.0 if shp != "finger" else 1.3) + 3
        center = None
        for _ in range(300):
            c = (cand[rng.integers(len(cand))] + 0.5) * fine.h
            if wm_deep[tuple((c / fine.h).astype(int))] < 0.3 * diam:
                continue
            if all(np.linalg.norm(c - pc) > reach / 2 + pr / 2 + 2 for pc, pr in placed):
                center = c
                break
        if center is None:
            raise ValueError(f"could not place lesion {i + 1} (diameter {diam:.1f} mm)")
        placed.append((center, reach))
        blo, bhi = fine.box(center, reach)
        sl = tuple(slice(a, b) for a, b in zip(blo, bhi, strict=True))
        x = [xx - cc for xx, cc in zip(fine.coords(blo, bhi), center, strict=True)]
        fld = _ball_field(balls, x)
        # threshold for the wanted volume
        target = np.pi / 6 * diam**3 / np.prod(fine.h)
        vals = np.sort(fld.ravel())[::-1]
        thr = float(vals[min(int(target), len(vals) - 1)])
        inside = fld >= thr
        sdf = _sdf(inside, fine.h)
        hmin = float(fine.h.min())
        occ = _soft(sdf, hmin)
        seg_off = rng.uniform(-0.4, 0.4)
        seg = _soft(sdf + seg_off, hmin)
        row: dict[str, Any] = {
            "label": i + 1,
            "designed_kind": kind,
            "shape": shp,
            "diameter_mm": diam,
            "rim_coverage_designed": 0.0,
            "rim_thickness_mm": 0.0,
            "rim_strength_ppm": 0.0,
            "rim_tilt_deg": 0.0,
            "segmentation_offset_mm": seg_off,
            "truth_coverage": 0.0,
        }
        core = rng.uniform(-0.005, 0.02)
        if kind == "diffuse":
            core = rng.uniform(0.025, 0.07)
            if rng.uniform() < 0.5:
                d = rng.normal(size=3)
                d /= np.linalg.norm(d)
                core = core * np.clip(
                    1 + rng.uniform(0.3, 0.9) * sum(d[j] * x[j] for j in range(3)) / (diam / 2),
                    0,
                    None,
                )
        chi[sl] = chi[sl] * (1 - occ) + occ * (chi_wm + core)
        les_occ[sl] = np.maximum(les_occ[sl], occ)
        seg_occ[sl] = np.maximum(seg_occ[sl], seg)
        flair_les[sl] = np.maximum(flair_les[sl], occ * rng.uniform(0.85, 1.2))
        mag[sl] *= 1 - 0.1 * occ
        rim_w = None
        if kind in ("prl", "partial_rim"):
            cov = rng.uniform(0.74, 1.0) if kind == "prl" else rng.uniform(0.08, 0.5)
            if kind == "prl" and rng.uniform() < 0.45:
                cov = 1.0  # most real rims go all round
            thick = min(rng.uniform(*rim_thickness_mm), 0.45 * float(sdf.max()))
            strength = float(np.exp(rng.uniform(*np.log(rim_strength_ppm))))
            out = rng.uniform(0.0, 0.4)
            band = _soft(sdf + out, hmin) * _soft(thick - out - sdf, hmin)
            tilt = _rot(rng, 25.0)
            loc = np.tensordot(tilt.T, np.stack(np.broadcast_arrays(*x)), axes=1)
            phi = np.arctan2(loc[1], loc[0])
            phi0 = rng.uniform(-np.pi, np.pi)
            dphi = np.abs(np.angle(np.exp(1j * (phi - phi0))))
            half = cov * np.pi
            taper = np.radians(rng.uniform(5, 15))
            win = np.clip((half - dphi) / taper + 0.5, 0, 1) if cov < 0.999 else np.ones_like(phi)
            patch = 1.0
            if rng.uniform() < 0.4:
                a1, a2 = rng.uniform(0, 2 * np.pi, 2)
                patch = 0.7 + 0.3 * np.cos(2 * phi + a1) * np.cos(3 * phi + a2)
            rim_w = band * win * patch
            chi[sl] += (strength * rim_w).astype(np.float32)
            row.update(
                rim_coverage_designed=cov,
                rim_thickness_mm=thick,
                rim_strength_ppm=strength,
                rim_tilt_deg=float(np.degrees(np.arccos(np.clip(tilt[2, 2], -1, 1)))),
            )
            # truth on the acquisition slices (the middle fine sub-slice of each), where the lesion
            # is well cut (cross-section >= 35 % of its largest): caps, where a shell of any arc
            # covers a tiny disc, are not rated
            rim_on = rim_w >= 0.5 * max(float(rim_w.max()), 1e-9)
            zs = [z for z in range(rim_on.shape[2]) if (int(blo[2]) + z) % m[2] == m[2] // 2]
            area = np.array([inside[:, :, z].sum() for z in zs], float)
            covs = [
                _slice_coverage(inside[:, :, z], rim_on[:, :, z], fine.h[:2], 0.5 + 0.5 * thick)
                if a >= 0.35 * area.max()
                else 0.0
                for z, a in zip(zs, area, strict=True)
            ]
            cv = np.nan_to_num(np.array(covs), nan=0.0)
            sus = float(np.max(np.minimum(cv[:-1], cv[1:]))) if len(cv) > 1 else 0.0
            row["truth_coverage"] = sus
        if kind == "central_vein" or (kind == "prl" and rng.uniform() < 0.3):
            d = rng.normal(size=3)
            d /= np.linalg.norm(d)
            ln = diam + rng.uniform(8, 20)
            pts = _curve(rng, center - d * ln / 2 + rng.normal(size=3) * 0.1 * diam, d, ln)
            pts += center - pts[len(pts) // 2]  # through the centre
            rv = rng.uniform(0.3, 0.7)
            _tube(chi, mag, fine, pts, rv, rv * rng.uniform(0.6, 1.0), rng.uniform(0.25, 0.5))
            row["central_vein"] = True
        if kind == "vein_adjacent":
            # a curve hugging the edge over an arc, then leaving tangentially at both ends
            nrm = rng.normal(size=3)
            nrm /= np.linalg.norm(nrm)
            u = np.cross(nrm, rng.normal(size=3))
            u /= np.linalg.norm(u)
            w = np.cross(nrm, u)
            arc = np.radians(rng.uniform(30, 100))
            rv = rng.uniform(0.4, 0.9)
            gap = rng.uniform(-0.3, 1.0) + rv
            hug: list[np.ndarray] = []
            for t in np.linspace(-arc / 2, arc / 2, 24):
                dvec = np.cos(t) * u + np.sin(t) * w
                # march outwards to the edge along dvec
                rr = 0.0
                while (
                    rr < reach
                    and _ball_field(balls, [np.array(rr * dvec[j]) for j in range(3)]) >= thr
                ):
                    rr += 0.2
                hug.append(center + dvec * (rr + gap))
            pts = np.array(hug)
            ext = rng.uniform(5, 12)
            t0 = pts[0] - pts[1]
            t1 = pts[-1] - pts[-2]
            pts = np.vstack(
                [
                    pts[0] + t0 / np.linalg.norm(t0) * ext,
                    pts,
                    pts[-1] + t1 / np.linalg.norm(t1) * ext,
                ]
            )
            _tube(chi, mag, fine, pts, rv, rv, rng.uniform(0.25, 0.5))
            row["edge_vein"] = True
            row["edge_vein_arc_deg"] = float(np.degrees(arc))
        region = lab_fine[sl]
        region[(seg >= 0.5) & (region == 0)] = i + 1
        rows.append(row)

    # background veins: curved, tapered
    wm_pts = np.argwhere((wm[::3, ::3, ::3] > 0.7) & brain[::3, ::3, ::3]) * 3
    for _ in range(n_veins):
        a = (wm_pts[rng.integers(len(wm_pts))] + 0.5) * fine.h
        pts = _curve(rng, a, rng.normal(size=3), rng.uniform(10, 30))
        r0 = rng.uniform(0.4, 0.9)
        _tube(chi, mag, fine, pts, r0, r0 * rng.uniform(0.4, 0.9), rng.uniform(0.3, 0.45))
    chi *= brain
    # ------------------------------------------------------------------ physics
    rad_per_ppm = 2 * np.pi * GAMMA_HZ_PER_T * field_strength_t * te_ms * 1e-3 * 1e-6
    local = _field(chi - chi_wm * brain, fine.h, b0)
    # background: air spheres (chi -9.4 ppm relative to tissue) below and in front of the box
    bg = np.zeros(fine.shape, np.float32)
    cx = [np.arange(n) * h + h / 2 for n, h in zip(fine.shape, fine.h, strict=True)]
    ext_mm = np.array(fine.shape) * fine.h
    for _ in range(int(rng.integers(2, 5))):
        cpos = (
            np.array([rng.uniform(0.2, 0.8), rng.uniform(0.7, 1.3), rng.uniform(-0.9, -0.3)])
            * ext_mm
        )
        rad = rng.uniform(8, 16)
        dx = [cx[j].reshape([-1 if q == j else 1 for q in range(3)]) - cpos[j] for j in range(3)]
        r2 = sum(dd**2 for dd in dx) + 1e-6
        cos2 = (sum(dx[j] * b0[j] for j in range(3)) ** 2) / r2
        bg += (-9.4 * rad**3 / 3 * (3 * cos2 - 1) / r2**1.5).astype(np.float32)
    # scaled to a peak-to-peak of 0.3-1 ppm over the brain, as after shimming
    span = float(np.ptp(bg[brain])) if brain.any() else 1.0
    bg *= rng.uniform(0.3, 1.0) / max(span, 1e-9)
    phase_fine = rad_per_ppm * (local + bg)
    sig = mag * np.exp(1j * phase_fine)
    del phase_fine
    ss = tuple(int(q) for q in m)

    def down(a: np.ndarray) -> np.ndarray:
        s = a.shape
        return a.reshape(s[0] // ss[0], ss[0], s[1] // ss[1], ss[1], s[2] // ss[2], ss[2]).mean(
            axis=(1, 3, 5)
        )

    z = down(sig)
    brain_a = down(brain.astype(np.float32)) > 0.5
    wm_mag = float(np.median(np.abs(z[brain_a])))
    z = z + (
        rng.normal(size=z.shape) + 1j * rng.normal(size=z.shape)
    ) * phase_noise_rad * wm_mag / np.sqrt(2)
    # SWI homodyne high-pass
    period = rng.uniform(12, 24)
    hp = np.angle(z * np.conj(_hann_lowpass(z, vs, period)))
    sign = -1.0 if phase_convention == "paramagnetic-negative" else 1.0
    phase = (sign * hp * brain_a).astype(np.float32)
    # QSM: perfectly unwrapped total field (the known smooth phase adds 2 pi k), SHARP, L2 inversion
    ref = rad_per_ppm * down(local + bg).real
    meas = np.angle(z)
    unwrapped = meas + 2 * np.pi * np.round((ref - meas) / (2 * np.pi))
    total_ppm = unwrapped / rad_per_ppm
    loc_a, inner = _sharp(total_ppm, brain_a, vs, rng.uniform(4.0, 6.0), 0.05)
    qsm = _l2_qsm(loc_a, inner, vs, b0, lam=rng.uniform(0.01, 0.03) * float(np.mean(vs)) ** 2)
    labels = np.zeros(shape, np.int16)
    seg_a = down(seg_occ)
    lab_mode = np.zeros(shape, np.int16)
    for row in rows:
        frac = down((lab_fine == row["label"]).astype(np.float32))
        lab_mode[(frac > 0.5)] = row["label"]
    labels = lab_mode * (seg_a >= 0.5)
    wm_a = down(wm) > 0.9
    sel = wm_a & (labels == 0) & inner
    if sel.any():
        qsm = np.where(inner, qsm - float(np.median(qsm[sel])) + chi_wm, 0.0).astype(np.float32)
    fl = down((0.55 * wm + 0.7 * gm + 0.1 * (1 - gm - wm).clip(0)) * brain)
    fl = fl * (1 - down(les_occ)) + down(flair_les)
    fl = fl + rng.normal(size=shape) * 0.03
    flair = (np.abs(fl) * brain_a).astype(np.float32)
    for row in rows:
        k = row["designed_kind"]
        if k in ("prl", "partial_rim"):
            k = "prl" if row["truth_coverage"] >= PRL_MIN_COVERAGE - 1e-9 else "partial_rim"
        row["kind"] = k
        row["is_prl"] = LESION_KINDS[k]
        row.setdefault("central_vein", False)
        row.setdefault("edge_vein", False)
    truth = pd.DataFrame(rows)
    front = ["label", "kind", "designed_kind", "is_prl", "shape", "diameter_mm", "truth_coverage"]
    truth = truth[front + [c for c in truth.columns if c not in front]]
    truth["n_voxels"] = np.bincount(labels.ravel(), minlength=len(rows) + 1)[1 : len(rows) + 1]

    def img(a: np.ndarray, dtype: type = np.float32) -> Any:
        im = nib.Nifti1Image(np.asarray(a, dtype=dtype), affine)
        im.header.set_xyzt_units("mm")
        return im

    return MRIPhantom(
        flair=img(flair),
        phase=img(phase),
        qsm=img(qsm),
        lesions=img(labels, np.int16),
        chi=img(down(chi)),
        truth=truth,
        settings={
            "family": "B",
            "seed": seed,
            "voxel_size": vs.tolist(),
            "phase_noise_rad": phase_noise_rad,
            "rad_per_ppm": rad_per_ppm,
            "homodyne_period_mm": period,
            "b0_direction": b0.tolist(),
            "phase_convention": phase_convention,
        },
    )


__all__ = ["simulate_heldout_phantom", "HELDOUT_KIND_WEIGHTS", "SHAPES_B"]
