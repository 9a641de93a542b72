"""Replay duplicates meet the instrument library's idempotency helper keyed on eventdeck-replay-id
(``key=replay_id_key()``): a consumer processes each replayed message once. RabbitMQ duplicates are
made by a crash between the confirms and the ledger write; Kafka ones by producing a replayed record
again, headers and all (what a crashed producer's retry looks like)."""
from __future__ import annotations

import collections
import time

import pika
from kafka import KafkaProducer

from config import Settings
from dlq import api
from dlq.jobs import run_pending
from instrument.idempotency import SqliteDedupStore, idempotent, replay_id_key
from store.db import open_migrated
from tests.integration.dlq_crash_helpers import Crash, _crash_on_record, _progress
from tests.integration.dlq_helpers import Topology, make_topics, read_all, seed, settings_for, spring, uid
from tests.integration.dlq_kafka_helpers import replay
from tests.conftest import store_settings


def test_rabbit_crash_duplicates_are_dropped_by_replay_id(rabbitmq, tmp_store, tmp_path, monkeypatch):
    u = uid()
    topo = Topology(rabbitmq.amqp_url)
    try:
        dlq = topo.queue(f"idem-{u}.dlq")
        dest = topo.queue(f"idem-{u}")
        for i in range(30):
            topo.ch.basic_publish("", dlq, f"m{i}".encode(), pika.BasicProperties(message_id=f"id{i}"))
        topo.wait_depth(dlq, 30)
        st = Settings.model_validate({"store": store_settings(tmp_store), "rabbitmq": {"clusters": [
            {"name": "r", "amqp_url": f"amqp://{rabbitmq.host}:{rabbitmq.amqp_port}/%2F", "username": rabbitmq.user}]}})
        conn = open_migrated(tmp_store)
        job_id = api.enqueue_replay(conn, {"broker": "rabbitmq", "cluster": "r", "dlq": dlq, "rate_per_s": None,
                                           "window": 8}, "tester", int(time.time() * 1000))
        conn.close()

        def first_batch(outcomes):
            return True
        first_batch.after_write = False  # confirmed by the broker, never recorded: published again
        _crash_on_record(monkeypatch, first_batch)
        try:
            run_pending(st, tmp_store, job_id)
        except Crash:
            pass
        assert run_pending(st, tmp_store, job_id) == job_id
        assert _progress(tmp_store, job_id)["replayed"] == 30
        got = []
        while True:
            m, p, b = topo.ch.basic_get(dest, auto_ack=True)
            if m is None:
                break
            got.append((m, p, b))
        dups = len(got) - 30
        assert 1 <= dups <= 8, f"{dups} duplicates with a window of 8"

        handled: list[bytes] = []

        @idempotent(SqliteDedupStore(tmp_path / "dedup.db"), key=replay_id_key())
        def on_message(channel, method, properties, body):
            handled.append(body)

        for m, p, b in got:
            on_message(topo.ch, m, p, b)
        assert sorted(handled) == sorted(f"m{i}".encode() for i in range(30))  # each once
        assert (on_message.processed, on_message.duplicates) == (30, dups)
    finally:
        topo.close()


def test_kafka_duplicates_are_dropped_by_replay_id(kafka, tmp_store, tmp_path):
    u = uid()
    src, dlq = f"idem-{u}", f"idem-{u}.DLT"
    make_topics(kafka.bootstrap, {src: 1, dlq: 1})
    seed(kafka.bootstrap, dlq, [(str(i).encode(), f"v{i}".encode(), spring(src, 0, i)) for i in range(10)])
    assert replay(settings_for(kafka.bootstrap, tmp_store), dlq)["replayed"] == 10
    first = read_all(kafka.bootstrap, src, 10)
    p = KafkaProducer(bootstrap_servers=kafka.bootstrap, batch_size=1, linger_ms=0, acks="all")
    try:
        for r in first[:3]:  # the same record again, as a producer retry after a crash would send it
            p.send(src, key=r.key, value=r.value, headers=r.headers, partition=r.partition).get(timeout=30)
    finally:
        p.close()
    records = read_all(kafka.bootstrap, src, 13)
    assert len(records) == 13

    handled: list[bytes] = []

    @idempotent(SqliteDedupStore(tmp_path / "dedup.db"), key=replay_id_key())
    def handle(record):
        handled.append(record.value)

    for r in records:
        handle(r)
    assert collections.Counter(handled) == collections.Counter(f"v{i}".encode() for i in range(10))
    assert (handle.processed, handle.duplicates) == (10, 3)
