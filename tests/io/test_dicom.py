"""DICOM folders converted for real with dcm2niix: values, geometry, sidecar, clear refusals."""

from __future__ import annotations

import sys

import numpy as np
import pytest

nib = pytest.importorskip("nibabel")
pytest.importorskip("pydicom")

from smoulder.exceptions import InputDataError  # noqa: E402
from smoulder.io.dicom import (  # noqa: E402
    Dcm2niixError,
    acquisition_plane,
    convert_dicom,
    find_dcm2niix,
    matching_magnitude,
    raw_phase_parameters,
    read_sidecar,
    resolve_image,
    resolve_phase_and_magnitude,
    select_series,
)

PHASE_TYPE = ["ORIGINAL", "PRIMARY", "P", "ND"]
MAG_TYPE = ["ORIGINAL", "PRIMARY", "M", "ND"]
SHAPE = (12, 10, 6)


def _affine(tilt_deg: float = 0.0) -> np.ndarray:
    t = np.deg2rad(tilt_deg)
    rot = np.array([[1, 0, 0], [0, np.cos(t), -np.sin(t)], [0, np.sin(t), np.cos(t)]])
    aff = np.eye(4)
    aff[:3, :3] = rot @ np.diag([1.0, 1.25, 2.0])
    aff[:3, 3] = [-10.0, -20.0, 30.0]
    return aff


@pytest.fixture
def exam(tmp_path, dicom_writer):
    """A Siemens-style exam: magnitude (series 4) and phase (series 5, slope 2 / intercept -4096)."""
    rng = np.random.default_rng(0)
    stored_phase = rng.integers(0, 4096, SHAPE)
    stored_mag = rng.integers(0, 4096, SHAPE)
    folder = tmp_path / "exam"
    dicom_writer(
        folder, stored_mag, _affine(), series_number=4, description="swi_mag", image_type=MAG_TYPE
    )
    dicom_writer(
        folder,
        stored_phase,
        _affine(),
        series_number=5,
        description="swi_phase",
        image_type=PHASE_TYPE,
        rescale=(2, -4096),
    )
    return folder, stored_phase, stored_mag


def _canonical(path):
    img = nib.as_closest_canonical(nib.load(str(path)))
    return np.asarray(img.dataobj), img.affine


def test_siemens_phase_and_magnitude_are_converted_with_values_and_geometry_kept(exam, tmp_path):
    folder, stored_phase, stored_mag = exam
    series = convert_dicom(folder, tmp_path / "work")
    assert sorted(s.kind for s in series) == ["magnitude", "phase"]
    phase = select_series(series, "phase", source=str(folder))
    assert phase.series_number == 5 and phase.description == "swi_phase"
    data, aff = _canonical(phase.nifti)
    # dcm2niix applies RescaleSlope/Intercept: Siemens values -4096..4094
    assert np.array_equal(data, 2 * stored_phase - 4096)
    assert np.allclose(aff, _affine(), atol=1e-4)
    mag = matching_magnitude(series, phase)
    assert mag is not None and mag.series_number == 4
    assert np.array_equal(_canonical(mag.nifti)[0], stored_mag)


def test_sidecar_gives_the_raw_phase_parameters(exam, tmp_path):
    folder, _, _ = exam
    phase = resolve_image(folder, tmp_path / "work", kind="phase")
    assert phase.sidecar["EchoTime"] == pytest.approx(0.02)
    params = raw_phase_parameters(phase.sidecar)
    assert params == {"echo_time_ms": 20.0, "field_strength_t": 3.0, "encoding": "siemens"}
    # names and dates are stripped from the sidecar (dcm2niix -ba y)
    text = phase.sidecar_path.read_text()
    assert "SIMULATED" not in text and "SIM001" not in text and "20240101" not in text


def test_oblique_slab_keeps_its_affine_and_plane(tmp_path, dicom_writer):
    from smoulder.imaging.phase.fields import b0_direction

    rng = np.random.default_rng(1)
    folder = tmp_path / "oblique"
    dicom_writer(
        folder,
        rng.integers(0, 4096, SHAPE),
        _affine(20.0),
        series_number=7,
        description="swi_phase_tra>cor(-20)",
        image_type=PHASE_TYPE,
        rescale=(2, -4096),
    )
    phase = resolve_image(folder, tmp_path / "work", kind="phase")
    img = nib.load(str(phase.nifti))
    b0 = np.abs(b0_direction(img.affine))
    assert np.allclose(
        np.sort(b0), np.sort([0.0, np.sin(np.deg2rad(20)), np.cos(np.deg2rad(20))]), atol=1e-4
    )
    plane = acquisition_plane(phase.sidecar)
    assert plane["plane"] == "axial"
    assert plane["obliquity_deg"] == pytest.approx(20.0, abs=0.01)


