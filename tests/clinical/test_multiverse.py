"""The multiverse of PIRA definitions: the grid, a one-definition grid against a plain run, and
the measures worked out by hand."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from smoulder.clinical import assess
from smoulder.clinical.multiverse import (
    MultiverseSettings,
    expand_grid,
    mueller2025_dimensions,
    run_multiverse,
)
from smoulder.exceptions import SettingsError
from smoulder.io.tables import validate_relapses, validate_visits
from smoulder.synth import simulate_cohort


def validated(visits, relapses):
    vis, _ = validate_visits(visits, value_col="value")
    rel, _ = validate_relapses(relapses, known_subjects=vis["subject"].cat.categories)
    return vis, rel


def test_the_default_grid_has_mueller_2025s_360_definitions():
    grid = expand_grid(MultiverseSettings())
    assert len(grid) == 360 and len({d.name for d in grid}) == 360
    dims = mueller2025_dimensions()
    assert [len(v) for v in dims.values()] == [3, 3, 2, 5, 4]
    # "between worsening and confirmation" merges the two windows, msprog's way
    d = next(g for g in grid if g.labels["relapse-free at confirmation"].startswith("between")
             and g.labels["relapse-free at worsening"] == "90 days before")  # fmt: skip
    ri = d.settings.relapse_indep
    assert ri["event"] == (90.0, None) and ri["conf"] == (None, 0.0)
    since = next(
        g for g in grid if g.labels["relapse-free at worsening"] == "since the previous visit"
    )
    assert since.settings.relapse_indep["prec_type"] == "last"
    assert since.settings.relapse_indep["prec"] == (0.0, None)


def test_a_one_definition_grid_equals_a_plain_run():
    c = simulate_cohort(300, seed=5)
    visits = c.visits.rename(columns={"edss": "value"})[["subject", "date", "value"]]
    relapses = c.relapses[["subject", "date"]]
    vis, rel = validated(visits, relapses)
    opts = {"event": "multiple", "classify_cdw": True, "baseline": "roving", "conf_days": [168]}
    res = run_multiverse(
        vis, rel, MultiverseSettings(base={}, definitions=[{"name": "one", **opts}])
    )
    plain = assess(visits, rel, **opts)
    ev = plain.events
    n_pira = int((ev["cdw_type"] == "PIRA").sum())
    years = plain.summary["follow_up_days"].sum() / 365.25
    row = res.table.iloc[0]
    assert row["definition"] == "one" and row["n_pira"] == n_pira
    assert row["n_cdw"] == int((ev["event_type"] == "CDW").sum())
    assert row["n_raw"] == int((ev["cdw_type"] == "RAW").sum())
    assert row["pira_per_10py"] == pytest.approx(10 * n_pira / years)
    assert row["pira_share_of_cdw"] == pytest.approx(n_pira / row["n_cdw"])
    assert row["person_years"] == pytest.approx(years)


def timeline(values, days=(0, 180, 360, 540), subject="a"):
    return pd.DataFrame(
        {
            "subject": subject,
            "date": [pd.Timestamp("2018-01-01") + pd.Timedelta(days=d) for d in days],
            "value": values,
        }
    )


NO_RELAPSES = pd.DataFrame(
    {"subject": pd.Series([], dtype=object), "date": pd.Series([], dtype="datetime64[ns]")}
)


def test_confirmation_at_the_worsening_score_and_persistence_by_hand():
    # a: 2.0 -> 3.5 (day 180) confirmed at 3.0 (day 360: still +1.0), last visit 3.0
    # b: 2.0 -> 3.0 confirmed at 3.0, last visit 2.5 (back within a step of baseline)
    v = pd.concat(
        [timeline([2.0, 3.5, 3.0, 3.0], subject="a"), timeline([2.0, 3.0, 3.0, 2.5], subject="b")]
    )
    vis, rel = validated(v, NO_RELAPSES)
    base = {"event": "multiple", "classify_cdw": True, "conf_days": [168], "conf_tol_days": [0, 30]}
    s = MultiverseSettings(
        base=base,
        definitions=[
            {"name": "over baseline"},
            {"name": "at the worsening", "confirmation_magnitude": "event"},
        ],
    )
    t = run_multiverse(vis, rel, s).table.set_index("definition")
    assert t.loc["over baseline", "n_pira"] == 2
    assert t.loc["at the worsening", "n_pira"] == 1  # a's 3.0 is below its worsening to 3.5
    # persistence: a still +1.0 at the end, b only +0.5
    assert t.loc["over baseline", "persistence"] == 0.5
    assert t.loc["at the worsening", "persistence"] == 0.0
    years = 2 * 540 / 365.25
    assert t.loc["over baseline", "pira_per_10py"] == pytest.approx(10 * 2 / years)
    assert t.loc["over baseline", "pira_ci_low"] < t.loc["over baseline", "pira_per_10py"]
    # only events with enough follow-up count for persistence
    long = run_multiverse(vis, rel, s.replace(persistence_min_follow_up_days=400)).table
    assert long["persistence_events"].tolist() == [0, 0] and long["persistence"].isna().all()


def test_a_bad_definition_is_named():
    s = MultiverseSettings(base={}, definitions=[{"name": "odd", "baseline": "rolling"}])
    with pytest.raises(SettingsError, match="definition 'odd'"):
        expand_grid(s)
    with pytest.raises(SettingsError, match="unknown key 'relapse_indep.after'"):
        expand_grid(MultiverseSettings(definitions=[{"relapse_indep.after": [0, 0]}]))
    with pytest.raises(SettingsError, match="confirmation_magnitude must be"):
        expand_grid(MultiverseSettings(definitions=[{"confirmation_magnitude": "visit"}]))


def test_settings_round_trip_with_open_windows_and_infinity():
    s = MultiverseSettings()
    back = MultiverseSettings.from_toml(s.to_toml())
    assert back == s and math.isinf(back.base["conf_tol_days"][1])
    assert [d.name for d in expand_grid(back)] == [d.name for d in expand_grid(s)]


def test_the_figure_has_one_point_per_definition():
    c = simulate_cohort(60, seed=2)
    v = c.visits.rename(columns={"edss": "value"})[["subject", "date", "value"]]
    vis, rel = validated(v, c.relapses[["subject", "date"]])
    dims = {k: v for k, v in list(mueller2025_dimensions().items())[:2]}
    res = run_multiverse(vis, rel, MultiverseSettings(dimensions=dims))
    fig = res.plot()
    assert len(res.table) == 9 and len(fig.axes) == 3
    assert len(fig.axes[0].lines[0].get_xdata()) == 9
    assert np.isfinite(res.table["pira_per_10py"]).all()
