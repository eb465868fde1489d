"""Between visits: phone, wearable, home-test and questionnaire measures.

The catalogue (:mod:`smoulder.digital.catalogue`) describes every measure; the engines aggregate
validated long tables to days and weeks, handle practice effects and detect sustained worsening.
They never read files: readers live in :mod:`smoulder.io`.
"""

from __future__ import annotations

from smoulder.digital.catalogue import MEASURES, Measure, get_measure, measure_names

__all__ = ["MEASURES", "Measure", "get_measure", "measure_names"]
