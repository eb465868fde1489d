"""FLAIR (and T1) phantoms of people with MS: realistic lesions on a native clinical grid.

Built on the MNI152 tissue maps that nilearn ships (no download), in five steps:

1. **anatomy**: the template's grey/white matter and CSF probabilities, deformed by a smooth random
   field (a few mm) with optionally enlarged ventricles, become partial-volume tissue fractions;
2. **lesions**: a few to ~80 lesions with log-normal volumes (3 voxels to several mL) of four
   location classes (periventricular, with Dawson's fingers pointing away from the ventricles;
   juxtacortical, touching the cortex; infratentorial; deep white matter) and irregular or
   confluent shapes (ellipsoids roughened by a smooth random field; unions of several blobs),
   optionally a share of tiny lesions (3-10 mm3) and of confluent periventricular ones;
3. **contrast**: FLAIR and T1 intensities per tissue drawn per subject (grey matter brighter than
   white matter on FLAIR) and per lesion (FLAIR from faint, about as bright as cortex, to bright,
   with a brighter core; T1 from dark to isointense, as the settings' ranges say),
   slow regional variation of white matter, and normal mimics (bright periventricular caps);
4. **head**: CSF, skull (inner and outer tables, marrow), scalp and a neck below the brain, so that
   brain extraction is exercised;
5. **acquisition**: a native pose (rotation, translation), anisotropic voxels (thick slices of
   3-5 mm along one axis are averaged over the slice, not sampled), a multiplicative bias field and
   Rician noise.

Truth is the lesion fraction of each native voxel >= 0.5 (labelled per lesion), with a per-lesion
table (location class, shape, volume) and the true brain mask on the native grid. Everything is
deterministic from the seed. :data:`FAMILY_A` and :data:`FAMILY_B` are two generator families that
differ in every range (tune on one, report on the other).

Example
-------
>>> from smoulder.synth.flair_phantom import FAMILY_A, simulate_flair_phantom
>>> ph = simulate_flair_phantom(seed=3, settings=FAMILY_A)  # doctest: +SKIP
>>> ph.truth[["label", "location", "shape", "n_voxels"]].head()  # doctest: +SKIP
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import pandas as pd
from pydantic import field_validator
from scipy import ndimage

from smoulder._params import Settings
from smoulder.exceptions import SettingsError
from smoulder.synth import _flair_acquire as acq
from smoulder.synth import _flair_anatomy as anat

__all__ = [
    "FlairPhantomSettings",
    "FlairPhantom",
    "simulate_flair_phantom",
    "FAMILY_A",
    "FAMILY_B",
    "FAMILY_C",
    "FAMILY_A_NARROW",
    "LOCATIONS",
]

LOCATIONS = ("periventricular", "juxtacortical", "infratentorial", "deep white matter")

Range = tuple[float, float]


class FlairPhantomSettings(Settings):
    """Ranges the generator draws each phantom's parameters from (uniformly unless stated)."""

    section = "flair_phantom"

    n_lesions: tuple[int, int] = (3, 80)  #: lesion count, drawn log-uniformly
    volume_median_mm3: float = 40.0  #: median of the log-normal lesion volume
    volume_log_sd: float = 1.4  #: SD of log(volume)
    volume_max_mm3: float = 8000.0
    location_weights: tuple[float, float, float, float] = (0.45, 0.15, 0.1, 0.3)
    confluent_fraction: float = 0.15  #: share of lesions drawn as unions of blobs
    roughness: Range = (0.1, 0.45)  #: amplitude of the random field that roughens a lesion's edge
    lesion_contrast: Range = (1.35, 1.9)  #: lesion / white matter on FLAIR (core)
    gm_contrast: Range = (1.08, 1.3)  #: grey / white matter on FLAIR
    csf_level: Range = (0.12, 0.4)  #: CSF / white matter on FLAIR
    t1_lesion: Range = (0.55, 0.85)  #: lesion / white matter on T1 (1 = isointense)
    tiny_fraction: float = 0.0  #: share of lesions drawn tiny (3-10 mm3, log-uniform)
    pv_confluent_fraction: float = 0.0  #: share of periventricular lesions drawn confluent
    t1_gm: Range = (0.6, 0.75)  #: grey / white matter on T1
    wm_variation: Range = (0.0, 0.06)  #: amplitude of slow white-matter variation on FLAIR
    caps_contrast: Range = (1.0, 1.3)  #: periventricular caps / white matter (1 = none)
    deform_mm: Range = (0.0, 4.0)
    ventricle_scale: Range = (1.0, 1.5)
    head_probability: float = 0.7  #: chance of skull, scalp and neck in the field of view
    rotation_deg: Range = (0.0, 15.0)  #: rotation about each axis, either sign
    thick_probability: float = 0.5  #: chance of thick slices
    slice_mm: Range = (3.0, 5.0)
    inplane_mm: Range = (0.85, 1.2)
    bias_amplitude: Range = (0.0, 0.4)  #: peak-to-peak of log bias field
    snr: Range = (12.0, 40.0)  #: white matter / noise SD

    @field_validator("n_lesions")
    @classmethod
    def _count(cls, v: tuple[int, int]) -> tuple[int, int]:
        if not (0 <= v[0] <= v[1] <= 300):
            raise SettingsError(f"n_lesions must be a range 0 <= low <= high <= 300 (got {v})")
        return v

    @field_validator("tiny_fraction", "pv_confluent_fraction", "confluent_fraction")
    @classmethod
    def _share(cls, v: float, info: object) -> float:
        if not 0 <= v <= 1:
            name = getattr(info, "field_name", "share")
            raise SettingsError(f"{name} must be between 0 and 1 (got {v})")
        return v

    @field_validator("location_weights")
    @classmethod
    def _weights(cls, v: tuple[float, ...]) -> tuple[float, ...]:
        if min(v) < 0 or sum(v) <= 0:
            raise SettingsError("location_weights must be non-negative with a positive sum")
        return v


