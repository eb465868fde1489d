"""The statistician's figures and report text of ``smoulder progression`` (issue 15).

Hand-worked cases: report sentences written out in full, hazard ratio and log-rank p against
lifelines called here, a Kaplan-Meier curve cut where fewer than ``min_at_risk`` remain at risk,
"n of N subjects shown", and every figure written as PNG, SVG and PDF, or nothing on failure.
"""

from __future__ import annotations

import shutil
import subprocess

import numpy as np
import pandas as pd
import pytest
from clinical_timelines import onsets, timeline

from smoulder.clinical import make_settings, run_validated
from smoulder.clinical.result import confirmation_window_words, relapse_rule_sentences
from smoulder.clinical.survival import (
    cox_hazard_ratio,
    format_p,
    hazard_ratio_text,
    kaplan_meier,
)


# ---------------------------------------------------------------- report sentences
def test_confirmation_window_in_checkable_words():
    # default 84 days with 7 days before and 730.5 days after accepted: 77 to 814.5
    assert confirmation_window_words(84, 77, 814.5) == (
        "at a visit 84 days after the event, give or take: a visit from 77 days (84 - 7) "
        "to 814.5 days (84 + 730.5) after the event was accepted"
    )
    assert confirmation_window_words(168, 150, float("inf")) == (
        "at a visit 168 days after the event, give or take: a visit 150 days (168 - 18) "
        "or more after the event was accepted"
    )


def test_methods_paragraph_reads_as_sentences():
    tl = timeline([2.0, 3.0, 3.0, 4.0, 4.0], [0, 100, 200, 300, 400])
    s = make_settings(pira_definition="kappos2020")
    text = run_validated(tl, onsets([50]), None, s).methods_paragraph()
    assert (
        "Changes had to be confirmed at a visit 84 days after the event, give or take: a visit "
        "from 77 days (84 - 7) to 814.5 days (84 + 730.5) after the event was accepted. "
        "The change had to hold at every visit between the event and the confirmation. "
        "Baseline and confirmation visits within 30 days after a relapse onset were not used. "
        "The baseline was re-set after each relapse. "
        "A worsening was relapse-associated (RAW) when its event visit fell within 90 days "
        "after a relapse onset. "
        "A worsening was PIRA when no relapse began from the baseline to 30 days after the "
        "event, nor from 30 days before to 30 days after the confirmation. "
        "The remaining worsening events were left undefined."
    ) in text
    assert "; from" not in text


@pytest.mark.parametrize(
    "overrides,expected",
    [
        (
            {"pira_definition": "mueller2023_specific"},
            "A worsening was PIRA when no relapse began from the baseline to the confirmation.",
        ),
        (
            {"pira_definition": "cagol2022"},
            "A worsening was PIRA when no relapse began from 90 days before the event to the "
            "confirmation.",
        ),
        (
            {"classify_cdw": True, "relapse_to_bl": 30, "relapse_to_conf": 60},
            "Baseline visits within 30 days after a relapse onset were not used, nor "
            "confirmation visits within 60 days after one.",
        ),
    ],
)
def test_relapse_rule_matches_the_presets_words(overrides, expected):
    assert expected in relapse_rule_sentences(make_settings(**overrides))


