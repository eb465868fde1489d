"""The imaging commands' help: it answers without the engines, and the defaults it states are the
settings' own."""

from __future__ import annotations

import argparse
import re
import subprocess
import sys

import pytest

from smoulder.cli import bids, prl, sel
from smoulder.cli.prl import RIM_FLAGS
from smoulder.cli.sel import SEL_FLAGS
from smoulder.imaging import PRLSettings, SELSettings


def test_building_the_imaging_parsers_imports_no_numerical_library():
    code = (
        "import argparse, sys\n"
        "from smoulder.cli import bids, prl, sel\n"
        "sub = argparse.ArgumentParser().add_subparsers()\n"
        "for m in (prl, sel, bids):\n"
        "    m.register(sub)\n"
        "print(sorted(m for m in ('numpy', 'pandas', 'scipy', 'pydantic', 'nibabel', 'ants')"
        " if m in sys.modules))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def _parsed(text: str) -> object:
    """The value of a help text's "(default X" as the settings hold it."""
    if re.fullmatch(r"\d+/\d+", text):
        a, b = text.split("/")
        return int(a) / int(b)
    if re.fullmatch(r"-?\d+(\.\d+)?( -?\d+(\.\d+)?)+", text):
        return tuple(int(x) for x in text.split())
    try:
        return float(text)
    except ValueError:
        return text


def _help_defaults(parser: argparse.ArgumentParser) -> dict[str, object]:
    found = {}
    for action in parser._actions:
        m = re.search(r"\(default ([^);:,]+?)(?:[);:,]| at least| mm)", action.help or "")
        if m and action.option_strings:
            found[action.option_strings[0]] = _parsed(m.group(1).strip())
    return found


@pytest.mark.parametrize(
    "module, settings, flags",
    [(prl, PRLSettings(), RIM_FLAGS), (sel, SELSettings(), SEL_FLAGS)],
    ids=["prl", "sel"],
)
def test_help_states_the_settings_defaults(module, settings, flags):
    sub = argparse.ArgumentParser().add_subparsers()
    module.register(sub)
    parser = sub.choices[module.__name__.rsplit(".", 1)[1]]
    stated = _help_defaults(parser)
    by_flag = {flag: name for name, flag in flags.items()}
    checked = 0
    for flag, value in stated.items():
        if flag in by_flag:
            expected = getattr(settings, by_flag[flag])
            assert (
                value == pytest.approx(expected) if isinstance(value, float) else value == expected
            ), flag
            checked += 1
    assert checked >= 6


def test_unset_flags_leave_the_settings_defaults():
    sub = argparse.ArgumentParser().add_subparsers()
    for m in (prl, sel, bids):
        m.register(sub)
    ns = sub.choices["bids"].parse_args(["raw", "out", "participant"])
    assert prl.rim_settings_from_args(ns) == PRLSettings()
    assert sel.sel_settings_from_args(ns) == SELSettings()
