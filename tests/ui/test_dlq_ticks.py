"""DLQ ticks follow messages (AppTest, real RabbitMQ DLQ): a ticked selection survives refreshes while new
dead letters arrive (the list holds still and says how many wait), the button names what it will replay,
the dialog replays exactly the ticked messages, and the ticks clear after the confirmed replay."""
from __future__ import annotations

import datetime

import pika
import streamlit as st

from core import links
from views import ticks
from tests.ui.conftest import table_with
from tests.ui.test_dlq_deeplink_edit import _label, _open, _select_rows


def dead_letter(amqp_url: str, dlq: str, n: int, start: int) -> None:
    """``n`` more dead letters of the DLQ's source, as the broker would add them."""
    source = dlq.removesuffix(".dlq")
    conn = pika.BlockingConnection(pika.URLParameters(amqp_url))
    try:
        ch = conn.channel()
        ch.confirm_delivery()
        died = datetime.datetime.now(tz=datetime.timezone.utc)
        for i in range(start, start + n):
            death = {"queue": source, "reason": "rejected", "count": 1, "exchange": "", "routing-keys": [source],
                     "time": died}
            ch.basic_publish("", dlq, f'{{"order": {i}}}'.encode(),
                             pika.BasicProperties(headers={"x-death": [death], "x-first-death-queue": source},
                                                  message_id=f"new{i}", content_type="application/json"))
    finally:
        conn.close()


def test_ticks_survive_refreshes_with_new_dead_letters_and_replay_exactly_them(seeded, rabbit_dlq, rabbitmq):
    at = _open(seeded, **{links.DLQ: _label(rabbit_dlq)})
    coords = table_with(at, "coord")["coord"].tolist()
    assert len(coords) == 3
    at = _select_rows(at, [0, 2])
    ticked = [coords[0], coords[2]]
    assert at.button(key="replay_selected").label == ticks.button_label(ticked)
    for k in range(3):  # three refreshes, each after new dead letters arrived
        dead_letter(rabbitmq.amqp_url, rabbit_dlq, 2, start=10 + 2 * k)
        st.cache_data.clear()  # the browse cache's 15 s: as if that much time passed
        at.run()
        assert not at.exception
        assert table_with(at, "coord")["coord"].tolist() == coords  # held still under the ticks
        assert any(f"{2 * (k + 1)} new messages" in i.value for i in at.info), [i.value for i in at.info]
        assert at.button(key="replay_selected").label == ticks.button_label(ticked)
    at.button(key="dlq_show_new").click().run()
    shown = table_with(at, "coord")["coord"].tolist()
    assert len(shown) == 9 and set(ticked) <= set(shown)
    assert at.session_state["dlq_ticked"][_label(rabbit_dlq)] == ticked  # the ticks stay on their messages
    at.button(key="replay_selected").click().run()
    plan = table_with(at, "replay_id")
    assert sorted(plan["coord"]) == sorted(ticked) and (plan["action"] == "replay").all()
    at.button(key="replay_confirm").click().run()
    assert not at.exception and not at.error
    assert any("queued" in s.value for s in at.success)
    assert not at.session_state["dlq_ticked"].get(_label(rabbit_dlq))  # cleared after the confirmed replay
    assert at.button(key="replay_selected").disabled


def test_ticks_are_per_dlq(seeded, rabbit_dlq):
    at = _open(seeded, **{links.DLQ: _label(rabbit_dlq)})
    at = _select_rows(at, [1])
    assert at.session_state["dlq_ticked"] == {_label(rabbit_dlq): [table_with(at, "coord")["coord"].iloc[1]]}
    box = at.selectbox(key=links.DLQ)
    other = next(i for i, o in enumerate(box.options) if not o.endswith(rabbit_dlq))
    box.select_index(other).run()
    assert not at.exception
    # the other DLQ (a Kafka one, unreachable here) has no ticks of its own; this DLQ's ticks are kept
    assert at.session_state["dlq_ticked"].get(box.options[other], []) == []
    assert len(at.session_state["dlq_ticked"][_label(rabbit_dlq)]) == 1
