"""Detection of sustained subtle worsening in phone, wearable and home-test data.

:func:`detect` takes the validated long table (``subject, date, measure, value``), summarises each
person's measures by week (:mod:`smoulder.digital.aggregate`), leaves out the learning phase of
home tests (:mod:`smoulder.digital.practice`), and runs one or more detectors
(:mod:`smoulder.digital.detectors`) on each person and measure. The result holds one row per
detected sustained worsening, with its estimated onset, the date it was detected, the baseline
and current levels, the change in % and in units of the measure's detectable change, and the
weeks that are the evidence, plus the weekly series, the learning phases and the gaps.

Settings live in :mod:`smoulder.digital.settings`, the result in :mod:`smoulder.digital.result`;
:func:`smoulder.pipelines.digital.run` reads and validates files and writes the outputs.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
import pandas as pd

from smoulder.digital import detectors as det
from smoulder.digital.aggregate import weekly
from smoulder.digital.practice import learning_phase
from smoulder.digital.result import EVENT_COLUMNS, GAP_COLUMNS, LEARNING_COLUMNS, DetectionResult
from smoulder.digital.settings import METHODS, DetectSettings
from smoulder.exceptions import ColumnNotFoundError, SettingsError
from smoulder.schema.catalogue import Measure, get_measure

__all__ = [
    "detect",
    "decision_limits",
    "resolve_settings",
    "DetectSettings",
    "DetectionResult",
    "EVENT_COLUMNS",
    "METHODS",
]


def _judging_scale(m: Measure, values: np.ndarray) -> np.ndarray:
    """Values on the judging scale, signed so that larger is worse."""
    if m.transform == "log":
        y = np.log(np.maximum(values, 1e-9))
    else:
        y = values.astype(float)
    return y * m.sign


def _from_scale(m: Measure, w: float) -> float:
    y = w * m.sign
    return float(np.exp(y)) if m.transform == "log" else float(y)


def _min_shift(m: Measure, s: DetectSettings) -> float:
    if m.transform == "log":
        return math.log1p(s.min_change_pct / 100.0)
    return s.min_change_sdc * m.sdc if m.sdc else 0.0


def _sd_floor(m: Measure) -> float:
    if m.transform == "log":
        return 0.005
    if m.sdc:
        return m.sdc / (1.96 * math.sqrt(2.0))
    lo, hi = m.valid_range
    return 1e-3 * (hi - lo)


def _threshold_on_scale(m: Measure, pct: float) -> float:
    if m.transform == "log":
        return -math.log1p(-pct / 100.0) if m.worse == "lower" else math.log1p(pct / 100.0)
    return float("nan")  # set per series from the baseline level


def resolve_settings(
    settings: DetectSettings | Mapping[str, Any] | None = None, **overrides: Any
) -> DetectSettings:
    """Settings from an object or a mapping (a TOML table, say) plus overrides.

    Overrides win; ``None`` overrides are ignored, so unset command-line flags keep the value of
    the object or mapping.

    Parameters
    ----------
    settings : DetectSettings or mapping, optional
        The base settings (default: every default).
    overrides
        Single parameters to change (``alpha=0.01``).

    Returns
    -------
    DetectSettings

    Examples
    --------
    >>> resolve_settings({"digital": {"alpha": 0.01}}, methods="cusum").methods
    ('cusum',)
    """
    if isinstance(settings, DetectSettings):
        changes = {k: v for k, v in overrides.items() if v is not None}
        return settings.replace(**changes) if changes else settings
    if settings is not None and not isinstance(settings, Mapping):
        raise SettingsError(
            f"settings must be DetectSettings or a table of parameters (got {type(settings).__name__})"
        )
    return DetectSettings.from_mapping(settings, **overrides)


def decision_limits(settings: DetectSettings) -> dict[str, float]:
    """The calibrated decision limits of the detectors that need one (changepoint, cusum).

    Each limit is the ``1 - alpha`` quantile of the largest statistic in ``calibration_sims``
    simulated stable series of 52 weeks (seeded by ``seed``; cached, so repeated runs are free).

    Parameters
    ----------
    settings : DetectSettings
        The settings of the run.

    Returns
    -------
    dict
        ``{"changepoint": h, "cusum": h}`` for the detectors in ``settings.methods``.
    """
    s = settings
    limits: dict[str, float] = {}
    if "changepoint" in s.methods:
        limits["changepoint"] = det.changepoint_threshold(
            s.alpha,
            s.min_baseline,
            s.max_baseline,
            s.min_sustained,
            s.max_post,
            s.clip,
            s.recent_z,
            s.max_drift_z,
            s.calibration_sims,
            s.seed,
        )
    if "cusum" in s.methods:
        limits["cusum"] = det.cusum_threshold(
            s.alpha, s.cusum_k, s.min_baseline, s.calibration_sims, s.seed
        )
    return limits


def detect(
    measures: pd.DataFrame,
    settings: DetectSettings | Mapping[str, Any] | None = None,
    *,
    relapses: pd.DataFrame | None = None,
    progress: Callable[[int, int], None] | None = None,
    **overrides: Any,
) -> DetectionResult:
    """Detect sustained worsening per person and measure.

    Parameters
    ----------
    measures : DataFrame
        Validated long table with columns ``subject, date, measure, value`` (values in the
        catalogue's canonical units; :func:`smoulder.pipelines.digital.run` validates a raw table
        or file first).
    settings : DetectSettings or mapping, optional
        Analysis settings (default: all defaults).
    relapses : DataFrame, optional
        ``subject, date`` of relapse onsets, to flag events that start soon after a relapse.
    progress : callable, optional
        Called with ``(done, total)`` after each person and measure.
    **overrides
        Single settings changed on top of ``settings`` (``methods=("changepoint", "cusum")``).

    Returns
    -------
    DetectionResult
        Events, weekly series, learning phases, gaps, settings and decision limits.

    Raises
    ------
    SettingsError
        A setting out of range, or a measure the catalogue does not know.
    ColumnNotFoundError
        A column of the long table is missing.

    Examples
    --------
    Six people with weekly two-minute walks who all decline by 25 % half-way:

    >>> from smoulder.synth.digital import simulate_weekly_tests
    >>> from smoulder.digital import detect
    >>> data, truth = simulate_weekly_tests(
    ...     n_subjects=6, decline_pct=25, decline_share=1.0, dip_rate=0, seed=2
    ... )
    >>> res = detect(data)
    >>> sorted(res.events["subject"].unique()) == sorted(truth["subject"])
    True
    >>> bool(res.events["change_pct"].lt(-10).all())
    True
    >>> "prospective change-point scan" in res.methods()
    True
    >>> res.limits == {"changepoint": res.limits["changepoint"]}  # only the detector that ran
    True
    """
    settings = resolve_settings(settings, **overrides)
    for col in ("subject", "date", "measure", "value"):
        if col not in measures.columns:
            raise ColumnNotFoundError(
                f"column '{col}' is missing from the measures table",
                column=col,
                expected="columns subject, date, measure, value",
            )
    for name in pd.unique(measures["measure"]):
        get_measure(str(name))
    wk = weekly(measures, settings.aggregation())
    wk["role"] = np.where(wk["valid"], "analysed", "invalid")
    limits = decision_limits(settings)
    rel = _relapse_days(relapses)

    events: list[dict[str, Any]] = []
    learning: list[dict[str, Any]] = []
    gaps: list[dict[str, Any]] = []
    # weekly() returns rows sorted by subject, measure and week: walk the groups by offsets
    subj_arr = wk["subject"].astype(str).to_numpy()
    meas_arr = wk["measure"].astype(str).to_numpy()
    week_arr = wk["week"].to_numpy(dtype="datetime64[D]")
    val_arr = wk["value"].to_numpy(dtype=float)
    ok_arr = wk["valid"].to_numpy(dtype=bool)
    role = wk["role"].to_numpy(dtype=object)
    n = len(wk)
    cut = np.flatnonzero((subj_arr[1:] != subj_arr[:-1]) | (meas_arr[1:] != meas_arr[:-1])) + 1
    bounds = np.concatenate(([0], cut, [n])) if n else np.array([0])
    total = len(bounds) - 1
    for done in range(1, total + 1):
        lo_, hi_ = int(bounds[done - 1]), int(bounds[done])
        subject, mname = subj_arr[lo_], meas_arr[lo_]
        m = get_measure(mname)
        if not m.outcome:
            role[lo_:hi_] = "qualifier"
            continue
        valid_idx = lo_ + np.flatnonzero(ok_arr[lo_:hi_])
        weeks = week_arr[valid_idx]
        gaps.extend(_gaps(subject, mname, weeks))
        w = _judging_scale(m, val_arr[valid_idx])
        start = 0
        if m.practice_effect and settings.practice == "detect" and w.size:
            fit = learning_phase(-w, max_tests=settings.practice_max_tests)
            if fit.detected and fit.end > 0:
                start = min(fit.end, w.size)
                role[valid_idx[:start]] = "learning"
                learning.append(
                    {
                        "subject": subject,
                        "measure": mname,
                        "tests_left_out": start,
                        "learning_end": weeks[start - 1] if start else pd.NaT,
                        "gain_pct": 100.0 * math.expm1(fit.gain)
                        if m.transform == "log"
                        else fit.gain,
                        "tau_tests": fit.tau,
                        "p_value": fit.p_value,
                    }
                )
        wa, weeks_a = w[start:], weeks[start:]
        weekno = ((weeks_a - weeks_a[0]).astype(int) // 7) if weeks_a.size else weeks_a
        for method in settings.methods:
            evs = _run(method, m, wa, weekno, settings, limits)
            for k, ev in enumerate(evs, start=1):
                events.append(
                    _event_row(subject, m, method, k, ev, wa, weeks_a, rel.get(subject), settings)
                )
        if progress is not None:
            progress(done, total)
    wk["role"] = role
    ev = pd.DataFrame(events, columns=EVENT_COLUMNS)
    for c in (
        "onset_date",
        "detected_date",
        "baseline_start",
        "baseline_end",
        "evidence_start",
        "evidence_end",
    ):
        ev[c] = pd.to_datetime(ev[c])
    return DetectionResult(
        events=ev,
        weekly=wk,
        learning=pd.DataFrame(learning, columns=LEARNING_COLUMNS),
        gaps=pd.DataFrame(gaps, columns=GAP_COLUMNS),
        settings=settings,
        limits=limits,
        relapse_flags=bool(rel),
    )


def _run(
    method: str,
    m: Measure,
    w: np.ndarray,
    weekno: np.ndarray,
    s: DetectSettings,
    limits: dict[str, float],
) -> list[det.Event]:
    floor = _sd_floor(m)
    if method == "changepoint":
        return det.changepoint_scan(
            w,
            limits["changepoint"],
            min_baseline=s.min_baseline,
            max_baseline=s.max_baseline,
            min_sustained=s.min_sustained,
            max_post=s.max_post,
            clip=s.clip,
            recent_z=s.recent_z,
            max_drift_z=s.max_drift_z,
            min_shift=_min_shift(m, s),
            sd_floor=floor,
        )
    if method == "cusum":
        return det.cusum_scan(
            w,
            limits["cusum"],
            k=s.cusum_k,
            min_baseline=s.min_baseline,
            min_shift=_min_shift(m, s),
            sd_floor=floor,
        )
    if method == "rolling":
        thr = _threshold_on_scale(m, s.rolling_threshold_pct)
        if math.isnan(thr):
            thr = _identity_threshold(m, w, s.min_baseline, s.rolling_threshold_pct)
        return det.rolling_scan(
            w,
            weekno,
            thr,
            min_baseline=s.min_baseline,
            window=s.rolling_window,
            confirm_weeks=s.confirm_weeks,
        )
    if method == "consecutive":
        thr = _threshold_on_scale(m, s.consecutive_pct)
        if math.isnan(thr):
            thr = _identity_threshold(m, w, s.min_baseline, s.consecutive_pct)
        return det.consecutive_scan(
            w, thr, n_consecutive=s.consecutive_n, min_baseline=s.min_baseline
        )
    raise SettingsError(f"unknown method {method!r}; expected one of {', '.join(METHODS)}")


def _identity_threshold(m: Measure, w: np.ndarray, n: int, pct: float) -> float:
    base = abs(float(np.mean(w[:n]))) if w.size else 0.0
    thr = base * pct / 100.0
    return max(thr, m.sdc or 0.0) if thr > 0 else (m.sdc or _sd_floor(m))


def _relapse_days(relapses: pd.DataFrame | None) -> dict[str, np.ndarray]:
    if relapses is None or relapses.empty:
        return {}
    for col in ("subject", "date"):
        if col not in relapses.columns:
            raise ColumnNotFoundError(
                f"column '{col}' is missing from the relapses table",
                column=col,
                expected="columns subject, date",
            )
    d = pd.to_datetime(relapses["date"]).to_numpy(dtype="datetime64[D]")
    subj = relapses["subject"].astype(str).to_numpy()
    return {s: np.sort(d[subj == s]) for s in np.unique(subj)}


def _event_row(
    subject: str,
    m: Measure,
    method: str,
    k: int,
    ev: det.Event,
    w: np.ndarray,
    weeks: np.ndarray,
    rel: np.ndarray | None,
    s: DetectSettings,
) -> dict[str, Any]:
    base_w = w[ev.base_lo : ev.onset]
    post_w = w[ev.onset : ev.detected + 1]
    base = _from_scale(m, float(base_w.mean()))
    cur = _from_scale(m, float(post_w.mean()))
    shift = float(post_w.mean() - base_w.mean())
    onset = weeks[ev.onset]
    near: bool | None = None
    if rel is not None:
        lag = (onset - rel).astype(int)
        near = bool(np.any((lag >= 0) & (lag <= s.relapse_window_days)))
    return {
        "subject": subject,
        "measure": m.name,
        "method": method,
        "nevent": k,
        "onset_date": onset,
        "detected_date": weeks[ev.detected],
        "baseline_value": base,
        "current_value": cur,
        "unit": m.unit,
        "change_pct": 100.0 * (cur - base) / base if base else float("nan"),
        "change_sdc": (cur - base) / m.sdc if m.sdc else float("nan"),
        "statistic": ev.z,
        "baseline_start": weeks[ev.base_lo],
        "baseline_end": weeks[ev.onset - 1],
        "n_baseline_weeks": int(base_w.size),
        "evidence_start": onset,
        "evidence_end": weeks[ev.detected],
        "n_evidence_weeks": int(post_w.size),
        "weeks_worse": int(np.sum(post_w - base_w.mean() >= 0.5 * shift)),
        "near_relapse": near,
    }


def _gaps(subject: str, measure: str, weeks: np.ndarray) -> list[dict[str, Any]]:
    if weeks.size < 2:
        return []
    step = np.diff(weeks).astype(int) // 7
    out = []
    for i in np.nonzero(step > 2)[0]:
        out.append(
            {
                "subject": subject,
                "measure": measure,
                "gap_start": weeks[i] + np.timedelta64(7, "D"),
                "gap_end": weeks[i + 1] - np.timedelta64(7, "D"),
                "weeks": int(step[i] - 1),
            }
        )
    return out
