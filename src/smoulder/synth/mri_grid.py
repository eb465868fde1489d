"""The grid, tissue templates and image container of phantom family A (:mod:`smoulder.synth.mri`)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import lru_cache

import numpy as np
import pandas as pd
from scipy import ndimage

from smoulder.synth import mri_lesions as ml


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
        One row per lesion: :data:`TRUTH_COLUMNS` and ``n_voxels``.
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


def rotation_about(axis: Sequence[float], degrees: float) -> np.ndarray:
    """Rotation matrix of ``degrees`` about ``axis`` (Rodrigues)."""
    k = ml.unit(np.asarray(axis, float))
    t = np.radians(degrees)
    kx = np.array([[0, -k[2], k[1]], [k[2], 0, -k[0]], [-k[1], k[0], 0]])
    return np.asarray(np.eye(3) + np.sin(t) * kx + (1 - np.cos(t)) * kx @ kx)


def _grid(
    box_mm: Sequence[Sequence[float]], voxel_size: np.ndarray, rotation: np.ndarray | None = None
) -> tuple[tuple[int, ...], np.ndarray]:
    """Grid over ``box_mm`` (world mm), its voxel axes rotated by ``rotation`` about the box centre."""
    lo = np.array([b[0] for b in box_mm], dtype=float)
    hi = np.array([b[1] for b in box_mm], dtype=float)
    vs = np.asarray(voxel_size, dtype=float)
    shape = tuple(int(n) for n in np.maximum(np.round((hi - lo) / vs), 4).astype(int))
    rot = np.eye(3) if rotation is None else np.asarray(rotation, float)
    a = rot @ np.diag(vs)
    affine = np.eye(4)
    affine[:3, :3] = a
    affine[:3, 3] = (lo + hi) / 2 - a @ ((np.array(shape) - 1) / 2)
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
