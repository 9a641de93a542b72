"""The Kafka collector against both Kafka-protocol brokers (noida, Tansu): lag, status, DLQs.

Cycles run with an injected clock (``run_cycle(job, now_ms)``) so a 10-second Burrow window passes
in a few real seconds; records are produced with ``batch_size=1`` (Tansu's LATEST counts batches).
"""
from __future__ import annotations

import time

import pytest
from kafka import KafkaAdminClient, KafkaConsumer, TopicPartition
from kafka.structs import OffsetAndMetadata

from collectors.burrow import Status
from config.kafka import KafkaClusterConfig
from store import queries
from store.db import connect_reader
from tests.cycles import run_cycle
from tests.integration.kafka_collector_helpers import (_shutdown_collectors, by, collector, create_topics, job_of,
                                                       produce, uid)

__all__ = ["_shutdown_collectors"]  # a fixture, used by name


@pytest.fixture
def tmp_store(any_store):
    """This module runs on both store backends (SQLite, PostgreSQL)."""
    return any_store


CONSUMER_OPTS = {"session_timeout_ms": 6000, "heartbeat_interval_ms": 1000, "enable_auto_commit": False,
                 "auto_offset_reset": "earliest"}


def consumer(bootstrap: str, topic: str, group: str) -> KafkaConsumer:
    return KafkaConsumer(topic, bootstrap_servers=bootstrap, group_id=group, **CONSUMER_OPTS)


def poll_until(c: KafkaConsumer, wanted: dict[int, int], timeout_s: float = 60) -> None:
    """Poll until the consumer has fetched at least ``wanted[p]`` records of each partition."""
    got = {p: 0 for p in wanted}
    deadline = time.monotonic() + timeout_s
    while any(got[p] < wanted[p] for p in wanted):
        assert time.monotonic() < deadline, f"consumed only {got} of {wanted}"
        for tp, records in c.poll(timeout_ms=500).items():
            got[tp.partition] = got.get(tp.partition, 0) + len(records)


def commit(c: KafkaConsumer, topic: str, offsets: dict[int, int]) -> None:
    c.commit({TopicPartition(topic, p): OffsetAndMetadata(o, "", -1) for p, o in offsets.items()})


def test_lag_is_exactly_produced_minus_committed(kafka, tmp_store):
    topic, group = uid("lag"), uid("g")
    create_topics(kafka.bootstrap, topic)
    produce(kafka.bootstrap, topic, {0: 10, 1: 10, 2: 10})  # N = 30
    col = collector(kafka, tmp_store, [topic], [group])
    c = consumer(kafka.bootstrap, topic, group)
    try:
        poll_until(c, {0: 10, 1: 10, 2: 10})
        commit(c, topic, {0: 4, 1: 3, 2: 5})  # M = 12
        now = int(time.time() * 1000)
        samples = run_cycle(col, now)
        assert by(samples, "kafka_group_committed_offset", group=group) == {"0": 4, "1": 3, "2": 5}
        assert by(samples, "kafka_partition_end_offset", topic=topic) == {"0": 10, "1": 10, "2": 10}
        assert by(samples, "kafka_group_lag_messages", group=group, topic=topic) == {"0": 6, "1": 7, "2": 5}
        assert by(samples, "kafka_group_topic_lag_messages", group=group, topic=topic) == {"": 18}
        assert by(samples, "kafka_group_total_lag_messages", group=group) == {"": 18}  # N − M
        assert by(samples, "kafka_group_partition_no_offset", group=group) == {}

        commit(c, topic, {0: 10, 1: 10, 2: 10})  # consume the rest
        samples = run_cycle(col, now + 1_000)
        assert by(samples, "kafka_group_lag_messages", group=group, topic=topic) == {"0": 0, "1": 0, "2": 0}
        assert by(samples, "kafka_group_total_lag_messages", group=group) == {"": 0}
        assert by(samples, "kafka_group_lag_seconds", group=group) == {"0": 0, "1": 0, "2": 0}
        assert by(samples, "kafka_group_consume_rate_per_s", group=group) == {"": 18.0}
    finally:
        c.close()
    # ... and the store holds what the cycle returned
    reader = connect_reader(tmp_store)
    try:
        df = queries.latest(reader, "kafka_group_total_lag_messages", {"group": group})
        assert df["value"].tolist() == [0.0]
        assert col.collector.last_requests > 0
    finally:
        reader.close()


