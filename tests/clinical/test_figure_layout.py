"""What a reader sees in the progression figures, now placed without drawing (issue 13 §4):
page-wide PNGs at 300 dpi in all three formats, nothing overlapping or cut off, no label under
8 points, the number-at-risk table matching the durations, "n of N subjects shown", and the
Kaplan-Meier estimate computed here equal to hand-worked values and to lifelines'."""

from __future__ import annotations

import math
from itertools import combinations

import numpy as np
import pandas as pd
import pytest
from clinical_timelines import onsets, timeline

from smoulder.clinical import make_settings, run_validated
from smoulder.clinical.survival import kaplan_meier, km_estimate


@pytest.fixture(scope="module")
def cohort_result():
    from smoulder.synth import simulate_cohort

    c = simulate_cohort(300, seed=21, active_effect=0.3)
    v = c.visits.rename(columns={"edss": "value"})[["subject", "date", "value"]]
    return run_validated(v, c.relapses, None, make_settings(classify_cdw=True)), c


# ---------------------------------------------------------------- the estimate
def test_km_estimate_by_hand():
    # events at 100 and 200, censored at 150, 300, 300 (5 subjects)
    # S(100) = 4/5; 3 at risk at 200: S(200) = 0.8 * 2/3
    # Greenwood: V(100) = 1 / (5 * 4) = 0.05; V(200) = 0.05 + 1 / (3 * 2)
    d = np.array([100.0, 150, 200, 300, 300])
    e = np.array([True, False, True, False, False])
    out = km_estimate(d, e)
    assert out["time_days"].tolist() == [0, 100, 150, 200, 300]
    assert out["at_risk"].tolist() == [5, 5, 4, 3, 2]
    assert out["events"].tolist() == [0, 1, 0, 1, 0]
    assert out["survival"] == pytest.approx([1, 0.8, 0.8, 0.8 * 2 / 3, 0.8 * 2 / 3])
    z = 1.959963984540054
    for k, (s, v) in {1: (0.8, 0.05), 3: (0.8 * 2 / 3, 0.05 + 1 / 6)}.items():
        lo = math.exp(-math.exp(math.log(-math.log(s)) - z * math.sqrt(v) / math.log(s)))
        hi = math.exp(-math.exp(math.log(-math.log(s)) + z * math.sqrt(v) / math.log(s)))
        assert out["ci_lower"][k] == pytest.approx(lo, rel=1e-12)
        assert out["ci_upper"][k] == pytest.approx(hi, rel=1e-12)
    assert out["ci_lower"][0] == out["ci_upper"][0] == 1.0  # S = 1: no band


def test_km_estimate_when_everyone_has_the_event():
    out = km_estimate(np.array([1.0, 2.0, 3.0]), np.ones(3, bool))
    assert out["survival"].tolist() == pytest.approx([1, 2 / 3, 1 / 3, 0])
    assert (out["ci_lower"][-1], out["ci_upper"][-1]) == (0.0, 0.0)


@pytest.mark.parametrize("seed", [1, 2])
def test_km_estimate_equals_lifelines(seed):
    from lifelines import KaplanMeierFitter

    rng = np.random.default_rng(seed)
    d = np.round(rng.exponential(600, 500))
    d[:4] = 0.0  # single-visit subjects: censored at day 0
    e = rng.random(500) < 0.55
    f = KaplanMeierFitter(alpha=0.1).fit(d, e)
    out = km_estimate(d, e, alpha=0.1)
    ci = f.confidence_interval_survival_function_
    assert np.array_equal(out["time_days"], f.survival_function_.index.to_numpy())
    assert np.allclose(out["survival"], f.survival_function_.iloc[:, 0], rtol=0, atol=1e-12)
    assert np.allclose(out["ci_lower"], ci.iloc[:, 0], rtol=0, atol=1e-12)
    assert np.allclose(out["ci_upper"], ci.iloc[:, 1], rtol=0, atol=1e-12)
    assert np.array_equal(out["at_risk"], f.event_table["at_risk"].to_numpy())
    tte = pd.DataFrame({"subject": [f"s{i}" for i in range(500)], "duration_days": d, "event": e})
    km = kaplan_meier(tte, alpha=0.1)
    row = km.summary.iloc[0]
    assert row["median_days"] == pytest.approx(f.median_survival_time_)
    assert row["incidence_2y"] == pytest.approx(1 - f.survival_function_at_times(730.5).iloc[0])
    assert km.fitters["all"].survival_function_.iloc[:, 0].tolist() == pytest.approx(
        out["survival"].tolist()
    )


# ---------------------------------------------------------------- what is drawn
def _decorations(fig):
    """Window boxes of everything outside the plotting areas: tick labels, axis labels, titles,
    figure texts, the table's texts, figure legends; and the plotting areas themselves."""
    fig.canvas.draw()
    r = fig.canvas.get_renderer()
    boxes, areas = [], []
    for ax in fig.axes:
        if not ax.get_visible():
            continue
        if ax.axison:
            areas.append(("axes", ax.get_window_extent(r)))
            for lab in [*ax.get_xticklabels(), *ax.get_yticklabels()]:
                if lab.get_visible() and lab.get_text():
                    boxes.append((f"tick {lab.get_text()}", lab.get_window_extent(r)))
            for lab in (ax.xaxis.label, ax.yaxis.label):
                if lab.get_text():
                    boxes.append((f"label {lab.get_text()}", lab.get_window_extent(r)))
        else:  # the number-at-risk table: its texts
            boxes += [(f"table {t.get_text()}", t.get_window_extent(r)) for t in ax.texts]
        for t in (ax.title, ax._left_title, ax._right_title):
            if t.get_text():
                boxes.append((f"title {t.get_text()}", t.get_window_extent(r)))
    # figure texts: the suptitle, captions and the EDSS scale's labels beside each panel
    boxes += [(f"text {t.get_text()}", t.get_window_extent(r)) for t in fig.texts]
    boxes += [("legend", lg.get_window_extent(r)) for lg in fig.legends]
    return boxes, areas, fig.bbox


