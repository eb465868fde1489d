"""The 3-D edge-shell evidence (smoulder.imaging.prl.shell) on hand-built lesions at 2 mm voxels.

Expected orderings from the physics, not from running the code: a thin paramagnetic shell at a
lesion's inner edge, partial-volumed by 2 mm voxels, still lifts every patch of the edge above
the lesion's own profile; a central vein lies inside (winsorised, and it crosses the edge in two
patches only), a diffusely paramagnetic lesion has no shell above its own level, a rim over a
quarter of the edge and a vein along one side of the edge lift mainly the top patches, which
the pooling (the patches ranked between the top third and two thirds) leaves out.
"""

from __future__ import annotations

import numpy as np
import pytest

from smoulder.imaging import PRLSettings, detect_prl
from smoulder.imaging.prl.shell import _overlap, shell_evidence

VOX = 2.0
N = 36
R = 6.5  # mm, lesion radius
NOISE = 0.01  # ppm


def _coords(sub: int = 4) -> np.ndarray:
    """Sub-voxel sample positions (mm, centred on the grid): shape (3, N, N, N, sub**3)."""
    o = (np.arange(sub) + 0.5) / sub - 0.5
    c = (np.arange(N) - (N - 1) / 2.0) * VOX
    g = np.meshgrid(c, c, c, indexing="ij")
    off = np.meshgrid(o, o, o, indexing="ij")
    return np.stack([g[i][..., None] + VOX * off[i].ravel()[None, None, None, :] for i in range(3)])


def _scene(kind: str, seed: int) -> tuple[np.ndarray, np.ndarray]:
    x, y, z = _coords()
    r = np.sqrt(x * x + y * y + z * z)
    inside = r <= R
    chi = 0.01 * inside.astype(float)  # a lesion core slightly above white matter
    if kind == "shell":
        chi += 0.05 * (inside & (r > R - 0.75))
    elif kind == "partial":  # the same shell over a quarter of the azimuth around z
        az = np.arctan2(y, x)
        chi += 0.05 * (inside & (r > R - 0.75) & (np.abs(az) < np.pi / 4))
    elif kind == "diffuse":
        chi += 0.05 * inside
    elif kind == "central_vein":  # a vein (0.35 ppm, radius 0.6 mm) along z through the centre
        chi += 0.35 * (np.sqrt(x * x + y * y) < 0.6)
    elif kind == "edge_vein":  # a vein along z running through the lesion's outermost edge
        chi += 0.35 * (np.sqrt((x - R + 0.3) ** 2 + y * y) < 0.6)
    occ = inside.mean(axis=-1)
    qsm = chi.mean(axis=-1) + np.random.default_rng(seed).normal(0, NOISE, occ.shape)
    return qsm.astype(np.float32), (occ >= 0.5).astype(np.int32)


def _shell(kind: str, seed: int) -> dict:
    qsm, lab = _scene(kind, seed)
    res = detect_prl(qsm, lab, np.diag([VOX, VOX, VOX, 1.0]), input_kind="qsm")
    return res.lesions.iloc[0].to_dict()


def test_overlap_is_the_share_of_the_voxel_in_the_shell() -> None:
    # a 2 mm voxel centred on the boundary holds half of itself inside: a 0.5 mm shell is 1/4
    d = np.array([0.0, -1.0, 1.0, -0.25, 5.0])
    np.testing.assert_allclose(_overlap(d, 2.0, 0.5), [0.25, 0.25, 0.0, 0.25, 0.0])
    np.testing.assert_allclose(_overlap(d, 2.0, np.inf), [0.5, 1.0, 0.0, 0.625, 0.0])


def test_too_small_or_without_noise_gives_nan() -> None:
    L = np.zeros((5, 5, 5), bool)
    L[2, 2, 2] = True
    z = np.zeros(L.shape)
    out = shell_evidence(z, L, ~L, z, z, np.ones(3), 2.0, 0.0, ~L, 0.0)
    assert all(np.isnan(v) for v in out.values())


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_thin_shell_at_2mm_outranks_every_mimic(seed: int) -> None:
    shell = _shell("shell", seed)
    assert shell["shell_z"] > 4.0  # about 0.05 x 0.75 / 2 = 0.019 ppm per edge voxel, 2 SD
    assert shell["shell_balance"] > 0.5  # a complete rim: the lower patches as bright as the top
    for kind in ("central_vein", "diffuse"):  # nothing above the lesion's own profile
        mimic = _shell(kind, seed)
        assert mimic["shell_z"] < 2.5, kind  # noise alone, ranked: about +1
        assert mimic["rim_score"] < shell["rim_score"], kind
    # a rim over a quarter of the edge, a vein (7 x the rim's susceptibility) through one side of
    # the edge: only the few patches they cross, and those cut by their ends, reach the pooled band
    for kind in ("partial", "edge_vein"):
        mimic = _shell(kind, seed)
        assert mimic["shell_amp"] < 0.5 * shell["shell_amp"], kind
        assert mimic["shell_balance"] < 0.5, kind
        assert mimic["rim_score"] < shell["rim_score"], kind


def test_no_shell_weight_gives_the_soft_coverage_score() -> None:
    qsm, lab = _scene("partial", 0)
    aff = np.diag([VOX, VOX, VOX, 1.0])
    t0 = detect_prl(qsm, lab, aff, input_kind="qsm", settings=PRLSettings(shell_weight=0))
    row = t0.lesions.iloc[0]
    assert row["rim_score"] < 0.5  # a quarter rim is not called
    assert row["rim_score"] == pytest.approx(row["coverage_soft"] / 2)
