"""Issue #23 (b, c) on the real RabbitMQ node: headers RabbitMQ acts on (CC, BCC, user_id) are never
republished as read, and field types pika could not read (a timestamp beyond year 9999, doubles, floats,
non-UTF-8 long strings) neither break the DLQ nor change on replay.

The test publisher writes those field types through ``brokers.amqp_fields`` (installed on import of
``dlq``): the bytes on the wire are the AMQP 0-9-1 encodings any other client (Java, .NET, Go) sends."""
from __future__ import annotations

from datetime import datetime

import pika
import pytest

from brokers.amqp_fields import AmqpBytesString, AmqpFloat, AmqpTimestamp
from dlq import api, rabbit_io
from dlq.edit import EditError
from store import queries
from store.db import open_migrated
from tests.integration.dlq_helpers import uid
from tests.integration.dlq_rabbit_helpers import replay, settings, topo  # noqa: F401 - fixtures

__all__ = ["settings", "topo"]

BEYOND_9999 = 253402300800 + 86_400 * 365 * 1000  # seconds: year ~11000


def _death(queue: str) -> dict:
    return {"queue": queue, "reason": "rejected", "count": 1, "exchange": "", "routing-keys": [queue],
            "time": datetime(2026, 1, 1)}


def test_cc_bcc_and_user_id_are_not_republished_and_the_dry_run_shows_them_dropped(topo, settings, rabbitmq):
    u = uid()
    orders, dlq = topo.queue(f"orders-{u}"), topo.queue(f"orders-{u}.dlq")
    outside, hidden = topo.queue(f"payroll-{u}"), topo.queue(f"audit-{u}")
    headers = {"x-death": [_death(orders)], "x-first-death-queue": orders, "CC": [outside], "BCC": [hidden],
               "trace": "t-1"}
    topo.ch.basic_publish("", dlq, b"m-cc", pika.BasicProperties(message_id="m-cc", headers=headers,
                                                                  user_id=rabbitmq.user))
    topo.wait_depth(dlq, 1)
    topo.drain(outside), topo.drain(hidden)  # sender-selected distribution copied it there at publish time
    st = settings(allowed_targets={"r": [orders]})  # the policy: only the DLQ's source
    open_migrated(st.store.handle).close()

    report = api.dry_run_report(st, {"broker": "rabbitmq", "cluster": "r", "dlq": dlq, "rate_per_s": None})
    [row] = report["rows"]
    # RabbitMQ itself strips BCC at publish, so a message read from a queue holds CC only (BCC is dropped
    # too if it ever is there: tests/unit/test_dlq_edit.py::test_replayed_properties_drop_cc_bcc_and_user_id)
    assert row["action"] == "replay" and row["dropped_headers"] == "CC, user_id", row

    job = replay(st, dlq)
    assert (job["state"], job["replayed"], job["failed"]) == ("done", 1, 0), job
    [(props, body)] = topo.drain(orders)
    assert body == b"m-cc" and props.headers["trace"] == "t-1"
    assert "CC" not in props.headers and "BCC" not in props.headers and props.user_id is None
    assert topo.depth(outside) == 0 and topo.depth(hidden) == 0  # no copy outside the policy


def test_edit_before_replay_refuses_cc_bcc_and_user_id(settings):
    st = settings()
    open_migrated(st.store.handle).close()
    conn = open_migrated(st.store.handle)
    try:
        for name in ("CC", "bcc", "user_id"):
            req = {"broker": "rabbitmq", "cluster": "r", "dlq": "q.dlq", "rate_per_s": None,
                   "selection": {"mode": "picked", "coords": ["c1"]},
                   "edit": {"coord": "c1", "payload": "x", "headers": {name: "payroll"}}}
            with pytest.raises((EditError, ValueError), match=f"edit.headers.{name}: never republished"):
                api.enqueue_replay(conn, req, "otto", 1)
    finally:
        conn.close()


