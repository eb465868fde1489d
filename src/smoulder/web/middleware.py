"""Pure ASGI middlewares, outermost first: headers (and the last-resort 500), Host check, body
size limit, session.

* :class:`HeadersMiddleware` adds the same security headers to every answer (pages, API, static
  files, errors, the middlewares' own refusals) and answers an unexpected exception with a plain
  500 that tells nothing of the exception (logged by type and route, never by value).
* :class:`HostMiddleware` answers 400 to a ``Host`` header that is not in ``allowed_hosts``.
* :class:`BodyLimitMiddleware` refuses a body over its route's limit: at once from
  ``Content-Length``, and while streaming (chunked bodies) by counting the bytes received.
* :class:`AuthMiddleware` resolves the session's user once per request and the client address
  (``X-Forwarded-For`` only from ``forwarded_allow_ips``); every ``/api/`` path other than the
  public ones answers 401 without a session, before routing.
"""

from __future__ import annotations

import json
import logging
from typing import Any

from fastapi import HTTPException

from smoulder.web.security import SESSION_COOKIE, client_address, lookup_session

log = logging.getLogger("smoulder.web")
PUBLIC_API = {("GET", "/api/health"), ("HEAD", "/api/health"), ("POST", "/api/login")}
LOGIN_PATHS = {"/login", "/api/login"}
UPLOAD_PATHS = {"/import", "/api/imports"}
LOGIN_BODY_BYTES = 16 * 1024  # a user name and password of 1,024 characters, even \u-escaped
OTHER_BODY_BYTES = 64 * 1024
UPLOAD_OVERHEAD_BYTES = 64 * 1024

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
HSTS = (b"strict-transport-security", b"max-age=31536000; includeSubDomains")


def is_api(path: str) -> bool:
    return path == "/api" or path.startswith("/api/")


def _error_page(status: int, detail: str) -> bytes:
    from smoulder.web.deps import TEMPLATES

    return (
        TEMPLATES.env.get_template("error.html")
        .render(user=None, status=status, detail=detail)
        .encode()
    )


async def send_error(
    scope: dict, send: Any, status: int, detail: str, headers: list | None = None
) -> None:
    """Answer with ``{"detail": ...}`` under /api, an error page elsewhere."""
    if is_api(scope.get("path", "")):
        body = json.dumps({"detail": detail}).encode()
        ctype = b"application/json"
    else:
        body = _error_page(status, detail)
        ctype = b"text/html; charset=utf-8"
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", ctype),
                (b"content-length", str(len(body)).encode()),
                *(headers or []),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


class HeadersMiddleware:
    """Security headers (CSP without inline scripts, no framing, no sniffing, HSTS behind TLS),
    no-store caching outside /static, and a 500 without details for any unexpected exception."""

    def __init__(self, app: Any, hsts: bool = False) -> None:
        self.app = app
        self.extra = [*SECURITY_HEADERS, *([HSTS] if hsts else [])]
        self.names = frozenset(h for h, _ in self.extra)

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        static = scope.get("path", "").startswith("/static/")
        started = False

        async def send_with_headers(message: dict) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                headers = [
                    (k, v) for k, v in message.get("headers", []) if k.lower() not in self.names
                ]
                headers.extend(self.extra)
                if not static and not any(k.lower() == b"cache-control" for k, _ in headers):
                    headers.append((b"cache-control", b"no-store"))
                message = {**message, "headers": headers}
            await send(message)

        try:
            await self.app(scope, receive, send_with_headers)
        except Exception as exc:  # noqa: BLE001 - the last resort: never a traceback to a user
            route = scope.get("route")
            where = getattr(route, "path", None) or "(no route)"
            log.error("internal error %s in %s %s", type(exc).__name__, scope.get("method"), where)
            if not started:
                await send_error(
                    scope,
                    send_with_headers,
                    500,
                    "internal error; the request was not completed",
                )


