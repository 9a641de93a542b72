"""Issue #23 on the real Kafka-protocol brokers: a slowly paced replay keeps heartbeating (nobody takes it
over, nothing is replayed twice), writes are fenced by owner, and a non-UTF-8 ``eventdeck-replay-id`` in a
target partition does not stop a resume."""
from __future__ import annotations

import threading
import time

import pytest

from dlq import api, kafka_io, kafka_replay
from dlq.context import JobContext
from dlq.jobs import execute, owner_id, run_pending
from store import dlq as store_dlq
from store.db import connect_writer, open_migrated
from tests.integration.dlq_helpers import make_topics, read_all, seed, settings_for, spring, uid


@pytest.fixture
def tmp_store(any_store):
    """This module runs on both store backends (SQLite, PostgreSQL)."""
    return any_store


def test_slow_paced_replay_heartbeats_and_is_never_taken_over(kafka, tmp_store):
    """rate 0.5/s: two seconds between messages, twice ``stale_job_s`` (1 s). Before, the job was silent while
    it waited and another runner could claim it and replay the same records again."""
    u = uid()
    orders, dlq = f"orders-{u}", f"orders-{u}.DLT"
    make_topics(kafka.bootstrap, {orders: 1, dlq: 1})
    n = 3
    seed(kafka.bootstrap, dlq, [(f"k{i}".encode(), b"v", spring(orders, 0, i)) for i in range(n)])
    st = settings_for(kafka.bootstrap, tmp_store, dlq={"allowed_targets": {"k": ["*"]}, "stale_job_s": 1.0})
    conn = open_migrated(tmp_store)
    jid = api.enqueue_replay(conn, {"broker": "kafka", "cluster": "k", "dlq": dlq, "rate_per_s": 0.5}, "otto", 1)
    runner = threading.Thread(target=run_pending, args=(st, tmp_store, jid))
    runner.start()
    other = connect_writer(tmp_store)
    claims = []
    try:
        while runner.is_alive():  # a second runner (alive, on another host) tries to take it over all along
            job = api.job(conn, jid)
            if job and job["state"] == "running":
                claims.append(store_dlq.claim(other, "other-host:1", int(time.time() * 1000), 1000,
                                              lambda _owner: True, jid))
            time.sleep(0.2)
    finally:
        runner.join(60)
        other.close()
    job = api.job(conn, jid)
    conn.close()
    assert len(claims) >= 5 and all(c is None for c in claims), [c and c["owner"] for c in claims]
    assert (job["state"], job["replayed"]) == ("done", n), job
    assert len(read_all(kafka.bootstrap, orders, n)) == n  # each record once


def test_a_runner_that_lost_its_job_writes_nothing_and_does_not_finish_it(kafka, tmp_store):
    u = uid()
    orders, dlq = f"orders-{u}", f"orders-{u}.DLT"
    make_topics(kafka.bootstrap, {orders: 1, dlq: 1})
    seed(kafka.bootstrap, dlq, [(b"k0", b"v", spring(orders, 0, 0))])
    st = settings_for(kafka.bootstrap, tmp_store)
    conn = open_migrated(tmp_store)
    try:
        jid = api.enqueue_replay(conn, {"broker": "kafka", "cluster": "k", "dlq": dlq, "rate_per_s": None}, "otto", 1)
        job = store_dlq.claim(conn, owner_id(), int(time.time() * 1000), 30_000, lambda _o: True, jid)
        # another runner takes it over (this one looked dead to it)
        assert store_dlq.claim(conn, "other-host:1", int(time.time() * 1000) + 60_000, 30_000, lambda _o: True, jid)
        with pytest.raises(store_dlq.NotOwner):
            JobContext(conn=conn, job=job, settings=st).beat(force=True)
        assert execute(conn, st, job) == "taken over"
        after = api.job(conn, jid)
        assert (after["state"], after["owner"], after["replayed"]) == ("running", "other-host:1", 0)
    finally:
        conn.close()
    assert read_all(kafka.bootstrap, orders, 0, timeout=3) == []


def test_non_utf8_replay_id_in_a_target_partition_does_not_stop_resume(kafka, tmp_store):
    u = uid()
    target = f"orders-{u}"
    make_topics(kafka.bootstrap, {target: 1})
    seed(kafka.bootstrap, target, [(b"x", b"junk", [("eventdeck-replay-id", b"\xff\xfe\xfd")]),
                                   (b"y", b"mine", [("eventdeck-replay-id", b"a" * 32)])])
    st = settings_for(kafka.bootstrap, tmp_store)
    consumer = kafka_io.open_consumer(st.kafka.clusters[0])
    try:
        from kafka import TopicPartition
        found = kafka_replay.scan_for_ids(consumer, {TopicPartition(target, 0): 0}, {"a" * 32, "b" * 32})
    finally:
        consumer.close()
    assert list(found) == ["a" * 32] and found["a" * 32].value == b"mine"
