"""Skip-to-DLQ on real brokers (noida, Tansu) and both store backends: a consumer crashes on one record
(the collector marks the partition STALL/STOP); the skip moves exactly that record to the DLQ (bytes and headers equal, Spring's original-* headers added),
commits the group past it, the consumer resumes, and the ordinary replay brings the record back to its
original partition. A group with a live member is refused, with the member listed."""
from __future__ import annotations

import struct
import time

import pytest

from collectors.kafka import KafkaCollector
from config.kafka import KafkaClusterConfig
from core.codes import Status
from runner.collect import CollectJob
from store.db import open_migrated
from tests.cycles import run_cycle

from dlq import api, group_actions
from dlq import skip_plan as sp
from dlq.jobs import run_pending
from store import audit
from store.db import connect_writer
from tests.integration.dlq_helpers import make_topics, settings_for, uid
from tests.integration.group_helpers import POISON, commit, committed, consume_until_crash, member, records_with, seed_to


@pytest.fixture
def store_at(any_store):
    w = connect_writer(any_store)
    yield any_store, w
    w.close()


def _scenario(bootstrap: str):
    src, group = f"orders-{uid()}", f"svc-{uid()}"
    dlq = f"{src}.DLT"
    make_topics(bootstrap, {src: 2, dlq: 1})
    hdrs = [("trace-id", b"abc"), ("bin", bytes(range(256))), ("empty", b"")]
    recs = [(1, b"k0", b"v0", []), (1, b"k1", b"v1", []), (1, b"poison-key", POISON, hdrs),
            (1, b"k3", b"v3", []), (1, b"k4", b"v4", []), (0, b"p0", b"w0", [])]
    seed_to(bootstrap, src, recs)
    return src, dlq, group, hdrs


def _status_after_crash(bs: str, location, topic: str, group: str) -> int:
    """What the Kafka collector says of the stuck partition over a 10 s window (7 cycles, 2 s apart)."""
    cfg = KafkaClusterConfig(name="k", bootstrap_servers=[bs], topics_allow=[topic], groups_allow=[group],
                             status_window_s=10, exact_timelag=False)
    w = open_migrated(location)
    job = CollectJob(KafkaCollector(cfg, w), w, cfg.interval_s)
    try:
        t0 = int(time.time() * 1000)
        for i in range(7):
            samples = run_cycle(job, t0 + i * 2_000)
        return int(next(x.value for x in samples if x.metric == "kafka_group_partition_status"
                        and x.labels.get("group") == group and x.labels.get("partition") == "1"))
    finally:
        job.close()


