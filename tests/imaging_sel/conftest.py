"""Small longitudinal phantoms (2 mm grid, cropped MNI box) built once per test session."""

from __future__ import annotations

import pytest

from smoulder.synth.sel_phantom import simulate_sel_phantom

#: Lesion kinds of the standard phantom: labels 1 and 5 expand, 2 and 6 are stable,
#: 3 shrinks, 4 is stable with a new lesion appearing next to it.
KINDS = ["expanding", "stable", "shrinking", "new_adjacent", "expanding", "stable"]


@pytest.fixture(scope="session")
def phantom3():
    """Three yearly time points, 0.5 %/year atrophy, 1 mm / 1 degree misregistration, drift and noise."""
    return simulate_sel_phantom(
        seed=7, years=(0.0, 1.0, 2.0), kinds=KINDS, expansion_pct_per_year=(12.0, 18.0)
    )


@pytest.fixture(scope="session")
def phantom3_files(phantom3, tmp_path_factory):
    return phantom3.save(str(tmp_path_factory.mktemp("sel_phantom3")))


@pytest.fixture(scope="session")
def sel_cli_run(phantom3_files, tmp_path_factory):
    """``smoulder sel`` run once on the three-time-point phantom (single thread: reproducible)."""
    from smoulder.cli import main

    out = tmp_path_factory.mktemp("sel_out") / "out"
    f = phantom3_files
    code = main(
        [
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
        ]
    )
    return code, out
