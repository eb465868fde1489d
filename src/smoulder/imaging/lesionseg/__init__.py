"""White-matter lesion segmentation on FLAIR (+ T1) that works on native clinical scans.

Pure engine: arrays and affines in, labels and tables out (no file access). The pipeline
:mod:`smoulder.pipelines.lesions` reads the NIfTI files, loads the MNI152 template
(:mod:`smoulder.io.templates`) and writes the outputs. The method is described in docs/lesions.md.
"""

from smoulder.imaging.lesionseg.engine import segment_lesions
from smoulder.imaging.lesionseg.images import Priors
from smoulder.imaging.lesionseg.result import LesionSegResult
from smoulder.imaging.lesionseg.settings import LesionSegSettings

__all__ = ["segment_lesions", "LesionSegSettings", "LesionSegResult", "Priors"]
