"""Virtual patients with known ground truth, for tests, benchmarks and the demo.

- :mod:`smoulder.synth.clinical`: clinic cohorts (visits, relapses, MRI activity, trial arms);
- :mod:`smoulder.synth.digital`: weekly home tests and daily step counts;
- :mod:`smoulder.synth.apple_health`: Apple Health exports;
- :mod:`smoulder.synth.mri`: MRI phantoms with paramagnetic rim lesions (needs the imaging extra,
  so it is imported on first use).
"""

from __future__ import annotations

from typing import Any

from smoulder.synth.clinical import Cohort, load_demo, simulate_cohort, write_cohort
from smoulder.synth.digital import simulate_daily_steps, simulate_weekly_tests

__all__ = [
    "Cohort",
    "simulate_cohort",
    "write_cohort",
    "load_demo",
    "simulate_weekly_tests",
    "simulate_daily_steps",
    "MRIPhantom",
    "simulate_mri_phantom",
]

_LAZY = {"MRIPhantom": "smoulder.synth.mri", "simulate_mri_phantom": "smoulder.synth.mri"}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'smoulder.synth' has no attribute {name!r}")
