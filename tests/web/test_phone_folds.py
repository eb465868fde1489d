"""The person's own page: the sections a phone folds (the keys to the charts, the lifestyle log,
the access list) carry their title and a count in words, made for each view; the answer to the
signals, their meaning, what changed and the questions are never inside a fold. The folding
itself (person.js, on a phone only) is checked in chromium in ``test_pages_browser.py``."""

from __future__ import annotations

import re

from smoulder.store import import_into


def _summaries(page: str) -> list[str]:
    """The text of every summary of a section that folds on a phone, tags and spaces squeezed."""
    found = re.findall(r"<details[^>]*data-phone-fold[^>]*><summary>(.*?)</summary>", page, re.S)
    return [re.sub(r"\s+", " ", re.sub(r"<[^>]+>", "", s)).strip() for s in found]


def _fold_ids(page: str) -> list[str]:
    """The id of the card each fold sits in (the nearest ``<section ... id=...>`` before it)."""
    out = []
    for m in re.finditer(r"<details[^>]*data-phone-fold", page):
        out.append(re.findall(r'<section[^>]*id="([^"]+)"', page[: m.start()])[-1])
    return out


def test_the_own_page_folds_its_secondary_sections_with_counts_in_words(sqlite_clinic, login):
    from tests.web.conftest import t

    app, keys = sqlite_clinic
    key = keys["MRN-1001"]
    alice = login(app, "alice")
    page = alice.get(f"/patients/{key}").text
    # the test clinic: 9 kinds of mark on Alice's chart (relapse, treatment, disability score,
    # the two kinds of lasting rise, walking, hands, the normal band, the last visit), 4 on the
    # phone chart; one lifestyle entry (2020-12-01); nobody had opened her record before
    assert _summaries(page) == [
        "What the 9 marks on this chart mean",
        "What the 4 marks on this chart mean",
        "Your lifestyle log 1 entry, the last on 1 December 2020",
        "Who has looked at your record nobody before now",
    ]
    assert _fold_ids(page) == ["timeline-card", "timeline-card", "lifestyle-card", "access"]
    assert page.count('<li data-kind="') == 9 + 4  # the counts are the legends' lines
    # every fold starts open in the HTML: without the script nothing is hidden
    assert len(re.findall(r"<details[^>]*data-phone-fold[^>]* open>", page)) == 4
    # what must stay in sight is in no fold: the four signals, what they mean, what changed, the
    # questions, and the charts themselves
    for section in ("verdict", "explainer", "changes", "questions"):
        assert section not in _fold_ids(page)
    for chart in ('id="timeline"', 'id="device-plot"'):
        head = page[: page.index(chart)]
        assert head.count("<details") == head.count("</details>"), chart

    # the access list's count is made for each view (the page around the record is cached)
    assert "1 recent entry" in _summaries(alice.get(f"/patients/{key}").text)[3]
    # a run of repeats is one line: "You opened your record 2 times"
    assert _summaries(alice.get(f"/patients/{key}").text)[3].endswith(" 1 recent entry")
    login(app, "dr.a").get(f"/patients/{key}")
    last = alice.get(f"/patients/{key}").text
    assert _summaries(last)[3].endswith(" 2 recent entries")
    assert len(re.findall(r"<li><time", last)) == 2

    # two more entries, the later one first: the count and the newest date (not the last
    # imported)
    import_into(
        app.state.store,
        "lifestyle",
        t(
            "subject,date,exercise_min_week\nMRN-1001,2021-01-15,90\nMRN-1001,2020-06-01,30\n",
        ),
    )
    assert _summaries(alice.get(f"/patients/{key}").text)[2] == (
        "Your lifestyle log 3 entries, the last on 15 January 2021"
    )


def test_the_clinic_page_keeps_its_access_list_as_it_was(sqlite_clinic, login):
    """The clinician's access list is not folded and has no count (only the person's own page
    changed); the saved notice names the section it speaks of."""
    app, keys = sqlite_clinic
    c = login(app, "dr.a")
    page = c.get(f"/patients/{keys['MRN-1001']}?saved=lifestyle").text
    assert "access" not in _fold_ids(page)
    assert "<h2>Who looked at this record recently</h2>" in page
    assert "recent entr" not in page and "nobody before now" not in page
    assert re.search(r'<p class="saved"[^>]*data-opens="lifestyle-card"', page)
