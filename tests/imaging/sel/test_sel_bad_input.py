"""Bad input to ``smoulder sel``: clear errors (exit code 2) and nothing written."""

from __future__ import annotations

import nibabel as nib
import numpy as np
import pytest

from smoulder.cli import main


def _run(f, out, *, t1=None, flair=None, dates=None, lesions=None):
    args = [
        "sel",
        "--t1",
        *(t1 or f["t1"]),
        "--flair",
        *(flair or f["flair"]),
        "--dates",
        *(dates or f["dates"]),
        "--lesions",
        lesions or f["lesions"],
        "--out",
        str(out),
        "--threads",
        "1",
        "--quiet",
    ]
    return main(args)


@pytest.mark.parametrize(
    "case, match",
    [
        ("one", "at least two time points"),
        ("order", "strictly increasing"),
        ("count", "3 time points \\(images\\) but 2 dates"),
        ("missing", "date of time point 2 is missing"),
        ("flair_count", "3 T1 images but 2 FLAIR"),
    ],
)
def test_time_point_errors(small3_files, tmp_path, capsys, case, match):
    f = small3_files
    kw = {
        "one": {"t1": f["t1"][:1], "flair": f["flair"][:1], "dates": f["dates"][:1]},
        "order": {"dates": [f["dates"][0], f["dates"][2], f["dates"][1]]},
        "count": {"dates": f["dates"][:2]},
        "missing": {"dates": [f["dates"][0], "n/a", f["dates"][2]]},
        "flair_count": {"flair": f["flair"][:2]},
    }[case]
    out = tmp_path / "out"
    assert _run(f, out, **kw) == 2
    err = capsys.readouterr().err
    assert "smoulder sel: error:" in err
    import re

    assert re.search(match, err), err
    assert not out.exists()


def test_mismatched_orientation_is_refused(small3_files, tmp_path, capsys):
    f = small3_files
    img = nib.load(f["t1"][1])
    # the same image stored left-right flipped (LAS): world positions unchanged, orientation differs
    flipped = nib.Nifti1Image(
        np.asarray(img.dataobj)[::-1].copy(),
        img.affine
        @ np.array([[-1, 0, 0, img.shape[0] - 1], [0, 1, 0, 0], [0, 0, 1, 0], [0, 0, 0, 1]], float),
    )
    fl = nib.Nifti1Image(np.asarray(nib.load(f["flair"][1]).dataobj)[::-1].copy(), flipped.affine)
    p1, p2 = tmp_path / "t1_las.nii.gz", tmp_path / "flair_las.nii.gz"
    nib.save(flipped, p1)
    nib.save(fl, p2)
    out = tmp_path / "out"
    assert (
        _run(
            f,
            out,
            t1=[f["t1"][0], str(p1), f["t1"][2]],
            flair=[f["flair"][0], str(p2), f["flair"][2]],
        )
        == 2
    )
    err = capsys.readouterr().err
    assert "t1_las.nii.gz" in err and "orientation LAS differs from the baseline's RAS" in err
    assert not out.exists()


def test_a_lesion_mask_on_neither_baseline_grid_names_the_flags_that_exist(
    small3_files, tmp_path, capsys
):
    f = small3_files
    img = nib.load(f["lesions"])
    p = tmp_path / "lesions_cropped.nii.gz"
    nib.save(nib.Nifti1Image(np.asarray(img.dataobj)[2:, 2:, 2:].copy(), img.affine), p)
    out = tmp_path / "out"
    assert _run(f, out, lesions=str(p)) == 2
    err = capsys.readouterr().err
    assert "lesions_cropped.nii.gz" in err and "on neither baseline grid" in err
    assert "the first --t1 or the first --flair image" in err
    # sel has no --register flag: the message must not send the user to one
    assert "--register" not in err
    assert not out.exists()


