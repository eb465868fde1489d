"""Raw phase encodings: exact rescaling to radians, recognition, refusals."""

from __future__ import annotations

import numpy as np
import pytest

from smoulder.exceptions import InputDataError
from smoulder.imaging.phase.encoding import (
    detect_encoding,
    looks_like_magnitude,
    read_raw_phase,
    to_radians,
)
from smoulder.synth.raw_phase import quantise_phase

PI = np.pi


def test_siemens_integers_rescale_exactly():
    # stored 0..4095 with RescaleSlope 2, RescaleIntercept -4096: value * pi / 4096
    values = np.array([-4096, -2048, -2, 0, 2, 2048, 4094])
    expected = np.array([-PI, -PI / 2, -PI / 2048, 0.0, PI / 2048, PI / 2, PI * 4094 / 4096])
    assert np.array_equal(to_radians(values, "siemens"), expected)


def test_12bit_integers_rescale_exactly():
    # (value - 2048) * pi / 2048
    values = np.array([0, 1024, 2047, 2048, 3072, 4095])
    expected = np.array([-PI, -PI / 2, -PI / 2048, 0.0, PI / 2, PI * 2047 / 2048])
    assert np.array_equal(to_radians(values, "12bit"), expected)


def test_radians_are_wrapped_into_minus_pi_pi():
    out = to_radians(np.array([0.0, PI / 2, 3 * PI / 2, 2 * PI - 0.25]), "radians")
    assert np.allclose(out, [0.0, PI / 2, -PI / 2, -0.25])
    assert out.min() >= -PI and out.max() < PI


@pytest.mark.parametrize("encoding", ["siemens", "12bit", "radians"])
def test_quantised_scanner_phase_comes_back_within_half_a_step(encoding):
    rng = np.random.default_rng(0)
    truth = rng.uniform(-40, 40, 5000)  # unwrapped phase, many turns
    written = quantise_phase(truth, encoding)
    back = to_radians(written, encoding)
    err = np.angle(np.exp(1j * (back - truth)))
    step = 2 * PI / 4096 if encoding != "radians" else 1e-6
    assert np.abs(err).max() <= step / 2 + 1e-6
    if encoding == "siemens":
        assert written.min() >= -4096 and written.max() <= 4094
        assert np.all(written % 2 == 0)  # slope 2: only even values
    elif encoding == "12bit":
        assert written.min() >= 0 and written.max() <= 4095


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        ([-4096.0, -1000.0, 0.0, 4094.0], "siemens"),
        ([0.0, 1000.0, 2048.0, 4095.0], "12bit"),
        ([-3.14159, 0.0, 3.14159], "radians"),
        ([0.0, 3.0, 6.283], "radians"),  # [0, 2 pi)
    ],
)
def test_auto_recognises_each_form(values, expected):
    assert detect_encoding(np.array(values)) == expected


@pytest.mark.parametrize(
    ("values", "shown"),
    [
        ([-300.0, 0.0, 250.0], ["-300", "250"]),  # whole numbers, too narrow for 12 bits
        ([-20.5, 3.25, 25.75], ["-20.5", "25.75"]),  # unwrapped radians
        ([-179.5, 0.25, 179.5], ["-179.5", "179.5"]),  # degrees
        ([0.0, 12000.0], ["0", "12000"]),  # 16-bit magnitude-like range
        ([-1.0, 0.0, 1.0], ["-1", "1"]),  # a label map, not phase
    ],
)
def test_ambiguous_or_foreign_ranges_are_refused_naming_the_range(values, shown):
    with pytest.raises(InputDataError) as exc:
        detect_encoding(np.array(values))
    msg = str(exc.value)
    for s in shown:
        assert s in msg
    assert "-4096..4095" in msg and "0..4095" in msg and "radians" in msg


def test_declared_encoding_is_checked_against_the_values():
    with pytest.raises(InputDataError, match="outside the declared --phase-encoding 12bit"):
        detect_encoding(np.array([-4096.0, 0.0, 4094.0]), "12bit")
    assert detect_encoding(np.array([-300.0, 250.0]), "siemens") == "siemens"


def test_non_finite_voxel_is_named():
    a = np.zeros((4, 5, 6))
    a[1, 2, 3] = np.nan
    with pytest.raises(InputDataError, match=r"voxel \(1, 2, 3\)"):
        detect_encoding(a)


