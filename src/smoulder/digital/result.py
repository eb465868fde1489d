"""The result of a digital worsening analysis (:func:`smoulder.digital.detect`).

:class:`DetectionResult` follows the one result pattern of smoulder
(:class:`smoulder._result.AnalysisResult`): it holds the tables, the settings and the version,
says in :meth:`~DetectionResult.methods` what was run (the detectors that actually ran, their
parameters and the calibrated decision limits), draws one person's series with
:meth:`~DetectionResult.plot`, and is written by :mod:`smoulder.pipelines.digital`
(:meth:`~DetectionResult.write`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar

import pandas as pd

from smoulder import __version__
from smoulder._result import AnalysisResult
from smoulder.digital.settings import DetectSettings
from smoulder.schema.catalogue import MEASURES

if TYPE_CHECKING:  # pragma: no cover
    from matplotlib.axes import Axes

__all__ = ["EVENT_COLUMNS", "LEARNING_COLUMNS", "GAP_COLUMNS", "DetectionResult"]

#: Columns of the events table, one row per detected sustained worsening.
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
#: Columns of the learning-phase table.
LEARNING_COLUMNS = [
    "subject",
    "measure",
    "tests_left_out",
    "learning_end",
    "gain_pct",
    "tau_tests",
    "p_value",
]
#: Columns of the gaps table.
GAP_COLUMNS = ["subject", "measure", "gap_start", "gap_end", "weeks"]


@dataclass
class DetectionResult(AnalysisResult):
    """Detected sustained worsening with the weekly evidence.

    Attributes
    ----------
    events : DataFrame
        One row per event (columns :data:`EVENT_COLUMNS`); dates are the Monday of the ISO week.
    weekly : DataFrame
        Every subject, measure and week with data: level, number of valid days or tests,
        whether the week counts, why not, and its role (``learning``, ``analysed``, ``invalid``,
        ``qualifier`` for helper streams such as wear time).
    learning : DataFrame
        Learning phases found in home tests: subject, measure, tests left out, gain, p-value.
    gaps : DataFrame
        Runs of two or more weeks without valid data inside a person's follow-up.
    settings : DetectSettings
        The settings of the run.
    limits : dict
        The calibrated decision limits used, by detector (``changepoint``, ``cusum``).
    version : str
        The smoulder version that computed the result.
    relapse_flags : bool
        Whether relapse onsets were given, so that ``near_relapse`` was judged.
    inputs : dict, optional
        The input report of the table the pipeline read (rows read, used, corrected and why);
        written into the settings file.
    """

    pipeline: ClassVar[str] = "smoulder.pipelines.digital"

    events: pd.DataFrame
    weekly: pd.DataFrame
    learning: pd.DataFrame
    gaps: pd.DataFrame
    settings: DetectSettings
    limits: dict[str, float] = field(default_factory=dict)
    version: str = __version__
    relapse_flags: bool = False
    inputs: dict[str, Any] | None = None

    @property
    def summary(self) -> pd.DataFrame:
        """One row per subject and measure: weeks analysed, first and last week, events by method."""
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

    def tables(self) -> dict[str, pd.DataFrame]:
        """Every table of the result by name: events, weekly, learning, gaps and summary."""
        return {
            "events": self.events,
            "weekly": self.weekly,
            "learning": self.learning,
            "gaps": self.gaps,
            "summary": self.summary,
        }

    def provenance(self) -> dict[str, Any]:
        """Software, analysis, every setting and the decision limits (the settings file's head)."""
        return {
            "software": {"name": "smoulder", "version": self.version},
            "analysis": "digital sustained worsening",
            "settings": self.settings.to_dict(),
            "decision_limits": self.limits,
        }

    def _analysed(self) -> list[str]:
        """Catalogue names of the measures judged for worsening (helper streams left out)."""
        w = self.weekly
        if w.empty:
            return []
        names = pd.unique(w.loc[w["role"] != "qualifier", "measure"].astype(str))
        return [str(n) for n in names if str(n) in MEASURES]

    def methods(self) -> str:
        """A paragraph for the methods section of a paper: what ran, with its parameters.

        It describes the weekly summary of the kinds of measures that were analysed, the
        learning-phase rule when it applied, and each detector that ran, with its parameters and
        calibrated decision limit, in the order of ``settings.methods``.
        """
        s = self.settings
        measures = [MEASURES[n] for n in self._analysed()]
        passive = any(m.kind == "passive" for m in measures)
        tests = any(m.kind != "passive" for m in measures)
        clauses = []
        if passive or not measures:
            clauses.append(
                f"passive streams counted on days with at least {s.min_wear_hours:g} h of wear "
                f"(or, without wear data, at least {s.min_steps_per_day:g} steps) and in weeks "
                f"with at least {s.min_valid_days} such days, after removing each person's "
                "day-of-week rhythm"
            )
        if tests:
            clauses.append("home tests and questionnaires by the median of each week's results")
        out = [
            f"Digital measures were summarised by ISO week with smoulder {self.version}; "
            + " and ".join(clauses)
            + "."
        ]
        if s.practice == "detect" and any(m.practice_effect for m in measures):
            out.append(
                "For home tests with practice effects, the learning phase was estimated by an "
                f"exponential learning curve (at most {s.practice_max_tests} tests) and left out"
                f" ({len(self.learning)} learning phases found)."
            )
        parts = [self._describe(m) for m in s.methods]
        detectors = parts[0] if len(parts) == 1 else "; ".join(parts[:-1]) + "; and " + parts[-1]
        many = " Each detector was run on its own; events are listed by detector." * (
            len(parts) > 1
        )
        out.append(f"Sustained worsening was detected with {detectors}.{many}")
        if self.relapse_flags:
            out.append(
                f"Events with an onset within {s.relapse_window_days:g} days after a relapse "
                "onset were flagged as near a relapse."
            )
        return " ".join(out)

    def _limit(self, method: str) -> str:
        lim = self.limits.get(method)
        return f" (h = {lim:.2f})" if lim is not None else ""

    def _describe(self, method: str) -> str:
        """One detector, with its parameters, in the words of a methods section."""
        s = self.settings
        if method == "changepoint":
            return (
                "a prospective change-point scan comparing the winsorised mean level since each "
                f"candidate onset (weeks capped at {s.clip:g} noise SDs above baseline) with the "
                f"preceding baseline of {s.min_baseline}-{s.max_baseline} weeks, using the "
                "person's noise estimated from week-to-week differences; a change had to last at "
                f"least {s.min_sustained} weeks and be present in both halves of that period, and "
                f"the decision limit{self._limit('changepoint')} was calibrated by simulation for "
                f"a false-alarm probability of {s.alpha:g} per 52 weeks of stable data (onsets "
                f"looked for within the last {s.max_post} weeks; each half at least "
                f"{s.recent_z:g} SDs worse than baseline, the halves differing by at most "
                f"{s.max_drift_z:g} SDs; changes of at least {s.min_change_pct:g} % for ratio "
                f"measures and {s.min_change_sdc:g} smallest detectable changes for scores with a "
                "published one)"
            )
        if method == "cusum":
            return (
                "a one-sided standardised CUSUM against the mean of the first "
                f"{s.min_baseline} weeks with reference value k = {s.cusum_k:g} noise SDs and a "
                f"decision limit{self._limit('cusum')} calibrated by simulation for a "
                f"false-alarm probability of {s.alpha:g} per 52 weeks of stable data, restarted "
                "after each event"
            )
        if method == "rolling":
            return (
                f"a rolling rule: the median of the last {s.rolling_window} weekly values at "
                f"least {s.rolling_threshold_pct:g} % worse than the baseline median of the "
                f"first {s.min_baseline} weeks and still so at least {s.confirm_weeks} weeks "
                "later, with the median of the weeks in between also worse (the digital analogue "
                "of confirmed disability worsening; the baseline moves to the confirmed level "
                "after each event)"
            )
        return (
            f"the consecutive-tests rule: {s.consecutive_n} weekly values in a row each at least "
            f"{s.consecutive_pct:g} % worse than the mean of the first {s.min_baseline} weeks "
            "(the first such run only)"
        )

    def plot(
        self,
        subject: str,
        measure: str,
        *,
        relapses: pd.DataFrame | None = None,
        method: str | None = None,
        ax: Axes | None = None,
    ) -> Axes:
        """Plot one person's weekly measure with baseline band, onsets, gaps and relapses.

        Parameters
        ----------
        subject, measure : str
            Which series to draw.
        relapses : DataFrame, optional
            ``subject, date`` of relapse onsets, drawn as orange lines.
        method : str, optional
            Only events of this detector (default: all).
        ax : matplotlib Axes, optional
            Where to draw (default: a new figure).

        Returns
        -------
        matplotlib Axes
        """
        from smoulder.digital.plots import plot_series

        return plot_series(self, subject, measure, relapses=relapses, method=method, ax=ax)
