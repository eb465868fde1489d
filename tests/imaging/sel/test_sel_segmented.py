"""The segmented-lesion volume measure (the default expansion measure), on hand-built arrays.

The expected volume ratios are worked out from geometry (a sphere's volume, 4/3 pi r^3), not from
the code: each ball is drawn with its partial-volume edge (the share of each voxel inside the
sphere, from 4^3 sub-samples), so the analytic ratio holds to well under 1 %.
"""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage

from smoulder.imaging.sel import SELSettings
from smoulder.imaging.sel.volume import lesion_ratios, segmented_volume

SHAPE = (40, 40, 40)
CENTRE = np.array([19.3, 19.6, 19.45])  # off the voxel grid, so no symmetry helps
BRAIN = np.sqrt(((np.indices(SHAPE) - 19.5) ** 2).sum(axis=0)) < 19


def _occupancy(radius: float, centre: np.ndarray = CENTRE) -> np.ndarray:
    """Share of every voxel inside a sphere (4 x 4 x 4 sub-samples per voxel)."""
    sub = (np.arange(4) + 0.5) / 4 - 0.5
    occ = np.zeros(SHAPE)
    g = np.indices(SHAPE).astype(float)
    for dx in sub:
        for dy in sub:
            for dz in sub:
                d2 = (
                    (g[0] + dx - centre[0]) ** 2
                    + (g[1] + dy - centre[1]) ** 2
                    + (g[2] + dz - centre[2]) ** 2
                )
                occ += d2 <= radius**2
    return occ / 64.0


def _scan(occ: np.ndarray, blur: float, gain: float = 1.0, noise: float = 0.0, seed: int = 0):
    """FLAIR-like: white matter 1, lesion 1.8 (contrast 0.8), a point-spread function, a gain and a
    smooth bias field, Gaussian noise."""
    img = ndimage.gaussian_filter(1.0 + 0.8 * occ, blur)
    bias = 1.0 + 0.05 * (np.indices(SHAPE)[0] - 20) / 20
    rng = np.random.default_rng(seed)
    return gain * bias * img + noise * rng.normal(size=SHAPE)


def test_a_sphere_grown_by_a_known_radius_reads_its_volume_ratio():
    # 1 mm voxels; radius 3.0 -> 3.3 mm: (3.3 / 3.0)^3 = 1.331 (volume +33.1 %)
    expected = (3.3 / 3.0) ** 3
    occ0, occ1 = _occupancy(3.0), _occupancy(3.3)
    labels = (occ0 >= 0.5).astype(int)
    # the follow-up is blurred more, brighter (gain 1.3) and both are noisy (1 % of white matter)
    v = segmented_volume(
        [_scan(occ0, 0.7, noise=0.01, seed=1), _scan(occ1, 1.0, gain=1.3, noise=0.01, seed=2)],
        labels,
        BRAIN,
        np.ones(3),
    )[1]
    assert v[1] / v[0] == pytest.approx(expected, rel=0.03)


def test_a_slow_growth_at_2_mm_reads_within_a_quarter_of_the_truth():
    # 2 mm voxels, radius 2.6 -> 2.7 voxels (5.2 -> 5.4 mm): +12 %, a slow SEL over two years
    expected = (2.7 / 2.6) ** 3
    occ0, occ1 = _occupancy(2.6), _occupancy(2.7)
    v = segmented_volume(
        [_scan(occ0, 0.6), _scan(occ1, 0.6)], (occ0 >= 0.5).astype(int), BRAIN, np.full(3, 2.0)
    )[1]
    assert (v[1] / v[0] - 1.0) == pytest.approx(expected - 1.0, rel=0.25)


def test_an_unchanged_lesion_reads_one_and_a_growing_neighbour_is_not_counted():
    left = CENTRE - np.array([7.0, 0, 0])
    right = CENTRE + np.array([7.0, 0, 0])
    a0 = _occupancy(3.0, left)
    b0, b1 = _occupancy(3.0, right), _occupancy(4.0, right)
    labels = (a0 >= 0.5).astype(int) + 2 * (b0 >= 0.5).astype(int)
    base = _scan(np.clip(a0 + b0, 0, 1), 0.8)
    follow = _scan(np.clip(a0 + b1, 0, 1), 0.8)
    v = segmented_volume([base, follow], labels, BRAIN, np.ones(3))
    assert v[1][1] / v[1][0] == pytest.approx(1.0, abs=0.02)
    assert v[2][1] / v[2][0] == pytest.approx((4.0 / 3.0) ** 3, rel=0.05)


def test_lesion_ratios_give_every_measure_and_remove_atrophy():
    occ0, occ1 = _occupancy(3.0), _occupancy(3.3)
    labels = (occ0 >= 0.5).astype(int)
    flair = [_scan(occ0, 0.8), _scan(occ1, 0.8)]
    jac = [np.ones(SHAPE)]
    out = lesion_ratios(flair, labels, BRAIN, np.ones(3), jac, [0.99], SELSettings())
    assert set(out) == {"segmented", "signal", "ring", "jacobian"}
    # the brain lost 1 %: the lesion's volume relative to the brain's is 1.331 / 0.99
    assert out["segmented"][1][0] == pytest.approx((3.3 / 3.0) ** 3 / 0.99, rel=0.03)
    assert out["jacobian"][1][0] == pytest.approx(1.0)


@pytest.mark.slow
def test_detect_sel_reports_the_segmented_expansion_by_default():
    from smoulder.imaging import Volume, detect_sel

    # a 2 mm head of smooth texture with one lesion of radius 2.5 -> 2.75 voxels (5 -> 5.5 mm) in
    # a year, drawn with its partial-volume edge and no deformation of the tissue around it:
    # (5.5 / 5)^3 = 1.331, 33.1 %/year
    g = np.indices(SHAPE) - 19.5
    head = np.sqrt((g**2).sum(axis=0)) <= 17
    tex = ndimage.gaussian_filter(np.random.default_rng(0).normal(size=SHAPE), 1.5)
    tex /= tex.std()  # white matter 100 +- 8 (texture for the registration), lesion + 80
    aff = np.diag([2.0, 2.0, 2.0, 1.0])

    def scan(radius):
        img = np.where(head, 100 + 8 * tex, 0) + 80 * _occupancy(radius)
        return Volume(ndimage.gaussian_filter(img, 0.5).astype(np.float32), aff)

    scans = [scan(2.5), scan(2.75)]
    lesion = Volume((_occupancy(2.5) >= 0.5).astype(np.int32), aff)
    fast = SELSettings(syn_iterations=(4, 2), threads=1)
    res = detect_sel(scans, scans, [0.0, 1.0], lesion, settings=fast)
    row = res.lesions.iloc[0]
    assert row["expansion_pct_per_year"] == row["segmented_expansion_pct_per_year"]
    assert row["expansion_pct_per_year"] == pytest.approx(33.1, rel=0.15)
    assert np.isfinite(row["jacobian_expansion_pct_per_year"])


def test_lesion_level_seeding_is_on_by_default_and_off_on_the_command_line():
    from smoulder.cli.sel import _pct_or_off

    assert SELSettings().lesion_seed_pct_per_year == 3.0
    assert SELSettings().expansion_measure == "segmented"
    off = SELSettings(lesion_seed_pct_per_year=_pct_or_off("off")).lesion_seed_pct_per_year
    assert off == float("inf") and not (1e6 >= off)
    assert _pct_or_off("2.5") == 2.5