def test_timestamp_beyond_9999_doubles_and_floats_neither_break_the_dlq_nor_change_on_replay(topo, settings):
    u = uid()
    orders, dlq = topo.queue(f"orders-{u}"), topo.queue(f"orders-{u}.dlq")
    odd = {"x-death": [_death(orders)], "x-first-death-queue": orders,
           "when": AmqpTimestamp(BEYOND_9999), "price": 1.5, "ratio": AmqpFloat(0.25),
           "raw": AmqpBytesString(b"\xff\xfe"), "nested": {"t": AmqpTimestamp(BEYOND_9999), "l": [2.5, AmqpFloat(-1.5)]}}
    # (no NaN: RabbitMQ closes the connection of a publisher sending one, so none can be in a queue)
    topo.ch.basic_publish("", dlq, b"odd", pika.BasicProperties(message_id="odd", headers=odd))
    topo.ch.basic_publish("", dlq, b"plain", pika.BasicProperties(
        message_id="plain", headers={"x-death": [_death(orders)], "x-first-death-queue": orders}))
    topo.wait_depth(dlq, 2)
    st = settings()
    open_migrated(st.store.handle).close()

    rows = api.browse(st, "rabbitmq", "r", dlq, page=0, page_size=50)
    assert sorted(r["key"] for r in rows) == ["odd", "plain"]
    shown = next(r for r in rows if r["key"] == "odd")["headers"]
    assert shown["price"] == "1.5" and shown["when"] == str(BEYOND_9999)
    report = api.dry_run_report(st, {"broker": "rabbitmq", "cluster": "r", "dlq": dlq, "rate_per_s": None})
    assert [r["action"] for r in report["rows"]] == ["replay", "replay"], report["rows"]

    job = replay(st, dlq)
    assert (job["state"], job["replayed"], job["failed"]) == ("done", 2, 0), job
    got = {p.message_id: p.headers for p, _ in topo.drain(orders)}
    h = got["odd"]
    assert type(h["price"]) is float and h["price"] == 1.5  # was replayed as 1
    assert type(h["ratio"]) is AmqpFloat and h["ratio"] == 0.25
    assert type(h["when"]) is AmqpTimestamp and h["when"] == BEYOND_9999
    assert type(h["raw"]) is AmqpBytesString and h["raw"] == b"\xff\xfe"
    assert h["nested"] == {"t": BEYOND_9999, "l": [2.5, -1.5]} and type(h["nested"]["l"][1]) is AmqpFloat
    topo.wait_depth(dlq, 0)


def test_a_header_that_would_not_round_trip_fails_that_message_alone(topo, settings, monkeypatch):
    """The safety net behind the codec: a value pika would write back differently (here: the round-trip check
    is made to see one, as a future pika type change would) fails that message alone and the dry run says so,
    while the other message of the queue is replayed."""
    u = uid()
    orders, dlq = topo.queue(f"orders-{u}"), topo.queue(f"orders-{u}.dlq")
    for mid in ("bad", "good"):
        topo.ch.basic_publish("", dlq, mid.encode(), pika.BasicProperties(
            message_id=mid, headers={"x-death": [_death(orders)], "x-first-death-queue": orders, "id": mid}))
    topo.wait_depth(dlq, 2)
    st = settings()
    open_migrated(st.store.handle).close()
    from brokers import amqp_fields
    real = amqp_fields.round_trip_problem

    def spot(headers):
        return "header 'id' would not be republished as read" if (headers or {}).get("id") == "bad" else real(headers)

    monkeypatch.setattr(amqp_fields, "round_trip_problem", spot)
    report = api.dry_run_report(st, {"broker": "rabbitmq", "cluster": "r", "dlq": dlq, "rate_per_s": None})
    by_key = {r["key"]: r for r in report["rows"]}
    assert by_key["good"]["action"] == "replay"
    assert by_key["bad"]["action"] == "error" and "would not be republished" in by_key["bad"]["reason"]
    job = replay(st, dlq)
    assert (job["state"], job["replayed"], job["failed"]) == ("done", 1, 1), job
    assert [p.message_id for p, _ in topo.drain(orders)] == ["good"]
    topo.wait_depth(dlq, 1)  # the bad one stays


