"""The named choices of the clinical analyses, in one tiny module.

The settings models, the engine's integer codes and the command line's ``choices=`` lists all come
from here, so the command line can answer ``--help`` and refuse a bad choice without importing
numpy, pandas or pydantic (this module imports only :mod:`typing`).
"""

from __future__ import annotations

from typing import Literal, get_args

Outcome = Literal["edss", "t25fw", "nhpt", "sdmt", "custom"]
ComponentOutcome = Literal["edss", "t25fw", "nhpt", "sdmt"]
Direction = Literal["increase", "decrease"]
Combine = Literal["min", "max"]
Event = Literal["firstCDW", "firstCDI", "first", "firstPIRA", "firstRAW", "multiple"]
Baseline = Literal["fixed", "roving", "roving_impr", "roving_wors"]
ProceedFrom = Literal["firstconf", "event"]
SubThresholdRebaseline = Literal["none", "event", "improvement", "worsening"]
SkipLocalExtrema = Literal["none", "strict", "all"]
PrecedingVisit = Literal["baseline", "last", "last_delta"]
#: The PIRA definitions shipped as data (``smoulder/clinical/pira_definitions.toml``).
PiraDefinition = Literal[
    "mueller2023", "mueller2023_specific", "kappos2020", "cagol2022", "mueller2025"
]

OUTCOMES: tuple[str, ...] = get_args(Outcome)
COMPONENT_OUTCOMES: tuple[str, ...] = get_args(ComponentOutcome)
DIRECTIONS: tuple[str, ...] = get_args(Direction)
COMBINE: tuple[str, ...] = get_args(Combine)
EVENTS: tuple[str, ...] = get_args(Event)
BASELINES: tuple[str, ...] = get_args(Baseline)
PROCEED_FROM: tuple[str, ...] = get_args(ProceedFrom)
SUB_THRESHOLD_REBASELINE: tuple[str, ...] = get_args(SubThresholdRebaseline)
SKIP_LOCAL_EXTREMA: tuple[str, ...] = get_args(SkipLocalExtrema)
PRECEDING_VISITS: tuple[str, ...] = get_args(PrecedingVisit)
PIRA_DEFINITIONS: tuple[str, ...] = get_args(PiraDefinition)
