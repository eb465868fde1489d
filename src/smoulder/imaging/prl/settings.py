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
        ``prl`` is yes when ``rim_score >= threshold``. For the consensus rule the default
        (None) is 0.5 (``rule_score = "evidence"``) or ``min_coverage`` (``"coverage"``); for a
        trained model it is the model's probability threshold (default 0.5).
    rule_score : {"evidence", "coverage"}
        The consensus rule's ``rim_score``: ``evidence`` (default), ``Phi(rim_q_se - k_sd)``, a
        continuous score that reaches 0.5 exactly when sectors covering ``min_coverage`` of the
        edge pass the sector test on ``min_slices`` consecutive slices (default threshold 0.5);
        ``coverage``, the sustained coverage (default threshold ``min_coverage``), a step
        function of the passing sectors.
    evidence_below_call : {"soft-coverage", "quantile"}
        ``rim_evidence`` of a lesion the rule does not call: ``soft-coverage`` (default), half
        its ``coverage_soft`` (each sector weighted ``Phi(t - k_sd)``, sustained over
        ``min_slices`` slices; without such a run, half the best evaluable slice's), so it ranks
        by how much of the edge nearly passes; ``quantile``, ``Phi(rim_q_se - k_sd)`` as above
        the call (one sector's level: noisy below it).
    phase_mode : {"dipole-inversion", "direct"}
        Phase features on a susceptibility estimate by thresholded k-space division (default) or
        on the phase itself.
    tkd_threshold : float
        Threshold of the k-space division (0 to 1, exclusive).
    slice_axis : {"auto", "i", "j", "k"}
        The acquisition's slice axis, on whose slices the rim is judged: ``auto`` takes the
        thickest voxel axis of a 2-D acquisition (at least 1.25 times the thinnest), otherwise
        the voxel axis closest to B0 (world z).
    background_reference : {"local", "lesion"}
        Perilesional reference of a sector: the perilesional white matter in that direction
        (the sector and its two neighbours; ``local``) or all around the lesion (``lesion``).
    local_core : bool
        Also require the band to exceed the lesion voxels deeper than it in the same direction.
    reject_edge_veins : bool
        Refuse a sector whose shell just outside the lesion is brighter than its band.
    central_exclusion : float
        Band voxels closer to the slice centroid than this fraction of the slice's equivalent
        radius are left out of the sectors (a central vein is not a rim).
    min_area_fraction : float
        A slice is evaluable only where the lesion's cross-section is at least this fraction of
        its largest (caps of a lesion are not rated).
    min_excess_sd : float
        A sector's mean must also exceed the reference by this many local SDs (an effect size,
        so tiny offsets over many voxels do not count).
    soft_sectors : float
        Width (in standard errors) of a linear ramp around ``k_sd``: a sector counts fully at
        ``k_sd + soft_sectors / 2``, not at all at ``k_sd - soft_sectors / 2`` (0: a hard step).
    band_max_fraction : float
        The rim band is at most this fraction of the lesion's greatest depth, so small lesions keep
        a core (but at least one voxel).
    core_depth_fraction : float
        The core reference is the median of the lesion voxels deeper than the band and at least
        this fraction of the lesion's greatest depth from the edge (a thick rim is not core).
    min_above_fraction : float
        A sector shows the rim only when more than this fraction of its voxels exceed the
        reference.
    cv_radius, cv_min_z, cv_min_slices : float, float, int
        Central vein: a spot within ``cv_radius`` of the slice's equivalent radius from its centroid,
        ``cv_min_z`` voxel-noise SDs above the reference, on ``cv_min_slices`` aligned slices.
    diffuse_min_z : float
        A lesion whose median and core both exceed the perilesional median by this many local
        SDs is flagged diffusely paramagnetic.
    slab_mm : float
        Sector statistics of a slice pool the slices within a slab of about this thickness
        centred on it (thin slices are noisy; 0: each slice alone). Coverage is still reported
        per acquisition slice.
    amplitude_fraction : float
        A sector must also reach this fraction of the lesion's rim amplitude (the 75th
        percentile of its sector excesses), so a strong rim's gaps are not filled by noise (0: off).
    sector_noise : {"perilesional", "voxel"}
        SD behind a sector's standard error: the robust SD of the perilesional signal (noise and
        anatomy) or the voxel noise (from each voxel minus its neighbours' mean).
    feature_inplane_mm : float or None
        When the in-plane voxels are coarser, each lesion's box is interpolated (linearly, within
        each slice; slices stay the acquisition's) to about this in-plane size for the features;
        standard errors still count acquired voxels. None: native grid.
    coarse_inplane_mm : float or None
        At or above this in-plane voxel size (mm) the sector test uses ``coarse_n_sectors``,
        ``coarse_min_sectors`` and ``coarse_k_sd`` instead of ``n_sectors``, ``min_sectors`` and
        ``k_sd``: at 1.5-2 mm a lesion's edge holds too few voxels for 12 sectors (None: never).
    coarse_n_sectors, coarse_min_sectors, coarse_k_sd : int, int, float
        The sector test on coarse grids (chosen on phantom family A only; docs/prl.md).
    edge_vein_min_sectors : int
        A lesion is flagged as having a vein along its edge when at least this many sectors (over
        its evaluable slices) were refused for a brighter shell outside.
    require_core : bool
        A lesion without core voxels (all of it within the rim band, e.g. 5 mm across at 2 mm
        voxels) cannot show a rim apart from a diffusely paramagnetic lesion: its
        ``rim_evidence`` is halved, so it is never called (``rule_score = "evidence"``).
    edge_vein_margin : float
        A sector is refused for a vein along the edge only when its outer shell is brighter than
        its band by this many standard errors of the difference (0: brighter at all).
    shell_patches : int
        Patches of the 3-D edge shell (:mod:`~smoulder.imaging.prl.shell`, 8 to 200).
    shell_weight, shell_offset : float
        Below the call, ``rim_evidence`` is ``((1 - shell_weight) coverage_soft + shell_weight
        Phi(shell_z - shell_offset)) / 2`` (``shell_weight = 0``: the soft coverage alone).

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
    rule_score: Literal["evidence", "coverage"] = "evidence"
    evidence_below_call: Literal["soft-coverage", "quantile"] = "soft-coverage"
    phase_mode: Literal["dipole-inversion", "direct"] = "dipole-inversion"
    tkd_threshold: float = 0.2
    slice_axis: Literal["auto", "i", "j", "k"] = "auto"
    background_reference: Literal["local", "lesion"] = "local"
    local_core: bool = False
    reject_edge_veins: bool = True
    central_exclusion: float = 0.35
    min_area_fraction: float = 0.35
    min_excess_sd: float = 0.0
    soft_sectors: float = 0.0
    band_max_fraction: float = 0.5
    core_depth_fraction: float = 0.5
    min_above_fraction: float = 0.5
    cv_radius: float = 0.5
    cv_min_z: float = 4.0
    cv_min_slices: int = 2
    diffuse_min_z: float = 2.0
    edge_vein_min_sectors: int = 2
    edge_vein_margin: float = 2.0
    require_core: bool = True
    slab_mm: float = 0.0
    amplitude_fraction: float = 0.2
    sector_noise: Literal["perilesional", "voxel"] = "voxel"
    feature_inplane_mm: float | None = None
    coarse_inplane_mm: float | None = 1.5
    coarse_n_sectors: int = 8
    coarse_min_sectors: int = 4
    coarse_k_sd: float = 1.0
    shell_patches: int = 48
    shell_weight: float = 0.25
    shell_offset: float = 2.0

    @field_validator("shell_patches")
    @classmethod
    def _patches(cls, v: int) -> int:
        if not 8 <= v <= 200:
            raise SettingsError(f"shell_patches must be between 8 and 200 (got {v!r})")
        return v

    @field_validator("shell_weight")
    @classmethod
    def _weight(cls, v: float) -> float:
        if not 0 <= v <= 1:
            raise SettingsError(f"shell_weight must be in [0, 1] (got {v!r})")
        return v

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

    @field_validator(
        "central_exclusion",
        "min_area_fraction",
        "cv_radius",
        "core_depth_fraction",
        "min_above_fraction",
    )
    @classmethod
    def _fraction(cls, v: float, info: ValidationInfo) -> float:
        if not 0 <= v < 1:
            raise SettingsError(f"{info.field_name} must be in [0, 1) (got {v!r})")
        return v

    @field_validator("band_max_fraction")
    @classmethod
    def _band_fraction(cls, v: float) -> float:
        if not 0 < v <= 1:
            raise SettingsError(f"band_max_fraction must be in (0, 1] (got {v!r})")
        return v

    @field_validator(
        "min_excess_sd",
        "soft_sectors",
        "cv_min_z",
        "diffuse_min_z",
        "slab_mm",
        "amplitude_fraction",
        "edge_vein_margin",
    )
    @classmethod
    def _non_negative_sd(cls, v: float, info: ValidationInfo) -> float:
        if not v >= 0:
            raise SettingsError(f"{info.field_name} must be >= 0 (got {v!r})")
        return v

    @field_validator("cv_min_slices", "edge_vein_min_sectors")
    @classmethod
    def _at_least_one(cls, v: int, info: ValidationInfo) -> int:
        if v < 1:
            raise SettingsError(f"{info.field_name} must be >= 1 (got {v!r})")
        return v

    @field_validator("feature_inplane_mm", "coarse_inplane_mm")
    @classmethod
    def _feature_mm(cls, v: float | None, info: ValidationInfo) -> float | None:
        if v is not None and not v > 0:
            raise SettingsError(f"{info.field_name} must be > 0 mm or None (got {v!r})")
        return v

    @field_validator("coarse_n_sectors")
    @classmethod
    def _coarse_sectors(cls, v: int) -> int:
        if not 4 <= v <= 72:
            raise SettingsError(f"coarse_n_sectors must be between 4 and 72 (got {v!r})")
        return v

    @field_validator("coarse_min_sectors")
    @classmethod
    def _coarse_min_sectors(cls, v: int, info: ValidationInfo) -> int:
        n = info.data.get("coarse_n_sectors", 72)
        if not 1 <= v <= n:
            raise SettingsError(
                f"coarse_min_sectors must be between 1 and coarse_n_sectors ({n}) (got {v!r})"
            )
        return v

    @field_validator("coarse_k_sd")
    @classmethod
    def _coarse_k(cls, v: float) -> float:
        if not v >= 0:
            raise SettingsError(f"coarse_k_sd must be >= 0 (got {v!r})")
        return v

    def sector_settings(self, inplane_mm: float) -> PRLSettings:
        """The settings of the sector test on a grid of this in-plane voxel size (mm).

        Examples
        --------
        >>> st = PRLSettings()
        >>> st.sector_settings(1.0).n_sectors, st.sector_settings(2.0).n_sectors
        (12, 8)
        """
        if self.coarse_inplane_mm is None or inplane_mm < self.coarse_inplane_mm - 1e-6:
            return self
        return self.replace(
            n_sectors=self.coarse_n_sectors,
            min_sectors=self.coarse_min_sectors,
            k_sd=self.coarse_k_sd,
        )

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
