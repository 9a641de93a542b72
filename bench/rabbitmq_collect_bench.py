"""RabbitMQ collection at 10,000 queues: full cycles (management API with per-queue counters) and the
gauge cycles between them (``counters_interval_s``), read from rabbitmq_prometheus or from the
management API without stats, against ``rabbitmqctl list_queues name messages consumers``; and, for
comparison, full cycles paged 500 queues a request (``page_size: 500``, the request shape before one
unsorted request became the default).

Creates its own vhost with N uniquely named queues (one message each) on the local node, waits until
the management API has stats for all of them, times each kind of cycle (wall and this process's CPU;
the broker's work shows in the wall time, and its node's CPU time is printed when the node runs on
this machine), prints bytes and requests per cycle, per-queue CPU µs and
bytes, the cycle averaged over a counter period (interval 15 s, counters every 60 s: three gauge cycles
and one full), the ``rabbitmqctl`` time, and reports the issue-26 row. Deletes the vhost (and with it
its queues) at the end; no other vhost is touched.

``python -m bench.rabbitmq_collect_bench [--queues N] [--cycles N]``
"""
from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import time
import uuid
from dataclasses import dataclass
from urllib.parse import quote

import pika
import requests

from bench import verdict
from collectors.rabbitmq import RabbitCollector
from config.rabbitmq import RabbitClusterConfig
from demo.brokers import ensure_rabbitmq

TARGET_S = 0.5
INTERVAL_S, COUNTERS_S = 15, 60  # the README's setting at this size: a full cycle every 4th


def _broker_pid() -> int | None:
    """The local node's OS process (its CPU time is the broker's share of a cycle); None if unknown."""
    try:
        out = subprocess.run(["rabbitmqctl", "-q", "eval", "os:getpid()."], capture_output=True, text=True,
                             timeout=60).stdout
        pid = int(out.strip().strip('"'))
        _cpu_of(pid)
        return pid
    except (OSError, ValueError, subprocess.SubprocessError):
        return None


def _cpu_of(pid: int | None) -> float:
    """User + system CPU seconds of a process so far (0 when unknown)."""
    if pid is None:
        return 0.0
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


BROKER: int | None = None


@dataclass
class Runs:
    kind: str
    wall: list[float]
    cpu: list[float]
    nbytes: list[int]
    wire: list[int]
    nreq: list[int]
    nsamples: list[int]
    broker: list[float]

    def line(self, queues: int) -> str:
        w, c = statistics.median(self.wall), statistics.median(self.cpu)
        b, wire = statistics.median(self.nbytes), statistics.median(self.wire)
        broker = f"  broker cpu {statistics.median(self.broker) * 1000:6.0f} ms" if BROKER else ""
        return (f"{self.kind:<28} wall {w * 1000:7.0f} ms (min {min(self.wall) * 1000:.0f}, max "
                f"{max(self.wall) * 1000:.0f})  cpu {c * 1000:6.0f} ms{broker}  {b / 1024:6.0f} KiB decoded, "
                f"{wire / 1024:5.0f} KiB received, in {statistics.median(self.nreq):.0f} requests  "
                f"{statistics.median(self.nsamples):.0f} samples  per queue: {c / queues * 1e6:.1f} µs cpu, "
                f"{b / queues:.0f} bytes decoded, {wire / queues:.1f} received")


