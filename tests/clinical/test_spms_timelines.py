"""Hand-worked timelines for each element of the SPMS rule and its edges.

Days are counted from 2015-01-01; every expected value below is worked out by hand from the rule
in docs/spms.md (defaults of MSoutcomes' spmsDx: EDSS >= 4, pyramidal >= 2, 30 days after a
relapse, confirmation 90.75 days, improvement 272.25 days, re-baselining 181.5 days).
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from spms_timelines import day, relapses, row, visits, when

from smoulder.clinical.spms import SPMSSettings, assess_spms

NAN = math.nan


def test_a_lasting_worsening_to_edss_4_with_pyramidal_2_converts_at_its_first_visit():
    v = visits([0, 180, 360, 540], [3.0, 4.0, 4.0, 4.5], pyramidal=[1, 2, 2, 3])
    r = row(assess_spms(v))
    assert r["spms"] and r["status"] == "converted"
    assert r["spms_date"] == day(180) and r["spms_edss"] == 4.0
    assert r["leading_fs"] == "pyramidal" and r["leading_fs_confirmed"]
    assert r["baseline_date"] == day(0) and r["baseline_edss"] == 3.0
    # the first visit at least 90.75 days later confirms it; it is also where pyramidal is seen
    assert r["confirmation_date"] == day(360) and r["confirmed_edss"] == 4.0
    assert r["leading_fs_confirmation_date"] == day(360)
    assert r["previous_visit_date"] == day(0) and r["previous_edss"] == 3.0


def test_below_edss_6_a_half_step_is_not_worsening():
    # 3.5 -> 4.0 reaches EDSS 4 with pyramidal 2, but is only +0.5 below 6
    v = visits([0, 180, 360, 540], [3.5, 4.0, 4.0, 4.0], pyramidal=[1, 2, 2, 2])
    assert when(assess_spms(v)) is None
    assert when(assess_spms(v, step=0.5)) == 180


def test_from_edss_6_a_half_step_is_worsening():
    v = visits(
        [0, 180, 360, 540], [6.0, 6.5, 6.5, 6.5], pyramidal=[3, 3, 3, 3], ambulation=[5, 6, 6, 6]
    )
    r = row(assess_spms(v))
    assert when(assess_spms(v)) == 180 and r["leading_fs"] == "ambulation"
    # from 5.5 the step is still 1.0
    v2 = visits(
        [0, 180, 360, 540], [5.5, 6.0, 6.0, 6.0], pyramidal=[3, 3, 3, 3], ambulation=[4, 5, 5, 5]
    )
    assert when(assess_spms(v2)) is None
    assert when(assess_spms(v2, half_step_from=5.5)) == 180


def test_from_edss_0_the_step_is_one_and_a_half():
    s = SPMSSettings(min_edss=1.0, min_pyramidal=0)
    one = visits([0, 180, 360, 540], [0, 1.0, 1.0, 1.0], sensory=[0, 1, 1, 1])
    assert when(assess_spms(one, settings=s)) is None
    both = visits(
        [0, 180, 360, 540], [0, 1.5, 1.5, 1.5], sensory=[0, 1, 1, 1], cerebellar=[0, 1, 1, 1]
    )
    r = row(assess_spms(both, settings=s))
    assert when(assess_spms(both, settings=s)) == 180
    assert r["leading_fs"] == "cerebellar+sensory"
    # Lorscheider's single-step variant
    assert when(assess_spms(one, settings=s.replace(step_from_zero=1.0))) == 180


def test_the_worsening_must_reach_the_minimum_edss():
    v = visits([0, 180, 360, 540], [2.0, 3.5, 3.5, 3.5], pyramidal=[1, 2, 2, 2])
    assert when(assess_spms(v)) is None
    assert when(assess_spms(v, min_edss=3.5)) == 180


def test_pyramidal_score_of_2_is_required_below_edss_5_5():
    v = visits(
        [0, 180, 360, 540], [3.0, 4.0, 4.0, 4.0], pyramidal=[1, 1, 1, 1], sensory=[1, 2, 2, 2]
    )
    assert when(assess_spms(v)) is None
    assert when(assess_spms(v, min_pyramidal=0)) == 180
    high = visits(
        [0, 180, 360, 540], [4.5, 5.5, 5.5, 5.5], pyramidal=[1, 1, 1, 1], sensory=[1, 2, 2, 2]
    )
    assert when(assess_spms(high)) == 180  # waived from EDSS 5.5, as in spmsDx
    assert when(assess_spms(high, pyramidal_waived_from="inf")) is None


@pytest.mark.parametrize(("last", "expected"), [(190, None), (191, 100), (192, 100)])
def test_confirmation_needs_at_least_90_75_days(last, expected):
    v = visits([0, 100, last], [3.0, 4.0, 4.0], pyramidal=[1, 2, 2])
    res = assess_spms(v)
    assert when(res) == expected
    if expected is not None:
        assert row(res)["confirmation_date"] == day(last)


@pytest.mark.parametrize(("gap", "converts"), [(29, False), (30, False), (31, True)])
def test_the_worsening_must_come_more_than_30_days_after_a_relapse(gap, converts):
    # relapse on day 300; a visit on day 310 (no change), the worsening `gap` days after onset:
    # no relapse since the previous visit, so only the 30-day window decides
    e = 300 + gap
    v = visits([0, 310, e, e + 180, e + 360], [3.0, 3.0, 4.0, 4.0, 4.0], pyramidal=[1, 1, 2, 2, 2])
    res = assess_spms(v, relapses([300]))
    assert when(res) == (e if converts else None)
    if not converts:
        steps = res.steps
        assert steps["kind"].tolist() == [
            "baseline",
            "worsening did not convert",
            "baseline moved: worsening that began with a relapse",
        ]
        assert "relapse" in steps["reason"].iloc[1]


def test_a_relapse_since_the_previous_visit_makes_the_worsening_relapse_associated():
    v = visits([0, 180, 360, 540], [3.0, 4.0, 4.0, 4.0], pyramidal=[1, 2, 2, 2])
    res = assess_spms(v, relapses([100]))  # 80 days before the worsening, after the baseline
    assert when(res) is None
    r = row(res)
    assert r["n_rebaselines"] == 1
    assert res.steps["baseline_date"].iloc[-1] == day(180)


def test_the_leading_system_must_also_be_confirmed():
    # at day 180 sensory leads (+2) but is back to baseline at 360: not confirmed there; at 360
    # pyramidal leads (+1) and is still +1 at 540, so the conversion is dated 360
    v = visits(
        [0, 180, 360, 540], [3.0, 4.0, 4.0, 4.0], pyramidal=[1, 2, 2, 2], sensory=[1, 3, 1, 1]
    )
    assert when(assess_spms(v)) == 360
    assert when(assess_spms(v, confirm_leading_fs=False)) == 180
    # with no other system increased, the worsening never converts
    flat = visits(
        [0, 180, 360, 540], [3.0, 4.0, 4.0, 4.0], pyramidal=[2, 2, 2, 2], sensory=[1, 3, 1, 1]
    )
    assert when(assess_spms(flat)) is None


def test_a_leading_system_that_falls_below_its_baseline_is_not_confirmed():
    # spmsDx only ends the confirmation at a score equal to baseline (difference 4)
    v = visits(
        [0, 180, 360, 540], [3.0, 4.0, 4.0, 4.0], pyramidal=[2, 2, 2, 2], sensory=[2, 4, 1, 1]
    )
    assert when(assess_spms(v)) is None


def test_tied_leading_systems_need_one_of_them_confirmed():
    v = visits(
        [0, 180, 360, 540],
        [3.0, 4.0, 4.0, 4.0],
        pyramidal=[1, 2, 2, 2],
        sensory=[1, 2, 2, 2],
        cerebellar=[0, 1, 0, 0],
    )
    r = row(assess_spms(v))
    assert r["spms_date"] == day(180) and r["leading_fs"] == "pyramidal+sensory"


def test_a_lasting_improvement_moves_the_baseline():
    days = [0, 180, 400, 700, 900, 1080, 1260]
    v = visits(days, [4.0, 4.0, 3.0, 3.0, 4.0, 4.0, 4.0], pyramidal=[2, 2, 2, 2, 3, 3, 3])
    r = row(assess_spms(v))
    # 3.0 held 300 days (>= 272.25): baseline 3.0 from day 400; 4.0 is then +1.0
    assert r["spms_date"] == day(900) and r["baseline_date"] == day(400)
    short = visits(
        [0, 180, 400, 600, 900, 1080, 1260],
        [4.0, 4.0, 3.0, 3.0, 4.0, 4.0, 4.0],
        pyramidal=[2, 2, 2, 2, 3, 3, 3],
    )
    assert when(assess_spms(short)) is None  # 200 days of improvement: baseline stays 4.0


def test_two_non_worsened_visits_end_the_worsening_one_is_bridged():
    two = visits([0, 180, 360, 540, 720, 900], [3, 4, 4, 4, 3, 3], pyramidal=[1, 2, 2, 2, 1, 1])
    assert when(assess_spms(two)) is None
    one = visits([0, 180, 360, 540, 720], [3, 4, 4, 4, 3], pyramidal=[1, 2, 2, 2, 1])
    assert when(assess_spms(one)) == 180
    assert when(assess_spms(one, tolerated_dips=0)) is None
    assert when(assess_spms(two, sustained_to_end=False)) == 180


def test_the_edss_must_stay_at_least_4_through_confirmation():
    # the dip at day 360 is bridged, but it is the confirmation visit of day 180's worsening
    v = visits([0, 180, 360, 540, 720], [3, 4, 3, 4, 4], pyramidal=[1, 2, 2, 2, 2])
    assert when(assess_spms(v)) == 540


def test_relapse_followed_by_a_jump_moves_the_baseline_to_a_stable_visit():
    days = [0, 170, 360, 560, 760, 940, 1120]
    v = visits(days, [2.0, 3.5, 3.5, 3.5, 4.5, 4.5, 4.5], pyramidal=[1, 2, 2, 2, 3, 3, 3])
    res = assess_spms(v, relapses([150]))
    r = row(res)
    # day 170: relapse since the previous visit, EDSS 3.5 > 3, +1.5 from baseline and previous;
    # day 360 then stays within one step for 200 days (>= 181.5): the new baseline (3.5)
    assert r["spms_date"] == day(760) and r["baseline_date"] == day(360)
    assert r["n_rebaselines"] == 1
    assert res.steps["kind"].tolist() == [
        "baseline",
        "baseline moved: relapse followed by an EDSS increase",
        "converted",
    ]
    assert res.steps["reason"].iloc[1] == "to the first later visit that stayed stable"
    # only +0.5 from the new baseline: no conversion (it would be +2.0 from the first one)
    low = visits(days, [2.0, 3.5, 3.5, 3.5, 4.0, 4.0, 4.0], pyramidal=[1, 2, 2, 2, 3, 3, 3])
    assert when(assess_spms(low, relapses([150]))) is None
    # stable for only 140 days: the baseline moves to the worsening itself
    short = visits(
        [0, 170, 360, 500, 760, 940, 1120],
        [2.0, 3.5, 3.5, 3.5, 4.5, 4.5, 4.5],
        pyramidal=[1, 2, 2, 2, 3, 3, 3],
    )
    res = assess_spms(short, relapses([150]))
    assert when(res) is None and res.steps["baseline_date"].iloc[1] == day(760)


def test_visits_before_the_first_with_functional_system_scores_are_ignored():
    v = visits([0, 180, 360, 540, 720], [3.0, 4.0, 4.0, 4.0, 4.0], pyramidal=[NAN, 2, 2, 2, 2])
    r = row(assess_spms(v))
    assert not r["spms"] and r["baseline_date"] == day(180)


def test_subjects_that_cannot_be_assessed_say_why():
    few = visits([0, 180], [3.0, 4.0], pyramidal=[1, 2], subject="few")
    nofs = visits([0, 180, 360], [3.0, 4.0, 4.0], pyramidal=[NAN] * 3, subject="nofs")
    near = visits([0, 10, 20], [3.0, 4.0, 4.0], pyramidal=[1, 2, 2], subject="near")
    import pandas as pd

    res = assess_spms(pd.concat([few, nofs, near]), relapses([-5, 8, 18], subject="near"))
    status = dict(zip(res.summary["subject"], res.summary["status"], strict=True))
    assert status == {
        "few": "fewer visits than min_visits",
        "nofs": "no visit with functional-system scores",
        "near": "no relapse-free visit with functional-system scores for a baseline",
    }
    assert not res.summary["spms"].any()


def test_missing_scores_count_as_spmsdx_counts_them_unless_strict():
    # pyramidal is not scored after the worsening: spmsDx's reading confirms it, the strict one
    # cannot (and at day 360 the pyramidal score is unknown below EDSS 5.5)
    v = visits([0, 180, 360, 540], [3.0, 4.0, 4.0, 4.0], pyramidal=[1, 2, NAN, NAN])
    assert when(assess_spms(v)) == 180
    assert when(assess_spms(v, missing_fs_confirms=False)) is None


def test_days_since_relapse_column_and_relapse_table_agree():
    v = visits([0, 180, 360, 540], [3.0, 4.0, 4.0, 4.0], pyramidal=[1, 2, 2, 2])
    by_table = assess_spms(v, relapses([100]))
    v2 = v.assign(days_since_relapse=[np.nan, -80.0, -260.0, -440.0])  # sign ignored
    by_column = assess_spms(v2)
    assert by_table.summary.equals(by_column.summary)


def test_settings_errors_name_the_parameter_and_the_allowed_values():
    from smoulder.exceptions import SettingsError

    with pytest.raises(SettingsError, match=r"min_edss must be on the EDSS grid .* \(got 4.2\)"):
        SPMSSettings(min_edss=4.2)
    with pytest.raises(SettingsError, match=r"confirmation_days must be a finite number"):
        SPMSSettings(confirmation_days=-1)
    s = SPMSSettings(min_edss=3.5, pyramidal_waived_from="inf")
    assert SPMSSettings.from_toml(s.to_toml()) == s


def test_methods_paragraph_states_what_ran():
    v = visits([0, 180, 360, 540], [3.0, 4.0, 4.0, 4.5], pyramidal=[1, 2, 2, 3])
    text = assess_spms(v, min_edss=3.5, confirm_leading_fs=False).methods()
    assert "at least 3.5" in text and "was not required" in text and "1 of 1 subjects" in text
