"""The Kaplan-Meier at-risk cut-off on the command line (issue 15), and every KM figure written
as PNG, SVG and PDF at 300 dpi, all or nothing, by the progression command, the survival
pipeline and the demo."""

from __future__ import annotations

import json
import shutil
import subprocess

import numpy as np
import pandas as pd
import pytest

from smoulder.cli import main


def pdf_text(path) -> str:
    return subprocess.run(
        ["pdftotext", str(path), "-"], capture_output=True, text=True, check=True
    ).stdout


@pytest.fixture(scope="module")
def cohort(tmp_path_factory):
    from smoulder.synth import simulate_cohort, write_cohort

    d = tmp_path_factory.mktemp("km")
    return write_cohort(simulate_cohort(60, seed=3, pira_drift_per_year=(0.3, 0.6)), d, fmt="csv")


def test_progression_flag_cuts_the_curve_and_says_so(cohort, tmp_path, capsys):
    out = tmp_path / "ev.csv"
    args = ["progression", str(cohort["visits"]), "--value-col", "edss", "--out", str(out)]
    assert main([*args, "--km-min-at-risk", "25", "--quiet"]) == 0
    meta = json.loads((tmp_path / "ev_settings.json").read_text())
    assert meta["figures"] == {"km_min_at_risk": 25}
    report = (tmp_path / "ev_report.md").read_text()
    assert "stop each curve where fewer than 25 subjects remain at risk" in report
    for ext in ("png", "svg", "pdf"):
        assert (tmp_path / f"ev_km.{ext}").stat().st_size > 0
    if shutil.which("pdftotext"):
        assert "fewer than 25 subjects remain at risk" in pdf_text(tmp_path / "ev_km.pdf")
    # the PNG is 300 dpi
    from PIL import Image

    with Image.open(tmp_path / "ev_km.png") as im:
        assert round(im.info["dpi"][0]) == 300


@pytest.mark.parametrize("bad", ["0", "-3", "2.5", "ten"])
def test_bad_cut_off_is_one_line_naming_the_flag(cohort, tmp_path, capsys, bad):
    out = tmp_path / "ev.csv"
    with pytest.raises(SystemExit) as exc:
        main(["progression", str(cohort["visits"]), "--value-col", "edss", "--out", str(out),
              "--km-min-at-risk", bad])  # fmt: skip
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert "--km-min-at-risk" in err and "Traceback" not in err
    assert not out.exists()


def test_python_api_refuses_a_bad_cut_off_before_any_work(cohort, tmp_path):
    from smoulder.exceptions import SettingsError
    from smoulder.pipelines.progression import run

    out = tmp_path / "ev.csv"
    with pytest.raises(SettingsError, match="km_min_at_risk must be a whole number"):
        run(cohort["visits"], value_col="edss", out=out, km_min_at_risk=0)
    assert not out.exists()


def small_km(min_at_risk: int = 2):
    from smoulder.clinical.survival import kaplan_meier

    tte = pd.DataFrame(
        {
            "subject": [f"s{i}" for i in range(6)],
            "duration_days": np.arange(100.0, 700.0, 100.0),
            "event": [True, False, True, True, False, True],
        }
    )
    return kaplan_meier(tte, label="PIRA", min_at_risk=min_at_risk)


def test_survival_write_gives_png_svg_pdf(tmp_path):
    out = tmp_path / "km.csv"
    files = small_km(min_at_risk=3).write(out)
    assert sorted(files) == ["curve", "plot", "plot_pdf", "plot_svg", "summary"]
    assert files["plot"].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert b"<svg" in files["plot_svg"].read_bytes()[:400]
    assert files["plot_pdf"].read_bytes()[:5] == b"%PDF-"
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        ["km.csv", "km_summary.csv", "km.png", "km.svg", "km.pdf"]
    )
    if shutil.which("pdftotext"):
        txt = pdf_text(files["plot_pdf"])
        assert "fewer than 3 subjects remain at risk" in txt and "Number at risk" in txt


def test_survival_write_is_all_or_nothing(tmp_path, monkeypatch):
    from matplotlib.figure import Figure

    real = Figure.savefig

    def fail_on_pdf(self, fname, *a, **k):
        if str(fname).endswith(".pdf"):
            raise OSError("disk full")
        return real(self, fname, *a, **k)

    monkeypatch.setattr(Figure, "savefig", fail_on_pdf)
    with pytest.raises(OSError):
        small_km().write(tmp_path / "km.csv")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.slow
def test_demo_composite_km_in_three_formats_with_the_cut_off(tmp_path):
    assert main(["demo", "--out", str(tmp_path), "--km-min-at-risk", "15", "--quiet"]) == 0
    for ext in ("png", "svg", "pdf"):
        assert (tmp_path / f"composite_km_by_arm.{ext}").stat().st_size > 0
        assert (tmp_path / f"edss_events_km.{ext}").stat().st_size > 0
    assert "fewer than 15 people remain at risk" in (tmp_path / "demo_report.md").read_text()
    if shutil.which("pdftotext"):
        txt = pdf_text(tmp_path / "composite_km_by_arm.pdf")
        assert "fewer than 15 subjects remain at risk" in txt
        assert "active vs placebo: HR" in txt


def test_write_beside_lands_files_next_to_out_or_none(tmp_path):
    from smoulder.pipelines._files import write_beside

    out = tmp_path / "t.csv"
    planned = [out, tmp_path / "t_settings.toml"]

    def ok(at):
        at.write_text("a\n")
        (at.parent / "t_settings.toml").write_text("x = 1\n")
        return {"table": at, "settings": at.parent / "t_settings.toml"}

    assert write_beside(out, planned, ok) == {"table": out, "settings": planned[1]}
    assert out.read_text() == "a\n"

    def broken(at):
        at.write_text("b\n")
        raise RuntimeError("half way")

    other = tmp_path / "u" / "u.csv"
    with pytest.raises(RuntimeError):
        write_beside(other, [other], broken)
    assert not other.exists()


def test_methods_text_lists_notes():
    from smoulder.pipelines._files import methods_text

    assert methods_text("M.", []) == "M.\n"
    assert methods_text("M.", ["a", "b"]) == "M.\n\nNotes on the input:\n- a\n- b\n"
