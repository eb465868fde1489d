"""The BIDS App: a tiny BIDS dataset built from phantoms, participant and group levels."""

from __future__ import annotations

import json

import nibabel as nib
import numpy as np
import pandas as pd
import pytest

from smoulder.cli import main
from smoulder.exceptions import InputDataError
from smoulder.io.bids import find_inputs
from smoulder.synth.mri import simulate_mri_phantom


def _desc(path, name, derivative=False):
    path.mkdir(parents=True, exist_ok=True)
    d = {"Name": name, "BIDSVersion": "1.9.0"}
    if derivative:
        d.update({"DatasetType": "derivative", "GeneratedBy": [{"Name": "test"}]})
    (path / "dataset_description.json").write_text(json.dumps(d))


@pytest.fixture(scope="module")
def bids_dataset(phantom, tmp_path_factory):
    root = tmp_path_factory.mktemp("bids")
    raw, qsm, les = root / "raw", root / "qsm", root / "lesions"
    _desc(raw, "tiny")
    _desc(qsm, "qsm", True)
    _desc(les, "lesions", True)
    # sub-01: the standard phantom, with a binary lesion mask from a "segmentation tool"
    (raw / "sub-01/anat").mkdir(parents=True)
    nib.save(phantom.flair, raw / "sub-01/anat/sub-01_FLAIR.nii.gz")
    (qsm / "sub-01/anat").mkdir(parents=True)
    nib.save(phantom.qsm, qsm / "sub-01/anat/sub-01_Chimap.nii.gz")
    (les / "sub-01/anat").mkdir(parents=True)
    binary = (np.asarray(phantom.lesions.dataobj) > 0).astype(np.uint8)
    nib.save(
        nib.Nifti1Image(binary, phantom.lesions.affine),
        les / "sub-01/anat/sub-01_label-lesion_mask.nii.gz",
    )
    # sub-02, session 1: a small second phantom without a lesion mask (fallback)
    ph2 = simulate_mri_phantom(
        seed=21,
        voxel_size=1.5,
        kinds=["prl", "rimless", "rimless"],
        box_mm=((-50, 50), (-50, 30), (10, 40)),
    )
    (raw / "sub-02/ses-1/anat").mkdir(parents=True)
    nib.save(ph2.flair, raw / "sub-02/ses-1/anat/sub-02_ses-1_FLAIR.nii.gz")
    (qsm / "sub-02/ses-1/anat").mkdir(parents=True)
    nib.save(ph2.qsm, qsm / "sub-02/ses-1/anat/sub-02_ses-1_Chimap.nii.gz")
    return root


def test_inputs_are_found(bids_dataset):
    r = bids_dataset
    found = find_inputs(r / "raw", derivatives=[r / "qsm", r / "lesions"])
    assert [(f.subject, f.session) for f in found] == [("01", None), ("02", "1")]
    assert found[0].flair.endswith("sub-01_FLAIR.nii.gz") and found[0].susceptibility.endswith(
        "sub-01_Chimap.nii.gz"
    )
    assert found[0].lesions.endswith("sub-01_label-lesion_mask.nii.gz") and found[1].lesions is None


def test_unknown_participant_and_missing_qsm_are_named(bids_dataset):
    r = bids_dataset
    with pytest.raises(InputDataError, match="sub-99"):
        find_inputs(r / "raw", participant_labels=["99"], derivatives=[r / "qsm"])
    with pytest.raises(InputDataError, match="no qsm image for sub-01"):
        find_inputs(r / "raw", participant_labels=["sub-01"])


@pytest.mark.slow
def test_participant_and_group_levels_write_bids_derivatives(bids_dataset, phantom, tmp_path):
    r = bids_dataset
    out = tmp_path / "deriv"
    assert (
        main(
            [
                "bids",
                str(r / "raw"),
                str(out),
                "participant",
                "--derivatives",
                str(r / "qsm"),
                str(r / "lesions"),
                "--quiet",
            ]
        )
        == 0
    )
    desc = json.loads((out / "dataset_description.json").read_text())
    assert desc["DatasetType"] == "derivative" and desc["GeneratedBy"][0]["Name"] == "smoulder"
    a1 = out / "sub-01/anat"
    for name in (
        "sub-01_desc-lesions_dseg.nii.gz",
        "sub-01_desc-prl_mask.nii.gz",
        "sub-01_desc-lesions_stats.tsv",
        "sub-01_desc-lesions_stats.json",
    ):
        assert (a1 / name).exists(), name
    assert (out / "sub-01_desc-prl_qc.html").exists() and (
        out / "sub-02_ses-1_desc-prl_qc.html"
    ).exists()
    a2 = out / "sub-02/ses-1/anat"
    assert (a2 / "sub-02_ses-1_desc-lesions_dseg.nii.gz").exists()
    t1 = pd.read_csv(a1 / "sub-01_desc-lesions_stats.tsv", sep="\t", keep_default_na=False)
    assert len(t1) == 8 and (t1["participant_id"] == "sub-01").all()
    assert t1["prl"].astype(str).str.lower().eq("true").sum() == 3
    # missing values are written as n/a, never as empty cells or NaN
    assert "" not in t1.to_numpy() and "nan" not in t1.astype(str).to_numpy()
    t2 = pd.read_csv(a2 / "sub-02_ses-1_desc-lesions_stats.tsv", sep="\t")
    assert (
        t2["segmentation"].str.startswith("fallback").all() and (t2["session_id"] == "ses-1").all()
    )

    assert main(["bids", str(r / "raw"), str(out), "group", "--quiet"]) == 0
    group = pd.read_csv(out / "group_desc-lesions_stats.tsv", sep="\t")
    assert len(group) == len(t1) + len(t2)
    assert list(group.columns[:2]) == ["participant_id", "session_id"]
    summary = pd.read_csv(out / "group_desc-prl_summary.tsv", sep="\t", keep_default_na=False)
    assert summary["participant_id"].tolist() == ["sub-01", "sub-02"]
    assert summary["session_id"].tolist() == ["n/a", "ses-1"]
    assert summary.loc[0, "n_prl"] == 3 and summary.loc[0, "n_lesions"] == 8
    # one writer: the group table spells booleans as the participant tables do
    raw_group = pd.read_csv(out / "group_desc-lesions_stats.tsv", sep="\t", dtype=str)
    assert set(raw_group["prl"]) == {"true", "false"}


def test_group_without_participant_results_is_an_error(tmp_path, capsys):
    assert main(["bids", str(tmp_path), str(tmp_path / "empty"), "group"]) == 2
    assert "no participant results" in capsys.readouterr().err


def test_a_rerun_does_not_read_its_own_outputs_as_lesion_masks(bids_dataset, tmp_path):
    r = bids_dataset
    out = (
        r / "qsm" / "smoulder"
    )  # an output folder inside a derivatives dataset that is also an input
    assert (
        main(
            [
                "bids",
                str(r / "raw"),
                str(out),
                "participant",
                "--participant-label",
                "01",
                "--derivatives",
                str(r / "qsm"),
                str(r / "lesions"),
                "--quiet",
            ]
        )
        == 0
    )
    again = find_inputs(
        r / "raw",
        participant_labels=["01"],
        derivatives=[r / "qsm", r / "lesions"],
        exclude_dir=out,
    )
    assert again[0].lesions.endswith("sub-01_label-lesion_mask.nii.gz")
    assert (
        main(
            [
                "bids",
                str(r / "raw"),
                str(out),
                "participant",
                "--participant-label",
                "01",
                "--derivatives",
                str(r / "qsm"),
                str(r / "lesions"),
                "--quiet",
            ]
        )
        == 0
    )
