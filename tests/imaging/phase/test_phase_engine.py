"""process_raw_phase end to end: scanner integers in, the local field out, bad input refused."""

from __future__ import annotations

import numpy as np
import pytest

from smoulder.exceptions import InputDataError, SettingsError
from smoulder.imaging.phase import RawPhaseSettings, process_raw_phase
from smoulder.imaging.phase.fields import rad_per_ppm
from smoulder.synth.raw_phase import quantise_phase

N, VS = 64, 2.0
RPP = rad_per_ppm(3.0, 20.0)
ACQ = dict(echo_time_ms=20.0, field_strength_t=3.0)


def _sphere_field(xyz, centre, radius, dchi, b0):
    d = xyz - np.asarray(centre, float)[:, None, None, None]
    r = np.sqrt((d**2).sum(0))
    cos = np.tensordot(b0, d, axes=1) / np.maximum(r, 1e-9)
    return np.where(
        r > radius, dchi / 3 * (radius / np.maximum(r, 1e-9)) ** 3 * (3 * cos**2 - 1), 0
    )


@pytest.fixture(scope="module")
def head():
    """A spherical brain in air with air spheres outside and a paramagnetic sphere inside."""
    rng = np.random.default_rng(0)
    b0 = np.array([0.0, 0.0, 1.0])
    xyz = (np.indices((N, N, N)).astype(float) - (N - 1) / 2) * VS
    r = np.sqrt((xyz**2).sum(0))
    brain = r < 42.0
    bg = _sphere_field(xyz, (0, 0, -72), 14.0, 9.4, b0) + _sphere_field(
        xyz, (70, 0, 0), 10.0, 9.4, b0
    )
    local = _sphere_field(xyz, (10, 5, 0), 4.0, 0.2, b0)
    mag = np.where(brain, 1500.0, 0.0) + np.abs(rng.normal(0, 15, brain.shape))
    # paramagnetic-negative: phase = -rpp * field; noise outside the head
    phi = -RPP * (bg + local) + 0.7
    phi = np.where(
        brain, phi + rng.normal(0, 0.01, brain.shape), rng.uniform(-np.pi, np.pi, brain.shape)
    )
    aff = np.diag([VS, VS, VS, 1.0])
    return dict(
        siemens=quantise_phase(phi, "siemens"),
        bit12=quantise_phase(phi, "12bit"),
        mag=np.round(mag).astype(np.int16),
        aff=aff,
        brain=brain,
        local=local,
        xyz=xyz,
    )


def test_siemens_integers_give_the_local_field_in_ppm_paramagnetic_positive(head):
    res = process_raw_phase(head["siemens"], head["aff"], magnitude=head["mag"], **ACQ)
    assert res.encoding == "siemens"
    v = res.mask
    assert v.sum() > 0.6 * head["brain"].sum()
    truth = head["local"]
    near = v & (np.abs(truth) > 0.005)
    assert np.corrcoef(res.local_field_ppm[near], truth[near])[0, 1] > 0.95
    # along B0 just outside the paramagnetic sphere the field is positive (2 dchi / 3 at the pole)
    above = (10, 5, 5.0)  # mm, 1 mm outside the 4 mm sphere along z
    ijk = tuple(int(round(c / VS + (N - 1) / 2)) for c in above)
    assert res.local_field_ppm[ijk] > 0.03
    # the local phase keeps the input's convention: paramagnetic negative
    assert res.local_phase_rad[ijk] < 0
    assert res.local_phase_rad[ijk] == pytest.approx(-RPP * res.local_field_ppm[ijk], rel=1e-5)
    # background gone: what is left outside the small sphere's reach is noise-sized
    far = v & (
        np.sqrt(((head["xyz"] - np.array([10, 5, 0])[:, None, None, None]) ** 2).sum(0)) > 20
    )
    assert np.std(res.local_field_ppm[far]) < 0.002


def test_siemens_and_12bit_files_of_one_scan_give_identical_fields(head):
    a = process_raw_phase(head["siemens"], head["aff"], magnitude=head["mag"], **ACQ)
    b = process_raw_phase(head["bit12"], head["aff"], magnitude=head["mag"], **ACQ)
    assert b.encoding == "12bit"
    assert np.array_equal(a.local_field_ppm, b.local_field_ppm)


def test_without_magnitude_the_mask_comes_from_the_phase(head):
    res = process_raw_phase(head["siemens"], head["aff"], **ACQ)
    assert res.facts["mask_source"] == "phase"
    # the mask stays inside the brain (noise outside is unreliable phase)
    assert np.mean(head["brain"][res.signal_mask]) > 0.99
    assert res.signal_mask.sum() > 0.8 * head["brain"].sum()


