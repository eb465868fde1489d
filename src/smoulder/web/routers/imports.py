"""Uploads of the tables the engines read: size limit, content-type check, all-or-nothing, audited."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import JSONResponse
from sqlalchemy import insert
from starlette.concurrency import run_in_threadpool

from smoulder.exceptions import InputDataError
from smoulder.store.analyses import refresh
from smoulder.store.importer import (
    EXPORT_KINDS,
    KINDS,
    ImportFailed,
    RowError,
    device_export_frame,
    import_frame,
    read_upload,
)
from smoulder.store.models import AuditEntry, utcnow
from smoulder.store.repo import audit
from smoulder.web.deps import PageUser, api_user, render, require_csrf

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


class UploadRefused(Exception):
    def __init__(self, status: int, message: str) -> None:
        self.status = status
        self.message = message


async def _read_upload_request(request: Request) -> dict[str, Any]:
    limit = request.app.state.settings.max_upload_bytes
    length = request.headers.get("content-length")
    if length is not None and length.isdigit() and int(length) > limit + 64 * 1024:
        raise UploadRefused(413, f"file too large: at most {limit // 1024} KiB")
    ctype = request.headers.get("content-type", "")
    if not ctype.startswith("multipart/form-data"):
        raise UploadRefused(415, "send the file as multipart/form-data")
    form = await request.form(max_files=1, max_fields=10)
    upload = form.get("file")
    if upload is None or isinstance(upload, str):
        raise UploadRefused(422, "no file in the upload (field 'file')")
    data = await upload.read(limit + 1)
    if len(data) > limit:
        raise UploadRefused(413, f"file too large: at most {limit // 1024} KiB")
    name = Path(upload.filename or "upload").name[:200]
    suffix = Path(name).suffix.lower()
    mime = (upload.content_type or "").split(";")[0].strip().lower()
    if suffix not in ALLOWED_TYPES:
        raise UploadRefused(
            415,
            f"unsupported file type {suffix or '(none)'}: use .csv, .tsv, .parquet "
            "(FHIR: .json; Apple Health: .zip or .xml)",
        )
    if mime and mime not in ALLOWED_TYPES[suffix]:
        raise UploadRefused(415, f"content type {mime} does not match a {suffix} file")
    fields = {
        k: str(form.get(k, ""))[:200] for k in ("kind", "subject", "session_date", "csrf_token")
    }
    await form.close()
    return {"data": data, "filename": name, **fields}


def _do_import(store: Any, user: Any, up: dict[str, Any]) -> dict[str, Any]:
    """Parse, validate, write, analyse, commit; on any error nothing is written."""
    kind = up["kind"]
    if kind not in KINDS + EXPORT_KINDS:
        raise ImportFailed(
            up["filename"],
            [RowError(None, None, kind, "unknown kind of table", " | ".join(KINDS + EXPORT_KINDS))],
        )
    if kind in EXPORT_KINDS:
        df = device_export_frame(kind, up["data"], up["filename"], up.get("subject") or None)
        kind = "devices"
    else:
        suffix = Path(up["filename"]).suffix.lower()
        if suffix in (".json", ".zip", ".xml"):
            raise InputDataError(
                "this file type is for FHIR or Apple Health imports",
                file=up["filename"],
                expected="a .csv, .tsv or .parquet table",
            )
        df = read_upload(up["data"], up["filename"])
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
            audit(
                db,
                user,
                "import",
                f"import {kind}",
                None,
                f"{up['filename']}: {report.inserted} inserted, {report.updated} updated",
            )
            if report.person_ids:  # each changed record's own trail shows the import too
                db.execute(
                    insert(AuditEntry),
                    [
                        {
                            "user_id": user.id,
                            "action": "change",
                            "resource": f"import {kind}",
                            "person_id": pid,
                            "detail": "",
                            "at": utcnow(),
                        }
                        for pid in sorted(report.person_ids)
                    ],
                )
            db.commit()
        except BaseException:
            db.rollback()
            raise
    out = report.to_dict()
    if analysis:
        out["analysis"] = {
            "progression_recomputed": analysis["progression"]["recomputed"],
            "digital": analysis["digital"].get("message")
            or f"{analysis['digital']['recomputed']} recomputed",
        }
    return out


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


@router.post(
    "/api/imports",
    openapi_extra={
        "requestBody": {
            "content": {
                "multipart/form-data": {
                    "schema": {
                        "type": "object",
                        "required": ["kind", "file"],
                        "properties": {
                            "kind": {"type": "string", "enum": list(KINDS + EXPORT_KINDS)},
                            "file": {"type": "string", "format": "binary"},
                            "subject": {"type": "string"},
                            "session_date": {"type": "string", "format": "date"},
                        },
                    }
                }
            }
        }
    },
)
async def import_api(request: Request) -> JSONResponse:
    """Import a CSV/TSV/Parquet table (clinicians). All rows are checked first: on any bad row the
    answer is 422 with every problem (row, column, value, expected) and nothing is written.
    Send the session's ``X-CSRF-Token``."""
    user = api_user(request)
    require_csrf(user, request.headers.get("x-csrf-token"))
    if user.role != "clinician":
        raise HTTPException(status_code=403, detail="only clinicians import data")
    try:
        up = await _read_upload_request(request)
        out = await run_in_threadpool(_do_import, request.app.state.store, user.as_user(), up)
    except UploadRefused as exc:
        return JSONResponse({"detail": exc.message}, status_code=exc.status)
    except InputDataError as exc:
        return JSONResponse({"detail": str(exc), "errors": _errors(exc)}, status_code=422)
    return JSONResponse(out, status_code=201)


@router.get("/import", include_in_schema=False)
def import_page(request: Request, user: PageUser):
    if user.role != "clinician":
        raise HTTPException(status_code=403, detail="only clinicians import data")
    return render(request, "import.html", user, kinds=KIND_HELP, result=None, errors=[], message="")


@router.post("/import", include_in_schema=False)
async def import_submit(request: Request, user: PageUser):
    if user.role != "clinician":
        raise HTTPException(status_code=403, detail="only clinicians import data")
    try:
        up = await _read_upload_request(request)
        require_csrf(user, up["csrf_token"])
        out = await run_in_threadpool(_do_import, request.app.state.store, user.as_user(), up)
    except UploadRefused as exc:
        return render(
            request,
            "import.html",
            user,
            status_code=exc.status,
            kinds=KIND_HELP,
            result=None,
            errors=[],
            message=exc.message,
        )
    except InputDataError as exc:
        return render(
            request,
            "import.html",
            user,
            status_code=422,
            kinds=KIND_HELP,
            result=None,
            errors=_errors(exc),
            message=str(exc),
        )
    return render(request, "import.html", user, kinds=KIND_HELP, result=out, errors=[], message="")
