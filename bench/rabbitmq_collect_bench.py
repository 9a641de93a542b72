"""RabbitMQ collection cycle on 1,000 queues vs ``rabbitmqctl list_queues name messages consumers``.

Creates 1,000 uniquely named queues (one message each) on the local node, waits until the management
API has stats for all of them, times several collection cycles (all queues, two pages of 500), prints
cycle time, bytes and requests per cycle, the bytes one unfiltered page would cost, the reference
``rabbitmqctl`` time and the ratio (target < 1), then deletes the queues.

``python -m bench.rabbitmq_collect_bench [--queues N] [--cycles N]``
"""
from __future__ import annotations

import argparse
import statistics
import subprocess
import time
import uuid

import pika
import requests

from collectors.rabbitmq import RabbitCollector
from config.rabbitmq import RabbitClusterConfig
from demo.brokers import ensure_rabbitmq


def _timed(fn) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(prog="bench.rabbitmq_collect_bench")
    ap.add_argument("--queues", type=int, default=1000)
    ap.add_argument("--cycles", type=int, default=5)
    args = ap.parse_args(argv)
    rmq = ensure_rabbitmq()
    prefix = f"ed-bench-{uuid.uuid4().hex[:8]}-"
    names = [f"{prefix}{i:04d}" for i in range(args.queues)]
    conn = pika.BlockingConnection(pika.URLParameters(rmq.amqp_url))
    ch = conn.channel()
    try:
        t0 = time.perf_counter()
        for n in names:
            ch.queue_declare(n, auto_delete=False)
            ch.basic_publish("", n, b"x")
        print(f"created {len(names)} queues in {time.perf_counter() - t0:.1f} s")
        cfg = RabbitClusterConfig(name="bench", management_url=rmq.mgmt_url, username=rmq.user,
                                  topology_refresh_s=0)
        collector = RabbitCollector(cfg)
        deadline = time.monotonic() + 120
        while True:  # the API lists a queue's figures only after its first stats emission
            samples = collector.collect(int(time.time() * 1000)).samples
            seen = {s.labels["queue"] for s in samples
                    if s.metric == "rabbitmq_queue_messages" and s.labels["queue"].startswith(prefix)}
            if len(seen) == len(names) or time.monotonic() > deadline:
                break
            time.sleep(1)
        print(f"queues with stats: {len(seen)} / {len(names)}")

        cycle_s, nbytes, nreq, nsamples = [], [], [], []
        for _ in range(args.cycles):
            t = time.perf_counter()
            samples = collector.collect(int(time.time() * 1000)).samples
            cycle_s.append(time.perf_counter() - t)
            nbytes.append(collector.bytes_last_cycle)
            nreq.append(collector.requests_last_cycle)
            nsamples.append(len(samples))
        full_page = requests.get(f"{rmq.mgmt_url}/api/queues", params={"page": 1, "page_size": 500},
                                 auth=(rmq.user, rmq.password), timeout=60)
        ctl_s = [_timed(lambda: subprocess.run(["rabbitmqctl", "-q", "list_queues", "name", "messages", "consumers"],
                                               capture_output=True, check=True, timeout=120))
                 for _ in range(3)]
        cycle, ctl = statistics.median(cycle_s), statistics.median(ctl_s)
        print(f"collection cycle (median of {args.cycles}, topology re-read each cycle): {cycle * 1000:.0f} ms "
              f"(min {min(cycle_s) * 1000:.0f}, max {max(cycle_s) * 1000:.0f})")
        print(f"bytes per cycle: {statistics.median(nbytes) / 1024:.0f} KiB in {statistics.median(nreq):.0f} requests, "
              f"{statistics.median(nsamples):.0f} samples")
        print(f"one page of 500 queues without columns=: {len(full_page.content) / 1024:.0f} KiB "
              f"(vs {statistics.median(nbytes) / 1024 / 2:.0f} KiB per page with columns=)")
        print(f"rabbitmqctl list_queues name messages consumers (median of 3): {ctl * 1000:.0f} ms")
        print(f"ratio cycle / rabbitmqctl: {cycle / ctl:.2f} (target < 1)")
        return 0
    finally:
        t0 = time.perf_counter()
        for n in names:
            ch.queue_delete(n)
        conn.close()
        print(f"deleted {len(names)} queues in {time.perf_counter() - t0:.1f} s")


if __name__ == "__main__":
    raise SystemExit(main(__import__("sys").argv[1:]))
