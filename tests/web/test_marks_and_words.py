"""Small things a reader notices: a device decline that begins after the last weekly value is
still marked; a last visit always shows its age; durations never wrap inside."""

from __future__ import annotations

import datetime as dt
import io

from smoulder.web.views import plot_data
from smoulder.web.words import age_of, keep_together

NB = "\u00a0"


def _tl(onset: str) -> dict:
    return {
        "overview": {"as_of": "2021-03-01"},
        "device": {
            "two_minute_walk": {
                "dates": ["2020-10-05", "2020-10-12", "2020-10-19"],
                "values": [130.0, 128.0, 101.0],
                "unit": "m",
            }
        },
        "device_events": [
            {
                "measure": "two_minute_walk",
                "onset_date": onset,
                "detected_date": "2020-11-30",
                "baseline_value": 130.0,
                "current_value": 100.0,
                "change_pct": -23.1,
            }
        ],
    }


def test_a_decline_after_the_last_value_is_marked_on_the_last_value():
    (d,) = plot_data(_tl("2020-11-02"))["declines"]
    assert d["after_last_point"] is True
    assert d["mark_date"] == "2020-10-19"  # the last plotted week
    assert d["onset_value"] == 101.0  # drawn on the measured curve, not at the baseline


def test_a_decline_within_the_series_is_marked_at_its_onset():
    (d,) = plot_data(_tl("2020-10-12"))["declines"]
    assert d["after_last_point"] is False
    assert d["mark_date"] == "2020-10-12"
    assert d["onset_value"] == 128.0


def test_the_person_page_says_in_words_when_the_onset_is_after_the_last_value(
    sqlite_clinic, login, tmp_path
):
    import pandas as pd

    from smoulder.store import import_into

    app, keys = sqlite_clinic
    # Alice's weekly walk ends in January 2021; a decline begins in February
    import_into(
        app.state.store,
        "device_events",
        pd.read_csv(
            io.StringIO(
                "subject,measure,onset_date,detected_date,baseline_value,current_value,change_pct\n"
                "MRN-1001,two_minute_walk,2021-02-10,2021-02-20,100,80,-20\n"
            )
        ),
    )
    page = login(app, "dr.a").get(f"/patients/{keys['MRN-1001']}").text
    assert "began on 2021-02-10, after the last weekly value shown" in page
    own = login(app, "alice").get(f"/patients/{keys['MRN-1001']}").text
    assert "began on 10 February 2021, after your last weekly value shown" in own


def test_durations_and_units_do_not_break():
    assert keep_together("2 years 3 months ago") == f"2{NB}years{NB}3{NB}months ago"
    assert keep_together("1 year 1 month ago") == f"1{NB}year{NB}1{NB}month ago"
    # a year followed by other words keeps its ordinary space
    assert keep_together("5 years since onset") == f"5{NB}years since onset"
    assert keep_together("walk -23 % in 7.5 s.") == f"walk -23{NB}% in 7.5{NB}s."


def test_a_last_visit_has_its_age_even_when_not_overdue():
    assert age_of("2021-01-15", dt.date(2021, 3, 20)) == f"2{NB}months ago"
    assert age_of("2020-01-15", dt.date(2021, 3, 20)) == f"1{NB}year{NB}2{NB}months ago"
    assert age_of(None, dt.date(2021, 3, 20)) == ""


def test_the_cohort_page_shows_the_age_of_every_last_visit(sqlite_clinic, login, frozen_today):
    app, _ = sqlite_clinic
    frozen_today["value"] = dt.date(2021, 3, 1)
    page = login(app, "dr.a").get("/cohort").text
    # Alice's last visit 2021-02-04 (3 weeks: not overdue); Bob's 2020-07-01 (8 months)
    assert f'2021-02-04 <span class="meta visit-age">(3{NB}weeks ago)</span>' in page
    assert f'2020-07-01 <span class="meta visit-age">(8{NB}months ago)</span>' in page
