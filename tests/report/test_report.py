"""The consultation report: plain-language summary worked by hand, HTML escaped, PDF rendered to images."""

from __future__ import annotations

import shutil
import subprocess

import numpy as np
import pytest

from smoulder.report import (
    build_report,
    changes_since_last_visit,
    questions,
    render_html,
    render_pdf,
    signals,
)
from smoulder.report.consultation import _text_pages


def timeline() -> dict:
    return {
        "person": {
            "key": "P-TEST0001",
            "name": "Dana <b>Bold</b>",
            "subject": "X-1",
            "sex": "F",
            "birth_year": 1985,
        },
        "assessments": [
            {"date": "2022-01-10", "edss": 2.0, "t25fw": 5.0, "nhpt": 20.0, "sdmt": 55},
            {"date": "2022-07-10", "edss": 2.0, "t25fw": 5.1, "nhpt": 20.0, "sdmt": 54},
            {"date": "2023-01-12", "edss": 3.0, "t25fw": 6.5, "nhpt": 19.0, "sdmt": 50},
        ],
        "relapses": [{"onset": "2022-09-01", "end": "2022-10-01"}],
        "treatments": [{"drug": "natalizumab", "start": "2022-10-15", "stop": None}],
        "mri": [
            {
                "date": "2022-12-01",
                "active": False,
                "prl_rated": True,
                "n_prl": 4,
                "n_lesions": 9,
                "sel_rated": True,
                "n_sel_definite": 2,
                "n_sel_possible": 1,
                "lesions": [],
            }
        ],
        "events": [
            {
                "type": "RAW",
                "event_type": "CDW",
                "outcome": "edss",
                "baseline_date": "2022-07-10",
                "baseline_value": 2.0,
                "event_date": "2023-01-12",
                "event_value": 3.0,
                "confirmation_date": "2023-04-20",
            }
        ],
        "device": {
            "step_count": {
                "unit": "steps",
                "dates": ["2022-01-03", "2022-01-10", "2022-01-17"],
                "values": [8000, 7900, 6000],
                "n_days": 21,
            }
        },
        "device_events": [
            {
                "measure": "step_count",
                "onset_date": "2022-11-07",
                "detected_date": "2022-12-05",
                "baseline_value": 8000,
                "current_value": 6000,
                "change_pct": -25.0,
                "source": "import",
            }
        ],
        "lifestyle": [
            {
                "date": "2022-11-01",
                "exercise_min_week": 60,
                "diet": "mixed",
                "smoking": "current",
                "alcohol_units_week": 3,
                "sleep_hours": 5.0,
                "medications": "baclofen",
                "comorbidities": "",
                "notes": "",
            }
        ],
        "analyses": [],
    }


def test_changes_since_last_visit_worked_by_hand():
    s = changes_since_last_visit(timeline())
    assert s == [
        "Since the previous clinic visit on 2022-07-10 (last visit 2023-01-12):",
        # 2.0 -> 3.0 is +1.0, the minimal change from a baseline of 0.5-5.5
        "EDSS went up from 2 to 3 (+1); a rise this large from 2 counts as clinically meaningful if it is "
        "confirmed at a later visit.",
        # (6.5 - 5.1) / 5.1 = 27.5 %
        "The timed 25-foot walk took 6.5 s, 27 % slower than before (5.1 s) (at least 20 %: a meaningful change "
        "if confirmed).",
        # (19 - 20) / 20 = -5 %
        "The 9-hole peg test took 19 s, 5 % faster than before (20 s).",
        "The SDMT (processing speed) score went down from 54 to 50 (4 points or more: a meaningful change if "
        "confirmed).",
        "A worsening of EDSS from 2 to 3 on 2023-01-12, confirmed on 2023-04-20, happened shortly after a relapse "
        "(RAW, relapse-associated worsening).",
        "1 relapse(s) began: 2022-09-01.",
        "Treatment with natalizumab started on 2022-10-15.",
        "MRI on 2022-12-01: no new activity, 4 paramagnetic rim lesion(s), 2 slowly expanding lesion(s).",
        "Your step count measured at home declined in a sustained way from 2022-11-07 (-25 %).",
        "1 lifestyle log entry added.",
    ]


def test_first_visit_and_empty_record():
    tl = timeline()
    tl["assessments"] = tl["assessments"][:1]
    assert changes_since_last_visit(tl)[0].startswith(
        "The only clinic visit on record is on 2022-01-10"
    )
    assert changes_since_last_visit({"assessments": []}) == [
        "There are no clinic visits on record yet."
    ]


def test_signals_are_dated_with_their_source_and_questions_follow_the_record():
    sig = signals(timeline())
    assert [(s["date"], s["signal"]) for s in sig] == [
        ("2022-11-07", "sustained decline in step count -25 %"),
        ("2022-12-01", "4 paramagnetic rim lesion(s)"),
        ("2022-12-01", "2 slowly expanding lesion(s)"),
        ("2023-01-12", "RAW (EDSS 2 to 3)"),
    ]
    q = questions(timeline())
    assert any("rim lesions" in x for x in q) and any("stop smoking" in x for x in q)
    assert any("sleep" in x.lower() for x in q) and not any("PIRA" in x for x in q)


def test_html_report_is_self_contained_and_escaped():
    html = render_html(build_report(timeline(), "Dana <b>Bold</b>"))
    assert "Dana &lt;b&gt;Bold&lt;/b&gt;" in html and "<b>Bold</b>" not in html
    assert "data:image/png;base64," in html and "http://" not in html and "https://" not in html
    assert "Questions to discuss with your neurologist" in html


@pytest.mark.skipif(
    shutil.which("pdftoppm") is None or shutil.which("pdftotext") is None,
    reason="poppler-utils (pdftoppm, pdftotext) not installed",
)
def test_pdf_renders_to_pages_with_the_content(tmp_path):
    report = build_report(timeline(), "P-TEST0001")
    pdf = render_pdf(report)
    assert pdf.startswith(b"%PDF")
    path = tmp_path / "report.pdf"
    path.write_bytes(pdf)
    subprocess.run(["pdftoppm", "-r", "40", "-png", str(path), str(tmp_path / "page")], check=True)
    pages = sorted(tmp_path.glob("page*.png"))
    assert len(pages) == len(_text_pages(report)) + 1  # text pages and the time-line figure
    import matplotlib.image as mpimg

    for p in pages:
        img = mpimg.imread(p)
        h, w = img.shape[:2]
        assert abs(h / w - 11.69 / 8.27) < 0.02  # A4 portrait
        assert float(np.std(img[..., :3])) > 0.02  # something is drawn
    text = subprocess.run(
        ["pdftotext", str(path), "-"], capture_output=True, text=True, check=True
    ).stdout
    for needle in (
        "Consultation report: P-TEST0001",
        "What changed since the last visit",
        "EDSS went up from 2 to 3",
        "4 paramagnetic rim lesion(s)",
        "Questions to discuss with your neurologist",
        "smoking: current",
    ):
        assert needle in text, needle

    # the text pages are black on white; the last page is the coloured time-line plot
    def coloured(p) -> int:
        img = mpimg.imread(p)[..., :3]
        return int(((img.max(axis=2) - img.min(axis=2)) > 0.2).sum())

    assert coloured(pages[0]) == 0
    assert coloured(pages[-1]) > 200
