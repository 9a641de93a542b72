"""Store connections: writer connections (SQLite: WAL, ``BEGIN IMMEDIATE`` serialises their transactions;
PostgreSQL: an advisory lock does, see store.postgres), read-only readers, and the numbered migrations
that only the collector service applies (one directory per dialect).

A store *location* is a SQLite path or a ``postgresql://`` URL; every function here takes either, or a
:class:`store.handle.Store` (the handle settings give: ``settings.store.handle``), which is what callers
outside the store should hold.
"""
from __future__ import annotations

import re
import sqlite3
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Iterator

from core.clock import now_ms
from store import postgres

if TYPE_CHECKING:
    from store.handle import Connection, Store

MIGRATIONS_DIR = Path(__file__).with_name("migrations")
PG_MIGRATIONS_DIR = Path(__file__).with_name("migrations_postgres")
_MIGRATION_NAME = re.compile(r"^(\d{4})_([a-z0-9_]+)\.sql$")

BUSY_TIMEOUT_MS = 15_000
# Pages in the WAL before an automatic checkpoint: fewer, larger checkpoints ingest faster (measured
# +33-66 % at 10,000 vs the default 1,000); the collector also runs checkpoint() periodically.
WAL_AUTOCHECKPOINT_PAGES = 10_000
CACHE_KIB = 65_536


class MigrationError(RuntimeError):
    """A migration file is misnamed, duplicated, or failed to apply."""


class NotMigrated(RuntimeError):
    """The store lacks migrations this code needs; the message says how to apply them."""


def is_postgres(conn_or_location: object) -> bool:
    """True for a PostgreSQL connection or a ``postgresql://`` location."""
    return getattr(conn_or_location, "dialect", None) == postgres.DIALECT or postgres.is_url(conn_or_location)


def connect_writer(path: "str | Path | Store") -> "Connection":
    """Open a writer connection: creates parent dirs and the file, WAL, synchronous=NORMAL.

    It does not migrate: the collector service does that once at start (:func:`migrate`). The
    connection is in autocommit mode; group writes with :func:`transaction`.
    """
    if hasattr(path, "writer"):  # a store handle
        return path.writer()
    if postgres.is_url(path):
        return postgres.connect(path)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    conn = sqlite3.connect(path, isolation_level=None, timeout=BUSY_TIMEOUT_MS / 1000,
                           check_same_thread=False)
    conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("PRAGMA synchronous = NORMAL")
    conn.execute(f"PRAGMA wal_autocheckpoint = {WAL_AUTOCHECKPOINT_PAGES}")
    conn.execute(f"PRAGMA cache_size = -{CACHE_KIB}")
    conn.execute("PRAGMA temp_store = MEMORY")
    return conn


def open_migrated(path: "str | Path | Store") -> "Connection":
    """A writer connection to a store brought up to date (for the service and for tools/tests)."""
    conn = connect_writer(path)
    try:
        migrate(conn)
    except BaseException:
        conn.close()
        raise
    return conn


def connect_reader(path: "str | Path | Store") -> "Connection":
    """Open a read-only connection (``mode=ro``); the store must already exist."""
    if hasattr(path, "reader"):  # a store handle
        return path.reader()
    if postgres.is_url(path):
        return postgres.connect(path, read_only=True)
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"store not found at {path} (the collector service creates it)")
    conn = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True, isolation_level=None,
                           timeout=BUSY_TIMEOUT_MS / 1000, check_same_thread=False)
    conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
    conn.execute(f"PRAGMA cache_size = -{CACHE_KIB}")
    return conn


