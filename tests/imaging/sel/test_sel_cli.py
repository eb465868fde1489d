"""``smoulder sel`` end to end: the CLI contract on a small phantom (fast, few iterations) and the
ground truth on the 2 mm phantom with the default registration (slow)."""

from __future__ import annotations

import json

import nibabel as nib
import numpy as np
import pandas as pd
import pytest

from smoulder.cli import main

CONTRACT = [
    "label",
    "volume_mm3",
    "centroid_x_mm",
    "centroid_y_mm",
    "centroid_z_mm",
    "expansion_pct_per_year",
    "concentricity",
    "constancy",
    "sel",
]


def test_small_run_writes_every_output_with_its_sidecar_and_methods(small_cli_run, small3):
    code, out, stdout = small_cli_run
    assert code == 0
    summary = json.loads(stdout)
    assert summary["timepoints"] == 3 and summary["lesions"] == 3
    assert summary["outputs"]["jacobian"] == [
        str(out / "jacobian_1.nii.gz"),
        str(out / "jacobian_2.nii.gz"),
    ]
    t = pd.read_csv(out / "lesions.tsv", sep="\t", na_values=["n/a"], keep_default_na=False)
    assert all(c in t.columns for c in CONTRACT) and t["label"].tolist() == [1, 2, 3]
    assert set(t["sel"]) <= {"definite", "possible", "no"}
    base = small3.t1[0]
    for name in ("jacobian_1", "jacobian_2", "expansion", "sel_mask"):
        img = nib.load(out / f"{name}.nii.gz")
        assert img.shape == base.shape and np.allclose(img.affine, base.affine)
    assert not (out / "jacobian_3.nii.gz").exists()
    side = json.loads((out / "lesions.json").read_text())
    assert side["Dates"] == small3.dates and side["Settings"]["syn_iterations"] == [5, 2]
    assert side["GeneratedBy"][0]["Name"] == "smoulder"
    # the methods paragraph states what ran: the iterations given, not the defaults
    assert "iterations 5, 2" in side["MethodsParagraph"]
    assert (
        f"of 3 lesions were definite and {summary['possible']} possible" in side["MethodsParagraph"]
    )
    s = pd.read_csv(out / "summary.tsv", sep="\t")
    assert s.loc[0, "n_lesions"] == 3 and s.loc[0, "first_date"] == small3.dates[0]
    assert s.loc[0, "n_definite"] == summary["definite"]
    html = (out / "qc.html").read_text()
    assert html.count("data:image/png;base64,") == 3 and "<h2>Methods</h2>" in html
    # centroids in baseline world mm sit on the phantom's lesion centres (within a 3 mm voxel)
    m = t.merge(small3.truth, on="label", suffixes=("", "_true"))
    for ax in "xyz":
        assert (m[f"centroid_{ax}_mm"] - m[f"center_{ax}_mm"]).abs().max() < 3.0


@pytest.fixture(scope="module")
def table(sel_cli_run, phantom3):
    code, out = sel_cli_run
    assert code == 0
    t = pd.read_csv(out / "lesions.tsv", sep="\t", na_values=["n/a"], keep_default_na=False)
    return t.merge(phantom3.truth, on="label", suffixes=("", "_true"))


@pytest.mark.slow
def test_outputs_follow_the_contract(sel_cli_run, phantom3, table):
    _, out = sel_cli_run
    assert all(c in table.columns for c in CONTRACT)
    assert table["label"].tolist() == [1, 2, 3, 4, 5, 6]
    assert set(table["sel"]) <= {"definite", "possible", "no"}
    base = phantom3.t1[0]
    for i in (1, 2):
        j = nib.load(out / f"jacobian_{i}.nii.gz")
        assert j.shape == base.shape and np.allclose(j.affine, base.affine)
    assert not (out / "jacobian_3.nii.gz").exists()
    side = json.loads((out / "lesions.json").read_text())
    assert side["Dates"] == phantom3.dates and side["Settings"]["seed_pct_per_year"] == 12.5
    html = (out / "qc.html").read_text()
    body = html.split("<body>")[1]
    # nothing is fetched from elsewhere; "http" alone can occur by chance inside base64 images,
    # "http:" cannot (':' is not in the base64 alphabet)
    assert "Lesion 1: SEL" in html and "data:image/png;base64," in html
    assert "http:" not in body and "https:" not in body
    # centroids in baseline world mm sit on the phantom's lesion centres (within a voxel)
    d = np.hypot(
        np.hypot(
            table["centroid_x_mm"] - table["center_x_mm"],
            table["centroid_y_mm"] - table["center_y_mm"],
        ),
        table["centroid_z_mm"] - table["center_z_mm"],
    )
    assert (d < 2.0).all()


