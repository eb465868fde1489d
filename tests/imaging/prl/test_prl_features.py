"""Rim features and the consensus rule: hand-built rims with known coverage, and phantoms with known truth."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from smoulder.exceptions import SettingsError
from smoulder.imaging.prl import ConventionWarning, PRLSettings, detect_prl, paramagnetic_signal

N = 40
C = 19.5


def _scene(seed=0):
    rng = np.random.default_rng(seed)
    g = np.indices((N, N, N)) - C
    r = np.sqrt((g**2).sum(0))
    lesion = r <= 8
    noise = rng.normal(0, 0.01, (N, N, N)).astype(np.float32)
    phi = np.arctan2(g[1], g[0])
    return g, r, lesion, noise, phi


def _run(signal, lesion, **kw):
    return detect_prl(
        signal,
        lesion.astype(np.int32),
        np.eye(4),
        input_kind="qsm",
        brain=np.ones(signal.shape, bool),
        **kw,
    ).lesions.iloc[0]


def test_full_ring_is_a_prl_with_full_coverage():
    g, r, lesion, noise, _ = _scene()
    s = noise + 0.1 * (lesion & (r > 6))
    row = _run(s, lesion)
    assert row["coverage_sustained"] == 1.0
    assert row["rim_score"] == 1.0 and bool(row["prl"])
    assert row["rim_slices"] >= 10


def test_quarter_arc_covers_about_a_quarter_and_is_not_a_prl():
    g, r, lesion, noise, phi = _scene()
    s = noise + 0.1 * (lesion & (r > 6) & (np.abs(phi) <= np.pi / 4))  # 90 of 360 degrees
    row = _run(s, lesion)
    # 2 sectors of 12 fully inside the arc, 2 half inside: 2/12 to 4/12, plus a few noise sectors;
    # well below the 2/3 threshold
    assert 2 / 12 <= row["coverage_sustained"] <= 6 / 12
    assert not bool(row["prl"])


def test_noise_alone_covers_little():
    g, r, lesion, noise, _ = _scene()
    row = _run(noise, lesion)
    # at k_sd = 1.5 standard errors a few sectors pass by chance
    assert (
        row["coverage_mean"] < 0.15 and row["coverage_sustained"] <= 2 / 12 and not bool(row["prl"])
    )


def test_uniformly_bright_lesion_with_the_rims_mean_is_not_a_prl():
    g, r, lesion, noise, _ = _scene()
    rim = lesion & (r > 6)
    ring_mean = 0.1 * rim.sum() / lesion.sum()
    uniform = noise + ring_mean * lesion  # same lesion mean as the ring, no spatial pattern
    assert uniform[lesion].mean() == pytest.approx((noise + 0.1 * rim)[lesion].mean(), abs=1e-3)
    row = _run(uniform, lesion)
    assert row["coverage_max"] <= 0.25 and not bool(row["prl"])


def test_rim_on_one_slice_needs_min_slices_one():
    g, r, lesion, noise, _ = _scene()
    one = lesion & (r > 6) & (np.abs(g[2] + 0.5) < 0.1)  # the single axial slice z = 19
    s = noise + 0.1 * one
    assert not bool(_run(s, lesion)["prl"])
    row = _run(s, lesion, settings=PRLSettings(min_slices=1))
    assert bool(row["prl"]) and row["rim_slices"] == 1


def test_two_thirds_coverage_threshold_is_a_parameter():
    g, r, lesion, noise, phi = _scene()
    s = noise + 0.1 * (lesion & (r > 6) & (np.abs(phi) <= 0.5 * np.pi))  # half the edge
    row = _run(s, lesion)
    assert 5 / 12 <= row["coverage_sustained"] <= 7 / 12 and not bool(row["prl"])
    assert bool(_run(s, lesion, settings=PRLSettings(min_coverage=0.4))["prl"])


def test_empty_lesion_mask_gives_zero_lesions():
    res = detect_prl(
        np.zeros((10, 10, 10)), np.zeros((10, 10, 10), int), np.eye(4), input_kind="qsm"
    )
    assert len(res.lesions) == 0 and res.n_prl == 0 and not res.prl_mask.any()
    assert {"label", "rim_score", "prl"} <= set(res.lesions.columns)


def test_sign_conventions():
    x = np.array([[[1.0, -2.0]]])
    assert paramagnetic_signal(x, "phase", "paramagnetic-negative").tolist() == [[[-1.0, 2.0]]]
    assert paramagnetic_signal(x, "phase", "paramagnetic-positive").tolist() == [[[1.0, -2.0]]]
    assert paramagnetic_signal(x, "qsm", "paramagnetic-negative").tolist() == [[[1.0, -2.0]]]
    with pytest.raises(SettingsError, match="phase convention"):
        paramagnetic_signal(x, "phase", "left")


@pytest.mark.parametrize(
    "bad",
    [
        {"min_coverage": 0},
        {"min_slices": 0},
        {"n_sectors": 2},
        {"k_sd": -1},
        {"phase_mode": "magic"},
    ],
)
def test_bad_settings_are_named(bad):
    with pytest.raises(SettingsError, match=next(iter(bad))):
        PRLSettings(**bad)


def _arr(img):
    return np.asarray(img.dataobj)


@pytest.mark.parametrize("kind", ["qsm", "phase"])
def test_consensus_rule_recovers_the_phantom_truth(phantom, kind):
    img = getattr(phantom, kind)
    res = detect_prl(
        _arr(img),
        _arr(phantom.lesions).astype(int),
        img.affine,
        input_kind=kind,
        brain=_arr(phantom.flair) > 0,
    )
    merged = res.lesions.merge(phantom.truth, on="label")
    assert merged["prl"].tolist() == merged["is_prl"].tolist()
    assert res.n_prl == 3
    # the PRL mask is exactly the voxels of the PRL lesions
    assert np.array_equal(res.prl_mask, np.isin(res.labels, [1, 2, 3]))


def test_wrong_phase_convention_is_warned_and_hides_the_rims(phantom):
    phase = -_arr(phantom.phase)  # a paramagnetic-positive image ...
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        res = detect_prl(
            phase,
            _arr(phantom.lesions).astype(int),
            phantom.phase.affine,
            input_kind="phase",
            phase_convention="paramagnetic-negative",  # ... declared the other way
            brain=_arr(phantom.flair) > 0,
        )
    assert any(issubclass(w.category, ConventionWarning) for w in caught)
    assert res.warnings and "--phase-convention" in res.warnings[0]
    assert res.n_prl == 0
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConventionWarning)
        ok = detect_prl(
            phase,
            _arr(phantom.lesions).astype(int),
            phantom.phase.affine,
            input_kind="phase",
            phase_convention="paramagnetic-positive",
            brain=_arr(phantom.flair) > 0,
        )
    assert ok.n_prl == 3


@pytest.mark.parametrize("kind", ["phase", "qsm"])
def test_storage_orientation_does_not_change_the_result(phantom, kind):
    """The same head stored with axes permuted (z first) and x flipped: same lesions, same decisions."""
    img = getattr(phantom, kind)
    data, lab, aff = _arr(img), _arr(phantom.lesions).astype(int), img.affine
    brain = _arr(phantom.flair) > 0
    ref = detect_prl(data, lab, aff, input_kind=kind, brain=brain).lesions

    def reorient(a):
        return np.ascontiguousarray(np.transpose(a, (2, 0, 1))[:, ::-1, :])

    # voxel (k, i', j) of the new array is voxel (n_i - 1 - i', j, k) of the old one
    n_i = data.shape[0]
    old_from_new = np.array([[0, -1, 0, n_i - 1], [0, 0, 1, 0], [1, 0, 0, 0], [0, 0, 0, 1]], float)
    aff2 = aff @ old_from_new
    out = detect_prl(
        reorient(data), reorient(lab), aff2, input_kind=kind, brain=reorient(brain)
    ).lesions
    assert out["prl"].tolist() == ref["prl"].tolist()
    for c in ("centroid_x_mm", "centroid_y_mm", "centroid_z_mm", "volume_mm3"):
        assert np.allclose(out[c], ref[c])
    assert np.allclose(out["rim_score"], ref["rim_score"], atol=1 / 12 + 1e-9)


def test_single_voxel_lesion_is_reported_not_dropped():
    g, r, lesion, noise, _ = _scene()
    lab = lesion.astype(np.int32)
    lab[2, 2, 2] = 2  # a one-voxel lesion far from the first
    res = detect_prl(
        noise + 0.1 * (lesion & (r > 6)),
        lab,
        np.eye(4),
        input_kind="qsm",
        brain=np.ones(lab.shape, bool),
    )
    t = res.lesions.set_index("label")
    assert t.loc[2, "n_voxels"] == 1 and t.loc[2, "evaluable_slices"] == 0
    assert t.loc[2, "rim_score"] == 0.0 and not bool(t.loc[2, "prl"])
    assert np.isnan(t.loc[2, "core_z"])  # no core: missing, written as n/a
    assert bool(t.loc[1, "prl"])
