"""The measures catalogue, re-exported from :mod:`smoulder.schema.catalogue` where it lives.

Engines and readers both use the catalogue, so it sits in the contracts layer
(:mod:`smoulder.schema`); this module keeps ``smoulder.digital.catalogue`` working for code written
before the move.
"""

from __future__ import annotations

from smoulder.schema.catalogue import MEASURES, Measure, get_measure, measure_names, to_canonical

__all__ = ["Measure", "MEASURES", "get_measure", "measure_names", "to_canonical"]
