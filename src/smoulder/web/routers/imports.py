"""Uploads of the tables the engines read: size limit, content-type check, all-or-nothing, audited."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from smoulder.exceptions import InputDataError
from smoulder.store.analyses import refresh
from smoulder.store.importer import (
    EXPORT_KINDS,
    KINDS,
    ImportFailed,
    device_export_frame,
    import_frame,
    read_upload,
)
from smoulder.store.repo import audit, audit_import
from smoulder.web.deps import PageUser, Refused, api_user, render, require_csrf
from smoulder.web.middleware import BodyTooLarge
from smoulder.web.schemas import ImportResult, errors
from smoulder.web.upload_checks import (
    UploadRefused,
    check_apple_health,
    check_fhir,
    check_table,
)

router = APIRouter(tags=["imports"])

ALLOWED_TYPES = {
    ".csv": {
        "text/csv",
        "text/plain",
        "application/csv",
        "application/vnd.ms-excel",
        "text/comma-separated-values",
    },
    ".tsv": {"text/tab-separated-values", "text/plain", "text/tsv"},
    ".txt": {"text/plain", "text/tab-separated-values", "text/csv"},
    ".parquet": {
        "application/octet-stream",
        "application/vnd.apache.parquet",
        "application/x-parquet",
    },
    ".json": {
        "application/json",
        "application/fhir+json",
        "text/plain",
        "application/octet-stream",
    },
    ".zip": {"application/zip", "application/x-zip-compressed", "application/octet-stream"},
    ".xml": {"application/xml", "text/xml"},
}
KIND_HELP = {
    "people": "subject, name, sex, birth_year, clinician",
    "visits": "subject, date, edss, t25fw, nhpt, sdmt",
    "relapses": "subject, date, end_date",
    "treatments": "subject, drug, start_date, stop_date",
    "mri": "subject, date, active",
    "prl": "lesions.tsv: label, n_voxels, volume_mm3, centroid_*_mm, rim_score, prl (+ subject and scan date)",
    "sel": "label, volume_mm3, centroid_*_mm, expansion_pct_per_year, concentricity, constancy, sel",
    "devices": "subject, date, measure, value, unit",
    "device_events": "subject, measure, onset_date, detected_date, baseline_value, current_value, change_pct",
    "lifestyle": "subject, date, exercise_min_week, diet, smoking, alcohol_units_week, sleep_hours, ...",
    "fhir": "FHIR R4 Bundle (.json) of Observations/QuestionnaireResponses: device measures",
    "apple_health": "Apple Health export.zip / export.xml (give the subject): device measures",
}


ALL_KINDS = KINDS + EXPORT_KINDS


async def _read_upload_request(request: Request, up: dict[str, Any]) -> None:
    """Parse the multipart body into ``up`` (size counted while streaming by the middleware), then
    check the file type and, cheaply, its shape, before any reader sees it."""
    limit = request.app.state.settings.max_upload_bytes
    ctype = request.headers.get("content-type", "")
    if not ctype.startswith("multipart/form-data"):
        raise UploadRefused(415, "send the file as multipart/form-data")
    try:
        form = await request.form(max_files=1, max_fields=10, max_part_size=64 * 1024)
    except BodyTooLarge:
        raise
    except HTTPException as exc:  # malformed multipart bodies
        raise UploadRefused(400 if exc.status_code < 500 else 422, str(exc.detail)) from None
    try:
        for k in ("kind", "subject", "session_date", "csrf_token"):
            up[k] = str(form.get(k, "") or "")[:200]
        upload = form.get("file")
        if upload is None or isinstance(upload, str):
            raise UploadRefused(422, "no file in the upload (field 'file')")
        data = await upload.read(limit + 1)
        name = Path(upload.filename or "upload").name[:200]
        mime = (upload.content_type or "").split(";")[0].strip().lower()
    finally:
        await form.close()
    if len(data) > limit:
        raise UploadRefused(413, f"file too large: at most {limit // 1024} KiB")
    suffix = Path(name).suffix.lower()
    if suffix not in ALLOWED_TYPES:
        raise UploadRefused(
            415,
            f"unsupported file type {suffix or '(none)'}: use .csv, .tsv, .parquet "
            "(FHIR: .json; Apple Health: .zip or .xml)",
        )
    if mime and mime not in ALLOWED_TYPES[suffix]:
        raise UploadRefused(415, f"content type {mime} does not match a {suffix} file")
    up["data"], up["filename"] = data, name


def _precheck(up: dict[str, Any]) -> None:
    """Checks that need no reader: kind, file type for the kind, FHIR shape, columns, zip bombs."""
    kind, name, data = up["kind"], up["filename"], up["data"]
    suffix = Path(name).suffix.lower()
    if kind not in ALL_KINDS:
        raise UploadRefused(
            422, f"unknown kind of table {kind[:40]!r}; expected one of {' | '.join(ALL_KINDS)}"
        )
    if kind == "fhir":
        if suffix != ".json":
            raise UploadRefused(415, f"{name}: a FHIR import is a .json file")
        check_fhir(data, name)
    elif kind == "apple_health":
        if suffix not in (".zip", ".xml"):
            raise UploadRefused(415, f"{name}: an Apple Health import is export.zip or export.xml")
        check_apple_health(data, name, suffix)
    else:
        if suffix in (".json", ".zip", ".xml"):
            raise UploadRefused(
                415,
                f"{name}: this file type is for FHIR or Apple Health imports; "
                "tables are .csv, .tsv or .parquet",
            )
        check_table(data, name, suffix)


def _do_import(store: Any, user: Any, up: dict[str, Any]) -> dict[str, Any]:
    """Parse, validate, write, analyse, audit, commit; on any error nothing is written."""
    kind = up["kind"]
    if kind in EXPORT_KINDS:
        # the body is bytes (already checked to be a JSON object of a FHIR resource type, or a
        # bounded zip/XML): never a path
        df = device_export_frame(kind, bytes(up["data"]), up["filename"], up.get("subject") or None)
        kind = "devices"
    else:
        df = read_upload(bytes(up["data"]), up["filename"])
    with store.session() as db:
        try:
            report = import_frame(
                db,
                kind,
                df,
                source=up["filename"],
                user=user,
                subject=up.get("subject") or None,
                session_date=up.get("session_date") or None,
            )
            analysis = refresh(db, report.person_ids) if report.person_ids else {}
            audit_import(
                db,
                user,
                kind,
                report.person_ids,
                f"{report.inserted} inserted, {report.updated} updated, {report.unchanged} unchanged",
                via="web upload",
            )
            db.commit()
        except BaseException:
            db.rollback()
            raise
    out = {k: v for k, v in report.to_dict().items() if k in ImportResult.model_fields}
    if analysis:
        out["analysis"] = {
            "progression_recomputed": analysis["progression"]["recomputed"],
            "digital": analysis["digital"].get("message")
            or f"{analysis['digital']['recomputed']} recomputed",
        }
    return ImportResult.model_validate(out).model_dump()


def _errors(exc: InputDataError) -> list[dict[str, Any]]:
    if isinstance(exc, ImportFailed):
        return [e.to_dict() for e in exc.errors]
    return [
        {
            "row": exc.row,
            "column": exc.column,
            "value": None if exc.value is None else str(exc.value),
            "message": str(exc),
            "expected": exc.expected or "",
        }
    ]


def _audit_refused(store: Any, user: Any, up: dict[str, Any], status: int, why: str) -> None:
    """A refused import in the audit log: kind, status and the kind of problem (no file name, no
    values: they may name people)."""
    kind = up.get("kind") if up.get("kind") in ALL_KINDS else None
    with store.session() as db:
        audit(db, user, "refused", f"import {kind}" if kind else "import", None, f"{status}: {why}")
        db.commit()


async def _run(request: Request, user: Any) -> tuple[int, dict[str, Any], dict[str, Any]]:
    """Read, check and import; return (status, answer, upload fields). Refusals are audited."""
    store = request.app.state.store
    up: dict[str, Any] = {}
    answer: dict[str, Any]
    try:
        await _read_upload_request(request, up)
        if "csrf_token" in up and request.url.path == "/import":
            require_csrf(user, up["csrf_token"])
        _precheck(up)
        out = await run_in_threadpool(_do_import, store, user.as_user(), up)
        return 201, out, up
    except BodyTooLarge as exc:
        status, answer, why = 413, {"detail": str(exc.detail)}, "body too large"
    except UploadRefused as exc:
        status, answer, why = exc.status, {"detail": exc.message}, exc.message.split(":")[0][:60]
        if up.get("filename"):
            why = "file refused before reading"
    except ImportFailed as exc:
        status, answer = 422, {"detail": str(exc), "errors": _errors(exc)}
        why = f"{exc.total} problem(s) in the table; nothing written"
    except InputDataError as exc:
        status, answer, why = 422, {"detail": str(exc), "errors": _errors(exc)}, "unreadable file"
    await run_in_threadpool(_audit_refused, store, user.as_user(), up, status, why)
    return status, answer, up


@router.post(
    "/api/imports",
    status_code=201,
    response_model=ImportResult,
    responses=errors(400, 401, 403, 413, 415, 422),
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                "multipart/form-data": {
                    "schema": {
                        "type": "object",
                        "required": ["kind", "file"],
                        "properties": {
                            "kind": {"type": "string", "enum": list(ALL_KINDS)},
                            "file": {"type": "string", "format": "binary"},
                            "subject": {"type": "string", "maxLength": 64},
                            "session_date": {"type": "string", "format": "date"},
                        },
                    }
                }
            },
        }
    },
)
async def import_api(request: Request) -> JSONResponse:
    """Import a table (clinicians): CSV/TSV/Parquet, a FHIR R4 Bundle (.json) or an Apple Health
    export (.zip/.xml). All rows are checked first: on any bad row the answer is 422 with every
    problem (row, column, value, expected) and nothing is written. The body is counted while it
    streams (413 past the limit). Send the session's ``X-CSRF-Token``."""
    user = api_user(request)
    require_csrf(user, request.headers.get("x-csrf-token"))
    if user.role != "clinician":
        raise Refused(403, "only clinicians import data")
    status, answer, _ = await _run(request, user)
    return JSONResponse(answer, status_code=status)


@router.get("/import", include_in_schema=False)
def import_page(request: Request, user: PageUser):
    if user.role != "clinician":
        raise Refused(403, "only clinicians import data")
    return render(request, "import.html", user, kinds=KIND_HELP, result=None, errors=[], message="")


@router.post("/import", include_in_schema=False)
async def import_submit(request: Request, user: PageUser):
    if user.role != "clinician":
        raise Refused(403, "only clinicians import data")
    status, answer, _ = await _run(request, user)
    if status == 201:
        return render(
            request, "import.html", user, kinds=KIND_HELP, result=answer, errors=[], message=""
        )
    return render(
        request,
        "import.html",
        user,
        status_code=status,
        kinds=KIND_HELP,
        result=None,
        errors=answer.get("errors", []),
        message=answer["detail"],
    )
