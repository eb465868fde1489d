"""DICOM folders given to ``smoulder prl`` (and ``sel``) where a NIfTI file is accepted.

The DICOM files are written with pydicom from our own arrays (``dicom_writer`` in conftest)
and converted for real by dcm2niix.
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

nib = pytest.importorskip("nibabel")
pytest.importorskip("pydicom")

from smoulder.cli import main  # noqa: E402

PHASE_TYPE = ["ORIGINAL", "PRIMARY", "P", "ND"]
MAG_TYPE = ["ORIGINAL", "PRIMARY", "M", "ND"]
IDENTIFIERS = ("SIMULATED", "PHANTOM", "SIM001", "20240101")


def _prl(args: list[str], capsys) -> tuple[int, str, str]:
    code = main(["prl", *args])
    cap = capsys.readouterr()
    return code, cap.out, cap.err


@pytest.fixture
def private_tmp(tmp_path, monkeypatch):
    """Send the converted files to a folder of the test's own, to see that they are removed."""
    t = tmp_path / "tmp"
    t.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(t))
    return t


@pytest.mark.slow
def test_a_dicom_exam_gives_the_same_lesions_as_its_nifti_files(
    tmp_path, dicom_writer, private_tmp, capsys
):
    from smoulder.synth.raw_phase import simulate_raw_phase

    scan = simulate_raw_phase(
        seed=8, voxel_size=2.0, n_lesions=5, fov_mm=(160.0, 192.0), slab_mm=32.0
    )
    flair = np.round(scan.flair / scan.flair.max() * 4000).astype(np.int16)
    exam, fl_dir, les_dir = tmp_path / "exam", tmp_path / "flair_dcm", tmp_path / "lesions_dcm"
    stored = (scan.phase.astype(np.int32) + 4096) // 2  # RescaleSlope 2 / Intercept -4096
    common = {"echo_time_ms": scan.echo_time_ms, "field_strength_t": scan.field_strength_t}
    dicom_writer(
        exam, scan.magnitude, scan.affine, series_number=10, description="swi_mag",
        image_type=MAG_TYPE, **common,
    )  # fmt: skip
    dicom_writer(
        exam, stored, scan.affine, series_number=11, description="swi_phase",
        image_type=PHASE_TYPE, rescale=(2, -4096), **common,
    )  # fmt: skip
    dicom_writer(
        fl_dir, flair, scan.affine, series_number=3, description="t2_flair",
        image_type=MAG_TYPE, echo_time_ms=90.0,
    )  # fmt: skip
    dicom_writer(
        les_dir, scan.labels, scan.affine, series_number=90, description="lesion labels",
        image_type=["DERIVED", "SECONDARY", "M"],
    )  # fmt: skip

    out = tmp_path / "from_dicom"
    code, stdout, err = _prl(
        [
            "--flair", str(fl_dir), "--phase", str(exam), "--raw-phase",
            "--lesions", str(les_dir), "--out", str(out), "--json",
        ],
        capsys,
    )  # fmt: skip
    assert code == 0, err
    assert list(private_tmp.iterdir()) == []  # the converted files are gone
    meta = json.loads((out / "lesions.json").read_text())
    # echo time, field strength and encoding were read from dcm2niix's sidecar
    assert meta["RawPhase"]["echo_time_ms"] == pytest.approx(20.0)
    assert meta["RawPhase"]["field_strength_t"] == 3.0
    assert meta["RawPhase"]["encoding"] == "siemens"
    assert meta["RawPhase"]["magnitude_used"] is True  # the exam's own magnitude series
    acq = meta["Acquisition"]
    assert acq["Inputs"]["--phase"]["SeriesNumber"] == 11
    assert acq["Inputs"]["--magnitude"]["SeriesNumber"] == 10
    assert acq["Inputs"]["--flair"]["AcquisitionPlane"] == "axial"
    assert "series 11 'swi_phase'" in acq["Series"]["--phase"]
    for p in out.iterdir():  # nothing that identifies the (simulated) person
        text = p.read_bytes().decode("latin-1")
        assert not any(s in text for s in IDENTIFIERS), p.name

    # the same images as NIfTI files (the simulator's own grid and the true sidecar values)
    nii = tmp_path / "nii"
    nii.mkdir()
    files = {}
    for name, arr in {
        "flair": flair,
        "phase": scan.phase,
        "magnitude": scan.magnitude,
        "lesions": scan.labels.astype(np.int16),
    }.items():
        files[name] = nii / f"{name}.nii.gz"
        nib.save(nib.Nifti1Image(arr, scan.affine), files[name])
    out2 = tmp_path / "from_nifti"
    code, _, err = _prl(
        [
            "--flair", str(files["flair"]), "--phase", str(files["phase"]), "--raw-phase",
            "--magnitude", str(files["magnitude"]), "--lesions", str(files["lesions"]),
            "--echo-time-ms", "20", "--field-strength-t", "3", "--out", str(out2),
        ],
        capsys,
    )  # fmt: skip
    assert code == 0, err
    cols = ["centroid_x_mm", "centroid_y_mm", "centroid_z_mm"]
    a = pd.read_csv(out / "lesions.tsv", sep="\t").round({c: 1 for c in cols})
    b = pd.read_csv(out2 / "lesions.tsv", sep="\t").round({c: 1 for c in cols})
    assert len(a) == len(b) == 5
    m = a.merge(b, on=cols, suffixes=("_dicom", "_nifti"))
    assert len(m) == 5  # the same lesions at the same places in the scanner
    assert np.allclose(m["rim_score_dicom"], m["rim_score_nifti"], atol=1e-4)
    assert (m["prl_dicom"] == m["prl_nifti"]).all()


