"""Detection of sustained subtle worsening in phone, wearable and home-test data.

:func:`detect` takes the validated long table (``subject, date, measure, value``), summarises each
person's measures by week (:mod:`smoulder.digital.aggregate`), leaves out the learning phase of
home tests (:mod:`smoulder.digital.practice`), and runs one or more detectors
(:mod:`smoulder.digital.detectors`) on each person and measure. The result holds one row per
detected sustained worsening, with its estimated onset, the date it was detected, the baseline
and current levels, the change in % and in units of the measure's detectable change, and the
weeks that are the evidence, plus the weekly series, the learning phases and the gaps.

Examples
--------
>>> from smoulder.synth.digital import simulate_weekly_tests
>>> from smoulder.digital import detect
>>> data, truth = simulate_weekly_tests(
...     n_subjects=6, decline_pct=25, decline_share=1.0, dip_rate=0, seed=2
... )
>>> res = detect(data)
>>> sorted(res.events["subject"].unique()) == sorted(truth["subject"])
True
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, ValidationError

from smoulder import __version__
from smoulder.digital import detectors as det
from smoulder.digital.aggregate import AggregationSettings, weekly
from smoulder.schema.catalogue import Measure, get_measure
from smoulder.digital.practice import learning_phase
from smoulder.exceptions import ColumnNotFoundError, SettingsError

__all__ = ["DetectSettings", "DetectionResult", "detect", "EVENT_COLUMNS", "METHODS"]

METHODS = ("changepoint", "cusum", "rolling", "consecutive")
Method = Literal["changepoint", "cusum", "rolling", "consecutive"]

EVENT_COLUMNS = [
    "subject",
    "measure",
    "method",
    "nevent",
    "onset_date",
    "detected_date",
    "baseline_value",
    "current_value",
    "unit",
    "change_pct",
    "change_sdc",
    "statistic",
    "baseline_start",
    "baseline_end",
    "n_baseline_weeks",
    "evidence_start",
    "evidence_end",
    "n_evidence_weeks",
    "weeks_worse",
    "near_relapse",
]


class DetectSettings(BaseModel):
    """Settings of a digital worsening analysis, validated and serialisable.

    Parameters
    ----------
    methods : list of {"changepoint", "cusum", "rolling", "consecutive"}
        Detectors to run; ``changepoint`` is the default and recommended one.
    alpha : float
        False-alarm probability per 52 weekly values for a stable person (changepoint, cusum).
    min_baseline : int
        Weeks of data needed before a change can be judged.
    max_baseline : int
        At most this many weeks before the onset form the baseline (a rolling baseline).
    min_sustained : int
        Weeks a change must have lasted before it counts as sustained (changepoint).
    max_post : int
        Onsets are looked for within this many weeks before the current week.
    clip : float
        Weeks since onset count at most this many noise SDs above baseline (winsorised mean).
    recent_z, max_drift_z : float
        Sustained-change checks: each half of the weeks since onset must be worse than baseline
        by ``recent_z`` and the halves may differ by at most ``max_drift_z``.
    min_change_pct : float
        Smallest change reported for ratio-scale measures, in %.
    min_change_sdc : float
        Smallest change reported for score measures, in units of the measure's smallest
        detectable change (when the catalogue has one).
    cusum_k : float
        CUSUM reference value in noise SDs.
    rolling_threshold_pct, rolling_window, confirm_weeks : float, int, int
        Rolling rule: worsening of the median of the last ``rolling_window`` tests by at least
        the threshold, confirmed at least ``confirm_weeks`` later.
    consecutive_pct, consecutive_n : float, int
        Consecutive rule: ``consecutive_n`` tests in a row at least ``consecutive_pct`` % worse.
    practice : {"detect", "none"}
        Find and leave out the learning phase of home tests with practice effects.
    practice_max_tests : int
        Longest learning phase allowed.
    relapse_window_days : float
        An event whose onset lies within this many days after a relapse onset is flagged
        ``near_relapse`` (the digital analogue of relapse-associated worsening).
    min_wear_hours, min_steps_per_day, min_valid_days : float, float, int
        Wear and missingness rules of the weekly aggregation.
    calibration_sims, seed : int
        Monte-Carlo simulations (and their seed) that calibrate the decision limits.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    methods: tuple[Method, ...] = ("changepoint",)
    alpha: float = 0.05
    min_baseline: int = 8
    max_baseline: int = 52
    min_sustained: int = 12
    max_post: int = 52
    clip: float = 1.25
    recent_z: float = 1.5
    max_drift_z: float = 1.5
    min_change_pct: float = 5.0
    min_change_sdc: float = 0.5
    cusum_k: float = 0.5
    rolling_threshold_pct: float = 10.0
    rolling_window: int = 4
    confirm_weeks: int = 12
    consecutive_pct: float = 15.0
    consecutive_n: int = 2
    practice: Literal["detect", "none"] = "detect"
    practice_max_tests: int = 40
    relapse_window_days: float = 90.0
    min_wear_hours: float = 10.0
    min_steps_per_day: float = 500.0
    min_valid_days: int = 4
    calibration_sims: int = 2000
    seed: int = 0

    def model_post_init(self, __context: Any) -> None:
        checks = [
            (0 < self.alpha < 0.5, "alpha", "a probability between 0 and 0.5"),
            (self.min_baseline >= 3, "min_baseline", "an integer >= 3"),
            (self.max_baseline >= self.min_baseline, "max_baseline", ">= min_baseline"),
            (self.min_sustained >= 2, "min_sustained", "an integer >= 2"),
            (self.max_post >= self.min_sustained, "max_post", ">= min_sustained"),
            (self.clip > 0, "clip", "a positive number of SDs"),
            (self.min_change_pct >= 0, "min_change_pct", ">= 0"),
            (self.consecutive_n >= 1, "consecutive_n", "an integer >= 1"),
            (0 < self.rolling_threshold_pct < 100, "rolling_threshold_pct", "between 0 and 100"),
            (0 < self.consecutive_pct < 100, "consecutive_pct", "between 0 and 100"),
            (self.calibration_sims >= 200, "calibration_sims", "at least 200"),
            (len(self.methods) > 0, "methods", f"one or more of {', '.join(METHODS)}"),
        ]
        for ok, name, expected in checks:
            if not ok:
                raise SettingsError(
                    f"setting '{name}' must be {expected} (got {getattr(self, name)!r})"
                )
        AggregationSettings(self.min_wear_hours, self.min_steps_per_day, self.min_valid_days)

    @classmethod
    def make(cls, **kwargs: Any) -> DetectSettings:
        """Build settings, turning validation problems into :class:`SettingsError`."""
        try:
            return cls(**kwargs)
        except ValidationError as exc:
            msgs = "; ".join(
                f"setting '{'.'.join(str(p) for p in e['loc'])}': {e['msg']} (got {e.get('input')!r})"
                for e in exc.errors()
            )
            raise SettingsError(msgs) from None

    @property
    def aggregation(self) -> AggregationSettings:
        return AggregationSettings(self.min_wear_hours, self.min_steps_per_day, self.min_valid_days)

    def changepoint_limit(self) -> float:
        """Decision limit of the change-point scan (calibrated by simulation, cached)."""
        return det.changepoint_threshold(
            self.alpha,
            self.min_baseline,
            self.max_baseline,
            self.min_sustained,
            self.max_post,
            self.clip,
            self.recent_z,
            self.max_drift_z,
            self.calibration_sims,
            self.seed,
        )

    def cusum_limit(self) -> float:
        """Decision limit of the CUSUM (calibrated by simulation, cached)."""
        return det.cusum_threshold(
            self.alpha, self.cusum_k, self.min_baseline, self.calibration_sims, self.seed
        )


