"""Edit before replay on the real brokers: the edited copy is what is published, the original stays
(Kafka: never deleted; RabbitMQ: acked only after the edited copy is confirmed), and the audit has
both hashes and the diff."""
from __future__ import annotations

import hashlib
import json
import time
from typing import Any

import pika
import pytest

from config import Settings
from dlq import api
from dlq.jobs import run_pending
from store import audit
from store.db import connect_reader, open_migrated
from tests.integration.dlq_helpers import Topology, header, make_topics, read_all, seed, settings_for, spring, uid
from tests.conftest import store_settings


@pytest.fixture
def tmp_store(any_store):
    """This module runs on both store backends (SQLite, PostgreSQL)."""
    return any_store

PW_ENV = "DLQ_TEST_RABBIT_PASSWORD"


def _run(st: Settings, req: dict[str, Any]) -> dict[str, Any]:
    conn = open_migrated(st.store.handle)
    try:
        jid = api.enqueue_replay(conn, {"rate_per_s": None, **req}, "otto", int(time.time() * 1000))
        assert run_pending(st, st.store.handle, jid) == jid
        return api.job(conn, jid)
    finally:
        conn.close()


def _edited_audit(store) -> dict[str, Any]:
    conn = connect_reader(store)
    try:
        log = audit.read(conn, action_prefix="dlq.")
    finally:
        conn.close()
    rows = log[log["action"] == "dlq.replay.edited"]
    assert len(rows) == 1
    return rows.iloc[0]["detail"]


def test_kafka_edited_copy_is_published_and_original_stays(kafka, tmp_store):
    u = uid()
    orders, dlq = f"orders-{u}", f"orders-{u}.DLT"
    make_topics(kafka.bootstrap, {orders: 1, dlq: 1})
    seed(kafka.bootstrap, dlq, [(b"k0", b'{"amount": -5}', spring(orders, 0, 7) + [("trace", b"t-1")]),
                                (b"k1", b'{"amount": 9}', spring(orders, 0, 8))])
    st = settings_for(kafka.bootstrap, tmp_store)
    msg = next(m for m in api.browse(st, "kafka", "k", dlq) if m["key"] == "k0")
    headers = dict(msg["headers"]) | {"trace": "t-2"}
    job = _run(st, {"broker": "kafka", "cluster": "k", "dlq": dlq, "selection": {"mode": "picked", "coords": [msg["coord"]]},
                    "edit": {"coord": msg["coord"], "payload": '{"amount": 5}', "headers": headers}})
    assert (job["state"], job["replayed"]) == ("done", 1), job
    [copy] = read_all(kafka.bootstrap, orders, 1)
    assert copy.value == b'{"amount": 5}' and copy.key == b"k0"
    assert header(copy, "trace") == "t-2" and header(copy, "kafka_dlt-original-topic") == orders
    assert len(header(copy, "eventdeck-replay-id") or "") == 32
    assert [r.value for r in read_all(kafka.bootstrap, dlq, 2)][0] == b'{"amount": -5}'  # the original stays
    detail = _edited_audit(tmp_store)
    assert detail["original_sha256"] == hashlib.sha256(b'{"amount": -5}').hexdigest()
    assert detail["edited_sha256"] == hashlib.sha256(b'{"amount": 5}').hexdigest()
    assert '+{"amount": 5}' in detail["payload_diff"]
    assert detail["headers"]["changed"] == {"trace": "t-2"}


@pytest.fixture
def topo(rabbitmq):
    t = Topology(rabbitmq.amqp_url)
    yield t
    t.close()


def test_rabbit_edited_copy_is_confirmed_before_the_original_is_acked(topo, rabbitmq, tmp_store, monkeypatch):
    monkeypatch.setenv(PW_ENV, rabbitmq.password)
    st = Settings.model_validate({
        "store": store_settings(tmp_store),
        "rabbitmq": {"clusters": [{"name": "r", "amqp_url": f"amqp://{rabbitmq.host}:{rabbitmq.amqp_port}/%2F",
                                   "management_url": rabbitmq.mgmt_url, "username": rabbitmq.user,
                                   "password_env": PW_ENV}]}})
    u = uid()
    dlx = topo.exchange(f"dlx-{u}", "fanout")
    dlq = topo.queue(f"orders-{u}.dlq", bind=(dlx, ""))
    src = topo.queue(f"orders-{u}", dlx=dlx)
    for i in (-5, 9):
        topo.ch.basic_publish("", src, json.dumps({"amount": i}).encode(), pika.BasicProperties(message_id=f"m{i}"))
    topo.wait_depth(src, 2)
    topo.reject_all(src)
    topo.wait_depth(dlq, 2)
    msg = next(m for m in api.browse(st, "rabbitmq", "r", dlq) if '-5' in m["payload"])
    job = _run(st, {"broker": "rabbitmq", "cluster": "r", "dlq": dlq,
                    "selection": {"mode": "picked", "coords": [msg["coord"]]},
                    "edit": {"coord": msg["coord"], "payload": '{"amount": 5}', "headers": dict(msg["headers"])}})
    assert (job["state"], job["replayed"]) == ("done", 1), job
    [(props, body)] = topo.drain(src)
    assert body == b'{"amount": 5}'
    assert props.headers["x-death"][0]["queue"] == src  # untouched structured header kept as it was
    assert topo.depth(dlq) == 1  # the edited message's DLQ copy was acked after the confirm; the other stays
    detail = _edited_audit(tmp_store)
    assert detail["original_sha256"] == hashlib.sha256(b'{"amount": -5}').hexdigest()
    assert detail["headers"] == {"changed": {}, "added": {}, "removed": []}
