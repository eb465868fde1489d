"""B0 direction from the affine, and the dipole field along any direction."""

from __future__ import annotations

import numpy as np
import pytest

from smoulder.exceptions import InputDataError
from smoulder.imaging.phase.fields import (
    b0_direction,
    b0_tilt_deg,
    dipole_convolve,
    rad_per_ppm,
    wrap,
)


def _rot_x(deg):
    t = np.deg2rad(deg)
    return np.array([[1, 0, 0], [0, np.cos(t), -np.sin(t)], [0, np.sin(t), np.cos(t)]])


def test_phase_per_ppm_at_3t_and_20ms_is_16_rad():
    # 2 pi * 42.577478 MHz/T * 3 T * 20 ms * 1e-6 (ppm) = 16.0513
    assert rad_per_ppm(3.0, 20.0) == pytest.approx(16.0513, abs=1e-4)
    assert rad_per_ppm(7.0, 10.0) == pytest.approx(rad_per_ppm(3.0, 20.0) * 7 / 6)


def test_b0_of_an_axial_image_is_its_slice_axis_whatever_the_storage_order():
    assert np.allclose(b0_direction(np.diag([0.5, 0.5, 2.0, 1.0])), [0, 0, 1])
    assert np.allclose(np.abs(b0_direction(np.diag([-1.0, -1.0, 1.0, 1.0]))), [0, 0, 1])
    # sagittal storage: voxel axis 0 runs superior-inferior
    sag = np.zeros((4, 4))
    sag[2, 0], sag[1, 1], sag[0, 2], sag[3, 3] = 1.2, 1.0, 1.0, 1.0
    assert np.allclose(b0_direction(sag), [1, 0, 0])


def test_b0_of_an_oblique_slab_comes_from_the_affine_not_the_voxel_axes():
    # slab tilted 20 degrees about left-right, anisotropic voxels, a shift
    aff = np.eye(4)
    aff[:3, :3] = _rot_x(20) @ np.diag([0.7, 0.7, 2.5])
    aff[:3, 3] = [-90, 110, -40]
    # the voxel axes in the world are the rotated unit vectors; B0 = world z projects on them
    # as (0, sin 20, cos 20)
    expected = [0.0, np.sin(np.deg2rad(20)), np.cos(np.deg2rad(20))]
    assert np.allclose(b0_direction(aff), expected)
    assert b0_tilt_deg(aff) == pytest.approx(20.0)


def test_a_sheared_grid_is_refused():
    aff = np.eye(4)
    aff[0, 2] = 0.3  # gantry-tilt shear
    with pytest.raises(InputDataError, match="sheared"):
        b0_direction(aff)


def test_wrap_maps_into_minus_pi_pi():
    x = np.array([0.0, 3.0, 3.5, -3.5, 10.0])
    w = wrap(x)
    assert np.all(np.abs(w) <= np.pi)
    assert np.allclose(np.exp(1j * w), np.exp(1j * x))


def test_axis_aligned_field_equals_the_existing_dipole_module():
    from smoulder.imaging.dipole import dipole_field

    rng = np.random.default_rng(0)
    chi = rng.normal(size=(20, 18, 16)).astype(np.float32)
    a = dipole_convolve(chi, (1.0, 0.8, 1.5), (0, 0, 1))
    b = dipole_field(chi, (1.0, 0.8, 1.5))
    # same physics; the grids are padded to different FFT-friendly sizes
    assert np.corrcoef(a.ravel(), b.ravel())[0, 1] > 0.999


@pytest.mark.parametrize("tilt", [0.0, 30.0])
def test_field_of_a_sphere_follows_3cos2_minus_1_about_the_tilted_b0(tilt):
    # outside a sphere of radius a: dB/B0 = dchi/3 (a/r)^3 (3 cos^2 theta - 1), theta from B0
    n, a, dchi = 64, 5.0, 1.0
    g = np.indices((n, n, n)).astype(float) - (n - 1) / 2
    r = np.sqrt((g**2).sum(0))
    # supersample the sphere's edge for an accurate volume
    chi = np.clip(a + 0.5 - r, 0, 1) * dchi
    b = np.array([0.0, np.sin(np.deg2rad(tilt)), np.cos(np.deg2rad(tilt))])
    f = dipole_convolve(chi, (1, 1, 1), b, pad=1.0)
    cos = np.tensordot(b, g, axes=1) / np.maximum(r, 1e-9)
    analytic = dchi / 3 * (a / np.maximum(r, 1e-9)) ** 3 * (3 * cos**2 - 1)
    shell = (r > 2.5 * a) & (r < 4 * a)
    err = f[shell] - analytic[shell]
    assert np.sqrt(np.mean(err**2)) < 0.06 * np.sqrt(np.mean(analytic[shell] ** 2))
    assert np.abs(f[r < a - 1.5]).max() < 0.05 * dchi  # no field inside (Lorentz sphere)
