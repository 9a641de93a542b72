"""Telemetry broker down: the handler keeps its throughput, nothing raises, drops are counted and
reported to the collector once the broker is back."""
from __future__ import annotations

import statistics
import time
import uuid


from demo.brokers import free_port
from instrument.publisher import KafkaTransport, RabbitTransport, TelemetryPublisher
from instrument.timing import Recorder
from store import db, queries

PAIRS = 12
ROUND_S = 0.25


def _work(n: int = 2_000) -> int:
    """A processing-bound handler body (~0.1–0.3 ms of CPU), so the comparison is stable."""
    acc = 0
    for i in range(n):
        acc = (acc * 31 + i) % 1_000_003
    return acc


def _throughput_ratios(pub: TelemetryPublisher, up, down) -> list[float]:
    """Handler calls per CPU-second of this whole process (handler, publisher and client threads),
    broker down / broker up, per pair of adjacent rounds. CPU time rather than wall time: what the
    telemetry costs the consumer shows up as CPU the process burns (or calls that block, checked
    apart), while other processes loading the shared test machine do not distort it."""
    handle = pub.recorders[0].timed(_work)
    ratios = []
    for _ in range(PAIRS):
        rates = []
        for transport in (up, down):
            pub.transport = transport
            n, cpu0, end = 0, time.process_time(), time.perf_counter() + ROUND_S
            while time.perf_counter() < end:
                handle()
                n += 1
            rates.append(n / max(time.process_time() - cpu0, 1e-3))
        ratios.append(rates[1] / rates[0])
    return ratios


def _assert_within_10_percent(ratios: list[float]) -> None:
    median = statistics.median(ratios)
    print(f"throughput down/up ratios: {[round(r, 3) for r in ratios]}")
    assert 0.9 <= median <= 1.1, f"throughput down/up ratios {ratios}"


def test_kafka_broker_down_keeps_throughput_and_counts_drops(kafka, kafka_factory):
    doomed = kafka_factory(kafka.kind)
    topic = f"telemetry-{uuid.uuid4().hex[:8]}"
    live, dead = KafkaTransport(kafka.bootstrap, topic, timeout_s=1), KafkaTransport(doomed.bootstrap, topic, timeout_s=1)
    rec = Recorder("payment", "kafka")
    pub = TelemetryPublisher(dead, [rec], interval_s=0.2, buffer_size=4)
    pub.tick()                 # connected while it was up ...
    doomed.stop()              # ... then the telemetry broker dies
    pub.transport = live
    pub.tick()                 # the live connection is made before measuring
    pub.start()
    try:
        ratios = _throughput_ratios(pub, live, dead)
        pub.transport = dead
        end = time.monotonic() + 30
        while pub.dropped == 0 and time.monotonic() < end:
            time.sleep(0.1)
    finally:
        pub.transport = live
        pub.stop()
        dead.close()
    _assert_within_10_percent(ratios)
    assert pub.dropped > 0 and pub.send_errors > 0


def test_rabbitmq_down_drops_are_reported_to_the_collector(rabbitmq, tmp_store, rabbit_telemetry):
    sfx, tcfg, job = rabbit_telemetry
    live = RabbitTransport(rabbitmq.amqp_url, tcfg.rabbitmq_exchange, timeout_s=1)
    dead = RabbitTransport(f"amqp://guest:guest@127.0.0.1:{free_port()}/%2F", tcfg.rabbitmq_exchange, timeout_s=1)
    rec = Recorder(f"inv-{sfx}", "rabbitmq")
    pub = TelemetryPublisher(live, [rec], interval_s=0.2, buffer_size=4)
    try:
        job.run()  # the collector's queue exists before anything is published
        pub.tick()  # the live connection is made before measuring
        pub.start()
        ratios = _throughput_ratios(pub, live, dead)
        pub.transport = dead
        end = time.monotonic() + 30
        while pub.dropped == 0 and time.monotonic() < end:
            time.sleep(0.1)
        pub.transport = live  # broker back: the next summary carries the drop count
        pub.stop()
        dropped = pub.dropped
        end = time.monotonic() + 30
        stored = 0.0
        while time.monotonic() < end and stored < dropped:
            job.run()
            conn = db.connect_reader(tmp_store)
            try:
                df = queries.latest(conn, "consumer_telemetry_dropped_total", {"consumer": f"inv-{sfx}"})
            finally:
                conn.close()
            stored = float(df["value"].max()) if len(df) else 0.0
            time.sleep(0.2)
    finally:
        dead.close()
    _assert_within_10_percent(ratios)
    assert dropped > 0 and stored == dropped
