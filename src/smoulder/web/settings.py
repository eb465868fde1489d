"""Settings of the web app (one object, validated, no placeholder secrets needed)."""

from __future__ import annotations

from dataclasses import dataclass

from smoulder.exceptions import SettingsError


@dataclass
class WebSettings:
    """How the app runs.

    Parameters
    ----------
    database_url : str
        SQLAlchemy URL: ``sqlite:///path.sqlite`` (embedded default) or ``postgresql+psycopg://...``.
    secure_cookies : bool
        Send the session cookie only over HTTPS (turn on behind TLS; off for plain loopback use).
    session_hours : float
        Lifetime of a sign-in.
    max_upload_bytes : int
        Largest accepted upload (files above it are refused with 413, nothing written).
    login_attempts, login_window_s : int, float
        At most this many failed logins per user name within the window.
    """

    database_url: str = "sqlite:///smoulder.sqlite"
    secure_cookies: bool = False
    session_hours: float = 8.0
    max_upload_bytes: int = 5 * 1024 * 1024
    login_attempts: int = 5
    login_window_s: float = 300.0
    login_attempts_per_address: int = 20
    cache_entries: int = 256

    def __post_init__(self) -> None:
        if self.session_hours <= 0 or self.session_hours > 24 * 30:
            raise SettingsError(f"session_hours must be in (0, 720]; got {self.session_hours}")
        if self.max_upload_bytes < 1024:
            raise SettingsError(
                f"max_upload_bytes must be at least 1024; got {self.max_upload_bytes}"
            )
        if self.login_attempts < 1 or self.login_window_s <= 0:
            raise SettingsError("login_attempts must be >= 1 and login_window_s > 0")
