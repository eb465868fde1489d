"""Changes that were never confirmed (``return_unconfirmed``), the ``last_delta`` fields and the
named PIRA definitions, on timelines worked out by hand.

Days are counted from 2020-01-01; unless a test says otherwise the settings are msprog's
defaults (first CDW, fixed baseline, confirmation at least 84 days after the change, checked at
every intermediate visit). EDSS needs +1.0 up to 5.5 (+1.5 from 0) to count as a change.
"""

from __future__ import annotations

import tomllib

import pandas as pd
import pytest
from clinical_timelines import day, onsets, timeline

from smoulder.clinical import make_settings, run_validated
from smoulder.clinical.presets import definition, definitions
from smoulder.clinical.settings import ProgressionSettings
from smoulder.exceptions import SettingsError


def unconfirmed_of(visits, relapses=None, **options):
    res = run_validated(visits, relapses, None, make_settings(**options), return_unconfirmed=True)
    u = res.unconfirmed
    rows = [
        ((r.baseline_date - day(0)).days, r.baseline_value, (r.date - day(0)).days, r.value)
        for r in u.itertuples()
    ]
    return res, rows


# ---------------------------------------------------------------- unconfirmed changes
def test_a_change_no_visit_confirms_is_listed():
    # +1.0 at day 100; the only visit 84+ days later (day 200) is back at 2.0
    res, rows = unconfirmed_of(timeline([2.0, 3.0, 2.0, 2.0], [0, 100, 200, 300]))
    assert len(res.events) == 0
    assert rows == [(0, 2.0, 100, 3.0)]
    u = res.unconfirmed.iloc[0]
    assert pd.isna(u.days_since_relapse) and pd.isna(u.days_to_next_relapse)
    assert list(res.unconfirmed.columns) == [
        "subject",
        "baseline_date",
        "baseline_value",
        "date",
        "value",
        "days_since_relapse",
        "days_to_next_relapse",
    ]


def test_confirmed_but_not_sustained_is_listed_and_the_search_goes_on_from_the_change():
    # day 100 is confirmed at day 200 but back at 2.0 on day 300, short of 365 days: listed;
    # the search resumes at day 200 (+1.0 again), whose only confirmation visit (day 300) fails
    res, rows = unconfirmed_of(
        timeline([2.0, 3.0, 3.0, 2.0, 2.0], [0, 100, 200, 300, 400]), require_sust_days=365
    )
    assert len(res.events) == 0
    assert rows == [(0, 2.0, 100, 3.0), (0, 2.0, 200, 3.0)]


def test_a_first_event_search_lists_only_the_changes_before_the_event():
    values, days = [2.0, 3.0, 2.0, 3.0, 3.0, 4.5, 2.0], [0, 100, 200, 300, 400, 500, 600]
    # first CDW: day 100 fails (day 200 is 2.0); day 300 is confirmed at day 400 and the search stops
    res, rows = unconfirmed_of(timeline(values, days))
    assert [(e - day(0)).days for e in res.events.event_date] == [300]
    assert rows == [(0, 2.0, 100, 3.0)]
    # every event: the search goes on from day 500 (after the confirmation), where 4.5 is
    # followed by 2.0 on day 600
    res, rows = unconfirmed_of(timeline(values, days), event="multiple")
    assert [(e - day(0)).days for e in res.events.event_date] == [300]
    assert rows == [(0, 2.0, 100, 3.0), (0, 2.0, 500, 4.5)]


def test_where_improvements_are_not_sought_a_confirmed_one_is_an_unconfirmed_change():
    # first CDW, fixed baseline 4.0: msprog does not look for improvements, so 3.0 from day 100
    # on is never an event; each visit is a change with nothing to confirm it as a worsening
    res, rows = unconfirmed_of(timeline([4.0, 3.0, 3.0, 3.0], [0, 100, 200, 300]))
    assert len(res.events) == 0
    assert rows == [(0, 4.0, 100, 3.0), (0, 4.0, 200, 3.0), (0, 4.0, 300, 3.0)]
    # looking for every event, it is a CDI (day 100, confirmed day 200); the search goes on from
    # day 300, a change with no later visit
    res, rows = unconfirmed_of(timeline([4.0, 3.0, 3.0, 3.0], [0, 100, 200, 300]), event="multiple")
    assert list(res.events.event_type) == ["CDI"]
    assert rows == [(0, 4.0, 300, 3.0)]


