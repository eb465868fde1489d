"""The FastAPI application: server-rendered pages, a REST API documented by OpenAPI, offline assets."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException

from smoulder import __version__
from smoulder.store.accounts import PasswordChecks
from smoulder.store.db import Store
from smoulder.store.repo import AuditWriter, audit
from smoulder.web.compress import Piece, accepts_gzip, gzip_join
from smoulder.web.deps import LoginRequired, PayloadCache, Refused, login_url, render
from smoulder.web.middleware import (
    AuthMiddleware,
    BodyLimitMiddleware,
    HeadersMiddleware,
    HostMiddleware,
    is_api,
)
from smoulder.web.security import LoginLimiter
from smoulder.web.settings import WebSettings

STATIC = Path(__file__).parent / "static"


def plotly_js_path() -> Path:
    """The plotly.min.js bundled inside the installed ``plotly`` package (no CDN: works offline)."""
    spec = importlib.util.find_spec("plotly")
    if spec is None or spec.origin is None:  # pragma: no cover - plotly is a web dependency
        raise RuntimeError("the plotly package is not installed (pip install 'smoulder[web]')")
    path = Path(spec.origin).parent / "package_data" / "plotly.min.js"
    if not path.exists():  # pragma: no cover
        raise RuntimeError(f"plotly.min.js not found in the plotly package at {path}")
    return path


def iter_routes(routes: list[Any]) -> list[Any]:
    """Every endpoint route of an app or router, flattening included routers (for audits and tests)."""
    out: list[Any] = []
    for r in routes:
        inner = getattr(
            r, "original_router", None
        )  # FastAPI >= 0.120 keeps included routers lazily
        if inner is not None:
            out.extend(iter_routes(inner.routes))
        elif hasattr(r, "path") and hasattr(r, "methods"):
            out.append(r)
    return out


#: pooled connections a web worker keeps open: one per thread of the request thread pool (40 in
#: anyio) on SQLite, where a connection is a file handle; fewer on PostgreSQL, where each one is a
#: server process and several workers share the server's connection limit
SQLITE_POOL = 40
POSTGRES_POOL = 10


def web_engine(url: str) -> Any:
    """The engine of a web worker: a pool as large as the number of requests served at once.

    SQLAlchemy's default pool keeps 5 connections and opens up to 10 more that it closes again at
    check-in: under 20 concurrent clients most requests opened (and on SQLite set up the pragmas
    of) a fresh connection and closed it again. A pool that holds them costs a few file handles.
    In-memory SQLite keeps its single shared connection.
    """
    from smoulder.store.db import make_engine, sqlite_path

    if url.startswith("sqlite"):
        if sqlite_path(url) is None:
            return None
        return make_engine(url, pool_size=SQLITE_POOL, max_overflow=SQLITE_POOL)
    return make_engine(url, pool_size=POSTGRES_POOL, max_overflow=POSTGRES_POOL)


def create_app(settings: WebSettings | None = None, store: Store | None = None) -> FastAPI:
    """Build the app on a store (opened from ``settings.database_url`` and migrated if not given).

    With no arguments the settings come from the ``SMOULDER_*`` environment (how the worker
    processes of ``smoulder serve --workers N`` start: ``uvicorn --factory``).

    Examples
    --------
    >>> from smoulder.web import create_app, WebSettings
    >>> app = create_app(WebSettings(database_url="sqlite://"))
    >>> app.title
    'smoulder'
    """
    settings = settings or WebSettings()
    store = store or Store(settings.database_url, engine=web_engine(settings.database_url))
    app = FastAPI(
        title="smoulder",
        version=__version__,
        docs_url=None,
        redoc_url=None,
        openapi_url="/openapi.json",
        description="Smouldering MS: people, time lines, signals, lifestyle log, imports and "
        "consultation reports. Sign in with POST /api/login; send the returned "
        "csrf_token as X-CSRF-Token with every write.",
    )
    app.state.settings = settings
    app.state.store = store
    app.state.limiter = LoginLimiter(
        store,
        attempts=settings.login_attempts,
        per_address=settings.login_attempts_per_address,
        window_s=settings.login_window_s,
        backoff_s=settings.login_backoff_s,
        backoff_max_s=settings.login_backoff_max_s,
    )
    app.state.password_checks = PasswordChecks(settings.login_concurrency)
    app.state.payload_cache = PayloadCache(settings.cache_entries)
    # each person's cohort-row extras (EDSS trend, current treatment) per data version and day
    app.state.row_cache = PayloadCache(max(1000, 50 * settings.cache_entries))
    # the person page around its record, per reader (session) and page: a few hundred bytes each
    app.state.frame_cache = PayloadCache(4 * settings.cache_entries)
    app.state.audit = AuditWriter(store)

    from smoulder.web.routers import auth, cohort, health, imports, lifestyle, patients, reports

    for r in (health, auth, cohort, patients, lifestyle, imports, reports):
        app.include_router(r.router)

    plotly_js = plotly_js_path()
    packed: dict[str, bytes] = {}  # plotly's 4.6 MB script, gzip-compressed on first demand

    @app.get("/static/plotly.min.js", include_in_schema=False)
    def plotly_min_js(request: Request) -> Response:
        headers = {"cache-control": "public, max-age=86400", "vary": "Accept-Encoding"}
        if not accepts_gzip(request.headers):
            return FileResponse(plotly_js, media_type="application/javascript", headers=headers)
        st = plotly_js.stat()
        tag = f'"{st.st_mtime_ns:x}-{st.st_size:x}-gzip"'
        if tag in request.headers.get("if-none-match", ""):
            return Response(status_code=304, headers={**headers, "etag": tag})
        body = packed.get(tag)
        if body is None:  # a phone on a slow line gets ~1.4 MB instead of 4.6
            body = packed[tag] = gzip_join([Piece(plotly_js.read_bytes())])
        return Response(
            body,
            media_type="application/javascript",
            headers={**headers, "etag": tag, "content-encoding": "gzip"},
        )

    app.mount("/static", StaticFiles(directory=STATIC), name="static")

    @app.exception_handler(LoginRequired)
    async def _login(request: Request, exc: LoginRequired) -> Any:
        return RedirectResponse(login_url(exc.next_path), status_code=303)

    @app.exception_handler(StarletteHTTPException)  # FastAPI's HTTPException and the router's
    async def _http(request: Request, exc: StarletteHTTPException) -> Any:
        user = request.scope.get("state", {}).get("user")
        if user is not None and (isinstance(exc, Refused) or exc.status_code == 403):
            await run_in_threadpool(_audit_refusal, request, user, exc)
        detail = exc.detail if isinstance(exc.detail, str) else "request refused"
        detail = FRIENDLY.get(detail, detail)
        headers = {k.lower(): v for k, v in (exc.headers or {}).items()}
        if exc.status_code == 405:  # every method of the path, not only the first route's
            headers["allow"] = ", ".join(_methods_of(request.app, request.scope))
        if is_api(request.url.path):
            return JSONResponse({"detail": detail}, status_code=exc.status_code, headers=headers)
        return render(
            request,
            "error.html",
            user,
            status_code=exc.status_code,
            status=exc.status_code,
            detail=detail,
            headers=headers,
        )

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> Any:
        problems = [
            {
                "column": ".".join(str(x) for x in e.get("loc", ())) or None,
                "value": None if e.get("input") is None else str(e.get("input"))[:80],
                "message": str(e.get("msg", ""))[:300],
                "expected": "",
            }
            for e in exc.errors()[:50]
        ]
        text = "; ".join(f"{p['column']}: {p['message']}" for p in problems)
        shown = "; ".join(f"{str(p['column']).split('.', 1)[-1]}: {p['message']}" for p in problems)
        if is_api(request.url.path):
            return JSONResponse(
                {"detail": f"invalid request: {text}"[:2000], "errors": problems},
                status_code=422,
            )
        user = request.scope.get("state", {}).get("user")
        return render(request, "error.html", user, status_code=422, status=422, detail=shown)

    app.add_middleware(
        AuthMiddleware,
        store=store,
        idle_minutes=settings.idle_minutes,
        trusted_proxies=settings.forwarded_allow_ips,
    )
    app.add_middleware(BodyLimitMiddleware, max_upload_bytes=settings.max_upload_bytes)
    app.add_middleware(HostMiddleware, allowed=settings.allowed_hosts)
    app.add_middleware(HeadersMiddleware, hsts=settings.secure_cookies)
    return app


FRIENDLY = {
    "Not Found": "There is no such page.",
    "Method Not Allowed": "This address does not take that kind of request.",
}


def _methods_of(app: FastAPI, scope: Any) -> list[str]:
    path = scope.get("path", "")
    methods: set[str] = set()
    for route in iter_routes(app.routes):
        regex = getattr(route, "path_regex", None)
        if regex is not None and regex.match(path):
            methods |= set(getattr(route, "methods", None) or ())
    return sorted(methods)


def _audit_refusal(request: Request, user: Any, exc: StarletteHTTPException) -> None:
    """File a refused request (403, or 404 for a record the caller may not see) in the audit log:
    the route template and the reason, never the values typed (no identifiers in the text)."""
    route = request.scope.get("route")
    where = f"{request.method} {getattr(route, 'path', '(no route)')}"
    reason = exc.detail if isinstance(exc.detail, str) else "refused"
    with request.app.state.store.session() as db:
        audit(
            db,
            user.as_user(),
            "denied",
            where,
            getattr(exc, "person_id", None),
            f"{exc.status_code}: {reason}",
        )
        db.commit()


__all__ = ["create_app", "plotly_js_path", "iter_routes"]
