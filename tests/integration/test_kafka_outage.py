"""A Kafka cluster that dies during collection: up = 0 with a reason, no crash, the other target
goes on; once the broker is back, up = 1 again within two ticks. Runs the real job functions."""
from __future__ import annotations

import threading
import uuid

from collectors.kafka import KafkaCollector, jobs
from config import Settings
from config.kafka import KafkaClusterConfig, KafkaConfig
from demo.brokers import free_port
from runner.collect import CollectJob
from store import queries
from store.db import connect_reader, open_migrated
from store.status import read_status


def status(store_path) -> dict[str, tuple[bool, str | None, int]]:
    reader = connect_reader(store_path)
    try:
        df = read_status(reader)
    finally:
        reader.close()
    return {r.target: (bool(r.up), r.reason, int(r.last_ms)) for r in df.itertuples()}


def test_broker_killed_and_restarted(kafka, kafka_factory, tmp_store):
    victim = kafka_factory(kafka.kind)
    tag = uuid.uuid4().hex[:8]
    clusters = [
        KafkaClusterConfig(name=f"victim-{tag}", bootstrap_servers=[victim.bootstrap], interval_s=1,
                           request_timeout_ms=3_000),
        KafkaClusterConfig(name=f"other-{tag}", bootstrap_servers=[kafka.bootstrap], interval_s=1,
                           request_timeout_ms=3_000, topics_allow=[f"none-{tag}"], groups_allow=[f"none-{tag}"]),
    ]
    specs = {s.id: s for s in jobs(Settings(kafka=KafkaConfig(clusters=clusters)), tmp_store)}
    v, o = f"kafka:victim-{tag}", f"kafka:other-{tag}"
    assert set(specs) == {v, o} and all(s.interval_s == 1 for s in specs.values())
    try:
        for s in specs.values():
            s.func()
        st = status(tmp_store)
        assert st[v][0] and st[o][0]

        victim.kill()
        specs[v].func()  # must not raise
        st = status(tmp_store)
        assert st[v][0] is False and st[v][1], st[v]  # down, with the reason
        before = st[o][2]
        specs[o].func()
        st = status(tmp_store)
        assert st[o][0] is True and st[o][2] > before  # the other target keeps being collected

        victim.start()
        for _ in range(2):  # two intervals
            specs[v].func()
            if status(tmp_store)[v][0]:
                break
        assert status(tmp_store)[v][0] is True
        reader = connect_reader(tmp_store)
        try:  # every attempt, failed or not, left its duration
            df = queries.latest(reader, "collector_duration_seconds", {"target": v})
            assert len(df) == 1 and df["value"].iloc[0] >= 0
        finally:
            reader.close()
    finally:
        for s in specs.values():
            s.close()  # what the service does on stop: admin client and writer connection


def test_unreachable_cluster_backs_off_without_leaking(tmp_store):
    """Nothing listens on the port: every attempt fails fast and is recorded; attempts thin out
    (1, 2, 4, then every 5 ticks) and no client I/O thread is left behind."""
    cfg = KafkaClusterConfig(name=f"nobody-{uuid.uuid4().hex[:8]}", bootstrap_servers=[f"127.0.0.1:{free_port()}"],
                             interval_s=1, request_timeout_ms=300)
    conn = open_migrated(tmp_store)
    col = CollectJob(KafkaCollector(cfg, conn), conn, cfg.interval_s, clock=lambda: 1_000)
    threads = threading.active_count()
    try:
        results = [col.run() for _ in range(14)]
    finally:
        col.close()
    F, S = False, None  # failed attempt, skipped tick
    assert results == [F, F, S, F, S, S, S, F, S, S, S, S, F, S]
    assert threading.active_count() <= threads
    st = status(tmp_store)[f"kafka:{cfg.name}"]
    assert st[0] is False and "bootstrap" in st[1]