def _small_exam(folder: Path, writer, *, with_phase: bool = True) -> None:
    rng = np.random.default_rng(1)
    aff = np.diag([1.0, 1.0, 2.0, 1.0])
    writer(folder, rng.integers(0, 4096, (12, 10, 6)), aff, series_number=4,
           description="swi_mag", image_type=MAG_TYPE)  # fmt: skip
    if with_phase:
        writer(folder, rng.integers(0, 4096, (12, 10, 6)), aff, series_number=5,
               description="swi_phase", image_type=PHASE_TYPE, rescale=(2, -4096))  # fmt: skip


def _flair() -> np.ndarray:
    return np.random.default_rng(2).uniform(1, 2, (12, 10, 6)).astype(np.float32)


def test_dicom_phase_without_raw_phase_is_refused(tmp_path, dicom_writer, capsys):
    _small_exam(tmp_path / "exam", dicom_writer)
    flair = tmp_path / "flair.nii.gz"
    nib.save(nib.Nifti1Image(_flair(), np.eye(4)), flair)
    code, _, err = _prl(
        ["--flair", str(flair), "--phase", str(tmp_path / "exam"), "--out", str(tmp_path / "o")],
        capsys,
    )
    assert code == 2
    assert "is DICOM" in err and "add --raw-phase" in err


def test_an_swi_only_exam_is_refused_as_raw_phase(tmp_path, dicom_writer, private_tmp, capsys):
    _small_exam(tmp_path / "exam", dicom_writer, with_phase=False)
    flair = tmp_path / "flair.nii.gz"
    nib.save(nib.Nifti1Image(_flair(), np.eye(4)), flair)
    code, _, err = _prl(
        ["--flair", str(flair), "--phase", str(tmp_path / "exam"), "--raw-phase",
         "--out", str(tmp_path / "o")],
        capsys,
    )  # fmt: skip
    assert code == 2
    assert "holds magnitude/SWI images but no phase series" in err
    assert "series 4 'swi_mag'" in err
    assert list(private_tmp.iterdir()) == []  # converted files removed after a refusal too
    assert not (tmp_path / "o").exists()


def test_a_flair_folder_with_two_series_lists_them(tmp_path, dicom_writer, capsys):
    _small_exam(tmp_path / "exam", dicom_writer)
    code, _, err = _prl(
        ["--flair", str(tmp_path / "exam"), "--qsm", str(tmp_path / "exam"),
         "--out", str(tmp_path / "o")],
        capsys,
    )  # fmt: skip
    assert code == 2
    assert "holds several image series" in err
    assert "series 4 'swi_mag'" in err and "series 5 'swi_phase'" in err
    assert "Give that series' own folder" in err


def test_a_folder_without_dicom_is_named_for_any_image_flag(tmp_path, capsys):
    empty = tmp_path / "not_dicom"
    empty.mkdir()
    (empty / "notes.txt").write_text("hello")
    code, _, err = _prl(
        ["--flair", str(empty), "--qsm", str(empty), "--out", str(tmp_path / "o")], capsys
    )
    assert code == 2
    assert f"{empty}: holds no DICOM files" in err


