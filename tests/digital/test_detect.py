"""detect(): tables a user reads, truth recovery on simulated people, practice effects, flags."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from smoulder.digital import EVENT_COLUMNS, DetectSettings, detect
from smoulder.digital.practice import learning_phase
from smoulder.exceptions import ColumnNotFoundError, SettingsError
from smoulder.synth.digital import simulate_daily_steps, simulate_weekly_tests

MONDAY = pd.Timestamp("2024-01-01")


def weekly_tests(values, subject="p1", measure="two_minute_walk", skip=()):
    rows = [
        (subject, MONDAY + pd.Timedelta(weeks=i, days=2), measure, float(v))
        for i, v in enumerate(values)
        if i not in skip
    ]
    return pd.DataFrame(rows, columns=["subject", "date", "measure", "value"])


def zigzag_walk(n=52, step_at=20, step_pct=40.0):
    """Two-minute walk alternating 130/143 m (log differences 0.0953, noise SD 0.0999) with a
    sustained fall of ``step_pct`` % from week ``step_at``."""
    v = np.tile([130.0, 143.0], n // 2)
    v[step_at:] *= 1 - step_pct / 100
    return v


def test_event_table_for_a_sustained_fall():
    res = detect(weekly_tests(zigzag_walk()))
    ev = res.events
    assert list(ev.columns) == EVENT_COLUMNS
    assert len(ev) == 1
    row = ev.iloc[0]
    # Judging scale w = -log(walk): weeks alternate b = -log 143 and b + d (d = log(143/130));
    # noise SD s = d / 0.9539. Defaults: 12 weeks sustained, weeks since onset count at most
    # 1.25 s above the baseline mean. At week 29 the onset candidate 18 passes: baseline weeks
    # 0-17 average b + d/2; since onset: week 18 (b + d), week 19 (b), then ten capped weeks
    # (b + d/2 + 1.25 s); both halves hold. Week 28 fails (the first half since onset 17 is too
    # weak). The onset is then re-estimated among all candidates: week 20, the real step.
    assert row["onset_date"] == MONDAY + pd.Timedelta(weeks=20)
    assert row["detected_date"] == MONDAY + pd.Timedelta(weeks=29)
    d = np.log(143 / 130)
    s = d / (0.6744897501960817 * np.sqrt(2))
    shift = (d + 10 * (d / 2 + 1.25 * s)) / 12 - d / 2
    assert row["statistic"] == pytest.approx(shift / (s * np.sqrt(1 / 18 + 1 / 12)))
    # baseline: geometric mean of 130 and 143 over weeks 0-19; current: weeks 20-29 at 60 %
    base = np.sqrt(130 * 143)
    assert row["baseline_value"] == pytest.approx(base)
    cur = np.sqrt(78.0 * 85.8)
    assert row["current_value"] == pytest.approx(cur)
    assert row["change_pct"] == pytest.approx(-40.0)
    assert row["n_baseline_weeks"] == 20 and row["n_evidence_weeks"] == 10
    assert row["weeks_worse"] == 10
    assert row["method"] == "changepoint" and row["unit"] == "m"


def test_a_transient_dip_raises_nothing():
    v = np.tile([130.0, 143.0], 26)
    v[20:24] *= 0.6  # four bad weeks (an infection), then back to usual
    assert detect(weekly_tests(v)).events.empty


def test_higher_is_worse_measures_are_judged_upwards():
    v = np.tile([30.0, 33.0], 26)
    v[20:] *= 1.4  # MSWS-12 rising is worsening
    ev = detect(weekly_tests(v, measure="msws12")).events
    assert len(ev) == 1 and ev["change_pct"].iloc[0] > 0
    v2 = np.tile([30.0, 33.0], 26)
    v2[20:] *= 0.6  # falling MSWS-12 is improvement: no worsening event
    assert detect(weekly_tests(v2, measure="msws12")).events.empty


def test_gaps_are_reported_and_not_filled():
    res = detect(weekly_tests(zigzag_walk(), skip={10, 11, 12, 13}))
    gaps = res.gaps
    assert len(gaps) == 1
    assert gaps.iloc[0]["gap_start"] == MONDAY + pd.Timedelta(weeks=10)
    assert gaps.iloc[0]["gap_end"] == MONDAY + pd.Timedelta(weeks=13)
    assert gaps.iloc[0]["weeks"] == 4
    assert len(res.weekly) == 48  # the four missing weeks are not invented


def test_near_relapse_flag():
    data = weekly_tests(zigzag_walk())
    rel = pd.DataFrame(
        {"subject": ["p1"], "date": [MONDAY + pd.Timedelta(weeks=20) - pd.Timedelta(days=40)]}
    )
    assert bool(detect(data, relapses=rel).events["near_relapse"].iloc[0]) is True
    rel_far = rel.assign(date=rel["date"] - pd.Timedelta(days=200))
    assert bool(detect(data, relapses=rel_far).events["near_relapse"].iloc[0]) is False
    assert detect(data).events["near_relapse"].isna().all()


def test_recovers_simulated_declines_and_spares_stable_people():
    data, truth = simulate_weekly_tests(24, decline_pct=25, decline_share=0.5, dip_rate=0, seed=5)
    ev = detect(data).events
    hit = set(ev["subject"])
    declining = set(truth.loc[truth["declining"], "subject"])
    assert hit == declining
    merged = ev.merge(truth, on="subject", suffixes=("", "_true"))
    err_weeks = (merged["onset_date"] - merged["onset_date_true"]).dt.days.abs() / 7
    assert err_weeks.max() <= 3
    assert merged["change_pct"].between(-35, -15).all()


def test_daily_steps_with_holidays_and_non_wear():
    data, truth = simulate_daily_steps(12, decline_pct=30, decline_share=0.5, dip_rate=0, seed=3)
    res = detect(data)
    assert set(res.events["subject"]) == set(truth.loc[truth["declining"], "subject"])
    assert (res.weekly["reason"] != "").any()  # some weeks fail the wear rule and say so


def test_practice_effect_is_left_out_before_judging():
    data, truth = simulate_weekly_tests(
        40,
        weeks=60,
        measure="sdmt_phone",
        level=45,
        noise_cv=0.08,
        practice_gain=0.4,
        practice_tau=5,
        decline_share=1.0,
        decline_pct=12,
        onset_week=30,
        dip_rate=0,
        missing_prob=0,
        seed=11,
    )
    with_p = detect(data)
    without = detect(data, practice="none")
    assert len(with_p.learning) >= 30
    assert (with_p.weekly["role"] == "learning").any()

    def rate(res):
        ev = res.events.merge(
            truth[["subject", "onset_date"]], on="subject", suffixes=("", "_true")
        )
        return ev.loc[ev["detected_date"] >= ev["onset_date_true"], "subject"].nunique() / 40

    assert rate(with_p) >= 0.85 and rate(with_p) - rate(without) >= 0.2


def test_learning_curve_fit():
    i = np.arange(60)
    y = 40 + 12 * (1 - np.exp(-i / 5)) + np.random.default_rng(0).normal(0, 1, 60)
    fit = learning_phase(np.log(y))
    # gain log(52/40) = 0.26; end where 0.26 exp(-i/5) < 0.5 * 0.02 -> about 16 tests
    assert fit.detected and 12 <= fit.end <= 22 and fit.gain == pytest.approx(0.26, abs=0.05)
    flat = learning_phase(np.log(40 + np.random.default_rng(1).normal(0, 1, 60)))
    assert not flat.detected and flat.end == 0


def test_several_methods_and_summary():
    res = detect(
        weekly_tests(zigzag_walk()), methods=("changepoint", "cusum", "rolling", "consecutive")
    )
    assert set(res.events["method"]) == {"changepoint", "cusum", "rolling", "consecutive"}
    s = res.summary
    assert s.loc[0, "events_changepoint"] == 1 and s.loc[0, "weeks_analysed"] == 52


def test_settings_and_input_errors():
    with pytest.raises(SettingsError, match="alpha"):
        DetectSettings(alpha=0.7)
    with pytest.raises(SettingsError, match="methods"):
        DetectSettings(methods=("magic",))
    with pytest.raises(SettingsError, match="did you mean steps"):
        detect(weekly_tests([1, 2, 3], measure="step"))
    with pytest.raises(ColumnNotFoundError, match="value"):
        detect(pd.DataFrame({"subject": [], "date": [], "measure": []}))


def test_result_writes_events_settings_and_weekly(tmp_path):
    res = detect(weekly_tests(zigzag_walk()))
    paths = res.write(tmp_path / "ev.csv")
    back = pd.read_csv(paths["events"])
    assert back["onset_date"].tolist() == ["2024-05-20"]
    meta = paths["settings"].read_text()
    assert '"min_sustained": 12' in meta and "decision_limits" in meta
    assert len(pd.read_csv(paths["weekly"])) == 52
    assert "prospective change-point scan" in res.methods()
