"""Sessions, CSRF, login rate limiting and the per-request user.

* A session cookie holds a random token; the database keeps only its SHA-256 (a stolen database
  does not give working cookies). Cookies are HttpOnly, SameSite=Strict, and Secure when the
  settings say so (always behind HTTPS in production).
* Every form carries the session's CSRF token; JSON API writes send it in ``X-CSRF-Token``. The
  login form uses a double-submit token (cookie + field) because there is no session yet.
* Sessions end after ``session_hours``, after ``idle_minutes`` without use, and when the user
  signs in again (one session per user).
* Failed logins back off exponentially per user name and client address, and per address, with
  the counters in the database (:class:`LoginLimiter`), so every worker process shares them.
* The middlewares (:mod:`smoulder.web.middleware`) resolve the user once per request; every
  ``/api/`` path other than ``/api/health`` and ``POST /api/login`` answers 401 without a valid
  session, before routing.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import secrets
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import bindparam, delete, select, update
from sqlalchemy.exc import IntegrityError

from smoulder.store.fastread import DriverStatement, as_datetime
from smoulder.store.models import LoginThrottle, User, WebSession, utcnow

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
    _user: User | None = field(default=None, init=False, repr=False, compare=False)

    def as_user(self) -> User:
        """The user as a transient ``User`` (no password hash), made once per request: the
        page's steps each ask for it, and an ORM object costs tens of microseconds to make.
        Read it; do not change it."""
        if self._user is None:
            self._user = User(
                id=self.id,
                username=self.username,
                role=self.role,
                display_name=self.display_name,
                person_id=self.person_id,
                password_hash="",
            )
        return self._user


def create_session(db: Any, user: User, hours: float) -> tuple[str, str]:
    """Start a session and end the user's older ones: return (cookie token, CSRF token).

    One session per user: signing in again (another browser, another device) signs the older
    session out, so a forgotten session on a shared computer ends at the next sign-in. The caller
    commits.
    """
    token = secrets.token_urlsafe(32)
    csrf = secrets.token_urlsafe(32)
    now = utcnow()
    db.execute(delete(WebSession).where(WebSession.user_id == user.id))
    db.add(
        WebSession(
            token_hash=token_hash(token),
            user_id=user.id,
            csrf_token=csrf,
            created_at=now,
            last_seen_at=now,
            expires_at=now + dt.timedelta(hours=hours),
        )
    )
    # housekeeping: forget expired sessions
    db.execute(delete(WebSession).where(WebSession.expires_at < now))
    return token, csrf


_SESSION_QUERY = (
    select(
        User.id,
        User.username,
        User.role,
        User.display_name,
        User.person_id,
        WebSession.csrf_token,
        WebSession.expires_at,
        WebSession.last_seen_at,
        WebSession.created_at,
    )
    .join(WebSession, WebSession.user_id == User.id)
    .where(WebSession.token_hash == bindparam("h"))
)
# every request runs it: on the driver's own cursor (smoulder.store.fastread), not through Core
_SESSION_FAST = DriverStatement(_SESSION_QUERY)


def lookup_session(store: Any, token: str | None, idle_minutes: float = 30.0) -> CurrentUser | None:
    """The user of a session token, or None when missing, unknown, expired or idle too long.

    Use refreshes the session's last-seen time (at most once a minute, or a quarter of the idle
    timeout when that is shorter), so the idle timeout holds across worker processes.
    """
    if not token or len(token) > 100:
        return None
    h = token_hash(token)
    now = utcnow()
    idle = dt.timedelta(minutes=idle_minutes)
    # a plain connection, not an ORM session: this runs on every request
    with store.engine.connect() as conn:
        rows = _SESSION_FAST.rows(conn, {"h": h})
        if not rows:
            return None
        row = rows[0]
        expires = as_datetime(row[6])
        last = as_datetime(row[7]) or as_datetime(row[8])
        if expires is None or last is None or expires < now or last + idle < now:
            conn.execute(delete(WebSession).where(WebSession.token_hash == h))
            conn.commit()
            return None
        if now - last > min(dt.timedelta(seconds=60), idle / 4):
            conn.execute(
                update(WebSession).where(WebSession.token_hash == h).values(last_seen_at=now)
            )
            conn.commit()
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


def client_address(scope: dict, trusted: frozenset[str] | set[str] = frozenset()) -> str:
    """The client's address: the peer, or, when the peer is a trusted proxy, the right-most
    address in ``X-Forwarded-For`` that is not itself a trusted proxy (``--forwarded-allow-ips``)."""
    peer = (scope.get("client") or ("unknown", 0))[0] or "unknown"
    if not trusted or (peer not in trusted and "*" not in trusted):
        return str(peer)
    forwarded = ""
    for k, v in scope.get("headers", []):
        if k == b"x-forwarded-for":
            forwarded = (forwarded + "," if forwarded else "") + v.decode("latin-1")
    hops = [h.strip() for h in forwarded.split(",") if h.strip()][-20:]
    for hop in reversed(hops):
        if hop not in trusted and "*" not in trusted:
            return hop[:64]
    return hops[0][:64] if hops else str(peer)


class LoginLimiter:
    """Failed sign-ins with exponential back-off, kept in the database for every worker.

    Two counters per attempt: one for the user name *with* the client address (after
    ``attempts`` failures the next attempt must wait ``backoff_s``, doubling with every further
    failure up to ``backoff_max_s``), and one for the address alone (``per_address`` failures of
    any user names). The right password from another address is never slowed down, so nobody can
    lock a user out. An attempt is *reserved* (counted) before the password is checked, by a
    compare-and-swap on the row's version: concurrent requests, in one process or many, cannot
    check more passwords than the limit allows. A successful sign-in clears its user-and-address
    counter and gives its reservation back to the address.
    """

    def __init__(
        self,
        store: Any,
        attempts: int = 5,
        per_address: int = 50,
        window_s: float = 900.0,
        backoff_s: float = 2.0,
        backoff_max_s: float = 900.0,
    ) -> None:
        self.store = store
        self.attempts = attempts
        self.per_address = per_address
        self.window = dt.timedelta(seconds=window_s)
        self.backoff_s = backoff_s
        self.backoff_max_s = backoff_max_s
        self.clock = utcnow  # replaceable in tests (naive UTC datetimes)

    @staticmethod
    def _keys(username: str, address: str) -> tuple[str, str]:
        ua = hashlib.sha256(f"{username.lower()}\0{address}".encode()).hexdigest()
        a = hashlib.sha256(address.encode()).hexdigest()
        return "ua:" + ua, "a:" + a

    def _block(self, failures: int, limit: int, now: dt.datetime) -> dt.datetime | None:
        if failures < limit:
            return None
        wait = min(self.backoff_max_s, self.backoff_s * 2.0 ** min(failures - limit, 40))
        return now + dt.timedelta(seconds=wait)

    def _reserve(self, key: str, limit: int) -> float:
        for _ in range(50):
            now = self.clock()
            with self.store.session() as db:
                row = db.execute(
                    select(
                        LoginThrottle.failures,
                        LoginThrottle.last_failure_at,
                        LoginThrottle.blocked_until,
                        LoginThrottle.version,
                    ).where(LoginThrottle.key == key)
                ).first()
                if row is None:
                    try:
                        db.add(
                            LoginThrottle(
                                key=key,
                                failures=1,
                                last_failure_at=now,
                                blocked_until=self._block(1, limit, now),
                                version=1,
                            )
                        )
                        db.commit()
                        return 0.0
                    except IntegrityError:  # another request made the row first: try again
                        db.rollback()
                        continue
                failures, last, blocked, version = row
                if blocked is not None and blocked > now:
                    return max((blocked - now).total_seconds(), 0.001)
                failures = (failures if now - last < self.window else 0) + 1
                done = db.execute(
                    update(LoginThrottle)
                    .where(LoginThrottle.key == key, LoginThrottle.version == version)
                    .values(
                        failures=failures,
                        last_failure_at=now,
                        blocked_until=self._block(failures, limit, now),
                        version=version + 1,
                    )
                ).rowcount
                db.commit()
                if done == 1:
                    return 0.0
        return self.backoff_s  # heavy contention on one key: treat as a wait

    def reserve(self, username: str, address: str) -> float:
        """Count an attempt before checking its password; seconds to wait (0: go ahead)."""
        ua, a = self._keys(username, address)
        wait = self._reserve(ua, self.attempts)
        if wait > 0:
            return wait
        return self._reserve(a, self.per_address)

    def succeeded(self, username: str, address: str) -> None:
        """Clear the user-and-address counter; give the reservation back to the address."""
        ua, a = self._keys(username, address)
        with self.store.session() as db:
            db.execute(delete(LoginThrottle).where(LoginThrottle.key == ua))
            db.execute(
                update(LoginThrottle)
                .where(LoginThrottle.key == a, LoginThrottle.failures > 0)
                .values(failures=LoginThrottle.failures - 1, version=LoginThrottle.version + 1)
            )
            db.commit()


__all__ = [
    "SESSION_COOKIE",
    "LOGIN_CSRF_COOKIE",
    "CurrentUser",
    "create_session",
    "lookup_session",
    "end_session",
    "csrf_ok",
    "client_address",
    "LoginLimiter",
    "token_hash",
]
