"""Settings of the lesion segmentation (every parameter, with its default and meaning)."""

from __future__ import annotations

from typing import Literal

from pydantic import field_validator

from smoulder._params import Settings
from smoulder.exceptions import SettingsError

__all__ = ["LesionSegSettings"]


class LesionSegSettings(Settings):
    """Parameters of :func:`smoulder.imaging.lesionseg.segment_lesions` (see docs/lesions.md).

    Preprocessing
        ``n4`` bias-field correction; ``registration`` of the MNI152 template (``"syn"``: affine
        then SyN; ``"affine"``: affine only) at ``registration_mm``; ``seed`` of the metric
        sampling (results are deterministic for a seed).
    Tissue model
        ``tissue_iterations`` of the EM fit of CSF / grey / white matter with the registered
        priors; ``nawm_sigma_mm``: scale (Gaussian SD) of the local normal-appearing white matter
        reference that FLAIR is normalised to (``nawm_exclude_contrast`` > 0: leave out of it the
        voxels brighter than 1 + that times a first local mean; ``nawm_sd_cap`` > 0: cap the
        local SD at that many times the median one); ``smooth_mm``: Gaussian SD of the denoising of
        FLAIR before detection (in-plane and through-plane in mm, so thick slices are barely
        smoothed across slices).
    Detection (z = FLAIR in local NAWM standard deviations; zg = FLAIR in local cortical grey
    matter standard deviations)
        ``z_seed`` and ``zg_seed``: a seed is brighter than white matter by ``z_seed`` and than
        cortex by ``zg_seed`` (waived where the surroundings hold ``deep_fraction`` white
        matter, or at least ``cortex_free_mm`` from the subject's cortex when > 0);
        ``min_seed_voxels``: seeds smaller than this are dropped unless
        ``z_strong``; ``z_seed_low`` (< ``z_seed`` to use it): a weaker seed for small lesions,
        kept when confirmed on ``low_seed_slices`` consecutive slices and, with a T1, not brighter
        on T1 than ``t1_max_ratio`` times the local white matter; ``z_grow``: lesions grow into connected voxels above this z and above
        ``grow_fraction`` of their seed's peak (a half-maximum edge for 0.5) and, in grey-matter-
        like voxels, above ``zg_grow``; ``wm_fraction``: the share of white matter (smoothed over
        ``wm_sigma_mm``) a voxel's surroundings must hold for a lesion to be found there (keeps
        detection out of cortex); ``edge_margin_mm``: distance from the brain's edge;
        ``min_lesion_voxels``: smallest lesion reported (3 keeps 3-voxel lesions);
        ``grow_contrast_min``: growth stops below this contrast to the local white matter (seed
        voxels exempt); ``band_radius_mm`` (0: off), ``band_near_mm``, ``band_length_mm``: thin
        elongated bands along the ventricles are dropped; ``infratentorial_prior_wm``: in the
        brainstem/cerebellum the NAWM reference includes voxels with this registered WM prior.
    Candidate classifier (with a T1 only)
        ``classifier`` (``"logistic"``: on; ``"off"``: the rules above alone): candidates are
        the rule-based lesions plus the weak-seed lesions (``candidate_z_seed``,
        ``candidate_zg_seed``, single-voxel seeds) apart from them and at most
        ``candidate_max_mm3``; each is kept when the logistic model fitted on
        family-A phantoms gives at least ``classifier_threshold``
        (:mod:`smoulder.imaging.lesionseg.classify`).
    Location classes (McDonald/MAGNIMS)
        ``periventricular_mm``: lesion within this distance of the lateral ventricles;
        ``juxtacortical_mm``: within this distance of cortex; infratentorial from the registered
        template's brainstem/cerebellum region; the rest deep white matter.
    """

    section = "lesions"

    n4: bool = True
    registration: Literal["syn", "affine"] = "syn"
    registration_mm: float = 3.0
    seed: int = 1
    tissue_iterations: int = 12
    nawm_sigma_mm: float = 6.0
    nawm_exclude_contrast: float = 0.0
    nawm_sd_cap: float = 0.0
    smooth_mm: float = 0.5
    z_seed: float = 5.0
    zg_seed: float = 2.5
    deep_fraction: float = 0.8
    cortex_free_mm: float = 0.0
    z_strong: float = 12.0
    z_seed_low: float = 5.0
    low_seed_slices: int = 2
    t1_max_ratio: float = 1.0
    min_seed_voxels: int = 2
    z_grow: float = 3.0
    grow_fraction: float = 0.4
    zg_grow: float = 0.0
    wm_fraction: float = 0.45
    wm_sigma_mm: float = 2.5
    edge_margin_mm: float = 2.0
    min_lesion_voxels: int = 3
    shell_mm: float = 2.0
    shell_wm_min: float = 0.7
    shell_counts_csf: bool = True
    zg_keep: float = 6.0
    lining_mm: float = 2.0
    band_radius_mm: float = 1.0
    grow_contrast_min: float = 0.2
    band_near_mm: float = 3.0
    band_length_mm: float = 8.0
    infratentorial_z_extra: float = 2.0
    infratentorial_prior_wm: float = 0.5
    classifier: Literal["off", "logistic"] = "off"
    candidate_z_seed: float = 4.0
    candidate_zg_seed: float = 1.0
    candidate_max_mm3: float = 100.0
    classifier_threshold: float = 0.5
    connectivity: Literal[6, 18, 26] = 26
    periventricular_mm: float = 3.0
    juxtacortical_mm: float = 2.0

    @field_validator("seed")
    @classmethod
    def _seed(cls, v: int) -> int:
        if v < 1:
            raise SettingsError(
                f"seed must be a whole number >= 1 (0 makes ANTs seed from the clock; got {v})"
            )
        return v

    @field_validator("registration_mm", "nawm_sigma_mm", "wm_sigma_mm")
    @classmethod
    def _positive(cls, v: float, info: object) -> float:
        name = getattr(info, "field_name", "value")
        if not v > 0:
            raise SettingsError(f"{name} must be > 0 mm (got {v})")
        return v

    @field_validator("smooth_mm", "edge_margin_mm", "periventricular_mm", "juxtacortical_mm")
    @classmethod
    def _non_negative(cls, v: float, info: object) -> float:
        name = getattr(info, "field_name", "value")
        if v < 0:
            raise SettingsError(f"{name} must be >= 0 mm (got {v})")
        return v

    @field_validator("grow_fraction", "wm_fraction")
    @classmethod
    def _fraction(cls, v: float, info: object) -> float:
        name = getattr(info, "field_name", "value")
        if not 0 <= v <= 1:
            raise SettingsError(f"{name} must be between 0 and 1 (got {v})")
        return v

    @field_validator("min_seed_voxels", "min_lesion_voxels", "tissue_iterations")
    @classmethod
    def _count(cls, v: int, info: object) -> int:
        name = getattr(info, "field_name", "value")
        if v < 1:
            raise SettingsError(f"{name} must be >= 1 (got {v})")
        return v
