"""The trainable PRL classifier: a random forest on the spatial rim features.

Users train it on their own rated lesions (``smoulder prl train``); no clinically validated model
ships with smoulder. A model travels as a *payload*, a plain dict: ``format``
("smoulder-prl-model"), ``format_version``, the estimator, the feature names, the input kind
(phase or QSM), the probability threshold and metadata (smoulder and scikit-learn versions,
creation time, training counts, cross-validated AUC, whether it is a demo).
:mod:`smoulder.io.prl_model` writes and reads that payload as a joblib file;
:meth:`PRLModel.from_payload` checks it.
"""

from __future__ import annotations

import datetime as _dt
import warnings
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from smoulder import __version__
from smoulder.exceptions import InputDataError, SettingsError
from smoulder.imaging.prl.features import FEATURES, INPUT_KINDS

MODEL_FORMAT = "smoulder-prl-model"
MODEL_FORMAT_VERSION = 1


@dataclass
class PRLModel:
    """A fitted classifier and what it needs to be applied safely.

    Attributes
    ----------
    estimator : object
        A fitted scikit-learn classifier with ``predict_proba``.
    input_kind : {"phase", "qsm"}
        The input its features were computed from; it refuses the other.
    name : str
        Written into every lesions table it classified (``classifier = model:<name>``).
    threshold : float
        Probability threshold for ``prl = yes``.
    features : list of str
        Feature columns, in the order the estimator expects.
    metadata : dict
        Versions, creation time, training counts, cross-validated AUC, demo flag.
    """

    estimator: Any
    input_kind: str
    name: str = "model"
    threshold: float = 0.5
    features: list[str] = field(default_factory=lambda: list(FEATURES))
    metadata: dict[str, Any] = field(default_factory=dict)

    def predict_score(self, table: pd.DataFrame) -> np.ndarray:
        """Probability of PRL for each row of a lesions table (missing features imputed by the pipeline)."""
        missing = [f for f in self.features if f not in table.columns]
        if missing:
            raise InputDataError(
                "lesions table lacks model features",
                column=missing[0],
                expected=f"columns {self.features}",
            )
        x = table[self.features].to_numpy(dtype=float)
        return self.estimator.predict_proba(x)[:, 1]  # type: ignore[no-any-return]

    def to_payload(self) -> dict[str, Any]:
        """The dict that a model file holds."""
        return {
            "format": MODEL_FORMAT,
            "format_version": MODEL_FORMAT_VERSION,
            "estimator": self.estimator,
            "input_kind": self.input_kind,
            "name": self.name,
            "threshold": self.threshold,
            "features": self.features,
            "metadata": self.metadata,
        }

    @classmethod
    def from_payload(cls, obj: Any, source: str = "<model>") -> PRLModel:
        """Check a model file's content (format, version, features) and build the model.

        Raises
        ------
        InputDataError
            Naming ``source`` when the payload is not a smoulder PRL model, has another format
            version, or uses features this smoulder does not compute.
        """
        if not isinstance(obj, dict) or obj.get("format") != MODEL_FORMAT:
            raise InputDataError(
                "not a smoulder PRL model file", file=source, expected=f"format {MODEL_FORMAT!r}"
            )
        if obj.get("format_version") != MODEL_FORMAT_VERSION:
            raise InputDataError(
                "unsupported model format version",
                file=source,
                value=obj.get("format_version"),
                expected=f"version {MODEL_FORMAT_VERSION} (retrain with this smoulder)",
            )
        unknown = [f for f in obj["features"] if f not in FEATURES]
        if unknown:
            raise InputDataError(
                "model uses features this smoulder does not compute",
                file=source,
                value=unknown,
                expected=f"features among {FEATURES}",
            )
        meta = obj.get("metadata", {})
        if meta.get("sklearn_version") not in (None, _sklearn_version()):
            warnings.warn(
                f"{source}: model was saved with scikit-learn {meta.get('sklearn_version')}, running "
                f"{_sklearn_version()}; predictions may differ",
                stacklevel=2,
            )
        return cls(
            estimator=obj["estimator"],
            input_kind=obj["input_kind"],
            name=obj.get("name", "model"),
            threshold=float(obj.get("threshold", 0.5)),
            features=list(obj["features"]),
            metadata=meta,
        )


