"""Traffic simulator of a small shop, on Kafka AND RabbitMQ, instrumented with `instrument`.

An order service places ``OrderPlaced`` events at ``rate`` per second; the payment, inventory and
notification services consume them (Kafka: topic ``<prefix>.orders``, one group per service;
RabbitMQ: fanout exchange ``<prefix>.orders``, one queue per service). Every handler call is timed
into a telemetry sketch published every ``telemetry_interval_s``. With probability ``failure`` a
call fails for good (declined card, out of stock, bad address) and the message goes to the DLQ
(Kafka ``<prefix>.orders.dlq`` with Spring headers; RabbitMQ reject → ``<prefix>.dlx`` →
``<prefix>.<service>.dlq``); with the same probability a call times out and is retried with
backoff. Handlers are idempotent (SQLite dedup), so a replayed order is not charged twice.
Notification is the slow service (3× the latency), so its lag builds first when the rate rises;
for the first third of every ``slow_every_s`` seconds its downstream is 10× slower still, so lag
builds and drains and the percentiles move even at the default rate.

    python -m demo.simulator --kafka 127.0.0.1:PORT --rabbitmq amqp://guest:guest@127.0.0.1:5672/%2F \\
        [--rate 5] [--failure 0.05] [--latency-ms 20] [--duration S]
"""
from __future__ import annotations

import argparse
import json
import logging
import random
import shutil
import signal
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from core.clock import now_ms
from brokers.polling import kafka_poll
from instrument.dlq_route import KafkaDlqRouter, declare_queue_with_dlq, reject_to_dlx
from instrument.idempotency import Idempotent, SqliteDedupStore
from instrument.publisher import DEFAULT_NAME, KafkaTransport, RabbitTransport, TelemetryPublisher
from instrument.retry import RetryExhausted, RetryPolicy, retry_call
from instrument.timing import Recorder

log = logging.getLogger("eventdeck.simulator")

# service -> (latency multiplier, the permanent failure it raises)
SERVICES: dict[str, tuple[float, str]] = {"payment": (1.0, "PaymentDeclined"),
                                          "inventory": (0.5, "OutOfStock"),
                                          "notification": (3.0, "InvalidAddress")}


class PermanentFailure(Exception):
    """A business error: retrying will not help, the order goes to the DLQ."""


class PaymentDeclined(PermanentFailure):
    pass


class OutOfStock(PermanentFailure):
    pass


class InvalidAddress(PermanentFailure):
    pass


class GatewayTimeout(Exception):
    """A transient error: retried with backoff."""


FAILURES: dict[str, type[PermanentFailure]] = {c.__name__: c for c in (PaymentDeclined, OutOfStock, InvalidAddress)}


@dataclass
class SimOptions:
    rate: float = 5.0
    failure: float = 0.05
    latency_ms: float = 20.0
    telemetry_interval_s: float = 5.0
    prefix: str = "shop"
    telemetry_topic: str = DEFAULT_NAME
    telemetry_exchange: str = DEFAULT_NAME
    partitions: int = 3
    slow_every_s: float = 60.0

    def __post_init__(self) -> None:
        if self.rate <= 0:
            raise ValueError(f"rate must be > 0 orders/s, got {self.rate}")
        if not 0 <= self.failure <= 1:
            raise ValueError(f"failure must be a probability in [0, 1], got {self.failure}")
        if self.latency_ms < 0:
            raise ValueError(f"latency_ms must be >= 0, got {self.latency_ms}")
        if self.slow_every_s < 0:
            raise ValueError(f"slow_every_s must be >= 0 (0 = never slow), got {self.slow_every_s}")


@dataclass
class SimStats:
    """Counters the threads update (under ``lock``), returned by :func:`run_simulator`."""

    produced: dict[str, int] = field(default_factory=lambda: {"kafka": 0, "rabbitmq": 0})
    processed: dict[str, int] = field(default_factory=dict)
    dead_lettered: dict[str, int] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def add(self, table: str, key: str, n: int = 1) -> None:
        with self.lock:
            d = getattr(self, table)
            d[key] = d.get(key, 0) + n


SLOW_SERVICE, SLOW_FACTOR = "notification", 10.0


def slow_factor(service: str, t_s: float, every_s: float) -> float:
    """Latency factor at time ``t_s``: the slow service is 10× slower in the first third of each period."""
    if service != SLOW_SERVICE or every_s <= 0:
        return 1.0
    return SLOW_FACTOR if t_s % every_s < every_s / 3 else 1.0


