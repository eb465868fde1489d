"""Diagnosis: the segmented SEL expansion measure on small lesions (issue 12 section 6).

Synthetic balls (radius 1.5-4 mm, tuning-family style: a lesion of contrast C over white matter,
noise, gain and bias drift) are made on a fine grid, blurred by a point-spread function,
averaged into 1 or 2 mm voxels at a random sub-voxel offset per visit and resampled (trilinear)
back onto one common grid, as the halfway space does. A large stable lesion beside them gives
the visit contrast (deep cores). Prints measured / injected volume ratio by size for
``segmented_volume`` with the given options. Not the held-out family.

    python scripts/sel_small_lesions.py --voxel 2 --n 150 [--noise 0.036] [--opts "{'noise_floor': 0}"]

The defaults are the engine's measure; round 6's opt-in variant:
--opts "{'blur_voxels': 2.5, 'noise_floor': 2.0, 'union': True}".
"""

from __future__ import annotations

import argparse
import ast

import numpy as np
from scipy import ndimage

from smoulder.imaging.sel.volume import segmented_volume

FINE = 4  # sub-samples per voxel side


def _scan(centres, radii, contrasts, voxel, shape, offset, psf_vox, gain, noise, rng):
    """One visit on the common grid: lesions drawn on a fine grid shifted by ``offset`` voxels,
    blurred, block-averaged, noise added, resampled back by ``-offset`` (trilinear)."""
    fs = tuple(n * FINE for n in shape)
    g = (np.indices(fs).astype(np.float32) + 0.5) / FINE - 0.5  # voxel coords of fine samples
    img = np.ones(fs, np.float32)
    for c, r, k in zip(centres, radii, contrasts, strict=True):
        d2 = sum((g[i] - (c[i] + offset[i])) ** 2 for i in range(3)) * voxel**2
        img += k * (d2 <= r**2)
    img = ndimage.gaussian_filter(img, psf_vox * FINE)
    acq = img.reshape(shape[0], FINE, shape[1], FINE, shape[2], FINE).mean(axis=(1, 3, 5))
    acq = acq + noise * rng.normal(size=shape)
    bias = 1.0 + 0.03 * (np.indices(shape)[0] - shape[0] / 2) / shape[0]
    acq = gain * bias * acq
    return ndimage.shift(acq, -np.asarray(offset), order=1, mode="nearest")


def trial(rng, voxel, noise, years=(0, 1, 2), **opts):
    r0 = rng.uniform(1.5, 4.0)
    rate = rng.choice([0.0, rng.uniform(4, 20)])
    big_r = 6.0
    n = int(np.ceil(2 * (big_r + r0 + 14) / voxel)) + 2
    shape = (
        n,
        max(int(np.ceil((2 * r0 + 24) / voxel)), 14),
        max(int(np.ceil((2 * big_r + 16) / voxel)), 14),
    )
    small_c = np.array([(r0 + 8) / voxel, shape[1] / 2 - 0.3, shape[2] / 2 + 0.2]) + rng.uniform(
        -0.5, 0.5, 3
    )
    big_c = np.array([n - (big_r + 8) / voxel, shape[1] / 2, shape[2] / 2])
    k_small, k_big = rng.uniform(0.6, 0.9, 2)
    psf = 0.4  # voxels (sigma)
    flair = []
    for t in years:
        rad = r0 * (1 + rate / 100) ** (t / 3)
        off = rng.uniform(-0.5, 0.5, 3) if t > 0 else np.zeros(3)
        gain = 1.0 if t == 0 else 1 + 0.05 * rng.normal()
        flair.append(
            _scan(
                [small_c, big_c],
                [rad, big_r],
                [k_small, k_big],
                voxel,
                shape,
                off,
                psf,
                gain,
                noise,
                rng,
            )
        )

    # baseline mask: share of each voxel inside the baseline lesions >= 0.5 (no blur)
    def _occ(c, r):
        return _scan([c], [r], [1.0], voxel, shape, np.zeros(3), 1e-3, 1.0, 0.0, rng) - 1.0

    occ_small, occ_big = _occ(small_c, r0), _occ(big_c, big_r)
    labels = np.zeros(shape, int)
    labels[occ_big >= 0.5] = 2
    labels[occ_small >= 0.5] = 1
    if not (labels == 1).any():
        labels[np.unravel_index(np.argmax(occ_small), shape)] = 1
    brain = np.ones(shape, bool)
    v = segmented_volume(flair, labels, brain, np.full(3, voxel), **opts)[1]
    injected = (1 + rate / 100) ** (years[-1])
    return r0, rate, float(v[-1] / v[0]), injected


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--voxel", type=float, default=2.0)
    ap.add_argument("--n", type=int, default=150)
    ap.add_argument("--noise", type=float, default=0.036)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--opts", default="{}", help="python dict of segmented_volume options")
    a = ap.parse_args()
    rng = np.random.default_rng(a.seed)
    opts = ast.literal_eval(a.opts)
    rows = [trial(rng, a.voxel, a.noise, **opts) for _ in range(a.n)]
    for lo, hi, name in ((1.5, 2.5, "small 1.5-2.5 mm"), (2.5, 4.0, "medium 2.5-4 mm")):
        grow = [m_ - 1 for r, rate, m_, inj in rows if lo <= r < hi and rate > 0 for _ in [0]]
        ratio = [(m_ - 1) / (inj - 1) for r, rate, m_, inj in rows if lo <= r < hi and rate > 0]
        stable = [m_ for r, rate, m_, inj in rows if lo <= r < hi and rate == 0]
        print(
            f"{name}: expanding n={len(ratio)} median measured/injected growth "
            f"{np.median(ratio):.2f} (IQR {np.percentile(ratio, 25):.2f}-{np.percentile(ratio, 75):.2f}); "
            f"stable n={len(stable)} median ratio {np.median(stable):.3f} "
            f"(IQR {np.percentile(stable, 25):.3f}-{np.percentile(stable, 75):.3f})"
        )
        del grow


if __name__ == "__main__":
    main()
