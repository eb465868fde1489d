"""Template placement: starting poses, the brain check, refusals, skull-stripped inputs."""

from __future__ import annotations

import numpy as np
import pytest

from smoulder.imaging.lesionseg.prepare import stripped_brain
from smoulder.imaging.lesionseg.register import (
    BRAIN_LITRES,
    INSIDE_MIN,
    RegistrationFailed,
    StartCheck,
    start_poses,
    to_ants,
)


def test_start_poses_put_the_template_centre_on_each_subject_centre():
    tc = np.array([0.0, -18.0, 18.0])
    centres = {"a": np.array([10.0, 20.0, 30.0]), "b": np.array([-5.0, 0.0, 0.0])}
    poses = start_poses(centres, tc, shifts_mm=(-15.0, 15.0), angles_deg=(-15.0, 15.0))
    # per centre: itself, two shifts, two pitches
    assert len(poses) == 2 * 5
    for name, pose in poses.items():
        c = centres[name.split()[0]]
        moved = pose[:3, :3] @ tc + pose[:3, 3]
        if "mm S" in name:
            dz = float(name.split()[1])
            assert moved == pytest.approx(c + [0, 0, dz])
        else:
            assert moved == pytest.approx(c)  # rotations turn about the brain centre
        r = pose[:3, :3]
        assert r @ r.T == pytest.approx(np.eye(3), abs=1e-12)
        assert np.linalg.det(r) == pytest.approx(1.0)
    # a pitch of 15 degrees turns the S axis by 15 degrees towards A or P
    r = poses["a pitch +15 deg"][:3, :3]
    assert float(np.degrees(np.arccos(r[2, 2]))) == pytest.approx(15.0)
    assert r[0] == pytest.approx([1, 0, 0])


def test_a_pose_moves_the_ants_image_in_world_space():
    pose = np.eye(4)
    pose[:3, 3] = [5.0, -3.0, 2.0]
    a = np.eye(4)
    img = to_ants(np.ones((4, 4, 4), np.float32), a, pose)
    # ANTs stores LPS: x and y flip sign
    assert img.origin == pytest.approx((-5.0, 3.0, 2.0))
    img2 = to_ants(np.ones((4, 4, 4), np.float32), a, np.array([5.0, -3.0, 2.0]))
    assert img2.origin == pytest.approx(img.origin)


@pytest.mark.parametrize(
    ("inside", "litres", "ok"),
    [
        (0.99, 1.5, True),
        (INSIDE_MIN - 0.01, 1.5, False),  # partly outside the head
        (0.99, BRAIN_LITRES[0] - 0.05, False),  # a brain of 0.85 L: shrunk into a corner
        (0.99, BRAIN_LITRES[1] + 0.1, False),  # blown up over the whole head
    ],
)
def test_the_brain_check(inside, litres, ok):
    assert StartCheck("s", -0.5, inside, litres).ok is ok


def test_refusal_names_the_remedy_numbers_and_best_start():
    checks = [
        StartCheck("top of head", -0.4, 0.55, 0.3),
        StartCheck("centre of mass", -0.3, 0.8, 2.6),
    ]
    msg = str(RegistrationFailed(checks))
    assert "2 starting poses" in msg and "0.9-2.1 L" in msg
    assert "centre of mass" in msg.split("best was")[1]  # more of it inside the head
    assert "80%" in msg


def _brain_in_a_box(shape=(60, 60, 60), radius=(40, 35, 30)):
    g = np.indices(shape, dtype=float)
    c = (np.array(shape) - 1) / 2
    return sum(((g[i] - c[i]) / (radius[i] / 2)) ** 2 for i in range(3)) <= 1.0


def test_a_skull_stripped_image_is_recognised_and_its_nonzero_part_is_the_brain():
    rng = np.random.default_rng(3)
    brain = _brain_in_a_box()
    d = np.where(brain, rng.normal(100, 10, brain.shape), 0).astype(np.float32)
    d[30, 30, 30] = 0  # an exact zero inside (a dark voxel): part of the brain still
    zooms = np.array([2.0, 2.0, 2.0])  # ellipsoid of 80 x 70 x 60 mm: 4/3 pi 40 35 30 = 0.18 L
    litres = brain.sum() * 8 / 1e6
    assert litres == pytest.approx(4 / 3 * np.pi * 40 * 35 * 30 / 1e6, rel=0.05)
    # too small for a brain at 2 mm: not taken as skull-stripped
    assert stripped_brain(d, zooms) is None
    # at 4 mm voxels it is 1.4 L: a brain
    found = stripped_brain(d, np.array([4.0, 4.0, 4.0]))
    assert found is not None and np.array_equal(found, brain)


def test_a_scanner_image_with_noise_around_the_head_is_not_skull_stripped():
    rng = np.random.default_rng(4)
    brain = _brain_in_a_box()
    d = np.where(brain, 100.0, 0.0) + np.abs(rng.normal(0, 3, brain.shape))
    assert stripped_brain(d.astype(np.float32), np.array([4.0, 4.0, 4.0])) is None
    # and an image whose non-zero voxels are scattered outside the main part is not either
    d2 = np.where(brain, 100.0, 0.0).astype(np.float32)
    d2[::3, ::3, :2] = 5.0
    assert stripped_brain(d2, np.array([4.0, 4.0, 4.0])) is None


def test_a_failed_placement_stops_the_run_with_a_message_suggesting_brain_mask(
    tmp_path, monkeypatch
):
    import nibabel as nib

    from smoulder.exceptions import InputDataError
    from smoulder.pipelines import lesions as pipeline

    rng = np.random.default_rng(0)
    path = tmp_path / "flair.nii.gz"
    nib.save(nib.Nifti1Image(rng.uniform(1, 2, (12, 12, 12)).astype(np.float32), np.eye(4)), path)

    def fail(*a, **k):
        raise RegistrationFailed([StartCheck("top of head", -0.1, 0.4, 0.5)])

    monkeypatch.setattr(pipeline, "segment_lesions", fail)
    with pytest.raises(InputDataError) as e:
        pipeline.run(path, out=tmp_path / "out")
    msg = str(e.value)
    assert "--brain-mask" in msg and str(path) in msg and "40% of the brain inside" in msg
    assert "\n" not in msg
    assert not (tmp_path / "out" / "lesions_dseg.nii.gz").exists()
