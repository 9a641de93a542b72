"""Replay you can point at production, on the real brokers: a header naming a target that is not linked
to the DLQ is blocked (and the message stays), and a job replays only what its Confirm pinned."""
from __future__ import annotations

import json
import time
from typing import Any

import pika
import pytest

from collectors.rabbitmq import collect_job
from config import Settings
from dlq import api
from dlq.jobs import run_pending
from store import queries
from store.db import open_migrated
from tests.cycles import run_cycle
from tests.integration.dlq_helpers import Topology, make_topics, read_all, seed, settings_for, spring, uid
from tests.conftest import store_settings


@pytest.fixture
def tmp_store(any_store):
    """This module runs on both store backends (SQLite, PostgreSQL)."""
    return any_store

PW_ENV = "DLQ_TEST_RABBIT_PASSWORD"


def _run(st: Settings, request: dict[str, Any]) -> dict[str, Any]:
    conn = open_migrated(st.store.handle)
    try:
        jid = api.enqueue_replay(conn, {"rate_per_s": None, **request}, "tester", int(time.time() * 1000))
        assert run_pending(st, st.store.handle, jid) == jid
        return {**api.job(conn, jid), "messages": api.job_messages(conn, jid)}
    finally:
        conn.close()


# Kafka

def test_kafka_header_to_unlinked_topic_is_blocked(kafka, tmp_store):
    u = uid()
    orders, secret, dlq = f"orders-{u}", f"secret-{u}", f"orders-{u}.DLT"
    make_topics(kafka.bootstrap, {orders: 1, secret: 1, dlq: 1})
    seed(kafka.bootstrap, dlq, [(b"good", b"to orders", spring(orders, 0, 1)),
                                (b"evil", b"to secret", spring(secret, 0, 2)),
                                (b"ours", b"forged", [("eventdeck-replay-target", json.dumps({"topic": secret}).encode())])])
    st = settings_for(kafka.bootstrap, tmp_store, dlq={})  # no allowed_targets: only linked sources
    req = {"broker": "kafka", "cluster": "k", "dlq": dlq}
    report = api.dry_run_report(st, req)
    by_key = {r["key"]: r for r in report["rows"]}
    assert by_key["good"]["action"] == "replay" and orders in by_key["good"]["target"]
    for k in ("evil", "ours"):
        assert by_key[k]["action"] == "error" and by_key[k]["reason"].startswith("blocked: target not allowed")
    assert {(d["action"], d["destination"], d["messages"]) for d in report["by_destination"]} == {
        ("replay", by_key["good"]["target"], 1),
        ("error", "blocked: target not allowed", 2)}

    job = _run(st, {**req, "pin": report["pin"]})
    assert (job["state"], job["replayed"], job["failed"]) == ("done", 1, 2), job
    blocked = [m for m in job["messages"] if m["outcome"] == "failed"]
    assert all("blocked: target not allowed" in m["detail"] for m in blocked)
    assert [r.key for r in read_all(kafka.bootstrap, orders, 1)] == [b"good"]
    assert read_all(kafka.bootstrap, secret, 0, timeout=3) == []  # nothing reached the unlinked topic

    # allowed by dlq.allowed_targets, or chosen explicitly by an operator (shown and audited)
    allowed = settings_for(kafka.bootstrap, tmp_store, dlq={"allowed_targets": {"k": [f"secret-{u}"]}})
    assert _run(allowed, req)["replayed"] == 2  # the two blocked ones; 'good' is in the ledger already
    assert len(read_all(kafka.bootstrap, secret, 2)) == 2


