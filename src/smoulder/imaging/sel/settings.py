"""Every threshold and registration parameter of the SEL analysis (defaults and reasons in docs/sel.md)."""

from __future__ import annotations

from typing import Any, ClassVar, Literal

from pydantic import ValidationInfo, field_validator

from smoulder._params import Settings
from smoulder.exceptions import SettingsError

CONTRASTS = ("flair", "t1", "both")
ATROPHY_METHODS = ("affine", "brain-mean", "none")


class SELSettings(Settings):
    """Every threshold and registration parameter of the SEL pipeline (frozen, validated).

    Parameters
    ----------
    contrast : {"flair", "t1", "both"}
        Image(s) driving the registrations (``both``: FLAIR and T1 as two SyN metric terms).
    flair_to_t1 : {"rigid", "resample"}
        How a visit's FLAIR on another grid than its T1 is brought onto the T1's: ``rigid``
        (default) registers it (mutual information, 6 degrees of freedom: the head moves between
        sequences); ``resample`` trusts the scanner's affines. A FLAIR on its T1's grid is used as
        it is.
    rigid_metric : str
        ANTs metric of the rigid step (``mattes`` mutual information).
    linear_finest_shrink : int
        Finest shrink factor of the rigid registrations (FLAIR to T1, follow-up to baseline): 1
        (default) includes ANTs' full-resolution level; 2 stops at half resolution (faster on
        1 mm scans; the affine stage before SyN refines the alignment at full resolution; not
        yet validated on the full benchmarks; ``--linear-finest-shrink``).
    registration_finest_mm : float
        Finest voxel size (mm) the registrations work at: a full-resolution level (of the rigid,
        affine and SyN stages) is left out while the level above it is still at most this size
        (default 2.5: scans of 1-1.25 mm are registered at twice their voxel size, as ANTs'
        ``antsRegistrationSyNQuick.sh`` skips full resolution; scans of 1.3 mm and coarser, such
        as the 2 mm phantoms every figure of ``docs/sel.md`` was tuned on, at full resolution).
        The Jacobian and displacement are still given on the scan's own grid. 0 always registers
        at full resolution (``--registration-finest-mm 0``).
    syn_metric, syn_radius : str, int
        SyN similarity and its neighbourhood radius in voxels (``CC``) or bins (``mattes``).
    syn_iterations : tuple of int
        SyN iterations per level, coarse to fine (each level halves the resolution of the next;
        levels finer than ``registration_finest_mm`` allows run 0 iterations).
    syn_region : {"lesions", "head"}
        Where SyN runs: ``head`` (default) the whole grid; ``lesions`` only inside boxes about
        the lesions (each lesion's bounding box grown by ``syn_margin_mm``, overlapping boxes
        merged; ``--syn-region``), faster by the share of the grid the boxes leave out (not yet
        measured on a 1 mm head nor validated on the full benchmarks); the affine stage always
        sees the whole images.
    syn_margin_mm : float
        Margin of the SyN boxes about each lesion (mm).
    grad_step, flow_sigma, total_sigma : float
        SyN gradient step and Gaussian regularisation (voxels) of the update and total fields.
    min_similarity : float
        Smallest structural correlation (Pearson r of high-pass-filtered images in the brain)
        between the rigidly aligned baseline and a follow-up; below it the run stops.
    seed : int
        Random seed of ANTs' metric sampling, >= 1 (ANTs reads 0 as "seed from the clock", which
        would make every run differ).
    threads : int or None
        ITK thread count during registration (1 gives bit-for-bit reproducible results).
    atrophy_correction : {"affine", "brain-mean", "none"}
        Remove the global volume change of the brain from each Jacobian: ``affine`` (default)
        divides by the determinant of the 12-parameter affine registration that precedes SyN
        (the global scaling factor); ``brain-mean`` by the mean Jacobian over the brain (eroded,
        lesions excluded; exact only when the whole brain edge is in the field of view);
        ``none`` keeps the total Jacobian.
    brain_erosion_mm : float
        Erosion of the brain mask before the atrophy mean (avoids the brain edge).
    expansion_measure : {"segmented", "jacobian", "signal", "ring"}
        What ``expansion_pct_per_year`` reports: ``segmented`` (default) the change of the lesion
        segmented on each visit's rigidly aligned FLAIR relative to its own baseline contrast
        (partial volume counted; over the lesion and its grown edge, neighbouring lesions left
        out); ``jacobian`` the Jacobian integrated over the baseline lesion (Elliott 2019);
        ``signal`` the change of the lesion's excess FLAIR signal over the lesion and its grown
        edge; ``ring`` the Jacobian integrated over the lesion and its grown edge
        (:mod:`smoulder.imaging.sel.volume`). All four are written (``segmented_``,
        ``jacobian_``, ``signal_``, ``ring_expansion_pct_per_year``); figures in docs/sel.md.
    segmented_margin_mm, segmented_growth_share : float
        Reach of the ``segmented`` measure beyond the baseline lesion: ``segmented_margin_mm``
        plus ``segmented_growth_share`` times the lesion's equivalent radius.
    segmented_level : float
        Share of the lesion's own contrast a voxel needs to be segmented as lesion.
    segmented_edge_mm : float
        How far the segmentation is grown to count its partial-volume edge.
    segmented_blur_voxels : float
        The edge band is at least this many voxels (of the largest side) wide, and the margin
        grows with it: blur and resampling spread a lesion's signal over voxels, not millimetres
        (2.5: unchanged at 1 mm, 5 mm at 2 mm). 0 (default): the band is ``segmented_edge_mm``.
    segmented_noise_floor : float
        Voxels of the counted mask count down to ``-segmented_noise_floor`` noise SDs (of the
        visit, from the shell) instead of 0, so the noise of the edge band adds no positive bias.
        0 (default): clipped at 0.
    segmented_union : bool
        Count every visit over the union of the visits' masks (default False: each its own).
        The three are opt-in (issue 12 §6, round 6: 2.5, 2 and True fix small lesions on the
        tuning family and synthetic balls, not on a held-out 2 mm phantom; docs/sel.md).
    segmented_contrast : {"visit", "baseline"}
        ``visit``: the lesion contrast of each visit is scaled by the change of the lesions'
        deep cores (a scanner's change of contrast); ``baseline``: the baseline contrast is used
        at every visit.
    ring_margin_mm, ring_growth_share : float
        Reach of the ``ring`` measure beyond the baseline lesion: ``ring_margin_mm`` plus
        ``ring_growth_share`` times the lesion's equivalent radius.
    dark_share : float
        Voxels darker than this share of the median FLAIR at any visit (CSF) are left out of the
        ``ring`` region.
    edge_margin_mm, edge_growth_share : float
        Reach of the signal measure beyond the baseline lesion: ``edge_margin_mm`` plus
        ``edge_growth_share`` times the lesion's equivalent radius.
    seed_pct_per_year, growth_pct_per_year : float
        Voxel expansion (annualised, atrophy corrected) that seeds a candidate / lets it grow
        (12.5 and 4 after Elliott 2019; *unverified*).
    lesion_seed_pct_per_year : float or None
        A lesion whose expansion (``expansion_pct_per_year``, the ``expansion_measure``) reaches
        this (% per year; default 3) also seeds its candidate from its voxels at or above
        ``growth_pct_per_year`` (slow SELs, whose voxels rarely reach ``seed_pct_per_year``);
        None (or ``inf``) turns this off. Figures in docs/sel.md (issue 12 §6, round 4).
    min_voxels : int
        Smallest candidate (voxels, 10 after Elliott 2019; *unverified*).
    connectivity : {6, 18, 26}
        Neighbourhood of the region growing.
    min_concentricity : float
        Share of the lesion boundary that must move outward for a definite SEL.
    outward_fraction : float
        A boundary voxel moves outward when its outward displacement reaches this share of the
        lesion boundary's mean outward displacement (see
        :func:`~smoulder.imaging.sel.concentricity`).
    min_constancy : float
        Share of follow-up intervals that must show expansion for a definite SEL.
    min_interval_pct_per_year : float
        An interval shows expansion when the candidate grew faster than this (% per year).
    definite_without_constancy : bool
        With two time points constancy cannot be measured; allow ``definite`` anyway.

    Examples
    --------
    >>> SELSettings(syn_iterations=[20, 10]).syn_iterations
    (20, 10)
    >>> SELSettings(connectivity=8)
    Traceback (most recent call last):
    ...
    smoulder.exceptions.SettingsError: connectivity must be 6, 18 or 26 (got 8)
    """

    section: ClassVar[str] = "sel"

    contrast: Literal["flair", "t1", "both"] = "flair"
    flair_to_t1: Literal["rigid", "resample"] = "rigid"
    rigid_metric: str = "mattes"
    linear_finest_shrink: int = 1
    registration_finest_mm: float = 2.5
    syn_metric: Literal["CC", "mattes", "meansquares"] = "CC"
    syn_radius: int = 2
    syn_iterations: tuple[int, ...] = (40, 20, 10)
    syn_region: Literal["lesions", "head"] = "head"
    syn_margin_mm: float = 15.0
    grad_step: float = 0.4
    flow_sigma: float = 2.0
    total_sigma: float = 0.0
    min_similarity: float = 0.5
    seed: int = 1
    threads: int | None = None
    atrophy_correction: Literal["affine", "brain-mean", "none"] = "affine"
    brain_erosion_mm: float = 4.0
    expansion_measure: Literal["segmented", "jacobian", "signal", "ring"] = "segmented"
    segmented_margin_mm: float = 3.0
    segmented_growth_share: float = 0.5
    segmented_level: float = 0.5
    segmented_edge_mm: float = 2.5
    segmented_blur_voxels: float = 0.0
    segmented_noise_floor: float = 0.0
    segmented_union: bool = False
    segmented_contrast: Literal["visit", "baseline"] = "visit"
    edge_margin_mm: float = 3.0
    edge_growth_share: float = 0.25
    ring_margin_mm: float = 4.0
    ring_growth_share: float = 0.5
    dark_share: float = 0.6
    seed_pct_per_year: float = 12.5
    lesion_seed_pct_per_year: float | None = 3.0
    growth_pct_per_year: float = 4.0
    min_voxels: int = 10
    connectivity: int = 18
    min_concentricity: float = 0.75
    outward_fraction: float = 0.5
    min_constancy: float = 1.0
    min_interval_pct_per_year: float = 0.0
    definite_without_constancy: bool = False

    @field_validator("syn_iterations")
    @classmethod
    def _iterations(cls, v: tuple[int, ...]) -> tuple[int, ...]:
        if not v or any(i < 0 for i in v):
            raise SettingsError(
                f"syn_iterations must be one or more non-negative whole numbers (got {list(v)})"
            )
        return v

    @field_validator("syn_radius", "grad_step")
    @classmethod
    def _positive(cls, v: float, info: ValidationInfo) -> float:
        if not v > 0:
            raise SettingsError(f"{info.field_name} must be > 0 (got {v!r})")
        return v

    @field_validator("min_similarity")
    @classmethod
    def _similarity(cls, v: float) -> float:
        if not -1.0 <= v <= 1.0:
            raise SettingsError(f"min_similarity must be between -1 and 1 (got {v!r})")
        return v

    @field_validator("seed")
    @classmethod
    def _seed(cls, v: int) -> int:
        if v < 1:
            raise SettingsError(
                f'seed must be >= 1 (ANTs reads 0 as "seed from the clock") (got {v!r})'
            )
        return v

    @field_validator("threads")
    @classmethod
    def _threads(cls, v: int | None) -> int | None:
        if v is not None and v < 1:
            raise SettingsError(f"threads must be >= 1 or None (got {v!r})")
        return v

    @field_validator("growth_pct_per_year")
    @classmethod
    def _growth(cls, v: float, info: ValidationInfo) -> float:
        seed = info.data.get("seed_pct_per_year")
        if seed is not None and seed < v:
            raise SettingsError(
                f"growth_pct_per_year ({v}) is above seed_pct_per_year ({seed}): seed_pct_per_year "
                "must be >= growth_pct_per_year; a seed below the growth threshold grows nothing"
            )
        return v

    @field_validator(
        "edge_margin_mm",
        "edge_growth_share",
        "segmented_margin_mm",
        "segmented_growth_share",
        "segmented_level",
        "segmented_edge_mm",
        "segmented_blur_voxels",
        "segmented_noise_floor",
        "syn_margin_mm",
        "ring_margin_mm",
        "ring_growth_share",
        "dark_share",
        "registration_finest_mm",
    )
    @classmethod
    def _non_negative(cls, v: float, info: ValidationInfo) -> float:
        if not v >= 0:
            raise SettingsError(f"{info.field_name} must be >= 0 (got {v!r})")
        return v

    @field_validator("linear_finest_shrink")
    @classmethod
    def _finest(cls, v: int) -> int:
        if v not in (1, 2, 4):
            raise SettingsError(f"linear_finest_shrink must be 1, 2 or 4 (got {v!r})")
        return v

    @field_validator("min_voxels")
    @classmethod
    def _min_voxels(cls, v: int) -> int:
        if v < 1:
            raise SettingsError(f"min_voxels must be >= 1 (got {v!r})")
        return v

    @field_validator("connectivity")
    @classmethod
    def _connectivity(cls, v: int) -> int:
        if v not in (6, 18, 26):
            raise SettingsError(f"connectivity must be 6, 18 or 26 (got {v!r})")
        return v

    @field_validator("min_concentricity", "min_constancy", "outward_fraction")
    @classmethod
    def _share(cls, v: float, info: ValidationInfo) -> float:
        if not 0.0 <= v <= 1.0:
            raise SettingsError(f"{info.field_name} must be between 0 and 1 (got {v!r})")
        return v


