"""The result of a progression analysis: tables, settings, a report and plots."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from smoulder.clinical.settings import ProgressionSettings
from smoulder.io.tables import write_table

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

_OUTCOME_LABEL = {
    "edss": "EDSS",
    "t25fw": "timed 25-foot walk (T25FW)",
    "nhpt": "9-hole peg test (9HPT)",
    "sdmt": "SDMT",
    "custom": "the outcome",
}


def _fmt_days(x: float) -> str:
    return "no upper limit" if np.isinf(x) else f"{x:g}"


@dataclass
class ProgressionResult:
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
    """

    events: pd.DataFrame
    summary: pd.DataFrame
    settings: ProgressionSettings
    ingest: Any = None
    version: str = ""
    visits: pd.DataFrame | None = field(default=None, repr=False)
    relapses: pd.DataFrame | None = field(default=None, repr=False)
    mri_activity: pd.DataFrame | None = field(default=None, repr=False)

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

    def methods_paragraph(self) -> str:
        """A methods-section paragraph describing exactly what was computed."""
        s = self.settings
        mc = s.minimal_change()
        out = _OUTCOME_LABEL[s.outcome]
        windows = ", ".join(
            f"{c:g} days (accepted from {lo:g} to {_fmt_days(hi)} days after the event)"
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
            f"Changes had to be confirmed after {windows}"
            + (
                ", at every intermediate visit"
                if s.check_intermediate
                else ", at the confirmation visit only"
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
        txt.append(
            f"Baseline visits within {s.relapse_to_bl[0]:g} days after a relapse onset and confirmation visits "
            f"within {s.relapse_to_conf[0]:g} days after a relapse onset were not used"
            + (
                f"; event visits within {s.relapse_to_event[0]:g} days after a relapse were ignored"
                if s.relapse_to_event[0]
                else ""
            )
            + (" and the baseline was reset after each relapse" if s.relapse_rebl else "")
            + "."
        )
        if s.rawpira:
            ri = s.relapse_indep
            parts = []
            for key, name in (
                (
                    "prec",
                    "the baseline" if ri["prec_type"] == "baseline" else "the preceding visit",
                ),
                ("event", "the event"),
                ("conf", "the confirmation"),
            ):
                a, b = ri[key]
                if a is None or b is None:
                    continue
                if a == 0 and b == 0:
                    continue
                parts.append(f"from {a:g} days before to {b:g} days after {name}")
            txt.append(
                f"Worsening events were classified as relapse-associated (RAW) when the event visit fell within "
                f"{s.relapse_assoc[0]:g} days after a relapse onset, and as PIRA when no relapse occurred "
                + ("; ".join(parts) if parts else "in the defined windows")
                + "; the remaining events were undefined."
            )
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

    # ------------------------------------------------------------------ files
    def write(
        self, out: str | Path, *, plots: bool = True, max_trajectory_plots: int = 12
    ) -> dict[str, Path]:
        """Write events, summary, settings, report and plots next to ``out``.

        ``out`` is the events file (``.csv`` or ``.parquet``); the others are
        named from its stem: ``<stem>_summary.csv``, ``<stem>_settings.toml``,
        ``<stem>_settings.json``, ``<stem>_report.md`` and, with ``plots``,
        ``<stem>_km.png`` and ``<stem>_trajectories.png``.
        """
        out = Path(out)
        out.parent.mkdir(parents=True, exist_ok=True)
        stem = out.with_suffix("")
        paths: dict[str, Path] = {"events": out}
        ev = self.events_for_output()
        sm = self.summary_for_output()
        write_table(ev, out)
        paths["summary"] = Path(f"{stem}_summary{out.suffix}")
        write_table(sm, paths["summary"])
        paths["settings"] = Path(f"{stem}_settings.toml")
        paths["settings"].write_text(self.settings.to_toml(), encoding="utf-8")
        paths["settings_json"] = Path(f"{stem}_settings.json")
        meta = {
            "smoulder_version": self.version,
            "settings": self.settings.to_plain(),
            "counts": self.counts(),
        }
        if self.ingest is not None and hasattr(self.ingest, "to_dict"):
            meta["input"] = self.ingest.to_dict()
        paths["settings_json"].write_text(json.dumps(meta, indent=2, default=str), encoding="utf-8")
        paths["report"] = Path(f"{stem}_report.md")
        paths["report"].write_text(self.report_text(), encoding="utf-8")
        if plots:
            paths.update(self.write_plots(stem, max_trajectory_plots=max_trajectory_plots))
        return paths

    def events_for_output(self) -> pd.DataFrame:
        """The events table with ISO dates and lower-case booleans, as written to files."""
        ev = self.events.copy()
        ev["subject"] = ev["subject"].astype(str)
        return ev

    def summary_for_output(self) -> pd.DataFrame:
        sm = self.summary.copy()
        sm["subject"] = sm["subject"].astype(str)
        return sm

    def write_plots(self, stem: Path, *, max_trajectory_plots: int = 12) -> dict[str, Path]:
        """Kaplan–Meier curve of the first event and trajectories of subjects with events."""
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        from smoulder.clinical.plots import plot_trajectories
        from smoulder.clinical.survival import kaplan_meier, time_to_first_event

        paths: dict[str, Path] = {}
        kind = {"firstCDI": "CDI", "firstPIRA": "PIRA", "firstRAW": "RAW"}.get(
            self.settings.event, "CDW"
        )
        tte = time_to_first_event(self.events, self.summary, kind=kind)
        if len(tte):
            km = kaplan_meier(tte, label=kind)
            fig = km.plot()
            paths["km_plot"] = Path(f"{stem}_km.png")
            fig.savefig(paths["km_plot"], dpi=110, bbox_inches="tight")
            plt.close(fig)
        if self.visits is not None and len(self.events):
            subjects = list(pd.unique(self.events["subject"].astype(str)))[:max_trajectory_plots]
            vis = self.visits[self.visits["subject"].astype(str).isin(subjects)]
            rel = self.relapses
            fig = plot_trajectories(vis, self.events_for_output(), rel, subjects)
            paths["trajectories_plot"] = Path(f"{stem}_trajectories.png")
            fig.savefig(paths["trajectories_plot"], dpi=90, bbox_inches="tight")
            plt.close(fig)
        return paths
