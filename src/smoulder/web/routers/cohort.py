"""The cohort view: who shows which smouldering signals, sortable and filterable (page and API)."""

from __future__ import annotations

from typing import Annotated, Any, Literal, get_args

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from markupsafe import Markup

from smoulder.store.cohort import (
    COURSE_FILTERS,
    TREATMENT_FILTERS,
    revision,
    treatment_options,
)
from smoulder.store.models import Person
from smoulder.store.repo import COHORT_FILTERS, COHORT_SORTS, cohort
from smoulder.web import views
from smoulder.web.compress import Piece, accepts_gzip, encoded
from smoulder.web.deps import DB, TEMPLATES, ApiUser, PageUser, optional_user, record
from smoulder.web.schemas import WHOLE, CohortPage, errors

router = APIRouter(tags=["cohort"])
BODY_MARK = Markup("<!--smoulder:cohort-->")  # no rendered table or header contains it
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
TreatmentName = Literal.__getitem__((*TREATMENT_FILTERS, ""))  # type: ignore[attr-defined]
CourseName = Literal["RRMS", "SPMS", "PPMS", "CIS", "unknown", ""]
assert set(get_args(CourseName)) == {*COURSE_FILTERS, ""}
TreatmentQ = Annotated[
    TreatmentName | None,  # type: ignore[valid-type]
    Query(description="current treatment: a substance from the controlled list, none or other"),
]
CourseQ = Annotated[CourseName | None, Query(description="disease course (unknown: not recorded)")]
AgeQ = Annotated[
    int | None, WHOLE, Query(ge=0, le=130, description="age in years (from the birth year)")
]
AgeText = Annotated[str | None, Query(pattern=r"^(\d{1,3})?$", description="age in years or empty")]


def _filters(
    treatment: str | None, course: str | None, age_min: int | None, age_max: int | None
) -> dict[str, Any]:
    return {
        "treatment": treatment or None,
        "course": course or None,
        "age_min": age_min,
        "age_max": age_max,
    }


def _cache_key(
    store: Any,
    u: Any,
    route: str,
    day: object,
    sort: str,
    desc: bool,
    signal: str | None,
    q: str | None,
    filters: dict[str, Any],
    *where: int,
) -> tuple:
    """The key of a cached cohort answer: the route, who asks (id and role), the store's revision
    as this user sees it (read now, on every request: nothing stale after a write), the day, the
    query and ``where`` (page, or limit and offset)."""
    with store.engine.connect() as conn:
        rev = revision(conn, u)
    return (route, u.id, u.role, rev, day, sort, desc, signal, q, tuple(filters.items()), *where)


def _signal(signal: str | None) -> str | None:
    return signal if signal in COHORT_FILTERS else None


@router.get("/api/cohort", response_model=CohortPage, responses=errors(401, 422))
def cohort_api(
    request: Request,
    user: ApiUser,
    sort: SortQ = "n_pira",
    desc: bool = True,
    signal: SignalQ = None,
    q: SearchQ = None,
    treatment: TreatmentQ = None,
    course: CourseQ = None,
    age_min: AgeQ = None,
    age_max: AgeQ = None,
    limit: Annotated[int, WHOLE, Query(ge=1, le=500)] = 50,
    offset: Annotated[int, WHOLE, Query(ge=0, le=MAX_OFFSET)] = 0,
) -> Response:
    """Signals per person (PIRA and RAW events, PRLs and definite SELs on the latest scan, digital
    worsening (measures), last EDSS), with age, disease course, current treatment and the EDSS
    trend. ``sort`` one of the column names, ``signal`` one of pira | prl | sel | digital | any,
    ``treatment`` a substance (or none | other), ``course`` RRMS | SPMS | PPMS | CIS | unknown,
    ``age_min``/``age_max`` in years, ``q`` searches the pseudonym (and names for clinicians)."""
    u = user.as_user()
    store = request.app.state.store
    filters = _filters(treatment, course, age_min, age_max)
    day = views.today()
    # as the cohort page: the JSON text is made once per user, store revision, day and query,
    # and the revision is read on every request (nothing stale after a write)
    key = _cache_key(store, u, "cohort-json", day, sort, desc, signal, q, filters, limit, offset)
    cache = request.app.state.payload_cache
    hit = cache.get(key)
    if hit is None:
        with store.session() as db:
            out = cohort(
                db,
                u,
                sort=sort,
                descending=desc,
                signal=_signal(signal),
                query=q,
                limit=limit,
                offset=offset,
                **filters,
                today=day,
                cache=request.app.state.row_cache,
            )
        # the response model's JSON, as FastAPI would make it from the dict
        text = CohortPage.model_validate(out).model_dump_json(by_alias=True)
        hit = (Piece(text.encode()), len(out["rows"]))
        cache.put(key, hit)
    piece, n_rows = hit
    record(request, user, "list", "api cohort", None, f"{n_rows} rows")
    # a search text chooses the rows: such an answer is not compressed (as the page)
    content, headers = encoded([piece], accepts_gzip(request.headers) and not q)
    return Response(content, media_type="application/json", headers=headers)


