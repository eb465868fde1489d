"""Phase and magnitude as a scanner writes them, from a phantom of :mod:`smoulder.synth.mri`.

The phantom supplies the brain's susceptibility (white and grey matter, iron, veins, lesions
with and without rims) on the acquisition grid. Around it a head is modelled (cerebrospinal
fluid, skull, scalp, face and neck; air outside and in the frontal, ethmoid, sphenoid and
maxillary sinuses, mastoid cells and ear canals, each drawn at a randomised place and size),
and the field of the whole head is computed with the dipole kernel, B0 along the scanner's z
axis (oblique to the voxel axes when the slab is tilted). A shim removes most of the
background up to second order. Then, as on a scanner:

* phase = -gamma B0 TE (background + local field) + a receiver phase offset (a constant and a
  readout ramp), in the paramagnetic-negative convention unless asked otherwise;
* magnitude = proton density x exp(-TE R2*) (R2* of each tissue, higher with iron and in
  veins, proportional to B0) x the signal lost to intravoxel dephasing in steep background
  gradients x a smooth coil sensitivity;
* complex Gaussian noise is added to the signal, so that the phase noise is 1 / magnitude SNR
  (``phase_noise_rad`` in white matter) and pure noise outside the head;
* the phase is wrapped into (-pi, pi] and quantised to 12 bits: Siemens values -4096..4094
  (RescaleSlope 2, RescaleIntercept -4096), other vendors 0..4095, or float radians; the
  magnitude to 0..4095.

The truth kept beside: the local field (ppm, paramagnetic positive, the phantom's reference:
white matter at zero), the background field, the ideal phase (local field only, with the same
noise), brain mask, lesion labels, FLAIR and the per-lesion truth table. Deterministic from
the seed.

Example
-------
>>> from smoulder.synth.raw_phase import simulate_raw_phase
>>> scan = simulate_raw_phase(seed=1, voxel_size=2.0, n_lesions=4)  # doctest: +SKIP
>>> scan.phase.min(), scan.phase.max()  # doctest: +SKIP
(-4096, 4094)
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from scipy import ndimage

from smoulder.imaging.phase.fields import dipole_convolve, rad_per_ppm, wrap
from smoulder.synth._head import Head, head_field, sample, shim, shim_eval, templates
from smoulder.synth.mri import CHI_GM, CHI_WM, MRIPhantom, simulate_mri_phantom

ENCODINGS = ("siemens", "12bit", "radians")

_PD = {"wm": 0.70, "gm": 0.80, "csf": 1.0, "lesion": 0.85, "soft": 0.75, "bone": 0.05}
_R2S_3T = {"wm": 20.0, "gm": 17.0, "csf": 4.0, "lesion": 14.0, "soft": 30.0, "bone": 1000.0}
_R2S_PER_PPM_3T = 150.0  # extra R2* per ppm of paramagnetic excess (iron, deoxyhaemoglobin)
#: Stored magnitude of proton density 1 at TE 0 (a fixed receiver gain: echoes are comparable).
MAGNITUDE_SCALE = 2500.0


@dataclass
class RawPhaseScan:
    """One simulated acquisition: what the scanner writes, and the truth beside it.

    Attributes
    ----------
    phase : numpy.ndarray
        Wrapped phase as written: int16 -4096..4094 (``siemens``), int16 0..4095 (``12bit``)
        or float32 radians in (-pi, pi] (``radians``).
    magnitude : numpy.ndarray of int16
        Magnitude, 0..4095.
    affine : (4, 4) array
        Voxel to scanner (RAS mm) affine; B0 is the scanner's z axis.
    encoding, echo_time_ms, field_strength_t, phase_convention
        How the phase was written and acquired.
    local_field_ppm, background_field_ppm : numpy.ndarray of float32
        True fields (ppm of B0, paramagnetic positive). The local field is that of the brain's
        susceptibility referenced to white matter, as :mod:`smoulder.synth.mri` defines it.
    ideal_phase_rad : numpy.ndarray of float32
        The local field as phase (in ``phase_convention``) with this scan's own phase noise:
        what a perfect unwrapping and background removal would give.
    brain, labels, flair : numpy.ndarray
        True brain mask, lesion labels and FLAIR on the same grid.
    r2star : numpy.ndarray of float32
        R2* (1/s) used for the magnitude, ``exp(-TE R2*)``.
    truth : pandas.DataFrame
        Per-lesion truth of the phantom (``label, kind, is_prl, ...``).
    settings : dict
        The arguments that produced the scan.
    """

    phase: np.ndarray
    magnitude: np.ndarray
    affine: np.ndarray
    encoding: str
    echo_time_ms: float
    field_strength_t: float
    phase_convention: str
    local_field_ppm: np.ndarray
    background_field_ppm: np.ndarray
    ideal_phase_rad: np.ndarray
    brain: np.ndarray
    labels: np.ndarray
    flair: np.ndarray
    r2star: np.ndarray
    truth: pd.DataFrame
    settings: dict[str, Any] = field(default_factory=dict)

    @property
    def zooms(self) -> np.ndarray:
        """Voxel sizes (mm)."""
        return np.sqrt((self.affine[:3, :3] ** 2).sum(axis=0))

    def sidecar(self, kind: str = "phase") -> dict[str, Any]:
        """A JSON sidecar as dcm2niix writes it, for ``kind`` ``"phase"`` or ``"magnitude"``."""
        image_type = ["ORIGINAL", "PRIMARY", "P" if kind == "phase" else "M", "ND"]
        out: dict[str, Any] = {
            "Modality": "MR",
            "Manufacturer": "Siemens" if self.encoding == "siemens" else "smoulder-simulator",
            "MagneticFieldStrength": self.field_strength_t,
            "EchoTime": round(self.echo_time_ms / 1000.0, 6),
            "ImageType": image_type,
            "SeriesDescription": f"swi_{'phase' if kind == 'phase' else 'mag'}",
            "SliceThickness": float(self.zooms[2]),
            "ConversionSoftware": "smoulder.synth.raw_phase",
        }
        return out

    def save(self, directory: str, prefix: str = "") -> dict[str, str]:
        """Write the scan as NIfTI + JSON sidecars and the truth; return the paths by name."""
        import nibabel as nib

        os.makedirs(directory, exist_ok=True)
        out: dict[str, str] = {}
        images = {
            "phase": self.phase,
            "magnitude": self.magnitude,
            "flair": self.flair,
            "lesions": self.labels.astype(np.int16),
            "brain": self.brain.astype(np.uint8),
            "local_field_ppm": self.local_field_ppm,
            "ideal_phase": self.ideal_phase_rad,
        }
        for name, arr in images.items():
            img = nib.Nifti1Image(np.asarray(arr), self.affine)
            img.header.set_xyzt_units("mm")
            path = os.path.join(directory, f"{prefix}{name}.nii.gz")
            nib.save(img, path)
            out[name] = path
        for kind in ("phase", "magnitude"):
            path = os.path.join(directory, f"{prefix}{kind}.json")
            with open(path, "w", encoding="utf-8") as fh:
                json.dump(self.sidecar(kind), fh, indent=2)
            out[f"{kind}_json"] = path
        path = os.path.join(directory, f"{prefix}truth.tsv")
        self.truth.to_csv(path, sep="\t", index=False, na_rep="n/a")
        out["truth"] = path
        return out


def rotation(rx_deg: float, ry_deg: float, rz_deg: float) -> np.ndarray:
    """Rotation matrix ``Rz @ Ry @ Rx`` (degrees about the scanner's x, y, z axes)."""
    rx, ry, rz = np.deg2rad([rx_deg, ry_deg, rz_deg])
    cx, sx, cy, sy, cz, sz = np.cos(rx), np.sin(rx), np.cos(ry), np.sin(ry), np.cos(rz), np.sin(rz)
    mx = np.array([[1, 0, 0], [0, cx, -sx], [0, sx, cx]])
    my = np.array([[cy, 0, sy], [0, 1, 0], [-sy, 0, cy]])
    mz = np.array([[cz, -sz, 0], [sz, cz, 0], [0, 0, 1]])
    return mz @ my @ mx


def _flip(a: np.ndarray, flips: Sequence[bool]) -> np.ndarray:
    for ax, f in enumerate(flips):
        if f:
            a = np.flip(a, axis=ax)
    return np.ascontiguousarray(a)


def quantise_phase(phase_rad: np.ndarray, encoding: str) -> np.ndarray:
    """Wrapped phase (radians) as a scanner stores it (see the module docstring)."""
    if encoding == "radians":
        w = wrap(phase_rad)
        return np.where(w <= -np.pi, np.pi, w).astype(np.float32)
    stored = np.round((wrap(phase_rad) / np.pi + 1.0) * 2048.0).astype(np.int64) % 4096
    if encoding == "siemens":
        return (2 * stored - 4096).astype(np.int16)
    if encoding == "12bit":
        return stored.astype(np.int16)
    raise ValueError(f"encoding must be one of {ENCODINGS}, got {encoding!r}")


def simulate_raw_phase(
    seed: int = 0,
    *,
    voxel_size: float | Sequence[float] = 1.0,
    echo_time_ms: float = 20.0,
    field_strength_t: float = 3.0,
    encoding: str = "siemens",
    rotation_deg: Sequence[float] = (0.0, 0.0, 0.0),
    flips: Sequence[bool] = (False, False, False),
    fov_mm: Sequence[float] = (192.0, 224.0),
    slab_mm: float = 48.0,
    center_mm: Sequence[float] = (0.0, -18.0, 24.0),
    phase_noise_rad: float = 0.05,
    receiver_offset: bool = True,
    background: bool = True,
    phase_convention: str = "paramagnetic-negative",
    n_lesions: int = 12,
    kinds: Sequence[str] | None = None,
    phantom_options: dict[str, Any] | None = None,
) -> RawPhaseScan:
    """Simulate one raw phase + magnitude acquisition of a phantom head.

    Parameters
    ----------
    seed : int
        Seed of the phantom and of everything drawn here.
    voxel_size : float or 3 floats
        Voxel size (mm) along the readout, phase-encoding and slice axes.
    echo_time_ms, field_strength_t : float
        Echo time (ms) and field strength (T): the phase per ppm is ``2 pi 42.58 B0 TE``.
    encoding : {"siemens", "12bit", "radians"}
        How the phase is written.
    rotation_deg : (rx, ry, rz)
        Pose of the head (and of the slab aligned to it) in the scanner, in degrees about
        the scanner's x, y, z axes: a tilt about x is the usual oblique axial slab.
    flips : 3 bools
        Store these voxel axes reversed (as converters do for some orientations).
    fov_mm : (readout, phase) field of view in the slab plane (mm); it includes air.
    slab_mm : float
        Slab thickness (mm).
    center_mm : 3 floats
        Centre of the slab in MNI millimetres.
    phase_noise_rad : float
        Phase noise in white matter (1 / magnitude SNR).
    receiver_offset : bool
        Add a random constant phase and a readout phase ramp.
    background : bool
        Add the head's background field (False gives the local field only: for tests).
    phase_convention : {"paramagnetic-negative", "paramagnetic-positive"}
    n_lesions, kinds, phantom_options
        Passed to :func:`smoulder.synth.mri.simulate_mri_phantom`.

    Returns
    -------
    RawPhaseScan
    """
    if encoding not in ENCODINGS:
        raise ValueError(f"encoding must be one of {ENCODINGS}, got {encoding!r}")
    if phase_convention not in ("paramagnetic-negative", "paramagnetic-positive"):
        raise ValueError(f"unknown phase_convention {phase_convention!r}")
    rng = np.random.default_rng([seed, 7321])
    vs = np.broadcast_to(np.asarray(voxel_size, dtype=float), (3,)).copy()
    c = np.asarray(center_mm, dtype=float)
    half = np.array([fov_mm[0], fov_mm[1], slab_mm], dtype=float) / 2.0
    box = tuple((float(a - h), float(a + h)) for a, h in zip(c, half, strict=True))
    opts = dict(phantom_options or {})
    ph: MRIPhantom = simulate_mri_phantom(
        seed,
        voxel_size=[float(v) for v in vs],
        box_mm=box,
        n_lesions=n_lesions,
        kinds=kinds,
        field_strength_t=field_strength_t,
        te_ms=echo_time_ms,
        **opts,
    )
    chi_img: Any = ph.chi
    anat_aff = np.asarray(chi_img.affine, dtype=np.float64)
    shape = tuple(chi_img.shape)
    chi = np.asarray(chi_img.dataobj, dtype=np.float32)

    rot = rotation(*rotation_deg)
    pose = np.eye(4)
    pose[:3, :3] = rot
    pose[:3, 3] = c - rot @ c  # rotate about the slab centre
    affine = pose @ anat_aff
    b0 = rot.T @ np.array([0.0, 0.0, 1.0])  # B0 in the anatomical (voxel) frame

    # ------------------------------------------------------------- tissue on the grid
    gm_t, wm_t, brain_t, t_aff = templates()
    ijk = np.indices(shape, dtype=np.float32).reshape(3, -1)
    xyz = anat_aff[:3, :3] @ ijk + anat_aff[:3, 3:4]
    gm = sample(gm_t, t_aff, xyz).reshape(shape)
    wm = sample(wm_t, t_aff, xyz).reshape(shape)
    brain = sample(brain_t, t_aff, xyz).reshape(shape) > 0.5
    csf = np.clip(1.0 - gm - wm, 0.0, 1.0)
    labels = np.asarray(ph.lesions.dataobj).astype(np.int16)  # type: ignore[attr-defined]

    # ------------------------------------------------------------------- fields (ppm)
    local = dipole_convolve((chi - CHI_WM) * brain, vs, b0)
    local_total = dipole_convolve(chi * brain, vs, b0)  # relative to CSF, the head's tissue
    head = Head.draw(rng)
    if background:
        hf = head_field(head, rot, c)
        corr, centre = shim(hf["field"], hf["brain"], hf["affine"], rng)
        xyz_scan = rot @ (xyz - c[:, None]) + c[:, None]
        inv = np.linalg.inv(hf["affine"])
        vox = inv[:3, :3] @ xyz_scan + inv[:3, 3:4]
        bg = ndimage.map_coordinates(hf["field"], vox, order=3, mode="nearest").reshape(shape)
        bg = bg + shim_eval(xyz_scan, centre, corr).reshape(shape)
        inv_a = np.linalg.inv(hf["affine_anat"])
        vox_a = inv_a[:3, :3] @ xyz + inv_a[:3, 3:4]
        d_out = ndimage.map_coordinates(hf["d_out_anat"], vox_a, order=1, mode="nearest")
        tissue = head.classify(xyz, d_out).reshape(shape)
    else:
        bg = np.zeros(shape, np.float32)
        d_out = ndimage.distance_transform_edt(~brain, sampling=vs).ravel()
        tissue = head.classify(xyz, d_out).reshape(shape)
    bg = bg.astype(np.float32)
    tissue[brain] = 3
    rpp = rad_per_ppm(field_strength_t, echo_time_ms)
    sign = -1.0 if phase_convention == "paramagnetic-negative" else 1.0
    phi = sign * rpp * (bg + local_total).astype(np.float64)
    if receiver_offset:
        ramp = rng.uniform(-1.0, 1.0) * (np.arange(shape[0]) / shape[0] - 0.5)[:, None, None]
        phi = phi + rng.uniform(-np.pi, np.pi) + ramp

    # -------------------------------------------------------------------- magnitude
    b_scale = field_strength_t / 3.0
    inside = tissue == 3
    base_chi = wm * CHI_WM + gm * CHI_GM
    excess = np.clip(chi - base_chi, 0.0, None) * inside
    pd_map = np.zeros(shape, np.float32)
    r2s = np.zeros(shape, np.float32)
    w_sum = np.maximum(gm + wm + csf, 1e-6)
    pd_map[inside] = ((wm * _PD["wm"] + gm * _PD["gm"] + csf * _PD["csf"]) / w_sum)[inside]
    r2s[inside] = ((wm * _R2S_3T["wm"] + gm * _R2S_3T["gm"] + csf * _R2S_3T["csf"]) / w_sum)[inside]
    les = labels > 0
    pd_map[les] = _PD["lesion"]
    r2s[les] = _R2S_3T["lesion"]
    for cls, name in ((1, "soft"), (2, "bone")):
        pd_map[tissue == cls] = _PD[name]
        r2s[tissue == cls] = _R2S_3T[name]
    pd_map[(tissue == 3) & ~brain] = _PD["csf"]
    r2s[(tissue == 3) & ~brain] = _R2S_3T["csf"]
    r2s = (r2s + _R2S_PER_PPM_3T * excess) * b_scale
    mag = pd_map * np.exp(-echo_time_ms * 1e-3 * r2s)
    for ax in range(3):  # intravoxel dephasing in the field gradient (phase change per voxel)
        g = np.gradient(phi, axis=ax)
        mag *= np.abs(np.sinc(g / (2 * np.pi))).astype(np.float32)
    coil = 1.0 + shim_eval(xyz, c, np.r_[0.0, rng.normal(0, 0.25, 3), np.zeros(5)]).reshape(shape)
    mag = mag * np.clip(coil, 0.6, 1.4).astype(np.float32)
    wm_ref = float(np.median(mag[(wm > 0.9) & brain & ~les])) if np.any(wm > 0.9) else 0.5
    sigma = phase_noise_rad * wm_ref
    # each component sigma: the phase noise (the component across the signal) is sigma / M
    noise = (rng.normal(size=shape) + 1j * rng.normal(size=shape)) * sigma
    signal = mag * np.exp(1j * phi) + noise
    meas = np.angle(signal)
    noise_phase = wrap(meas - phi)
    ideal = (sign * rpp * local + noise_phase * brain).astype(np.float32) * brain
    magnitude = np.clip(np.round(np.abs(signal) * MAGNITUDE_SCALE), 0, 4095).astype(np.int16)
    phase = quantise_phase(meas, encoding)

    # ---------------------------------------------------------------- storage order
    flips = tuple(bool(f) for f in flips)
    store_aff = affine.copy()
    for ax, f in enumerate(flips):
        if f:
            store_aff[:3, 3] += store_aff[:3, ax] * (shape[ax] - 1)
            store_aff[:3, ax] *= -1
    truth = ph.truth.copy()
    centres = truth[["center_x_mm", "center_y_mm", "center_z_mm"]].to_numpy(dtype=float)
    scanner = (rot @ (centres - c).T).T + c if len(truth) else centres
    for i, name in enumerate("xyz"):
        truth[f"scanner_{name}_mm"] = scanner[:, i] if len(truth) else []
    settings = {
        "seed": seed,
        "voxel_size": vs.tolist(),
        "echo_time_ms": echo_time_ms,
        "field_strength_t": field_strength_t,
        "encoding": encoding,
        "rotation_deg": [float(x) for x in rotation_deg],
        "flips": list(flips),
        "fov_mm": [float(x) for x in fov_mm],
        "slab_mm": slab_mm,
        "center_mm": c.tolist(),
        "phase_noise_rad": phase_noise_rad,
        "receiver_offset": receiver_offset,
        "background": background,
        "phase_convention": phase_convention,
        "rad_per_ppm": rpp,
        "n_lesions": int(len(truth)),
        "head": {
            "csf_mm": head.csf_mm,
            "skull_mm": head.skull_mm,
            "scalp_mm": head.scalp_mm,
            "bone_delta_ppm": head.bone_delta,
        },
    }
    return RawPhaseScan(
        phase=_flip(phase, flips),
        magnitude=_flip(magnitude, flips),
        affine=store_aff,
        encoding=encoding,
        echo_time_ms=float(echo_time_ms),
        field_strength_t=float(field_strength_t),
        phase_convention=phase_convention,
        local_field_ppm=_flip(local, flips),
        background_field_ppm=_flip(bg, flips),
        ideal_phase_rad=_flip(ideal, flips),
        brain=_flip(brain, flips),
        labels=_flip(labels, flips),
        flair=_flip(np.asarray(ph.flair.dataobj, dtype=np.float32), flips),  # type: ignore[attr-defined]
        r2star=_flip(r2s.astype(np.float32), flips),
        truth=truth,
        settings=settings,
    )


def random_conditions(rng: np.random.Generator, *, max_voxel_mm: float = 2.0) -> dict[str, Any]:
    """Acquisition settings drawn as a clinic would vary them (keyword arguments of the simulator).

    TE 10-30 ms; B0 1.5, 3 or 7 T; in-plane voxels 0.6-``max_voxel_mm`` mm with slices up to
    2.5 times thicker (at most 3 mm); half of the slabs oblique (tilt up to 25 degrees about
    the left-right axis, up to 8 about the others); any of the three encodings; phase noise
    0.02-0.1 rad; a random storage flip of the readout axis.
    """
    inplane = float(rng.uniform(0.6, max_voxel_mm))
    thick = float(min(3.0, inplane * rng.uniform(1.0, 2.5)))
    oblique = bool(rng.random() < 0.5)
    rot = (
        (float(rng.uniform(-25, 25)), float(rng.uniform(-8, 8)), float(rng.uniform(-8, 8)))
        if oblique
        else (0.0, 0.0, 0.0)
    )
    return {
        "voxel_size": (inplane, inplane, thick),
        "echo_time_ms": float(rng.uniform(10, 30)),
        "field_strength_t": float(rng.choice([1.5, 3.0, 7.0])),
        "encoding": str(rng.choice(ENCODINGS)),
        "rotation_deg": rot,
        "flips": (bool(rng.random() < 0.5), False, False),
        "phase_noise_rad": float(rng.uniform(0.02, 0.1)),
    }


__all__ = [
    "RawPhaseScan",
    "simulate_raw_phase",
    "random_conditions",
    "quantise_phase",
    "rotation",
    "ENCODINGS",
]
