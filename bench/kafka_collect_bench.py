"""Kafka collection cycle at scale: G groups × P partitions on a fresh local broker.

    python -m bench.kafka_collect_bench [--groups 200] [--partitions 50] [--topics 10] [--kind noida]

Each group commits offsets on every partition of one topic (topics × partitions-per-topic =
``--partitions`` per group), so there are G × P group-partitions. Offsets are committed with
``alter_group_offsets`` (no consumer has to join); records are produced first so lag is non-zero,
and one more per partition between cycles so time lags are known (a live cluster).
Prints the cycle time (split into fetch / derive / store), Kafka requests per cycle by type, and
samples written per second. Set-up takes a while for big G (one commit request per group).
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


def setup(bootstrap: str, groups: int, topics: int, partitions: int, records: int,
          producer: KafkaProducer) -> None:
    names = topic_names(topics)
    admin = KafkaAdminClient(bootstrap_servers=bootstrap, client_id="bench", request_timeout_ms=60_000)
    try:
        admin.create_topics({n: {"num_partitions": partitions, "replication_factor": 1} for n in names})
        admin.wait_for_topics(names, timeout_ms=60_000)
        produce(producer, names, partitions, records)
        for g in range(groups):
            topic = names[g % topics]
            offsets = {TopicPartition(topic, p): OffsetAndMetadata((g + p) % (records + 1), "", -1)
                       for p in range(partitions)}
            admin.alter_group_offsets(f"bench-g{g:04d}", offsets)
    finally:
        admin.close()


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--groups", type=int, default=200)
    ap.add_argument("--partitions", type=int, default=50, help="partitions each group commits")
    ap.add_argument("--topics", type=int, default=10)
    ap.add_argument("--records", type=int, default=5, help="records per partition")
    ap.add_argument("--cycles", type=int, default=5)
    ap.add_argument("--kind", default="noida", choices=["noida", "tansu"])
    args = ap.parse_args(argv)

    work = Path(tempfile.mkdtemp(prefix="eventdeck-bench-"))
    broker = start_kafka(args.kind, data_dir=work / args.kind)
    producer = None
    try:
        t = time.monotonic()
        producer = KafkaProducer(bootstrap_servers=broker.bootstrap, linger_ms=5,
                                 batch_size=1 if args.kind == "tansu" else 16_384)  # Tansu's LATEST counts batches
        setup(broker.bootstrap, args.groups, args.topics, args.partitions, args.records, producer)
        print(f"set-up: {args.groups} groups × {args.partitions} partitions "
              f"({args.groups * args.partitions} group-partitions) over {args.topics} topics "
              f"on {args.kind} in {time.monotonic() - t:.1f} s")
        cfg = KafkaClusterConfig(name="bench", bootstrap_servers=[broker.bootstrap], request_timeout_ms=60_000)
        conn = open_migrated(work / "store.db")
        job = CollectJob(KafkaCollector(cfg, conn), conn, cfg.interval_s)
        col = job.collector
        cycles = []
        for i in range(args.cycles + 1):  # cycle 0 also finds the coordinators: reported apart
            before = dict(col.requests)
            t = time.monotonic()
            assert job.run(int(time.time() * 1000)), job.last_reason  # collect and store, as the service does
            samples = job.last_cycle.samples
            wall = time.monotonic() - t
            by_type = {k: v - before.get(k, 0) for k, v in col.requests.items() if v - before.get(k, 0)}
            cycles.append((wall, len(samples), col.last_requests, by_type, dict(col.last_timings_ms)))
            produce(producer, topic_names(args.topics), args.partitions, 1)  # live topics: time lag known
        job.close()
        first, rest = cycles[0], cycles[1:]
        med = statistics.median(c[0] for c in rest)
        n_samples = rest[-1][1]
        print(f"first cycle: {first[0] * 1000:.0f} ms, {first[2]} requests {first[3]}")
        print(f"steady cycles ({len(rest)}): median {med * 1000:.0f} ms, max {max(c[0] for c in rest) * 1000:.0f} ms")
        split = {k: statistics.median(c[4][k] for c in rest) for k in rest[-1][4]}
        print("  split (median ms): " + ", ".join(f"{k} {v:.0f}" for k, v in split.items()))
        print(f"requests per cycle: {rest[-1][2]} {rest[-1][3]}  (groups: {args.groups}, brokers: 1)")
        print(f"samples per cycle: {n_samples}; samples/s over the cycle: {n_samples / med:,.0f}")
    finally:
        if producer is not None:
            producer.close()
        broker.stop()
        shutil.rmtree(work, ignore_errors=True)  # broker data and the store
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
