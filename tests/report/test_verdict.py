"""The verdict panel, the overview with its overdue flags, and the person's own words, worked by
hand on small time lines."""

from __future__ import annotations

import datetime as dt
import re

import pytest

from smoulder.report.plain import (
    EDSS_WORDS,
    PIRA_WORDS,
    long_date,
    plain_changes,
    plain_findings,
    plain_overview,
    plain_questions,
)
from smoulder.report.verdict import ago, overview, verdict


def tl() -> dict:
    """Visits 2022-01-10, 2022-07-10, 2023-01-12; a PIRA confirmed at the last visit; two rated
    scans (PRL 1 then 3 of 9 lesions; SEL 2 definite on the second); a two-minute walk decline."""
    return {
        "person": {
            "key": "P-TEST0001",
            "sex": "F",
            "birth_year": 1985,
            "disease_course": "RRMS",
            "onset_year": 2012,
        },
        "assessments": [
            {"date": "2022-01-10", "edss": 2.0, "t25fw": 5.0, "nhpt": 20.0, "sdmt": 55},
            {"date": "2022-07-10", "edss": 3.0, "t25fw": 5.0, "nhpt": 20.0, "sdmt": 54},
            {"date": "2023-01-12", "edss": 3.0, "t25fw": 6.1, "nhpt": 19.0, "sdmt": 50},
        ],
        "relapses": [],
        "treatments": [
            {"drug": "fingolimod", "start": "2019-01-01", "stop": "2022-03-01"},
            {"drug": "ocrelizumab", "start": "2022-04-01", "stop": None},
        ],
        "mri": [
            {
                "date": "2022-06-01",
                "active": False,
                "prl_rated": True,
                "n_prl": 1,
                "n_lesions": 9,
                "sel_rated": False,
                "n_sel_definite": 0,
                "n_sel_possible": 0,
            },
            {
                "date": "2023-02-01",
                "active": True,
                "prl_rated": True,
                "n_prl": 3,
                "n_lesions": 9,
                "sel_rated": True,
                "n_sel_definite": 2,
                "n_sel_possible": 1,
            },
        ],
        "events": [
            {
                "type": "PIRA",
                "event_type": "CDW",
                "outcome": "edss",
                "baseline_date": "2022-01-10",
                "baseline_value": 2.0,
                "event_date": "2022-07-10",
                "event_value": 3.0,
                "confirmation_date": "2023-01-12",
            },
        ],
        "device": {
            "two_minute_walk": {
                "unit": "m",
                "dates": [
                    "2022-10-03",
                    "2022-10-10",
                    "2022-10-17",
                    "2022-10-24",
                    "2022-10-31",
                    "2022-11-07",
                    "2022-11-14",
                    "2022-11-21",
                ],
                "values": [130, 130, 100, 100, 104, 98, 100, 102],
                "n_days": 8,
            }
        },
        "device_events": [
            {
                "measure": "two_minute_walk",
                "onset_date": "2022-10-17",
                "detected_date": "2022-11-14",
                "baseline_value": 130.0,
                "current_value": 100.0,
                "change_pct": -23.1,
                "source": "smoulder.digital",
            },
        ],
        "lifestyle": [],
    }


DAY = dt.date(2023, 3, 1)


@pytest.mark.parametrize(
    "date,today,words",
    [
        ("2024-03-01", "2024-03-01", "today"),
        ("2024-02-29", "2024-03-01", "yesterday"),
        ("2024-02-20", "2024-03-01", "10 days ago"),
        ("2024-01-20", "2024-03-01", "5 weeks ago"),
        ("2023-12-01", "2024-03-01", "3 months ago"),
        ("2023-03-01", "2024-03-01", "1 year ago"),
        ("2019-03-02", "2024-05-20", "5 years 2 months ago"),
        ("2023-02-01", "2024-03-15", "1 year 1 month ago"),
    ],
)
def test_ages_are_said_in_words_a_reader_can_check(date, today, words):
    assert ago(dt.date.fromisoformat(date), dt.date.fromisoformat(today)) == words