def test_days_from_the_surrounding_relapses():
    # the change on day 100 is 60 days after an onset on day 40 and 150 days before one on day 250
    res, rows = unconfirmed_of(
        timeline([2.0, 3.0, 2.0, 2.0], [0, 100, 200, 300]), onsets([40, 250])
    )
    assert rows == [(0, 2.0, 100, 3.0)]
    u = res.unconfirmed.iloc[0]
    assert u.days_since_relapse == 60 and u.days_to_next_relapse == 150


def test_the_table_is_only_built_when_asked_and_changes_no_event(run):
    visits = timeline([2.0, 3.0, 2.0, 3.0, 3.0], [0, 100, 200, 300, 400])
    plain = run(visits, event="multiple")
    assert plain.unconfirmed is None
    with_table, rows = unconfirmed_of(visits, event="multiple")
    pd.testing.assert_frame_equal(plain.events, with_table.events)
    assert rows == [(0, 2.0, 100, 3.0)]


def test_many_unconfirmed_changes_in_one_subject_are_all_kept():
    # more than the first pass makes room for (8): 2/3 alternating, 20 changes never confirmed
    values = [2.0] + [3.0, 2.0] * 20
    days = [100 * i for i in range(len(values))]
    _, rows = unconfirmed_of(timeline(values, days))
    assert rows == [(0, 2.0, 100 * i, 3.0) for i in range(1, len(values), 2)]


# ---------------------------------------------------------------- last_delta
def test_last_delta_is_the_last_visit_the_event_is_a_meaningful_change_from(run):
    # fixed baseline 1.0; day 100 (2.0) fails at day 200 (1.5); day 300 (3.0) is confirmed at
    # day 400. Walking back from the event: day 200 (1.5) -> 3.0 is +1.5, confirmed at 3.0: it
    res = run(timeline([1.0, 2.0, 1.5, 3.0, 3.0], [0, 100, 200, 300, 400]))
    ev = res.events.iloc[0]
    assert ev.event_date == day(300) and ev.baseline_date == day(0)
    assert ev.last_delta_date == day(200) and ev.last_delta_value == 1.5


def test_last_delta_skips_visits_within_the_minimal_change(run):
    # roving baseline 2.0 at day 0; 2.5 on day 100 is not a change; 3.0 on day 200 confirmed on
    # day 300. From 2.5 the event is only +0.5, so the last visit it is a change from is day 0
    res = run(timeline([2.0, 2.5, 3.0, 3.0], [0, 100, 200, 300]), baseline="roving")
    ev = res.events.iloc[0]
    assert ev.event_date == day(200)
    assert ev.last_delta_date == day(0) and ev.last_delta_value == 2.0


# ---------------------------------------------------------------- named definitions
def test_each_definition_expands_to_its_options():
    for name, d in definitions().items():
        s = ProgressionSettings(pira_definition=name)
        for key, value in d.settings.items():
            assert s.to_dict()[key] == value, (name, key)
    k = ProgressionSettings(pira_definition="kappos2020")
    assert (k.baseline, k.relapse_rebl, k.classify_cdw) == ("fixed", True, True)
    assert k.relapse_indep == {
        "prec": (0.0, None),
        "event": (None, 30.0),
        "conf": (30.0, 30.0),
        "prec_type": "baseline",
    } or k.to_dict()["relapse_indep"] == {
        "prec": [0.0, "none"],
        "event": ["none", 30.0],
        "conf": [30.0, 30.0],
        "prec_type": "baseline",
    }


def test_an_option_given_beside_a_definition_wins_and_the_echo_says_so():
    s = ProgressionSettings.from_mapping(
        {"pira_definition": "mueller2025"}, baseline="fixed", relapse_rebl=None
    )
    assert s.baseline == "fixed" and s.relapse_rebl is True
    assert s.definition_changes() == {"baseline": "fixed"}
    text = s.to_toml()
    assert "# it sets: " + definition("mueller2025").expansion() in text
    assert "# changed here: baseline" in text
    # the echo reads back to the same settings
    again = ProgressionSettings.from_mapping(tomllib.loads(text))
    assert again == s


