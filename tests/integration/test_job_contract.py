"""Every collector runs under the runner's contract: an unexpected exception of any type in a cycle
marks its target down with the exception's class, and the target recovers once it stops raising
(real brokers; the failure is injected deep inside each collector's own code)."""
from __future__ import annotations

import pytest

from collectors.kafka import collect_job as kafka_job
from collectors.rabbitmq import collect_job as rabbit_job
from config.kafka import KafkaClusterConfig
from config.rabbitmq import RabbitClusterConfig
from runner.collect import CollectJob
from store.db import connect_reader
from store.queries import latest
from store.status import read_status


@pytest.fixture
def tmp_store(any_store):
    """This module runs on both store backends (SQLite, PostgreSQL)."""
    return any_store



def _status(path, target: str) -> tuple[bool, str | None, float]:
    conn = connect_reader(path)
    try:
        st = read_status(conn)
        up = latest(conn, "collector_up", {"target": target})
    finally:
        conn.close()
    row = st[st["target"] == target].iloc[0]
    return bool(row["up"]), row["reason"], float(up["value"].iloc[0])


def _fail_once_then_recover(job: CollectJob, obj, method: str, store, monkeypatch) -> None:
    real = getattr(obj, method)

    def broken(*args, **kwargs):
        raise RuntimeError(f"injected failure in {method}")

    monkeypatch.setattr(obj, method, broken)
    assert job.run() is False  # never raised into the scheduler
    up, reason, sample = _status(store, job.target)
    assert (up, sample) == (False, 0.0)
    assert reason.startswith("RuntimeError: injected failure"), reason
    monkeypatch.setattr(obj, method, real)
    results = [job.run() for _ in range(3)]  # the back-off's first wait is one tick
    assert True in results, (results, job.last_reason)
    up, reason, sample = _status(store, job.target)
    assert (up, reason, sample) == (True, None, 1.0)


def test_kafka_collector(kafka, tmp_store, monkeypatch):
    cfg = KafkaClusterConfig(name=f"contract-{kafka.kind}", bootstrap_servers=[kafka.bootstrap], interval_s=1,
                             topics_allow=["none-*"], groups_allow=["none-*"])
    job = kafka_job(cfg, tmp_store)
    try:
        assert job.run() is True
        _fail_once_then_recover(job, job.collector, "_fetch", tmp_store, monkeypatch)
    finally:
        job.close()


def test_rabbitmq_collector(rabbitmq, tmp_store, monkeypatch):
    cfg = RabbitClusterConfig(name="contract", management_url=rabbitmq.mgmt_url, amqp_url=rabbitmq.amqp_url,
                              interval_s=1, queues_allow=["none-*"])
    job = rabbit_job(cfg, tmp_store)
    try:
        assert job.run() is True
        _fail_once_then_recover(job, job.collector, "_queues", tmp_store, monkeypatch)
    finally:
        job.close()


@pytest.mark.parametrize("where", ["source", "decode"])
def test_telemetry_collector(rabbitmq, tmp_store, rabbit_telemetry, monkeypatch, where):
    job = rabbit_telemetry.job
    assert job.run() is True
    obj, method = (job.collector.source, "fetch") if where == "source" else (job.collector, "_decode")
    _fail_once_then_recover(job, obj, method, tmp_store, monkeypatch)
