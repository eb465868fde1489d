"""Time-to-event tables, Kaplan–Meier, Cox hazard ratios and plots."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from smoulder.clinical.survival import cox_hazard_ratio, kaplan_meier, time_to_first_event
from smoulder.exceptions import SettingsError


def _tables():
    d = pd.to_datetime
    events = pd.DataFrame(
        {
            "subject": ["a", "b", "b", "c"],
            "event_type": ["CDW", "CDW", "CDW", "CDI"],
            "cdw_type": ["PIRA", "RAW", "PIRA", ""],
            "pirma": pd.array([True, pd.NA, False], dtype="boolean").tolist() + [pd.NA],
            "event_date": d(["2021-01-01", "2020-06-01", "2022-01-01", "2020-09-01"]),
            "time_to_event_days": [366.0, 152.0, 731.0, 244.0],
        }
    )
    summary = pd.DataFrame(
        {"subject": ["a", "b", "c", "d"], "follow_up_days": [1000.0, 1200.0, 900.0, 50.0]}
    )
    return events, summary


@pytest.mark.parametrize(
    "kind,expected",
    [
        ("CDW", [(366.0, True), (152.0, True), (900.0, False), (50.0, False)]),
        ("PIRA", [(366.0, True), (731.0, True), (900.0, False), (50.0, False)]),
        ("RAW", [(1000.0, False), (152.0, True), (900.0, False), (50.0, False)]),
        ("CDI", [(1000.0, False), (1200.0, False), (244.0, True), (50.0, False)]),
        ("PIRMA", [(366.0, True), (1200.0, False), (900.0, False), (50.0, False)]),
    ],
)
def test_time_to_first_event(kind, expected):
    events, summary = _tables()
    tte = time_to_first_event(events, summary, kind=kind)
    assert list(zip(tte["duration_days"], tte["event"], strict=True)) == expected


def test_unknown_kind():
    events, summary = _tables()
    with pytest.raises(SettingsError, match="kind"):
        time_to_first_event(events, summary, kind="SPMS")


def test_kaplan_meier_by_hand():
    # events at 100 and 200; censored at 150, 300, 300.
    # S(100) = 4/5 = 0.8; at 150 one censored leaves 3 at risk; S(200) = 0.8 * 2/3 = 0.5333...
    tte = pd.DataFrame(
        {
            "subject": list("abcde"),
            "duration_days": [100, 150, 200, 300, 300],
            "event": [True, False, True, False, False],
        }
    )
    km = kaplan_meier(tte)
    f = km.fitters["all"]
    assert f.survival_function_at_times(100).iloc[0] == pytest.approx(0.8)
    assert f.survival_function_at_times(250).iloc[0] == pytest.approx(0.8 * 2 / 3)
    inc = km.cumulative_incidence_at(250)
    assert inc["incidence"].iloc[0] == pytest.approx(1 - 0.8 * 2 / 3)


def test_cox_hazard_ratio_recovers_truth():
    rng = np.random.default_rng(12)
    n = 2000
    arm = np.where(rng.random(n) < 0.5, "active", "placebo")
    rate = np.where(arm == "active", 0.5, 1.0) / 1000.0
    t = rng.exponential(1 / rate)
    c = rng.uniform(500, 3000, n)
    tte = pd.DataFrame(
        {"subject": [f"s{i}" for i in range(n)], "duration_days": np.minimum(t, c), "event": t <= c}
    )
    groups = pd.DataFrame({"subject": tte["subject"], "arm": arm})
    hr = cox_hazard_ratio(tte, groups, "arm", reference="placebo").iloc[0]
    assert 0.4 < hr["hazard_ratio"] < 0.62
    assert hr["ci_lower"] < 0.5 < hr["ci_upper"] and hr["logrank_p"] < 1e-6
    km = kaplan_meier(tte, group=groups, label="CDW")
    fig = km.plot()
    assert (
        len([ln for ln in fig.axes[0].get_lines() if ln.get_label() in ("active", "placebo")]) == 2
    )


def test_groups_must_cover_subjects():
    tte = pd.DataFrame({"subject": ["a", "b"], "duration_days": [1.0, 2.0], "event": [True, False]})
    with pytest.raises(SettingsError, match="1 subjects have no group"):
        kaplan_meier(tte, group=pd.DataFrame({"subject": ["a"], "arm": ["x"]}))


def test_trajectory_plot_marks_events(tmp_path):
    from clinical_timelines import onsets, timeline

    from smoulder.clinical import make_settings, run_validated
    from smoulder.clinical.plots import plot_event_counts, plot_trajectory

    tl = timeline([2.0, 3.0, 3.0, 4.0, 4.0], [0, 100, 200, 300, 400])
    res = run_validated(
        tl,
        onsets([50]),
        None,
        make_settings(event="multiple", baseline="roving", classify_cdw=True),
    )
    fig = plot_trajectory(tl, res.events, onsets([50]))
    markers = [ln for ln in fig.axes[0].get_lines() if ln.get_gid() == "event"]
    assert len(markers) == 2
    texts = sorted(t.get_text() for t in fig.axes[0].texts)
    assert texts == ["PIRA", "RAW"]
    fig.savefig(tmp_path / "t.png")
    assert (tmp_path / "t.png").stat().st_size > 5000
    # one visit, no events, no relapses
    one = plot_trajectory(timeline([3.0], [0]), res.events.iloc[0:0])
    assert len(one.axes[0].get_lines()) == 1
    bars = plot_event_counts(res.summary)
    assert [round(p.get_height()) for p in bars.axes[0].patches] == [1, 1, 0, 0]