def test_crashing_consumer_skip_resume_and_replay(kafka, store_at):
    location, conn = store_at
    bs = kafka.bootstrap
    src, dlq, group, hdrs = _scenario(bs)
    settings = settings_for(bs, location)
    handled: list = []
    poison = consume_until_crash(bs, src, group, handled, expect=99)
    assert poison is not None and poison.partition == 1 and poison.offset == 2
    assert committed(bs, group)[(src, 1)] == 2  # stuck on the poison record
    assert _status_after_crash(bs, location, src, group) in (Status.STALL, Status.STOP)

    dry = group_actions.skip(settings, None, "k", group, src, 1, actor="ann", role="operator", dry_run=True)
    assert [r["offset"] for r in dry["records"]] == [2] and dry["dlq"] == dlq and dry["commit_to"] == 3
    assert dry["members"] == [] or dry["members"] is None
    assert committed(bs, group)[(src, 1)] == 2 and records_with(bs, dlq, sp.SKIP_ID, timeout=3) == []

    rep = group_actions.skip(settings, conn, "k", group, src, 1, reason="NPE on customer null", actor="ann",
                             role="operator", now=lambda: 1_000)
    assert rep["outcome"] == "skipped" and [c["offset"] for c in rep["copies"]] == [2]
    assert committed(bs, group)[(src, 1)] == 3
    copies = records_with(bs, dlq, sp.SKIP_ID)
    assert len(copies) == 1
    c = copies[0]
    assert (c.key, c.value) == (b"poison-key", POISON)
    assert c.headers[:len(hdrs)] == hdrs  # the original headers, byte for byte and in order
    h = dict(c.headers[len(hdrs):])
    assert h["kafka_dlt-original-topic"] == src.encode()
    assert struct.unpack(">i", h["kafka_dlt-original-partition"]) == (1,)
    assert struct.unpack(">q", h["kafka_dlt-original-offset"]) == (2,)
    assert struct.unpack(">q", h["kafka_dlt-original-timestamp"]) == (poison.timestamp,)
    assert h["kafka_dlt-original-consumer-group"] == group.encode()
    assert h[sp.SKIPPED_BY] == b"ann" and h[sp.SKIP_REASON] == b"NPE on customer null"
    assert h[sp.SKIP_ID] == sp.skip_id("k", group, src, 1, 2).encode()
    rows = audit.find(conn, "kafka.group.skip", f"kafka:k:{group}")
    assert [(r["outcome"], r["actor"], r["detail"]["offsets"]) for r in rows] == [("skipped", "ann", [2])]

    # a second skip of the same record: the group is past it, nothing is copied again
    again = group_actions.skip(settings, conn, "k", group, src, 1, offset=2, reason="again", actor="ann",
                               role="operator")
    assert again["outcome"] == "already past" and len(records_with(bs, dlq, sp.SKIP_ID)) == 1

    # the consumer resumes past the poison record
    resumed: list = []
    assert consume_until_crash(bs, src, group, resumed, expect=5 - len(handled)) is None
    assert sorted((r.partition, r.offset) for r in handled + resumed) == [(0, 0), (1, 0), (1, 1), (1, 3), (1, 4)]

    # the ordinary replay brings it back to its original topic and partition
    job_id = api.enqueue_replay(conn, {"broker": "kafka", "cluster": "k", "dlq": dlq, "selection": {"mode": "all"},
                                       "rate_per_s": None}, "ann", 2_000)
    assert run_pending(settings, location, job_id) == job_id
    assert api.job(conn, job_id)["replayed"] == 1
    back = [r for r in records_with(bs, src, "eventdeck-replay-id") if r.value == POISON]
    assert len(back) == 1 and back[0].partition == 1 and back[0].key == b"poison-key"
    assert back[0].headers[:len(hdrs)] == hdrs


@pytest.mark.broker_defect("tansu: describe_groups raises in kafka-python 3.0.12, so the member list is "
                           "unknown there; the refusal comes from the broker refusing the no-op commit")
def test_group_with_live_member_is_refused_and_listed(kafka, store_at):
    location, conn = store_at
    bs = kafka.bootstrap
    src, dlq, group, _ = _scenario(bs)
    commit(bs, group, {(src, 1): 2})
    settings = settings_for(bs, location)
    live = member(bs, src, group)
    try:
        for action in ("skip", "reset"):
            with pytest.raises(sp.Refused) as err:
                if action == "skip":
                    group_actions.skip(settings, conn, "k", group, src, 1, reason="x", actor="ann", role="operator")
                else:
                    group_actions.reset(settings, conn, "k", group, sp.ResetSpec("latest"), topic=src, actor="ann",
                                        role="operator")
            text = str(err.value)
            assert "active member" in text and "stop its consumers" in text
            if kafka.kind == "noida":
                assert "crash-test-consumer" in text and f"{src}[" in text
    finally:
        live.close()
    assert committed(bs, group)[(src, 1)] == 2
    assert records_with(bs, dlq, sp.SKIP_ID, timeout=3) == []
    outcomes = [r["outcome"] for r in audit.find(conn, "kafka.group.skip", f"kafka:k:{group}")]
    outcomes += [r["outcome"] for r in audit.find(conn, "kafka.group.reset", f"kafka:k:{group}")]
    assert outcomes == ["refused", "refused"]
