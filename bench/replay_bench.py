"""Replay throughput: 10,000 DLQ messages replayed unthrottled on each broker.

Kafka: one run per test broker (noida, Tansu), each started fresh. RabbitMQ, in the same run and
with the same 1 KiB persistent messages: Eventdeck's replay at windows W = 1, 64, 256, 1000
(publisher confirms, ledger + audit per confirmed batch, DLQ copies acked after) and a dynamic
shovel (ack-mode on-confirm) moving the same number between two queues; msgs/s, the ratio of each
to the shovel, and the replay process's CPU time per message (client side; the broker's is not
counted). ``--profile W`` prints the top of a cProfile of that window's run.

    python -m bench.replay_bench [--messages 10000] [--kafka noida,tansu] [--no-rabbit]
                                 [--windows 1,64,256,1000] [--profile 256]
"""
from __future__ import annotations

import argparse
import cProfile
import pstats
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


def _replay(st: Settings, request: dict, profile: bool = False) -> tuple[float, float, dict]:
    """(wall seconds, CPU seconds of this process, the job) of one unthrottled replay."""
    conn = st.store.handle.open_migrated()
    try:
        jid = api.enqueue_replay(conn, {**request, "rate_per_s": None}, "bench", int(time.time() * 1000))
        prof = cProfile.Profile() if profile else None
        t0, c0 = time.perf_counter(), time.process_time()
        if prof:
            prof.enable()
        run_pending(st, st.store.handle, jid)
        if prof:
            prof.disable()
        secs, cpu = time.perf_counter() - t0, time.process_time() - c0
        if prof:
            print(f"--- cProfile of the {request['broker']} replay, window {request.get('window')} "
                  f"(top 25 by own time) ---")
            pstats.Stats(prof).sort_stats("tottime").print_stats(25)
        return secs, cpu, api.job(conn, jid) or {}
    finally:
        conn.close()


def bench_kafka(kind: str, n: int, workdir: Path, profile: bool = False) -> float:
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
        secs, cpu, job = _replay(st, {"broker": "kafka", "cluster": "k", "dlq": dlq}, profile=profile)
        assert job.get("replayed") == n, f"{kind}: replayed {job.get('replayed')} of {n}: {job.get('error')}"
        rate = n / secs
        print(f"kafka/{kind:<6} eventdeck replay  {n} msgs in {secs:6.2f} s = {rate:8.0f} msgs/s "
              f"client CPU {cpu / n * 1e6:.0f} us/msg")
        return rate
    finally:
        broker.stop()


BODY = b"x" * 1024  # 1 KiB, as the measurements


def _fill(ch, queue: str, n: int) -> None:
    for i in range(n):
        ch.basic_publish("", queue, BODY,
                         pika.BasicProperties(message_id=str(i), delivery_mode=2,
                                              headers={"x-first-death-queue": queue.removesuffix(".dlq"),
                                                       "x-first-death-reason": "rejected"}))


def _wait_depth(ch, queue: str, n: int, timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while ch.queue_declare(queue, passive=True).method.message_count != n:
        if time.monotonic() > deadline:
            raise RuntimeError(f"queue {queue} never reached {n} messages")
        time.sleep(0.01)


def bench_rabbit(n: int, workdir: Path, windows: list[int], profile: int | None = None) -> None:
    info = ensure_rabbitmq()
    u = uuid.uuid4().hex[:8]
    conn = pika.BlockingConnection(pika.URLParameters(info.amqp_url))
    ch = conn.channel()
    sh_src, sh_dst = f"shovel-{u}.dlq", f"shovel-{u}"
    queues = [sh_src, sh_dst]
    shovel = f"bench-{u}"
    auth = (info.user, info.password)
    url = f"{info.mgmt_url}/api/parameters/shovel/{quote('/', safe='')}/{shovel}"
    st = Settings.model_validate({"store": {"path": str(workdir / "rabbit.db")}, "rabbitmq": {"clusters": [
        {"name": "r", "amqp_url": f"amqp://{info.host}:{info.amqp_port}/%2F", "username": info.user}]}})
    rows = []
    try:
        ch.confirm_delivery()
        for w in windows:
            dlq, dst = f"bench-{u}-w{w}.dlq", f"bench-{u}-w{w}"
            for q in (dlq, dst):
                ch.queue_declare(q, durable=True)
                queues.append(q)
            _fill(ch, dlq, n)
            _wait_depth(ch, dlq, n)
            secs, cpu, job = _replay(st, {"broker": "rabbitmq", "cluster": "r", "dlq": dlq, "window": w},
                                     profile=profile == w)
            assert job.get("replayed") == n, \
                f"rabbitmq W={w}: replayed {job.get('replayed')} of {n}: {job.get('error')}"
            _wait_depth(ch, dst, n)
            rows.append((f"eventdeck replay W={w}", secs, cpu))
            ch.queue_delete(dlq)
            ch.queue_delete(dst)

        for q in (sh_src, sh_dst):
            ch.queue_declare(q, durable=True)
        _fill(ch, sh_src, n)
        _wait_depth(ch, sh_src, n)
        # The same guarantees the shovel can give: ack after the destination confirms.
        t0 = time.perf_counter()
        r = requests.put(url, auth=auth, timeout=10, json={"value": {
            "src-protocol": "amqp091", "src-uri": "amqp://", "src-queue": sh_src,
            "src-delete-after": "queue-length", "dest-protocol": "amqp091", "dest-uri": "amqp://",
            "dest-queue": sh_dst, "ack-mode": "on-confirm", "src-prefetch-count": 1000}})
        r.raise_for_status()
        _wait_depth(ch, sh_dst, n)
        shovel_rate = n / (time.perf_counter() - t0)
        print(f"rabbitmq  {n} x 1 KiB persistent messages, same run")
        print(f"{'':10}{'mode':<26}{'msgs/s':>9}{'ratio':>8}{'client CPU us/msg':>19}")
        for name, secs, cpu in rows:
            print(f"{'':10}{name:<26}{n / secs:9.0f}{n / secs / shovel_rate:8.2f}{cpu / n * 1e6:19.0f}")
        print(f"{'':10}{'dynamic shovel (on-confirm)':<26}{shovel_rate:9.0f}{1.0:8.2f}{'(in the broker)':>19}")
        for name, secs, _ in rows:
            if name.endswith("W=256"):
                ratio = n / secs / shovel_rate
                verdict = "met" if ratio >= 0.5 else "NOT met"
                print(f"rabbitmq  W=256 / shovel = {ratio:.2f} (target >= 0.50: {verdict})")
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
    ap.add_argument("--windows", default="1,64,256,1000", help="RabbitMQ replay windows to measure")
    ap.add_argument("--profile", type=int, default=None, help="cProfile the RabbitMQ replay with this window")
    ap.add_argument("--profile-kafka", action="store_true", help="cProfile each Kafka replay")
    a = ap.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="eventdeck-replay-bench-") as tmp:
        for kind in filter(None, a.kafka.split(",")):
            bench_kafka(kind, a.messages, Path(tmp), a.profile_kafka)
        if not a.no_rabbit:
            bench_rabbit(a.messages, Path(tmp), [int(w) for w in a.windows.split(",") if w], a.profile)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
