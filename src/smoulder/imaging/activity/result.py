"""The result of the MRI activity analysis: per-change rows, the activity table, QC maps."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np
import pandas as pd

from smoulder._result import AnalysisResult
from smoulder.imaging.activity.settings import ActivitySettings

__all__ = ["ActivityResult", "CHANGE_COLUMNS", "ACTIVITY_COLUMNS"]

#: columns of the per-change table, in order
CHANGE_COLUMNS = [
    "change",
    "kind",
    "counted",
    "baseline_label",
    "n_voxels",
    "volume_mm3",
    "baseline_volume_mm3",
    "growth_pct",
    "peak_z",
    "centroid_x_mm",
    "centroid_y_mm",
    "centroid_z_mm",
]

#: columns of the activity table (the one ``smoulder progression --mri-activity`` reads)
ACTIVITY_COLUMNS = [
    "subject",
    "date",
    "active",
    "new_t2",
    "enlarging_t2",
    "gd_enhancing",
    "previous_date",
]


@dataclass
class ActivityResult(AnalysisResult):
    """New and enlarging T2 lesions of one scan pair.

    Attributes
    ----------
    rows : list of dict
        One per change (see :data:`CHANGE_COLUMNS`); :attr:`changes` is the DataFrame.
    change_labels : numpy.ndarray
        The changes in the halfway space (voxels of row ``change`` hold its number).
    baseline_labels : numpy.ndarray
        The baseline lesions in the halfway space.
    flair_halfway : (numpy.ndarray, numpy.ndarray)
        Both scans in the halfway space, bias-corrected and normalised (white matter about 1).
    z : numpy.ndarray
        The difference ``V2 - V1`` in noise SDs.
    transform, halfway : numpy.ndarray
        World transform baseline -> follow-up (4x4 RAS) and the halfway matrix.
    """

    pipeline: ClassVar[str] = "smoulder.pipelines.mri_activity"

    settings: ActivitySettings
    version: str
    subject: str
    dates: list[str]
    years: float
    rows: list[dict[str, Any]]
    change_labels: np.ndarray
    baseline_labels: np.ndarray
    flair_halfway: tuple[np.ndarray, np.ndarray]
    z: np.ndarray
    brain: np.ndarray
    affine: np.ndarray
    transform: np.ndarray
    halfway: np.ndarray
    similarity: float
    noise_sd: float
    levels: dict[str, float]
    n_baseline_lesions: int
    lesions_given: bool
    seconds: dict[str, float] = field(default_factory=dict)
    inputs: dict[str, Any] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    @property
    def changes(self) -> pd.DataFrame:
        """One row per new lesion and per baseline lesion holding a change."""
        return pd.DataFrame(self.rows, columns=CHANGE_COLUMNS)

    @property
    def n_new(self) -> int:
        """New T2 lesions."""
        return sum(1 for r in self.rows if r["kind"] == "new")

    @property
    def n_enlarging(self) -> int:
        """Enlarging T2 lesions (grown by at least ``enlarging_pct``)."""
        return sum(1 for r in self.rows if r["kind"] == "enlarging")

    @property
    def activity(self) -> pd.DataFrame:
        """The activity row of the follow-up scan, as ``smoulder progression --mri-activity`` reads it.

        ``active`` is the count of new plus enlarging T2 lesions; ``gd_enhancing`` is missing
        (``NA``): FLAIR cannot show enhancement.
        """
        return pd.DataFrame(
            {
                "subject": [self.subject],
                "date": [self.dates[1]],
                "active": [self.n_new + self.n_enlarging],
                "new_t2": [self.n_new],
                "enlarging_t2": [self.n_enlarging],
                "gd_enhancing": pd.array([pd.NA], dtype="Int64"),
                "previous_date": [self.dates[0]],
            },
            columns=ACTIVITY_COLUMNS,
        )

    @property
    def summary(self) -> pd.DataFrame:
        """The activity row plus the quality figures of the pair."""
        s = self.activity.copy()
        s["baseline_lesions"] = self.n_baseline_lesions
        s["similarity"] = round(self.similarity, 3)
        s["noise_sd"] = round(self.noise_sd, 4)
        return s

    def tables(self) -> dict[str, pd.DataFrame]:
        """The activity table and the per-change table."""
        return {"activity": self.activity, "changes": self.changes}

    def methods(self) -> str:
        """A methods paragraph stating what ran."""
        s = self.settings
        reg = "rigidly (6 parameters)" if s.registration == "rigid" else "affinely (12 parameters)"
        lesions = (
            f"{self.n_baseline_lesions} baseline lesions from the given mask"
            if self.lesions_given
            else f"{self.n_baseline_lesions} baseline lesions segmented on the baseline FLAIR by smoulder lesions"
        )
        return (
            f"New and enlarging T2 lesions between FLAIR scans of {self.dates[0]} and {self.dates[1]} "
            f"were found with smoulder {self.version}. The follow-up was registered {reg} to the "
            "baseline with ANTs (Mattes mutual information) and both scans were resampled half way "
            "(log-Euclidean mean of the two positions, trilinear) on the baseline grid; structural "
            f"correlation after alignment {self.similarity:.3f}. "
            + (
                "Each scan was N4 bias-corrected, "
                if s.n4
                else "Without bias correction, each scan was "
            )
            + f"divided by its {s.nawm_percentile:g}th brain percentile outside lesions"
            + (
                f", and the follow-up by the smooth residual ratio between the visits (Gaussian {s.bias_sigma_mm:g} mm). "
                if s.bias_sigma_mm > 0
                else ". "
            )
            + f"The difference (smoothed {s.smooth_mm:g} mm) was expressed in robust noise SDs "
            f"({self.noise_sd:.4f}); regions seeded at z >= {s.z_seed:g}, grown through z >= {s.z_grow:g} "
            f"and follow-up intensity >= {s.min_followup_ratio:g} x white matter, of at least "
            f"{s.min_voxels} voxels and {s.min_volume_mm3:g} mm3, were changes. {lesions}. A change "
            f"farther than {s.edge_mm:g} mm from every baseline lesion was new; a baseline lesion "
            f"holding a change whose excess FLAIR signal grew by >= {s.enlarging_pct:g} % was enlarging. "
            f"Result: {self.n_new} new and {self.n_enlarging} enlarging T2 lesions; gadolinium "
            "enhancement cannot be judged on FLAIR and is reported as missing."
        )
