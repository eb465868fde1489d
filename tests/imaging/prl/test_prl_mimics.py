"""PRL mimics the consensus criteria exclude, planted one at a time in a small 1.5 mm scene.

Each scene holds one lesion (radius 7 mm) in white matter, built on a 0.5 mm grid and averaged to
1.5 mm voxels (partial volume), with B0 along z. The susceptibility is turned into QSM (plus noise)
and into phase (dipole field, 16 rad/ppm, paramagnetic-negative, plus noise). The expected call
comes from what was planted: only a rim over most of the edge is a PRL.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from smoulder.imaging.dipole import dipole_field
from smoulder.imaging.prl import PRLSettings, detect_prl

FINE = 0.5  # mm
VS = 1.5  # mm, the acquired voxels
N = 48  # voxels of 1.5 mm per axis (72 mm)
R = 7.0  # lesion radius (mm)
CHI_VEIN = 0.35  # ppm
RAD_PER_PPM = 16.0


def _fine_grid() -> np.ndarray:
    n = int(N * VS / FINE)
    return (np.indices((n, n, n)) + 0.5) * FINE - N * VS / 2


def _to_coarse(a: np.ndarray) -> np.ndarray:
    k = int(round(VS / FINE))
    n = a.shape[0] // k
    return a.reshape(n, k, n, k, n, k).mean(axis=(1, 3, 5))


def _tube(g: np.ndarray, point, direction, radius: float) -> np.ndarray:
    """Voxels of the fine grid within ``radius`` of the infinite line through ``point``."""
    d = np.asarray(direction, float)
    d /= np.linalg.norm(d)
    rel = g - np.asarray(point, float)[:, None, None, None]
    along = np.tensordot(d, rel, axes=1)
    perp2 = (rel**2).sum(axis=0) - along**2
    return perp2 <= radius**2


def _scene(kind: str) -> tuple[np.ndarray, np.ndarray]:
    """Susceptibility (ppm, relative to white matter) and the lesion mask, on the 1.5 mm grid."""
    g = _fine_grid()
    r = np.sqrt((g**2).sum(axis=0))
    lesion = r <= R
    phi = np.arctan2(g[1], g[0])
    chi = 0.01 * lesion.astype(float)  # an ordinary lesion: slightly paramagnetic
    rim = lesion & (r > R - 2.0)
    if kind == "prl":
        chi += 0.1 * rim
    elif kind == "partial_rim":
        chi += 0.1 * (rim & (np.abs(phi) <= 0.3 * np.pi))  # 30 % of the edge
    elif kind == "rim_half":
        chi += 0.1 * (rim & (np.abs(phi) <= 0.5 * np.pi))  # half of the edge: short of 2/3
    elif kind == "diffuse":
        chi += 0.1 * lesion  # as bright as a rim, throughout
    elif kind == "central_vein_b0":
        chi += CHI_VEIN * _tube(g, (0.5, -0.5, 0.0), (0, 0, 1), 0.8)
    elif kind == "central_vein_oblique":
        chi += CHI_VEIN * _tube(g, (0.0, 0.5, 0.0), (1, 0.3, 0.6), 0.8)
    elif kind == "vein_adjacent_b0":
        chi += CHI_VEIN * _tube(g, (R + 0.5, 0.0, 0.0), (0, 0, 1), 1.0)
    elif kind == "vein_adjacent_inplane":
        chi += CHI_VEIN * _tube(g, (0.0, R + 0.5, 0.0), (1, 0, 0.2), 1.0)
    elif kind != "rimless":
        raise ValueError(kind)
    return _to_coarse(chi), _to_coarse(lesion.astype(float)) >= 0.5


def _call(kind: str, input_kind: str, seed: int) -> dict:
    chi, lesion = _scene(kind)
    rng = np.random.default_rng(seed)
    aff = np.diag([VS, VS, VS, 1.0])
    if input_kind == "qsm":
        image = chi + rng.normal(0.0, 0.01, chi.shape)
    else:
        field = dipole_field(chi, (VS, VS, VS))
        image = -RAD_PER_PPM * field + rng.normal(0.0, 0.05, chi.shape)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = detect_prl(
            image.astype(np.float32),
            lesion.astype(np.int32),
            aff,
            input_kind=input_kind,
            brain=np.ones(chi.shape, bool),
        )
    return res.lesions.iloc[0].to_dict()


MIMICS = [
    "rimless",
    "partial_rim",
    "diffuse",
    "central_vein_b0",
    "central_vein_oblique",
    "vein_adjacent_b0",
    "vein_adjacent_inplane",
]


@pytest.mark.parametrize("input_kind", ["qsm", "phase"])
def test_a_complete_rim_at_1_5_mm_is_found(input_kind):
    for seed in range(3):
        row = _call("prl", input_kind, seed)
        assert bool(row["prl"]), (seed, row["coverage_by_slice"])
        assert row["rim_score"] >= 0.5


@pytest.mark.parametrize("input_kind", ["qsm", "phase"])
@pytest.mark.parametrize("kind", MIMICS)
def test_each_mimic_is_refused(kind, input_kind):
    for seed in range(3):
        row = _call(kind, input_kind, seed)
        assert not bool(row["prl"]), (kind, seed, row["coverage_by_slice"])
        assert row["rim_score"] < 0.5


@pytest.mark.parametrize("input_kind", ["qsm", "phase"])
def test_the_rim_score_ranks_the_rim_above_every_mimic(input_kind):
    # the score is continuous: the planted rim outranks every mimic of the same seed
    prl = _call("prl", input_kind, 0)["rim_score"]
    mimics = [_call(k, input_kind, 0)["rim_score"] for k in MIMICS]
    assert prl > max(mimics)
    assert 0.0 <= min(mimics) and prl <= 1.0


@pytest.mark.parametrize("input_kind", ["qsm", "phase"])
def test_a_rim_short_of_the_call_still_ranks_above_rimless_and_diffuse_lesions(input_kind):
    # a rim over half the edge is not a PRL by the consensus (two thirds), but it is closer to one
    # than a lesion without a rim or a uniformly paramagnetic one. Below the call the score is
    # half the soft share of the edge that passes: about half the sectors pass, so about 0.25
    # (one sector's level, the earlier score, gave 0.10-0.16 here)
    for seed in range(3):
        half = _call("rim_half", input_kind, seed)
        assert not bool(half["prl"]) and 0.2 < half["rim_score"] < 0.5
        for other in ("rimless", "diffuse"):
            assert half["rim_score"] > _call(other, input_kind, seed)["rim_score"], (other, seed)


def test_the_coverage_score_stays_available_and_agrees_on_clear_cases():
    chi, lesion = _scene("prl")
    image = (chi + np.random.default_rng(0).normal(0.0, 0.01, chi.shape)).astype(np.float32)
    aff = np.diag([VS, VS, VS, 1.0])
    st = PRLSettings(rule_score="coverage")
    row = detect_prl(image, lesion.astype(np.int32), aff, input_kind="qsm", settings=st)
    row = row.lesions.iloc[0]
    assert row["rim_score"] == row["coverage_sustained"] == 1.0 and bool(row["prl"])


def test_family_a_prls_draw_their_own_radius():
    from smoulder.synth.mri import simulate_mri_phantom

    ph = simulate_mri_phantom(
        seed=3,
        voxel_size=2.0,
        kinds=["prl"] * 4 + ["rimless"] * 4,
        radius_mm=(1.5, 3.0),
        prl_radius_mm=(5.0, 6.0),
        radius_distribution="log-uniform",
        box_mm=((-56, 56), (-60, 36), (4, 44)),
    )
    t = ph.truth
    assert t.loc[t["kind"] == "prl", "radius_mm"].between(5.0, 6.0).all()
    assert t.loc[t["kind"] == "rimless", "radius_mm"].between(1.5, 3.0).all()
