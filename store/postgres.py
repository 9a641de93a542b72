"""PostgreSQL connections for the store (``store.url: postgresql://user@host:5432/db``).

:class:`PgConnection` gives the store's modules the small part of the ``sqlite3`` connection they use
(``execute``/``executemany`` with ``?`` or ``?N`` placeholders, ``in_transaction``, ``total_changes``,
``close``) over a psycopg 3 connection in autocommit mode, plus :meth:`PgConnection.copy` for bulk
loads. Only placeholders are adapted (``?`` → ``%s``); SQL that differs between the engines is
written per dialect by the module that owns it (see :mod:`store.dialect`).

Writers serialise on one transaction-level advisory lock (:data:`WRITE_LOCK`), as SQLite's
``BEGIN IMMEDIATE`` does, so the store's read-modify-write bookkeeping keeps its meaning with
several writer processes; readers never wait for it.
"""
from __future__ import annotations

import functools
import os
from typing import Any, Callable, Iterable, Sequence
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import psycopg
from psycopg.pq import TransactionStatus

DIALECT = "postgresql"
SCHEMES = ("postgresql://", "postgres://")
WRITE_LOCK = 0x45564E54  # 'EVNT': pg_advisory_xact_lock key of the store's writers
PASSWORD_ENV = "EVENTDECK_STORE_PASSWORD"  # read from the environment or the secrets file
CONNECT_TIMEOUT_S = 10


def is_url(location: object) -> bool:
    return isinstance(location, str) and location.startswith(SCHEMES)


