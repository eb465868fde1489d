"""Coefficients of the candidate classifier (:mod:`smoulder.imaging.lesionseg.classify`).

Fitted by ``benchmarks/train_lesion_classifier.py --seeds 0-3`` on generator family A phantoms
(FLAIR + T1) only: 187 candidates, 155 on a lesion; L2 penalty 1 on standardised features.
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
        "mean_t1_ratio",
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
        3.93638,
        18.6691,
        13.091,
        10.2009,
        0.525812,
        0.369008,
        0.827804,
        0.798568,
        0.200123,
        1.78786,
        3.25341,
        0.0608158,
        2.37433,
        0.0209734,
        0.877005,
    ],
    "scale": [
        1.17815,
        11.5577,
        7.46506,
        5.92661,
        0.251382,
        0.165857,
        0.0733308,
        0.210356,
        0.21106,
        0.86322,
        0.334391,
        0.234134,
        1.97822,
        0.0450483,
        0.328431,
    ],
    "coef": [
        1.29323,
        0.421548,
        0.341642,
        1.00204,
        1.10167,
        0.966757,
        -1.147,
        0.0978208,
        -0.185806,
        -0.0936098,
        0.0140993,
        0.0159868,
        0.777653,
        -0.373769,
        0.0199311,
    ],
    "intercept": 5.96959,
}
