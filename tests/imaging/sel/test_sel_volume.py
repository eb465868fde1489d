"""The excess-signal volume measure and lesion-level seeding, on hand-built arrays."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage

from smoulder.imaging.sel import SELSettings, seeded_candidates
from smoulder.imaging.sel.volume import contrast_factors, excess_signal

SHAPE = (48, 48, 48)
R = np.sqrt(((np.indices(SHAPE) - 23.5) ** 2).sum(axis=0))
BRAIN = R < 23


def _ball(radius, contrast=1.0, background=1.0, blur=0.8, center=(0.0, 0.0, 0.0)):
    g = np.indices(SHAPE) - 23.5 - np.asarray(center, float)[:, None, None, None]
    r = np.sqrt((g**2).sum(axis=0))
    return r <= radius, ndimage.gaussian_filter(background + contrast * (r <= radius), blur)


def test_excess_signal_ratio_is_the_voxel_count_ratio_however_blurred_and_scaled():
    les0, img0 = _ball(4.0, blur=0.6)
    les1, img1 = _ball(5.0, blur=1.3)
    # a scanner gain of 1.7 at follow-up changes nothing: the shell median scales with it
    s = excess_signal([img0, 1.7 * img1], les0.astype(int), BRAIN, np.ones(3))
    expected = les1.sum() / les0.sum()  # 515 / 257 voxels, worked out from the balls
    assert s[1][1] / s[1][0] == pytest.approx(expected, rel=0.02)


def test_an_unchanged_lesion_reads_one():
    les, img = _ball(3.0)
    s = excess_signal([img, img.copy()], les.astype(int), BRAIN, np.ones(3))
    assert s[1][1] / s[1][0] == pytest.approx(1.0, abs=1e-9)


def test_a_neighbouring_lesion_is_not_counted_and_dark_voxels_are_left_out():
    a, img_a = _ball(3.0, center=(-8.0, 0, 0))
    b, img_b = _ball(3.0, center=(8.0, 0, 0))
    b_grown, img_b2 = _ball(4.5, center=(8.0, 0, 0))
    labels = a.astype(int) + 2 * b.astype(int)
    base = img_a + img_b - 1.0
    follow = img_a + img_b2 - 1.0
    # a dark "ventricle" beside lesion 1 that grows: never counted
    vent0 = (
        np.sqrt(
            ((np.indices(SHAPE) - 23.5 - np.array([-8, 6, 0])[:, None, None, None]) ** 2).sum(0)
        )
        <= 2
    )
    vent1 = ndimage.binary_dilation(vent0)
    base = np.where(vent0, 0.1, base)
    follow = np.where(vent1, 0.1, follow)
    s = excess_signal([base, follow], labels, BRAIN, np.ones(3))
    assert s[1][1] / s[1][0] == pytest.approx(1.0, abs=0.03)
    assert s[2][1] / s[2][0] == pytest.approx(b_grown.sum() / b.sum(), rel=0.03)


def test_contrast_factors_follow_a_global_change_of_lesion_contrast():
    les, img0 = _ball(6.0, contrast=1.0)
    _, img1 = _ball(6.0, contrast=0.9)
    cores: dict[int, np.ndarray] = {}
    excess_signal([img0, img1], les.astype(int), BRAIN, np.ones(3), cores=cores)
    assert contrast_factors(cores) == pytest.approx([1.0, 0.9], abs=0.01)
    assert contrast_factors({}) is None


def test_a_slowly_growing_lesion_seeds_from_its_growing_voxels_when_asked():
    labels = np.zeros((10, 10, 10), int)
    labels[2:6, 2:6, 2:6] = 1  # 64 voxels
    labels[6:9, 6:9, 6:9] = 2
    expansion = np.where(
        labels == 1, 6.0, 0.0
    )  # 6 %/year everywhere: above growth 4, below seed 12.5
    s = SELSettings()
    assert not seeded_candidates(expansion, labels, s).any()
    cand = seeded_candidates(expansion, labels, s, seed_lesions=[1])
    assert (cand == 1).sum() == 64 and not (cand == 2).any()
    # a lesion that is not growing as a whole gains nothing from being listed
    assert not seeded_candidates(expansion, labels, s, seed_lesions=[2]).any()
