"""The trainable PRL classifier: a random forest on the spatial rim features, saved as a versioned file.

Users train it on their own rated lesions (``smoulder prl train``); no
clinically validated model ships with smoulder. The model file (joblib) holds
a dict: ``format`` ("smoulder-prl-model"), ``format_version``, the estimator,
the feature names, the input kind (phase or QSM), the probability threshold
and metadata (smoulder and scikit-learn versions, creation time, training
counts, cross-validated AUC, whether it is a demo).
"""

from __future__ import annotations

import datetime as _dt
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from smoulder import __version__
from smoulder.exceptions import InputDataError, SettingsError
from smoulder.imaging.prl import FEATURES, INPUT_KINDS

MODEL_FORMAT = "smoulder-prl-model"
MODEL_FORMAT_VERSION = 1
_YES = {"1", "yes", "y", "true", "t", "prl"}
_NO = {"0", "no", "n", "false", "f", "non-prl", "not prl"}


@dataclass
class PRLModel:
    """A fitted classifier and what it needs to be applied safely."""

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
        return self.estimator.predict_proba(x)[:, 1]

    def save(self, path: str | Path) -> None:
        """Write the model file (joblib)."""
        import joblib

        Path(path).parent.mkdir(parents=True, exist_ok=True)
        joblib.dump(
            {
                "format": MODEL_FORMAT,
                "format_version": MODEL_FORMAT_VERSION,
                "estimator": self.estimator,
                "input_kind": self.input_kind,
                "name": self.name,
                "threshold": self.threshold,
                "features": self.features,
                "metadata": self.metadata,
            },
            path,
            compress=3,
        )

    @classmethod
    def load(cls, path: str | Path) -> PRLModel:
        """Read a model file and check its format, version and features.

        Only load model files you trust: joblib files can run code when loaded.
        """
        import joblib

        p = str(path)
        if not Path(p).exists():
            raise InputDataError(
                "model file not found", file=p, expected="a file from 'smoulder prl train'"
            )
        try:
            obj = joblib.load(p)
        except Exception as exc:
            raise InputDataError(
                f"cannot read model file ({exc.__class__.__name__})",
                file=p,
                expected="a file written by 'smoulder prl train'",
            ) from None
        if not isinstance(obj, dict) or obj.get("format") != MODEL_FORMAT:
            raise InputDataError(
                "not a smoulder PRL model file", file=p, expected=f"format {MODEL_FORMAT!r}"
            )
        if obj.get("format_version") != MODEL_FORMAT_VERSION:
            raise InputDataError(
                "unsupported model format version",
                file=p,
                value=obj.get("format_version"),
                expected=f"version {MODEL_FORMAT_VERSION} (retrain with this smoulder)",
            )
        unknown = [f for f in obj["features"] if f not in FEATURES]
        if unknown:
            raise InputDataError(
                "model uses features this smoulder does not compute",
                file=p,
                value=unknown,
                expected=f"features among {FEATURES}",
            )
        meta = obj.get("metadata", {})
        import sklearn

        if meta.get("sklearn_version") not in (None, sklearn.__version__):
            warnings.warn(
                f"{p}: model was saved with scikit-learn {meta.get('sklearn_version')}, running "
                f"{sklearn.__version__}; predictions may differ",
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

    With ``groups`` (e.g. subject ids), a grouped cross-validated AUC is stored
    in the metadata (5 folds, or fewer with fewer groups).
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

    return sklearn.__version__


def parse_ratings(values: pd.Series, source: str, column: str) -> np.ndarray:
    """Ratings as bool; yes/no, 1/0, true/false (any case). Errors name the first bad row."""
    text = values.astype(str).str.strip().str.lower()
    yes = text.isin(_YES).to_numpy()
    no = text.isin(_NO).to_numpy()
    bad = ~(yes | no)
    if bad.any():
        i = int(np.argmax(bad))
        raise InputDataError(
            "unrecognised rating",
            file=source,
            row=i + 2,
            column=column,
            value=values.iloc[i],
            expected="yes/no, 1/0 or true/false",
        )
    return yes


def read_rated_tables(
    paths: list[Path], *, rating_col: str = "rating"
) -> tuple[pd.DataFrame, np.ndarray]:
    """Read lesions tables (TSV/CSV) with a rating column; check features; concatenate."""
    frames, ys = [], []
    for i, p in enumerate(paths):
        sp = str(p)
        if not Path(sp).exists():
            raise InputDataError("file not found", file=sp, expected="a lesions table with ratings")
        sep = "," if sp.endswith(".csv") else "\t"
        df = pd.read_csv(sp, sep=sep, na_values=["n/a"])
        missing = [c for c in [*FEATURES, rating_col, "input"] if c not in df.columns]
        if missing:
            raise InputDataError(
                "column missing",
                file=sp,
                column=missing[0],
                expected="a lesions.tsv from 'smoulder prl' plus a rating column",
            )
        for f in FEATURES:
            col = pd.to_numeric(df[f], errors="coerce")
            bad = col.isna() & df[f].notna()
            if bad.any():
                r = int(np.argmax(bad.to_numpy()))
                raise InputDataError(
                    "not a number",
                    file=sp,
                    row=r + 2,
                    column=f,
                    value=df[f].iloc[r],
                    expected="a number or n/a",
                )
            df[f] = col
        ys.append(parse_ratings(df[rating_col], sp, rating_col))
        df["_table"] = i
        frames.append(df)
    return pd.concat(frames, ignore_index=True), np.concatenate(ys)


__all__ = [
    "PRLModel",
    "train_model",
    "read_rated_tables",
    "parse_ratings",
    "make_estimator",
    "MODEL_FORMAT",
    "MODEL_FORMAT_VERSION",
]