class HostMiddleware:
    """400 for a ``Host`` header that is not one of the configured names (DNS rebinding, cache
    poisoning through forged host names)."""

    def __init__(self, app: Any, allowed: list[str]) -> None:
        self.app = app
        self.allowed = {h.lower() for h in allowed}

    def _ok(self, scope: dict) -> bool:
        if "*" in self.allowed:
            return True
        host = ""
        for k, v in scope.get("headers", []):
            if k == b"host":
                host = v.decode("latin-1").strip().lower()
                break
        if host.startswith("["):  # [::1]:8000
            name = host[1:].split("]", 1)[0]
        else:
            name = host.rsplit(":", 1)[0] if host.count(":") == 1 else host
        return name in self.allowed

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] == "http" and not self._ok(scope):
            await send_error(scope, send, 400, "host not allowed (see --allowed-hosts)")
            return
        await self.app(scope, receive, send)


class BodyTooLarge(HTTPException):
    """Raised while a body streams in past its route's limit (answered with 413)."""

    def __init__(self, limit: int) -> None:
        super().__init__(status_code=413, detail=f"request body too large: at most {_size(limit)}")


def _size(n: int) -> str:
    return f"{n // (1024 * 1024)} MiB" if n >= 1024 * 1024 else f"{n // 1024} KiB"


class BodyLimitMiddleware:
    """Refuse bodies over their route's limit, by ``Content-Length`` and while they stream."""

    def __init__(self, app: Any, max_upload_bytes: int) -> None:
        self.app = app
        self.upload = max_upload_bytes + UPLOAD_OVERHEAD_BYTES

    def limit(self, path: str) -> int:
        if path in LOGIN_PATHS:
            return LOGIN_BODY_BYTES
        if path in UPLOAD_PATHS:
            return self.upload
        return OTHER_BODY_BYTES

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.limit(scope.get("path", ""))
        for k, v in scope.get("headers", []):
            if k == b"content-length":
                text = v.decode("latin-1").strip()
                if not text.isdigit() or int(text) > limit:
                    await send_error(
                        scope, send, 413, f"request body too large: at most {_size(limit)}"
                    )
                    return
        received = 0
        started = False

        async def counted() -> dict:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise BodyTooLarge(limit)
            return message

        async def watch(message: dict) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, counted, watch)
        except BodyTooLarge as exc:
            if started:
                raise
            await send_error(scope, send, 413, str(exc.detail))


class AuthMiddleware:
    """Attach the session user and the client address to ``scope['state']``; 401 for /api
    without a session (except the public paths)."""

    def __init__(
        self, app: Any, store: Any, idle_minutes: float, trusted_proxies: list[str]
    ) -> None:
        self.app = app
        self.store = store
        self.idle_minutes = idle_minutes
        self.trusted = frozenset(trusted_proxies)

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        from starlette.concurrency import run_in_threadpool

        token = _cookie(scope, SESSION_COOKIE)
        user = (
            await run_in_threadpool(lookup_session, self.store, token, self.idle_minutes)
            if token
            else None
        )
        state = scope.setdefault("state", {})
        state["user"] = user
        state["client_address"] = client_address(scope, self.trusted)
        path = scope.get("path", "")
        if user is None and is_api(path) and (scope["method"], path) not in PUBLIC_API:
            await send_error(
                scope,
                send,
                401,
                "authentication required",
                [(b"www-authenticate", b'Cookie realm="smoulder"')],
            )
            return
        await self.app(scope, receive, send)


def _cookie(scope: dict, name: str) -> str | None:
    for k, v in scope.get("headers", []):
        if k == b"cookie":
            for part in v.decode("latin-1").split(";"):
                key, _, val = part.strip().partition("=")
                if key == name:
                    return val
    return None


__all__ = [
    "HeadersMiddleware",
    "HostMiddleware",
    "BodyLimitMiddleware",
    "BodyTooLarge",
    "AuthMiddleware",
    "SECURITY_HEADERS",
    "PUBLIC_API",
    "send_error",
    "is_api",
]
