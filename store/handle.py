"""The one store handle: where the store is, which engine it is, and how to open it.

Every process, page, route and command gets its store connections from a :class:`Store`, made from the
settings (``settings.store.handle``): nothing outside ``store/`` and ``config/`` reads a path or URL of the
store (``tests/unit/test_store_handle.py`` enforces it). A location is a SQLite path or a ``postgresql://``
URL; connection options (TLS: ``sslmode``, ``sslrootcert``) travel with it.
"""
from __future__ import annotations

import sqlite3
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator, Mapping, Union

from store import db, postgres
from store.postgres import PgConnection

# The store's connection type: a sqlite3 connection, or the sqlite3-shaped PostgreSQL one.
Connection = Union[sqlite3.Connection, PgConnection]

SQLITE = "sqlite"
POSTGRESQL = postgres.DIALECT


class StoreUnreachable(ConnectionError):
    """The store cannot be reached now (PostgreSQL down, network): say so, try again later."""


@dataclass(frozen=True)
class Store:
    """A store location and how to open it. Cheap to make; holds no connection itself."""

    location: str
    options: Mapping[str, str] = field(default_factory=dict)  # libpq options (PostgreSQL only): sslmode, sslrootcert

    @classmethod
    def of(cls, where: "Store | str | Path") -> "Store":
        """A handle for ``where`` (a handle is returned as is): for tools and tests that name a location."""
        return where if isinstance(where, Store) else cls(str(where))

    @property
    def dialect(self) -> str:
        return POSTGRESQL if postgres.is_url(self.location) else SQLITE

    @property
    def is_postgres(self) -> bool:
        return self.dialect == POSTGRESQL

    @property
    def display(self) -> str:
        """The location as it may be shown or logged (no password)."""
        return postgres.redact(self.location) if self.is_postgres else self.location

    @property
    def key(self) -> str:
        """A stable identity of the store and its options (a cache key; holds no password)."""
        where = self.display if self.is_postgres else str(Path(self.location).resolve())
        return repr((where, sorted(self.options.items())))

    def __str__(self) -> str:
        return self.display

    def __repr__(self) -> str:
        return f"Store({self.display!r})"

    def _conninfo(self) -> str:
        return postgres.with_options(self.location, self.options) if self.options else self.location

    # --- connections -------------------------------------------------------------------------------
    def writer(self) -> Connection:
        """A writer connection (creates the SQLite file and its directory; does not migrate)."""
        try:
            return db.connect_writer(self._conninfo()) if self.is_postgres else db.connect_writer(self.location)
        except postgres.psycopg.OperationalError as exc:
            raise StoreUnreachable(str(exc)) from None

    def reader(self) -> Connection:
        """A read-only connection; the store must exist (FileNotFoundError for a missing SQLite file)."""
        try:
            return db.connect_reader(self._conninfo()) if self.is_postgres else db.connect_reader(self.location)
        except postgres.psycopg.OperationalError as exc:
            raise StoreUnreachable(str(exc)) from None

    @contextmanager
    def writing(self) -> Iterator[Connection]:
        """A writer connection for a ``with`` block, closed at its end."""
        conn = self.writer()
        try:
            yield conn
        finally:
            conn.close()

    @contextmanager
    def reading(self) -> Iterator[Connection]:
        """A read-only connection for a ``with`` block, closed at its end."""
        conn = self.reader()
        try:
            yield conn
        finally:
            conn.close()

    def reader_pool(self, max_size: int = 4) -> "postgres.ReaderPool | None":
        """Pooled read-only connections (PostgreSQL); None for SQLite, whose readers are cheap."""
        return postgres.ReaderPool(self._conninfo(), max_size=max_size, shown=self.display) if self.is_postgres else None

    # --- existence and schema ----------------------------------------------------------------------
    def exists(self) -> bool:
        """Has the store been created? SQLite: the file is there (asking never creates it). PostgreSQL:
        the database answers and holds the schema (StoreUnreachable when it does not answer)."""
        if not self.is_postgres:
            return Path(self.location).is_file()
        with self.reading() as conn:
            return bool(db.applied_migrations(conn))

    def require_migrated(self, conn: Connection) -> None:
        """Raise :class:`store.db.NotMigrated` (saying how to migrate) when the store is behind this code."""
        db.require_migrated(conn, self.display)

    def migrate(self) -> list[int]:
        """Create the store if needed and apply pending migrations; returns the versions applied."""
        with self.writing() as conn:
            return db.migrate(conn)

    def open_migrated(self) -> Connection:
        """A writer connection to the store brought up to date."""
        conn = self.writer()
        try:
            db.migrate(conn)
        except BaseException:
            conn.close()
            raise
        return conn

    def size_bytes(self, conn: Connection) -> dict[str, int]:
        """What the store takes on disk: ``{"store": bytes}`` (+ ``"wal"`` for SQLite)."""
        if self.is_postgres:
            return {"store": postgres.database_size(conn)}
        path = Path(self.location)
        wal = path.with_name(path.name + "-wal")
        return {"store": path.stat().st_size if path.exists() else 0, "wal": wal.stat().st_size if wal.exists() else 0}


def unreachable_errors() -> tuple[type[BaseException], ...]:
    """Exceptions that mean "the store does not answer now" (a query on a connection the server dropped)."""
    return (StoreUnreachable, postgres.psycopg.OperationalError, postgres.psycopg.InterfaceError)
