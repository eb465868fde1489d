"""Pieces the clinical pipelines share: settings files, input checks, staged writing, progress.

``progress`` arguments are callables taking one short phrase ("reading the visits", "scanning
2,000,000 visits", ...) before each step; the command line shows them (after a second) with rich,
the Python API passes nothing.
"""

from __future__ import annotations

import json
import tomllib
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager, nullcontext
from pathlib import Path
from typing import Any, TypeVar

from smoulder._params import Settings
from smoulder.exceptions import SettingsError

__all__ = [
    "Progress",
    "read_settings_file",
    "settings_from",
    "check_inputs",
    "staged",
    "step",
    "timed_step",
]

Progress = Callable[[str], None]
S = TypeVar("S", bound=Settings)


def step(progress: Progress | None, what: str) -> None:
    """Tell ``progress`` (if any) what happens next."""
    if progress is not None:
        progress(what)


@contextmanager
def timed_step(progress: Progress | None, what: str) -> Iterator[None]:
    """:func:`step`, as a block."""
    step(progress, what)
    yield


def read_settings_file(path: str | Path, flag: str = "--settings") -> dict[str, Any]:
    """The parameters of a settings file: the TOML or JSON written beside every output.

    The JSON beside an output also holds the version, counts and input report: its
    ``settings`` table is taken.

    Raises
    ------
    SettingsError
        Naming the file and what was expected (never a traceback for binary or broken files).
    """
    p = Path(path)
    expected = "the TOML or JSON settings written beside every output"
    try:
        text = p.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise SettingsError(f"{p}: {flag} is not a settings file; expected {expected}") from None
    except OSError as exc:
        raise SettingsError(f"{p}: cannot read settings file ({exc.strerror})") from None
    is_json = p.suffix.lower() == ".json"
    try:
        data = json.loads(text) if is_json else tomllib.loads(text)
    except (json.JSONDecodeError, tomllib.TOMLDecodeError) as exc:
        raise SettingsError(
            f"{p}: not valid {'JSON' if is_json else 'TOML'}: {exc}; expected {expected}"
        ) from None
    if not isinstance(data, dict):
        raise SettingsError(f"{p}: {flag} is not a settings file; expected {expected}")
    if is_json and "smoulder_version" in data and isinstance(data.get("settings"), dict):
        data = data["settings"]
    return data


def settings_from(
    cls: type[S],
    settings: S | Mapping[str, Any] | str | Path | None = None,
    **overrides: Any,
) -> S:
    """One merge rule for every caller: the base (a settings object, a mapping or a settings
    file), then the overrides (flags or keyword options; ``None`` keeps the base's value)."""
    if isinstance(settings, (str, Path)):
        base: Mapping[str, Any] | None = read_settings_file(settings)
    elif isinstance(settings, Settings):
        base = settings.model_dump()
    else:
        base = settings
    return cls.from_mapping(base, **overrides)


def check_inputs(inputs: Mapping[str, Any], labels: Mapping[str, str]) -> dict[str, Path | None]:
    """Refuse a missing or unreadable input file before any work; returns label -> path.

    ``inputs`` maps names to paths (or DataFrames, or None, which are skipped); ``labels`` names
    each as the caller knows it (``--relapses`` on the command line).
    """
    from smoulder.io.outputs import check_input_file

    found: dict[str, Path | None] = {}
    for name, value in inputs.items():
        label = labels.get(name, name)
        if isinstance(value, (str, Path)):
            expected = (
                "a settings file (.toml or .json) as written beside every output"
                if name == "settings"
                else "an existing CSV, TSV or Parquet table"
            )
            check_input_file(value, label, expected=expected)
            found[label] = Path(value)
        else:
            found[label] = None
    return found


@contextmanager
def staged(
    out: Path | None,
    outputs: list[Path],
    inputs: Mapping[str, Path | None] | None = None,
    *,
    flag: str = "--out",
) -> Iterator[Any]:
    """Outputs checked before any work, written to a staging folder, renamed in place at the end.

    Yields the staging (``stage.path(final)``), or None when ``out`` is None (nothing is
    written).
    """
    if out is None:
        with nullcontext():
            yield None
        return
    from smoulder.io.outputs import TABLE_SUFFIXES, OutputPlan

    plan = OutputPlan(dict(inputs or {}))
    for i, path in enumerate(outputs):
        plan.add(path, flag, suffixes=TABLE_SUFFIXES if i == 0 else None)
    with plan.staged() as stage:
        yield stage
