"""Bad inputs and settings: clear errors that name the file, the flag and the expected form."""

from __future__ import annotations

from pathlib import Path

import nibabel as nib
import numpy as np
import pytest

from smoulder.cli import main
from smoulder.exceptions import InputDataError, SettingsError, SmoulderError
from smoulder.imaging.lesionseg import LesionSegSettings, segment_lesions
from smoulder.pipelines import lesions as pipeline
from smoulder.schema.images import Volume


def _save(path: Path, data: np.ndarray, affine: np.ndarray | None = None) -> Path:
    nib.save(nib.Nifti1Image(data, np.eye(4) if affine is None else affine), str(path))
    return path


def _varied(shape):
    """An image with varying intensities (a constant one is refused as having no anatomy)."""
    return np.random.default_rng(0).uniform(1, 2, shape).astype(np.float32)


def test_missing_flair_names_the_file_and_flag(tmp_path):
    with pytest.raises(InputDataError) as e:
        pipeline.run(tmp_path / "nope.nii.gz")
    msg = str(e.value)
    assert "nope.nii.gz" in msg and "file not found" in msg and "--flair" in msg


def test_a_4d_series_is_refused_with_the_expected_form(tmp_path):
    p = _save(tmp_path / "f4d.nii.gz", np.ones((8, 8, 8, 3), np.float32))
    with pytest.raises(InputDataError) as e:
        pipeline.run(p)
    msg = str(e.value)
    assert "f4d.nii.gz" in msg and "not 3-D" in msg and "(8, 8, 8, 3)" in msg and "--flair" in msg


def test_nan_voxels_are_located(tmp_path):
    d = np.ones((8, 8, 8), np.float32)
    d[2, 3, 4] = np.nan
    p = _save(tmp_path / "nan.nii.gz", d)
    with pytest.raises(InputDataError) as e:
        pipeline.run(p)
    assert "(2, 3, 4)" in str(e.value) and "nan.nii.gz" in str(e.value)


def test_an_empty_image_is_refused(tmp_path):
    p = _save(tmp_path / "zero.nii.gz", np.zeros((8, 8, 8), np.float32))
    with pytest.raises(InputDataError, match="zero.nii.gz: FLAIR is all zero"):
        pipeline.run(p)


def test_a_brain_mask_on_another_grid_is_refused(tmp_path):
    flair = np.random.default_rng(0).uniform(1, 2, (10, 10, 10)).astype(np.float32)
    f = _save(tmp_path / "flair.nii.gz", flair)
    m = _save(tmp_path / "mask.nii.gz", np.ones((10, 10, 9), np.uint8))
    with pytest.raises(InputDataError) as e:
        pipeline.run(f, brain_mask=m)
    msg = str(e.value)
    assert "mask.nii.gz" in msg and "not on the FLAIR grid" in msg and "--brain-mask" in msg


def test_a_brain_mask_that_is_not_binary_names_the_voxel(tmp_path):
    f = _save(tmp_path / "flair.nii.gz", _varied((10, 10, 10)))
    d = np.zeros((10, 10, 10), np.float32)
    d[1, 2, 3] = 2.0
    m = _save(tmp_path / "mask.nii.gz", d)
    with pytest.raises(InputDataError) as e:
        pipeline.run(f, brain_mask=m)
    assert "(1, 2, 3)" in str(e.value) and "binary brain mask" in str(e.value)


def test_a_t1_of_another_head_is_refused(tmp_path):
    f = _save(tmp_path / "flair.nii.gz", _varied((10, 10, 10)))
    far = np.eye(4)
    far[:3, 3] = 500.0
    t = _save(tmp_path / "t1.nii.gz", _varied((10, 10, 10)), far)
    with pytest.raises(InputDataError) as e:
        pipeline.run(f, t1=t)
    assert "t1.nii.gz" in str(e.value) and "same head" in str(e.value)