@contextmanager
def transaction(conn: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
    """``BEGIN IMMEDIATE`` … ``COMMIT``, or ``ROLLBACK`` on any exception.

    Inside an already open transaction it joins it (the outer block commits or rolls back).
    """
    if conn.in_transaction:
        yield conn
        return
    if is_postgres(conn):
        postgres.begin_write(conn)
    else:
        conn.execute("BEGIN IMMEDIATE")
    try:
        yield conn
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")


@contextmanager
def savepoint(conn: sqlite3.Connection, name: str = "part") -> Iterator[sqlite3.Connection]:
    """A part of an open transaction that an exception undoes alone (``SAVEPOINT`` … ``RELEASE``, or
    ``ROLLBACK TO`` on any exception, which is re-raised); the transaction goes on either way. The same SQL
    on SQLite and PostgreSQL (where a failed statement otherwise aborts the whole transaction)."""
    if not name.isidentifier():
        raise ValueError(f"savepoint: not an SQL name: {name!r}")
    if not conn.in_transaction:
        raise RuntimeError("savepoint: open a transaction first (store.db.transaction)")
    conn.execute(f"SAVEPOINT {name}")
    try:
        yield conn
    except BaseException:
        if conn.in_transaction:
            conn.execute(f"ROLLBACK TO SAVEPOINT {name}")
            conn.execute(f"RELEASE SAVEPOINT {name}")
        raise
    conn.execute(f"RELEASE SAVEPOINT {name}")


@contextmanager
def snapshot(conn: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
    """A read transaction (``BEGIN`` … ``COMMIT``): every statement inside sees the same committed state.

    Inside an already open transaction it joins it.
    """
    if conn.in_transaction:
        yield conn
        return
    if is_postgres(conn):
        postgres.begin_read(conn)
    else:
        conn.execute("BEGIN")
    try:
        yield conn
    finally:
        if conn.in_transaction:
            conn.execute("COMMIT")


def checkpoint(conn: sqlite3.Connection) -> tuple[int, int, int]:
    """``PRAGMA wal_checkpoint(TRUNCATE)``: returns (busy, wal pages, pages checkpointed).

    PostgreSQL checkpoints on its own: (0, 0, 0)."""
    if is_postgres(conn):
        return 0, 0, 0
    busy, log, done = conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
    return busy, log, done


def migration_files(directory: Path = MIGRATIONS_DIR) -> list[tuple[int, str, Path]]:
    """(version, name, path) of every ``NNNN_name.sql`` file, in version order."""
    found: dict[int, Path] = {}
    for file in sorted(directory.glob("*.sql")):
        m = _MIGRATION_NAME.match(file.name)
        if not m:
            raise MigrationError(f"migration file {file.name!r} is not named NNNN_lowercase_name.sql")
        version = int(m.group(1))
        if version in found:
            raise MigrationError(f"migrations {found[version].name!r} and {file.name!r} share number {version:04d}")
        found[version] = file
    return [(v, _MIGRATION_NAME.match(p.name).group(2), p) for v, p in sorted(found.items())]


def _statements(script: str) -> Iterator[str]:
    """Split a SQL script into complete statements (handles ';' inside strings and triggers)."""
    buf = ""
    for line in script.splitlines(keepends=True):
        buf += line
        if sqlite3.complete_statement(buf):
            yield buf
            buf = ""
    if any(ln.strip() and not ln.strip().startswith("--") for ln in buf.splitlines()):
        raise MigrationError(f"incomplete SQL statement at the end of the script: {buf.strip()[:80]!r}")


def migrate(conn: sqlite3.Connection, upto: int | None = None) -> list[int]:
    """Apply pending migrations in number order (up to ``upto`` if given); returns versions applied.

    Each migration runs in its own ``BEGIN IMMEDIATE`` transaction together with its row in
    ``schema_migrations``, so concurrent starters never apply one twice.
    """
    pg = is_postgres(conn)
    create = ("CREATE TABLE IF NOT EXISTS schema_migrations ("
              "version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_ms BIGINT NOT NULL)")
    if pg:  # concurrent CREATE ... IF NOT EXISTS can collide on PostgreSQL: under the writers' lock
        with transaction(conn):
            conn.execute(create)
    else:
        conn.execute(create)
    done = set(applied_migrations(conn))
    applied: list[int] = []
    for version, name, file in migration_files(PG_MIGRATIONS_DIR if pg else MIGRATIONS_DIR):
        if upto is not None and version > upto:
            break
        if version in done:
            continue
        with transaction(conn):
            if conn.execute("SELECT 1 FROM schema_migrations WHERE version = ?", (version,)).fetchone():
                continue
            if pg:  # one script, in this transaction (psycopg runs several statements without parameters)
                try:
                    conn.raw.execute(file.read_text(encoding="utf-8"))
                except postgres.psycopg.Error as exc:
                    raise MigrationError(f"migration {file.name} failed: {exc}") from exc
            for stmt in ([] if pg else _statements(file.read_text(encoding="utf-8"))):
                try:
                    conn.execute(stmt)
                except sqlite3.Error as exc:
                    raise MigrationError(f"migration {file.name} failed: {exc}") from exc
            conn.execute("INSERT INTO schema_migrations (version, name, applied_ms) VALUES (?, ?, ?)",
                         (version, name, now_ms()))
        applied.append(version)
    return applied


def applied_migrations(conn: sqlite3.Connection) -> list[int]:
    """Versions recorded in ``schema_migrations``, ascending (none for a store never migrated)."""
    if is_postgres(conn):
        if conn.execute("SELECT to_regclass('schema_migrations')").fetchone()[0] is None:
            return []
    elif conn.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'schema_migrations'").fetchone() is None:
        return []
    return [v for (v,) in conn.execute("SELECT version FROM schema_migrations ORDER BY version")]


def pending_migrations(conn: sqlite3.Connection) -> list[int]:
    """Versions this code has that the store has not applied."""
    done = set(applied_migrations(conn))
    return [v for v, _, _ in migration_files(PG_MIGRATIONS_DIR if is_postgres(conn) else MIGRATIONS_DIR)
            if v not in done]


def require_migrated(conn: "Connection", path: "str | Path | Store") -> None:
    """Raise :class:`NotMigrated` (saying how to migrate) when the store at ``path`` is behind this code."""
    path = getattr(path, "display", None) or (postgres.redact(path) if postgres.is_url(path) else path)
    pending = pending_migrations(conn)
    if pending:
        raise NotMigrated(f"the store at {path} lacks migrations {', '.join(f'{v:04d}' for v in pending)}: "
                          "start the collector service (`python -m collectors`), which migrates it, or run "
                          f"`python -m store migrate --store {path}`")
