"""Per-person view data shared by pages, API and reports (cached per data version)."""

from __future__ import annotations

import json
from typing import Any

from fastapi import Request
from markupsafe import Markup
from sqlalchemy.orm import Session

from smoulder.report.summary import changes_since_last_visit, signals
from smoulder.store.models import Person
from smoulder.store.repo import find_visible, person_id_of, pseudonymised, timeline
from smoulder.web.security import CurrentUser


def visible_or_404(db: Session, user: CurrentUser, key: str) -> Person:
    """The person if this user may see them; 404 otherwise (whether or not they exist)."""
    from smoulder.web.deps import Refused

    person = find_visible(db, user.as_user(), key)
    if person is None:
        raise Refused(404, "no such person in your records", person_id_of(db, key))
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
    request: Request, db: Session, person: Person, user: CurrentUser
) -> tuple[dict[str, Any], str]:
    """Time line + plain-language summary + signal list, and its JSON text."""
    u = user.as_user()
    key = (person.id, person.pseudonym, person.data_version, pseudonymised(u))
    cache = request.app.state.payload_cache
    hit = cache.get(key)
    if hit is not None:
        return hit
    tl = timeline(db, person, u)
    tl["summary"] = changes_since_last_visit(tl)
    tl["signals"] = signals(tl)
    value = (tl, json.dumps(tl, separators=(",", ":")))
    cache.put(key, value)
    return value


def person_body(
    request: Request, db: Session, person: Person, user: CurrentUser
) -> tuple[dict[str, Any], Markup]:
    """The time line and the rendered per-person part of the person page (cached per data version:
    it holds nothing user-specific beyond the pseudonymisation)."""
    from smoulder.web.deps import TEMPLATES

    tl, text = person_payload(request, db, person, user)
    key = ("body", person.id, person.pseudonym, person.data_version, pseudonymised(user.as_user()))
    cache = request.app.state.payload_cache
    hit = cache.get(key)
    if hit is None:
        hit = Markup(
            TEMPLATES.env.get_template("person_body.html").render(
                tl=tl, payload_script=script_json(text)
            )
        )
        cache.put(key, hit)
    return tl, hit
