"""A realistic seeded store for the dashboard tests, the browser tests, the bench and screenshots.

``seed_store(path, now_ms)`` writes two hours of 15-second samples through ``store.writes`` (the
collectors' path), collector status rows, alert rules evaluated into one firing and one pending
alert, and a silence. ``seed_config`` writes the matching configuration file. The constants below
are the values the pages must show.
"""
from __future__ import annotations

import functools

import datetime
import math
import uuid
from pathlib import Path

import pika
import yaml

from alerts import api as alerts_api
from alerts.evaluator import evaluate
from config.dashboard import hash_password
from store import status
from store.db import open_migrated
from store.types import Sample
from store.writes import SampleWriter

KAFKA = "prod-kafka"
RABBIT = "prod-rabbit"
RABBIT_DOWN = "edge-rabbit"
DOWN_REASON = "connection refused (127.0.0.1:5999)"
STEP_MS = 15_000
TICKS = 480  # two hours

# group -> (state code, members, consume rate, {(topic, partition): (lag, lag seconds, status code)})
GROUPS = {
    "orders-svc": (1, 3, 55.5, {("orders", 0): (120, 30.0, 1), ("orders", 1): (40, 12.0, 0),
                                ("orders", 2): (15, 4.0, 0)}),
    "billing": (1, 2, 12.0, {("payments", 0): (8, 2.0, 0), ("payments", 1): (0, 0.0, 0)}),
    "audit": (4, 0, 0.0, {("audit-log", 0): (900, 3600.0, 4)}),
}
# group -> (time-lag method of its max, core.codes.LagMethod; drain ETA seconds, 315360000 = not draining)
GROUP_LAG_HOW = {"orders-svc": (0, 95.0), "billing": (1, 0.0), "audit": (2, 315_360_000.0)}
TOPIC_RATES = {"orders": 60.0, "payments": 12.0, "audit-log": 2.0}
# queue -> one value per QUEUE_METRICS name (rabbitmq_queue_<name>)
QUEUE_METRICS = ("ready_messages", "unacked_messages", "consumers", "consumer_utilisation_ratio",
                 "publish_rate_per_s", "deliver_rate_per_s", "ack_rate_per_s", "redeliver_rate_per_s",
                 "error_rate_ratio", "head_age_seconds")
QUEUES = {
    "orders.in": (42, 3, 2, 0.8, 20.0, 19.0, 18.5, 0.5, 0.01, 1.5),
    "email.send": (7, 0, 1, 1.0, 3.0, 3.0, 3.0, 0.0, 0.0, 0.2),
    "orders.dlq": (12, 0, 0, 0.0, 0.2, 0.0, 0.0, 0.0, 0.0, 600.0),
}
# queue -> (status code, drain ETA seconds)
QUEUE_HOW = {"orders.in": (1, 190.0), "email.send": (4, 315_360_000.0), "orders.dlq": (None, 0.0)}  # no DLQ status
DLQS = {("kafka", KAFKA, "orders.DLT"): 5, ("rabbitmq", RABBIT, "orders.dlq"): 12}
# (broker, cluster, consumer) -> p50, p95, p99 seconds, processed/s, error ratio, instances, {exception: total}
CONSUMERS = {
    ("kafka", KAFKA, "orders-svc"): (0.012, 0.045, 0.120, 55.0, 0.02, 3, {"ValueError": 17, "TimeoutError": 2}),
    ("rabbitmq", RABBIT, "email-worker"): (0.2, 0.8, 1.5, 3.0, 0.0, 1, {}),
}
TOTAL_LAG = sum(lag for *_, parts in GROUPS.values() for lag, _, _ in parts.values())
USERS = {"vera": ("viewer", "viewer-pass"), "otto": ("operator", "operator-pass")}


def _shape(final: float, i: int) -> float:
    """A wavy ramp over the history that ends exactly at ``final`` on the last tick."""
    left = (TICKS - 1 - i) / (TICKS - 1)
    return final * (1 - 0.4 * left) + abs(final) * 0.15 * math.sin(i / 9) * left


