"""Telemetry collector: reads `instrument` summaries from every configured broker and stores
per-consumer percentiles, rates, error ratios and error counters.

One job per cluster: ``telemetry:kafka:<cluster>`` reads the topic ``telemetry.kafka_topic`` with
group ``telemetry.kafka_group`` (offsets committed only after the samples are stored);
``telemetry:rabbitmq:<cluster>`` reads a durable queue bound to the fanout exchange
``telemetry.rabbitmq_exchange`` (acked only after the samples are stored). Summaries older than
``max_age_s`` (a backlog) are skipped; undecodable ones, and those whose sketch accuracy is not
``relative_accuracy`` (they cannot be merged), are logged and skipped. The job runner
(``runner.collect``) stores the samples, then acknowledges what was read; a broker error marks
the target down and backs off (1, 2, 4, then 5 intervals).
"""
from __future__ import annotations

import logging
import sqlite3
from pathlib import Path
from typing import Any, Protocol

from brokers.kafka import open_consumer
from brokers.polling import kafka_poll
from brokers.rabbitmq import amqp_connect
from collectors.telemetry_samples import (DROPPED_TOTAL, ERRORS_TOTAL, Counters, TooManyConsumers,
                                          isolated_tick_samples)
from config import Settings
from config.kafka import KafkaClusterConfig
from config.rabbitmq import RabbitClusterConfig
from config.telemetry import TelemetryConfig
from core.clock import Clock, now_ms as wall_now_ms
from core.names import safe_label_value
from core.rejects import Rejects
from core.targets import telemetry_target
from instrument.summary import Summary, SummaryError, decode_summary
from runner.collect import CollectJob, Cycle
from runner.jobs import JobSpec
from store import db, queries

log = logging.getLogger("eventdeck.collectors.telemetry")


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
        return open_consumer(self.cfg, group_id=self.tcfg.kafka_group, enable_auto_commit=False,
                             auto_offset_reset="earliest", session_timeout_ms=6000, heartbeat_interval_ms=1000)

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
            batch = kafka_poll(c, 1.0, self.tcfg.max_per_tick - len(out))
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
        self._conn = amqp_connect(self.cfg)
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


class TelemetryCollector:
    """One telemetry target: reads summaries, merges them into samples; the runner stores them and
    then acknowledges the read (``Cycle.after_store``)."""

    def __init__(self, broker: str, cluster: str, source: Source, tcfg: TelemetryConfig,
                 conn: sqlite3.Connection) -> None:
        self.broker, self.cluster, self.source, self.tcfg = broker, cluster, source, tcfg
        self.target = telemetry_target(broker, cluster)
        self.conn = conn  # the job's writer connection, read for the counters' last values
        self.bad_summaries = 0
        self.rejects = Rejects()  # bad summaries, counted per reason; flushed with each tick's samples
        self._counters: Counters | None = None

    def _load_counters(self) -> Counters:
        """Resume the ``*_total`` counters of this target's consumers from the store (rows of this cluster
        only); a row that cannot be read is skipped (its counter restarts), never the whole load."""
        counters = Counters()
        for metric in (ERRORS_TOTAL, DROPPED_TOTAL):
            df = queries.latest(self.conn, metric, {"cluster": self.cluster})
            for row in df.to_dict("records"):
                try:
                    key = (str(row["cluster"]), str(row["broker"]), str(row["consumer"]))
                    if metric == ERRORS_TOTAL:
                        counters.errors[(key, str(row["exception"]))] = float(row["value"])
                    else:
                        counters.dropped[key] = float(row["value"])
                except (KeyError, TypeError, ValueError) as exc:
                    log.warning("%s: a stored %s series is not resumed: %s", self.target, metric, exc)
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
                unsafe = [n for n in (s.consumer, s.broker, *s.errors) if safe_label_value(n) != n]
                if unsafe:  # kept, stored under the safe form of its names (see core.names), and counted
                    self.rejects.record("telemetry", "unsafe_name", f"{s.consumer!r}/{s.instance!r}: "
                                        f"{', '.join(map(repr, unsafe))[:200]}", now_ms)
                out.append(s)
        return out

    def collect(self, now_ms: int) -> Cycle:
        payloads = self.source.fetch()
        if self._counters is None:
            self._counters = self._load_counters()

        def unusable(s: Summary, exc: Exception) -> None:
            self.bad_summaries += 1
            reason = "too_many_consumers" if isinstance(exc, TooManyConsumers) else "unprocessable"
            self.rejects.record("telemetry", reason, f"{s.consumer}/{s.instance}: {exc}", now_ms)
            log.warning("%s: skipping the summary of %s instance %s: %s", self.target, s.consumer, s.instance,
                        str(exc)[:300])

        # Bad summaries are skipped and counted (the runner stores ``rejects`` with the samples), the
        # rest stored; acknowledging then moves the offset past them too: a poison summary is read once.
        samples = isolated_tick_samples(self._decode(payloads, now_ms), self.cluster, now_ms, self._counters,
                                        unusable, self.tcfg.max_consumers)
        return Cycle(samples, after_store=self.source.commit)

    def redact(self, text: str) -> str:
        return text

    def reset(self) -> None:
        """Nothing acknowledged: the summaries are read again after reconnecting, and the counters
        are reloaded from what was really stored."""
        self.source.close()
        self._counters = None

    close = reset


def telemetry_job(broker: str, cluster: str, source: Source, store_path: str | Path, tcfg: TelemetryConfig,
                  clock: Clock = wall_now_ms) -> CollectJob:
    """The collection job of one telemetry target, with its own writer connection."""
    conn = db.connect_writer(store_path)
    return CollectJob(TelemetryCollector(broker, cluster, source, tcfg, conn), conn, tcfg.interval_s, clock)


def jobs(settings: Settings, store_path: Path) -> list[JobSpec]:
    """One job per Kafka and RabbitMQ cluster, every ``telemetry.interval_s``."""
    t = settings.telemetry
    if not t.enabled:
        return []
    out: list[JobSpec] = []
    for k in settings.kafka.clusters:
        out.append(telemetry_job("kafka", k.name, KafkaSource(k, t), store_path, t).spec())
    for r in settings.rabbitmq.clusters:
        out.append(telemetry_job("rabbitmq", r.name, RabbitSource(r, t), store_path, t).spec())
    return out
