"""The consultation report: plain-language summary worked by hand, HTML escaped, PDF rendered to images."""

from __future__ import annotations

import datetime as dt
import re
import shutil
import subprocess

import pytest

from smoulder.report import (
    build_report,
    changes_since_last_visit,
    questions,
    render_html,
    render_pdf,
    signals,
)


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


DAY = dt.date(2023, 5, 1)


def test_changes_since_last_visit_worked_by_hand():
    s = changes_since_last_visit(timeline(), DAY)
    assert s == [
        # the last visit with its age: 2023-01-12 to 2023-05-01 is 3 months (and 19 days)
        "Since the previous clinic visit on 2022-07-10 (last visit 2023-01-12, 3 months ago):",
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
        "1 relapse began: 2022-09-01.",
        "Treatment with natalizumab started on 2022-10-15.",
        "MRI on 2022-12-01: no new activity, 4 paramagnetic rim lesions, 2 slowly expanding lesions.",
        # the clinician's page does not speak to the person ("Your ...")
        "Step count (phone or watch) declined in a sustained way from 2022-11-07 (-25 %).",
        "1 lifestyle log entry added.",
    ]


def test_first_visit_and_empty_record():
    tl = timeline()
    tl["assessments"] = tl["assessments"][:1]
    assert changes_since_last_visit(tl, DAY)[0].startswith(
        "The only clinic visit on record is on 2022-01-10 (1 year 3 months ago)"
    )
    assert changes_since_last_visit({"assessments": []}) == [
        "There are no clinic visits on record yet."
    ]


def test_signals_are_dated_with_their_source_and_questions_follow_the_record():
    sig = signals(timeline())
    assert [(s["date"], s["signal"]) for s in sig] == [
        ("2022-11-07", "sustained decline in step count -25 %"),
        ("2022-12-01", "4 paramagnetic rim lesions"),
        ("2022-12-01", "2 slowly expanding lesions"),
        ("2023-01-12", "RAW (EDSS 2 to 3)"),
    ]
    assert sig[0]["source"] == "phone/wearable (imported)"
    q = questions(timeline())
    assert any("rim lesions" in x for x in q) and any("stop smoking" in x for x in q)
    assert any("sleep" in x.lower() for x in q) and not any("PIRA" in x for x in q)


def test_html_reports_are_self_contained_and_escaped():
    for audience in ("clinician", "patient"):
        html = render_html(build_report(timeline(), "Dana <b>Bold</b>", DAY, audience=audience))
        assert "data:image/png;base64," in html and "http://" not in html and "https://" not in html
        assert "<b>Bold</b>" not in html
    clinician = render_html(build_report(timeline(), "Dana <b>Bold</b>", DAY))
    assert "Clinician summary: Dana &lt;b&gt;Bold&lt;/b&gt;" in clinician
    assert (
        "Smouldering signals now" in clinician
        and "What changed since the previous visit" in clinician
    )
    patient = render_html(build_report(timeline(), "Dana", DAY, audience="patient"))
    assert (
        "What your results show" in patient and "Questions to bring to your next visit" in patient
    )


def _pages(pdf: bytes, tmp_path, name: str, dpi: int = 40) -> list:
    path = tmp_path / f"{name}.pdf"
    path.write_bytes(pdf)
    subprocess.run(
        ["pdftoppm", "-r", str(dpi), "-png", str(path), str(tmp_path / name)], check=True
    )
    return sorted(tmp_path.glob(f"{name}-*.png"))


def _text(pdf: bytes, tmp_path, name: str) -> str:
    path = tmp_path / f"{name}.pdf"
    path.write_bytes(pdf)
    text = subprocess.run(
        ["pdftotext", str(path), "-"], capture_output=True, text=True, check=True
    ).stdout
    return text.replace("\u00a0", " ")  # numbers and units are joined by no-break spaces


def _font_sizes(pdf: bytes) -> set[float]:
    """Every font size set in the PDF's content streams (matplotlib writes ``/F1 8 Tf``)."""
    import zlib

    sizes = set()
    for raw in re.findall(rb"stream\r?\n(.*?)\r?\nendstream", pdf, re.S):
        try:
            body = zlib.decompress(raw)
        except zlib.error:
            continue
        sizes |= {float(x) for x in re.findall(rb"/F\d+ ([0-9.]+) Tf", body)}
    return sizes


needs_poppler = pytest.mark.skipif(
    shutil.which("pdftoppm") is None or shutil.which("pdftotext") is None,
    reason="poppler-utils (pdftoppm, pdftotext) not installed",
)


