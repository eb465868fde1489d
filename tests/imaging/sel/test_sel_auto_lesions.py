"""``sel`` and BIDS SEL given no lesion mask: the first FLAIR is segmented and the labels used written."""

from __future__ import annotations

import json

import nibabel as nib
import numpy as np
import pandas as pd

from smoulder.imaging.lesions import FALLBACK_METHOD
from smoulder.imaging.sel import SELSettings
from smoulder.io import nifti
from smoulder.io.bids import find_longitudinal_inputs
from smoulder.pipelines import sel as sel_pipeline
from smoulder.pipelines._auto_lesions import (
    AUTO_MASK_NAME,
    MIN_EXTENT_MM,
    segment_flair,
)
from smoulder.pipelines.bids import run_sel_participant

FEW = SELSettings(syn_iterations=(5, 2), threads=1)


def _desc(path, name):
    path.mkdir(parents=True, exist_ok=True)
    (path / "dataset_description.json").write_text(
        json.dumps({"Name": name, "BIDSVersion": "1.9.0"})
    )


def test_a_partial_field_of_view_gets_the_labelled_fallback(small3_files):
    # the small SEL phantom covers 60 mm along z: less than a whole brain
    fl = nifti.load_volume(small3_files["flair"][0])
    extent = np.asarray(fl.shape) * np.asarray(fl.zooms)
    assert extent.min() < MIN_EXTENT_MM
    auto = segment_flair(fl)
    assert not auto.engine and auto.method == FALLBACK_METHOD
    assert "no lesion mask was given" in auto.message and "fallback" in auto.message
    assert auto.labels.shape == fl.shape and auto.n_lesions >= 1


def test_sel_without_a_mask_segments_the_first_flair_and_writes_the_labels(small3_files, tmp_path):
    f = small3_files
    out = tmp_path / "out"
    res = sel_pipeline.run(f["t1"], f["flair"], f["dates"], None, settings=FEW, out=out)
    written = nib.load(out / AUTO_MASK_NAME)
    first = nib.load(f["flair"][0])
    assert written.shape == first.shape and np.allclose(written.affine, first.affine)
    expected = segment_flair(nifti.load_volume(f["flair"][0])).labels
    got = np.asarray(written.dataobj)
    assert np.array_equal(got > 0, expected > 0)
    assert any("no lesion mask was given" in w for w in res.warnings)
    # every lesion the segmentation found is analysed by SEL
    assert len(res.lesions) == len(np.unique(got[got > 0]))
    side = json.loads((out / "lesions.json").read_text())
    assert any("no lesion mask was given" in w for w in side["Warnings"])


def test_bids_sel_without_a_lesion_mask_segments_and_keeps_the_mask(small3, tmp_path):
    raw = tmp_path / "raw"
    _desc(raw, "no masks")
    labels = ["base", "y1", "a2"]
    for ses, t1, fl in zip(labels, small3.t1, small3.flair, strict=True):
        d = raw / f"sub-01/ses-{ses}/anat"
        d.mkdir(parents=True)
        nib.save(t1, d / f"sub-01_ses-{ses}_T1w.nii.gz")
        nib.save(fl, d / f"sub-01_ses-{ses}_FLAIR.nii.gz")
    pd.DataFrame({"session_id": [f"ses-{s}" for s in labels], "acq_time": small3.dates}).to_csv(
        raw / "sub-01/sub-01_sessions.tsv", sep="\t", index=False
    )
    assert find_longitudinal_inputs(raw, "01").lesions is None
    out = tmp_path / "deriv"
    summary = run_sel_participant(raw, out, "01", settings=FEW)
    mask = out / "sub-01/ses-base/anat/sub-01_ses-base_desc-autolesions_dseg.nii.gz"
    assert mask.exists()
    got = np.asarray(nib.load(mask).dataobj)
    assert summary["n_lesions"] == len(np.unique(got[got > 0])) >= 1
