"""What the pages say in words: the access list of a record, the lifestyle form's errors.

Examples
--------
>>> form_error("sleep_hours")
'Sleep must be between 0 and 24 hours a night.'
>>> e = {
...     "at": "2024-03-03T14:05:00",
...     "action": "view",
...     "resource": "person page",
...     "user": "dr.demo",
...     "role": "clinician",
...     "display_name": "Dr Demo",
... }
>>> access_words(e, own=True)["text"]
'Dr Demo (clinician) opened your record'
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

from markupsafe import Markup, escape

from smoulder.report.plain import MONTHS

FORM_ERRORS = {
    "date": "Date must be a real day between 1 January 1900 and today, for example 2024-05-01.",
    "exercise_min_week": "Exercise must be a whole number of minutes a week, from 0 to 10,080.",
    "diet": "Diet must be one of: healthy, mixed, unhealthy (or left empty).",
    "smoking": "Smoking must be one of: never, former, current (or left empty).",
    "alcohol_units_week": "Alcohol must be between 0 and 300 units a week.",
    "sleep_hours": "Sleep must be between 0 and 24 hours a night.",
    "medications": "Medications must be ordinary text of at most 2,000 characters.",
    "comorbidities": "Other health problems must be ordinary text of at most 2,000 characters.",
    "notes": "Notes must be ordinary text of at most 2,000 characters.",
}
FIELD_NAMES = {
    "date": "Date",
    "exercise_min_week": "Exercise",
    "diet": "Diet",
    "smoking": "Smoking",
    "alcohol_units_week": "Alcohol",
    "sleep_hours": "Sleep",
    "medications": "Medications",
    "comorbidities": "Other health problems",
    "notes": "Notes",
}


def form_error(column: str, message: str = "") -> str:
    """The lifestyle form's error for one field, as a sentence a person can act on."""
    if column in FORM_ERRORS:
        if column == "date" and "future" in message:
            return "Date cannot be in the future."
        return FORM_ERRORS[column]
    return f"Please check this entry: {message}" if message else "Please check this entry."


_ACTIONS_OWN = {
    ("view", "person page"): "opened your record",
    ("view", "api person"): "read your record through the app's interface",
    ("view", "api audit"): "looked at this list",
    ("view", "api lifestyle"): "read your lifestyle log",
    ("create", "lifestyle entry"): "added a lifestyle log entry",
    ("export", "report pdf"): "downloaded a summary of your record (PDF)",
    ("export", "report html"): "opened a summary of your record",
}


def _action(action: str, resource: str, own: bool) -> str:
    text = _ACTIONS_OWN.get((action, resource))
    if text is None:
        if action == "change" and resource.startswith("import "):
            kind = resource.split(" ", 1)[1].replace("_", " ")
            text = f"added {kind} to your record" if own else f"imported {kind}"
        elif action == "denied":
            text = "was refused access to your record" if own else "was refused access"
        elif action == "export":
            text = "downloaded a report"
        else:
            text = "looked at your record"
    if not own:
        text = (
            text.replace("your record", "the record")
            .replace("your lifestyle", "the lifestyle")
            .replace("this list", "this list")
        )
    return text


def when_utc(at: str) -> str:
    """``2024-03-03T14:05:00`` (UTC) as ``3 March 2024, 14:05 UTC`` (the page's script shows it
    in the reader's local time)."""
    t = dt.datetime.fromisoformat(at)
    return f"{t.day} {MONTHS[t.month - 1]} {t.year}, {t:%H:%M} UTC"


def access_words(entry: dict[str, Any], own: bool, me: str | None = None) -> dict[str, str]:
    """One audit entry as a line of the access list: who, what, when (UTC, converted to the
    reader's local time by the page's script)."""
    role = entry.get("role")
    if entry.get("user") is None:
        who = "the clinic's data import (command line)"
    elif me is not None and entry.get("user") == me:
        who = "You"
    elif role == "researcher":
        who = "A researcher (without your name)"
    else:
        name = entry.get("display_name") or entry.get("user")
        who = f"{name} ({role})" if role else str(name)
    return {
        "at": entry["at"],
        "when": when_utc(entry["at"]),
        "text": f"{who} {_action(entry['action'], entry['resource'], own)}",
    }


