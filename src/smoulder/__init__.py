"""smoulder: find and follow smouldering multiple sclerosis."""

from __future__ import annotations

__version__ = "0.1.0"

from smoulder.exceptions import ColumnNotFoundError, InputDataError, SettingsError, SmoulderError

__all__ = [
    "__version__",
    "SmoulderError",
    "InputDataError",
    "ColumnNotFoundError",
    "SettingsError",
]
