"""Telemetry collector: reads `instrument` summaries from every configured broker and stores
per-consumer percentiles, rates, error ratios and error counters.

One job per cluster: ``telemetry:kafka:<cluster>`` reads the topic ``telemetry.kafka_topic`` with
group ``telemetry.kafka_group`` (offsets committed only after the samples are stored);
``telemetry:rabbitmq:<cluster>`` reads a durable queue bound to the fanout exchange
``telemetry.rabbitmq_exchange`` (acked only after the samples are stored). Summaries older than
``max_age_s`` (a backlog) are skipped; undecodable ones, and those whose sketch accuracy is not
``relative_accuracy`` (they cannot be merged), are logged and skipped. A broker error
marks the target down and backs off (1, 2, 4, then 5 intervals).
"""
from __future__ import annotations

import logging
import sqlite3
from pathlib import Path
from typing import Any, Callable, Protocol

from config import Settings
from config.kafka import KafkaClusterConfig
from config.rabbitmq import RabbitClusterConfig
from config.telemetry import TelemetryConfig
from collectors.scheduler import JobSpec, now_ms as wall_clock_ms
from collectors.telemetry_samples import DROPPED_TOTAL, ERRORS_TOTAL, Counters, isolated_tick_samples
from core.rejects import Rejects
from instrument.retry import RetryPolicy, backoff_delay
from instrument.summary import Summary, SummaryError, decode_summary
from store import db, queries, status
from store import rejects as store_rejects
from store.writes import SampleWriter

log = logging.getLogger("eventdeck.collectors.telemetry")


def target_name(broker: str, cluster: str) -> str:
    return f"telemetry:{broker}:{cluster}"


class Source(Protocol):
    def fetch(self) -> list[bytes]: ...
    def commit(self) -> None: ...
    def close(self) -> None: ...


class KafkaSource:
    """Reads the telemetry topic from the committed offsets of the collector's group."""

    def __init__(self, cfg: KafkaClusterConfig, tcfg: TelemetryConfig) -> None:
        self.cfg, self.tcfg = cfg, tcfg
        self._consumer: Any = None

    def _open(self) -> Any:
        from kafka import KafkaConsumer
        from collectors.kafka import client_config
        return KafkaConsumer(group_id=self.tcfg.kafka_group, enable_auto_commit=False,
                             auto_offset_reset="earliest", session_timeout_ms=6000, heartbeat_interval_ms=1000,
                             **client_config(self.cfg))

    def fetch(self) -> list[bytes]:
        from kafka import TopicPartition
        if self._consumer is None:
            self._consumer = self._open()
        c = self._consumer
        parts = c.partitions_for_topic(self.tcfg.kafka_topic)
        if not parts:
            return []  # nobody has published telemetry here yet
        wanted = {TopicPartition(self.tcfg.kafka_topic, p) for p in parts}
        if c.assignment() != wanted:  # first fetch, or partitions were added
            c.assign(sorted(wanted))
        out: list[bytes] = []
        while len(out) < self.tcfg.max_per_tick:
            batch = c.poll(timeout_ms=1000, max_records=self.tcfg.max_per_tick - len(out))
            if not batch:
                break
            out.extend(r.value for records in batch.values() for r in records if r.value is not None)
        return out

    def commit(self) -> None:
        if self._consumer is not None and self._consumer.assignment():
            self._consumer.commit()

    def close(self) -> None:
        consumer, self._consumer = self._consumer, None
        if consumer is not None:
            try:
                consumer.close(autocommit=False)
            except Exception:
                log.debug("closing telemetry consumer failed", exc_info=True)