#: The family the segmentation was tuned on (widened in round 6 of issue 12: T1 contrast of each
#: lesion from dark to isointense, FLAIR contrast from faint, near cortex, to bright, a third of
#: the lesions tiny, confluent periventricular lesions, up to 100 lesions).
FAMILY_A = FlairPhantomSettings(
    n_lesions=(3, 100),
    lesion_contrast=(1.15, 1.9),
    t1_lesion=(0.55, 1.12),
    tiny_fraction=0.3,
    pv_confluent_fraction=0.25,
)
#: Family A as it was until round 5 (every lesion T1-dark, 0.55-0.85 of white matter).
FAMILY_A_NARROW = FlairPhantomSettings()
#: A held-out family: other lesion sizes, counts, contrasts, noise, bias, poses and slices.
FAMILY_B = FlairPhantomSettings(
    n_lesions=(5, 70),
    volume_median_mm3=25.0,
    volume_log_sd=1.6,
    location_weights=(0.35, 0.25, 0.12, 0.28),
    confluent_fraction=0.25,
    roughness=(0.2, 0.6),
    lesion_contrast=(1.3, 1.75),
    gm_contrast=(1.12, 1.35),
    csf_level=(0.08, 0.3),
    t1_lesion=(0.6, 0.9),
    t1_gm=(0.55, 0.7),
    wm_variation=(0.02, 0.08),
    caps_contrast=(1.1, 1.4),
    deform_mm=(1.0, 5.0),
    ventricle_scale=(1.1, 1.8),
    head_probability=0.8,
    rotation_deg=(5.0, 20.0),
    thick_probability=0.6,
    slice_mm=(3.0, 5.0),
    inplane_mm=(0.7, 1.0),
    bias_amplitude=(0.2, 0.6),
    snr=(10.0, 30.0),
)
#: A second held-out family: family B's anatomy, noise and acquisition ranges with lesions as
#: widened as family A's but over other ranges (T1 ratio 0.65-1.15, fainter lesions, more of them
#: tiny, more confluent periventricular lesions). Never used for tuning.
FAMILY_C = FAMILY_B.replace(
    n_lesions=(5, 90),
    lesion_contrast=(1.12, 1.7),
    t1_lesion=(0.65, 1.15),
    tiny_fraction=0.4,
    pv_confluent_fraction=0.35,
)


@dataclass
class FlairPhantom:
    """One phantom subject on its native grid.

    Attributes
    ----------
    flair, t1 : numpy.ndarray
        float32 images (arbitrary units) on one native grid.
    lesions : numpy.ndarray
        int32 labels (0 = background, 1..N), lesion fraction >= 0.5 per native voxel.
    brain_mask : numpy.ndarray
        bool, the true brain (tissue fraction >= 0.5) on the native grid.
    affine : numpy.ndarray
        Native voxel-to-world (RAS mm) affine; world is MNI space.
    truth : pandas.DataFrame
        ``label, location, shape, n_voxels, volume_mm3, contrast`` per lesion present on the grid.
    params : dict
        The drawn parameters (contrasts, pose, voxel sizes, noise, ...).
    """

    flair: np.ndarray
    t1: np.ndarray
    lesions: np.ndarray
    brain_mask: np.ndarray
    affine: np.ndarray
    truth: pd.DataFrame
    params: dict[str, Any] = field(default_factory=dict)

    @property
    def zooms(self) -> tuple[float, float, float]:
        z = np.sqrt((self.affine[:3, :3] ** 2).sum(axis=0))
        return (float(z[0]), float(z[1]), float(z[2]))

    def save(self, directory: str, prefix: str = "") -> dict[str, str]:
        """Write ``<prefix>flair.nii.gz``, ``t1``, ``lesions``, ``brainmask`` and ``truth.tsv``."""
        import os

        import nibabel as nib

        os.makedirs(directory, exist_ok=True)
        out: dict[str, str] = {}
        for name, arr, dt in (
            ("flair", self.flair, np.float32),
            ("t1", self.t1, np.float32),
            ("lesions", self.lesions, np.int16),
            ("brainmask", self.brain_mask, np.uint8),
        ):
            img = nib.Nifti1Image(np.asarray(arr, dtype=dt), self.affine)
            img.header.set_xyzt_units("mm")
            path = os.path.join(directory, f"{prefix}{name}.nii.gz")
            nib.save(img, path)
            out[name] = path
        path = os.path.join(directory, f"{prefix}truth.tsv")
        self.truth.to_csv(path, sep="\t", index=False, na_rep="n/a")
        out["truth"] = path
        return out


