"""The scan's first run on a new machine: small cohorts are scanned interpreted (the same source
as the compiled scan, run as plain Python) instead of waiting half a minute for the compiler.

Every result must be the same either way: events, the summary and the unconfirmed changes, on a
simulated cohort under many settings and on random timelines.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from numba.core.registry import CPUDispatcher
from test_progression_properties import OPTIONS, subjects

from smoulder import _compiled
from smoulder.clinical import _kernel as K
from smoulder.clinical import make_settings, run_validated
from smoulder.synth import simulate_cohort


@pytest.fixture
def interpreted(monkeypatch):
    """Within the test: the scan counts as not compiled, so small inputs run interpreted."""
    monkeypatch.delenv("SMOULDER_INTERPRET_MAX_ROWS", raising=False)
    real = _compiled.is_compiled
    monkeypatch.setattr(_compiled, "is_compiled", lambda d: False if d is K.scan_range else real(d))
    assert K.interpreting(1000)


def both(monkeypatch, run, kernel=K, dispatcher_name="scan_range", twin_name="_interpreted_scan"):
    """``run()`` compiled, then interpreted (the scan counted as never compiled)."""
    dispatcher = getattr(kernel, dispatcher_name)
    monkeypatch.setenv("SMOULDER_INTERPRET_MAX_ROWS", "0")
    assert not _compiled.interpreting(dispatcher, 10)
    compiled = run()
    monkeypatch.delenv("SMOULDER_INTERPRET_MAX_ROWS")
    real = _compiled.is_compiled
    with monkeypatch.context() as m:
        m.setattr(_compiled, "is_compiled", lambda d: False if d is dispatcher else real(d))
        assert _compiled.interpreting(dispatcher, 10)
        calls = []
        plain = getattr(kernel, twin_name)()
        m.setattr(kernel, twin_name, lambda: lambda *a: calls.append(1) or plain(*a))
        interp = run()
        assert calls, "the interpreted scan was not used"
    return compiled, interp


@pytest.fixture(scope="module")
def cohort():
    return simulate_cohort(150, seed=21)


CASES = [
    {},
    {"event": "multiple", "baseline": "roving", "classify_cdw": True},
    {"event": "multiple", "baseline": "roving_wors", "relapse_rebl": True, "classify_cdw": True},
    {"event": "firstPIRA", "conf_days": [84, 168], "check_intermediate": False},
    {"event": "multiple", "sub_threshold_rebl": "event", "skip_local_extrema": "strict"},
    {"event": "multiple", "require_sust_days": 365, "classify_cdw": True},
    {"event": "multiple", "impute_last_visit": 1.0, "seed": 7, "classify_cdw": True},
    {"event": "multiple", "pira_definition": "mueller2025", "classify_cdw": True},
]


@pytest.mark.parametrize(
    "options", CASES, ids=lambda o: ",".join(map(str, o.values())) or "default"
)
def test_interpreted_scan_gives_the_same_results_as_the_compiled_one(monkeypatch, cohort, options):
    visits = cohort.visits[["subject", "date", "edss"]].rename(columns={"edss": "value"})

    def run():
        return run_validated(
            visits,
            cohort.relapses[["subject", "date"]],
            cohort.mri,
            make_settings(**options),
            return_unconfirmed=True,
        )

    a, b = both(monkeypatch, run)
    assert len(a.events) > 0
    pd.testing.assert_frame_equal(a.events, b.events)
    pd.testing.assert_frame_equal(a.summary, b.summary)
    pd.testing.assert_frame_equal(a.unconfirmed, b.unconfirmed)


@settings(
    max_examples=60,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(data=subjects(), opts=OPTIONS)
def test_interpreted_scan_agrees_on_random_timelines(monkeypatch, data, opts):
    v, r = data

    def run():
        return run_validated(
            v, r, None, make_settings(classify_cdw=True, **opts), return_unconfirmed=True
        )

    a, b = both(monkeypatch, run)
    pd.testing.assert_frame_equal(a.events, b.events)
    pd.testing.assert_frame_equal(a.unconfirmed, b.unconfirmed)


SPMS_CASES = [
    {},
    {"confirm_leading_fs": False, "sustained_to_end": False},
    {"missing_fs_confirms": False, "tolerated_dips": 0},
    {"min_edss": 3.0, "min_pyramidal": 3.0, "confirmation_days": 180.0},
]


@pytest.mark.parametrize("options", SPMS_CASES, ids=lambda o: ",".join(map(str, o)) or "default")
def test_interpreted_spms_scan_gives_the_same_conversions_and_steps(monkeypatch, options):
    from smoulder.clinical import _spms_kernel as SK
    from smoulder.clinical.spms import SPMSSettings, assess_spms
    from smoulder.synth.clinical_fs import simulate_fs_cohort

    c = simulate_fs_cohort(160, seed=5, randomise=True)

    def run():
        return assess_spms(c.visits, c.relapses, SPMSSettings(**options))

    a, b = both(monkeypatch, run, SK, "scan_all", "_interpreted")
    assert a.summary["spms"].sum() > 0
    pd.testing.assert_frame_equal(a.summary, b.summary)
    pd.testing.assert_frame_equal(a.steps, b.steps)


@pytest.mark.parametrize("milestone,options", [(6.0, {}), (4.0, {"require_sust_days": 365})])
def test_interpreted_milestone_scan_gives_the_same_result(monkeypatch, cohort, milestone, options):
    from smoulder.clinical import milestones as M

    visits = cohort.visits[["subject", "date", "edss"]].rename(columns={"edss": "value"})

    def run():
        return M.confirmed_milestone(
            visits, milestone, cohort.relapses[["subject", "date"]], **options
        )

    a, b = both(monkeypatch, run, M, "_milestone_scan", "_interpreted")
    assert a.summary["reached"].sum() > 0
    pd.testing.assert_frame_equal(a.summary, b.summary)


def test_large_inputs_compile_and_the_limit_can_be_moved(monkeypatch, interpreted):
    assert K.interpreting(_compiled.INTERPRET_MAX_ROWS)
    assert not K.interpreting(_compiled.INTERPRET_MAX_ROWS + 1)
    monkeypatch.setenv("SMOULDER_INTERPRET_MAX_ROWS", "50")
    assert K.interpreting(50) and not K.interpreting(51)
    monkeypatch.setenv("SMOULDER_INTERPRET_MAX_ROWS", "0")
    assert not K.interpreting(0)
    monkeypatch.setenv("SMOULDER_INTERPRET_MAX_ROWS", "lots")  # not a number: the default
    assert K.interpreting(1000)


def test_a_compiled_scan_is_never_interpreted(monkeypatch):
    two = pd.DataFrame(
        {
            "subject": ["a", "a"],
            "date": pd.to_datetime(["2020-01-01", "2021-01-01"]),
            "value": [1, 2],
        }
    )
    monkeypatch.setenv("SMOULDER_INTERPRET_MAX_ROWS", "0")  # compile, however small
    run_validated(two, None, None, make_settings())
    monkeypatch.delenv("SMOULDER_INTERPRET_MAX_ROWS")
    assert K.scan_range.signatures
    assert _compiled.is_compiled(K.scan_range)
    assert not K.interpreting(1) and not K.needs_compiling()


def test_the_twin_reaches_no_numba_function():
    scan = K._interpreted_scan()
    assert not isinstance(scan, CPUDispatcher)
    seen, todo = set(), [scan]
    while todo:  # every function the twin can call, through globals and module namespaces
        f = todo.pop()
        if id(f) in seen:
            continue
        seen.add(id(f))
        for name in f.__code__.co_names:
            g = f.__globals__.get(name)
            assert not isinstance(g, CPUDispatcher), f"{f.__name__} calls {name} compiled"
            if callable(g) and hasattr(g, "__code__"):
                todo.append(g)
            elif g is not None and type(g).__name__ == "SimpleNamespace":
                for h in vars(g).values():
                    assert not isinstance(h, CPUDispatcher)
                    if callable(h) and hasattr(h, "__code__"):
                        todo.append(h)
    assert len(seen) >= 10  # the scan, its rules and its record helpers


def test_for_rows_interprets_only_small_uncompiled_inputs(monkeypatch):
    from numba import njit

    @njit
    def total(x):
        s = 0.0
        for i in range(x.shape[0]):
            s += x[i]
        return s

    monkeypatch.delenv("SMOULDER_INTERPRET_MAX_ROWS", raising=False)
    assert _compiled.for_rows(total, 10, limit=100) is total.py_func
    assert _compiled.for_rows(total, 101, limit=100) is total
    assert total(np.arange(4.0)) == 6.0  # now compiled in this process
    assert _compiled.for_rows(total, 10, limit=100) is total


def test_twin_refuses_a_numba_function_from_a_module_not_twinned():
    with pytest.raises(LookupError, match="not among the modules twinned"):
        _compiled.twin(K)  # the kernel calls the rules and the record helpers