def make_handler(service: str, opts: SimOptions, recorder: Recorder, rng: random.Random) -> Callable[[dict], None]:
    """The service's business logic: sleeps a lognormal latency, fails now and then (timed)."""
    mult, failure = SERVICES[service]
    mean_s = opts.latency_ms * mult / 1000.0

    @recorder.timed
    def handle(order: dict) -> None:
        if mean_s > 0:
            m = mean_s * slow_factor(service, time.time(), opts.slow_every_s)
            time.sleep(min(m * rng.lognormvariate(0, 0.5), 20 * m))
        roll = rng.random()
        if roll < opts.failure:
            raise FAILURES[failure](f"{service}: order {order['order_id']} failed ({failure})")
        if roll < 2 * opts.failure:
            raise GatewayTimeout(f"{service}: upstream timed out for order {order['order_id']}")
    return handle


RETRY = RetryPolicy(max_attempts=3, base_s=0.01, max_delay_s=0.1, retry_on=(GatewayTimeout,))


def process(handle: Callable[[dict], None]) -> Callable[[dict], None]:
    """Retry transient failures, then raise (a permanent failure or :class:`RetryExhausted`)."""
    return lambda order: retry_call(handle, order, policy=RETRY)


def _order(rng: random.Random) -> dict:
    items = [{"sku": f"SKU-{rng.randint(1, 50):03d}", "qty": rng.randint(1, 3)} for _ in range(rng.randint(1, 4))]
    return {"type": "OrderPlaced", "order_id": str(uuid.uuid4()), "customer": f"c-{rng.randint(1, 500)}",
            "items": items, "amount": round(rng.uniform(5, 400), 2), "placed_ms": now_ms()}


# ------------------------------------------------------------------ Kafka

def _kafka_setup(bootstrap: str, opts: SimOptions) -> None:
    from kafka import KafkaAdminClient
    from kafka.errors import TopicAlreadyExistsError
    admin = KafkaAdminClient(bootstrap_servers=bootstrap, client_id="eventdeck-simulator")
    try:
        existing = set(admin.list_topics())
        wanted = {f"{opts.prefix}.orders": opts.partitions, f"{opts.prefix}.orders.dlq": 1}
        new = {t: {"num_partitions": n, "replication_factor": 1} for t, n in wanted.items() if t not in existing}
        if new:
            try:
                admin.create_topics(new, wait_for_metadata=True)
            except TopicAlreadyExistsError:
                pass
    finally:
        admin.close()


def _kafka_service(bootstrap: str, opts: SimOptions, service: str, recorder: Recorder, dedup_dir: Path,
                   stats: SimStats, stop: threading.Event) -> None:
    from kafka import KafkaConsumer, KafkaProducer
    group = f"{opts.prefix}-{service}"
    consumer = KafkaConsumer(f"{opts.prefix}.orders", bootstrap_servers=bootstrap, group_id=group,
                             enable_auto_commit=False, auto_offset_reset="earliest",
                             session_timeout_ms=6000, heartbeat_interval_ms=1000, client_id=group)
    producer = KafkaProducer(bootstrap_servers=bootstrap, acks="all", linger_ms=0, client_id=group)
    router = KafkaDlqRouter(producer, group=group)
    dedup = SqliteDedupStore(dedup_dir / f"kafka-{service}.db")
    handle = Idempotent(dedup, lambda order: order["order_id"],
                        process(make_handler(service, opts, recorder, random.Random())))
    try:
        while not stop.is_set():
            batch = kafka_poll(consumer, 0.5, 50)  # politely: see brokers.polling
            for records in batch.values():
                for rec in records:
                    try:
                        handle(json.loads(rec.value))
                        stats.add("processed", f"kafka:{service}")
                    except (PermanentFailure, RetryExhausted) as exc:
                        router.route(rec, exc.last if isinstance(exc, RetryExhausted) else exc)
                        stats.add("dead_lettered", f"kafka:{service}")
            if batch:
                consumer.commit()
    finally:
        consumer.close(autocommit=False)
        producer.close(timeout=5)
        dedup.close()


def _kafka_orders(bootstrap: str, opts: SimOptions, stats: SimStats, stop: threading.Event) -> None:
    from kafka import KafkaProducer
    producer = KafkaProducer(bootstrap_servers=bootstrap, acks="all", linger_ms=0, client_id="shop-orders")
    try:  # closed also on an error, or every restart by _guard would leave a producer's threads behind
        _pace(opts.rate, stop, lambda order: (
            producer.send(f"{opts.prefix}.orders", key=order["customer"].encode(), value=json.dumps(order).encode()),
            stats.add("produced", "kafka")))
        producer.flush(timeout=10)
    finally:
        producer.close(timeout=5)


