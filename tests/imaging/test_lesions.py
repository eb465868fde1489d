"""Lesion labelling, splitting of confluent lesions, geometry, and the fallback segmentation."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from smoulder.imaging.lesions import fallback_segmentation, label_lesions, lesion_geometry


def arr(img):
    return np.asarray(img.dataobj)


def _ball(shape, center, r):
    g = np.indices(shape)
    return sum((g[i] - center[i]) ** 2 for i in range(3)) <= r * r


def test_binary_mask_components_are_numbered_in_memory_order():
    m = np.zeros((10, 10, 10), np.uint8)
    m[6:8, 6:8, 6:8] = 1  # second in memory order
    m[1:3, 1:3, 1:3] = 1  # first
    lab, n_split = label_lesions(m, (1, 1, 1))
    assert n_split == 0
    assert lab[1, 1, 1] == 1 and lab[6, 6, 6] == 2
    assert np.bincount(lab.ravel()).tolist() == [1000 - 16, 8, 8]


def test_two_touching_balls_are_split_and_an_ellipsoid_is_not():
    shape = (40, 30, 30)
    m = _ball(shape, (12, 15, 15), 6) | _ball(shape, (23, 15, 15), 6)  # joined by a narrow neck
    lab, n_split = label_lesions(m, (1, 1, 1))
    assert n_split == 1 and lab.max() == 2
    assert lab[12, 15, 15] != lab[23, 15, 15]
    sizes = np.bincount(lab.ravel())[1:]
    assert abs(sizes[0] - sizes[1]) <= 0.05 * sizes.sum()  # symmetric: about half each
    g = np.indices(shape)
    ell = ((g[0] - 20) / 12.0) ** 2 + ((g[1] - 15) / 6.0) ** 2 + ((g[2] - 15) / 6.0) ** 2 <= 1
    lab2, n2 = label_lesions(ell, (1, 1, 1))
    assert n2 == 0 and lab2.max() == 1


def test_split_can_be_switched_off_and_labelled_masks_are_kept():
    shape = (40, 30, 30)
    m = _ball(shape, (12, 15, 15), 6) | _ball(shape, (23, 15, 15), 6)
    assert label_lesions(m, (1, 1, 1), split=False)[0].max() == 1
    user = np.zeros((10, 10, 10), np.int32)
    user[1:3, 1:3, 1:3] = 7
    user[5:8, 5:8, 5:8] = 3
    lab, _ = label_lesions(user, (1, 1, 1))
    assert np.array_equal(lab, user)


def test_geometry_by_hand():
    aff = np.diag([2.0, 2.0, 2.0, 1.0])
    aff[:3, 3] = [-10, 20, 5]
    lab = np.zeros((6, 6, 6), np.int32)
    lab[1:3, 1:3, 1:3] = 1  # 8 voxels, centre index 1.5
    lab[4, 4, 4] = 2
    g = lesion_geometry(lab, aff)
    assert g["n_voxels"].tolist() == [8, 1]
    assert g["volume_mm3"].tolist() == pytest.approx([64.0, 8.0])
    assert g.loc[0, ["centroid_x_mm", "centroid_y_mm", "centroid_z_mm"]].tolist() == pytest.approx(
        [-7.0, 23.0, 8.0]
    )
    assert g.loc[1, ["centroid_x_mm", "centroid_y_mm", "centroid_z_mm"]].tolist() == pytest.approx(
        [-2.0, 28.0, 13.0]
    )
    assert g.loc[0, "diameter_mm"] == pytest.approx((6 * 64 / np.pi) ** (1 / 3))


def test_empty_mask_gives_empty_table():
    g = lesion_geometry(np.zeros((4, 4, 4), np.int32), np.eye(4))
    assert len(g) == 0 and "volume_mm3" in g.columns


def test_fallback_finds_the_phantom_lesions(phantom):
    truth = arr(phantom.lesions).astype(int)
    seg = fallback_segmentation(arr(phantom.flair), phantom.flair.header.get_zooms()[:3])
    found = [lab for lab in range(1, truth.max() + 1) if seg[truth == lab].mean() > 0.3]
    assert len(found) >= 7  # of 8
    # little outside the lesions: under 10 % of the segmented voxels
    assert (seg & (truth == 0)).sum() < 0.1 * seg.sum()


@settings(max_examples=40, deadline=None, derandomize=True)
@given(arrays(np.bool_, (8, 9, 7)), st.sampled_from([6, 18, 26]))
def test_labelling_keeps_every_voxel_and_numbers_labels_1_to_n(mask, connectivity):
    lab, _ = label_lesions(mask, (1.0, 1.0, 1.0), connectivity=connectivity)
    assert np.array_equal(lab > 0, mask)  # nothing dropped, nothing added
    present = np.unique(lab[lab > 0])
    assert present.tolist() == list(range(1, len(present) + 1))
    g = lesion_geometry(lab, np.eye(4))
    assert g["n_voxels"].sum() == mask.sum()
