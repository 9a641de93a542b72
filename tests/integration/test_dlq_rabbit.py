"""DLQ browse and replay against the real RabbitMQ node."""
from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pika
import pytest
import yaml

from dlq import api
from dlq.jobs import jobs, run_pending
from store.db import open_migrated
from store.types import Sample
from store.writes import SampleWriter
from tests.integration.dlq_helpers import Topology, uid
from tests.integration.dlq_rabbit_helpers import replay, settings, topo

__all__ = ["settings", "topo"]  # fixtures, used by name


@pytest.fixture
def tmp_store(any_store):
    """This module runs on both store backends (SQLite, PostgreSQL)."""
    return any_store


def dead_lettered_pair(topo: Topology, u: str, n: int) -> tuple[str, str, str, str]:
    """A fan-out exchange feeding queues a and b, both dead-lettering into one DLQ with n messages each."""
    dlx = topo.exchange(f"dlx-{u}", "fanout")
    dlq = topo.queue(f"orders-{u}.dlq", bind=(dlx, ""))
    ex = topo.exchange(f"orders-{u}", "fanout")
    qa = topo.queue(f"billing-{u}", dlx=dlx, bind=(ex, ""))
    qb = topo.queue(f"shipping-{u}", dlx=dlx, bind=(ex, ""))
    for i in range(n):
        topo.ch.basic_publish(ex, "order.created", f"order-{i}".encode(),
                              pika.BasicProperties(message_id=f"m{i}", content_type="text/plain"))
    topo.wait_depth(qa, n)
    topo.wait_depth(qb, n)
    topo.reject_all(qa)
    topo.reject_all(qb)
    topo.wait_depth(dlq, 2 * n)
    return ex, dlq, qa, qb


def test_each_message_returns_to_its_own_queue_not_both(topo, settings):
    u = uid()
    _, dlq, qa, qb = dead_lettered_pair(topo, u, 5)
    st = settings()
    job = replay(st, dlq)
    assert (job["state"], job["replayed"], job["failed"]) == ("done", 10, 0), job
    assert topo.depth(dlq) == 0
    for q in (qa, qb):
        msgs = topo.drain(q)
        assert sorted(b for _, b in msgs) == [f"order-{i}".encode() for i in range(5)]  # 5, not 10
        for props, _ in msgs:
            assert props.headers["eventdeck-replay-count"] == "1"
            assert len(props.headers["eventdeck-replay-id"]) == 32
            assert props.message_id.startswith("m") and props.content_type == "text/plain"


def test_x_death_repeat_counts_and_loop_guard(topo, settings):
    u = uid()
    _, dlq, qa, qb = dead_lettered_pair(topo, u, 1)
    st = settings(max_replay_count=1)
    assert replay(st, dlq)["replayed"] == 2
    topo.wait_depth(qa, 1)
    topo.reject_all(qa)  # it fails again: x-death count 2 for billing
    topo.reject_all(qb)
    topo.wait_depth(dlq, 2)
    rows = api.browse(st, "rabbitmq", "r", dlq)
    billing = next(r for r in rows if r["deaths"][0]["queue"] == qa)
    assert billing["deaths"][0]["count"] == 2 and billing["deaths"][0]["reason"] == "rejected"
    assert billing["replay_count"] == 1 and billing["reason"].startswith("rejected")
    assert billing["target"] == f"queue {qa} (from eventdeck)"  # our header names where it went last
    assert topo.depth(dlq) == 2  # browsing is a non-destructive peek

    job = replay(st, dlq)  # replayed once already, limit 1: parked, not looped
    assert (job["replayed"], job["parked"]) == (0, 2)
    parking = f"{dlq}.parking"
    topo.queues.append(parking)
    parked = topo.drain(parking)
    assert len(parked) == 2 and topo.depth(dlq) == 0 and topo.depth(qa) == 0


def test_exchange_mode_uses_the_original_routing(topo, settings):
    u = uid()
    dlx = topo.exchange(f"dlx-{u}", "fanout")
    dlq = topo.queue(f"direct-{u}.dlq", bind=(dlx, ""))
    ex = topo.exchange(f"direct-{u}", "direct")
    qa = topo.queue(f"a-{u}", dlx=dlx, bind=(ex, "to-a"))
    audit_q = topo.queue(f"audit-{u}", bind=(ex, "to-a"))  # a second subscriber of the same key
    topo.ch.basic_publish(ex, "to-a", b"hello")
    topo.wait_depth(qa, 1)
    topo.drain(audit_q)
    topo.reject_all(qa)
    topo.wait_depth(dlq, 1)
    st = settings()
    plan = api.dry_run(st, {"broker": "rabbitmq", "cluster": "r", "dlq": dlq, "rabbit_mode": "exchange"})
    assert plan[0]["target"] == f"exchange '{ex}' routing key 'to-a' (from x-death)"
    assert replay(st, dlq, rabbit_mode="exchange")["replayed"] == 1
    assert [b for _, b in topo.drain(qa)] == [b"hello"]
    assert [b for _, b in topo.drain(audit_q)] == [b"hello"]  # the exchange routes to every bound queue


