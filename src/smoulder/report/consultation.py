"""The consultation report: what changed since the last visit, each signal with its date and source,
plots, a lifestyle summary and questions to discuss with the neurologist, as HTML and PDF.

The PDF is drawn with matplotlib (already a core dependency; no system libraries needed): A4
pages of wrapped text and the time-line figure, TrueType fonts embedded so the text stays
searchable and extractable.
"""

from __future__ import annotations

import base64
import datetime as dt
import io
import textwrap
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from smoulder import __version__
from smoulder.report.summary import changes_since_last_visit, lifestyle_summary, questions, signals

A4 = (8.27, 11.69)
DISCLAIMER = "smoulder shows evidence from your records; it does not make a diagnosis. Talk with your doctor."


@dataclass
class ConsultationReport:
    """Everything a consultation report shows, ready to render."""

    label: str
    person: dict[str, Any]
    generated: str
    changes: list[str]
    signals: list[dict[str, str]]
    lifestyle: list[str]
    questions: list[str]
    timeline: dict[str, Any] = field(repr=False)
    version: str = __version__

    @property
    def title(self) -> str:
        return f"Consultation report: {self.label}"


def build_report(
    tl: dict[str, Any], label: str, today: dt.date | None = None
) -> ConsultationReport:
    """Assemble a report from one person's time line (see :func:`smoulder.store.repo.timeline`)."""
    return ConsultationReport(
        label=label,
        person=tl.get("person", {}),
        generated=(today or dt.date.today()).isoformat(),
        changes=changes_since_last_visit(tl),
        signals=signals(tl),
        lifestyle=lifestyle_summary(tl),
        questions=questions(tl),
        timeline=tl,
    )


def _dates(values: list[str]) -> list[Any]:
    import numpy as np

    return [np.datetime64(v) for v in values]


