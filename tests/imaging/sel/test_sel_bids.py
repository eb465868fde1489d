"""Longitudinal BIDS: sessions ordered by date, lesion mask from a derivatives folder, SEL derivatives."""

from __future__ import annotations

import json

import nibabel as nib
import pandas as pd
import pytest

from smoulder.exceptions import InputDataError
from smoulder.imaging.sel import SELSettings
from smoulder.io.bids import find_longitudinal_inputs, longitudinal_subjects
from smoulder.pipelines.bids import run_sel_participant, run_sel_participants


def _desc(path, name, derivative=False):
    path.mkdir(parents=True, exist_ok=True)
    d = {"Name": name, "BIDSVersion": "1.9.0"}
    if derivative:
        d.update({"DatasetType": "derivative", "GeneratedBy": [{"Name": "test"}]})
    (path / "dataset_description.json").write_text(json.dumps(d))


@pytest.fixture(scope="module")
def longitudinal_bids(tmp_path_factory, small3):
    root = tmp_path_factory.mktemp("bids_long")
    raw, les = root / "raw", root / "lesions"
    _desc(raw, "tiny longitudinal")
    _desc(les, "lesions", True)
    ph = small3  # 3 mm, an expanding, a stable and a shrinking lesion
    # session labels do not sort in time order: 'base' is first, then 'y1', then 'a2' (year 2)
    labels = ["base", "y1", "a2"]
    for ses, t1, fl in zip(labels, ph.t1, ph.flair, strict=True):
        d = raw / f"sub-01/ses-{ses}/anat"
        d.mkdir(parents=True)
        nib.save(t1, d / f"sub-01_ses-{ses}_T1w.nii.gz")
        nib.save(fl, d / f"sub-01_ses-{ses}_FLAIR.nii.gz")
    pd.DataFrame({"session_id": [f"ses-{s}" for s in labels], "acq_time": ph.dates}).to_csv(
        raw / "sub-01/sub-01_sessions.tsv", sep="\t", index=False
    )
    d = les / "sub-01/ses-base/anat"
    d.mkdir(parents=True)
    nib.save(ph.lesions, d / "sub-01_ses-base_label-lesion_mask.nii.gz")
    return raw, les, ph


def test_sessions_are_ordered_by_date_and_the_mask_found_in_derivatives(longitudinal_bids):
    raw, les, ph = longitudinal_bids
    li = find_longitudinal_inputs(raw, "sub-01", derivatives=[les])
    assert li.sessions == ["base", "y1", "a2"] and li.dates == ph.dates
    assert li.t1[2].endswith("sub-01_ses-a2_T1w.nii.gz")
    assert li.lesions.endswith("sub-01_ses-base_label-lesion_mask.nii.gz")


def test_participant_writes_sel_derivatives(longitudinal_bids, tmp_path):
    raw, les, ph = longitudinal_bids
    out = tmp_path / "deriv"
    summary = run_sel_participant(
        raw, out, "01", derivatives=[les], settings=SELSettings(syn_iterations=(5, 2), threads=1)
    )
    assert summary["sessions"] == ["ses-base", "ses-y1", "ses-a2"] and summary["n_lesions"] == 3
    anat = out / "sub-01/ses-base/anat"
    stats = pd.read_csv(
        anat / "sub-01_ses-base_desc-sel_stats.tsv",
        sep="\t",
        na_values=["n/a"],
        keep_default_na=False,
    )
    assert stats["participant_id"].eq("sub-01").all() and stats["session_id"].eq("ses-base").all()
    assert stats["label"].tolist() == [1, 2, 3]
    assert (
        stats.loc[0, "expansion_pct_per_year"] > 5.0 and stats.loc[2, "expansion_pct_per_year"] < 0
    )
    for name in (
        "desc-jacobiany1_map",
        "desc-jacobiana2_map",
        "desc-sel_mask",
        "desc-expansion_map",
    ):
        img = nib.load(anat / f"sub-01_ses-base_{name}.nii.gz")
        assert img.shape == ph.t1[0].shape
    side = json.loads((anat / "sub-01_ses-base_desc-sel_stats.json").read_text())
    assert side["GeneratedBy"][0]["Name"] == "smoulder" and side["Dates"] == ph.dates
    desc = json.loads((out / "dataset_description.json").read_text())
    assert desc["DatasetType"] == "derivative" and desc["GeneratedBy"][0]["Name"] == "smoulder"
    assert (out / "sub-01_desc-sel_qc.html").exists()


