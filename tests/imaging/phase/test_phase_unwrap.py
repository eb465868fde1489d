"""Unwrapping: exact up to a constant wherever the phase changes by less than pi per voxel."""

from __future__ import annotations

import numpy as np
import pytest

from smoulder.imaging.phase.unwrap import unwrap_laplacian, unwrap_quality_guided


def _wrap(x):
    return np.angle(np.exp(1j * x))


def _same_up_to_constant(a, b, mask=None, atol=1e-8):
    d = a - b
    if mask is not None:
        d = d[mask]
    return np.allclose(d, d.mean(), atol=atol)


def test_linear_ramp_wrapped_many_times_is_unwrapped_exactly_up_to_a_constant():
    shape = (30, 24, 12)
    i, j, k = np.indices(shape).astype(float)
    ramp = 1.1 * i - 0.7 * j + 2.5 * k  # 2.5 rad per slice: 4.8 turns over the slices
    wrapped = _wrap(ramp)
    assert np.abs(wrapped).max() <= np.pi
    assert (ramp.max() - ramp.min()) / (2 * np.pi) > 10  # many wraps
    out = unwrap_laplacian(wrapped, zooms=(0.8, 0.8, 2.0))
    assert _same_up_to_constant(out, ramp)


def test_smooth_field_of_25_radians_is_unwrapped_exactly():
    shape = (40, 40, 20)
    g = np.indices(shape).astype(float)
    r2 = ((g[0] - 20) / 12) ** 2 + ((g[1] - 18) / 10) ** 2 + ((g[2] - 10) / 8) ** 2
    phase = 25.0 * np.exp(-r2)  # steepest step 2.7 rad per voxel, below pi
    assert max(np.abs(np.diff(phase, axis=a)).max() for a in range(3)) < np.pi
    out = unwrap_laplacian(_wrap(phase), zooms=(1.0, 1.0, 1.0))
    assert _same_up_to_constant(out, phase, atol=1e-7)


def test_quality_guided_unwrapping_is_exact_inside_the_mask():
    shape = (30, 24, 12)
    i, j, k = np.indices(shape).astype(float)
    ramp = 1.1 * i - 0.7 * j + 0.9 * k
    mask = ((i - 15) ** 2 + (j - 12) ** 2 < 100) & (k > 1)
    noise = np.random.default_rng(3).uniform(-np.pi, np.pi, shape)
    wrapped = np.where(mask, _wrap(ramp), noise)  # noise outside the mask
    out = unwrap_quality_guided(wrapped, mask)
    assert _same_up_to_constant(out, ramp, mask)
    assert np.all(out[~mask] == 0)


def test_laplacian_unwrap_errs_only_by_a_harmonic_field_that_vsharp_removes():
    """Noise outside the mask: the error inside is large but harmonic, so V-SHARP takes it away."""
    from smoulder.imaging.phase.background import vsharp

    shape = (32, 32, 32)
    g = np.indices(shape).astype(float)
    mask = (((g - 15.5) / 12) ** 2).sum(0) < 1
    ramp = 0.8 * g[0] + 0.3 * g[2]  # harmonic itself: V-SHARP of the truth is 0
    noise = np.random.default_rng(4).uniform(-np.pi, np.pi, shape)
    out = unwrap_laplacian(np.where(mask, _wrap(ramp), noise), mask=mask)
    err = (out - ramp)[mask]
    assert np.std(err) > 1.0  # far from exact inside ...
    local, valid = vsharp(out, mask, (1.0, 1.0, 1.0), max_radius_mm=6.0)
    assert valid.sum() > 4000
    assert np.abs(local[valid]).max() < 0.02  # ... but nothing of it survives V-SHARP


@pytest.mark.parametrize("zooms", [(1.0, 1.0, 1.0), (0.6, 0.6, 2.4)])
def test_unwrapping_does_not_change_phase_without_wraps(zooms):
    rng = np.random.default_rng(5)
    p = rng.uniform(-0.3, 0.3, (10, 12, 8))
    out = unwrap_laplacian(p, zooms=zooms)
    assert _same_up_to_constant(out, p)
