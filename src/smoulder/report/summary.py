"""Plain-language summaries of one person's time line (pure functions on :func:`~smoulder.store.repo.timeline` data).

* :func:`changes_since_last_visit`: what changed between the last two clinic visits, in sentences;
* :func:`signals`: each smouldering signal with its date and source;
* :func:`lifestyle_summary` and :func:`questions`: for the consultation report.

The wording shows evidence; it never makes a diagnosis.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from smoulder.report.verdict import ago, measure_name

# minimal meaningful changes (domain reference section 1): T25FW/9HPT 20 %, SDMT 4 points
TIMED_PCT = 20.0
SDMT_POINTS = 4.0
# a treatment whose name is not shown (pseudonymised view: not on the controlled list)
UNLISTED_DRUG = "a treatment not on the controlled list"


def _many(n: int, noun: str) -> str:
    """``1 relapse``, ``2 relapses``: a count with its noun, never "relapse(s)"."""
    return f"{n} {noun}{'' if n == 1 else 's'}"


def _fmt(x: float) -> str:
    return f"{x:g}" if float(x).is_integer() else f"{x:.1f}"


def _between(date: str | None, start: str | None, end: str | None) -> bool:
    return date is not None and (start is None or date > start) and (end is None or date <= end)


def _last_two(assessments: list[dict[str, Any]], key: str) -> tuple[dict | None, dict | None]:
    rows = [a for a in assessments if a.get(key) is not None]
    if not rows:
        return None, None
    return (rows[-2] if len(rows) > 1 else None), rows[-1]


def edss_minimal_change(baseline: float) -> float:
    """Consensus minimal EDSS worsening: +1.5 from 0, +1.0 from 0.5-5.5, +0.5 from 6.0."""
    if baseline == 0:
        return 1.5
    return 1.0 if baseline < 6.0 else 0.5


def _age(date: str, today: dt.date | None) -> str:
    return ago(dt.date.fromisoformat(date[:10]), today or dt.date.today())


def changes_since_last_visit(tl: dict[str, Any], today: dt.date | None = None) -> list[str]:
    """Sentences saying what changed since the previous clinic visit (dates of visits with their
    age as of ``today``: a visit years ago is never just "the last visit").

    Examples
    --------
    >>> tl = {
    ...     "assessments": [
    ...         {"date": "2024-01-10", "edss": 3.0, "t25fw": 5.0, "nhpt": None, "sdmt": 50},
    ...         {"date": "2024-07-10", "edss": 4.0, "t25fw": 6.5, "nhpt": None, "sdmt": 49},
    ...     ],
    ...     "relapses": [],
    ...     "treatments": [],
    ...     "mri": [],
    ...     "events": [],
    ...     "device_events": [],
    ...     "lifestyle": [],
    ... }
    >>> changes_since_last_visit(tl, dt.date(2024, 8, 1))[0]
    'Since the previous clinic visit on 2024-01-10 (last visit 2024-07-10, 3 weeks ago):'
    >>> changes_since_last_visit(tl)[1]
    'EDSS went up from 3 to 4 (+1); a rise this large from 3 counts as clinically meaningful if it is confirmed at a later visit.'
    """
    visits = tl.get("assessments", [])
    if not visits:
        return ["There are no clinic visits on record yet."]
    last = visits[-1]
    prev = visits[-2] if len(visits) > 1 else None
    out: list[str] = []
    if prev is None:
        out.append(
            f"The only clinic visit on record is on {last['date']} ({_age(last['date'], today)}); "
            "changes can be described after the next one."
        )
        start = None
    else:
        out.append(
            f"Since the previous clinic visit on {prev['date']} (last visit {last['date']}, "
            f"{_age(last['date'], today)}):"
        )
        start = prev["date"]
    end = last["date"]
    if prev is not None:
        p, c = _last_two(visits, "edss")
        if p is not None and c is not None and c["date"] == end:
            d = c["edss"] - p["edss"]
            if d > 0:
                note = (
                    (
                        "; a rise this large from "
                        + _fmt(p["edss"])
                        + " counts as clinically meaningful if it is "
                        "confirmed at a later visit"
                    )
                    if d >= edss_minimal_change(p["edss"])
                    else ", a smaller change than counts as meaningful"
                )
                out.append(
                    f"EDSS went up from {_fmt(p['edss'])} to {_fmt(c['edss'])} (+{_fmt(d)}){note}."
                )
            elif d < 0:
                out.append(
                    f"EDSS went down from {_fmt(p['edss'])} to {_fmt(c['edss'])} ({_fmt(d)})."
                )
            else:
                out.append(f"EDSS stayed at {_fmt(c['edss'])}.")
        for key, what in (("t25fw", "The timed 25-foot walk"), ("nhpt", "The 9-hole peg test")):
            p, c = _last_two(visits, key)
            if p is None or c is None or c["date"] != end:
                continue
            pct = 100.0 * (c[key] - p[key]) / p[key]
            if abs(pct) < 0.5:
                out.append(f"{what} took about the same time ({_fmt(c[key])} s).")
                continue
            word = "slower" if pct > 0 else "faster"
            flag = (
                " (at least 20 %: a meaningful change if confirmed)"
                if abs(pct) >= TIMED_PCT
                else ""
            )
            out.append(
                f"{what} took {_fmt(c[key])} s, {abs(pct):.0f} % {word} than before ({_fmt(p[key])} s){flag}."
            )
        p, c = _last_two(visits, "sdmt")
        if p is not None and c is not None and c["date"] == end:
            d = c["sdmt"] - p["sdmt"]
            if d == 0:
                out.append(f"The SDMT (processing speed) score stayed at {_fmt(c['sdmt'])}.")
            else:
                flag = (
                    " (4 points or more: a meaningful change if confirmed)"
                    if abs(d) >= SDMT_POINTS
                    else ""
                )
                out.append(
                    f"The SDMT (processing speed) score went {'down' if d < 0 else 'up'} from "
                    f"{_fmt(p['sdmt'])} to {_fmt(c['sdmt'])}{flag}."
                )
    for ev in tl.get("events", []):
        when = ev.get("confirmation_date") or ev["event_date"]
        if not _between(when, start, None):
            continue
        out.append(_event_sentence(ev))
    rel = [r for r in tl.get("relapses", []) if _between(r["onset"], start, None)]
    if rel:
        out.append(
            f"{_many(len(rel), 'relapse')} began: " + ", ".join(r["onset"] for r in rel) + "."
        )
    elif prev is not None:
        out.append("No relapse was recorded.")
    for t in tl.get("treatments", []):
        drug = t.get("drug") or UNLISTED_DRUG
        if _between(t["start"], start, None):
            out.append(f"Treatment with {drug} started on {t['start']}.")
        if _between(t.get("stop"), start, None):
            out.append(f"Treatment with {drug} stopped on {t['stop']}.")
    for m in tl.get("mri", []):
        if not _between(m["date"], start, None):
            continue
        parts = []
        if m.get("active") is True:
            parts.append("new or enlarging lesions (activity)")
        elif m.get("active") is False:
            parts.append("no new activity")
        if m.get("prl_rated"):
            parts.append(_many(m["n_prl"], "paramagnetic rim lesion"))
        if m.get("sel_rated"):
            parts.append(_many(m["n_sel_definite"], "slowly expanding lesion"))
        out.append(
            f"MRI on {m['date']}: " + (", ".join(parts) if parts else "no results recorded") + "."
        )
    told = set()
    for d in tl.get("device_events", []):
        when = d.get("detected_date") or d["onset_date"]
        # an imported decline that smoulder also found is one decline, said once
        if _between(when, start, None) and (d["measure"], d["onset_date"]) not in told:
            told.add((d["measure"], d["onset_date"]))
            out.append(_device_sentence(d))
    n_life = sum(1 for x in tl.get("lifestyle", []) if _between(x["date"], start, None))
    if n_life:
        out.append(f"{n_life} lifestyle log entr{'y' if n_life == 1 else 'ies'} added.")
    return out


def _event_sentence(ev: dict[str, Any]) -> str:
    kind = ev["type"]
    what = {
        "PIRA": "without a relapse nearby (PIRA, progression independent of relapse activity)",
        "RAW": "shortly after a relapse (RAW, relapse-associated worsening)",
        "undefined": "that could not be attributed to a relapse or to its absence",
    }.get(kind)
    if ev.get("event_type") == "CDI" or kind == "CDI":
        return (
            f"An improvement of {ev['outcome'].upper()} from {_fmt(ev['baseline_value'])} to "
            f"{_fmt(ev['event_value'])} on {ev['event_date']} was confirmed on {ev['confirmation_date']}."
        )
    return (
        f"A worsening of {ev['outcome'].upper()} from {_fmt(ev['baseline_value'])} to {_fmt(ev['event_value'])} "
        f"on {ev['event_date']}, confirmed on {ev['confirmation_date']}, happened {what}."
    )


def _device_sentence(d: dict[str, Any]) -> str:
    change = f" ({d['change_pct']:+.0f} %)" if d.get("change_pct") is not None else ""
    name = measure_name(d["measure"])
    return (
        f"{name[0].upper()}{name[1:]} (phone or watch) declined in a sustained way from "
        f"{d['onset_date']}{change}."
    )


def signals(tl: dict[str, Any]) -> list[dict[str, str]]:
    """Each smouldering signal with its date and where it comes from."""
    out = []
    for ev in tl.get("events", []):
        if ev["event_type"] == "CDW":
            out.append(
                {
                    "date": ev["event_date"],
                    "signal": f"{ev['type']} ({ev['outcome'].upper()} "
                    f"{_fmt(ev['baseline_value'])} to {_fmt(ev['event_value'])})",
                    "source": f"clinic visits; confirmed {ev['confirmation_date']}",
                }
            )
    for m in tl.get("mri", []):
        if m.get("prl_rated") and m["n_prl"]:
            out.append(
                {
                    "date": m["date"],
                    "signal": _many(m["n_prl"], "paramagnetic rim lesion"),
                    "source": "susceptibility MRI (PRL analysis)",
                }
            )
        if m.get("sel_rated") and m["n_sel_definite"]:
            out.append(
                {
                    "date": m["date"],
                    "signal": _many(m["n_sel_definite"], "slowly expanding lesion"),
                    "source": "serial MRI (SEL analysis)",
                }
            )
    for d in tl.get("device_events", []):
        ch = f" {d['change_pct']:+.0f} %" if d.get("change_pct") is not None else ""
        out.append(
            {
                "date": d["onset_date"],
                "signal": f"sustained decline in {measure_name(d['measure'])}{ch}",
                "source": "phone/wearable"
                + (" (found by smoulder)" if d.get("source") != "import" else " (imported)"),
            }
        )
    return sorted(out, key=lambda s: s["date"])


def lifestyle_summary(tl: dict[str, Any]) -> list[str]:
    """The latest lifestyle entry in sentences."""
    entries = tl.get("lifestyle", [])
    if not entries:
        return [
            "No lifestyle entries yet. The lifestyle log takes a minute and helps the conversation."
        ]
    x = entries[-1]
    out = [f"Latest entry ({x['date']}, {len(entries)} in total):"]
    if x.get("exercise_min_week") is not None:
        out.append(f"exercise about {x['exercise_min_week']} minutes a week")
    if x.get("diet"):
        out.append(f"diet: {x['diet']}")
    if x.get("smoking"):
        out.append(f"smoking: {x['smoking']}")
    if x.get("alcohol_units_week") is not None:
        out.append(f"alcohol about {_fmt(x['alcohol_units_week'])} units a week")
    if x.get("sleep_hours") is not None:
        out.append(f"sleep about {_fmt(x['sleep_hours'])} hours a night")
    if x.get("medications"):
        out.append(f"medications: {x['medications']}")
    if x.get("comorbidities"):
        out.append(f"other health problems: {x['comorbidities']}")
    return out


def questions(tl: dict[str, Any]) -> list[str]:
    """Questions to discuss with the neurologist, chosen from what the record shows."""
    q = []
    ev = tl.get("events", [])
    if any(e["type"] == "PIRA" for e in ev):
        q.append(
            "My record shows worsening without relapses (PIRA). What does this mean for me, and should my "
            "treatment change?"
        )
    if any(m.get("n_prl") for m in tl.get("mri", [])):
        q.append(
            "My MRI shows paramagnetic rim lesions. How many is a lot, and should we follow them?"
        )
    if any(m.get("n_sel_definite") for m in tl.get("mri", [])):
        q.append("Some lesions are slowly expanding. What does that mean for the coming years?")
    if tl.get("device_events"):
        q.append(
            "My phone/watch measures declined between visits. Does that match what you see in the clinic?"
        )
    life = tl.get("lifestyle", [])
    if life:
        x = life[-1]
        if x.get("smoking") == "current":
            q.append("What support is there to stop smoking?")
        if x.get("exercise_min_week") is not None and x["exercise_min_week"] < 150:
            q.append("What kind of exercise is safe and helpful for me?")
        if x.get("sleep_hours") is not None and x["sleep_hours"] < 6:
            q.append("I sleep badly. Could that be linked to my MS or my medications?")
    q.append("Which of my results should we watch most closely until the next visit?")
    return q


__all__ = [
    "changes_since_last_visit",
    "signals",
    "lifestyle_summary",
    "questions",
    "edss_minimal_change",
]
