"""End to end on real Kafka-protocol brokers: a consumer that stops fires the built-in status rule.

The Kafka collector reads the broker (real offsets, real group) on an injected clock; the evaluator
runs after every tick as the scheduler would, with the built-in rules seeded.
"""
from __future__ import annotations

import pytest

import time
import uuid

from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer

from alerts import api
from alerts.evaluator import Options, evaluate
from collectors.kafka import KafkaCollector
from runner.collect import CollectJob
from config.kafka import KafkaClusterConfig
from store import queries
from store.db import open_migrated


@pytest.fixture
def tmp_store(any_store):
    """This module runs on both store backends (SQLite, PostgreSQL)."""
    return any_store



def _stopped_consumer(bootstrap: str, topic: str, group: str) -> None:
    """Five records, a consumer that reads and commits three, then leaves (lag 2, no members)."""
    admin = KafkaAdminClient(bootstrap_servers=bootstrap, client_id="alerts-test")
    try:
        admin.create_topics({topic: {"num_partitions": 1, "replication_factor": 1}})
    finally:
        admin.close()
    # batch_size=1: Tansu's ListOffsets LATEST counts batches; one record per batch keeps lag exact.
    producer = KafkaProducer(bootstrap_servers=bootstrap, acks="all", batch_size=1, linger_ms=0)
    for i in range(5):
        producer.send(topic, value=b"m%d" % i, partition=0).get(timeout=20)
    producer.close()
    consumer = KafkaConsumer(bootstrap_servers=bootstrap, group_id=group, enable_auto_commit=False,
                             auto_offset_reset="earliest", session_timeout_ms=6000, heartbeat_interval_ms=1000,
                             consumer_timeout_ms=60000)
    consumer.subscribe([topic])
    got = 0
    for _ in consumer:
        got += 1
        if got == 3:
            break
    consumer.commit()
    consumer.close()
    assert got == 3


def test_stopped_consumer_fires_builtin_rule(kafka, tmp_store):
    suffix = uuid.uuid4().hex[:8]
    topic, group = f"alerts-orders-{suffix}", f"alerts-svc-{suffix}"
    _stopped_consumer(kafka.bootstrap, topic, group)
    cfg = KafkaClusterConfig(name=f"k-{kafka.kind}", bootstrap_servers=[kafka.bootstrap], topics_allow=[topic],
                             groups_allow=[group], status_window_s=20, interval_s=10)
    conn = open_migrated(tmp_store)
    collector = CollectJob(KafkaCollector(cfg, conn), conn, cfg.interval_s)
    try:
        t0 = int(time.time() * 1000)
        api.seed_builtin(conn, t0)
        states = []
        for i in range(7):   # one collection tick every 10 s of (injected) time
            ts = t0 + i * 10_000
            assert collector.run(ts) is True
            evaluate(conn, ts, Options())
            states.append(sorted(api.alerts(conn, ["pending", "firing"])["state"]))
        status = queries.latest(conn, "kafka_group_status", {"group": group})
        assert len(status) == 1 and status.iloc[0]["value"] >= 3   # STALL/STOP: lag 2 and no commits
        lag = queries.latest(conn, "kafka_group_total_lag_messages", {"group": group})
        assert lag.iloc[0]["value"] == 2
        firing = api.alerts(conn, ["firing"])
        assert list(firing["rule"]) == ["kafka-group-stalled"]
        assert firing.iloc[0]["labels"] == {"cluster": cfg.name, "group": group}
        # before the window proved the stop nothing fired; then pending for the rule's 30 s, then firing
        assert states[0] == [] and "pending" in sum(states, []) and states[-1] == ["firing"]
        hist = api.history(conn)
        assert list(hist["event"])[::-1] == ["pending", "firing"]
    finally:
        collector.close()  # its collector's admin client and the connection
