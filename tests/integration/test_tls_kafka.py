"""Kafka over TLS and mTLS, end to end, every client built from the cluster's connection profile by
``brokers/``: collection (lag equal to the plaintext test's reference: produced − committed), exact
time lag, DLQ browse and replay; and the connection test naming the failing step.

The broker is Tansu behind a ``socat`` TLS terminator (tests/tls_brokers.py); with "mtls" the
terminator refuses clients without a certificate signed by the test CA. The client key is the
encrypted one, its password read from the environment (``tls.key_password_env``).
"""
from __future__ import annotations

import time
import uuid
from typing import Any

import pytest
from kafka import TopicPartition
from kafka.structs import OffsetAndMetadata

from brokers.kafka import open_admin, open_consumer, open_producer
from brokers.probe import probe_kafka
from collectors.kafka import KafkaCollector
from config import Settings
from config.kafka import KafkaClusterConfig
from dlq import api
from dlq.jobs import run_pending
from runner.collect import CollectJob
from store.db import open_migrated
from tests.cycles import run_cycle
from tests.integration.dlq_helpers import spring

KEY_PW_ENV = "ED_TEST_TLS_KEY_PASSWORD"


@pytest.fixture
def tmp_store(any_store):
    """This module runs on both store backends (SQLite, PostgreSQL)."""
    return any_store


@pytest.fixture(autouse=True)
def _ca_bundle_env(tls_pki, monkeypatch):
    """As on this machine (and many corporate ones): the process environment names another CA bundle.
    The cluster's configured CA must win."""
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(tls_pki.other_ca))
    monkeypatch.setenv("CURL_CA_BUNDLE", str(tls_pki.other_ca))
    monkeypatch.setenv(KEY_PW_ENV, tls_pki.KEY_PASSWORD)


def profile(broker, pki, **over: Any) -> dict[str, Any]:
    tls: dict[str, Any] = {"ca_file": str(pki.ca)}
    if broker.mtls:
        tls.update(cert_file=str(pki.client_cert), key_file=str(pki.client_key_enc), key_password_env=KEY_PW_ENV)
    return {"bootstrap_servers": [broker.bootstrap], "security_protocol": "SSL", "tls": tls,
            "request_timeout_ms": 10_000, **over}


def cluster(broker, pki, **over: Any) -> KafkaClusterConfig:
    return KafkaClusterConfig(name=f"tls{uuid.uuid4().hex[:6]}", **profile(broker, pki, **over))


def by(samples, metric, **labels) -> dict[str, float]:
    return {s.labels.get("partition", ""): s.value for s in samples
            if s.metric == metric and all(s.labels.get(k) == v for k, v in labels.items())}


def make_topics(cfg: KafkaClusterConfig, topics: dict[str, int]) -> None:
    admin = open_admin(cfg)
    try:
        admin.create_topics({t: {"num_partitions": n, "replication_factor": 1} for t, n in topics.items()})
        admin.wait_for_topics(list(topics), timeout_ms=30_000)
    finally:
        admin.close()


def produce(cfg: KafkaClusterConfig, topic: str, records: list[tuple[int, bytes | None, bytes, list]]) -> None:
    producer = open_producer(cfg, batch_size=1, linger_ms=0, acks=1)  # Tansu's LATEST counts batches
    try:
        for partition, key, value, headers in records:
            producer.send(topic, key=key, value=value, partition=partition, headers=headers)
        producer.flush(timeout=30)
    finally:
        producer.close()


def read_all(cfg: KafkaClusterConfig, topic: str, expect: int, timeout: float = 30.0) -> list[Any]:
    c = open_consumer(cfg, group_id=None, auto_offset_reset="earliest", enable_auto_commit=False)
    try:
        parts = [TopicPartition(topic, p) for p in sorted(c.partitions_for_topic(topic) or ())]
        c.assign(parts)
        c.seek_to_beginning()
        out: list[Any] = []
        deadline = time.monotonic() + timeout
        while len(out) < expect and time.monotonic() < deadline:
            for recs in c.poll(timeout_ms=500).values():
                out.extend(recs)
        return out
    finally:
        c.close()


def test_collection_and_exact_time_lag_over_tls(tls_kafka, tls_pki, tmp_store):
    cfg = cluster(tls_kafka, tls_pki)
    topic, group = f"tls-lag-{uuid.uuid4().hex[:8]}", f"g-{uuid.uuid4().hex[:8]}"
    make_topics(cfg, {topic: 2})
    before_ms = int(time.time() * 1000)
    produce(cfg, topic, [(p, None, b"r%d" % i, []) for p in (0, 1) for i in range(10)])  # N = 20
    c = open_consumer(cfg, group_id=group, enable_auto_commit=False, session_timeout_ms=6000,
                      heartbeat_interval_ms=1000)
    try:  # the plaintext test's reference: lag = produced − committed, per partition
        c.commit({TopicPartition(topic, 0): OffsetAndMetadata(4, "", -1),
                  TopicPartition(topic, 1): OffsetAndMetadata(3, "", -1)})
    finally:
        c.close()
    conn = open_migrated(tmp_store)
    job = CollectJob(KafkaCollector(cfg.model_copy(update={"topics_allow": [topic], "groups_allow": [group]}), conn),
                     conn, cfg.interval_s)
    try:
        now = int(time.time() * 1000)
        samples = run_cycle(job, now)
        assert by(samples, "kafka_partition_end_offset", topic=topic) == {"0": 10, "1": 10}
        assert by(samples, "kafka_group_lag_messages", group=group, topic=topic) == {"0": 6, "1": 7}
        assert by(samples, "kafka_group_total_lag_messages", group=group) == {"": 13}
        # exact time lag: the timestamp of the record at the committed offset, read over TLS (Fetch)
        assert by(samples, "kafka_group_lag_seconds_method", group=group) == {"0": 0, "1": 0}
        lag_s = by(samples, "kafka_group_lag_seconds", group=group)
        assert all(0 <= v <= (now - before_ms) / 1000 + 1 for v in lag_s.values()), lag_s
        assert job.collector.last_requests > 0
    finally:
        job.close()


