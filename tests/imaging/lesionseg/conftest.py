"""A constructed brain for the lesion-segmentation tests: boxes of tissue, exact priors.

Geometry on a 1 mm grid (voxel indices, x, y, z), all derivable by hand:

- brain: the box 4 <= x, y < 44, 4 <= z < 36;
- cortex (grey matter): the brain's outer 3 voxels;
- lateral ventricle (CSF): 20 <= x < 28, 16 <= y < 32, 14 <= z < 24;
- white matter: the rest of the brain;
- infratentorial region: brain voxels with z < 12.

FLAIR: white matter 100, cortex 125, CSF 30, outside 0, Gaussian noise SD 2 (seeded).
"""

from __future__ import annotations

import numpy as np
import pytest

from smoulder.imaging.lesionseg import LesionSegSettings, Priors
from smoulder.schema.images import Volume

SHAPE = (48, 48, 40)
WM, GM, CSF = 100.0, 125.0, 30.0


def geometry(shape: tuple[int, int, int] = SHAPE, slice_factor: int = 1) -> dict[str, np.ndarray]:
    """Tissue masks of the constructed brain; ``slice_factor`` > 1 keeps every n-th z slice block."""
    x, y, z = np.indices(shape)
    brain = (x >= 4) & (x < 44) & (y >= 4) & (y < 44) & (z >= 4) & (z < 36)
    inner = (x >= 7) & (x < 41) & (y >= 7) & (y < 41) & (z >= 7) & (z < 33)
    vent = (x >= 20) & (x < 28) & (y >= 16) & (y < 32) & (z >= 14) & (z < 24)
    gm = brain & ~inner
    csf = vent
    wm = brain & inner & ~vent
    infra = brain & (z < 12)
    return {"brain": brain, "gm": gm, "csf": csf, "wm": wm, "infra": infra, "vent": vent}


def flair_image(
    g: dict[str, np.ndarray],
    lesions: dict[tuple[int, int, int], float] | None = None,
    *,
    seed: int = 0,
) -> np.ndarray:
    rng = np.random.default_rng(seed)
    f = np.zeros(g["brain"].shape, np.float32)
    f[g["wm"]] = WM
    f[g["gm"]] = GM
    f[g["csf"]] = CSF
    f += rng.normal(0, 2.0, f.shape).astype(np.float32) * g["brain"]
    f[~g["brain"]] = 0
    for (i, j, k), v in (lesions or {}).items():
        f[i, j, k] = v
    return f


def t1_of(g: dict[str, np.ndarray]) -> np.ndarray:
    """A T1 of the geometry: white matter 100, grey matter 70, CSF 30 (lesions left at 100)."""
    t = np.zeros(g["brain"].shape, np.float32)
    t[g["wm"]] = 100.0
    t[g["gm"]] = 70.0
    t[g["csf"]] = 30.0
    return t


def priors_of(g: dict[str, np.ndarray]) -> Priors:
    return Priors(
        wm=g["wm"].astype(np.float32),
        gm=g["gm"].astype(np.float32),
        csf=g["csf"].astype(np.float32),
        brain=g["brain"].astype(np.float32),
        ventricles=g["vent"].astype(np.float32),
        cortex=g["gm"].astype(np.float32),
        infratentorial=g["infra"].astype(np.float32),
        notes=["priors given (constructed geometry)"],
    )


@pytest.fixture
def box_brain() -> dict[str, np.ndarray]:
    return geometry()


@pytest.fixture
def fast_settings() -> LesionSegSettings:
    """No N4 (the constructed image has no bias): the tests check the detection."""
    return LesionSegSettings(n4=False)


def image(
    data: np.ndarray,
    zooms: tuple[float, float, float] = (1.0, 1.0, 1.0),
    source: str = "flair.nii.gz",
) -> Volume:
    return Volume(data=data, affine=np.diag([*zooms, 1.0]), source=source)
