"""Exact time lag from record timestamps, against both Kafka-protocol brokers (noida, Tansu).

A backlog written in one burst before the collector's first look, then a dead consumer: the
interpolation table is flat and cannot date it; the record's own timestamp can.
"""
from __future__ import annotations

import time

import pytest
from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer, TopicPartition
from kafka.structs import OffsetAndMetadata

from core.codes import LagMethod
from tests.cycles import run_cycle
from tests.integration.kafka_collector_helpers import _shutdown_collectors, by, collector, create_topics, uid  # noqa: F401

AGE_MS = 300_000  # the burst's records are stamped 5 minutes old (CreateTime)


def burst(bootstrap: str, topic: str, n: int, ts0_ms: int) -> list[int]:
    """``n`` records into partition 0, record i stamped ``ts0_ms + i`` seconds; returns the stamps."""
    producer = KafkaProducer(bootstrap_servers=bootstrap, batch_size=1, linger_ms=0, acks=1)
    stamps = [ts0_ms + 1_000 * i for i in range(n)]
    try:
        for ts in stamps:
            producer.send(topic, value=b"x" * 50, partition=0, timestamp_ms=ts)
        producer.flush(timeout=30)
    finally:
        producer.close()
    return stamps


def commit_offset(bootstrap: str, topic: str, group: str, offset: int) -> None:
    """The consumer commits ``offset`` on partition 0, then dies."""
    c = KafkaConsumer(bootstrap_servers=bootstrap, group_id=group, enable_auto_commit=False)
    try:
        c.assign([TopicPartition(topic, 0)])
        c.commit({TopicPartition(topic, 0): OffsetAndMetadata(offset, "", -1)})
    finally:
        c.close()


def test_burst_backlog_then_dead_consumer_is_exact(kafka, tmp_store):
    topic, group = uid("burst"), uid("g")
    create_topics(kafka.bootstrap, topic, partitions=1)
    now = int(time.time() * 1000)
    stamps = burst(kafka.bootstrap, topic, 20, now - AGE_MS)
    commit_offset(kafka.bootstrap, topic, group, 3)
    col = collector(kafka, tmp_store, [topic], [group], interval_s=5)
    interval_s = 5.0
    for i in range(3):  # the first cycle reads the record; later ones answer from the cache
        at = int(time.time() * 1000)
        samples = run_cycle(col, at)
        secs = by(samples, "kafka_group_lag_seconds", group=group)["0"]
        true_age = (at - stamps[3]) / 1000.0
        assert abs(secs - true_age) <= interval_s, (secs, true_age)
        assert by(samples, "kafka_group_lag_seconds_method", group=group) == {"0": LagMethod.EXACT}
        assert by(samples, "kafka_group_max_lag_seconds", group=group)[""] == pytest.approx(secs)
        assert by(samples, "kafka_group_max_lag_seconds_method", group=group) == {"": LagMethod.EXACT}
        if i == 0:
            fetches = col.collector.requests["FetchRequest"]
            assert fetches == 1  # one broker, one Fetch for the lagging partition
    assert col.collector.requests["FetchRequest"] == 1  # cached until the committed offset moves
    commit_offset(kafka.bootstrap, topic, group, 10)
    samples = run_cycle(col, int(time.time() * 1000))
    assert col.collector.requests["FetchRequest"] == 2  # moved: read again
    assert by(samples, "kafka_group_lag_seconds", group=group)["0"] == pytest.approx(
        (time.time() * 1000 - stamps[10]) / 1000.0, abs=interval_s)


def test_exact_off_falls_back_to_a_bound_never_0(kafka, tmp_store):
    """Without record timestamps the flat table gives unknown at first, then a lower bound."""
    topic, group = uid("burst"), uid("g")
    create_topics(kafka.bootstrap, topic, partitions=1)
    burst(kafka.bootstrap, topic, 10, int(time.time() * 1000) - AGE_MS)
    commit_offset(kafka.bootstrap, topic, group, 2)
    col = collector(kafka, tmp_store, [topic], [group], exact_timelag=False)
    t0 = int(time.time() * 1000)
    first = run_cycle(col, t0)
    assert by(first, "kafka_group_lag_messages", group=group) == {"0": 8}
    assert by(first, "kafka_group_lag_seconds", group=group) == {}
    assert by(first, "kafka_group_max_lag_seconds", group=group) == {}  # unknown, not 0 s
    assert by(first, "kafka_group_max_lag_seconds_method", group=group) == {"": LagMethod.UNKNOWN}
    later = run_cycle(col, t0 + 30_000)
    assert by(later, "kafka_group_max_lag_seconds", group=group) == {"": 30.0}
    assert by(later, "kafka_group_max_lag_seconds_method", group=group) == {"": LagMethod.LOWER_BOUND}
    assert col.collector.requests["FetchRequest"] == 0


@pytest.mark.broker_defect("tansu: delete_records crashes the broker, so this runs on noida only")
def test_record_deleted_by_retention_is_a_bound_or_unknown_never_0(kafka_factory, tmp_store):
    broker = kafka_factory("noida")
    topic, group = uid("gone"), uid("g")
    create_topics(broker.bootstrap, topic, partitions=1)
    burst(broker.bootstrap, topic, 10, int(time.time() * 1000) - AGE_MS)
    commit_offset(broker.bootstrap, topic, group, 2)
    admin = KafkaAdminClient(bootstrap_servers=broker.bootstrap)
    try:
        admin.delete_records({TopicPartition(topic, 0): 6})  # retention removed offsets 0..5
    finally:
        admin.close()
    col = collector(broker, tmp_store, [topic], [group])
    t0 = int(time.time() * 1000)
    seen = []
    for i in range(3):
        samples = run_cycle(col, t0 + i * 10_000)
        seen.append((by(samples, "kafka_group_max_lag_seconds", group=group).get(""),
                     by(samples, "kafka_group_max_lag_seconds_method", group=group)[""]))
    assert seen[0] == (None, LagMethod.UNKNOWN)
    assert seen[1:] == [(10.0, LagMethod.LOWER_BOUND), (20.0, LagMethod.LOWER_BOUND)]
    assert col.collector.requests["FetchRequest"] == 1  # the gone offset is not asked again
