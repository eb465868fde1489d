"""``smoulder digital measures`` needs no heavy library, and settings errors name the flag, not the
Python parameter (help and argument errors of every command: tests/cli/test_help_fast.py)."""

from __future__ import annotations

import subprocess
import sys

import pytest

from smoulder.cli import main

HEAVY = ("numpy", "pandas", "pyarrow", "scipy", "pydantic", "matplotlib")


def test_the_catalogue_listing_needs_no_heavy_library():
    r = subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys; from smoulder.cli import digital; import argparse; "
            "p = argparse.ArgumentParser(); digital.register(p.add_subparsers()); "
            "ns = p.parse_args(['digital', 'measures']); ns.func(ns); "
            f"print([m for m in {HEAVY!r} if m in sys.modules], file=sys.stderr)",
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert "two_minute_walk" in r.stdout
    assert r.stderr.strip().splitlines()[-1] == "[]"


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--alpha", "0.7"], "--alpha must be a probability between 0 and 0.5 (got 0.7)"),
        (["--min-baseline", "2"], "--min-baseline must be an integer >= 3 (got 2)"),
        (["--min-valid-days", "9"], "--min-valid-days must be an integer from 1 to 7 (got 9)"),
        (["--max-plots", "-1"], "--max-plots must be 0 or more (got -1)"),
    ],
)
def test_settings_errors_name_the_flag(tmp_path, capsys, flags, message):
    src = tmp_path / "m.csv"
    src.write_text("subject,date,measure,value\np1,2024-01-01,steps,100\n")
    rc = main(["digital", "detect", str(src), "--out", str(tmp_path / "e.csv"), *flags])
    err = capsys.readouterr().err
    assert rc == 2
    assert err.strip() == f"smoulder digital detect: error: {message}"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.csv"]
