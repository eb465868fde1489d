"""Coefficients of the candidate classifier (:mod:`smoulder.imaging.lesionseg.classify`).

Fitted by ``benchmarks/train_lesion_classifier.py --seeds 0-3`` on the widened generator family A
phantoms (round 6: lesions from T1-dark to T1-isointense, faint to bright, many tiny) with FLAIR +
T1 only: 243 candidates, 206 on a lesion; L2 penalty 1 on standardised features; no feature uses
the T1 intensity of the candidate.
Plain numbers, so nothing is downloaded. The classifier is opt-in (``classifier = "logistic"``):
on patient07 of Lesjak et al. (2017) it removed true small lesions (docs/lesions.md, round 4).
"""

from __future__ import annotations

MODEL_T1: dict[str, object] = {
    "features": [
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
    ],
    "mean": [
        3.33513,
        18.818,
        13.0548,
        9.14064,
        0.492957,
        0.34422,
        10.5396,
        0.810566,
        0.189296,
        1.80016,
        3.2002,
        0.0576132,
        4.03704,
        0.0174327,
        0.806584,
    ],
    "scale": [
        1.44819,
        12.9739,
        8.25803,
        6.92569,
        0.256848,
        0.168415,
        7.43546,
        0.186697,
        0.186694,
        0.873728,
        0.387954,
        0.23301,
        2.64238,
        0.0563869,
        0.394976,
    ],
    "coef": [
        -0.548782,
        0.549866,
        0.645776,
        1.35224,
        0.273796,
        0.243054,
        0.470874,
        0.273322,
        -0.274544,
        -0.188165,
        0.427806,
        0.211144,
        0.401961,
        0.906932,
        0.737093,
    ],
    "intercept": 4.74987,
}
