"""MRI activity: wrong inputs get one clear error; the change classification on hand-made arrays."""

from __future__ import annotations

import numpy as np
import pytest

from smoulder.cli import main
from smoulder.exceptions import InputDataError, SettingsError
from smoulder.imaging.activity import ActivitySettings
from smoulder.imaging.activity.classify import classify_changes, excess_growth_pct
from smoulder.imaging.activity.engine import _regions


def _nii(path, data, affine=None):
    import nibabel as nib

    nib.save(
        nib.Nifti1Image(np.asarray(data, np.float32), np.eye(4) if affine is None else affine),
        str(path),
    )
    return path


@pytest.fixture
def pair(tmp_path):
    rng = np.random.default_rng(3)
    a = rng.uniform(10, 20, (12, 12, 12))
    b = rng.uniform(10, 20, (12, 12, 12))
    return _nii(tmp_path / "sub-07_v1.nii.gz", a), _nii(tmp_path / "sub-07_v2.nii.gz", b)


def _cli(capsys, *args):
    code = main(["mri-activity", *map(str, args)])
    err = capsys.readouterr().err
    assert "Traceback" not in err
    return code, err


def test_four_d_image_is_refused_naming_the_file(tmp_path, pair, capsys):
    four = _nii(tmp_path / "sub-07_4d.nii.gz", np.ones((8, 8, 8, 3)))
    code, err = _cli(
        capsys,
        "--flair",
        pair[0],
        four,
        "--dates",
        "2020-01-01",
        "2021-01-01",
        "--out",
        tmp_path / "o",
    )
    assert code == 2 and "sub-07_4d.nii.gz" in err and "not 3-D" in err and "--flair" in err
    assert not (tmp_path / "o").exists()


def test_dates_out_of_order_are_refused(tmp_path, pair, capsys):
    code, err = _cli(
        capsys, "--flair", *pair, "--dates", "2021-01-01", "2020-01-01", "--out", tmp_path / "o"
    )
    assert code == 2 and "increasing" in err
    assert not (tmp_path / "o").exists()


def test_missing_file_is_named(tmp_path, pair, capsys):
    code, err = _cli(
        capsys,
        "--flair",
        pair[0],
        tmp_path / "nope.nii.gz",
        "--dates",
        "2020-01-01",
        "2021-01-01",
        "--out",
        tmp_path / "o",
    )
    assert code == 2 and "nope.nii.gz" in err and "file not found" in err


def test_wrong_counts_of_flairs_and_dates(tmp_path, pair, capsys):
    code, err = _cli(
        capsys, "--flair", pair[0], "--dates", "2020-01-01", "2021-01-01", "--out", tmp_path
    )
    assert code == 2 and "two images" in err
    code, err = _cli(capsys, "--flair", *pair, "--dates", "2020-01-01", "--out", tmp_path)
    assert code == 2 and "two ISO dates" in err


def test_lesion_mask_off_the_baseline_grid(tmp_path, pair):
    from smoulder.pipelines import mri_activity

    les = _nii(tmp_path / "les.nii.gz", np.zeros((10, 12, 12)))
    with pytest.raises(InputDataError, match="baseline FLAIR's grid"):
        mri_activity.run(*pair, ["2020-01-01", "2021-01-01"], lesions=les)


def test_subject_from_bids_name_or_refused(tmp_path):
    from smoulder.pipelines import mri_activity

    assert mri_activity.subject_from_path("/d/sub-A12_ses-1_FLAIR.nii.gz") == "sub-A12"
    a = _nii(tmp_path / "v1.nii.gz", np.arange(1000).reshape(10, 10, 10))
    with pytest.raises(SettingsError, match="--subject"):
        mri_activity.run(a, a, ["2020-01-01", "2021-01-01"])


def test_settings_errors_name_the_flag(tmp_path, pair, capsys):
    code, err = _cli(
        capsys,
        "--flair",
        *pair,
        "--dates",
        "2020-01-01",
        "2021-01-01",
        "--seed",
        "0",
        "--out",
        tmp_path / "o",
    )
    assert code == 2 and "--seed" in err
    with pytest.raises(SettingsError, match="enlarging_pct"):
        ActivitySettings(enlarging_pct=-5)


def _ball(shape, centre, r):
    g = np.indices(shape).astype(float)
    return ((g - np.array(centre, float)[:, None, None, None]) ** 2).sum(0) <= r * r


def test_growth_from_excess_signal_matches_the_volume_ratio():
    # a lesion of radius 4 voxels at baseline grows to radius 5: by hand (5/4)^3 - 1 = 95.3 %
    shape = (40, 40, 40)
    zooms = np.ones(3)
    lab = _ball(shape, (20, 20, 20), 4).astype(np.int32)
    v1 = lab.sum()
    v2 = _ball(shape, (20, 20, 20), 5).sum()
    expected = 100.0 * (v2 / v1 - 1.0)
    n1 = np.where(lab > 0, 1.8, 1.0).astype(np.float32)
    n2 = np.where(_ball(shape, (20, 20, 20), 5), 1.8, 1.0).astype(np.float32)
    nearest, dist, vols = _regions(lab, zooms, 2.0)
    brain = np.ones(shape, bool)
    g = excess_growth_pct(1, lab, nearest, dist, vols, n1, n2, brain, zooms, 2.0)
    assert g == pytest.approx(expected, abs=0.5)
    assert abs(expected - 95.3) < 10  # the discrete balls are close to the continuous ratio
    # unchanged lesion: no growth
    assert excess_growth_pct(1, lab, nearest, dist, vols, n1, n1, brain, zooms, 2.0) == 0.0


def test_classification_new_enlarging_and_below_threshold():
    shape = (60, 40, 40)
    zooms = np.ones(3)
    s = ActivitySettings()
    big = _ball(shape, (15, 20, 20), 5)  # baseline lesion 1, grows to radius 6.5 (+120 %)
    small = _ball(shape, (45, 20, 20), 5)  # baseline lesion 2, grows to radius 5.3 (+19 %)
    lab = (big * 1 + small * 2).astype(np.int32)
    far = _ball(shape, (30, 8, 30), 2.5)  # a new lesion 10+ voxels away from both
    grown1 = _ball(shape, (15, 20, 20), 6.5)
    grown2 = _ball(shape, (45, 20, 20), 5.3)
    n1 = np.where(lab > 0, 1.8, 1.0).astype(np.float32)
    n2 = np.where(grown1 | grown2 | far, 1.8, 1.0).astype(np.float32)
    changes = np.zeros(shape, np.int32)
    changes[grown1 & ~big] = 1
    changes[grown2 & ~small] = 2
    changes[far] = 3
    nearest, dist, vols = _regions(lab, zooms, s.edge_mm)
    z = (n2 - n1) * 50
    rows, ids = classify_changes(
        changes, lab, nearest, dist, vols, n1, n2, z, np.ones(shape, bool), zooms, s
    )
    kinds = [(r["kind"], r["baseline_label"], r["counted"]) for r in rows]
    assert kinds == [
        ("new", None, True),
        ("enlarging", 1, True),
        ("growing_below_threshold", 2, False),
    ]
    assert [r["change"] for r in rows] == [1, 2, 3]
    assert rows[0]["n_voxels"] == int(far.sum())
    assert rows[1]["growth_pct"] == pytest.approx(100 * (grown1.sum() / big.sum() - 1), abs=1)
    assert set(np.unique(ids)) == {0, 1, 2, 3} and (ids[far] == 1).all()
