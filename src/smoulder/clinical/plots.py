"""Plots of disability courses: one subject's trajectory with its events, small multiples, counts,
and Kaplan-Meier curves with their number-at-risk table.

Figures cost what they show, not the cohort's size, and are placed without drawing them: every
axes gets its position from known sizes (inches and points, for fonts of known size), every tick
is fixed in advance (years on the time axes, EDSS steps, the Kaplan-Meier times), and the EDSS
grid is one line collection. Saving then draws each figure once per format and nothing else
(:func:`smoulder.pipelines._files.save_figure`). The figures are a page wide (7.2 inches:
2,160 pixels at 300 dpi) and no label is smaller than 8 points.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from smoulder.clinical._layout import (
    _PT,
    PAGE_WIDTH,
    axes_at,
    fixed_labels,
    new_figure,
    text_width,
)
from smoulder.schema.palette import MARKS

COLORS = {
    "PIRA": MARKS["PIRA"].colour,
    "RAW": MARKS["RAW"].colour,
    "undefined": MARKS["undefined"].colour,
    "CDI": MARKS["CDI"].colour,
    "CDW": "#404040",
}
_VISITS = MARKS["edss"].colour
_RELAPSE = MARKS["relapse"].colour

_TICK = 8.0  # tick labels (points)


def _label(ev: Any) -> str:
    if ev.event_type == "CDI":
        return "CDI"
    return ev.cdw_type if isinstance(ev.cdw_type, str) and ev.cdw_type else "CDW"


def _days(values: Any) -> np.ndarray:
    """Dates as matplotlib's date numbers (floats), for plotting without unit conversions."""
    from matplotlib.dates import date2num

    return np.asarray(
        date2num(pd.to_datetime(pd.Series(values)).to_numpy(dtype="datetime64[ns]")), dtype=float
    )


