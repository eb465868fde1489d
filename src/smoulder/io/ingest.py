"""The input report every reader returns; it lives in :mod:`smoulder.schema.report`."""

from smoulder.schema.report import IngestReport

__all__ = ["IngestReport"]
