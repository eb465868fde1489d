"""Paramagnetic rim lesions (PRL): spatial rim features, the consensus rule, a trainable classifier.

- :mod:`~smoulder.imaging.prl.settings`: :class:`PRLSettings`;
- :mod:`~smoulder.imaging.prl.features`: the paramagnetic-positive signal, the phase-sign check
  and the spatial rim features of each lesion;
- :mod:`~smoulder.imaging.prl.rule`: the consensus rule (or a trained model) that decides;
- :mod:`~smoulder.imaging.prl.classifier`: the trainable random forest (:class:`PRLModel`);
- :mod:`~smoulder.imaging.prl.detect`: :func:`detect_prl`, the engine's entry point;
- :mod:`~smoulder.imaging.prl.result`: :class:`PRLResult`;
- :mod:`~smoulder.imaging.prl.qc`: what the review page shows, as arrays and words.

Files are read and written by :mod:`smoulder.pipelines.prl`.
"""

from smoulder.imaging.prl.classifier import (
    MODEL_FORMAT,
    MODEL_FORMAT_VERSION,
    PRLModel,
    make_estimator,
    train_model,
)
from smoulder.imaging.prl.detect import detect_prl
from smoulder.imaging.prl.features import (
    CONVENTIONS,
    FEATURES,
    INPUT_KINDS,
    ConventionWarning,
    convention_agreement,
    lesion_features,
    paramagnetic_signal,
)
from smoulder.imaging.prl.result import PRLResult
from smoulder.imaging.prl.settings import PRLSettings

__all__ = [
    "PRLSettings",
    "PRLResult",
    "PRLModel",
    "detect_prl",
    "train_model",
    "make_estimator",
    "lesion_features",
    "paramagnetic_signal",
    "convention_agreement",
    "ConventionWarning",
    "FEATURES",
    "CONVENTIONS",
    "INPUT_KINDS",
    "MODEL_FORMAT",
    "MODEL_FORMAT_VERSION",
]
