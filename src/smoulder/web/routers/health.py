"""``GET /api/health``: is the service up and its database reachable (no authentication).

It tells strangers nothing else (no version, no database kind).
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from sqlalchemy import text
from starlette.concurrency import run_in_threadpool

from smoulder.web.schemas import HealthPublic, errors

router = APIRouter(tags=["health"])


def _db_ok(store) -> bool:  # noqa: ANN001
    try:
        with store.engine.connect() as conn:
            conn.execute(text("SELECT 1"))
        return True
    except Exception:  # noqa: BLE001 - report, do not crash the health check
        return False


@router.get("/api/health", response_model=HealthPublic, responses=errors(503))
async def health(request: Request) -> HealthPublic | JSONResponse:
    """``{"status": "ok"}`` when the service and its database answer; 503 otherwise."""
    if await run_in_threadpool(_db_ok, request.app.state.store):
        return HealthPublic(status="ok")
    return JSONResponse({"detail": "database unavailable"}, status_code=503)
