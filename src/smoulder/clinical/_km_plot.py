"""The Kaplan-Meier figure as published: curves, bands, censoring ticks, number at risk.

Placed without drawing (see :mod:`smoulder.clinical._layout`): the time ticks are chosen from the
axis' known range, so the number-at-risk table under the axis is written at them before any draw.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from smoulder.clinical._layout import PAGE_WIDTH, axes_at, fixed_labels, new_figure, text_width

__all__ = ["plot_km", "km_ticks"]


def _km_colours(km: Any) -> list[str]:
    """One colour per curve: the event kind's colour for one curve, the palette's cycle for
    groups (colour-blind safe; each group also gets its own line style)."""
    from smoulder.schema.palette import DEVICE_CYCLE, MARKS, colour

    if len(km.durations) == 1:
        return [colour(km.label) if km.label in MARKS else "#332288"]
    order = (1, 3, 0, 4, 6, 5, 2)  # blue, orange, teal, magenta, ...: far apart in hue first
    return [DEVICE_CYCLE[order[k % len(order)]] for k in range(len(km.durations))]


def km_ticks(right: float, years: bool = True) -> list[float]:
    """The time ticks of a Kaplan-Meier axis from 0 to ``right``: at most 8 intervals of 1, 2,
    2.5, 5 or 10 times a power of ten (whole years on a year axis), as matplotlib would choose.

    Examples
    --------
    >>> km_ticks(13.8)
    [0.0, 2.0, 4.0, 6.0, 8.0, 10.0, 12.0]
    >>> km_ticks(306.0, years=False)[:4]
    [0.0, 40.0, 80.0, 120.0]
    """
    from matplotlib.ticker import MaxNLocator

    loc = MaxNLocator(nbins=8, integer=years, min_n_ticks=3)
    return [float(x) for x in loc.tick_values(0.0, right) if -1e-9 <= x <= right * (1 + 1e-9)]


def _tick_label(x: float) -> str:
    return f"{x:,.0f}" if float(x).is_integer() else f"{x:,g}"


def plot_km(km: Any, ax: Any = None, years: bool = True, annotation: str | None = None) -> Any:
    """Kaplan-Meier curves of a :class:`~smoulder.clinical.survival.KMResult`, as published.

    Step curves with censoring ticks, confidence bands drawn light with outlines (readable where
    they overlap), each curve stopped where fewer than ``km.settings.min_at_risk`` subjects
    remain at risk, a number-at-risk table under the axis at the tick times, an optional
    ``annotation`` (hazard ratio, log-rank p) and a caption saying how the curves were cut.
    Costs the number of distinct times, not a drawing per subject. A page wide (7.2 inches).
    """
    scale = 365.25 if years else 1.0
    min_risk = int(km.settings.min_at_risk)
    level = round(100 * (1 - km.settings.alpha))
    groups = list(km.durations)
    names = ["all subjects" if g == "all" else str(g) for g in groups]
    table_ax, half = None, 0.0
    if ax is None:
        # inches: the curves' axes, its tick labels and axis label, the table's title, a row per
        # group, the caption; the left margin fits the longest group name of the table
        half = text_width(f"{max(len(km.durations[g][0]) for g in groups):,}", 8) / 2 + 0.08
        left = max(0.75, max(text_width(nm, 8) for nm in names) + half + 0.12)
        main_h, under, title_h, row_h, caption_h = 3.5, 0.46, 0.24, 0.19, 0.3
        height = 0.15 + main_h + under + title_h + row_h * len(groups) + caption_h
        fig = new_figure(PAGE_WIDTH, height)
        width = PAGE_WIDTH - left - 0.25
        table_bottom = caption_h
        ax = axes_at(fig, left, height - 0.15 - main_h, width, main_h)
        fixed_labels(ax, 0.42, 0.24)
        table_ax = axes_at(fig, left, table_bottom, width, row_h * len(groups), sharex=ax)
    else:
        fig = ax.figure
    ax.tick_params(labelsize=9)
    styles = ["-", "--", "-.", ":"]
    ends = []
    for k, (g, name, colour_) in enumerate(zip(groups, names, _km_colours(km), strict=True)):
        d, e = km.durations[g]
        curve = km.table[km.table["group"] == g]
        t = curve["time_days"].to_numpy(dtype=float)
        sv = curve["survival"].to_numpy(dtype=float)
        lo = curve["ci_lower"].to_numpy(dtype=float)
        hi = curve["ci_upper"].to_numpy(dtype=float)
        at_risk = len(d) - np.searchsorted(np.sort(d), t, side="left")  # followed at t
        keep = at_risk >= min_risk
        if not keep.any():
            continue
        t, sv, lo, hi = t[keep] / scale, sv[keep], lo[keep], hi[keep]
        ends.append(t[-1])
        ax.fill_between(t, lo, hi, step="post", color=colour_, alpha=0.12, lw=0)
        for edge in (lo, hi):
            ax.step(t, edge, where="post", color=colour_, lw=0.6, alpha=0.7)
        ax.step(t, sv, where="post", color=colour_, lw=1.8, ls=styles[k % 4], label=name)
        cens = np.unique(d[~e.astype(bool)]) / scale
        cens = cens[cens <= t[-1]]
        if len(cens):
            y = sv[np.searchsorted(t, cens, side="right") - 1]
            ax.plot(cens, y, ls="none", marker="|", ms=6, mew=1.0, color=colour_)
    ax.plot([], [], ls="none", marker="|", ms=6, color="#555555", label="censored")
    ax.set_ylabel(f"Proportion free of {km.label}", fontsize=9.5)
    ax.set_ylim(0, 1.02)
    ax.set_yticks(np.linspace(0, 1, 6), [f"{y:.1f}" for y in np.linspace(0, 1, 6)])
    longest = max((float(np.max(km.durations[g][0])) for g in groups), default=1.0) / scale
    right = max(ends) * 1.02 if ends else max(longest, 1e-9)
    ax.set_xlim(0, right)
    ticks = km_ticks(right, years)
    ax.set_xticks(ticks, [_tick_label(x) for x in ticks])
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="lower left", title=f"shaded: {level} % CI", title_fontsize=8)
    if annotation:
        ax.text(0.98, 0.97, annotation, transform=ax.transAxes, ha="right", va="top", fontsize=9,
                bbox={"facecolor": "white", "edgecolor": "#bbbbbb", "alpha": 0.9})  # fmt: skip
    ax.set_xlabel("Years from first visit" if years else "Days from first visit", fontsize=9.5)
    caption = f"Curves stop where fewer than {min_risk} subjects remain at risk."
    if table_ax is None:
        ax.set_title(caption, fontsize=8, loc="left")
        return fig
    table_ax.set_ylim(-0.5, len(groups) - 0.5)
    table_ax.axis("off")
    table_ax.set_title("Number at risk", fontsize=8, loc="left", y=1.0, pad=4)
    from matplotlib.transforms import offset_copy

    names_at = offset_copy(table_ax.get_yaxis_transform(), fig=fig, x=-half, units="inches")
    for k, (g, name) in enumerate(zip(groups, names, strict=True)):
        d = np.sort(km.durations[g][0]) / scale
        row = len(groups) - 1 - k
        table_ax.text(0, row, name, transform=names_at, ha="right", va="center", fontsize=8)
        for x in ticks:
            n = len(d) - int(np.searchsorted(d, x, side="left"))
            table_ax.text(x, row, f"{n:,}", ha="center", va="center", fontsize=8)
    fig.text(0.1 / PAGE_WIDTH, 0.08 / fig.get_size_inches()[1], caption, fontsize=8,
             color="#444444", ha="left", va="bottom")  # fmt: skip
    return fig
