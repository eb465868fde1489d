"""Two reports from one data snapshot: the clinician's one-page summary and the patient version.

* **Clinician summary** (one A4 page): a header with age, disease course and its duration, the
  current treatment, the dates of the last visit and scan with their age and the overdue flags;
  the verdict panel (the four smouldering signals now, :mod:`smoulder.report.verdict`); what
  changed since the previous visit; the key figure (:mod:`smoulder.report.figure`).
* **Patient version** (A4, large type): what the results show in plain sentences with what they
  do and do not mean (:mod:`smoulder.report.plain`), what changed, questions for the next visit,
  the lifestyle summary and the figure in plain words.

Both carry the same snapshot line ("data as of <day>, record version <n>") so a reader can tell
they were made from the same data. HTML pages are self-contained (the figure as a PNG); PDFs are
drawn with matplotlib (no system libraries), fonts embedded so the text can be searched, every
text at least 8 pt.
"""

from __future__ import annotations

import base64
import datetime as dt
import io
import re
import textwrap
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from smoulder import __version__
from smoulder.report.plain import (
    EXPLAINER,
    long_date,
    plain_changes,
    plain_findings,
    plain_lifestyle,
    plain_overview,
    plain_questions,
)
from smoulder.report.summary import changes_since_last_visit, lifestyle_summary, questions, signals
from smoulder.report.verdict import overview, verdict
from smoulder.schema.palette import colour

A4 = (8.27, 11.69)
DISCLAIMER = "smoulder shows evidence from the records; it does not make a diagnosis."
Audience = Literal["clinician", "patient"]


@dataclass
class ConsultationReport:
    """Everything a report shows, ready to render (one audience, one data snapshot)."""

    label: str
    person: dict[str, Any]
    generated: str
    changes: list[str]
    signals: list[dict[str, str]]
    lifestyle: list[str]
    questions: list[str]
    timeline: dict[str, Any] = field(repr=False)
    version: str = __version__
    audience: Audience = "clinician"
    snapshot: str = ""
    overview: dict[str, Any] = field(default_factory=dict)
    verdict: list[dict[str, Any]] = field(default_factory=list)
    findings: list[dict[str, str]] = field(default_factory=list)
    about: list[str] = field(default_factory=list)
    explainer: list[str] = field(default_factory=list)

    @property
    def title(self) -> str:
        if self.audience == "patient":
            return "Your summary"
        return f"Clinician summary: {self.label}"


def build_report(
    tl: dict[str, Any],
    label: str,
    today: dt.date | None = None,
    audience: Audience = "clinician",
    record_version: int | None = None,
) -> ConsultationReport:
    """Assemble a report from one person's time line (see :func:`smoulder.store.repo.timeline`).

    ``record_version`` (the person's data version) goes on the snapshot line of both reports.
    """
    today = today or dt.date.today()
    ov = tl.get("overview") or overview(tl, today)
    snapshot = f"data as of {today.isoformat()}" + (
        f", record version {record_version}" if record_version is not None else ""
    )
    rep = ConsultationReport(
        label=label,
        person=tl.get("person", {}),
        generated=today.isoformat(),
        changes=changes_since_last_visit(tl, today),
        signals=signals(tl),
        lifestyle=lifestyle_summary(tl),
        questions=questions(tl),
        timeline={**tl, "overview": ov},
        audience=audience,
        snapshot=snapshot,
        overview=ov,
        verdict=tl.get("verdict") or verdict(tl, today),
    )
    if audience == "patient":
        rep.findings = plain_findings(tl, today)
        rep.about = plain_overview(tl, today)
        rep.changes = plain_changes(tl, today)
        rep.questions = plain_questions(tl, today)
        rep.explainer = EXPLAINER
        rep.lifestyle = plain_lifestyle(tl)
    return rep


