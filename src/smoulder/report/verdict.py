"""The verdict panel and the record's overview: "is this person smouldering, and what changed?".

Pure functions on a person's time line (:func:`smoulder.store.repo.timeline`; for researchers the
allow-listed view, so nothing here can show more than that view holds):

* :func:`overview`: age, disease course and duration, current treatment, the last and previous
  visit and the last scan, each with its age, and the **flags** for data that are out of date (a
  clinic visit or MRI older than :data:`OVERDUE_DAYS`);
* :func:`verdict`: the four smouldering signals and their state now (confirmed worsening as
  PIRA / RAW / undefined / none with date and size; rim lesions on the latest rated scan and the
  change from the one before; slowly expanding lesions; sustained phone/wearable decline), each
  with what is new since the last visit and an anchor to its evidence on the person page.

A date is never shown as "the last visit" without its age ("2019-03-02, 5 years 2 months ago").

Examples
--------
>>> import datetime as dt
>>> ago(dt.date(2024, 1, 1), dt.date(2024, 3, 15))
'2 months ago'
>>> ago(dt.date(2019, 3, 2), dt.date(2024, 5, 20))
'5 years 2 months ago'
"""

from __future__ import annotations

import datetime as dt
import statistics
from typing import Any

from smoulder.schema.disease_course import COURSES

#: a clinic visit or MRI older than this is flagged as overdue (12 months)
OVERDUE_DAYS = 365
UNLISTED_DRUG = "a treatment not on the controlled list"
SIGNAL_KEYS = ("worsening", "prl", "sel", "digital")
EVIDENCE = {
    "worsening": "#evidence-worsening",
    "prl": "#evidence-mri",
    "sel": "#evidence-mri",
    "digital": "#evidence-digital",
}


def _d(text: str | None) -> dt.date | None:
    if not text:
        return None
    try:
        return dt.date.fromisoformat(str(text)[:10])
    except ValueError:
        return None


def _fmt(x: float | None) -> str:
    if x is None:
        return "?"
    return f"{x:g}" if float(x).is_integer() else f"{x:.1f}"


def months_between(a: dt.date, b: dt.date) -> int:
    """Whole calendar months from ``a`` to ``b`` (0 when ``b`` is in the same month)."""
    m = (b.year - a.year) * 12 + (b.month - a.month)
    return m - (1 if b.day < a.day else 0)


def ago(date: dt.date, today: dt.date) -> str:
    """How long ago ``date`` was, in words a reader can check ("3 weeks ago", "2 years 1 month ago")."""
    days = (today - date).days
    if days < 0:
        return "in the future"
    if days == 0:
        return "today"
    if days == 1:
        return "yesterday"
    if days < 14:
        return f"{days} days ago"
    months = months_between(date, today)
    if months < 2:
        return f"{days // 7} weeks ago"
    if months < 12:
        return f"{months} months ago"
    years, rest = divmod(months, 12)
    y = f"{years} year{'s' if years > 1 else ''}"
    return y + (f" {rest} month{'s' if rest > 1 else ''}" if rest else "") + " ago"


def _dated(date: dt.date | None, today: dt.date) -> dict[str, Any] | None:
    if date is None:
        return None
    days = (today - date).days
    return {
        "date": date.isoformat(),
        "days": days,
        "ago": ago(date, today),
        "overdue": days > OVERDUE_DAYS,
    }


def current_treatment(tl: dict[str, Any], today: dt.date) -> dict[str, Any] | None:
    """The treatment course running today (started, not stopped), the latest started if several."""
    running = [
        t
        for t in tl.get("treatments") or []
        if _d(t.get("start")) is not None
        and _d(t["start"]) <= today  # type: ignore[operator]
        and (_d(t.get("stop")) is None or _d(t.get("stop")) > today)  # type: ignore[operator]
    ]
    if not running:
        return None
    t = max(running, key=lambda x: x["start"])
    return {
        "drug": t.get("drug") or UNLISTED_DRUG,
        "drug_class": t.get("drug_class"),
        "since": t["start"],
    }


def _visit_dates(tl: dict[str, Any]) -> list[dt.date]:
    out = [_d(a.get("date")) for a in tl.get("assessments") or []]
    return sorted(d for d in out if d is not None)


