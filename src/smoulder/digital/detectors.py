"""Detectors of sustained worsening in one person's weekly series (pure numpy).

Every detector works on ``w``: the weekly levels on the measure's judging scale (log for ratio
measures, so a step is a percentage) and signed so that **larger is worse**. They return events
as :class:`Event` tuples of observation indices; :mod:`smoulder.digital.detect` turns them into
dated tables.

Methods
-------
``changepoint``
    A prospective change-point scan. At every new week ``t`` and every candidate onset ``tau``, the
    mean of the weeks since ``tau`` is compared with the person's baseline (the weeks before
    ``tau``, at most ``max_baseline`` of them) by a two-sample z statistic using the person's own
    noise, estimated robustly from week-to-week differences (insensitive to the step itself).
    An event needs (1) ``z >= h``, with ``h`` calibrated by simulation so that a stable person
    with Gaussian noise raises a false alarm with probability ``alpha`` per 52 weekly values;
    (2) at least ``min_sustained`` weeks since onset; (3) the change still present in the most
    recent half of those weeks (``z_recent >= recent_z``), which is what keeps a transient dip
    that has recovered from counting as sustained; (4) a change of at least ``min_shift``.
    After an event the baseline moves to the new level (roving), so further worsening can be found.
``cusum``
    One-sided standardised CUSUM against the mean of the first ``min_baseline`` weeks, with
    reference value ``k`` and a decision limit calibrated the same way.
``rolling``
    The digital analogue of confirmed disability worsening: the median of the last few tests is
    worse than the baseline median by at least a threshold, and is still so at a confirmation
    point at least ``confirm_weeks`` later, with the median of all tests in between also worse.
``consecutive``
    The published simple rule: ``n`` consecutive tests each at least ``pct`` % worse than the mean
    of the first ``min_baseline`` tests.
"""

from __future__ import annotations

import bisect
from functools import lru_cache
from typing import NamedTuple

import numpy as np

__all__ = [
    "Event",
    "robust_sd",
    "changepoint_scan",
    "cusum_scan",
    "rolling_scan",
    "consecutive_scan",
    "changepoint_threshold",
    "cusum_threshold",
]

# median |x_i - x_{i-1}| of iid N(0, s^2) is 0.6745 * sqrt(2) * s
_MAD_DIFF = 0.6744897501960817 * np.sqrt(2.0)
CALIBRATION_LENGTH = 52


class Event(NamedTuple):
    """One detected sustained worsening, in observation indices of the analysed series.

    Attributes
    ----------
    onset : int
        First observation of the worse level.
    detected : int
        Observation at which the rule fired.
    base_lo : int
        First baseline observation (the baseline is ``base_lo .. onset - 1``).
    z : float
        Strength of evidence (method-specific).
    """

    onset: int  # first observation of the worse level
    detected: int  # observation at which the rule fired
    base_lo: int  # baseline observations are base_lo .. onset-1
    z: float  # strength of evidence (method-specific)


def robust_sd(w: np.ndarray, floor: float = 0.0) -> float:
    """Noise SD from the median absolute week-to-week difference (robust to steps and spikes).

    Parameters
    ----------
    w : array
        One weekly series.
    floor : float
        The smallest SD returned.

    Returns
    -------
    float
        ``median(|diff(w)|) / (0.6745 * sqrt(2))``, at least ``floor``; NaN (or ``floor``) for
        fewer than three values.

    Examples
    --------
    >>> round(float(robust_sd(np.array([1.0, 2.0, 1.0, 2.0, 1.0]))), 3)
    1.048
    """
    if w.size < 3:
        return max(floor, float("nan"))
    s = float(np.median(np.abs(np.diff(w)))) / _MAD_DIFF
    return max(s, floor)


