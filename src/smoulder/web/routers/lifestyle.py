"""The lifestyle log: a short phone-friendly form and a JSON API (the person themself or their clinician)."""

from __future__ import annotations

import datetime as dt
import json
from typing import Annotated, Any

import pandas as pd
from fastapi import APIRouter, Depends, Path, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, RedirectResponse
from pydantic import ValidationError

from smoulder.store.importer import DIETS, SMOKING, ImportFailed, import_frame
from smoulder.store.repo import audit, can_edit, label_of
from smoulder.web.deps import (
    DB,
    ApiUser,
    ApiWriter,
    PageUser,
    Refused,
    record,
    render,
    require_csrf,
)
from smoulder.web.schemas import LifestyleCreate, LifestyleList, LifestyleSaved, errors
from smoulder.web.views import visible_or_404
from smoulder.web.words import form_error

router = APIRouter(tags=["lifestyle"])
Key = Annotated[str, Path(max_length=32, description="the person's pseudonym")]
FIELDS = (
    "date",
    "exercise_min_week",
    "diet",
    "smoking",
    "alcohol_units_week",
    "sleep_hours",
    "medications",
    "comorbidities",
    "notes",
)


def _save(db: DB, user: Any, person: Any, values: dict[str, Any]) -> dict[str, str]:
    """Validate with the importer's rules and upsert one entry; return {field: error} (empty when saved)."""
    row = {k: "" if values.get(k) is None else str(values.get(k)) for k in FIELDS}
    row["subject"] = person.subject
    try:
        import_frame(db, "lifestyle", pd.DataFrame([row]), source="lifestyle form")
    except ImportFailed as exc:
        db.rollback()
        return {
            (e.column or "form"): f"{e.message}"
            + (f" (expected {e.expected})" if e.expected else "")
            for e in exc.errors
        }
    audit(db, user, "create", "lifestyle entry", person, f"date {row['date']}")
    db.commit()
    return {}


def _editable(db: DB, user: Any, key: str) -> Any:
    person = visible_or_404(db, user, key)
    if not can_edit(user.as_user(), person, db):
        raise Refused(403, "you may not add entries to this record", person.id)
    return person


@router.get("/patients/{key}/lifestyle", include_in_schema=False)
def lifestyle_form(key: Key, request: Request, db: DB, user: PageUser):
    person = _editable(db, user, key)
    return render(
        request,
        "lifestyle.html",
        user,
        key=person.pseudonym,
        title=label_of(person, user.as_user()),
        values={"date": dt.date.today().isoformat()},
        errors={},
        diets=DIETS,
        smoking=SMOKING,
    )


@router.post("/patients/{key}/lifestyle", include_in_schema=False)
async def lifestyle_submit(key: Key, request: Request, db: DB, user: PageUser):
    form = await request.form(max_files=0, max_fields=20)
    require_csrf(user, str(form.get("csrf_token", "")))
    person = _editable(db, user, key)
    values = {k: str(form.get(k, ""))[:4000] for k in FIELDS}
    problems = _save(db, user.as_user(), person, values)
    # in words a person can act on ("Sleep must be between 0 and 24 hours a night.")
    errors = {k: form_error(k, v) for k, v in problems.items()}
    if errors:
        return render(
            request,
            "lifestyle.html",
            user,
            status_code=422,
            key=person.pseudonym,
            title=label_of(person, user.as_user()),
            values=values,
            errors=errors,
            diets=DIETS,
            smoking=SMOKING,
        )
    return RedirectResponse(f"/patients/{person.pseudonym}?saved=lifestyle", status_code=303)


@router.get(
    "/api/patients/{key}/lifestyle",
    response_model=LifestyleList,
    responses=errors(401, 404, 422),
)
def lifestyle_list(key: Key, request: Request, db: DB, user: ApiUser) -> dict:
    """The person's lifestyle entries (oldest first)."""
    from smoulder.web.views import person_payload

    person = visible_or_404(db, user, key)
    tl, _ = person_payload(request, db, person, user)
    record(request, user, "view", "api lifestyle", person, db=db)
    return {"key": person.pseudonym, "entries": tl["lifestyle"]}


def _editable_api(key: Key, db: DB, user: ApiWriter) -> Any:
    return _editable(db, user, key)


async def _json_body(request: Request) -> Any:
    """The raw JSON body, read after the access checks (so a refusal never depends on it)."""
    try:
        return json.loads(await request.body() or b"null")
    except (json.JSONDecodeError, UnicodeDecodeError, RecursionError):
        raise RequestValidationError(
            [{"loc": ("body",), "msg": "not valid JSON", "type": "json_invalid", "input": None}]
        ) from None


@router.post(
    "/api/patients/{key}/lifestyle",
    status_code=201,
    response_model=LifestyleSaved,
    responses=errors(400, 401, 403, 404, 413, 422),
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                "application/json": {
                    "schema": LifestyleCreate.model_json_schema(),
                    "example": {
                        "date": "2024-05-01",
                        "exercise_min_week": 120,
                        "diet": "mixed",
                        "smoking": "never",
                        "alcohol_units_week": 4,
                        "sleep_hours": 7,
                        "medications": "vitamin D",
                        "comorbidities": "",
                        "notes": "",
                    },
                }
            },
        }
    },
)
def lifestyle_create(
    key: Key,
    db: DB,
    user: ApiWriter,
    person: Annotated[Any, Depends(_editable_api)],
    body: Annotated[Any, Depends(_json_body)],
) -> Any:
    """Add (or replace, same date) a lifestyle entry; values are checked as in the form. Send the
    session's ``X-CSRF-Token``. Who may write is checked before the body is read."""
    try:
        entry = LifestyleCreate.model_validate(body)
    except ValidationError as exc:
        raise RequestValidationError(
            [{**e, "loc": ("body", *e["loc"])} for e in exc.errors(include_url=False)]
        ) from None
    values = entry.model_dump(exclude_unset=True)
    values["date"] = entry.date.isoformat()
    problems = _save(db, user.as_user(), person, values)
    if problems:
        return JSONResponse(
            {
                "detail": "the entry was not saved: "
                + "; ".join(f"{k}: {v}" for k, v in problems.items()),
                "errors": [{"column": k, "message": v} for k, v in problems.items()],
            },
            status_code=422,
        )
    return LifestyleSaved(saved=True, date=values["date"])