def overview(tl: dict[str, Any], today: dt.date | None = None) -> dict[str, Any]:
    """Who this is and how current the record is (see the module docstring).

    Examples
    --------
    >>> tl = {
    ...     "person": {"birth_year": 1980, "disease_course": "RRMS", "onset_year": 2010},
    ...     "assessments": [{"date": "2019-03-02"}],
    ...     "mri": [],
    ... }
    >>> o = overview(tl, dt.date(2024, 5, 20))
    >>> o["age"], o["years_since_onset"], o["last_visit"]["ago"]
    (44, 14, '5 years 2 months ago')
    >>> [f["kind"] for f in o["flags"]]
    ['visit_overdue', 'no_scan']
    """
    today = today or dt.date.today()
    person = tl.get("person") or {}
    by, onset, course = (
        person.get("birth_year"),
        person.get("onset_year"),
        person.get("disease_course"),
    )
    visits = _visit_dates(tl)
    scans = sorted(d for d in (_d(m.get("date")) for m in tl.get("mri") or []) if d is not None)
    last = _dated(visits[-1], today) if visits else None
    prev = _dated(visits[-2], today) if len(visits) > 1 else None
    scan = _dated(scans[-1], today) if scans else None
    flags: list[dict[str, str]] = []
    if last is None:
        flags.append({"kind": "no_visit", "text": "No clinic visit on record."})
    elif last["overdue"]:
        flags.append(
            {
                "kind": "visit_overdue",
                "text": f"Last clinic visit {last['date']}, {last['ago']}: overdue (more than "
                "12 months); the scores below may be out of date.",
            }
        )
    if scan is None:
        flags.append({"kind": "no_scan", "text": "No MRI on record."})
    elif scan["overdue"]:
        flags.append(
            {
                "kind": "scan_overdue",
                "text": f"Last MRI {scan['date']}, {scan['ago']}: overdue (more than 12 "
                "months); the MRI signals may be out of date.",
            }
        )
    return {
        "as_of": today.isoformat(),
        "age": today.year - by if isinstance(by, int) else None,
        "sex": person.get("sex"),
        "disease_course": course,
        "disease_course_name": COURSES.get(course) if isinstance(course, str) else None,
        "onset_year": onset,
        "years_since_onset": today.year - onset if isinstance(onset, int) else None,
        "first_visit": visits[0].isoformat() if visits else None,
        "treatment": current_treatment(tl, today),
        "last_visit": last,
        "previous_visit": prev,
        "last_scan": scan,
        "flags": flags,
    }


# --------------------------------------------------------------------------- the four signals
def _signal(key: str, title: str, **kw: Any) -> dict[str, Any]:
    out = {
        "key": key,
        "title": title,
        "state": "unknown",
        "value": "",
        "detail": "",
        "since": "",
        "new": False,
        "date": None,
        "kind": key,
        "evidence": EVIDENCE[key],
    }
    out.update(kw)
    return out


def _worsening(tl: dict[str, Any], today: dt.date, last: dt.date | None) -> dict[str, Any]:
    title = "Confirmed worsening"
    events = [e for e in tl.get("events") or [] if e.get("event_type") == "CDW"]
    n_visits = len(_visit_dates(tl))
    if not events:
        if n_visits < 2:
            return _signal(
                "worsening",
                title,
                value="not assessed",
                detail="Needs at least two clinic visits (and a third to confirm a change).",
                since="",
            )
        first = _visit_dates(tl)[0]
        return _signal(
            "worsening",
            title,
            state="absent",
            value="none",
            kind="edss",
            detail=f"No confirmed worsening in {n_visits} visits since {first.isoformat()}.",
            since=f"Nothing new at the last visit ({last.isoformat()}, {ago(last, today)})."
            if last
            else "",
        )
    e = max(events, key=lambda x: (x.get("confirmation_date") or "", x.get("event_date") or ""))
    kind = e.get("type") or "undefined"
    label = {"undefined": "worsening (cause undefined)"}.get(kind, kind)
    b, v = e.get("baseline_value"), e.get("event_value")
    size = f" ({v - b:+g})" if isinstance(b, int | float) and isinstance(v, int | float) else ""
    outcome = str(e.get("outcome") or "edss").upper()
    conf = _d(e.get("confirmation_date"))
    when = _d(e.get("event_date"))
    detail = (
        f"{outcome} {_fmt(b)} → {_fmt(v)}{size} on {e.get('event_date')}"
        + (f" ({ago(when, today)})" if when else "")
        + (f", confirmed {conf.isoformat()}" if conf else "")
        + "."
    )
    counts: dict[str, int] = {}
    for x in events:
        counts[x.get("type") or "undefined"] = counts.get(x.get("type") or "undefined", 0) + 1
    if len(events) > 1:
        detail += " In follow-up: " + ", ".join(f"{n} {k}" for k, n in sorted(counts.items())) + "."
    confirmed_last = conf is not None and last is not None and conf >= last
    # new news only while the last visit is recent; an old visit is not "new" however it ended
    new = confirmed_last and last is not None and (today - last).days <= OVERDUE_DAYS
    if last is None:
        since = ""
    elif confirmed_last:
        since = f"{'New: c' if new else 'C'}onfirmed at the last visit ({last.isoformat()}, {ago(last, today)})."
    else:
        since = f"Nothing new at the last visit ({last.isoformat()}, {ago(last, today)})."
    return _signal(
        "worsening",
        title,
        state="present",
        value=f"{label}, {when.year}" if when else label,
        kind=kind,
        detail=detail,
        since=since,
        new=new,
        date=e.get("event_date"),
    )


