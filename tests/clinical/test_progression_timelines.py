"""Hand-worked timelines, one or more per option, with expected events worked out by hand.

Days are counted from 2020-01-01. Unless a test says otherwise the settings are
msprog's defaults: confirmation after 84 days (window 77 to 814.5 days after
the event), checked at every intermediate visit, baseline and confirmation
visits at least 30 days after a relapse onset.
"""

from __future__ import annotations

import math

import pandas as pd
import pytest
from clinical_timelines import day, onsets, timeline


def events_of(res):
    ev = res.events
    return [
        (r.event_type, r.cdw_type, (r.event_date - day(0)).days, (r.baseline_date - day(0)).days)
        for r in ev.itertuples()
    ]


# ---------------------------------------------------------------- thresholds
def test_basic_confirmed_worsening(run):
    res = run(timeline([2.0, 3.0, 3.0, 3.0], [0, 180, 360, 540]))
    ev = res.events.iloc[0]
    assert len(res.events) == 1
    assert ev.event_type == "CDW"
    assert ev.event_date == day(180) and ev.confirmation_date == day(360)
    assert ev.baseline_value == 2.0 and ev.event_value == 3.0
    assert ev.time_to_event_days == 180 and ev.sustained_days == 360 and bool(ev.sustained_to_last)


def test_change_below_threshold_is_not_an_event(run):
    assert len(run(timeline([2.0, 2.5, 2.5, 2.5], [0, 180, 360, 540])).events) == 0


@pytest.mark.parametrize(
    "values,expected",
    [([0.0, 1.0, 1.0], 0), ([0.0, 1.5, 1.5], 1), ([0.5, 1.5, 1.5], 1), ([1.0, 1.5, 1.5], 0)],
)
def test_edss_zero_needs_one_and_a_half(run, values, expected):
    assert len(run(timeline(values, [0, 180, 360])).events) == expected


@pytest.mark.parametrize(
    "values,half_from,expected",
    [
        ([5.5, 6.0, 6.0], 6.0, 0),  # consensus: +1.0 needed from 5.5
        ([5.5, 6.0, 6.0], 5.5, 1),  # msprog: +0.5 from 5.5
        ([5.5, 6.5, 6.5], 6.0, 1),
        ([6.0, 6.5, 6.5], 6.0, 1),  # +0.5 from 6.0 in both conventions
        ([5.0, 5.5, 5.5], 5.5, 0),
    ],
)
def test_edss_half_step_boundary(run, values, half_from, expected):
    assert (
        len(run(timeline(values, [0, 180, 360]), edss_half_step_from=half_from).events) == expected
    )


def test_sdmt_lower_is_worse_smaller_of_4_points_or_20_percent(run):
    # baseline 50: 20 % = 10, 4 points is smaller -> a drop of 4 counts
    assert len(run(timeline([50, 46, 46], [0, 180, 360]), outcome="sdmt").events) == 1
    assert len(run(timeline([50, 47, 47], [0, 180, 360]), outcome="sdmt").events) == 0
    # baseline 15: 20 % = 3 is smaller than 4
    assert len(run(timeline([15, 12, 12], [0, 180, 360]), outcome="sdmt").events) == 1
    # a rise is an improvement, not a worsening
    assert len(run(timeline([50, 60, 60], [0, 180, 360]), outcome="sdmt").events) == 0
    assert (
        len(run(timeline([50, 60, 60], [0, 180, 360]), outcome="sdmt", event="firstCDI").events)
        == 1
    )


def test_timed_tests_twenty_percent(run):
    # T25FW baseline 5.0 s: 20 % = 1.0 s exactly
    assert len(run(timeline([5.0, 6.0, 6.0], [0, 180, 360]), outcome="t25fw").events) == 1
    assert len(run(timeline([5.0, 5.9, 5.9], [0, 180, 360]), outcome="t25fw").events) == 0
    assert len(run(timeline([20.0, 24.0, 24.0], [0, 180, 360]), outcome="nhpt").events) == 1


