"""Alignment onto the FLAIR grid: resampling through affines and rigid registration with antspyx."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage

from smoulder.exceptions import InputDataError
from smoulder.imaging.registration import resample_to, rigid_register
from smoulder.schema.images import Volume
from smoulder.synth.mri import simulate_mri_phantom


@pytest.fixture(scope="module")
def flair():
    ph = simulate_mri_phantom(
        seed=1, voxel_size=2.0, n_lesions=4, box_mm=((-60, 60), (-70, 40), (0, 50))
    )
    return Volume(np.asarray(ph.flair.dataobj), ph.flair.affine, "flair.nii.gz")


def test_resample_identity_and_half_resolution(flair):
    same = resample_to(flair, flair)
    assert np.allclose(same.data, flair.data, atol=1e-5)
    # every second voxel with a doubled voxel size: resampling back agrees at the shared voxels
    aff = flair.affine.copy()
    aff[:3, :3] *= 2
    coarse = Volume(flair.data[::2, ::2, ::2].copy(), aff, "coarse.nii.gz")
    back = resample_to(flair, coarse, order=0)
    assert np.allclose(back.data[::2, ::2, ::2][:-1, :-1, :-1], coarse.data[:-1, :-1, :-1])


def test_far_apart_images_cannot_belong_together(flair):
    aff = flair.affine.copy()
    aff[:3, 3] += 1000
    with pytest.raises(InputDataError, match="cannot be images of one head"):
        resample_to(flair, Volume(flair.data, aff, "elsewhere.nii.gz"))


def test_rigid_registration_undoes_a_shift(flair):
    # the same image moved by 3 voxels (6 mm) along x and 2 along y, with the original affine
    moved = Volume(ndimage.shift(flair.data, (3, 2, 0), order=1), flair.affine, "moved.nii.gz")
    inner = (slice(5, -5), slice(5, -5), slice(2, -2))  # away from the edge the shift emptied

    def corr(a):
        return np.corrcoef(a[inner].ravel(), flair.data[inner].ravel())[0, 1]

    aligned, mat = rigid_register(flair, moved)
    assert aligned.shape == flair.shape
    assert corr(moved.data) < 0.5 and corr(aligned.data) > 0.95
    # the transform found is the shift: 6 and 4 mm (ITK LPS signs), no rotation
    assert mat[:3, 3] == pytest.approx([-6.0, -4.0, 0.0], abs=0.3)
    assert np.allclose(mat[:3, :3], np.eye(3), atol=0.01)


def test_rigid_registration_is_reproducible(flair):
    moved = Volume(ndimage.shift(flair.data, (1.5, 1, 0), order=1), flair.affine, "moved.nii.gz")
    runs = [rigid_register(flair, moved)[1] for _ in range(2)]
    assert all(np.array_equal(runs[0], r) for r in runs[1:])
