"""Consultation reports for one person, as HTML or PDF (pseudonymised for researchers)."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, HTTPException, Path, Query, Request
from fastapi.responses import HTMLResponse, Response
from starlette.concurrency import run_in_threadpool

from smoulder.report import build_report, render_html, render_pdf
from smoulder.store.repo import audit, label_of
from smoulder.web.deps import DB, ApiUser, PageUser
from smoulder.web.schemas import errors
from smoulder.web.security import CurrentUser
from smoulder.web.views import person_payload, visible_or_404

router = APIRouter(tags=["reports"])
Key = Annotated[str, Path(max_length=32, description="the person's pseudonym")]


async def _report(key: str, fmt: str, request: Request, db: DB, user: CurrentUser) -> Response:
    if fmt not in ("html", "pdf"):
        raise HTTPException(status_code=422, detail="format must be html or pdf")
    person = visible_or_404(db, user, key)
    u = user.as_user()
    tl, _ = person_payload(request, db, person, user)
    label = label_of(person, u)
    audit(db, u, "export", f"report {fmt}", person)
    db.commit()
    report = build_report(tl, label)
    safe = "".join(c for c in person.pseudonym if c.isalnum() or c == "-")
    if fmt == "html":
        return HTMLResponse(await run_in_threadpool(render_html, report))
    pdf = await run_in_threadpool(render_pdf, report)
    return Response(
        pdf,
        media_type="application/pdf",
        headers={"content-disposition": f'attachment; filename="smoulder-report-{safe}.pdf"'},
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
        **errors(401, 404, 422),
    },
)
async def report_api(
    key: Key,
    request: Request,
    db: DB,
    user: ApiUser,
    format: Annotated[Literal["pdf", "html"], Query()] = "pdf",
) -> Response:
    """The consultation report (``format=pdf`` or ``html``)."""
    return await _report(key, format, request, db, user)


@router.get("/patients/{key}/report.html", include_in_schema=False)
async def report_html_page(key: Key, request: Request, db: DB, user: PageUser) -> Response:
    return await _report(key, "html", request, db, user)


@router.get("/patients/{key}/report.pdf", include_in_schema=False)
async def report_pdf_page(key: Key, request: Request, db: DB, user: PageUser) -> Response:
    return await _report(key, "pdf", request, db, user)