class RabbitSource:
    """Drains the collector's queue (bound to the telemetry exchange); acks after storing."""

    def __init__(self, cfg: RabbitClusterConfig, tcfg: TelemetryConfig) -> None:
        self.cfg, self.tcfg = cfg, tcfg
        self._conn: Any = None
        self._channel: Any = None
        self._last_tag: int | None = None

    def _open(self) -> None:
        import pika
        from collectors.rabbitmq import resolve_password
        params = pika.URLParameters(self.cfg.amqp_url)
        params.credentials = pika.PlainCredentials(self.cfg.username, resolve_password(self.cfg))
        params.connection_attempts = 1
        params.socket_timeout = self.cfg.timeout_s
        self._conn = pika.BlockingConnection(params)
        ch = self._conn.channel()
        ch.exchange_declare(self.tcfg.rabbitmq_exchange, exchange_type="fanout", durable=True)
        ch.queue_declare(self.tcfg.rabbitmq_queue, durable=True,
                         arguments={"x-max-length": self.tcfg.rabbitmq_queue_max_length})
        ch.queue_bind(self.tcfg.rabbitmq_queue, self.tcfg.rabbitmq_exchange)
        self._channel = ch

    def fetch(self) -> list[bytes]:
        if self._channel is None:
            self._open()
        out: list[bytes] = []
        while len(out) < self.tcfg.max_per_tick:
            method, _props, body = self._channel.basic_get(self.tcfg.rabbitmq_queue, auto_ack=False)
            if method is None:
                break
            self._last_tag = method.delivery_tag
            out.append(body)
        return out

    def commit(self) -> None:
        if self._last_tag is not None and self._channel is not None:
            self._channel.basic_ack(self._last_tag, multiple=True)
            self._last_tag = None

    def close(self) -> None:
        conn, self._conn, self._channel, self._last_tag = self._conn, None, None, None
        if conn is not None and conn.is_open:
            try:
                conn.close()  # unacked summaries go back to the queue
            except Exception:
                log.debug("closing telemetry connection failed", exc_info=True)


def _reason(exc: BaseException) -> str:
    text = str(exc).splitlines()[0][:200] if str(exc) else ""
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


