"""The simulator with functional-system scores, treatments and SPMS ground truth."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from smoulder.schema.functional_systems import FS_NAMES, system, validate_functional_systems
from smoulder.schema.treatments import validate_treatments
from smoulder.synth.clinical_fs import edss_from_fs, simulate_fs_cohort


def _fs(**grades):
    row = np.zeros((1, 7))
    for name, g in grades.items():
        row[0, FS_NAMES.index(name)] = g
    return row


@pytest.mark.parametrize(
    ("grades", "amb", "edss"),
    [
        ({}, 0, 0.0),
        ({"sensory": 1}, 0, 1.0),
        ({"sensory": 1, "cerebral": 1}, 0, 1.5),
        ({"pyramidal": 2}, 0, 2.0),
        ({"pyramidal": 2, "sensory": 2}, 0, 2.5),
        ({"pyramidal": 3}, 0, 3.0),
        ({"pyramidal": 2, "sensory": 2, "brainstem": 2, "cerebellar": 2}, 0, 3.0),
        ({"pyramidal": 3, "sensory": 2}, 0, 3.5),
        ({"pyramidal": 3, "sensory": 3}, 0, 3.5),
        ({"pyramidal": 2, "sensory": 2, "brainstem": 2, "cerebellar": 2, "cerebral": 2}, 0, 3.5),
        ({"pyramidal": 4}, 0, 4.0),
        ({"visual": 6}, 0, 4.0),  # raw visual 6 is converted grade 4
        ({"bowel_bladder": 3, "visual": 3}, 0, 3.5),  # converted 3 and 2: a 3 with a 2
        ({"pyramidal": 3}, 3, 5.0),  # ambulation decides from 4.5 up
        ({"pyramidal": 4}, 5, 6.0),
    ],
)
def test_edss_steps_from_grades_follow_kurtzke(grades, amb, edss):
    assert edss_from_fs(_fs(**grades), np.array([amb]))[0] == edss


def test_every_visit_is_consistent_with_its_scores_and_in_range():
    c = simulate_fs_cohort(300, seed=7, randomise=True)
    v = c.visits
    full = v[list(FS_NAMES) + ["ambulation"]].notna().all(axis=1)
    recomputed = edss_from_fs(
        v.loc[full, list(FS_NAMES)].to_numpy(), v.loc[full, "ambulation"].to_numpy()
    )
    assert np.array_equal(recomputed, v.loc[full, "edss"].to_numpy())
    checked = validate_functional_systems(
        v, {name: name for name in (*FS_NAMES, "ambulation")}, ambulation_scale="imed"
    )
    assert checked.shape[0] == len(v)
    for name in FS_NAMES:
        assert v[name].max() <= system(name).high
    assert v["edss"].isin(np.arange(0, 10.5, 0.5)).all()


def test_ground_truth_and_treatments_are_coherent():
    c = simulate_fs_cohort(500, seed=3)
    t = c.truth
    conv = t["spms_date_true"].notna()
    assert (t.loc[conv, "progressor"]).all()
    assert (t.loc[conv, "spms_date_true"] >= t.loc[conv, "progression_onset"]).all()
    tr = c.treatments.assign(
        start=c.treatments["start"].dt.strftime("%Y-%m-%d"),
        stop=c.treatments["stop"].dt.strftime("%Y-%m-%d"),
    )
    assert len(validate_treatments(tr)) == len(tr)  # known drugs, no overlapping courses
    assert (c.visits["date"] <= pd.Timestamp("2024-06-30")).all()


def test_same_seed_same_cohort_other_seed_other_cohort():
    a, b = simulate_fs_cohort(50, seed=11), simulate_fs_cohort(50, seed=11)
    pd.testing.assert_frame_equal(a.visits, b.visits)
    pd.testing.assert_frame_equal(a.treatments, b.treatments)
    assert not simulate_fs_cohort(50, seed=12).visits["edss"].equals(a.visits["edss"])


def test_relapse_rates_follow_the_drugs_and_pira_does_not():
    """Relapses are rarer on high-efficacy drugs as the ground truth says; PIRA is not."""
    from smoulder.clinical.epochs import assess_epochs
    from smoulder.io.tables import validate_relapses, validate_visits

    c = simulate_fs_cohort(1500, seed=21, relapse_rate_per_year=0.5)
    vis, _ = validate_visits(c.visits, value_col="edss")
    rel, _ = validate_relapses(c.relapses, known_subjects=vis["subject"].cat.categories)
    tr = validate_treatments(
        c.treatments.assign(
            start=c.treatments["start"].dt.strftime("%Y-%m-%d"),
            stop=c.treatments["stop"].dt.strftime("%Y-%m-%d"),
        )
    )
    res = assess_epochs(vis, rel, None, tr)
    r = res.rates_by_efficacy.set_index(["efficacy", "kind"])["rate_per_year"]
    # ground truth: high-efficacy drugs multiply the untreated relapse rate by 0.30-0.42,
    # moderate ones by 0.46-0.70
    assert 0.2 < r[("high", "relapse")] / r[("none", "relapse")] < 0.55
    assert 0.4 < r[("moderate", "relapse")] / r[("none", "relapse")] < 0.85
    assert r[("high", "PIRA")] > 0.8 * r[("moderate", "PIRA")]