def test_custom_outcome_with_points(run):
    res = run(
        timeline([10, 13, 13], [0, 180, 360]), outcome="custom", direction="increase", min_change=3
    )
    assert len(res.events) == 1
    res = run(
        timeline([10, 12.9, 12.9], [0, 180, 360]),
        outcome="custom",
        direction="increase",
        min_change=3,
    )
    assert len(res.events) == 0


# ---------------------------------------------------------------- confirmation
@pytest.mark.parametrize("conf_day,expected", [(176, 0), (177, 1), (914, 1), (915, 0)])
def test_confirmation_window_edges(run, conf_day, expected):
    # event at day 100; window is 84-7 = 77 to 84+730.5 = 814.5 days after it
    assert len(run(timeline([2.0, 3.0, 3.0], [0, 100, conf_day])).events) == expected


def test_intermediate_visits_must_hold_the_change(run):
    tl = timeline([2.0, 3.0, 2.5, 3.0], [0, 100, 150, 200])
    assert len(run(tl).events) == 0
    res = run(tl, check_intermediate=False)
    assert events_of(res) == [("CDW", "", 100, 0)]
    assert res.events.iloc[0].confirmation_date == day(200)


def test_several_confirmation_windows_confirmed_at_any(run):
    tl = timeline([2.0, 3.0, 3.0, 3.0], [0, 100, 190, 280])
    res = run(tl, conf_days=[84, 168])
    ev = res.events.iloc[0]
    assert ev.confirmation_date == day(190)
    assert ev.conf84_date == day(190)  # 90 days after the event
    assert ev.conf168_date == day(280)  # 180 days after; 90 is outside [161, 898.5]
    # only the 168-day window: the visit at 190 is too early, 280 confirms
    ev168 = run(tl, conf_days=[168]).events.iloc[0]
    assert ev168.confirmation_date == day(280)
    # a worsening seen only at 90 days is confirmed under 84 but not under 168
    short = timeline([2.0, 3.0, 3.0, 2.0], [0, 100, 190, 280])
    assert len(run(short, conf_days=[168]).events) == 0
    assert len(run(short, conf_days=[84, 168]).events) == 1


def test_validconf_column(run):
    tl = timeline([2.0, 3.0, 3.0, 3.0], [0, 100, 200, 300], validconf=[True, True, False, True])
    assert run(tl).events.iloc[0].confirmation_date == day(300)
    tl2 = timeline([2.0, 3.0, 3.0], [0, 100, 200], validconf=[True, True, False])
    assert len(run(tl2).events) == 0


def test_require_sust_days(run):
    tl = timeline([2.0, 3.0, 3.0, 2.0], [0, 100, 200, 300])
    ev = run(tl).events.iloc[0]
    assert ev.sustained_days == 100 and not ev.sustained_to_last
    assert len(run(tl, require_sust_days=math.inf).events) == 0
    # msprog's rule: the first visit without the change must come at least that many days after the event
    assert len(run(tl, require_sust_days=201).events) == 0  # lost at day 300 = 200 days after
    assert len(run(tl, require_sust_days=200).events) == 1
    sustained = timeline([2.0, 3.0, 3.0, 3.5], [0, 100, 200, 300])
    assert bool(run(sustained, require_sust_days=math.inf).events.iloc[0].sustained_to_last)


def test_impute_last_visit(run):
    tl = timeline([2.0, 2.0, 3.0], [0, 100, 200])
    assert len(run(tl).events) == 0
    ev = run(tl, impute_last_visit=1).events.iloc[0]
    assert ev.event_date == day(200) and bool(ev.imputed) and pd.isna(ev.confirmation_date)
    # as a follow-up limit: imputed only when the event is within 150 days of the first visit
    assert len(run(tl, impute_last_visit=150).events) == 0
    assert len(run(tl, impute_last_visit=200).events) == 1