def _assert_nothing_overlaps(fig):
    boxes, areas, page = _decorations(fig)
    for name, b in boxes + areas:
        assert page.x0 - 0.5 <= b.x0 and b.x1 <= page.x1 + 0.5, f"{name} cut off: {b}"
        assert page.y0 - 0.5 <= b.y0 and b.y1 <= page.y1 + 0.5, f"{name} cut off: {b}"
    for (n1, b1), (n2, b2) in combinations(boxes, 2):
        assert not b1.padded(-1).overlaps(b2.padded(-1)), f"{n1} on {n2}"
    for n1, b1 in boxes:
        for _, b2 in areas:
            assert not b1.padded(-1).overlaps(b2), f"{n1} on a plotting area"


def _font_sizes(fig):
    from matplotlib.text import Text

    return {t.get_fontsize() for t in fig.findobj(Text) if t.get_text() and t.get_visible()}


def test_trajectories_page_wide_readable_and_nothing_overlaps(cohort_result):
    res, _ = cohort_result
    total = int(res.events["subject"].nunique())
    fig = res.plot("trajectories")
    assert fig._suptitle.get_text() == f"12 of {total} subjects with an event shown"
    assert fig.get_size_inches()[0] == pytest.approx(7.2)
    _assert_nothing_overlaps(fig)
    assert min(_font_sizes(fig)) >= 8


@pytest.mark.parametrize("groups", [False, True])
def test_km_readable_and_nothing_overlaps(cohort_result, groups):
    res, c = cohort_result
    from smoulder.clinical.survival import time_to_first_event

    tte = time_to_first_event(res.events, res.summary, kind="CDW")
    arms = c.subjects[["subject", "arm"]].astype({"subject": str}) if groups else None
    fig = kaplan_meier(tte, group=arms, label="CDW").plot(
        annotation="active vs placebo: HR 0.36 (95 % CI 0.26-0.50)" if groups else None
    )
    _assert_nothing_overlaps(fig)
    assert min(_font_sizes(fig)) >= 8


def test_number_at_risk_counts_the_subjects_still_followed():
    # 40 subjects followed 30, 60, ..., 1200 days, every third with the event
    d = np.arange(30.0, 1230.0, 30.0)
    tte = pd.DataFrame(
        {
            "subject": [f"s{i}" for i in range(40)],
            "duration_days": d,
            "event": np.arange(40) % 3 == 0,
        }
    )
    fig = kaplan_meier(tte, min_at_risk=5).plot(years=False)
    table = fig.axes[1]
    row = {t.get_position()[0]: t.get_text() for t in table.texts if t.get_text() != "all subjects"}
    ticks = [x for x in fig.axes[0].get_xticks() if x <= fig.axes[0].get_xlim()[1]]
    assert sorted(row) == ticks  # one count under every time tick
    for x, text in row.items():
        assert int(text) == int((d >= x).sum())  # followed at least until x
    assert row[0.0] == "40"


def test_files_in_three_formats_page_wide_at_300_dpi(tmp_path):
    from PIL import Image

    from smoulder.pipelines.progression import write

    tl = timeline([2.0, 3.0, 3.0, 4.0, 4.0], [0, 100, 200, 300, 400])
    res = run_validated(tl, onsets([50]), None, make_settings(event="multiple"))
    files = write(res, tmp_path / "ev.csv")
    for key in ("km_plot", "trajectories_plot"):
        with Image.open(files[key]) as im:
            assert im.size[0] == 2160 and round(im.info["dpi"][0]) == 300  # 7.2 in at 300 dpi
            assert im.size[1] < 3300  # shorter than a page (11 in)
        assert files[f"{key}_svg"].read_bytes().lstrip()[:5] in (b"<?xml", b"<svg ")
        assert files[f"{key}_pdf"].read_bytes()[:5] == b"%PDF-"
    # one subject with an event: "1 of 1", one panel (the legend explains the marks drawn)
    fig = res.plot("trajectories")
    assert fig._suptitle.get_text() == "1 of 1 subjects with an event shown"
    assert len(fig.axes) == 1


def test_default_path_does_not_import_lifelines_or_pyplot():
    import subprocess
    import sys

    code = (
        "import sys\n"
        "from clinical_timelines import onsets, timeline\n"
        "from smoulder.clinical import make_settings, run_validated\n"
        "tl = timeline([2.0, 3.0, 3.0, 4.0, 4.0], [0, 100, 200, 300, 400])\n"
        "res = run_validated(tl, onsets([50]), None, make_settings())\n"
        "res.plot('km'); res.plot('trajectories')\n"
        "print('lifelines' in sys.modules, 'matplotlib.pyplot' in sys.modules)\n"
    )
    import os
    from pathlib import Path

    here = Path(__file__).resolve().parent
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(here), *sys.path])}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env)
    assert out.stdout.split() == ["False", "False"], out.stderr[-2000:]
