"""Slow steps are announced to whoever listens (the command line's status line), and to no one
else: two computations never hear each other's steps."""

from __future__ import annotations

import threading

import pytest

from smoulder._progress import announce, listening


def test_steps_reach_the_listener_only_inside_the_block():
    heard: list[str] = []
    announce("before")  # nobody listens: nothing happens
    with listening(heard.append):
        announce("step one")
        with listening(None):  # an inner block may silence the outer listener
            announce("silenced")
        announce("step two")
    announce("after")
    assert heard == ["step one", "step two"]


def test_two_threads_never_hear_each_other():
    heard: dict[str, list[str]] = {"a": [], "b": []}
    ready = threading.Barrier(2)

    def work(name: str) -> None:
        with listening(heard[name].append):
            ready.wait()
            for k in range(50):
                announce(f"{name}{k}")

    threads = [threading.Thread(target=work, args=(n,)) for n in heard]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert heard["a"] == [f"a{k}" for k in range(50)]
    assert heard["b"] == [f"b{k}" for k in range(50)]


def test_off_a_terminal_the_command_line_listens_to_nothing(monkeypatch):
    import argparse
    import io

    from smoulder import _progress
    from smoulder.cli._progress import steps_shown

    monkeypatch.setattr("sys.stderr", io.StringIO())  # not a terminal
    with steps_shown(argparse.Namespace(quiet=False, json=False)):
        assert _progress._LISTENER.get() is None
        announce("a step")
    with steps_shown(argparse.Namespace(quiet=True, json=False)):
        assert _progress._LISTENER.get() is None


@pytest.mark.slow
def test_mri_activity_announces_its_slow_steps_in_order(tmp_path):
    from smoulder.pipelines import mri_activity
    from smoulder.synth.activity_phantom import simulate_activity_pair

    ph = simulate_activity_pair(
        5,
        counts={"stable": 2, "new": 1, "enlarging": 1, "shrinking": 0},
        voxel_size=2.0,
        radius_mm=(3.5, 5.0),
        new_radius_mm=(3.0, 4.0),
        growth_pct=(90.0, 200.0),
    )
    files = ph.save(str(tmp_path / "in"), prefix="sub-x_")
    heard: list[str] = []
    with listening(heard.append):
        mri_activity.run(
            files["flair"][0],
            files["flair"][1],
            list(ph.dates),
            lesions=files["lesions"],
            out=tmp_path / "out",
        )
    assert heard[0].startswith("registering the follow-up to the baseline")
    assert heard[-1] == "finding new and enlarging lesions"
    assert any("N4" in h for h in heard)