def test_an_image_that_cannot_be_registered_stops_with_its_similarity(
    small3_files, tmp_path, capsys
):
    f = small3_files
    rng = np.random.default_rng(3)
    ref = nib.load(f["flair"][1])
    data = np.asarray(ref.dataobj)
    noise = np.where(data > 0, rng.uniform(20, 80, data.shape), 0).astype(np.float32)
    p = tmp_path / "noise_flair.nii.gz"
    nib.save(nib.Nifti1Image(noise, ref.affine), p)
    out = tmp_path / "out"
    assert _run(f, out, flair=[f["flair"][0], str(p), f["flair"][2]]) == 2
    err = capsys.readouterr().err
    assert (
        "noise_flair.nii.gz" in err
        and "cannot be registered" in err
        and "below min_similarity 0.500" in err
    )
    assert not (out / "lesions.tsv").exists()


def test_empty_lesion_mask_is_refused(small3_files, tmp_path, capsys):
    f = small3_files
    ref = nib.load(f["lesions"])
    p = tmp_path / "empty.nii.gz"
    nib.save(nib.Nifti1Image(np.zeros(ref.shape, np.int16), ref.affine), p)
    assert _run(f, tmp_path / "out", lesions=str(p)) == 2
    assert "baseline lesion mask is empty" in capsys.readouterr().err


def _zero_like(path, tmp_path, name):
    ref = nib.load(path)
    p = tmp_path / name
    nib.save(nib.Nifti1Image(np.zeros(ref.shape, np.float32), ref.affine), p)
    return str(p)


@pytest.mark.parametrize("which", ["t1", "flair"])
def test_an_all_zero_time_point_is_named_before_registration(small3_files, tmp_path, capsys, which):
    f = small3_files
    zero = _zero_like(f[which][1], tmp_path, f"{which}_zero.nii.gz")
    images = {which: [f[which][0], zero, f[which][2]]}
    out = tmp_path / "out"
    assert _run(f, out, **images) == 2
    err = capsys.readouterr().err
    label = {"t1": "T1", "flair": "FLAIR"}[which]
    assert f"{which}_zero.nii.gz: {label} of time point 2 is all zero" in err, err
    assert "Traceback" not in err and not out.exists()


def test_a_constant_baseline_is_refused(small3_files, tmp_path, capsys):
    f = small3_files
    ref = nib.load(f["flair"][0])
    p = tmp_path / "flat.nii.gz"
    nib.save(nib.Nifti1Image(np.full(ref.shape, 7.0, np.float32), ref.affine), p)
    assert _run(f, tmp_path / "out", flair=[str(p), *f["flair"][1:]]) == 2
    err = capsys.readouterr().err
    assert "flat.nii.gz: FLAIR of time point 1 has the value 7 in every voxel" in err, err


def test_an_empty_brain_mask_is_named(small3_files, tmp_path, capsys):
    f = small3_files
    mask = _zero_like(f["lesions"], tmp_path, "brain_empty.nii.gz")
    args = ["--brain-mask", mask]
    code = main(
        [
            "sel",
            "--t1",
            *f["t1"],
            "--flair",
            *f["flair"],
            "--dates",
            *f["dates"],
            "--lesions",
            f["lesions"],
            "--out",
            str(tmp_path / "out"),
            *args,
        ]
    )
    assert code == 2
    assert "brain_empty.nii.gz: the brain mask is empty" in capsys.readouterr().err


def test_a_follow_up_far_from_the_baseline_is_refused(small3_files, tmp_path, capsys):
    f = small3_files
    moved = []
    for which in ("t1", "flair"):
        img = nib.load(f[which][1])
        aff = img.affine.copy()
        aff[:3, 3] += 500.0  # the header places the scan half a metre away
        p = tmp_path / f"{which}_far.nii.gz"
        nib.save(nib.Nifti1Image(np.asarray(img.dataobj), aff), p)
        moved.append(str(p))
    out = tmp_path / "out"
    code = _run(
        f,
        out,
        t1=[f["t1"][0], moved[0], f["t1"][2]],
        flair=[f["flair"][0], moved[1], f["flair"][2]],
    )
    assert code == 2
    err = capsys.readouterr().err
    assert "t1_far.nii.gz: time point 2 does not overlap the baseline in world space" in err, err
    assert "nan" not in err and not out.exists()
