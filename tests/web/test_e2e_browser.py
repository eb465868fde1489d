"""End to end in Debian's chromium (never a downloaded browser): sign in, import a file, open a
person, see the events on the time line, log a lifestyle entry, download the report."""

from __future__ import annotations

# chromium: the shared ``browser`` fixture (tests/conftest.py), skipped where it is missing


def test_clinician_journey(live_server, browser, tmp_path):
    base, keys = live_server
    ctx = browser.new_context(accept_downloads=True, viewport={"width": 1200, "height": 900})
    page = ctx.new_page()
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(str(e)))
    requests: list[str] = []
    page.on("request", lambda r: requests.append(r.url))

    # unauthenticated: sent to the login page, then back where we wanted to go
    page.goto(f"{base}/cohort")
    assert "/login" in page.url
    page.fill("input[name=username]", "dr.a")
    page.fill("input[name=password]", "correct horse battery")
    page.click("button[type=submit]")
    page.wait_for_url(f"{base}/cohort")
    assert page.locator("#cohort-table tbody tr").count() == 2

    # import a visits file for a new person
    csv = tmp_path / "new_visits.csv"
    csv.write_text("subject,date,edss,sdmt\nE2E-1,2021-01-10,2.0,50\nE2E-1,2021-07-10,2.5,48\n")
    page.goto(f"{base}/import")
    page.select_option("select[name=kind]", "visits")
    page.set_input_files("input[name=file]", str(csv))
    page.click("#import-form button[type=submit]")
    page.wait_for_selector("#import-result")
    assert "2 inserted" in page.inner_text("#import-result")
    page.goto(f"{base}/cohort")
    assert page.locator("#cohort-table tbody tr").count() == 3

    # open a person: the events are on the time line
    page.goto(f"{base}/patients/{keys['MRN-1001']}")
    page.wait_for_selector("#timeline .main-svg")
    legend = page.inner_text("#legend") + " " + page.inner_text("#device-legend")
    for name in (
        "EDSS",
        "PIRA",
        "RAW",
        "relapse",
        "MRI activity",
        "PRL",
        "sustained decline",
        "two-minute walk",
    ):
        assert name in legend, (name, legend)
    assert page.locator("#timeline .scatterlayer .trace").count() >= 8
    assert page.locator("#device-plot .scatterlayer .trace").count() >= 3
    assert "EDSS stayed at 4." in page.inner_text("#summary")

    # log a lifestyle entry from the form
    page.click("text=Log lifestyle")
    page.fill("input[name=date]", "2021-03-15")
    page.fill("input[name=exercise_min_week]", "180")
    page.select_option("select[name=smoking]", "former")
    page.fill("input[name=sleep_hours]", "7.5")
    page.fill("textarea[name=notes]", "<b>walked</b> more")
    page.click("#lifestyle-form button[type=submit]")
    page.wait_for_url(f"{base}/patients/{keys['MRN-1001']}?saved=lifestyle")
    first_row = page.locator("#lifestyle tbody tr").first.inner_text()
    assert "2021-03-15" in first_row and "180" in first_row and "former" in first_row
    assert "<b>walked</b> more" in first_row  # shown as text, not markup

    # download the consultation report
    with page.expect_download() as info:
        page.click("#report-pdf")
    path = tmp_path / "report.pdf"
    info.value.save_as(path)
    assert path.read_bytes().startswith(b"%PDF") and path.stat().st_size > 10_000

    assert errors == []
    assert all(u.startswith(base) for u in requests), (
        "the app must not load anything from elsewhere"
    )
    ctx.close()


def test_person_with_ms_sees_only_their_record_on_a_phone(live_server, browser):
    base, keys = live_server
    ctx = browser.new_context(
        viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True
    )
    page = ctx.new_page()
    page.goto(f"{base}/login")
    page.fill("input[name=username]", "alice")
    page.fill("input[name=password]", "correct horse battery")
    page.click("button[type=submit]")
    page.wait_for_url(f"{base}/patients/{keys['MRN-1001']}")
    page.goto(f"{base}/patients/{keys['MRN-1001']}/lifestyle")
    # the form fits the phone screen: no sideways scrolling
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    page.fill("input[name=date]", "2021-05-01")
    page.fill("input[name=alcohol_units_week]", "3")
    page.click("#lifestyle-form button[type=submit]")
    page.wait_for_url(f"{base}/patients/{keys['MRN-1001']}?saved=lifestyle")
    resp = page.goto(f"{base}/patients/{keys['MRN-2001']}")
    assert resp.status == 404 and "Carol" not in page.content()
    ctx.close()
