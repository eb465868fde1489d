"""User accounts: argon2 password hashing, roles, care links between clinicians and people."""

from __future__ import annotations

import threading
import time
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from smoulder.exceptions import SettingsError
from smoulder.store.models import ROLES, CareLink, Person, User

MIN_PASSWORD_LENGTH = 10
_hasher = None


def _ph():  # noqa: ANN202 - argon2 type is optional at import time
    global _hasher
    if _hasher is None:
        from argon2 import PasswordHasher

        _hasher = PasswordHasher()
    return _hasher


def hash_password(password: str) -> str:
    """Argon2id hash of a password (refuses passwords shorter than 10 characters)."""
    if not isinstance(password, str) or len(password) < MIN_PASSWORD_LENGTH:
        raise SettingsError(f"password must have at least {MIN_PASSWORD_LENGTH} characters")
    return _ph().hash(password)


def verify_password(stored_hash: str, password: str) -> bool:
    """True when ``password`` matches ``stored_hash`` (constant-time, never raises on mismatch)."""
    from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

    try:
        return bool(_ph().verify(stored_hash, password))
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


_DUMMY_HASH: str | None = None


def dummy_verify(password: str) -> None:
    """Spend the time of one verification (so unknown user names are not faster to reject)."""
    global _DUMMY_HASH
    if _DUMMY_HASH is None:
        _DUMMY_HASH = _ph().hash("not-a-real-password-0")
    verify_password(_DUMMY_HASH, password)


MAX_PASSWORD_LENGTH = 1024


class PasswordChecks:
    """Bound the argon2 work that unauthenticated requests can cause in one process.

    At most ``concurrency`` checks run at once (each argon2id verification takes about 64 MiB and
    tens of milliseconds); a request that finds no free slot within ``wait_s`` is told to try again.
    An unknown user name costs no argon2 work: it holds a slot for as long as a real verification
    typically takes (a running mean of the real ones), so it is neither faster to refuse nor a way
    to spend the server's memory.

    Parameters
    ----------
    concurrency : int
        Checks at once.
    wait_s : float
        How long a request waits for a slot.
    """

    def __init__(self, concurrency: int = 2, wait_s: float = 10.0) -> None:
        self._slots = threading.BoundedSemaphore(concurrency)
        self.wait_s = wait_s
        self._typical: float | None = None
        self._lock = threading.Lock()

    def typical_seconds(self) -> float:
        """Typical time of one real verification (measured once, then a running mean)."""
        if self._typical is None:
            global _DUMMY_HASH
            if _DUMMY_HASH is None:
                _DUMMY_HASH = _ph().hash("not-a-real-password-0")
            t0 = time.perf_counter()
            try:
                _ph().verify(_DUMMY_HASH, "calibration")
            except Exception:  # noqa: BLE001 - a mismatch is the expected outcome
                pass
            with self._lock:
                if self._typical is None:
                    self._typical = time.perf_counter() - t0
        return float(self._typical)

    def _observe(self, seconds: float) -> None:
        with self._lock:
            self._typical = (
                seconds if self._typical is None else 0.8 * self._typical + 0.2 * seconds
            )

    def check(self, stored_hash: str | None, password: str) -> bool | None:
        """True or False for the password; None when no slot was free in time (busy).

        ``stored_hash`` None means the user name is unknown: False after the typical time.
        """
        password = (password or "")[:MAX_PASSWORD_LENGTH]
        if stored_hash is None:
            delay = self.typical_seconds()
        if not self._slots.acquire(timeout=self.wait_s):
            return None
        try:
            if stored_hash is None:
                time.sleep(delay)
                return False
            t0 = time.perf_counter()
            ok = verify_password(stored_hash, password)
            self._observe(time.perf_counter() - t0)
            return ok
        finally:
            self._slots.release()


def create_user(
    session: Session,
    username: str,
    password: str,
    role: str,
    *,
    display_name: str = "",
    person: Person | None = None,
) -> User:
    """Add a user (the caller commits).

    Raises
    ------
    SettingsError
        Unknown role, duplicate user name, short password, or a patient account without a person.
    """
    if role not in ROLES:
        raise SettingsError(f"role must be one of {', '.join(ROLES)}; got {role!r}")
    username = username.strip()
    if not username or len(username) > 80 or any(c.isspace() for c in username):
        raise SettingsError("user name must have 1-80 characters without spaces")
    if session.scalar(select(User.id).where(User.username == username)) is not None:
        raise SettingsError(f"user name {username!r} is taken")
    if role == "patient" and person is None:
        raise SettingsError("a patient account must belong to a person")
    user = User(
        username=username,
        password_hash=hash_password(password),
        role=role,
        display_name=display_name or username,
        person_id=person.id if person is not None else None,
    )
    session.add(user)
    session.flush()
    return user


def add_account(
    store: Any,
    username: str,
    password: str,
    role: str,
    *,
    person: str | None = None,
    patients: tuple[str, ...] | list[str] = (),
    display_name: str = "",
) -> None:
    """Add an account with its person (patients) or patient list (clinicians), by clinic ids.

    Raises
    ------
    SettingsError
        As :func:`create_user`, or a clinic id that is not in the store (nothing is written).
    """

    def find(s: Session, subject: str) -> Person:
        p = s.scalar(select(Person).where(Person.subject == subject))
        if p is None:
            raise SettingsError(f"no person with clinic id {subject!r}; import them first")
        return p

    with store.session() as s:
        try:
            user = create_user(
                s,
                username,
                password,
                role,
                display_name=display_name,
                person=find(s, person) if person else None,
            )
            for subj in patients:
                assign(s, user, find(s, subj))
            s.commit()
        except BaseException:
            s.rollback()
            raise


def assign(session: Session, clinician: User, person: Person) -> None:
    """Put a person on a clinician's list."""
    if clinician.role != "clinician":
        raise SettingsError("only clinicians have patient lists")
    if session.get(CareLink, (clinician.id, person.id)) is None:
        session.add(CareLink(user_id=clinician.id, person_id=person.id))
        session.flush()


__all__ = [
    "hash_password",
    "verify_password",
    "dummy_verify",
    "PasswordChecks",
    "create_user",
    "add_account",
    "assign",
    "MIN_PASSWORD_LENGTH",
]
