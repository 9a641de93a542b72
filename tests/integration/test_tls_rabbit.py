"""RabbitMQ over TLS, end to end, on a private node with amqps + https management (tests/tls_brokers.py):
collection, DLQ browse, replay and telemetry, once logging in with PLAIN over TLS and once with
EXTERNAL (the client certificate; its key encrypted, the password from the environment). Every client
is built from the cluster's profile by ``brokers/``; REQUESTS_CA_BUNDLE / CURL_CA_BUNDLE name another CA
throughout, and the configured CA still wins. Failure modes name their step: untrusted CA, host name
mismatch, wrong password, broker down.
"""
from __future__ import annotations

import time
import uuid
from typing import Any

import pika
import pytest

from brokers.probe import probe_rabbit
from brokers.rabbitmq import RabbitError, amqp_connect
from collectors.rabbitmq import RabbitCollector
from collectors.telemetry import RabbitSource, telemetry_job
from config import Settings
from config.rabbitmq import RabbitClusterConfig
from config.telemetry import TelemetryConfig
from dlq import api
from dlq.jobs import run_pending
from store.db import open_migrated
from tests.integration.dlq_helpers import Topology

PW_ENV, KEY_PW_ENV = "ED_TEST_TLS_RABBIT_PW", "ED_TEST_TLS_KEY_PASSWORD"


@pytest.fixture
def tmp_store(any_store):
    """This module runs on both store backends (SQLite, PostgreSQL)."""
    return any_store


@pytest.fixture(autouse=True)
def _env(tls_pki, tls_rabbit, monkeypatch):
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(tls_pki.other_ca))
    monkeypatch.setenv("CURL_CA_BUNDLE", str(tls_pki.other_ca))
    monkeypatch.setenv(PW_ENV, tls_rabbit.users["edtls"])
    monkeypatch.setenv(KEY_PW_ENV, tls_pki.KEY_PASSWORD)


def profile(node, pki, login: str, **over: Any) -> dict[str, Any]:
    tls: dict[str, Any] = {"ca_file": str(pki.ca)}
    if login == "EXTERNAL":
        tls.update(cert_file=str(pki.client_cert), key_file=str(pki.client_key_enc), key_password_env=KEY_PW_ENV)
    return {"amqp_url": node.amqp_url, "management_url": node.mgmt_url, "username": "edtls",
            "password_env": PW_ENV, "tls": tls, "login": login, "timeout_s": 10, **over}


def cluster(node, pki, login: str = "PLAIN", **over: Any) -> RabbitClusterConfig:
    return RabbitClusterConfig(name=f"rt{uuid.uuid4().hex[:6]}", **profile(node, pki, login, **over))


def topology(cfg: RabbitClusterConfig) -> Topology:
    t = Topology.__new__(Topology)
    t.conn = amqp_connect(cfg)
    t.ch = t.conn.channel()
    t.queues, t.exchanges = [], []
    return t


