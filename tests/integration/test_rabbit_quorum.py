"""Quorum queues against the real node: a delivery limit without a dead-letter exchange (by queue
argument, and by policy) is flagged and fires the built-in rule; with a dead-letter exchange
(at-least-once dead-lettering into a quorum DLQ) a message rejected past the limit lands in the DLQ,
``dlq_messages`` counts it and a replay puts it back."""
from __future__ import annotations

import time
import uuid
from typing import Any
from urllib.parse import quote

import pika
import pytest
import requests

from alerts import api
from alerts.evaluator import Options, evaluate
from collectors.rabbitmq import RabbitCollector
from config import Settings
from config.rabbitmq import RabbitClusterConfig
from dlq import api as dlq_api
from dlq.jobs import run_pending
from runner.collect import CollectJob
from store import queries
from store.db import open_migrated

PW_ENV = "QUORUM_TEST_RABBIT_PASSWORD"


@pytest.fixture
def tmp_store(any_store):
    """This module runs on both store backends (SQLite, PostgreSQL)."""
    return any_store


def _mgmt(rabbitmq, method: str, path: str, body: Any = None) -> None:
    r = requests.request(method, rabbitmq.mgmt_url + path, json=body, auth=(rabbitmq.user, rabbitmq.password),
                         timeout=30)
    assert r.status_code in (200, 201, 204, 404), f"{method} {path}: {r.status_code} {r.text}"


@pytest.fixture
def names(rabbitmq):
    """A unique prefix; every queue and policy under it is deleted afterwards."""
    prefix = f"edqq-{uuid.uuid4().hex[:10]}-"
    made: dict[str, list[str]] = {"queues": [], "policies": []}
    yield prefix, made
    v = quote("/", safe="")
    for p in made["policies"]:
        _mgmt(rabbitmq, "DELETE", f"/api/policies/{v}/{p}")
    for q in made["queues"]:
        _mgmt(rabbitmq, "DELETE", f"/api/queues/{v}/{quote(q, safe='')}")


def _cfg(rabbitmq, prefix: str) -> RabbitClusterConfig:
    return RabbitClusterConfig(name="itest-qq", management_url=rabbitmq.mgmt_url, amqp_url=rabbitmq.amqp_url,
                               username=rabbitmq.user, queues_allow=[f"{prefix}*"], topology_refresh_s=0,
                               password_env=PW_ENV)


def _until(job: CollectJob, pred, what: str, timeout: float = 60.0):
    """Collect at real time until ``pred(samples)``: the management API emits a new queue's stats later."""
    deadline = time.monotonic() + timeout
    while True:
        samples = job.collector.collect(int(time.time() * 1000)).samples
        if pred(samples):
            return samples
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.5)


def _values(samples, metric: str) -> dict[str, float]:
    return {s.labels["queue"]: s.value for s in samples if s.metric == metric}


def test_delivery_limit_without_dlx_is_flagged_and_fires(rabbitmq, tmp_store, names, monkeypatch):
    monkeypatch.setenv(PW_ENV, rabbitmq.password)
    prefix, made = names
    by_arg, by_policy, safe = f"{prefix}orders", f"{prefix}payments", f"{prefix}audited"
    v = quote("/", safe="")
    _mgmt(rabbitmq, "PUT", f"/api/queues/{v}/{by_arg}", {"durable": True, "arguments": {
        "x-queue-type": "quorum", "x-delivery-limit": 3}})
    _mgmt(rabbitmq, "PUT", f"/api/queues/{v}/{by_policy}", {"durable": True, "arguments": {"x-queue-type": "quorum"}})
    _mgmt(rabbitmq, "PUT", f"/api/queues/{v}/{safe}", {"durable": True, "arguments": {
        "x-queue-type": "quorum", "x-delivery-limit": 3, "x-dead-letter-exchange": "",
        "x-dead-letter-routing-key": f"{prefix}audited.dlq"}})
    made["queues"] += [by_arg, by_policy, safe]
    _mgmt(rabbitmq, "PUT", f"/api/policies/{v}/{prefix}limit", {
        "pattern": f"^{by_policy}$", "definition": {"delivery-limit": 5}, "apply-to": "queues"})
    made["policies"].append(f"{prefix}limit")
    conn = open_migrated(tmp_store)
    job = CollectJob(RabbitCollector(_cfg(rabbitmq, prefix)), conn, 10)
    try:
        want = {by_arg: 3.0, by_policy: 5.0, safe: 0.0}
        _until(job, lambda s: _values(s, "rabbitmq_queue_delivery_limit_without_dlx") == want,
               "the delivery-limit audit of the three quorum queues")
        t0 = int(time.time() * 1000)
        api.seed_builtin(conn, t0)
        for i in range(2):
            assert job.run(t0 + i * 10_000) is True, job.last_reason
            evaluate(conn, t0 + i * 10_000, Options())
        limits = queries.latest(conn, "rabbitmq_queue_delivery_limit", {"cluster": "itest-qq"})
        assert {r["queue"]: r["value"] for _, r in limits.iterrows()} == {by_arg: 3, by_policy: 5, safe: 3}
        types = queries.latest(conn, "rabbitmq_queue_info", {"cluster": "itest-qq"})
        assert set(types["type"]) == {"quorum"}
        firing = api.alerts(conn, ["firing"])
        firing = firing[firing["rule"] == "rabbitmq-delivery-limit-no-dlx"]
        got = {row["labels"]["queue"]: row for _, row in firing.iterrows()}
        assert set(got) == {by_arg, by_policy}  # the queue with a DLX is not flagged
        summaries = {q: r["summary"] for q, r in got.items()}
        assert summaries[by_arg] == (f"Quorum queue {by_arg} (vhost /) on itest-qq has no dead-letter exchange: "
                                     "messages will be dropped after 3 redeliveries")
        assert summaries[by_policy].endswith("after 5 redeliveries")
        print(f"\nfiring rabbitmq-delivery-limit-no-dlx: {summaries}")
    finally:
        job.close()


