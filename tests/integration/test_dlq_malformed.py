"""A Kafka DLQ with one message of each malformed kind among good ones, on the real brokers: browse lists
every message (malformed ones marked), replay delivers the good ones and fails only the bad ones, each
alone with its reason, and a malformed one still goes to an explicit target."""
from __future__ import annotations

import pytest

import json

from kafka import KafkaProducer

from core.rejects import METRIC
from dlq import api
from dlq.headers import REPLAY_COUNT, REPLAY_TARGET
from store import queries
from store.db import open_migrated
from tests.integration.dlq_helpers import make_topics, read_all, settings_for, spring, uid
from tests.integration.dlq_kafka_helpers import replay


@pytest.fixture
def tmp_store(any_store):
    """This module runs on both store backends (SQLite, PostgreSQL)."""
    return any_store


YEAR_10000_MS = 253402300800000 + 1000


def _seed(bootstrap: str, dlq: str, orders: str) -> tuple[dict[bytes, dict], list[bytes], list[bytes]]:
    good = {b"g0": {"headers": spring(orders, 0, 1)}, b"g1": {"headers": spring(orders, 1, 2)},
            b"tombstone": {"headers": spring(orders, 0, 3), "value": None},
            b"g-future": {"headers": spring(orders, 1, 4), "timestamp_ms": YEAR_10000_MS}}
    bad = {
        b"partition-dashes": [("kafka_dlt-original-topic", orders.encode()), ("kafka_dlt-original-partition", b"--5")],
        b"partition-superscript": [("__connect.errors.topic", orders.encode()),
                                   ("__connect.errors.partition", "²".encode())],
        b"target-minus-one": [(REPLAY_TARGET, json.dumps({"topic": orders, "partition": -1}).encode())],
        b"target-half": [(REPLAY_TARGET, json.dumps({"topic": orders, "partition": 0.5}).encode())],
        b"target-abc": [(REPLAY_TARGET, json.dumps({"topic": orders, "partition": "abc"}).encode())],
        b"count-abc": spring(orders, 0, 5) + [(REPLAY_COUNT, b"abc")],
        b"no-such-partition": spring(orders, 99, 6),  # decodes, but the target cannot take it
    }
    p = KafkaProducer(bootstrap_servers=bootstrap, batch_size=1, linger_ms=0, acks="all")
    try:
        for key, spec in good.items():
            p.send(dlq, key=key, value=spec.get("value", b'{"ok": true}'), headers=spec["headers"], partition=0,
                   timestamp_ms=spec.get("timestamp_ms")).get(timeout=30)
        for key, headers in bad.items():
            p.send(dlq, key=key, value=b'{"bad": true}', headers=headers, partition=0).get(timeout=30)
    finally:
        p.close()
    return good, list(bad), [k for k in bad if k != b"no-such-partition"]


def test_malformed_messages_are_listed_and_fail_alone(kafka, tmp_store):
    u = uid()
    orders, dlq, explicit = f"orders-{u}", f"orders-{u}.DLT", f"manual-{u}"
    make_topics(kafka.bootstrap, {orders: 2, dlq: 1, explicit: 1})
    good, bad, malformed = _seed(kafka.bootstrap, dlq, orders)
    settings = settings_for(kafka.bootstrap, tmp_store)
    open_migrated(tmp_store).close()

    rows = api.browse(settings, "kafka", "k", dlq, page=0, page_size=50)
    by_key = {r["key"].encode(): r for r in rows}
    assert set(by_key) == set(good) | set(bad)  # every message is listed
    assert {k for k, r in by_key.items() if r["header_error"]} == set(malformed)  # the malformed ones marked
    assert by_key[b"g-future"]["timestamp_ms"] == YEAR_10000_MS and by_key[b"tombstone"]["payload_kind"] == "empty"

    job = replay(settings, dlq)
    assert job["state"] == "done", job
    assert (job["replayed"], job["failed"]) == (len(good), len(bad)), job
    conn = open_migrated(tmp_store)
    try:
        outcomes = {m["coord"]: m for m in api.job_messages(conn, job["id"])}
    finally:
        conn.close()
    coord_of = {k: r["coord"] for k, r in by_key.items()}
    for key in bad:
        o = outcomes[coord_of[key]]
        assert o["outcome"] == "failed" and o["detail"], (key, o)  # each failed with its reason named
    assert "partition" in outcomes[coord_of[b"no-such-partition"]]["detail"]
    conn = open_migrated(tmp_store)
    try:  # each malformed message counted once, by reason, for the System page
        counted = queries.latest(conn, METRIC, {"source": "dlq.kafka"})
    finally:
        conn.close()
    assert counted[["reason", "value"]].values.tolist() == [["bad_header", float(len(malformed))]]
    delivered = read_all(kafka.bootstrap, orders, expect=len(good))
    assert sorted(r.key for r in delivered) == sorted(good)

    # A malformed message can still be replayed to a target the operator names.
    picked = replay(settings, dlq, selection={"mode": "picked", "coords": [coord_of[b"partition-dashes"]]},
                    target={"topic": explicit})
    assert (picked["state"], picked["replayed"], picked["failed"]) == ("done", 1, 0), picked
    assert [r.key for r in read_all(kafka.bootstrap, explicit, expect=1)] == [b"partition-dashes"]
