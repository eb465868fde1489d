"""Clinical progression: confirmed disability worsening, PIRA, RAW, PIRMA, composites, milestones."""

from __future__ import annotations

from smoulder.clinical.progression import assess, make_settings, run_validated
from smoulder.clinical.result import EVENT_COLUMNS, ProgressionResult
from smoulder.clinical.settings import ProgressionSettings
from smoulder.clinical.thresholds import MinimalChange, minimal_change

__all__ = [
    "assess",
    "run_validated",
    "make_settings",
    "ProgressionResult",
    "ProgressionSettings",
    "EVENT_COLUMNS",
    "MinimalChange",
    "minimal_change",
]
