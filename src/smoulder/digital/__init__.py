"""Between visits: phone, wearable, home-test and questionnaire measures.

The catalogue (:mod:`smoulder.schema.catalogue`) describes every measure; the engines aggregate
validated long tables to days and weeks (:mod:`~smoulder.digital.aggregate`), handle practice
effects (:mod:`~smoulder.digital.practice`) and detect sustained worsening
(:mod:`~smoulder.digital.detect`). They never read files: readers live in :mod:`smoulder.io`.
"""

from __future__ import annotations

from smoulder.digital.aggregate import AggregationSettings, daily, weekly
from smoulder.schema.catalogue import MEASURES, Measure, get_measure, measure_names
from smoulder.digital.detect import EVENT_COLUMNS, METHODS, DetectionResult, DetectSettings, detect

__all__ = [
    "MEASURES",
    "Measure",
    "get_measure",
    "measure_names",
    "AggregationSettings",
    "daily",
    "weekly",
    "DetectSettings",
    "DetectionResult",
    "detect",
    "EVENT_COLUMNS",
    "METHODS",
]
