"""Flags and settings shared by the image commands that segment lesions (``lesions``, ``mri-activity``).

Both commands take a ``--settings`` TOML file, ``--seed``, ``--no-n4``, ``--z-seed`` and
``--z-grow``, ``--quiet`` and ``--json``, and turn them into a settings object whose errors name
the flag (or the TOML file) that caused them. This module holds that preamble once.
"""

from __future__ import annotations

import argparse
from collections.abc import Mapping
from pathlib import Path
from typing import Any

__all__ = ["add_common_flags", "add_report_flags", "common_overrides", "settings_from_args"]


def add_common_flags(
    p: argparse.ArgumentParser,
    *,
    table: str,
    seed_help: str,
    z_seed_help: str,
    z_grow_help: str,
) -> None:
    """``--settings`` (a TOML file with a ``[table]``), ``--seed``, ``--no-n4``, ``--z-seed``, ``--z-grow``."""
    p.add_argument("--settings", type=Path, help=f"TOML file with a [{table}] table of parameters")
    p.add_argument("--seed", type=int, default=None, help=seed_help)
    p.add_argument("--no-n4", action="store_true", help="skip N4 bias-field correction")
    p.add_argument("--z-seed", type=float, default=None, help=z_seed_help)
    p.add_argument("--z-grow", type=float, default=None, help=z_grow_help)


def add_report_flags(p: argparse.ArgumentParser) -> None:
    """``--quiet`` and ``--json``."""
    p.add_argument("--quiet", action="store_true", help="print nothing on success")
    p.add_argument("--json", action="store_true", help="print a JSON summary on stdout")


def common_overrides(ns: argparse.Namespace) -> dict[str, Any]:
    """The settings given by :func:`add_common_flags`' flags (``None``: not given)."""
    return {
        "registration": ns.registration,
        "seed": ns.seed,
        "n4": False if ns.no_n4 else None,
        "z_seed": ns.z_seed,
        "z_grow": ns.z_grow,
    }


def settings_from_args(
    cls: Any, settings_file: Path | None, overrides: Mapping[str, Any], flags: Mapping[str, str]
) -> Any:
    """``cls`` from the TOML file (if any) with the flags' ``overrides`` on top (``None``: unset).

    An unreadable file is an :class:`~smoulder.exceptions.InputDataError` naming it; an invalid
    value a :class:`~smoulder.exceptions.SettingsError` naming the TOML file or the flag
    (``flags``: parameter -> flag).
    """
    from smoulder.exceptions import InputDataError, SettingsError

    over = {k: v for k, v in overrides.items() if v is not None}
    if settings_file is not None:
        try:
            text = Path(settings_file).read_text(encoding="utf-8")
        except OSError as exc:
            raise InputDataError(
                f"cannot read settings ({exc.strerror})",
                file=str(settings_file),
                expected="a TOML file for --settings",
            ) from None
        try:
            return cls.from_toml(text).replace(**over)
        except SettingsError as exc:
            flag = flags.get(str(getattr(exc, "parameter", "")))
            if flag and getattr(exc, "parameter", None) in over:
                raise SettingsError(f"{flag}: {exc}") from None
            raise SettingsError(f"{settings_file}: {exc}") from None
    try:
        return cls.from_mapping({}, **over)
    except SettingsError as exc:
        flag = flags.get(str(getattr(exc, "parameter", "")))
        if flag:
            raise SettingsError(f"{flag}: {exc}") from None
        raise
