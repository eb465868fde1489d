"""The person page's two reads on every view, run on the database driver's own cursor.

SQLAlchemy's Core costs ~80 microseconds per statement before the database sees it (cache key,
parameter processing, result metadata); SQLite answers these two indexed reads in under 10. The
statements are still SQLAlchemy's (built once in :mod:`smoulder.store.repo`, compiled once per
dialect here), so the SQL, its quoting and its parameters are the same as through Core, on SQLite
and on PostgreSQL alike.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from threading import Lock
from typing import Any

from sqlalchemy import Connection
from sqlalchemy.sql.elements import ClauseElement


class DriverStatement:
    """A Core statement compiled once per dialect and run on the driver's cursor."""

    def __init__(self, stmt: ClauseElement) -> None:
        self.stmt = stmt
        self._compiled: dict[str, Any] = {}
        self._lock = Lock()

    def _for(self, conn: Connection) -> Any:
        name = conn.dialect.name
        comp = self._compiled.get(name)
        if comp is None:
            with self._lock:
                comp = self.stmt.compile(dialect=conn.dialect)
                self._compiled[name] = comp
        return comp

    def rows(self, conn: Connection, params: dict[str, Any]) -> list[tuple]:
        """All result rows as plain tuples, as the driver returns them (dates and times as the
        driver gives them: use :func:`as_datetime`)."""
        comp = self._for(conn)
        values = comp.construct_params(params)
        args: Any = tuple(values[k] for k in comp.positiontup) if comp.positional else values
        cursor = conn.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
        try:
            cursor.execute(comp.string, args)
            return list(cursor.fetchall())
        finally:
            cursor.close()

    def executemany(self, conn: Connection, rows: list[dict[str, Any]]) -> None:
        """Run the (insert) statement once per row of ``rows`` in one driver ``executemany``,
        each value through its column type's bind processing (SQLite's text dates) as Core
        does. It opens the connection's transaction when none is open (the driver's cursor is
        invisible to SQLAlchemy: without it ``conn.commit()`` would commit nothing and the rows
        would be rolled back when the connection goes back to the pool); the caller commits."""
        if not conn.in_transaction():
            conn.begin()
        comp = self._for(conn)
        procs = comp._bind_processors
        names = list(comp.positiontup) if comp.positional else list(comp.bind_names.values())

        def value(row: dict[str, Any], k: str) -> Any:
            v = row[k]
            f = procs.get(k)
            return f(v) if f is not None and v is not None else v

        if comp.positional:
            args: list[Any] = [tuple(value(r, k) for k in names) for r in rows]
        else:
            args = [{k: value(r, k) for k in names} for r in rows]
        cursor = conn.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
        try:
            cursor.executemany(comp.string, args)
        finally:
            cursor.close()


@dataclass(frozen=True, slots=True)
class PersonRow:
    """A person's own columns as read for a view: the attributes of ``models.Person`` without
    the ORM (making an ORM object costs ~100 microseconds, the read itself ~10). Read-only."""

    id: int
    subject: str
    pseudonym: str
    name: str
    sex: str | None
    birth_year: int | None
    disease_course: str | None
    onset_year: int | None
    data_version: int
    created_at: dt.datetime | None


def as_datetime(value: Any) -> dt.datetime | None:
    """A ``DateTime`` column's value from the driver: a ``datetime`` (PostgreSQL) or SQLite's
    text (``2024-03-03 14:05:00.123456``, as SQLAlchemy stores it)."""
    if value is None or isinstance(value, dt.datetime):
        return value
    return dt.datetime.fromisoformat(str(value))


__all__ = ["DriverStatement", "PersonRow", "as_datetime"]