def test_a_folder_without_dicom_is_refused(tmp_path):
    folder = tmp_path / "notes"
    folder.mkdir()
    (folder / "readme.txt").write_text("not an image")
    with pytest.raises(InputDataError, match="holds no DICOM files") as exc:
        resolve_image(folder, tmp_path / "work", kind="phase")
    assert str(folder) in str(exc.value)


def test_several_phase_series_are_listed_and_one_must_be_chosen(tmp_path, dicom_writer):
    rng = np.random.default_rng(2)
    folder = tmp_path / "two"
    for num, desc in ((5, "swi_phase"), (9, "gre_phase_repeat")):
        dicom_writer(
            folder,
            rng.integers(0, 4096, SHAPE),
            _affine(),
            series_number=num,
            description=desc,
            image_type=PHASE_TYPE,
            rescale=(2, -4096),
            seed=num,
        )
    with pytest.raises(InputDataError) as exc:
        resolve_image(folder, tmp_path / "work", kind="phase", flag="--phase-series")
    msg = str(exc.value)
    assert "several phase series" in msg
    assert "series 5 'swi_phase'" in msg and "series 9 'gre_phase_repeat'" in msg
    assert "--phase-series" in msg
    chosen = resolve_image(folder, tmp_path / "work2", kind="phase", series_number=9)
    assert chosen.description == "gre_phase_repeat"


def test_magnitude_only_swi_is_refused_for_phase(tmp_path, dicom_writer):
    rng = np.random.default_rng(3)
    folder = tmp_path / "swi"
    dicom_writer(
        folder,
        rng.integers(0, 4096, SHAPE),
        _affine(),
        series_number=6,
        description="SWI_Images",
        image_type=["DERIVED", "PRIMARY", "SWI", "NORM"],
    )
    dicom_writer(
        folder,
        rng.integers(0, 4096, SHAPE),
        _affine(),
        series_number=4,
        description="swi_mag",
        image_type=MAG_TYPE,
        seed=1,
    )
    with pytest.raises(InputDataError, match="no phase series") as exc:
        resolve_image(folder, tmp_path / "work", kind="phase")
    assert "SWI_Images" in str(exc.value) and "QSM" in str(exc.value)


def test_a_magnitude_sidecar_is_refused_as_raw_phase():
    with pytest.raises(InputDataError, match="marks a swi image, not phase"):
        raw_phase_parameters({"ImageType": ["DERIVED", "PRIMARY", "SWI"], "EchoTime": 0.02})
    with pytest.raises(InputDataError, match="marks a magnitude image"):
        raw_phase_parameters({"ImageType": "ORIGINAL\\PRIMARY\\M\\ND"})


def test_sidecar_echo_time_in_ms_and_missing_values():
    p = raw_phase_parameters({"EchoTime": 17.5, "ImageType": ["P"], "Manufacturer": "GE"})
    assert p == {"echo_time_ms": 17.5, "field_strength_t": None, "encoding": "auto"}


def test_nifti_input_is_passed_through_with_its_sidecar(tmp_path):
    img = nib.Nifti1Image(np.zeros(SHAPE, np.int16), _affine())
    path = tmp_path / "phase.nii.gz"
    nib.save(img, str(path))
    (tmp_path / "phase.json").write_text('{"EchoTime": 0.025, "MagneticFieldStrength": 7}')
    got = resolve_image(path, tmp_path / "work", kind="phase")
    assert got.nifti == path and got.sidecar["MagneticFieldStrength"] == 7
    assert read_sidecar(tmp_path / "elsewhere.nii.gz") is None
    (tmp_path / "bad.json").write_text("{not json")
    with pytest.raises(InputDataError, match="cannot be read"):
        read_sidecar(tmp_path / "bad.nii.gz")


def test_missing_dcm2niix_is_explained(monkeypatch):
    monkeypatch.setitem(sys.modules, "dcm2niix", None)  # the PyPI package absent
    monkeypatch.setenv("PATH", "")
    with pytest.raises(Dcm2niixError, match="needs dcm2niix, which is not installed"):
        find_dcm2niix()


