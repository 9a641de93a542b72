"""Cycles between two counter reads (``counters_interval_s``) against the real node: the depth and
consumer figures read from the rabbitmq_prometheus endpoint and from the management API without stats
both equal ``rabbitmqctl list_queues`` and the full cycle's; a vhost of our own, deleted after."""
from __future__ import annotations

import json
import subprocess
import time
import uuid
from urllib.parse import quote

import pika
import pytest
import requests

from brokers.rabbitmq import RabbitError
from collectors.rabbitmq import RabbitCollector
from config.rabbitmq import RabbitClusterConfig
from tests.integration.test_rabbit_collector import fast_stats  # noqa: F401

GAUGES = {"rabbitmq_queue_ready_messages": "messages_ready", "rabbitmq_queue_unacked_messages":
          "messages_unacknowledged", "rabbitmq_queue_messages": "messages", "rabbitmq_queue_consumers": "consumers"}


def _api(rmq, method: str, path: str, body: dict | None = None) -> None:
    r = requests.request(method, rmq.mgmt_url + path, json=body, auth=(rmq.user, rmq.password), timeout=60)
    assert r.status_code < 300 or (method == "DELETE" and r.status_code == 404), (path, r.status_code, r.text)


@pytest.fixture
def vhost(fast_stats):
    """A vhost of our own with three queues: 5 ready; 3 held unacked by a consumer + 2 ready; one
    consumer and nothing queued. Yields (vhost, open connection); the vhost is deleted after."""
    rmq = fast_stats
    name = f"ed-gauge-{uuid.uuid4().hex[:8]}"
    _api(rmq, "PUT", f"/api/vhosts/{name}")
    _api(rmq, "PUT", f"/api/permissions/{name}/{rmq.user}", {"configure": ".*", "write": ".*", "read": ".*"})
    conn = pika.BlockingConnection(pika.URLParameters(
        f"amqp://{rmq.user}:{rmq.password}@{rmq.host}:{rmq.amqp_port}/{quote(name, safe='')}"))
    try:
        ch = conn.channel()
        for q in ("ready", "held", "idle"):
            ch.queue_declare(q)
        for q, n in (("ready", 5), ("held", 5)):
            for _ in range(n):
                ch.basic_publish("", q, b"x")
        ch.basic_qos(prefetch_count=3)
        ch.basic_consume("held", lambda *a: None, auto_ack=False)  # takes 3, never acks
        ch.basic_consume("idle", lambda *a: None, auto_ack=False)
        conn.process_data_events(time_limit=1)
        yield name, conn
    finally:
        conn.close()
        _api(rmq, "DELETE", f"/api/vhosts/{name}")


def rabbitmqctl(vhost: str) -> dict[str, dict[str, float]]:
    out = subprocess.run(["rabbitmqctl", "-q", "list_queues", "-p", vhost, "name", "messages_ready",
                          "messages_unacknowledged", "messages", "consumers", "--formatter", "json"],
                         capture_output=True, text=True, timeout=60, check=True).stdout
    return {r["name"]: {k: float(r[k]) for k in GAUGES.values()} for r in json.loads(out)}


def figures(samples) -> dict[str, dict[str, float]]:
    out: dict[str, dict[str, float]] = {}
    for s in samples:
        if s.metric in GAUGES:
            out.setdefault(s.labels["queue"], {})[GAUGES[s.metric]] = s.value
    return out


def cfg_for(rmq, vhost: str, **kw) -> RabbitClusterConfig:
    return RabbitClusterConfig(name="gauges", management_url=rmq.mgmt_url, amqp_url=rmq.amqp_url,
                               username=rmq.user, vhosts=[vhost], counters_interval_s=3600, streams=False, **kw)


def settle(col: RabbitCollector, vhost: str, conn, timeout: float = 60.0):
    """Two collections (a full one, then a gauge one) until both equal rabbitmqctl (stats lag a second)."""
    deadline = time.monotonic() + timeout
    while True:
        col._full_ms = None  # next cycle: a full one
        full = figures(col.collect(int(time.time() * 1000)).samples)
        gauge_samples = col.collect(int(time.time() * 1000)).samples
        gauge, ref = figures(gauge_samples), rabbitmqctl(vhost)
        if full == ref == gauge:
            return gauge_samples, ref
        assert time.monotonic() < deadline, f"full {full} / gauge cycle {gauge} / rabbitmqctl {ref}"
        conn.process_data_events(time_limit=0.5)