def _rated_scans(tl: dict[str, Any], flag: str) -> list[dict[str, Any]]:
    return sorted(
        (m for m in tl.get("mri") or [] if m.get(flag) and _d(m.get("date"))),
        key=lambda m: m["date"],
    )


def _lesions(tl: dict[str, Any], today: dt.date, last: dt.date | None, key: str) -> dict[str, Any]:
    if key == "prl":
        title, flag, count, kind = "Rim lesions (PRL)", "prl_rated", "n_prl", "PRL"
        what = "paramagnetic rim lesion"
    else:
        title, flag, count, kind = (
            "Slowly expanding lesions (SEL)",
            "sel_rated",
            "n_sel_definite",
            "SEL",
        )
        what = "definite slowly expanding lesion"
    scans = _rated_scans(tl, flag)
    if not scans:
        return _signal(
            key,
            title,
            value="not rated",
            kind=kind,
            detail=f"No scan rated by the {kind} analysis.",
        )
    s = scans[-1]
    n = int(s.get(count) or 0)
    sd = _d(s["date"])
    assert sd is not None
    of = f" of {s['n_lesions']} lesions" if key == "prl" and s.get("n_lesions") else ""
    if key == "sel" and s.get("n_sel_possible"):
        of = f" ({s['n_sel_possible']} possible)"
    detail = f"{n} {what}{'s' if n != 1 else ''}{of} on the scan of {s['date']} ({ago(sd, today)})."
    change = ""
    d = n
    if len(scans) > 1:
        p = scans[-2]
        d = n - int(p.get(count) or 0)
        change = (
            f"{d:+d} since the scan of {p['date']}"
            if d
            else f"unchanged since the scan of {p['date']}"
        )
        detail += f" {change[0].upper()}{change[1:]}."
    new = last is not None and sd > last and (today - sd).days <= OVERDUE_DAYS
    if last is None:
        since = ""
    elif new:
        since = f"New scan since the last visit ({last.isoformat()}, {ago(last, today)})" + (
            f": {change}." if change else "."
        )
    else:
        since = f"No rated scan since the last visit ({last.isoformat()}, {ago(last, today)})."
    return _signal(
        key,
        title,
        state="present" if n else "absent",
        value=f"{n} {kind}" if n else "none",
        kind=kind,
        detail=detail,
        since=since,
        new=new and d > 0,
        date=s["date"],
    )


def _series_after(
    tl: dict[str, Any], measure: str, onset: dt.date
) -> tuple[list[float], str | None]:
    s = (tl.get("device") or {}).get(measure) or {}
    pairs = [
        (d, v)
        for d, v in zip(s.get("dates") or [], s.get("values") or [], strict=False)
        if d and v is not None and d >= onset.isoformat()
    ]
    return [v for _, v in pairs], (pairs[-1][0] if pairs else None)


def measure_name(measure: str) -> str:
    """A device measure's name for clinicians ("two-minute walk", "steps per day")."""
    names = {
        "two_minute_walk": "two-minute walk",
        "steps": "steps per day",
        "walking_speed": "walking speed",
        "sdmt_phone": "phone SDMT",
        "six_minute_walk_estimate": "six-minute walk estimate",
    }
    return names.get(measure, measure.replace("_", " "))