def _magnitude_like(shape=(40, 44, 20)):
    """A 12-bit image with a bright ellipsoid (the head) in a dark, noisy background."""
    rng = np.random.default_rng(1)
    g = np.indices(shape).astype(float)
    c = (np.array(shape) - 1) / 2
    r = (((g - c[:, None, None, None]) / (np.array(shape) * 0.4)[:, None, None, None]) ** 2).sum(0)
    img = np.where(r < 1, 1800 + 300 * np.cos(g[0] / 3), 0) + np.abs(rng.normal(0, 20, shape))
    return np.round(img)


def test_a_magnitude_image_given_as_phase_is_refused():
    mag = _magnitude_like()
    assert detect_encoding(mag) == "12bit"  # it fits the 0..4095 range ...
    assert looks_like_magnitude(mag)  # ... but is not phase
    with pytest.raises(InputDataError, match="magnitude or SWI image, not phase") as exc:
        read_raw_phase(mag)
    assert "--qsm" in str(exc.value)


def test_a_dim_swi_image_is_refused_as_swi_not_as_an_odd_range():
    swi = np.round(_magnitude_like() * 0.4)  # 0..~840: no encoding fits, but it is SWI
    with pytest.raises(InputDataError, match="magnitude or SWI image"):
        read_raw_phase(swi)


def test_a_normalised_magnitude_in_radian_range_is_refused():
    mag = _magnitude_like() / 4095.0  # 0..0.5 fits "radians"
    with pytest.raises(InputDataError, match="magnitude or SWI"):
        read_raw_phase(mag)


def test_non_negative_values_without_a_single_wrap_are_refused_even_if_declared():
    mag = _magnitude_like()
    with pytest.raises(InputDataError, match="no phase wraps"):
        read_raw_phase(mag, "12bit")


def test_wrapped_12bit_phase_of_a_head_is_not_taken_for_magnitude():
    rng = np.random.default_rng(2)
    shape = (40, 44, 20)
    g = np.indices(shape).astype(float)
    inside = (((g - 20) / 15) ** 2).sum(0) < 1
    phi = np.where(inside, 0.9 * g[0] + 0.4 * g[1], rng.uniform(-PI, PI, shape))
    written = quantise_phase(phi, "12bit")
    assert not looks_like_magnitude(written)
    rad, enc = read_raw_phase(written)
    assert enc == "12bit" and np.allclose(np.exp(1j * rad), np.exp(1j * phi), atol=1e-3)


def test_masked_phase_is_read_and_masked_magnitude_refused():
    shape = (40, 44, 20)
    g = np.indices(shape).astype(float)
    inside = (((g - 20) / 15) ** 2).sum(0) < 1
    phase = np.where(inside, quantise_phase(0.9 * g[0], "12bit"), 0)  # wraps inside the mask
    assert read_raw_phase(phase)[1] == "12bit"
    assert read_raw_phase(phase, "12bit")[1] == "12bit"
    magnitude = np.where(inside, 1500 + np.round(300 * np.cos(g[0] / 3)), 0)
    for declared in ("auto", "12bit"):
        with pytest.raises(InputDataError, match="magnitude or SWI"):
            read_raw_phase(magnitude, declared)


def test_milliradians_are_recognised_by_their_odd_values_and_rescaled():
    # radians x 1000 as whole numbers: odd values, within +-3142 (never Siemens: always even)
    values = np.array([-3142.0, -1571.0, -1.0, 0.0, 1.0, 1571.0, 3141.0])
    assert detect_encoding(values) == "milliradians"
    rad = to_radians(values, "milliradians")
    assert np.allclose(rad[1:], values[1:] / 1000.0)
    assert rad[0] == pytest.approx(-3.142 + 2 * PI)  # -3.142 < -pi: wrapped into [-pi, pi)


def test_even_values_in_the_milliradian_range_stay_siemens():
    assert detect_encoding(np.array([-3142.0, -2.0, 0.0, 3140.0])) == "siemens"


def test_odd_whole_numbers_beyond_milliradians_are_not_taken_for_siemens():
    # the old rule read any -4096..4095 span of 4096 as Siemens, odd values or not
    with pytest.raises(InputDataError) as err:
        detect_encoding(np.array([-4000.0, -3.0, 0.0, 3999.0]))
    msg = str(err.value)
    assert "odd ones among them" in msg and "--phase-encoding" in msg
    assert detect_encoding(np.array([-4000.0, -3.0, 0.0, 3999.0]), "siemens") == "siemens"
