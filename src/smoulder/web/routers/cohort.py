"""The cohort view: who shows which smouldering signals, sortable and filterable (page and API)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse

from smoulder.store.models import Person
from smoulder.store.repo import COHORT_FILTERS, COHORT_SORTS, audit, cohort
from smoulder.web.deps import DB, ApiUser, PageUser, optional_user, render

router = APIRouter(tags=["cohort"])


def _signal(signal: str | None) -> str | None:
    return signal if signal in COHORT_FILTERS else None


@router.get("/api/cohort")
def cohort_api(db: DB, user: ApiUser, sort: str = "n_pira", desc: bool = True, signal: str | None = None,
               q: str | None = None, limit: int = 50, offset: int = 0) -> dict:
    """Signals per person (PIRA and RAW events, PRLs and definite SELs on the latest scan, digital
    worsening (measures), last EDSS). ``sort`` one of the column names, ``signal`` one of
    pira | prl | sel | digital | any, ``q`` searches the pseudonym (and names for clinicians)."""
    out = cohort(db, user.as_user(), sort=sort, descending=desc, signal=_signal(signal), query=q,
                 limit=limit, offset=offset)
    audit(db, user.as_user(), "list", "api cohort", None, f"{len(out['rows'])} rows")
    db.commit()
    return out


@router.get("/", include_in_schema=False)
def home(request: Request, db: DB):
    user = optional_user(request)
    if user is None:
        return RedirectResponse("/login", status_code=303)
    if user.role == "patient" and user.person_id is not None:
        p = db.get(Person, user.person_id)
        if p is not None:
            return RedirectResponse(f"/patients/{p.pseudonym}", status_code=303)
    return RedirectResponse("/cohort", status_code=303)


@router.get("/cohort", include_in_schema=False)
def cohort_page(request: Request, db: DB, user: PageUser, sort: str = "n_pira", desc: bool = True,
                signal: str | None = None, q: str | None = None, page: int = 1):
    size = 50
    page = max(1, page)
    out = cohort(db, user.as_user(), sort=sort, descending=desc, signal=_signal(signal), query=q, limit=size,
                 offset=(page - 1) * size)
    audit(db, user.as_user(), "list", "cohort page", None, f"{len(out['rows'])} rows")
    db.commit()
    pages = max(1, -(-out["total"] // size))
    return render(request, "cohort.html", user, data=out, sorts=COHORT_SORTS, filters=COHORT_FILTERS,
                  q=q or "", page=page, pages=pages, pseudo=user.role == "researcher")
