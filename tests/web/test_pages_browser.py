"""What each reader notices, in Debian's chromium (never a downloaded browser), at 1440x900 and
390x844: the verdict panel above the fold names all four signals; no page scrolls sideways on a
phone; the person with MS sees no bare codes; a stale record shows the last-visit marker and the
overdue flags. Every page is screenshotted to ``tests/web/_screenshots/`` (written by the run,
ignored by git) so a person can look at them."""

from __future__ import annotations

import datetime as dt
import io
import re
from pathlib import Path

import pandas as pd
import pytest

pytestmark = pytest.mark.slow  # chromium: the shared ``browser`` fixture (tests/conftest.py)
SHOTS = Path(__file__).parent / "_screenshots"
SIZES = {"desktop": (1440, 900), "phone": (390, 844)}
ROLES = {"clinician": "dr.a", "researcher": "res", "patient": "alice"}
TITLES = {
    "clinician": [
        "Confirmed worsening",
        "Rim lesions (PRL)",
        "Slowly expanding lesions (SEL)",
        "Phone and wearable",
    ],
    "patient": [
        "Your disability score",
        "Rim lesions on MRI",
        "Slowly growing lesions on MRI",
        "Your phone and watch",
    ],
}
TITLES["researcher"] = TITLES["clinician"]
#: the test clinic's last visit is 2021-02-04: on this day the record is more than 12 months old
STALE_DAY = dt.date(2023, 6, 1)
#: five screens of a 390x844 phone: the clinic's person page must not be longer
PHONE_PAGE_MAX = 5 * 844
#: the person's own page on a 390x844 phone: 4,461 px before its folds, 3,713 after. What stays
#: open (your record, the four signals, the buttons, what they do and do not mean, what changed,
#: the questions, both charts) ends at 3,420 px; the four folded lines and the footer take
#: ~290 px; 4,000 leaves room for a longer list of changes or questions and fails when the keys
#: to the charts (539 px) are open again
OWN_PHONE_PAGE_MAX = 4000
#: the sections the person's own page folds on a phone (the card each fold is in)
OWN_FOLDS = ("timeline-card", "timeline-card", "lifestyle-card", "access")
ERRORS: dict[int, list[str]] = {}
BARE = ("CDI", "9HPT", "T25FW", "SDMT", "PRL", "SEL", "RAW", "CDW", "smoulder.digital")


def shots() -> Path:
    SHOTS.mkdir(exist_ok=True)
    (SHOTS / ".gitignore").write_text("*\n")  # the run's own output, never committed
    return SHOTS


def open_as(browser, base: str, username: str, size: str, tz: str = "Europe/Berlin"):
    w, h = SIZES[size]
    ctx = browser.new_context(
        viewport={"width": w, "height": h},
        is_mobile=size == "phone",
        has_touch=size == "phone",
        timezone_id=tz,
        locale="en-GB",
    )
    page = ctx.new_page()
    errors: list[str] = []
    ERRORS[id(page)] = errors
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(f"{base}/login")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", "correct horse battery")
    page.click("button[type=submit]")
    page.wait_for_load_state()
    return ctx, page


def no_sideways_scroll(page, width: int) -> None:
    wide = page.evaluate("[document.documentElement.scrollWidth, document.body.scrollWidth]")
    assert max(wide) <= width, f"the page is {max(wide)} px wide on a {width} px screen"


def bare_codes(text: str, pseudonym: str) -> list[str]:
    from smoulder.report.plain import EDSS_WORDS, PIRA_WORDS

    text = text.replace(EDSS_WORDS, "").replace(PIRA_WORDS, "")
    found = [c for c in BARE if re.search(rf"(?<![\w.]){re.escape(c)}(?![\w])", text)]
    found += [c for c in ("EDSS", "PIRA") if re.search(rf"\b{c}\b", text)]
    return found + ([pseudonym] if pseudonym in text else [])