def _running_sd(w: np.ndarray, floor: float) -> np.ndarray:
    """``sd[t]`` = robust SD of ``w[0..t]`` (prospective: uses no later data)."""
    n = w.size
    out = np.full(n, np.nan)
    d = np.abs(np.diff(w)).tolist()
    ordered: list[float] = []
    for t in range(1, n):
        bisect.insort(ordered, d[t - 1])  # ordered holds |diff| of w[0..t]
        if t >= 3:
            k = len(ordered)
            med = ordered[k // 2] if k % 2 else 0.5 * (ordered[k // 2 - 1] + ordered[k // 2])
            out[t] = max(med / _MAD_DIFF, floor)
    return out


# ------------------------------------------------------------------------------------------
# change-point scan
# ------------------------------------------------------------------------------------------


def _changepoint_stats(w, t, taus, lo, sig, clip, recent_z, max_drift_z):
    """z statistics of every candidate onset ``taus`` at week ``t`` and whether each passes the
    sustained-change checks. ``w`` is 1-D (one person) or 2-D (a batch of simulated people, the
    last axis is time); ``lo`` are the first baseline weeks; ``sig`` the noise SD (scalar or one
    per row).

    Weeks since ``tau`` enter the level only up to ``clip`` noise SDs above the baseline mean
    (a winsorised mean): a deep dip of a few weeks cannot masquerade as a modest lasting change.
    The change must also hold in both halves of the weeks since ``tau``: each half worse than
    baseline (``z >= recent_z``) and keeping at least half of the change, the halves differing by
    at most ``max_drift_z``. A dip that recovered, or one that is happening now, fails; a step
    does not.
    """
    sig = np.asarray(sig, dtype=float)[..., None] if np.ndim(sig) else sig
    c = np.concatenate((np.zeros(w.shape[:-1] + (1,)), np.cumsum(w, axis=-1)), axis=-1)
    n1 = taus - lo
    pre = (c[..., taus] - c[..., lo]) / n1
    first = int(taus[0])
    seg = w[..., first : t + 1]  # weeks that can be after an onset
    cap = pre + clip * sig
    clipped = np.minimum(seg[..., None, :], cap[..., :, None])
    after = np.arange(first, t + 1)[None, :] >= taus[:, None]
    cc = np.cumsum(np.where(after, clipped, 0.0), axis=-1)
    cc = np.concatenate((np.zeros(cc.shape[:-1] + (1,)), cc), axis=-1)
    rows = np.arange(taus.size)
    n2 = t - taus + 1
    m = (n2 + 1) // 2  # recent half
    k = np.maximum(n2 - m, 1)  # earlier half
    total = cc[..., t + 1 - first]
    post = total / n2
    rec = (total - cc[..., rows, t + 1 - m - first]) / m
    early = cc[..., rows, taus - first + k] / k
    shift = post - pre
    z = shift / (sig * np.sqrt(1.0 / n1 + 1.0 / n2))
    z_rec = (rec - pre) / (sig * np.sqrt(1.0 / n1 + 1.0 / m))
    z_early = (early - pre) / (sig * np.sqrt(1.0 / n1 + 1.0 / k))
    z_drift = (early - rec) / (sig * np.sqrt(1.0 / k + 1.0 / m))
    ok = (
        (z_rec >= recent_z)
        & (z_early >= recent_z)
        & (rec - pre >= 0.5 * shift)
        & (early - pre >= 0.5 * shift)
        & (np.abs(z_drift) <= max_drift_z)
    )
    return z, ok, pre, post


def _candidates(s, t, min_baseline, min_sustained, max_baseline, max_post):
    taus = np.arange(max(s + min_baseline, t - max_post + 1), t - min_sustained + 2)
    lo = np.maximum(s, taus - max_baseline)
    return taus, lo


def _onset(w, s, t, sig, min_baseline, max_baseline, max_post, clip):
    """Best onset once an event is detected: the candidate with the largest winsorised z
    among all onsets at least two weeks back (not only those ``min_sustained`` weeks back)."""
    taus = np.arange(max(s + min_baseline, t - max_post + 1), t)
    lo = np.maximum(s, taus - max_baseline)
    z, _, _, _ = _changepoint_stats(w, t, taus, lo, sig, 3.0 * clip, np.inf, np.inf)
    k = int(np.argmax(z))
    return int(taus[k]), int(lo[k])


def changepoint_scan(
    w: np.ndarray,
    h: float,
    *,
    min_baseline: int = 8,
    max_baseline: int = 52,
    min_sustained: int = 12,
    max_post: int = 52,
    clip: float = 1.25,
    recent_z: float = 1.5,
    max_drift_z: float = 1.5,
    min_shift: float = 0.0,
    sd_floor: float = 1e-9,
) -> list[Event]:
    """Prospective change-point scan (see the module docstring).

    Parameters
    ----------
    w : array
        Weekly levels on the judging scale, larger is worse.
    h : float
        Decision limit (:func:`changepoint_threshold`).
    min_baseline, max_baseline : int
        Fewest and most baseline weeks before a candidate onset.
    min_sustained : int
        Weeks since onset needed before a change counts.
    max_post : int
        Onsets are looked for within this many weeks before the current week.
    clip : float
        Weeks since onset count at most this many noise SDs above the baseline mean.
    recent_z, max_drift_z : float
        Both halves of the weeks since onset at least ``recent_z`` SDs worse; the halves
        differing by at most ``max_drift_z`` SDs.
    min_shift : float
        Smallest change (plain means) that counts.
    sd_floor : float
        Smallest noise SD used.

    Returns
    -------
    list of Event
        In the order detected; after each event the baseline moves to the new level.
    """
    w = np.asarray(w, dtype=float)
    n = w.size
    events: list[Event] = []
    if n < min_baseline + min_sustained:
        return events
    sd = _running_sd(w, sd_floor)
    c = np.concatenate(([0.0], np.cumsum(w)))
    s = 0
    t = s + min_baseline + min_sustained - 1
    while t < n:
        taus, lo = _candidates(s, t, min_baseline, min_sustained, max_baseline, max_post)
        if taus.size and np.isfinite(sd[t]):
            # winsorising only lowers the level since onset, so the plain z bounds the
            # winsorised one: skip the week cheaply when even the plain z stays below h
            n1, n2 = taus - lo, t - taus + 1
            shift = (c[t + 1] - c[taus]) / n2 - (c[taus] - c[lo]) / n1
            if np.max(shift / (sd[t] * np.sqrt(1.0 / n1 + 1.0 / n2))) < h:
                t += 1
                continue
            z, ok, _, _ = _changepoint_stats(w, t, taus, lo, sd[t], clip, recent_z, max_drift_z)
            # the size of the change is judged on the plain means: winsorising caps it at
            # ``clip`` SDs, which for a very steady person can be below ``min_shift``
            ok &= (z >= h) & (shift >= min_shift)
            if ok.any():
                zmax = float(np.max(z[ok]))
                tau, base_lo = _onset(w, s, t, sd[t], min_baseline, max_baseline, max_post, clip)
                events.append(Event(tau, t, base_lo, zmax))
                s = tau
                t = max(t + 1, s + min_baseline + min_sustained - 1)
                continue
        t += 1
    return events


@lru_cache(maxsize=64)
def changepoint_threshold(
    alpha: float,
    min_baseline: int = 8,
    max_baseline: int = 52,
    min_sustained: int = 12,
    max_post: int = 52,
    clip: float = 1.25,
    recent_z: float = 1.5,
    max_drift_z: float = 1.5,
    sims: int = 2000,
    seed: int = 0,
    length: int = CALIBRATION_LENGTH,
) -> float:
    """Decision limit ``h`` giving false-alarm probability ``alpha`` per ``length`` stable weeks.

    Simulates ``sims`` stable series of iid Gaussian noise (the statistic does not depend on the
    person's level or noise SD) and returns the ``1 - alpha`` quantile of the largest statistic
    that also passes the sustained-change checks. Deterministic from ``seed``; cached.

    Parameters
    ----------
    alpha : float
        False-alarm probability per ``length`` weeks.
    min_baseline, max_baseline, min_sustained, max_post, clip, recent_z, max_drift_z
        As for :func:`changepoint_scan`.
    sims : int
        Simulated stable series.
    seed : int
        Seed of the simulation.
    length : int
        Weeks per simulated series.

    Returns
    -------
    float
        The limit (at least 0).
    """
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((sims, length))
    d = np.abs(np.diff(x, axis=1))
    best = np.full(sims, -1e9)
    for t in range(max(min_baseline + min_sustained - 1, 3), length):
        taus, lo = _candidates(0, t, min_baseline, min_sustained, max_baseline, max_post)
        if not taus.size:
            continue
        sig = np.median(d[:, :t], axis=1) / _MAD_DIFF
        z, ok, _, _ = _changepoint_stats(x, t, taus, lo, sig, clip, recent_z, max_drift_z)
        best = np.maximum(best, np.where(ok, z, -1e9).max(axis=1))
    # when the sustained-change checks alone keep false alarms below alpha, any change in the
    # worse direction may count: the limit is then 0, not the placeholder of the simulation
    return max(float(np.quantile(best, 1.0 - alpha, method="higher")), 0.0)


# ------------------------------------------------------------------------------------------
# CUSUM
# ------------------------------------------------------------------------------------------


def _cusum_path(w: np.ndarray, start: int, baseline: int, k: float, sd: np.ndarray):
    mu = w[start : start + baseline].mean()
    s = 0.0
    for t in range(start + baseline, w.size):
        s = max(0.0, s + (w[t] - mu) / sd[t] - k)
        yield t, s


def cusum_scan(
    w: np.ndarray,
    h: float,
    *,
    k: float = 0.5,
    min_baseline: int = 8,
    min_shift: float = 0.0,
    sd_floor: float = 1e-9,
) -> list[Event]:
    """One-sided standardised CUSUM with re-baselining after each event.

    Parameters
    ----------
    w : array
        Weekly levels on the judging scale, larger is worse.
    h : float
        Decision limit (:func:`cusum_threshold`).
    k : float
        Reference value in noise SDs.
    min_baseline : int
        Weeks whose mean is the reference level.
    min_shift : float
        Smallest change (mean since onset minus baseline mean) that counts.
    sd_floor : float
        Smallest noise SD used.

    Returns
    -------
    list of Event
        In the order detected; ``z`` is the CUSUM value at detection.
    """
    w = np.asarray(w, dtype=float)
    n = w.size
    sd = _running_sd(w, sd_floor)
    events: list[Event] = []
    start = 0
    while start + min_baseline < n:
        fired = None
        last_zero = start + min_baseline
        for t, s in _cusum_path(w, start, min_baseline, k, sd):
            if t < 3:
                continue
            if s == 0.0:
                last_zero = t + 1
            elif s >= h:
                onset = min(last_zero, t)
                shift = w[onset : t + 1].mean() - w[start : start + min_baseline].mean()
                if shift >= min_shift:
                    fired = Event(onset, t, start, float(s))
                    break
        if fired is None:
            break
        events.append(fired)
        start = max(fired.onset, fired.detected + 1 - min_baseline)
        if fired.detected + 1 >= n:
            break
    return events


@lru_cache(maxsize=64)
def cusum_threshold(
    alpha: float,
    k: float,
    min_baseline: int,
    sims: int = 4000,
    seed: int = 0,
    length: int = CALIBRATION_LENGTH,
) -> float:
    """CUSUM decision limit for false-alarm probability ``alpha`` per ``length`` stable weeks.

    Parameters
    ----------
    alpha : float
        False-alarm probability per ``length`` weeks.
    k : float
        Reference value in noise SDs.
    min_baseline : int
        Weeks whose mean is the reference level.
    sims, seed, length : int
        Simulated stable series, their seed and their length in weeks.

    Returns
    -------
    float
        The ``1 - alpha`` quantile of the largest CUSUM value of the simulated series.
    """
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((sims, length))
    d = np.abs(np.diff(x, axis=1))
    mu = x[:, :min_baseline].mean(axis=1)
    s = np.zeros(sims)
    best = np.zeros(sims)
    for t in range(max(min_baseline, 3), length):
        sig = np.median(d[:, :t], axis=1) / _MAD_DIFF
        s = np.maximum(0.0, s + (x[:, t] - mu) / sig - k)
        best = np.maximum(best, s)
    return float(np.quantile(best, 1.0 - alpha))


# ------------------------------------------------------------------------------------------
# rolling baseline with confirmation, and consecutive tests
# ------------------------------------------------------------------------------------------


def rolling_scan(
    w: np.ndarray,
    weeks: np.ndarray,
    threshold: float,
    *,
    min_baseline: int = 8,
    window: int = 4,
    confirm_weeks: int = 12,
) -> list[Event]:
    """Confirmed worsening of the rolling median (the digital analogue of CDW).

    Parameters
    ----------
    w : array
        Weekly levels on the judging scale, larger is worse.
    weeks : array of int
        Week numbers of the observations (gaps allowed).
    threshold : float
        Minimal worsening on the judging scale.
    min_baseline : int
        Tests whose median is the first baseline.
    window : int
        Tests in the rolling median.
    confirm_weeks : int
        The worsening must still hold at least this many weeks later.

    Returns
    -------
    list of Event
        ``z`` is the confirmed worsening on the judging scale.
    """
    w = np.asarray(w, dtype=float)
    n = w.size
    events: list[Event] = []
    if n < min_baseline + window:
        return events
    level = np.array([np.median(w[max(0, i - window + 1) : i + 1]) for i in range(n)])
    base_lo = 0
    base = float(np.median(w[:min_baseline]))
    i = max(min_baseline, window - 1)
    while i < n:
        if level[i] - base >= threshold:
            later = np.nonzero(weeks[i:] >= weeks[i] + confirm_weeks)[0]
            if later.size:
                j = i + int(later[0])
                if level[j] - base >= threshold and np.median(w[i : j + 1]) - base >= threshold:
                    onset = max(i - window + 1, base_lo + min_baseline)
                    events.append(Event(onset, j, base_lo, float(level[j] - base)))
                    base = float(level[j])
                    base_lo = max(0, j - window + 1)
                    i = j + 1
                    continue
        i += 1
    return events


def consecutive_scan(
    w: np.ndarray, threshold: float, *, n_consecutive: int = 2, min_baseline: int = 8
) -> list[Event]:
    """``n_consecutive`` tests in a row each worse than the baseline mean by ``threshold``.

    Parameters
    ----------
    w : array
        Weekly levels on the judging scale, larger is worse.
    threshold : float
        Minimal worsening of each test on the judging scale.
    n_consecutive : int
        Tests in a row.
    min_baseline : int
        Tests whose mean is the baseline.

    Returns
    -------
    list of Event
        At most one: the first such run.
    """
    w = np.asarray(w, dtype=float)
    events: list[Event] = []
    if w.size <= min_baseline:
        return events
    base = w[:min_baseline].mean()
    run = 0
    for t in range(min_baseline, w.size):
        run = run + 1 if w[t] - base >= threshold else 0
        if run >= n_consecutive:
            onset = t - n_consecutive + 1
            events.append(Event(onset, t, 0, float(w[onset : t + 1].mean() - base)))
            break
    return events