# ---------------------------------------------------------------- relapses
@pytest.mark.parametrize("onset,expected", [(171, 0), (170, 1), (169, 1)])
def test_confirmation_not_within_30_days_after_relapse(run, onset, expected):
    # confirmation visit at day 200: onset 29 days before excludes it, 30 or 31 do not
    tl = timeline([2.0, 3.0, 3.0], [0, 100, 200])
    assert len(run(tl, onsets([onset])).events) == expected


@pytest.mark.parametrize("onset,expected_bl", [(-29, 100), (-30, 0), (-31, 0)])
def test_baseline_not_within_30_days_after_relapse(run, onset, expected_bl):
    tl = timeline([2.0, 2.0, 3.0, 3.0], [0, 100, 200, 300])
    res = run(tl, onsets([onset]))
    assert (res.events.iloc[0].baseline_date - day(0)).days == expected_bl


@pytest.mark.parametrize("onset,cdw_type", [(9, "PIRA"), (10, "RAW"), (11, "RAW"), (100, "RAW")])
def test_raw_within_90_days_before_the_event(run, onset, cdw_type):
    # event at day 100 confirmed at day 200
    tl = timeline([2.0, 3.0, 3.0], [0, 100, 200])
    res = run(tl, onsets([onset]), classify_cdw=True)
    assert res.events.iloc[0].cdw_type == cdw_type


@pytest.mark.parametrize(
    "onset,cdw_type", [(130, "undefined"), (131, "undefined"), (230, "undefined"), (231, "PIRA")]
)
def test_pira_needs_relapse_free_windows(run, onset, cdw_type):
    # event at 100 (PIRA window 10..130), confirmation at 200 (window 110..230); a relapse after the event is not
    # relapse-associated (RAW looks back only), so inside a PIRA window it makes the event undefined
    tl = timeline([2.0, 3.0, 3.0], [0, 100, 200])
    res = run(tl, onsets([onset]), classify_cdw=True, relapse_to_conf=0)
    assert res.events.iloc[0].cdw_type == cdw_type


def test_pira_confirmed_at_a_later_relapse_free_visit(run):
    # the relapse at 131 spoils the confirmation at 200 but not the one at 400 (window 310..430)
    tl = timeline([2.0, 3.0, 3.0, 3.0], [0, 100, 200, 400])
    ev = run(tl, onsets([131]), classify_cdw=True, relapse_to_conf=0).events.iloc[0]
    assert ev.cdw_type == "PIRA"
    assert ev.confirmation_date == day(200) and ev.pira_confirmation_date == day(400)


def test_relapse_before_first_visit_still_makes_raw(run):
    # a relapse 60 days before the first recorded visit and 80 days before the event
    tl = timeline([2.0, 3.0, 3.0], [0, 20, 120])
    res = run(tl, onsets([-60]), classify_cdw=True)
    assert res.events.iloc[0].cdw_type == "RAW"


def test_pirma_flag(run):
    tl = timeline([2.0, 3.0, 3.0], [0, 100, 200])

    def scans(days, act):
        return pd.DataFrame({"subject": "a", "date": [day(d) for d in days], "active": act})

    quiet = run(tl, None, scans([50, 150], [False, False]), classify_cdw=True).events.iloc[0]
    assert quiet.cdw_type == "PIRA" and quiet.pirma == True  # noqa: E712 - pandas boolean
    active = run(tl, None, scans([50, 120], [False, True]), classify_cdw=True).events.iloc[0]
    assert active.cdw_type == "PIRA" and active.pirma == False  # noqa: E712
    unknown = run(tl, None, scans([500], [False]), classify_cdw=True).events.iloc[0]
    assert pd.isna(unknown.pirma)