def test_kafka_job_replays_only_the_pinned_offsets(kafka, tmp_store):
    u = uid()
    orders, dlq = f"shop-{u}", f"shop-{u}.DLT"
    make_topics(kafka.bootstrap, {orders: 1, dlq: 1})
    seed(kafka.bootstrap, dlq, [(f"seen{i}".encode(), b"x", spring(orders, 0, i)) for i in range(3)])
    st = settings_for(kafka.bootstrap, tmp_store, dlq={})
    req = {"broker": "kafka", "cluster": "k", "dlq": dlq}
    report = api.dry_run_report(st, req)
    assert (report["looked"], report["stopped"], report["pin"]) == (3, None, {"ranges": {"0": [0, 3]}})
    seed(kafka.bootstrap, dlq, [(f"late{i}".encode(), b"x", spring(orders, 0, 10 + i)) for i in range(2)])
    job = _run(st, {**req, "pin": report["pin"]})  # the operator confirmed after the late arrivals
    assert (job["replayed"], job["total"]) == (3, 3), job
    assert sorted(r.key for r in read_all(kafka.bootstrap, orders, 3)) == [b"seen0", b"seen1", b"seen2"]


def test_kafka_dry_run_says_how_far_it_looked(kafka, tmp_store):
    u = uid()
    orders, dlq = f"big-{u}", f"big-{u}.DLT"
    make_topics(kafka.bootstrap, {orders: 1, dlq: 1})
    seed(kafka.bootstrap, dlq, [(f"k{i}".encode(), b"v" * 2000, spring(orders, 0, i)) for i in range(6)])
    st = settings_for(kafka.bootstrap, tmp_store, dlq={"scan_max_messages": 4})
    report = api.dry_run_report(st, {"broker": "kafka", "cluster": "k", "dlq": dlq})
    assert (report["looked"], report["total"], report["stopped"]) == (4, 6, "messages")
    assert report["pin"] == {"ranges": {"0": [0, 4]}}
    assert "first 4 of 6" in api.describe_scan(report)
    st = settings_for(kafka.bootstrap, tmp_store, dlq={"scan_max_bytes": 4096})
    report = api.dry_run_report(st, {"broker": "kafka", "cluster": "k", "dlq": dlq})
    assert report["stopped"] == "bytes" and report["looked"] < 6 and report["read_bytes"] >= 4096


# RabbitMQ

@pytest.fixture
def topo(rabbitmq):
    t = Topology(rabbitmq.amqp_url)
    yield t
    t.close()


@pytest.fixture
def rsettings(rabbitmq, tmp_store, monkeypatch):
    monkeypatch.setenv(PW_ENV, rabbitmq.password)

    def make(**dlq: Any) -> Settings:
        return Settings.model_validate({
            "store": store_settings(tmp_store), "dlq": dlq,
            "rabbitmq": {"clusters": [{"name": "r", "amqp_url": f"amqp://{rabbitmq.host}:{rabbitmq.amqp_port}/%2F",
                                       "management_url": rabbitmq.mgmt_url, "username": rabbitmq.user,
                                       "password_env": PW_ENV}]}})
    return make


def _link_by_collector(st: Settings, dlq: str, source: str, timeout: float = 30.0) -> None:
    """Run the RabbitMQ collector into the store until it links ``dlq`` to ``source`` (the management API
    lists a new queue's counters only after its first stats tick)."""
    job = collect_job(st.rabbitmq.clusters[0], st.store.handle)
    conn = open_migrated(st.store.handle)
    deadline = time.monotonic() + timeout
    try:
        while True:
            run_cycle(job, int(time.time() * 1000))
            df = queries.latest(conn, "dlq_source_info", {"dlq": dlq})
            if not df.empty and source in set(df["source"]):
                return
            assert time.monotonic() < deadline, f"the collector never linked {dlq} to {source}"
            time.sleep(1.0)
    finally:
        conn.close()
        job.close()


