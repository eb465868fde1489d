"""Pipelines: one per analysis, the only place where validation, the engine call and writing meet.

Every caller (the command line, the store, the BIDS App and the Python API) runs an analysis
through its pipeline, so the wiring ``read -> validate -> engine -> write`` exists once:

``smoulder.pipelines.<analysis>.run(...)``
    takes files or DataFrames plus a settings object (or overrides), validates the inputs with
    :mod:`smoulder.schema`, calls the engine, writes the outputs when ``out`` is given, and returns
    the engine's result;
``smoulder.pipelines.<analysis>.write(result, out, ...)``
    writes a result's files (atomically: temporary names renamed into place at the end).

Pipelines import engines, :mod:`smoulder.schema` and :mod:`smoulder.io`; nothing below them imports a
pipeline, except :meth:`smoulder._result.AnalysisResult.write`, which calls :func:`write_result`.
"""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Any

__all__ = ["write_result"]


def write_result(result: Any, out: str | Path, **options: Any) -> dict[str, Path]:
    """Write ``result`` through the pipeline named by its class's ``pipeline`` attribute."""
    name = getattr(type(result), "pipeline", "")
    if not name:
        raise TypeError(f"{type(result).__name__} names no pipeline to write it")
    module = importlib.import_module(name)
    paths: dict[str, Path] = module.write(result, out, **options)
    return paths
