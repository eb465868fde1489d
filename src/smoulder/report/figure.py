"""The key figure of the reports: one person's time line drawn with matplotlib for paper.

The same lanes and marks as the web page (colours and markers from
:mod:`smoulder.schema.palette`): relapses in their own strip, treatments as named bars, EDSS
with the confirmed events on the curve, rim and slowly expanding lesion counts, the phone and
wearable measure with its decline drawn on the measured curve (as % of the level before), and a
dashed line at the last visit. Every text is at least 8 pt; the legend sits below the axes.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from smoulder.schema.palette import mark

MIN_PT = 8.0
# the lesion lane: which scans were rated for each kind, and the count drawn
LESION_COUNTS = (("prl_rated", "n_prl"), ("sel_rated", "n_sel_definite"))


def _d(text: str) -> Any:
    import numpy as np

    return np.datetime64(str(text)[:10])


def _has(a: list[dict[str, Any]], key: str) -> bool:
    return any(x.get(key) is not None for x in a)


def key_figure(
    tl: dict[str, Any],
    width_in: float = 7.3,
    height_in: float = 4.6,
    plain: bool = False,
    today: dt.date | None = None,
) -> Any:
    """A matplotlib figure of the time line sized for the page (inches), labels >= 8 pt.

    ``plain`` uses words a person with MS would use (no codes) and leaves the MRI lanes out.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig = plt.figure(figsize=(width_in, height_in))
    draw_key_figure(fig, (0.0, 0.0, width_in, height_in), tl, plain=plain, today=today)
    return fig