def header_lines(report: ConsultationReport) -> list[str]:
    """The clinician header: who (age, sex, course, duration, treatment) and how current."""
    ov, p = report.overview, report.person
    who = []
    if ov.get("age") is not None:
        who.append(f"age {ov['age']}")
    if p.get("sex"):
        who.append(str(p["sex"]))
    who.append(
        f"{ov['disease_course']} ({ov['disease_course_name']})"
        if ov.get("disease_course")
        else "disease course not recorded"
    )
    if ov.get("onset_year"):
        who.append(f"onset {ov['onset_year']} ({ov['years_since_onset']} years)")
    t = ov.get("treatment")
    who.append(f"on {t['drug']} since {t['since']}" if t else "no current treatment on record")
    when = []
    lv, sc = ov.get("last_visit"), ov.get("last_scan")
    when.append(f"last visit {lv['date']} ({lv['ago']})" if lv else "no clinic visit")
    if ov.get("previous_visit"):
        when.append(f"previous {ov['previous_visit']['date']}")
    when.append(f"last MRI {sc['date']} ({sc['ago']})" if sc else "no MRI")
    return [" · ".join(who), " · ".join(when)]


# --------------------------------------------------------------------------- figures
def figure_png(
    tl: dict[str, Any], dpi: int = 130, plain: bool = False, today: dt.date | None = None
) -> bytes:
    """The key figure as PNG bytes."""
    import matplotlib.pyplot as plt

    from smoulder.report.figure import key_figure

    fig = key_figure(tl, plain=plain, today=today)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi)
    plt.close(fig)
    return buf.getvalue()


def timeline_figure(tl: dict[str, Any]) -> Any:
    """The key figure (kept under its earlier name)."""
    from smoulder.report.figure import key_figure

    return key_figure(tl)


# --------------------------------------------------------------------------- HTML
def render_html(report: ConsultationReport) -> str:
    """A self-contained HTML page (the figure embedded as a PNG data URL; all text escaped)."""
    from jinja2 import Environment, FileSystemLoader, select_autoescape

    env = Environment(
        loader=FileSystemLoader(str(Path(__file__).parent / "templates")),
        autoescape=select_autoescape(default=True, default_for_string=True),
    )
    env.globals.update(colour=colour, long_date=long_date)
    env.filters["nb"] = keep_units  # a number and its unit never wrap apart
    day = dt.date.fromisoformat(report.generated)  # the snapshot's day, not the clock's
    png = base64.b64encode(
        figure_png(report.timeline, plain=report.audience == "patient", today=day)
    ).decode()
    name = "patient.html" if report.audience == "patient" else "consultation.html"
    return env.get_template(name).render(
        r=report, png=png, disclaimer=DISCLAIMER, header=header_lines(report)
    )


# --------------------------------------------------------------------------- PDF
#: the space between a number and its unit ("-23 %", "7.5 s", "3 months"): never a line break
_NUMBER_UNIT = re.compile(
    r"(?<=\d) (?=(?:%|s\b|days?\b|weeks?\b|months?\b|years?\b|points?\b|seconds?\b"
    r"|minutes?\b|hours?\b|units?\b|m\b|mm))"
)


def keep_units(text: str) -> str:
    """``text`` with a no-break space between each number and its unit.

    Examples
    --------
    >>> keep_units(
    ...     "walk -23 % in 7.5 s, 3 months ago"
    ... ) == "walk -23\u00a0% in 7.5\u00a0s, 3\u00a0months ago"
    True
    """
    return _NUMBER_UNIT.sub("\u00a0", str(text))


def _wrap(text: str, width_in: float, size: float) -> list[str]:
    chars = max(20, int(width_in * 72 / (0.56 * size)))
    # textwrap breaks only at ordinary spaces: the glued pairs stay on one line, then read as
    # ordinary spaces again (the PDF's text is found as it is written)
    lines = textwrap.wrap(keep_units(text), chars) or [""]
    return [line.replace("\u00a0", " ") for line in lines]