def digital_declines(tl: dict[str, Any], today: dt.date) -> list[dict[str, Any]]:
    """One sustained decline per device measure (the latest onset), with how it stands now:
    the median of the last four weekly values after the onset against the baseline."""
    by: dict[str, dict[str, Any]] = {}
    for e in tl.get("device_events") or []:
        m, onset = e.get("measure"), _d(e.get("onset_date"))
        if not m or onset is None:
            continue
        if m not in by or e["onset_date"] > by[m]["onset_date"]:
            by[m] = e
    out = []
    for m, e in sorted(by.items(), key=lambda kv: kv[1]["onset_date"]):
        onset = _d(e["onset_date"])
        assert onset is not None
        after, last_date = _series_after(tl, m, onset)
        base = e.get("baseline_value")
        now = statistics.median(after[-4:]) if after else None
        now_pct = (
            100.0 * (now - base) / base
            if isinstance(base, int | float) and base and now is not None
            else None
        )
        last_d = _d(last_date)
        out.append(
            {
                "measure": m,
                "name": measure_name(m),
                "onset_date": e["onset_date"],
                "detected_date": e.get("detected_date"),
                "baseline_value": base,
                "current_value": e.get("current_value"),
                "change_pct": e.get("change_pct"),
                "now_pct": now_pct,
                "last_data": last_date,
                "months": months_between(onset, last_d) if last_d else None,
                "source": e.get("source"),
            }
        )
    return out


def _digital(tl: dict[str, Any], today: dt.date, last: dt.date | None) -> dict[str, Any]:
    title = "Phone and wearable"
    device = tl.get("device") or {}
    declines = digital_declines(tl, today)
    if not declines:
        if not device:
            return _signal(
                "digital",
                title,
                value="no data",
                kind="digital_decline",
                detail="No phone or wearable measures on record.",
            )
        weeks = max(len(s.get("dates") or []) for s in device.values())
        ends = [s["dates"][-1] for s in device.values() if s.get("dates") and s["dates"][-1]]
        end = _d(max(ends)) if ends else None
        return _signal(
            "digital",
            title,
            state="absent",
            value="none",
            kind="digital_decline",
            detail=f"No sustained decline in {weeks} weeks of data"
            + (f" up to {end.isoformat()} ({ago(end, today)})." if end else "."),
            since="Nothing new since the last visit." if last else "",
        )
    parts = []
    for x in declines:
        ch = f" {x['change_pct']:+.0f} %" if isinstance(x.get("change_pct"), int | float) else ""
        s = f"{x['name']}{ch} from {x['onset_date']}"
        if x["now_pct"] is not None:
            s += f" (now {x['now_pct']:+.0f} %)"
        parts.append(s)
    ends = [_d(x["last_data"]) for x in declines if x.get("last_data")]
    end = max((e for e in ends if e is not None), default=None)
    latest = max(declines, key=lambda x: x["onset_date"])
    onset = _d(latest["onset_date"])
    new = last is not None and onset is not None and onset > last
    if last is None:
        since = ""
    elif new:
        since = f"New since the last visit ({last.isoformat()}, {ago(last, today)})."
    else:
        since = (
            f"Began before the last visit ({last.isoformat()}, {ago(last, today)}); "
            "still shown while the data stay low."
        )
    value = (
        f"{latest['name']} {latest['change_pct']:+.0f} %"
        if len(declines) == 1 and isinstance(latest.get("change_pct"), int | float)
        else f"{len(declines)} measure{'s' if len(declines) > 1 else ''}"
    )
    return _signal(
        "digital",
        title,
        state="present",
        value=value,
        kind="digital_decline",
        detail="Sustained decline: "
        + "; ".join(parts)
        + (f". Data up to {end.isoformat()} ({ago(end, today)})." if end else "."),
        since=since,
        new=new,
        date=latest["onset_date"],
    )


def verdict(tl: dict[str, Any], today: dt.date | None = None) -> list[dict[str, Any]]:
    """The four smouldering signals, in a fixed order (worsening, PRL, SEL, digital).

    Each is a dict with ``key``, ``title``, ``state`` (present / absent / unknown), ``value`` (the
    short answer), ``detail`` (date and size), ``since`` (what is new since the last visit),
    ``new``, ``date``, ``kind`` (its colour in :mod:`smoulder.schema.palette`) and ``evidence``
    (an anchor on the person page).
    """
    today = today or dt.date.today()
    visits = _visit_dates(tl)
    last = visits[-1] if visits else None
    return [
        _worsening(tl, today, last),
        _lesions(tl, today, last, "prl"),
        _lesions(tl, today, last, "sel"),
        _digital(tl, today, last),
    ]


__all__ = [
    "overview",
    "verdict",
    "ago",
    "months_between",
    "current_treatment",
    "digital_declines",
    "measure_name",
    "OVERDUE_DAYS",
    "SIGNAL_KEYS",
]
