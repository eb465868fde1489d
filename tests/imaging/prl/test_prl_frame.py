"""Oblique and anisotropic acquisitions: B0 from the affine, the rim judged on the acquisition's slices."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from smoulder.exceptions import SettingsError
from smoulder.imaging.dipole import b0_direction, dipole_field
from smoulder.imaging.prl import PRLSettings, detect_prl
from smoulder.imaging.prl.frame import acquisition_frame


def _tilted(deg: float, zooms=(1.0, 1.0, 1.0)) -> np.ndarray:
    """Affine whose voxel axes are rotated by ``deg`` about world x."""
    t = np.radians(deg)
    a = np.eye(4)
    a[:3, :3] = np.array([[1, 0, 0], [0, np.cos(t), -np.sin(t)], [0, np.sin(t), np.cos(t)]])
    a[:3, :3] = a[:3, :3] @ np.diag(zooms)
    return a


def test_b0_along_the_voxel_axes_is_world_z_seen_from_the_grid():
    # voxel axes R e_j; world z seen along them is R^T z = (0, sin t, cos t) for a tilt about x
    b = b0_direction(_tilted(40.0, (0.5, 0.5, 2.0)))
    assert b == pytest.approx([0.0, np.sin(np.radians(40)), np.cos(np.radians(40))], abs=1e-12)


def test_frame_takes_the_thick_axis_as_slice_axis_and_measures_obliquity():
    f = acquisition_frame(_tilted(25.0, (0.9, 0.9, 3.0)))
    assert (f.slice_axis, f.inplane) == (2, (0, 1))
    assert f.obliquity_deg == pytest.approx(25.0)
    # sagittal 2-D acquisition: thick first axis
    f = acquisition_frame(np.diag([4.0, 1.0, 1.0, 1.0]))
    assert (f.slice_axis, f.inplane, f.obliquity_deg) == (0, (1, 2), pytest.approx(90.0))
    # isotropic 3-D acquisition tilted 60 degrees: the voxel axis closest to B0 is j
    assert acquisition_frame(_tilted(60.0)).slice_axis == 1
    assert acquisition_frame(np.eye(4), "i").slice_axis == 0
    with pytest.raises(SettingsError, match="slice_axis"):
        acquisition_frame(np.eye(4), "x")


def _rim_phase(affine: np.ndarray, n: int = 48) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Phase of a 0.1 ppm rim (radius 5-7 mm) with B0 along world z, on the grid of ``affine``."""
    g = np.indices((n, n, n)) - (n - 1) / 2
    r = np.sqrt((g**2).sum(axis=0))
    labels = (r <= 7).astype(np.int32)
    chi = 0.1 * ((r <= 7) & (r > 5))
    field = dipole_field(chi, (1.0, 1.0, 1.0), b0_direction=b0_direction(affine))
    brain = r < 22
    noise = np.random.default_rng(0).normal(0.0, 0.05, chi.shape)
    return (-16.0 * field + noise) * brain, labels, brain  # paramagnetic-negative phase


def _call(phase, labels, affine, brain):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = detect_prl(phase, labels, affine, input_kind="phase", brain=brain)
    return res.lesions.iloc[0]


def test_phase_of_an_oblique_acquisition_is_inverted_with_b0_from_the_affine():
    # tilted 45 degrees: no voxel axis is close to B0 (the nearest is 45 degrees off)
    aff = _tilted(45.0)
    phase, labels, brain = _rim_phase(aff)
    right = _call(phase, labels, aff, brain)
    assert bool(right["prl"]) and right["coverage_sustained"] == pytest.approx(1.0)
    # the same phase read as if B0 lay along a voxel axis: the rim's dipole pattern is not undone
    wrong = _call(phase, labels, np.eye(4), brain)
    assert not bool(wrong["prl"]) and wrong["coverage_mean"] < 0.8


def test_rim_is_judged_on_the_slices_of_a_sagittal_2d_acquisition():
    # 2.5 mm sagittal slices (axis i), 1 mm in plane; a complete rim on QSM
    zooms = np.array([2.5, 1.0, 1.0])
    shape = (20, 40, 40)
    g = [(np.arange(s) - (s - 1) / 2) * z for s, z in zip(shape, zooms, strict=True)]
    x, y, z = np.meshgrid(*g, indexing="ij")
    r = np.sqrt(x**2 + y**2 + z**2)
    labels = (r <= 8).astype(np.int32)
    qsm = 0.1 * ((r <= 8) & (r > 6)) + np.random.default_rng(1).normal(0, 0.01, r.shape)
    res = detect_prl(qsm, labels, np.diag([*zooms, 1.0]), input_kind="qsm")
    row = res.lesions.iloc[0]
    slices = [int(s.split(":")[0]) for s in row["coverage_by_slice"].split()]
    # one entry per sagittal slice through the lesion (x = +-1.25, 3.75, 6.25 mm: 6), not per axial one
    assert slices == sorted(np.unique(np.nonzero(labels)[0]).tolist())
    assert len(slices) == 6
    assert bool(row["prl"])
    # forcing axial slices gives one entry per axial slice through the lesion (z = +-0.5..7.5: 16)
    ax = detect_prl(
        qsm, labels, np.diag([*zooms, 1.0]), input_kind="qsm", settings=PRLSettings(slice_axis="k")
    ).lesions.iloc[0]
    assert len(ax["coverage_by_slice"].split()) == 16


def _coarse_scene(amp: float, frac: float, seed: int, vs: float = 2.0):
    """QSM of a 7 mm lesion with a 2 mm rim over ``frac`` of the edge, noise 0.02, at ``vs`` mm."""
    n = int(np.ceil(2 * 17.0 / vs))
    g = (np.indices((n, n, n)) - (n - 1) / 2) * vs
    r = np.sqrt((g**2).sum(axis=0))
    phi = np.arctan2(g[1], g[0])
    lesion = r <= 7.0
    rim = lesion & (r > 5.0) & (np.abs(phi) <= frac * np.pi)
    qsm = np.random.default_rng(seed).normal(0.0, 0.02, r.shape) + amp * rim
    return qsm, lesion.astype(np.int32), np.diag([vs, vs, vs, 1.0])


def _calls(amp: float, frac: float, settings: PRLSettings | None = None) -> int:
    out = 0
    for seed in range(5):
        qsm, labels, aff = _coarse_scene(amp, frac, seed)
        out += bool(
            detect_prl(qsm, labels, aff, input_kind="qsm", settings=settings).lesions["prl"].iloc[0]
        )
    return out


def test_coarse_grids_use_fewer_sectors_and_find_faint_complete_rims():
    # a complete rim 1.5 noise SDs strong at 2 mm: 12 sectors of 1-3 voxels each rarely pass,
    # 8 sectors at 1 standard error do
    assert _calls(0.03, 1.0) >= 4
    assert _calls(0.03, 1.0, PRLSettings(coarse_inplane_mm=None)) <= 1
    # a strong rim over 40 % of the edge stays a partial rim
    assert _calls(0.1, 0.4) == 0
    qsm, labels, aff = _coarse_scene(0.1, 1.0, 0)
    text = detect_prl(qsm, labels, aff, input_kind="qsm").methods()
    assert "8 angular sectors" in text and "by 1.0 standard errors" in text
    assert (
        "12 angular sectors"
        in detect_prl(
            qsm, labels, aff, input_kind="qsm", settings=PRLSettings(coarse_inplane_mm=None)
        ).methods()
    )