class _Sheet:
    """Text placed from the top of an A4 page down, in inches; new pages when ``flow``."""

    def __init__(self, pdf: Any, report: ConsultationReport, flow: bool) -> None:
        self.pdf, self.report, self.flow = pdf, report, flow
        self.n = 0
        self.fig: Any = None
        self.new_page()

    def new_page(self) -> None:
        import matplotlib.pyplot as plt

        if self.fig is not None:
            self.finish()
        self.n += 1
        self.fig = plt.figure(figsize=A4)
        self.y = 0.5  # inches from the top

    def finish(self) -> None:
        import matplotlib.pyplot as plt

        self.fig.text(
            0.5,
            0.25 / A4[1],
            f"{self.report.snapshot} · smoulder {self.report.version} · page {self.n} · {DISCLAIMER}",
            ha="center",
            fontsize=8,
            color="#555",
        )
        self.pdf.savefig(self.fig)
        plt.close(self.fig)
        self.fig = None

    def room(self, inches: float) -> bool:
        return self.y + inches <= A4[1] - 0.55

    def need(self, inches: float) -> None:
        if not self.room(inches) and self.flow:
            self.new_page()

    def text(
        self,
        text: str,
        size: float = 10,
        weight: str = "normal",
        x: float = 0.6,
        width: float = 7.1,
        color: str = "#111",
        bullet: str = "",
        gap: float = 0.04,
    ) -> None:
        lines = _wrap(text, width - (0.2 if bullet else 0), size)
        step = size * 1.32 / 72
        self.need(step * len(lines))
        for i, line in enumerate(lines):
            if bullet and i == 0:
                self.fig.text(x / A4[0], 1 - self.y / A4[1], bullet, fontsize=size, va="top")
            self.fig.text(
                (x + (0.2 if bullet else 0)) / A4[0],
                1 - self.y / A4[1],
                line,
                fontsize=size,
                fontweight=weight,
                va="top",
                color=color,
            )
            self.y += step
        self.y += gap

    def box(self, x: float, y: float, w: float, h: float, top: str, face: str = "white") -> None:
        from matplotlib.patches import Rectangle

        f = self.fig
        f.patches.append(
            Rectangle(
                (x / A4[0], 1 - (y + h) / A4[1]),
                w / A4[0],
                h / A4[1],
                transform=f.transFigure,
                facecolor=face,
                edgecolor="#c9ced6",
                lw=0.8,
            )
        )
        f.patches.append(
            Rectangle(
                (x / A4[0], 1 - (y + 0.06) / A4[1]),
                w / A4[0],
                0.06 / A4[1],
                transform=f.transFigure,
                facecolor=top,
                lw=0,
            )
        )


