"""Settings of the web app: one frozen, validated object, read once (arguments or ``SMOULDER_*``).

``smoulder serve`` builds it from its flags; worker processes started by ``--workers`` read the same
values from the environment (``SMOULDER_DATABASE_URL``, ``SMOULDER_ALLOWED_HOSTS`` as a JSON list,
...), so every worker runs with the same settings. Outside demo mode a database URL whose password is
a placeholder (``changeme``, ``password``, ``secret``, ...) is refused.
"""

from __future__ import annotations

from typing import Any

from pydantic import Field, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from smoulder.exceptions import SettingsError

PLACEHOLDER_SECRETS = frozenset(
    {
        "changeme",
        "change-me",
        "change_me",
        "password",
        "secret",
        "postgres",
        "admin",
        "example",
        "xxx",
        "todo",
        "placeholder",
        "pass",
        "pw",
        "...",
    }
)
LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "::1")


class WebSettings(BaseSettings):
    """How the app runs.

    Parameters
    ----------
    database_url : str
        SQLAlchemy URL: ``sqlite:///path.sqlite`` (embedded default) or ``postgresql+psycopg://...``.
    demo : bool
        The demo clinic (``smoulder serve --demo``): placeholder secrets are allowed.
    secure_cookies : bool
        Send the session cookie only over HTTPS and add ``Strict-Transport-Security`` (behind TLS).
    session_hours : float
        Longest life of a sign-in.
    idle_minutes : float
        A session not used for this long ends (besides ``session_hours``).
    max_upload_bytes : int
        Largest accepted upload; bodies are counted while they stream in (413 above it).
    login_attempts : int
        Failed sign-ins per user name and client address before the back-off starts.
    login_backoff_s, login_backoff_max_s : float
        First wait after ``login_attempts`` failures; it doubles with each further failure, up to
        the maximum. Another address is not slowed down (the user is never locked out).
    login_attempts_per_address : int
        Failed sign-ins from one address (any user name) before that address backs off.
    login_window_s : float
        Failures older than this (since the last one) are forgotten.
    login_concurrency : int
        Password checks running at once in one worker process (argon2 costs 64 MiB each).
    allowed_hosts : list of str
        Accepted ``Host`` header names (without port); ``*`` accepts any.
    forwarded_allow_ips : list of str
        Proxies whose ``X-Forwarded-For`` is believed (empty: the header is ignored).
    cache_entries : int
        Person views kept per worker (keyed on the data version stored in the database).

    Examples
    --------
    >>> WebSettings(database_url="sqlite://").allowed_hosts
    ['127.0.0.1', 'localhost', '::1']
    """

    model_config = SettingsConfigDict(
        env_prefix="SMOULDER_", frozen=True, extra="forbid", validate_default=True
    )

    database_url: str = "sqlite:///smoulder.sqlite"
    demo: bool = False
    secure_cookies: bool = False
    session_hours: float = Field(default=8.0, gt=0, le=720)
    idle_minutes: float = Field(default=30.0, gt=0, le=24 * 60)
    max_upload_bytes: int = Field(default=5 * 1024 * 1024, ge=1024, le=2**31)
    login_attempts: int = Field(default=5, ge=1, le=1000)
    login_backoff_s: float = Field(default=2.0, gt=0, le=3600)
    login_backoff_max_s: float = Field(default=900.0, gt=0, le=86400)
    login_attempts_per_address: int = Field(default=50, ge=1, le=100000)
    login_window_s: float = Field(default=900.0, gt=0, le=7 * 86400)
    login_concurrency: int = Field(default=2, ge=1, le=64)
    allowed_hosts: list[str] = Field(default_factory=lambda: list(LOOPBACK_HOSTS))
    forwarded_allow_ips: list[str] = Field(default_factory=list)
    cache_entries: int = Field(default=256, ge=0, le=100000)

    @field_validator("database_url")
    @classmethod
    def _url_form(cls, v: str) -> str:
        if not (v.startswith("sqlite") or v.startswith("postgresql")):
            raise ValueError(
                "must start with 'sqlite:///' or 'postgresql+psycopg://' "
                f"(got {v.split('://')[0][:20]!r}://...)"
            )
        return v

    @field_validator("allowed_hosts")
    @classmethod
    def _hosts(cls, v: list[str]) -> list[str]:
        out = [h.strip().lower().strip("[]") for h in v if h.strip()]
        if not out:
            raise ValueError("needs at least one host name (or '*')")
        return out

    @model_validator(mode="after")
    def _no_placeholder_secret(self) -> WebSettings:
        if not self.demo and self.database_url.startswith("postgresql"):
            from sqlalchemy.engine import make_url

            try:
                password = make_url(self.database_url).password
            except Exception as exc:  # noqa: BLE001 - any parse failure is the user's URL
                raise ValueError(
                    f"database_url is not a valid URL ({type(exc).__name__})"
                ) from None
            if password is not None and str(password).lower() in PLACEHOLDER_SECRETS:
                raise ValueError(
                    "the database password is a placeholder; set a real one (only --demo may "
                    "run with placeholder secrets)"
                )
        return self

    @classmethod
    def make(cls, **values: Any) -> WebSettings:
        """Build and validate; errors become a :class:`SettingsError` naming each setting."""
        try:
            return cls(**values)
        except ValidationError as exc:
            problems = "; ".join(
                f"{'.'.join(str(x) for x in e['loc']) or 'settings'}: {e['msg']}"
                for e in exc.errors()
            )
            raise SettingsError(f"web settings: {problems}") from None

    def to_environment(self) -> dict[str, str]:
        """The ``SMOULDER_*`` variables that rebuild these settings in a worker process."""
        import json

        out = {}
        for name, value in self.model_dump().items():
            text = json.dumps(value) if isinstance(value, list | bool) else str(value)
            out[f"SMOULDER_{name.upper()}"] = text
        return out
