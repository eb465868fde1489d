"""Virtual phone, wearable and home-test streams with known ground truth.

Two kinds of stream are simulated per person, each deterministic from a seed:

- **weekly home tests** (e.g. the 2-minute walk, smartphone SDMT): one test per week with
  within-person log-normal noise, an optional practice (learning) effect that saturates
  exponentially, missing weeks, transient dips (a relapse, an infection) and, for a chosen share
  of people, a sustained decline of known size and onset;
- **daily passive streams** (e.g. step counts): a personal level, a weekly rhythm (weekends
  differ), day-to-day and week-to-week noise, days the watch was not worn, holidays without the
  watch, transient dips and sustained declines.

The ground-truth table says, for every person and measure, whether and when a sustained decline
began and how large it is, and where the transient dips and holidays are, so detectors can be
scored for detection rate, false alarms and delay.

Examples
--------
>>> from smoulder.synth.digital import simulate_weekly_tests
>>> data, truth = simulate_weekly_tests(n_subjects=4, weeks=52, seed=1)
>>> sorted(data.columns)
['date', 'measure', 'subject', 'unit', 'value']
>>> int(truth["declining"].sum()) in range(0, 5)
True
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from smoulder.schema.catalogue import get_measure

__all__ = ["simulate_weekly_tests", "simulate_daily_steps"]

START = pd.Timestamp("2024-01-01")  # a Monday


def _dips(
    rng: np.random.Generator,
    n_units: int,
    rate: float,
    len_range: tuple[int, int],
    depth_range: tuple[float, float],
) -> tuple[np.ndarray, list[tuple[int, int, float]]]:
    """Multiplicative factors (<= 1) for transient dips and their (start, length, depth)."""
    factor = np.ones(n_units)
    events = []
    n = rng.poisson(rate * n_units / 52.0) if len_range[1] < n_units else 0
    for _ in range(n):
        length = int(rng.integers(len_range[0], len_range[1] + 1))
        start = int(rng.integers(0, max(1, n_units - length)))
        depth = float(rng.uniform(*depth_range))
        # a dip has a sharp onset and recovers linearly over its second half
        prof = np.ones(length)
        half = length // 2
        if length - half > 0:
            prof[half:] = np.linspace(1.0, 1.0 / (length - half + 1), length - half)
        factor[start : start + length] *= 1.0 - depth * prof
        events.append((start, length, depth))
    return factor, events


def _decline(
    rng: np.random.Generator, share: float, onset_week: int | tuple[int, int]
) -> tuple[bool, int | None]:
    """Whether this person declines and from which week (drawn in this order, as before)."""
    if not rng.random() < share:
        return False, None
    if isinstance(onset_week, tuple):
        return True, int(rng.integers(onset_week[0], onset_week[1] + 1))
    return True, int(onset_week)


def simulate_weekly_tests(
    n_subjects: int = 200,
    *,
    weeks: int = 52,
    measure: str = "two_minute_walk",
    level: float = 130.0,
    between_sd: float = 0.2,
    noise_cv: float = 0.10,
    decline_share: float = 0.5,
    decline_pct: float = 10.0,
    onset_week: int | tuple[int, int] = 26,
    practice_gain: float = 0.0,
    practice_tau: float = 6.0,
    missing_prob: float = 0.05,
    dip_rate: float = 0.5,
    dip_weeks: tuple[int, int] = (2, 5),
    dip_depth: tuple[float, float] = (0.15, 0.35),
    seed: int = 0,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Simulate one home test per week per person.

    Parameters
    ----------
    n_subjects : int
        Number of people.
    weeks : int
        Weeks of follow-up.
    measure : str
        Catalogue name; decides the direction of worsening and the unit.
    level : float
        Median personal level (canonical unit); people vary log-normally by ``between_sd``.
    noise_cv : float
        Within-person SD of one test as a fraction of the level (log scale).
    decline_share : float
        Share of people with a sustained worsening.
    decline_pct : float
        Size of the sustained worsening in % of the level (in the worse direction).
    onset_week : int or (int, int)
        Week of onset, or a range drawn uniformly.
    practice_gain, practice_tau : float
        Learning effect: the level improves by ``practice_gain`` (fraction) with time constant
        ``practice_tau`` tests.
    missing_prob : float
        Probability that a given week has no test.
    dip_rate : float
        Transient dips per person per year (Poisson).
    dip_weeks, dip_depth : tuple
        Length range in weeks and depth range (fraction) of a dip.
    seed : int
        Seed of the random generator.

    Returns
    -------
    data : DataFrame
        Long table ``subject, date, measure, value, unit`` (one row per test taken).
    truth : DataFrame
        ``subject, measure, declining, onset_date, onset_week, decline_pct, n_dips, dips``.
    """
    m = get_measure(measure)
    rng = np.random.default_rng(seed)
    rows_s, rows_d, rows_v = [], [], []
    truth = []
    worse_sign = -1.0 if m.worse == "lower" else 1.0
    for i in range(n_subjects):
        sid = f"d{i:05d}"
        base = level * float(np.exp(rng.normal(0.0, between_sd)))
        w = np.arange(weeks)
        lvl = np.full(weeks, base)
        if practice_gain:
            lvl = lvl * (1.0 - worse_sign * practice_gain * (1.0 - np.exp(-w / practice_tau)))
        declining, onset = _decline(rng, decline_share, onset_week)
        if declining and onset is not None:
            lvl = np.where(w >= onset, lvl * (1.0 + worse_sign * decline_pct / 100.0), lvl)
        dipf, dips = _dips(rng, weeks, dip_rate, dip_weeks, dip_depth)
        if worse_sign < 0:
            lvl = lvl * dipf
        else:
            lvl = lvl / dipf
        vals = lvl * np.exp(rng.normal(0.0, noise_cv, weeks))
        # a test on a random day of its week
        day = rng.integers(0, 7, weeks)
        keep = rng.random(weeks) >= missing_prob
        lo, hi = m.valid_range
        vals = np.clip(vals, lo, hi)
        dates = START + pd.to_timedelta(w * 7 + day, unit="D")
        rows_s.append(np.full(int(keep.sum()), sid))
        rows_d.append(dates[keep])
        rows_v.append(vals[keep])
        truth.append(
            {
                "subject": sid,
                "measure": measure,
                "declining": declining,
                "onset_week": onset if declining else np.nan,
                "onset_date": (START + pd.Timedelta(weeks=onset)) if declining else pd.NaT,
                "decline_pct": decline_pct if declining else 0.0,
                "n_dips": len(dips),
                "dips": ";".join(f"{s}+{n}:{d:.2f}" for s, n, d in dips),
            }
        )
    data = pd.DataFrame(
        {
            "subject": np.concatenate(rows_s) if rows_s else np.array([], dtype=str),
            "date": np.concatenate(rows_d) if rows_d else np.array([], dtype="datetime64[ns]"),
            "measure": measure,
            "value": np.round(np.concatenate(rows_v), 2) if rows_v else np.array([], dtype=float),
            "unit": m.unit,
        }
    )
    return data, pd.DataFrame(truth)


