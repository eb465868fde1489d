"""The mask of reliable phase: brain kept, noise and scalp left out, dark spots filled."""

from __future__ import annotations

import numpy as np

from smoulder.imaging.phase.mask import phase_quality, signal_mask


def _head(shape=(48, 48, 16)):
    rng = np.random.default_rng(0)
    g = np.indices(shape).astype(float)
    r = np.sqrt((g[0] - 23.5) ** 2 + (g[1] - 23.5) ** 2)
    brain = r < 15
    scalp = (r > 18) & (r < 21)  # separated from the brain by a dark skull ring
    mag = np.where(brain, 1000.0, 0.0) + np.where(scalp, 1200.0, 0.0)
    mag += np.abs(rng.normal(0, 10, shape))
    smooth = 0.3 * g[0] + 0.2 * g[2]
    phase = np.where(brain | scalp, smooth, rng.uniform(-np.pi, np.pi, shape))
    return np.angle(np.exp(1j * phase)), mag, brain


def test_quality_is_low_for_smooth_phase_and_high_for_noise():
    phase, _, brain = _head()
    q = phase_quality(phase)
    g = np.indices(brain.shape)
    deep = np.sqrt((g[0] - 23.5) ** 2 + (g[1] - 23.5) ** 2) < 12  # 3 voxels from the noise
    assert q[deep].max() < 0.05  # a noise-free ramp: wrapped second differences are 0
    rng = np.random.default_rng(1)
    noise = phase_quality(rng.uniform(-np.pi, np.pi, (20, 20, 20)))[3:-3, 3:-3, 3:-3]
    assert abs(np.median(noise) - np.pi / np.sqrt(3)) < 0.15  # uniform noise: pi / sqrt(3)


def _deep(brain, margin=2.0):
    """The brain less its outer ``margin`` voxels, whose second differences reach the noise."""
    g = np.indices(brain.shape)
    return brain & (np.sqrt((g[0] - 23.5) ** 2 + (g[1] - 23.5) ** 2) < 15 - margin)


def test_mask_keeps_the_brain_and_its_end_slices_and_leaves_out_scalp_and_noise():
    phase, mag, brain = _head()
    m = signal_mask(phase, (1.0, 1.0, 2.0), magnitude=mag, erode_mm=0.0)
    assert not m[~brain].any()  # no scalp, no air
    assert m[_deep(brain)].all()
    # the first and last slices of the slab are kept (their phase is as good as the rest)
    assert m[:, :, 0][_deep(brain)[:, :, 0]].all()
    assert m[:, :, -1][_deep(brain)[:, :, -1]].all()


def test_dark_veins_through_the_whole_slab_are_filled():
    """A hole open to the slab's top and bottom faces is filled slice by slice (regression:
    the slice-wise filling ran on (n, m, 1) blocks, whose every voxel touches an edge)."""
    phase, mag, brain = _head()
    mag[20:23, 20:23, :] = 5.0  # a vein running through every slice, dark at long TE
    m = signal_mask(phase, (1.0, 1.0, 2.0), magnitude=mag, erode_mm=0.0)
    assert m[20:23, 20:23, :].all()


def test_without_magnitude_the_phase_quality_alone_finds_the_head():
    phase, _, brain = _head()
    m = signal_mask(phase, (1.0, 1.0, 2.0), erode_mm=0.0)
    assert m[_deep(brain)].all()
    assert m.sum() < 1.6 * brain.sum()  # brain (and possibly scalp), never the noise


def test_aliased_phase_open_to_the_slab_face_stays_out():
    """Noise-like phase above a sinus: enclosed in its slices, open to the slab's bottom face.

    Slice-wise filling must not bring it in (regression: it did, and its unwrapping errors
    reached 30 ppb across the lower brain)."""
    phase, mag, brain = _head()
    rng = np.random.default_rng(5)
    g = np.indices(brain.shape)
    blob = ((g[0] - 24) ** 2 + (g[1] - 20) ** 2 < 16) & (g[2] < 4)
    phase[blob] = rng.uniform(-np.pi, np.pi, blob.sum())  # signal, but no usable phase
    m = signal_mask(phase, (1.0, 1.0, 2.0), magnitude=mag, erode_mm=0.0)
    assert not m[blob].any()
    assert m[_deep(brain) & (g[2] >= 6)].all()