def _tick(ts: int, i: int) -> list[Sample]:
    out: list[Sample] = []

    def add(metric: str, labels: dict[str, str], final: float) -> None:
        out.append(Sample(metric, labels, ts, _shape(final, i)))

    for group, (state, members, rate, parts) in GROUPS.items():
        g = {"cluster": KAFKA, "group": group}
        add("kafka_group_total_lag_messages", g, sum(p[0] for p in parts.values()))
        add("kafka_group_max_lag_seconds", g, max(p[1] for p in parts.values()))
        out.append(Sample("kafka_group_status", g, ts, float(max(p[2] for p in parts.values()))))
        out.append(Sample("kafka_group_state", g, ts, float(state)))
        out.append(Sample("kafka_group_members", g, ts, float(members)))
        add("kafka_group_consume_rate_per_s", g, rate)
        method, eta = GROUP_LAG_HOW[group]
        out.append(Sample("kafka_group_max_lag_seconds_method", g, ts, float(method)))
        out.append(Sample("kafka_group_drain_eta_seconds", g, ts, eta))
        for topic in {t for t, _ in parts}:
            add("kafka_group_topic_lag_messages", {**g, "topic": topic},
                sum(v[0] for (t, _), v in parts.items() if t == topic))
        for (topic, partition), (lag, secs, code) in parts.items():
            p = {**g, "topic": topic, "partition": str(partition)}
            add("kafka_group_lag_messages", p, lag)
            add("kafka_group_lag_seconds", p, secs)
            out.append(Sample("kafka_group_partition_status", p, ts, float(code)))
            out.append(Sample("kafka_group_committed_offset", p, ts, float(10_000 + i * 10 - lag)))
    for topic, rate in TOPIC_RATES.items():
        add("kafka_topic_produce_rate_per_s", {"cluster": KAFKA, "topic": topic}, rate)
    for queue, vals in QUEUES.items():
        q = {"cluster": RABBIT, "vhost": "/", "queue": queue}
        for name, v in zip(QUEUE_METRICS, vals):
            add(f"rabbitmq_queue_{name}", q, v)
        code, eta = QUEUE_HOW[queue]
        if code is not None:
            out.append(Sample("rabbitmq_queue_status", q, ts, float(code)))
        out.append(Sample("rabbitmq_queue_drain_eta_seconds", q, ts, eta))
    node = {"cluster": RABBIT, "node": "rabbit@deck"}
    out += [Sample("rabbitmq_node_up", node, ts, 1.0), Sample("rabbitmq_node_mem_alarm", node, ts, 0.0),
            Sample("rabbitmq_node_disk_alarm", node, ts, 0.0), Sample("rabbitmq_node_fd_used_ratio", node, ts, 0.05)]
    for (broker, cluster, dlq), n in DLQS.items():
        labels = {"broker": broker, "cluster": cluster, "dlq": dlq, **({"vhost": "/"} if broker == "rabbitmq" else {})}
        add("dlq_messages", labels, n)
        add("dlq_inflow_rate_per_s", labels, 0.1)
    for (broker, cluster, consumer), (p50, p95, p99, rate, err, inst, errors) in CONSUMERS.items():
        c = {"cluster": cluster, "broker": broker, "consumer": consumer}
        for q, v in (("0.5", p50), ("0.95", p95), ("0.99", p99)):
            add("consumer_processing_seconds", {**c, "quantile": q}, v)
        add("consumer_processed_rate_per_s", c, rate)
        add("consumer_error_rate_ratio", c, err)
        out.append(Sample("consumer_instances_count", c, ts, float(inst)))
        for exc, total in errors.items():
            add("consumer_errors_total", {**c, "exception": exc}, total)
    return out


def seed_store(path: str | Path, now_ms: int) -> None:
    """Write the seeded history ending at ``now_ms``, status rows, alert rules/states and a silence."""
    conn = open_migrated(path)
    try:
        writer = SampleWriter(conn)
        first = now_ms - (TICKS - 1) * STEP_MS
        for start in range(0, TICKS, 60):
            writer.write([s for i in range(start, min(start + 60, TICKS)) for s in _tick(first + i * STEP_MS, i)])
        status.set_status(conn, f"kafka:{KAFKA}", True, None, now_ms, 120)
        status.set_status(conn, f"rabbitmq:{RABBIT}", True, None, now_ms, 80)
        status.set_status(conn, f"rabbitmq:{RABBIT_DOWN}", False, DOWN_REASON, now_ms, 5)
        alerts_api.save_rule(conn, {"name": "orders-lag-high", "metric": "kafka_group_total_lag_messages",
                                    "selector": {"group": "orders-svc"}, "comparison": ">", "threshold": 100,
                                    "severity": "critical"}, "seed", now_ms)
        alerts_api.save_rule(conn, {"name": "billing-lag", "metric": "kafka_group_total_lag_messages",
                                    "selector": {"group": "billing"}, "comparison": ">", "threshold": 5,
                                    "for_s": 3600, "severity": "warning"}, "seed", now_ms)
        alerts_api.add_silence(conn, {"cluster": RABBIT_DOWN}, now_ms, now_ms + 7_200_000, "seed",
                               "edge node maintenance", now_ms)
        evaluate(conn, now_ms)
    finally:
        conn.close()


