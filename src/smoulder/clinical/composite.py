"""Composite confirmed disability worsening (EDSS-plus).

The composite event is the first confirmed worsening in any of its components
(by default EDSS, timed 25-foot walk and 9-hole peg test, as in Kappos et al.,
JAMA Neurol 2020 for OPERA I/II). Each component is assessed with the same
settings, except the outcome; the composite keeps the earliest component event
and its PIRA/RAW class. When two components worsen on the same day the event
lists both and takes the class of the first in component order.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pandas as pd
from pydantic import field_validator

from smoulder._result import AnalysisResult
from smoulder.clinical.choices import COMPONENT_OUTCOMES, ComponentOutcome
from smoulder.clinical.progression import run_validated
from smoulder.clinical.result import ProgressionResult, shadow_properties
from smoulder.clinical.settings import ProgressionSettings
from smoulder.exceptions import SettingsError

__all__ = ["CompositeSettings", "CompositeResult", "composite_cdw", "COMPONENT_LABELS"]

#: How the methods paragraph names each component.
COMPONENT_LABELS = {
    "edss": "EDSS",
    "t25fw": "timed 25-foot walk (T25FW)",
    "nhpt": "9-hole peg test (9HPT)",
    "sdmt": "SDMT",
}


class CompositeSettings(ProgressionSettings):
    """Settings of the composite: the progression options shared by every component, and the
    components in tie-break order.

    ``outcome`` is not used: each component is assessed as its own outcome. ``event`` is
    ``firstCDW`` unless ``firstPIRA`` or ``firstRAW`` is asked for (a roving search for the first
    event of that type in each component).

    Parameters
    ----------
    components : tuple of {"edss", "t25fw", "nhpt", "sdmt"}
        Default EDSS, T25FW, 9HPT (Kappos et al. 2020).
    **options
        Every option of :class:`~smoulder.clinical.settings.ProgressionSettings`.
    """

    section: ClassVar[str] = "composite"

    components: tuple[ComponentOutcome, ...] = ("edss", "t25fw", "nhpt")

    @field_validator("components", mode="before")
    @classmethod
    def _components(cls, v: Any) -> Any:
        vals = [v] if isinstance(v, str) else list(v)
        if not vals:
            raise SettingsError("components needs at least one outcome (got [])")
        bad = [x for x in vals if x not in COMPONENT_OUTCOMES]
        if bad:
            raise SettingsError(
                "components must be among "
                + ", ".join(repr(c) for c in COMPONENT_OUTCOMES)
                + f" (got {vals!r})"
            )
        if len(set(vals)) != len(vals):
            raise SettingsError(f"components has repeated outcomes (got {vals!r})")
        return tuple(vals)

    def for_component(self, outcome: str) -> ProgressionSettings:
        """The progression settings of one component."""
        data = self.model_dump()
        data.pop("components")
        data["outcome"] = outcome
        if data["event"] not in ("firstCDW", "firstPIRA", "firstRAW"):
            data["event"] = "firstCDW"
        return ProgressionSettings(**data)


@shadow_properties
@dataclass
class CompositeResult(AnalysisResult):
    """Per-component results and the composite first event per subject.

    Attributes
    ----------
    components : dict[str, ProgressionResult]
        One result per component outcome.
    events : DataFrame
        One row per subject with a composite event: ``subject``,
        ``event_date``, ``components`` (e.g. ``"edss"`` or ``"edss+t25fw"``),
        ``cdw_type``, ``pirma``, ``time_to_event_days`` (from the subject's
        first visit in any component).
    summary : DataFrame
        One row per subject: ``subject``, ``follow_up_days``, ``event``
        (bool), ``time_to_event_days`` — ready for survival analysis.
    settings : CompositeSettings
    version : str
    """

    pipeline: ClassVar[str] = "smoulder.pipelines.composite"

    components: dict[str, ProgressionResult]
    events: pd.DataFrame
    summary: pd.DataFrame = field()
    settings: CompositeSettings = field(default_factory=CompositeSettings)
    version: str = ""
    files: dict[str, Path] = field(default_factory=dict, repr=False)

    def tables(self) -> dict[str, pd.DataFrame]:
        """``events`` (one row per subject with a composite event) and ``summary``."""
        return {"events": self.events, "summary": self.summary}

    def methods(self) -> str:
        """A methods paragraph: the composite rule, then how each component was assessed."""
        names = [COMPONENT_LABELS[c] for c in self.settings.components]
        listed = ", ".join(names[:-1]) + (" or " if len(names) > 1 else "") + names[-1]
        first = next(iter(self.components.values()), None)
        kind = {"firstPIRA": "PIRA", "firstRAW": "RAW"}.get(self.settings.event, "CDW")
        text = (
            f"The composite endpoint (EDSS-plus; Kappos et al., JAMA Neurol 2020) was the first "
            f"confirmed {kind} in any of {listed}, computed with smoulder {self.version}; when "
            "several components worsened on the same day, the event lists all of them and takes "
            "the classification of the first in that order."
        )
        if first is not None:
            text += " Each component was assessed as follows. " + first.methods()
        return text

    def plot(self, ax: Any = None) -> Any:
        """The Kaplan-Meier curve of the time to the composite event; returns the Figure."""
        from smoulder.clinical.survival import kaplan_meier

        tte = self.summary.rename(columns={"time_to_event_days": "duration_days"})
        km = kaplan_meier(tte[["subject", "duration_days", "event"]], label="composite CDW")
        return km.plot(ax=ax)


def composite_cdw(
    components: dict[str, pd.DataFrame],
    relapses: pd.DataFrame | None = None,
    mri_activity: pd.DataFrame | None = None,
    settings: ProgressionSettings | Mapping[str, Any] | None = None,
    **options: Any,
) -> CompositeResult:
    """First confirmed worsening in any component outcome.

    Parameters
    ----------
    components : dict
        Outcome name (``edss``, ``t25fw``, ``nhpt``, ``sdmt``) to a visits table of that
        outcome (``subject``, ``date``, ``value``, optional ``validconf``) as
        :func:`smoulder.schema.tables.validate_visits` returns it; the order gives the tie-break.
    relapses, mri_activity : DataFrame, optional
        Validated relapse and MRI-activity tables.
    settings, options
        Shared settings (:class:`CompositeSettings`, or progression settings); ``outcome`` is
        set per component and ``event`` is forced to ``firstCDW`` unless a roving search for
        ``firstPIRA`` is wanted (``event="firstPIRA"``). The components are the keys of
        ``components``.

    Returns
    -------
    CompositeResult

    Examples
    --------
    >>> import pandas as pd
    >>> days = pd.to_datetime(["2020-01-01", "2020-04-10", "2020-07-19", "2020-10-27"])
    >>> edss = pd.DataFrame({"subject": "p1", "date": days, "value": [2.0, 2.0, 3.0, 3.0]})
    >>> walk = pd.DataFrame({"subject": "p1", "date": days, "value": [5.0, 6.0, 6.0, 6.0]})
    >>> res = composite_cdw({"edss": edss, "t25fw": walk})
    >>> res.events[["event_date", "components"]].astype(str).values.tolist()
    [['2020-04-10', 't25fw']]
    """
    base = _composite_settings(settings, list(components), **options)
    results: dict[str, ProgressionResult] = {}
    rows = []
    firsts = []
    for order, (outcome, vis) in enumerate(components.items()):
        s = base.for_component(outcome)
        res = run_validated(vis, relapses, mri_activity, s)
        results[outcome] = res
        ev = res.events
        ev = ev[ev["event_type"] == "CDW"]
        if len(ev):
            first_ev = (
                ev.sort_values(["subject", "event_date"]).groupby("subject", observed=True).head(1)
            )
            rows.append(
                pd.DataFrame(
                    {
                        "subject": first_ev["subject"].astype(str).to_numpy(),
                        "event_date": first_ev["event_date"].to_numpy(),
                        "component": outcome,
                        "order": order,
                        "cdw_type": first_ev["cdw_type"].to_numpy(),
                        "pirma": first_ev["pirma"].to_numpy(),
                    }
                )
            )
        sm = res.summary
        firsts.append(
            pd.DataFrame(
                {
                    "subject": sm["subject"].astype(str).to_numpy(),
                    "first": sm["first_visit_date"].to_numpy(),
                    "last": sm["last_visit_date"].to_numpy(),
                }
            )
        )
    span = pd.concat(firsts).groupby("subject").agg(first=("first", "min"), last=("last", "max"))
    if rows:
        allev = pd.concat(rows, ignore_index=True).sort_values(["subject", "event_date", "order"])
        earliest = allev.groupby("subject")["event_date"].transform("min")
        tied = allev[allev["event_date"] == earliest]
        comp = tied.groupby("subject")["component"].agg("+".join)
        head = tied.groupby("subject").head(1).set_index("subject")
        events = pd.DataFrame(
            {
                "subject": head.index,
                "event_date": head["event_date"].to_numpy(),
                "components": comp.reindex(head.index).to_numpy(),
                "cdw_type": head["cdw_type"].to_numpy(),
                "pirma": pd.array(head["pirma"].to_numpy(), dtype="boolean"),
            }
        )
        events["time_to_event_days"] = (
            events["event_date"] - span.loc[events["subject"], "first"].to_numpy()
        ).dt.days.astype(float)
    else:
        events = pd.DataFrame(
            columns=[
                "subject",
                "event_date",
                "components",
                "cdw_type",
                "pirma",
                "time_to_event_days",
            ]
        )
    summary = pd.DataFrame(
        {
            "subject": span.index.to_numpy(),
            "follow_up_days": (span["last"] - span["first"]).dt.days.astype(float).to_numpy(),
        }
    )
    hit = (
        events.set_index("subject")["time_to_event_days"] if len(events) else pd.Series(dtype=float)
    )
    summary["event"] = summary["subject"].isin(hit.index)
    summary["time_to_event_days"] = np.where(
        summary["event"],
        summary["subject"].map(hit).to_numpy(dtype=float),
        summary["follow_up_days"],
    )
    from smoulder import __version__

    return CompositeResult(
        components=results,
        events=events.reset_index(drop=True),
        summary=summary,
        settings=base,
        version=__version__,
    )


def _composite_settings(
    settings: ProgressionSettings | Mapping[str, Any] | None, components: list[str], **options: Any
) -> CompositeSettings:
    if isinstance(settings, ProgressionSettings):
        data: dict[str, Any] = settings.model_dump()
    elif isinstance(settings, Mapping):
        data = dict(settings.get("composite", settings.get("progression", settings)))
    else:
        data = {}
    data["components"] = components
    return CompositeSettings.from_mapping(data, **options)
