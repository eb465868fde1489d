"""``smoulder prl`` end to end on phantom files: the CLI contract, bad input, the fallback, empty masks."""

from __future__ import annotations

import json

import nibabel as nib
import numpy as np
import pandas as pd
import pytest

from smoulder.cli import main

CONTRACT = [
    "label",
    "n_voxels",
    "volume_mm3",
    "centroid_x_mm",
    "centroid_y_mm",
    "centroid_z_mm",
    "rim_score",
    "prl",
]


def test_prl_command_writes_the_contracted_outputs(phantom, phantom_files, tmp_path, capsys):
    out = tmp_path / "out"
    code = main(
        [
            "prl",
            "--flair",
            phantom_files["flair"],
            "--phase",
            phantom_files["phase"],
            "--phase-convention",
            "paramagnetic-negative",
            "--lesions",
            phantom_files["lesions"],
            "--out",
            str(out),
            "--json",
        ]
    )
    assert code == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["lesions"] == 8 and summary["prl"] == 3
    table = pd.read_csv(out / "lesions.tsv", sep="\t")
    assert all(c in table.columns for c in CONTRACT)
    assert table["label"].tolist() == list(range(1, 9))
    assert table["prl"].tolist() == phantom.truth["is_prl"].tolist()
    assert table["rim_score"].between(0, 1).all()
    # centroids in world mm agree with the phantom's lesion centres (ellipsoids: within a voxel)
    merged = table.merge(phantom.truth, on="label")
    for ax in "xyz":
        assert (merged[f"centroid_{ax}_mm"] - merged[f"center_{ax}_mm"]).abs().max() < 1.0
    dseg = nib.load(out / "lesions_dseg.nii.gz")
    assert np.allclose(dseg.affine, phantom.flair.affine)
    assert np.array_equal(np.asarray(dseg.dataobj), np.asarray(phantom.lesions.dataobj))
    prl_mask = np.asarray(nib.load(out / "prl_mask.nii.gz").dataobj).astype(bool)
    assert np.array_equal(prl_mask, np.isin(np.asarray(phantom.lesions.dataobj), [1, 2, 3]))
    side = json.loads((out / "lesions.json").read_text())
    assert side["Settings"]["classifier"] == "consensus" and "rim_score" in side
    methods = side["MethodsParagraph"]
    assert "3 of 8 lesions were classified as PRL" in methods
    assert (
        "at least 0.67 of the edge on each of at least 2 consecutive acquisition slices" in methods
    )
    html = (out / "qc.html").read_text()
    assert html.count("<section class='lesion'") == 8
    assert "Lesion 1: <span class='rim'>PRL</span>" in html
    assert "<h2>Methods</h2>" in html and html.count("href='#lesion-") == 8


def test_qsm_input_gives_the_same_decisions(phantom, phantom_files, tmp_path):
    out = tmp_path / "q"
    assert (
        main(
            [
                "prl",
                "--flair",
                phantom_files["flair"],
                "--qsm",
                phantom_files["qsm"],
                "--lesions",
                phantom_files["lesions"],
                "--out",
                str(out),
                "--quiet",
            ]
        )
        == 0
    )
    table = pd.read_csv(out / "lesions.tsv", sep="\t")
    assert table["prl"].tolist() == phantom.truth["is_prl"].tolist()
    assert (table["input"] == "qsm").all()


def test_empty_lesion_mask_is_a_valid_result(phantom, phantom_files, tmp_path):
    empty = tmp_path / "empty.nii.gz"
    nib.save(nib.Nifti1Image(np.zeros(phantom.flair.shape, np.uint8), phantom.flair.affine), empty)
    out = tmp_path / "e"
    assert (
        main(
            [
                "prl",
                "--flair",
                phantom_files["flair"],
                "--qsm",
                phantom_files["qsm"],
                "--lesions",
                str(empty),
                "--out",
                str(out),
                "--quiet",
            ]
        )
        == 0
    )
    table = pd.read_csv(out / "lesions.tsv", sep="\t")
    assert len(table) == 0 and "rim_score" in table.columns
    assert not np.asarray(nib.load(out / "prl_mask.nii.gz").dataobj).any()
    assert "No lesions in the mask" in (out / "qc.html").read_text()