def redact(url: str) -> str:
    """The URL without its password (for logs and errors)."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    host = parts.hostname or ""
    netloc = f"{parts.username or ''}:***@{host}" + (f":{parts.port}" if parts.port else "")
    return urlunsplit(parts._replace(netloc=netloc))


def conninfo(url: str, environ: dict[str, str] | None = None) -> str:
    """The URL with the password from ``$EVENTDECK_STORE_PASSWORD`` (or the secrets file) when it has none."""
    from config import secret

    parts = urlsplit(url)
    if parts.password is None:
        password = secret(PASSWORD_ENV, os.environ if environ is None else environ)
        if password:
            query = dict(parse_qsl(parts.query))
            query.setdefault("password", password)
            parts = parts._replace(query=urlencode(query))
    return urlunsplit(parts)


def with_options(url: str, options: "dict[str, str] | Any") -> str:
    """The URL with libpq ``options`` (``sslmode``, ``sslrootcert``...) added to its query (the URL's own win)."""
    parts = urlsplit(url)
    query = dict(parse_qsl(parts.query))
    for k, v in options.items():
        if v is not None:
            query.setdefault(k, str(v))
    return urlunsplit(parts._replace(query=urlencode(query)))


@functools.lru_cache(maxsize=4096)
def convert(sql: str) -> tuple[str, tuple[int, ...] | None]:
    """(psycopg SQL, parameter order or None): ``?`` and ``?N`` become ``%s``, ``:name`` ``%(name)s``,
    ``%`` becomes ``%%``.

    Quoted strings and identifiers are left alone. With ``?N`` placeholders the order lists, for each
    ``%s``, the 0-based index of the parameter it takes.
    """
    out, order, numbered = [], [], False
    i, n, seq = 0, len(sql), 0
    while i < n:
        ch = sql[i]
        if ch in ("'", '"'):
            j = sql.index(ch, i + 1) if ch in sql[i + 1:] else n - 1
            while j + 1 < n and sql[j + 1] == ch:  # doubled quote inside the literal
                j = sql.index(ch, j + 2)
            out.append(sql[i:j + 1])
            i = j + 1
            continue
        if ch == "?":
            j = i + 1
            while j < n and sql[j].isdigit():
                j += 1
            if j > i + 1:
                numbered = True
                order.append(int(sql[i + 1:j]) - 1)
            else:
                order.append(seq)
                seq += 1
            out.append("%s")
            i = j
            continue
        if ch == ":" and i + 1 < n and (sql[i + 1].isalpha() or sql[i + 1] == "_") and (i == 0 or sql[i - 1] != ":"):
            j = i + 1
            while j < n and (sql[j].isalnum() or sql[j] == "_"):
                j += 1
            out.append(f"%({sql[i + 1:j]})s")  # a named parameter (its params are a mapping)
            i = j
            continue
        if ch == ":" and i + 1 < n and sql[i + 1] == ":":  # a PostgreSQL cast
            out.append("::")
            i += 2
            continue
        out.append("%%" if ch == "%" else ch)
        i += 1
    return "".join(out), (tuple(order) if numbered else None)


def _args(order: tuple[int, ...] | None, params: Any) -> Any:
    return params if order is None or isinstance(params, dict) else [params[k] for k in order]


class PgConnection:
    """A psycopg connection with the sqlite3-shaped surface the store's modules use."""

    dialect = DIALECT

    def __init__(self, conn: psycopg.Connection, location: str, reopen: Callable[[], psycopg.Connection] | None = None):
        self.raw = conn
        self.location = location
        self.total_changes = 0
        self.temp_tables: set[str] = set()  # temporary tables this session already created
        self._reopen = reopen
        self.reconnects = 0

    @property
    def in_transaction(self) -> bool:
        # a connection the server dropped has no transaction left to commit or roll back
        return not self.raw.closed and self.raw.info.transaction_status != TransactionStatus.IDLE

    def ensure(self) -> None:
        """Replace a connection the server dropped (a restart, a network cut) by a new one, outside a
        transaction: the statement that met the drop failed; the next one runs on a fresh connection.
        Raises ``psycopg.OperationalError`` while the server does not answer."""
        if self.raw.closed and self._reopen is not None:
            self.raw = self._reopen()
            self.temp_tables = set()  # temporary tables went with the old session
            self.reconnects += 1

    def execute(self, sql: str, params: Sequence[Any] = ()) -> psycopg.Cursor:
        self.ensure()
        text, order = convert(sql)
        cur = self.raw.cursor()
        cur.execute(text, _args(order, params) if params or order else None)
        if cur.rowcount > 0 and cur.description is None:
            self.total_changes += cur.rowcount
        return cur

    def executemany(self, sql: str, seq: Iterable[Sequence[Any]]) -> psycopg.Cursor:
        """Runs in pipeline mode (one round trip); ``rowcount`` is the sum over the parameter sets."""
        self.ensure()
        text, order = convert(sql)
        cur = self.raw.cursor()
        cur.executemany(text, [_args(order, p) for p in seq])
        if cur.rowcount > 0:
            self.total_changes += cur.rowcount
        return cur

    def copy(self, table: str, columns: Sequence[str], rows: Iterable[Sequence[Any]],
             types: Sequence[str] | None = None) -> None:
        """Bulk load rows with ``COPY … FROM STDIN``: binary when the columns' PostgreSQL ``types`` are given
        (no text formatting and parsing of every value), else text."""
        self.ensure()
        binary = " (FORMAT BINARY)" if types else ""
        with self.raw.cursor() as cur:
            with cur.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN{binary}") as cp:
                if types:
                    cp.set_types(list(types))
                for row in rows:
                    cp.write_row(row)

    def commit(self) -> None:
        self.raw.commit()

    def close(self) -> None:
        self.raw.close()

    def __enter__(self) -> "PgConnection":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _open(url: str, read_only: bool) -> psycopg.Connection:
    try:
        raw = psycopg.connect(conninfo(url), autocommit=True, connect_timeout=CONNECT_TIMEOUT_S,
                              application_name="eventdeck")
    except psycopg.OperationalError as exc:
        raise psycopg.OperationalError(f"cannot connect to the store at {redact(url)}: "
                                       f"{redact(str(exc))}") from None
    if read_only:
        raw.execute("SET default_transaction_read_only = on")
    return raw


def connect(url: str, read_only: bool = False) -> PgConnection:
    """A connection in autocommit mode (group writes with ``store.db.transaction``). It reconnects by itself
    after the server dropped it (see :meth:`PgConnection.ensure`)."""
    return PgConnection(_open(url, read_only), url, reopen=functools.partial(_open, url, read_only))


def begin_write(conn: PgConnection) -> None:
    conn.ensure()
    conn.raw.execute(f"BEGIN; SELECT pg_advisory_xact_lock({WRITE_LOCK})")  # one round trip


def begin_read(conn: PgConnection) -> None:
    conn.ensure()
    conn.raw.execute("BEGIN ISOLATION LEVEL REPEATABLE READ")


def database_size(conn: PgConnection) -> int:
    """Bytes of the store's database."""
    return int(conn.execute("SELECT pg_database_size(current_database())").fetchone()[0])


class _Pooled(PgConnection):
    """A pooled connection: ``close()`` gives it back to its pool."""

    def __init__(self, conn: psycopg.Connection, location: str, pool: Any):
        super().__init__(conn, location)
        self._pool = pool

    def close(self) -> None:
        self._pool.putconn(self.raw)


class ReaderPool:
    """Read-only connections for concurrent readers (a psycopg-pool ``ConnectionPool``):
    ``connect()`` lends one, its ``close()`` returns it."""

    def __init__(self, url: str, max_size: int = 4, shown: str | None = None):
        from psycopg_pool import ConnectionPool

        self.url = url
        self.shown = shown or redact(url)
        # check: a connection the server dropped (restart) is replaced before it is lent, not handed out
        self._pool = ConnectionPool(conninfo(url), min_size=1, max_size=max_size, open=True, name="eventdeck-readers",
                                    check=ConnectionPool.check_connection, timeout=CONNECT_TIMEOUT_S,
                                    kwargs={"autocommit": True, "application_name": "eventdeck",
                                            "connect_timeout": CONNECT_TIMEOUT_S},
                                    configure=lambda c: c.execute("SET default_transaction_read_only = on"))

    def connect(self) -> PgConnection:
        return _Pooled(self._pool.getconn(), self.url, self._pool)

    def close(self) -> None:
        self._pool.close()