@needs_poppler
def test_clinician_summary_is_one_page_with_the_header_verdict_and_figure(tmp_path):
    report = build_report(timeline(), "P-TEST0001", DAY, record_version=7)
    pdf = render_pdf(report)
    assert pdf.startswith(b"%PDF")
    pages = _pages(pdf, tmp_path, "clinician")
    assert len(pages) == 1
    import matplotlib.image as mpimg

    img = mpimg.imread(pages[0])
    h, w = img.shape[:2]
    assert abs(h / w - 11.69 / 8.27) < 0.02  # A4 portrait
    text = _text(pdf, tmp_path, "clinician")
    for needle in (
        "Clinician summary: P-TEST0001",
        # header: age (2023 - 1985), disease course, treatment, the last visit and scan with ages
        "age 38",
        "on natalizumab since 2022-10-15",
        "last visit 2023-01-12 (3 months ago)",
        "last MRI 2022-12-01 (5 months ago)",
        "Smouldering signals now",
        "Confirmed worsening",
        "Rim lesions (PRL)",
        "Slowly expanding lesions (SEL)",
        "Phone and wearable",
        "What changed since the previous visit",
        "data as of 2023-05-01, record version 7",
    ):
        assert needle in text, needle
    # the figure is drawn as text and lines, not pasted as an image: its labels can be found
    assert "EDSS" in text and "last visit 2023-01-12" in text
    assert min(_font_sizes(pdf)) >= 8.0  # readable on paper and on a phone

    # the page is in colour where the signals and the figure are
    rgb = img[..., :3]
    assert int(((rgb.max(axis=2) - rgb.min(axis=2)) > 0.2).sum()) > 200


@needs_poppler
def test_signal_boxes_grow_to_hold_their_text_instead_of_cutting_it(tmp_path):
    # a signal with a long "since the last visit" sentence: its last words must reach the page
    report = build_report(timeline(), "P-TEST0001", DAY, record_version=7)
    long = (
        "Began before the last visit (2023-01-12, 3 months ago); still shown while the data stay "
        "low, and checked again at every import of new data from the phone and the watch zebra."
    )
    for v in report.verdict:
        v["since"] = long
    pdf = render_pdf(report)
    assert len(_pages(pdf, tmp_path, "long")) == 1
    text = " ".join(_text(pdf, tmp_path, "long").split())
    assert text.count("watch zebra.") == 4, "a box cut its text"


@needs_poppler
def test_patient_version_from_the_same_snapshot_in_plain_words(tmp_path):
    tl = timeline()
    clinician = render_pdf(build_report(tl, "Dana", DAY, record_version=7))
    patient = render_pdf(build_report(tl, "Dana", DAY, audience="patient", record_version=7))
    a, b = _text(clinician, tmp_path, "c"), _text(patient, tmp_path, "p")
    assert (
        "data as of 2023-05-01, record version 7" in a
        and "data as of 2023-05-01, record version 7" in b
    )
    assert "Your summary" in b and "What your results show" in b
    assert "Your last clinic visit on record was on 12 January 2023 (3 months ago)." in " ".join(
        b.split()
    )
    flat = " ".join(b.split())
    for code in ("T25FW", "9HPT", "CDI", "P-TEST0001", "smoulder.digital"):
        assert code not in flat, code
    assert min(_font_sizes(patient)) >= 8.0
    assert len(_pages(patient, tmp_path, "patient")) >= 1


def test_a_number_and_its_unit_are_never_wrapped_apart():
    import textwrap

    from smoulder.report.consultation import _wrap

    text = "aaaa bbbb cccc ddddd -23 % eeee, 7.5 s"
    # 2 inches at 10 pt hold 25 characters: plain wrapping leaves "%" alone on the next line
    assert textwrap.wrap(text, 25)[1].startswith("%")
    lines = _wrap(text, 2.0, 10)
    assert lines == ["aaaa bbbb cccc ddddd", "-23 % eeee, 7.5 s"]


@needs_poppler
def test_the_figure_ends_at_the_snapshots_day_not_the_clocks(tmp_path):
    # an open treatment runs "to now": now is the snapshot's day (2023-05-01); drawn to the day
    # the PDF is made, the data were squeezed into the first quarter of a time axis to 2027
    for audience in ("clinician", "patient"):
        pdf = render_pdf(build_report(timeline(), "P-TEST0001", DAY, audience=audience))
        text = _text(pdf, tmp_path, audience)
        assert "2023-05" in text and "2022-01" in text
        assert not any(str(y) in text for y in range(2024, 2031)), audience
