"""Small phantoms built once per session for the imaging tests (1 mm grid, cropped box)."""

from __future__ import annotations

import numpy as np
import pytest

from smoulder.synth.mri import simulate_mri_phantom

#: Lesion kinds of the standard test phantom; true PRLs are labels 1-3.
KINDS = ["prl", "prl", "prl", "rimless", "rimless", "diffuse", "partial_rim", "vein_adjacent"]
BOX = ((-50, 50), (-50, 30), (10, 40))


@pytest.fixture(scope="session")
def phantom():
    """Eight lesions with unambiguous rims (0.08-0.12 ppm, 1.5-2 mm, PRLs >= 5 mm radius) at 1 mm, typical noise."""
    return simulate_mri_phantom(
        seed=12,
        voxel_size=1.0,
        kinds=KINDS,
        rim_strength_ppm=(0.08, 0.12),
        rim_thickness_mm=(1.5, 2.0),
        min_prl_radius_mm=5.0,  # a rim at most 0.45 of the radius: 5 mm keeps it >= 1.5 mm
        box_mm=BOX,
    )


@pytest.fixture(scope="session")
def phantom_files(phantom, tmp_path_factory):
    """The standard phantom written as NIfTI files; a dict of paths."""
    return phantom.save(str(tmp_path_factory.mktemp("phantom")))


@pytest.fixture(scope="session")
def cohort_tables():
    """Lesions tables (QSM features) of four small phantom subjects with their true labels."""
    from smoulder.imaging.prl import detect_prl

    frames = []
    for seed in range(4):
        ph = simulate_mri_phantom(seed=100 + seed, voxel_size=1.0, n_lesions=10, box_mm=BOX)
        lab = np.asarray(ph.lesions.dataobj).astype(int)
        res = detect_prl(
            np.asarray(ph.qsm.dataobj),
            lab,
            ph.qsm.affine,
            input_kind="qsm",
            brain=np.asarray(ph.flair.dataobj) > 0,
        )
        t = res.lesions.merge(ph.truth[["label", "is_prl"]], on="label")
        t["subject"] = f"s{seed}"
        frames.append(t)
    return frames