@pytest.mark.slow
def test_sel_reads_dicom_folders_as_it_reads_nifti_files(tmp_path, dicom_writer, private_tmp):
    """The tiny two-scan head of the SEL pipeline's example, as DICOM and as NIfTI."""
    from scipy import ndimage

    from smoulder.pipelines import sel

    g = np.indices((16, 16, 16)) - 7.5
    r = np.sqrt((g**2).sum(axis=0))
    texture = ndimage.gaussian_filter(np.random.default_rng(0).normal(size=r.shape), 1.0)
    aff = np.diag([2.0, 2.0, 2.0, 1.0])
    dcm, nii = [], []
    for i, radius in enumerate((2.5, 3.0), start=1):
        head = np.where(r <= 7, 100 + 400 * texture, 0) + 150 * (r <= radius)
        head = np.round(np.clip(head, 0, 4095)).astype(np.int16)
        folder = tmp_path / f"scan_{i}"
        dicom_writer(folder, head, aff, series_number=i, description=f"t1_{i}",
                     image_type=MAG_TYPE, seed=i)  # fmt: skip
        dcm.append(folder)
        nii.append(tmp_path / f"scan_{i}.nii.gz")
        nib.save(nib.Nifti1Image(head, aff), nii[-1])
    lesion = (r <= 2.5).astype(np.int16)
    dicom_writer(tmp_path / "les", lesion, aff, series_number=9, description="lesions",
                 image_type=["DERIVED", "SECONDARY", "M"], seed=9)  # fmt: skip
    nib.save(nib.Nifti1Image(lesion, aff), tmp_path / "les.nii.gz")
    dates = ["2021-03-01", "2022-03-01"]
    kw = {"syn_iterations": (4, 2), "threads": 1}
    a = sel.run(dcm, dcm, dates, tmp_path / "les", **kw)
    b = sel.run(nii, nii, dates, tmp_path / "les.nii.gz", **kw)
    assert list(private_tmp.iterdir()) == []
    assert len(a.lesions) == len(b.lesions) == 1
    for col in ("centroid_x_mm", "centroid_y_mm", "centroid_z_mm", "expansion_pct_per_year"):
        assert a.lesions.loc[0, col] == pytest.approx(b.lesions.loc[0, col], abs=0.05), col
    assert a.lesions.loc[0, "expansion_pct_per_year"] > 20  # the lesion grew (radius 2.5 -> 3)
    assert a.lesions.loc[0, "sel"] == b.lesions.loc[0, "sel"]


def test_two_phase_series_are_listed_with_the_flag_that_chooses(tmp_path, dicom_writer, capsys):
    rng = np.random.default_rng(3)
    aff = np.diag([1.0, 1.0, 2.0, 1.0])
    for number, te in ((5, 10.0), (7, 20.0)):
        dicom_writer(tmp_path / "exam", rng.integers(0, 4096, (12, 10, 6)), aff,
                     series_number=number, description=f"phase_te{te:g}",
                     image_type=PHASE_TYPE, rescale=(2, -4096), echo_time_ms=te)  # fmt: skip
    flair = tmp_path / "flair.nii.gz"
    nib.save(nib.Nifti1Image(_flair(), np.eye(4)), flair)
    args = ["--flair", str(flair), "--phase", str(tmp_path / "exam"), "--raw-phase"]
    code, _, err = _prl([*args, "--out", str(tmp_path / "o")], capsys)
    assert code == 2
    assert "holds several phase series" in err and "Choose one with --phase-series NUMBER" in err
    assert "series 5 'phase_te10' (phase, TE 10 ms" in err
    assert "series 7 'phase_te20' (phase, TE 20 ms" in err
    code, _, err = _prl([*args, "--phase-series", "6", "--out", str(tmp_path / "o")], capsys)
    assert code == 2 and "has no series 6" in err
    # the chosen series goes on to the raw-phase steps (this random one has too little signal)
    code, _, err = _prl(
        [*args, "--phase-series", "7", "--echo-time-ms", "20", "--field-strength-t", "3",
         "--out", str(tmp_path / "o")],
        capsys,
    )  # fmt: skip
    assert code == 2
    assert "--phase " in err and "series 7 'phase_te20'" in err
    assert "too few voxels with usable phase" in err