# ------------------------------------------------------------------ RabbitMQ

def _rabbit_connect(amqp_url: str) -> Any:
    import pika
    return pika.BlockingConnection(pika.URLParameters(amqp_url))


def rabbit_names(opts: SimOptions) -> dict[str, str]:
    """Exchange, dead-letter exchange and ``<service>`` / ``<service>.dlq`` queue names."""
    p = opts.prefix
    names = {"exchange": f"{p}.orders", "dlx": f"{p}.dlx"}
    for s in SERVICES:
        names[s], names[f"{s}.dlq"] = f"{p}.{s}", f"{p}.{s}.dlq"
    return names


def _rabbit_setup(amqp_url: str, opts: SimOptions) -> None:
    n = rabbit_names(opts)
    conn = _rabbit_connect(amqp_url)
    try:
        ch = conn.channel()
        ch.exchange_declare(n["exchange"], exchange_type="fanout", durable=True)
        for s in SERVICES:
            declare_queue_with_dlq(ch, n[s], n["dlx"], n[f"{s}.dlq"])
            ch.queue_bind(n[s], n["exchange"])
    finally:
        conn.close()


def _rabbit_service(amqp_url: str, opts: SimOptions, service: str, recorder: Recorder, dedup_dir: Path,
                    stats: SimStats, stop: threading.Event) -> None:
    queue = rabbit_names(opts)[service]
    conn = _rabbit_connect(amqp_url)
    dedup = SqliteDedupStore(dedup_dir / f"rabbitmq-{service}.db")
    handle = Idempotent(dedup, lambda order: order["order_id"],
                        process(make_handler(service, opts, recorder, random.Random())))
    try:
        ch = conn.channel()
        ch.basic_qos(prefetch_count=20)
        for method, _props, body in ch.consume(queue, inactivity_timeout=0.5):
            if stop.is_set():
                break
            if method is None:
                continue
            try:
                handle(json.loads(body))
                ch.basic_ack(method.delivery_tag)
                stats.add("processed", f"rabbitmq:{service}")
            except (PermanentFailure, RetryExhausted):
                reject_to_dlx(ch, method.delivery_tag)
                stats.add("dead_lettered", f"rabbitmq:{service}")
        ch.cancel()
    finally:
        conn.close()
        dedup.close()


def _rabbit_orders(amqp_url: str, opts: SimOptions, stats: SimStats, stop: threading.Event) -> None:
    import pika
    conn = _rabbit_connect(amqp_url)
    try:
        ch = conn.channel()
        ch.confirm_delivery()
        exchange = rabbit_names(opts)["exchange"]
        props = pika.BasicProperties(content_type="application/json", delivery_mode=2)
        _pace(opts.rate, stop, lambda order: (
            ch.basic_publish(exchange, "", json.dumps(order).encode(), props), stats.add("produced", "rabbitmq")))
    finally:
        conn.close()


# ------------------------------------------------------------------ running

def _pace(rate: float, stop: threading.Event, emit: Callable[[dict], Any]) -> None:
    """Call ``emit(order)`` ``rate`` times a second until ``stop`` (catching up after a stall)."""
    rng = random.Random()
    period = 1.0 / rate
    due = time.monotonic()
    while not stop.is_set():
        emit(_order(rng))
        due += period
        delay = due - time.monotonic()
        if delay > 0:
            stop.wait(delay)
        elif delay < -5:
            due = time.monotonic()  # far behind (a broker stalled): do not burst


def _guard(name: str, fn: Callable[..., None], stop: threading.Event, *args: Any) -> threading.Thread:
    """Run ``fn`` in a thread; on an error log it and restart after a pause, until ``stop``."""
    def loop() -> None:
        while not stop.is_set():
            try:
                fn(*args, stop)
            except Exception:
                log.exception("%s failed; restarting in 2 s", name)
                stop.wait(2.0)
    t = threading.Thread(target=loop, name=f"sim-{name}", daemon=True)
    t.start()
    return t