def timeline_figure(tl: dict[str, Any]) -> Any:
    """A matplotlib figure of the time line: EDSS with events, relapses and treatments; SDMT and
    walk/peg times; MRI findings; device trends. One shared date axis."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    device = tl.get("device", {})
    nrows = 3 + (1 if device else 0)
    fig, axes = plt.subplots(
        nrows,
        1,
        figsize=(7.8, 2.1 * nrows),
        sharex=True,
        gridspec_kw={"height_ratios": [2.2, 1.4, 0.9] + ([1.4] if device else [])},
    )
    ax = axes[0]
    visits = tl.get("assessments", [])
    ev = [v for v in visits if v.get("edss") is not None]
    if ev:
        ax.plot(
            _dates([v["date"] for v in ev]),
            [v["edss"] for v in ev],
            "o-",
            color="#1f4e79",
            ms=3,
            lw=1.2,
            label="EDSS",
        )
    colours = {"PIRA": "#c0392b", "RAW": "#e67e22", "undefined": "#7f8c8d", "CDI": "#27ae60"}
    seen = set()
    for e in tl.get("events", []):
        kind = e["type"]
        ax.plot(
            _dates([e["event_date"]]),
            [e["event_value"]],
            marker="^" if kind != "CDI" else "v",
            ms=10,
            color=colours.get(kind, "k"),
            ls="none",
            label=kind if kind not in seen else None,
        )
        seen.add(kind)
    for i, r in enumerate(tl.get("relapses", [])):
        for a in axes:
            a.axvline(
                _dates([r["onset"]])[0],
                color="#8e44ad",
                lw=0.8,
                alpha=0.6,
                label="relapse" if (i == 0 and a is ax) else None,
            )
    for t in tl.get("treatments", []):
        end = t.get("stop") or (visits[-1]["date"] if visits else t["start"])
        ax.axvspan(_dates([t["start"]])[0], _dates([end])[0], color="#95a5a6", alpha=0.12)
        ax.text(
            _dates([t["start"]])[0],
            0.3,
            t.get("drug") or "other treatment",
            fontsize=7,
            color="#555",
        )
    ax.set_ylabel("EDSS")
    ax.set_ylim(0, 10)
    ax.legend(loc="upper left", fontsize=7, ncol=4, frameon=False)
    ax.set_title(
        "Clinic scores, events, relapses (purple lines) and treatments (grey bands)", fontsize=9
    )

    ax = axes[1]
    sd = [v for v in visits if v.get("sdmt") is not None]
    if sd:
        ax.plot(
            _dates([v["date"] for v in sd]),
            [v["sdmt"] for v in sd],
            "s-",
            ms=3,
            lw=1,
            color="#16a085",
            label="SDMT (points)",
        )
    ax2 = ax.twinx()
    for key, colour, lab in (("t25fw", "#d35400", "T25FW (s)"), ("nhpt", "#2c3e50", "9HPT (s)")):
        rows = [v for v in visits if v.get(key) is not None]
        if rows:
            ax2.plot(
                _dates([v["date"] for v in rows]),
                [v[key] for v in rows],
                ".-",
                lw=0.8,
                color=colour,
                label=lab,
            )
    ax.set_ylabel("SDMT")
    ax2.set_ylabel("seconds")
    h1, l1 = ax.get_legend_handles_labels()
    h2, l2 = ax2.get_legend_handles_labels()
    ax.legend(h1 + h2, l1 + l2, loc="upper left", fontsize=7, ncol=3, frameon=False)

    ax = axes[2]
    for m in tl.get("mri", []):
        d = _dates([m["date"]])[0]
        ax.plot([d], [0], "o", color="#c0392b" if m.get("active") else "#bdc3c7", ms=6)
        txt = []
        if m.get("prl_rated"):
            txt.append(f"PRL {m['n_prl']}")
        if m.get("sel_rated"):
            txt.append(f"SEL {m['n_sel_definite']}")
        if txt:
            ax.annotate(
                " ".join(txt),
                (d, 0),
                xytext=(0, 6),
                textcoords="offset points",
                fontsize=6,
                ha="center",
            )
    ax.set_yticks([])
    ax.set_ylabel("MRI")
    ax.set_ylim(-1, 1.5)
    if device:
        ax = axes[3]
        for name, s in device.items():
            vals = s["values"]
            if not vals:
                continue
            ref = sorted(vals[: min(len(vals), 26)])[len(vals[: min(len(vals), 26)]) // 2] or 1.0
            ax.plot(
                _dates(s["dates"]),
                [100.0 * v / ref for v in vals],
                lw=0.8,
                label=name.replace("_", " ") + (f" ({s['unit']})" if s.get("unit") else ""),
            )
        for e in tl.get("device_events", []):
            ax.axvline(_dates([e["onset_date"]])[0], color="#c0392b", ls="--", lw=0.8)
        ax.set_ylabel("% of first\nhalf-year")
        ax.legend(loc="lower left", fontsize=7, frameon=False)
        ax.set_title(
            "Phone and watch measures (weekly medians; dashed: sustained decline)", fontsize=9
        )
    fig.tight_layout()
    return fig


def figure_png(tl: dict[str, Any], dpi: int = 110) -> bytes:
    """The time-line figure as PNG bytes."""
    import matplotlib.pyplot as plt

    fig = timeline_figure(tl)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi)
    plt.close(fig)
    return buf.getvalue()


def render_html(report: ConsultationReport) -> str:
    """A self-contained HTML page (the plot embedded as a PNG data URL; all text escaped)."""
    from jinja2 import Environment, FileSystemLoader, select_autoescape

    env = Environment(
        loader=FileSystemLoader(str(Path(__file__).parent / "templates")),
        autoescape=select_autoescape(default=True, default_for_string=True),
    )
    png = base64.b64encode(figure_png(report.timeline)).decode()
    return env.get_template("consultation.html").render(r=report, png=png, disclaimer=DISCLAIMER)


def _text_pages(report: ConsultationReport) -> list[list[tuple[str, str]]]:
    """Lay the text out in lines of (style, text) per page."""
    lines: list[tuple[str, str]] = [
        ("title", report.title),
        ("small", f"Generated {report.generated} by smoulder {report.version}"),
        ("gap", ""),
    ]

    def section(head: str, items: list[str], bullet: str = "- ") -> None:
        lines.append(("head", head))
        for it in items:
            wrapped = textwrap.wrap(it, 92) or [""]
            lines.append(("body", bullet + wrapped[0]))
            lines.extend(("body", "  " + w) for w in wrapped[1:])
        lines.append(("gap", ""))

    section("What changed since the last visit", report.changes)
    section(
        "Smouldering signals (date, signal, source)",
        [f"{s['date']}  {s['signal']}  [{s['source']}]" for s in report.signals]
        or ["No signals on record."],
    )
    section("Lifestyle", report.lifestyle)
    section("Questions to discuss with your neurologist", report.questions)
    lines.append(("small", DISCLAIMER))
    per_page = 52
    pages: list[list[tuple[str, str]]] = []
    cur: list[tuple[str, str]] = []
    used = 0
    for style, text in lines:
        cost = 2 if style in ("title", "head") else 1
        if used + cost > per_page:
            pages.append(cur)
            cur, used = [], 0
        cur.append((style, text))
        used += cost
    if cur:
        pages.append(cur)
    return pages


def render_pdf(report: ConsultationReport) -> bytes:
    """The report as a PDF (A4: text pages, then the time-line figure)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.backends.backend_pdf import PdfPages

    buf = io.BytesIO()
    sizes = {"title": 15, "head": 11.5, "body": 9.5, "small": 8, "gap": 9.5}
    weights = {"title": "bold", "head": "bold"}
    with (
        matplotlib.rc_context({"pdf.fonttype": 42, "font.family": "DejaVu Sans"}),
        PdfPages(
            buf, metadata={"Title": report.title, "Creator": f"smoulder {report.version}"}
        ) as pdf,
    ):
        pages = _text_pages(report)
        for n, page in enumerate(pages, start=1):
            fig = plt.figure(figsize=A4)
            y = 0.95
            for style, text in page:
                step = 0.0165 * (2 if style in ("title", "head") else 1)
                if style in ("title", "head"):
                    y -= 0.006
                fig.text(
                    0.07,
                    y,
                    text,
                    fontsize=sizes[style],
                    fontweight=weights.get(style, "normal"),
                    va="top",
                    family="DejaVu Sans",
                )
                y -= step
            fig.text(0.5, 0.02, f"page {n}", ha="center", fontsize=7, color="#777")
            pdf.savefig(fig)
            plt.close(fig)
        fig = timeline_figure(report.timeline)
        fig.set_size_inches(*A4)
        fig.suptitle(f"Time line: {report.label}", fontsize=11, y=0.995)
        fig.tight_layout(rect=(0, 0, 1, 0.98))
        pdf.savefig(fig)
        plt.close(fig)
    return buf.getvalue()


__all__ = [
    "ConsultationReport",
    "build_report",
    "render_html",
    "render_pdf",
    "timeline_figure",
    "figure_png",
    "DISCLAIMER",
]
