"""Hand-worked checks of the SEL pieces that need no registration: scores, candidates, rules, dates."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import ndimage

from smoulder.exceptions import SettingsError
from smoulder.imaging import registration as sr
from smoulder.imaging.sel import (
    SELSettings,
    classify,
    concentricity,
    log_fit_pct,
    seeded_candidates,
)
from smoulder.schema.images import Volume, parse_dates

AFF = np.diag([2.0, 2.0, 2.0, 1.0])


def _ball(n: int = 21, r_vox: float = 5.0) -> tuple[np.ndarray, np.ndarray]:
    idx = np.indices((n, n, n)).astype(float) - (n - 1) / 2
    return np.sqrt((idx**2).sum(axis=0)) <= r_vox, np.moveaxis(idx, 0, -1)


def test_concentricity_is_one_for_radial_growth_zero_for_shrinkage_and_half_for_one_sided_growth():
    ball, rel = _ball()
    radial = rel / np.maximum(np.linalg.norm(rel, axis=-1, keepdims=True), 1e-9)
    assert concentricity(ball, 0.3 * radial, AFF) == 1.0
    assert concentricity(ball, -0.3 * radial, AFF) == 0.0
    # a new lesion pushing one cap (x > 0.3 r) outward: well below the definite threshold 0.75
    for cap in (0.0, 0.3, 0.5):
        one_sided = np.zeros(rel.shape)
        one_sided[..., 0] = np.where(rel[..., 0] > cap * 5, 0.6, 0.0)
        assert concentricity(ball, ndimage.gaussian_filter(one_sided, (1, 1, 1, 0)), AFF) < 0.7
    # a pure translation is no growth anywhere
    shift = np.zeros(rel.shape)
    shift[..., 1] = 1.0
    assert concentricity(ball, shift, AFF) == 0.0


def test_concentricity_uses_world_directions_of_a_flipped_grid():
    ball, rel = _ball()
    flipped = np.diag([-2.0, 2.0, 2.0, 1.0])
    # world +x is voxel -x on this grid: radial outward growth in world coordinates
    world_rel = rel * np.array([-1.0, 1.0, 1.0])
    radial = world_rel / np.maximum(np.linalg.norm(world_rel, axis=-1, keepdims=True), 1e-9)
    assert concentricity(ball, 0.3 * radial, flipped) == 1.0


def test_candidates_need_a_seed_the_growth_threshold_and_min_voxels():
    lab = np.zeros((12, 12, 12), np.int32)
    lab[1:5, 1:5, 1:5] = 1  # lesion 1: 64 voxels
    lab[7:11, 7:11, 7:11] = 2  # lesion 2: 64 voxels
    exp = np.zeros(lab.shape)
    exp[1:5, 1:5, 1:3] = 5.0  # 32 voxels >= 4 %/y in lesion 1 ...
    exp[2, 2, 1] = 13.0  # ... with one seed >= 12.5 %/y
    exp[7:11, 7:11, 7:9] = 5.0  # lesion 2 grows but has no seed
    s = SELSettings()
    cand = seeded_candidates(exp, lab, s)
    assert (cand == 1).sum() == 32 and (cand == 2).sum() == 0
    # the same region is dropped when it is smaller than min_voxels
    assert (seeded_candidates(exp, lab, SELSettings(min_voxels=33)) == 1).sum() == 0
    # growth never leaves the lesion: expansion outside it is ignored
    exp2 = exp.copy()
    exp2[5:7, 1:5, 1:3] = 20.0
    assert (seeded_candidates(exp2, lab, s) == 1).sum() == 32


def test_log_fit_recovers_a_compound_rate():
    assert log_fit_pct(np.array([1.0, 2.0]), np.array([1.1, 1.21])) == pytest.approx(10.0)
    assert log_fit_pct(
        np.array([0.5, 1.5, 3.0]), 0.95 ** np.array([0.5, 1.5, 3.0])
    ) == pytest.approx(-5.0)
    assert np.isnan(log_fit_pct(np.array([1.0]), np.array([np.nan])))


@pytest.mark.parametrize(
    "row, n, expected",
    [
        ({"candidate_voxels": 0, "concentricity": 1.0, "constancy": 1.0}, 3, "no"),
        ({"candidate_voxels": 20, "concentricity": 0.9, "constancy": 1.0}, 3, "definite"),
        ({"candidate_voxels": 20, "concentricity": 0.6, "constancy": 1.0}, 3, "possible"),
        ({"candidate_voxels": 20, "concentricity": 0.9, "constancy": 0.5}, 3, "possible"),
        ({"candidate_voxels": 20, "concentricity": 0.9, "constancy": np.nan}, 2, "possible"),
    ],
)
def test_classification_rules(row, n, expected):
    assert classify(pd.Series(row), n_timepoints=n, settings=SELSettings())[0] == expected


def test_two_time_points_can_be_definite_when_asked():
    row = pd.Series({"candidate_voxels": 20, "concentricity": 0.9, "constancy": np.nan})
    assert (
        classify(row, n_timepoints=2, settings=SELSettings(definite_without_constancy=True))[0]
        == "definite"
    )


def test_halfway_matrix_is_half_the_transform_for_two_scans_and_the_mean_for_three():
    t = np.eye(4)
    t[:3, 3] = (4.0, -2.0, 0.0)
    m = sr.halfway_matrix([np.eye(4), t])
    assert np.allclose(m[:3, 3], (2.0, -1.0, 0.0)) and np.allclose(m[:3, :3], np.eye(3))
    th = np.deg2rad(10.0)
    rot = np.eye(4)
    rot[:2, :2] = [[np.cos(th), -np.sin(th)], [np.sin(th), np.cos(th)]]
    half = sr.halfway_matrix([np.eye(4), rot])
    assert np.degrees(np.arctan2(half[1, 0], half[0, 0])) == pytest.approx(5.0)
    t2 = np.eye(4)
    t2[:3, 3] = (8.0, -4.0, 0.0)
    assert np.allclose(sr.halfway_matrix([np.eye(4), t, t2])[:3, 3], (4.0, -2.0, 0.0))


def test_resample_through_a_world_shift_moves_the_image_by_whole_voxels():
    a = np.zeros((8, 8, 8), np.float32)
    a[3, 4, 4] = 1.0
    shift = np.eye(4)
    shift[0, 3] = 2.0  # sample 2 mm (one voxel) further along x
    out = sr.resample(a, AFF, a.shape, AFF, shift, order=1)
    assert out[2, 4, 4] == pytest.approx(1.0) and out[3, 4, 4] == pytest.approx(0.0)


def test_dates_become_years_and_bad_dates_are_refused():
    iso, years = parse_dates(["2020-01-15", "2021-01-14", "2022-07-16"], 3)
    assert iso[0] == "2020-01-15"
    assert years == pytest.approx([0.0, 365 / 365.25, 913 / 365.25])
    with pytest.raises(SettingsError, match="2 dates"):
        parse_dates(["2020-01-15", "2021-01-14"], 3)
    with pytest.raises(SettingsError, match="time point 2 .* missing"):
        parse_dates(["2020-01-15", "n/a"], 2)
    with pytest.raises(SettingsError, match="not an ISO date"):
        parse_dates(["2020-01-15", "14/01/2021"], 2)
    with pytest.raises(SettingsError, match="strictly increasing.*time point 2 \\(2019-06-01\\)"):
        parse_dates(["2020-01-15", "2019-06-01"], 2)


@pytest.mark.parametrize(
    "kw, match",
    [
        ({"contrast": "pd"}, "contrast must be one of"),
        ({"seed_pct_per_year": 3.0}, "must be >= growth_pct_per_year"),
        ({"min_concentricity": 1.5}, "min_concentricity must be between 0 and 1"),
        ({"connectivity": 8}, "connectivity must be 6, 18 or 26"),
        ({"syn_iterations": (10, -1)}, "syn_iterations"),
        ({"seed": 0}, "seed must be >= 1"),
    ],
)
def test_bad_settings_name_the_parameter(kw, match):
    with pytest.raises(SettingsError, match=match):
        SELSettings(**kw)


def _tiny_pair():
    """Two 3 mm images of one smooth blob pattern, the second shifted by 2 mm: a registration
    small enough for a unit test."""
    rng = np.random.default_rng(5)
    a = ndimage.gaussian_filter(rng.normal(size=(24, 24, 20)), 2.0).astype(np.float32)
    a = np.clip(a * 50 + 1, 0, None)
    aff = np.diag([3.0, 3.0, 3.0, 1.0])
    b = ndimage.shift(a, (0.7, 0, 0), order=1)
    return a, b, aff


def test_registrations_with_the_default_seed_are_reproducible():
    """ANTs reads seed 0 as 'seed from the clock': the default seed must be one it keeps."""
    a, b, aff = _tiny_pair()
    seed = SELSettings().seed
    fixed, moving = Volume(a, aff), Volume(b, aff)
    runs = [sr.rigid_transform(fixed, moving, seed=seed, threads=1) for _ in range(3)]
    assert all(np.array_equal(runs[0], r) for r in runs[1:])


def _result(settings, dates, years, **counts):
    from smoulder.imaging.sel import SELResult

    details = {
        "n_timepoints": len(years),
        "years": years,
        "n_lesions": 3,
        "n_definite": 0,
        "n_possible": 1,
        "brain_volume_change_pct_per_year": -0.52,
        **counts,
    }
    return SELResult(
        lesions=pd.DataFrame({"label": [1, 2, 3], "sel": ["no", "possible", "no"]}),
        details=details,
        jacobian=[],
        expansion=np.zeros((2, 2, 2)),
        sel_mask=np.zeros((2, 2, 2), np.uint8),
        halfway={},
        affine=np.eye(4),
        settings=settings,
        dates=dates,
    )


def test_methods_paragraph_states_what_ran():
    st = SELSettings(syn_iterations=(10, 5), seed=3, atrophy_correction="none", threads=1)
    text = _result(st, ["2020-01-15", "2021-07-16"], [0.0, 1.5]).methods()
    assert "on 2 time points (2020-01-15, 2021-07-16)" in text
    assert "iterations 10, 5" in text and "seed 3, 1 thread(s)" in text
    assert "Jacobians were not corrected for atrophy (brain volume change -0.52 % per year)" in text
    assert "constancy cannot be measured with two time points" in text
    assert "classified as possible at most" in text
    assert "0 of 3 lesions were definite and 1 possible SELs." in text
    # three time points with the default settings: constancy is part of the rule
    three = _result(SELSettings(), None, [0.0, 1.0, 2.0], n_definite=1).methods()
    assert "(0.00, 1.00, 2.00 years after baseline)" in three
    assert "removes the global volume change of the brain" in three
    assert "reached 12.5 % per year" in three and "at least 10 voxels" in three
    assert "constancy (share of follow-up intervals with expansion above 0.0 % per year)" in three
    assert "1 of 3 lesions were definite" in three