def date_ticks(lo: float, hi: float, max_ticks: int = 5) -> tuple[list[float], list[str]]:
    """Ticks for a time axis from ``lo`` to ``hi`` (matplotlib date numbers): the first of January
    every 1, 2, 5 or 10 years, or of a month every 1, 3 or 6 months for short spans, at most
    ``max_ticks`` of them (years labelled ``2019``, months ``Jul 2019``). No drawing needed.

    Examples
    --------
    >>> from matplotlib.dates import date2num
    >>> import numpy as np
    >>> lo, hi = date2num(np.datetime64("2005-03-01")), date2num(np.datetime64("2013-02-01"))
    >>> date_ticks(lo, hi)[1]
    ['2006', '2008', '2010', '2012']
    >>> date_ticks(lo, lo + 400)[1]
    ['Jul 2005', 'Jan 2006']
    """
    from matplotlib.dates import date2num, num2date

    a, b = num2date(lo), num2date(hi)
    first = a.year * 12 + a.month - 1  # months since year 0
    last = b.year * 12 + b.month - 1
    for step in (1, 3, 6, 12, 24, 60, 120, 240, 600):
        start = -(-first // step) * step
        months = np.arange(start, last + 1, step) - 1970 * 12  # months since 1970-01
        stamps = months.astype("datetime64[M]")
        pos = np.asarray(date2num(stamps.astype("datetime64[D]")), dtype=float)
        keep = (pos >= lo) & (pos <= hi)
        # month labels ("Jul 2019") are twice as wide as years: at most 3 of them
        if int(keep.sum()) <= (min(3, max_ticks) if step < 12 else max_ticks) or step == 600:
            fmt = (lambda x: str(x.astype(object).year)) if step >= 12 else _month_label
            return [float(p) for p in pos[keep]], [fmt(x) for x in stamps[keep]]
    return [], []  # pragma: no cover - the last step always returns


def _month_label(stamp: np.datetime64) -> str:
    d = stamp.astype(object)
    return f"{d:%b} {d.year}"


def _edss_axis(ax: Any) -> None:
    """The EDSS scale on every panel: 0 to 10, labelled every 2, a grid line at each 0.5 step
    (stronger at the labelled ones). The grid is one line collection and the labels are plain
    texts: matplotlib's tick objects (three lines and two texts each, made and drawn per panel
    and per format) were most of a panel's cost."""
    from matplotlib.collections import LineCollection
    from matplotlib.transforms import offset_copy

    ax.set_ylim(-0.3, 10.3)
    ax.set_yticks([])
    ax.grid(axis="x", alpha=0.3)
    steps = np.arange(0, 10.5, 0.5)
    grid = LineCollection(
        [np.array([(0.0, y), (1.0, y)]) for y in steps],
        colors=[(0, 0, 0, 0.3 if y % 2 == 0 else 0.12) for y in steps],
        linewidths=[0.8 if y % 2 == 0 else 0.6 for y in steps],
        transform=ax.get_yaxis_transform(),
        zorder=0.5,
        gid="edss-grid",
    )
    ax.add_collection(grid, autolim=False)
    at = offset_copy(ax.get_yaxis_transform(), fig=ax.figure, x=-3.5, units="points")
    # figure texts placed by the panel's transform: the panel's own texts stay its marks' labels
    ax.smoulder_edss_labels = [
        ax.figure.text(
            0, y, str(y), transform=at, ha="right", va="center", fontsize=_TICK, gid="edss-label"
        )  # fmt: skip
        for y in range(0, 11, 2)
    ]


def edss_grid_steps(ax: Any) -> list[float]:
    """The EDSS values with a grid line on a panel (every 0.5 step)."""
    return sorted(
        float(seg[0][1])
        for c in ax.collections
        if c.get_gid() == "edss-grid"
        for seg in c.get_segments()
    )


def edss_labels(ax: Any) -> list[str]:
    """The EDSS values labelled on a panel's scale, bottom to top."""
    return [t.get_text() for t in getattr(ax, "smoulder_edss_labels", [])]


def plot_trajectory(
    visits: pd.DataFrame,
    events: pd.DataFrame,
    relapses: pd.DataFrame | None = None,
    outcome_label: str = "EDSS",
    ax: Any = None,
    title: str | None = None,
    legend: bool = True,
    ylim: tuple[float, float] | None = None,
) -> Any:
    """One subject's values over time with baselines, events, confirmations and relapses marked.

    Returns the matplotlib Figure. Copes with one visit, no events, no relapses
    and events without a confirmation (imputed at the last visit). EDSS is drawn on its whole
    scale (0-10, grid at 0.5 steps) so that panels compare (other outcomes on ``ylim`` when
    given); ``legend=False`` leaves the legend to the caller (:func:`plot_trajectories` draws
    one for the figure). The time axis is labelled in years (months for short follow-up).
    """
    if ax is None:
        fig = new_figure(PAGE_WIDTH, 3.4)
        ax = axes_at(fig, 0.62, 0.4, PAGE_WIDTH - 0.8, 3.4 - 0.4 - 0.32)
        fixed_labels(ax, 0.34, 0.3)
    else:
        fig = ax.figure
    ax.xaxis.axis_date()  # dates added later by a caller are converted
    ax.tick_params(labelsize=_TICK)
    v = visits.sort_values("date")
    vx = _days(v["date"])
    ax.plot(vx, v["value"].to_numpy(), "-o", color=_VISITS, ms=3.5, lw=1.2, label=outcome_label)
    xs = [vx]
    if relapses is not None and len(relapses):
        onsets = _days(relapses["date"])
        xs.append(onsets)
        for d in onsets:
            ax.axvspan(d, d + 30.0, color=_RELAPSE, alpha=0.15, lw=0)
        ax.plot(
            onsets,
            np.full(len(onsets), 0.96),
            ls="none",
            marker="*",
            ms=8,
            color=_RELAPSE,
            transform=ax.get_xaxis_transform(),
            gid="relapse",
        )
    top = ylim[1] if ylim is not None else (10.3 if outcome_label == "EDSS" else np.inf)
    for ev in events.itertuples():
        name = _label(ev)
        color = COLORS.get(name, "#404040")
        bx, ex = _days([ev.baseline_date, ev.event_date])
        ax.hlines(ev.baseline_value, bx, ex, colors=color, linestyles=":", lw=1.2)
        ax.plot([bx], [ev.baseline_value], marker="o", mfc="white", mec=color, ms=6, ls="none",
                gid="baseline")  # fmt: skip
        ax.plot([ex], [ev.event_value], marker="^" if ev.event_type == "CDW" else "v", ms=10,
                color=color, ls="none", gid="event")  # fmt: skip
        high = ev.event_value >= top - 1.8  # near the top: the label goes below the mark
        ax.annotate(
            name,
            (ex, ev.event_value),
            textcoords="offset points",
            xytext=(0, -9 if high else 9),
            ha="center",
            va="top" if high else "baseline",
            fontsize=8,
            color=color,
        )
        if not pd.isna(ev.confirmation_date):
            (cx,) = _days([ev.confirmation_date])
            ax.plot([ex, cx], [ev.event_value, ev.confirmation_value], "--", color=color, lw=1)
            ax.plot([cx], [ev.confirmation_value], marker="s", ms=5, color=color, ls="none",
                    gid="confirmation")  # fmt: skip
    ax.set_ylabel(outcome_label, fontsize=8.5)
    if outcome_label == "EDSS":
        _edss_axis(ax)
    else:
        if ylim is not None:
            ax.set_ylim(*ylim)
        ax.grid(alpha=0.3)
    lo, hi = float(min(x.min() for x in xs)), float(max(x.max() for x in xs))
    pad = max(0.05 * (hi - lo), 60.0)
    ax.set_xlim(lo - pad, hi + pad)
    ticks, labels = date_ticks(lo - pad, hi + pad)
    ax.set_xticks(ticks, labels)
    if title:
        ax.set_title(title, fontsize=9, y=1.0, pad=3)
    if legend:
        kinds = {_label(ev) for ev in events.itertuples()}
        ax.legend(handles=legend_handles(outcome_label, kinds), fontsize=8, loc="upper left")
    return fig


def legend_handles(outcome_label: str = "EDSS", kinds: Any = None) -> list[Any]:
    """One legend entry for every mark a trajectory panel may show (event entries for the
    ``kinds`` drawn only, e.g. ``{"PIRA", "RAW"}``; all of them by default)."""
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch

    events = {
        "PIRA": ("^", "PIRA (worsening, no relapse)"),
        "RAW": ("^", "RAW (worsening after a relapse)"),
        "undefined": ("^", "worsening, cause undefined"),
        "CDW": ("^", "confirmed worsening (CDW)"),
        "CDI": ("v", "improvement (CDI)"),
    }
    shown = [k for k in events if kinds is None or k in kinds]
    grey = "#404040"
    return [
        Line2D(
            [], [], color=_VISITS, marker="o", ms=4, lw=1.2, label=f"{outcome_label} at a visit"
        ),
        Line2D(
            [],
            [],
            color=grey,
            marker="o",
            mfc="white",
            ms=6,
            ls=":",
            label="baseline (dotted: its level)",
        ),  # fmt: skip
        *(
            Line2D(
                [], [], color=COLORS[k], marker=events[k][0], ms=8, ls="none", label=events[k][1]
            )  # fmt: skip
            for k in shown
        ),
        Line2D(
            [],
            [],
            color=grey,
            marker="s",
            ms=5,
            ls="--",
            lw=1,
            label="confirmation (dashed from its event)",
        ),  # fmt: skip
        Line2D([], [], color=_RELAPSE, marker="*", ms=8, ls="none", label="relapse onset"),
        Patch(color=_RELAPSE, alpha=0.15, label="30 days after a relapse"),
    ]


def _legend_columns(labels: list[str], width: float, size: float) -> int:
    """How many legend columns of ``labels`` at ``size`` points fit in ``width`` inches."""
    col = max(text_width(t, size) for t in labels) + (2.0 + 0.8 + 2.0) * size * _PT
    return max(1, min(len(labels), int(width // col)))


def plot_trajectories(
    visits: pd.DataFrame,
    events: pd.DataFrame,
    relapses: pd.DataFrame | None,
    subjects: list[str],
    ncols: int = 3,
    outcome_label: str = "EDSS",
    total: int | None = None,
) -> Any:
    """Small multiples of :func:`plot_trajectory`, one panel per subject, on one y scale.

    ``total`` is how many subjects had an event: the figure then says "n of N subjects with an
    event shown". One legend for the figure explains every mark. The figure is a page wide
    (panels 1.45 inches high); the cost is that of the ``subjects`` drawn, whatever the
    cohort's size.
    """
    n = max(1, len(subjects))
    ncols = min(ncols, n)
    nrows = int(np.ceil(n / ncols))
    vs = visits.assign(subject=visits["subject"].astype(str))
    es = events.assign(subject=events["subject"].astype(str))
    rs = relapses.assign(subject=relapses["subject"].astype(str)) if relapses is not None else None
    kinds = {_label(ev) for ev in es[es.subject.isin(subjects)].itertuples()}
    handles = legend_handles(outcome_label, kinds)
    labels = [h.get_label() for h in handles]
    # the layout, in inches: margins, a gutter left of each panel for its tick labels (and the
    # outcome's name on the first column), a title above each panel, dates below it
    margin, gutter, first_gutter = 0.1, 0.3, 0.5
    panel_w = (PAGE_WIDTH - 2 * margin - first_gutter - (ncols - 1) * gutter) / ncols
    panel_h, title_h, dates_h, row_gap = 1.45, 0.2, 0.22, 0.1
    row_h = title_h + panel_h + dates_h + row_gap
    head_h = 0.32
    leg_cols = _legend_columns(labels, PAGE_WIDTH - 2 * margin, 8)
    leg_h = int(np.ceil(len(labels) / leg_cols)) * 12 * 1.05 * _PT + 0.16
    height = head_h + nrows * row_h + leg_h
    fig = new_figure(PAGE_WIDTH, height)
    ylim = None
    if outcome_label != "EDSS" and len(vs):
        vals = vs["value"].to_numpy(dtype=float)
        lo, hi = float(np.nanmin(vals)), float(np.nanmax(vals))
        span = max(hi - lo, 1e-9)
        ylim = (lo - 0.08 * span, hi + 0.08 * span)
    for k, s in enumerate(subjects):
        r, c = divmod(k, ncols)
        left = margin + first_gutter + c * (panel_w + gutter)
        bottom = height - head_h - r * row_h - title_h - panel_h
        ax = axes_at(fig, left, bottom, panel_w, panel_h)
        fixed_labels(ax, 0.27, 0.2)
        plot_trajectory(
            vs[vs.subject == s],
            es[es.subject == s],
            rs[rs.subject == s] if rs is not None else None,
            outcome_label,
            ax=ax,
            title=str(s),
            legend=False,
            ylim=ylim,
        )
        if c:
            ax.set_ylabel("")
    shown = len(subjects)
    heading = (
        f"{shown} of {total:,} subjects with an event shown"
        if total is not None
        else f"{shown} subjects shown"
    )
    fig.suptitle(heading, fontsize=10, x=margin / PAGE_WIDTH, y=1 - 0.08 / height, ha="left",
                 va="top")  # fmt: skip
    fig.legend(
        handles=handles,
        loc="lower center",
        bbox_to_anchor=(0.5, 0.04 / height),
        ncol=leg_cols,
        fontsize=8,
        frameon=False,
    )
    return fig


def plot_event_counts(summary: pd.DataFrame) -> Any:
    """Bar chart of the number of subjects with at least one PIRA, RAW, undefined CDW and CDI."""
    counts = {
        "PIRA": int((summary["n_pira"] > 0).sum()),
        "RAW": int((summary["n_raw"] > 0).sum()),
        "undefined": int((summary["n_undefined"] > 0).sum()),
        "CDI": int((summary["n_cdi"] > 0).sum()),
    }
    fig = new_figure(5.0, 3.2)
    ax = axes_at(fig, 0.75, 0.45, 4.05, 2.6)
    fixed_labels(ax, 0.5, 0.3)
    ax.bar(list(counts), list(counts.values()), color=[COLORS[k] for k in counts])
    ax.set_ylabel("Subjects with ≥ 1 event")
    top = max(counts.values())
    ax.set_ylim(0, max(1.0, top * 1.12))
    for i, val in enumerate(counts.values()):
        ax.text(i, val, f"{val:,}", ha="center", va="bottom", fontsize=9)
    return fig


from smoulder.clinical._km_plot import plot_km  # noqa: E402  (importable from here)

__all__ = [
    "COLORS",
    "PAGE_WIDTH",
    "date_ticks",
    "edss_grid_steps",
    "edss_labels",
    "legend_handles",
    "new_figure",
    "plot_event_counts",
    "plot_km",
    "plot_trajectories",
    "plot_trajectory",
]