def test_a_failed_read_reports_its_own_error_not_the_close(settings, topo, monkeypatch):
    """`finally: conn.close()` on a connection the failure already broke raised ConnectionWrongStateError
    and hid the real error. pika failing inside its frame layer (what the year-10000 timestamp did before
    the codec; reproduced by making the decoder raise) now surfaces as itself."""
    from brokers import amqp_fields
    u = uid()
    dlq = topo.queue(f"orders-{u}.dlq")
    topo.ch.basic_publish("", dlq, b"x", pika.BasicProperties(headers={"when": AmqpTimestamp(BEYOND_9999)}))
    topo.wait_depth(dlq, 1)
    real = amqp_fields.decode_value

    def old_pika(encoded, offset):
        if encoded[offset:offset + 1] == b"T":
            raise ValueError("year 11000 is out of range")
        return real(encoded, offset)

    monkeypatch.setattr(pika.data, "decode_value", old_pika)
    st = settings()
    with pytest.raises(Exception) as err:
        rabbit_io.peek(st.rabbitmq.clusters[0], "/", dlq, 5)
    assert "out of range" in str(err.value), repr(err.value)
    assert "WrongState" not in type(err.value).__name__


def test_nested_bracket_payload_is_browsed_and_shown_by_the_cli(topo, settings, tmp_path):
    """A 4 KB payload of nested brackets raised RecursionError in the JSON renderer: browse of its page
    failed and `dlq show` crashed. Now it is shown as text, with the other messages of the page."""
    import json
    import subprocess
    import sys
    from pathlib import Path

    import yaml
    u = uid()
    dlq = topo.queue(f"deep-{u}.dlq")
    deep = b"[" * 2048 + b"]" * 2048
    topo.ch.basic_publish("", dlq, deep, pika.BasicProperties(message_id="deep"))
    topo.ch.basic_publish("", dlq, b'{"n": 1}', pika.BasicProperties(message_id="flat"))
    topo.wait_depth(dlq, 2)
    st = settings()
    open_migrated(st.store.handle).close()
    rows = {r["key"]: r for r in api.browse(st, "rabbitmq", "r", dlq, page=0, page_size=50)}
    assert (rows["deep"]["payload_kind"], rows["flat"]["payload_kind"]) == ("text", "json")
    assert rows["deep"]["size"] == len(deep)
    cfg = tmp_path / "eventdeck.yaml"
    cfg.write_text(yaml.safe_dump(st.model_dump(mode="json")))
    r = subprocess.run([sys.executable, "-m", "dlq", "--config", str(cfg), "show", "rabbitmq", "r", dlq, "--json"],
                       capture_output=True, text=True, timeout=60, cwd=Path(__file__).resolve().parents[2])
    assert r.returncode == 0, r.stderr
    assert sorted(json.loads(ln)["key"] for ln in r.stdout.splitlines()) == ["deep", "flat"]
    assert topo.depth(dlq) == 2


def test_new_dlq_resolves_its_sources_live_at_dry_run_time(topo, settings):
    """A DLQ the collector's stored topology does not know yet (no refresh since it appeared): its x-death
    source is checked live against the management API, so the dry run replays to it instead of saying
    "not a source linked to this DLQ"; a queue that does not dead-letter into it stays blocked."""
    u = uid()
    grave = topo.queue(f"graveyard-{u}")  # no naming convention links it to anything
    topo.ch.queue_declare(f"orders-{u}", arguments={"x-dead-letter-exchange": "", "x-dead-letter-routing-key": grave})
    topo.queues.append(f"orders-{u}")
    other = topo.queue(f"other-{u}")
    orders = f"orders-{u}"
    topo.ch.basic_publish("", orders, b"m1", pika.BasicProperties(message_id="m1"))
    topo.wait_depth(orders, 1)
    topo.reject_all(orders)  # dead-lettered by RabbitMQ: x-death names orders
    topo.ch.basic_publish("", grave, b"m2", pika.BasicProperties(  # a forged x-death naming another queue
        message_id="m2", headers={"x-death": [_death(other)], "x-first-death-queue": other}))
    topo.wait_depth(grave, 2)
    st = settings(allowed_targets={})  # only linked sources
    open_migrated(st.store.handle).close()
    report = api.dry_run_report(st, {"broker": "rabbitmq", "cluster": "r", "dlq": grave, "rate_per_s": None})
    by_key = {r["key"]: r for r in report["rows"]}
    assert by_key["m1"]["action"] == "replay" and orders in by_key["m1"]["target"], by_key["m1"]
    assert by_key["m2"]["action"] == "error" and "not a source linked" in by_key["m2"]["reason"], by_key["m2"]
    job = replay(st, grave)
    assert (job["replayed"], job["failed"]) == (1, 1), job
    assert [p.message_id for p, _ in topo.drain(orders)] == ["m1"]
