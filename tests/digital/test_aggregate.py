"""Daily and weekly aggregation: wear rules, weekly rhythm, gaps, worked out by hand."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from smoulder.digital.aggregate import AggregationSettings, daily, weekly
from smoulder.exceptions import SettingsError


def long(rows):
    return pd.DataFrame(rows, columns=["subject", "date", "measure", "value"]).assign(
        date=lambda d: pd.to_datetime(d["date"])
    )


def test_daily_sums_steps_and_takes_median_speed():
    df = long(
        [
            ("a", "2024-03-04 08:00", "steps", 1200),
            ("a", "2024-03-04 12:00", "steps", 800),
            ("a", "2024-03-04 18:00", "steps", 2500),
            ("a", "2024-03-04 09:00", "walking_speed", 1.0),
            ("a", "2024-03-04 10:00", "walking_speed", 1.4),
            ("a", "2024-03-04 11:00", "walking_speed", 1.1),
        ]
    )
    d = daily(df).set_index("measure")
    assert d.loc["steps", "value"] == 4500 and d.loc["steps", "n_records"] == 3
    assert d.loc["walking_speed", "value"] == pytest.approx(1.1)
    assert d["valid"].all()


def test_wear_rule_uses_wear_hours_when_present_else_a_step_floor():
    df = long(
        [
            ("a", "2024-03-04", "steps", 6000),
            ("a", "2024-03-04", "wear_hours", 14),
            ("a", "2024-03-05", "steps", 6000),
            ("a", "2024-03-05", "wear_hours", 6),
            ("a", "2024-03-05", "walking_speed", 1.2),  # measured by the phone: not a wear question
            ("b", "2024-03-04", "steps", 120),
            ("b", "2024-03-05", "steps", 3000),
        ]
    )
    all_days = daily(df)
    assert bool(all_days.loc[all_days["measure"] == "walking_speed", "valid"].iloc[0])
    d = all_days[all_days["measure"] == "steps"].set_index(["subject", "date"])
    assert bool(d.loc[("a", pd.Timestamp("2024-03-04")), "valid"])
    row = d.loc[("a", pd.Timestamp("2024-03-05"))]
    assert not row["valid"] and row["reason"] == "wear time below 10 h"
    row = d.loc[("b", pd.Timestamp("2024-03-04"))]
    assert not row["valid"] and row["reason"].startswith("not worn")
    assert bool(d.loc[("b", pd.Timestamp("2024-03-05")), "valid"])


def test_week_needs_enough_valid_days_and_keeps_the_reason():
    # week of 2024-03-04: 3 valid days (fewer than 4) -> invalid; next week: 4 -> valid
    days = [
        "2024-03-04",
        "2024-03-05",
        "2024-03-06",
        "2024-03-11",
        "2024-03-12",
        "2024-03-13",
        "2024-03-14",
    ]
    df = long([("a", d, "steps", 5000) for d in days])
    w = weekly(df, AggregationSettings(remove_weekly_rhythm=False))
    assert w["week"].dt.strftime("%Y-%m-%d").tolist() == ["2024-03-04", "2024-03-11"]
    assert w["n"].tolist() == [3, 4]
    assert w["valid"].tolist() == [False, True]
    assert np.isnan(w["value"].iloc[0]) and w["value"].iloc[1] == 5000
    assert w["reason"].iloc[0] == "fewer than 4 valid days"


def test_weekly_rhythm_is_removed_so_missing_weekdays_are_not_a_change():
    # three weeks: weekdays 1000 steps, weekends 500. After removing the rhythm every day is
    # 1000 (median of 21 days is 1000; weekend effect log(500/1000)). A fourth week with only
    # Thursday, Friday, Saturday, Sunday worn: raw median 750, rhythm-free 1000.
    rows = []
    for day in pd.date_range("2024-03-04", periods=21):
        rows.append(("a", day, "steps", 500 if day.dayofweek >= 5 else 1000))
    for day in pd.date_range("2024-03-28", periods=4):
        rows.append(("a", day, "steps", 500 if day.dayofweek >= 5 else 1000))
    df = long(rows)
    w = weekly(df)
    assert w["value"].tolist() == pytest.approx([1000, 1000, 1000, 1000])
    raw = weekly(df, AggregationSettings(remove_weekly_rhythm=False))
    assert raw["value"].tolist() == pytest.approx([1000, 1000, 1000, 750])


def test_home_tests_count_every_test_and_take_the_weekly_median():
    df = long(
        [
            ("a", "2024-03-04", "two_minute_walk", 120),
            ("a", "2024-03-06", "two_minute_walk", 130),
            ("a", "2024-03-07", "two_minute_walk", 160),
            ("a", "2024-03-20", "two_minute_walk", 118),
        ]
    )
    w = weekly(df)
    assert w["value"].tolist() == [130, 118] and w["n"].tolist() == [3, 1]
    assert w["valid"].all()


def test_settings_errors_name_the_setting():
    with pytest.raises(SettingsError, match="min_valid_days"):
        AggregationSettings(min_valid_days=8)
    with pytest.raises(SettingsError, match="min_wear_hours"):
        AggregationSettings(min_wear_hours=30)