def test_overview_header_and_no_flags_for_a_current_record():
    o = overview(tl(), DAY)
    assert (o["age"], o["disease_course"], o["years_since_onset"]) == (38, "RRMS", 11)
    assert o["disease_course_name"] == "relapsing-remitting MS"
    # the running course, not the stopped one
    assert o["treatment"] == {"drug": "ocrelizumab", "drug_class": None, "since": "2022-04-01"}
    assert o["last_visit"] == {
        "date": "2023-01-12",
        "days": 48,
        "ago": "6 weeks ago",
        "overdue": False,
    }
    assert o["previous_visit"]["date"] == "2022-07-10"
    assert o["last_scan"]["ago"] == "4 weeks ago"
    assert o["flags"] == []


def test_a_stale_record_is_flagged_with_the_ages():
    o = overview(tl(), dt.date(2024, 3, 1))
    # 2023-01-12 to 2024-03-01 is 414 days: more than 12 months; the scan 2023-02-01 is 394 days
    assert [f["kind"] for f in o["flags"]] == ["visit_overdue", "scan_overdue"]
    assert o["flags"][0]["text"].startswith(
        "Last clinic visit 2023-01-12, 1 year 1 month ago: overdue (more than 12 months)"
    )
    assert o["flags"][1]["text"].startswith("Last MRI 2023-02-01, 1 year 1 month ago")
    # exactly 365 days is not yet overdue; a day more is
    assert overview(tl(), dt.date(2024, 1, 12))["flags"] == []
    assert [f["kind"] for f in overview(tl(), dt.date(2024, 1, 13))["flags"]] == ["visit_overdue"]
    assert overview({"assessments": [], "mri": []}, DAY)["flags"] == [
        {"kind": "no_visit", "text": "No clinic visit on record."},
        {"kind": "no_scan", "text": "No MRI on record."},
    ]


def test_the_verdict_names_the_four_signals_with_date_size_and_what_is_new():
    v = {s["key"]: s for s in verdict(tl(), DAY)}
    assert list(v) == ["worsening", "prl", "sel", "digital"]
    w = v["worsening"]
    assert (w["state"], w["value"], w["new"]) == ("present", "PIRA, 2022", True)
    assert w["detail"] == "EDSS 2 → 3 (+1) on 2022-07-10 (7 months ago), confirmed 2023-01-12."
    assert w["since"] == "New: confirmed at the last visit (2023-01-12, 6 weeks ago)."
    p = v["prl"]
    assert (p["value"], p["new"]) == ("3 PRL", True)  # a scan after the last visit, +2
    assert p["detail"] == (
        "3 paramagnetic rim lesions of 9 lesions on the scan of 2023-02-01 (4 weeks ago). "
        "+2 since the scan of 2022-06-01."
    )
    assert p["since"].startswith("New scan since the last visit (2023-01-12, 6 weeks ago): +2")
    s = v["sel"]
    assert (s["value"], s["state"]) == ("2 SEL", "present")
    assert s["detail"].startswith("2 definite slowly expanding lesions (1 possible)")
    d = v["digital"]
    # onset 2022-10-17, before the last visit; the last four weekly values after it are 104, 98,
    # 100, 102: median 101, (101 - 130) / 130 = -22 %
    assert (d["value"], d["new"]) == ("two-minute walk -23 %", False)
    assert d["detail"] == (
        "Sustained decline: two-minute walk -23 % from 2022-10-17 (now -22 %). "
        "Data up to 2022-11-21 (3 months ago)."
    )
    assert [x["evidence"] for x in v.values()] == [
        "#evidence-worsening",
        "#evidence-mri",
        "#evidence-mri",
        "#evidence-digital",
    ]


def test_the_verdict_says_none_and_not_rated_plainly():
    t = tl()
    t["events"], t["device_events"] = [], []
    for m in t["mri"]:
        m["prl_rated"] = m["sel_rated"] = False
    v = {s["key"]: s for s in verdict(t, DAY)}
    assert (v["worsening"]["value"], v["worsening"]["state"]) == ("none", "absent")
    assert v["worsening"]["detail"] == "No confirmed worsening in 3 visits since 2022-01-10."
    assert (v["prl"]["value"], v["prl"]["state"]) == ("not rated", "unknown")
    assert v["digital"]["detail"] == (
        "No sustained decline in 8 weeks of data up to 2022-11-21 (3 months ago)."
    )
    t["assessments"] = t["assessments"][:1]
    assert verdict(t, DAY)[0]["value"] == "not assessed"


