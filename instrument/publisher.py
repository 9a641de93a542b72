"""Publish each recorder's summary every interval from a background thread, never blocking handlers.

Summaries go to a bounded buffer; the thread sends what it can through a transport (a Kafka topic
or a RabbitMQ exchange, both named ``eventdeck.telemetry`` by default). While the telemetry broker
is down the buffer fills, then the oldest summaries are dropped and counted (:attr:`dropped`, and
the ``dropped`` field of every later summary). After a failed send the thread waits before the
next attempt (1, 2, 4 … intervals, at most ``max_backoff_s``) so a dead broker costs the consumer
almost nothing. Transport errors never reach the consumer.
"""
from __future__ import annotations

import collections
import logging
import threading
import time
from typing import Any, Callable, Protocol, Sequence

from instrument.retry import RetryPolicy, backoff_delay
from instrument.summary import encode_summary
from instrument.timing import Recorder

log = logging.getLogger(__name__)
DEFAULT_NAME = "eventdeck.telemetry"


class Transport(Protocol):
    def send(self, payload: bytes, key: str) -> None:
        """Deliver one summary or raise."""

    def close(self) -> None:
        """Release connections; the transport may be used again afterwards."""


class KafkaTransport:
    """Produces summaries to a Kafka topic (created on first use if missing), keyed by consumer."""

    def __init__(self, bootstrap_servers: str | list[str], topic: str = DEFAULT_NAME,
                 timeout_s: float = 5.0, **client_options: Any) -> None:
        self.bootstrap, self.topic, self.timeout_s = bootstrap_servers, topic, timeout_s
        self.options = client_options
        self._producer: Any = None

    def _connect(self) -> Any:
        from kafka import KafkaAdminClient, KafkaProducer
        from kafka.errors import TopicAlreadyExistsError
        ms = int(self.timeout_s * 1000)
        admin = KafkaAdminClient(bootstrap_servers=self.bootstrap, request_timeout_ms=ms, bootstrap_timeout_ms=ms,
                                 **self.options)
        try:
            if self.topic not in admin.list_topics():
                try:
                    admin.create_topics({self.topic: {"num_partitions": 1, "replication_factor": 1}},
                                        wait_for_metadata=True)
                except TopicAlreadyExistsError:
                    pass
        finally:
            admin.close()
        return KafkaProducer(bootstrap_servers=self.bootstrap, acks=1, linger_ms=0, max_block_ms=ms,
                             enable_idempotence=False, bootstrap_timeout_ms=ms,
                             # a record the broker never took expires, so close() can finish
                             request_timeout_ms=ms, delivery_timeout_ms=ms, retries=0, **self.options)

    def send(self, payload: bytes, key: str) -> None:
        if self._producer is None:
            self._producer = self._connect()
        try:
            self._producer.send(self.topic, value=payload, key=key.encode()).get(timeout=2 * self.timeout_s)
        except Exception:
            self.close()
            raise

    def close(self) -> None:
        if self._producer is not None:
            producer, self._producer = self._producer, None
            try:
                producer.close(timeout=1)
            except Exception:  # closing a broken client must not mask the send error
                log.debug("closing telemetry producer failed", exc_info=True)


class RabbitTransport:
    """Publishes summaries to a durable fanout exchange with publisher confirms."""

    def __init__(self, amqp_url: str, exchange: str = DEFAULT_NAME, timeout_s: float = 5.0) -> None:
        self.amqp_url, self.exchange, self.timeout_s = amqp_url, exchange, timeout_s
        self._conn: Any = None
        self._channel: Any = None

    def _connect(self) -> None:
        import pika
        params = pika.URLParameters(self.amqp_url)
        params.connection_attempts = 1
        params.socket_timeout = self.timeout_s
        params.blocked_connection_timeout = self.timeout_s
        self._conn = pika.BlockingConnection(params)
        self._channel = self._conn.channel()
        self._channel.exchange_declare(self.exchange, exchange_type="fanout", durable=True)
        self._channel.confirm_delivery()

    def send(self, payload: bytes, key: str) -> None:
        import pika
        if self._channel is None:
            self._connect()
        try:
            self._channel.basic_publish(self.exchange, key, payload,
                                        pika.BasicProperties(content_type="application/json"))
        except Exception:
            self.close()
            raise

    def close(self) -> None:
        conn, self._conn, self._channel = self._conn, None, None
        if conn is not None and conn.is_open:
            try:
                conn.close()
            except Exception:
                log.debug("closing telemetry connection failed", exc_info=True)


class TelemetryPublisher:
    """Every ``interval_s`` swaps each recorder's window into a summary and sends the buffer."""

    def __init__(self, transport: Transport, recorders: Sequence[Recorder], interval_s: float = 10.0,
                 buffer_size: int = 100, max_backoff_s: float = 30.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        if interval_s <= 0:
            raise ValueError("TelemetryPublisher: interval_s must be > 0")
        if buffer_size < 1:
            raise ValueError("TelemetryPublisher: buffer_size must be >= 1")
        self.transport, self.recorders, self.interval_s = transport, list(recorders), interval_s
        self.buffer_size = buffer_size
        self._backoff = RetryPolicy(base_s=interval_s, max_delay_s=max(interval_s, max_backoff_s), jitter="none")
        self._clock = clock
        self._failures = 0
        self._next_send = 0.0
        self._buffer: collections.deque[tuple[str, bytes]] = collections.deque()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.dropped = 0
        self.sent = 0
        self.send_errors = 0

    @property
    def buffered(self) -> int:
        return len(self._buffer)

    def start(self) -> "TelemetryPublisher":
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="eventdeck-telemetry", daemon=True)
        self._thread.start()
        return self

    def stop(self, flush: bool = True, timeout_s: float = 10.0) -> None:
        """Stop the thread; with ``flush`` the last window is published (best effort)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout_s)
            self._thread = None
        if flush:
            self.tick(force=True)
        self.transport.close()

    def __enter__(self) -> "TelemetryPublisher":
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()

    def _run(self) -> None:
        while not self._stop.wait(self.interval_s):
            self.tick()

    def tick(self, force: bool = False) -> None:
        """Take one summary per recorder, then send the buffer until it is empty or a send fails
        (unless backing off after a failure; ``force`` tries anyway)."""
        with self._lock:
            for rec in self.recorders:
                if len(self._buffer) >= self.buffer_size:
                    self._buffer.popleft()
                    self.dropped += 1
                summary = rec.swap(dropped=self.dropped)
                self._buffer.append((rec.consumer, encode_summary(summary)))
            if not force and self._clock() < self._next_send:
                return
            while self._buffer:
                key, payload = self._buffer[0]
                try:
                    self.transport.send(payload, key)
                except Exception as exc:  # broker down: keep the buffer, back off
                    self.send_errors += 1
                    self._failures += 1
                    self._next_send = self._clock() + backoff_delay(self._backoff, self._failures)
                    log.warning("telemetry send failed (%d buffered, %d dropped): %s",
                                len(self._buffer), self.dropped, exc)
                    return
                self._buffer.popleft()
                self.sent += 1
                self._failures = 0