def _u(rng: np.random.Generator, r: Range) -> float:
    return float(rng.uniform(r[0], r[1]))


def simulate_flair_phantom(
    seed: int = 0,
    settings: FlairPhantomSettings = FAMILY_A,
    *,
    thick: bool | None = None,
    head: bool | None = None,
    n_lesions: int | None = None,
    slice_axis: Literal[0, 1, 2] | None = None,
) -> FlairPhantom:
    """Simulate one subject (see the module docstring for the steps).

    Parameters
    ----------
    seed : int
        Seed of the random generator; equal seeds and settings give identical phantoms.
    settings : FlairPhantomSettings
        Ranges of every drawn parameter (:data:`FAMILY_A`, :data:`FAMILY_B` or your own).
    thick, head : bool, optional
        Force thick slices / a head with skull and neck (default: drawn with the settings'
        probabilities).
    n_lesions : int, optional
        Force the number of lesions drawn (some may vanish on a thick-slice grid).
    slice_axis : 0, 1 or 2, optional
        Axis of the native grid that gets the thick slices (default: 2, axial, in 80 % of
        phantoms; otherwise 0 or 1).

    Returns
    -------
    FlairPhantom
    """
    rng = np.random.default_rng(seed)
    s = settings
    # ---------------------------------------------------------------- anatomy (1 mm, MNI space)
    space = anat.head_space()
    tissue = anat.deformed_tissue(
        space, rng, deform_mm=_u(rng, s.deform_mm), ventricle_scale=_u(rng, s.ventricle_scale)
    )
    # ---------------------------------------------------------------- lesions
    if n_lesions is None:
        lo, hi = max(s.n_lesions[0], 0), max(s.n_lesions[1], 0)
        n_lesions = int(round(np.exp(rng.uniform(np.log(lo + 1), np.log(hi + 1))) - 1)) if hi else 0
    lesion_frac, lesion_id, drawn = anat.draw_lesions(space, tissue, rng, n_lesions, s)
    # ---------------------------------------------------------------- contrast
    p: dict[str, Any] = {
        "seed": seed,
        "n_lesions_drawn": n_lesions,
        "gm_contrast": _u(rng, s.gm_contrast),
        "csf_level": _u(rng, s.csf_level),
        "t1_gm": _u(rng, s.t1_gm),
        "wm_variation": _u(rng, s.wm_variation),
        "caps_contrast": _u(rng, s.caps_contrast),
    }
    flair, t1 = anat.tissue_contrast(space, tissue, lesion_frac, lesion_id, drawn, p, rng)
    use_head = bool(rng.random() < s.head_probability) if head is None else bool(head)
    p["head"] = use_head
    if use_head:
        flair, t1 = anat.add_head(space, tissue, flair, t1, rng)
    # ---------------------------------------------------------------- acquisition
    is_thick = bool(rng.random() < s.thick_probability) if thick is None else bool(thick)
    axis = (
        (2 if rng.random() < 0.8 else int(rng.integers(0, 2))) if slice_axis is None else slice_axis
    )
    inplane = _u(rng, s.inplane_mm)
    zooms = np.full(3, inplane)
    if is_thick:
        zooms[axis] = _u(rng, s.slice_mm)
    else:
        zooms[:] = float(np.clip(inplane, 0.9, 1.1))
    angles = rng.uniform(s.rotation_deg[0], s.rotation_deg[1], 3) * rng.choice([-1, 1], 3)
    shift = rng.uniform(-15, 15, 3)
    p.update(
        thick=is_thick,
        slice_axis=axis,
        zooms=[float(z) for z in zooms],
        rotation_deg=[float(a) for a in angles],
        shift_mm=[float(x) for x in shift],
    )
    grid = acq.native_grid(space, zooms, angles, shift, use_head)
    images = acq.resample_native(
        space,
        grid,
        {"flair": flair, "t1": t1, "brain": tissue["brain"], "lesion": lesion_frac},
        zooms,
    )
    labels_native = acq.resample_labels(space, grid, lesion_id, lesion_frac, zooms)
    # lesion labels only where the fraction of lesion in the voxel is >= 0.5
    lab = np.where(images["lesion"] >= 0.5, labels_native, 0).astype(np.int32)
    lab, truth = _relabel(lab, drawn, zooms)
    bias_pp = _u(rng, s.bias_amplitude)
    snr = _u(rng, s.snr)
    p.update(bias_peak_to_peak=bias_pp, snr=snr)
    fl = acq.acquire(images["flair"], grid.shape, bias_pp, snr, rng)
    t1n = acq.acquire(images["t1"], grid.shape, 0.6 * bias_pp, 1.5 * snr, rng)
    return FlairPhantom(
        flair=fl,
        t1=t1n,
        lesions=lab,
        brain_mask=images["brain"] >= 0.5,
        affine=grid.affine,
        truth=truth,
        params=p,
    )