@router.get(
    "/api/cohort.csv",
    response_class=Response,
    responses={
        200: {"content": {"text/csv": {"schema": {"type": "string"}}}},
        **errors(401, 422),
    },
)
def cohort_csv(
    request: Request,
    db: DB,
    user: ApiUser,
    sort: SortQ = "n_pira",
    desc: bool = True,
    signal: SignalQ = None,
    q: SearchQ = None,
    treatment: TreatmentQ = None,
    course: CourseQ = None,
    age_min: AgeQ = None,
    age_max: AgeQ = None,
) -> Response:
    """The whole (filtered) cohort table as CSV, with the page's columns: pseudonym, age, disease
    course, current treatment, EDSS change over two years and the EDSS of every visit, signals,
    last EDSS and visit (and whether a visit is overdue); names and clinic ids only for
    clinicians."""
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
            **_filters(treatment, course, age_min, age_max),
            today=views.today(),
            cache=request.app.state.row_cache,
        )
        rows += page["rows"]
        offset += 500
        if offset >= page["total"]:
            break
    cols = (
        ["key"]
        + ([] if u.role == "researcher" else ["name", "subject"])
        + [
            "age",
            "disease_course",
            "treatment",
            "edss_change_2y",
            "edss_trend",
            "n_pira",
            "n_raw",
            "n_prl",
            "n_sel",
            "n_digital",
            "n_relapses",
            "last_edss",
            "last_visit",
            "visit_overdue",
        ]
    )
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=cols, extrasaction="ignore", lineterminator="\n")
    w.writeheader()
    for r in rows:
        r = {
            **r,
            "edss_trend": " ".join(
                f"{p['edss']:g}" for p in r["edss_trend"] if p["edss"] is not None
            ),
            "visit_overdue": "yes" if r.get("visit_overdue") else "no",
        }
        w.writerow({k: ("" if r.get(k) is None else _cell(r[k])) for k in cols})
    record(request, user, "export", "cohort csv", None, f"{len(rows)} rows", db=db)
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
    user: PageUser,
    sort: SortQ = "n_pira",
    desc: bool = True,
    signal: SignalQ = None,
    q: SearchQ = None,
    treatment: TreatmentQ = None,
    course: CourseQ = None,
    age_min: AgeText = None,
    age_max: AgeText = None,
    page: Annotated[int, WHOLE, Query(ge=1, le=MAX_OFFSET // 50)] = 1,
):
    size = 50
    u = user.as_user()
    store = request.app.state.store
    # the form sends empty boxes as empty text
    filters = _filters(
        treatment, course, int(age_min) if age_min else None, int(age_max) if age_max else None
    )
    day = views.today()
    # the table is rendered once per user, store revision, day and query: the revision is read
    # on every request, so a page made before a write is never shown after it
    key = _cache_key(store, u, "cohort-page", day, sort, desc, signal, q, filters, page)
    cache = request.app.state.payload_cache
    hit = cache.get(key)
    if hit is None:
        with store.session() as db:
            out = cohort(
                db,
                u,
                sort=sort,
                descending=desc,
                signal=_signal(signal),
                query=q,
                limit=size,
                offset=(page - 1) * size,
                **filters,
                today=day,
                cache=request.app.state.row_cache,
            )
            options = treatment_options(db, u)
        pages = max(1, -(-out["total"] // size))
        markup = TEMPLATES.env.get_template("cohort_body.html").render(
            data=out,
            sorts=COHORT_SORTS,
            filters=COHORT_FILTERS,
            q=q or "",
            page=page,
            pages=pages,
            pseudo=user.role == "researcher",
            chosen=filters,
            treatments=options,
            courses=COURSE_FILTERS,
            query=_query_string(sort, desc, signal, q, filters),
        )
        hit = (Piece(markup.encode()), len(out["rows"]))
        cache.put(key, hit)
    body, n_rows = hit
    record(request, user, "list", "cohort page", None, f"{n_rows} rows")
    page_text = TEMPLATES.env.get_template("cohort.html").render(
        request=request, user=user, body=BODY_MARK
    )
    head, _, tail = page_text.partition(BODY_MARK)
    # a search text is echoed in the table: such a page is not compressed (compress.py)
    gzip = accepts_gzip(request.headers) and not q
    content, headers = encoded([head.encode(), body, tail.encode()], gzip)
    return HTMLResponse(content, headers=headers)


def _query_string(
    sort: str, desc: bool, signal: str | None, q: str | None, filters: dict[str, Any]
) -> str:
    """The page's filters as a query string (for sorting links, pages and the CSV download)."""
    from urllib.parse import urlencode

    values = {
        "signal": signal or "",
        "q": q or "",
        **{k: ("" if v is None else v) for k, v in filters.items()},
    }
    return urlencode({k: v for k, v in values.items() if v != ""})