def access_list(
    entries: list[dict[str, Any]],
    own: bool,
    me: str | None = None,
    lines: int = 8,
    more: bool = False,
) -> list[dict[str, str]]:
    """The access list: :func:`access_words` of the newest entries (newest first), with a run of
    the same person doing the same thing told once ("You opened the record 5 times"), at the
    time of the newest of them, so that reloads do not fill the list with one line. ``more``:
    older entries exist beyond ``entries``, so a run reaching the last of them is told as "at
    least N times".

    Examples
    --------
    >>> e = {
    ...     "action": "view",
    ...     "resource": "person page",
    ...     "user": "dr.a",
    ...     "role": "clinician",
    ...     "display_name": "Dr A",
    ... }
    >>> rows = [
    ...     {**e, "at": "2024-03-03T14:05:00"},
    ...     {**e, "at": "2024-03-03T14:01:00"},
    ...     {**e, "user": "dr.b", "display_name": "Dr B", "at": "2024-03-02T09:00:00"},
    ... ]
    >>> [x["text"] for x in access_list(rows, own=True)]
    ['Dr A (clinician) opened your record 2 times', 'Dr B (clinician) opened your record']
    >>> access_list(rows, own=True)[0]["when"]
    '3 March 2024, 14:05 UTC'
    >>> [x["text"] for x in access_list(rows[:2], own=False, me="dr.a", more=True)]
    ['You opened the record at least 2 times']
    """
    out: list[dict[str, str]] = []
    last: tuple | None = None
    count = 0
    for e in entries:
        who = (e.get("user"), e["action"], e["resource"])
        if who == last:
            count += 1
            out[-1]["text"] = f"{out[-1]['base']} {count} times"
            continue
        if len(out) == lines:
            break
        last, count = who, 1
        line = access_words(e, own, me)
        out.append({**line, "base": line["text"]})
    if more and count > 1 and len(out) < lines:  # the last run may go on past what was read
        out[-1]["text"] = f"{out[-1]['base']} at least {count} times"
    for line in out:
        del line["base"]
    return out


def trail_items(trail: list[dict[str, str]], own: bool) -> str:
    """The access list's ``<li>`` entries as HTML (every value escaped). Made for every view, so
    plain Python: a Jinja render of these few lines costs more than the rest of them.

    Examples
    --------
    >>> print(trail_items([{"at": "2024-03-03T14:05:00", "when": "3 March", "text": "<b>"}], True))
    <li><time datetime="2024-03-03T14:05:00Z" data-local>3 March</time>: &lt;b&gt;</li>
    >>> print(trail_items([], own=True))
    <li>Nobody had opened your record before now.</li>
    """
    if not trail:
        whose = "your" if own else "this"
        return f"<li>Nobody had opened {whose} record before now.</li>"
    return "\n".join(
        f'<li><time datetime="{escape(a["at"])}Z" data-local>{escape(a["when"])}</time>: '
        f"{escape(a['text'])}</li>"
        for a in trail
    )


def trail_count(trail: list[dict[str, str]]) -> str:
    """How many lines the access list has, in words, for its folded title on a phone (a run of
    repeats is one line: "You opened your record 5 times").

    Examples
    --------
    >>> [trail_count([{}] * n) for n in (0, 1, 3)]
    ['nobody before now', '1 recent entry', '3 recent entries']
    """
    n = len(trail)
    if not n:
        return "nobody before now"
    return f"{n} recent {'entry' if n == 1 else 'entries'}"


__all__ = [
    "form_error",
    "trail_count",
    "access_words",
    "access_list",
    "trail_items",
    "when_utc",
    "FORM_ERRORS",
    "FIELD_NAMES",
]


# a number and its unit ("3 months", "-23 %"), and the parts of a duration ("2 years 3 months"):
# no line break inside, wherever a page shows them (the data stay plain)
_UNIT = re.compile(
    r"(?<=\d) (?=(?:%|s\b|days?\b|weeks?\b|months?\b|years?\b|points?\b|seconds?\b"
    r"|minutes?\b|hours?\b|units?\b))"
)
_DURATION = re.compile(r"\b(years?|months?) (?=\d+\u00a0(?:months?|weeks?|days?)\b)")
NBSP = "\u00a0"


def keep_together(text: Any) -> Any:
    """``text`` with no-break spaces inside number + unit and inside a duration.

    Markup stays Markup (only spaces change, so escaped text stays escaped).

    Examples
    --------
    >>> keep_together("last visit 2 years 3 months ago") == (
    ...     "last visit 2\u00a0years\u00a03\u00a0months ago"
    ... )
    True
    >>> keep_together("walk -23 % slower") == "walk -23\u00a0% slower"
    True
    """
    if text is None:
        return ""
    out = _DURATION.sub(r"\1" + NBSP, _UNIT.sub(NBSP, str(text)).replace(" %", NBSP + "%"))
    return Markup(out) if isinstance(text, Markup) else out


def age_of(date: str | None, today: dt.date) -> str:
    """How long ago an ISO date was ("14 months ago"; empty for no date), no-break spaced.

    >>> age_of("2024-01-15", dt.date(2025, 3, 20)) == "1\u00a0year\u00a02\u00a0months ago"
    True
    """
    from smoulder.report.verdict import ago

    if not date:
        return ""
    return keep_together(ago(dt.date.fromisoformat(date[:10]), today))
