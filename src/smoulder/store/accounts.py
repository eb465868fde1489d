"""User accounts: argon2 password hashing, roles, care links between clinicians and people."""

from __future__ import annotations

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
    "create_user",
    "assign",
    "MIN_PASSWORD_LENGTH",
]
