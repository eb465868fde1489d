"""``GET /api/health``: is the service up and its database reachable (no authentication)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from sqlalchemy import text

from smoulder import __version__

router = APIRouter(tags=["health"])


@router.get("/api/health")
def health(request: Request) -> dict:
    """Service status, version and database kind."""
    store = request.app.state.store
    try:
        with store.engine.connect() as conn:
            conn.execute(text("SELECT 1"))
        db_ok = True
    except Exception:  # noqa: BLE001 - report, do not crash the health check
        db_ok = False
    return {
        "status": "ok" if db_ok else "degraded",
        "version": __version__,
        "database": store.engine.dialect.name,
        "database_ok": db_ok,
    }
