"""People: the list, one person's time line (page and API), the audit trail of their record."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import HTMLResponse, Response
from markupsafe import Markup
from sqlalchemy import func, select

from smoulder.store.repo import (
    audit_for_person,
    label_of,
    person_public,
    visible_people,
)
from smoulder.web.compress import accepts_gzip, encoded
from smoulder.web.deps import DB, TEMPLATES, ApiUser, PageUser, Refused, record
from smoulder.web.schemas import WHOLE, AuditTrail, PatientList, TimelinePublic, errors
from smoulder.web.security import CurrentUser
from smoulder.web.views import person_body, person_json, viewable_or_404, visible_or_404
from smoulder.web.words import access_list, trail_count, trail_items

router = APIRouter(tags=["patients"])
Key = Annotated[str, Path(max_length=32, description="the person's pseudonym, e.g. P-7K3QX9AD")]


@router.get("/api/patients", response_model=PatientList, responses=errors(401, 422))
def list_patients(
    request: Request,
    db: DB,
    user: ApiUser,
    limit: Annotated[int, WHOLE, Query(ge=1, le=1000)] = 100,
    offset: Annotated[int, WHOLE, Query(ge=0, le=10**9)] = 0,
) -> dict:
    """The people the caller may see (pseudonymised for researchers), by pseudonym."""
    u = user.as_user()
    q = visible_people(u)
    total = db.scalar(select(func.count()).select_from(q.subquery()))
    rows = db.scalars(q.order_by("pseudonym").limit(limit).offset(offset)).all()
    record(request, user, "list", "api patients", None, f"{len(rows)} people", db=db)
    return {"total": total, "patients": [person_public(p, u) for p in rows]}


@router.get("/api/patients/{key}", response_model=TimelinePublic, responses=errors(401, 404, 422))
def get_patient(key: Key, request: Request, user: ApiUser) -> Response:
    """One person's whole time line: visits, events, relapses, treatments, MRI, devices, lifestyle,
    analyses (settings and version), and a plain-language summary of what changed since the last visit."""
    store = request.app.state.store
    with store.engine.connect() as conn:
        person = viewable_or_404(conn, user, key)
    # an ORM session only connects when the cached view is out of date (no request dependency:
    # FastAPI's per-request set-up of one costs more than this whole cached answer)
    with store.session() as db:
        piece = person_json(request, db, person, user)
    record(request, user, "view", "api person", person)
    content, headers = encoded([piece], accepts_gzip(request.headers))
    return Response(content, media_type="application/json", headers=headers)


@router.get(
    "/api/patients/{key}/audit", response_model=AuditTrail, responses=errors(401, 403, 404, 422)
)
def patient_audit(key: Key, request: Request, db: DB, user: ApiUser) -> dict:
    """Who viewed or changed this record, and refused attempts at it (the person themself and
    their clinicians)."""
    person = visible_or_404(db, user, key)
    u = user.as_user()
    if u.role == "researcher":
        raise Refused(403, "researchers do not see audit trails", person.id)
    record(request, user, "view", "api audit", person, db=db)
    return {"key": person.pseudonym, "entries": audit_for_person(db, person)}


BODY_MARK = Markup("<!--smoulder:record-->")  # no rendered record or header contains it
TRAIL_ROWS = 8
SAVED = {"lifestyle": "Your lifestyle log entry is on the record."}


@router.get("/patients/{key}", include_in_schema=False)
def person_page(
    key: Key,
    request: Request,
    user: PageUser,
    saved: Annotated[Literal["lifestyle"] | None, Query()] = None,
):
    u = user.as_user()
    own = u.role == "patient"
    store = request.app.state.store
    # one plain connection for who may see whom and the access list (read before this view's
    # own entry); the ORM session connects only when the cached view is out of date
    with store.engine.connect() as conn:
        person = viewable_or_404(conn, user, key)
        # the newest entries only: each row read costs ~5 us, many times that while the audit
        # writer commits beside it (a run of repeats is told once, "at least N times" if it
        # may go on past them)
        seen = audit_for_person(conn, person, TRAIL_ROWS) if u.role != "researcher" else []
    with store.session() as db:
        _, _, body = person_body(request, db, person, user)
    trail = access_list(seen, own, u.username, more=len(seen) == TRAIL_ROWS)
    record(request, user, "view", "person page", person)
    title = "Your record" if own else label_of(person, u)
    head, mid, after_count, tail = _frame(request, user, title, person.pseudonym, own, saved)
    items = trail_items(trail, own).encode()
    count = trail_count(trail).encode() if own else b""
    # the record goes between parts made for this reader (user, CSRF token) and this request
    # (the access list and, on the person's own page, its count): compressed apart from them
    # (compress.py)
    content, headers = encoded(
        [head, body, mid, count, after_count, items, tail], accepts_gzip(request.headers)
    )
    return HTMLResponse(content, headers=headers)


TRAIL_MARK = Markup("<!--smoulder:trail-->")  # nor does it appear in any rendered page
COUNT_MARK = Markup("<!--smoulder:trail-count-->")  # the access list's count (own page only)


def _frame(
    request: Request, user: CurrentUser, title: str, key: str, own: bool, saved: str | None
) -> tuple[bytes, bytes, bytes, bytes]:
    """The page around the record and the access list, kept per reader: its key holds every
    value the template reads (the user's id, name, role and CSRF token, the title, the person's
    pseudonym, the kind of page and the saved notice), so it is never another reader's nor out
    of date. Four parts: the one before the record, then those before the access list's count,
    before its lines and after them (the third empty where the page has no count)."""
    cache = request.app.state.frame_cache
    ck: tuple = (
        "person-frame",
        user.id,
        user.csrf_token,
        user.display_name,
        user.role,
        title,
        key,
        own,
        saved or "",
    )
    hit = cache.get(ck)
    if hit is None:
        page = TEMPLATES.env.get_template("person.html").render(
            request=request,
            user=user,
            body=BODY_MARK,
            title=title,
            key=key,
            own=own,
            trail_items=TRAIL_MARK,
            trail_count=COUNT_MARK,
            saved=SAVED.get(saved or ""),
        )
        head, _, rest = page.partition(BODY_MARK)
        mid, _, tail = rest.partition(TRAIL_MARK)
        mid, _, after_count = mid.partition(COUNT_MARK)
        hit = (head.encode(), mid.encode(), after_count.encode(), tail.encode())
        cache.put(ck, hit)
    return hit
