"""Phantom families A and B: every PRL mimic, oblique grids, a measured ground truth."""

from __future__ import annotations

import numpy as np
import pytest

from smoulder.imaging.dipole import b0_direction
from smoulder.synth.mri import simulate_mri_phantom
from smoulder.synth.mri_heldout import PRL_MIN_COVERAGE, simulate_heldout_phantom

BOX = ((-40, 40), (-40, 20), (10, 40))
KINDS = ["prl", "partial_rim", "central_vein", "diffuse", "vein_adjacent", "rimless"]


@pytest.fixture(scope="module")
def family_a():
    return simulate_mri_phantom(
        seed=3,
        voxel_size=2.0,
        kinds=KINDS,
        box_mm=BOX,
        radius_mm=(4.0, 5.0),
        partial_coverage=(0.2, 0.4),
        shape_weights={"ellipsoid": 0.5, "lobulated": 0.5},
        oblique_deg=20.0,
        oblique_axis=(1.0, 0.0, 0.0),
    )


def test_family_a_draws_every_mimic_with_its_truth(family_a):
    t = family_a.truth.set_index("kind")
    assert list(family_a.truth["kind"]) == KINDS
    assert family_a.truth["is_prl"].tolist() == [True, False, False, False, False, False]
    assert t.loc["central_vein", "central_vein"] and not t.loc["rimless", "central_vein"]
    assert t.loc["vein_adjacent", "edge_vein"] and not t.loc["prl", "edge_vein"]
    assert 0.2 <= t.loc["partial_rim", "rim_coverage"] <= 0.4
    assert t.loc["prl", "rim_coverage"] >= 0.7
    assert t.loc["diffuse", "core_delta_ppm"] > t.loc["rimless", "core_delta_ppm"]
    assert set(family_a.truth["shape"]) <= {"ellipsoid", "lobulated"}


def test_family_a_oblique_grid_keeps_b0_along_world_z(family_a):
    # the grid turned 20 degrees about x: B0 seen from the voxel axes is (0, sin 20, cos 20)
    b = b0_direction(family_a.phase.affine)
    t = np.radians(20.0)
    assert b == pytest.approx([0.0, np.sin(t), np.cos(t)], abs=1e-9)
    assert np.allclose(family_a.phase.header.get_zooms(), 2.0)


@pytest.fixture(scope="module")
def family_b():
    return simulate_heldout_phantom(
        seed=4,
        voxel_size=2.0,
        box_mm=((-30, 30), (-30, 20), (12, 36)),
        kinds=["prl", "partial_rim", "central_vein"],
        diameter_mm=(8.0, 10.0),
        oblique_max_deg=15.0,
        n_veins=5,
    )


def test_family_b_truth_is_the_measured_coverage(family_b):
    t = family_b.truth
    assert list(t["designed_kind"]) == ["prl", "partial_rim", "central_vein"]
    # a PRL by measurement: the noise-free rim covers >= 2/3 of the edge on 2 consecutive slices
    assert (t["is_prl"] == (t["truth_coverage"] >= PRL_MIN_COVERAGE - 1e-9)).all()
    assert not t.loc[t["designed_kind"] == "central_vein", "is_prl"].any()
    assert t.loc[t["designed_kind"] == "central_vein", "central_vein"].all()
    labels = np.asarray(family_b.lesions.dataobj)
    assert sorted(np.unique(labels[labels > 0]).tolist()) == t["label"].tolist()


@pytest.mark.slow
def test_family_b_is_oblique_within_the_limit_and_deterministic(family_b):
    b = b0_direction(family_b.phase.affine)
    tilt = np.degrees(np.arccos(abs(b[2])))
    assert 0.0 < tilt <= 15.0 + 1e-9
    again = simulate_heldout_phantom(
        seed=4,
        voxel_size=2.0,
        box_mm=((-30, 30), (-30, 20), (12, 36)),
        kinds=["prl", "partial_rim", "central_vein"],
        diameter_mm=(8.0, 10.0),
        oblique_max_deg=15.0,
        n_veins=5,
    )
    assert np.array_equal(np.asarray(again.phase.dataobj), np.asarray(family_b.phase.dataobj))