@pytest.mark.parametrize("size", list(SIZES))
@pytest.mark.parametrize("role", list(ROLES))
def test_person_page_answers_first_and_tells_the_truth(
    live_server, browser, frozen_today, role, size
):
    base, keys = live_server
    frozen_today["value"] = STALE_DAY
    key = keys["MRN-1001"]
    w, h = SIZES[size]
    ctx, page = open_as(browser, base, ROLES[role], size)
    page.goto(f"{base}/patients/{key}")
    page.wait_for_selector("#timeline .main-svg")
    page.wait_for_selector("#device-plot .main-svg")
    out = shots()
    page.screenshot(path=str(out / f"person-{role}-{size}-fold.png"))
    page.screenshot(path=str(out / f"person-{role}-{size}-full.png"), full_page=True)

    # the verdict panel, above the fold, names all four signals
    titles = page.locator("#verdict article h3").all_inner_texts()
    assert titles == TITLES[role]
    for k in ("worsening", "prl", "sel", "digital"):
        box = page.locator(f"#signal-{k} h3").bounding_box()
        assert box is not None and box["y"] + box["height"] <= h, (k, box)
        assert box["x"] >= 0 and box["x"] + box["width"] <= w, (k, box)
    # before the time line
    assert (
        page.locator("#verdict").bounding_box()["y"] < page.locator("#timeline").bounding_box()["y"]
    )
    no_sideways_scroll(page, w)

    # the stale record: overdue flags, and the last visit marked on both charts and explained
    svg_text = " ".join(page.locator("#timeline svg text").all_text_contents())
    device_text = " ".join(page.locator("#device-plot svg text").all_text_contents())
    if role == "patient":
        about = page.inner_text("#about").replace("\u00a0", " ")  # no-break spaces: shown as spaces
        assert "4 February 2021 (2 years 3 months ago). That is more than a year ago" in about
        assert (
            "your last visit 2021-02-04" in svg_text and "your last visit 2021-02-04" in device_text
        )
        # folded behind "What the 9 marks on this chart mean" on a phone: its text, shown or not
        assert "your last visit" in page.locator("#legend").text_content()
    else:
        flags = page.locator("#flags li").all_inner_texts()
        # a duration never breaks across lines: no-break spaces inside it
        assert "2\u00a0years\u00a03\u00a0months ago" in flags[0]
        assert [f.replace("\u00a0", " ") for f in flags] == [
            "Last clinic visit 2021-02-04, 2 years 3 months ago: overdue (more than 12 months); "
            "the scores below may be out of date.",
            "Last MRI 2021-01-20, 2 years 4 months ago: overdue (more than 12 months); the MRI "
            "signals may be out of date.",
        ]
        box = page.locator("#flags").bounding_box()
        assert box["y"] + box["height"] <= h  # seen before anything else
        assert "last visit 2021-02-04" in svg_text and "last visit 2021-02-04" in device_text
        # the data end more than a year before the day of the page: said, not squeezed away
        assert "no data after" in svg_text
        # folded behind "What the marks mean" on a phone: its text, shown or not
        legend = page.locator("#legend").text_content()
        for mark in (
            "relapse",
            "treatment",
            "EDSS",
            "PIRA",
            "RAW",
            "T25FW",
            "9HPT",
            "PRL",
            "last visit",
        ):
            assert mark in legend, mark
        # one lane per unit: no shared "SDMT / s" axis any more (a phone breaks a long title
        # into two lines, so the words are checked, not the spaces between the lines)
        assert "SDMT (points)" in svg_text and "SDMT / s" not in svg_text
        assert "T25FW, 9HPT" in svg_text and "(% of first visit" in svg_text
    # every lane title fits inside its chart (regression: cut at the right edge on a phone)
    for chart in ("#timeline", "#device-plot"):
        right = page.locator(f"{chart} .main-svg").first.bounding_box()
        for i in range(page.locator(f"{chart} .annotation-text").count()):
            b = page.locator(f"{chart} .annotation-text").nth(i).bounding_box()
            assert (
                b["x"] >= right["x"] - 1 and b["x"] + b["width"] <= right["x"] + right["width"] + 1
            ), (
                chart,
                page.locator(f"{chart} .annotation-text").nth(i).text_content(),
            )
    # a table's column names stand over their columns (regression: the form layout of class
    # "stack" made each table a column of blocks on a wide screen)
    if size == "desktop":
        for table in ("#events", "#mri"):
            head = page.locator(f"{table} thead th").all()
            cells = page.locator(f"{table} tbody tr").first.locator("td").all()
            assert [round(h.bounding_box()["x"]) for h in head] == [
                round(c.bounding_box()["x"]) for c in cells
            ], table
    # no toolbar over the data, on any screen
    assert page.locator("#timeline .modebar").count() == 0
    if role != "patient":
        # the day of the verdict is never split at its hyphens (regression: "2023-" / "06-01" on a phone)
        assert (
            page.evaluate("document.querySelector('#verdict-title small').getClientRects().length")
            == 1
        )

    if role != "patient" and size == "phone":
        # the clinic's page is at most five phone screens long: the secondary sections fold to
        # their titles (5,900 px and more before; the verdict panel and the time line stay open)
        height = page.evaluate("document.documentElement.scrollHeight")
        assert height <= PHONE_PAGE_MAX, height
        for folded in ("evidence-worsening", "evidence-mri", "evidence-digital", "analyses"):
            assert page.evaluate(f"document.querySelector('#{folded} > details').open") is False
        assert page.locator("#verdict").is_visible()
        # an evidence link opens its folded section and shows the table
        page.click("#signal-prl a.evidence")
        page.wait_for_function("() => document.querySelector('#evidence-mri > details').open")
        assert page.locator("#mri").is_visible()
        no_sideways_scroll(page, w)
    elif role != "patient":
        # on a wide screen nothing is folded
        assert page.locator("#mri").is_visible() and page.locator("#lifestyle").is_visible()

    if role == "patient":
        own_page_folds(page, size, w, h)

    text = page.inner_text("body")  # every fold is open by now
    if role == "patient":
        assert bare_codes(text + " " + svg_text + " " + device_text, key) == []
        assert "Who has looked at your record" in text
    if role == "researcher":
        assert "Alice" not in text and "MRN-1001" not in text
    assert ERRORS[id(page)] == []
    ctx.close()


