"""The PRL review page in Debian's chromium, opened from disk (no server): a rater taps agree /
disagree / unsure on a phone, reloads (nothing lost), saves, and ``smoulder prl train`` reads the
downloaded TSV into the labels the taps mean. Screenshots at 1440x900 and 390x844 go to
``tests/imaging/_screenshots/`` (the run's own output, ignored by git)."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from smoulder.cli import main

pytestmark = pytest.mark.slow  # chromium: the shared ``browser`` fixture (tests/conftest.py)
SHOTS = Path(__file__).parent / "_screenshots"


@pytest.fixture(scope="module")
def review(phantom_files, tmp_path_factory):
    out = tmp_path_factory.mktemp("review") / "out"
    code = main(
        [
            "prl",
            "--flair",
            phantom_files["flair"],
            "--phase",
            phantom_files["phase"],
            "--lesions",
            phantom_files["lesions"],
            "--out",
            str(out),
            "--quiet",
        ]
    )
    assert code == 0
    return out


def test_rate_on_a_phone_save_and_train(review, browser, tmp_path, capsys):
    table = pd.read_csv(review / "lesions.tsv", sep="\t")
    calls = dict(zip(table["label"].astype(int), table["prl"].astype(bool), strict=True))
    # the taps: agree on 1 and 4, disagree on 2 and 5, unsure on 3; 6-8 not rated
    taps = {1: "agree", 2: "disagree", 3: "unsure", 4: "agree", 5: "disagree"}
    expected = {
        lab: calls[lab] == (r == "agree") for lab, r in taps.items() if r != "unsure"
    }  # agree keeps the automatic call, disagree reverses it
    assert set(expected.values()) == {True, False}
    ctx = browser.new_context(
        accept_downloads=True,
        viewport={"width": 390, "height": 844},
        is_mobile=True,
        has_touch=True,
    )
    page = ctx.new_page()
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(str(e)))
    requests: list[str] = []
    page.on("request", lambda r: requests.append(r.url))
    url = (review / "qc.html").as_uri()
    page.goto(url)
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    page.fill("#rater", "AB")
    for lab, r in taps.items():
        choice = page.locator(f"#lesion-{lab} label:has(input[value={r}])")
        box = choice.bounding_box()
        assert box is not None and box["height"] >= 44 and box["width"] >= 90  # thumb-sized
        choice.tap()
    page.fill("#lesion-2 textarea", "a vein\trunning along\nthe edge")
    assert page.inner_text("#progress") == "5 of 8 lesions rated"
    # a reload loses nothing (the ratings live in localStorage)
    page.reload()
    assert page.locator("#lesion-2 input[value=disagree]").is_checked()
    assert page.input_value("#lesion-2 textarea") == "a vein\trunning along\nthe edge"
    assert page.input_value("#rater") == "AB"
    SHOTS.mkdir(exist_ok=True)
    (SHOTS / ".gitignore").write_text("*\n")
    page.evaluate("document.getElementById('lesion-1').scrollIntoView()")
    page.screenshot(path=str(SHOTS / "prl_review_phone.png"))
    save = page.locator("#save").bounding_box()
    assert save is not None and save["height"] >= 44
    with page.expect_download() as info:
        page.tap("#save")
    assert info.value.suggested_filename == "prl_ratings.tsv"
    tsv = tmp_path / "prl_ratings.tsv"
    info.value.save_as(tsv)
    saved = pd.read_csv(tsv, sep="\t", dtype=str, keep_default_na=False)
    # the order the page states: rim score as shown (3 significant digits) highest first, equal
    # shown scores by lesion number (the three rims here all show 1)
    assert "highest rim score first, by the score as shown" in page.inner_text("#order")
    shown = table.assign(s=[float(f"{v:.3g}") for v in table["rim_score"]])
    expected_order = shown.sort_values(["s", "label"], ascending=[False, True])["label"].tolist()
    assert saved["lesion"].astype(int).tolist() == expected_order
    listed = page.locator("table tr td:first-child a").all_inner_texts()
    assert [int(v) for v in listed] == expected_order
    row2 = saved.set_index("lesion").loc["2"]
    assert row2["comment"] == "a vein running along the edge" and row2["rater"] == "AB"
    model = tmp_path / "m.joblib"
    assert main(["prl", "train", str(tsv), "--out", str(model), "--demo", "--json"]) == 0
    info_json = json.loads(capsys.readouterr().out)
    assert info_json["lesions"] == len(expected) and info_json["prl"] == sum(expected.values())
    from smoulder.imaging.prl import FEATURES
    from smoulder.pipelines._prl_review import read_rated

    rated, y = read_rated([tsv], features=FEATURES)
    assert dict(zip(rated["lesion"].astype(int), y.tolist(), strict=True)) == expected
    assert errors == []
    assert all(u.startswith(("file:", "data:", "blob:")) for u in requests), requests
    ctx.close()


def test_desktop_screenshot_and_hide_drawings(review, browser):
    ctx = browser.new_context(viewport={"width": 1440, "height": 900})
    page = ctx.new_page()
    page.goto((review / "qc.html").as_uri())
    assert page.evaluate("document.documentElement.scrollWidth") <= 1440
    overlay = page.locator("#lesion-1 img.overlay").first
    assert overlay.is_visible()
    page.click("#drawings")
    assert not overlay.is_visible()
    page.click("#drawings")
    SHOTS.mkdir(exist_ok=True)
    page.evaluate("document.getElementById('lesion-1').scrollIntoView()")
    page.screenshot(path=str(SHOTS / "prl_review_desktop.png"))
    ctx.close()
