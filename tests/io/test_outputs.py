"""Outputs never overwrite inputs and never half-exist (``smoulder.io.outputs``)."""

from __future__ import annotations

import errno
import os

import pytest

from smoulder.io.outputs import TABLE_SUFFIXES, OutputError, OutputPlan


def listing(d):
    return sorted(str(p.relative_to(d)) for p in d.rglob("*"))


def test_an_output_that_is_an_input_is_refused_by_name_link_and_hard_link(tmp_path):
    src = tmp_path / "visits.csv"
    src.write_text("a\n")
    os.symlink(src, tmp_path / "link.csv")
    os.link(src, tmp_path / "hard.csv")
    for out in ("visits.csv", "link.csv", "hard.csv", "./visits.csv"):
        plan = OutputPlan({"visits": src}).add(tmp_path / out, "--out", suffixes=TABLE_SUFFIXES)
        with pytest.raises(OutputError, match=r"--out .*overwrite the input .*visits\.csv"):
            with plan.staged():
                raise AssertionError("no work may start")  # pragma: no cover
    assert src.read_text() == "a\n"
    assert listing(tmp_path) == ["hard.csv", "link.csv", "visits.csv"]


def test_suffix_parent_and_folder_checks_name_the_flag(tmp_path):
    (tmp_path / "afile").write_text("x")
    (tmp_path / "folder").mkdir()
    cases = [
        (tmp_path / "e.xlsx", r"--out .*e\.xlsx: cannot write '\.xlsx' files; expected .*\.csv"),
        (tmp_path / "afile" / "o.csv", r"afile is a file, not a folder"),
        (tmp_path / "folder", r"is a folder"),
    ]
    for out, pattern in cases:
        with pytest.raises(OutputError, match=pattern):
            OutputPlan().add(out, "--out", suffixes=TABLE_SUFFIXES).check()
    with pytest.raises(OutputError, match="the same file as --out"):
        OutputPlan().add(tmp_path / "x.json", "--out").add(
            tmp_path / "x.json", "--fhir-out"
        ).check()


def test_everything_is_renamed_into_place_only_at_the_end(tmp_path):
    out = tmp_path / "res" / "events.csv"
    plan = OutputPlan().add(out, "--out", suffixes=TABLE_SUFFIXES)
    with plan.staged() as stage:
        staged = stage.path(out)
        staged.write_text("events\n")
        (staged.parent / "events_summary.csv").write_text("summary\n")
        assert not out.exists() and staged.parent != out.parent
    assert out.read_text() == "events\n"
    assert (out.parent / "events_summary.csv").read_text() == "summary\n"
    assert listing(tmp_path) == ["res", "res/events.csv", "res/events_summary.csv"]


def test_a_failure_leaves_nothing_and_keeps_earlier_outputs(tmp_path):
    out = tmp_path / "events.csv"
    out.write_text("from the last run\n")
    plan = OutputPlan().add(out, "--out").add(tmp_path / "new" / "other.csv", "--out")
    with pytest.raises(RuntimeError):
        with plan.staged() as stage:
            stage.path(out).write_text("half\n")
            stage.path(tmp_path / "new" / "other.csv").write_text("half\n")
            raise RuntimeError("the computation failed")
    assert out.read_text() == "from the last run\n"
    assert listing(tmp_path) == ["events.csv"]  # no staging folder, no 'new' folder


def test_a_full_disk_is_reported_under_the_final_name(tmp_path):
    out = tmp_path / "events.csv"
    plan = OutputPlan().add(out, "--out")
    with pytest.raises(OutputError, match=r"cannot write .*events\.csv: No space left"):
        with plan.staged() as stage:
            p = stage.path(out)
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(p))
    assert listing(tmp_path) == []


def test_a_written_file_that_lands_on_an_input_is_refused_before_any_rename(tmp_path):
    src = tmp_path / "mask.nii.gz"
    src.write_bytes(b"input")
    plan = OutputPlan({"--mask": src}).add_dir(tmp_path, "--out")
    with pytest.raises(
        OutputError, match=r"--out: writing .*mask\.nii\.gz would overwrite the input"
    ):
        with plan.staged() as stage:
            (stage.dir(tmp_path) / "result.tsv").write_text("r\n")
            (stage.dir(tmp_path) / "mask.nii.gz").write_bytes(b"output")
    assert src.read_bytes() == b"input"
    assert listing(tmp_path) == ["mask.nii.gz"]


def test_an_unwritable_folder_is_refused_before_any_work():
    plan = OutputPlan().add("/proc/smoulder-test/o.csv", "--out")
    with pytest.raises(OutputError, match=r"--out: cannot write in the folder /proc"):
        with plan.staged():
            raise AssertionError("no work may start")  # pragma: no cover
