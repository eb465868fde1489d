"""The demo clinic says what it is doing while it prepares, and its reports are never half-written;
when it serves, the reports are written beside the running server."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from smoulder.cli.serve import _write_reports_job, prepare_demo


def test_the_demo_names_each_step_and_writes_whole_reports(tmp_path):
    steps: list[str] = []
    url, clinic, written = prepare_demo(tmp_path / "demo", 8, steps.append)
    text = "\n".join(steps)
    assert steps[0].startswith("making 8 virtual people")
    for kind in ("people", "visits", "relapses", "treatments", "mri", "devices", "lifestyle"):
        assert f"importing the demo {kind} (" in text, kind
    assert any(s.startswith("analysing everyone") for s in steps)
    reports = [s for s in steps if s.startswith("writing consultation report")]
    assert reports and reports[-1].endswith(
        f"{len(written) // 2} of {len(written) // 2} (HTML and PDF)"
    )
    files = sorted((tmp_path / "demo" / "reports").iterdir())
    assert files == sorted(written)  # nothing else in the folder: no temporary files left
    for pdf in (p for p in files if p.suffix == ".pdf"):
        body = pdf.read_bytes()
        assert body.startswith(b"%PDF") and body.rstrip().endswith(b"%%EOF")


def test_reports_can_wait_and_a_later_job_writes_them(tmp_path, capsys):
    url, clinic, written = prepare_demo(tmp_path / "demo", 6, reports=False)
    assert written == [] and not (tmp_path / "demo" / "reports").exists()
    _write_reports_job(url, clinic.patient_key, str(tmp_path / "demo" / "reports"))
    files = sorted(p.name for p in (tmp_path / "demo" / "reports").iterdir())
    assert f"report-{clinic.patient_key}.pdf" in files and len(files) % 2 == 0 and files
    # a job that cannot find the person says so in words, without a traceback
    _write_reports_job(url, "P-NOSUCHONE", str(tmp_path / "other"))
    err = capsys.readouterr().err
    assert "could not be written" in err and "Traceback" not in err


def test_a_report_interrupted_while_it_is_written_leaves_no_temporary_file(tmp_path, monkeypatch):
    # the server stopping the report job arrives as SystemExit (its SIGTERM handler), here at the
    # worst moment: the first report's bytes are on disk under their temporary name, not yet renamed
    url, clinic, _ = prepare_demo(tmp_path / "demo", 6, reports=False)
    from smoulder.store import Store
    from smoulder.synth.demo_store import write_demo_reports

    def stopped(self, target):
        raise SystemExit(0)

    monkeypatch.setattr(Path, "replace", stopped)
    store = Store(url)
    try:
        with pytest.raises(SystemExit):
            write_demo_reports(store, clinic.patient_key, tmp_path / "reports")
    finally:
        store.dispose()
    assert list((tmp_path / "reports").iterdir()) == []


@pytest.mark.slow
def test_the_report_job_stopped_by_the_server_leaves_only_whole_reports(tmp_path):
    from smoulder.cli.serve import _reports_in_background

    url, clinic, _ = prepare_demo(tmp_path / "demo", 8, reports=False)
    folder = tmp_path / "reports"
    job = _reports_in_background(url, clinic, folder)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and not any(folder.glob("report-*")):
        time.sleep(0.05)
    job.terminate()  # what the server's exit does to its daemon child
    job.join(30)
    assert job.exitcode == 0  # SIGTERM became a clean exit, not a kill
    names = sorted(p.name for p in folder.iterdir())
    assert names and not [n for n in names if n.startswith(".")], names
    for pdf in folder.glob("*.pdf"):
        assert pdf.read_bytes().rstrip().endswith(b"%%EOF")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.mark.slow
def test_serve_demo_answers_before_its_reports_are_written_and_stops_cleanly(tmp_path):
    port = _free_port()
    out = tmp_path / "demo"
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "smoulder", "serve", "--demo", "--demo-people", "8"]
        + ["--out", str(out), "--port", str(port)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=env,
    )
    try:
        deadline = time.monotonic() + 240
        answered = False
        while time.monotonic() < deadline and not answered:
            time.sleep(0.5)
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/health", timeout=2) as r:
                    answered = r.status == 200
            except OSError:
                assert proc.poll() is None, proc.stdout.read() if proc.stdout else ""
        assert answered, "the demo server never answered"
        reports = out / "reports"
        while time.monotonic() < deadline and len(list(reports.glob("*.pdf"))) < 2:
            time.sleep(0.5)
        pdfs = list(reports.glob("*.pdf"))
        assert len(pdfs) >= 2 and all(p.read_bytes().startswith(b"%PDF") for p in pdfs)
    finally:
        proc.send_signal(signal.SIGINT)
        text = proc.communicate(timeout=60)[0]
    assert "being written to" in text and "smoulder is serving at" in text
    assert "Traceback" not in text
    # no process of the demo outlives the server (the report writer is its child)
    left = subprocess.run(["pgrep", "-f", f"--port {port}"], capture_output=True, text=True)
    assert left.stdout.strip() == ""
    assert not list(Path(out / "reports").glob(".*.part"))
