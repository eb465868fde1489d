"""Plots of a person's digital measure over time (matplotlib, works headless)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from smoulder.exceptions import SettingsError
from smoulder.schema.catalogue import get_measure
from smoulder.schema.palette import colour

if TYPE_CHECKING:  # pragma: no cover
    from smoulder.digital.result import DetectionResult

__all__ = ["plot_series"]


def plot_series(
    result: DetectionResult,
    subject: str,
    measure: str,
    *,
    relapses: pd.DataFrame | None = None,
    method: str | None = None,
    ax=None,
):
    """Weekly levels with the learning phase, baseline band, detected onsets and relapses.

    Parameters
    ----------
    result : DetectionResult
    subject, measure : str
        Which series to draw.
    relapses : DataFrame, optional
        ``subject, date`` of relapse onsets, drawn in the palette's relapse colour.
    method : str, optional
        Only events of this method (default: all).
    ax : matplotlib Axes, optional

    Returns
    -------
    matplotlib Axes
    """
    import matplotlib.pyplot as plt

    w = result.weekly
    g = w[(w["subject"].astype(str) == str(subject)) & (w["measure"] == measure)]
    if g.empty:
        raise SettingsError(f"no weekly data for this subject and measure '{measure}'")
    m = get_measure(measure)
    # the palette's colours: the same as on the person page and in the PDF report
    line, base, decline = colour(measure), colour("device_baseline"), colour("digital_decline")
    if ax is None:
        _, ax = plt.subplots(figsize=(9, 3.6))
    for role, style in (
        ("analysed", dict(color=line, marker="o", ms=3.5, lw=0.8)),
        (
            "learning",
            dict(color="#9aa5b1", marker="o", ms=3.5, lw=0, label="learning phase (left out)"),
        ),
    ):
        gg = g[g["role"] == role]
        if not gg.empty:
            # one row per calendar week so that the line breaks at gaps instead of bridging them
            full = pd.date_range(gg["week"].min(), gg["week"].max(), freq="7D")
            gg = gg.set_index("week").reindex(full).rename_axis("week").reset_index()
            ax.plot(gg["week"], gg["value"], label=style.pop("label", "weekly level"), **style)
    ev = result.events
    ev = ev[(ev["subject"].astype(str) == str(subject)) & (ev["measure"] == measure)]
    if method is not None:
        ev = ev[ev["method"] == method]
    for i, row in enumerate(ev.itertuples(index=False)):
        ax.axvspan(
            row.baseline_start,
            row.baseline_end + pd.Timedelta(days=6),
            color=base,
            alpha=0.10,
            label="baseline" if i == 0 else None,
        )
        ax.hlines(row.baseline_value, row.baseline_start, row.baseline_end, color=base)
        ax.hlines(row.current_value, row.evidence_start, row.evidence_end, color=decline)
        ax.axvline(
            row.onset_date,
            color=decline,
            ls="--",
            lw=1,
            label="estimated onset" if i == 0 else None,
        )
        ax.axvline(
            row.detected_date, color=decline, ls=":", lw=1, label="detected" if i == 0 else None
        )
        ax.annotate(
            f"{row.change_pct:+.0f}\u00a0%",
            (row.detected_date, row.current_value),
            textcoords="offset points",
            xytext=(4, -12),
            color=decline,
            fontsize=8,
        )
    if relapses is not None and not relapses.empty:
        r = relapses[relapses["subject"].astype(str) == str(subject)]
        for i, d in enumerate(pd.to_datetime(r["date"])):
            ax.axvline(
                d, color=colour("relapse"), lw=2, alpha=0.6, label="relapse" if i == 0 else None
            )
    gaps = result.gaps
    gaps = gaps[(gaps["subject"].astype(str) == str(subject)) & (gaps["measure"] == measure)]
    for i, row in enumerate(gaps.itertuples(index=False)):
        ax.axvspan(
            row.gap_start,
            row.gap_end + pd.Timedelta(days=6),
            color="#bbbbbb",
            alpha=0.25,
            hatch="//",
            label="no valid data" if i == 0 else None,
        )
    ax.set_ylabel(f"{m.description} ({m.unit})")
    ax.set_title(f"{measure}: {'lower' if m.worse == 'lower' else 'higher'} is worse")
    ax.legend(loc="best", fontsize=7, frameon=False)
    ax.grid(alpha=0.3)
    if np.isfinite(g["value"]).any():
        ax.margins(x=0.02)
    return ax
