"""The head around a phantom brain: layers, air cavities, its field in air, and the shim.

Part of :mod:`smoulder.synth.raw_phase`: soft tissue and cerebrospinal fluid (water-like),
skull, scalp, face and neck, air outside and in the sinuses, mastoid cells and ear canals,
drawn in MNI millimetres around the MNI152 brain mask that nilearn ships (offline).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from smoulder.imaging.phase.fields import dipole_convolve

#: Susceptibility relative to air (ppm): water-like soft tissue and cortical bone.
CHI_TISSUE_VS_AIR = -9.41
BONE_DELTA_PPM = (-2.5, -1.5)  # bone relative to soft tissue

#: Air cavities: name, centre (MNI mm), semi-axes (mm). Jittered and scaled per subject.
_CAVITIES = (
    ("frontal_sinus", (0.0, 76.0, 8.0), (16.0, 6.0, 10.0)),
    ("ethmoid", (0.0, 46.0, -30.0), (11.0, 16.0, 10.0)),
    ("sphenoid_sinus", (0.0, 16.0, -36.0), (12.0, 10.0, 9.0)),
    ("maxillary_left", (-30.0, 38.0, -56.0), (13.0, 17.0, 15.0)),
    ("maxillary_right", (30.0, 38.0, -56.0), (13.0, 17.0, 15.0)),
    ("mastoid_left", (-54.0, -30.0, -40.0), (9.0, 11.0, 9.0)),
    ("mastoid_right", (54.0, -30.0, -40.0), (9.0, 11.0, 9.0)),
    ("ear_canal_left", (-72.0, -20.0, -38.0), (16.0, 4.0, 4.0)),
    ("ear_canal_right", (72.0, -20.0, -38.0), (16.0, 4.0, 4.0)),
)


def templates() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """MNI152 grey matter, white matter, brain mask (1 mm) and affine from nilearn (offline)."""
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


def sample(
    volume: np.ndarray, vol_affine: np.ndarray, xyz: np.ndarray, order: int = 1
) -> np.ndarray:
    """Values of ``volume`` at world points ``xyz`` (3, N), zero outside."""
    inv = np.linalg.inv(vol_affine)
    vox = inv[:3, :3] @ xyz + inv[:3, 3:4]
    return ndimage.map_coordinates(volume, vox, order=order, mode="constant", cval=0.0)


@dataclass
class Head:
    """Layer thicknesses and air cavities of one simulated head (anatomical MNI mm)."""

    csf_mm: float
    skull_mm: float
    scalp_mm: float
    bone_delta: float
    cavities: list[tuple[np.ndarray, np.ndarray]]
    face: tuple[np.ndarray, np.ndarray]
    neck: tuple[np.ndarray, np.ndarray]

    @classmethod
    def draw(cls, rng: np.random.Generator) -> Head:
        cav = []
        for _name, c, r in _CAVITIES:
            cav.append(
                (
                    np.asarray(c) + rng.uniform(-4, 4, 3),
                    np.asarray(r) * rng.uniform(0.75, 1.25),
                )
            )
        s = rng.uniform(0.9, 1.1)
        return cls(
            csf_mm=float(rng.uniform(1.5, 3.0)),
            skull_mm=float(rng.uniform(5.0, 8.0)),
            scalp_mm=float(rng.uniform(4.0, 7.0)),
            bone_delta=float(rng.uniform(*BONE_DELTA_PPM)),
            cavities=cav,
            face=(np.array([0.0, 48.0, -45.0]), np.array([52.0, 46.0, 42.0]) * s),
            neck=(np.array([0.0, -20.0]), np.array([48.0, 54.0]) * s),
        )

    def classify(self, xyz: np.ndarray, d_out: np.ndarray) -> np.ndarray:
        """0 air, 1 soft tissue, 2 bone, 3 brain or CSF, at points ``xyz`` (3, N)."""
        x, y, z = xyz
        outer = self.csf_mm + self.skull_mm + self.scalp_mm
        fc, fr = self.face
        face = ((x - fc[0]) / fr[0]) ** 2 + ((y - fc[1]) / fr[1]) ** 2 + (
            (z - fc[2]) / fr[2]
        ) ** 2 <= 1
        nc, nr = self.neck
        neck = (z < -30) & (((x - nc[0]) / nr[0]) ** 2 + ((y - nc[1]) / nr[1]) ** 2 <= 1)
        head = (d_out <= outer) | face | neck
        lab = np.where(head, 1, 0).astype(np.int8)
        bone = head & (d_out > self.csf_mm) & (d_out <= self.csf_mm + self.skull_mm)
        lab[bone] = 2
        lab[d_out <= self.csf_mm] = 3
        for c, r in self.cavities:
            inside = ((x - c[0]) / r[0]) ** 2 + ((y - c[1]) / r[1]) ** 2 + (
                (z - c[2]) / r[2]
            ) ** 2 <= 1
            lab[inside & (d_out > self.csf_mm + 0.5)] = 0
        return lab


def head_field(
    head: Head, rot: np.ndarray, centre: np.ndarray, spacing: float = 2.5
) -> dict[str, np.ndarray]:
    """Field (ppm) of the head in air, computed on a coarse grid aligned with the scanner.

    The head is drawn in anatomical (MNI) millimetres and posed in the scanner by ``rot``
    about ``centre``; the grid of the field has its z axis along B0, so the dipole kernel is
    axis-aligned. (With B0 oblique to a grid, the periodic extension of the k-space kernel is
    discontinuous at the Nyquist planes and the 9 ppm air/tissue contrast would leave a
    spurious high-frequency field throughout the brain.) Also returns the brain's distance
    map on an anatomical grid, for the tissue classes of the acquisition.
    """
    _, _, brain_t, t_aff = templates()
    lo = np.array([-112.0, -150.0, -215.0])
    hi = np.array([112.0, 120.0, 132.0])
    shape_a = tuple(int(n) for n in np.round((hi - lo) / spacing).astype(int))
    aff_a = np.diag([spacing, spacing, spacing, 1.0])
    aff_a[:3, 3] = lo + spacing / 2
    xyz_a = aff_a[:3, :3] @ np.indices(shape_a, dtype=np.float32).reshape(3, -1) + aff_a[:3, 3:4]
    brain_a = (sample(brain_t, t_aff, xyz_a) > 0.5).reshape(shape_a)
    d_out_a = ndimage.distance_transform_edt(~brain_a, sampling=spacing).astype(np.float32)
    # the scanner grid: the box of the rotated anatomical box
    corners = np.array(np.meshgrid(*zip(lo, hi, strict=True), indexing="ij")).reshape(3, -1)
    scan_corners = rot @ (corners - centre[:, None]) + centre[:, None]
    lo_s, hi_s = scan_corners.min(axis=1), scan_corners.max(axis=1)
    shape_s = tuple(int(n) for n in np.ceil((hi_s - lo_s) / spacing).astype(int))
    aff_s = np.diag([spacing, spacing, spacing, 1.0])
    aff_s[:3, 3] = lo_s + spacing / 2
    xyz_s = aff_s[:3, :3] @ np.indices(shape_s, dtype=np.float32).reshape(3, -1) + aff_s[:3, 3:4]
    back = rot.T @ (xyz_s - centre[:, None]) + centre[:, None]  # anatomical coordinates
    inv_a = np.linalg.inv(aff_a)
    vox = inv_a[:3, :3] @ back + inv_a[:3, 3:4]
    d_out = ndimage.map_coordinates(d_out_a, vox, order=1, mode="nearest")
    lab = head.classify(back, d_out).reshape(shape_s)
    chi = np.zeros(shape_s, np.float32)
    chi[lab >= 1] = CHI_TISSUE_VS_AIR
    chi[lab == 2] = CHI_TISSUE_VS_AIR + head.bone_delta
    field_s = dipole_convolve(chi, (spacing,) * 3, (0.0, 0.0, 1.0), pad=0.3)
    brain_s = (d_out <= 0).reshape(shape_s)
    return {
        "field": field_s,
        "affine": aff_s,
        "brain": brain_s,
        "d_out_anat": d_out_a,
        "affine_anat": aff_a,
    }


def shim(
    f: np.ndarray, brain: np.ndarray, aff: np.ndarray, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """Second-order shim over the brain: coefficients of the correction, and the centre (mm)."""
    idx = np.nonzero(brain)
    xyz = aff[:3, :3] @ np.vstack(idx).astype(float) + aff[:3, 3:4]
    centre = xyz.mean(axis=1)
    basis = shim_basis(xyz, centre)
    coef, *_ = np.linalg.lstsq(basis, f[idx].astype(float), rcond=None)
    eff = np.ones(len(coef))
    eff[1:4] = rng.uniform(0.85, 1.0, 3)  # first order
    eff[4:] = rng.uniform(0.5, 1.0, len(coef) - 4)  # second order
    corr = -coef * eff
    corr[1:4] += rng.normal(0.0, 0.05, 3)  # linear residual, ppm per 10 cm
    return corr, centre


def shim_terms(xyz: np.ndarray, centre: np.ndarray) -> list[np.ndarray]:
    """Spherical harmonics up to second order (coordinates in units of 10 cm)."""
    x, y, z = (xyz - centre[:, None]) / 100.0
    return [np.ones_like(x), x, y, z, x * y, x * z, y * z, x * x - y * y, 2 * z * z - x * x - y * y]


def shim_basis(xyz: np.ndarray, centre: np.ndarray) -> np.ndarray:
    return np.stack(shim_terms(xyz, centre), axis=1)


def shim_eval(xyz: np.ndarray, centre: np.ndarray, coef: np.ndarray) -> np.ndarray:
    out = np.zeros(xyz.shape[1], np.float64)
    for c, t in zip(coef, shim_terms(xyz, centre), strict=True):
        out += c * t
    return out
