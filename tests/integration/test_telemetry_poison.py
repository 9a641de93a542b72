"""A poison summary between two good ones, on each telemetry transport: both good ones are stored, the bad
one is counted in eventdeck_rejected_inputs_total and never read again, and the target stays up."""
from __future__ import annotations

import json
import time
import uuid

from collectors.telemetry import KafkaSource, telemetry_job
from config.kafka import KafkaClusterConfig
from config.telemetry import TelemetryConfig
from core.rejects import METRIC
from instrument.publisher import KafkaTransport, RabbitTransport
from instrument.sketch import new_sketch
from instrument.summary import Summary, encode_summary
from runner.collect import CollectJob
from store import db, queries, status


def _good(consumer: str, instance: str) -> bytes:
    sk = new_sketch(0.01)
    for v in (0.01, 0.02, 0.03):
        sk.add(v)
    now = int(time.time() * 1000)
    return encode_summary(Summary(consumer, instance, "kafka", "payload-says-evil", now - 1000, now, sk))


def _poison() -> bytes:
    doc = json.loads(_good("x", "i"))
    doc["sketch"]["k"] = 10 ** 6  # a sketch key no float can hold: used to raise outside SummaryError
    return json.dumps(doc).encode()


def _state(path, consumer: str):
    conn = db.connect_reader(path)
    try:
        inst = queries.latest(conn, "consumer_instances_count", {"consumer": consumer})
        rejected = queries.latest(conn, METRIC, {"source": "telemetry"})
        st = status.read_status(conn)
        clusters = set(queries.latest(conn, "consumer_processing_seconds", {"consumer": consumer})["cluster"]) \
            if not inst.empty else set()
    finally:
        conn.close()
    return (inst["value"].sum() if not inst.empty else 0, rejected["value"].sum() if not rejected.empty else 0,
            st, clusters)


def _run(job: CollectJob, path, consumer: str, cluster: str) -> None:
    end = time.monotonic() + 60
    instances = rejected = 0
    while time.monotonic() < end:
        job.run()
        instances, rejected, st, clusters = _state(path, consumer)
        if instances == 2 and rejected == 1:
            break
        time.sleep(0.3)
    # Both good summaries stored (two instances of the consumer), the poison counted once.
    assert (instances, rejected) == (2, 1), (instances, rejected)
    assert clusters == {cluster}  # where they were read, never the payload's own cluster
    row = st[st["target"] == job.target].iloc[0]
    assert bool(row["up"]) and row["reason"] is None
    # The poison was acknowledged with the batch: further ticks do not read and count it again.
    for _ in range(4):
        job.run()
        time.sleep(0.3)
    assert _state(path, consumer)[1] == 1


def test_kafka_poison_summary_is_skipped_counted_and_committed_past(kafka, tmp_store):
    sfx = uuid.uuid4().hex[:8]
    tcfg = TelemetryConfig(kafka_topic=f"telemetry-{sfx}", kafka_group=f"collector-{sfx}", interval_s=1)
    consumer = f"pay-{sfx}"
    transport = KafkaTransport(kafka.bootstrap, tcfg.kafka_topic)
    for payload in (_good(consumer, "a"), _poison(), _good(consumer, "b")):
        transport.send(payload, consumer)
    transport.close()
    source = KafkaSource(KafkaClusterConfig(name="k", bootstrap_servers=[kafka.bootstrap]), tcfg)
    job = telemetry_job("kafka", "k", source, tmp_store, tcfg)
    try:
        _run(job, tmp_store, consumer, "k")
    finally:
        job.close()


def test_rabbitmq_poison_summary_is_skipped_counted_and_acked(rabbitmq, tmp_store, rabbit_telemetry):
    sfx, tcfg, job = rabbit_telemetry
    job.run()  # declares and binds the collector's queue before anything is published
    consumer = f"inv-{sfx}"
    transport = RabbitTransport(rabbitmq.amqp_url, tcfg.rabbitmq_exchange)
    for payload in (_good(consumer, "a"), _poison(), _good(consumer, "b")):
        transport.send(payload, consumer)
    transport.close()
    _run(job, tmp_store, consumer, "r")


def test_rabbitmq_surrogate_and_nul_names_are_stored_safely_and_exposed(rabbitmq, tmp_store, rabbit_telemetry):
    """Issue #23 (a) on the real node: a consumer / exception name with a lone surrogate or NUL (the summary
    decoder accepts them) used to be stored raw; then every read through pandas/Arrow, /metrics and this
    target's counters failed. Now the names are stored made safe, counted, and the target stays up."""
    import pyarrow as pa
    from prometheus_client.exposition import generate_latest

    from runner import prometheus

    sfx, tcfg, job = rabbit_telemetry
    job.run()
    evil = f"pay\ud800-{sfx}\x00"
    sk = new_sketch(0.01)
    for v in (0.01, 0.02):
        sk.add(v)
    now = int(time.time() * 1000)
    transport = RabbitTransport(rabbitmq.amqp_url, tcfg.rabbitmq_exchange)
    transport.send(encode_summary(Summary(evil, "i\udc00", "kafka", "", now - 1000, now, sk, {"Err\ud800": 1})), "x")
    transport.close()
    safe = f"pay\ufffd-{sfx}"
    end = time.monotonic() + 60
    while time.monotonic() < end:
        assert job.run() is True
        conn = db.connect_reader(tmp_store)
        try:
            errors = queries.latest(conn, "consumer_errors_total", {"consumer": safe})
        finally:
            conn.close()
        if not errors.empty:
            break
        time.sleep(0.3)
    assert errors[["exception", "value"]].values.tolist() == [["Err\ufffd", 1.0]]
    pa.Table.from_pandas(errors)
    conn = db.connect_reader(tmp_store)
    try:
        counted = queries.latest(conn, METRIC, {"source": "telemetry", "reason": "unsafe_name"})["value"].tolist()
    finally:
        conn.close()
    assert counted == [1.0]
    text = generate_latest(prometheus.registry(lambda: db.connect_reader(tmp_store), lambda: now, 0)).decode()
    assert f'consumer="{safe}"' in text
    job.collector.reset()  # the counters are resumed from the store on the next tick, which must work
    assert job.run() is True