def test_partition_never_committed_is_no_offset(kafka, tmp_store):
    topic, group = uid("noofs"), uid("g")
    create_topics(kafka.bootstrap, topic)
    produce(kafka.bootstrap, topic, {0: 5, 1: 5, 2: 5})
    col = collector(kafka, tmp_store, [topic], [group])
    c = consumer(kafka.bootstrap, topic, group)
    try:
        poll_until(c, {0: 5, 1: 5, 2: 5})
        commit(c, topic, {0: 2})  # only partition 0 ever committed
        samples = run_cycle(col, int(time.time() * 1000))
    finally:
        c.close()
    assert by(samples, "kafka_group_lag_messages", group=group) == {"0": 3}
    assert by(samples, "kafka_group_partition_no_offset", group=group) == {"1": 1, "2": 1}
    assert by(samples, "kafka_group_total_lag_messages", group=group) == {"": 3}


def test_stopped_group_goes_stall_or_stop_and_recovers(kafka, tmp_store):
    topic, group = uid("stall"), uid("g")
    create_topics(kafka.bootstrap, topic)
    produce(kafka.bootstrap, topic, {0: 4, 1: 4, 2: 4})
    col = collector(kafka, tmp_store, [topic], [group], exact_timelag=False)  # the interpolation table
    c = consumer(kafka.bootstrap, topic, group)
    poll_until(c, {0: 4, 1: 4, 2: 4})
    commit(c, topic, {0: 4, 1: 4, 2: 4})
    c.close()  # the group stops consuming; the producer goes on
    t0 = int(time.time() * 1000)
    step = 2_000
    statuses, secs = [], []
    for i in range(7):  # 12 simulated seconds > the 10 s window
        samples = run_cycle(col, t0 + i * step)
        statuses.append(by(samples, "kafka_group_status", group=group)[""])
        secs.append(by(samples, "kafka_group_max_lag_seconds", group=group).get(""))
        produce(kafka.bootstrap, topic, {0: 1, 1: 1, 2: 1})
    assert statuses[0] == Status.OK  # caught up at the start
    assert statuses[-1] in (Status.STALL, Status.STOP), statuses
    # committed offset 4 was the end at t0: the time lag grows by exactly one step per cycle
    assert secs[0] == 0.0
    assert secs[1:] == pytest.approx([i * step / 1000 for i in range(1, 7)])
    assert by(samples, "kafka_topic_produce_rate_per_s", topic=topic) == {"": pytest.approx(1.5)}

    c = consumer(kafka.bootstrap, topic, group)  # resumes
    try:
        poll_until(c, {0: 7, 1: 7, 2: 7})  # from the committed 4 to the end, 11
        commit(c, topic, {0: 11, 1: 11, 2: 11})
    finally:
        c.close()
    samples = run_cycle(col, t0 + 7 * step)
    assert by(samples, "kafka_group_status", group=group) == {"": Status.OK}
    assert set(by(samples, "kafka_group_partition_status", group=group).values()) == {Status.OK}
    assert by(samples, "kafka_group_max_lag_seconds", group=group) == {"": 0.0}


