"""NEDA-3 and NEDA-4 on a hand-worked timeline, per calendar year and per person."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from smoulder.clinical.neda import assess_neda

T = pd.Timestamp


def tables():
    visits = pd.DataFrame(
        {
            "subject": pd.Categorical(["a"] * 5),
            "date": pd.to_datetime(
                ["2015-01-01", "2015-07-01", "2016-01-01", "2016-07-01", "2017-01-01"]
            ),
            "value": [2.0, 2.0, 3.0, 3.0, 3.0],
            "validconf": True,
        }
    )
    relapses = pd.DataFrame({"subject": ["a"], "date": [T("2015-03-01")]})
    mri = pd.DataFrame(
        {
            "subject": ["a"] * 3,
            "date": [T("2015-01-10"), T("2016-01-10"), T("2017-01-01")],
            "active": [False, True, False],
            "brain_volume": [1400.0, 1393.0, 1392.3],
        }
    )
    return visits, relapses, mri


def test_neda_per_calendar_year():
    visits, relapses, mri = tables()
    res = assess_neda(visits, relapses, mri)
    p = res.periods.set_index("label")
    # 2015: a relapse; 2016: the worsening of 2016-01-01 (confirmed 2016-07-01) and an active
    # scan; 2017 (one day of follow-up): nothing, one inactive scan
    assert p["n_relapses"].tolist() == [1, 0, 0]
    assert p["n_worsening"].tolist() == [0, 1, 0]
    assert p["n_active_scans"].tolist() == [0, 1, 0]
    assert p["neda3"].tolist() == [False, False, True]
    # brain volume: 2016 from the 2015 scan (356 days before) to 2016-01-10, 2017 likewise
    loss16 = -100 * ((1393 / 1400) ** (365.25 / 365) - 1)
    loss17 = -100 * ((1392.3 / 1393) ** (365.25 / 357) - 1)
    assert math.isnan(p.loc["2015", "bvl_pct_per_year"])
    assert p.loc["2016", "bvl_pct_per_year"] == pytest.approx(loss16)
    assert p.loc["2017", "bvl_pct_per_year"] == pytest.approx(loss17)
    assert p["bvl_below_threshold"].tolist()[1:] == [False, True]
    assert p["neda4"].tolist() == [False, False, True]
    assert res.persons["neda3"].tolist() == [False]


def test_without_a_scan_mri_status_is_unknown_and_so_is_neda():
    visits, _, mri = tables()
    res = assess_neda(visits, None, mri.iloc[[0]])  # only the 2015 scan
    p = res.periods.set_index("label")
    assert p.loc["2017", "mri_free"] is pd.NA and p.loc["2017", "neda3"] is pd.NA
    assert p.loc["2016", "neda3"] == False  # noqa: E712 - the worsening decides regardless
    res2 = assess_neda(visits, None, None)
    assert res2.persons["neda3"].tolist() == [False]


def test_a_stricter_bvl_threshold_and_other_periods():
    visits, relapses, mri = tables()
    res = assess_neda(visits, relapses, mri, bvl_threshold_pct=0.04)
    assert res.periods["bvl_below_threshold"].tolist()[1:] == [False, False]
    whole = assess_neda(visits, relapses, mri, periods="whole")
    assert whole.periods["label"].tolist() == ["whole"] and whole.periods["days"].tolist() == [732]
    custom = pd.DataFrame(
        {
            "subject": ["a"],
            "period": ["after relapse"],
            "start": [T("2015-04-01")],
            "end": [T("2015-12-31")],
        }
    )
    res3 = assess_neda(visits, relapses, mri, periods_table=custom, periods="custom")
    got = res3.periods.iloc[0]
    # no relapse or worsening from April to December 2015, but no scan either: unknown
    assert got["relapse_free"] and got["no_worsening"] and got["neda3"] is pd.NA
    assert np.isnan(got["bvl_pct_per_year"])


def test_methods_say_what_ran():
    visits, relapses, mri = tables()
    text = assess_neda(visits, relapses, mri, progression={"conf_days": [168]}).methods()
    assert "confirmed at 168 days" in text and "0.4% per year" in text and "calendar years" in text
