"""Small helpers shared by the pipelines of this module group: inputs as files or frames, and
all-or-nothing output writing (temporary names in the target folder, renamed into place at the
end; on any error the temporary files are removed and nothing is left behind)."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pandas as pd

from smoulder.exceptions import InputDataError, SettingsError

__all__ = ["AtomicOutputs", "atomic_outputs", "load_table", "check_output_path", "settings_from"]


class AtomicOutputs:
    """Hands out temporary paths for final paths; :meth:`commit` renames them into place."""

    def __init__(self) -> None:
        self._pending: list[tuple[Path, Path]] = []
        self._token = uuid.uuid4().hex[:10]

    def path(self, final: str | Path) -> Path:
        """A temporary path in ``final``'s folder that keeps its suffix (writers go by it)."""
        final = Path(final)
        final.parent.mkdir(parents=True, exist_ok=True)
        name = final.name
        suffix = "".join(final.suffixes) or ""
        stem = name[: len(name) - len(suffix)] if suffix else name
        tmp = final.with_name(f".{stem}.tmp-{self._token}{suffix}")
        self._pending.append((tmp, final))
        return tmp

    def commit(self) -> None:
        for tmp, final in self._pending:
            os.replace(tmp, final)
        self._pending.clear()

    def discard(self) -> None:
        for tmp, _ in self._pending:
            try:
                tmp.unlink()
            except FileNotFoundError:
                pass
        self._pending.clear()


@contextmanager
def atomic_outputs() -> Iterator[AtomicOutputs]:
    """Context in which outputs are written to temporary names; all renamed on success."""
    out = AtomicOutputs()
    try:
        yield out
    except BaseException:
        out.discard()
        raise
    out.commit()


def check_output_path(out: str | Path, flag: str = "--out") -> Path:
    """Refuse an output path that cannot be written before any work is done."""
    p = Path(out)
    if p.exists() and p.is_dir():
        raise InputDataError(f"{flag} {p} is a folder", expected="a file name such as result.csv")
    parent = p.parent if str(p.parent) else Path(".")
    probe = parent
    while not probe.exists():
        probe = probe.parent
    if not os.access(probe, os.W_OK):
        raise InputDataError(f"{flag}: cannot write in {probe}", expected="a writable folder")
    if p.suffix.lower() not in (".csv", ".tsv", ".parquet", ".pq"):
        raise InputDataError(
            f"{flag} {p} has no table suffix", expected="a .csv or .parquet file name"
        )
    return p


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
