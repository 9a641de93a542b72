"""Partial failures show (runner.collect): a telemetry cycle whose read summaries are stored but whose
acknowledgement fails, because RabbitMQ closed the collector's connection (through its management API)
between the store write and the ack, still counts as up, and says so: ``collector_degraded{reason="ack"}``
is 1 and the status reason names the failed acknowledgement; the summaries come again and the next whole
cycle writes 0 and clears the reason. On both store backends."""
from __future__ import annotations

import time
import uuid
from urllib.parse import quote

import pika
import requests

from collectors.telemetry import RabbitSource, telemetry_job
from config.rabbitmq import RabbitClusterConfig
from config.telemetry import TelemetryConfig
from runner.collect import DEGRADED_METRIC
from store import queries, status
from store.db import connect_reader


def _kill_connection(rabbitmq, conn: pika.BlockingConnection) -> None:
    """RabbitMQ closes ``conn`` (as an operator closing it in the management UI, or a broker restart)."""
    sock = conn._impl._transport._sock
    (lh, lp), (rh, rp) = sock.getsockname()[:2], sock.getpeername()[:2]
    name = f"{lh}:{lp} -> {rh}:{rp}"
    deadline = time.monotonic() + 30
    while True:  # the management API lists a connection a moment after it opened
        r = requests.delete(f"{rabbitmq.mgmt_url}/api/connections/{quote(name, safe='')}",
                            auth=(rabbitmq.user, rabbitmq.password), timeout=10)
        if r.status_code in (200, 204) or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert r.status_code in (200, 204), (name, r.status_code, r.text)
    deadline = time.monotonic() + 30
    while conn.is_open and time.monotonic() < deadline:
        try:
            conn.process_data_events(time_limit=0.1)  # the client learns of the close
        except pika.exceptions.AMQPError:
            break


def _publish(rabbitmq, exchange: str, n: int) -> None:
    conn = pika.BlockingConnection(pika.URLParameters(rabbitmq.amqp_url))
    try:
        ch = conn.channel()
        for i in range(n):
            ch.basic_publish(exchange, "", b"not a summary %d" % i)  # rejected and counted, still read and acked
    finally:
        conn.close()


def _state(store, target: str) -> tuple[bool, str | None, dict[str, float]]:
    conn = connect_reader(store)
    try:
        st = status.read_status(conn)
        df = queries.latest(conn, DEGRADED_METRIC, {"target": target})
    finally:
        conn.close()
    row = st[st["target"] == target].iloc[0]
    reason = row["reason"] if isinstance(row["reason"], str) else None
    return bool(row["up"]), reason, {} if df.empty else dict(zip(df["reason"], df["value"].astype(float)))


def test_a_failed_ack_is_up_but_degraded_then_whole_again(rabbitmq, any_store):
    sfx = uuid.uuid4().hex[:8]
    tcfg = TelemetryConfig(rabbitmq_exchange=f"telemetry.{sfx}", rabbitmq_queue=f"telemetry.collector.{sfx}",
                           interval_s=1)
    source = RabbitSource(RabbitClusterConfig(name="r", management_url=rabbitmq.mgmt_url,
                                              amqp_url=rabbitmq.amqp_url), tcfg)
    job = telemetry_job("rabbitmq", "r", source, any_store, tcfg)
    target = job.target
    try:
        assert job.run() is True  # declares the queue; nothing read, nothing degraded
        assert _state(any_store, target) == (True, None, {})
        _publish(rabbitmq, tcfg.rabbitmq_exchange, 3)
        collect = job.collector.collect

        def collect_then_lose_the_connection(now_ms):
            cycle = collect(now_ms)
            _kill_connection(rabbitmq, source._conn)
            return cycle

        job.collector.collect = collect_then_lose_the_connection
        assert job.run() is True  # stored: the cycle counts
        up, reason, degraded = _state(any_store, target)
        assert up and degraded == {"ack": 1.0}, (up, reason, degraded)
        assert reason.startswith("degraded, 1 part(s) failed: ack acknowledgement: ")
        job.collector.collect = collect
        deadline = time.monotonic() + 30
        while True:  # reconnects; the unacknowledged summaries come back and are acked this time
            assert job.run() is True
            up, reason, degraded = _state(any_store, target)
            if degraded.get("ack") == 0.0 or time.monotonic() > deadline:
                break
            time.sleep(0.2)
        assert (up, reason, degraded) == (True, None, {"ack": 0.0})
        mgmt = requests.get(f"{rabbitmq.mgmt_url}/api/queues/%2F/{quote(tcfg.rabbitmq_queue, safe='')}",
                            auth=(rabbitmq.user, rabbitmq.password), timeout=10).json()
        deadline = time.monotonic() + 30
        while mgmt.get("messages_unacknowledged", 0) + mgmt.get("messages_ready", 0) and time.monotonic() < deadline:
            time.sleep(1)  # the management API's counts lag a few seconds
            mgmt = requests.get(f"{rabbitmq.mgmt_url}/api/queues/%2F/{quote(tcfg.rabbitmq_queue, safe='')}",
                                auth=(rabbitmq.user, rabbitmq.password), timeout=10).json()
        assert mgmt.get("messages_ready", 0) == 0 and mgmt.get("messages_unacknowledged", 0) == 0
    finally:
        job.close()
        conn = pika.BlockingConnection(pika.URLParameters(rabbitmq.amqp_url))
        conn.channel().queue_delete(tcfg.rabbitmq_queue)
        conn.channel().exchange_delete(tcfg.rabbitmq_exchange)
        conn.close()