def test_missing_dates_and_single_sessions_are_refused(longitudinal_bids, tmp_path):
    raw, les, _ = longitudinal_bids
    with pytest.raises(InputDataError, match="at least two sessions"):
        find_longitudinal_inputs(raw, "01", sessions=["base"], derivatives=[les])
    # no lesion mask is no longer refused: SEL segments the first FLAIR (test_sel_auto_lesions)
    assert find_longitudinal_inputs(raw, "01").lesions is None
    import shutil

    copy = tmp_path / "raw"
    shutil.copytree(raw, copy)
    (copy / "sub-01/sub-01_sessions.tsv").unlink()
    with pytest.raises(InputDataError, match="no date for sub-01 ses-"):
        find_longitudinal_inputs(copy, "01", derivatives=[les])


def test_every_subject_with_two_sessions_is_longitudinal(longitudinal_bids, tmp_path):
    raw, les, _ = longitudinal_bids
    assert longitudinal_subjects(raw, [les]) == ["01"]
    single = tmp_path / "single"
    _desc(single, "one session each")
    (single / "sub-02/ses-1/anat").mkdir(parents=True)
    with pytest.raises(InputDataError, match="no subject with two or more sessions"):
        longitudinal_subjects(single)


@pytest.mark.slow
def test_all_longitudinal_participants_are_found_without_labels(longitudinal_bids, tmp_path):
    raw, les, _ = longitudinal_bids
    done = []
    res = run_sel_participants(
        raw,
        tmp_path / "d",
        derivatives=[les],
        progress=lambda i, n, name: done.append(name),
        settings=SELSettings(syn_iterations=(5, 2), threads=1),
    )
    assert [r["participant_id"] for r in res] == ["sub-01"] and done == ["sub-01"]


def test_bids_command_runs_the_sel_analysis_and_the_group_level(
    longitudinal_bids, tmp_path, capsys
):
    """`smoulder bids RAW OUT participant --analysis sel` then `group --analysis sel`, as a user runs them."""
    from smoulder.cli import main

    raw, les, _ = longitudinal_bids
    out = tmp_path / "derivatives" / "smoulder"
    rc = main(
        [
            "bids",
            str(raw),
            str(out),
            "participant",
            "--analysis",
            "sel",
            "--derivatives",
            str(les),
            "--syn-iterations",
            "5",
            "2",
            "--threads",
            "1",
            "--json",
        ]
    )
    assert rc == 0
    res = json.loads(capsys.readouterr().out)
    assert [r["participant_id"] for r in res] == ["sub-01"]
    assert main(["bids", str(raw), str(out), "group", "--analysis", "sel", "--quiet"]) == 0
    group = pd.read_csv(
        out / "group_desc-sel_stats.tsv", sep="\t", na_values=["n/a"], keep_default_na=False
    )
    assert set(group["participant_id"]) == {"sub-01"}
    assert len(group) == res[0]["n_lesions"]
    assert set(group["sel"]) <= {"definite", "possible", "no"}
    summary = pd.read_csv(out / "group_desc-selsummary_stats.tsv", sep="\t")
    assert summary["participant_id"].tolist() == ["sub-01"]
    # the PRL group step is not confused by SEL tables
    assert main(["bids", str(raw), str(out), "group", "--quiet"]) == 2