@pytest.mark.parametrize("prometheus, source", [("auto", "prometheus"), ("off", "management-lean")])
def test_gauge_cycle_equals_rabbitmqctl_and_the_full_cycle(fast_stats, vhost, prometheus, source):
    name, conn = vhost
    col = RabbitCollector(cfg_for(fast_stats, name, prometheus=prometheus))
    samples, ref = settle(col, name, conn)
    assert col.source_last_cycle == source
    assert ref == {"ready": {"messages_ready": 5, "messages_unacknowledged": 0, "messages": 5, "consumers": 0},
                   "held": {"messages_ready": 2, "messages_unacknowledged": 3, "messages": 5, "consumers": 1},
                   "idle": {"messages_ready": 0, "messages_unacknowledged": 0, "messages": 0, "consumers": 1}}
    assert {s.labels["vhost"] for s in samples if "queue" in s.labels} == {name}  # no other vhost read
    assert not [s for s in samples if s.metric.endswith("_rate_per_s") or s.metric == "rabbitmq_queue_status"]
    assert col.rejects.drain()[0] == {}


def test_prometheus_on_and_unreachable_fails_the_cycle_auto_falls_back(fast_stats, vhost):
    name, conn = vhost
    dead = f"http://127.0.0.1:{_free_port()}"
    on = RabbitCollector(cfg_for(fast_stats, name, prometheus="on", prometheus_urls=[dead]))
    on.collect(int(time.time() * 1000))  # full cycle: management API only
    with pytest.raises(RabbitError, match="rabbitmq_prometheus.*unreachable"):
        on.collect(int(time.time() * 1000))
    auto = RabbitCollector(cfg_for(fast_stats, name, prometheus="auto", prometheus_urls=[dead]))
    auto.collect(int(time.time() * 1000))
    samples = auto.collect(int(time.time() * 1000)).samples
    assert auto.source_last_cycle == "management-lean"
    assert set(figures(samples)) == {"ready", "held", "idle"}


def _free_port() -> int:
    import socket
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _keyed(samples) -> dict[tuple, float]:
    return {(s.metric, tuple(sorted(s.labels.items()))): s.value for s in samples}


def test_full_cycle_in_one_request_equals_the_paged_cycle_and_rabbitmqctl(fast_stats, vhost):
    """page_size 0 (every queue in one unsorted request) and page_size 2 (two sorted pages) write the same
    samples, rates, status and ETA included, and their depths and consumers are rabbitmqctl's."""
    name, conn = vhost
    one = RabbitCollector(cfg_for(fast_stats, name, prometheus="off"))
    paged = RabbitCollector(cfg_for(fast_stats, name, prometheus="off", page_size=2))
    assert one.cfg.page_size == 0
    deadline = time.monotonic() + 60
    while True:
        t = int(time.time() * 1000)
        got = []
        for now in (t, t + 15_000):  # two full cycles each: the second has rates
            for col in (one, paged):
                col._full_ms = None
                got.append(col.collect(now).samples)
        a, b, ref = got[2], got[3], rabbitmqctl(name)
        if _keyed(a) == _keyed(b) and figures(a) == ref:
            break
        assert time.monotonic() < deadline, f"one request {sorted(_keyed(a).items())} / pages " \
                                            f"{sorted(_keyed(b).items())} / rabbitmqctl {ref}"
        conn.process_data_events(time_limit=0.5)
    assert {s.metric for s in a} >= {"rabbitmq_queue_publish_rate_per_s", "rabbitmq_queue_status",
                                     "rabbitmq_queue_drain_eta_seconds", *GAUGES}
    assert sorted(s.labels["queue"] for s in a if s.metric == "rabbitmq_queue_info") == ["held", "idle", "ready"]
    assert paged.requests_last_cycle == one.requests_last_cycle + 1  # 3 queues: 2 pages instead of 1 request
    assert one.source_last_cycle == paged.source_last_cycle == "management"
