"""Slowly expanding lesions (SEL) across MRI time points, after Elliott et al. (Mult Scler 2019).

- :mod:`~smoulder.imaging.sel.settings`: :class:`SELSettings`;
- :mod:`~smoulder.imaging.sel.engine`: :func:`detect_sel` (halfway space, SyN, atrophy
  correction, candidates, scores, classes);
- :mod:`~smoulder.imaging.sel.scores`: concentricity, constancy, seeded candidates, the rule;
- :mod:`~smoulder.imaging.sel.result`: :class:`SELResult`;
- :mod:`~smoulder.imaging.sel.qc`: the QC page as an HTML string.

Files are read and written by :mod:`smoulder.pipelines.sel` and :mod:`smoulder.pipelines.sel_batch`.
"""

from smoulder.imaging.sel.engine import detect_sel
from smoulder.imaging.sel.result import SELResult
from smoulder.imaging.sel.scores import classify, concentricity, log_fit_pct, seeded_candidates
from smoulder.imaging.sel.settings import ATROPHY_METHODS, CONTRASTS, SELSettings

__all__ = [
    "SELSettings",
    "SELResult",
    "detect_sel",
    "classify",
    "concentricity",
    "seeded_candidates",
    "log_fit_pct",
    "CONTRASTS",
    "ATROPHY_METHODS",
]
