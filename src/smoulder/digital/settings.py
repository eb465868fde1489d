"""Settings of the digital pillar: weekly aggregation and detection of sustained worsening.

Both follow the one settings pattern of smoulder (:class:`smoulder._params.Settings`): frozen,
validated on construction (a bad value raises :class:`~smoulder.exceptions.SettingsError` naming
the parameter, the allowed values and what was given), and written to and read from TOML or JSON
exactly. The command line restates the parameter as its flag (``alpha`` -> ``--alpha``).

Examples
--------
>>> from smoulder.digital.settings import DetectSettings
>>> s = DetectSettings(methods=("changepoint", "cusum"), alpha=0.01)
>>> s.methods, s.aggregation().min_valid_days
(('changepoint', 'cusum'), 4)
>>> DetectSettings(alpha=0.7)
Traceback (most recent call last):
...
smoulder.exceptions.SettingsError: alpha must be a probability between 0 and 0.5 (got 0.7)
>>> DetectSettings.from_toml(s.to_toml()) == s
True
"""

from __future__ import annotations

from typing import Any, ClassVar, Literal

from pydantic import ValidationInfo, field_validator

from smoulder._params import Settings
from smoulder.exceptions import SettingsError

__all__ = ["METHODS", "Method", "AggregationSettings", "DetectSettings"]

#: The detectors of sustained worsening, in the order they are described.
METHODS = ("changepoint", "cusum", "rolling", "consecutive")
Method = Literal["changepoint", "cusum", "rolling", "consecutive"]


def _check(ok: bool, name: str, expected: str, value: Any) -> None:
    if not ok:
        raise SettingsError(f"{name} must be {expected} (got {value!r})")


class AggregationSettings(Settings):
    """Wear and missingness rules of :func:`smoulder.digital.aggregate.daily` and ``weekly``.

    Parameters
    ----------
    min_wear_hours : float
        A wear-dependent daily total (steps, flights, walking distance) counts on days with at
        least this many hours of wear, when the table has ``wear_hours`` for that day (0 to 24).
    min_steps_per_day : float
        Without wear data, a step-count day below this many steps is taken as not worn.
    min_valid_days : int
        A week of a passive stream counts with at least this many valid days (1 to 7).
    remove_weekly_rhythm : bool
        Remove each person's day-of-week rhythm from passive streams before weeks are summarised.
    """

    section: ClassVar[str] = "aggregation"

    min_wear_hours: float = 10.0
    min_steps_per_day: float = 500.0
    min_valid_days: int = 4
    remove_weekly_rhythm: bool = True

    @field_validator("min_wear_hours")
    @classmethod
    def _wear(cls, v: float) -> float:
        _check(0 <= v <= 24, "min_wear_hours", "between 0 and 24", v)
        return v

    @field_validator("min_steps_per_day")
    @classmethod
    def _steps(cls, v: float) -> float:
        _check(v >= 0, "min_steps_per_day", ">= 0", v)
        return v

    @field_validator("min_valid_days")
    @classmethod
    def _days(cls, v: int) -> int:
        _check(1 <= v <= 7, "min_valid_days", "an integer from 1 to 7", v)
        return v