def _settings(cfg_kwargs: dict[str, Any], store: Any) -> Settings:
    return Settings.model_validate({"store": {"path": str(store)}, "dlq": {"allowed_targets": {"k": ["*"]}},
                                    "kafka": {"clusters": [{"name": "k", **cfg_kwargs}]}})


def test_dlq_browse_and_replay_over_tls(tls_kafka, tls_pki, tmp_store):
    u = uuid.uuid4().hex[:8]
    src, dlq = f"shop-{u}", f"shop-{u}-dlt"
    st = _settings(profile(tls_kafka, tls_pki), tmp_store)
    cfg = st.kafka.clusters[0]
    make_topics(cfg, {src: 2, dlq: 1})
    produce(cfg, dlq, [(0, b"k0", b'{"id": 0}', spring(src, 1, 5, b"com.acme.PriceException", b"price < 0")),
                       (0, b"k1", b'{"id": 1}', spring(src, 0, 6))])
    rows = api.browse(st, "kafka", "k", dlq)
    assert [r["key"] for r in rows] == ["k1", "k0"]
    assert rows[1]["exception_class"] == "com.acme.PriceException"
    assert rows[1]["target"] == f"topic {src} partition 1 (from spring)"

    conn = open_migrated(st.store.handle)
    try:
        jid = api.enqueue_replay(conn, {"broker": "kafka", "cluster": "k", "dlq": dlq, "rate_per_s": None,
                                        "selection": {"mode": "all"}}, "tester", int(time.time() * 1000))
        assert run_pending(st, st.store.handle, jid) == jid
        job = api.job(conn, jid)
    finally:
        conn.close()
    assert job["state"] == "done" and job["replayed"] == 2, job
    back = read_all(cfg, src, 2)
    assert sorted((r.partition, r.value) for r in back) == [(0, b'{"id": 1}'), (1, b'{"id": 0}')]
    assert len(read_all(cfg, dlq, 2)) == 2  # DLQ records are never deleted by a replay


def test_connection_test_over_tls_passes(tls_kafka, tls_pki):
    [check] = probe_kafka(cluster(tls_kafka, tls_pki))
    assert check.ok, check.line()


def test_untrusted_ca_names_the_tls_step(tls_kafka, tls_pki):
    cfg = cluster(tls_kafka, tls_pki)
    cfg = cfg.model_copy(update={"tls": cfg.tls.model_copy(update={"ca_file": str(tls_pki.other_ca)})})
    [check] = probe_kafka(cfg)
    assert check.diagnosis.step == "TLS" and "not trusted" in check.diagnosis.what
    assert check.diagnosis.setting == f"kafka.clusters[{cfg.name}].tls.ca_file"


def test_hostname_mismatch_names_the_tls_step(tls_kafka, tls_pki):
    # the server certificate names localhost only: 127.0.0.1 is another name for the same socket
    cfg = cluster(tls_kafka, tls_pki, bootstrap_servers=[f"127.0.0.1:{tls_kafka.tls_port}"])
    [check] = probe_kafka(cfg)
    assert check.diagnosis.step == "TLS" and "host name mismatch" in check.diagnosis.what
    assert "tls.check_hostname" in check.diagnosis.setting


def test_broker_down_names_tcp_and_the_collector_says_the_same(tls_pki, tmp_store):
    from demo.brokers import free_port
    cfg = KafkaClusterConfig(name="down", bootstrap_servers=[f"localhost:{free_port()}"], security_protocol="SSL",
                             tls={"ca_file": str(tls_pki.ca)}, request_timeout_ms=2_000)
    [check] = probe_kafka(cfg)
    assert check.diagnosis.step == "TCP connect" and "refused" in check.diagnosis.what
    conn = open_migrated(tmp_store)
    job = CollectJob(KafkaCollector(cfg, conn), conn, cfg.interval_s)
    try:
        assert job.run(int(time.time() * 1000)) is False
        assert check.diagnosis.text() in job.last_reason  # collector_up's reason: the same words
    finally:
        job.close()


def test_missing_client_certificate_names_the_tls_step(tls_pki, tmp_path):
    from tests.tls_brokers import TlsKafka
    broker = TlsKafka(tls_pki, tmp_path / "mtls", mtls=True).start()
    try:
        cfg = KafkaClusterConfig(name="nocert", bootstrap_servers=[broker.bootstrap], security_protocol="SSL",
                                 tls={"ca_file": str(tls_pki.ca)}, request_timeout_ms=5_000)
        [check] = probe_kafka(cfg)
        assert check.diagnosis.step == "TLS" and "client certificate" in check.diagnosis.what
        assert check.diagnosis.setting.endswith("tls.cert_file / kafka.clusters[nocert].tls.key_file")
    finally:
        broker.stop()
