"""The cohort view: who shows which smouldering signals, sortable and filterable (page and API)."""

from __future__ import annotations

from typing import Annotated, Literal, get_args

from fastapi import APIRouter, Query, Request
from fastapi.responses import RedirectResponse, Response

from smoulder.store.models import Person
from smoulder.store.repo import COHORT_FILTERS, COHORT_SORTS, audit, cohort
from smoulder.web.deps import DB, ApiUser, PageUser, optional_user, render
from smoulder.web.schemas import CohortPage, errors

router = APIRouter(tags=["cohort"])
MAX_OFFSET = 10**9
Sort = Literal[
    "pseudonym",
    "name",
    "n_pira",
    "n_raw",
    "n_prl",
    "n_sel",
    "n_digital",
    "last_edss",
    "last_visit",
    "n_relapses",
]
Signal = Literal["pira", "prl", "sel", "digital", "any", ""]
assert set(get_args(Sort)) == set(COHORT_SORTS) and set(get_args(Signal)) == {*COHORT_FILTERS, ""}
SortQ = Annotated[Sort, Query(description="column to sort on")]
SignalQ = Annotated[Signal | None, Query(description="keep people with this signal")]
SearchQ = Annotated[
    str | None, Query(max_length=64, description="pseudonym (names for clinicians)")
]


def _signal(signal: str | None) -> str | None:
    return signal if signal in COHORT_FILTERS else None


@router.get("/api/cohort", response_model=CohortPage, responses=errors(401, 422))
def cohort_api(
    db: DB,
    user: ApiUser,
    sort: SortQ = "n_pira",
    desc: bool = True,
    signal: SignalQ = None,
    q: SearchQ = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    offset: Annotated[int, Query(ge=0, le=MAX_OFFSET)] = 0,
) -> dict:
    """Signals per person (PIRA and RAW events, PRLs and definite SELs on the latest scan, digital
    worsening (measures), last EDSS). ``sort`` one of the column names, ``signal`` one of
    pira | prl | sel | digital | any, ``q`` searches the pseudonym (and names for clinicians)."""
    out = cohort(
        db,
        user.as_user(),
        sort=sort,
        descending=desc,
        signal=_signal(signal),
        query=q,
        limit=limit,
        offset=offset,
    )
    audit(db, user.as_user(), "list", "api cohort", None, f"{len(out['rows'])} rows")
    db.commit()
    return out


@router.get(
    "/api/cohort.csv",
    response_class=Response,
    responses={
        200: {"content": {"text/csv": {"schema": {"type": "string"}}}},
        **errors(401, 422),
    },
)
def cohort_csv(
    db: DB,
    user: ApiUser,
    sort: SortQ = "n_pira",
    desc: bool = True,
    signal: SignalQ = None,
    q: SearchQ = None,
) -> Response:
    """The whole (filtered) cohort table as CSV: pseudonym, signals, last EDSS and visit; names and clinic
    ids only for clinicians."""
    import csv
    import io

    u = user.as_user()
    rows: list[dict] = []
    offset = 0
    while True:
        page = cohort(
            db,
            u,
            sort=sort,
            descending=desc,
            signal=_signal(signal),
            query=q,
            limit=500,
            offset=offset,
        )
        rows += page["rows"]
        offset += 500
        if offset >= page["total"]:
            break
    cols = (
        ["key"]
        + ([] if u.role == "researcher" else ["name", "subject"])
        + [
            "n_pira",
            "n_raw",
            "n_prl",
            "n_sel",
            "n_digital",
            "n_relapses",
            "last_edss",
            "last_visit",
        ]
    )
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=cols, extrasaction="ignore", lineterminator="\n")
    w.writeheader()
    for r in rows:
        w.writerow({k: ("" if r.get(k) is None else _cell(r[k])) for k in cols})
    audit(db, u, "export", "cohort csv", None, f"{len(rows)} rows")
    db.commit()
    return Response(
        buf.getvalue(),
        media_type="text/csv",
        headers={"content-disposition": 'attachment; filename="smoulder-cohort.csv"'},
    )


def _cell(value: object) -> object:
    """Spreadsheet-safe cell: text starting with = + - @ is prefixed with ' (no formula injection)."""
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + value
    return value


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
def cohort_page(
    request: Request,
    db: DB,
    user: PageUser,
    sort: SortQ = "n_pira",
    desc: bool = True,
    signal: SignalQ = None,
    q: SearchQ = None,
    page: Annotated[int, Query(ge=1, le=MAX_OFFSET // 50)] = 1,
):
    size = 50
    out = cohort(
        db,
        user.as_user(),
        sort=sort,
        descending=desc,
        signal=_signal(signal),
        query=q,
        limit=size,
        offset=(page - 1) * size,
    )
    audit(db, user.as_user(), "list", "cohort page", None, f"{len(out['rows'])} rows")
    db.commit()
    pages = max(1, -(-out["total"] // size))
    return render(
        request,
        "cohort.html",
        user,
        data=out,
        sorts=COHORT_SORTS,
        filters=COHORT_FILTERS,
        q=q or "",
        page=page,
        pages=pages,
        pseudo=user.role == "researcher",
    )
