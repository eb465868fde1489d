"""The scan's result never depends on how many threads run it (issue 13: the registry scan runs
on every core), and the command line's lean start of the compiler changes no result."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pandas as pd
import pytest

from smoulder.clinical import _kernel as K
from smoulder.clinical import make_settings, run_validated
from smoulder.synth import simulate_cohort

SRC = Path(__file__).resolve().parents[2] / "src"


@pytest.fixture(scope="module")
def cohort():
    # more subjects than the 2,048 below which the scan stays on one thread
    return simulate_cohort(2600, seed=13)


CASES = [
    {"event": "multiple", "baseline": "roving", "classify_cdw": True},
    {"event": "multiple", "baseline": "roving_wors", "relapse_rebl": True, "classify_cdw": True},
    {"event": "firstPIRA", "conf_days": [84, 168]},
]


@pytest.mark.parametrize("options", CASES, ids=lambda o: ",".join(map(str, o.values())))
def test_one_two_and_three_threads_give_identical_frames(monkeypatch, cohort, options):
    monkeypatch.setenv("SMOULDER_INTERPRET_MAX_ROWS", "0")  # compiled, as a registry runs
    visits = cohort.visits[["subject", "date", "edss"]].rename(columns={"edss": "value"})
    real = K.scan_range
    results, calls = {}, {}
    for threads in (1, 2, 3):
        seen: list[int] = []

        def counted(*args, _seen=seen):
            _seen.append(args[1] - args[0])  # subjects in this call
            return real(*args)

        monkeypatch.setattr(K, "_threads", lambda n=threads: n)
        monkeypatch.setattr(K, "scan_range", counted)
        results[threads] = run_validated(
            visits,
            cohort.relapses[["subject", "date"]],
            cohort.mri,
            make_settings(**options),
            return_unconfirmed=True,
        )
        calls[threads] = seen
    # one call over every subject on one thread; chunks on more (the first pass covers all)
    assert calls[1][0] == len(cohort.subjects)
    assert len(calls[2]) > 2 and len(calls[3]) > len(calls[2])
    one = results[1]
    assert one.events["subject"].nunique() > 100
    if options.get("classify_cdw"):
        kinds = set(one.events["cdw_type"])
        assert {"PIRA", "RAW"} <= kinds
        assert one.events["pirma"].notna().any()  # the MRI scans took part
    for threads in (2, 3):
        other = results[threads]
        pd.testing.assert_frame_equal(other.events, one.events)
        pd.testing.assert_frame_equal(other.summary, one.summary)
        pd.testing.assert_frame_equal(other.unconfirmed, one.unconfirmed)


def test_lean_compiler_start_leaves_scipy_out_and_changes_no_result(monkeypatch, tmp_path):
    # compiled here first (numba's cache on disk), so that the fresh process below loads it
    monkeypatch.setenv("SMOULDER_INTERPRET_MAX_ROWS", "0")
    c = simulate_cohort(300, seed=4)
    v = c.visits[["subject", "date", "edss"]].rename(columns={"edss": "value"})
    s = make_settings(event="multiple", baseline="roving", classify_cdw=True)
    expected = run_validated(v, c.relapses[["subject", "date"]], c.mri, s).events
    code = textwrap.dedent(
        """
        import sys
        from smoulder._compiled import start_compiler_without_blas
        from smoulder.clinical import make_settings, run_validated
        from smoulder.synth import simulate_cohort

        first = start_compiler_without_blas()
        again = start_compiler_without_blas()
        c = simulate_cohort(300, seed=4)
        v = c.visits[["subject", "date", "edss"]].rename(columns={"edss": "value"})
        s = make_settings(event="multiple", baseline="roving", classify_cdw=True)
        res = run_validated(v, c.relapses[["subject", "date"]], c.mri, s)
        lean = "scipy.linalg" in sys.modules
        import scipy.linalg  # still imports as usual afterwards

        print(first, again, lean, float(scipy.linalg.det([[2.0, 0.0], [0.0, 3.0]])))
        res.events.to_pickle(sys.argv[1])
        """
    )
    env = {"PYTHONPATH": str(SRC), "SMOULDER_INTERPRET_MAX_ROWS": "0", "PATH": "/usr/bin:/bin"}
    out = subprocess.run(
        [sys.executable, "-c", code, str(tmp_path / "e.pkl")],
        capture_output=True, text=True, env=env, check=True,
    )  # fmt: skip
    assert out.stdout.split() == ["True", "False", "False", "6.0"]
    pd.testing.assert_frame_equal(pd.read_pickle(tmp_path / "e.pkl"), expected)
