"""Composite confirmed disability worsening (EDSS-plus).

The composite event is the first confirmed worsening in any of its components
(by default EDSS, timed 25-foot walk and 9-hole peg test, as in Kappos et al.,
JAMA Neurol 2020 for OPERA I/II). Each component is assessed with the same
settings, except the outcome; the composite keeps the earliest component event
and its PIRA/RAW class. When two components worsen on the same day the event
lists both and takes the class of the first in component order.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from smoulder.clinical.progression import make_settings, run_validated
from smoulder.clinical.result import ProgressionResult
from smoulder.clinical.settings import ProgressionSettings


@dataclass
class CompositeResult:
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
    """

    components: dict[str, ProgressionResult]
    events: pd.DataFrame
    summary: pd.DataFrame


def composite_cdw(
    components: dict[str, pd.DataFrame],
    relapses: pd.DataFrame | None = None,
    mri_activity: pd.DataFrame | None = None,
    settings: ProgressionSettings | dict[str, Any] | None = None,
    **options: Any,
) -> CompositeResult:
    """First confirmed worsening in any component outcome.

    Parameters
    ----------
    components : dict
        Outcome name (``edss``, ``t25fw``, ``nhpt``, ``sdmt``) to a validated
        visits table of that outcome (``subject``, ``date``, ``value``,
        ``validconf``); the order gives the tie-break.
    relapses, mri_activity : DataFrame, optional
        Validated relapse and MRI-activity tables.
    settings, options
        Shared settings; ``outcome`` is set per component and ``event`` is
        forced to ``firstCDW`` unless a roving search for ``firstPIRA`` is
        wanted (``event="firstPIRA"``).
    """
    base = make_settings(settings, **options)
    event = base.event if base.event in ("firstCDW", "firstPIRA", "firstRAW") else "firstCDW"
    results: dict[str, ProgressionResult] = {}
    rows = []
    firsts = []
    for order, (outcome, vis) in enumerate(components.items()):
        s = make_settings(
            base, outcome=outcome, event=event, edss_half_step_from=base.edss_half_step_from
        )
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
    return CompositeResult(
        components=results, events=events.reset_index(drop=True), summary=summary
    )
