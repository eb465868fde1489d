"""Request dependencies shared by the routers: database session, current user, templates, CSRF."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import AsyncIterator
from pathlib import Path
from threading import Lock
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import Depends, HTTPException, Request
from fastapi.templating import Jinja2Templates
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from smoulder.web.security import CurrentUser, csrf_ok

TEMPLATES = Jinja2Templates(directory=str(Path(__file__).parent / "templates"))
TEMPLATES.env.autoescape = True  # every template, whatever its suffix
# compiled once per process: no look at the files' times on every page (Jinja's default checks
# each template's mtime at every render); a changed template needs a restart, as code does
TEMPLATES.env.auto_reload = False


def _globals() -> None:
    from smoulder.report.plain import long_date
    from smoulder.schema.palette import colour
    from smoulder.web import views
    from smoulder.web.views import sparkline
    from smoulder.web.words import age_of, keep_together

    TEMPLATES.env.globals.update(
        colour=colour,
        long_date=long_date,
        sparkline=sparkline,
        # the day looked up at each call (tests move it), as the cohort's overdue flags do
        age_of=lambda date: age_of(date, views.today()),
    )
    TEMPLATES.env.filters["keep_together"] = keep_together


_globals()


class Refused(HTTPException):
    """A refusal that goes to the audit trail (403, or 404 for a record the caller may not see);
    ``person_id`` files it on that record's own trail (never shown to the caller)."""

    def __init__(self, status_code: int, detail: str, person_id: int | None = None) -> None:
        super().__init__(status_code=status_code, detail=detail)
        self.person_id = person_id


class LoginRequired(Exception):
    """Raised by page dependencies; turned into a redirect to the login page."""

    def __init__(self, next_path: str) -> None:
        self.next_path = next_path


async def get_db(request: Request) -> AsyncIterator[Session]:
    """An ORM session for the request, closed at its end.

    ``async`` so that FastAPI runs it on the event loop instead of handing it to the thread pool
    twice (on entry and exit): a session connects only when first used, so opening it costs
    nothing; closing one that holds a connection (a rollback, a network round trip on
    PostgreSQL) goes to the thread pool, closing an unused one is done at once.
    """
    session = request.app.state.store.session()
    try:
        yield session
    finally:
        if session.in_transaction():
            await run_in_threadpool(session.close)
        else:
            session.close()


def api_user(request: Request) -> CurrentUser:
    user = request.scope.get("state", {}).get("user")
    if user is None:
        raise HTTPException(status_code=401, detail="authentication required")
    return user


def page_user(request: Request) -> CurrentUser:
    user = request.scope.get("state", {}).get("user")
    if user is None:
        raise LoginRequired(request.url.path)
    return user


def optional_user(request: Request) -> CurrentUser | None:
    return request.scope.get("state", {}).get("user")


# As dependencies they are ``async``: they only read what the middleware resolved, and FastAPI
# runs a sync dependency in the thread pool (a round trip between threads on every request).
async def _api_user(request: Request) -> CurrentUser:
    return api_user(request)


async def _page_user(request: Request) -> CurrentUser:
    return page_user(request)


DB = Annotated[Session, Depends(get_db)]
ApiUser = Annotated[CurrentUser, Depends(_api_user)]
PageUser = Annotated[CurrentUser, Depends(_page_user)]


def client_addr(request: Request) -> str:
    """The client address resolved by the middleware (forwarded headers only from trusted proxies)."""
    state = request.scope.get("state", {})
    return str(state.get("client_address") or (request.client.host if request.client else "?"))


def require_csrf(user: CurrentUser, token: str | None) -> None:
    if not csrf_ok(user.csrf_token, token):
        raise Refused(
            status_code=403, detail="missing or wrong CSRF token; reload the page and try again"
        )


async def api_csrf(request: Request, user: ApiUser) -> CurrentUser:
    """For JSON writes: the session's CSRF token must come in the ``X-CSRF-Token`` header."""
    require_csrf(user, request.headers.get("x-csrf-token"))
    return user


ApiWriter = Annotated[CurrentUser, Depends(api_csrf)]


def render(
    request: Request,
    name: str,
    user: CurrentUser | None,
    status_code: int = 200,
    headers: dict[str, str] | None = None,
    **ctx: Any,
) -> Any:
    return TEMPLATES.TemplateResponse(
        request, name, {"user": user, **ctx}, status_code=status_code, headers=headers
    )


def record(
    request: Request,
    user: CurrentUser,
    action: str,
    resource: str,
    person: Any = None,
    detail: str = "",
    db: Session | None = None,
) -> None:
    """Audit a view (read, list, export) through the app's group-commit writer: returns once the
    entry is committed, so nothing is shown that is not on the audit trail. ``db``, when given,
    is closed first (the view has read what it needs; its connection goes back to the pool
    instead of being held while the entry is written)."""
    pid = getattr(person, "id", person)
    if db is not None:
        db.close()
    request.app.state.audit.write(user.as_user(), action, resource, pid, detail)


def login_url(next_path: str) -> str:
    return "/login?next=" + quote(
        next_path if next_path.startswith("/") and not next_path.startswith("//") else "/"
    )


class PayloadCache:
    """A small LRU of per-person view payloads in one worker process.

    Keys carry the person's id, pseudonym and ``data_version`` as read from the database in the
    same request: every write (import, lifestyle entry, new analysis) bumps the version in the
    database, so an entry made before another worker wrote is never served afterwards.
    """

    def __init__(self, size: int) -> None:
        self.size = size
        self._d: OrderedDict[tuple, Any] = OrderedDict()
        self._lock = Lock()

    def get(self, key: tuple) -> Any:
        if self.size <= 0:
            return None
        with self._lock:
            if key in self._d:
                self._d.move_to_end(key)
                return self._d[key]
        return None

    def put(self, key: tuple, value: Any) -> None:
        if self.size <= 0:
            return
        with self._lock:
            self._d[key] = value
            self._d.move_to_end(key)
            while len(self._d) > self.size:
                self._d.popitem(last=False)
