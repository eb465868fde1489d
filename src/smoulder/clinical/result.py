"""The result of a progression analysis: tables, settings, a methods paragraph and plots.

:class:`ProgressionResult` follows :class:`smoulder._result.AnalysisResult`: ``settings``,
``version``, ``summary`` (one row per subject), :meth:`~ProgressionResult.methods`,
:meth:`~ProgressionResult.tables`, :meth:`~ProgressionResult.plot`, and
:meth:`~smoulder._result.AnalysisResult.write`, which hands the result to
:mod:`smoulder.pipelines.progression` (engines never write files).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pandas as pd

from smoulder._result import AnalysisResult
from smoulder.clinical.settings import ProgressionSettings
from smoulder.schema._columns import ids_as_text

#: Columns of the events table, in the order they are written.
EVENT_COLUMNS = [
    "subject",
    "nevent",
    "event_type",
    "cdw_type",
    "pirma",
    "baseline_date",
    "baseline_value",
    "event_date",
    "event_value",
    "confirmation_date",
    "confirmation_value",
    "time_to_event_days",
    "baseline_to_event_days",
    "sustained_days",
    "sustained_to_last",
    "imputed",
    "last_delta_date",
    "last_delta_value",
    "pira_confirmation_date",
    "pira_confirmation_value",
]

#: Columns of the table of changes that were never confirmed (``return_unconfirmed``; msprog's
#: ``unconfirmed``: date, value, bl_date, bl_value, closest_rel_before, closest_rel_after).
UNCONFIRMED_COLUMNS = [
    "subject",
    "baseline_date",
    "baseline_value",
    "date",
    "value",
    "days_since_relapse",
    "days_to_next_relapse",
]

_OUTCOME_LABEL = {
    "edss": "EDSS",
    "t25fw": "timed 25-foot walk (T25FW)",
    "nhpt": "9-hole peg test (9HPT)",
    "sdmt": "SDMT",
    "custom": "the outcome",
}


def confirmation_window_words(days: float, lo: float, hi: float) -> str:
    """One confirmation window in words a reader can check against the settings.

    Examples
    --------
    >>> confirmation_window_words(84, 77, 814.5)
    'at a visit 84 days after the event, give or take: a visit from 77 days (84 - 7) to 814.5 days (84 + 730.5) after the event was accepted'
    >>> confirmation_window_words(84, 77, float("inf"))
    'at a visit 84 days after the event, give or take: a visit 77 days (84 - 7) or more after the event was accepted'
    """
    head = f"at a visit {days:g} days after the event, give or take: a visit "
    low = f"{lo:g} days ({days:g} - {days - lo:g})"
    if np.isinf(hi):
        return head + f"{low} or more after the event was accepted"
    return (
        head + f"from {low} to {hi:g} days ({days:g} + {hi - days:g}) after the event was accepted"
    )


def _relapse_free_windows(ri: dict[str, Any]) -> list[str]:
    """The relapse-free windows of ``relapse_indep`` in words ("from 90 days before to 30 days
    after the event"); an open end (None) joins a window to the next checkpoint's."""
    names = {
        "prec": "the baseline" if ri["prec_type"] == "baseline" else "the visit before the event",
        "event": "the event",
        "conf": "the confirmation",
    }
    segments: list[tuple[tuple[Any, str], tuple[Any, str]]] = []
    open_start: tuple[Any, str] | None = None
    for key in ("prec", "event", "conf"):
        a, b = ri[key]
        if a == 0 and b == 0:
            continue
        start = open_start if (a is None and open_start is not None) else (a, names[key])
        if b is None:
            open_start = start
            continue
        segments.append((start, (b, names[key])))
        open_start = None
    if open_start is not None:
        segments.append((open_start, (None, "the confirmation")))
    out = []
    for (a, at), (b, bt) in segments:
        if at == bt and a not in (None, 0) and b not in (None, 0):
            out.append(f"from {a:g} days before to {b:g} days after {at}")
        elif at == bt and a == 0 and b not in (None, 0):
            out.append(f"in the {b:g} days after {at}")
        elif at == bt and b == 0 and a not in (None, 0):
            out.append(f"in the {a:g} days before {at}")
        else:
            first = "any time before" if a is None else at if a == 0 else f"{a:g} days before {at}"
            last = (
                f"any time after {bt}" if b is None else bt if b == 0 else f"{b:g} days after {bt}"
            )
            out.append(f"from {first} to {last}")
    return out


def relapse_rule_sentences(s: ProgressionSettings) -> list[str]:
    """How relapses entered the analysis, one short sentence per rule.

    Examples
    --------
    >>> from smoulder.clinical import make_settings
    >>> s = make_settings(pira_definition="mueller2023")
    >>> for line in relapse_rule_sentences(s):
    ...     print(line)
    Baseline and confirmation visits within 30 days after a relapse onset were not used.
    A worsening was relapse-associated (RAW) when its event visit fell within 90 days after a relapse onset.
    A worsening was PIRA when no relapse began from 90 days before to 30 days after the event, nor from 90 days before to 30 days after the confirmation.
    The remaining worsening events were left undefined.
    """
    bl, conf = s.relapse_to_bl[0], s.relapse_to_conf[0]
    if bl == conf:
        out = [
            f"Baseline and confirmation visits within {bl:g} days after a relapse onset were not used."
        ]
    else:
        out = [
            f"Baseline visits within {bl:g} days after a relapse onset were not used, nor "
            f"confirmation visits within {conf:g} days after one."
        ]
    if s.relapse_to_event[0]:
        out.append(
            f"Event visits within {s.relapse_to_event[0]:g} days after a relapse onset were ignored."
        )
    if s.relapse_rebl:
        out.append("The baseline was re-set after each relapse.")
    if s.rawpira:
        out.append(
            "A worsening was relapse-associated (RAW) when its event visit fell within "
            f"{s.relapse_assoc[0]:g} days after a relapse onset."
        )
        windows = _relapse_free_windows(s.relapse_indep)
        out.append(
            "A worsening was PIRA when no relapse began "
            + (", nor ".join(windows) if windows else "at any time")
            + "."
        )
        out.append("The remaining worsening events were left undefined.")
    return out


def shadow_properties(cls: type) -> type:
    """Let a dataclass field named like a property of :class:`AnalysisResult` (``summary``) hold
    its value: the property of the base class would otherwise refuse the assignment.

    Declare such a field as ``summary: pd.DataFrame = field()`` (so that the dataclass does not
    take the base class's property for its default) and decorate the class with this after
    ``@dataclass``.
    """
    for name in getattr(cls, "__dataclass_fields__", {}):
        if isinstance(getattr(AnalysisResult, name, None), property) and name not in cls.__dict__:
            setattr(cls, name, None)
    return cls


@shadow_properties
@dataclass
class ProgressionResult(AnalysisResult):
    """Events and per-subject summary of one outcome, with the settings that produced them.

    Attributes
    ----------
    events : DataFrame
        One row per event (see :data:`EVENT_COLUMNS`; per-window confirmation
        columns ``conf<days>_date`` are added when several windows are used).
    summary : DataFrame
        One row per subject, with counts of each event type and follow-up.
    settings : ProgressionSettings
        The options used; ``settings.to_toml()`` reproduces the analysis.
    ingest : IngestReport or None
        How many input rows were used, corrected or rejected, and why.
    version : str
        smoulder version that produced the result.
    visits, relapses, mri_activity : DataFrame or None
        The validated inputs (for plots).
    unconfirmed : DataFrame or None
        With ``return_unconfirmed``: every change from a baseline that was never confirmed
        (see :data:`UNCONFIRMED_COLUMNS`).
    files : dict
        The files a pipeline wrote the result to, by name (empty when none).
    """

    pipeline: ClassVar[str] = "smoulder.pipelines.progression"

    events: pd.DataFrame
    summary: pd.DataFrame = field()
    settings: ProgressionSettings
    ingest: Any = None
    version: str = ""
    visits: pd.DataFrame | None = field(default=None, repr=False)
    relapses: pd.DataFrame | None = field(default=None, repr=False)
    mri_activity: pd.DataFrame | None = field(default=None, repr=False)
    unconfirmed: pd.DataFrame | None = field(default=None, repr=False)
    files: dict[str, Path] = field(default_factory=dict, repr=False)

    # ------------------------------------------------------------------ text
    def counts(self) -> dict[str, int]:
        """Headline counts: subjects, events of each kind, subjects with each kind."""
        s = self.summary
        return {
            "subjects": int(len(s)),
            "visits": int(s["n_visits"].sum()),
            "cdw_events": int(s["n_cdw"].sum()),
            "cdi_events": int(s["n_cdi"].sum()),
            "pira_events": int(s["n_pira"].sum()),
            "raw_events": int(s["n_raw"].sum()),
            "undefined_cdw_events": int(s["n_undefined"].sum()),
            "pirma_events": int(s["n_pirma"].sum()),
            "subjects_with_cdw": int((s["n_cdw"] > 0).sum()),
            "subjects_with_pira": int((s["n_pira"] > 0).sum()),
            "subjects_with_raw": int((s["n_raw"] > 0).sum()),
            "subjects_with_cdi": int((s["n_cdi"] > 0).sum()),
        }

    def tables(self) -> dict[str, pd.DataFrame]:
        """``events``, ``summary`` and (with ``return_unconfirmed``) ``unconfirmed``."""
        out = {"events": self.events, "summary": self.summary}
        if self.unconfirmed is not None:
            out["unconfirmed"] = self.unconfirmed
        return out

    def methods(self) -> str:
        """A methods-section paragraph describing exactly what was computed."""
        return self.methods_paragraph()

    def methods_paragraph(self) -> str:
        """A methods-section paragraph describing exactly what was computed (see :meth:`methods`)."""
        s = self.settings
        mc = s.minimal_change()
        out = _OUTCOME_LABEL[s.outcome]
        windows = ", and ".join(
            confirmation_window_words(c, lo, hi)
            for c, (lo, hi) in zip(s.conf_days, s.windows(), strict=True)
        )
        which = {
            "firstCDW": "the first confirmed disability worsening (CDW)",
            "firstCDI": "the first confirmed disability improvement (CDI)",
            "first": "the first confirmed event (CDW or CDI)",
            "firstPIRA": "the first progression independent of relapse activity (PIRA)",
            "firstRAW": "the first relapse-associated worsening (RAW)",
            "multiple": "all confirmed events in chronological order",
        }[s.event]
        base = {
            "fixed": "a fixed baseline (the first eligible visit)",
            "roving": "a roving baseline, moved after each confirmed event",
            "roving_impr": "a baseline moved after each confirmed improvement",
            "roving_wors": "a baseline moved after each confirmed worsening",
        }[s.baseline]
        txt = [
            f"Disability course was assessed on {out} with smoulder {self.version} "
            f"(msprog framework; Montobbio et al., Mult Scler 2024), detecting {which}, using {base}"
            + (
                " placed at the "
                + ("first confirmation visit" if s.proceed_from == "firstconf" else "event visit")
                if s.baseline != "fixed"
                else ""
            )
            + ".",
            f"A meaningful change was {mc.describe()}.",
            f"Changes had to be confirmed {windows}. The change had to hold "
            + (
                "at every visit between the event and the confirmation"
                if s.check_intermediate
                else "at the confirmation visit (visits in between were not checked)"
            )
            + ".",
        ]
        if s.require_sust_days > 0:
            txt.append(
                "Events were retained only if sustained "
                + (
                    "until the end of follow-up"
                    if np.isinf(s.require_sust_days)
                    else f"for at least {s.require_sust_days:g} days"
                )
                + "."
            )
        txt += relapse_rule_sentences(s)
        if s.rawpira:
            if self.mri_activity is not None:
                txt.append(
                    "PIRA events with no new/enlarging T2 or gadolinium-enhancing lesions on scans in the same "
                    "windows were labelled PIRMA (unknown when no scan fell between baseline and confirmation)."
                )
        if s.outcome == "edss":
            txt.append(
                f"EDSS thresholds followed the {'consensus' if s.edss_half_step_from == 6.0 else 'msprog'} convention "
                f"(0.5-point change counted from a baseline of {s.edss_half_step_from:g})."
            )
        return " ".join(txt)

    def report_text(self) -> str:
        """A short human-readable report (Markdown)."""
        c = self.counts()
        lines = [
            f"# Disability progression: {_OUTCOME_LABEL[self.settings.outcome]}",
            "",
            f"- subjects: {c['subjects']:,}; visits used: {c['visits']:,}",
            f"- confirmed worsening events (CDW): {c['cdw_events']:,} in {c['subjects_with_cdw']:,} subjects",
        ]
        if self.settings.rawpira:
            pct = (100.0 * c["pira_events"] / c["cdw_events"]) if c["cdw_events"] else float("nan")
            lines += [
                f"  - PIRA: {c['pira_events']:,} ({pct:.1f} % of CDW) in {c['subjects_with_pira']:,} subjects",
                f"  - RAW: {c['raw_events']:,}; undefined: {c['undefined_cdw_events']:,}",
            ]
            if self.mri_activity is not None:
                lines.append(f"  - PIRMA (PIRA without MRI activity): {c['pirma_events']:,}")
        if self.settings.event in ("firstCDI", "first", "multiple"):
            lines.append(f"- confirmed improvement events (CDI): {c['cdi_events']:,}")
        if self.ingest is not None:
            lines += ["", "## Input", "", str(self.ingest)]
        lines += [
            "",
            "## Methods",
            "",
            self.methods_paragraph(),
            "",
            f"Settings: see the settings file written beside this report (smoulder {self.version}).",
        ]
        return "\n".join(lines) + "\n"

    def __str__(self) -> str:  # pragma: no cover - convenience
        return self.report_text()

    # ------------------------------------------------------------------ tables and plots
    def events_for_output(self) -> pd.DataFrame:
        """The events table as it is written to files (subject ids as text)."""
        ev = self.events.copy()
        ev["subject"] = ids_as_text(ev["subject"])
        return ev

    def summary_for_output(self) -> pd.DataFrame:
        """The summary table as it is written to files (subject ids as text)."""
        sm = self.summary.copy()
        sm["subject"] = ids_as_text(sm["subject"])
        return sm

    def plotted_subjects(self, max_subjects: int = 12) -> list[str]:
        """The first ``max_subjects`` subjects with an event, in the order of the events table."""
        if not len(self.events):
            return []
        codes = pd.unique(self.events["subject"].cat.codes.to_numpy())[:max_subjects]
        cats = self.events["subject"].cat.categories
        return [str(cats[c]) for c in codes]

    def plot(
        self,
        kind: str = "trajectories",
        *,
        subjects: list[str] | None = None,
        max_subjects: int = 12,
        min_at_risk: int = 10,
    ) -> Any:
        """Draw the trajectories of subjects with events, or the Kaplan-Meier curve of the first
        event; returns the matplotlib Figure (nothing is saved).

        Parameters
        ----------
        kind : {"trajectories", "km"}
            Small multiples of each subject's values with baselines, events, confirmations and
            relapses marked; or the time to the first event of the analysed kind.
        subjects : list of str, optional
            Subjects to draw (default: the first ``max_subjects`` with an event).
        max_subjects : int
            How many subjects at most (a figure shows a dozen, whatever the cohort's size).
        min_at_risk : int
            ``"km"``: each curve stops where fewer than this many subjects remain at risk.

        Returns
        -------
        matplotlib.figure.Figure or None
            None when there is nothing to draw (no events, or no visits kept).
        """
        from smoulder.clinical.plots import plot_trajectories
        from smoulder.clinical.survival import kaplan_meier, time_to_first_event

        if kind == "km":
            event_kind = {"firstCDI": "CDI", "firstPIRA": "PIRA", "firstRAW": "RAW"}.get(
                self.settings.event, "CDW"
            )
            tte = time_to_first_event(self.events, self.summary, kind=event_kind)
            km = kaplan_meier(tte, label=event_kind, min_at_risk=min_at_risk) if len(tte) else None
            return km.plot() if km is not None else None
        if kind != "trajectories":
            raise ValueError(f"kind must be 'trajectories' or 'km' (got {kind!r})")
        if self.visits is None or not len(self.events):
            return None
        chosen = subjects if subjects is not None else self.plotted_subjects(max_subjects)
        vis = _rows_of(self.visits, chosen)
        ev = _rows_of(self.events, chosen)
        ev = ev.assign(subject=ev["subject"].astype(str))
        rel = _rows_of(self.relapses, chosen) if self.relapses is not None else None
        label = {"edss": "EDSS", "t25fw": "T25FW", "nhpt": "9HPT", "sdmt": "SDMT"}.get(
            self.settings.outcome, "value"
        )
        total = int(self.events["subject"].nunique())
        return plot_trajectories(vis, ev, rel, chosen, outcome_label=label, total=total)


def _rows_of(table: pd.DataFrame, subjects: list[str]) -> pd.DataFrame:
    """The rows of ``subjects`` (by category code when ids are categorical: no string copies)."""
    col = table["subject"]
    if isinstance(col.dtype, pd.CategoricalDtype):
        wanted = col.cat.categories.get_indexer(pd.Index(subjects, dtype=object))
        mask = np.isin(col.cat.codes.to_numpy(), wanted[wanted >= 0])
    else:
        mask = col.astype(str).isin(subjects).to_numpy()
    return table.loc[mask]
