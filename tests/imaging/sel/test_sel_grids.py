"""Visits as clinics scan them: a FLAIR on its own grid with head motion after the T1, follow-ups
with other voxel sizes and fields of view, a lesion mask drawn on the FLAIR."""

from __future__ import annotations

import nibabel as nib
import numpy as np
import pytest
from scipy import ndimage

from smoulder.imaging.sel import SELSettings, detect_sel
from smoulder.schema.images import Volume

#: SyN iterations of the wiring tests (conftest.FEW).
FAST = SELSettings(syn_iterations=(5, 2), threads=1)


def _vols(files, key):
    out = []
    for p in files[key]:
        img = nib.load(p)
        out.append(Volume(np.asarray(img.dataobj, np.float32), img.affine.copy(), str(p)))
    return out


def _years(files):
    import datetime as dt

    d = [dt.date.fromisoformat(x) for x in files["dates"]]
    return [(x - d[0]).days / 365.25 for x in d]


def _regrid(v: Volume, zooms, shift_mm, *, pad_mm=4.0):
    """``v`` resampled on a new grid (other voxel size, field of view ``pad_mm`` larger)."""
    z = np.asarray(zooms, float)
    extent = np.asarray(v.shape) * v.zooms + 2 * pad_mm
    shape = tuple(int(n) for n in np.ceil(extent / z))
    aff = np.diag([*z, 1.0])
    aff[:3, 3] = v.affine[:3, 3] - pad_mm + np.asarray(shift_mm)
    m = np.linalg.inv(v.affine) @ aff
    data = ndimage.affine_transform(v.data, m[:3, :3], m[:3, 3], output_shape=shape, order=1)
    return Volume(data.astype(np.float32), aff, v.source)


def _moved(v: Volume, shift_mm):
    """The same voxels with the header moved by ``shift_mm``: the head moved between sequences."""
    aff = v.affine.copy()
    aff[:3, 3] += np.asarray(shift_mm, float)
    return Volume(v.data, aff, v.source)


@pytest.mark.slow
def test_a_flair_on_its_own_grid_with_head_motion_is_registered_to_its_t1(small3_files):
    f = small3_files
    t1, fl = _vols(f, "t1"), _vols(f, "flair")
    lab_img = nib.load(f["lesions"])
    labels = Volume(np.asarray(lab_img.dataobj).astype(np.int32), lab_img.affine, f["lesions"])
    ref = detect_sel(t1, fl, _years(f), labels, settings=FAST)
    # visit 2's FLAIR: a field of view 2 voxels larger on every side, and the head 3 mm further
    # right (world x) than during the T1 (the voxels themselves unchanged, so only the
    # registration can add error)
    fl2 = list(fl)
    fl2[1] = _moved(_regrid(fl[1], (3.0, 3.0, 3.0), (0.0, 0.0, 0.0), pad_mm=6.0), (3.0, 0.0, 0.0))
    res = detect_sel(t1, fl2, _years(f), labels, settings=FAST)
    tx = np.asarray(res.details["flair_to_t1"][1])
    # a T1 world point x inside the head is found at x + 3 mm in the moved FLAIR (3 mm voxels:
    # within a third of a voxel, at the centre and 20 mm from it)
    centre = t1[1].affine @ np.r_[(np.asarray(t1[1].shape) - 1) / 2.0, 1.0]
    for offset in ([0, 0, 0, 0], [20, 0, 0, 0], [0, 20, 0, 0], [0, 0, 20, 0]):
        x = centre + np.asarray(offset, float)
        assert (tx @ x - x)[:3] == pytest.approx([3.0, 0.0, 0.0], abs=1.0), (offset, tx @ x - x)
    assert res.details["flair_to_t1"][0] is None and res.details["flair_to_t1"][2] is None
    # the expansion read from the registered FLAIR stays within a few %/year of the one read
    # from the FLAIR on the T1's grid
    a = ref.lesions.set_index("label")
    b = res.lesions.set_index("label")
    jac = "jacobian_expansion_pct_per_year"
    assert np.abs(a[jac] - b[jac]).max() < 3.0
    # the segmented measure (the default) reads the FLAIR itself, so a FLAIR that went through a
    # 3 mm grid (coarser partial volume) moves it more than the deformation: within 4 %/year
    seg = "segmented_expansion_pct_per_year"
    assert np.abs(a[seg] - b[seg]).max() < 4.0
    # trusting the headers instead leaves the 3 mm shift: the transform is the identity
    res_r = detect_sel(t1, fl2, _years(f), labels, settings=FAST.replace(flair_to_t1="resample"))
    assert np.allclose(res_r.details["flair_to_t1"][1], np.eye(4))


