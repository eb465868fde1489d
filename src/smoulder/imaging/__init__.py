"""Imaging engines: paramagnetic rim lesions (PRL) and slowly expanding lesions (SEL).

Pure computation on arrays and :class:`~smoulder.schema.images.Volume` objects; nothing here reads
or writes a file (the pipelines do: :mod:`smoulder.pipelines.prl`, :mod:`smoulder.pipelines.sel`,
:mod:`smoulder.pipelines.sel_batch`, :mod:`smoulder.pipelines.bids`).

Layout
------
- :mod:`~smoulder.imaging.prl`: PRL settings, rim features, rule, classifier, result, QC page;
- :mod:`~smoulder.imaging.sel`: SEL settings, engine, scores, result, QC page;
- :mod:`~smoulder.imaging.lesions`: labelling, confluent-lesion splitting, geometry, fallback
  segmentation (shared);
- :mod:`~smoulder.imaging.registration`: the antspyx wrappers (rigid, affine, SyN, halfway
  space, resampling; shared);
- :mod:`~smoulder.imaging.qc`: QC panel rendering to PNG in memory (shared);
- :mod:`~smoulder.imaging.dipole`: the dipole kernel (forward field, TKD inversion).

Examples
--------
>>> import numpy as np
>>> from smoulder.imaging import label_lesions, lesion_geometry
>>> mask = np.zeros((10, 10, 10), np.uint8)
>>> mask[1:3, 1:3, 1:3] = 1
>>> labels, n_split = label_lesions(mask, (1.0, 1.0, 1.0))
>>> lesion_geometry(labels, np.eye(4))[["label", "n_voxels", "volume_mm3"]]
   label  n_voxels  volume_mm3
0      1         8         8.0
"""

from smoulder.imaging.dipole import dipole_field, tkd_inversion
from smoulder.imaging.lesions import (
    FALLBACK_METHOD,
    fallback_segmentation,
    label_lesions,
    lesion_geometry,
    split_confluent,
)
from smoulder.imaging.prl import (
    FEATURES,
    ConventionWarning,
    PRLModel,
    PRLResult,
    PRLSettings,
    convention_agreement,
    detect_prl,
    lesion_features,
    paramagnetic_signal,
    train_model,
)
from smoulder.imaging.registration import resample_to, rigid_register
from smoulder.imaging.sel import SELResult, SELSettings, concentricity, detect_sel
from smoulder.schema.images import Volume

__all__ = [
    "Volume",
    # PRL
    "PRLSettings",
    "PRLResult",
    "PRLModel",
    "detect_prl",
    "train_model",
    "lesion_features",
    "paramagnetic_signal",
    "convention_agreement",
    "ConventionWarning",
    "FEATURES",
    # SEL
    "SELSettings",
    "SELResult",
    "detect_sel",
    "concentricity",
    # shared
    "label_lesions",
    "split_confluent",
    "lesion_geometry",
    "fallback_segmentation",
    "FALLBACK_METHOD",
    "resample_to",
    "rigid_register",
    "dipole_field",
    "tkd_inversion",
]