def test_bad_target_leaves_the_message(topo, settings):
    u = uid()
    dlq = topo.queue(f"bad-{u}.dlq")
    topo.ch.basic_publish("", dlq, b"stay")
    topo.wait_depth(dlq, 1)
    st = settings()
    missing = f"nowhere-{u}"
    job = replay(st, dlq, target={"queue": missing})
    assert (job["replayed"], job["failed"]) == (0, 1)
    [m] = api.job_messages(open_migrated(st.store.handle), job["id"])
    assert missing in m["detail"] and "does not exist" in m["detail"] and "unroutable" in m["detail"]
    job = replay(st, dlq, target={"exchange": f"no-exchange-{u}", "routing_key": "k"})
    [m] = api.job_messages(open_migrated(st.store.handle), job["id"])
    assert "404" in m["detail"] and f"no-exchange-{u}" in m["detail"]
    assert topo.depth(dlq) == 1
    assert [b for _, b in topo.drain(dlq)] == [b"stay"]


def test_rate_limit_is_never_exceeded(topo, settings):
    u = uid()
    dlq = topo.queue(f"paced-{u}.dlq")
    dest = topo.queue(f"paced-{u}")
    for i in range(300):
        topo.ch.basic_publish("", dlq, str(i).encode())
    topo.wait_depth(dlq, 300)
    st = settings()
    t0 = time.monotonic()
    job = replay(st, dlq, rate_per_s=100)  # by convention to paced-<u>
    elapsed = time.monotonic() - t0
    assert job["replayed"] == 300
    assert elapsed >= 2.9, f"300 messages at 100/s took only {elapsed:.2f} s"
    assert topo.depth(dest) == 300


def test_cli_and_collector_poller(topo, settings, tmp_path):
    u = uid()
    dlq = topo.queue(f"cli-{u}.dlq")
    dest = topo.queue(f"cli-{u}")
    for i in range(3):
        topo.ch.basic_publish("", dlq, f'{{"n": {i}}}'.encode())
    topo.wait_depth(dlq, 3)
    st = settings()
    cfg = tmp_path / "eventdeck.yaml"
    cfg.write_text(yaml.safe_dump(st.model_dump(mode="json")))

    def cli(*args: str) -> str:
        r = subprocess.run([sys.executable, "-m", "dlq", "--config", str(cfg), *args], capture_output=True,
                           text=True, timeout=60, cwd=Path(__file__).resolve().parents[2])
        assert r.returncode == 0, r.stderr
        return r.stdout

    plan = cli("replay", "--dry-run", "rabbitmq", "r", dlq).splitlines()
    assert len(plan) == 3 and all("action=replay" in ln and f"queue cli-{u} (from convention)" in ln for ln in plan)
    shown = [json.loads(ln) for ln in cli("show", "rabbitmq", "r", dlq, "--json").splitlines()]
    assert [m["payload_kind"] for m in shown] == ["json"] * 3 and shown[0]["payload"].startswith("{")
    assert topo.depth(dlq) == 3  # dry run and show change nothing
    err = subprocess.run([sys.executable, "-m", "dlq", "--config", str(cfg), "show", "rabbitmq", "r", f"none-{u}"],
                         capture_output=True, text=True, timeout=60, cwd=Path(__file__).resolve().parents[2])
    assert err.returncode == 1 and f"none-{u}" in err.stderr and "not found" in err.stderr

    [spec] = jobs(st, st.store.handle)  # what the collector service schedules
    assert spec.after_tick is False and spec.interval_s == st.dlq.job_poll_interval_s
    conn = open_migrated(st.store.handle)
    jid = api.enqueue_replay(conn, {"broker": "rabbitmq", "cluster": "r", "dlq": dlq}, "ann", 1)
    spec.func()
    job = api.job(conn, jid)
    assert (job["state"], job["replayed"]) == ("done", 3)
    assert topo.depth(dest) == 3 and topo.depth(dlq) == 0
    SampleWriter(conn).write([Sample("dlq_messages", {"broker": "rabbitmq", "cluster": "r", "vhost": "/", "dlq": dlq},
                                     int(time.time() * 1000), 0.0)])
    conn.close()
    listed = cli("jobs").splitlines()  # the CLI reads the configured store, SQLite or PostgreSQL
    assert any(f"id={jid}  state=done" in ln and "replayed=3" in ln for ln in listed), listed
    assert any(f"dlq={dlq}  messages=0" in ln for ln in cli("list").splitlines())
    for i in range(2):
        topo.ch.basic_publish("", dlq, f'{{"again": {i}}}'.encode())
    topo.wait_depth(dlq, 2)
    out = cli("replay", "rabbitmq", "r", dlq, "--unthrottled", "--actor", "cli-tester")
    assert "done: replayed=2" in out and topo.depth(dest) == 5 and topo.depth(dlq) == 0