@dataclass
class DetectionResult:
    """Detected sustained worsening with the weekly evidence.

    Attributes
    ----------
    events : DataFrame
        One row per event (columns :data:`EVENT_COLUMNS`); dates are the Monday of the ISO week.
    weekly : DataFrame
        Every subject, measure and week with data: level, number of valid days or tests,
        whether the week counts, why not, and its role (``learning``, ``analysed``, ``invalid``).
    learning : DataFrame
        Learning phases found in home tests: subject, measure, tests left out, gain, p-value.
    gaps : DataFrame
        Runs of two or more weeks without valid data inside a person's follow-up.
    settings : DetectSettings
    limits : dict
        The calibrated decision limits used.
    """

    events: pd.DataFrame
    weekly: pd.DataFrame
    learning: pd.DataFrame
    gaps: pd.DataFrame
    settings: DetectSettings
    limits: dict[str, float] = field(default_factory=dict)
    version: str = __version__

    @property
    def summary(self) -> pd.DataFrame:
        """One row per subject and measure: weeks analysed, gaps, events by method."""
        w = self.weekly
        base = (
            w.assign(analysed=w["role"] == "analysed")
            .groupby(["subject", "measure"], observed=True)
            .agg(
                first_week=("week", "min"),
                last_week=("week", "max"),
                weeks_analysed=("analysed", "sum"),
            )
            .reset_index()
        )
        if not self.events.empty:
            counts = (
                self.events.groupby(["subject", "measure", "method"], observed=True)
                .size()
                .unstack("method", fill_value=0)
                .add_prefix("events_")
                .reset_index()
            )
            base = base.merge(counts, on=["subject", "measure"], how="left")
        for m in self.settings.methods:
            col = f"events_{m}"
            base[col] = base[col].fillna(0).astype(int) if col in base else 0
        return base

    def settings_dict(self) -> dict[str, Any]:
        return {
            "software": {"name": "smoulder", "version": self.version},
            "analysis": "digital sustained worsening",
            "settings": self.settings.model_dump(mode="json"),
            "decision_limits": self.limits,
        }

    def methods_paragraph(self) -> str:
        """A paragraph for the methods section of a paper."""
        s = self.settings
        lim = self.limits.get("changepoint")
        lim_txt = f" (h = {lim:.2f})" if lim is not None else ""
        return (
            f"Digital measures were summarised by ISO week with smoulder {self.version}; passive "
            f"streams counted on days with at least {s.min_wear_hours:g} h of wear (or, without "
            f"wear data, at least {s.min_steps_per_day:g} steps) and in weeks with at least "
            f"{s.min_valid_days} such days, after removing each person's day-of-week rhythm. "
            f"For home tests with practice effects, the learning phase was estimated by an "
            f"exponential learning curve and left out. Sustained worsening was detected with a "
            f"prospective change-point scan comparing the winsorised mean level since each "
            f"candidate onset (weeks capped at {s.clip:g} noise SDs above baseline) with the "
            f"preceding baseline of {s.min_baseline}-{s.max_baseline} weeks, using the person's "
            f"noise estimated from week-to-week differences; a change had to last at least "
            f"{s.min_sustained} weeks and be present in both halves of that period, and the "
            f"decision limit{lim_txt} was calibrated by simulation for a false-alarm probability "
            f"of {s.alpha:g} per 52 weeks of stable data."
        )

    def write(self, out: str | Path, *, weekly_table: bool = True) -> dict[str, Path]:
        """Write the events table (CSV or Parquet by suffix), settings JSON and weekly table."""
        from smoulder.io.tables import write_table

        out = Path(out)
        out.parent.mkdir(parents=True, exist_ok=True)
        paths = {"events": out}
        write_table(self.events, out)
        stem = out.with_suffix("")
        p = Path(f"{stem}_settings.json")
        p.write_text(
            json.dumps(
                {**self.settings_dict(), "methods_paragraph": self.methods_paragraph()}, indent=2
            )
        )
        paths["settings"] = p
        if weekly_table:
            p = Path(f"{stem}_weekly{out.suffix}")
            write_table(self.weekly, p)
            paths["weekly"] = p
            p = Path(f"{stem}_gaps{out.suffix}")
            write_table(self.gaps, p)
            paths["gaps"] = p
        return paths

    def plot(
        self,
        subject: str,
        measure: str,
        *,
        relapses: pd.DataFrame | None = None,
        method: str | None = None,
        ax=None,
    ):
        """Plot one person's weekly measure with baseline band, onsets and relapses."""
        from smoulder.digital.plots import plot_series

        return plot_series(self, subject, measure, relapses=relapses, method=method, ax=ax)


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


