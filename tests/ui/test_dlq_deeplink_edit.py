"""DLQ page: a deep link opens the exact view; rows selected in the table are what the confirmation
lists; an edited payload is what the replay publishes, and the audit shows the diff."""
from __future__ import annotations

import json

import pika

from config import load_settings
from core import links
from dlq import api
from dlq.jobs import run_pending
from store.db import connect_reader

from views import ticks
from tests.ui.conftest import table_with
from views import frames
from tests.ui.dlq_page_helpers import _label, _open, _select_rows
from tests import seed
from tests.gone_cycles import next_cycle_without


def test_deep_link_opens_the_dlq_with_its_filter_and_time_range(seeded, rabbit_dlq):
    at = _open(seeded, **{links.DLQ: _label(rabbit_dlq), links.DLQ_REASON: "rejected", links.RANGE: "last 6 h"})
    assert not at.exception
    assert at.selectbox(key=links.DLQ).value["dlq"] == rabbit_dlq
    assert at.text_input(key=links.DLQ_REASON).value == "rejected"
    assert at.selectbox(key=links.RANGE).value == "last 6 h"
    assert any(f"Messages in {frames.md_escape(rabbit_dlq)}" in h.value for h in at.subheader)
    assert len(table_with(at, "coord")) == 3
    # the same link with a filter that matches nothing shows that state, not the other messages
    at = _open(seeded, **{links.DLQ: _label(rabbit_dlq), links.DLQ_REASON: "no-such-reason"})
    assert any("nothing matches the filters" in i.value for i in at.info)


def test_a_link_to_a_gone_dlq_opens_it_and_says_it_is_gone(seeded, rabbit_dlq):
    """A DLQ that left its cluster's latest cycle is not in the live list; its link must still open it (and
    say so), not silently the largest DLQ (seen in a browser run: Streamlit drops a bound value it does not
    offer)."""
    next_cycle_without(seeded.store, f"rabbitmq:{seed.RABBIT}", ("rabbitmq_", "dlq_"), {"dlq": rabbit_dlq})
    at = _open(seeded, **{links.DLQ: _label(rabbit_dlq)})
    assert not at.exception
    assert at.selectbox(key=links.DLQ).value["dlq"] == rabbit_dlq
    assert any(f"{frames.md_escape(_label(rabbit_dlq))} is gone" in w.value for w in at.warning)
    assert any(f"Messages in {frames.md_escape(rabbit_dlq)}" in h.value for h in at.subheader)
    assert len(table_with(at, "coord")) == 3  # the queue still exists: its messages are read from the broker
    # a link to a DLQ nobody reported says so instead of pretending
    at = _open(seeded, **{links.DLQ: _label("no-such-queue.dlq")})
    assert not at.exception
    assert any("which no collector has reported" in w.value for w in at.warning)
    assert at.selectbox(key=links.DLQ).value["dlq"] != "no-such-queue.dlq"


def test_selected_rows_are_exactly_what_the_confirmation_lists(seeded, rabbit_dlq):
    at = _open(seeded, **{links.DLQ: _label(rabbit_dlq)})
    coords = table_with(at, "coord")["coord"].tolist()
    at = _select_rows(at, [0, 2])
    assert at.button(key="replay_selected").label == ticks.button_label([coords[0], coords[2]])
    at.button(key="replay_selected").click().run()
    plan = table_with(at, "replay_id")
    assert sorted(plan["coord"]) == sorted([coords[0], coords[2]])
    assert (plan["action"] == "replay").all()


