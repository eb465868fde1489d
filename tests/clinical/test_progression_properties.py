"""Invariants of the progression engine, checked on random timelines (hypothesis)."""

from __future__ import annotations

import numpy as np
import pandas as pd
from clinical_timelines import day
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from smoulder.clinical import make_settings, minimal_change, run_validated

GRID = [x / 2 for x in range(0, 20)]


@st.composite
def subjects(draw, max_subjects=4):
    n_sub = draw(st.integers(1, max_subjects))
    vis, rel = [], []
    for k in range(n_sub):
        n = draw(st.integers(1, 12))
        gaps = draw(st.lists(st.integers(1, 400), min_size=n, max_size=n))
        days = np.cumsum(gaps) - gaps[0]
        vals = draw(st.lists(st.sampled_from(GRID), min_size=n, max_size=n))
        vis.append(
            pd.DataFrame(
                {
                    "subject": f"s{k}",
                    "date": [day(d) for d in days],
                    "value": vals,
                    "validconf": True,
                }
            )
        )
        r = draw(st.lists(st.integers(-200, int(days[-1]) + 100), max_size=3, unique=True))
        if r:
            rel.append(pd.DataFrame({"subject": f"s{k}", "date": [day(d) for d in sorted(r)]}))
    v = pd.concat(vis, ignore_index=True)
    r = (
        pd.concat(rel, ignore_index=True)
        if rel
        else pd.DataFrame({"subject": [], "date": pd.to_datetime([])})
    )
    return v, r


OPTIONS = st.fixed_dictionaries(
    {
        "event": st.sampled_from(["multiple", "firstCDW", "firstPIRA", "first"]),
        "baseline": st.sampled_from(["fixed", "roving", "roving_wors"]),
        "conf_days": st.sampled_from([[84], [168], [84, 168]]),
        "check_intermediate": st.booleans(),
        "relapse_rebl": st.booleans(),
        "sub_threshold_rebl": st.sampled_from(["none", "event"]),
        "skip_local_extrema": st.sampled_from(["none", "strict"]),
        "edss_half_step_from": st.sampled_from([5.5, 6.0]),
    }
)

# derandomize: the same examples on every run, so a failure is reproducible
SETTINGS = settings(
    max_examples=150, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow]
)


def _run(v, r, opts):
    return run_validated(v, r, None, make_settings(classify_cdw=True, **opts))


@SETTINGS
@given(data=subjects(), opts=OPTIONS)
def test_every_worsening_is_meaningful_and_confirmed(data, opts):
    v, r = data
    res = _run(v, r, opts)
    mc = minimal_change("edss", edss_half_step_from=opts["edss_half_step_from"])
    lo = min(int(c) - 7 for c in opts["conf_days"])
    for e in res.events.itertuples():
        assert e.event_date > e.baseline_date
        assert e.confirmation_date - e.event_date >= pd.Timedelta(days=lo)
        delta = mc.delta(np.array([e.baseline_value]))[0]
        if e.event_type == "CDW":
            assert e.event_value - e.baseline_value >= delta
            assert e.confirmation_value - e.baseline_value >= delta
        else:
            assert e.baseline_value - e.event_value >= delta
            assert e.baseline_value - e.confirmation_value >= delta


@SETTINGS
@given(data=subjects(), opts=OPTIONS)
def test_pira_windows_hold_no_relapse_and_raw_has_one(data, opts):
    v, r = data
    res = _run(v, r, opts)
    for e in res.events.itertuples():
        onsets = r.loc[r["subject"] == str(e.subject), "date"]
        if e.cdw_type == "PIRA":
            for t in (e.event_date, e.pira_confirmation_date):
                near = (onsets >= t - pd.Timedelta(days=90)) & (onsets <= t + pd.Timedelta(days=30))
                assert not near.any()
        if e.cdw_type == "RAW":
            before = (onsets <= e.event_date) & (onsets >= e.event_date - pd.Timedelta(days=90))
            assert before.any()


@SETTINGS
@given(data=subjects(), opts=OPTIONS, seed=st.integers(0, 2**31 - 1))
def test_row_order_does_not_matter(data, opts, seed):
    v, r = data
    a = _run(v, r, opts).events
    rng = np.random.default_rng(seed)
    b = _run(v.iloc[rng.permutation(len(v))], r.iloc[rng.permutation(len(r))], opts).events
    pd.testing.assert_frame_equal(a, b)


@SETTINGS
@given(data=subjects(max_subjects=5), opts=OPTIONS)
def test_other_subjects_do_not_matter(data, opts):
    v, r = data
    together = _run(v, r, opts).events
    together = together.assign(subject=together["subject"].astype(str))
    for s in v["subject"].unique():
        alone = _run(v[v.subject == s], r[r.subject == s], opts).events
        alone = alone.assign(subject=alone["subject"].astype(str)).reset_index(drop=True)
        part = together[together.subject == s].reset_index(drop=True)
        pd.testing.assert_frame_equal(alone, part)


@SETTINGS
@given(data=subjects(), opts=OPTIONS)
def test_subthreshold_noise_is_never_an_event(data, opts):
    v, r = data
    # squeeze every value to 2.0 or 2.5: every change is 0.5, below the 1.0 needed from 2.0 or 2.5,
    # though sub-threshold re-baselining may still move the baseline around
    v = v.assign(value=np.where(v["value"] >= 5.0, 2.5, 2.0))
    res = _run(v, r, opts)
    assert len(res.events) == 0