def test_a_flag_definition_replaces_the_file_definition():
    s = ProgressionSettings.from_mapping(
        {"progression": {"pira_definition": "kappos2020"}}, pira_definition="mueller2023"
    )
    assert s.pira_definition == "mueller2023" and s.baseline == "roving"
    assert s.relapse_rebl is False


def test_an_unknown_definition_is_refused_naming_the_known_ones():
    with pytest.raises(SettingsError) as err:
        ProgressionSettings(pira_definition="mueller2099")
    assert err.value.parameter == "pira_definition"
    assert "'kappos2020'" in str(err.value) and "mueller2099" in str(err.value)


def test_a_definition_changes_what_counts_as_pira():
    # +1.0 on day 200, confirmed on day 300, one onset on day 40 (160 days before the event: not
    # relapse-associated). Only mueller2023_specific asks for no relapse at all between the
    # baseline (day 0) and the confirmation; kappos2020 and mueller2025 re-set the baseline after
    # the onset (day 100), mueller2023 and cagol2022 look only from 90 days before the event.
    visits = timeline([2.0, 2.0, 3.0, 3.0], [0, 100, 200, 300])
    got = {}
    for name in definitions():
        res = run_validated(
            visits, onsets([40]), None, make_settings(event="multiple", pira_definition=name)
        )
        assert [(e - day(0)).days for e in res.events.event_date] == [200], name
        got[name] = (
            str(res.events.cdw_type.iloc[0]),
            (res.events.baseline_date.iloc[0] - day(0)).days,
        )
    assert got == {
        "mueller2023": ("PIRA", 0),
        "mueller2023_specific": ("undefined", 0),
        "kappos2020": ("PIRA", 100),
        "cagol2022": ("PIRA", 0),
        "mueller2025": ("PIRA", 100),
    }


def test_a_confirmed_improvement_does_not_hide_a_worsening_where_improvements_are_not_sought(run):
    # first CDW, fixed baseline 4.0, confirmation checked at its visit only: 3.0 on day 100 would
    # be confirmed on day 200, but msprog does not look for improvements here, so the search goes
    # on from day 150: 5.0 (+1.0) is confirmed on day 300 (5.0, 150 days later)
    res = run(
        timeline([4.0, 3.0, 5.0, 3.0, 5.0], [0, 100, 150, 200, 300]), check_intermediate=False
    )
    assert list(res.events.event_type) == ["CDW"]
    assert res.events.event_date.iloc[0] == day(150)
    assert res.events.confirmation_date.iloc[0] == day(300)


def test_progress_says_when_the_engine_compiles_first(monkeypatch):
    from smoulder.clinical import _kernel
    from smoulder.pipelines import progression

    visits = timeline([2.0, 3.0, 3.0], [0, 100, 200]).assign(subject="a")[
        ["subject", "date", "value"]
    ]
    said: list[str] = []
    monkeypatch.setenv("SMOULDER_INTERPRET_MAX_ROWS", "0")  # compile, however small the input
    progression.run(visits, value_col="value")
    assert _kernel.needs_compiling() is False  # compiled (or loaded) in this process now
    progression.run(visits, value_col="value", progress=said.append)
    assert "scanning 3 visits" in said
    monkeypatch.setattr(_kernel, "needs_compiling", lambda: True)
    said.clear()
    progression.run(visits, value_col="value", progress=said.append)
    assert any(s.startswith("scanning 3 visits (compiling the engine first") for s in said)
    # a new machine with a small input: scanned interpreted, so nothing to wait for is announced
    from smoulder import _compiled

    monkeypatch.delenv("SMOULDER_INTERPRET_MAX_ROWS")
    monkeypatch.setattr(_compiled, "is_compiled", lambda d: False)
    said.clear()
    progression.run(visits, value_col="value", progress=said.append)
    assert "scanning 3 visits" in said
