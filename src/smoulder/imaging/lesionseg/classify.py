"""Per-candidate lesion classifier: features of each candidate and a logistic model on them.

The candidates are the lesions :func:`smoulder.imaging.lesionseg.detect.detect` finds with weaker
seeds (``candidate_z_seed``); each is kept when a logistic regression on its intensity, contrast,
shape and location features gives a probability of at least ``classifier_threshold``. The
coefficients (:mod:`smoulder.imaging.lesionseg._model`) were fitted on generator family A
phantoms only (``benchmarks/train_lesion_classifier.py``) and are stored as plain numbers in the
package: nothing is downloaded.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

from smoulder.imaging.lesionseg.detect import label_stat, shell_share

__all__ = ["FEATURES", "candidate_features", "lesion_probability"]

#: Feature names, in the order of the model's coefficients.
FEATURES = (
    "log_volume_mm3",
    "peak_z",
    "mean_z",
    "peak_zg",
    "peak_contrast",
    "mean_contrast",
    "ring_z",
    "shell_wm",
    "shell_gm",
    "log_ventricle_mm",
    "log_depth_mm",
    "infratentorial",
    "n_slices",
    "mean_pc",
    "strong_seed",
)


def candidate_features(
    lab: np.ndarray,
    n: int,
    *,
    z: np.ndarray,
    zg: np.ndarray,
    contrast: np.ndarray,
    t1_ratio: np.ndarray | None,
    pw: np.ndarray,
    pg: np.ndarray,
    pc: np.ndarray,
    brain: np.ndarray,
    ventricles: np.ndarray,
    infratentorial: np.ndarray,
    zooms: np.ndarray,
    strong: np.ndarray,
) -> np.ndarray:
    """One row of :data:`FEATURES` per label 1..n of ``lab`` (shape ``(n, len(FEATURES))``).

    Distances are in mm (capped at 30 mm before the logarithm), so thick slices are measured as
    they are; ``n_slices`` counts the acquisition slices (thickest axis) the candidate spans.
    ``ring_z`` is the candidate's mean z minus the mean z of its ring of 2 mm (a local,
    tissue-adaptive contrast). No feature uses the T1 intensity of the candidate (``t1_ratio``
    is accepted and ignored): lesions range from dark to isointense on T1, and a model that
    learned "lesions are T1-dark" from phantoms did not transfer (docs/lesions.md, round 4).
    ``strong`` (n bools): the candidate
    holds a lesion of the rule-based detection (default seeds), not only weak seeds.
    """
    zooms = np.asarray(zooms, float)
    if n == 0:
        return np.zeros((0, len(FEATURES)))
    ones = np.ones(lab.shape, np.float32)
    vox = float(np.prod(zooms))
    size = label_stat(ones, lab, n, "sum")[1:]
    vent = np.asarray(ventricles, bool)
    d_v = (
        ndimage.distance_transform_edt(~vent, sampling=zooms)
        if vent.any()
        else np.full(lab.shape, 30.0)
    )
    depth = ndimage.distance_transform_edt(np.pad(brain, 1), sampling=zooms)[1:-1, 1:-1, 1:-1]
    wm_share = shell_share(lab, n, ((pw >= 0.5) | (pc >= 0.5)) & brain, zooms, 2.0)[1:]
    gm_share = shell_share(lab, n, (pg >= 0.5) & brain, zooms, 2.0)[1:]
    axis = int(np.argmax(zooms)) if float(np.ptp(zooms)) > 1e-3 else 2
    n_sl = np.zeros(n)
    for i, sl in enumerate(ndimage.find_objects(lab), start=1):
        if sl is not None and i <= n:
            n_sl[i - 1] = sl[axis].stop - sl[axis].start
    label_mean = label_stat(z, lab, n, "mean")[1:]
    cols = [
        np.log(size * vox),
        label_stat(z, lab, n, "max")[1:],
        label_stat(z, lab, n, "mean")[1:],
        label_stat(zg, lab, n, "max")[1:],
        label_stat(contrast, lab, n, "max")[1:],
        label_stat(contrast, lab, n, "mean")[1:],
        label_mean - ring_mean(lab, n, z, zooms, 2.0)[1:],
        wm_share,
        gm_share,
        np.log1p(np.minimum(label_stat(d_v, lab, n, "min")[1:], 30.0)),
        np.log1p(np.minimum(label_stat(depth, lab, n, "max")[1:], 30.0)),
        label_stat(np.asarray(infratentorial, np.float32), lab, n, "mean")[1:],
        np.minimum(n_sl, 10.0),
        label_stat(pc, lab, n, "mean")[1:],
        np.asarray(strong, float),
    ]
    return np.stack([np.asarray(c, float) for c in cols], axis=1)


def ring_mean(
    lab: np.ndarray, n: int, values: np.ndarray, zooms: np.ndarray, shell_mm: float
) -> np.ndarray:
    """Mean of ``values`` over each label's ring of ``shell_mm`` (index 0 unused; 0 if no ring)."""
    zooms = np.asarray(zooms, float)
    rad = [int(np.ceil(shell_mm / float(z))) for z in zooms]
    g = np.ogrid[tuple(slice(-r, r + 1) for r in rad)]
    foot = sum((gi * float(z) / shell_mm) ** 2 for gi, z in zip(g, zooms, strict=True)) <= 1.0
    dil = ndimage.grey_dilation(lab, footprint=foot)
    ring = (dil > 0) & (lab == 0)
    tot = np.bincount(dil[ring], weights=np.asarray(values, float)[ring], minlength=n + 1)
    cnt = np.bincount(dil[ring], minlength=n + 1)
    return np.where(cnt > 0, tot / np.maximum(cnt, 1), 0.0)


def lesion_probability(features: np.ndarray, model: dict[str, object]) -> np.ndarray:
    """Logistic probability per row: ``1 / (1 + exp(-(b + w . (x - mean) / scale)))``."""
    x = np.asarray(features, float)
    if x.size == 0:
        return np.zeros(x.shape[0])
    mean = np.asarray(model["mean"], float)
    scale = np.asarray(model["scale"], float)
    w = np.asarray(model["coef"], float)
    b = float(model["intercept"])  # type: ignore[arg-type]
    s = b + ((x - mean) / scale) @ w
    return 1.0 / (1.0 + np.exp(-np.clip(s, -50, 50)))
