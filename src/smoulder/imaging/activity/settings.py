"""Settings of the MRI activity analysis (new and enlarging T2 lesions between two FLAIR scans)."""

from __future__ import annotations

from typing import Literal

from pydantic import field_validator

from smoulder._params import Settings
from smoulder.exceptions import SettingsError

__all__ = ["ActivitySettings"]


class ActivitySettings(Settings):
    """Parameters of :func:`smoulder.imaging.activity.detect_activity` (see docs/mri_activity.md).

    Registration
        ``registration``: ``"rigid"`` (6 parameters) or ``"affine"`` (12; takes up atrophy and
        scanner scaling as well) of the follow-up to the baseline, both scans then resampled
        half way (log-Euclidean mean, as SEL); ``seed`` of ANTs' metric sampling (>= 1);
        ``min_similarity``: Pearson correlation of the aligned, high-pass-filtered scans inside the
        brain below which the pair is refused (not the same head, or registration failed).
    Intensities
        ``n4``: N4 bias-field correction of each scan in the halfway space; ``bias_sigma_mm``:
        Gaussian scale of the residual, smooth intensity ratio between the visits that is divided
        out (0 turns it off); each scan is divided by its normal-appearing white matter level
        (the ``nawm_percentile`` of the brain's voxels, lesions excluded).
    Change segmentation
        The difference ``V2 - V1`` (normalised units, smoothed by ``smooth_mm``) is divided by its
        robust noise SD (1.4826 x median absolute deviation inside the brain); voxels above
        ``z_seed`` seed regions that grow into connected voxels above ``z_grow``; a changed voxel
        must also be hyperintense at follow-up, at least ``min_followup_ratio`` times the white
        matter level. Regions of at least ``min_voxels`` voxels *and* ``min_volume_mm3`` are
        changes.
    Classification
        A change that touches no baseline lesion (nor the ``edge_mm`` margin around one) is a
        **new** lesion. A baseline lesion whose excess FLAIR signal (its volume measured through
        partial volume, over the lesion and its ``edge_mm`` margin) grew by at least
        ``enlarging_pct`` (50 %) and that holds a change is **enlarging**.
    """

    section = "mri_activity"

    registration: Literal["rigid", "affine"] = "rigid"
    seed: int = 1
    threads: int | None = None
    min_similarity: float = 0.5
    n4: bool = True
    bias_sigma_mm: float = 15.0
    nawm_percentile: float = 50.0
    smooth_mm: float = 0.7
    z_seed: float = 5.0
    z_grow: float = 3.0
    min_followup_ratio: float = 1.3
    min_voxels: int = 3
    min_volume_mm3: float = 10.0
    edge_mm: float = 2.0
    enlarging_pct: float = 50.0
    brain_threshold: float = 0.1

    @field_validator("seed")
    @classmethod
    def _seed(cls, v: int) -> int:
        if v < 1:
            raise SettingsError(f"seed must be >= 1 (ANTs reads 0 as 'from the clock'), got {v}")
        return v

    @field_validator("z_seed", "z_grow", "min_followup_ratio", "enlarging_pct")
    @classmethod
    def _positive(cls, v: float, info: object) -> float:
        if not v > 0:
            name = getattr(info, "field_name", "value")
            raise SettingsError(f"{name} must be > 0, got {v}")
        return v

    @field_validator("min_voxels")
    @classmethod
    def _voxels(cls, v: int) -> int:
        if v < 1:
            raise SettingsError(f"min_voxels must be >= 1, got {v}")
        return v

    @field_validator("min_similarity", "brain_threshold")
    @classmethod
    def _fraction(cls, v: float, info: object) -> float:
        if not 0.0 <= v < 1.0:
            name = getattr(info, "field_name", "value")
            raise SettingsError(f"{name} must be in [0, 1), got {v}")
        return v

    @field_validator("smooth_mm", "bias_sigma_mm", "edge_mm", "min_volume_mm3")
    @classmethod
    def _nonneg(cls, v: float, info: object) -> float:
        if v < 0:
            name = getattr(info, "field_name", "value")
            raise SettingsError(f"{name} must be >= 0, got {v}")
        return v

    @field_validator("nawm_percentile")
    @classmethod
    def _pct(cls, v: float) -> float:
        if not 5.0 <= v <= 95.0:
            raise SettingsError(f"nawm_percentile must be within 5..95, got {v}")
        return v
