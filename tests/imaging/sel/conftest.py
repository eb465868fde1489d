"""Longitudinal phantoms built once per test session.

``small3`` (3 mm grid, three lesions, three time points) feeds the fast wiring tests with few SyN
iterations; ``phantom3`` (2 mm, six lesions) and its full-length registration feed the accuracy
tests, which are marked slow.
"""

from __future__ import annotations

import pytest

from smoulder.synth.sel_phantom import simulate_sel_phantom

#: Lesion kinds of the standard phantom: labels 1 and 5 expand, 2 and 6 are stable,
#: 3 shrinks, 4 is stable with a new lesion appearing next to it.
KINDS = ["expanding", "stable", "shrinking", "new_adjacent", "expanding", "stable"]

#: A small box of MNI space (3 mm voxels: 30 x 30 x 20).
SMALL_BOX = ((-45.0, 45.0), (-55.0, 35.0), (-6.0, 54.0))

#: SyN iterations of the wiring tests (the default is 40 20 10).
FEW = ["--syn-iterations", "5", "2"]


@pytest.fixture(scope="session")
def small3():
    """Three yearly time points at 3 mm: an expanding (15 %/year), a stable and a shrinking lesion."""
    return simulate_sel_phantom(
        seed=61,
        years=(0.0, 1.0, 2.0),
        voxel_size=3.0,
        box_mm=SMALL_BOX,
        kinds=["expanding", "stable", "shrinking"],
        expansion_pct_per_year=(15.0, 15.0),
    )


@pytest.fixture(scope="session")
def small3_files(small3, tmp_path_factory):
    return small3.save(str(tmp_path_factory.mktemp("sel_small3")))


@pytest.fixture(scope="session")
def small_cli_run(small3_files, tmp_path_factory):
    """``smoulder sel --json`` run once on the small phantom with few iterations (one thread)."""
    import contextlib
    import io

    from smoulder.cli import main

    out = tmp_path_factory.mktemp("sel_small_out") / "out"
    f = small3_files
    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
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
                "--json",
                *FEW,
            ]
        )
    return code, out, buf.getvalue()


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