def make_estimator(seed: int = 0) -> Any:
    """The classifier: median imputation + random forest (500 trees, balanced class weights)."""
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.impute import SimpleImputer
    from sklearn.pipeline import make_pipeline

    return make_pipeline(
        SimpleImputer(strategy="median"),
        RandomForestClassifier(
            n_estimators=500,
            min_samples_leaf=2,
            class_weight="balanced",
            random_state=seed,
            n_jobs=1,
        ),
    )


def train_model(
    table: pd.DataFrame,
    y: np.ndarray,
    *,
    name: str = "model",
    threshold: float = 0.5,
    seed: int = 0,
    demo: bool = False,
    groups: np.ndarray | None = None,
) -> PRLModel:
    """Fit the classifier on a lesions table with ratings ``y`` (bool).

    Parameters
    ----------
    table : pandas.DataFrame
        Lesions tables from :func:`~smoulder.imaging.prl.detect_prl` (all from one input kind),
        with every column of :data:`~smoulder.imaging.prl.FEATURES` and ``input``.
    y : numpy.ndarray of bool
        The rating of each row (PRL or not); both classes must occur.
    name : str
        Model name.
    threshold : float
        Probability threshold in [0, 1].
    seed : int
        Random state of the forest.
    demo : bool
        Mark the model as a demo (e.g. trained on phantoms).
    groups : numpy.ndarray, optional
        Subject of each row: with three or more, a grouped cross-validated AUC is stored in the
        metadata (5 folds, or fewer with fewer groups).

    Returns
    -------
    PRLModel
    """
    if not (0 <= threshold <= 1):
        raise SettingsError(f"threshold must be in [0, 1], got {threshold!r}")
    y = np.asarray(y, dtype=bool)
    if y.all() or (~y).all():
        raise InputDataError(
            "ratings contain only one class",
            column="rating",
            expected="both PRL and non-PRL lesions",
        )
    kinds = set(table["input"].unique()) if "input" in table.columns else set()
    if len(kinds) != 1 or next(iter(kinds)) not in INPUT_KINDS:
        raise InputDataError(
            "lesions tables must come from one input kind",
            column="input",
            value=sorted(kinds),
            expected="all 'phase' or all 'qsm'",
        )
    x = table[FEATURES].to_numpy(dtype=float)
    est = make_estimator(seed).fit(x, y)
    meta: dict[str, Any] = {
        "smoulder_version": __version__,
        "sklearn_version": _sklearn_version(),
        "created": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
        "n_lesions": int(len(y)),
        "n_prl": int(y.sum()),
        "demo": bool(demo),
        "seed": seed,
        "note": (
            "DEMO model trained on synthetic phantoms; not for clinical or research decisions"
            if demo
            else "trained by the user on their own rated lesions; not clinically validated by smoulder"
        ),
    }
    if groups is not None and len(np.unique(groups)) >= 3:
        from sklearn.metrics import roc_auc_score
        from sklearn.model_selection import GroupKFold, cross_val_predict

        k = min(5, len(np.unique(groups)))
        p = cross_val_predict(
            make_estimator(seed), x, y, groups=groups, cv=GroupKFold(k), method="predict_proba"
        )
        meta["cv_auc"] = float(roc_auc_score(y, p[:, 1]))
    return PRLModel(
        estimator=est,
        input_kind=next(iter(kinds)),
        name=name,
        threshold=threshold,
        features=list(FEATURES),
        metadata=meta,
    )


def _sklearn_version() -> str:
    import sklearn

    return str(sklearn.__version__)


__all__ = [
    "PRLModel",
    "train_model",
    "make_estimator",
    "MODEL_FORMAT",
    "MODEL_FORMAT_VERSION",
]
