"""Sign in and out: form pages and a JSON API, rate limited, audited."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import JSONResponse, RedirectResponse
from sqlalchemy import select

from smoulder.store.models import User
from smoulder.store.repo import audit
from smoulder.web.deps import DB, ApiUser, client_addr, render, require_csrf
from smoulder.web.schemas import Credentials, LoginResult, MePublic, Message, errors
from smoulder.web.security import (
    LOGIN_CSRF_COOKIE,
    SESSION_COOKIE,
    create_session,
    csrf_ok,
    end_session,
)

router = APIRouter(tags=["auth"])


def _safe_next(path: str | None) -> str:
    if path and path.startswith("/") and not path.startswith("//") and "\\" not in path:
        return path
    return "/"


@dataclass
class Outcome:
    """What a sign-in attempt came to: the user, or the status and sentence of the refusal."""

    user: User | None
    status: int = 200
    error: str = ""
    retry_after: float = 0.0


def _authenticate(request: Request, db: DB, username: str, password: str) -> Outcome:
    """Back-off check (atomic, shared by every worker), bounded password check, audit."""
    limiter = request.app.state.limiter
    address = client_addr(request)
    typed = (username or "")[:200]
    username = typed.strip()[:80]
    shown = f"user {typed[:40]!r} from {address}"
    wait = limiter.reserve(username, address)
    if wait > 0:
        audit(db, None, "login_throttled", "login", None, shown)
        db.commit()
        return Outcome(
            None,
            429,
            f"Too many failed sign-ins. Try again in {_seconds(wait)}.",
            retry_after=round(wait, 3),
        )
    stored = (
        db.scalar(select(User.password_hash).where(User.username == username)) if username else None
    )
    ok = request.app.state.password_checks.check(stored, password or "")
    if ok is None:
        return Outcome(None, 503, "The sign-in service is busy. Try again in a few seconds.", 5.0)
    if not ok:
        audit(db, None, "login_failed", "login", None, shown)
        db.commit()
        return Outcome(None, 401, "Wrong user name or password.")
    limiter.succeeded(username, address)
    return Outcome(db.scalar(select(User).where(User.username == username)))


def _seconds(wait: float) -> str:
    n = int(wait) + 1
    return f"{n} second{'s' if n != 1 else ''}" if n < 120 else f"{round(n / 60)} minutes"


def _refusal_headers(out: Outcome) -> dict[str, str]:
    return {"retry-after": str(int(out.retry_after) + 1)} if out.retry_after else {}


def _set_session_cookie(request: Request, response, token: str) -> None:
    s = request.app.state.settings
    response.set_cookie(
        SESSION_COOKIE,
        token,
        max_age=int(s.session_hours * 3600),
        httponly=True,
        secure=s.secure_cookies,
        samesite="strict",
        path="/",
    )


@router.get("/login", include_in_schema=False)
def login_page(request: Request, next: str = "/"):
    token = secrets.token_urlsafe(24)
    resp = render(request, "login.html", None, next=_safe_next(next), login_csrf=token, error="")
    resp.set_cookie(
        LOGIN_CSRF_COOKIE,
        token,
        httponly=True,
        samesite="strict",
        secure=request.app.state.settings.secure_cookies,
        path="/login",
    )
    return resp


@router.post("/login", include_in_schema=False)
def login_form(
    request: Request,
    db: DB,
    username: Annotated[str, Form()] = "",
    password: Annotated[str, Form()] = "",
    csrf_token: Annotated[str, Form()] = "",
    next: Annotated[str, Form()] = "/",
):
    if not csrf_ok(request.cookies.get(LOGIN_CSRF_COOKIE), csrf_token):
        token = secrets.token_urlsafe(24)
        resp = render(
            request,
            "login.html",
            None,
            status_code=403,
            next=_safe_next(next),
            login_csrf=token,
            error="The form expired. Please sign in again.",
        )
        resp.set_cookie(
            LOGIN_CSRF_COOKIE,
            token,
            httponly=True,
            samesite="strict",
            secure=request.app.state.settings.secure_cookies,
            path="/login",
        )
        return resp
    out = _authenticate(request, db, username, password)
    user = out.user
    if user is None:
        resp = render(
            request,
            "login.html",
            None,
            status_code=out.status,
            next=_safe_next(next),
            login_csrf=csrf_token,
            error=out.error,
        )
        resp.headers.update(_refusal_headers(out))
        return resp
    token, _ = create_session(db, user, request.app.state.settings.session_hours)
    audit(db, user, "login", "login")
    db.commit()
    resp = RedirectResponse(_safe_next(next), status_code=303)
    _set_session_cookie(request, resp, token)
    resp.delete_cookie(LOGIN_CSRF_COOKIE, path="/login")
    return resp


@router.post(
    "/api/login", response_model=LoginResult, responses=errors(400, 401, 413, 422, 429, 503)
)
def login_api(request: Request, db: DB, credentials: Credentials) -> Any:
    """Sign in with ``{"username": ..., "password": ...}`` (at most 16 KiB); sets the session cookie
    and returns the CSRF token to send as ``X-CSRF-Token`` with every write. Signing in ends the
    user's older sessions. After repeated failures from one address: 429 with ``retry_after_s``."""
    out = _authenticate(request, db, credentials.username, credentials.password)
    user = out.user
    if user is None:
        body: dict[str, Any] = {"detail": out.error}
        if out.retry_after:
            body["retry_after_s"] = out.retry_after
        return JSONResponse(body, status_code=out.status, headers=_refusal_headers(out))
    token, csrf = create_session(db, user, request.app.state.settings.session_hours)
    audit(db, user, "login", "api login")
    db.commit()
    resp = JSONResponse({"username": user.username, "role": user.role, "csrf_token": csrf})
    _set_session_cookie(request, resp, token)
    return resp


@router.post("/logout", include_in_schema=False)
def logout_form(request: Request, db: DB, csrf_token: Annotated[str, Form()] = ""):
    user = request.scope.get("state", {}).get("user")
    if user is not None:
        require_csrf(user, csrf_token)
        end_session(db, user)
        db.commit()
    resp = RedirectResponse("/login", status_code=303)
    resp.delete_cookie(SESSION_COOKIE, path="/")
    return resp


@router.post("/api/logout", response_model=Message, responses=errors(401, 403))
def logout_api(request: Request, db: DB, user: ApiUser) -> JSONResponse:
    """End this session (send ``X-CSRF-Token``)."""
    require_csrf(user, request.headers.get("x-csrf-token"))
    end_session(db, user)
    db.commit()
    resp = JSONResponse({"detail": "signed out"})
    resp.delete_cookie(SESSION_COOKIE, path="/")
    return resp


@router.get("/api/me", response_model=MePublic, responses=errors(401))
def me(user: ApiUser) -> MePublic:
    """Who is signed in, and the CSRF token for writes."""
    return MePublic(
        username=user.username,
        role=user.role,
        display_name=user.display_name,
        csrf_token=user.csrf_token,
    )
