"""Helpers and fixtures of the Kafka collector tests (topics, records, a collector job on a test store)."""
from __future__ import annotations

import uuid

import pytest
from kafka import KafkaAdminClient, KafkaProducer

from collectors.kafka import KafkaCollector
from runner.collect import CollectJob
from config.kafka import KafkaClusterConfig
from store.db import open_migrated


def uid(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def create_topics(bootstrap: str, *names: str, partitions: int = 3) -> None:
    admin = KafkaAdminClient(bootstrap_servers=bootstrap, client_id="eventdeck-test")
    try:
        admin.create_topics({n: {"num_partitions": partitions, "replication_factor": 1} for n in names})
        admin.wait_for_topics(list(names), timeout_ms=30_000)
    finally:
        admin.close()


def produce(bootstrap: str, topic: str, per_partition: dict[int, int]) -> None:
    """``per_partition[p]`` records into partition p, one record per batch."""
    producer = KafkaProducer(bootstrap_servers=bootstrap, batch_size=1, linger_ms=0, acks=1)
    try:
        for p, n in per_partition.items():
            for i in range(n):
                producer.send(topic, value=b"r%d" % i, partition=p)
        producer.flush(timeout=30)
    finally:
        producer.close()


_collectors: list[CollectJob] = []


@pytest.fixture(autouse=True)
def _shutdown_collectors():
    """Close every collector a test made (admin client I/O thread, writer connection)."""
    yield
    while _collectors:
        _collectors.pop().close()


def collector(kafka, store_path, topics, groups, **kw) -> CollectJob:
    cfg = KafkaClusterConfig(name=uid("c"), bootstrap_servers=[kafka.bootstrap], request_timeout_ms=10_000,
                             topics_allow=topics, groups_allow=groups, status_window_s=10, **kw)
    return job_of(cfg, store_path)


def job_of(cfg: KafkaClusterConfig, store_path) -> CollectJob:
    conn = open_migrated(store_path)
    job = CollectJob(KafkaCollector(cfg, conn), conn, cfg.interval_s)
    _collectors.append(job)
    return job


def by(samples, metric, **labels) -> dict[str, float]:
    """Values of ``metric`` among samples matching ``labels``, keyed by partition (or "")."""
    return {s.labels.get("partition", ""): s.value for s in samples
            if s.metric == metric and all(s.labels.get(k) == v for k, v in labels.items())}