BARE_CODES = ("CDI", "9HPT", "T25FW", "SDMT", "PRL", "SEL", "RAW", "CDW", "smoulder.digital")


def bare_codes(text: str, pseudonym: str = "P-TEST0001") -> list[str]:
    """Codes in a text meant for a person with MS that appear without their meaning."""
    text = text.replace(EDSS_WORDS, "").replace(PIRA_WORDS, "")
    found = [c for c in BARE_CODES if re.search(rf"(?<![\w.]){re.escape(c)}(?![\w])", text)]
    found += [c for c in ("EDSS", "PIRA") if re.search(rf"\b{c}\b", text)]
    return found + ([pseudonym] if pseudonym in text else [])


def test_the_person_reads_plain_sentences_without_bare_codes():
    f = {x["key"]: x for x in plain_findings(tl(), DAY)}
    assert f["worsening"]["sentence"] == (
        "Your disability score went up from 2 to 3 on 10 July 2022 and was still as high at "
        "your visit on 12 January 2023. There was no relapse (attack) around that time."
    )
    assert PIRA_WORDS in f["worsening"]["meaning"]
    assert f["prl"]["sentence"] == (
        "Your MRI scan of 1 February 2023 shows 3 lesions with a rim. That is 2 more than on "
        "the scan of 1 June 2022."
    )
    assert f["digital"]["sentence"] == (
        "The distance in your two-minute walking test dropped by 23 % from October 2022 and "
        "stayed lower for 1 month."
    )
    changes = plain_changes(tl(), DAY)
    assert changes[0] == "Between your visits on 10 July 2022 and 12 January 2023 (6 weeks ago):"
    # (6.1 - 5.0) / 5.0 = 22 %
    assert "Your 25-foot walking test got slower by 22 %: 6.1 seconds, after 5 seconds." in changes
    everything = " ".join(
        [
            *(x["sentence"] + " " + x["meaning"] for x in f.values()),
            *changes,
            *plain_overview(tl(), DAY),
            *plain_questions(tl(), DAY),
        ]
    )
    assert bare_codes(everything) == []
    assert bare_codes("a PRL and the T25FW, smoulder.digital") == [
        "T25FW",
        "PRL",
        "smoulder.digital",
    ]


def test_the_person_is_told_plainly_when_a_visit_is_overdue():
    about = plain_overview(tl(), dt.date(2024, 3, 1))
    assert about[0] == (
        "Your last clinic visit on record was on 12 January 2023 (1 year 1 month ago). That is "
        "more than a year ago: it may be time to book a check-up."
    )
    assert any(
        "When should my next check-up be?" in q for q in plain_questions(tl(), dt.date(2024, 3, 1))
    )
    assert long_date("2021-02-04") == "4 February 2021"


def test_the_highest_lesion_count_is_drawn_whole_inside_its_lane():
    """The key figure's lesion lane: 3 PRL and 2 SEL on the last scan; the highest marker sits
    well below the lane's top edge (a marker on the edge is cut in half on paper)."""
    import matplotlib

    matplotlib.use("Agg")
    from smoulder.report.figure import key_figure

    fig = key_figure(tl(), today=dt.date(2023, 3, 1))
    lane = next(ax for ax in fig.axes if ax.get_ylabel() == "lesions")
    top = lane.get_ylim()[1]
    drawn = [y for line in lane.get_lines() for y in line.get_ydata()]
    assert max(drawn) == 3  # the PRL count of the second scan
    # marker radius (5 pt across) in data units, from the lane's height on the figure
    height_pt = lane.get_position().height * fig.get_figheight() * 72
    radius = 2.5 * (top - lane.get_ylim()[0]) / height_pt
    assert max(drawn) + radius < top
