"""Per-person view data shared by pages, API and reports (cached per data version and day).

The derived sections (``summary``, ``signals``, ``overview``, ``verdict``) are computed from the
time line *as the caller may see it*: for a researcher that is the allow-listed view
(:mod:`smoulder.store.pseudonymise`), so they cannot show anything that view does not hold.
Ages ("3 months ago") and overdue flags depend on the day, which is part of every cache key.
"""

from __future__ import annotations

import datetime as dt
import functools
import json
from typing import Any

from fastapi import Request
from markupsafe import Markup
from sqlalchemy.orm import Session

from smoulder.report.plain import (
    EXPLAINER,
    plain_changes,
    plain_findings,
    plain_overview,
    plain_questions,
)
from smoulder.report.summary import changes_since_last_visit, signals
from smoulder.report.verdict import digital_declines, measure_name, overview, verdict
from smoulder.schema.palette import as_dict, mark
from smoulder.store.models import Person
from smoulder.store.repo import (
    PersonLike,
    find_visible,
    find_visible_row,
    person_id_of,
    pseudonymised,
    timeline,
)
from smoulder.web.compress import Piece
from smoulder.web.security import CurrentUser


def today() -> dt.date:
    """The day pages are computed for (one place, so tests and caches agree)."""
    return dt.date.today()


def visible_or_404(db: Session, user: CurrentUser, key: str) -> Person:
    """The person if this user may see them; 404 otherwise (whether or not they exist)."""
    from smoulder.web.deps import Refused

    person = find_visible(db, user.as_user(), key)
    if person is None:
        raise Refused(404, "no such person in your records", person_id_of(db, key))
    return person


def viewable_or_404(conn: Any, user: CurrentUser, key: str) -> PersonLike:
    """:func:`visible_or_404` for read-only views (a detached ``Person``; the same rule, the
    same 404): ``conn`` is a plain connection, cheaper than an ORM session."""
    from smoulder.web.deps import Refused

    person = find_visible_row(conn, user.as_user(), key)
    if person is None:
        raise Refused(404, "no such person in your records", person_id_of(conn, key))
    return person


def script_json(text: str) -> Markup:
    """JSON text safe inside a <script type="application/json"> element (as Jinja's tojson escapes it)."""
    return Markup(
        text.replace("&", "\\u0026")
        .replace("<", "\\u003c")
        .replace(">", "\\u003e")
        .replace("'", "\\u0027")
    )


def person_payload(
    request: Request, db: Session, person: PersonLike, user: CurrentUser
) -> tuple[dict[str, Any], str]:
    """Time line + plain-language summary + signal list + overview + verdict, and its JSON text."""
    u = user.as_user()
    day = today()
    key = (person.id, person.pseudonym, person.data_version, pseudonymised(u), day)
    cache = request.app.state.payload_cache
    hit = cache.get(key)
    if hit is not None:
        return hit
    tl = timeline(db, person, u)
    tl["summary"] = changes_since_last_visit(tl, day)
    tl["signals"] = signals(tl)
    tl["overview"] = overview(tl, day)
    tl["verdict"] = verdict(tl, day)
    value = (tl, json.dumps(tl, separators=(",", ":")))
    cache.put(key, value)
    return value


# --------------------------------------------------------------------------- the plots' data
PLAIN_LABELS = {
    "edss": "disability score",
    "sdmt": "thinking-speed test",
    "t25fw": "25-foot walk",
    "nhpt": "peg test (hands)",
    "PIRA": "lasting rise, no relapse nearby",
    "RAW": "lasting rise after a relapse",
    "undefined": "lasting rise",
    "CDI": "lasting improvement",
    "relapse": "relapse (attack)",
    "treatment": "treatment",
    "last_visit": "your last visit",
    "digital_decline": "start of a lasting drop",
    "device_baseline": "your usual level before the drop",
    "meaningful_band": "normal ups and downs (within 20 %)",
}
PLAIN_MEANINGS = {
    "edss": "the score your neurologist gives after examining you (0 to 10)",
    "t25fw": "time to walk 25 feet, as % of your first visit (higher is slower)",
    "nhpt": "time for the 9-hole peg test with your hands, as % of your first visit",
    "PIRA": "the score rose and stayed up, with no relapse around that time",
    "RAW": "the score rose after a relapse and stayed up for a while",
    "undefined": "the score rose and stayed up",
    "CDI": "the score went down and stayed down",
    "relapse": "the day a relapse began",
    "treatment": "from the day you started a treatment to the day you stopped",
    "last_visit": "the date of your most recent clinic visit",
    "digital_decline": "the day a lasting drop began, on your own curve",
    "device_baseline": "dashed line: your usual level before the drop",
    "meaningful_band": "grey band: changes this small are normal",
}


