"""Readers: turn files into validated tables, or clear errors."""

from smoulder.io.tables import (
    IngestReport,
    read_mri_activity,
    read_relapses,
    read_table,
    read_visits,
    validate_mri_activity,
    validate_relapses,
    validate_visits,
    write_table,
)

__all__ = [
    "IngestReport",
    "read_table",
    "read_visits",
    "read_relapses",
    "read_mri_activity",
    "validate_visits",
    "validate_relapses",
    "validate_mri_activity",
    "write_table",
]
