"""Invariants of treatment epochs and NEDA on random timelines (hypothesis)."""

from __future__ import annotations

import numpy as np
import pandas as pd
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from smoulder.clinical.epochs import EpochSettings, label_events, treatment_epochs
from smoulder.clinical.neda import assess_neda
from smoulder.schema.treatments import validate_treatments

FAST = settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
DAY0 = pd.Timestamp("2016-01-01")
DRUGS = ["fingolimod", "natalizumab", "ocrelizumab", "teriflunomide"]


@st.composite
def history(draw):  # type: ignore[no-untyped-def]
    span = draw(st.integers(200, 3000))
    n = draw(st.integers(0, 4))
    cuts = sorted(
        draw(st.lists(st.integers(-400, span + 200), min_size=2 * n, max_size=2 * n, unique=True))
    )
    rows = [("a", draw(st.sampled_from(DRUGS)), DAY0 + pd.Timedelta(days=cuts[2 * i]),
             DAY0 + pd.Timedelta(days=cuts[2 * i + 1])) for i in range(n)]  # fmt: skip
    if rows and draw(st.booleans()):
        rows[-1] = rows[-1][:3] + (None,)
    t = pd.DataFrame(rows, columns=["subject", "drug", "start", "stop"])
    t["start"] = t["start"].dt.strftime("%Y-%m-%d") if n else t["start"]
    t["stop"] = pd.to_datetime(t["stop"]).dt.strftime("%Y-%m-%d") if n else t["stop"]
    window = pd.DataFrame(
        {"subject": ["a"], "start": [DAY0], "end": [DAY0 + pd.Timedelta(days=span)]}
    )
    days = draw(st.lists(st.integers(-100, span + 100), max_size=8))
    events = pd.DataFrame(
        {
            "subject": pd.Series(["a"] * len(days), dtype=object),
            "date": pd.DatetimeIndex(
                [DAY0 + pd.Timedelta(days=d) for d in days], dtype="datetime64[ns]"
            ),
            "kind": "relapse",
        }
    )
    lag = draw(st.sampled_from([0, 30, 90]))
    return (validate_treatments(t) if n else None), window, events, lag, span


@FAST
@given(history())
def test_epochs_tile_the_window_and_every_event_inside_has_one(case):
    tr, window, events, lag, span = case
    ep = treatment_epochs(tr, window, EpochSettings(lag_days=lag))
    assert abs(ep["person_years"].sum() * 365.25 - span) < 1e-6
    assert (ep["start"].iloc[1:].to_numpy() == ep["end"].iloc[:-1].to_numpy()).all()
    got = label_events(events, ep)
    inside = (events["date"] >= window["start"][0]) & (events["date"] <= window["end"][0])
    assert ((got["epoch"] >= 0) == inside).all()


@FAST
@given(history())
def test_an_excluded_lag_only_removes_person_time_and_events(case):
    tr, window, events, lag, span = case
    keep = treatment_epochs(tr, window, EpochSettings(lag_days=lag))
    drop = treatment_epochs(tr, window, EpochSettings(lag_days=lag, lag_attribution="exclude"))
    assert drop["person_years"].sum() <= keep["person_years"].sum() + 1e-12
    assert (label_events(events, drop)["epoch"] >= 0).sum() <= (
        label_events(events, keep)["epoch"] >= 0
    ).sum()


@st.composite
def cohort(draw):  # type: ignore[no-untyped-def]
    n = draw(st.integers(3, 10))
    days = np.cumsum([0] + draw(st.lists(st.integers(30, 300), min_size=n - 1, max_size=n - 1)))
    vals = draw(st.lists(st.sampled_from([1.0, 1.5, 2.0, 2.5, 3.0, 4.0]), min_size=n, max_size=n))
    visits = pd.DataFrame({"subject": pd.Categorical(["a"] * n), "date": DAY0 + pd.to_timedelta(days, unit="D"),
                           "value": vals, "validconf": True})  # fmt: skip
    rel = draw(st.lists(st.integers(0, int(days[-1])), max_size=3, unique=True))
    relapses = pd.DataFrame({"subject": pd.Series(["a"] * len(rel), dtype=object),
                             "date": pd.DatetimeIndex([DAY0 + pd.Timedelta(days=d) for d in rel], dtype="datetime64[ns]")})  # fmt: skip
    scans = draw(st.lists(st.integers(0, int(days[-1])), max_size=4, unique=True))
    mri = pd.DataFrame({"subject": ["a"] * len(scans), "date": [DAY0 + pd.Timedelta(days=d) for d in sorted(scans)],
                        "active": draw(st.lists(st.booleans(), min_size=len(scans), max_size=len(scans)))})  # fmt: skip
    return visits, relapses, mri


@FAST
@given(cohort())
def test_neda3_is_false_exactly_when_a_component_is_false(case):
    visits, relapses, mri = case
    p = assess_neda(visits, relapses, mri if len(mri) else None).periods
    comp = p[["relapse_free", "no_worsening", "mri_free"]]
    any_false = (comp == False).any(axis=1)  # noqa: E712
    assert ((p["neda3"] == False) == any_false).all()  # noqa: E712
    all_true = comp.fillna(False).astype(bool).all(axis=1)
    assert (p["neda3"].fillna(False).astype(bool) == all_true).all()


@FAST
@given(cohort(), st.integers(0, 3000))
def test_an_added_relapse_never_makes_a_period_neda(case, day):
    visits, relapses, mri = case
    before = assess_neda(visits, relapses, mri if len(mri) else None).periods
    more = pd.concat(
        [relapses, pd.DataFrame({"subject": ["a"], "date": [DAY0 + pd.Timedelta(days=day)]})]
    )
    after = assess_neda(visits, more.drop_duplicates(), mri if len(mri) else None).periods
    was_not = (before["relapse_free"] == False).to_numpy()  # noqa: E712
    assert (after["relapse_free"].to_numpy()[was_not] == False).all()  # noqa: E712
    assert (after["n_relapses"].to_numpy() >= before["n_relapses"].to_numpy()).all()
