"""Kafka collection cycle at scale: G groups × P partitions on a fresh local broker, exact time lag on vs off.

    python -m bench.kafka_collect_bench [--full | --small] [--groups 500] [--partitions 100] [--topics 10]
                                        [--lagging 0.2] [--kind noida]

Each group commits offsets on every partition of one topic (topics × partitions-per-topic =
``--partitions`` per group), so there are G × P group-partitions. Offsets are committed with
``alter_group_offsets`` (no consumer has to join). ``--lagging`` of the groups (so of the
group-partitions) are behind, the others at the end of the log; between cycles every lagging group
moves its committed offsets one record forward (slow consumers), so exact time lag has to read a
new record timestamp for every lagging partition every cycle — its worst case (a stuck group is
read once and cached). The same cycles run with ``exact_timelag`` off and on (one collector each).
Prints, per mode, the cycle time (split into fetch / derive), Kafka requests per cycle by type and
samples per cycle, and the collector process's CPU time per cycle (``time.process_time``: the broker
runs in its own process), which a shared machine disturbs less than wall time. The default is issue
26's size, 50,000 group-partitions (500 groups × 100 partitions over 10 topics, 20% lagging); its
rows (steady cycle wall time and CPU time with exact time lag on, targets ≤ 2 s each, i.e. at most one
core for the 2 s) go to ``bench.verdict``. ``--full`` is the 10,000 group-partitions of issue 19
(200 groups × 50 partitions), ``--small`` the quick 1,000 (40 × 25 over 5 topics).
"""
from __future__ import annotations

import argparse
import shutil
import statistics
import tempfile
import time
from pathlib import Path

from kafka import KafkaAdminClient, KafkaProducer, TopicPartition
from kafka.structs import OffsetAndMetadata

from collectors.kafka import KafkaCollector
from config.kafka import KafkaClusterConfig
from bench import verdict
from demo.brokers import start_kafka
from runner.collect import CollectJob
from store.db import open_migrated


def topic_names(topics: int) -> list[str]:
    return [f"bench-{i:03d}" for i in range(topics)]


def produce(producer: KafkaProducer, names: list[str], partitions: int, records: int) -> None:
    for n in names:
        for p in range(partitions):
            for _ in range(records):
                producer.send(n, value=b"x", partition=p)
    producer.flush(timeout=120)


def lagging_groups(groups: int, fraction: float) -> list[int]:
    step = max(1, round(1 / fraction)) if fraction > 0 else 0
    return [g for g in range(groups) if step and g % step == 0]


def commit_all(admin: KafkaAdminClient, groups: list[int], topics: int, partitions: int, offset_of) -> None:
    names = topic_names(topics)
    for g in groups:
        admin.alter_group_offsets(f"bench-g{g:04d}", {TopicPartition(names[g % topics], p): OffsetAndMetadata(
            offset_of(g, p), "", -1) for p in range(partitions)})


def setup(admin: KafkaAdminClient, groups: int, topics: int, partitions: int, records: int,
          producer: KafkaProducer, lagging: set[int]) -> None:
    names = topic_names(topics)
    admin.create_topics({n: {"num_partitions": partitions, "replication_factor": 1} for n in names})
    admin.wait_for_topics(names, timeout_ms=60_000)
    produce(producer, names, partitions, records)
    # lagging groups start at offset 0 (``records`` behind); the others at the end of the log
    commit_all(admin, list(range(groups)), topics, partitions, lambda g, p: 0 if g in lagging else records)


def run_mode(broker, work: Path, exact: bool, args, admin: KafkaAdminClient, lagging: list[int]) -> list[tuple]:
    cfg = KafkaClusterConfig(name=f"bench-{'exact' if exact else 'interp'}", bootstrap_servers=[broker.bootstrap],
                             request_timeout_ms=60_000, exact_timelag=exact,
                             exact_timelag_max_partitions=args.max_exact or args.groups * args.partitions)
    conn = open_migrated(work / f"store-{exact}.db")
    job = CollectJob(KafkaCollector(cfg, conn), conn, cfg.interval_s)
    col = job.collector
    cycles = []
    try:
        for i in range(args.cycles + 1):  # cycle 0 also finds the coordinators: reported apart
            before = dict(col.requests)
            t, cpu = time.monotonic(), time.process_time()
            assert job.run(int(time.time() * 1000)), job.last_reason  # collect and store, as the service does
            wall, cpu = time.monotonic() - t, time.process_time() - cpu
            samples = job.last_cycle.samples
            by_type = {k: v - before.get(k, 0) for k, v in col.requests.items() if v - before.get(k, 0)}
            methods = [s.value for s in samples if s.metric == "kafka_group_lag_seconds_method"]
            cycles.append((wall, len(samples), col.last_requests, by_type, dict(col.last_timings_ms), methods, cpu))
            # slow consumers: every lagging group moves one record forward (outside the measured cycle)
            commit_all(admin, lagging, args.topics, args.partitions, lambda g, p, i=i: min(i + 1, args.records))
    finally:
        job.close()
    commit_all(admin, lagging, args.topics, args.partitions, lambda g, p: 0)  # the next mode starts alike
    return cycles