def draw_key_figure(
    fig: Any,
    rect_in: tuple[float, float, float, float],
    tl: dict[str, Any],
    plain: bool = False,
    today: dt.date | None = None,
) -> None:
    """Draw the time line into ``fig`` inside ``rect_in`` = (left, bottom, width, height) in
    inches from the figure's lower left corner (vector output: the text stays text in a PDF)."""
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch
    from matplotlib.ticker import MaxNLocator, MultipleLocator

    today = today or dt.date.today()
    fw, fh = fig.get_size_inches()
    a = tl.get("assessments") or []
    mri = [] if plain else (tl.get("mri") or [])
    device = tl.get("device") or {}
    lanes: list[tuple[str, float]] = []
    if tl.get("relapses"):
        lanes.append(("relapse", 0.35))
    if tl.get("treatments"):
        lanes.append(("treatment", 0.45))
    if _has(a, "edss"):
        lanes.append(("edss", 1.9))
    if _has(a, "t25fw") or _has(a, "nhpt"):
        lanes.append(("tests", 1.0))
    if any(m.get("prl_rated") or m.get("sel_rated") for m in mri):
        lanes.append(("lesions", 0.8))
    if device and not plain:
        lanes.append(("device", 1.0))
    x0, y0, w, h = rect_in
    if not lanes:
        fig.text(
            (x0 + w / 2) / fw,
            (y0 + h / 2) / fh,
            "No dated data to draw.",
            ha="center",
            va="center",
            fontsize=10,
        )
        return
    # the legend below (3 columns, about 0.2 in a row), the lanes above with 0.12 in gaps
    n_kinds = 12
    legend_h = 0.19 * -(-n_kinds // 3) + 0.05
    ticks = 0.3  # the date labels under the lowest lane
    left, right, top = 0.95, 0.1, 0.05
    gap = 0.12
    plot_h = h - legend_h - ticks - top - gap * (len(lanes) - 1)
    total = sum(r for _, r in lanes)
    ax_of: dict[str, Any] = {}
    y = y0 + h - top
    first_ax = None
    for name, r in lanes:
        lh = plot_h * r / total
        y -= lh
        ax = fig.add_axes(
            ((x0 + left) / fw, y / fh, (w - left - right) / fw, lh / fh), sharex=first_ax
        )
        first_ax = first_ax or ax
        ax_of[name] = ax
        y -= gap
    for ax in list(ax_of.values())[:-1]:
        ax.tick_params(labelbottom=False)
    handles: list[Any] = []
    seen: set[str] = set()

    def keep(kind: str, handle: Any) -> None:
        if kind not in seen:
            seen.add(kind)
            handles.append(handle)

    def label(kind: str, clinic: str, words: str) -> str:
        return words if plain else clinic

    dates = [x["date"] for x in a] + [m["date"] for m in mri]
    dates += [r["onset"] for r in tl.get("relapses") or []]
    dates += [t["start"] for t in tl.get("treatments") or []]
    first = min(dates) if dates else today.isoformat()
    end = max([*dates, today.isoformat()])
    for ax in ax_of.values():
        ax.set_xlim(_d(first) - 60, _d(end) + 30)
        ax.tick_params(labelsize=8)
        for side in ("top", "right"):
            ax.spines[side].set_visible(False)
    if "relapse" in ax_of:
        ax = ax_of["relapse"]
        m = mark("relapse")
        for r in tl["relapses"]:
            ax.plot([_d(r["onset"])], [0], marker=m.matplotlib, ms=9, color=m.colour, ls="none")
        ax.set_ylim(-1, 1)
        ax.set_yticks([])
        ax.set_ylabel("relapses", rotation=0, ha="right", va="center", fontsize=8)
        keep(
            "relapse",
            Line2D(
                [],
                [],
                marker=m.matplotlib,
                ls="none",
                color=m.colour,
                ms=8,
                label=label("relapse", "relapse onset", "relapse (attack) began"),
            ),
        )
    if "treatment" in ax_of:
        ax = ax_of["treatment"]
        m = mark("treatment")
        rows: list[Any] = []
        for t in sorted(tl["treatments"], key=lambda x: x["start"]):
            stop = _d(t.get("stop") or today.isoformat())
            row = next((i for i, e in enumerate(rows) if e <= _d(t["start"])), len(rows))
            if row == len(rows):
                rows.append(stop)
            rows[row] = stop
            ax.barh(row, stop - _d(t["start"]), left=_d(t["start"]), height=0.7, color=m.colour)
            ax.text(
                _d(t["start"]),
                row,
                " " + (t.get("drug") or "other treatment"),
                va="center",
                ha="left",
                fontsize=8,
                color="#0b3954",
                clip_on=True,
            )
        ax.set_ylim(len(rows) - 0.4, -0.6)
        ax.set_yticks([])
        ax.set_ylabel("treatment", rotation=0, ha="right", va="center", fontsize=8)
        keep(
            "treatment",
            Patch(color=m.colour, label=label("treatment", "treatment course", "treatment")),
        )
    if "edss" in ax_of:
        ax = ax_of["edss"]
        m = mark("edss")
        pts = [x for x in a if x.get("edss") is not None]
        ax.plot(
            [_d(x["date"]) for x in pts],
            [x["edss"] for x in pts],
            "-",
            marker=m.matplotlib,
            ms=3,
            lw=1.3,
            color=m.colour,
        )
        keep(
            "edss",
            Line2D(
                [],
                [],
                marker="o",
                ms=3,
                color=m.colour,
                label=label("edss", "EDSS", "disability score (0 to 10)"),
            ),
        )
        for e in tl.get("events") or []:
            kind = e.get("type") or "undefined"
            if e.get("outcome") not in (None, "edss") or e.get("event_value") is None:
                continue
            em = mark(kind)
            filled = kind != "RAW"
            ax.plot(
                [_d(e["event_date"])],
                [e["event_value"]],
                marker=em.matplotlib,
                ms=9,
                color=em.colour,
                mfc=em.colour if filled else "white",
                mew=1.5,
                ls="none",
            )
            words = {
                "PIRA": "lasting rise, no relapse nearby",
                "RAW": "lasting rise after a relapse",
                "CDI": "lasting improvement",
            }.get(kind, "lasting rise")
            keep(
                kind,
                Line2D(
                    [],
                    [],
                    marker=em.matplotlib,
                    ls="none",
                    color=em.colour,
                    ms=8,
                    mfc=em.colour if filled else "white",
                    mew=1.5,
                    label=words if plain else em.label,
                ),
            )
        top = max([6.5] + [x["edss"] + 1 for x in pts])
        ax.set_ylim(-0.3, min(10, top) + 0.3)
        ax.yaxis.set_major_locator(MultipleLocator(2 if top > 6 else 1))
        ax.set_ylabel("disability\nscore" if plain else "EDSS", fontsize=8)
        ax.grid(axis="y", color="#eee", lw=0.6)
    if "tests" in ax_of:
        ax = ax_of["tests"]
        ax.axhspan(80, 120, color=mark("meaningful_band").colour, alpha=0.5, lw=0)
        keep(
            "band",
            Patch(
                color=mark("meaningful_band").colour,
                label="within 20\u00a0% (normal ups and downs)"
                if plain
                else "±20\u00a0% of first visit",
            ),
        )
        for key, words in (("t25fw", "25-foot walk"), ("nhpt", "peg test (hands)")):
            pts = [x for x in a if x.get(key) is not None]
            if not pts:
                continue
            base = pts[0][key]
            m = mark(key)
            ax.plot(
                [_d(x["date"]) for x in pts],
                [100 * x[key] / base for x in pts],
                "-",
                marker=m.matplotlib,
                ms=3,
                lw=1,
                color=m.colour,
            )
            keep(
                key,
                Line2D(
                    [],
                    [],
                    marker=m.matplotlib,
                    ms=4,
                    color=m.colour,
                    label=words if plain else f"{m.label} (% of first visit)",
                ),
            )
        ax.set_ylabel("% of first\nvisit", fontsize=8)
    if "lesions" in ax_of:
        ax = ax_of["lesions"]
        for (flag, count), kind in zip(LESION_COUNTS, ("PRL", "SEL"), strict=True):
            pts = [x for x in mri if x.get(flag)]
            if not pts:
                continue
            m = mark(kind)
            ax.plot(
                [_d(x["date"]) for x in pts],
                [x.get(count) or 0 for x in pts],
                marker=m.matplotlib,
                ms=5,
                ls="-" if len(pts) > 1 else "none",
                lw=0.8,
                color=m.colour,
            )
            keep(
                kind,
                Line2D(
                    [],
                    [],
                    marker=m.matplotlib,
                    ms=5,
                    color=m.colour,
                    ls="none",
                    label=f"{kind} (count on rated scans)",
                ),
            )
        ax.set_ylabel("lesions", fontsize=8)
        # room above the highest count: a marker on the lane's top edge is cut in half
        top = max([x.get(c) or 0 for x in mri for f, c in LESION_COUNTS if x.get(f)], default=0)
        ax.set_ylim(0, max(1, top) * 1.3)
        ax.yaxis.set_major_locator(MaxNLocator(3, integer=True))
    if "device" in ax_of:
        ax = ax_of["device"]
        declines = {e["measure"]: e for e in tl.get("device_events") or [] if e.get("measure")}
        for name, s in device.items():
            pairs = [
                (d, v)
                for d, v in zip(s.get("dates") or [], s.get("values") or [], strict=False)
                if d and v is not None
            ]
            if not pairs:
                continue
            e = declines.get(name)
            ref = e.get("baseline_value") if e and e.get("baseline_value") else None
            if not ref:
                head = sorted(v for _, v in pairs[:26])
                ref = head[len(head) // 2] or 1.0
            m = mark(name)
            ax.plot(
                [_d(d) for d, _ in pairs], [100 * v / ref for _, v in pairs], lw=0.8, color=m.colour
            )
            keep(
                name,
                Line2D(
                    [], [], color=m.colour, label=f"{name.replace('_', ' ')} (% of level before)"
                ),
            )
            if e:
                after = [(d, v) for d, v in pairs if d >= e["onset_date"]]
                dm = mark("digital_decline")
                ax.plot(
                    [_d(d) for d, _ in after],
                    [100 * v / ref for _, v in after],
                    lw=1.4,
                    color=dm.colour,
                )
                if after:
                    ax.plot(
                        [_d(after[0][0])],
                        [100 * after[0][1] / ref],
                        marker=dm.matplotlib,
                        ms=9,
                        color=dm.colour,
                        ls="none",
                    )
                keep(
                    "digital_decline",
                    Line2D(
                        [],
                        [],
                        marker=dm.matplotlib,
                        color=dm.colour,
                        ms=7,
                        label="sustained decline (onset, then red)",
                    ),
                )
        ax.set_ylabel("phone/watch\n% of before", fontsize=8)
        ax.yaxis.set_major_locator(MaxNLocator(3))
    lv = (tl.get("overview") or {}).get("last_visit")
    if lv:
        for ax in ax_of.values():
            ax.axvline(_d(lv["date"]), color="black", ls="--", lw=1)
        keep(
            "last_visit",
            Line2D(
                [],
                [],
                color="black",
                ls="--",
                label=("your last visit " if plain else "last visit ") + lv["date"],
            ),
        )
    fig.legend(
        handles=handles,
        loc="upper center",
        ncol=3,
        fontsize=8,
        frameon=False,
        bbox_to_anchor=((x0 + w / 2) / fw, (y0 + legend_h) / fh),
        handlelength=1.8,
        columnspacing=1.2,
        borderaxespad=0.0,
    )


__all__ = ["key_figure", "draw_key_figure", "MIN_PT"]
