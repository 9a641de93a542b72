"""A RabbitMQ DLQ with malformed dead-letter headers among good ones, on the real node: browse lists every
message (malformed ones marked), replay delivers the good ones and fails only the bad ones, which stay in
the DLQ; a malformed one still goes to an explicit target."""
from __future__ import annotations

import json
from datetime import datetime

import pika

from core.rejects import METRIC
from dlq import api
from store import queries
from store.db import open_migrated
from tests.integration.dlq_helpers import uid
from tests.integration.dlq_rabbit_helpers import replay, settings, topo  # noqa: F401 - fixtures

__all__ = ["settings", "topo"]


def _death(queue: str, **over) -> dict:
    return {"queue": queue, "reason": "rejected", "count": 1, "exchange": "", "routing-keys": [queue],
            "time": datetime(2026, 1, 1), **over}


def test_malformed_rabbit_headers_are_listed_and_fail_alone(topo, settings):
    u = uid()
    orders, dlq, manual = topo.queue(f"orders-{u}"), topo.queue(f"orders-{u}.dlq"), topo.queue(f"manual-{u}")
    good = {"good": {"x-death": [_death(orders)], "x-first-death-queue": orders},
            "time-year-31690": {"x-death": [_death(orders, time=10 ** 15)], "x-first-death-queue": orders}}
    bad = {"count-abc": {"x-death": [_death(orders, count="abc")]},
           "routing-key-int": {"x-death": [_death(orders, **{"routing-keys": [5]})]},
           "target-int-queue": {"eventdeck-replay-target": json.dumps({"queue": 5})},
           "huge-x-death": {"x-death": [_death(f"q{i}") for i in range(100)]}}
    for mid, headers in {**good, **bad}.items():
        topo.ch.basic_publish("", dlq, mid.encode(), pika.BasicProperties(message_id=mid, headers=headers))
    topo.wait_depth(dlq, len(good) + len(bad))
    st = settings()
    open_migrated(st.store.handle).close()

    rows = api.browse(st, "rabbitmq", "r", dlq, page=0, page_size=50)
    assert sorted(r["key"] for r in rows) == sorted([*good, *bad])  # every message listed
    assert sorted(r["key"] for r in rows if r["header_error"]) == sorted(bad)  # the malformed ones marked
    assert topo.depth(dlq) == len(good) + len(bad)  # browsing is non-destructive

    job = replay(st, dlq)
    assert (job["state"], job["replayed"], job["failed"]) == ("done", len(good), len(bad)), job
    assert sorted(b.decode() for _, b in topo.drain(orders)) == sorted(good)
    topo.wait_depth(dlq, len(bad))  # the bad ones stay
    conn = open_migrated(st.store.handle)
    try:
        counted = queries.latest(conn, METRIC, {"source": "dlq.rabbitmq"})
        details = [m["detail"] for m in api.job_messages(conn, job["id"]) if m["outcome"] == "failed"]
    finally:
        conn.close()
    assert counted[["reason", "value"]].values.tolist() == [["bad_header", float(len(bad))]]
    assert len(details) == len(bad) and all("header" in d for d in details), details

    coord = next(r["coord"] for r in rows if r["key"] == "count-abc")
    picked = replay(st, dlq, selection={"mode": "picked", "coords": [coord]}, target={"queue": manual})
    assert (picked["state"], picked["replayed"], picked["failed"]) == ("done", 1, 0), picked
    assert [b for _, b in topo.drain(manual)] == [b"count-abc"]
    topo.wait_depth(dlq, len(bad) - 1)

    # A target that cannot be encoded (a 400-byte queue name: AMQP names are at most 255 bytes) fails
    # that message alone, with the reason; it stays in the DLQ.
    coord = next(r["coord"] for r in rows if r["key"] == "routing-key-int")
    unsendable = replay(st, dlq, selection={"mode": "picked", "coords": [coord]}, target={"queue": "é" * 200})
    assert (unsendable["state"], unsendable["replayed"], unsendable["failed"]) == ("done", 0, 1), unsendable
    conn = open_migrated(st.store.handle)
    try:
        detail = api.job_messages(conn, unsendable["id"])[0]["detail"]
    finally:
        conn.close()
    assert "cannot be encoded" in detail, detail
    topo.wait_depth(dlq, len(bad) - 1)
