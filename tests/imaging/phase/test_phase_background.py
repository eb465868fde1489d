"""Background field removal on fields worked out by hand (analytic spheres)."""

from __future__ import annotations

import numpy as np
import pytest

from smoulder.imaging.phase.background import homodyne, pdf, sphere_kernel, vsharp
from smoulder.imaging.phase.fields import rad_per_ppm
from smoulder.imaging.phase.unwrap import unwrap_laplacian

N, VS = 64, 2.0  # 128 mm field of view
RPP = rad_per_ppm(3.0, 20.0)


def _sphere_field(xyz, centre, radius, dchi, b0):
    """dB/B0 (ppm) of a uniformly magnetised sphere: dchi/3 (a/r)^3 (3 cos^2 - 1) outside, 0 inside."""
    d = xyz - np.asarray(centre, float)[:, None, None, None]
    r = np.sqrt((d**2).sum(0))
    cos = np.tensordot(b0, d, axes=1) / np.maximum(r, 1e-9)
    out = dchi / 3 * (radius / np.maximum(r, 1e-9)) ** 3 * (3 * cos**2 - 1)
    return np.where(r > radius, out, 0.0)


def _head(b0=(0.0, 0.0, 1.0)):
    b0 = np.asarray(b0, float) / np.linalg.norm(b0)
    xyz = (np.indices((N, N, N)).astype(float) - (N - 1) / 2) * VS
    brain = np.sqrt((xyz**2).sum(0)) < 42.0
    # air (+9.4 ppm against tissue) in two spheres outside the brain: below it (along B0)
    # and beside it
    bg = _sphere_field(xyz, (0, 0, -72), 14.0, 9.4, b0) + _sphere_field(
        xyz, (70, 0, 0), 10.0, 9.4, b0
    )
    # a paramagnetic sphere (a vein or iron deposit) inside the brain
    local = _sphere_field(xyz, (10, 5, 0), 4.0, 0.2, b0)
    return xyz, brain, bg, local


def test_sphere_kernel_is_normalised_and_symmetric():
    k = sphere_kernel((16, 16, 16), (1.0, 1.0, 2.0), 3.0)
    assert k.sum() == pytest.approx(1.0)
    assert np.allclose(k, np.roll(k[::-1, ::-1, ::-1], 1, axis=(0, 1, 2)))
    assert np.count_nonzero(k[:, 0, 0]) == 7  # -3..3 voxels of 1 mm along x
    assert np.count_nonzero(k[0, 0, :]) == 3  # -1..1 voxels of 2 mm along z


def test_vsharp_removes_a_harmonic_field_exactly():
    xyz, brain, _, _ = _head()
    x, y, z = xyz / 10
    harmonic = 3.0 * (x**2 - y**2) + 2.0 * z - 1.5 * x * y + 7.0  # radians
    local, valid = vsharp(harmonic, brain, (VS,) * 3, max_radius_mm=10.0)
    assert valid.sum() > 0.8 * brain.sum()
    assert np.abs(local[valid]).max() < 1e-3 * np.abs(harmonic[brain]).max()


def test_air_spheres_outside_the_brain_are_removed_from_wrapped_phase():
    _, brain, bg, local = _head()
    total = RPP * (bg + local)
    assert np.ptp(total[brain]) > 3 * np.pi  # wraps inside the brain
    wrapped = np.angle(np.exp(1j * total))
    unwrapped = unwrap_laplacian(wrapped, (VS,) * 3, mask=brain)
    est, valid = vsharp(unwrapped, brain, (VS,) * 3, max_radius_mm=10.0)
    truth = RPP * local
    err = est[valid] - truth[valid]
    err -= err.mean()
    bg_rms = np.std(RPP * bg[valid])
    rms = np.sqrt(np.mean(err**2))
    assert rms < 0.02 * bg_rms  # the background is gone ...
    near = valid & (np.abs(truth) > 0.1)
    assert np.corrcoef(est[near], truth[near])[0, 1] > 0.95  # ... and the local field kept


@pytest.mark.parametrize("tilt", [0.0, 25.0])
def test_pdf_removes_the_air_spheres_with_b0_tilted(tilt):
    b0 = np.array([0.0, np.sin(np.deg2rad(tilt)), np.cos(np.deg2rad(tilt))])
    _, brain, bg, local = _head(b0)
    total = RPP * (bg + local)
    unwrapped = unwrap_laplacian(np.angle(np.exp(1j * total)), (VS,) * 3, mask=brain)
    inner = brain & (np.sqrt(((np.indices(brain.shape) - (N - 1) / 2) ** 2).sum(0)) * VS < 38)
    est = pdf(unwrapped, brain, (VS,) * 3, b0, n_iter=40)
    e = (est - RPP * local)[inner]
    assert np.sqrt(np.mean((e - e.mean()) ** 2)) < 0.01 * np.std(RPP * bg[inner])


def test_homodyne_removes_a_receiver_offset_and_a_slow_ramp_exactly():
    shape = (64, 64, 8)
    i = np.indices(shape)[0]
    phase = 1.2 + 2 * np.pi * 3 * i / shape[0]  # 3 cycles over the FOV: below the cutoff
    out = homodyne(np.angle(np.exp(1j * phase)), (1.0, 1.0, 2.0), window_mm=8.0)
    assert np.abs(out).max() < 1e-4


def test_homodyne_keeps_a_small_vein_and_loses_slow_local_fields():
    shape = (64, 64, 8)
    g = np.indices(shape).astype(float)
    vein = 0.5 * (((g[0] - 32) ** 2 + (g[1] - 30) ** 2) < 2)  # 1.5 mm across, 0.5 rad
    slow = 0.5 * np.exp(-(((g[0] - 32) ** 2 + (g[1] - 30) ** 2) / (2 * 12.0**2)))  # 12 mm
    out_vein = homodyne(vein, (1.0, 1.0, 2.0), window_mm=8.0)
    out_slow = homodyne(slow, (1.0, 1.0, 2.0), window_mm=8.0)
    assert out_vein[32, 30, 4] > 0.3  # most of the vein's phase survives
    assert abs(out_slow[32, 30, 4]) < 0.1  # a 12 mm blob is mostly filtered away