# ---------------------------------------------------------------- hazard ratio and p
def _two_arms(seed=3, n=80):
    rng = np.random.default_rng(seed)
    arm = np.repeat(["placebo", "active"], n // 2)
    t = rng.exponential(np.where(arm == "active", 900.0, 450.0))
    c = rng.uniform(100, 1500, n)
    tte = pd.DataFrame(
        {"subject": [f"s{i}" for i in range(n)], "duration_days": np.minimum(t, c), "event": t < c}
    )
    return tte, pd.DataFrame({"subject": tte["subject"], "arm": arm})


def test_hazard_ratio_text_against_lifelines():
    from lifelines import CoxPHFitter
    from lifelines.statistics import logrank_test

    tte, groups = _two_arms()
    x = (groups["arm"] == "active").to_numpy(dtype=float)
    df = pd.DataFrame({"T": tte["duration_days"], "E": tte["event"], "x": x})
    s = CoxPHFitter().fit(df, "T", "E").summary.loc["x"]
    a = x == 1
    p = logrank_test(df["T"][a], df["T"][~a], df["E"][a], df["E"][~a]).p_value
    assert 0.001 <= p < 0.01  # this seed: a p of three decimals
    expected = (
        f"HR {round(s['exp(coef)'], 2):.2f} (95 % CI {round(s['exp(coef) lower 95%'], 2):.2f}-"
        f"{round(s['exp(coef) upper 95%'], 2):.2f}), log-rank p = {round(p, 3):.3f}"
    )
    row = cox_hazard_ratio(tte, groups, "arm", reference="placebo").iloc[0]
    assert hazard_ratio_text(row) == expected


@pytest.mark.parametrize(
    "p,text", [(0.0004, "< 0.001"), (0.001, "= 0.001"), (0.0312, "= 0.03"), (0.5, "= 0.50")]
)
def test_p_rounding(p, text):
    assert format_p(p) == text


# ---------------------------------------------------------------- Kaplan-Meier figure
def test_km_curve_stops_below_min_at_risk_and_says_so():
    # 12 subjects, one event every 100 days; at risk: 12 at 100, 11 at 200, 10 at 300, 9 at 400
    # -> with min_at_risk 10 the curve stops at day 300 (S = 9/12 there)
    tte = pd.DataFrame(
        {
            "subject": [f"s{i}" for i in range(12)],
            "duration_days": np.arange(100.0, 1300.0, 100.0),
            "event": [True] * 11 + [False],
        }
    )
    fig = kaplan_meier(tte, label="PIRA", min_at_risk=10).plot(years=False, annotation="HR x")
    ax = fig.axes[0]
    curve = next(ln for ln in ax.get_lines() if ln.get_label() == "all subjects")
    assert max(curve.get_xdata()) == 300.0
    assert curve.get_ydata()[-1] == pytest.approx(9 / 12)
    texts = [t.get_text() for t in fig.texts] + [t.get_text() for t in ax.texts]
    assert "Curves stop where fewer than 10 subjects remain at risk." in texts
    assert "HR x" in texts
    # number-at-risk row under the axis, at the tick times
    table = fig.axes[1]
    row = {t.get_position()[0]: t.get_text() for t in table.texts if t.get_text().isdigit()}
    # (ticks every 40 days on this 0-306 axis: durations >= 120 are 200, ..., 1200)
    assert [row[x] for x in (0.0, 80.0, 120.0, 240.0)] == ["12", "12", "11", "10"]
    with pytest.raises(Exception, match="min_at_risk"):
        kaplan_meier(tte, min_at_risk=0)


def test_km_marks_censored_subjects():
    tte = pd.DataFrame(
        {
            "subject": list("abcdefghijkl"),
            "duration_days": [50.0, 60, 70, 80, 90, 100, 110, 120, 130, 140, 150, 160],
            "event": [True, False, True, False] + [True] * 8,
        }
    )
    fig = kaplan_meier(tte, min_at_risk=1).plot(years=False)
    ticks = [ln for ln in fig.axes[0].get_lines() if ln.get_marker() == "|" and len(ln.get_xdata())]
    assert sorted(ticks[0].get_xdata()) == [60.0, 80.0]
    # S just before 60: 11/12; just before 80: 11/12 * 9/10
    assert list(ticks[0].get_ydata()) == pytest.approx([11 / 12, 11 / 12 * 9 / 10])


# ---------------------------------------------------------------- trajectories
def test_trajectories_say_n_of_n_and_share_the_edss_scale():
    from smoulder.synth import simulate_cohort

    c = simulate_cohort(40, seed=5, pira_drift_per_year=(0.3, 0.6))
    res = run_validated(
        c.visits.rename(columns={"edss": "value"})[["subject", "date", "value"]],
        c.relapses,
        None,
        make_settings(classify_cdw=True),
    )
    with_event = int((res.summary["n_cdw"] > 0).sum())
    assert with_event > 4
    fig = res.plot("trajectories", max_subjects=4)
    assert fig._suptitle.get_text() == f"4 of {with_event} subjects with an event shown"
    shown = [ax for ax in fig.axes if ax.get_visible()]
    assert len(shown) == 4
    assert {ax.get_ylim() for ax in shown} == {(-0.3, 10.3)}
    from smoulder.clinical.plots import edss_grid_steps, edss_labels

    # a grid line at every EDSS step, labelled every 2 (one line collection and six texts)
    assert edss_grid_steps(shown[0]) == list(np.arange(0, 10.5, 0.5))
    assert edss_labels(shown[0]) == ["0", "2", "4", "6", "8", "10"]
    labels = [t.get_text() for t in fig.legends[0].get_texts()]
    for needed in ("EDSS at a visit", "baseline", "confirmation", "relapse onset"):
        assert any(needed in lab for lab in labels), needed
    assert any("PIRA" in lab or "RAW" in lab or "undefined" in lab for lab in labels)


# ---------------------------------------------------------------- files
@pytest.fixture(scope="module")
def cohort_files(tmp_path_factory):
    from smoulder.synth import simulate_cohort, write_cohort

    d = tmp_path_factory.mktemp("cohort")
    return write_cohort(simulate_cohort(80, seed=21, active_effect=0.3), d, fmt="csv")


def test_every_figure_as_png_svg_pdf_and_hr_in_report(cohort_files, tmp_path):
    from smoulder.pipelines.progression import run

    out = tmp_path / "res" / "events.csv"
    res = run(
        cohort_files["visits"],
        cohort_files["relapses"],
        groups=cohort_files["subjects"],
        reference_group="placebo",
        value_col="edss",
        out=out,
        max_trajectory_plots=3,
        classify_cdw=True,
    )
    for fig in ("km", "trajectories", "km_by_arm"):
        png = (out.parent / f"events_{fig}.png").read_bytes()
        assert png[:8] == b"\x89PNG\r\n\x1a\n"
        assert b"<svg" in (out.parent / f"events_{fig}.svg").read_bytes()[:400]
        assert (out.parent / f"events_{fig}.pdf").read_bytes()[:5] == b"%PDF-"
    assert res.files["km_by_group_plot_pdf"].name == "events_km_by_arm.pdf"
    hr = pd.read_csv(out.parent / "events_hazard_ratio_arm.csv").iloc[0]
    line = hazard_ratio_text(hr)
    report = (out.parent / "events_report.md").read_text()
    assert f"- active vs placebo: {line}" in report
    assert "fewer than 10 subjects remain at risk" in report
    if shutil.which("pdftotext"):
        txt = subprocess.run(
            ["pdftotext", str(out.parent / "events_km_by_arm.pdf"), "-"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        assert line in txt and "Number at risk" in txt


def test_nothing_written_when_the_group_table_is_wrong(cohort_files, tmp_path):
    from smoulder.exceptions import ColumnNotFoundError
    from smoulder.pipelines.progression import run

    bad = tmp_path / "groups.csv"
    pd.read_csv(cohort_files["subjects"]).drop(columns="arm").to_csv(bad, index=False)
    out = tmp_path / "res" / "events.csv"
    with pytest.raises(ColumnNotFoundError, match="arm"):
        # the figures are drawn (in the staging folder) before the groups are read
        run(cohort_files["visits"], groups=bad, value_col="edss", out=out, max_trajectory_plots=2)
    assert not out.parent.exists() or not any(out.parent.iterdir())