@pytest.mark.slow
def test_follow_ups_with_other_voxel_sizes_and_a_mask_drawn_on_the_flair(small3_files):
    f = small3_files
    t1, fl = _vols(f, "t1"), _vols(f, "flair")
    lab_img = nib.load(f["lesions"])
    labels = Volume(np.asarray(lab_img.dataobj).astype(np.int32), lab_img.affine, f["lesions"])
    # the baseline FLAIR on a finer grid (2 mm) without motion, the mask drawn on it
    fl0 = _regrid(fl[0], (2.0, 2.0, 2.0), (0.0, 0.0, 0.0))
    m = np.linalg.inv(labels.affine) @ fl0.affine
    lab0 = ndimage.affine_transform(
        labels.data, m[:3, :3], m[:3, 3], output_shape=fl0.shape, order=0
    )
    # follow-up 2: T1 and FLAIR both on a 2.5 mm grid with a field of view shifted by 5 mm
    t1b, flb = list(t1), [fl0, fl[1], fl[2]]
    t1b[2] = _regrid(t1[2], (2.5, 2.5, 2.5), (5.0, -5.0, 0.0))
    flb[2] = _regrid(fl[2], (2.5, 2.5, 2.5), (5.0, -5.0, 0.0))
    res = detect_sel(t1b, flb, _years(f), Volume(lab0.astype(np.int32), fl0.affine), settings=FAST)
    table = res.lesions.set_index("label")
    assert len(table) == 3
    # label 1 expands 15 %/year, 2 is stable, 3 shrinks (conftest.small3); a 3 mm phantom with
    # few SyN iterations, so only the order is asserted
    assert table.loc[1, "expansion_pct_per_year"] > 3.0
    assert table.loc[1, "expansion_pct_per_year"] > table.loc[2, "expansion_pct_per_year"] + 3.0
    assert table.loc[3, "expansion_pct_per_year"] < table.loc[2, "expansion_pct_per_year"]
    assert res.sel_mask.shape == t1[0].shape


@pytest.mark.slow
def test_smoulder_sel_runs_when_a_flair_is_on_its_own_grid(small3_files, tmp_path, capsys):
    """Regression: this stopped with "--register resample|rigid", a flag sel does not have."""
    from smoulder.cli import main

    f = small3_files
    img = nib.load(f["flair"][1])
    v = _regrid(
        Volume(np.asarray(img.dataobj, np.float32), img.affine.copy()), (2.0, 2.0, 2.0), (0, 0, 0)
    )
    p = tmp_path / "flair_2_own_grid.nii.gz"
    nib.save(nib.Nifti1Image(v.data, v.affine), p)
    out = tmp_path / "out"
    args = ["sel", "--t1", *f["t1"], "--flair", f["flair"][0], str(p), f["flair"][2]]
    args += ["--dates", *f["dates"], "--lesions", f["lesions"], "--out", str(out)]
    args += ["--threads", "1", "--quiet", "--syn-iterations", "5", "2"]
    assert main(args) == 0, capsys.readouterr().err
    assert (out / "lesions.tsv").exists() and (out / "summary.json").exists()
    import json

    details = json.loads((out / "summary.json").read_text())["Details"]
    assert details["flair_to_t1"][0] is None and details["flair_to_t1"][1] is not None
