"""Offset reset of a group on real brokers and both store backends: the dry run shows current → new per
partition with records skipped / re-read and changes nothing; each mode commits what it showed; a reset to
a timestamp lands where ``offsets_for_times`` of an independent client says."""
from __future__ import annotations

import time

import pytest
from kafka import KafkaConsumer, KafkaProducer, TopicPartition

from dlq import group_actions
from dlq import skip_plan as sp
from store import audit
from store.db import connect_writer
from tests.integration.dlq_helpers import make_topics, settings_for, uid
from tests.integration.group_helpers import commit, committed

T0 = (int(time.time()) - 600) * 1000  # recent: records older than the retention would be deleted by it


@pytest.fixture
def store_at(any_store):
    w = connect_writer(any_store)
    yield any_store, w
    w.close()


def _seed(bs: str, topic: str) -> None:
    """10 records per partition, record i of partition p stamped T0 + i s (+ p ms)."""
    p = KafkaProducer(bootstrap_servers=bs, batch_size=1, linger_ms=0, acks="all")
    try:
        for i in range(10):
            for part in (0, 1):
                p.send(topic, value=f"{part}-{i}".encode(), partition=part, timestamp_ms=T0 + i * 1000 + part).get(30)
    finally:
        p.close()


@pytest.mark.broker_defect("tansu: ListOffsets by timestamp answers offset 0 (with the batch's append time) "
                           "whatever the time; the reset still lands where an independent client's "
                           "offsets_for_times says")
def test_reset_modes_dry_run_then_commit(kafka, store_at):
    location, conn = store_at
    bs = kafka.bootstrap
    topic, other, group = f"t-{uid()}", f"o-{uid()}", f"g-{uid()}"
    make_topics(bs, {topic: 2, other: 1})
    _seed(bs, topic)
    commit(bs, group, {(topic, 0): 4, (topic, 1): 6, (other, 0): 0})
    settings = settings_for(bs, location)

    def run(spec, dry, **kw):
        return group_actions.reset(settings, None if dry else conn, "k", group, spec, actor="ann", role="operator",
                                   dry_run=dry, **kw)

    dry = run(sp.ResetSpec("earliest"), True, topic=topic)
    assert [(r["partition"], r["current"], r["new"], r["skipped"], r["reread"]) for r in dry["rows"]] == \
        [(0, 4, 0, 0, 4), (1, 6, 0, 0, 6)]
    assert committed(bs, group) == {(topic, 0): 4, (topic, 1): 6, (other, 0): 0}  # a dry run changes nothing

    assert [(r["new"], r["skipped"]) for r in run(sp.ResetSpec("latest"), True, topic=topic)["rows"]] == \
        [(10, 6), (10, 4)]
    shift = run(sp.ResetSpec("shift", -2), False, topic=topic, partitions=[1])
    assert [(r["partition"], r["current"], r["new"], r["reread"]) for r in shift["rows"]] == [(1, 6, 4, 2)]
    assert committed(bs, group) == {(topic, 0): 4, (topic, 1): 4, (other, 0): 0}
    run(sp.ResetSpec("offset", 7), False, topic=topic)
    assert committed(bs, group) == {(topic, 0): 7, (topic, 1): 7, (other, 0): 0}
    run(sp.ResetSpec("latest"), False)  # no topic: every partition the group committed
    assert committed(bs, group) == {(topic, 0): 10, (topic, 1): 10, (other, 0): 0}

    # to a timestamp: where an independent client's offsets_for_times says
    when = T0 + 3_500
    ind = KafkaConsumer(bootstrap_servers=bs, group_id=None)
    try:
        expect = {tp.partition: ot.offset for tp, ot in
                  ind.offsets_for_times({TopicPartition(topic, p): when for p in (0, 1)}).items()}
    finally:
        ind.close()
    if kafka.kind == "noida":  # tansu answers offsets_for_times with offset 0 (see the marker)
        assert expect == {0: 4, 1: 4}
    rep = run(sp.ResetSpec("timestamp", when), False, topic=topic)
    assert {r["partition"]: r["new"] for r in rep["rows"]} == expect
    assert committed(bs, group) == {(topic, 0): expect[0], (topic, 1): expect[1], (other, 0): 0}
    late = run(sp.ResetSpec("timestamp", T0 + 60_000), True, topic=topic)  # after every record: the log end
    if kafka.kind == "noida":
        assert [r["new"] for r in late["rows"]] == [10, 10]

    rows = audit.find(conn, "kafka.group.reset", f"kafka:k:{group}")
    assert [r["outcome"] for r in rows] == ["reset"] * 4  # one row per reset, none for the dry runs
    assert rows[0]["detail"]["rows"][0]["new"] == expect[0] and rows[0]["actor"] == "ann"


def test_cli_reset_dry_run_then_reset(kafka, any_store, tmp_path):
    import os
    import subprocess
    import sys
    from pathlib import Path

    import yaml

    root = Path(__file__).resolve().parents[2]
    bs = kafka.bootstrap
    topic, group = f"t-{uid()}", f"g-{uid()}"
    make_topics(bs, {topic: 2})
    _seed(bs, topic)
    commit(bs, group, {(topic, 0): 4, (topic, 1): 6})
    cfg = tmp_path / "eventdeck.yaml"
    cfg.write_text(yaml.safe_dump({"store": {"path": str(any_store)},
                                   "kafka": {"clusters": [{"name": "k", "bootstrap_servers": [bs]}]}}))

    def cli(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "eventdeck", "group", "--config", str(cfg), "reset", "k", group,
                               "--topic", topic, *args], cwd=root, capture_output=True, text=True, timeout=120,
                              env={**os.environ, "PYTHONPATH": str(root)})

    dry = cli("--partition", "1", "--shift-by", "-3", "--dry-run")
    assert dry.returncode == 0, dry.stderr
    assert f"{topic}[1]: 6 -> 3  skipped=0 reread=3" in dry.stdout and f"{topic}[0]" not in dry.stdout
    assert committed(bs, group) == {(topic, 0): 4, (topic, 1): 6}
    done = cli("--to-latest", "--actor", "cli-ann")
    assert done.returncode == 0, done.stderr
    assert "outcome: reset" in done.stdout and committed(bs, group) == {(topic, 0): 10, (topic, 1): 10}