def own_page_folds(page, size: str, w: int, h: int) -> None:
    """The person's own page: on a phone the keys to the charts, the lifestyle log and the access
    list fold to a line each and open when tapped; what the results show, what they mean, what
    changed and the questions are in sight without opening anything. On a wide screen all is
    open."""
    folds = page.locator("details[data-phone-fold]")
    cards = [
        page.evaluate(
            f"document.querySelectorAll('details[data-phone-fold]')[{i}].closest('section').id"
        )
        for i in range(folds.count())
    ]
    assert tuple(cards) == OWN_FOLDS
    seen = ["#about", "#verdict", "#explainer", "#changes", "#questions", "#timeline"]
    seen += [f"#signal-{k}" for k in ("worsening", "prl", "sel", "digital")]
    for sel in seen:
        assert page.locator(sel).is_visible(), sel
    questions = page.locator("#questions li")
    assert questions.count() >= 3
    assert all(questions.nth(i).is_visible() for i in range(questions.count()))
    inside = ("#legend", "#device-legend", "#lifestyle", "#trail")
    if size == "desktop":
        assert all(folds.nth(i).evaluate("d => d.open") for i in range(folds.count()))
        for sel in inside:
            assert page.locator(sel).is_visible(), sel
        return
    height = page.evaluate("document.documentElement.scrollHeight")
    assert height <= OWN_PHONE_PAGE_MAX, height
    for i in range(folds.count()):
        d = folds.nth(i)
        assert d.evaluate("d => d.open") is False, cards[i]
        # one line, two when the title wraps (the largest: 56 px, h2 and count)
        assert d.bounding_box()["height"] <= 80, (cards[i], d.bounding_box())
    for sel in inside:
        assert not page.locator(sel).is_visible(), sel
    # the summaries say what is inside in words, with a count
    names = [folds.nth(i).locator("summary").inner_text() for i in range(folds.count())]
    assert re.fullmatch(r"What the \d+ marks on this chart mean", names[0]), names
    assert re.search(r"Your lifestyle log \d+ entr(y|ies), the last on ", names[2]), names
    assert re.search(r"Who has looked at your record (\d+ recent entr(y|ies)|nobody)", names[3])
    page.screenshot(path=str(shots() / "person-patient-phone-folded-end.png"), full_page=True)
    # a tap opens each of them, and what it holds is then in sight, on the screen's width
    for i, sel in enumerate(inside):
        folds.nth(i).locator("summary").tap()
        page.wait_for_function(
            f"() => document.querySelectorAll('details[data-phone-fold]')[{i}].open"
        )
        assert page.locator(sel).is_visible(), sel
    no_sideways_scroll(page, w)
    opened = page.evaluate("document.documentElement.scrollHeight")
    # the folds had hidden the keys, the log and the list (539 + 139 + 85 px and more)
    assert opened >= height + 600, (height, opened)
    page.screenshot(path=str(shots() / "person-patient-phone-opened.png"), full_page=True)