def test_target_rejecting_publishes_keeps_the_messages(topo, settings):
    """A full queue with x-overflow=reject-publish nacks: those messages must stay in the DLQ. (An AMQP
    transaction would ack their DLQ copies anyway and fail with 'partial tx completion': lost.)"""
    u = uid()
    dlq = topo.queue(f"full-{u}.dlq")
    dest = f"full-{u}"
    topo.ch.queue_declare(dest, arguments={"x-max-length": 2, "x-overflow": "reject-publish"})
    topo.queues.append(dest)
    for i in range(5):
        topo.ch.basic_publish("", dlq, f"m{i}".encode())
    topo.wait_depth(dlq, 5)
    st = settings()
    job = replay(st, dlq)
    assert (job["replayed"], job["failed"]) == (2, 3), job
    failed = [m for m in api.job_messages(open_migrated(st.store.handle), job["id"]) if m["outcome"] == "failed"]
    assert all("nacked" in m["detail"] and dest in m["detail"] for m in failed), failed
    assert sorted(b for _, b in topo.drain(dest)) == [b"m0", b"m1"]
    assert sorted(b for _, b in topo.drain(dlq)) == [b"m2", b"m3", b"m4"]


def test_windowed_replay_full_and_unroutable_targets_keep_their_messages(topo, settings):
    """300 messages, window 64: a third to a full reject-publish queue, a third to a queue that does not
    exist, a third to a healthy queue. The refused ones stay in the DLQ with their reason (180 copies
    held: more than the window, so the consumer must make room), nothing else is lost or doubled."""
    u = uid()
    dlq = topo.queue(f"mix-{u}.dlq")
    ok = topo.queue(f"ok-{u}")
    full, gone = f"full-{u}", f"gone-{u}"
    topo.ch.queue_declare(full, arguments={"x-max-length": 20, "x-overflow": "reject-publish"})
    topo.queues.append(full)
    where = [full, gone, ok]
    for i in range(300):
        topo.ch.basic_publish("", dlq, f"m{i}".encode(), pika.BasicProperties(
            message_id=str(i), headers={"x-first-death-queue": where[i % 3], "x-first-death-reason": "rejected"}))
    topo.wait_depth(dlq, 300)
    st = settings()
    job = replay(st, dlq, window=64)
    assert (job["state"], job["replayed"], job["failed"], job["total"]) == ("done", 120, 180, 300), job
    msgs = api.job_messages(open_migrated(st.store.handle), job["id"])
    failed = [m["detail"] for m in msgs if m["outcome"] == "failed"]
    assert sum("nacked" in d and full in d for d in failed) == 80
    assert sum("unroutable" in d and "does not exist" in d and gone in d for d in failed) == 100
    assert all(f"stays in {dlq}" in d for d in failed)
    kept = [b for _, b in topo.drain(dlq)]
    landed = [b for _, b in topo.drain(full)] + [b for _, b in topo.drain(ok)]
    assert len(kept) == 180 and len(landed) == 120
    assert sorted(kept + landed) == sorted(f"m{i}".encode() for i in range(300))  # nothing lost, nothing doubled


def test_cancel_settles_the_window_and_stops(topo, settings):
    """A cancel seen at the next heartbeat stops publishing; the window in flight settles and is
    recorded, so what reached the target is exactly what the job counts; the rest stays in the DLQ."""
    import threading

    u = uid()
    dlq = topo.queue(f"cancel-{u}.dlq")
    dest = topo.queue(f"cancel-{u}")
    for i in range(1000):
        topo.ch.basic_publish("", dlq, f"m{i}".encode())
    topo.wait_depth(dlq, 1000)
    st = settings()
    conn = open_migrated(st.store.handle)
    jid = api.enqueue_replay(conn, {"broker": "rabbitmq", "cluster": "r", "dlq": dlq, "rate_per_s": 400,
                                    "window": 32}, "ann", int(time.time() * 1000))
    runner = threading.Thread(target=run_pending, args=(st, st.store.handle, jid))
    runner.start()
    deadline = time.monotonic() + 20
    while (api.job(conn, jid) or {}).get("replayed", 0) < 100:
        assert time.monotonic() < deadline
        time.sleep(0.02)
    assert api.cancel(conn, jid, "bob", int(time.time() * 1000))
    runner.join(timeout=20)
    assert not runner.is_alive()
    job = api.job(conn, jid)
    conn.close()
    assert job["state"] == "cancelled" and 100 <= job["replayed"] < 1000, job
    topo.wait_depth(dlq, 1000 - job["replayed"])
    assert topo.depth(dest) == job["replayed"]


def test_jobs_leave_no_file_descriptors_behind(topo, settings):
    """The collector service runs job after job in one process: each run's connections, poller and
    wake-up pipe are closed."""
    import os

    st = settings()
    u = uid()
    dlq = topo.queue(f"fds-{u}.dlq")
    topo.queue(f"fds-{u}")
    topo.ch.basic_publish("", dlq, b"warm-up")
    topo.wait_depth(dlq, 1)
    replay(st, dlq)  # imports, the store's first connection
    before = len(os.listdir("/proc/self/fd"))
    for i in range(3):
        topo.ch.basic_publish("", dlq, f"m{i}".encode())
        topo.wait_depth(dlq, 1)
        assert replay(st, dlq)["replayed"] == 1
    assert len(os.listdir("/proc/self/fd")) == before
