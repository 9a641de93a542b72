"""DLQ browse and replay against the real Kafka-protocol brokers (noida and Tansu).

Test data is produced with ``batch_size=1`` (Tansu's ListOffsets LATEST counts batches).
"""
from __future__ import annotations

import pytest

import threading
import time

from dlq import api
from dlq.jobs import run_pending
from store import dlq as store_dlq
from store.db import open_migrated
from tests.integration.dlq_helpers import connect, header, make_topics, read_all, seed, settings_for, spring, uid
from tests.integration.dlq_kafka_helpers import replay


@pytest.fixture
def tmp_store(any_store):
    """This module runs on both store backends (SQLite, PostgreSQL)."""
    return any_store


def test_spring_connect_map_and_convention_targets(kafka, tmp_store):
    u = uid()
    orders, payments, billing = f"orders-{u}", f"payments-{u}", f"billing-{u}"
    dlq, odd = f"orders-{u}.DLT", f"strange-{u}"
    make_topics(kafka.bootstrap, {orders: 3, payments: 2, billing: 1, dlq: 1, odd: 1})
    seed(kafka.bootstrap, dlq,
         [(f"s{i}".encode(), f'{{"spring": {i}}}'.encode(), spring(orders, i % 3, 100 + i)) for i in range(6)]
         + [(f"c{i}".encode(), f'{{"connect": {i}}}'.encode(), connect(payments, i % 2, 7 + i)) for i in range(4)]
         + [(b"n0", b"no headers", [])])  # by the name convention: orders-<u>.DLT -> orders-<u>
    seed(kafka.bootstrap, odd, [(b"m0", b"mapped", [])])  # no headers, name matches no pattern: dlq_map
    st = settings_for(kafka.bootstrap, tmp_store, dlq_map={odd: {"source_topic": billing}})

    job = replay(st, dlq)
    assert (job["state"], job["replayed"], job["failed"]) == ("done", 11, 0), job
    got = read_all(kafka.bootstrap, orders, 7)
    by_key = {r.key: r for r in got}
    for i in range(6):  # Spring records back in their original partition
        assert by_key[f"s{i}".encode()].partition == i % 3
    assert by_key[b"n0"].value == b"no headers"
    pays = read_all(kafka.bootstrap, payments, 4)
    assert sorted((r.key, r.partition) for r in pays) == [(f"c{i}".encode(), i % 2) for i in range(4)]
    for r in got + pays:
        assert header(r, "eventdeck-replay-count") == "1"
        assert len(header(r, "eventdeck-replay-id") or "") == 32
    assert len({header(r, "eventdeck-replay-id") for r in got + pays}) == 11

    assert replay(st, odd)["replayed"] == 1
    assert [r.value for r in read_all(kafka.bootstrap, billing, 1)] == [b"mapped"]

    # a second replay is refused by the ledger, then allowed with force (same replay ids)
    again = replay(st, dlq)
    assert (again["replayed"], again["skipped"]) == (0, 11)
    forced = replay(st, dlq, force=True)
    assert forced["replayed"] == 11
    twice = read_all(kafka.bootstrap, orders, 14)
    assert len(twice) == 14
    ids = [header(r, "eventdeck-replay-id") for r in twice]
    assert all(ids.count(i) == 2 for i in ids)  # each forced copy carries the first copy's id
    conn = open_migrated(tmp_store)
    assert {r["times"] for r in store_dlq.ledger_rows(conn, "kafka", "k", dlq)} == {2}
    # the DLQ itself is untouched: replay never deletes records
    assert len(read_all(kafka.bootstrap, dlq, 11)) == 11
    conn.close()


def test_browse_and_dry_run(kafka, tmp_store):
    u = uid()
    src, dlq = f"shop-{u}", f"shop-{u}-dlt"
    make_topics(kafka.bootstrap, {src: 2, dlq: 1})
    seed(kafka.bootstrap, dlq, [(b"k0", b'{"id": 0}', spring(src, 1, 5, b"com.acme.PriceException", b"price < 0")),
                                (b"k1", bytes(range(256)) * 40, spring(src, 0, 6)),
                                (b"k2", b"plain", [])])
    st = settings_for(kafka.bootstrap, tmp_store)
    rows = api.browse(st, "kafka", "k", dlq, page=0, page_size=2)
    assert [r["key"] for r in rows] == ["k2", "k1"]  # newest first
    assert rows[1]["payload_kind"] == "hex" and rows[1]["truncated"] and rows[1]["size"] == 10240
    assert rows[0]["target"] == f"topic {src} (from convention)"
    older = api.browse(st, "kafka", "k", dlq, page=1, page_size=2)
    assert [r["key"] for r in older] == ["k0"]
    r0 = older[0]
    assert r0["payload_kind"] == "json" and r0["exception_class"] == "com.acme.PriceException"
    assert r0["headers"]["kafka_dlt-original-partition"] == "1" and r0["stacktrace"].startswith("at com.acme")
    assert r0["target"] == f"topic {src} partition 1 (from spring)"
    only = api.browse(st, "kafka", "k", dlq, exception_class="PriceException")
    assert [r["key"] for r in only] == ["k0"]

    plan = api.dry_run(st, {"broker": "kafka", "cluster": "k", "dlq": dlq,
                            "selection": {"mode": "filter", "reason": "price"}})
    assert [(p["key"], p["action"]) for p in plan] == [("k0", "replay")]
    assert "partition 1" in plan[0]["target"]
    assert read_all(kafka.bootstrap, src, 0, timeout=2, quiet_s=0.3) == []  # a dry run sends nothing


