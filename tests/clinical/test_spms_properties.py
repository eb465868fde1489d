"""Invariants of the SPMS rule on random timelines (hypothesis)."""

from __future__ import annotations

import numpy as np
import pandas as pd
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from spms_timelines import DAY0, relapses

from smoulder.clinical.spms import SPMSSettings, assess_spms

FAST = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@st.composite
def subject(draw, name="a"):  # type: ignore[no-untyped-def]
    n = draw(st.integers(3, 10))
    gaps = draw(st.lists(st.integers(20, 400), min_size=n - 1, max_size=n - 1))
    days = np.r_[0, np.cumsum(gaps)]
    start = draw(st.integers(0, 10)) / 2
    steps = draw(
        st.lists(st.sampled_from([-1.0, -0.5, 0, 0, 0.5, 1.0, 1.5]), min_size=n, max_size=n)
    )
    edss = np.clip(start + np.cumsum(steps) - steps[0], 0, 9.5)
    pyr = np.clip(
        np.round(edss / 1.5) + np.array(draw(st.lists(st.integers(-1, 1), min_size=n, max_size=n))),
        0,
        6,
    )
    sens = np.array(draw(st.lists(st.integers(0, 4), min_size=n, max_size=n)), dtype=float)
    missing = np.array(draw(st.lists(st.booleans(), min_size=n, max_size=n)))
    missing[0] = False
    pyr = np.where(missing & (np.arange(n) % 2 == 1), np.nan, pyr)
    rel = draw(st.lists(st.integers(-60, int(days[-1]) + 30), max_size=3, unique=True))
    v = pd.DataFrame(
        {
            "subject": name,
            "date": DAY0 + pd.to_timedelta(days, unit="D"),
            "edss": edss,
            "pyramidal": pyr,
            "sensory": sens,
        }
    )
    return v, relapses(sorted(rel), subject=name)


def _one(res, sid="a"):  # type: ignore[no-untyped-def]
    t = res.summary.set_index("subject")
    return t.loc[sid]


@FAST
@given(subject(), st.randoms(use_true_random=False))
def test_row_order_does_not_matter(case, rnd):
    v, r = case
    idx = list(range(len(v)))
    rnd.shuffle(idx)
    a = assess_spms(v, r).summary
    b = assess_spms(v.iloc[idx].reset_index(drop=True), r.iloc[::-1]).summary
    pd.testing.assert_frame_equal(a, b)


@FAST
@given(subject("a"), subject("b"))
def test_other_subjects_do_not_matter(one, other):
    alone = _one(assess_spms(one[0], one[1]))
    both = assess_spms(pd.concat([one[0], other[0]]), pd.concat([one[1], other[1]]))
    pd.testing.assert_series_equal(alone, _one(both), check_names=False)


@FAST
@given(subject(), st.integers(-3000, 3000))
def test_shifting_every_date_shifts_the_conversion(case, shift):
    v, r = case
    d = pd.Timedelta(days=shift)
    a = _one(assess_spms(v, r))
    b = _one(assess_spms(v.assign(date=v["date"] + d), r.assign(date=r["date"] + d)))
    assert a["spms"] == b["spms"]
    if a["spms"]:
        assert b["spms_date"] - a["spms_date"] == d


@FAST
@given(subject())
def test_a_conversion_satisfies_every_condition_of_the_rule(case):
    v, r = case
    s = SPMSSettings()
    res = assess_spms(v, r, s)
    a = _one(res)
    if not a["spms"]:
        return
    v = v.sort_values("date").reset_index(drop=True)
    i = int(np.flatnonzero(v["date"] == a["spms_date"])[0])
    base = float(a["baseline_edss"])
    step = 1.5 if base == 0 else (1.0 if base < 6 else 0.5)
    assert a["spms_edss"] >= 4 and a["spms_edss"] - base >= step
    pyr = v["pyramidal"].iloc[i]
    assert a["spms_edss"] >= 5.5 or pyr >= 2
    onsets = r["date"].to_numpy()
    prev = v["date"].iloc[i - 1]
    assert not ((onsets >= prev.to_datetime64()) & (onsets <= a["spms_date"].to_datetime64())).any()
    assert not (
        (onsets <= a["spms_date"].to_datetime64())
        & (onsets >= (a["spms_date"] - pd.Timedelta(days=30)).to_datetime64())
    ).any()
    assert (a["confirmation_date"] - a["spms_date"]).days >= s.confirmation_days
    assert (v["date"].iloc[-1] - a["spms_date"]).days >= s.confirmation_days
    window = v[(v["date"] > a["spms_date"]) & (v["date"] <= a["confirmation_date"])]
    assert (window["edss"] >= 4).all()
    # never two non-worsened visits in a row after it
    later = v["edss"].iloc[i:].to_numpy()
    worse = (later >= 4) & (later - base >= step)
    assert not (~worse[:-1] & ~worse[1:]).any()


@FAST
@given(subject())
def test_a_relapse_before_the_conversion_visit_removes_that_conversion(case):
    v, r = case
    a = _one(assess_spms(v, r))
    if not a["spms"]:
        return
    extra = pd.concat([r, relapses([int((a["spms_date"] - DAY0).days) - 1])])
    b = _one(assess_spms(v, extra))
    assert not (b["spms"] and b["spms_date"] == a["spms_date"])


@FAST
@given(subject(), st.integers(1, 400))
def test_a_relapse_after_the_last_visit_changes_nothing(case, after):
    v, r = case
    last = int((v["date"].max() - DAY0).days)
    a = assess_spms(v, r).summary
    b = assess_spms(v, pd.concat([r, relapses([last + after])])).summary
    pd.testing.assert_frame_equal(a, b)


def test_a_relapse_can_create_a_conversion_by_moving_the_baseline():
    """Not an invariant: a relapse just before the first visit makes the next visit the
    baseline, and a lower baseline can turn a +0.5 into a +1.0."""
    from spms_timelines import visits

    v = visits([0, 180, 360, 540, 720], [3.5, 3.0, 4.0, 4.0, 4.0], pyramidal=[1, 1, 2, 2, 2])
    assert not _one(assess_spms(v))["spms"]
    with_relapse = _one(assess_spms(v, relapses([-10])))
    assert with_relapse["spms"] and with_relapse["baseline_edss"] == 3.0