def plot_data(tl: dict[str, Any], plain: bool = False) -> dict[str, Any]:
    """What the time-line script draws: only the fields it needs, and the palette."""
    day = dt.date.fromisoformat(tl.get("overview", {}).get("as_of") or today().isoformat())
    device = tl.get("device") or {}
    declines = []
    for x in digital_declines(tl, day):
        s = device.get(x["measure"]) or {}
        pairs = [
            (d, v) for d, v in zip(s.get("dates") or [], s.get("values") or [], strict=False) if d
        ]
        first = next(((d, v) for d, v in pairs if d >= x["onset_date"]), None)
        # an onset after the last plotted value is marked on the last value (and says so), so
        # that it is never silently left off the chart
        late = first is None and bool(pairs)
        mark_date, at = first if first is not None else (pairs[-1] if pairs else (None, None))
        declines.append(
            {
                "measure": x["measure"],
                "onset_date": x["onset_date"],
                "mark_date": mark_date if late else x["onset_date"],
                "after_last_point": late,
                "detected_date": x["detected_date"],
                "baseline_value": x["baseline_value"],
                "onset_value": at,
                "change_pct": x["change_pct"],
            }
        )
    mri = [
        {
            "date": m.get("date"),
            "active": m.get("active"),
            "t2_lesions": m.get("t2_lesions"),
            "new_enlarging": m.get("new_enlarging"),
            "gd_enhancing": m.get("gd_enhancing"),
            "n_prl": m.get("n_prl") if m.get("prl_rated") else None,
            "n_lesions": m.get("n_lesions") if m.get("prl_rated") else None,
            "n_sel": m.get("n_sel_definite") if m.get("sel_rated") else None,
        }
        for m in tl.get("mri") or []
    ]
    names = {m: measure_name(m) for m in device}
    units = {m: (device[m].get("unit") or "") for m in device}
    palette = {
        k: {"colour": v["colour"], "symbol": v["plotly"]} for k, v in as_dict(tuple(device)).items()
    }
    return {
        "mode": "plain" if plain else "clinic",
        "today": day.isoformat(),
        "last_visit": (tl.get("overview") or {}).get("last_visit"),
        "assessments": tl.get("assessments") or [],
        "events": [
            {
                k: e.get(k)
                for k in (
                    "type",
                    "event_type",
                    "outcome",
                    "baseline_value",
                    "event_value",
                    "event_date",
                    "confirmation_date",
                )
            }
            for e in tl.get("events") or []
        ],
        "relapses": tl.get("relapses") or [],
        "treatments": [
            {"drug": t.get("drug"), "start": t.get("start"), "stop": t.get("stop")}
            for t in tl.get("treatments") or []
        ],
        "mri": [] if plain else mri,
        "device": {
            m: {"dates": s.get("dates") or [], "values": s.get("values") or []}
            for m, s in device.items()
        },
        "measure_names": names,
        "units": units,
        "declines": declines,
        "palette": palette,
        "labels": PLAIN_LABELS if plain else {},
    }


def legend(plot: dict[str, Any]) -> dict[str, list[dict[str, str]]]:
    """A legend entry for every kind of mark the plots show (clinic chart, device chart)."""
    plain = plot["mode"] == "plain"
    a = plot["assessments"]

    def has(key: str) -> bool:
        return any(x.get(key) is not None for x in a)

    kinds: list[str] = []
    if plot["relapses"]:
        kinds.append("relapse")
    if plot["treatments"]:
        kinds.append("treatment")
    if has("edss"):
        kinds.append("edss")
    for k in ("PIRA", "RAW", "undefined", "CDI"):
        if any((e.get("type") or "undefined") == k for e in plot["events"]):
            kinds.append(k)
    if has("sdmt") and not plain:
        kinds.append("sdmt")
    for k in ("t25fw", "nhpt"):
        if has(k):
            kinds.append(k)
    if has("t25fw") or has("nhpt"):
        kinds.append("meaningful_band")
    mri = plot["mri"]
    if any(m.get("t2_lesions") is not None for m in mri):
        kinds.append("t2_lesions")
    if any(m.get("new_enlarging") is not None for m in mri):
        kinds.append("new_enlarging")
    if any(m.get("gd_enhancing") is not None for m in mri):
        kinds.append("gd_enhancing")
    if any(
        m.get("active") is True and m.get("new_enlarging") is None and m.get("gd_enhancing") is None
        for m in mri
    ):
        kinds.append("mri_active")
    if any(
        m.get("active") is False
        and m.get("new_enlarging") is None
        and m.get("gd_enhancing") is None
        for m in mri
    ):
        kinds.append("mri_quiet")
    if any(m.get("n_prl") is not None for m in mri):
        kinds.append("PRL")
    if any(m.get("n_sel") is not None for m in mri):
        kinds.append("SEL")
    if plot["last_visit"]:
        kinds.append("last_visit")
    device = list(plot["device"])
    dev_kinds = [*device]
    if plot["declines"]:
        dev_kinds += ["digital_decline", "device_baseline"]
    if plot["last_visit"] and device:
        dev_kinds.append("last_visit")

    def item(k: str) -> dict[str, str]:
        m = mark(k)
        if k in plot["device"]:
            label = plot["measure_names"][k] + (
                f" ({plot['units'][k]})"
                if plot["units"].get(k) not in (None, "", "count") and not plain
                else ""
            )
            meaning = "weekly median of the daily values"
        elif plain:
            label, meaning = PLAIN_LABELS.get(k, m.label), PLAIN_MEANINGS.get(k, m.meaning)
        else:
            label, meaning = m.label, m.meaning
        return {
            "kind": k,
            "label": label,
            "meaning": meaning,
            "colour": m.colour,
            "shape": m.plotly,
        }

    return {"clinic": [item(k) for k in kinds], "device": [item(k) for k in dev_kinds]}