def test_a_broken_dicom_file_is_reported_as_not_convertible(tmp_path):
    folder = tmp_path / "broken"
    folder.mkdir()
    (folder / "x.dcm").write_bytes(b"\0" * 128 + b"DICM" + b"\x02\x00\x10\x00garbage" * 8)
    with pytest.raises(
        InputDataError, match="holds no DICOM images that dcm2niix can convert"
    ) as exc:
        convert_dicom(folder, tmp_path / "work")
    assert str(folder) in str(exc.value)


def test_dcm2niix_failing_is_reported_with_its_last_messages(tmp_path, exam, monkeypatch):
    import smoulder.io.dicom as dicom

    fake = tmp_path / "fake-dcm2niix"
    fake.write_text("#!/bin/sh\necho 'Error: Unsupported transfer syntax' >&2\nexit 1\n")
    fake.chmod(0o755)
    monkeypatch.setattr(dicom, "find_dcm2niix", lambda: str(fake))
    folder, _, _ = exam
    with pytest.raises(Dcm2niixError, match="exit code 1") as exc:
        convert_dicom(folder, tmp_path / "work")
    assert "Unsupported transfer syntax" in str(exc.value)


@pytest.mark.slow
def test_a_simulated_exam_through_dicom_gives_the_same_local_field(tmp_path, dicom_writer):
    """Phantom -> Siemens DICOM (phase + magnitude) -> dcm2niix -> raw-phase engine."""
    from smoulder.imaging.phase import RawPhaseSettings, process_raw_phase
    from smoulder.synth.raw_phase import simulate_raw_phase

    scan = simulate_raw_phase(
        seed=8, voxel_size=2.0, n_lesions=2, fov_mm=(160.0, 192.0), slab_mm=32.0
    )
    folder = tmp_path / "exam"
    stored = (scan.phase.astype(np.int32) + 4096) // 2  # undo RescaleSlope 2 / Intercept -4096
    dicom_writer(
        folder,
        scan.magnitude,
        scan.affine,
        series_number=10,
        description="swi_mag",
        image_type=MAG_TYPE,
        echo_time_ms=scan.echo_time_ms,
    )
    dicom_writer(
        folder,
        stored,
        scan.affine,
        series_number=11,
        description="swi_phase",
        image_type=PHASE_TYPE,
        rescale=(2, -4096),
        echo_time_ms=scan.echo_time_ms,
    )
    series = convert_dicom(folder, tmp_path / "work")
    phase = select_series(series, "phase")
    mag = matching_magnitude(series, phase)
    assert mag is not None
    settings = RawPhaseSettings.from_mapping(raw_phase_parameters(phase.sidecar))
    p_img, m_img = nib.load(str(phase.nifti)), nib.load(str(mag.nifti))
    res = process_raw_phase(
        np.asarray(p_img.dataobj), p_img.affine, settings, magnitude=np.asarray(m_img.dataobj)
    )
    direct = process_raw_phase(
        scan.phase, scan.affine, magnitude=scan.magnitude, echo_time_ms=20.0, field_strength_t=3.0
    )
    via = nib.as_closest_canonical(nib.Nifti1Image(res.local_field_ppm, p_img.affine))
    assert np.allclose(via.affine, scan.affine, atol=1e-4)
    assert np.allclose(np.asarray(via.dataobj), direct.local_field_ppm, atol=1e-6)


def test_phase_and_its_magnitude_come_from_one_exam_folder(exam, tmp_path):
    folder, stored_phase, stored_mag = exam
    phase, mag = resolve_phase_and_magnitude(folder, tmp_path / "work")
    assert phase.kind == "phase" and mag is not None and mag.series_number == 4
    assert len(list((tmp_path / "work").iterdir())) == 1  # converted once
    # a magnitude given apart wins; a NIfTI phase without one has none
    nii = tmp_path / "phase.nii.gz"
    nib.save(nib.Nifti1Image(np.zeros(SHAPE, np.int16), _affine()), str(nii))
    assert resolve_phase_and_magnitude(nii, tmp_path / "w2")[1] is None
    _, mag2 = resolve_phase_and_magnitude(nii, tmp_path / "w3", magnitude=folder)
    assert mag2 is not None and mag2.series_number == 4