def run_simulator(kafka_bootstrap: str | None, amqp_url: str | None, stop_event: threading.Event,
                  **rates: Any) -> SimStats:
    """Run the shop until ``stop_event`` is set; ``rates`` are :class:`SimOptions` fields
    (``rate``, ``failure``, ``latency_ms``, ``telemetry_interval_s``, ``prefix``, ...).
    Either broker may be None. Returns the counters."""
    opts = SimOptions(**rates)
    if not kafka_bootstrap and not amqp_url:
        raise ValueError("run_simulator needs a Kafka bootstrap address, an AMQP URL, or both")
    stats = SimStats()
    dedup_dir = Path(tempfile.mkdtemp(prefix="eventdeck-sim-"))
    threads: list[threading.Thread] = []
    publishers: list[TelemetryPublisher] = []
    try:
        if kafka_bootstrap:
            _kafka_setup(kafka_bootstrap, opts)
            recs = [Recorder(f"{opts.prefix}-{s}", "kafka") for s in SERVICES]
            publishers.append(TelemetryPublisher(KafkaTransport(kafka_bootstrap, opts.telemetry_topic), recs,
                                                 opts.telemetry_interval_s).start())
            for s, rec in zip(SERVICES, recs):
                threads.append(_guard(f"kafka-{s}", _kafka_service, stop_event, kafka_bootstrap, opts, s, rec,
                                      dedup_dir, stats))
            threads.append(_guard("kafka-orders", _kafka_orders, stop_event, kafka_bootstrap, opts, stats))
        if amqp_url:
            _rabbit_setup(amqp_url, opts)
            names = rabbit_names(opts)
            recs = [Recorder(names[s], "rabbitmq") for s in SERVICES]
            publishers.append(TelemetryPublisher(RabbitTransport(amqp_url, opts.telemetry_exchange), recs,
                                                 opts.telemetry_interval_s).start())
            for s, rec in zip(SERVICES, recs):
                threads.append(_guard(f"rabbitmq-{s}", _rabbit_service, stop_event, amqp_url, opts, s, rec,
                                      dedup_dir, stats))
            threads.append(_guard("rabbitmq-orders", _rabbit_orders, stop_event, amqp_url, opts, stats))
        log.info("simulator running: %s", opts)
        while not stop_event.wait(0.5):
            pass
    finally:
        stop_event.set()
        for t in threads:
            t.join(timeout=15)
        for p in publishers:
            p.stop()
        shutil.rmtree(dedup_dir, ignore_errors=True)
    return stats


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m demo.simulator", description=__doc__.split("\n")[0])
    ap.add_argument("--kafka", help="bootstrap host:port of the Kafka cluster")
    ap.add_argument("--rabbitmq", help="AMQP URL, e.g. amqp://guest:guest@127.0.0.1:5672/%%2F")
    ap.add_argument("--rate", type=float, default=5.0, help="orders per second (default 5)")
    ap.add_argument("--failure", type=float, default=0.05, help="probability a call fails for good (default 0.05)")
    ap.add_argument("--latency-ms", type=float, default=20.0, help="mean handler latency (default 20)")
    ap.add_argument("--telemetry-interval", type=float, default=5.0, help="seconds between summaries")
    ap.add_argument("--prefix", default="shop", help="prefix of topics, queues and groups (default shop)")
    ap.add_argument("--telemetry-name", default=DEFAULT_NAME,
                    help=f"telemetry Kafka topic and RabbitMQ exchange (default {DEFAULT_NAME})")
    ap.add_argument("--slow-every", type=float, default=60.0,
                    help="every this many seconds notification slows down 10x for a third of it (0 = never)")
    ap.add_argument("--duration", type=float, default=None, help="stop after this many seconds")
    args = ap.parse_args(argv)
    if not args.kafka and not args.rabbitmq:
        ap.error("give --kafka, --rabbitmq or both")
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    if args.duration:
        timer = threading.Timer(args.duration, stop.set)
        timer.daemon = True
        timer.start()
    try:
        stats = run_simulator(args.kafka, args.rabbitmq, stop, rate=args.rate, failure=args.failure,
                              latency_ms=args.latency_ms, telemetry_interval_s=args.telemetry_interval,
                              prefix=args.prefix, slow_every_s=args.slow_every, telemetry_topic=args.telemetry_name,
                              telemetry_exchange=args.telemetry_name)
    except ValueError as exc:
        ap.error(str(exc))
    print(json.dumps({"produced": stats.produced, "processed": stats.processed,
                      "dead_lettered": stats.dead_lettered}, sort_keys=True))
    return 0


if __name__ == "__main__":
    # Run the imported module, not this __main__ copy, so the shop's exception classes are named
    # demo.simulator.PaymentDeclined (as operators see them in DLQ headers), not __main__.PaymentDeclined.
    from demo.simulator import main as _main

    raise SystemExit(_main())
