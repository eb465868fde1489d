"""Treatment epochs, event labels and rates, worked out by hand."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from smoulder.clinical.epochs import (
    EpochSettings,
    event_rates,
    label_events,
    poisson_ci,
    treatment_epochs,
)
from smoulder.schema.treatments import validate_treatments

T = pd.Timestamp


def courses(rows):
    df = pd.DataFrame(rows, columns=["subject", "drug", "start", "stop"])
    return validate_treatments(df, "<t>")


WINDOW = pd.DataFrame({"subject": ["a"], "start": [T("2015-01-01")], "end": [T("2017-12-31")]})
SWITCH = [("a", "fingolimod", "2014-06-01", "2016-01-01"), ("a", "natalizumab", "2016-01-01", "")]


def test_epochs_cut_the_window_at_starts_switches_and_stops():
    ep = treatment_epochs(courses(SWITCH), WINDOW)
    assert ep["treatment"].tolist() == ["fingolimod", "natalizumab"]
    assert ep["change"].tolist() == ["start", "switch"]
    assert ep["start"].tolist() == [T("2015-01-01"), T("2016-01-01")]
    assert ep["end"].tolist() == [T("2016-01-01"), T("2017-12-31")]
    assert ep["person_years"].tolist() == pytest.approx([365 / 365.25, 730 / 365.25])
    gap = courses(
        [("a", "fingolimod", "2014-06-01", "2015-06-01"), ("a", "ocrelizumab", "2015-09-01", "")]
    )
    ep2 = treatment_epochs(gap, WINDOW)
    assert ep2["treatment"].tolist() == ["fingolimod", "untreated", "ocrelizumab"]
    assert ep2["change"].tolist() == ["start", "stop", "start"]
    none = treatment_epochs(None, WINDOW)
    assert none["treatment"].tolist() == ["untreated"] and none["change"].tolist() == ["first"]


def test_every_event_gets_its_treatment_and_the_days_on_it():
    ep = treatment_epochs(courses(SWITCH), WINDOW)
    events = pd.DataFrame(
        {
            "subject": "a",
            "date": [T("2014-12-01"), T("2015-06-01"), T("2016-02-01"), T("2017-12-31")],
            "kind": ["relapse", "relapse", "relapse", "PIRA"],
        }
    )
    got = label_events(events, ep)
    assert got["epoch"].tolist() == [-1, 1, 2, 2]  # before the first visit: outside
    assert got["treatment"].tolist() == [None, "fingolimod", "natalizumab", "natalizumab"]
    assert got["days_on_treatment"].tolist()[1:] == [365.0, 31.0, 730.0]
    assert math.isnan(got["days_on_treatment"].iloc[0])


def test_a_lag_gives_the_first_days_after_a_switch_to_the_previous_drug_or_to_nobody():
    ev = pd.DataFrame({"subject": ["a"], "date": [T("2016-02-01")], "kind": ["relapse"]})
    prev = treatment_epochs(courses(SWITCH), WINDOW, EpochSettings(lag_days=90))
    got = label_events(ev, prev)
    assert got["treatment"].iloc[0] == "fingolimod"
    assert got["days_on_treatment"].iloc[0] == 610  # since 2014-06-01
    py = prev.groupby("treatment")["person_years"].sum()
    assert py["fingolimod"] == pytest.approx((365 + 90) / 365.25)
    assert py["natalizumab"] == pytest.approx((730 - 90) / 365.25)
    excl = treatment_epochs(
        courses(SWITCH), WINDOW, EpochSettings(lag_days=90, lag_attribution="exclude")
    )
    assert label_events(ev, excl)["epoch"].iloc[0] == -1
    assert excl["person_years"].sum() == pytest.approx((365 + 640) / 365.25)


def test_exact_poisson_limits():
    # chi-square quantiles: k=0 -> (0, chi2(.975, 2)/2 = 3.6889); k=1 -> (chi2(.025, 2)/2 =
    # -ln(.975) = 0.025318, chi2(.975, 4)/2 = 5.5716)
    lo, hi = poisson_ci(np.array([0, 1]), np.array([1.0, 2.0]))
    assert lo == pytest.approx([0.0, 0.025318 / 2], rel=1e-4)
    assert hi == pytest.approx([3.68888, 5.57164 / 2], rel=1e-4)


def test_rates_per_drug_and_class_with_person_years():
    ep = treatment_epochs(courses(SWITCH), WINDOW)
    ev = pd.DataFrame(
        {"subject": "a", "date": [T("2015-06-01"), T("2016-06-01"), T("2017-06-01")],
         "kind": ["relapse", "relapse", "PIRA"]}
    )  # fmt: skip
    rates = event_rates(label_events(ev, ep), ep, by="treatment", kinds=["relapse", "PIRA"])
    r = rates.set_index(["treatment", "kind"])
    assert r.loc[("fingolimod", "relapse"), "events"] == 1
    assert r.loc[("fingolimod", "relapse"), "rate_per_year"] == pytest.approx(365.25 / 365)
    assert r.loc[("natalizumab", "PIRA"), "rate_per_year"] == pytest.approx(365.25 / 730)
    assert r.loc[("fingolimod", "PIRA"), "events"] == 0
    by_class = event_rates(label_events(ev, ep), ep, by="drug_class", kinds=["relapse"])
    assert set(by_class["drug_class"]) == {"S1P receptor modulator", "natalizumab"}
