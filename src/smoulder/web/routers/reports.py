"""Reports for one person, as HTML or PDF: the clinician's one-page summary and the patient version,
both from the same data snapshot (pseudonymised for researchers, who get the clinician summary only)."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, HTTPException, Path, Query, Request
from fastapi.responses import HTMLResponse, Response
from starlette.concurrency import run_in_threadpool

from smoulder.report import build_report, render_html, render_pdf
from smoulder.store.repo import label_of
from smoulder.web import views
from smoulder.web.deps import DB, ApiUser, PageUser, Refused, record
from smoulder.web.schemas import errors
from smoulder.web.security import CurrentUser
from smoulder.web.views import person_payload, visible_or_404

router = APIRouter(tags=["reports"])
Key = Annotated[str, Path(max_length=32, description="the person's pseudonym")]
AudienceQ = Annotated[
    Literal["clinician", "patient"] | None,
    Query(
        description="clinician: the one-page summary; patient: the plain-language version (the "
        "person themself and their clinicians). Default: patient for the person, else clinician."
    ),
]


async def _report(
    key: str, fmt: str, audience: str | None, request: Request, db: DB, user: CurrentUser
) -> Response:
    if fmt not in ("html", "pdf"):
        raise HTTPException(status_code=422, detail="format must be html or pdf")
    person = visible_or_404(db, user, key)
    u = user.as_user()
    who = audience or ("patient" if u.role == "patient" else "clinician")
    if who == "patient" and u.role == "researcher":
        raise Refused(403, "the patient version is for the person and their clinicians", person.id)
    tl, _ = person_payload(request, db, person, user)
    label = label_of(person, u)
    version = person.data_version
    db.close()  # the data are read: give the connection back before waiting for the audit
    await run_in_threadpool(
        record, request, user, "export", f"report {fmt}", person.id, f"{who} version"
    )
    report = build_report(tl, label, views.today(), audience=who, record_version=version)  # type: ignore[arg-type]
    safe = "".join(c for c in person.pseudonym if c.isalnum() or c == "-")
    if fmt == "html":
        return HTMLResponse(await run_in_threadpool(render_html, report))
    pdf = await run_in_threadpool(render_pdf, report)
    name = f"smoulder-{'summary' if who == 'clinician' else 'patient-summary'}-{safe}.pdf"
    return Response(
        pdf,
        media_type="application/pdf",
        headers={"content-disposition": f'attachment; filename="{name}"'},
    )


@router.get(
    "/api/patients/{key}/report",
    response_class=Response,
    responses={
        200: {
            "content": {
                "application/pdf": {"schema": {"type": "string", "format": "binary"}},
                "text/html": {"schema": {"type": "string"}},
            }
        },
        **errors(401, 403, 404, 422),
    },
)
async def report_api(
    key: Key,
    request: Request,
    db: DB,
    user: ApiUser,
    format: Annotated[Literal["pdf", "html"], Query()] = "pdf",
    audience: AudienceQ = None,
) -> Response:
    """The clinician summary (one page) or the patient version (``audience``), as ``format=pdf``
    or ``html``; both carry the same snapshot line (day and record version)."""
    return await _report(key, format, audience, request, db, user)


@router.get("/patients/{key}/report.html", include_in_schema=False)
async def report_html_page(
    key: Key, request: Request, db: DB, user: PageUser, audience: AudienceQ = None
) -> Response:
    return await _report(key, "html", audience, request, db, user)


@router.get("/patients/{key}/report.pdf", include_in_schema=False)
async def report_pdf_page(
    key: Key, request: Request, db: DB, user: PageUser, audience: AudienceQ = None
) -> Response:
    return await _report(key, "pdf", audience, request, db, user)