@pytest.mark.parametrize("size", list(SIZES))
def test_other_pages_fit_the_screen(live_server, browser, size):
    base, keys = live_server
    w, _ = SIZES[size]
    out = shots()
    for role in ("clinician", "researcher"):
        ctx, page = open_as(browser, base, ROLES[role], size)
        page.goto(f"{base}/cohort")
        page.wait_for_selector("#cohort-table")
        page.screenshot(path=str(out / f"cohort-{role}-{size}.png"), full_page=True)
        no_sideways_scroll(page, w)
        # the download sits beside the Filter button, on the filters' row (regression: alone on
        # a line of its own); on a wide screen every filter is on that one row
        csv_box = page.locator("#cohort-csv").bounding_box()
        go = page.locator("#cohort-filters button[type=submit]").bounding_box()
        assert abs((csv_box["y"] + csv_box["height"] / 2) - (go["y"] + go["height"] / 2)) < 2
        assert csv_box["x"] > go["x"] + go["width"]
        assert csv_box["x"] + csv_box["width"] <= w
        if size == "desktop":
            signal = page.locator("#cohort-filters select[name=signal]").bounding_box()
            assert (
                csv_box["y"] < signal["y"] + signal["height"]
                and signal["y"] < csv_box["y"] + csv_box["height"]
            )
        # no disease course on record in the test clinic: every Course cell says so
        courses = page.locator("#cohort-table td[data-label=Course]")
        assert courses.count() >= 2 and set(courses.all_inner_texts()) == {"not recorded"}
        assert courses.first.is_visible()
        # the trend mark of every person, and the filters by treatment, course and age
        assert page.locator("#cohort-table svg.spark").count() >= 2
        # each pseudonym and clinic id on one line (regression: "P-" / "75VMDU69" in the wide table)
        lines = page.evaluate(
            "[...document.querySelectorAll('#cohort-table td[data-label=Pseudonym] a,"
            " #cohort-table td[data-label=Name] .meta')]"
            ".map(a => a.getClientRects().length)"
        )
        assert lines and set(lines) == {1}, lines
        for name in ("treatment", "course", "age_min", "age_max"):
            assert page.locator(f"#cohort-filters [name={name}]").count() == 1
        page.select_option("select[name=course]", "unknown")
        page.click("#cohort-filters button[type=submit]")
        page.wait_for_selector("#cohort-table")
        assert "course=unknown" in page.url
        assert "course=unknown" in page.get_attribute("#cohort-csv", "href")
        ctx.close()
    for role in ("clinician", "patient"):
        ctx, page = open_as(browser, base, ROLES[role], size)
        page.goto(f"{base}/patients/{keys['MRN-1001']}/lifestyle")
        page.screenshot(path=str(out / f"lifestyle-{role}-{size}.png"), full_page=True)
        no_sideways_scroll(page, w)
        ctx.close()