def test_out_that_is_a_file_is_refused_before_any_work(tmp_path):
    out = tmp_path / "taken"
    out.write_text("x")
    with pytest.raises(InputDataError, match="not a directory"):
        pipeline.run(tmp_path / "missing.nii.gz", out=out)


def test_an_output_that_is_an_input_is_refused_before_any_work(tmp_path):
    # the FLAIR sits in the output folder under the name of the label image
    out = tmp_path / "out"
    out.mkdir()
    f = _save(out / "lesions_dseg.nii.gz", _varied((10, 10, 10)))
    before = f.read_bytes()
    with pytest.raises(SmoulderError, match="--flair"):
        pipeline.run(f, out=out)
    assert f.read_bytes() == before
    assert sorted(p.name for p in out.iterdir()) == ["lesions_dseg.nii.gz"]


def test_engine_errors_name_the_image():
    with pytest.raises(InputDataError, match="FLAIR is not a 3-D image"):
        segment_lesions(Volume(np.ones((4, 4)), np.eye(4)), template=object())
    bad = np.eye(4)
    bad[0, 0] = 0
    with pytest.raises(InputDataError, match="singular affine"):
        segment_lesions(Volume(np.ones((4, 4, 4)), bad, "x.nii"), template=object())


@pytest.mark.parametrize(
    ("kw", "text"),
    [
        ({"registration": "bspline"}, "registration must be one of"),
        ({"grow_fraction": 1.5}, "grow_fraction must be between 0 and 1"),
        ({"min_lesion_voxels": 0}, "min_lesion_voxels must be >= 1"),
        ({"nawm_sigma_mm": 0}, "nawm_sigma_mm must be > 0 mm"),
        ({"z_sed": 4}, "did you mean 'z_seed'"),
    ],
)
def test_settings_errors_name_the_parameter(kw, text):
    with pytest.raises(SettingsError, match=text):
        LesionSegSettings(**kw)


def test_settings_round_trip_through_toml():
    s = LesionSegSettings(z_seed=4.5, registration="affine")
    assert LesionSegSettings.from_toml(s.to_toml()) == s


def test_cli_without_required_flags_exits_2(capsys):
    assert main(["lesions"]) == 2
    assert "--flair FLAIR.nii.gz and --out DIR" in capsys.readouterr().err


def test_cli_bad_flair_exits_2_with_the_file_named(tmp_path, capsys):
    p = _save(tmp_path / "flat.nii.gz", np.ones((8, 8), np.float32))
    assert main(["lesions", "--flair", str(p), "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err
    assert "flat.nii.gz" in err and "not 3-D" in err and "--flair" in err and "Traceback" not in err
    assert not (tmp_path / "o").exists()


def test_cli_bad_setting_names_the_flag(tmp_path, capsys):
    p = _save(tmp_path / "f.nii.gz", np.ones((8, 8, 8), np.float32))
    code = main(
        ["lesions", "--flair", str(p), "--out", str(tmp_path / "o"), "--min-lesion-voxels", "0"]
    )
    assert code == 2
    assert "--min-lesion-voxels" in capsys.readouterr().err


def test_cli_bad_settings_file_names_it(tmp_path, capsys):
    p = _save(tmp_path / "f.nii.gz", np.ones((8, 8, 8), np.float32))
    cfg = tmp_path / "s.toml"
    cfg.write_text("[lesions]\nz_seed = 'high'\n")
    assert (
        main(["lesions", "--flair", str(p), "--out", str(tmp_path / "o"), "--settings", str(cfg)])
        == 2
    )
    err = capsys.readouterr().err
    assert "s.toml" in err and "z_seed" in err


def test_seed_zero_is_refused_because_ants_would_seed_from_the_clock():
    with pytest.raises(SettingsError, match="seed must be a whole number >= 1"):
        LesionSegSettings(seed=0)
    assert LesionSegSettings().seed == 1