class TelemetryJob:
    """One collection target; :meth:`tick` never raises for a broker problem."""

    def __init__(self, broker: str, cluster: str, source: Source, store_path: Path, tcfg: TelemetryConfig,
                 clock_ms: Callable[[], int] = wall_clock_ms) -> None:
        self.broker, self.cluster, self.source, self.tcfg = broker, cluster, source, tcfg
        self.store_path, self.clock_ms = Path(store_path), clock_ms
        self.target = target_name(broker, cluster)
        self.failures = 0
        self.next_attempt_ms = 0
        self.bad_summaries = 0
        self.rejects = Rejects()  # bad summaries, counted per reason; flushed with each tick's samples
        self._counters: Counters | None = None
        self._conn: sqlite3.Connection | None = None  # opened on first use, kept with its series cache
        self._writer: SampleWriter | None = None
        self._backoff = RetryPolicy(base_s=tcfg.interval_s, multiplier=2.0, max_delay_s=5 * tcfg.interval_s,
                                    jitter="none")

    def _load_counters(self) -> Counters:
        """Resume the ``*_total`` counters of this target's consumers from the store."""
        counters = Counters()
        conn = db.connect_reader(self.store_path)
        try:
            for metric in (ERRORS_TOTAL, DROPPED_TOTAL):
                df = queries.latest(conn, metric)
                for row in df.to_dict("records"):
                    key = (row["cluster"], row["broker"], row["consumer"])
                    if metric == ERRORS_TOTAL:
                        counters.errors[(key, row["exception"])] = float(row["value"])
                    else:
                        counters.dropped[key] = float(row["value"])
        finally:
            conn.close()
        return counters

    def _decode(self, payloads: list[bytes], now_ms: int) -> list[Summary]:
        """The usable summaries of a batch; each bad one is skipped, logged and counted in ``rejects``
        (``decode_summary`` raises only SummaryError). Its cluster is this job's, never the payload's."""
        oldest = now_ms - int(self.tcfg.max_age_s * 1000)
        out = []
        for p in payloads:
            try:
                s = decode_summary(p)
            except SummaryError as exc:
                self.bad_summaries += 1
                self.rejects.record("telemetry", exc.reason, f"{exc} | {p[:120]!r}", now_ms)
                log.warning("%s: skipping a telemetry summary: %s", self.target, str(exc)[:300])
                continue
            ra = s.sketch._relative_accuracy
            if abs(ra - self.tcfg.relative_accuracy) > 1e-12:
                self.bad_summaries += 1
                self.rejects.record("telemetry", "accuracy_mismatch",
                                    f"{s.consumer}/{s.instance}: relative accuracy {ra}", now_ms)
                log.warning("%s: skipping the summary of %s instance %s: its sketch accuracy %s is not "
                            "telemetry.relative_accuracy (%s)", self.target, s.consumer, s.instance, ra,
                            self.tcfg.relative_accuracy)
            elif s.end_ms >= oldest:
                s.cluster = self.cluster
                out.append(s)
        return out

    def tick(self) -> None:
        now = self.clock_ms()
        half = int(self.tcfg.interval_s * 500)
        if now + half < self.next_attempt_ms:
            return
        try:
            payloads = self.source.fetch()
        except Exception as exc:
            self.source.close()
            self.failures += 1
            self.next_attempt_ms = now + int(backoff_delay(self._backoff, self.failures) * 1000)
            log.warning("%s down: %s", self.target, _reason(exc))
            self._status(False, _reason(exc), now)
            return

        def unusable(s: Summary, exc: Exception) -> None:
            self.bad_summaries += 1
            self.rejects.record("telemetry", "unprocessable", f"{s.consumer}/{s.instance}: {exc}", now)
            log.warning("%s: skipping the summary of %s instance %s: %s", self.target, s.consumer, s.instance,
                        str(exc)[:300])

        try:
            if self._counters is None:
                self._counters = self._load_counters()
            # Bad summaries are skipped and counted, the rest stored; the commit below then moves the
            # offset past them too, so a poison summary is never read again.
            samples = isolated_tick_samples(self._decode(payloads, now), self.cluster, now, self._counters,
                                            unusable)
            self._store_conn()
            self._writer.write(samples)
            store_rejects.flush_recorder(self._conn, self.rejects, now, self._writer)
            status.set_status(self._conn, self.target, True, None, now, duration_ms=self.clock_ms() - now)
        except Exception:
            # Nothing acknowledged: the summaries are read again next time, and the counters are
            # reloaded from what was really stored.
            self.source.close()
            self._counters = None
            raise
        try:
            self.source.commit()
        except Exception as exc:  # stored but not acknowledged: re-read after reconnect
            self.source.close()
            log.warning("%s: acknowledging summaries failed: %s", self.target, _reason(exc))
        self.failures, self.next_attempt_ms = 0, 0

    def _status(self, up: bool, reason: str | None, now: int) -> None:
        status.set_status(self._store_conn(), self.target, up, reason, now, duration_ms=self.clock_ms() - now)

    def _store_conn(self) -> sqlite3.Connection:
        if self._conn is None:
            self._conn = db.connect_writer(self.store_path)
            self._writer = SampleWriter(self._conn)
        return self._conn

    def close(self) -> None:
        """Close the broker source and the writer connection (the service is stopping)."""
        self.source.close()
        conn, self._conn, self._writer = self._conn, None, None
        if conn is not None:
            conn.close()


def jobs(settings: Settings, store_path: Path) -> list[JobSpec]:
    """One job per Kafka and RabbitMQ cluster, every ``telemetry.interval_s``."""
    t = settings.telemetry
    if not t.enabled:
        return []
    out: list[JobSpec] = []
    for k in settings.kafka.clusters:
        job = TelemetryJob("kafka", k.name, KafkaSource(k, t), store_path, t)
        out.append(JobSpec(job.target, job.tick, t.interval_s, close=job.close))
    for r in settings.rabbitmq.clusters:
        job = TelemetryJob("rabbitmq", r.name, RabbitSource(r, t), store_path, t)
        out.append(JobSpec(job.target, job.tick, t.interval_s, close=job.close))
    return out
