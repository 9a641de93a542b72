"""Idempotent handling: process each message id once within a TTL (dedup in SQLite or Redis).

    store = SqliteDedupStore("/var/lib/payment/dedup.db", ttl_ms=7 * 86_400_000)
    @idempotent(store, key=lambda order: order["order_id"])
    def charge(order): ...

The handler first *claims* the id (a lease of ``lease_ms``), runs, then marks it done for
``ttl_ms``. A duplicate finds the claim or the mark and is skipped (``None`` is returned). If the
handler raises, the claim is released so a redelivery is processed; if the process dies mid-way,
the lease expires and a redelivery is processed.
"""
from __future__ import annotations

import functools
import sqlite3
import threading
from pathlib import Path
from typing import Any, Callable, Protocol, TypeVar

from instrument import dedup_sql as sql
from instrument.clock import wall_ms

T = TypeVar("T")



class DedupStore(Protocol):
    def claim(self, key: str) -> bool: ...
    def mark_done(self, key: str) -> None: ...
    def release(self, key: str) -> None: ...


class SqliteDedupStore:
    """Dedup marks in a SQLite file; survives process restarts. Thread-safe."""

    def __init__(self, path: str | Path, ttl_ms: int = 86_400_000, lease_ms: int = 60_000,
                 clock_ms: Callable[[], int] = wall_ms, purge_every: int = 1000) -> None:
        if ttl_ms <= 0 or lease_ms <= 0:
            raise ValueError("SqliteDedupStore: ttl_ms and lease_ms must be > 0")
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        self._conn = sqlite3.connect(str(path), isolation_level=None, check_same_thread=False, timeout=10)
        self._conn.execute("PRAGMA journal_mode=WAL")
        self._conn.execute("PRAGMA synchronous=NORMAL")
        sql.ensure_dedup_schema(self._conn)
        self.ttl_ms, self.lease_ms, self._clock_ms = ttl_ms, lease_ms, clock_ms
        self._lock = threading.Lock()
        self._purge_every, self._claims = purge_every, 0

    def claim(self, key: str) -> bool:
        now = self._clock_ms()
        with self._lock:
            self._claims += 1
            if self._claims % self._purge_every == 0:
                sql.purge_expired(self._conn, now)
            return sql.claim(self._conn, key, now, self.lease_ms)

    def mark_done(self, key: str) -> None:
        with self._lock:
            sql.mark_done(self._conn, key, self._clock_ms(), self.ttl_ms)

    def release(self, key: str) -> None:
        with self._lock:
            sql.release(self._conn, key)

    def close(self) -> None:
        self._conn.close()


class RedisDedupStore:
    """Dedup marks in Redis (``SET NX PX``), shared by every instance of a consumer."""

    def __init__(self, client: Any, prefix: str = "eventdeck:dedup:", ttl_ms: int = 86_400_000,
                 lease_ms: int = 60_000) -> None:
        if ttl_ms <= 0 or lease_ms <= 0:
            raise ValueError("RedisDedupStore: ttl_ms and lease_ms must be > 0")
        self.client, self.prefix, self.ttl_ms, self.lease_ms = client, prefix, ttl_ms, lease_ms

    def claim(self, key: str) -> bool:
        return bool(self.client.set(self.prefix + key, b"claimed", nx=True, px=self.lease_ms))

    def mark_done(self, key: str) -> None:
        self.client.set(self.prefix + key, b"done", px=self.ttl_ms)

    def release(self, key: str) -> None:
        # Only a claim is released, never a done mark (compare-and-delete in one script).
        self.client.eval("if redis.call('get', KEYS[1]) == 'claimed' then return redis.call('del', KEYS[1]) end "
                         "return 0", 1, self.prefix + key)


class Idempotent:
    """Wraps a handler so each key is processed once; counts ``processed`` and ``duplicates``."""

    def __init__(self, store: DedupStore, key: Callable[..., str], fn: Callable[..., T]) -> None:
        self.store, self.key, self.fn = store, key, fn
        self.processed = 0
        self.duplicates = 0
        functools.update_wrapper(self, fn)

    def __call__(self, *args: Any, **kwargs: Any) -> T | None:
        k = self.key(*args, **kwargs)
        if not isinstance(k, str) or not k:
            raise ValueError(f"idempotent {getattr(self.fn, '__name__', 'handler')}: message id must be a "
                             f"non-empty string, got {k!r}")
        if not self.store.claim(k):
            self.duplicates += 1
            return None
        try:
            result = self.fn(*args, **kwargs)
        except BaseException:
            self.store.release(k)
            raise
        self.store.mark_done(k)
        self.processed += 1
        return result


def idempotent(store: DedupStore, key: Callable[..., str]) -> Callable[[Callable[..., T]], Idempotent]:
    """Decorator form of :class:`Idempotent`; ``key`` gets the handler's arguments."""
    return lambda fn: Idempotent(store, key, fn)