def simulate_daily_steps(
    n_subjects: int = 200,
    *,
    weeks: int = 52,
    level: float = 6000.0,
    between_sd: float = 0.4,
    day_cv: float = 0.30,
    week_sd: float = 0.06,
    weekend_factor: tuple[float, float] = (0.6, 1.1),
    nonwear_prob: float = 0.08,
    holiday_rate: float = 0.7,
    decline_share: float = 0.5,
    decline_pct: float = 15.0,
    onset_week: int | tuple[int, int] = 26,
    dip_rate: float = 0.5,
    dip_weeks: tuple[int, int] = (1, 3),
    dip_depth: tuple[float, float] = (0.3, 0.6),
    seed: int = 0,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Simulate daily step counts with a weekly rhythm, non-wear days and holidays.

    Non-wear days have a handful of steps (the phone on a table), below the default wear rule;
    holidays without the watch leave whole weeks with no record. Other parameters are as in
    :func:`simulate_weekly_tests`, with ``day_cv`` the day-to-day noise and ``week_sd`` a
    week-to-week wobble of the person's level.

    Parameters
    ----------
    n_subjects : int
        Number of people.
    weeks : int
        Weeks of follow-up (days start on a Monday).
    level : float
        Median personal level in steps per day; people vary log-normally by ``between_sd``.
    between_sd : float
        SD of the log personal level between people.
    day_cv : float
        Day-to-day noise (SD on the log scale).
    week_sd : float
        Week-to-week wobble of the person's level (SD on the log scale).
    weekend_factor : (float, float)
        Range of the person's weekend level relative to weekdays, drawn uniformly per person.
    nonwear_prob : float
        Probability that a day is a non-wear day (0 to 299 steps).
    holiday_rate : float
        Holidays without the watch per person per year (Poisson, 5 to 14 days each, no rows).
    decline_share : float
        Share of people with a sustained decline.
    decline_pct : float
        Size of the sustained decline in % of the level.
    onset_week : int or (int, int)
        Week of onset, or a range drawn uniformly.
    dip_rate : float
        Transient dips per person per year (Poisson).
    dip_weeks, dip_depth : tuple
        Length range in weeks and depth range (fraction) of a dip.
    seed : int
        Seed of the random generator.

    Returns
    -------
    data : DataFrame
        Long table ``subject, date, measure, value, unit`` (one row per day worn or not,
        none on holidays).
    truth : DataFrame
        ``subject, measure, declining, onset_week, onset_date, decline_pct, n_dips, dips,
        holidays``.
    """
    m = get_measure("steps")
    rng = np.random.default_rng(seed)
    days = weeks * 7
    d = np.arange(days)
    dow = d % 7  # START is a Monday
    out_s, out_d, out_v, truth = [], [], [], []
    for i in range(n_subjects):
        sid = f"s{i:05d}"
        base = level * float(np.exp(rng.normal(0.0, between_sd)))
        wknd = float(rng.uniform(*weekend_factor))
        lvl = np.full(days, base) * np.where(dow >= 5, wknd, 1.0)
        lvl *= np.repeat(np.exp(rng.normal(0.0, week_sd, weeks)), 7)
        declining, onset = _decline(rng, decline_share, onset_week)
        if declining and onset is not None:
            lvl = np.where(d >= onset * 7, lvl * (1.0 - decline_pct / 100.0), lvl)
        dipf, dips = _dips(rng, weeks, dip_rate, dip_weeks, dip_depth)
        lvl *= np.repeat(dipf, 7)
        vals = lvl * np.exp(rng.normal(0.0, day_cv, days))
        nonwear = rng.random(days) < nonwear_prob
        vals[nonwear] = rng.integers(0, 300, int(nonwear.sum()))
        present = np.ones(days, dtype=bool)
        n_hol = rng.poisson(holiday_rate * weeks / 52.0)
        holidays = []
        for _ in range(n_hol):
            length = int(rng.integers(5, 15))
            start = int(rng.integers(0, days - length))
            present[start : start + length] = False
            holidays.append((start, length))
        vals = np.clip(np.round(vals), 0, m.valid_range[1])
        out_s.append(np.full(int(present.sum()), sid))
        out_d.append((START + pd.to_timedelta(d, unit="D"))[present])
        out_v.append(vals[present])
        truth.append(
            {
                "subject": sid,
                "measure": "steps",
                "declining": declining,
                "onset_week": onset if declining else np.nan,
                "onset_date": (START + pd.Timedelta(weeks=onset)) if declining else pd.NaT,
                "decline_pct": decline_pct if declining else 0.0,
                "n_dips": len(dips),
                "dips": ";".join(f"{s}+{n}:{dd:.2f}" for s, n, dd in dips),
                "holidays": ";".join(f"{s}+{n}" for s, n in holidays),
            }
        )
    data = pd.DataFrame(
        {
            "subject": np.concatenate(out_s),
            "date": np.concatenate(out_d),
            "measure": "steps",
            "value": np.concatenate(out_v).astype(float),
            "unit": m.unit,
        }
    )
    return data, pd.DataFrame(truth)
