"""Batch SEL with dask.distributed: manifest checks, parallel run, resume, failures reported."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from smoulder.cli import main
from smoulder.exceptions import InputDataError
from smoulder.imaging.sel import SELSettings
from smoulder.pipelines.sel_batch import DONE_FILE, read_manifest, run_batch
from smoulder.synth.sel_phantom import simulate_sel_phantom

FAST = SELSettings(syn_iterations=(5, 2), threads=1)
BOX = ((-45.0, 45.0), (-55.0, 35.0), (-6.0, 54.0))


@pytest.fixture(scope="module")
def manifest(tmp_path_factory):
    root = tmp_path_factory.mktemp("batch")
    rows = []
    for k, sub in enumerate(("01", "02")):
        ph = simulate_sel_phantom(
            seed=50 + k,
            years=(0.0, 1.5),
            voxel_size=3.0,
            box_mm=BOX,
            kinds=["expanding", "stable", "stable"],
        )
        ph.save(str(root / f"sub-{sub}"))
        for i in range(2):
            rows.append(
                {
                    "subject": sub,
                    "date": ph.dates[i],
                    "t1": f"sub-{sub}/t1_{i + 1}.nii.gz",
                    "flair": f"sub-{sub}/flair_{i + 1}.nii.gz",
                    "lesions": f"sub-{sub}/lesions.nii.gz" if i == 0 else "",
                }
            )
    # rows of one subject in reverse date order: the reader sorts them
    df = pd.DataFrame(rows).iloc[[1, 0, 2, 3]]
    path = root / "manifest.tsv"
    df.to_csv(path, sep="\t", index=False)
    return path


def test_manifest_rows_are_grouped_sorted_and_resolved(manifest):
    jobs = read_manifest(manifest)
    assert [j.subject for j in jobs] == ["01", "02"]
    assert jobs[0].t1[0].endswith("sub-01/t1_1.nii.gz") and jobs[0].t1[0].startswith("/")
    assert jobs[0].dates[0] < jobs[0].dates[1]
    assert jobs[0].lesions.endswith("sub-01/lesions.nii.gz")


@pytest.mark.slow
def test_batch_runs_every_subject_then_resumes_without_recomputing(manifest, tmp_path):
    jobs = read_manifest(manifest)
    out = tmp_path / "out"
    first = run_batch(jobs, out, FAST, n_workers=1, processes=False)
    assert first["status"].tolist() == ["computed", "computed"]
    assert (first["n_lesions"] == 3).all()
    for sub in ("01", "02"):
        assert (out / sub / "lesions.tsv").exists() and (out / sub / DONE_FILE).exists()
    stamp = (out / "01" / "lesions.tsv").stat().st_mtime_ns
    again = run_batch(jobs, out, FAST, n_workers=1, processes=False)
    assert again["status"].tolist() == ["skipped", "skipped"]
    assert again["n_definite"].tolist() == first["n_definite"].tolist()
    assert (out / "01" / "lesions.tsv").stat().st_mtime_ns == stamp
    summary = pd.read_csv(out / "batch_summary.tsv", sep="\t")
    assert summary["subject"].astype(str).str.zfill(2).tolist() == ["01", "02"]
    # other settings: the hash no longer matches, so both are computed again
    changed = SELSettings(syn_iterations=(10, 5), threads=1, min_concentricity=0.8)
    assert (
        run_batch(jobs, out, changed, n_workers=1, processes=False)["status"].tolist()
        == ["computed"] * 2
    )
    # the CLI on the finished folder skips both (no cluster needed) and reports them
    code = main(
        [
            "sel",
            "batch",
            str(manifest),
            "--out",
            str(out),
            "--syn-iterations",
            "10",
            "5",
            "--threads",
            "1",
            "--min-concentricity",
            "0.8",
            "--json",
        ]
    )
    assert code == 0


def test_a_failing_subject_is_reported_and_the_others_finish(manifest, tmp_path):
    jobs = read_manifest(manifest)
    jobs[1].t1[1] = str(tmp_path / "missing.nii.gz")
    res = run_batch(jobs, tmp_path / "out", FAST, n_workers=1, processes=False)
    assert res["status"].tolist() == ["computed", "failed"]
    assert "missing.nii.gz: file not found" in res.loc[1, "error"]
    assert not (tmp_path / "out" / "02" / DONE_FILE).exists()
    assert json.loads((tmp_path / "out" / "01" / DONE_FILE).read_text())["status"] == "computed"
    # a second run resumes: the finished subject is skipped, the failed one is tried again
    again = run_batch(jobs, tmp_path / "out", FAST, n_workers=1, processes=False)
    assert again["status"].tolist() == ["skipped", "failed"]
    assert again.loc[0, "n_lesions"] == res.loc[0, "n_lesions"] == 3


@pytest.mark.parametrize(
    "edit, match",
    [
        (lambda d: d.drop(columns=["flair"]), "column 'flair'"),
        (
            lambda d: d.assign(date=["2020-01-15", "15.01.2021", "2020-01-15", "2021-01-14"]),
            "row 3, column 'date'",
        ),
        (lambda d: d.iloc[[0, 2, 3]], "subject 01 has one time point"),
        (
            lambda d: d.assign(lesions=["x.nii.gz", "", "y.nii.gz", ""]),
            "exactly one lesion mask, on its earliest date",
        ),
        (
            lambda d: d.assign(date=["2020-01-15", "2020-01-15", "2020-01-15", "2021-01-14"]),
            "two rows with one date",
        ),
    ],
)
def test_bad_manifests_name_the_row_and_column(manifest, tmp_path, edit, match):
    d = pd.read_csv(manifest, sep="\t", dtype=str, keep_default_na=False)
    p = tmp_path / "bad.tsv"
    edit(d).to_csv(p, sep="\t", index=False)
    with pytest.raises(InputDataError, match=match):
        read_manifest(p)


def test_a_manifest_that_is_not_a_text_table_is_named(tmp_path):
    binary = tmp_path / "export.tsv"
    binary.write_bytes(bytes(range(256)) * 4)
    with pytest.raises(InputDataError, match=r"export.tsv: not a text table"):
        read_manifest(binary)
    with pytest.raises(InputDataError, match=r"is a directory; expected a TSV or CSV manifest"):
        read_manifest(tmp_path)
