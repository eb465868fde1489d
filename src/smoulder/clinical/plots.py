"""Plots of disability courses: one subject's trajectory with its events, small multiples, counts."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

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


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _label(ev: Any) -> str:
    if ev.event_type == "CDI":
        return "CDI"
    return ev.cdw_type if isinstance(ev.cdw_type, str) and ev.cdw_type else "CDW"


def _edss_axis(ax: Any) -> None:
    """The EDSS scale on every panel: 0 to 10, a grid line at each 0.5 step."""
    ax.set_ylim(-0.3, 10.3)
    ax.set_yticks(np.arange(0, 10.5, 2))
    ax.set_yticks(np.arange(0, 10.5, 0.5), minor=True)
    ax.grid(which="minor", axis="y", alpha=0.12)
    ax.grid(which="major", alpha=0.3)


def plot_trajectory(
    visits: pd.DataFrame,
    events: pd.DataFrame,
    relapses: pd.DataFrame | None = None,
    outcome_label: str = "EDSS",
    ax: Any = None,
    title: str | None = None,
    legend: bool = True,
) -> Any:
    """One subject's values over time with baselines, events, confirmations and relapses marked.

    Returns the matplotlib Figure. Copes with one visit, no events, no relapses
    and events without a confirmation (imputed at the last visit). EDSS is drawn on its whole
    scale (0-10, grid at 0.5 steps) so that panels compare; ``legend=False`` leaves the legend
    to the caller (:func:`plot_trajectories` draws one for the figure).
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
        color=_VISITS,
        ms=3.5,
        lw=1.2,
        label=outcome_label,
    )
    if relapses is not None and len(relapses):
        onsets = pd.to_datetime(relapses["date"])
        for d in onsets:
            ax.axvspan(d, d + pd.Timedelta(days=30), color=_RELAPSE, alpha=0.15, lw=0)
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
    for ev in events.itertuples():
        name = _label(ev)
        color = COLORS.get(name, "#404040")
        ax.hlines(
            ev.baseline_value, ev.baseline_date, ev.event_date, colors=color, linestyles=":", lw=1.2
        )
        ax.plot(
            [ev.baseline_date],
            [ev.baseline_value],
            marker="o",
            mfc="white",
            mec=color,
            ms=6,
            ls="none",
            gid="baseline",
        )
        ax.plot(
            [ev.event_date],
            [ev.event_value],
            marker="^" if ev.event_type == "CDW" else "v",
            ms=10,
            color=color,
            ls="none",
            gid="event",
        )
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
                gid="confirmation",
            )
    ax.set_ylabel(outcome_label)
    if outcome_label == "EDSS":
        _edss_axis(ax)
    else:
        ax.grid(alpha=0.3)
    if title:
        ax.set_title(title, fontsize=10)
    if legend:
        kinds = {_label(ev) for ev in events.itertuples()}
        ax.legend(handles=legend_handles(outcome_label, kinds), fontsize=7, loc="upper left")
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
    return [
        Line2D(
            [], [], color=_VISITS, marker="o", ms=4, lw=1.2, label=f"{outcome_label} at a visit"
        ),
        Line2D(
            [],
            [],
            color="#404040",
            marker="o",
            mfc="white",
            ms=6,
            ls=":",
            label="baseline (dotted: its level)",
        ),
        *(
            Line2D(
                [], [], color=COLORS[k], marker=events[k][0], ms=8, ls="none", label=events[k][1]
            )
            for k in shown
        ),
        Line2D(
            [],
            [],
            color="#404040",
            marker="s",
            ms=5,
            ls="--",
            lw=1,
            label="confirmation (dashed from its event)",
        ),
        Line2D([], [], color=_RELAPSE, marker="*", ms=8, ls="none", label="relapse onset"),
        Patch(color=_RELAPSE, alpha=0.15, label="30 days after a relapse"),
    ]


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
    event shown". One legend for the figure explains every mark. The cost is that of the
    ``subjects`` drawn, whatever the cohort's size.
    """
    plt = _pyplot()
    n = max(1, len(subjects))
    ncols = min(ncols, n)
    nrows = int(np.ceil(n / ncols))
    fig, axes = plt.subplots(
        nrows, ncols, figsize=(5.2 * ncols, 3.0 * nrows + 0.9), squeeze=False, sharey=True
    )
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
            legend=False,
        )
        ax.tick_params(labelleft=True)
    for k in range(len(subjects), nrows * ncols):
        axes[k // ncols][k % ncols].set_visible(False)
    shown = len(subjects)
    heading = (
        f"{shown} of {total} subjects with an event shown"
        if total is not None
        else f"{shown} subjects shown"
    )
    fig.suptitle(heading, fontsize=11, x=0.01, ha="left")
    kinds = {_label(ev) for ev in es[es.subject.isin(subjects)].itertuples()}
    fig.legend(
        handles=legend_handles(outcome_label, kinds),
        loc="lower center",
        ncol=min(5, 2 * ncols),
        fontsize=8,
        frameon=False,
    )
    fig.tight_layout(rect=(0, 0.7 / (3.0 * nrows + 0.9), 1, 1 - 0.35 / (3.0 * nrows + 0.9)))
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


def _km_colours(km: Any) -> list[str]:
    """One colour per curve: the event kind's colour for one curve, the palette's cycle for
    groups (colour-blind safe; each group also gets its own line style)."""
    from smoulder.schema.palette import DEVICE_CYCLE, MARKS, colour

    if len(km.durations) == 1:
        return [colour(km.label) if km.label in MARKS else "#332288"]
    order = (1, 3, 0, 4, 6, 5, 2)  # blue, orange, teal, magenta, ...: far apart in hue first
    return [DEVICE_CYCLE[order[k % len(order)]] for k in range(len(km.durations))]


def plot_km(km: Any, ax: Any = None, years: bool = True, annotation: str | None = None) -> Any:
    """Kaplan-Meier curves of a :class:`~smoulder.clinical.survival.KMResult`, as published.

    Step curves with censoring ticks, confidence bands drawn light with outlines (readable where
    they overlap), each curve stopped where fewer than ``km.settings.min_at_risk`` subjects
    remain at risk, a number-at-risk table under the axis at the tick times, an optional
    ``annotation`` (hazard ratio, log-rank p) and a caption saying how the curves were cut.
    Costs the number of distinct times, not a drawing per subject.
    """
    plt = _pyplot()
    from matplotlib.ticker import MaxNLocator

    scale = 365.25 if years else 1.0
    min_risk = int(km.settings.min_at_risk)
    level = round(100 * (1 - km.settings.alpha))
    groups = list(km.durations)
    if ax is None:
        fig = plt.figure(figsize=(7.2, 5.0 + 0.22 * len(groups)))
        grid = fig.add_gridspec(2, 1, height_ratios=[4.2, 0.35 + 0.3 * len(groups)], hspace=0.3)
        ax = fig.add_subplot(grid[0])
        table_ax = fig.add_subplot(grid[1], sharex=ax)
    else:
        fig, table_ax = ax.figure, None
    styles = ["-", "--", "-.", ":"]
    ends = []
    for k, (g, colour_) in enumerate(zip(groups, _km_colours(km), strict=True)):
        f = km.fitters[g]
        d, e = km.durations[g]
        t = f.survival_function_.index.to_numpy(dtype=float)
        sv = f.survival_function_.iloc[:, 0].to_numpy()
        ci = f.confidence_interval_survival_function_
        lo, hi = ci.iloc[:, 0].to_numpy(), ci.iloc[:, 1].to_numpy()
        at_risk = np.searchsorted(np.sort(d), t, side="left")
        at_risk = len(d) - at_risk  # subjects still followed at t (duration >= t)
        keep = at_risk >= min_risk
        if not keep.any():
            continue
        t, sv, lo, hi = t[keep] / scale, sv[keep], lo[keep], hi[keep]
        ends.append(t[-1])
        name = "all subjects" if g == "all" else str(g)
        ax.fill_between(t, lo, hi, step="post", color=colour_, alpha=0.12, lw=0)
        for edge in (lo, hi):
            ax.step(t, edge, where="post", color=colour_, lw=0.6, alpha=0.7)
        ax.step(t, sv, where="post", color=colour_, lw=1.8, ls=styles[k % 4], label=f"{name}")
        cens = np.unique(d[~e.astype(bool)]) / scale
        cens = cens[cens <= t[-1]]
        if len(cens):
            y = sv[np.searchsorted(t, cens, side="right") - 1]
            ax.plot(cens, y, ls="none", marker="|", ms=6, mew=1.0, color=colour_)
    ax.plot([], [], ls="none", marker="|", ms=6, color="#555555", label="censored")
    ax.set_ylabel(f"Proportion free of {km.label}")
    ax.set_ylim(0, 1.02)
    ax.set_xlim(left=0, right=max(ends) * 1.02 if ends else None)
    ax.xaxis.set_major_locator(MaxNLocator(nbins=8, integer=years, min_n_ticks=3))
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="lower left", title=f"shaded: {level} % CI", title_fontsize=7)
    if annotation:
        ax.text(
            0.98,
            0.97,
            annotation,
            transform=ax.transAxes,
            ha="right",
            va="top",
            fontsize=9,
            bbox={"facecolor": "white", "edgecolor": "#bbbbbb", "alpha": 0.9},
        )
    xlabel = "Years from first visit" if years else "Days from first visit"
    caption = f"Curves stop where fewer than {min_risk} subjects remain at risk."
    if table_ax is None:
        ax.set_xlabel(xlabel)
        ax.set_title(caption, fontsize=8, loc="left")
        return fig
    ax.tick_params(labelbottom=True)
    ax.set_xlabel(xlabel)
    fig.canvas.draw()
    ticks = [x for x in ax.get_xticks() if ax.get_xlim()[0] <= x <= ax.get_xlim()[1]]
    table_ax.set_ylim(-0.5, len(groups) - 0.5)
    table_ax.axis("off")
    table_ax.set_title("Number at risk", fontsize=8, loc="left")
    for k, g in enumerate(groups):
        d = np.sort(km.durations[g][0]) / scale
        row = len(groups) - 1 - k
        name = "all subjects" if g == "all" else str(g)
        table_ax.text(
            -0.07,
            row,
            name,
            transform=table_ax.get_yaxis_transform(),
            ha="right",
            va="center",
            fontsize=8,
        )
        for x in ticks:
            n = len(d) - int(np.searchsorted(d, x, side="left"))
            table_ax.text(x, row, f"{n:,}", ha="center", va="center", fontsize=8)
    fig.text(0.01, 0.02, caption, fontsize=7.5, color="#444444", ha="left", va="bottom")
    return fig
