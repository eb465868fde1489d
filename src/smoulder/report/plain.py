"""A person's own record in their words: what was found, what it does and does not mean, and what
to ask at the next visit.

Pure functions on the time line, written for the person with MS rather than for their
neurologist: no bare codes (a code such as EDSS or PIRA appears only with its meaning), dates
written out ("4 February 2021"), every finding in a plain sentence next to a short explanation.

Examples
--------
>>> import datetime as dt
>>> long_date("2021-02-04")
'4 February 2021'
>>> tl = {"assessments": [{"date": "2020-01-01", "edss": 2.0}, {"date": "2020-07-01", "edss": 2.0}]}
>>> plain_findings(tl, dt.date(2020, 8, 1))[0]["sentence"]
'Your disability score has not gone up in a lasting way since your first visit on 1 January 2020.'
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from smoulder.report.verdict import (
    OVERDUE_DAYS,
    ago,
    current_treatment,
    digital_declines,
    months_between,
    overview,
)
from smoulder.schema.disease_course import PLAIN as PLAIN_COURSE

MONTHS = (
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
)
EDSS_WORDS = "disability score (EDSS)"
PIRA_WORDS = "progression independent of relapse activity (PIRA)"
MEASURE_WORDS = {
    "two_minute_walk": "the distance in your two-minute walking test",
    "steps": "your daily steps",
    "walking_speed": "your walking speed",
    "step_length": "your step length",
    "six_minute_walk_estimate": "your watch's estimate of a six-minute walk",
    "sdmt_phone": "your score in the thinking-speed test on your phone",
    "sleep_hours": "your hours of sleep",
    "flights_climbed": "the flights of stairs you climb",
}
EXPLAINER = [
    "These results are pieces of information that you and your care team look at together. "
    "None of them on its own is a diagnosis or a forecast.",
    "Many people with MS have one or more of these signs and stay well for years. Seeing them "
    "early gives you and your team time to talk about what to do.",
    "If you notice new symptoms that last more than a day, contact your MS team as you usually "
    "would; do not wait for the next visit.",
]


def long_date(iso: str | None) -> str:
    """``2021-02-04`` as ``4 February 2021`` (empty for no date)."""
    if not iso:
        return ""
    d = dt.date.fromisoformat(str(iso)[:10])
    return f"{d.day} {MONTHS[d.month - 1]} {d.year}"


def month_year(iso: str) -> str:
    d = dt.date.fromisoformat(iso[:10])
    return f"{MONTHS[d.month - 1]} {d.year}"


def _n(x: float) -> str:
    return f"{x:g}" if float(x).is_integer() else f"{x:.1f}"


def _plural(n: int, one: str, many: str | None = None) -> str:
    return f"{n} {one if n == 1 else (many or one + 's')}"


def measure_words(measure: str) -> str:
    """A device measure as a person says it ("your daily steps")."""
    return MEASURE_WORDS.get(measure, "your " + measure.replace("_", " "))


def _finding(key: str, title: str, status: str, sentence: str, meaning: str) -> dict[str, str]:
    return {"key": key, "title": title, "status": status, "sentence": sentence, "meaning": meaning}


def _worsening(tl: dict[str, Any]) -> dict[str, str]:
    title = "Your disability score"
    visits = [a for a in tl.get("assessments") or [] if a.get("edss") is not None]
    events = [e for e in tl.get("events") or [] if e.get("event_type") == "CDW"]
    meaning_base = (
        f"The {EDSS_WORDS} is the score your neurologist gives after examining you, from 0 (no "
        "disability) to 10. It moves by half a point from one visit to the next for many "
        "reasons, which is why a rise counts only when a later visit confirms it."
    )
    if not events:
        if len(visits) < 2:
            return _finding(
                "worsening",
                title,
                "not measured",
                "There are not yet enough visits to tell whether your disability score is changing.",
                meaning_base,
            )
        return _finding(
            "worsening",
            title,
            "not found",
            "Your disability score has not gone up in a lasting way since your first visit on "
            f"{long_date(visits[0]['date'])}.",
            meaning_base,
        )
    e = max(events, key=lambda x: (x.get("confirmation_date") or "", x.get("event_date") or ""))
    b, v = e.get("baseline_value"), e.get("event_value")
    rise = (
        f"went up from {_n(b)} to {_n(v)}"
        if isinstance(b, int | float) and isinstance(v, int | float)
        else "went up"
    )
    s = f"Your disability score {rise} on {long_date(e.get('event_date'))}"
    if e.get("confirmation_date"):
        s += f" and was still as high at your visit on {long_date(e['confirmation_date'])}"
    kind = e.get("type")
    if kind == "PIRA":
        s += ". There was no relapse (attack) around that time."
        meaning = (
            f"Doctors call a lasting rise without a relapse {PIRA_WORDS}: a slow change that is "
            "not caused by an attack. It tells what has happened, not how things will go from "
            "here. It is a good reason to talk about your treatment. " + meaning_base
        )
    elif kind == "RAW":
        rel = [
            r["onset"]
            for r in tl.get("relapses") or []
            if r.get("onset") and r["onset"] <= (e.get("event_date") or "")
        ]
        s += (
            f", shortly after a relapse that began on {long_date(max(rel))}."
            if rel
            else ", shortly after a relapse."
        )
        meaning = (
            "A rise after a relapse (an attack) is part of that relapse; some of it may still "
            "get better over the following months. " + meaning_base
        )
    else:
        s += "; it is not clear whether it is linked to a relapse."
        meaning = meaning_base
    if len(events) > 1:
        s += f" A lasting rise has been seen {_plural(len(events), 'time')} in all."
    return _finding("worsening", title, "found", s, meaning)


def _rated(tl: dict[str, Any], flag: str) -> list[dict[str, Any]]:
    return sorted((m for m in tl.get("mri") or [] if m.get(flag)), key=lambda m: m["date"])


def _prl(tl: dict[str, Any]) -> dict[str, str]:
    title = "Rim lesions on MRI"
    meaning = (
        "A rim lesion is an older lesion with a thin dark edge on a special MRI image. The rim "
        "shows that slow inflammation goes on at its edge. Many people with MS have one or a few; "
        "they do not mean that you are having a relapse, and you may not notice them. Your "
        "neurologist may follow how many there are over time."
    )
    scans = _rated(tl, "prl_rated")
    if not scans:
        return _finding(
            "prl",
            title,
            "not measured",
            "Your scans have not been checked for rim lesions.",
            meaning,
        )
    s = scans[-1]
    n = int(s.get("n_prl") or 0)
    if n == 0:
        text = f"No rim lesions were found on your scan of {long_date(s['date'])}."
    else:
        text = f"Your MRI scan of {long_date(s['date'])} shows {_plural(n, 'lesion')} with a rim."
    if len(scans) > 1:
        d = n - int(scans[-2].get("n_prl") or 0)
        before = long_date(scans[-2]["date"])
        text += (
            f" That is the same number as on the scan of {before}."
            if d == 0
            else f" That is {_plural(abs(d), 'more' if d > 0 else 'fewer', 'more' if d > 0 else 'fewer')}"
            f" than on the scan of {before}."
        )
        text = text.replace(" 1 more ", " one more ").replace(" 1 fewer ", " one fewer ")
    return _finding("prl", title, "found" if n else "not found", text, meaning)


def _sel(tl: dict[str, Any]) -> dict[str, str]:
    title = "Slowly growing lesions on MRI"
    meaning = (
        "Some older lesions grow a little, slowly, over the years. This is another sign of slow, "
        "ongoing activity that is seen by comparing scans; you may not notice anything."
    )
    scans = _rated(tl, "sel_rated")
    if not scans:
        return _finding(
            "sel",
            title,
            "not measured",
            "Your scans have not been compared for slowly growing lesions.",
            meaning,
        )
    s = scans[-1]
    n = int(s.get("n_sel_definite") or 0)
    if n == 0:
        text = (
            f"No lesion was growing slowly when your scans were compared on {long_date(s['date'])}."
        )
    else:
        text = (
            f"{_plural(n, 'lesion').replace('1 lesion', 'One lesion')} "
            f"{'was' if n == 1 else 'were'} growing slowly when your scans were compared on "
            f"{long_date(s['date'])}."
        )
    return _finding("sel", title, "found" if n else "not found", text, meaning)


def _digital(tl: dict[str, Any], today: dt.date) -> dict[str, str]:
    title = "Your phone and watch"
    meaning = (
        "Phone and watch measures also change with the weather, holidays, other illnesses and "
        "how you carry your phone. A drop that lasts is worth talking about with your team; it "
        "does not by itself mean that your MS has got worse."
    )
    if not tl.get("device"):
        return _finding(
            "digital",
            title,
            "not measured",
            "No phone or watch measures have been shared.",
            meaning,
        )
    declines = digital_declines(tl, today)
    if not declines:
        return _finding(
            "digital",
            title,
            "not found",
            "Your phone and watch measures have not dropped in a lasting way.",
            meaning,
        )
    sentences = []
    for x in declines:
        what = measure_words(x["measure"])
        pct = x.get("change_pct")
        drop = f"dropped by {abs(pct):.0f} %" if isinstance(pct, int | float) else "dropped"
        s = f"{what[0].upper()}{what[1:]} {drop} from {month_year(x['onset_date'])}"
        now = x.get("now_pct")
        if (
            isinstance(now, int | float)
            and isinstance(pct, int | float)
            and abs(now) < abs(pct) / 2
        ):
            s += " and has since come back towards your usual level."
        elif x.get("months"):
            s += f" and stayed lower for {_plural(int(x['months']), 'month')}."
        else:
            s += "."
        sentences.append(s)
    return _finding("digital", title, "found", " ".join(sentences), meaning)


def plain_findings(tl: dict[str, Any], today: dt.date | None = None) -> list[dict[str, str]]:
    """The four signals for the person themself: ``title``, ``status`` (found / not found / not
    measured), ``sentence`` (what was found) and ``meaning`` (what it does and does not mean)."""
    today = today or dt.date.today()
    return [_worsening(tl), _prl(tl), _sel(tl), _digital(tl, today)]


def plain_overview(tl: dict[str, Any], today: dt.date | None = None) -> list[str]:
    """Sentences about the record itself: the last visit and scan with their age, the current
    treatment, the disease course; overdue visits and scans said plainly."""
    today = today or dt.date.today()
    o = overview(tl, today)
    out = []
    lv, sc = o["last_visit"], o["last_scan"]
    if lv:
        s = f"Your last clinic visit on record was on {long_date(lv['date'])} ({lv['ago']})."
        if lv["days"] > OVERDUE_DAYS:
            s += " That is more than a year ago: it may be time to book a check-up."
        out.append(s)
    else:
        out.append("There is no clinic visit on your record yet.")
    if sc:
        s = f"Your last MRI scan on record was on {long_date(sc['date'])} ({sc['ago']})."
        if sc["days"] > OVERDUE_DAYS:
            s += " That is more than a year ago: ask whether a new scan is due."
        out.append(s)
    t = current_treatment(tl, today)
    if t:
        out.append(f"You have been taking {t['drug']} since {long_date(t['since'])}.")
    course = o.get("disease_course")
    if course in PLAIN_COURSE:
        out.append(f"Your type of MS is recorded as {PLAIN_COURSE[course]}.")
    return out


def plain_changes(tl: dict[str, Any], today: dt.date | None = None) -> list[str]:
    """What changed between the last two visits, in plain sentences."""
    today = today or dt.date.today()
    visits = tl.get("assessments") or []
    if len(visits) < 2:
        return ["Changes can be described after your next visit."]
    last, prev = visits[-1], visits[-2]
    out = [
        f"Between your visits on {long_date(prev['date'])} and "
        f"{long_date(last['date'])} ({ago(dt.date.fromisoformat(last['date']), today)}):"
    ]

    def pair(key: str) -> tuple[float, float] | None:
        a, b = prev.get(key), last.get(key)
        return (a, b) if a is not None and b is not None else None

    p = pair("edss")
    if p:
        a, b = p
        if b > a:
            out.append(
                f"your disability score went up from {_n(a)} to {_n(b)}. A rise counts only "
                "when the next visit confirms it."
            )
        elif b < a:
            out.append(f"your disability score went down from {_n(a)} to {_n(b)}.")
        else:
            out.append(f"your disability score stayed at {_n(b)}.")
    for key, what in (
        ("t25fw", "your 25-foot walking test"),
        ("nhpt", "the peg test for your hands"),
    ):
        p = pair(key)
        if not p:
            continue
        a, b = p
        pct = 100.0 * (b - a) / a
        if abs(pct) < 5:
            out.append(f"{what} took about the same time ({_n(b)} seconds).")
        else:
            word = "slower" if pct > 0 else "faster"
            out.append(
                f"{what} got {word} by {abs(pct):.0f} %: {_n(b)} seconds, after {_n(a)} seconds."
            )
    p = pair("sdmt")
    if p:
        a, b = p
        if a == b:
            out.append(f"your thinking-speed test (matching symbols to numbers) stayed at {_n(b)}.")
        else:
            out.append(
                f"your thinking-speed test (matching symbols to numbers) went "
                f"{'down' if b < a else 'up'} from {_n(a)} to {_n(b)} correct answers."
            )
    rel = [r for r in tl.get("relapses") or [] if r.get("onset") and r["onset"] > prev["date"]]
    if rel:
        out.append(
            "a relapse began on " + ", ".join(long_date(r["onset"]) for r in rel) + "."
            if len(rel) == 1
            else f"{len(rel)} relapses began: "
            + ", ".join(long_date(r["onset"]) for r in rel)
            + "."
        )
    else:
        out.append("no relapse was recorded.")
    for t in tl.get("treatments") or []:
        drug = t.get("drug") or "a treatment"
        if t.get("start") and t["start"] > prev["date"]:
            out.append(f"you started {drug} on {long_date(t['start'])}.")
        if t.get("stop") and t["stop"] > prev["date"]:
            out.append(f"you stopped {drug} on {long_date(t['stop'])}.")
    return [out[0]] + [s[0].upper() + s[1:] for s in out[1:]]


def plain_questions(tl: dict[str, Any], today: dt.date | None = None) -> list[str]:
    """Questions to bring to the next visit, chosen from what the record shows."""
    today = today or dt.date.today()
    q = []
    events = [e for e in tl.get("events") or [] if e.get("event_type") == "CDW"]
    if any(e.get("type") == "PIRA" for e in events):
        q.append(
            "My disability score went up without a relapse. What does that mean for me, and "
            "should we talk about my treatment?"
        )
    if any(e.get("type") == "RAW" for e in events):
        q.append("My score went up after a relapse. Is it likely to get better?")
    if any(m.get("n_prl") for m in tl.get("mri") or []):
        q.append(
            "My MRI shows rim lesions. What do they mean for me, and will we keep an eye on them?"
        )
    if any(m.get("n_sel_definite") for m in tl.get("mri") or []):
        q.append("Some lesions are growing slowly. What could that mean for the coming years?")
    if tl.get("device_events"):
        q.append(
            "My phone or watch results dropped between visits. Does that match what you see in "
            "the clinic?"
        )
    o = overview(tl, today)
    if o["last_visit"] and o["last_visit"]["overdue"]:
        q.append("My last visit was more than a year ago. When should my next check-up be?")
    if o["last_scan"] and o["last_scan"]["overdue"]:
        q.append("My last MRI was more than a year ago. Is a new scan due?")
    life = tl.get("lifestyle") or []
    if life:
        x = life[-1]
        if x.get("smoking") == "current":
            q.append("What support is there to stop smoking?")
        if x.get("exercise_min_week") is not None and x["exercise_min_week"] < 150:
            q.append("What kind of exercise is safe and helpful for me?")
        if x.get("sleep_hours") is not None and x["sleep_hours"] < 6:
            q.append("I sleep badly. Could that be linked to my MS or my medicines?")
    q.append("Which of my results should we watch most closely until my next visit?")
    return q


def plain_lifestyle(tl: dict[str, Any]) -> list[str]:
    """The latest lifestyle entry in sentences, with its date written out."""
    entries = tl.get("lifestyle") or []
    if not entries:
        return ["No entries yet. The lifestyle log takes a minute and helps the conversation."]
    x = entries[-1]
    parts = []
    if x.get("exercise_min_week") is not None:
        parts.append(f"exercise about {x['exercise_min_week']} minutes a week")
    if x.get("diet"):
        parts.append(f"a {x['diet']} diet")
    if x.get("smoking"):
        parts.append(
            {"never": "never smoked", "former": "smoked in the past", "current": "smoking now"}[
                x["smoking"]
            ]
            if x["smoking"] in ("never", "former", "current")
            else f"smoking: {x['smoking']}"
        )
    if x.get("alcohol_units_week") is not None:
        parts.append(f"about {_n(x['alcohol_units_week'])} units of alcohol a week")
    if x.get("sleep_hours") is not None:
        parts.append(f"about {_n(x['sleep_hours'])} hours of sleep a night")
    out = [
        f"Your latest entry, on {long_date(x['date'])} ({_plural(len(entries), 'entry', 'entries')} in all): "
        + (", ".join(parts) if parts else "nothing filled in")
        + "."
    ]
    if x.get("medications"):
        out.append(f"Medicines: {x['medications']}.")
    if x.get("comorbidities"):
        out.append(f"Other health problems: {x['comorbidities']}.")
    return out


def months_text(a: str, b: str) -> str:
    """Whole months between two ISO dates, in words."""
    return _plural(months_between(dt.date.fromisoformat(a), dt.date.fromisoformat(b)), "month")


__all__ = [
    "plain_findings",
    "plain_overview",
    "plain_changes",
    "plain_questions",
    "plain_lifestyle",
    "long_date",
    "measure_words",
    "EXPLAINER",
    "EDSS_WORDS",
    "PIRA_WORDS",
]
