"""Sign in and out: form pages and a JSON API, rate limited, audited."""

from __future__ import annotations

import secrets
from typing import Annotated

from fastapi import APIRouter, Body, Form, Request
from fastapi.responses import JSONResponse, RedirectResponse
from sqlalchemy import select

from smoulder.store.accounts import dummy_verify, verify_password
from smoulder.store.models import User
from smoulder.store.repo import audit
from smoulder.web.deps import DB, ApiUser, render, require_csrf
from smoulder.web.security import (
    LOGIN_CSRF_COOKIE,
    SESSION_COOKIE,
    create_session,
    csrf_ok,
    end_session,
)

router = APIRouter(tags=["auth"])


def _address(request: Request) -> str:
    return request.client.host if request.client else "unknown"


def _safe_next(path: str | None) -> str:
    if path and path.startswith("/") and not path.startswith("//") and "\\" not in path:
        return path
    return "/"


def _authenticate(
    request: Request, db: DB, username: str, password: str
) -> tuple[User | None, str]:
    limiter = request.app.state.limiter
    username = (username or "").strip()[:80]
    wait = limiter.blocked(username, _address(request))
    if wait > 0:
        return None, f"Too many failed sign-ins. Try again in {int(wait) + 1} seconds."
    user = db.scalar(select(User).where(User.username == username)) if username else None
    if user is None:
        dummy_verify(password or "")
        ok = False
    else:
        ok = verify_password(user.password_hash, password or "")
    if not ok:
        limiter.failed(username, _address(request))
        audit(db, None, "login_failed", "login")
        db.commit()
        return None, "Wrong user name or password."
    limiter.succeeded(username)
    return user, ""


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
    user, error = _authenticate(request, db, username, password)
    if user is None:
        status = 429 if error.startswith("Too many") else 401
        return render(
            request,
            "login.html",
            None,
            status_code=status,
            next=_safe_next(next),
            login_csrf=csrf_token,
            error=error,
        )
    token, _ = create_session(db, user, request.app.state.settings.session_hours)
    audit(db, user, "login", "login")
    db.commit()
    resp = RedirectResponse(_safe_next(next), status_code=303)
    _set_session_cookie(request, resp, token)
    resp.delete_cookie(LOGIN_CSRF_COOKIE, path="/login")
    return resp


@router.post("/api/login")
def login_api(
    request: Request, db: DB, credentials: Annotated[dict | None, Body()] = None
) -> JSONResponse:
    """Sign in with ``{"username": ..., "password": ...}``; sets the session cookie and returns the CSRF token
    to send as ``X-CSRF-Token`` with every write."""
    creds = credentials if isinstance(credentials, dict) else {}
    user, error = _authenticate(
        request, db, str(creds.get("username", "")), str(creds.get("password", ""))
    )
    if user is None:
        return JSONResponse(
            {"detail": error}, status_code=429 if error.startswith("Too many") else 401
        )
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


@router.post("/api/logout")
def logout_api(request: Request, db: DB, user: ApiUser) -> JSONResponse:
    """End this session (send ``X-CSRF-Token``)."""
    require_csrf(user, request.headers.get("x-csrf-token"))
    end_session(db, user)
    db.commit()
    resp = JSONResponse({"detail": "signed out"})
    resp.delete_cookie(SESSION_COOKIE, path="/")
    return resp


@router.get("/api/me")
def me(user: ApiUser) -> dict:
    """Who is signed in, and the CSRF token for writes."""
    return {
        "username": user.username,
        "role": user.role,
        "display_name": user.display_name,
        "csrf_token": user.csrf_token,
    }
