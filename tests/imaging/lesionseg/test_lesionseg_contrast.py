"""Lesions that are isointense on T1, faint ones, and a large lesion inside its own reference.

Geometry and intensities from conftest.py (white matter 100, cortex 125, CSF 30, noise SD 2).
"""

from __future__ import annotations

import numpy as np
import pytest

from conftest import WM, flair_image, image, priors_of, t1_of
from smoulder.imaging.lesionseg import LesionSegSettings, segment_lesions
from smoulder.imaging.lesionseg.prepare import contrast_maps


@pytest.mark.parametrize("classifier", ["off", "logistic"])
def test_a_t1_isointense_flair_bright_lesion_is_found_whole(box_brain, classifier):
    """A 3 x 3 x 3 lesion at FLAIR 180 whose T1 equals white matter's (100): 27 voxels found."""
    g = box_brain
    cube = [(i, j, k) for i in range(12, 15) for j in range(12, 15) for k in range(26, 29)]
    f = flair_image(g, {v: 180.0 for v in cube})
    t1 = t1_of(g)  # the lesion is left at the white-matter value: isointense
    res = segment_lesions(
        image(f),
        t1=image(t1, source="t1.nii.gz"),
        brain_mask=g["brain"],
        priors=priors_of(g),
        settings=LesionSegSettings(n4=False, classifier=classifier),
    )
    assert res.n_lesions == 1
    assert set(map(tuple, np.argwhere(res.labels > 0))) == set(cube)


def test_a_faint_deep_lesion_not_brighter_than_cortex_is_found(box_brain):
    """FLAIR 120: 10 noise SDs above white matter but below cortex (125), deep in white matter."""
    g = box_brain
    cube = [(i, j, k) for i in range(12, 15) for j in range(12, 15) for k in range(26, 29)]
    res = segment_lesions(
        image(flair_image(g, {v: 120.0 for v in cube})),
        brain_mask=g["brain"],
        priors=priors_of(g),
        settings=LesionSegSettings(n4=False),
    )
    assert res.n_lesions == 1
    assert set(map(tuple, np.argwhere(res.labels > 0))) == set(cube)


def test_a_bright_cortical_ribbon_is_not_a_lesion(box_brain):
    """The whole outer cortex 20 % brighter than cortex elsewhere would be: 150 (no lesion)."""
    g = box_brain
    f = flair_image(g)
    ribbon = g["gm"] & (np.indices(f.shape)[2] >= 20)
    f[ribbon] = 150.0
    res = segment_lesions(
        image(f), brain_mask=g["brain"], priors=priors_of(g), settings=LesionSegSettings(n4=False)
    )
    assert res.n_lesions == 0


def test_a_large_lesion_does_not_raise_its_own_white_matter_reference():
    """A 16 mm cube 30 % brighter than white matter, classed as white matter (as a T1-isointense
    lesion is): with the reference leaving out voxels > 10 % above a first local mean, its
    centre is (130 - 100) / 2 = 15 SDs and 0.30 above white matter; without, much less."""
    shape = (48, 48, 48)
    rng = np.random.default_rng(3)
    brain = np.zeros(shape, bool)
    brain[2:-2, 2:-2, 2:-2] = True
    f = np.where(brain, WM, 0.0).astype(np.float32)
    f[16:32, 16:32, 16:32] = 130.0
    f = (f + rng.normal(0, 2.0, shape) * brain).astype(np.float32)
    pw = brain.astype(np.float32)
    zero = np.zeros(shape, np.float32)
    g = {"brain": brain, "wm": brain, "gm": zero > 0, "csf": zero > 0, "infra": zero > 0}
    g["vent"] = zero > 0
    priors = priors_of(g)
    zooms = np.ones(3)
    on = LesionSegSettings(nawm_exclude_contrast=0.1, smooth_mm=0.0)
    off = on.replace(nawm_exclude_contrast=0.0)
    z_on, _, c_on, _, ref = contrast_maps(f, f, brain, zero, zero, pw, priors, zooms, on)
    z_off, _, _, _, _ = contrast_maps(f, f, brain, zero, zero, pw, priors, zooms, off)
    centre = (slice(22, 26),) * 3
    assert float(np.median(z_on[centre])) == pytest.approx(15.0, abs=2.0)
    assert float(np.median(c_on[centre])) == pytest.approx(0.30, abs=0.03)
    assert ref[16:32, 16:32, 16:32].mean() < ref[2:12, 2:12, 2:12].mean()  # mostly left out
    assert float(np.median(z_off[centre])) < 7.5  # inside its own reference it fades
