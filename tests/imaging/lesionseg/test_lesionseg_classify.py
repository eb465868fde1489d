"""The opt-in candidate classifier: its candidates, features, probability and what a user sees."""

from __future__ import annotations

import math

import numpy as np
import pytest

from conftest import flair_image, image, priors_of, t1_of
from smoulder.imaging.lesionseg import LesionSegSettings, segment_lesions
from smoulder.imaging.lesionseg._model import MODEL_T1
from smoulder.imaging.lesionseg.classify import (
    FEATURES,
    candidate_features,
    lesion_probability,
)
from smoulder.imaging.lesionseg.engine import candidates


def test_probability_is_the_logistic_of_the_standardised_features():
    model = {"mean": [1.0, 10.0], "scale": [2.0, 5.0], "coef": [0.5, -1.0], "intercept": 0.25}
    x = np.array([[3.0, 20.0], [1.0, 10.0]])
    # by hand: row 1: 0.25 + 0.5 * (3 - 1) / 2 - 1 * (20 - 10) / 5 = -1.25; row 2: 0.25
    want = [1 / (1 + math.exp(1.25)), 1 / (1 + math.exp(-0.25))]
    assert lesion_probability(x, model) == pytest.approx(want)


def test_the_stored_model_has_one_coefficient_per_feature():
    assert MODEL_T1["features"] == list(FEATURES)
    for key in ("mean", "scale", "coef"):
        assert len(MODEL_T1[key]) == len(FEATURES)  # type: ignore[arg-type]


def test_weak_candidates_join_only_apart_from_rule_based_lesions_and_when_small():
    shape = (40, 40, 40)
    strong = np.zeros(shape, bool)
    strong[5:8, 5:8, 5:8] = True  # rule-based lesion, 27 voxels
    weak = np.zeros(shape, bool)
    weak[5:8, 5:8, 8:10] = True  # touches the rule-based lesion: not a new candidate
    weak[20, 20, 20:22] = True  # 2 voxels apart from everything: a new candidate
    weak[30:36, 30:36, 30:34] = True  # 144 voxels = 144 mm3 > 100 mm3: diffuse, dropped
    lab, n, is_strong = candidates(strong, weak, np.ones(3), LesionSegSettings())
    assert n == 2
    assert int((lab > 0).sum()) == 27 + 2
    # labels in memory order: the rule-based lesion first
    assert is_strong.tolist() == [True, False]
    assert set(np.unique(lab[20, 20, 20:22])) == {2}


def test_candidate_size_cap_is_in_mm3_so_thick_slices_count_their_volume():
    shape = (30, 30, 10)
    weak = np.zeros(shape, bool)
    weak[10:15, 10:15, 4] = True  # 25 voxels of 1 x 1 x 4 mm = 100 mm3: kept (<= cap)
    weak[20:25, 20:26, 4] = True  # 30 voxels = 120 mm3: dropped
    _, n, _ = candidates(
        np.zeros(shape, bool), weak, np.array([1.0, 1.0, 4.0]), LesionSegSettings()
    )
    assert n == 1


def test_features_by_hand_on_thick_slices():
    shape = (20, 20, 8)
    zooms = np.array([1.0, 1.0, 4.0])
    lab = np.zeros(shape, np.int32)
    lab[5:8, 5:7, 3] = 1  # 6 voxels on one slice
    lab[12:14, 12:14, 3:5] = 2  # 8 voxels over two slices
    z = np.zeros(shape, np.float32)
    z[lab == 1] = [4, 5, 6, 7, 8, 9]
    z[lab == 2] = 3.0
    brain = np.ones(shape, bool)
    wm = np.ones(shape, np.float32)
    zero = np.zeros(shape, np.float32)
    f = candidate_features(
        lab,
        2,
        z=z,
        zg=z - 1,
        contrast=z / 10,
        t1_ratio=None,
        pw=wm,
        pg=zero,
        pc=zero,
        brain=brain,
        ventricles=np.zeros(shape, bool),
        infratentorial=np.zeros(shape, bool),
        zooms=zooms,
        strong=np.array([True, False]),
    )
    col = {name: f[:, i] for i, name in enumerate(FEATURES)}
    assert col["log_volume_mm3"] == pytest.approx([math.log(24.0), math.log(32.0)])
    assert col["peak_z"] == pytest.approx([9.0, 3.0])
    assert col["mean_z"] == pytest.approx([6.5, 3.0])
    assert col["peak_zg"] == pytest.approx([8.0, 2.0])
    assert col["n_slices"].tolist() == [1.0, 2.0]
    # z is 0 around both candidates (they are > 2 mm apart): ring_z is their mean z
    assert col["ring_z"] == pytest.approx([6.5, 3.0])
    assert col["shell_wm"].tolist() == [1.0, 1.0]  # all white matter around
    assert col["log_ventricle_mm"] == pytest.approx([math.log1p(30.0)] * 2)  # no ventricles
    assert col["strong_seed"].tolist() == [1.0, 0.0]


@pytest.mark.parametrize("classifier", ["off", "logistic"])
def test_a_bright_t1_dark_lesion_is_found_whole_with_and_without_the_classifier(
    box_brain, classifier
):
    g = box_brain
    cube = [(i, j, k) for i in range(12, 15) for j in range(12, 15) for k in range(26, 29)]
    f = flair_image(g, {v: 180.0 for v in cube})
    t1 = t1_of(g)
    for v in cube:
        t1[v] = 65.0  # lesions are dark on T1
    res = segment_lesions(
        image(f),
        t1=image(t1, source="t1.nii.gz"),
        brain_mask=g["brain"],
        priors=priors_of(g),
        settings=LesionSegSettings(n4=False, classifier=classifier),
    )
    assert res.n_lesions == 1
    assert set(map(tuple, np.argwhere(res.labels > 0))) == set(cube)
    if classifier == "logistic":
        assert res.counts["candidates"] >= 1


def test_without_a_t1_the_classifier_setting_changes_nothing(box_brain):
    g = box_brain
    f = flair_image(g, {(12, 12, 28): 180.0, (13, 12, 28): 180.0, (12, 13, 28): 180.0})
    runs = [
        segment_lesions(
            image(f),
            brain_mask=g["brain"],
            priors=priors_of(g),
            settings=LesionSegSettings(n4=False, classifier=c),
        )
        for c in ("off", "logistic")
    ]
    assert np.array_equal(runs[0].labels, runs[1].labels)
    assert "candidates" not in runs[1].counts
