"""Database connection and schema migrations run from code (no alembic.ini needed).

SQLite (a file, the embedded default) and PostgreSQL (``postgresql+psycopg://...``) are supported.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event, inspect
from sqlalchemy.orm import Session, sessionmaker

from smoulder.exceptions import SettingsError

MIGRATIONS = Path(__file__).parent / "migrations"


def default_url(path: str | Path = "smoulder.sqlite") -> str:
    """SQLAlchemy URL of an embedded SQLite database file."""
    return f"sqlite:///{Path(path).resolve()}"


def make_engine(url: str, **kwargs: Any) -> Engine:
    """Create an engine; SQLite gets foreign keys on, WAL journal and a busy timeout.

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
    kwargs.setdefault("pool_pre_ping", True)
    return create_engine(url, **kwargs)


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
            migrate(self.engine)
        self.sessionmaker = sessionmaker(self.engine, expire_on_commit=False)

    def session(self) -> Session:
        """A new ORM session (use as a context manager)."""
        return self.sessionmaker()

    def dispose(self) -> None:
        """Close every pooled connection."""
        self.engine.dispose()