def test_bad_target_leaves_the_record(kafka, tmp_store):
    u = uid()
    dlq, missing, real = f"lost-{u}.dlq", f"gone-{u}", f"real-{u}"
    make_topics(kafka.bootstrap, {dlq: 1, real: 1})
    bad_header = [("kafka_dlt-original-topic", real.encode()), ("kafka_dlt-original-partition", b"\x00\x01\x02")]
    seed(kafka.bootstrap, dlq, [(b"x", b"payload", spring(missing, 0, 1)), (b"y", b"garbled", bad_header)])
    st = settings_for(kafka.bootstrap, tmp_store)
    job = replay(st, dlq)
    assert (job["state"], job["replayed"], job["failed"]) == ("done", 0, 2)
    first, second = sorted(api.job_messages(open_migrated(tmp_store), job["id"]), key=lambda m: m["coord"])
    assert missing in first["detail"] and "does not exist" in first["detail"] and "0:0" in first["detail"]
    assert "kafka_dlt-original-partition" in second["detail"] and "0:1" in second["detail"]
    assert len(read_all(kafka.bootstrap, dlq, 2)) == 2
    # not in the ledger: the operator can pick another target
    fixed = replay(st, dlq, target={"topic": real})
    assert fixed["replayed"] == 2
    assert sorted(r.value for r in read_all(kafka.bootstrap, real, 2)) == [b"garbled", b"payload"]


def test_loop_guard_parks(kafka, tmp_store):
    u = uid()
    src, dlq = f"loop-{u}", f"loop-{u}.DLT"
    make_topics(kafka.bootstrap, {src: 1, dlq: 1})
    seed(kafka.bootstrap, dlq, [(b"tired", b"v", spring(src, 0, 1) + [("eventdeck-replay-count", b"3")]),
                                (b"fresh", b"w", spring(src, 0, 2) + [("eventdeck-replay-count", b"2")])])
    st = settings_for(kafka.bootstrap, tmp_store)  # dlq.max_replay_count defaults to 3
    job = replay(st, dlq)
    assert (job["replayed"], job["parked"]) == (1, 1)
    [parked] = read_all(kafka.bootstrap, f"{dlq}.parking", 1)
    assert parked.key == b"tired" and header(parked, "eventdeck-replay-count") == "3"
    [back] = read_all(kafka.bootstrap, src, 1)
    assert back.key == b"fresh" and header(back, "eventdeck-replay-count") == "3"


def test_rate_limit_is_never_exceeded(kafka, tmp_store):
    u = uid()
    src, dlq = f"paced-{u}", f"paced-{u}.dlq"
    make_topics(kafka.bootstrap, {src: 1, dlq: 1})
    seed(kafka.bootstrap, dlq, [(None, str(i).encode(), []) for i in range(300)])
    st = settings_for(kafka.bootstrap, tmp_store)
    t0 = time.monotonic()
    job = replay(st, dlq, rate_per_s=100)
    elapsed = time.monotonic() - t0
    assert job["replayed"] == 300
    assert elapsed >= 2.9, f"300 messages at 100/s took only {elapsed:.2f} s"


def test_cancel_stops_a_running_job(kafka, tmp_store):
    u = uid()
    src, dlq = f"stop-{u}", f"stop-{u}.dlq"
    make_topics(kafka.bootstrap, {src: 1, dlq: 1})
    seed(kafka.bootstrap, dlq, [(None, str(i).encode(), []) for i in range(200)])
    st = settings_for(kafka.bootstrap, tmp_store)
    conn = open_migrated(tmp_store)
    jid = api.enqueue_replay(conn, {"broker": "kafka", "cluster": "k", "dlq": dlq, "rate_per_s": 50}, "ann", 1)
    runner = threading.Thread(target=run_pending, args=(st, tmp_store, jid))
    runner.start()
    deadline = time.monotonic() + 30
    while api.job(conn, jid)["replayed"] < 20:
        assert time.monotonic() < deadline, "the job made no progress"
        time.sleep(0.05)
    assert api.cancel(conn, jid, "bob", 2)
    runner.join(timeout=30)
    job = api.job(conn, jid)
    assert job["state"] == "cancelled" and 20 <= job["replayed"] < 200
    actions = [(a["action"], a["actor"]) for a in api.audit(conn)]
    assert ("dlq.replay.cancel", "bob") in actions and ("dlq.replay.requested", "ann") in actions
    assert ("dlq.replay.finished", "ann") in actions
    conn.close()
