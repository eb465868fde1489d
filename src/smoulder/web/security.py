"""Sessions, CSRF, login rate limiting and the per-request user.

* A session cookie holds a random token; the database keeps only its SHA-256 (a stolen database
  does not give working cookies). Cookies are HttpOnly, SameSite=Strict, and Secure when the
  settings say so (always behind HTTPS in production).
* Every form carries the session's CSRF token; JSON API writes send it in ``X-CSRF-Token``. The
  login form uses a double-submit token (cookie + field) because there is no session yet.
* Failed logins are limited per user name and per client address in a sliding window.
* :class:`AuthMiddleware` resolves the user once per request; every ``/api/`` path other than
  ``/api/health`` and ``POST /api/login`` answers 401 without a valid session, before routing.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
import secrets
import threading
import time
from collections import defaultdict, deque
from dataclasses import dataclass
from typing import Any

from sqlalchemy import delete, select

from smoulder.store.models import User, WebSession, utcnow

SESSION_COOKIE = "smoulder_session"
LOGIN_CSRF_COOKIE = "smoulder_login_csrf"
PUBLIC_API = {("GET", "/api/health"), ("HEAD", "/api/health"), ("POST", "/api/login")}


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


@dataclass
class CurrentUser:
    """The signed-in user as the request sees it (a detached copy, safe across threads)."""

    id: int
    username: str
    role: str
    display_name: str
    person_id: int | None
    csrf_token: str
    session_hash: str

    def as_user(self) -> User:
        return User(
            id=self.id,
            username=self.username,
            role=self.role,
            display_name=self.display_name,
            person_id=self.person_id,
            password_hash="",
        )


def create_session(db: Any, user: User, hours: float) -> tuple[str, str]:
    """Start a session: return (cookie token, CSRF token); the caller commits."""
    token = secrets.token_urlsafe(32)
    csrf = secrets.token_urlsafe(32)
    db.add(
        WebSession(
            token_hash=token_hash(token),
            user_id=user.id,
            csrf_token=csrf,
            expires_at=utcnow() + dt.timedelta(hours=hours),
        )
    )
    # housekeeping: forget expired sessions
    db.execute(delete(WebSession).where(WebSession.expires_at < utcnow()))
    return token, csrf


def lookup_session(store: Any, token: str | None) -> CurrentUser | None:
    """The user of a session token, or None when missing, unknown or expired."""
    if not token or len(token) > 100:
        return None
    h = token_hash(token)
    with store.session() as db:
        row = db.execute(
            select(
                User.id,
                User.username,
                User.role,
                User.display_name,
                User.person_id,
                WebSession.csrf_token,
                WebSession.expires_at,
            )
            .join(WebSession, WebSession.user_id == User.id)
            .where(WebSession.token_hash == h)
        ).first()
    if row is None or row[6] < utcnow():
        return None
    return CurrentUser(
        id=row[0],
        username=row[1],
        role=row[2],
        display_name=row[3],
        person_id=row[4],
        csrf_token=row[5],
        session_hash=h,
    )


def end_session(db: Any, current: CurrentUser) -> None:
    db.execute(delete(WebSession).where(WebSession.token_hash == current.session_hash))


def csrf_ok(expected: str | None, given: str | None) -> bool:
    """Constant-time comparison of CSRF tokens (both must be present)."""
    return bool(expected) and bool(given) and hmac.compare_digest(str(expected), str(given))


class LoginLimiter:
    """At most ``attempts`` failed logins per user name and per address within ``window_s`` seconds."""

    def __init__(self, attempts: int = 5, window_s: float = 300.0, per_address: int = 20) -> None:
        self.attempts = attempts
        self.window_s = window_s
        self.per_address = per_address
        self._fails: dict[str, deque[float]] = defaultdict(deque)
        self._lock = threading.Lock()

    def _recent(self, key: str, now: float) -> int:
        q = self._fails[key]
        while q and q[0] < now - self.window_s:
            q.popleft()
        return len(q)

    def blocked(self, username: str, address: str) -> float:
        """Seconds to wait before another attempt is allowed (0: allowed)."""
        now = time.monotonic()
        with self._lock:
            waits = []
            for key, limit in (
                (f"u:{username.lower()}", self.attempts),
                (f"a:{address}", self.per_address),
            ):
                if self._recent(key, now) >= limit:
                    waits.append(self._fails[key][0] + self.window_s - now)
            return max(waits, default=0.0)

    def failed(self, username: str, address: str) -> None:
        now = time.monotonic()
        with self._lock:
            self._fails[f"u:{username.lower()}"].append(now)
            self._fails[f"a:{address}"].append(now)

    def succeeded(self, username: str) -> None:
        with self._lock:
            self._fails.pop(f"u:{username.lower()}", None)


def _cookie(scope: dict, name: str) -> str | None:
    for k, v in scope.get("headers", []):
        if k == b"cookie":
            for part in v.decode("latin-1").split(";"):
                key, _, val = part.strip().partition("=")
                if key == name:
                    return val
    return None


class AuthMiddleware:
    """Pure ASGI middleware: attach the session user to ``scope['state']``; 401 for /api without one."""

    def __init__(self, app: Any, store: Any) -> None:
        self.app = app
        self.store = store

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        from starlette.concurrency import run_in_threadpool

        token = _cookie(scope, SESSION_COOKIE)
        user = await run_in_threadpool(lookup_session, self.store, token) if token else None
        scope.setdefault("state", {})["user"] = user
        path = scope.get("path", "")
        if (
            user is None
            and (path == "/api" or path.startswith("/api/"))
            and (scope["method"], path) not in PUBLIC_API
        ):
            body = json.dumps({"detail": "authentication required"}).encode()
            await send(
                {
                    "type": "http.response.start",
                    "status": 401,
                    "headers": [
                        (b"content-type", b"application/json"),
                        (b"content-length", str(len(body)).encode()),
                        (b"www-authenticate", b'Cookie realm="smoulder"'),
                        (b"cache-control", b"no-store"),
                    ],
                }
            )
            await send({"type": "http.response.body", "body": body})
            return
        await self.app(scope, receive, send)


SECURITY_HEADERS = [
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"same-origin"),
    (
        b"content-security-policy",
        b"default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; script-src 'self'; "
        b"object-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'",
    ),
]


class HeadersMiddleware:
    """Add security headers (CSP without inline scripts, no framing, no sniffing) and no-store caching."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        static = scope.get("path", "").startswith("/static/")

        async def send_with_headers(message: dict) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                headers.extend(SECURITY_HEADERS)
                if not static:
                    headers.append((b"cache-control", b"no-store"))
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_with_headers)


__all__ = [
    "SESSION_COOKIE",
    "LOGIN_CSRF_COOKIE",
    "CurrentUser",
    "create_session",
    "lookup_session",
    "end_session",
    "csrf_ok",
    "LoginLimiter",
    "AuthMiddleware",
    "HeadersMiddleware",
    "token_hash",
]
