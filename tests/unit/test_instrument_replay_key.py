"""The idempotency helper's ready-made key on ``eventdeck-replay-id`` (pika, kafka-python, plain headers)."""
from __future__ import annotations

from types import SimpleNamespace

import pika
import pytest
from hypothesis import given
from hypothesis import strategies as st

from instrument.idempotency import REPLAY_ID_HEADER, SqliteDedupStore, idempotent, replay_id_key

RID = "0f" * 16


def kafka_record(headers, topic="orders", partition=1, offset=7):
    """The attributes of a kafka-python ConsumerRecord the key reads."""
    return SimpleNamespace(topic=topic, partition=partition, offset=offset, key=None, value=b"v", headers=headers)


@pytest.mark.parametrize("args, want", [
    ((None, None, pika.BasicProperties(headers={REPLAY_ID_HEADER: RID}, message_id="m1"), b"body"), RID),
    ((None, None, pika.BasicProperties(headers={REPLAY_ID_HEADER: RID.encode()}), b"body"), RID),
    ((None, None, pika.BasicProperties(headers={"other": 1}, message_id="m1"), b"body"), "m1"),  # never replayed
    ((None, None, pika.BasicProperties(message_id="m2"), b"body"), "m2"),  # no headers at all
    ((kafka_record([("x", b"1"), (REPLAY_ID_HEADER, RID.encode())]),), RID),
    ((kafka_record([]),), "orders:1:7"),
    ((kafka_record(None, offset=0),), "orders:1:0"),
    (({REPLAY_ID_HEADER: RID},), RID),  # a headers mapping
    ((SimpleNamespace(headers=lambda: [(REPLAY_ID_HEADER, RID.encode())]),), RID),  # confluent-kafka style
])
def test_key_table(args, want):
    assert replay_id_key()(*args) == want


@pytest.mark.parametrize("args, match", [
    ((None, None, pika.BasicProperties(headers={REPLAY_ID_HEADER: b"\xff\xfe"}), b""), "not UTF-8"),
    ((kafka_record([(REPLAY_ID_HEADER, b"")]),), "printable"),
    ((kafka_record([(REPLAY_ID_HEADER, b"x" * 257)]),), "printable"),
    ((kafka_record([(REPLAY_ID_HEADER, b"a\nb")]),), "printable"),
    ((None, None, pika.BasicProperties(headers={REPLAY_ID_HEADER: 5}), b""), "printable"),
    ((b"body only",), "no eventdeck-replay-id"),
])
def test_bad_or_missing_ids_raise_value_error(args, match):
    with pytest.raises(ValueError, match=match):
        replay_id_key()(*args)


def test_fallback_is_used_only_without_the_header():
    key = replay_id_key(fallback=lambda ch, method, props, body: "fb:" + body.decode())
    assert key(None, None, pika.BasicProperties(), b"b1") == "fb:b1"
    assert key(None, None, pika.BasicProperties(headers={REPLAY_ID_HEADER: RID}), b"b1") == RID


@given(st.one_of(st.binary(max_size=300), st.text(max_size=300), st.integers(), st.none(),
                 st.lists(st.binary(max_size=5), max_size=3)))
def test_hostile_header_values_raise_only_value_error(value):
    props = pika.BasicProperties(headers={REPLAY_ID_HEADER: value}, message_id="m")
    try:
        k = replay_id_key()(None, None, props, b"")
    except ValueError:
        return
    assert isinstance(k, str) and 0 < len(k) <= 256


def test_duplicates_with_the_same_replay_id_are_dropped(tmp_path):
    seen: list[bytes] = []

    @idempotent(SqliteDedupStore(tmp_path / "d.db"), key=replay_id_key())
    def on_message(channel, method, properties, body):
        seen.append(body)

    first = pika.BasicProperties(headers={REPLAY_ID_HEADER: RID, "eventdeck-replay-count": "1"})
    on_message(None, None, first, b"a")
    on_message(None, None, pika.BasicProperties(headers={REPLAY_ID_HEADER: RID}), b"a")  # a crash's duplicate
    on_message(None, None, pika.BasicProperties(headers={REPLAY_ID_HEADER: "1" * 32}), b"b")
    assert seen == [b"a", b"b"] and (on_message.processed, on_message.duplicates) == (2, 1)