def report(name: str, cycles: list[tuple], args) -> tuple[float, float]:
    """Prints one mode's figures; returns its steady cycles' median wall and CPU seconds."""
    first, rest = cycles[0], cycles[1:]
    med = statistics.median(c[0] for c in rest)
    cpu = statistics.median(c[6] for c in rest)
    n_samples = rest[-1][1]
    methods = {k: rest[-1][5].count(k) for k in (0.0, 1.0, 2.0, 3.0) if rest[-1][5].count(k)}
    names = {0.0: "exact (incl. caught up)", 1.0: "interpolated", 2.0: "lower bound", 3.0: "unknown"}
    print(f"[{name}] first cycle: {first[0] * 1000:.0f} ms, {first[2]} requests {first[3]}")
    print(f"[{name}] steady cycles ({len(rest)}): median {med * 1000:.0f} ms, max {max(c[0] for c in rest) * 1000:.0f} ms; "
          f"CPU median {cpu * 1000:.0f} ms, max {max(c[6] for c in rest) * 1000:.0f} ms "
          f"({cpu / args.groups / args.partitions * 1e6:.1f} µs per group-partition)")
    split = {k: statistics.median(c[4][k] for c in rest) for k in rest[-1][4]}
    if "fetch CPU" in split:  # the rest of the cycle's CPU is the store write (samples, time-lag tables, status)
        split["store write CPU"] = statistics.median(c[6] * 1000 - c[4]["fetch CPU"] - c[4]["derive CPU"] for c in rest)
    print(f"[{name}]   split (median ms): " + ", ".join(f"{k} {v:.0f}" for k, v in split.items()))
    print(f"[{name}] requests per cycle: {rest[-1][2]} {rest[-1][3]}  (groups: {args.groups}, brokers: 1)")
    print(f"[{name}] samples per cycle: {n_samples}; time-lag methods: "
          + ", ".join(f"{names[k]} {v}" for k, v in methods.items()))
    return med, cpu


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--full", action="store_true", help="issue 19's size: 200 groups × 50 partitions")
    ap.add_argument("--small", action="store_true", help="a quick run: 40 groups × 25 partitions over 5 topics")
    ap.add_argument("--groups", type=int, default=500)
    ap.add_argument("--partitions", type=int, default=100, help="partitions each group commits")
    ap.add_argument("--topics", type=int, default=10)
    ap.add_argument("--records", type=int, default=20, help="records per partition")
    ap.add_argument("--lagging", type=float, default=0.2, help="fraction of groups behind")
    ap.add_argument("--max-exact", type=int, default=0, help="exact_timelag_max_partitions (0: all)")
    ap.add_argument("--cycles", type=int, default=4)
    ap.add_argument("--kind", default="noida", choices=["noida", "tansu"])
    args = ap.parse_args(argv)
    if args.full:
        args.groups, args.partitions, args.topics = 200, 50, 10
    if args.small:
        args.groups, args.partitions, args.topics = 40, 25, 5
    args.cycles = min(args.cycles, args.records - 1)

    work = Path(tempfile.mkdtemp(prefix="eventdeck-bench-"))
    broker = start_kafka(args.kind, data_dir=work / args.kind)
    producer = None
    admin = None
    try:
        t = time.monotonic()
        producer = KafkaProducer(bootstrap_servers=broker.bootstrap, linger_ms=5,
                                 batch_size=1 if args.kind == "tansu" else 16_384)  # Tansu's LATEST counts batches
        admin = KafkaAdminClient(bootstrap_servers=broker.bootstrap, client_id="bench", request_timeout_ms=60_000)
        lagging = lagging_groups(args.groups, args.lagging)
        setup(admin, args.groups, args.topics, args.partitions, args.records, producer, set(lagging))
        gp = args.groups * args.partitions
        print(f"set-up: {args.groups} groups × {args.partitions} partitions ({gp} group-partitions, "
              f"{len(lagging) * args.partitions} lagging = {len(lagging) * args.partitions / gp:.0%}) over "
              f"{args.topics} topics on {args.kind} in {time.monotonic() - t:.1f} s")
        off, _ = report("exact off", run_mode(broker, work, False, args, admin, lagging), args)
        on, on_cpu = report("exact on ", run_mode(broker, work, True, args, admin, lagging), args)
        print(f"exact on / off steady cycle time: {on / off:.2f}x")
        if gp == 50_000 and args.lagging == 0.2:  # issue 26's row: 50,000 group-partitions, exact time lag on
            verdict.report("Kafka cycle, 50k group-partitions (wall)", on, 2.0, "s", higher_is_better=False)
            verdict.report("Kafka cycle, 50k group-partitions (CPU)", on_cpu, 2.0, "CPU-s", higher_is_better=False)
    finally:
        if admin is not None:
            admin.close()
        if producer is not None:
            producer.close()
        broker.stop()
        shutil.rmtree(work, ignore_errors=True)  # broker data and the stores
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