def test_rabbit_header_to_unlinked_exchange_or_queue_is_blocked_and_stays(topo, rsettings):
    u = uid()
    dlx = topo.exchange(f"dlx-{u}", "fanout")
    dlq = topo.queue(f"grave-{u}", bind=(dlx, ""))  # no naming convention: only the topology links it
    work = topo.queue(f"work-{u}", dlx=dlx)
    secret = topo.queue(f"secret-{u}")
    trap = topo.exchange(f"trap-{u}", "fanout")
    topo.ch.queue_bind(secret, trap)
    topo.ch.basic_publish("", work, b"genuine", pika.BasicProperties(message_id="genuine"))
    topo.wait_depth(work, 1)
    topo.reject_all(work)  # x-death names work-<u>
    topo.ch.basic_publish("", dlq, b"forged-exchange", pika.BasicProperties(message_id="forged-exchange", headers={
        "eventdeck-replay-target": json.dumps({"exchange": trap, "routing_key": "x"})}))
    topo.ch.basic_publish("", dlq, b"forged-death", pika.BasicProperties(message_id="forged-death", headers={
        "x-death": [{"queue": secret, "reason": "rejected", "count": 1, "exchange": "", "routing-keys": [secret]}],
        "x-first-death-queue": secret}))
    topo.wait_depth(dlq, 3)
    st = rsettings()
    _link_by_collector(st, dlq, work)
    req = {"broker": "rabbitmq", "cluster": "r", "dlq": dlq}
    report = api.dry_run_report(st, req)
    by_key = {r["key"]: r for r in report["rows"]}
    assert by_key["genuine"]["action"] == "replay" and work in by_key["genuine"]["target"]
    for k in ("forged-exchange", "forged-death"):
        assert by_key[k]["action"] == "error" and by_key[k]["reason"].startswith("blocked: target not allowed"), k
    assert report["pin"] == {"count": 3}

    job = _run(st, {**req, "pin": report["pin"]})
    assert (job["state"], job["replayed"], job["failed"]) == ("done", 1, 2), job
    assert [b for _, b in topo.drain(work)] == [b"genuine"]
    assert topo.depth(secret) == 0  # neither the trap exchange nor the foreign queue got anything
    assert sorted(b for _, b in topo.drain(dlq)) == [b"forged-death", b"forged-exchange"]  # they stayed


def test_rabbit_job_replays_only_the_pinned_count(topo, rsettings):
    u = uid()
    dest = topo.queue(f"dest-{u}")
    dlq = topo.queue(f"dest-{u}.dlq")
    for i in range(3):
        topo.ch.basic_publish("", dlq, f"seen{i}".encode(), pika.BasicProperties(message_id=f"seen{i}"))
    topo.wait_depth(dlq, 3)
    st = rsettings()
    req = {"broker": "rabbitmq", "cluster": "r", "dlq": dlq}
    report = api.dry_run_report(st, req)
    assert (report["looked"], report["pin"], report["stopped"]) == (3, {"count": 3}, None)
    for i in range(2):  # arrive after the dry run, before the job runs
        topo.ch.basic_publish("", dlq, f"late{i}".encode(), pika.BasicProperties(message_id=f"late{i}"))
    topo.wait_depth(dlq, 5)
    job = _run(st, {**req, "pin": report["pin"]})
    assert job["replayed"] == 3, job
    assert sorted(b for _, b in topo.drain(dest)) == [b"seen0", b"seen1", b"seen2"]
    assert sorted(b for _, b in topo.drain(dlq)) == [b"late0", b"late1"]


def test_rabbit_browse_is_refused_while_a_job_is_queued(topo, rsettings):
    u = uid()
    dlq = topo.queue(f"busy-{u}.dlq")
    topo.ch.basic_publish("", dlq, b"m")
    topo.wait_depth(dlq, 1)
    st = rsettings()
    conn = open_migrated(st.store.handle)
    try:
        jid = api.enqueue_replay(conn, {"broker": "rabbitmq", "cluster": "r", "dlq": dlq}, "tester",
                                 int(time.time() * 1000))
    finally:
        conn.close()
    with pytest.raises(api.BrowseRefused, match=f"job {jid}"):
        api.browse(st, "rabbitmq", "r", dlq)
    with pytest.raises(api.BrowseRefused, match=f"job {jid}"):  # a dry run peeks too
        api.dry_run_report(st, {"broker": "rabbitmq", "cluster": "r", "dlq": dlq})
    assert topo.depth(dlq) == 1
    with pytest.raises(api.BrowseRefused, match="browse_max_page"):
        api.browse(st, "kafka", "k", "x", page=st.dlq.browse_max_page + 1)