@pytest.mark.parametrize("login", ["PLAIN", "EXTERNAL"])
def test_collection_browse_replay_over_tls(tls_rabbit, tls_pki, tmp_store, login):
    u = uuid.uuid4().hex[:8]
    st = Settings.model_validate({"store": {"path": str(tmp_store)},
                                  "dlq": {"allowed_targets": {"r": ["*", "exchange:*"]}},
                                  "rabbitmq": {"clusters": [{"name": "r", **profile(tls_rabbit, tls_pki, login)}]}})
    cfg = st.rabbitmq.clusters[0]
    topo = topology(cfg)
    try:
        dlx = topo.exchange(f"dlx-{u}", "fanout")
        dlq = topo.queue(f"orders-{u}.dlq", bind=(dlx, ""))
        src = topo.queue(f"orders-{u}", dlx=dlx)
        for i in range(3):
            topo.ch.basic_publish("", src, f"order-{i}".encode(), pika.BasicProperties(message_id=f"m{i}"))
        topo.wait_depth(src, 3)
        assert topo.reject_all(src) == 3
        topo.wait_depth(dlq, 3)

        # collection over https (management) with the cluster's CA
        col = RabbitCollector(cfg.model_copy(update={"queues_allow": [f"orders-{u}*"]}))
        try:
            deadline = time.monotonic() + 30
            while True:  # the management API refreshes queue stats every second on this node
                try:
                    samples = col.collect(int(time.time() * 1000)).samples
                except RabbitError as exc:  # a node just started may answer 500 while its stats start
                    assert "HTTP 500" in str(exc) and time.monotonic() < deadline, exc
                    time.sleep(0.5)
                    continue
                ready = {s.labels["queue"]: s.value for s in samples if s.metric == "rabbitmq_queue_ready_messages"}
                if ready.get(dlq) == 3:
                    break
                assert time.monotonic() < deadline, ready
                time.sleep(0.5)
            assert any(s.metric == "dlq_messages" and s.labels.get("dlq") == dlq and s.value == 3 for s in samples)
        finally:
            col.close()

        # DLQ browse (AMQP, non-destructive) and replay (publisher confirms) over amqps
        rows = api.browse(st, "rabbitmq", "r", dlq)
        assert sorted(r["payload"] for r in rows) == ["order-0", "order-1", "order-2"]
        assert topo.depth(dlq) == 3
        conn = open_migrated(st.store.handle)
        try:
            jid = api.enqueue_replay(conn, {"broker": "rabbitmq", "cluster": "r", "dlq": dlq, "rate_per_s": None},
                                     "tester", int(time.time() * 1000))
            assert run_pending(st, st.store.handle, jid) == jid
            job = api.job(conn, jid)
        finally:
            conn.close()
        assert (job["state"], job["replayed"], job["failed"]) == ("done", 3, 0), job
        assert topo.depth(dlq) == 0
        assert sorted(b for _, b in topo.drain(src)) == [b"order-0", b"order-1", b"order-2"]
    finally:
        topo.close()


@pytest.mark.parametrize("login", ["PLAIN", "EXTERNAL"])
def test_telemetry_over_tls(tls_rabbit, tls_pki, tmp_store, login):
    sfx = uuid.uuid4().hex[:8]
    cfg = cluster(tls_rabbit, tls_pki, login)
    tcfg = TelemetryConfig(rabbitmq_exchange=f"telemetry.{sfx}", rabbitmq_queue=f"telemetry.collector.{sfx}",
                           interval_s=1)
    source = RabbitSource(cfg, tcfg)
    job = telemetry_job("rabbitmq", cfg.name, source, tmp_store, tcfg)
    try:
        assert source.fetch() == []  # declares the exchange and the collector's queue over amqps
        pub = amqp_connect(cfg)
        try:
            pub.channel().basic_publish(tcfg.rabbitmq_exchange, "", b"not a summary")
        finally:
            pub.close()
        deadline = time.monotonic() + 20
        got: list[bytes] = []
        while not got:
            assert time.monotonic() < deadline, "no telemetry message came back over TLS"
            got = source.fetch()
            time.sleep(0.1)
        assert got == [b"not a summary"]
        source.commit()
    finally:
        job.close()
        c = amqp_connect(cfg)
        c.channel().queue_delete(tcfg.rabbitmq_queue)
        c.channel().exchange_delete(tcfg.rabbitmq_exchange)
        c.close()


@pytest.mark.parametrize("login", ["PLAIN", "EXTERNAL"])
def test_connection_test_passes(tls_rabbit, tls_pki, login):
    checks = probe_rabbit(cluster(tls_rabbit, tls_pki, login))
    assert [(c.client, c.ok) for c in checks] == [("amqp", True), ("management", True)], [c.line() for c in checks]
    assert f"logged in with {login}" in checks[0].detail


def test_untrusted_ca(tls_rabbit, tls_pki):
    cfg = cluster(tls_rabbit, tls_pki, tls={"ca_file": str(tls_pki.other_ca)})
    for c in probe_rabbit(cfg):
        assert (c.diagnosis.step, c.diagnosis.setting) == ("TLS", f"rabbitmq.clusters[{cfg.name}].tls.ca_file"), c.line()
        assert "not trusted" in c.diagnosis.what


