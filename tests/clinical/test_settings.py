"""Settings validation: bad values give errors that say which option, what is allowed and what was given."""

from __future__ import annotations

import numpy as np
import pytest

from smoulder.clinical import make_settings, minimal_change
from smoulder.exceptions import SettingsError


@pytest.mark.parametrize(
    "options,fragment",
    [
        ({"event": "allCDW"}, "event"),
        ({"baseline": "moving"}, "baseline"),
        ({"conf_days": []}, "conf_days"),
        ({"conf_days": [-84]}, "conf_days"),
        ({"conf_tol_days": [7, -1]}, "conf_tol_days"),
        ({"relapse_to_bl": [30, 30, 30]}, "relapse_to_bl"),
        ({"require_sust_days": -5}, "require_sust_days"),
        ({"impute_last_visit": -1}, "impute_last_visit"),
        ({"relapse_indep": {"prec": [0, 0], "event": [90, 30]}}, "conf"),
        (
            {
                "relapse_indep": {
                    "prec": [0, 0],
                    "event": [90, 30],
                    "conf": [90, 30],
                    "prec_type": "x",
                }
            },
            "prec_type",
        ),
        ({"outcome": "custom"}, "direction"),
        ({"outcome": "custom", "direction": "increase"}, "min_change"),
        ({"outcome": "sdmt", "direction": "increase"}, "fixed"),
        ({"outcome": "edss", "min_change": 2}, "edss_half_step_from"),
        ({"unknown_option": 1}, "unknown_option"),
    ],
)
def test_bad_settings_are_named(options, fragment):
    with pytest.raises(SettingsError, match=fragment):
        make_settings(**options)


def test_defaults_are_msprogs_except_edss_convention():
    s = make_settings()
    assert s.event == "firstCDW" and s.baseline == "fixed" and s.conf_days == [84.0]
    assert (
        s.conf_tol_days == (7.0, 730.5)
        and s.relapse_to_bl == (30.0, 0.0)
        and s.relapse_to_conf == (30.0, 0.0)
    )
    assert s.relapse_assoc == (90.0, 0.0) and s.check_intermediate and s.require_sust_days == 0
    assert s.edss_half_step_from == 6.0


def test_single_number_pairs_like_msprog():
    s = make_settings(conf_tol_days=30, relapse_to_bl=60)
    assert s.conf_tol_days == (30.0, 30.0)  # same tolerance on both sides
    assert s.relapse_to_bl == (60.0, 0.0)  # after a relapse only
    assert s.windows() == [(54.0, 114.0)]


def test_minimal_change_tables():
    e = minimal_change("edss")
    assert e.delta(np.array([0, 0.5, 5.5, 6, 9.5])).tolist() == [1.5, 1.0, 1.0, 0.5, 0.5]
    assert minimal_change("t25fw").delta(np.array([7.5])).tolist() == [1.5]
    assert minimal_change("sdmt").delta(np.array([60.0, 15.0])).tolist() == [4.0, 3.0]
    c = minimal_change(
        "custom", direction="decrease", min_change=2, min_change_pct=10, combine="max"
    )
    assert c.delta(np.array([10.0, 40.0])).tolist() == [2.0, 4.0] and c.direction == -1
