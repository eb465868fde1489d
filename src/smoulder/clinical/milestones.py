"""Confirmed disability milestones, such as EDSS >= 6 reached and confirmed.

A milestone is reached at the first visit whose value is at or beyond the
milestone (``>=`` when higher is worse, ``<=`` when lower is worse), at least
``relapse_to_event`` days after a relapse, and confirmed at a visit inside a
confirmation window (not within ``relapse_to_conf`` days after a relapse, and a
valid confirmation visit), with every visit in between also at or beyond it
when ``check_intermediate`` is true. With ``require_sust_days`` the value must
stay at or beyond the milestone for that many days (or to the end with inf).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pandas as pd
from numba import njit

from smoulder import _compiled
from smoulder._result import AnalysisResult
from smoulder.clinical._rules import first_after
from smoulder.clinical.progression import _events_by_subject, _group_offsets, _to_days
from smoulder.clinical.result import shadow_properties
from smoulder.clinical.settings import ProgressionSettings
from smoulder.exceptions import SettingsError

__all__ = ["MilestoneSettings", "MilestoneResult", "confirmed_milestone", "check_milestone"]

#: the values a milestone of each outcome can take, and their description
_MILESTONE_RULES = {
    "edss": (lambda x: 0 <= x <= 10 and x * 2 == round(x * 2), "one of 0, 0.5, 1.0, ..., 10"),
    "t25fw": (lambda x: 0 < x <= 180, "seconds greater than 0 and at most 180"),
    "nhpt": (lambda x: 0 < x <= 300, "seconds greater than 0 and at most 300"),
    "sdmt": (lambda x: 0 <= x <= 110, "points from 0 to 110"),
}


def check_milestone(value: float, outcome: str, *, name: str = "milestone") -> float:
    """Refuse a milestone the outcome cannot take (EDSS -3, 11 or 6.3); return it as a float.

    Parameters
    ----------
    value : float
        The milestone.
    outcome : str
        ``edss``, ``t25fw``, ``nhpt``, ``sdmt`` or ``custom`` (any finite number).
    name : str
        How the caller calls the value in messages (``--milestone`` on the command line).

    Raises
    ------
    SettingsError
        Naming the value, the outcome and the values it can take.
    """
    x = float(value)
    ok, expected = _MILESTONE_RULES.get(str(outcome).lower(), (lambda _x: True, "a number"))
    if not np.isfinite(x) or not ok(x):
        label = str(outcome).upper() if outcome != "custom" else "outcome"
        err = SettingsError(f"{name} {x:g} is not a possible {label} value; expected {expected}")
        err.parameter, err.given = "milestone", value
        raise err
    return x


class MilestoneSettings(ProgressionSettings):
    """Settings of a confirmed milestone: the value to reach and the confirmation options.

    Parameters
    ----------
    milestone : float
        The value to reach (default EDSS 6.0, a walking aid); refused when the outcome cannot
        take it (EDSS -3, 11 or 6.3).
    **options
        The confirmation options of :class:`~smoulder.clinical.settings.ProgressionSettings`
        that apply: ``outcome``/``direction``, ``conf_days``, ``conf_tol_days``,
        ``check_intermediate``, ``require_sust_days``, ``relapse_to_event``,
        ``relapse_to_conf``.
    """

    section: ClassVar[str] = "milestones"

    milestone: float = 6.0

    def _check_consistent(self) -> None:
        super()._check_consistent()
        check_milestone(self.milestone, self.outcome)


@shadow_properties
@dataclass
class MilestoneResult(AnalysisResult):
    """First confirmed reach of a milestone, per subject.

    Attributes
    ----------
    summary : DataFrame
        One row per subject: ``subject``, ``reached``, ``event_date``, ``event_value``,
        ``confirmation_date``, ``duration_days`` (first visit to the milestone, or to the last
        visit when not reached).
    settings : MilestoneSettings
    version : str
    """

    pipeline: ClassVar[str] = "smoulder.pipelines.milestones"

    summary: pd.DataFrame = field()
    settings: MilestoneSettings = field(default_factory=MilestoneSettings)
    version: str = ""
    files: dict[str, Path] = field(default_factory=dict, repr=False)

    def tables(self) -> dict[str, pd.DataFrame]:
        """``milestone``: the per-subject table."""
        return {"milestone": self.summary}

    def methods(self) -> str:
        """A methods paragraph stating the milestone and how it had to be confirmed."""
        s = self.settings
        worse = s.minimal_change().direction > 0
        label = {"edss": "EDSS", "t25fw": "T25FW", "nhpt": "9HPT", "sdmt": "SDMT"}.get(
            s.outcome, "the outcome"
        )
        windows = ", ".join(
            f"{c:g} days (from {lo:g} to {hi:g} days after)"
            for c, (lo, hi) in zip(s.conf_days, s.windows(), strict=True)
        )
        text = (
            f"A confirmed milestone of {label} {'≥' if worse else '≤'} {s.milestone:g} was the "
            f"first visit at or beyond it, computed with smoulder {self.version}, confirmed after "
            f"{windows}"
            + (" with every visit in between also at or beyond it" if s.check_intermediate else "")
            + f"; event visits within {s.relapse_to_event[0]:g} days and confirmation visits "
            f"within {s.relapse_to_conf[0]:g} days after a relapse onset were not used."
        )
        if s.require_sust_days > 0:
            text += " The value had to stay at or beyond the milestone " + (
                "to the end of follow-up."
                if np.isinf(s.require_sust_days)
                else f"for {s.require_sust_days:g} days."
            )
        n = int(self.summary["reached"].sum())
        return text + f" {n:,} of {len(self.summary):,} subjects reached it."

    def plot(self, ax: Any = None) -> Any:
        """The Kaplan-Meier curve of the time to the milestone; returns the Figure."""
        from smoulder.clinical.survival import kaplan_meier

        tte = self.summary.rename(columns={"reached": "event"})
        label = f"{self.settings.outcome.upper()} {self.settings.milestone:g}"
        return kaplan_meier(tte[["subject", "duration_days", "event"]], label=label).plot(ax=ax)


@njit(cache=True)
def _beyond(x, m, dirn):
    return x >= m if dirn > 0 else x <= m


@njit(cache=True)
def _milestone_scan(offsets, t, v, vc, rel_off, rel, lo, hi, m, dirn, rte0, rtc0, sust, check_int):  # noqa: E501  # pragma: no cover
    nsub = offsets.shape[0] - 1
    ev = np.empty(nsub, dtype=np.int64)
    cf = np.empty(nsub, dtype=np.int64)
    ev[:] = -1
    cf[:] = -1
    for s in range(nsub):
        a = offsets[s]
        b = offsets[s + 1]
        r = rel[rel_off[s] : rel_off[s + 1]]
        for c in range(a, b):
            if not _beyond(v[c], m, dirn):
                continue
            # days since the last relapse onset on or before the visit
            j = first_after(r, t[c])
            if j > 0 and t[c] - r[j - 1] < rte0:
                continue
            conf = -1
            for x in range(c + 1, b):
                dt = t[x] - t[c]
                inwin = False
                for k in range(lo.shape[0]):
                    if lo[k] <= dt <= hi[k]:
                        inwin = True
                if not inwin or not vc[x]:
                    continue
                jx = first_after(r, t[x])
                if jx > 0 and t[x] - r[jx - 1] < rtc0:
                    continue
                conf = x
                break
            if conf < 0:
                continue
            ok = True
            if check_int:
                for x in range(c + 1, conf + 1):
                    if not _beyond(v[x], m, dirn):
                        ok = False
                        break
            else:
                ok = _beyond(v[conf], m, dirn)
            if ok and sust > 0:
                for x in range(conf + 1, b):
                    if t[x] - t[c] > sust:
                        break
                    if not _beyond(v[x], m, dirn):
                        ok = False
                        break
            if ok:
                ev[s] = c
                cf[s] = conf
                break
    return ev, cf


def confirmed_milestone(
    visits: pd.DataFrame,
    milestone: float | None = None,
    relapses: pd.DataFrame | None = None,
    settings: ProgressionSettings | Mapping[str, Any] | None = None,
    **options: Any,
) -> MilestoneResult:
    """First confirmed reach of a milestone for each subject.

    Parameters
    ----------
    visits : DataFrame
        Validated visits (``subject``, ``date``, ``value``, optional ``validconf``),
        one row per subject and day, as returned by :mod:`smoulder.io.tables`.
    milestone : float, optional
        The value to reach, e.g. 6.0 for EDSS 6 (walking aid); default the settings' (6.0).
    relapses : DataFrame, optional
        Validated relapses (``subject``, ``date``).
    settings, options
        Confirmation settings (``conf_days``, ``conf_tol_days``,
        ``check_intermediate``, ``require_sust_days``, ``relapse_to_event``,
        ``relapse_to_conf``, ``outcome`` / ``direction``).

    Returns
    -------
    DataFrame
        One row per subject: ``subject``, ``reached`` (bool), ``event_date``,
        ``event_value``, ``confirmation_date``, ``duration_days`` (first visit
        to the milestone, or to the last visit when not reached — ready for
        survival analysis).

    Examples
    --------
    >>> v = pd.DataFrame(
    ...     {
    ...         "subject": ["a"] * 4,
    ...         "value": [5.0, 6.0, 6.5, 6.0],
    ...         "date": pd.to_datetime(["2020-01-01", "2020-06-01", "2020-12-01", "2021-06-01"]),
    ...     }
    ... )
    >>> res = confirmed_milestone(v, 6.0)
    >>> res.summary[["reached", "event_date"]].astype(str).values.tolist()
    [['True', '2020-06-01']]
    """
    from smoulder import __version__

    s = _milestone_settings(settings, milestone, **options)
    milestone = s.milestone
    mc = s.minimal_change()
    v = visits.sort_values(["subject", "date"], kind="stable")
    codes, cats = pd.factorize(v["subject"].astype(str), sort=True)
    categories = pd.Index(cats)
    days = _to_days(v["date"].to_numpy())
    vals = v["value"].to_numpy(dtype=np.float64)
    vc = v["validconf"].to_numpy(dtype=bool) if "validconf" in v else np.ones(len(v), dtype=bool)
    offsets = _group_offsets(codes.astype(np.int64), len(categories))
    rel_off, rel_days = _events_by_subject(relapses, categories)
    win = s.windows()
    lo = np.array([w[0] for w in win], dtype=np.float64)
    hi = np.array([w[1] for w in win], dtype=np.float64)
    sust = s.require_sust_days
    scan = _interpreted() if _compiled.interpreting(_milestone_scan, len(days)) else _milestone_scan
    with np.errstate(all="ignore"):  # interpreted on a new machine: as silent as compiled
        ev, cf = scan(
            offsets,
            days.astype(np.float64),
            vals,
            vc,
            rel_off,
            rel_days,
            lo,
            hi,
            float(milestone),
            mc.direction,
            s.relapse_to_event[0],
            s.relapse_to_conf[0],
            np.inf if np.isinf(sust) else sust,
            s.check_intermediate,
        )
    reached = ev >= 0
    first = days[offsets[:-1]]
    last = days[offsets[1:] - 1]
    dates = days.astype("datetime64[D]").astype("datetime64[ns]")
    nat = np.datetime64("NaT", "ns")
    table = pd.DataFrame(
        {
            "subject": categories,
            "reached": reached,
            "event_date": np.where(reached, dates[np.maximum(ev, 0)], nat),
            "event_value": np.where(reached, vals[np.maximum(ev, 0)], np.nan),
            "confirmation_date": np.where(reached, dates[np.maximum(cf, 0)], nat),
            "duration_days": np.where(
                reached, days[np.maximum(ev, 0)] - first, last - first
            ).astype(np.float64),
        }
    )
    return MilestoneResult(summary=table, settings=s, version=__version__)


def _milestone_settings(
    settings: ProgressionSettings | Mapping[str, Any] | None,
    milestone: float | None,
    **options: Any,
) -> MilestoneSettings:
    if isinstance(settings, ProgressionSettings):
        data: dict[str, Any] = settings.model_dump()
    elif isinstance(settings, Mapping):
        data = dict(settings.get("milestones", settings.get("progression", settings)))
    else:
        data = {}
    return MilestoneSettings.from_mapping(data, milestone=milestone, **options)


@lru_cache(maxsize=1)
def _interpreted() -> Any:
    """``_milestone_scan`` as plain Python (a new machine, a small input: no compiling)."""
    from smoulder.clinical import _rules, milestones

    return _compiled.twin(_rules, milestones)["smoulder.clinical.milestones"]._milestone_scan