@functools.lru_cache(maxsize=None)
def password_hash(password: str) -> str:
    """One scrypt hash per password and test process (each costs ~0.3-0.8 s at N = 2^17)."""
    return hash_password(password)


def seed_config(directory: str | Path, store_path: str | Path, auth: str = "none") -> Path:
    """A configuration file matching the seeded clusters (the RabbitMQ clusters point at the local node);
    the store is ``store_path``: a SQLite path or a ``postgresql://`` URL."""
    where = str(store_path)
    cfg = {
        "store": {"url": where} if where.startswith("postgresql://") else {"path": where},
        "kafka": {"clusters": [{"name": KAFKA, "bootstrap_servers": ["127.0.0.1:9"]}]},
        "rabbitmq": {"clusters": [{"name": RABBIT}, {"name": RABBIT_DOWN, "management_url": "http://127.0.0.1:5999"}]},
        # anonymous_role defaults to viewer; these fixtures act as the local operator (role tests override it)
        "dashboard": {"auth": auth, "refresh_s": 60, "anonymous_role": "operator",
                      "users": [{"name": n, "role": r, "password_hash": password_hash(p)}
                                for n, (r, p) in USERS.items()]},
    }
    path = Path(directory) / "eventdeck.yaml"
    path.write_text(yaml.safe_dump(cfg, sort_keys=False), encoding="utf-8")
    return path


SCRIPT_PAYLOAD = b'{"order": 7, "note": "<script>alert(\'xss\')</script>"}'
SCRIPT_HEADER = "<script>alert(1)</script>"


def real_rabbit_dlq(amqp_url: str, store_path: str | Path, now_ms: int, messages: int = 3) -> tuple[str, str]:
    """Declare a uniquely named source queue and its ``.dlq`` on a real RabbitMQ, dead-letter ``messages``
    messages into it (``x-death`` naming the source; the first carries a ``<script>`` payload and header) and
    record its size in the store as the collector would. Returns (source queue, dlq); delete both after use."""
    source = f"eventdeck-ui-{uuid.uuid4().hex[:10]}"
    dlq = f"{source}.dlq"
    conn = pika.BlockingConnection(pika.URLParameters(amqp_url))
    try:
        ch = conn.channel()
        ch.queue_declare(source)
        ch.queue_declare(dlq)
        ch.confirm_delivery()
        died = datetime.datetime.fromtimestamp(now_ms // 1000, tz=datetime.timezone.utc)
        for i in range(messages):
            death = {"queue": source, "reason": "rejected", "count": 1, "exchange": "", "routing-keys": [source],
                     "time": died}
            headers = {"x-death": [death], "x-first-death-queue": source, "x-first-death-reason": "rejected",
                       "x-first-death-exchange": "", **({"note": SCRIPT_HEADER} if i == 0 else {})}
            body = SCRIPT_PAYLOAD if i == 0 else f'{{"order": {i}}}'.encode()
            ch.basic_publish("", dlq, body, pika.BasicProperties(headers=headers, message_id=f"m{i}",
                                                                 content_type="application/json"))
    finally:
        conn.close()
    store = open_migrated(store_path)
    try:
        SampleWriter(store).write([Sample("dlq_messages", {"broker": "rabbitmq", "cluster": RABBIT, "vhost": "/",
                                                           "dlq": dlq}, now_ms, float(messages))])
    finally:
        store.close()
    return source, dlq


def delete_queues(amqp_url: str, *queues: str) -> None:
    conn = pika.BlockingConnection(pika.URLParameters(amqp_url))
    try:
        ch = conn.channel()
        for q in queues:
            ch.queue_delete(q)
    finally:
        conn.close()