def person_json(request: Request, db: Session, person: PersonLike, user: CurrentUser) -> Piece:
    """:func:`person_payload`'s JSON text as UTF-8 bytes, kept beside it in the cache with its
    compressed form (made on the first gzip answer)."""
    u = user.as_user()
    key = ("json", person.id, person.pseudonym, person.data_version, pseudonymised(u), today())
    cache = request.app.state.payload_cache
    hit = cache.get(key)
    if hit is None:
        _, text = person_payload(request, db, person, user)
        hit = Piece(text.encode())
        cache.put(key, hit)
    return hit


def person_body(
    request: Request, db: Session, person: PersonLike, user: CurrentUser
) -> tuple[dict[str, Any], Markup, Piece]:
    """The time line and the rendered per-person part of the person page (cached per data
    version, day and kind of page: it holds nothing user-specific beyond the pseudonymisation
    and whether it is the person's own page), as markup and as bytes with their compressed
    form."""
    from smoulder.web.deps import TEMPLATES

    tl, _ = person_payload(request, db, person, user)
    u = user.as_user()
    own = u.role == "patient"
    day = today()
    key = ("body", person.id, person.pseudonym, person.data_version, pseudonymised(u), own, day)
    cache = request.app.state.payload_cache
    hit = cache.get(key)
    if hit is None:
        plot = plot_data(tl, plain=own)
        ctx: dict[str, Any] = {
            "tl": tl,
            "key": person.pseudonym,
            "legend": legend(plot),
            "payload_script": script_json(json.dumps(plot, separators=(",", ":"))),
            "late_declines": [
                {**x, "name": plot["measure_names"].get(x["measure"], x["measure"])}
                for x in plot["declines"]
                if x["after_last_point"]
            ],
        }
        if own:
            ctx.update(
                findings=plain_findings(tl, day),
                about=plain_overview(tl, day),
                changes=plain_changes(tl, day),
                questions=plain_questions(tl, day),
                explainer=EXPLAINER,
            )
        name = "person_own_body.html" if own else "person_body.html"
        markup = Markup(TEMPLATES.env.get_template(name).render(**ctx))
        hit = (markup, Piece(markup.encode()))
        cache.put(key, hit)
    return tl, hit[0], hit[1]


def sparkline(trend: list[dict[str, Any]], width: int = 96, height: int = 22) -> Markup:
    """A small inline SVG of a person's EDSS at each visit (0-10 on the same scale for everyone;
    the last visit a dot), for the cohort table. No script, no external file."""
    pts = tuple(
        (p["date"], p["edss"]) for p in trend if p.get("date") and p.get("edss") is not None
    )
    return _sparkline(pts, width, height)


@functools.lru_cache(maxsize=4096)
def _sparkline(pts: tuple[tuple[str, float], ...], width: int, height: int) -> Markup:
    if not pts:
        return Markup("")
    days = [dt.date.fromisoformat(d).toordinal() for d, _ in pts]
    span = max(1, days[-1] - days[0])
    xy = [
        (2 + (x - days[0]) / span * (width - 6), height - 2 - e / 10 * (height - 4))
        for x, (_, e) in zip(days, pts, strict=True)
    ]
    line = " ".join(f"{x:.1f},{y:.1f}" for x, y in xy)
    c = mark("edss").colour
    lx, ly = xy[-1]
    label = f"EDSS from {_fmt_edss(pts[0][1])} ({pts[0][0][:4]}) to {_fmt_edss(pts[-1][1])} ({pts[-1][0][:4]})"
    return Markup(
        f'<svg class="spark" width="{width}" height="{height}" viewBox="0 0 {width} {height}" '
        f'role="img" aria-label="{label}"><title>{label}</title>'
        f'<line x1="0" y1="{height - 2}" x2="{width}" y2="{height - 2}" stroke="#ddd"/>'
        f'<polyline points="{line}" fill="none" stroke="{c}" stroke-width="1.5"/>'
        f'<circle cx="{lx:.1f}" cy="{ly:.1f}" r="2.5" fill="{c}"/></svg>'
    )


def _fmt_edss(x: float) -> str:
    return f"{x:g}"
