"""Consultation reports (HTML and PDF) and plain-language summaries of a person's time line."""

from smoulder.report.consultation import (
    ConsultationReport,
    build_report,
    figure_png,
    render_html,
    render_pdf,
    timeline_figure,
)
from smoulder.report.summary import changes_since_last_visit, lifestyle_summary, questions, signals

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
]
