"""Replay throughput: 10,000 DLQ messages replayed unthrottled on each broker.

Kafka: one run per test broker (noida, Tansu), each started fresh; msgs/s and client CPU per
message, each reported against issue 26's 10k msg/s (bench.verdict). RabbitMQ, with the same 1 KiB
persistent messages: Eventdeck's replay at windows W = 1, 64, 256, 1000 (publisher confirms, ledger
+ audit per confirmed batch, DLQ copies acked after) and a dynamic shovel (ack-mode on-confirm)
moving the same number between two queues; msgs/s, the ratio of each to the shovel, and the replay
process's CPU time per message (client side; the broker's is not counted). Then ``--runs`` - 1 more
runs of W = 256 and the shovel, each pair back to back; the W = 256 ratio reported is the median of
the runs (issue 26: >= 0.5). ``--profile W`` prints the top of a cProfile of that window's first
run, ``--profile-kafka`` of each Kafka replay.

    python -m bench.replay_bench [--messages 10000] [--kafka noida,tansu] [--no-rabbit]
                                 [--windows 1,64,256,1000] [--runs 5] [--profile 256] [--profile-kafka]
"""
from __future__ import annotations

import argparse
import cProfile
import pstats
import statistics
import struct
import tempfile
import time
import uuid
from pathlib import Path
from urllib.parse import quote

import pika
import requests
from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer, TopicPartition

from bench import verdict
from config import Settings
from demo.brokers import ensure_rabbitmq, start_kafka
from dlq import api
from dlq.jobs import run_pending


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


def _wait_end(bootstrap: str, topic: str, n: int, timeout: float = 60.0) -> None:
    """Wait until the broker reports all ``n`` records: a loaded noida was seen answering ListOffsets with
    less than it had acknowledged, and a replay replays the range it finds at its start."""
    c = KafkaConsumer(bootstrap_servers=bootstrap)
    try:
        tp = TopicPartition(topic, 0)
        deadline = time.monotonic() + timeout
        while (end := c.end_offsets([tp])[tp]) < n:
            if time.monotonic() > deadline:
                raise RuntimeError(f"{topic} reports {end} of the {n} records produced")
            time.sleep(0.1)
    finally:
        c.close()


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
        _wait_end(broker.bootstrap, dlq, n)
        st = Settings.model_validate({"store": {"path": str(workdir / f"{kind}.db")},
                                      "kafka": {"clusters": [{"name": "k", "bootstrap_servers": [broker.bootstrap]}]}})
        secs, cpu, job = _replay(st, {"broker": "kafka", "cluster": "k", "dlq": dlq}, profile=profile)
        if job.get("replayed") != n:
            conn = st.store.handle.open_migrated()
            try:
                why = next((m.get("detail") for m in api.job_messages(conn, job["id"])
                            if m.get("outcome") != "replayed"), None)
            finally:
                conn.close()
            raise AssertionError(f"{kind}: replayed {job.get('replayed')} of {n} (total {job.get('total')}, failed "
                                 f"{job.get('failed')}, skipped {job.get('skipped')}, state {job.get('state')}): "
                                 f"{job.get('error') or why}")
        rate = n / secs
        print(f"kafka/{kind:<6} eventdeck replay  {n} msgs in {secs:6.2f} s = {rate:8.0f} msgs/s, "
              f"client CPU {cpu / n * 1e6:.0f} us/msg", flush=True)
        verdict.report(f"Kafka replay, {kind}", rate, 10_000, "msg/s", higher_is_better=True)
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


def _shovel_rate(ch, info, n: int, u: str, queues: list[str], shovels: list[str]) -> float:
    """msgs/s of a dynamic shovel (ack-mode on-confirm) moving ``n`` messages between two fresh queues."""
    src, dst = f"shovel-{u}.dlq", f"shovel-{u}"
    for q in (src, dst):
        ch.queue_declare(q, durable=True)
        queues.append(q)
    _fill(ch, src, n)
    _wait_depth(ch, src, n)
    url = f"{info.mgmt_url}/api/parameters/shovel/{quote('/', safe='')}/bench-{u}"
    shovels.append(url)
    # The same guarantees the shovel can give: ack after the destination confirms.
    t0 = time.perf_counter()
    r = requests.put(url, auth=(info.user, info.password), timeout=10, json={"value": {
        "src-protocol": "amqp091", "src-uri": "amqp://", "src-queue": src,
        "src-delete-after": "queue-length", "dest-protocol": "amqp091", "dest-uri": "amqp://",
        "dest-queue": dst, "ack-mode": "on-confirm", "src-prefetch-count": 1000}})
    r.raise_for_status()
    _wait_depth(ch, dst, n)
    rate = n / (time.perf_counter() - t0)
    requests.delete(url, auth=(info.user, info.password), timeout=10)
    for q in (src, dst):
        ch.queue_delete(q)
    return rate


