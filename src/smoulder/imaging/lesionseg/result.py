"""The result of a lesion segmentation: labels, the per-lesion table, what ran."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np
import pandas as pd

from smoulder._result import AnalysisResult
from smoulder.imaging.lesionseg.settings import LesionSegSettings

__all__ = ["LesionSegResult"]


@dataclass
class LesionSegResult(AnalysisResult):
    """Lesions found on one FLAIR.

    Attributes
    ----------
    settings : LesionSegSettings
    version : str
    labels : numpy.ndarray
        int32 lesion labels 1..N on the FLAIR grid (0 = background).
    affine, zooms
        The FLAIR grid.
    lesions : pandas.DataFrame
        One row per lesion (see :attr:`summary`).
    brain_mask : numpy.ndarray
        The brain used (given, or from the registered template).
    flair : numpy.ndarray
        The bias-corrected FLAIR (for the QC page).
    counts : dict
        Seed regions, seeds kept and lesions after each detection step.
    notes : list of str
        What ran, step by step (registration, N4, tissue model), for the methods paragraph.
    """

    pipeline: ClassVar[str] = "smoulder.pipelines.lesions"

    settings: LesionSegSettings
    version: str
    labels: np.ndarray
    affine: np.ndarray
    zooms: tuple[float, float, float]
    lesions: pd.DataFrame
    brain_mask: np.ndarray
    flair: np.ndarray
    counts: dict[str, int] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    used_t1: bool = False
    brain_mask_given: bool = False
    seconds: float = float("nan")
    inputs: dict[str, str | None] = field(default_factory=dict)

    @property
    def summary(self) -> pd.DataFrame:
        """Per lesion: ``label, n_voxels, volume_mm3, centroid_x/y/z_mm`` (world RAS mm),
        ``location`` (periventricular / juxtacortical / infratentorial / deep white matter) and
        ``peak_z`` (peak FLAIR brightness in local white-matter SDs)."""
        return self.lesions

    @property
    def n_lesions(self) -> int:
        return int(len(self.lesions))

    @property
    def total_volume_ml(self) -> float:
        return float(self.lesions["volume_mm3"].sum() / 1000.0) if len(self.lesions) else 0.0

    @property
    def brain_volume_ml(self) -> float:
        return float(self.brain_mask.sum() * np.prod(self.zooms) / 1000.0)

    def tables(self) -> dict[str, pd.DataFrame]:
        """``lesions`` (per lesion) and ``counts`` (what each detection step kept)."""
        counts = pd.DataFrame({"step": list(self.counts), "count": list(self.counts.values())})
        return {"lesions": self.lesions, "counts": counts}

    def methods(self) -> str:
        """A methods paragraph describing exactly what ran, with the parameters used."""
        s = self.settings
        z = self.zooms
        grid = f"{z[0]:.2g} x {z[1]:.2g} x {z[2]:.2g} mm"
        steps = "; ".join(self.notes)
        loc = self.lesions["location"].value_counts().to_dict() if len(self.lesions) else {}
        locs = ", ".join(f"{v} {k}" for k, v in loc.items()) or "none"
        return (
            f"White-matter lesions were segmented on the FLAIR ({grid} voxels"
            f"{', with a T1' if self.used_t1 else ''}) with smoulder {self.version} "
            f"(smoulder lesions): {steps}. FLAIR was smoothed (Gaussian SD {s.smooth_mm:g} mm) and "
            f"expressed in standard deviations of the local normal-appearing white matter (z; "
            f"Gaussian neighbourhood SD {s.nawm_sigma_mm:g} mm, outliers trimmed) and of local "
            f"cortex (zg). Lesion seeds were voxels with z >= {s.z_seed:g} and zg >= {s.zg_seed:g} "
            f"(z >= {s.z_seed + s.infratentorial_z_extra:g} below the tentorium; seed regions of >= "
            f"{s.min_seed_voxels} voxels, or any with z >= {s.z_strong:g}) in "
            f"brain tissue >= {s.edge_margin_mm:g} mm from the brain's edge whose surroundings held "
            f">= {s.wm_fraction:.0%} white matter (SD {s.wm_sigma_mm:g} mm); lesions grew from "
            f"the seeds (watershed) into connected voxels with z >= {s.z_grow:g} and >= "
            f"{s.grow_fraction:g} x the seed's peak (grey-matter-like voxels only with zg >= "
            f"{s.zg_grow:g}); no morphological opening was applied, and lesions of fewer than "
            f"{s.min_lesion_voxels} voxels were dropped, and so were thin bands lining the ventricles "
            f"(no voxel farther than {s.lining_mm:g} mm, most at the wall). Lesions were labelled as "
            f"{s.connectivity}-connected components and classed periventricular (within "
            f"{s.periventricular_mm:g} mm of the lateral ventricles), juxtacortical (within "
            f"{s.juxtacortical_mm:g} mm of cortex), infratentorial or deep white matter. "
            f"Found: {self.n_lesions} lesions, {self.total_volume_ml:.2f} mL ({locs}); brain "
            f"{self.brain_volume_ml:.0f} mL."
        )

    def plot(self, ax: Any = None, *, n_slices: int = 6) -> Any:
        """Axial FLAIR slices through the most lesioned levels, lesion outlines in yellow."""
        import matplotlib.pyplot as plt

        from smoulder.imaging.lesionseg.qc import montage_rgb

        rgb = montage_rgb(self.flair, self.labels, self.zooms, self.brain_mask, n_slices=n_slices)
        if ax is None:
            _, ax = plt.subplots(figsize=(2 * n_slices, 2.6))
        ax.imshow(rgb)
        ax.set_axis_off()
        ax.set_title(f"{self.n_lesions} lesions, {self.total_volume_ml:.2f} mL")
        return ax