@pytest.mark.slow
def test_expanding_lesions_are_definite_and_nothing_else_is(table):
    by_kind = table.set_index("label")
    assert by_kind.loc[[1, 5], "sel"].tolist() == ["definite", "definite"]
    assert by_kind.loc[[2, 3, 6], "sel"].tolist() == ["no", "no", "no"]
    # a new lesion merging into an old one grows one side only: never definite
    assert by_kind.loc[4, "sel"] != "definite"
    assert (by_kind.loc[[1, 5], "concentricity"] >= 0.9).all()
    assert (by_kind.loc[[1, 5], "constancy"] == 1.0).all()


@pytest.mark.slow
def test_measured_expansion_matches_the_injected_rate(table):
    exp = table[table["kind"] == "expanding"]
    ratio = exp["expansion_pct_per_year"] / exp["true_expansion_pct_per_year"]
    assert ratio.between(0.75, 1.25).all(), ratio.tolist()
    shrink = table[table["kind"] == "shrinking"]
    assert (
        (shrink["expansion_pct_per_year"] / shrink["true_expansion_pct_per_year"])
        .between(0.6, 1.4)
        .all()
    )
    # stable lesions: atrophy (0.5 %/year) is removed, no expansion is read into them
    assert table.loc[table["kind"] == "stable", "expansion_pct_per_year"].abs().max() < 3.0


@pytest.mark.slow
def test_sel_mask_marks_the_candidates_of_definite_lesions(sel_cli_run, phantom3_files, table):
    _, out = sel_cli_run
    mask = np.asarray(nib.load(out / "sel_mask.nii.gz").dataobj)
    lab = np.asarray(nib.load(phantom3_files["lesions"]).dataobj)
    for _, r in table.iterrows():
        inside = mask[lab == r["label"]]
        if r["sel"] == "definite":
            assert (inside == 2).sum() >= 0.5 * r["n_voxels"]
        elif r["sel"] == "no":
            assert not inside.any()
    summary = pd.read_csv(out / "summary.tsv", sep="\t")
    assert summary.loc[0, "n_definite"] == (table["sel"] == "definite").sum() == 2
    assert summary.loc[0, "definite_volume_mm3"] == pytest.approx(
        table.loc[table["sel"] == "definite", "volume_mm3"].sum()
    )


@pytest.mark.slow
def test_two_time_points_measure_expansion_but_constancy_is_not_available(
    phantom3_files, phantom3, tmp_path
):
    f = phantom3_files
    out = tmp_path / "two"
    code = main(
        [
            "sel",
            "--t1",
            f["t1"][0],
            f["t1"][2],
            "--flair",
            f["flair"][0],
            f["flair"][2],
            "--dates",
            f["dates"][0],
            f["dates"][2],
            "--lesions",
            f["lesions"],
            "--out",
            str(out),
            "--threads",
            "1",
            "--quiet",
            "--syn-iterations",
            "30",
            "15",
            "5",
        ]
    )
    assert code == 0
    assert "\tn/a\t" in (out / "lesions.tsv").read_text()
    t = pd.read_csv(out / "lesions.tsv", sep="\t", na_values=["n/a"], keep_default_na=False).merge(
        phantom3.truth, on="label"
    )
    assert t["constancy"].isna().all()
    assert (
        t["sel"] != "definite"
    ).all()  # definite needs constancy unless --definite-without-constancy
    exp = t[t["kind"] == "expanding"]
    assert (exp["sel"] == "possible").all()
    assert (
        (exp["expansion_pct_per_year"] / exp["true_expansion_pct_per_year"]).between(0.7, 1.3).all()
    )
    assert (out / "jacobian_1.nii.gz").exists() and not (out / "jacobian_2.nii.gz").exists()