def _replay_rate(ch, st: Settings, n: int, u: str, w: int, queues: list[str], profile: bool) -> tuple[float, float]:
    """(seconds, client CPU seconds) of Eventdeck replaying ``n`` messages with window ``w``."""
    dlq, dst = f"bench-{u}-w{w}.dlq", f"bench-{u}-w{w}"
    for q in (dlq, dst):
        ch.queue_declare(q, durable=True)
        queues.append(q)
    _fill(ch, dlq, n)
    _wait_depth(ch, dlq, n)
    secs, cpu, job = _replay(st, {"broker": "rabbitmq", "cluster": "r", "dlq": dlq, "window": w}, profile=profile)
    assert job.get("replayed") == n, f"rabbitmq W={w}: replayed {job.get('replayed')} of {n}: {job.get('error')}"
    _wait_depth(ch, dst, n)
    ch.queue_delete(dlq)
    ch.queue_delete(dst)
    return secs, cpu


def bench_rabbit(n: int, workdir: Path, windows: list[int], profile: int | None = None, runs: int = 5) -> None:
    """Run 1 measures every window and the shovel; runs 2..``runs`` measure W = 256 and the shovel
    again, each replay right before its shovel, and the W = 256 ratio reported is the median."""
    info = ensure_rabbitmq()
    u = uuid.uuid4().hex[:8]
    conn = pika.BlockingConnection(pika.URLParameters(info.amqp_url))
    ch = conn.channel()
    queues: list[str] = []
    shovels: list[str] = []
    st = Settings.model_validate({"store": {"path": str(workdir / "rabbit.db")}, "rabbitmq": {"clusters": [
        {"name": "r", "amqp_url": f"amqp://{info.host}:{info.amqp_port}/%2F", "username": info.user}]}})
    ratios: list[float] = []
    try:
        ch.confirm_delivery()
        for run in range(1, runs + 1):
            rows = []
            for w in (windows if run == 1 else [w for w in windows if w == 256] or windows[:1]):
                secs, cpu = _replay_rate(ch, st, n, f"{u}-{run}", w, queues, profile == w and run == 1)
                rows.append((w, secs, cpu))
            shovel_rate = _shovel_rate(ch, info, n, f"{u}-{run}", queues, shovels)
            print(f"rabbitmq  run {run}/{runs}: {n} x 1 KiB persistent messages")
            print(f"{'':10}{'mode':<28}{'msgs/s':>9}{'ratio':>8}{'client CPU us/msg':>19}")
            for w, secs, cpu in rows:
                print(f"{'':10}{f'eventdeck replay W={w}':<28}{n / secs:9.0f}{n / secs / shovel_rate:8.2f}"
                      f"{cpu / n * 1e6:19.0f}")
                if w == 256:
                    ratios.append(n / secs / shovel_rate)
            print(f"{'':10}{'dynamic shovel (on-confirm)':<28}{shovel_rate:9.0f}{1.0:8.2f}{'(in the broker)':>19}",
                  flush=True)
        if ratios:
            print("rabbitmq  W=256 / shovel per run: " + ", ".join(f"{r:.2f}" for r in ratios))
            verdict.report(f"RabbitMQ replay W=256 / shovel (median of {len(ratios)})", statistics.median(ratios),
                           0.5, "ratio", higher_is_better=True)
    finally:
        for url in shovels:
            requests.delete(url, auth=(info.user, info.password), timeout=10)
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
    ap.add_argument("--runs", type=int, default=5, help="RabbitMQ runs of W=256 vs the shovel (median reported)")
    a = ap.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="eventdeck-replay-bench-") as tmp:
        for kind in filter(None, a.kafka.split(",")):
            bench_kafka(kind, a.messages, Path(tmp), a.profile_kafka)
        if not a.no_rabbit:
            bench_rabbit(a.messages, Path(tmp), [int(w) for w in a.windows.split(",") if w], a.profile, a.runs)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
