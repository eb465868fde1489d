"""The clinical commands answer --help and argument errors without the heavy libraries, and
settings errors name the flag that gave the value."""

from __future__ import annotations

import json
import math
import subprocess
import sys

import pytest

HEAVY = ("numpy", "pandas", "pyarrow", "scipy", "numba", "pydantic")

_PROBE = """
import json, sys
from smoulder.cli import main
code = None
try:
    code = main(sys.argv[1:])
except SystemExit as exc:
    code = exc.code
heavy = sorted({m.split(".")[0] for m in sys.modules} & set(HEAVY))
print(json.dumps({"code": code, "heavy": heavy}))
""".replace("HEAVY", repr(HEAVY))


@pytest.mark.parametrize(
    "args",
    [
        ["progression", "--help"],
        ["composite", "--help"],
        ["milestone", "--help"],
        ["demo", "--help"],
        ["spms", "--help"],
        ["neda", "--help"],
        ["multiverse", "--help"],
        ["progression", "v.csv", "--out", "o.csv", "--conf-days", "abc"],
        ["progression", "v.csv", "--out", "o.csv", "--conf-days", "-84"],
        ["progression", "v.csv", "--out", "o.csv", "--event", "worst"],
        ["progression", "v.csv", "--out", "o.csv", "--pira-definition", "mueller2099"],
        ["progression", "v.csv"],
        ["milestone", "v.csv", "--out", "o.csv", "--milestone", "six"],
        ["composite", "v.csv", "--out", "o.csv", "--components", "edss", "walk"],
    ],
)
def test_help_and_argument_errors_import_nothing_heavy(args):
    proc = subprocess.run(
        [sys.executable, "-c", _PROBE, *args], capture_output=True, text=True, timeout=120
    )
    got = json.loads(proc.stdout.strip().splitlines()[-1])
    assert got["heavy"] == []
    assert got["code"] == (0 if args[-1] == "--help" else 2)


def test_argument_errors_say_what_was_expected():
    proc = subprocess.run(
        [
            sys.executable,
            "-c",
            _PROBE,
            "progression",
            "v.csv",
            "--out",
            "o.csv",
            "--conf-days",
            "-84",
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert (
        "argument --conf-days: conf_days must be a positive number of days, got '-84'"
        in proc.stderr
    )


def _visits(tmp_path):
    p = tmp_path / "v.csv"
    p.write_text("subject,date,edss\na,2020-01-01,2\na,2020-07-01,3\na,2021-01-01,3\n")
    return p


def test_a_bad_value_from_a_flag_is_restated_with_the_flag(tmp_path, capsys):
    from smoulder.cli import main

    rc = main(
        ["progression", str(_visits(tmp_path)), "--value-col", "edss", "--require-sust-days",
         "inf", "--relapse-indep-prec", "none", "0", "--out", str(tmp_path / "o.csv")]
    )  # fmt: skip
    err = capsys.readouterr().err
    assert rc == 2
    # prec's left end cannot be open (msprog: p0 is always a number)
    assert "--relapse-indep-prec: relapse_indep['prec'] must start a number of days" in err


def test_a_bad_value_from_the_settings_file_names_the_file(tmp_path, capsys):
    from smoulder.cli import main

    bad = tmp_path / "s.toml"
    bad.write_text('[progression]\nbaseline = "moving"\n')
    rc = main(
        ["progression", str(_visits(tmp_path)), "--value-col", "edss", "--settings", str(bad),
         "--out", str(tmp_path / "o.csv")]
    )  # fmt: skip
    err = capsys.readouterr().err
    assert rc == 2
    assert f"{bad}: baseline must be one of" in err and "'moving'" in err
    assert "(the value comes from --settings)" in err


def test_the_milestone_flag_is_named(tmp_path, capsys):
    from smoulder.cli import main

    rc = main(
        ["milestone", str(_visits(tmp_path)), "--value-col", "edss", "--milestone", "6.3",
         "--out", str(tmp_path / "o.csv")]
    )  # fmt: skip
    assert rc == 2
    assert "--milestone 6.3 is not a possible EDSS value" in capsys.readouterr().err
    assert not (tmp_path / "o.csv").exists()


def _strict(text):
    """json.loads that refuses the non-standard constants (Infinity, NaN) R and browsers reject."""

    def refuse(name):
        raise ValueError(f"non-standard JSON constant {name}")

    return json.loads(text, parse_constant=refuse)


def test_settings_json_is_strict_json_and_reruns_with_an_infinite_duration(tmp_path):
    from smoulder.cli import main
    from smoulder.clinical.settings import ProgressionSettings

    out = tmp_path / "o.csv"
    rc = main(
        ["progression", str(_visits(tmp_path)), "--value-col", "edss",
         "--require-sust-days", "inf", "--no-plots", "--out", str(out)]
    )  # fmt: skip
    assert rc == 0
    doc = _strict((tmp_path / "o_settings.json").read_text())
    assert doc["settings"]["require_sust_days"] == "inf"
    again = ProgressionSettings.from_mapping(doc["settings"])
    assert again.require_sust_days == math.inf
    assert ProgressionSettings.from_json(again.to_json()) == again
