"""Gauge cycles read rabbitmq_prometheus over TLS on the private TLS node (tests/tls_brokers.py): the
cluster's CA is passed per request (REQUESTS_CA_BUNDLE names another CA throughout), the figures equal the
management API's, and an untrusted endpoint fails the cycle (``prometheus: on``) as a TLS error."""
from __future__ import annotations

import time
import uuid

import pytest

from brokers.rabbitmq import RabbitError, amqp_connect
from collectors.rabbitmq import RabbitCollector
from config.rabbitmq import RabbitClusterConfig

PW_ENV = "ED_TEST_TLS_RABBIT_PW"


@pytest.fixture(autouse=True)
def _env(tls_pki, tls_rabbit, monkeypatch):
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(tls_pki.other_ca))
    monkeypatch.setenv("CURL_CA_BUNDLE", str(tls_pki.other_ca))
    monkeypatch.setenv(PW_ENV, tls_rabbit.users["edtls"])


def cluster(node, pki, ca, urls: list[str] | None = None, **over) -> RabbitClusterConfig:
    return RabbitClusterConfig(name=f"rp{uuid.uuid4().hex[:6]}", amqp_url=node.amqp_url, management_url=node.mgmt_url,
                               username="edtls", password_env=PW_ENV, tls={"ca_file": str(ca)}, timeout_s=10,
                               counters_interval_s=3600, streams=False, prometheus_urls=urls or [node.prometheus_url],
                               **over)


def test_gauge_cycle_over_tls_equals_the_management_api(tls_rabbit, tls_pki):
    prefix = f"edp-{uuid.uuid4().hex[:6]}-"
    cfg = cluster(tls_rabbit, tls_pki, tls_pki.ca, prometheus="on", queues_allow=[f"{prefix}*"])
    conn = amqp_connect(cfg)
    ch = conn.channel()
    try:
        for i, n in enumerate((3, 0)):
            ch.queue_declare(f"{prefix}{i}")
            for _ in range(n):
                ch.basic_publish("", f"{prefix}{i}", b"x")
        col = RabbitCollector(cfg)
        deadline = time.monotonic() + 60
        while True:
            col._full_ms = None
            full = {(s.metric, s.labels["queue"]): s.value for s in col.collect(int(time.time() * 1000)).samples
                    if s.metric in ("rabbitmq_queue_messages", "rabbitmq_queue_ready_messages")}
            gauge = {(s.metric, s.labels["queue"]): s.value for s in col.collect(int(time.time() * 1000)).samples
                     if s.metric in ("rabbitmq_queue_messages", "rabbitmq_queue_ready_messages")}
            if full == gauge and full.get(("rabbitmq_queue_messages", f"{prefix}0")) == 3:
                break
            assert time.monotonic() < deadline, (full, gauge)
            time.sleep(0.5)
        assert col.source_last_cycle == "prometheus"
        assert gauge[("rabbitmq_queue_messages", f"{prefix}1")] == 0
    finally:
        for i in range(2):
            ch.queue_delete(f"{prefix}{i}")
        conn.close()


def test_prometheus_endpoint_host_name_is_checked(tls_rabbit, tls_pki):
    # The certificate names localhost: the same endpoint reached as 127.0.0.1 fails TLS, alone
    # (the management API, reached as localhost, answers), and the auto mode falls back to it.
    wrong = [f"https://127.0.0.1:{tls_rabbit.prom_port}"]
    on = RabbitCollector(cluster(tls_rabbit, tls_pki, tls_pki.ca, wrong, prometheus="on"))
    on.collect(int(time.time() * 1000))
    with pytest.raises(RabbitError, match="TLS error.*127.0.0.1"):
        on.collect(int(time.time() * 1000))
    auto = RabbitCollector(cluster(tls_rabbit, tls_pki, tls_pki.ca, wrong, prometheus="auto"))
    auto.collect(int(time.time() * 1000))
    auto.collect(int(time.time() * 1000))
    assert auto.source_last_cycle == "management-lean"