def _cards(sheet: _Sheet, cards: list[tuple[str, str, str, list[str], str]], h: float) -> None:
    """Four boxes in two rows: title, value (coloured), lines, colour of the top bar.

    ``h`` is the least height of a box; boxes grow to hold their lines.
    """
    w, gap, x0 = 3.5, 0.1, 0.6
    step = 8 * 1.32 / 72
    # boxes grow to hold their text (up to 1.9 in; only text beyond that is cut with "…")
    head = 0.12 + (9 + 11.5) * 1.32 / 72 + 0.02 + 0.06
    need = max(
        (head + sum(len(_wrap(t, w - 0.2, 8)) * step + 0.02 for t in c[3]) for c in cards),
        default=h,
    )
    h = min(max(h, need), 1.9)
    top = sheet.y
    for i, (title, value, colour_, lines, _key) in enumerate(cards):
        x = x0 + (i % 2) * (w + gap)
        y = top + (i // 2) * (h + gap)
        sheet.box(x, y, w, h, colour_)
        sheet.y = y + 0.12
        sheet.text(title, 9, "bold", x=x + 0.1, width=w - 0.2, gap=0)
        sheet.text(value, 11.5, "bold", x=x + 0.1, width=w - 0.2, color=colour_, gap=0.02)
        left = int((y + h - 0.06 - sheet.y) / step)  # lines that still fit in the box
        for line in lines:
            wrapped = _wrap(line, w - 0.2, 8)
            if left <= 0:
                break
            if len(wrapped) > left:
                wrapped = wrapped[:left]
                wrapped[-1] = wrapped[-1][: max(0, len(wrapped[-1]) - 1)] + "…"
            for part in wrapped:
                sheet.text(part, 8, x=x + 0.1, width=w - 0.2, gap=0)
            left -= len(wrapped)
            sheet.y += 0.02
    sheet.y = top + 2 * h + gap + 0.15


def _clinician_page(pdf: Any, report: ConsultationReport) -> None:
    from smoulder.report.figure import draw_key_figure

    s = _Sheet(pdf, report, flow=False)
    s.text(report.title, 14, "bold", gap=0.02)
    for line in header_lines(report):
        s.text(line, 9.5, gap=0.01)
    for f in report.overview.get("flags") or []:
        s.text("! " + f["text"], 9, "bold", color="#8a4b00", gap=0.01)
    s.y += 0.08
    s.text("Smouldering signals now", 11, "bold", gap=0.05)
    cards = []
    for v in report.verdict:
        c = colour(v["kind"]) if v["state"] == "present" else "#9aa1ab"
        lines = [v["detail"]] + ([f"Since the last visit: {v['since']}"] if v["since"] else [])
        cards.append((v["title"], v["value"], c, lines, v["key"]))
    _cards(s, cards, 1.3)
    s.text("What changed since the previous visit", 11, "bold", gap=0.04)
    fig_h = 4.6
    budget = A4[1] - 0.55 - fig_h - s.y
    used, shown = 0.0, 0
    for line in report.changes:
        cost = len(_wrap(line, 6.9, 8.5)) * 8.5 * 1.32 / 72 + 0.02
        if used + cost > budget - 0.2:
            break
        s.text(line, 8.5, bullet="•", gap=0.02)
        used += cost
        shown += 1
    if shown < len(report.changes):
        s.text(
            f"… {len(report.changes) - shown} more lines on the person page and in the web summary.",
            8,
            color="#555",
        )
    # the figure takes the rest of the page
    fig_h = max(fig_h, A4[1] - s.y - 0.15 - 0.45)
    # an open treatment runs to the snapshot's day, not to the day the PDF is made
    day = dt.date.fromisoformat(report.generated)
    draw_key_figure(s.fig, (0.5, 0.45, 7.3, fig_h), report.timeline, today=day)
    s.finish()


def _patient_pages(pdf: Any, report: ConsultationReport) -> None:
    from smoulder.report.figure import draw_key_figure

    s = _Sheet(pdf, report, flow=True)
    s.text(report.title, 18, "bold", gap=0.06)
    for line in report.about:
        s.text(line, 11, bullet="•", gap=0.03)
    s.y += 0.1
    s.text("What your results show", 14, "bold", gap=0.06)
    status = {"found": "Seen", "not found": "Not seen", "not measured": "Not checked yet"}
    for f in report.findings:
        s.need(1.1)
        s.text(f"{f['title']}: {status[f['status']]}", 11.5, "bold", gap=0.02)
        s.text(f["sentence"], 11, gap=0.02)
        s.text("What this means: " + f["meaning"], 10, color="#333", gap=0.12)
    s.text("What these results do and do not mean", 14, "bold", gap=0.06)
    for line in report.explainer:
        s.text(line, 11, gap=0.06)
    s.y += 0.1
    s.text("What changed between your last two visits", 14, "bold", gap=0.06)
    for line in report.changes:
        s.text(line, 11, bullet="•", gap=0.03)
    s.y += 0.1
    s.text("Questions to bring to your next visit", 14, "bold", gap=0.06)
    for i, q in enumerate(report.questions, start=1):
        s.text(q, 11, bullet=f"{i}.", gap=0.03)
    s.y += 0.1
    s.text("Your lifestyle log", 14, "bold", gap=0.06)
    for line in report.lifestyle:
        s.text(line, 11, bullet="•", gap=0.03)
    fig_h = 4.6
    s.y += 0.15
    s.need(fig_h + 0.5)
    s.text("Your results over time", 14, "bold", gap=0.06)
    draw_key_figure(
        s.fig,
        (0.5, A4[1] - s.y - fig_h, 7.3, fig_h),
        report.timeline,
        plain=True,
        today=dt.date.fromisoformat(report.generated),
    )
    s.finish()


def render_pdf(report: ConsultationReport) -> bytes:
    """The report as a PDF: the clinician summary on one A4 page, or the patient version."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.backends.backend_pdf import PdfPages

    buf = io.BytesIO()
    with (
        matplotlib.rc_context({"pdf.fonttype": 42, "font.family": "DejaVu Sans"}),
        PdfPages(
            buf, metadata={"Title": report.title, "Creator": f"smoulder {report.version}"}
        ) as pdf,
    ):
        if report.audience == "patient":
            _patient_pages(pdf, report)
        else:
            _clinician_page(pdf, report)
    return buf.getvalue()


__all__ = [
    "ConsultationReport",
    "build_report",
    "render_html",
    "render_pdf",
    "timeline_figure",
    "figure_png",
    "header_lines",
    "DISCLAIMER",
]
