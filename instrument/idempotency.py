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


# --- Keying on Eventdeck's replay id -------------------------------------------------------------
REPLAY_ID_HEADER = "eventdeck-replay-id"
_MAX_KEY = 256


def _headers_of(arg: Any) -> Any:
    """The headers of a pika ``BasicProperties``, aio-pika message, kafka-python record or
    confluent-kafka message (``headers()``); a plain mapping is taken as the headers themselves."""
    if isinstance(arg, (str, bytes, bytearray, int, float)) or arg is None:
        return None
    if hasattr(arg, "headers"):
        h = arg.headers
        return h() if callable(h) else h
    return arg if isinstance(arg, dict) else None


def _header_value(headers: Any, name: str) -> Any:
    if isinstance(headers, dict):
        return headers.get(name)
    if isinstance(headers, (list, tuple)):  # Kafka: [(name, bytes), ...]
        for item in headers:
            if isinstance(item, (list, tuple)) and len(item) == 2 and item[0] == name:
                return item[1]
    return None


def _text_key(value: Any, what: str) -> str:
    if isinstance(value, (bytes, bytearray)):
        try:
            value = bytes(value).decode("utf-8")
        except UnicodeDecodeError:
            raise ValueError(f"{what} is not UTF-8") from None
    if not isinstance(value, str) or not 0 < len(value) <= _MAX_KEY or not value.isprintable():
        raise ValueError(f"{what} must be 1..{_MAX_KEY} printable characters, got {str(value)[:80]!r}")
    return value


def _default_fallback(*args: Any, **_kwargs: Any) -> str:
    """A message never replayed: its AMQP ``message_id``, else its Kafka ``topic:partition:offset``."""
    for a in args:
        mid = getattr(a, "message_id", None)
        if isinstance(mid, (str, bytes)) and mid:
            return _text_key(mid, "message_id")
        if all(isinstance(getattr(a, k, None), int) for k in ("partition", "offset")) \
                and isinstance(getattr(a, "topic", None), str):
            return f"{a.topic}:{a.partition}:{a.offset}"
    raise ValueError(f"no {REPLAY_ID_HEADER} header, no message_id and no Kafka coordinates: "
                     "pass replay_id_key(fallback=...) a key function for such messages")


def replay_id_key(fallback: Callable[..., str] | None = None) -> Callable[..., str]:
    """A key function for :func:`idempotent` that keys on the ``eventdeck-replay-id`` header, so the
    duplicates an Eventdeck replay may deliver after a crash (at most one window of them, each with
    the replay id of its first copy) are processed once::

        @idempotent(store, key=replay_id_key())
        def on_message(channel, method, properties, body): ...      # pika

        @idempotent(store, key=replay_id_key())
        def handle(record): ...                                       # kafka-python ConsumerRecord

    The header is looked up in the handler's arguments: anything with ``headers`` (pika
    ``BasicProperties``, aio-pika messages, kafka-python records, confluent-kafka messages) or a
    headers mapping. A message that was never replayed has no such header: ``fallback`` (same
    arguments as the handler) gives its key, by default its AMQP ``message_id`` or its Kafka
    ``topic:partition:offset``. A malformed header (not 1..256 printable UTF-8 characters) raises
    ValueError, as any bad key does.
    """
    def key(*args: Any, **kwargs: Any) -> str:
        for a in (*args, *kwargs.values()):
            value = _header_value(_headers_of(a), REPLAY_ID_HEADER)
            if value is not None:
                return _text_key(value, f"header {REPLAY_ID_HEADER}")
        return (fallback or _default_fallback)(*args, **kwargs)
    return key
