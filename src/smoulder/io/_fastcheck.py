"""The compiled single-pass column checks; they live in :mod:`smoulder.schema._fastcheck`."""

from smoulder.schema._fastcheck import (
    RULE_EDSS,
    RULE_FINITE,
    RULE_POSITIVE_TIME,
    RULE_SDMT,
    check_days,
    check_values,
    order_state,
)

__all__ = [
    "RULE_EDSS",
    "RULE_FINITE",
    "RULE_POSITIVE_TIME",
    "RULE_SDMT",
    "check_days",
    "check_values",
    "order_state",
]