def _timed(fn) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def _run(collector: RabbitCollector, kind: str, cycles: int, gauge: bool) -> Runs:
    r = Runs(kind, [], [], [], [], [], [], [])
    for _ in range(cycles):
        now = int(time.time() * 1000)
        collector._full_ms = now - 1 if gauge else None  # a gauge cycle, or a full one
        t, c, b = time.perf_counter(), time.process_time(), _cpu_of(BROKER)
        samples = collector.collect(now).samples
        r.wall.append(time.perf_counter() - t)
        r.cpu.append(time.process_time() - c)
        r.broker.append(_cpu_of(BROKER) - b)
        r.nbytes.append(collector.bytes_last_cycle)
        r.wire.append(collector.wire_bytes_last_cycle)
        r.nreq.append(collector.requests_last_cycle)
        r.nsamples.append(len(samples))
        want = ("prometheus" if "prometheus" in kind else "management-lean") if gauge else "management"
        assert collector.source_last_cycle == want, (kind, collector.source_last_cycle)
    return r


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(prog="bench.rabbitmq_collect_bench")
    ap.add_argument("--queues", type=int, default=10_000)
    ap.add_argument("--cycles", type=int, default=5)
    args = ap.parse_args(argv)
    global BROKER
    rmq = ensure_rabbitmq()
    BROKER = _broker_pid()  # the node's CPU per cycle also counts other clients' requests: see its min
    auth = (rmq.user, rmq.password)
    vhost = f"ed-bench-{uuid.uuid4().hex[:8]}"
    api = f"{rmq.mgmt_url}/api"
    requests.put(f"{api}/vhosts/{vhost}", auth=auth, timeout=60).raise_for_status()
    try:
        requests.put(f"{api}/permissions/{vhost}/{quote(rmq.user, safe='')}", auth=auth, timeout=60,
                     json={"configure": ".*", "write": ".*", "read": ".*"}).raise_for_status()
        conn = pika.BlockingConnection(pika.URLParameters(
            f"amqp://{rmq.user}:{rmq.password}@{rmq.host}:{rmq.amqp_port}/{quote(vhost, safe='')}"))
        ch = conn.channel()
        t0 = time.perf_counter()
        for i in range(args.queues):
            name = f"q-{i:05d}"
            ch.queue_declare(name)
            ch.basic_publish("", name, b"x")
        conn.close()
        print(f"created {args.queues} queues in vhost {vhost} in {time.perf_counter() - t0:.1f} s", flush=True)

        def cfg(prometheus: str, page_size: int = 0) -> RabbitClusterConfig:
            return RabbitClusterConfig(name="bench", management_url=rmq.mgmt_url, username=rmq.user, vhosts=[vhost],
                                       interval_s=INTERVAL_S, counters_interval_s=COUNTERS_S, prometheus=prometheus,
                                       timeout_s=120, streams=False, page_size=page_size)

        full = RabbitCollector(cfg("off"))
        deadline = time.monotonic() + 300
        while True:  # the API lists a queue's figures only after its first stats emission
            samples = full.collect(int(time.time() * 1000)).samples
            seen = sum(1 for s in samples if s.metric == "rabbitmq_queue_messages")
            if seen == args.queues or time.monotonic() > deadline:
                break
            time.sleep(1)
        print(f"queues with stats: {seen} / {args.queues}", flush=True)

        runs = [_run(full, "full (management, counters)", max(2, args.cycles // 2), gauge=False),
                _run(RabbitCollector(cfg("on")), "gauge, rabbitmq_prometheus", args.cycles, gauge=True),
                _run(RabbitCollector(cfg("off")), "gauge, management no stats", args.cycles, gauge=True)]
        before = RabbitCollector(cfg("off", 500))
        before.collect(int(time.time() * 1000))  # as `full` after its wait: the second cycle on has rates
        paged = _run(before, "full, 500 a page (sorted)", max(2, args.cycles // 2), gauge=False)
        ctl = statistics.median(
            _timed(lambda: subprocess.run(["rabbitmqctl", "-q", "list_queues", "-p", vhost, "name", "messages",
                                           "consumers"], capture_output=True, check=True, timeout=300))
            for _ in range(3))
        print(f"\n{args.queues} queues, median of the cycles (machine shared: see the min):")
        for r in runs:
            print("  " + r.line(args.queues))
        print("  " + paged.line(args.queues) + "  (page_size 500: the full cycle's request before page_size 0)")
        print(f"  rabbitmqctl list_queues name messages consumers (median of 3): {ctl * 1000:.0f} ms")
        full_s, prom_s, lean_s = (statistics.median(r.wall) for r in runs)
        per = COUNTERS_S // INTERVAL_S
        mean_s = ((per - 1) * prom_s + full_s) / per
        mean_cpu = ((per - 1) * statistics.median(runs[1].cpu) + statistics.median(runs[0].cpu)) / per
        print(f"  averaged over a counter period (interval {INTERVAL_S} s, counters every {COUNTERS_S} s, "
              f"rabbitmq_prometheus): {mean_s * 1000:.0f} ms wall, {mean_cpu * 1000:.0f} ms cpu per cycle; "
              f"without the plugin: {((per - 1) * lean_s + full_s) / per * 1000:.0f} ms")
        print(f"  ratio gauge cycle (prometheus) / rabbitmqctl: {prom_s / ctl:.2f}; full cycle / rabbitmqctl: "
              f"{full_s / ctl:.2f}")
        n = f"{args.queues:,}"
        verdict.report(f"RabbitMQ gauge cycle, {n} queues (rabbitmq_prometheus)", prom_s, TARGET_S, "s",
                       higher_is_better=False)
        verdict.report(f"RabbitMQ cycle, {n} queues, averaged over a counter period", mean_s, TARGET_S, "s",
                       higher_is_better=False)
        return 0
    finally:
        t0 = time.perf_counter()
        requests.delete(f"{api}/vhosts/{vhost}", auth=auth, timeout=300)
        print(f"deleted vhost {vhost} in {time.perf_counter() - t0:.1f} s")


if __name__ == "__main__":
    raise SystemExit(main(__import__("sys").argv[1:]))
