"""End to end on real brokers: the shop simulator runs for a few seconds, the telemetry collector
stores percentiles and error ratios for consumers on both brokers, and the DLQs fill."""
from __future__ import annotations

import json
import signal
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

import pika
from kafka import KafkaConsumer, TopicPartition

from collectors.telemetry import KafkaSource, RabbitSource, telemetry_job
from config.kafka import KafkaClusterConfig
from config.rabbitmq import RabbitClusterConfig
from config.telemetry import TelemetryConfig
from demo.simulator import SERVICES, SimOptions, rabbit_names, run_simulator
from store import db, queries

ROOT = Path(__file__).resolve().parents[2]


def _delete_rabbit(amqp_url: str, opts: SimOptions, extra_queues=(), extra_exchanges=()) -> None:
    names = rabbit_names(opts)
    conn = pika.BlockingConnection(pika.URLParameters(amqp_url))
    ch = conn.channel()
    for s in SERVICES:
        ch.queue_delete(names[s])
        ch.queue_delete(names[f"{s}.dlq"])
    for q in extra_queues:
        ch.queue_delete(q)
    for x in (names["exchange"], names["dlx"], *extra_exchanges):
        ch.exchange_delete(x)
    conn.close()


def _rabbit_depth(amqp_url: str, queue: str) -> int:
    conn = pika.BlockingConnection(pika.URLParameters(amqp_url))
    try:
        return conn.channel().queue_declare(queue, passive=True).method.message_count
    finally:
        conn.close()


def _kafka_size(bootstrap: str, topic: str) -> int:
    c = KafkaConsumer(bootstrap_servers=bootstrap)
    try:
        tps = [TopicPartition(topic, p) for p in sorted(c.partitions_for_topic(topic) or [])]
        if not tps:
            return 0
        ends, starts = c.end_offsets(tps), c.beginning_offsets(tps)
        return sum(ends[tp] - starts[tp] for tp in tps)
    finally:
        c.close()


def _stored(path, metric: str, broker: str) -> set[str]:
    conn = db.connect_reader(path)
    try:
        df = queries.latest(conn, metric, {"broker": broker})
    finally:
        conn.close()
    return set(df["consumer"]) if len(df) else set()


def test_simulator_feeds_percentiles_error_rates_and_dlqs(kafka, rabbitmq, tmp_store):
    sfx = uuid.uuid4().hex[:8]
    opts = SimOptions(rate=20, failure=0.2, latency_ms=5, telemetry_interval_s=1, prefix=f"sim{sfx}", slow_every_s=0,
                      telemetry_topic=f"telemetry-{sfx}", telemetry_exchange=f"telemetry.{sfx}")
    tcfg = TelemetryConfig(kafka_topic=opts.telemetry_topic, kafka_group=f"collector-{sfx}",
                           rabbitmq_exchange=opts.telemetry_exchange, rabbitmq_queue=f"collector.{sfx}",
                           interval_s=1)
    sources = [KafkaSource(KafkaClusterConfig(name="k", bootstrap_servers=[kafka.bootstrap]), tcfg),
               RabbitSource(RabbitClusterConfig(name="r", management_url=rabbitmq.mgmt_url,
                                                amqp_url=rabbitmq.amqp_url), tcfg)]
    jobs = [telemetry_job("kafka", "k", sources[0], tmp_store, tcfg),
            telemetry_job("rabbitmq", "r", sources[1], tmp_store, tcfg)]
    stop = threading.Event()
    result = {}
    sim = threading.Thread(target=lambda: result.update(stats=run_simulator(
        kafka.bootstrap, rabbitmq.amqp_url, stop, **{k: getattr(opts, k) for k in (
            "rate", "failure", "latency_ms", "telemetry_interval_s", "prefix", "slow_every_s", "telemetry_topic",
            "telemetry_exchange")})))
    kafka_consumers = {f"{opts.prefix}-{s}" for s in SERVICES}
    rabbit_consumers = {rabbit_names(opts)[s] for s in SERVICES}
    try:
        jobs[1].run()  # the collector's queue is bound before the first summary
        sim.start()
        end = time.monotonic() + 90
        done = False
        while not done and time.monotonic() < end:
            time.sleep(1)
            for j in jobs:
                j.run()
            done = (_stored(tmp_store, "consumer_processing_seconds", "kafka") == kafka_consumers
                    and _stored(tmp_store, "consumer_processing_seconds", "rabbitmq") == rabbit_consumers
                    and _stored(tmp_store, "consumer_error_rate_ratio", "kafka") == kafka_consumers
                    and _stored(tmp_store, "consumer_error_rate_ratio", "rabbitmq") == rabbit_consumers)
        stop.set()
        sim.join(60)
        assert done, "the collector did not store percentiles and error ratios for every consumer"
        assert not sim.is_alive(), "the simulator did not stop"
        stats = result["stats"]
        assert stats.produced["kafka"] > 0 and stats.produced["rabbitmq"] > 0
        assert _kafka_size(kafka.bootstrap, f"{opts.prefix}.orders.dlq") > 0
        for s in SERVICES:
            assert _rabbit_depth(rabbitmq.amqp_url, rabbit_names(opts)[f"{s}.dlq"]) > 0, s
        assert _stored(tmp_store, "consumer_errors_total", "kafka") == kafka_consumers
    finally:
        stop.set()
        for j in jobs:
            j.close()  # its source and writer connection
        _delete_rabbit(rabbitmq.amqp_url, opts, [tcfg.rabbitmq_queue], [opts.telemetry_exchange])


def test_cli_stops_cleanly_on_sigterm(rabbitmq):
    opts = SimOptions(prefix=f"cli{uuid.uuid4().hex[:8]}")
    proc = subprocess.Popen([sys.executable, "-m", "demo.simulator", "--rabbitmq", rabbitmq.amqp_url,
                             "--rate", "20", "--failure", "0.5", "--latency-ms", "1", "--prefix", opts.prefix,
                             "--telemetry-interval", "1", "--telemetry-name", f"telemetry.{opts.prefix}"],
                            cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        dlq = rabbit_names(opts)["payment.dlq"]
        end = time.monotonic() + 60
        while time.monotonic() < end:
            assert proc.poll() is None, proc.stderr.read()
            try:
                if _rabbit_depth(rabbitmq.amqp_url, dlq) > 0:
                    break
            except pika.exceptions.ChannelClosedByBroker:
                pass  # not declared yet
            time.sleep(0.5)
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=60)
        assert proc.returncode == 0, err
        stats = json.loads(out.strip().splitlines()[-1])
        assert stats["produced"]["rabbitmq"] > 0 and stats["dead_lettered"]
    finally:
        if proc.poll() is None:
            proc.kill()
        _delete_rabbit(rabbitmq.amqp_url, opts, extra_exchanges=[f"telemetry.{opts.prefix}"])


def test_cli_refuses_to_run_without_a_broker():
    proc = subprocess.run([sys.executable, "-m", "demo.simulator", "--rate", "5"], cwd=ROOT,
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2 and "--kafka, --rabbitmq or both" in proc.stderr