def test_configured_ca_wins_over_the_environment(tls_rabbit, tls_pki, monkeypatch):
    # REQUESTS_CA_BUNDLE / CURL_CA_BUNDLE name the broker's CA this time, the profile another one: the
    # profile's CA is the only trust anchor, for AMQP and for the management API (verify= per request).
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(tls_pki.ca))
    monkeypatch.setenv("CURL_CA_BUNDLE", str(tls_pki.ca))
    cfg = cluster(tls_rabbit, tls_pki, tls={"ca_file": str(tls_pki.other_ca)})
    assert [c.diagnosis.step for c in probe_rabbit(cfg)] == ["TLS", "TLS"]


def test_hostname_mismatch(tls_rabbit, tls_pki):
    cfg = cluster(tls_rabbit, tls_pki, amqp_url=f"amqps://127.0.0.1:{tls_rabbit.amqps_port}/%2F",
                  management_url=f"https://127.0.0.1:{tls_rabbit.https_port}")
    amqp, mgmt = probe_rabbit(cfg)
    assert amqp.diagnosis.step == mgmt.diagnosis.step == "TLS"
    assert "host name mismatch" in amqp.diagnosis.what and "amqp_url" in amqp.diagnosis.setting
    assert "host name mismatch" in mgmt.diagnosis.what and "management_url" in mgmt.diagnosis.setting


def test_wrong_password_names_authentication_and_the_collector_says_so(tls_rabbit, tls_pki, monkeypatch):
    monkeypatch.setenv(PW_ENV, "not-the-password")
    cfg = cluster(tls_rabbit, tls_pki)
    amqp, mgmt = probe_rabbit(cfg)
    assert amqp.diagnosis.step == mgmt.diagnosis.step == "authentication"
    assert "bad credentials" in amqp.diagnosis.what and "password_env" in amqp.diagnosis.setting
    assert "not-the-password" not in amqp.line() + mgmt.line()
    col = RabbitCollector(cfg)
    try:
        with pytest.raises(Exception) as err:
            col.collect(int(time.time() * 1000))
        assert "authentication failed" in str(err.value) and "not-the-password" not in str(err.value)
    finally:
        col.close()
    with pytest.raises(Exception) as err:  # the AMQP clients (telemetry, DLQ) say the same
        amqp_connect(cfg)
    assert str(err.value).startswith(amqp.diagnosis.text())


def test_broker_down(tls_pki):
    from demo.brokers import free_port
    cfg = RabbitClusterConfig(name="down", amqp_url=f"amqps://localhost:{free_port()}/%2F",
                              management_url=f"https://localhost:{free_port()}", password_env=PW_ENV,
                              tls={"ca_file": str(tls_pki.ca)}, timeout_s=3)
    for c in probe_rabbit(cfg):
        assert c.diagnosis.step == "TCP connect" and "refused" in c.diagnosis.what, c.line()


def test_config_check_connect_prints_the_failing_step(tls_rabbit, tls_pki, tmp_path, monkeypatch, capsys):
    import yaml

    from config.__main__ import main
    monkeypatch.setenv(PW_ENV, "not-the-password")
    ok = profile(tls_rabbit, tls_pki, "EXTERNAL")
    wrong_host = profile(tls_rabbit, tls_pki, "PLAIN", amqp_url=f"amqps://127.0.0.1:{tls_rabbit.amqps_port}/%2F")
    path = tmp_path / "eventdeck.yaml"
    path.write_text(yaml.safe_dump({"rabbitmq": {"clusters": [{"name": "good", **ok}, {"name": "bad", **wrong_host}]}}))
    assert main(["check", str(path), "--connect", "bad"]) == 1
    out = capsys.readouterr().out
    assert ("bad amqp: TLS failed: host name mismatch: the server certificate does not name 127.0.0.1 "
            "(check rabbitmq.clusters[bad].amqp_url") in out
    assert "bad management: authentication failed: bad credentials (management API answered 401)" in out
    assert "good" not in out and "not-the-password" not in out
    monkeypatch.setenv(PW_ENV, tls_rabbit.users["edtls"])
    assert main(["check", str(path), "--connect", "good"]) == 0
    assert "good amqp: ok (logged in with EXTERNAL to vhost '/')" in capsys.readouterr().out