def test_edited_payload_is_what_is_replayed_and_the_audit_shows_the_diff(seeded, rabbit_dlq, rabbitmq):
    at = _open(seeded, **{links.DLQ: _label(rabbit_dlq)})
    table = table_with(at, "coord")
    at = _select_rows(at, [1])  # '{"order": 1}'
    at.button(key="replay_selected").click().run()
    at.toggle(key="edit_on").set_value(True).run()
    assert json.loads(at.text_area(key="edit_payload").value) == {"order": 1}
    at.text_area(key="edit_payload").input('{"order": 1, "fixed": true}').run()
    assert any('+{"order": 1, "fixed": true}' in c.value for c in at.code)  # the diff, before confirming
    at.button(key="replay_confirm").click().run()
    assert not at.exception and not at.error
    conn = connect_reader(seeded.store)
    try:
        [job] = api.list_jobs(conn)
    finally:
        conn.close()
    assert run_pending(load_settings(), seeded.store, job["id"]) == job["id"]

    source = rabbit_dlq.removesuffix(".dlq")
    amqp = pika.BlockingConnection(pika.URLParameters(rabbitmq.amqp_url))
    try:
        ch = amqp.channel()
        method, props, body = ch.basic_get(source, auto_ack=True)
        assert body == b'{"order": 1, "fixed": true}' and props.headers["eventdeck-replay-count"] == "1"
        assert ch.basic_get(source, auto_ack=True)[0] is None  # only the picked message went back
        assert ch.queue_declare(rabbit_dlq, passive=True).method.message_count == 2  # the others stay
    finally:
        amqp.close()
    at.session_state["dlq_tab"] = "Audit"  # the audit has a tab of its own
    at.run()
    audit = table_with(at, "action")
    edited = audit[audit["action"] == "dlq.replay.edited"]
    detail = edited["detail"].iloc[0]  # plain "name: value" text, no raw JSON
    assert len(edited) == 1 and table["coord"].iloc[1] in detail
    assert '+{"order": 1, "fixed": true}' in detail and "original_sha256: " in detail and "edited_sha256: " in detail
    assert not detail.startswith("{")


def test_time_window_replay_selects_by_the_sidebar_range(seeded, rabbit_dlq):
    at = _open(seeded, **{links.DLQ: _label(rabbit_dlq), links.RANGE: "last 15 min"})
    at.button(key="replay_window_open").click().run()
    ent = at.session_state["replay_entry"]
    assert ent["selection"] == {"mode": "filter"} and ent["range_ms"][1] - ent["range_ms"][0] == 15 * 60_000
    assert at.toggle(key="replay_in_range").value  # the dialog starts limited to the window, and says so
    assert any("messages dead-lettered" in t.value for t in at.text)
    assert metrics_of(at)["replay"] == "3"  # dead-lettered just now: all three are in the window


def metrics_of(at) -> dict[str, str]:
    return {m.label: m.value for m in at.metric}


def test_parking_lot_has_the_same_browse_and_replay(seeded, rabbit_dlq, rabbitmq):
    parking = rabbit_dlq + ".parking"
    amqp = pika.BlockingConnection(pika.URLParameters(rabbitmq.amqp_url))
    try:
        ch = amqp.channel()
        ch.queue_declare(parking)
        ch.confirm_delivery()
        source = rabbit_dlq.removesuffix(".dlq")
        ch.basic_publish("", parking, b'{"order": 9}', pika.BasicProperties(message_id="p1", headers={
            "eventdeck-replay-count": "3", "x-first-death-queue": source, "x-first-death-reason": "rejected",
            "x-first-death-exchange": "",
            "x-death": [{"queue": source, "reason": "rejected", "count": 4, "exchange": "", "routing-keys": [source]}]}))
        at = _open(seeded, **{links.DLQ: _label(rabbit_dlq)})
        at.toggle(key=links.DLQ_PARKING).set_value(True).run()
        assert any(f"Messages in {frames.md_escape(parking)} (parking lot)" in h.value for h in at.subheader)
        assert len(table_with(at, "coord")) == 1
        at.button(key="replay_all").click().run()
        assert at.session_state["replay_entry"]["dlq"] == parking
        # a deliberate replay from the parking lot goes back to the source, it is not parked again
        assert (metrics_of(at)["replay"], metrics_of(at)["park"]) == ("1", "0")
    finally:
        amqp.channel().queue_delete(parking)
        amqp.close()
