"""Helpers of the DLQ integration tests (Kafka topics and records, RabbitMQ topology), shared by
test_dlq_kafka, test_dlq_rabbit and test_dlq_crash so no test file imports another."""
from __future__ import annotations

import struct
import time
import uuid
from typing import Any

import pika
from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer, TopicPartition

from config import Settings
from tests.conftest import store_settings


def uid() -> str:
    return uuid.uuid4().hex[:10]


SPRING_EXC = b"org.springframework.kafka.listener.ListenerExecutionFailedException"


def make_topics(bootstrap: str, topics: dict[str, int]) -> None:
    admin = KafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=20_000)
    try:
        admin.create_topics({t: {"num_partitions": n, "replication_factor": 1} for t, n in topics.items()})
    finally:
        admin.close()
    c = KafkaConsumer(bootstrap_servers=bootstrap)
    deadline = time.monotonic() + 30
    try:
        while not all(len(c.partitions_for_topic(t) or ()) == n for t, n in topics.items()):
            assert time.monotonic() < deadline, f"topics {list(topics)} never appeared"
            time.sleep(0.2)
    finally:
        c.close()


def spring(topic: str, partition: int, offset: int, exc: bytes = SPRING_EXC, msg: bytes = b"boom") -> list:
    return [("kafka_dlt-original-topic", topic.encode()),
            ("kafka_dlt-original-partition", struct.pack(">i", partition)),
            ("kafka_dlt-original-offset", struct.pack(">q", offset)),
            ("kafka_dlt-exception-fqcn", exc), ("kafka_dlt-exception-message", msg),
            ("kafka_dlt-exception-stacktrace", b"at com.acme.Listener.on(Listener.java:42)")]


def connect(topic: str, partition: int, offset: int) -> list:
    return [("__connect.errors.topic", topic.encode()), ("__connect.errors.partition", str(partition).encode()),
            ("__connect.errors.offset", str(offset).encode()),
            ("__connect.errors.exception.class.name", b"org.apache.kafka.connect.errors.DataException"),
            ("__connect.errors.exception.message", b"Converting byte[] to Kafka Connect data failed")]


def seed(bootstrap: str, topic: str, records: list[tuple[bytes | None, bytes, list]]) -> None:
    """One record per batch (Tansu counts batches as offsets), all into partition 0, in order."""
    p = KafkaProducer(bootstrap_servers=bootstrap, batch_size=1, linger_ms=0, acks="all")
    try:
        for key, value, headers in records:
            p.send(topic, key=key, value=value, headers=headers, partition=0).get(timeout=30)
    finally:
        p.close()


def read_all(bootstrap: str, topic: str, expect: int, timeout: float = 30.0, quiet_s: float = 0.7) -> list[Any]:
    """Every record of ``topic``: polls until ``expect`` arrived and nothing more came for ``quiet_s``."""
    c = KafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False, group_id=None)
    try:
        parts = c.partitions_for_topic(topic) or set()
        c.assign([TopicPartition(topic, p) for p in parts])
        c.seek_to_beginning()
        out: list[Any] = []
        deadline = time.monotonic() + timeout
        last = time.monotonic()
        while time.monotonic() < deadline:
            got = c.poll(timeout_ms=200)
            for recs in got.values():
                out.extend(recs)
            if got:
                last = time.monotonic()
            elif len(out) >= expect and time.monotonic() - last > quiet_s:
                break
        return out
    finally:
        c.close()


def header(rec: Any, name: str) -> str | None:
    return next((v.decode() for k, v in rec.headers if k == name), None)


def settings_for(bootstrap: str, store: Any, dlq: dict[str, Any] | None = None, **kafka: Any) -> Settings:
    """Settings of one Kafka cluster 'k'. Unless ``dlq`` says otherwise every header-derived replay target
    is allowed: these tests are about replay mechanics, the target policy has its own (test_dlq_replay_policy)."""
    dlq = {"allowed_targets": {"k": ["*"]}} if dlq is None else dlq
    return Settings.model_validate({"store": store_settings(store), "dlq": dlq,
                                    "kafka": {"clusters": [{"name": "k", "bootstrap_servers": [bootstrap], **kafka}]}})



# RabbitMQ

class Topology:
    """Declares uniquely named queues/exchanges and deletes them afterwards."""

    def __init__(self, url: str) -> None:
        self.conn = pika.BlockingConnection(pika.URLParameters(url))
        self.ch = self.conn.channel()
        self.queues: list[str] = []
        self.exchanges: list[str] = []

    def exchange(self, name: str, kind: str) -> str:
        self.ch.exchange_declare(name, kind)
        self.exchanges.append(name)
        return name

    def queue(self, name: str, dlx: str | None = None, bind: tuple[str, str] | None = None) -> str:
        self.ch.queue_declare(name, arguments={"x-dead-letter-exchange": dlx} if dlx else None)
        self.queues.append(name)
        if bind:
            self.ch.queue_bind(name, bind[0], routing_key=bind[1])
        return name

    def depth(self, q: str) -> int:
        return self.ch.queue_declare(q, passive=True).method.message_count

    def wait_depth(self, q: str, n: int, timeout: float = 20.0) -> None:
        deadline = time.monotonic() + timeout
        while self.depth(q) != n:
            assert time.monotonic() < deadline, f"queue {q} has {self.depth(q)} messages, expected {n}"
            time.sleep(0.05)

    def reject_all(self, q: str) -> int:
        """Dead-letter every message of ``q`` (basic.reject without requeue)."""
        n = 0
        while True:
            m, _, _ = self.ch.basic_get(q)
            if m is None:
                return n
            self.ch.basic_reject(m.delivery_tag, requeue=False)
            n += 1

    def drain(self, q: str) -> list[tuple[Any, bytes]]:
        out = []
        while True:
            m, p, b = self.ch.basic_get(q, auto_ack=True)
            if m is None:
                return out
            out.append((p, b))

    def close(self) -> None:
        for q in self.queues:
            self.ch.queue_delete(q)
        for e in self.exchanges:
            self.ch.exchange_delete(e)
        self.conn.close()