# ---------------------------------------------------------------- baselines and events
def test_multiple_roving_versus_fixed(run):
    tl = timeline([2.0, 3.0, 3.0, 4.0, 4.0], [0, 100, 200, 300, 400])
    roving = run(tl, event="multiple", baseline="roving")
    assert events_of(roving) == [("CDW", "", 100, 0), ("CDW", "", 300, 200)]
    fixed = run(tl, event="multiple", baseline="fixed")
    assert events_of(fixed) == [("CDW", "", 100, 0), ("CDW", "", 300, 0)]
    first = run(tl, event="firstCDW", baseline="roving")
    assert events_of(first) == [("CDW", "", 100, 0)]


def test_proceed_from_event(run):
    tl = timeline([2.0, 3.0, 3.5, 4.5, 4.5], [0, 100, 200, 300, 400])
    conf = run(tl, event="multiple", baseline="roving")
    assert events_of(conf) == [("CDW", "", 100, 0), ("CDW", "", 300, 200)]
    ev = run(tl, event="multiple", baseline="roving", proceed_from="event")
    assert events_of(ev) == [("CDW", "", 100, 0), ("CDW", "", 300, 100)]


def test_sub_threshold_rebaseline(run):
    tl = timeline([2.0, 2.5, 2.5, 3.5, 3.5], [0, 100, 200, 300, 400])
    none = run(tl, event="multiple", baseline="roving")
    assert events_of(none) == [("CDW", "", 300, 0)]
    sub = run(tl, event="multiple", baseline="roving", sub_threshold_rebl="event")
    assert events_of(sub) == [("CDW", "", 300, 200)]
    # 'improvement' only re-baselines after a sub-threshold improvement: same as none here
    assert events_of(
        run(tl, event="multiple", baseline="roving", sub_threshold_rebl="improvement")
    ) == [("CDW", "", 300, 0)]


def test_roving_after_improvement_finds_later_worsening(run):
    tl = timeline([4.0, 3.0, 3.0, 4.0, 4.0], [0, 100, 200, 300, 400])
    assert events_of(run(tl, event="multiple", baseline="fixed")) == [("CDI", "", 100, 0)]
    assert events_of(run(tl, event="multiple", baseline="roving")) == [
        ("CDI", "", 100, 0),
        ("CDW", "", 300, 200),
    ]
    assert events_of(run(tl, event="firstCDW", baseline="roving_impr")) == [("CDW", "", 300, 200)]
    assert events_of(run(tl, event="firstCDW", baseline="fixed")) == []


def test_first_pira_skips_raw_with_roving(run):
    # RAW at 100 (relapse at 50), then PIRA at 300 from the new baseline at 200
    tl = timeline([2.0, 3.0, 3.0, 4.0, 4.0], [0, 100, 200, 300, 400])
    res = run(tl, onsets([50]), event="firstPIRA", baseline="roving")
    assert events_of(res) == [("CDW", "PIRA", 300, 200)]
    allev = run(tl, onsets([50]), event="multiple", baseline="roving", classify_cdw=True)
    assert events_of(allev) == [("CDW", "RAW", 100, 0), ("CDW", "PIRA", 300, 200)]
    assert allev.summary.iloc[0].event_sequence == "RAW, PIRA"


def test_single_visit_and_empty_subjects(run):
    res = run(
        pd.concat([timeline([3.0], [0], "solo"), timeline([2.0, 3.0, 3.0], [0, 100, 200], "two")])
    )
    assert list(res.events.subject.astype(str)) == ["two"]
    solo = res.summary.set_index(res.summary.subject.astype(str)).loc["solo"]
    assert solo.n_visits == 1 and solo.follow_up_days == 0 and solo.n_cdw == 0


def test_ties_relapse_on_event_day_is_raw(run):
    tl = timeline([2.0, 3.0, 3.0], [0, 100, 200])
    assert run(tl, onsets([100]), classify_cdw=True).events.iloc[0].cdw_type == "RAW"


