"""Plots of disability courses: one subject's trajectory with its events, small multiples, counts."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

COLORS = {
    "PIRA": "#7b3294",
    "RAW": "#e66101",
    "undefined": "#7f7f7f",
    "CDI": "#1a9641",
    "CDW": "#404040",
}


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _label(ev: Any) -> str:
    if ev.event_type == "CDI":
        return "CDI"
    return ev.cdw_type if isinstance(ev.cdw_type, str) and ev.cdw_type else "CDW"


def plot_trajectory(
    visits: pd.DataFrame,
    events: pd.DataFrame,
    relapses: pd.DataFrame | None = None,
    outcome_label: str = "EDSS",
    ax: Any = None,
    title: str | None = None,
) -> Any:
    """One subject's values over time with baselines, events, confirmations and relapses marked.

    Returns the matplotlib Figure. Copes with one visit, no events, no relapses
    and events without a confirmation (imputed at the last visit).
    """
    plt = _pyplot()
    if ax is None:
        fig, ax = plt.subplots(figsize=(7, 3.6))
    else:
        fig = ax.figure
    v = visits.sort_values("date")
    ax.plot(
        pd.to_datetime(v["date"]),
        v["value"],
        "-o",
        color="#2b8cbe",
        ms=3.5,
        lw=1.2,
        label=outcome_label,
    )
    if relapses is not None and len(relapses):
        for i, d in enumerate(pd.to_datetime(relapses["date"])):
            ax.axvspan(
                d,
                d + pd.Timedelta(days=30),
                color="#d7191c",
                alpha=0.15,
                lw=0,
                label="relapse (30 days)" if i == 0 else None,
            )
    seen = set()
    for ev in events.itertuples():
        name = _label(ev)
        color = COLORS.get(name, "#404040")
        ax.hlines(
            ev.baseline_value, ev.baseline_date, ev.event_date, colors=color, linestyles=":", lw=1.2
        )
        ax.plot(
            [ev.event_date],
            [ev.event_value],
            marker="^" if ev.event_type == "CDW" else "v",
            ms=10,
            color=color,
            ls="none",
            label=name if name not in seen else None,
            gid="event",
        )
        seen.add(name)
        ax.annotate(
            name,
            (ev.event_date, ev.event_value),
            textcoords="offset points",
            xytext=(0, 9),
            ha="center",
            fontsize=8,
            color=color,
        )
        if not pd.isna(ev.confirmation_date):
            ax.plot(
                [ev.event_date, ev.confirmation_date],
                [ev.event_value, ev.confirmation_value],
                "--",
                color=color,
                lw=1,
            )
            ax.plot(
                [ev.confirmation_date],
                [ev.confirmation_value],
                marker="s",
                ms=5,
                color=color,
                ls="none",
            )
    ax.set_ylabel(outcome_label)
    if title:
        ax.set_title(title, fontsize=10)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, loc="upper left")
    return fig


def plot_trajectories(
    visits: pd.DataFrame,
    events: pd.DataFrame,
    relapses: pd.DataFrame | None,
    subjects: list[str],
    ncols: int = 3,
    outcome_label: str = "EDSS",
) -> Any:
    """Small multiples of :func:`plot_trajectory`, one panel per subject."""
    plt = _pyplot()
    n = max(1, len(subjects))
    ncols = min(ncols, n)
    nrows = int(np.ceil(n / ncols))
    fig, axes = plt.subplots(nrows, ncols, figsize=(5.2 * ncols, 3.0 * nrows), squeeze=False)
    vs = visits.assign(subject=visits["subject"].astype(str))
    es = events.assign(subject=events["subject"].astype(str))
    rs = relapses.assign(subject=relapses["subject"].astype(str)) if relapses is not None else None
    for k, s in enumerate(subjects):
        ax = axes[k // ncols][k % ncols]
        plot_trajectory(
            vs[vs.subject == s],
            es[es.subject == s],
            rs[rs.subject == s] if rs is not None else None,
            outcome_label,
            ax=ax,
            title=str(s),
        )
    for k in range(len(subjects), nrows * ncols):
        axes[k // ncols][k % ncols].set_visible(False)
    fig.tight_layout()
    return fig


def plot_event_counts(summary: pd.DataFrame) -> Any:
    """Bar chart of the number of subjects with at least one PIRA, RAW, undefined CDW and CDI."""
    plt = _pyplot()
    counts = {
        "PIRA": int((summary["n_pira"] > 0).sum()),
        "RAW": int((summary["n_raw"] > 0).sum()),
        "undefined": int((summary["n_undefined"] > 0).sum()),
        "CDI": int((summary["n_cdi"] > 0).sum()),
    }
    fig, ax = plt.subplots(figsize=(5, 3.2))
    ax.bar(list(counts), list(counts.values()), color=[COLORS[k] for k in counts])
    ax.set_ylabel("Subjects with ≥ 1 event")
    for i, val in enumerate(counts.values()):
        ax.text(i, val, str(val), ha="center", va="bottom", fontsize=9)
    fig.tight_layout()
    return fig
