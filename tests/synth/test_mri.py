"""The MRI phantom: determinism, ground truth consistent with the images, and the dipole physics."""

from __future__ import annotations

import numpy as np
import pytest

from smoulder.imaging.dipole import dipole_field
from smoulder.synth.mri import LESION_KINDS, simulate_mri_phantom

BOX = ((-40, 40), (-40, 20), (16, 40))


def _a(img):
    return np.asarray(img.dataobj)


@pytest.fixture(scope="module")
def small():
    return simulate_mri_phantom(
        seed=5, voxel_size=2.0, kinds=["prl", "rimless", "diffuse"], box_mm=BOX
    )


def test_same_seed_same_phantom_other_seed_differs(small):
    again = simulate_mri_phantom(
        seed=5, voxel_size=2.0, kinds=["prl", "rimless", "diffuse"], box_mm=BOX
    )
    for name in ("flair", "phase", "qsm", "lesions", "chi"):
        assert np.array_equal(_a(getattr(small, name)), _a(getattr(again, name)))
    other = simulate_mri_phantom(
        seed=6, voxel_size=2.0, kinds=["prl", "rimless", "diffuse"], box_mm=BOX
    )
    assert not np.array_equal(_a(small.phase), _a(other.phase))


def test_truth_table_matches_the_label_image(small):
    lab = _a(small.lesions)
    t = small.truth
    assert t["label"].tolist() == [1, 2, 3]
    assert t["kind"].tolist() == ["prl", "rimless", "diffuse"]
    assert t["is_prl"].tolist() == [LESION_KINDS[k] for k in t["kind"]]
    assert t["n_voxels"].tolist() == [int((lab == i).sum()) for i in (1, 2, 3)]
    # the grid: 2 mm voxels over the requested box
    assert small.flair.shape == (40, 30, 12)
    assert np.allclose(np.diag(small.flair.affine)[:3], 2.0)
    # rims only on the PRL; the diffuse lesion is paramagnetic throughout
    assert t.loc[0, "rim_coverage"] >= 0.7 and t.loc[1, "rim_coverage"] == 0
    chi = _a(small.chi)
    assert chi[lab == 3].mean() > chi[lab == 2].mean() + 0.03


def test_lesions_are_bright_on_flair(small):
    f = _a(small.flair)
    lab = _a(small.lesions)
    wm_like = np.median(f[(lab == 0) & (f > 0)])
    for i in (1, 2, 3):
        assert np.median(f[lab == i]) > 1.5 * wm_like


def test_phase_sign_convention_flips_the_phase():
    kw = dict(seed=3, voxel_size=2.0, kinds=["prl"], box_mm=BOX)
    neg = _a(simulate_mri_phantom(**kw).phase)
    pos = _a(simulate_mri_phantom(phase_convention="paramagnetic-positive", **kw).phase)
    assert np.allclose(neg, -pos)
    with pytest.raises(ValueError, match="phase_convention"):
        simulate_mri_phantom(phase_convention="left-handed", **kw)


def test_phase_per_ppm_at_3t_and_20ms(small):
    assert small.settings["rad_per_ppm"] == pytest.approx(16.05, abs=0.01)


def test_noise_level_is_what_was_asked():
    # a very wide high-pass filter leaves white noise almost untouched: noisy - clean = the noise
    kw = dict(seed=4, voxel_size=2.0, kinds=["rimless"], box_mm=BOX, highpass_sigma_mm=500.0)
    clean = simulate_mri_phantom(phase_noise_rad=0.0, **kw)
    noisy = simulate_mri_phantom(phase_noise_rad=0.1, **kw)
    brain = _a(clean.flair) > 0
    diff = (_a(noisy.phase) - _a(clean.phase))[brain]
    assert np.std(diff) == pytest.approx(0.1, rel=0.05)


def test_dipole_field_of_a_sphere_matches_the_analytic_solution():
    n = 64
    g = np.indices((n, n, n)) - (n - 1) / 2
    r = np.sqrt((g**2).sum(0))
    R, chi = 8.0, 0.1
    f = dipole_field(chi * (r <= R), (1, 1, 1))
    c = n // 2
    assert abs(f[c, c, c]) < 0.003  # zero inside (Lorentz sphere)
    # outside on the B0 (z) axis: +2/3 chi (R/r)^3; in the equatorial plane: -1/3 chi (R/r)^3
    d = 16
    zc = (n - 1) / 2 + d
    z_idx = int(round(zc))
    rr = abs(z_idx - (n - 1) / 2)
    assert f[c, c, z_idx] == pytest.approx(2 / 3 * chi * (R / rr) ** 3, rel=0.25)
    assert f[z_idx, c, c] == pytest.approx(-1 / 3 * chi * (R / rr) ** 3, rel=0.25)


def test_qsm_follows_the_true_susceptibility():
    ph = simulate_mri_phantom(seed=2, voxel_size=1.5, kinds=["diffuse", "prl"], box_mm=BOX)
    chi, qsm = _a(ph.chi), _a(ph.qsm)
    brain = _a(ph.flair) > 0
    assert np.corrcoef(chi[brain], qsm[brain])[0, 1] > 0.5


def test_impossible_placement_is_reported():
    with pytest.raises(ValueError, match="could not place lesion"):
        simulate_mri_phantom(seed=0, voxel_size=2.0, n_lesions=200, box_mm=BOX)