def test_relapse_rebaseline(run):
    # the worsening at 200 lies more than 90 days after the relapse at 100: with relapse_rebl the
    # baseline moves to the first visit on or after the relapse (day 200, 3.0) and nothing is left
    tl = timeline([2.0, 3.0, 3.0], [0, 200, 300])
    assert events_of(run(tl, onsets([100]), classify_cdw=True)) == [("CDW", "PIRA", 200, 0)]
    assert len(run(tl, onsets([100]), event="multiple", relapse_rebl=True).events) == 0


def test_bl_geq_does_not_inflate_improvement(run):
    # Pre-relapse baseline 3.0; after the relapse (day 100) the baseline moves to day 250 (2.5).
    # bl_geq keeps the *worsening* reference at 3.0, but an improvement is judged from the real
    # value 2.5, so 2.0 at days 400/500 (0.5 below it) is no improvement. pymsprog overwrites the
    # visit with 3.0 and reports a CDI here.
    tl = timeline([3.0, 2.5, 2.0, 2.0], [0, 250, 400, 500])
    opts = dict(event="multiple", baseline="roving", relapse_rebl=True)
    assert len(run(tl, onsets([100]), bl_geq=True, **opts).events) == 0
    assert len(run(tl, onsets([100]), **opts).events) == 0


def test_settings_echo_round_trip(tmp_path, run):
    from smoulder.clinical import ProgressionSettings

    res = run(
        timeline([2.0, 3.0, 3.0], [0, 100, 200]),
        conf_days=[84, 168],
        require_sust_days=math.inf,
        relapse_indep={
            "prec": [0, None],
            "event": [None, 30],
            "conf": [90, 30],
            "prec_type": "last",
        },
    )
    path = tmp_path / "s.toml"
    path.write_text(res.settings.to_toml())
    assert ProgressionSettings.from_toml(path.read_text()) == res.settings
    assert ProgressionSettings.from_json(res.settings.to_json()) == res.settings
    assert "Disability course was assessed on EDSS" in res.methods_paragraph()


def test_many_events_for_one_subject(run):
    # a staircase: six roving-baseline worsenings, more than the first pass makes room for,
    # next to a subject with one event
    values = [1.0, 2.0, 2.0, 3.0, 3.0, 4.0, 4.0, 5.0, 5.0, 6.0, 6.0, 6.5, 6.5]
    tl = pd.concat(
        [
            timeline(values, [100 * i for i in range(13)], "a"),
            timeline([2.0, 3.0, 3.0], [0, 100, 200], "b"),
        ]
    )
    res = run(tl, event="multiple", baseline="roving")
    got = [
        (str(r.subject), (r.event_date - day(0)).days, (r.baseline_date - day(0)).days)
        for r in res.events.itertuples()
    ]
    assert got == [
        ("a", 100, 0),
        ("a", 300, 200),
        ("a", 500, 400),
        ("a", 700, 600),
        ("a", 900, 800),
        ("a", 1100, 1000),
        ("b", 100, 0),
    ]
    assert res.events["nevent"].tolist() == [1, 2, 3, 4, 5, 6, 1]
    assert res.summary["n_cdw"].tolist() == [6, 1]


def test_several_windows_do_not_crash(run):
    # pymsprog 1.0.7 raises ValueError here: the improvement is confirmed in the 84-day window
    # only and is not retained (it lasts 359 < 365 days)
    tl = timeline([4.0, 3.0, 3.0, 3.5], [0, 190, 345, 549])
    res = run(tl, event="multiple", baseline="roving", conf_days=[84, 168], require_sust_days=365)
    assert len(res.events) == 0
    # without the sustained requirement it is a CDI confirmed at day 345 in the 84-day window only
    ev = run(tl, event="multiple", baseline="roving", conf_days=[84, 168]).events.iloc[0]
    assert ev.event_type == "CDI" and ev.conf84_date == day(345) and pd.isna(ev.conf168_date)