class DetectSettings(Settings):
    """Settings of a digital worsening analysis (frozen, validated, serialisable).

    Parameters
    ----------
    methods : tuple of {"changepoint", "cusum", "rolling", "consecutive"}
        Detectors to run, each on its own (a single name is accepted too); ``changepoint`` is
        the default and recommended one.
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
        Wear and missingness rules of the weekly aggregation (see :class:`AggregationSettings`).
    calibration_sims, seed : int
        Monte-Carlo simulations (and their seed) that calibrate the decision limits.
    """

    section: ClassVar[str] = "digital"

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

    @field_validator("methods", mode="before")
    @classmethod
    def _methods(cls, v: Any) -> Any:
        names = (v,) if isinstance(v, str) else v
        allowed = "one or more of " + ", ".join(repr(m) for m in METHODS)
        if not isinstance(names, (list, tuple)) or not names:
            raise SettingsError(f"methods must be {allowed} (got {v!r})")
        for m in names:
            _check(m in METHODS, "methods", allowed, m)
        _check(len(set(names)) == len(names), "methods", "each detector named once", list(names))
        return tuple(names)

    @field_validator("alpha")
    @classmethod
    def _alpha(cls, v: float) -> float:
        _check(0 < v < 0.5, "alpha", "a probability between 0 and 0.5", v)
        return v

    @field_validator("min_baseline")
    @classmethod
    def _min_baseline(cls, v: int) -> int:
        _check(v >= 3, "min_baseline", "an integer >= 3", v)
        return v

    @field_validator("max_baseline")
    @classmethod
    def _max_baseline(cls, v: int, info: ValidationInfo) -> int:
        lo = info.data.get("min_baseline", 3)
        _check(v >= lo, "max_baseline", f">= min_baseline ({lo})", v)
        return v

    @field_validator("min_sustained")
    @classmethod
    def _min_sustained(cls, v: int) -> int:
        _check(v >= 2, "min_sustained", "an integer >= 2", v)
        return v

    @field_validator("max_post")
    @classmethod
    def _max_post(cls, v: int, info: ValidationInfo) -> int:
        lo = info.data.get("min_sustained", 2)
        _check(v >= lo, "max_post", f">= min_sustained ({lo})", v)
        return v

    @field_validator("clip")
    @classmethod
    def _clip(cls, v: float) -> float:
        _check(v > 0, "clip", "a positive number of SDs", v)
        return v

    @field_validator("recent_z", "min_change_pct", "min_change_sdc", "cusum_k")
    @classmethod
    def _non_negative(cls, v: float, info: ValidationInfo) -> float:
        _check(v >= 0, str(info.field_name), ">= 0", v)
        return v

    @field_validator("max_drift_z")
    @classmethod
    def _drift(cls, v: float) -> float:
        _check(v > 0, "max_drift_z", "a positive number of SDs", v)
        return v

    @field_validator("rolling_threshold_pct", "consecutive_pct")
    @classmethod
    def _percent(cls, v: float, info: ValidationInfo) -> float:
        _check(0 < v < 100, str(info.field_name), "between 0 and 100 (%)", v)
        return v

    @field_validator("rolling_window", "confirm_weeks", "consecutive_n")
    @classmethod
    def _at_least_one(cls, v: int, info: ValidationInfo) -> int:
        _check(v >= 1, str(info.field_name), "an integer >= 1", v)
        return v

    @field_validator("practice_max_tests", "seed")
    @classmethod
    def _count(cls, v: int, info: ValidationInfo) -> int:
        _check(v >= 0, str(info.field_name), "an integer >= 0", v)
        return v

    @field_validator("relapse_window_days")
    @classmethod
    def _relapse_window(cls, v: float) -> float:
        _check(v >= 0, "relapse_window_days", ">= 0 days", v)
        return v

    @field_validator("min_wear_hours")
    @classmethod
    def _wear(cls, v: float) -> float:
        _check(0 <= v <= 24, "min_wear_hours", "between 0 and 24", v)
        return v

    @field_validator("min_steps_per_day")
    @classmethod
    def _steps(cls, v: float) -> float:
        _check(v >= 0, "min_steps_per_day", ">= 0", v)
        return v

    @field_validator("min_valid_days")
    @classmethod
    def _days(cls, v: int) -> int:
        _check(1 <= v <= 7, "min_valid_days", "an integer from 1 to 7", v)
        return v

    @field_validator("calibration_sims")
    @classmethod
    def _sims(cls, v: int) -> int:
        _check(v >= 200, "calibration_sims", "at least 200", v)
        return v

    def aggregation(self) -> AggregationSettings:
        """The weekly aggregation rules these settings imply."""
        return AggregationSettings(
            min_wear_hours=self.min_wear_hours,
            min_steps_per_day=self.min_steps_per_day,
            min_valid_days=self.min_valid_days,
        )
