"""The result of a SEL analysis: per-lesion table, maps on the baseline grid and what made them."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np
import pandas as pd

from smoulder import __version__
from smoulder._result import AnalysisResult
from smoulder.imaging.sel.settings import SELSettings, syn_levels


@dataclass
class SELResult(AnalysisResult):
    """Outcome of :func:`~smoulder.imaging.sel.detect_sel`.

    Attributes
    ----------
    lesions : pandas.DataFrame
        One row per baseline lesion (columns in ``docs/sel.md``), with ``sel`` in
        ``definite | possible | no``.
    details : dict
        Per-subject counts and volumes, global brain change, registration similarities,
        folding, the halfway and rigid transforms (written as ``Details`` of the summary sidecar).
    jacobian : list of numpy.ndarray
        Jacobian determinant of each follow-up against baseline (not atrophy corrected), on the
        baseline grid.
    expansion : numpy.ndarray
        Annualised, atrophy-corrected voxel expansion (% per year) at the last follow-up,
        on the baseline grid.
    sel_mask : numpy.ndarray
        Candidate voxels on the baseline grid: 2 in definite SELs, 1 in possible ones.
    halfway : dict
        Images in the halfway space for QC: ``t1``, ``flair`` (lists), ``labels``,
        ``expansion``, ``candidates``, ``warped_t1``.
    affine : numpy.ndarray
        Baseline (and halfway-space) grid affine.
    settings : SELSettings
        The settings of the run.
    dates : list of str or None
        ISO dates of the time points, when they were given.
    warnings : list of str
        Everything the user should know about the run (e.g. folding of a deformation).
    version : str
        smoulder version that computed it.
    """

    pipeline: ClassVar[str] = "smoulder.pipelines.sel"

    lesions: pd.DataFrame
    details: dict[str, Any]
    jacobian: list[np.ndarray]
    expansion: np.ndarray
    sel_mask: np.ndarray
    halfway: dict[str, Any]
    affine: np.ndarray
    settings: SELSettings
    dates: list[str] | None = None
    warnings: list[str] = field(default_factory=list)
    version: str = __version__

    @property
    def n_definite(self) -> int:
        """Number of definite SELs."""
        return int((self.lesions["sel"] == "definite").sum()) if len(self.lesions) else 0

    @property
    def summary(self) -> pd.DataFrame:
        """One row per subject: SEL counts and volumes, brain change and registration quality."""
        s = self.details
        return pd.DataFrame(
            [
                {
                    "n_timepoints": s["n_timepoints"],
                    "first_date": self.dates[0] if self.dates else None,
                    "last_date": self.dates[-1] if self.dates else None,
                    "n_lesions": s["n_lesions"],
                    "n_definite": s["n_definite"],
                    "n_possible": s["n_possible"],
                    "definite_volume_mm3": s["definite_volume_mm3"],
                    "possible_volume_mm3": s["possible_volume_mm3"],
                    "candidate_volume_mm3": s["candidate_volume_mm3"],
                    "brain_volume_change_pct_per_year": s["brain_volume_change_pct_per_year"],
                    "min_similarity_rigid": float(min(s["similarity_rigid"][1:])),
                    "min_similarity_syn": float(min(s["similarity_syn"][1:])),
                }
            ]
        )

    def tables(self) -> dict[str, pd.DataFrame]:
        """``lesions`` (one row per baseline lesion) and ``summary`` (one row)."""
        return {"lesions": self.lesions, "summary": self.summary}

    def methods(self) -> str:
        """A methods-section paragraph describing what ran, with its parameters and outcome."""
        st = self.settings
        d = self.details
        n = int(d["n_timepoints"])
        when = (
            f" ({', '.join(self.dates)})"
            if self.dates
            else f" ({', '.join(f'{y:.2f}' for y in d['years'])} years after baseline)"
        )
        contrast = {"flair": "FLAIR", "t1": "T1-weighted images", "both": "FLAIR and T1"}[
            st.contrast
        ]
        atrophy = {
            "affine": "Each Jacobian was divided by the determinant of the affine stage, which "
            "removes the global volume change of the brain",
            "brain-mean": "Each Jacobian was divided by its mean over the eroded brain (lesions "
            f"excluded, erosion {st.brain_erosion_mm} mm), which removes the global volume change "
            "of the brain",
            "none": "Jacobians were not corrected for atrophy",
        }[st.atrophy_correction]
        if n < 3:
            constancy = "constancy cannot be measured with two time points, so candidates were " + (
                "classified as definite on concentricity alone"
                if st.definite_without_constancy
                else "classified as possible at most"
            )
        else:
            constancy = (
                f"its constancy (share of follow-up intervals with expansion above "
                f"{st.min_interval_pct_per_year} % per year) reached {st.min_constancy:.2f}"
            )
        shrink = int(d.get("registration_shrink", 1))
        iters = ", ".join(str(i) for i in syn_levels(st.syn_iterations, shrink))
        coarse = (
            f" Registrations stopped at {'half' if shrink == 2 else 'a quarter of'} the scans' "
            f"resolution (registration_finest_mm {st.registration_finest_mm:g})."
            if shrink > 1
            else ""
        )
        threads = f", {st.threads} thread(s)" if st.threads is not None else ""
        rigid_level = {
            1: "",
            2: ", stopping at half resolution",
            4: ", stopping at a quarter resolution",
        }
        where = (
            f" inside boxes about the lesions (each lesion's bounding box grown by "
            f"{st.syn_margin_mm} mm, overlapping boxes merged; identity elsewhere)"
            if st.syn_region == "lesions"
            else ""
        )
        return (
            f"Slowly expanding lesions were detected with smoulder {self.version} on {n} time "
            f"points{when}, after Elliott et al. (Mult Scler 2019). Registrations used "
            f"{contrast} with ANTs (seed {st.seed}{threads}). Each follow-up was registered "
            f"rigidly to the baseline ({st.rigid_metric} metric"
            f"{rigid_level.get(max(st.linear_finest_shrink, shrink), '')}) and every time point was "
            "resampled into the halfway space (the log-Euclidean mean of the rigid transforms); "
            f"a follow-up whose structural correlation with the baseline stayed below "
            f"{st.min_similarity} would have stopped the run. Each follow-up was then registered "
            f"to the baseline by a 12-parameter affine stage and SyN{where} ({st.syn_metric} metric, "
            f"radius {st.syn_radius}, iterations {iters}, gradient step {st.grad_step}, "
            f"update-field smoothing {st.flow_sigma} and total-field smoothing {st.total_sigma} "
            f"voxels).{coarse} {atrophy} (brain volume change "
            f"{d['brain_volume_change_pct_per_year']:.2f} % per year). Voxels of a baseline lesion "
            f"whose annualised, corrected expansion at the last time point reached "
            f"{st.seed_pct_per_year} % per year seeded regions grown through "
            f"{st.connectivity}-connected voxels of the same lesion at or above "
            f"{st.growth_pct_per_year} % per year; regions of at least {st.min_voxels} voxels were "
            f"candidates. A candidate's lesion was a definite SEL when its concentricity (share of "
            f"its boundary moving outward by at least {st.outward_fraction:.2f} of the mean "
            f"outward displacement) reached {st.min_concentricity:.2f} and {constancy}; other "
            f"candidates were possible SELs. {d['n_definite']} of {d['n_lesions']} lesions were "
            f"definite and {d['n_possible']} possible SELs."
        )

    def plot(self, ax: Any = None, **kwargs: Any) -> Any:
        """Expansion (% per year) of every lesion, coloured by class; returns the axes."""
        import matplotlib.pyplot as plt

        if ax is None:
            _, ax = plt.subplots(figsize=(6, 3))
        t = self.lesions.sort_values("expansion_pct_per_year", ascending=False)
        colour = {"definite": "#b00", "possible": "#d80", "no": "#888"}
        x = np.arange(len(t))
        ax.bar(
            x,
            t["expansion_pct_per_year"].fillna(0.0),
            color=[colour[c] for c in t["sel"]],
            **kwargs,
        )
        ax.set_xticks(x, [str(int(v)) for v in t["label"]])
        ax.axhline(0.0, color="k", lw=0.8)
        ax.set_xlabel("lesion label")
        ax.set_ylabel("expansion (% per year)")
        ax.set_title(
            f"{self.n_definite} definite, {int((t['sel'] == 'possible').sum())} possible SEL"
        )
        return ax


__all__ = ["SELResult"]