__all__ = ["SELSettings", "CONTRASTS", "ATROPHY_METHODS"]


def registration_shrink(zooms: Any, finest_mm: float) -> int:
    """The shrink factor (1, 2 or 4) of the finest registration level for voxels ``zooms``: the
    largest whose coarsest axis stays within ``finest_mm`` (1 when ``finest_mm`` is 0).

    >>> registration_shrink((1.0, 1.0, 1.0), 2.5), registration_shrink((1.0, 1.0, 1.2), 2.5)
    (2, 2)
    >>> registration_shrink((2.0, 2.0, 2.0), 2.5), registration_shrink((1.0, 1.0, 1.0), 0.0)
    (1, 1)
    """
    worst = float(max(zooms))
    shrink = 1
    while shrink < 4 and 2 * shrink * worst <= finest_mm + 1e-9:
        shrink *= 2
    return shrink


def syn_levels(iterations: tuple[int, ...], shrink: int) -> tuple[int, ...]:
    """``iterations`` (coarse to fine; the finest level at full resolution) with the levels finer
    than ``shrink`` set to 0 iterations (ANTs then carries the coarser field up unchanged).

    >>> syn_levels((40, 20, 10), 2), syn_levels((40, 20, 10), 1), syn_levels((40, 20, 10), 4)
    ((40, 20, 0), (40, 20, 10), (40, 0, 0))
    """
    n = len(iterations)
    return tuple(it if 2 ** (n - 1 - k) >= shrink else 0 for k, it in enumerate(iterations))
