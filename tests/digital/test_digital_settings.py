"""The digital settings follow the one settings pattern: frozen, validated, serialisable, and the
results say what ran (the methods paragraph of the detectors that actually ran)."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from pydantic import ValidationError

from smoulder.digital import AggregationSettings, DetectSettings, detect
from smoulder.digital.settings import METHODS
from smoulder.exceptions import SettingsError

MONDAY = pd.Timestamp("2024-01-01")


def walks(step_at=20, weeks=52):
    v = np.tile([130.0, 143.0], weeks // 2)
    v[step_at:] *= 0.6
    return pd.DataFrame(
        {
            "subject": "p1",
            "date": [MONDAY + pd.Timedelta(weeks=i, days=2) for i in range(weeks)],
            "measure": "two_minute_walk",
            "value": v,
        }
    )


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"alpha": 0.7}, "alpha must be a probability between 0 and 0.5 (got 0.7)"),
        ({"alpha": math.nan}, "alpha must be a probability between 0 and 0.5 (got nan)"),
        ({"min_baseline": 2}, "min_baseline must be an integer >= 3 (got 2)"),
        (
            {"min_baseline": 10, "max_baseline": 9},
            "max_baseline must be >= min_baseline (10) (got 9)",
        ),
        ({"min_sustained": 20, "max_post": 10}, "max_post must be >= min_sustained (20) (got 10)"),
        ({"min_valid_days": 8}, "min_valid_days must be an integer from 1 to 7 (got 8)"),
        ({"consecutive_pct": 100}, "consecutive_pct must be between 0 and 100 (%) (got 100.0)"),
        ({"calibration_sims": 50}, "calibration_sims must be at least 200 (got 50)"),
        (
            {"methods": ("magic",)},
            "methods must be one or more of 'changepoint', 'cusum', 'rolling', 'consecutive' "
            "(got 'magic')",
        ),
        ({"methods": ()}, "methods must be one or more of"),
        ({"methods": ("cusum", "cusum")}, "methods must be each detector named once"),
        ({"practice": "maybe"}, "practice must be one of 'detect' or 'none' (got 'maybe')"),
    ],
)
def test_errors_name_the_parameter_the_allowed_values_and_what_was_given(kwargs, message):
    with pytest.raises(SettingsError) as err:
        DetectSettings(**kwargs)
    assert str(err.value).startswith(message)
    assert err.value.parameter == next(iter(kwargs)) or err.value.parameter in kwargs


def test_unknown_parameters_suggest_the_close_one():
    with pytest.raises(SettingsError, match="unknown parameter 'alhpa'; did you mean 'alpha'"):
        DetectSettings(alhpa=0.1)


def test_settings_are_frozen_round_trip_and_a_single_method_name_is_accepted():
    s = DetectSettings(methods="cusum", alpha=0.01, min_valid_days=5)
    assert s.methods == ("cusum",)
    with pytest.raises(ValidationError, match="frozen"):
        s.alpha = 0.2  # type: ignore[misc]
    assert DetectSettings.from_toml(s.to_toml()) == s
    assert DetectSettings.from_json(s.to_json()) == s
    assert s.to_toml().startswith("[digital]\n")
    assert s.to_dict()["methods"] == ["cusum"]
    assert s.aggregation() == AggregationSettings(min_valid_days=5)
    assert s.describe() == "methods = ['cusum']\nalpha = 0.01\nmin_valid_days = 5"


def test_aggregation_settings_are_the_same_pattern():
    with pytest.raises(SettingsError, match=r"^min_wear_hours must be between 0 and 24 \(got 30"):
        AggregationSettings(min_wear_hours=30)
    a = AggregationSettings(remove_weekly_rhythm=False)
    assert AggregationSettings.from_toml(a.to_toml()) == a
    assert a.to_toml().startswith("[aggregation]\n")


def test_settings_and_overrides_merge_in_the_engine():
    base = DetectSettings(alpha=0.01)
    res = detect(walks(), base, methods=("rolling",))
    assert res.settings == DetectSettings(alpha=0.01, methods=("rolling",))
    res = detect(walks(), {"digital": {"methods": ["consecutive"]}})
    assert res.settings.methods == ("consecutive",)


def test_methods_paragraph_describes_the_detectors_that_ran_not_always_the_scan():
    data = walks()
    cusum = detect(data, methods="cusum")
    text = cusum.methods()
    assert "CUSUM" in text and f"(h = {cusum.limits['cusum']:.2f})" in text
    assert "change-point" not in text
    assert "k = 0.5 noise SDs" in text
    # a home test only: no wear rules in the paragraph
    assert "wear" not in text and "median of each week's results" in text

    both = detect(data, methods=("consecutive", "rolling"), consecutive_pct=20, confirm_weeks=8)
    text = both.methods()
    assert both.limits == {}
    assert "change-point" not in text and "CUSUM" not in text and "h =" not in text
    assert "2 weekly values in a row each at least 20 % worse" in text
    assert "still so at least 8 weeks later" in text
    # in the order they were asked for
    assert text.index("consecutive-tests rule") < text.index("rolling rule")

    scan = detect(data)
    text = scan.methods()
    assert "prospective change-point scan" in text
    assert f"(h = {scan.limits['changepoint']:.2f})" in text and "CUSUM" not in text


def test_methods_paragraph_mentions_wear_only_for_passive_streams_and_relapses_when_given():
    days = pd.date_range("2024-01-01", periods=140)
    steps = pd.DataFrame(
        {"subject": "p1", "date": days, "measure": "steps", "value": 6000.0 + 10 * (days.day % 3)}
    )
    res = detect(steps, relapses=pd.DataFrame({"subject": ["p1"], "date": ["2024-02-01"]}))
    text = res.methods()
    assert "at least 10 h of wear" in text and "median of each week's results" not in text
    assert "within 90 days after a relapse onset were flagged" in text
    assert "relapse" not in detect(steps).methods()


def test_the_cli_states_the_settings_defaults():
    """The defaults printed by ``smoulder digital detect --help`` are the settings' defaults
    (the flags default to None so that --help needs no heavy import)."""
    import argparse

    from smoulder.cli import digital as cli

    assert cli.METHODS == METHODS
    parser = argparse.ArgumentParser()
    cli.register(parser.add_subparsers())
    detect_parser = parser._subparsers._group_actions[0].choices["digital"]  # type: ignore[union-attr]
    sub = detect_parser._subparsers._group_actions[0].choices["detect"]  # type: ignore[union-attr]
    helps = {a.dest: a.help or "" for a in sub._actions}
    d = DetectSettings()
    assert f"(default {d.alpha:g})" in helps["alpha"]
    assert f"(default {d.min_sustained})" in helps["min_sustained"]
    assert f"(default {d.min_baseline})" in helps["min_baseline"]
    assert f"(default {d.min_change_pct:g})" in helps["min_change_pct"]
    assert f"(default {d.min_wear_hours:g})" in helps["min_wear_hours"]
    assert f"(default {d.min_valid_days})" in helps["min_valid_days"]
    assert f"(default {d.practice})" in helps["practice"]
    assert f"(default: {', '.join(d.methods)})" in helps["method"]
    for name, flag in cli.FLAGS.items():
        assert name in DetectSettings.model_fields or name == "max_plots"
        assert any(flag in a.option_strings for a in sub._actions)
