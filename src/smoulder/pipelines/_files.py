"""Small helpers shared by the pipelines of this module group: inputs as files or frames, and
all-or-nothing output writing through :class:`smoulder.io.outputs.OutputPlan` (outputs that
are inputs are refused; everything is written in a staging folder and renamed into place at the end;
on any error nothing is left behind)."""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pandas as pd

from smoulder.exceptions import SettingsError
from smoulder.io.outputs import TABLE_SUFFIXES, OutputPlan, Staging

__all__ = ["atomic_outputs", "output_plan", "load_table", "check_output_path", "settings_from"]


def _file_inputs(inputs: Mapping[str, Any] | None) -> dict[str, Path]:
    """The inputs given as files (DataFrames need no protection), by their flag."""
    return {k: Path(v) for k, v in (inputs or {}).items() if isinstance(v, (str, os.PathLike))}


def check_output_path(
    out: str | Path, flag: str = "--out", inputs: Mapping[str, Any] | None = None
) -> Path:
    """Refuse, before any work, an output table that cannot or must not be written.

    The checks are those of :class:`smoulder.io.outputs.OutputPlan`: a folder, a parent that is a
    file, an unwritable folder, a suffix other than a table's, or one of the ``inputs``.
    """
    plan = OutputPlan(_file_inputs(inputs))
    plan.add(out, flag, suffixes=TABLE_SUFFIXES)
    plan.check()
    return Path(out)


def output_plan(
    paths: Iterable[str | Path], inputs: Mapping[str, Any] | None = None, flag: str = "--out"
) -> OutputPlan:
    """The :class:`~smoulder.io.outputs.OutputPlan` of ``paths`` beside the file ``inputs``.

    Call ``.check()`` on it before any work and ``.staged()`` to write all or nothing.
    """
    plan = OutputPlan(_file_inputs(inputs))
    for p in paths:
        plan.add(p, flag)
    return plan


@contextmanager
def atomic_outputs(
    paths: Iterable[str | Path], inputs: Mapping[str, Any] | None = None
) -> Iterator[Staging]:
    """Write ``paths`` all or nothing: ``files.path(final)`` is where to write each of them now.

    A thin use of :class:`smoulder.io.outputs.OutputPlan`: files are written in a staging folder
    and renamed into place only when every one of them was written.
    """
    with output_plan(paths, inputs).staged() as stage:
        yield stage


def load_table(data: Any, what: str) -> tuple[pd.DataFrame, str]:
    """A DataFrame and its name for messages, from a path (CSV/TSV/Parquet) or a DataFrame."""
    if isinstance(data, pd.DataFrame):
        return data.reset_index(drop=True), f"<{what}>"
    from smoulder.io.tables import read_table

    return read_table(data), str(data)


def settings_from(cls: Any, settings: Any, overrides: dict[str, Any]) -> Any:
    """A settings object of ``cls`` from an instance, a mapping or None, plus overrides."""
    if settings is None:
        return cls.from_mapping({}, **overrides)
    if isinstance(settings, cls):
        return settings.replace(**{k: v for k, v in overrides.items() if v is not None})
    if isinstance(settings, dict):
        return cls.from_mapping(settings, **overrides)
    raise SettingsError(
        f"settings must be {cls.__name__} or a mapping (got {type(settings).__name__})"
    )
