"""``--syn-region`` and ``--linear-finest-shrink`` (issue 12 section 6): the opt-in speed settings
reach the engine from ``smoulder sel``, ``smoulder sel batch`` and ``smoulder bids --analysis sel``,
the settings echo shows them, and bad values are refused naming the flag.

The wiring tests replace the engine entry point so that no registration runs; one end-to-end run on
the small 3 mm phantom (few SyN iterations, as the other wiring tests) checks the written echo.
"""

from __future__ import annotations

import contextlib
import io
import json

import pandas as pd
import pytest

from smoulder.cli import main
from smoulder.exceptions import SmoulderError

#: SyN iterations of the end-to-end run (as the other wiring tests; the default is 40 20 10).
FEW = ["--syn-iterations", "5", "2"]


class _Stop(SmoulderError):
    """Raised by the stand-in engine once it has seen the settings (exit code 2, nothing run)."""


def _sel_args(f, out, *extra):
    return [
        "sel",
        "--t1",
        *f["t1"],
        "--flair",
        *f["flair"],
        "--dates",
        *f["dates"],
        "--lesions",
        f["lesions"],
        "--out",
        str(out),
        "--threads",
        "1",
        "--quiet",
        *extra,
    ]


@pytest.fixture
def seen(monkeypatch):
    """The settings ``smoulder sel`` hands to the engine; the engine itself never runs."""
    import smoulder.pipelines.sel as pipeline

    captured = []

    def fake_detect_sel(*args, settings, **kwargs):
        captured.append(settings)
        raise _Stop("stopped by the test before any registration")

    monkeypatch.setattr(pipeline, "detect_sel", fake_detect_sel)
    return captured


@pytest.mark.parametrize(
    "flags, region, shrink",
    [
        ([], "head", 1),
        (["--syn-region", "lesions"], "lesions", 1),
        (["--linear-finest-shrink", "2"], "head", 2),
        (["--syn-region", "lesions", "--linear-finest-shrink", "4"], "lesions", 4),
        (["--syn-region", "head", "--linear-finest-shrink", "1"], "head", 1),
    ],
)
def test_sel_flags_reach_the_engine_settings(small3_files, tmp_path, seen, flags, region, shrink):
    code = main(_sel_args(small3_files, tmp_path / "out", *flags))
    assert code == 2 and len(seen) == 1  # the stand-in engine stopped the run
    assert seen[0].syn_region == region and seen[0].linear_finest_shrink == shrink
    # the other settings keep their defaults
    assert seen[0].syn_margin_mm == 15.0 and seen[0].syn_iterations == (40, 20, 10)


@pytest.mark.parametrize(
    "flag, value, shown",
    [
        ("--syn-region", "brain", "invalid choice: 'brain'"),
        ("--syn-region", "Lesions", "invalid choice: 'Lesions'"),
        ("--linear-finest-shrink", "3", "invalid choice: 3"),
        ("--linear-finest-shrink", "half", "invalid int value: 'half'"),
    ],
)
def test_a_bad_value_is_refused_naming_the_flag(
    small3_files, tmp_path, seen, capsys, flag, value, shown
):
    with pytest.raises(SystemExit) as exc:
        main(_sel_args(small3_files, tmp_path / "out", flag, value))
    assert exc.value.code == 2 and not seen and not (tmp_path / "out").exists()
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert f"argument {flag}: {shown}" in err and "Traceback" not in err


def test_help_says_what_each_flag_trades(capsys):
    with pytest.raises(SystemExit):
        main(["sel", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "--syn-region {head,lesions}" in text and "--linear-finest-shrink {1,2,4}" in text
    assert text.count("measured on a few phantoms only") == 2 and "faster" in text


def test_batch_and_bids_take_the_same_flags(tmp_path, monkeypatch):
    import smoulder.pipelines.bids as bids
    import smoulder.pipelines.sel_batch as sel_batch

    got = {}

    def fake_batch(jobs, out, settings, **kwargs):
        got["batch"] = settings
        return pd.DataFrame({"subject": ["s1"], "status": ["done"]})

    def fake_bids(bids_dir, output_dir, *, settings, **kwargs):
        got["bids"] = settings
        return []

    monkeypatch.setattr(sel_batch, "read_manifest", lambda path: [])
    monkeypatch.setattr(sel_batch, "run_batch", fake_batch)
    monkeypatch.setattr(bids, "run_sel_participants", fake_bids)
    flags = ["--syn-region", "lesions", "--linear-finest-shrink", "2", "--quiet"]
    manifest = tmp_path / "manifest.tsv"
    assert main(["sel", "batch", str(manifest), "--out", str(tmp_path / "b"), *flags]) == 0
    raw = tmp_path / "raw"
    raw.mkdir()
    assert (
        main(["bids", str(raw), str(tmp_path / "d"), "participant", "--analysis", "sel", *flags])
        == 0
    )
    for where in ("batch", "bids"):
        assert got[where].syn_region == "lesions" and got[where].linear_finest_shrink == 2, where


def test_the_settings_echo_shows_the_chosen_values(small3_files, tmp_path):
    """A real (small, few-iteration) run: lesions.json and the JSON summary tell what ran."""
    out = tmp_path / "out"
    args = _sel_args(small3_files, out, *FEW, "--syn-region", "lesions")
    args += ["--linear-finest-shrink", "2", "--json"]
    args.remove("--quiet")
    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        code = main(args)
    assert code == 0
    side = json.loads((out / "lesions.json").read_text())
    assert side["Settings"]["syn_region"] == "lesions"
    assert side["Settings"]["linear_finest_shrink"] == 2
    assert side["Settings"]["syn_iterations"] == [5, 2]
    assert json.loads(buf.getvalue())["lesions"] == 3
    # the methods paragraph states what ran
    methods = side["MethodsParagraph"]
    assert (
        "SyN inside boxes about the lesions (each lesion's bounding box grown by 15.0 mm" in methods
    )
    assert "(mattes metric, stopping at half resolution)" in methods


def test_the_default_methods_paragraph_names_no_speed_setting(small_cli_run):
    _, out, _ = small_cli_run
    side = json.loads((out / "lesions.json").read_text())
    assert side["Settings"]["syn_region"] == "head"
    assert side["Settings"]["linear_finest_shrink"] == 1
    methods = side["MethodsParagraph"]
    assert "boxes" not in methods and "resolution" not in methods
    assert "rigidly to the baseline (mattes metric) and" in methods
