"""EDSS-plus composite and confirmed milestones on hand-worked timelines."""

from __future__ import annotations

import math
import re

import pandas as pd
import pytest
from clinical_timelines import day, onsets, timeline

from smoulder.clinical.composite import composite_cdw
from smoulder.clinical.milestones import confirmed_milestone


def test_composite_takes_the_earliest_component():
    # EDSS worsens at day 300; the walk (T25FW +20 %) already at day 200; 9HPT never
    edss = pd.concat(
        [
            timeline([2.0, 2.0, 2.0, 3.0, 3.0], [0, 100, 200, 300, 400], "a"),
            timeline([2.0, 2.0, 2.0], [0, 100, 200], "b"),
        ]
    )
    walk = pd.concat(
        [
            timeline([5.0, 5.0, 6.0, 6.0, 6.5], [0, 100, 200, 300, 400], "a"),
            timeline([5.0, 5.1, 5.2], [0, 100, 200], "b"),
        ]
    )
    peg = pd.concat(
        [
            timeline([20.0, 20.0, 21.0, 20.0, 20.0], [0, 100, 200, 300, 400], "a"),
            timeline([20.0, 20.0, 20.0], [0, 100, 200], "b"),
        ]
    )
    res = composite_cdw({"edss": edss, "t25fw": walk, "nhpt": peg}, classify_cdw=True)
    ev = res.events.set_index("subject")
    assert list(ev.index) == ["a"]
    assert ev.loc["a", "event_date"] == day(200) and ev.loc["a", "components"] == "t25fw"
    assert ev.loc["a", "time_to_event_days"] == 200 and ev.loc["a", "cdw_type"] == "PIRA"
    sm = res.summary.set_index("subject")
    assert bool(sm.loc["a", "event"]) and not bool(sm.loc["b", "event"])
    assert sm.loc["b", "time_to_event_days"] == 200  # censored at the end of follow-up
    assert len(res.components["edss"].events) == 1


def test_composite_ties_list_both_components():
    edss = timeline([2.0, 3.0, 3.0], [0, 100, 200])
    walk = timeline([5.0, 6.0, 6.0], [0, 100, 200])
    res = composite_cdw({"edss": edss, "t25fw": walk})
    assert res.events.iloc[0]["components"] == "edss+t25fw"


def test_milestone_needs_confirmation_and_intermediate_visits():
    # 6.0 at day 100 falls back to 5.5 at day 150: not confirmed; reached again at 200, held at 300
    v = timeline([5.0, 6.0, 5.5, 6.0, 6.5], [0, 100, 150, 200, 300])
    ms = confirmed_milestone(v, 6.0).summary.iloc[0]
    assert bool(ms.reached) and ms.event_date == day(200) and ms.confirmation_date == day(300)
    assert ms.duration_days == 200
    never = confirmed_milestone(timeline([5.0, 6.0, 5.5], [0, 100, 200]), 6.0).summary.iloc[0]
    assert not bool(never.reached) and never.duration_days == 200 and pd.isna(never.event_date)


def test_milestone_relapse_exclusions_and_sustained():
    v = timeline([5.0, 6.0, 6.0, 5.5], [0, 100, 200, 400])
    # confirmation at 200 lies 10 days after a relapse: excluded, and the later visit is below 6
    assert not bool(confirmed_milestone(v, 6.0, onsets([190])).summary.iloc[0].reached)
    assert bool(confirmed_milestone(v, 6.0).summary.iloc[0].reached)
    # must hold to the end: the drop to 5.5 at day 400 rules it out
    assert not bool(confirmed_milestone(v, 6.0, require_sust_days=math.inf).summary.iloc[0].reached)


def test_milestone_lower_is_worse():
    v = timeline([50, 39, 38, 38], [0, 100, 200, 300])
    ms = confirmed_milestone(v, 40, outcome="sdmt").summary.iloc[0]
    assert bool(ms.reached) and ms.event_date == day(100)


@pytest.mark.parametrize(
    ("value", "outcome", "fragment"),
    [
        (-3, "edss", "milestone -3 is not a possible EDSS value"),
        (11, "edss", "milestone 11 is not a possible EDSS value"),
        (6.3, "edss", "expected one of 0, 0.5, 1.0, ..., 10"),
        (float("nan"), "edss", "milestone nan"),
        (0, "t25fw", "seconds greater than 0"),
        (120, "sdmt", "points from 0 to 110"),
    ],
)
def test_an_impossible_milestone_is_refused(value, outcome, fragment):
    from smoulder.exceptions import SettingsError

    v = pd.DataFrame(
        {
            "subject": ["a", "a"],
            "date": pd.to_datetime(["2020-01-01", "2020-06-01"]),
            "value": [5.0, 6.0],
        }
    )
    with pytest.raises(SettingsError, match=re.escape(fragment)):
        confirmed_milestone(v, value, outcome=outcome)
    # a possible one of the same outcome is accepted
    confirmed_milestone(v, {"edss": 6.0, "t25fw": 8.0, "sdmt": 40}[outcome], outcome=outcome)
