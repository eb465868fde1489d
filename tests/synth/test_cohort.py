"""The cohort simulator: deterministic, well-formed, and its ground truth is recoverable."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from smoulder.synth import load_demo, simulate_cohort, write_cohort


def test_deterministic_from_seed():
    a = simulate_cohort(50, seed=4)
    b = simulate_cohort(50, seed=4)
    c = simulate_cohort(50, seed=5)
    pd.testing.assert_frame_equal(a.visits, b.visits)
    pd.testing.assert_frame_equal(a.relapses, b.relapses)
    assert not a.visits["edss"].equals(c.visits["edss"])


def test_well_formed():
    c = simulate_cohort(300, seed=1)
    v = c.visits
    assert ((v["edss"] * 2) % 1 == 0).all() and v["edss"].between(0, 10).all()
    assert (v["t25fw"] > 0).all() and (v["nhpt"] > 0).all() and v["sdmt"].between(0, 110).all()
    assert not v.duplicated(["subject", "date"]).any()
    key = v["subject"].astype(str) + v["date"].dt.strftime("%Y%m%d")
    assert key.is_monotonic_increasing
    assert set(c.relapses["subject"].astype(str)) <= set(v["subject"].astype(str))
    assert (c.relapses["end_date"] > c.relapses["date"]).all()
    assert v["date"].max() < pd.Timestamp.today()
    assert (
        abs(v.groupby("subject", observed=True).size().mean() - 18.9) < 1.5
    )  # 20 scheduled, 10 % missed


def test_drift_is_recoverable():
    c = simulate_cohort(2000, seed=2, edss_rater_sd=0.0, relapse_rate_per_year=0.0)
    v = c.visits.assign(
        t=lambda d: (
            (d["date"] - d.groupby("subject", observed=True)["date"].transform("min")).dt.days
            / 365.25
        )
    )
    slope = v.groupby("subject", observed=True).apply(
        lambda d: np.polyfit(d["t"], d["edss"], 1)[0] if len(d) > 2 else np.nan,
        include_groups=False,
    )
    truth = c.truth.set_index(c.truth["subject"].astype(str))["true_drift_per_year"]
    slope.index = slope.index.astype(str)
    both = pd.concat([slope.rename("est"), truth.rename("true")], axis=1).dropna()
    assert both["est"].corr(both["true"]) > 0.8


def test_active_arm_and_unscheduled_visits():
    c = simulate_cohort(3000, seed=3)
    s = c.subjects
    assert (
        s.loc[s.arm == "active", "true_drift_per_year"].mean()
        < s.loc[s.arm == "placebo", "true_drift_per_year"].mean()
    )
    uns = c.visits[c.visits["unscheduled"]]
    assert len(uns) > 0
    # every unscheduled visit lies 7-40 days after a relapse onset of the same subject
    m = uns.merge(c.relapses, on="subject", suffixes=("", "_rel"))
    gap = (m["date"] - m["date_rel"]).dt.days
    ok = m.assign(ok=gap.between(7, 40)).groupby(["subject", "date"], observed=True)["ok"].any()
    assert ok.all()


def test_write_and_demo(tmp_path):
    c = simulate_cohort(20, seed=9)
    paths = write_cohort(c, tmp_path, fmt="csv")
    text = paths["visits"].read_text().splitlines()
    assert text[0].replace('"', "").startswith("subject,date,edss")
    assert text[1].replace('"', "").split(",")[1] == str(c.visits["date"].iloc[0].date())
    pq = write_cohort(c, tmp_path / "pq", fmt="parquet")
    back = pd.read_parquet(pq["visits"])
    assert len(back) == len(c.visits)
    demo = load_demo()
    assert demo.visits["subject"].nunique() == 60 and len(demo.relapses) > 0


def test_an_empty_cohort_is_refused_in_words():
    with pytest.raises(ValueError, match="n_subjects must be at least 1"):
        simulate_cohort(0)
