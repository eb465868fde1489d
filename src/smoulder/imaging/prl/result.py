"""The result of a PRL analysis: per-lesion table, label image, PRL mask and everything that made them."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np
import pandas as pd

from smoulder import __version__
from smoulder._result import AnalysisResult
from smoulder.imaging.prl.frame import acquisition_frame
from smoulder.imaging.prl.settings import PRLSettings


@dataclass
class PRLResult(AnalysisResult):
    """Per-lesion table, label image, PRL mask and everything needed to reproduce them.

    Attributes
    ----------
    lesions : pandas.DataFrame
        One row per lesion: geometry (``label, n_voxels, volume_mm3, centroid_*_mm,
        diameter_mm``), the rim features, ``rim_score``, ``prl`` (bool), ``classifier``,
        ``input`` and ``segmentation`` (columns described in docs/prl.md).
    labels : numpy.ndarray of int32
        Lesion labels (0 = background) the table refers to.
    prl_mask : numpy.ndarray of bool
        Voxels of the lesions classified as PRL.
    settings : PRLSettings
        The rim and rule settings of the run.
    input_kind : {"phase", "qsm"}
    phase_convention : str or None
        Sign convention of the phase (None for QSM).
    threshold : float
        The rim-score threshold that was applied.
    classifier : str
        ``consensus`` or ``model:<name>``.
    segmentation : str
        Where the lesion mask came from.
    convention_agreement : float or None
        The phase-sign check's tail ratio (phase only; see
        :func:`~smoulder.imaging.prl.convention_agreement`).
    affine : numpy.ndarray
        Voxel-to-world affine of the grid (for writing images).
    image : numpy.ndarray
        The susceptibility image as given (phase in radians or QSM in ppm), for QC.
    flair : numpy.ndarray or None
        The FLAIR on the same grid, for QC (None when the engine was called without it).
    warnings : list of str
        Everything the user should know about the run.
    version : str
        smoulder version that computed it.
    """

    pipeline: ClassVar[str] = "smoulder.pipelines.prl"

    lesions: pd.DataFrame
    labels: np.ndarray
    prl_mask: np.ndarray
    settings: PRLSettings
    input_kind: str
    phase_convention: str | None
    threshold: float
    classifier: str
    segmentation: str
    affine: np.ndarray
    image: np.ndarray
    convention_agreement: float | None = None
    flair: np.ndarray | None = None
    warnings: list[str] = field(default_factory=list)
    version: str = __version__

    @property
    def n_prl(self) -> int:
        """Number of lesions classified as PRL."""
        return int(self.lesions["prl"].sum()) if len(self.lesions) else 0

    @property
    def summary(self) -> pd.DataFrame:
        """One row: lesions, PRLs, total lesion volume, classifier, threshold, input, mask source."""
        vol = float(self.lesions["volume_mm3"].sum()) if len(self.lesions) else 0.0
        return pd.DataFrame(
            [
                {
                    "n_lesions": int(len(self.lesions)),
                    "n_prl": self.n_prl,
                    "lesion_volume_mm3": vol,
                    "classifier": self.classifier,
                    "threshold": self.threshold,
                    "input": self.input_kind,
                    "segmentation": self.segmentation,
                }
            ]
        )

    def tables(self) -> dict[str, pd.DataFrame]:
        """``lesions`` (one row per lesion) and ``summary`` (one row)."""
        return {"lesions": self.lesions, "summary": self.summary}

    def provenance(self) -> dict[str, Any]:
        """Everything that decided the result, as written to the JSON sidecar's ``Settings``."""
        return {
            "rim": self.settings.model_dump(),
            "threshold": float(self.threshold),
            "classifier": self.classifier,
            "input_kind": self.input_kind,
            "phase_convention": self.phase_convention,
            "segmentation": self.segmentation,
            "convention_agreement": self.convention_agreement,
        }

    def methods(self) -> str:
        """A methods-section paragraph describing how this result was obtained."""
        st = self.settings
        if self.input_kind == "phase":
            source = f"unwrapped, high-pass-filtered phase ({self.phase_convention} convention)" + (
                ", inverted to a susceptibility estimate by thresholded k-space division "
                f"(threshold {st.tkd_threshold})"
                if st.phase_mode == "dipole-inversion"
                else ""
            )
        else:
            source = "a QSM map"
        if self.classifier == "consensus" and st.rule_score == "evidence":
            rule = (
                f"A lesion was classified as a PRL when the rim covered at least {st.min_coverage:.2f} "
                f"of the edge on each of at least {st.min_slices} consecutive axial slices (rim "
                f"score = Phi(q - k), q the level in standard errors that sectors covering that "
                f"share of the edge reach on those slices, k the sector threshold; threshold "
                f"{self.threshold:.2f}"
                + (
                    "; below the threshold, half the share of the edge whose sectors pass, each "
                    "weighted Phi(t - k)"
                    if st.evidence_below_call == "soft-coverage"
                    else ""
                )
                + ")."
            )
        elif self.classifier == "consensus":
            rule = (
                f"A lesion was classified as a PRL when the rim covered at least {st.min_coverage:.2f} "
                f"of the edge on each of at least {st.min_slices} consecutive axial slices "
                f"(rim score = that sustained coverage; threshold {self.threshold:.2f})."
            )
        else:
            rule = (
                f"Lesions were classified by a user-trained random forest ({self.classifier}) on these "
                f"features at a probability threshold of {self.threshold:.2f}."
            )
        frame = acquisition_frame(np.asarray(self.affine, dtype=float), st.slice_axis)
        sec = st.sector_settings(float(max(frame.zooms[j] for j in frame.inplane)))
        rule = rule.replace("consecutive axial slices", "consecutive acquisition slices")
        return (
            f"Paramagnetic rim lesions were detected with smoulder {self.version} from {source}. "
            f"Lesions ({len(self.lesions)}; mask: {self.segmentation}) were labelled and, per lesion, the "
            f"signal in a rim band ({st.rim_inner_mm} mm inside the edge) was compared with the lesion "
            f"core and perilesional white matter ({st.background_gap_mm}-"
            f"{st.background_gap_mm + st.background_width_mm} mm outside). On each acquisition slice "
            f"(normal to voxel axis {'ijk'[frame.slice_axis]}, the {frame.how}; B0 taken from the "
            f"affine, {frame.obliquity_deg:.0f} degrees from the slice normal) the "
            f"edge was divided into {sec.n_sectors} angular sectors; a sector showed the rim when its mean "
            f"exceeded the reference (the larger of the core and perilesional medians) by {sec.k_sd} "
            f"standard errors and most of its voxels lay above the reference. {rule} "
            f"{self.n_prl} of {len(self.lesions)} lesions were classified as PRL."
        )

    def plot(self, ax: Any = None, **kwargs: Any) -> Any:
        """Rim score of every lesion (PRLs in red) against the threshold; returns the axes."""
        import matplotlib.pyplot as plt

        if ax is None:
            _, ax = plt.subplots(figsize=(6, 3))
        t = self.lesions.sort_values("rim_score", ascending=False) if len(self.lesions) else None
        if t is not None:
            x = np.arange(len(t))
            colours = np.where(t["prl"].to_numpy(dtype=bool), "#b00", "#888")
            ax.bar(x, t["rim_score"], color=colours, **kwargs)
            ax.set_xticks(x, [str(int(v)) for v in t["label"]])
        ax.axhline(
            self.threshold, color="k", lw=1, ls="--", label=f"threshold {self.threshold:.2f}"
        )
        ax.set_ylim(0, 1.05)
        ax.set_xlabel("lesion label")
        ax.set_ylabel("rim score")
        ax.set_title(f"{self.n_prl} of {len(self.lesions)} lesions classified as PRL")
        ax.legend(loc="upper right", frameon=False)
        return ax


__all__ = ["PRLResult"]