def test_dlq_size_inflow_and_error_rate(kafka, tmp_store):
    base = uid("orders")
    source, dlq, lookalike = base, f"{base}.dlq", f"audit-{base}.dlq"
    group = uid("g")
    create_topics(kafka.bootstrap, source, dlq, lookalike, partitions=1)
    produce(kafka.bootstrap, dlq, {0: 3})
    produce(kafka.bootstrap, lookalike, {0: 4})
    col = collector(kafka, tmp_store, [f"*{base}*"], [group], dlq_exclude=["audit-*"])
    t0 = int(time.time() * 1000)
    samples = run_cycle(col, t0)
    assert by(samples, "dlq_messages", dlq=dlq, broker="kafka") == {"": 3}
    assert by(samples, "dlq_messages", dlq=lookalike) == {}  # excluded by config: not a DLQ

    produce(kafka.bootstrap, source, {0: 20})
    c = consumer(kafka.bootstrap, source, group)
    try:
        poll_until(c, {0: 20})
        commit(c, source, {0: 20})
    finally:
        c.close()
    samples = run_cycle(col, t0 + 1_000)  # the group is known from here on
    produce(kafka.bootstrap, source, {0: 20})
    c = consumer(kafka.bootstrap, source, group)
    try:
        poll_until(c, {0: 20})
        commit(c, source, {0: 40})  # consumed 20 more ...
    finally:
        c.close()
    produce(kafka.bootstrap, dlq, {0: 5})  # ... of which 5 failed into the DLQ
    samples = run_cycle(col, t0 + 2_000)
    assert by(samples, "dlq_messages", dlq=dlq) == {"": 8}
    assert by(samples, "dlq_inflow_rate_per_s", dlq=dlq) == {"": 5.0}
    assert by(samples, "kafka_topic_error_rate_ratio", topic=source) == {"": pytest.approx(5 / 25)}
    assert by(samples, "dlq_messages", dlq=lookalike) == {}
    assert by(samples, "kafka_topic_error_rate_ratio", topic=f"audit-{base}") == {}


@pytest.mark.broker_defect("tansu: describe_groups raises in kafka-python 3.0.12; groups show state Unknown")
def test_group_state_and_members_or_unknown(kafka, tmp_store):
    topic, group = uid("state"), uid("g")
    create_topics(kafka.bootstrap, topic)
    produce(kafka.bootstrap, topic, {0: 2, 1: 2, 2: 2})
    col = collector(kafka, tmp_store, [topic], [group])
    c = consumer(kafka.bootstrap, topic, group)
    try:
        poll_until(c, {0: 2, 1: 2, 2: 2})
        commit(c, topic, {0: 1, 1: 1, 2: 1})
        samples = run_cycle(col, int(time.time() * 1000))
    finally:
        c.close()
    state = by(samples, "kafka_group_state", group=group)[""]
    members = by(samples, "kafka_group_members", group=group)
    if kafka.kind == "tansu":  # cannot describe: listed as unknown, lag still collected
        assert state == 0 and members == {}
    else:
        assert state == 1 and members == {"": 1}  # Stable with our one consumer
    assert by(samples, "kafka_group_total_lag_messages", group=group) == {"": 3}


def test_time_lag_table_survives_a_restart(kafka, tmp_store):
    topic, group = uid("restart"), uid("g")
    create_topics(kafka.bootstrap, topic, partitions=1)
    admin = KafkaAdminClient(bootstrap_servers=kafka.bootstrap, client_id="eventdeck-test")
    try:  # commit offset 0 without a consumer: an empty group, never moving
        admin.alter_group_offsets(group, {TopicPartition(topic, 0): OffsetAndMetadata(0, "", -1)})
    finally:
        admin.close()
    cfg = dict(name=uid("c"), bootstrap_servers=[kafka.bootstrap], topics_allow=[topic], groups_allow=[group],
               exact_timelag=False)  # the interpolation table is what must survive
    first = job_of(KafkaClusterConfig(**cfg), tmp_store)
    t0 = int(time.time() * 1000)
    for i in range(3):  # end offsets 0, 5, 10 seen at t0, t0+1 s, t0+2 s
        run_cycle(first, t0 + i * 1_000)
        produce(kafka.bootstrap, topic, {0: 5})
    first.collector.close()
    # a new collector (a restarted service) dates offset 0 at once from the stored table: t0
    second = job_of(KafkaClusterConfig(**cfg), tmp_store)
    samples = run_cycle(second, t0 + 10_000)
    second.collector.close()
    assert by(samples, "kafka_group_lag_seconds", group=group) == {"0": 10.0}
    assert by(samples, "kafka_group_lag_messages", group=group) == {"0": 15}
