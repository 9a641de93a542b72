"""Drain ETA of a Kafka group against both brokers: a consumer draining a backlog at a known rate
gets an ETA within 20% of the true time to zero."""
from __future__ import annotations

import time

from kafka import KafkaConsumer, TopicPartition
from kafka.structs import OffsetAndMetadata

from collectors.drain import NOT_DRAINING_S
from tests.cycles import run_cycle
from tests.integration.kafka_collector_helpers import (_shutdown_collectors, by, collector, create_topics,  # noqa: F401
                                                       produce, uid)

N, STEP, TICK_S = 400, 20, 0.5  # 400 records drained 20 per 0.5 s: 40/s, 10 s to zero


def test_eta_of_a_group_draining_at_a_known_rate(kafka, tmp_store):
    topic, group = uid("drain"), uid("g")
    create_topics(kafka.bootstrap, topic, partitions=1)
    produce(kafka.bootstrap, topic, {0: N})
    col = collector(kafka, tmp_store, [topic], [group])  # 10 s status window
    c = KafkaConsumer(bootstrap_servers=kafka.bootstrap, group_id=group, enable_auto_commit=False)
    tp = TopicPartition(topic, 0)
    c.assign([tp])
    try:
        c.commit({tp: OffsetAndMetadata(0, "", -1)})
        first = run_cycle(col, int(time.time() * 1000))
        assert by(first, "kafka_group_total_lag_messages", group=group) == {"": N}
        start = time.monotonic()
        estimates = []  # (seconds since start, ETA)
        for k in range(1, N // STEP + 1):
            time.sleep(max(0.0, start + k * TICK_S - time.monotonic()))
            c.commit({tp: OffsetAndMetadata(k * STEP, "", -1)})  # the consumer's progress
            samples = run_cycle(col, int(time.time() * 1000))
            eta = by(samples, "kafka_group_drain_eta_seconds", group=group).get("")
            estimates.append((time.monotonic() - start, eta))
        finished = time.monotonic() - start
    finally:
        c.close()
    assert estimates[-1][1] == 0.0  # drained
    # a few points of draining behind them and 1 s or more to go
    judged = [(t, eta, finished - t) for t, eta in estimates if 3.5 <= t <= finished - 1]
    assert len(judged) >= 8
    off = [(round(eta, 2), round(left, 2)) for _t, eta, left in judged
           if eta is None or abs(eta - left) > 0.2 * left]
    assert not off, off
    # stopped draining: not draining
    produce(kafka.bootstrap, topic, {0: 10})
    for i in range(1, 7):  # past the 10 s window: only the flat lag is left in it
        samples = run_cycle(col, int(time.time() * 1000) + i * 2_000)
    assert by(samples, "kafka_group_drain_eta_seconds", group=group) == {"": NOT_DRAINING_S}
