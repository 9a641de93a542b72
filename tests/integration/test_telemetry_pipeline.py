"""Instrumented consumers publish summaries through the real brokers; the collector merges the
instances of a consumer and stores percentiles, rates and error ratios."""
from __future__ import annotations

import pytest

import math
import random
import time
import uuid


from collectors.telemetry import KafkaSource, telemetry_job
from config.kafka import KafkaClusterConfig
from config.telemetry import TelemetryConfig
from instrument.publisher import KafkaTransport, RabbitTransport, TelemetryPublisher
from instrument.timing import Recorder
from runner.collect import CollectJob
from store import db, queries


@pytest.fixture
def tmp_store(any_store):
    """This module runs on both store backends (SQLite, PostgreSQL)."""
    return any_store



def _feed_three_instances(make_transport, consumer: str, broker: str) -> list[float]:
    """Three instances of one consumer record known durations (and 6 failures) and publish them."""
    rng = random.Random(5)
    pooled: list[float] = []
    for i in range(3):
        rec = Recorder(consumer, broker, cluster="shop")
        values = [rng.lognormvariate(-4, 1) for _ in range(200 + 100 * i)]
        for n, v in enumerate(values):
            rec.record(v, "Declined" if n < 2 else None)
        pooled += values
        pub = TelemetryPublisher(make_transport(), [rec], interval_s=60)
        pub.tick()
        assert (pub.sent, pub.dropped) == (1, 0)
        pub.stop(flush=False)
    return pooled


def _tick_until(job: CollectJob, path, consumer: str, deadline_s: float = 60):
    end = time.monotonic() + deadline_s
    while time.monotonic() < end:
        job.run()
        conn = db.connect_reader(path)
        try:
            df = queries.latest(conn, "consumer_processing_seconds", {"consumer": consumer})
            inst = queries.latest(conn, "consumer_instances_count", {"consumer": consumer})
            ratio = queries.latest(conn, "consumer_error_rate_ratio", {"consumer": consumer})
        finally:
            conn.close()
        if len(df) == 4 and inst["value"].max() == 3:
            return df, ratio
        time.sleep(0.5)
    raise AssertionError(f"collector did not store three merged instances of {consumer} in {deadline_s} s")


def _check(df, ratio, pooled: list[float], cluster: str) -> None:
    got = dict(zip(df["quantile"], df["value"]))
    srt = sorted(pooled)
    for q in (0.5, 0.95, 0.99):
        exact = srt[math.floor(q * (len(srt) - 1))]
        assert abs(got[str(q)] - exact) <= 0.01 * exact * 1.000001, (q, got[str(q)], exact)
    assert got["max"] == max(pooled)
    assert set(df["cluster"]) == {cluster}  # where the summaries were read, not the app's "shop"
    assert ratio["value"].tolist() == [6 / len(pooled)]


def test_kafka_summaries_are_merged_and_stored(kafka, tmp_store):
    sfx = uuid.uuid4().hex[:8]
    tcfg = TelemetryConfig(kafka_topic=f"telemetry-{sfx}", kafka_group=f"collector-{sfx}", interval_s=1)
    pooled = _feed_three_instances(lambda: KafkaTransport(kafka.bootstrap, tcfg.kafka_topic), f"pay-{sfx}", "kafka")
    source = KafkaSource(KafkaClusterConfig(name="k", bootstrap_servers=[kafka.bootstrap]), tcfg)
    job = telemetry_job("kafka", "k", source, tmp_store, tcfg)
    try:
        df, ratio = _tick_until(job, tmp_store, f"pay-{sfx}")
    finally:
        job.close()  # its source and writer connection
    _check(df, ratio, pooled, "k")
    assert set(df["broker"]) == {"kafka"}


def test_rabbitmq_summaries_are_merged_and_stored(rabbitmq, tmp_store, rabbit_telemetry):
    sfx, tcfg, job = rabbit_telemetry
    job.run()  # declares and binds the collector's queue before anything is published
    pooled = _feed_three_instances(lambda: RabbitTransport(rabbitmq.amqp_url, tcfg.rabbitmq_exchange),
                                   f"inv-{sfx}", "rabbitmq")
    df, ratio = _tick_until(job, tmp_store, f"inv-{sfx}")
    _check(df, ratio, pooled, "r")
    assert set(df["broker"]) == {"rabbitmq"}
