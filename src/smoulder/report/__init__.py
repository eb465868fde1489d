"""Reports (a one-page clinician summary and a patient version, HTML and PDF) and the
plain-language summaries, overview and verdict of a person's time line."""

from smoulder.report.consultation import (
    ConsultationReport,
    build_report,
    figure_png,
    render_html,
    render_pdf,
    timeline_figure,
)
from smoulder.report.plain import (
    plain_changes,
    plain_findings,
    plain_lifestyle,
    plain_overview,
    plain_questions,
)
from smoulder.report.summary import changes_since_last_visit, lifestyle_summary, questions, signals
from smoulder.report.verdict import overview, verdict

__all__ = [
    "ConsultationReport",
    "build_report",
    "render_html",
    "render_pdf",
    "timeline_figure",
    "figure_png",
    "changes_since_last_visit",
    "signals",
    "lifestyle_summary",
    "questions",
    "overview",
    "verdict",
    "plain_findings",
    "plain_overview",
    "plain_changes",
    "plain_questions",
    "plain_lifestyle",
]