def test_mismatched_grid_stops_with_a_clear_error(phantom, phantom_files, tmp_path, capsys):
    cut = tmp_path / "cut.nii.gz"
    q = np.asarray(phantom.qsm.dataobj)[:, :, :-2]
    nib.save(nib.Nifti1Image(q, phantom.qsm.affine), cut)
    code = main(
        [
            "prl",
            "--flair",
            phantom_files["flair"],
            "--qsm",
            str(cut),
            "--lesions",
            phantom_files["lesions"],
            "--out",
            str(tmp_path / "x"),
        ]
    )
    assert code == 2
    err = capsys.readouterr().err
    assert "cut.nii.gz" in err and "not on the FLAIR grid" in err and "--register" in err
    assert not (tmp_path / "x" / "lesions.tsv").exists()


def test_resample_brings_a_shifted_grid_back(phantom, phantom_files, tmp_path):
    # the QSM cropped by two slices on top but with its true affine: resampling through the affines
    cut = tmp_path / "cut.nii.gz"
    nib.save(nib.Nifti1Image(np.asarray(phantom.qsm.dataobj)[:, :, :-2], phantom.qsm.affine), cut)
    out = tmp_path / "r"
    assert (
        main(
            [
                "prl",
                "--flair",
                phantom_files["flair"],
                "--qsm",
                str(cut),
                "--lesions",
                phantom_files["lesions"],
                "--register",
                "resample",
                "--out",
                str(out),
                "--quiet",
            ]
        )
        == 0
    )
    table = pd.read_csv(out / "lesions.tsv", sep="\t")
    assert table["prl"].sum() == 3


def test_nan_voxels_in_phase_are_reported(phantom, phantom_files, tmp_path, capsys):
    bad = tmp_path / "nanphase.nii.gz"
    p = np.asarray(phantom.phase.dataobj).copy()
    p[5, 6, 7] = np.nan
    nib.save(nib.Nifti1Image(p, phantom.phase.affine), bad)
    assert (
        main(
            [
                "prl",
                "--flair",
                phantom_files["flair"],
                "--phase",
                str(bad),
                "--out",
                str(tmp_path / "n"),
            ]
        )
        == 2
    )
    assert "voxel (5, 6, 7)" in capsys.readouterr().err


def test_phase_in_degrees_is_refused(phantom, phantom_files, tmp_path, capsys):
    deg = tmp_path / "deg.nii.gz"
    nib.save(
        nib.Nifti1Image(np.degrees(np.asarray(phantom.phase.dataobj)), phantom.phase.affine), deg
    )
    assert (
        main(
            [
                "prl",
                "--flair",
                phantom_files["flair"],
                "--phase",
                str(deg),
                "--out",
                str(tmp_path / "d"),
            ]
        )
        == 2
    )
    assert "radians" in capsys.readouterr().err


def test_without_mask_the_fallback_is_used_and_labelled(phantom_files, tmp_path, capsys):
    out = tmp_path / "f"
    assert (
        main(
            [
                "prl",
                "--flair",
                phantom_files["flair"],
                "--qsm",
                phantom_files["qsm"],
                "--out",
                str(out),
            ]
        )
        == 0
    )
    assert "fallback" in capsys.readouterr().err
    table = pd.read_csv(out / "lesions.tsv", sep="\t")
    assert len(table) >= 6
    assert table["segmentation"].str.startswith("fallback").all()
    assert "fallback" in (out / "qc.html").read_text()


def test_missing_inputs_are_named(tmp_path, capsys):
    assert main(["prl", "--flair", "f.nii.gz", "--out", str(tmp_path)]) == 2
    assert "--phase or --qsm" in capsys.readouterr().err


