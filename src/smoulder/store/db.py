"""Database connection and schema migrations run from code (no alembic.ini needed).

SQLite (a file, the embedded default) and PostgreSQL (``postgresql+psycopg://...``) are supported.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event, inspect
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session, sessionmaker

from smoulder.exceptions import SettingsError

MIGRATIONS = Path(__file__).parent / "migrations"


def default_url(path: str | Path = "smoulder.sqlite") -> str:
    """SQLAlchemy URL of an embedded SQLite database file."""
    return f"sqlite:///{Path(path).resolve()}"


def database_url(text: str) -> str:
    """A ``--database`` value as a URL: URLs pass through, a plain file path is a SQLite file."""
    text = str(text).strip()
    if "://" in text:
        return text
    return default_url(text)


SQLITE_MAGIC = b"SQLite format 3\x00"


def sqlite_path(url: str) -> Path | None:
    """The file of a SQLite URL (None for in-memory databases and other back-ends)."""
    if not url.startswith("sqlite"):
        return None
    rest = url.split("://", 1)[1] if "://" in url else ""
    rest = rest[1:] if rest.startswith("/") else rest
    rest = rest.split("?", 1)[0]
    if rest in ("", ":memory:"):
        return None
    return Path(rest)


def check_database(url: str, *, must_exist: bool) -> bool:
    """Check a SQLite database file before opening it; return True when it is new.

    Raises
    ------
    SettingsError
        The URL is of another kind, the path is a folder, its folder does not exist, the file is
        missing (``must_exist``) or is not a SQLite database.
    """
    if not (url.startswith("sqlite") or url.startswith("postgresql")):
        raise SettingsError(
            "database URL must start with 'sqlite:///' or 'postgresql+psycopg://' (or be the path "
            f"of a SQLite file); got {url.split('://')[0][:20]!r}://..."
        )
    path = sqlite_path(url)
    if path is None:
        return False
    full = path.resolve()
    if full.is_dir():
        raise SettingsError(
            f"--database {full} is a folder; give a SQLite file such as {full / 'clinic.sqlite'}"
        )
    if not full.exists():
        if must_exist:
            raise SettingsError(
                f"no database at {full}; make one with 'smoulder store-import ... --database "
                f"{full}' or 'smoulder user add ... --database {full}' (or try 'smoulder serve --demo')"
            )
        if not full.parent.is_dir():
            raise SettingsError(f"the folder {full.parent} of --database {full} does not exist")
        return True
    with open(full, "rb") as fh:
        head = fh.read(16)
    if head and head != SQLITE_MAGIC:
        raise SettingsError(
            f"--database {full} is not a SQLite database (a file of another kind); nothing was changed"
        )
    return not head


def make_engine(url: str, **kwargs: Any) -> Engine:
    """Create an engine; SQLite gets foreign keys on, WAL journal and a busy timeout; PostgreSQL
    connections that sat idle in the pool are checked before use (:data:`IDLE_PING_S`).

    Raises
    ------
    SettingsError
        If the URL is neither SQLite nor PostgreSQL.
    """
    if not isinstance(url, str) or not (url.startswith("sqlite") or url.startswith("postgresql")):
        raise SettingsError(
            f"database URL must start with 'sqlite:///' or 'postgresql+psycopg://'; got {str(url)[:40]!r}"
        )
    if url.startswith("sqlite"):
        kwargs.setdefault("connect_args", {"check_same_thread": False, "timeout": 30})
        engine = create_engine(url, **kwargs)

        @event.listens_for(engine, "connect")
        def _pragmas(dbapi_conn: Any, _record: Any) -> None:  # pragma: no cover - trivial
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA foreign_keys=ON")
            if ":memory:" not in url and url != "sqlite://":
                cur.execute("PRAGMA journal_mode=WAL")
                cur.execute("PRAGMA synchronous=NORMAL")
            cur.close()

        return engine
    engine = create_engine(url, **kwargs)
    if not kwargs.get("pool_pre_ping"):
        _ping_when_idle(engine)
    return engine


#: a pooled PostgreSQL connection unused for longer than this is checked before it is handed out
IDLE_PING_S = 10.0


def _ping_when_idle(engine: Engine) -> None:
    """Check a pooled connection that sat unused for more than :data:`IDLE_PING_S` before handing
    it out (a restarted server or a dropped link then costs a reconnect, not a failed request).

    SQLAlchemy's ``pool_pre_ping`` pings on *every* checkout: one more round trip for each of
    the three or four connections a page takes, which a busy clinic pays on every view. A
    connection that was in use a moment ago is as good as a ping.
    """
    import time

    from sqlalchemy.exc import DisconnectionError

    @event.listens_for(engine, "checkin")
    def _in(_dbapi_conn: Any, record: Any) -> None:  # pragma: no cover - trivial
        record.info["idle_since"] = time.monotonic()

    @event.listens_for(engine, "checkout")
    def _out(dbapi_conn: Any, record: Any, _proxy: Any) -> None:
        since = record.info.get("idle_since")
        if since is None or time.monotonic() - since <= IDLE_PING_S:
            return
        try:
            cur = dbapi_conn.cursor()
            try:
                cur.execute("SELECT 1")
            finally:
                cur.close()
            dbapi_conn.rollback()
        except Exception as exc:  # noqa: BLE001 - any failure means: a new connection
            raise DisconnectionError("pooled connection is gone") from exc


def _alembic_config(connection: Any) -> Any:
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.attributes["connection"] = connection
    return cfg


def migrate(engine: Engine, revision: str = "head") -> None:
    """Bring the schema up to ``revision`` (default: the newest) with the bundled Alembic scripts."""
    from alembic import command

    with engine.begin() as conn:
        command.upgrade(_alembic_config(conn), revision)


def downgrade(engine: Engine, revision: str = "base") -> None:
    """Undo migrations down to ``revision`` (default: an empty database)."""
    from alembic import command

    with engine.begin() as conn:
        command.downgrade(_alembic_config(conn), revision)


def current_revision(engine: Engine) -> str | None:
    """The schema revision recorded in the database, or None for an unmigrated database."""
    from alembic.runtime.migration import MigrationContext

    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def table_names(engine: Engine) -> list[str]:
    """Names of the tables in the database (for checks and tests)."""
    return sorted(inspect(engine).get_table_names())


def _safe_url(url: str) -> str:
    from sqlalchemy.engine import make_url

    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:  # noqa: BLE001
        return url.split("://", 1)[0] + "://..."


class Store:
    """An engine, a session factory and the migrated schema.

    Parameters
    ----------
    url : str
        SQLAlchemy URL (``sqlite:///path.sqlite`` or ``postgresql+psycopg://user:pw@host/db``).
    migrate_schema : bool
        Run the migrations on open (default True).

    Examples
    --------
    >>> store = Store("sqlite://")
    >>> with store.session() as s:
    ...     pass
    """

    def __init__(
        self, url: str, *, migrate_schema: bool = True, engine: Engine | None = None
    ) -> None:
        self.url = url
        if engine is None and url in ("sqlite://", "sqlite:///:memory:"):
            from sqlalchemy.pool import StaticPool

            engine = make_engine(url, poolclass=StaticPool)
        self.engine = engine if engine is not None else make_engine(url)
        if migrate_schema:
            try:
                migrate(self.engine)
            except DBAPIError as exc:
                self.engine.dispose()
                first = str(getattr(exc, "orig", exc)).strip().splitlines()[0][:200]
                where = sqlite_path(url) or _safe_url(url)
                raise SettingsError(f"cannot open the database {where}: {first}") from None
        self.sessionmaker = sessionmaker(self.engine, expire_on_commit=False)

    def session(self) -> Session:
        """A new ORM session (use as a context manager)."""
        return self.sessionmaker()

    def dispose(self) -> None:
        """Close every pooled connection."""
        self.engine.dispose()
