"""Replay throughput: 10,000 DLQ messages replayed unthrottled on each broker.

Kafka: one run per test broker (noida, Tansu), each started fresh. RabbitMQ: Eventdeck's replay
(publisher confirm + ledger write + ack per message) and, in the same run, a dynamic shovel moving
another 10,000 messages between two queues; the ratio of the two rates is printed.

    python -m bench.replay_bench [--messages 10000] [--kafka noida,tansu] [--no-rabbit]
"""
from __future__ import annotations

import argparse
import struct
import tempfile
import time
import uuid
from pathlib import Path
from urllib.parse import quote

import pika
import requests
from kafka import KafkaAdminClient, KafkaProducer

from config import Settings
from demo.brokers import ensure_rabbitmq, start_kafka
from dlq import api
from dlq.jobs import run_pending
from store.db import open_migrated


def _replay(st: Settings, request: dict) -> tuple[float, dict]:
    conn = open_migrated(st.store.path)
    try:
        jid = api.enqueue_replay(conn, {**request, "rate_per_s": None}, "bench", int(time.time() * 1000))
        t0 = time.perf_counter()
        run_pending(st, st.store.path, jid)
        return time.perf_counter() - t0, api.job(conn, jid) or {}
    finally:
        conn.close()


def bench_kafka(kind: str, n: int, workdir: Path) -> float:
    broker = start_kafka(kind, data_dir=workdir / kind)
    try:
        u = uuid.uuid4().hex[:8]
        src, dlq = f"orders-{u}", f"orders-{u}.DLT"
        admin = KafkaAdminClient(bootstrap_servers=broker.bootstrap)
        admin.create_topics({src: {"num_partitions": 3, "replication_factor": 1},
                             dlq: {"num_partitions": 1, "replication_factor": 1}})
        admin.close()
        # batch_size=1: one record per batch, as Tansu's ListOffsets counts batches
        p = KafkaProducer(bootstrap_servers=broker.bootstrap, batch_size=1, linger_ms=0, acks="all")
        for i in range(n):
            p.send(dlq, key=str(i).encode(), value=b'{"order": %d, "amount": 12.5}' % i,
                   headers=[("kafka_dlt-original-topic", src.encode()),
                            ("kafka_dlt-original-partition", struct.pack(">i", i % 3)),
                            ("kafka_dlt-original-offset", struct.pack(">q", i)),
                            ("kafka_dlt-exception-fqcn", b"com.acme.OrderException"),
                            ("kafka_dlt-exception-message", b"bench")], partition=0)
        p.flush()
        p.close()
        st = Settings.model_validate({"store": {"path": str(workdir / f"{kind}.db")},
                                      "kafka": {"clusters": [{"name": "k", "bootstrap_servers": [broker.bootstrap]}]}})
        secs, job = _replay(st, {"broker": "kafka", "cluster": "k", "dlq": dlq})
        assert job.get("replayed") == n, f"{kind}: replayed {job.get('replayed')} of {n}: {job.get('error')}"
        rate = n / secs
        print(f"kafka/{kind:<6} eventdeck replay  {n} msgs in {secs:6.2f} s = {rate:8.0f} msgs/s "
              f"(target >= 5000: {'met' if rate >= 5000 else 'NOT met'})")
        return rate
    finally:
        broker.stop()


def _fill(ch, queue: str, n: int) -> None:
    for i in range(n):
        ch.basic_publish("", queue, b'{"order": %d, "amount": 12.5}' % i,
                         pika.BasicProperties(message_id=str(i), delivery_mode=2,
                                              headers={"x-first-death-queue": queue.removesuffix(".dlq"),
                                                       "x-first-death-reason": "rejected"}))


def _wait_depth(ch, queue: str, n: int, timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while ch.queue_declare(queue, passive=True).method.message_count != n:
        if time.monotonic() > deadline:
            raise RuntimeError(f"queue {queue} never reached {n} messages")
        time.sleep(0.01)


def bench_rabbit(n: int, workdir: Path) -> None:
    info = ensure_rabbitmq()
    u = uuid.uuid4().hex[:8]
    conn = pika.BlockingConnection(pika.URLParameters(info.amqp_url))
    ch = conn.channel()
    ours_dlq, ours_dst = f"bench-{u}.dlq", f"bench-{u}"
    sh_src, sh_dst = f"shovel-{u}.dlq", f"shovel-{u}"
    queues = [ours_dlq, ours_dst, sh_src, sh_dst]
    shovel = f"bench-{u}"
    auth = (info.user, info.password)
    url = f"{info.mgmt_url}/api/parameters/shovel/{quote('/', safe='')}/{shovel}"
    try:
        for q in queues:
            ch.queue_declare(q, durable=True)
        ch.confirm_delivery()
        _fill(ch, ours_dlq, n)
        _fill(ch, sh_src, n)
        _wait_depth(ch, ours_dlq, n)
        _wait_depth(ch, sh_src, n)

        st = Settings.model_validate({"store": {"path": str(workdir / "rabbit.db")}, "rabbitmq": {"clusters": [
            {"name": "r", "amqp_url": f"amqp://{info.host}:{info.amqp_port}/%2F", "username": info.user}]}})
        secs, job = _replay(st, {"broker": "rabbitmq", "cluster": "r", "dlq": ours_dlq})
        assert job.get("replayed") == n, f"rabbitmq: replayed {job.get('replayed')} of {n}: {job.get('error')}"
        _wait_depth(ch, ours_dst, n)
        ours = n / secs

        # The same guarantees the shovel can give: ack after the destination confirms.
        t0 = time.perf_counter()
        r = requests.put(url, auth=auth, timeout=10, json={"value": {
            "src-protocol": "amqp091", "src-uri": "amqp://", "src-queue": sh_src,
            "src-delete-after": "queue-length", "dest-protocol": "amqp091", "dest-uri": "amqp://",
            "dest-queue": sh_dst, "ack-mode": "on-confirm", "src-prefetch-count": 1000}})
        r.raise_for_status()
        _wait_depth(ch, sh_dst, n)
        shovel_secs = time.perf_counter() - t0
        theirs = n / shovel_secs
        print(f"rabbitmq      eventdeck replay  {n} msgs in {secs:6.2f} s = {ours:8.0f} msgs/s")
        print(f"rabbitmq      dynamic shovel    {n} msgs in {shovel_secs:6.2f} s = {theirs:8.0f} msgs/s "
              f"(ack-mode on-confirm)")
        print(f"rabbitmq      ratio eventdeck/shovel = {ours / theirs:.2f} "
              f"(target >= 0.50: {'met' if ours / theirs >= 0.5 else 'NOT met'})")
    finally:
        requests.delete(url, auth=auth, timeout=10)
        for q in queues:
            ch.queue_delete(q)
        conn.close()


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench.replay_bench", description=__doc__.split("\n")[0])
    ap.add_argument("--messages", type=int, default=10_000)
    ap.add_argument("--kafka", default="noida,tansu", help="comma-separated broker kinds ('' for none)")
    ap.add_argument("--no-rabbit", action="store_true")
    a = ap.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="eventdeck-replay-bench-") as tmp:
        for kind in filter(None, a.kafka.split(",")):
            bench_kafka(kind, a.messages, Path(tmp))
        if not a.no_rabbit:
            bench_rabbit(a.messages, Path(tmp))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
