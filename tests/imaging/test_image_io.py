"""Reading and checking images: every bad input stops with a clear error naming file and voxel/shape."""

from __future__ import annotations

import nibabel as nib
import numpy as np
import pytest

from smoulder.exceptions import InputDataError
from smoulder.io import nifti
from smoulder.schema import images as iio


def _save(tmp_path, data, affine=None, name="img.nii.gz"):
    p = tmp_path / name
    nib.save(nib.Nifti1Image(np.asarray(data), np.eye(4) if affine is None else affine), p)
    return p


def test_load_volume_reads_data_and_voxel_size(tmp_path):
    aff = np.diag([2.0, 2.0, 3.0, 1.0])
    p = _save(tmp_path, np.ones((4, 5, 6), np.float32), aff)
    v = nifti.load_volume(p)
    assert v.shape == (4, 5, 6)
    assert np.allclose(v.zooms, [2, 2, 3])
    assert v.orientation == "RAS"


def test_two_dimensional_image_is_rejected(tmp_path):
    p = _save(tmp_path, np.ones((4, 5), np.float32))
    with pytest.raises(InputDataError, match=r"not 3-D.*\(4, 5\)"):
        nifti.load_volume(p)


def test_four_dimensional_series_is_rejected_but_single_volume_accepted(tmp_path):
    with pytest.raises(InputDataError, match="not 3-D"):
        nifti.load_volume(_save(tmp_path, np.ones((4, 4, 4, 3), np.float32)))
    assert nifti.load_volume(
        _save(tmp_path, np.ones((4, 4, 4, 1), np.float32), name="b.nii.gz")
    ).shape == (4, 4, 4)


def test_nan_voxel_is_named(tmp_path):
    d = np.zeros((4, 4, 4), np.float32)
    d[1, 2, 3] = np.nan
    d[3, 3, 3] = np.inf
    with pytest.raises(
        InputDataError, match=r"2 NaN/inf voxels, the first at voxel \(1, 2, 3\)"
    ) as e:
        nifti.load_volume(_save(tmp_path, d))
    assert "img.nii.gz" in str(e.value)


def test_missing_file(tmp_path):
    with pytest.raises(InputDataError, match="file not found"):
        nifti.load_volume(tmp_path / "nope.nii.gz")


def test_grid_mismatch_names_shape_and_suggests_registration():
    a = iio.Volume(np.zeros((4, 4, 4)), np.eye(4), "flair.nii.gz")
    b = iio.Volume(np.zeros((4, 4, 5)), np.eye(4), "phase.nii.gz")
    with pytest.raises(
        InputDataError, match=r"phase.nii.gz: phase is not on the FLAIR grid \(shape"
    ):
        iio.check_same_grid(a, b, "phase")
    c = iio.Volume(np.zeros((4, 4, 4)), np.diag([-1.0, 1, 1, 1]), "qsm.nii.gz")
    with pytest.raises(InputDataError, match="orientation LAS vs RAS.*--register"):
        iio.check_same_grid(a, c, "qsm")


def test_phase_in_degrees_is_rejected_and_radians_pass():
    rng = np.random.default_rng(0)
    rad = rng.uniform(-np.pi, np.pi, (10, 10, 10)).astype(np.float32)
    iio.check_phase_units(iio.Volume(rad, np.eye(4), "p.nii"))
    with pytest.raises(InputDataError, match="far outside \\+-pi"):
        iio.check_phase_units(iio.Volume(np.degrees(rad), np.eye(4), "p.nii"))


def test_qsm_in_ppb_is_rejected_unless_declared():
    rng = np.random.default_rng(0)
    ppm = rng.normal(0, 0.05, (10, 10, 10)).astype(np.float32)
    ppb = iio.Volume(ppm * 1000, np.eye(4), "q.nii")
    with pytest.raises(InputDataError, match="--qsm-units ppb"):
        iio.check_qsm_units(ppb)
    assert np.allclose(iio.check_qsm_units(ppb, "ppb"), ppm, atol=1e-6)


def test_lesion_mask_must_hold_whole_numbers():
    d = np.zeros((4, 4, 4))
    d[1, 1, 1] = 0.5
    with pytest.raises(InputDataError, match=r"voxel \(1, 1, 1\).*0.5"):
        iio.labels_from_volume(iio.Volume(d, np.eye(4), "m.nii"))
    d[1, 1, 1] = -1
    with pytest.raises(InputDataError, match="not whole non-negative"):
        iio.labels_from_volume(iio.Volume(d, np.eye(4), "m.nii"))


def test_world_overlap_of_disjoint_images_is_zero():
    a = iio.Volume(np.zeros((10, 10, 10)), np.eye(4))
    far = np.eye(4)
    far[:3, 3] = 500
    assert iio.world_overlap_fraction(a, iio.Volume(np.zeros((10, 10, 10)), far)) == 0.0
    assert iio.world_overlap_fraction(a, a) == 1.0