@pytest.mark.parametrize("background", ["pdf", "homodyne"])
def test_other_background_methods_run_and_say_so(head, background):
    res = process_raw_phase(
        head["siemens"], head["aff"], magnitude=head["mag"], background=background, **ACQ
    )
    text = res.methods()
    assert ("dipole fields" in text) if background == "pdf" else ("homodyne" in text)
    assert np.isfinite(res.local_field_ppm).all()


def test_methods_paragraph_and_summary_state_what_ran(head):
    res = process_raw_phase(head["siemens"], head["aff"], magnitude=head["mag"], **ACQ)
    text = res.methods()
    for bit in ("Siemens", "TE 20 ms", "B0 3 T", "16.05 rad/ppm", "V-SHARP", "least-squares"):
        assert bit in text
    row = res.summary.iloc[0]
    assert row["encoding"] == "siemens" and row["b0_tilt_deg"] == pytest.approx(0.0)


def test_b0_direction_of_an_oblique_affine_is_reported(head):
    t = np.deg2rad(15)
    aff = np.eye(4)
    aff[:3, :3] = np.array([[1, 0, 0], [0, np.cos(t), -np.sin(t)], [0, np.sin(t), np.cos(t)]]) * VS
    res = process_raw_phase(head["siemens"], aff, magnitude=head["mag"], **ACQ)
    assert np.allclose(res.b0_direction, [0, np.sin(t), np.cos(t)])
    assert res.facts["b0_tilt_deg"] == pytest.approx(15.0)


def test_missing_echo_time_names_the_flag(head):
    with pytest.raises(SettingsError, match="--echo-time-ms") as exc:
        process_raw_phase(head["siemens"], head["aff"], field_strength_t=3.0)
    assert exc.value.parameter == "echo_time_ms"


@pytest.mark.parametrize(
    ("kw", "msg"),
    [
        (dict(echo_time_ms=0.02), "looks like seconds"),
        (dict(echo_time_ms=500.0), "between 0.5 and 200"),
        (dict(field_strength_t=127.7), "Larmor frequency in MHz"),
        (dict(background="sharp"), "background must be one of"),
    ],
)
def test_bad_settings_are_refused_in_plain_words(kw, msg):
    with pytest.raises(SettingsError, match=msg):
        RawPhaseSettings(**kw)


def test_swapped_phase_and_magnitude_are_detected(head):
    with pytest.raises(InputDataError, match="were --phase and --magnitude swapped"):
        process_raw_phase(head["mag"], head["aff"], magnitude=head["siemens"], **ACQ)


def test_swi_magnitude_only_input_is_refused(head):
    """An SWI image (magnitude times a phase mask) given as phase, no phase anywhere."""
    phase = head["siemens"] * np.pi / 4096
    swi_mask = np.clip(1 + phase / np.pi, 0, 1) ** 4
    swi = np.round(head["mag"] * swi_mask).astype(np.int16)
    with pytest.raises(InputDataError, match="magnitude or SWI image, not phase"):
        process_raw_phase(swi, head["aff"], **ACQ)


def test_magnitude_on_another_grid_is_refused(head):
    with pytest.raises(InputDataError, match="not on the phase image's grid"):
        process_raw_phase(head["siemens"], head["aff"], magnitude=head["mag"][:-1], **ACQ)


def test_settings_round_trip_through_toml():
    st = RawPhaseSettings(echo_time_ms=18.0, field_strength_t=7.0, background="pdf")
    assert RawPhaseSettings.from_toml(st.to_toml()) == st
    assert "[raw_phase]" in st.to_toml()


@pytest.mark.slow
def test_simulated_swi_and_magnitude_series_are_refused_and_the_phase_accepted():
    from smoulder.imaging.phase.background import homodyne
    from smoulder.imaging.phase.encoding import to_radians
    from smoulder.synth.raw_phase import simulate_raw_phase

    s = simulate_raw_phase(seed=9, voxel_size=2.0, n_lesions=2, fov_mm=(160.0, 192.0), slab_mm=32.0)
    mag = s.magnitude.astype(np.float32)
    hp = homodyne(to_radians(s.phase, "siemens").astype(np.float32), s.zooms, magnitude=mag)
    swi = np.round(mag * np.where(hp < 0, np.clip(1 + hp / np.pi, 0, 1), 1.0) ** 4)  # Haacke 2004
    for image in (swi.astype(np.int16), s.magnitude):
        with pytest.raises(InputDataError, match="magnitude or SWI image, not phase"):
            process_raw_phase(image, s.affine, **ACQ)
    res = process_raw_phase(s.phase, s.affine, magnitude=s.magnitude, **ACQ)
    assert res.encoding == "siemens"