def test_the_person_with_ms_gets_errors_in_words_a_saved_note_and_local_times(live_server, browser):
    base, keys = live_server
    key = keys["MRN-1001"]
    ctx, page = open_as(browser, base, "alice", "phone", tz="Europe/Berlin")
    page.goto(f"{base}/patients/{key}/lifestyle")
    page.fill("input[name=date]", "2021-02-20")
    page.fill("input[name=sleep_hours]", "25")
    # the browser would stop this itself; the server must also say it in words
    page.evaluate("document.getElementById('lifestyle-form').noValidate = true")
    page.click("#lifestyle-form button[type=submit]")
    page.wait_for_selector("#form-errors")
    out = shots()
    page.screenshot(path=str(out / "lifestyle-patient-phone-error.png"), full_page=True)
    errors = page.locator("#form-errors")
    assert errors.is_visible() and errors.bounding_box()["y"] + 40 <= 844  # seen first
    assert "Sleep must be between 0 and 24 hours a night." in page.inner_text("#form-errors")
    assert "sleep_hours" not in page.inner_text("#form-errors")
    assert page.get_attribute("input[name=sleep_hours]", "aria-invalid") == "true"
    page.fill("input[name=sleep_hours]", "7.5")
    page.click("#lifestyle-form button[type=submit]")
    page.wait_for_url(f"{base}/patients/{key}?saved=lifestyle")
    saved = page.locator("#saved")
    assert saved.is_visible() and "Saved" in saved.inner_text()
    box = saved.bounding_box()
    assert box["y"] + box["height"] <= 844
    page.screenshot(path=str(out / "person-patient-phone-saved.png"))
    # the notice leaves the lifestyle log open on a phone, the new entry in it; the other
    # folds stay folded
    page.wait_for_function("() => document.querySelector('#lifestyle-card > details').open")
    assert "20 February 2021" in page.locator("#lifestyle li").first.inner_text()
    assert "sleep 7.5 hours a night" in page.locator("#lifestyle li").first.inner_text()
    assert page.evaluate("document.querySelector('#access > details').open") is False
    page.click("#access summary")
    # the access list in words and in the reader's local time (Berlin: UTC+1 in winter)
    item = page.locator("#trail li").first
    stamp = item.locator("time").get_attribute("datetime")
    utc = dt.datetime.fromisoformat(stamp.replace("Z", "+00:00"))
    shown = item.locator("time").inner_text()
    from zoneinfo import ZoneInfo

    local = utc.astimezone(ZoneInfo("Europe/Berlin"))
    assert f"{local:%H}:{local:%M}" in shown and "UTC" not in shown, (stamp, shown)
    assert "Europe/Berlin" in page.inner_text("#access")
    assert re.search(r"You (opened|added)", page.inner_text("#trail"))
    ctx.close()


def test_no_mri_activity_is_said_under_the_time_line(live_server, browser, tmp_path):
    """Bob's two scans both record no activity: no activity lane, and one sentence under the
    chart that says so with the scans' dates."""
    from smoulder.store import Store, import_into

    base, keys = live_server
    # the live server's own database file (tests/web/conftest.py: live_server)
    store = Store(f"sqlite:///{tmp_path / 'live.sqlite'}")
    try:
        import_into(
            store,
            "mri",
            pd.read_csv(
                io.StringIO("subject,date,active\nMRN-1002,2020-03-01,no\nMRN-1002,2020-09-01,no\n")
            ),
        )
    finally:
        store.dispose()
    ctx, page = open_as(browser, base, ROLES["clinician"], "desktop")
    page.goto(f"{base}/patients/{keys['MRN-1002']}")
    page.wait_for_selector("#timeline .main-svg")
    page.screenshot(path=str(shots() / "person-no-mri-activity.png"), full_page=True)
    note = page.locator("#mri-activity-note")
    assert note.inner_text() == (
        "No new/enlarging or Gd+ lesions on the 2 scans with activity recorded "
        "(2020-03-01 to 2020-09-01)."
    )
    # right under the chart, before its legend
    assert (
        page.evaluate("document.getElementById('timeline').nextElementSibling.id")
        == "mri-activity-note"
    )
    # and no activity lane among the chart's lane titles
    assert "MRI activity" not in page.locator("#timeline").inner_text()
    assert not ERRORS[id(page)]
    ctx.close()
