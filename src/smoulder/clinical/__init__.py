"""Clinical progression: confirmed disability worsening, PIRA, RAW, PIRMA, composites, milestones.

The engines take validated pandas DataFrames and a settings object and return result objects;
they never read or write files (:mod:`smoulder.pipelines` does). Names are imported on first use,
so that ``smoulder.clinical.choices`` (the command line's choice lists) costs nothing.

==========================  ==============================================================
analysis                    entry point
==========================  ==============================================================
progression (CDW/PIRA/RAW)  :func:`assess`, :class:`ProgressionSettings`, :class:`ProgressionResult`
EDSS-plus composite         :func:`composite_cdw`, :class:`CompositeSettings`
confirmed milestones        :func:`confirmed_milestone`, :class:`MilestoneSettings`
survival                    :func:`time_to_first_event`, :func:`kaplan_meier`, :func:`cox_hazard_ratio`
==========================  ==============================================================
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "assess": "smoulder.clinical.progression",
    "run_validated": "smoulder.clinical.progression",
    "make_settings": "smoulder.clinical.settings",
    "ProgressionSettings": "smoulder.clinical.settings",
    "ProgressionResult": "smoulder.clinical.result",
    "EVENT_COLUMNS": "smoulder.clinical.result",
    "UNCONFIRMED_COLUMNS": "smoulder.clinical.result",
    "MinimalChange": "smoulder.clinical.thresholds",
    "minimal_change": "smoulder.clinical.thresholds",
    "composite_cdw": "smoulder.clinical.composite",
    "CompositeSettings": "smoulder.clinical.composite",
    "CompositeResult": "smoulder.clinical.composite",
    "confirmed_milestone": "smoulder.clinical.milestones",
    "MilestoneSettings": "smoulder.clinical.milestones",
    "MilestoneResult": "smoulder.clinical.milestones",
    "time_to_first_event": "smoulder.clinical.survival",
    "kaplan_meier": "smoulder.clinical.survival",
    "cox_hazard_ratio": "smoulder.clinical.survival",
    "KMResult": "smoulder.clinical.survival",
    "KMSettings": "smoulder.clinical.survival",
    "definitions": "smoulder.clinical.presets",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'smoulder.clinical' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_EXPORTS))
