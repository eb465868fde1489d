"""Between visits: phone, wearable, home-test and questionnaire measures (the engines).

The catalogue (:mod:`smoulder.schema.catalogue`) describes every measure; the engines aggregate
validated long tables to days and weeks (:mod:`~smoulder.digital.aggregate`), handle practice
effects (:mod:`~smoulder.digital.practice`) and detect sustained worsening
(:mod:`~smoulder.digital.detect`, with :mod:`~smoulder.digital.settings` and
:mod:`~smoulder.digital.result`). They never read or write files: readers live in
:mod:`smoulder.io`, and :mod:`smoulder.pipelines.digital` wires reading, detection and writing for
the command line, the store and the Python API.

Examples
--------
>>> import smoulder.digital as dg
>>> dg.DetectSettings(methods="cusum").methods
('cusum',)
>>> dg.get_measure("steps").unit
'count'
"""

from __future__ import annotations

from smoulder.digital.aggregate import daily, weekly
from smoulder.digital.detect import decision_limits, detect, resolve_settings
from smoulder.digital.result import EVENT_COLUMNS, DetectionResult
from smoulder.digital.settings import METHODS, AggregationSettings, DetectSettings
from smoulder.schema.catalogue import MEASURES, Measure, get_measure, measure_names

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
    "decision_limits",
    "resolve_settings",
    "EVENT_COLUMNS",
    "METHODS",
]