def _publish_and_reject_until_dead_lettered(rabbitmq, queue: str, dlq: str) -> list[int]:
    """One message into ``queue``, rejected with requeue until it leaves; the x-delivery-count of each delivery."""
    conn = pika.BlockingConnection(pika.URLParameters(rabbitmq.amqp_url))
    ch = conn.channel()
    ch.confirm_delivery()
    ch.basic_publish("", queue, b"poison-1", pika.BasicProperties(message_id="poison-1", delivery_mode=2))
    counts: list[int] = []
    deadline = time.monotonic() + 30
    while ch.queue_declare(dlq, passive=True).method.message_count == 0:
        assert time.monotonic() < deadline, f"the message never reached {dlq} (deliveries: {counts})"
        m, props, _ = ch.basic_get(queue)
        if m is None:
            time.sleep(0.05)
            continue
        counts.append(int((props.headers or {}).get("x-delivery-count", 0)))
        ch.basic_reject(m.delivery_tag, requeue=True)
    conn.close()
    return counts


def test_quorum_dlq_gets_the_message_past_the_limit_and_replays_it(rabbitmq, tmp_store, names, monkeypatch):
    monkeypatch.setenv(PW_ENV, rabbitmq.password)
    prefix, made = names
    work, dlq = f"{prefix}orders", f"{prefix}orders.dlq"
    v = quote("/", safe="")
    _mgmt(rabbitmq, "PUT", f"/api/queues/{v}/{quote(dlq, safe='')}", {"durable": True, "arguments": {
        "x-queue-type": "quorum"}})
    _mgmt(rabbitmq, "PUT", f"/api/queues/{v}/{work}", {"durable": True, "arguments": {
        "x-queue-type": "quorum", "x-delivery-limit": 3, "x-dead-letter-exchange": "",
        "x-dead-letter-routing-key": dlq, "x-dead-letter-strategy": "at-least-once", "x-overflow": "reject-publish"}})
    made["queues"] += [work, dlq]
    counts = _publish_and_reject_until_dead_lettered(rabbitmq, work, dlq)
    # RabbitMQ 3.10 dead-letters once the delivery count exceeds the limit: deliveries with
    # x-delivery-count 0, 1, 2, 3 (4 rejections) and then the DLQ; the queue itself never lost it.
    assert counts == [0, 1, 2, 3]
    conn = open_migrated(tmp_store)
    job = CollectJob(RabbitCollector(_cfg(rabbitmq, prefix)), conn, 10)
    try:
        samples = _until(job, lambda s: any(x.metric == "dlq_messages" and x.labels["dlq"] == dlq and x.value == 1
                                            for x in s), f"dlq_messages of {dlq}")
        assert _values(samples, "rabbitmq_queue_delivery_limit_without_dlx")[work] == 0
        sources = [x.labels["source"] for x in samples if x.metric == "dlq_source_info" and x.labels["dlq"] == dlq]
        assert sources == [work]
    finally:
        job.close()
        conn.close()
    st = Settings.model_validate({
        "store": {"path": str(tmp_store)}, "dlq": {"allowed_targets": {"itest-qq": ["*", "exchange:*"]}},
        "rabbitmq": {"clusters": [{"name": "itest-qq", "amqp_url": f"amqp://{rabbitmq.host}:{rabbitmq.amqp_port}/%2F",
                                   "management_url": rabbitmq.mgmt_url, "username": rabbitmq.user,
                                   "password_env": PW_ENV}]}})
    conn = open_migrated(tmp_store)
    try:
        jid = dlq_api.enqueue_replay(conn, {"broker": "rabbitmq", "cluster": "itest-qq", "dlq": dlq,
                                            "rate_per_s": None}, "tester", int(time.time() * 1000))
        assert run_pending(st, st.store.handle, jid) == jid
        job_row = dlq_api.job(conn, jid)
    finally:
        conn.close()
    assert (job_row["state"], job_row["replayed"], job_row["failed"]) == ("done", 1, 0), job_row
    amqp = pika.BlockingConnection(pika.URLParameters(rabbitmq.amqp_url))
    try:
        ch = amqp.channel()
        assert ch.queue_declare(dlq, passive=True).method.message_count == 0
        m, props, body = ch.basic_get(work, auto_ack=True)
        assert body == b"poison-1" and props.message_id == "poison-1"
        assert props.headers["eventdeck-replay-count"] == "1"
    finally:
        amqp.close()
    print(f"\n{work}: deliveries with x-delivery-count {counts} then dead-lettered into {dlq} (quorum, "
          f"at-least-once); dlq_messages 1; replay job {job_row['state']} replayed {job_row['replayed']}; back in {work}")