@pytest.mark.slow
def test_rigid_registration_with_a_magnitude_image(phantom, phantom_files, tmp_path):
    from scipy import ndimage

    # a susceptibility acquisition whose head position differs by (4, -3, 0) mm, on a grid one
    # slice shorter; its magnitude image (here: FLAIR-like anatomy) shares its grid
    shift = (4, -3, 0)
    qsm = ndimage.shift(np.asarray(phantom.qsm.dataobj), shift, order=1)[:, :, :-1]
    mag = ndimage.shift(np.asarray(phantom.flair.dataobj), shift, order=1)[:, :, :-1]
    for name, data in (("qsm_moved", qsm), ("mag_moved", mag)):
        nib.save(
            nib.Nifti1Image(data.astype(np.float32), phantom.qsm.affine),
            tmp_path / f"{name}.nii.gz",
        )
    out = tmp_path / "rr"
    assert (
        main(
            [
                "prl",
                "--flair",
                phantom_files["flair"],
                "--qsm",
                str(tmp_path / "qsm_moved.nii.gz"),
                "--lesions",
                phantom_files["lesions"],
                "--register",
                "rigid",
                "--magnitude",
                str(tmp_path / "mag_moved.nii.gz"),
                "--out",
                str(out),
                "--quiet",
            ]
        )
        == 0
    )
    table = pd.read_csv(out / "lesions.tsv", sep="\t")
    assert table["prl"].tolist() == phantom.truth["is_prl"].tolist()
    # without registration the misaligned map would not even be accepted
    assert (
        main(
            [
                "prl",
                "--flair",
                phantom_files["flair"],
                "--qsm",
                str(tmp_path / "qsm_moved.nii.gz"),
                "--lesions",
                phantom_files["lesions"],
                "--out",
                str(tmp_path / "no"),
                "--quiet",
            ]
        )
        == 2
    )


def test_an_all_zero_flair_or_magnitude_is_refused(phantom, phantom_files, tmp_path, capsys):
    zero = tmp_path / "zero.nii.gz"
    nib.save(nib.Nifti1Image(np.zeros(phantom.flair.shape, np.float32), phantom.flair.affine), zero)
    out = tmp_path / "z"
    common = [
        "--qsm",
        phantom_files["qsm"],
        "--lesions",
        phantom_files["lesions"],
        "--out",
        str(out),
    ]
    assert main(["prl", "--flair", str(zero), *common]) == 2
    assert "zero.nii.gz: FLAIR is all zero" in capsys.readouterr().err
    # a magnitude for rigid registration that holds nothing: named before ANTs fails on it
    cut = tmp_path / "cut.nii.gz"
    q = np.asarray(phantom.qsm.dataobj)[:, :, :-1]
    nib.save(nib.Nifti1Image(q, phantom.qsm.affine), cut)
    mag = tmp_path / "mag0.nii.gz"
    nib.save(nib.Nifti1Image(np.zeros(q.shape, np.float32), phantom.qsm.affine), mag)
    args = ["prl", "--flair", phantom_files["flair"], "--qsm", str(cut), "--lesions"]
    args += [phantom_files["lesions"], "--register", "rigid", "--magnitude", str(mag)]
    assert main([*args, "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert "mag0.nii.gz: magnitude image is all zero" in err and "Traceback" not in err
    assert not (out / "lesions.tsv").exists()


def test_an_output_folder_holding_the_lesion_mask_is_refused_before_any_work(
    phantom_files, tmp_path, capsys
):
    # the mask the user gives lives where the run would write its own label image
    out = tmp_path / "out"
    out.mkdir()
    mask = out / "lesions_dseg.nii.gz"
    mask.write_bytes(open(phantom_files["lesions"], "rb").read())
    before = mask.read_bytes()
    code = main(
        [
            "prl",
            "--flair",
            phantom_files["flair"],
            "--qsm",
            phantom_files["qsm"],
            "--lesions",
            str(mask),
            "--out",
            str(out),
        ]
    )
    err = capsys.readouterr().err
    assert code == 2
    assert "--lesions" in err and "lesions_dseg.nii.gz" in err and "Traceback" not in err
    assert mask.read_bytes() == before
    assert sorted(p.name for p in out.iterdir()) == ["lesions_dseg.nii.gz"]


def test_a_failed_write_leaves_no_partial_outputs(phantom_files, tmp_path, monkeypatch, capsys):
    from smoulder.io import bids as bio

    def broken(path, text):
        raise OSError(28, "No space left on device", str(path))

    monkeypatch.setattr(bio, "write_text", broken)
    out = tmp_path / "out"
    code = main(
        [
            "prl",
            "--flair",
            phantom_files["flair"],
            "--qsm",
            phantom_files["qsm"],
            "--lesions",
            phantom_files["lesions"],
            "--out",
            str(out),
        ]
    )
    err = capsys.readouterr().err
    assert code == 2 and "No space left" in err and "qc.html" in err
    assert not out.exists() or [p.name for p in out.iterdir()] == []