def _relabel(
    lab: np.ndarray, drawn: pd.DataFrame, zooms: np.ndarray
) -> tuple[np.ndarray, pd.DataFrame]:
    """Renumber the lesions present on the native grid 1..N and build the truth table."""
    present = np.unique(lab[lab > 0])
    lut = np.zeros(int(lab.max()) + 1 if lab.size else 1, dtype=np.int32)
    lut[present] = np.arange(1, present.size + 1, dtype=np.int32)
    out = lut[lab]
    counts = np.bincount(out.ravel(), minlength=present.size + 1)[1:]
    vox = float(np.prod(zooms))
    rows = drawn.set_index("drawn_id").loc[present] if present.size else drawn.iloc[:0]
    truth = pd.DataFrame(
        {
            "label": np.arange(1, present.size + 1, dtype=int),
            "location": list(rows["location"]) if present.size else [],
            "shape": list(rows["shape"]) if present.size else [],
            "n_voxels": counts.astype(int),
            "volume_mm3": counts * vox,
            "contrast": list(rows["contrast"]) if present.size else [],
        }
    )
    return out, truth


def degrade_to_clinical(
    image: np.ndarray,
    affine: np.ndarray,
    *,
    seed: int = 0,
    slice_mm: float = 4.0,
    slice_axis: int = 2,
    rotation_deg: tuple[float, float, float] = (8.0, -5.0, 6.0),
    bias_peak_to_peak: float = 0.4,
    labels: np.ndarray | None = None,
    head: bool = True,
    contrast: Literal["flair", "t1"] = "flair",
    head_seed: int = 0,
) -> dict[str, Any]:
    """Make a skull-stripped 1 mm research scan look clinical: a head, a tilt, thick slices, bias.

    The image is padded with a synthetic CSF rim, skull, marrow, scalp, face and neck built around
    its non-zero voxels (when ``head``; ``contrast`` picks FLAIR- or T1-like tissue intensities and
    ``head_seed`` their geometry, so a FLAIR and a T1 degraded with one ``head_seed`` share one
    head), rotated by ``rotation_deg``, averaged over ``slice_mm``-thick slices along ``slice_axis``
    (1 mm slices give an isotropic grid) and multiplied by a smooth bias field (``seed``).
    ``labels`` (a lesion mask on the input grid) are carried to the new grid by the same geometry
    (lesion fraction >= 0.5).

    Returns
    -------
    dict
        ``image``, ``affine``, ``labels`` (or None) and ``params``.
    """
    if slice_axis not in (0, 1, 2):
        raise SettingsError(f"slice_axis must be 0, 1 or 2 (got {slice_axis!r})")
    if contrast not in ("flair", "t1"):
        raise SettingsError(f"contrast must be 'flair' or 't1' (got {contrast!r})")
    rng = np.random.default_rng(seed)
    return acq.degrade(
        np.asarray(image, np.float32),
        np.asarray(affine, float),
        rng=rng,
        slice_mm=slice_mm,
        slice_axis=slice_axis,
        rotation_deg=rotation_deg,
        bias_pp=bias_peak_to_peak,
        labels=labels,
        head=head,
        contrast=contrast,
        head_seed=head_seed,
    )


def _smooth_noise(shape: tuple[int, ...], sigma: float, rng: np.random.Generator) -> np.ndarray:
    """Zero-mean unit-SD smooth random field (used by tests of the shapes)."""
    f = ndimage.gaussian_filter(rng.standard_normal(shape).astype(np.float32), sigma)
    return (f - f.mean()) / max(float(f.std()), 1e-6)
