"""Detection on the constructed brain of conftest.py: what is found, where, and how big."""

from __future__ import annotations

import numpy as np
import pytest

from conftest import flair_image, geometry, image, priors_of
from smoulder.imaging.lesionseg import LesionSegSettings, segment_lesions
from smoulder.imaging.lesionseg.detect import location_classes

LESION = 180.0  # FLAIR of a lesion voxel (white matter 100, cortex 125)


def _run(g, lesions, *, zooms=(1.0, 1.0, 1.0), settings=None, seed=0):
    f = flair_image(g, lesions, seed=seed)
    return segment_lesions(
        image(f, zooms),
        brain_mask=g["brain"],
        priors=priors_of(g),
        settings=settings or LesionSegSettings(n4=False),
    )


def test_a_three_voxel_lesion_is_found_whole_and_nothing_else(box_brain):
    vox = [(12, 12, 28), (13, 12, 28), (12, 13, 28)]
    res = _run(box_brain, {v: LESION for v in vox})
    t = res.summary
    assert len(t) == 1
    row = t.iloc[0]
    assert row["n_voxels"] == 3
    assert row["volume_mm3"] == pytest.approx(3.0)
    # centroid by hand: mean of the three voxels (identity affine)
    assert (row["centroid_x_mm"], row["centroid_y_mm"], row["centroid_z_mm"]) == pytest.approx(
        (37 / 3, 37 / 3, 28.0)
    )
    assert row["location"] == "deep white matter"
    assert set(map(tuple, np.argwhere(res.labels > 0))) == set(vox)


def test_a_lesion_of_two_voxels_is_not_reported(box_brain):
    res = _run(box_brain, {(12, 12, 28): LESION, (13, 12, 28): LESION})
    assert res.n_lesions == 0


def test_white_matter_alone_gives_no_lesions(box_brain):
    for seed in range(3):
        assert _run(box_brain, {}, seed=seed).n_lesions == 0


def test_a_bright_cortex_is_not_a_lesion(box_brain):
    """A patch of cortex at grey-matter brightness + 10 % stays out (it is cortex, not lesion)."""
    g = box_brain
    lesions = {(5, y, z): 137.0 for y in range(20, 24) for z in range(20, 24)}
    assert _run(g, lesions).n_lesions == 0


def test_thick_slices_keep_a_lesion_one_slice_thin():
    """4 mm slices: a lesion on a single slice (3 x 2 voxels in-plane) is found, all 6 voxels."""
    g = geometry(shape=(48, 48, 10))
    # rebuild the box brain in slices: brain z 1..8, cortex the outer voxel in z, 3 voxels in-plane
    x, y, z = np.indices((48, 48, 10))
    brain = (x >= 4) & (x < 44) & (y >= 4) & (y < 44) & (z >= 1) & (z < 9)
    inner = (x >= 7) & (x < 41) & (y >= 7) & (y < 41) & (z >= 2) & (z < 8)
    vent = (x >= 20) & (x < 28) & (y >= 16) & (y < 32) & (z >= 4) & (z < 6)
    g = {
        "brain": brain,
        "gm": brain & ~inner,
        "csf": vent,
        "wm": brain & inner & ~vent,
        "infra": brain & (z < 2),
        "vent": vent,
    }
    vox = [(i, j, 5) for i in (12, 13, 14) for j in (12, 13)]
    res = _run(g, {v: LESION for v in vox}, zooms=(1.0, 1.0, 4.0))
    assert res.n_lesions == 1
    assert res.summary.iloc[0]["n_voxels"] == 6
    assert res.summary.iloc[0]["volume_mm3"] == pytest.approx(24.0)


def test_location_classes_on_the_constructed_geometry(box_brain):
    g = box_brain
    lesions = {}
    deep = [(12, 12, 28), (13, 12, 28), (12, 13, 28), (13, 13, 28)]
    peri = [
        (29, 22, 18),
        (29, 23, 18),
        (30, 22, 18),
        (30, 23, 18),
    ]  # 1-2 mm from the ventricle (x < 28)
    juxta = [(8, 30, 26), (8, 31, 26), (9, 30, 26), (9, 31, 26)]  # 1-2 mm from cortex (x < 7)
    infra = [(24, 36, 9), (25, 36, 9), (24, 37, 9), (25, 37, 9)]  # z < 12
    for group in (deep, peri, juxta, infra):
        for v in group:
            lesions[v] = LESION
    res = _run(g, lesions)
    t = res.summary
    assert len(t) == 4
    where = {}
    for _, r in t.iterrows():
        c = (round(r["centroid_x_mm"]), round(r["centroid_y_mm"]), round(r["centroid_z_mm"]))
        where[c] = r["location"]
    assert where[(12, 12, 28)] == "deep white matter"
    assert where[(30, 22, 18)] == "periventricular"
    assert where[(8, 30, 26)] == "juxtacortical"
    assert where[(24, 36, 9)] == "infratentorial"


def test_location_class_precedence_and_distances():
    """By hand on a line of voxels: ventricle at x=0, cortex at x=10, infratentorial below z=1."""
    shape = (12, 3, 3)
    vent = np.zeros(shape, bool)
    vent[0] = True
    cortex = np.zeros(shape, bool)
    cortex[11] = True
    infra = np.zeros(shape, bool)
    labels = np.zeros(shape, np.int32)
    labels[3, 1, 1] = 1  # 3 mm from the ventricle: periventricular at 3 mm, not at 2.9
    labels[9, 1, 1] = 2  # 2 mm from cortex
    labels[6, 1, 1] = 3  # 6 mm from the ventricle, 5 mm from cortex
    got = location_classes(
        labels,
        np.ones(3),
        ventricles=vent,
        cortex=cortex,
        infratentorial=infra,
        periventricular_mm=3.0,
        juxtacortical_mm=2.0,
    )
    assert got == {1: "periventricular", 2: "juxtacortical", 3: "deep white matter"}
    tighter = location_classes(
        labels,
        np.ones(3),
        ventricles=vent,
        cortex=cortex,
        infratentorial=infra,
        periventricular_mm=2.9,
        juxtacortical_mm=1.9,
    )
    assert tighter == {1: "deep white matter", 2: "deep white matter", 3: "deep white matter"}
    infra[9] = True  # lesion 2 now lies in the infratentorial region: that wins
    got = location_classes(
        labels,
        np.ones(3),
        ventricles=vent,
        cortex=cortex,
        infratentorial=infra,
        periventricular_mm=3.0,
        juxtacortical_mm=2.0,
    )
    assert got[2] == "infratentorial"


def test_results_are_deterministic(box_brain):
    les = {(12, 12, 28): LESION, (13, 12, 28): LESION, (12, 13, 28): LESION}
    a = _run(box_brain, les)
    b = _run(box_brain, les)
    assert np.array_equal(a.labels, b.labels)
    assert a.summary.equals(b.summary)