def detect(
    measures: pd.DataFrame,
    settings: DetectSettings | None = None,
    *,
    relapses: pd.DataFrame | None = None,
    progress=None,
    **kwargs: Any,
) -> DetectionResult:
    """Detect sustained worsening per person and measure.

    Parameters
    ----------
    measures : DataFrame
        Validated long table with columns ``subject, date, measure, value`` (values in the
        catalogue's canonical units; see :func:`smoulder.io.measures.validate_measures`).
    settings : DetectSettings, optional
        Analysis settings; keyword arguments build them when omitted
        (``detect(df, methods=("changepoint", "cusum"))``).
    relapses : DataFrame, optional
        ``subject, date`` of relapse onsets, to flag events that start soon after a relapse.
    progress : callable, optional
        Called with ``(done, total)`` after each person and measure.

    Returns
    -------
    DetectionResult
    """
    if settings is None:
        settings = DetectSettings.make(**kwargs)
    elif kwargs:
        raise SettingsError("give either a settings object or keyword settings, not both")
    for col in ("subject", "date", "measure", "value"):
        if col not in measures.columns:
            raise ColumnNotFoundError(
                f"column '{col}' is missing from the measures table",
                column=col,
                expected="columns subject, date, measure, value",
            )
    for name in pd.unique(measures["measure"]):
        get_measure(str(name))
    wk = weekly(measures, settings.aggregation)
    wk["role"] = np.where(wk["valid"], "analysed", "invalid")
    limits: dict[str, float] = {}
    if "changepoint" in settings.methods:
        limits["changepoint"] = settings.changepoint_limit()
    if "cusum" in settings.methods:
        limits["cusum"] = settings.cusum_limit()
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
        learning=pd.DataFrame(
            learning,
            columns=[
                "subject",
                "measure",
                "tests_left_out",
                "learning_end",
                "gain_pct",
                "tau_tests",
                "p_value",
            ],
        ),
        gaps=pd.DataFrame(gaps, columns=["subject", "measure", "gap_start", "gap_end", "weeks"]),
        settings=settings,
        limits=limits,
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
