"""Settings of the PRL rim features and of the consensus rule (defaults and reasons in docs/prl.md)."""

from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import ValidationInfo, field_validator

from smoulder._params import Settings
from smoulder.exceptions import SettingsError


class PRLSettings(Settings):
    """Settings of the rim features and of the consensus rule (frozen, validated on construction).

    Parameters
    ----------
    rim_inner_mm : float
        Width of the rim band inside the lesion edge (at least one voxel is used).
    rim_outer_mm : float
        Width of the rim band outside the lesion edge (0 = none; the rim of a
        PRL lies at the inner edge of the FLAIR lesion).
    background_gap_mm, background_width_mm : float
        Perilesional white matter: from ``gap`` to ``gap + width`` mm outside the
        edge, other lesions excluded.
    outer_width_mm : float
        Width of the shell just outside the lesion used for the ``outer_z`` feature.
    n_sectors : int
        Angular sectors of the edge in each axial slice (4 to 72).
    min_sectors : int
        Sectors that must contain rim-band voxels for a slice to be evaluable (1 to ``n_sectors``).
    k_sd : float
        A sector shows the rim when its mean exceeds the reference (the
        larger of the perilesional median and the core median) by ``k_sd``
        standard errors (local robust SD / sqrt(voxels in the sector)) and
        more than half of its voxels lie above the reference.
    min_coverage : float
        Fraction of the edge (sectors) the rim must cover (consensus: about 2/3).
    min_slices : int
        Consecutive axial slices that must each reach ``min_coverage``.
    threshold : float or None
        ``prl`` is yes when ``rim_score >= threshold``. For the consensus rule
        ``rim_score`` is the sustained coverage, so the default (None) is
        ``min_coverage``; for a trained model it is the model's probability
        threshold (default 0.5).
    phase_mode : {"dipole-inversion", "direct"}
        Phase features on a susceptibility estimate by thresholded k-space division (default) or
        on the phase itself.
    tkd_threshold : float
        Threshold of the k-space division (0 to 1, exclusive).

    Examples
    --------
    >>> PRLSettings(min_coverage=0.5).min_coverage
    0.5
    >>> PRLSettings(n_sectors=2)
    Traceback (most recent call last):
    ...
    smoulder.exceptions.SettingsError: n_sectors must be between 4 and 72 (got 2)
    """

    section: ClassVar[str] = "prl"

    rim_inner_mm: float = 2.0
    rim_outer_mm: float = 0.0
    background_gap_mm: float = 1.0
    background_width_mm: float = 4.0
    outer_width_mm: float = 2.0
    n_sectors: int = 12
    min_sectors: int = 6
    k_sd: float = 1.5
    min_coverage: float = 2.0 / 3.0
    min_slices: int = 2
    threshold: float | None = None
    phase_mode: Literal["dipole-inversion", "direct"] = "dipole-inversion"
    tkd_threshold: float = 0.2

    @field_validator("rim_inner_mm", "background_width_mm", "outer_width_mm")
    @classmethod
    def _positive_mm(cls, v: float, info: ValidationInfo) -> float:
        if not v > 0:
            raise SettingsError(f"{info.field_name} must be > 0 mm (got {v!r})")
        return v

    @field_validator("rim_outer_mm", "background_gap_mm", "k_sd")
    @classmethod
    def _non_negative(cls, v: float, info: ValidationInfo) -> float:
        if not v >= 0:
            raise SettingsError(f"{info.field_name} must be >= 0 (got {v!r})")
        return v

    @field_validator("n_sectors")
    @classmethod
    def _sectors(cls, v: int) -> int:
        if not 4 <= v <= 72:
            raise SettingsError(f"n_sectors must be between 4 and 72 (got {v!r})")
        return v

    @field_validator("min_sectors")
    @classmethod
    def _min_sectors(cls, v: int, info: ValidationInfo) -> int:
        n = info.data.get("n_sectors", 72)
        if not 1 <= v <= n:
            raise SettingsError(f"min_sectors must be between 1 and n_sectors ({n}) (got {v!r})")
        return v

    @field_validator("min_coverage")
    @classmethod
    def _coverage(cls, v: float) -> float:
        if not 0 < v <= 1:
            raise SettingsError(f"min_coverage must be in (0, 1] (got {v!r})")
        return v

    @field_validator("min_slices")
    @classmethod
    def _slices(cls, v: int) -> int:
        if v < 1:
            raise SettingsError(f"min_slices must be >= 1 (got {v!r})")
        return v

    @field_validator("tkd_threshold")
    @classmethod
    def _tkd(cls, v: float) -> float:
        if not 0 < v < 1:
            raise SettingsError(f"tkd_threshold must be in (0, 1) (got {v!r})")
        return v

    @field_validator("threshold")
    @classmethod
    def _threshold(cls, v: float | None) -> float | None:
        if v is not None and not 0 <= v <= 1:
            raise SettingsError(f"threshold must be in [0, 1] (got {v!r})")
        return v


__all__ = ["PRLSettings"]
