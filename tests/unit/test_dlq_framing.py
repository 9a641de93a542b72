"""dlq.framing: the schema framings of keys and values (table of cases + fuzz)."""
from __future__ import annotations

import struct
import uuid

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dlq.framing import FramingError, encode_indexes, frame, message_indexes

GUID = uuid.UUID("2e60c30a-cad7-470b-a0a6-363ec78cd45e")
L = struct.Struct(">q")

CASES = [
    # (payload, headers, is_key, wire, expected (source, kind, id, prefix) or None or reason)
    (b'{"a": 1}', [], False, "confluent", None),
    (b"", [], False, "confluent", None),
    (None, [], False, "confluent", None),
    (b"\x01\x00\x00\x00\x05xyz", [], False, "confluent", None),  # not magic 0: plain bytes
    (b"\x00\x00\x00\x00\x05xyz", [], False, "confluent", ("confluent", "id", 5, b"\x00\x00\x00\x00\x05")),
    (b"\x00\x7f\xff\xff\xff", [], False, "confluent", ("confluent", "id", 2**31 - 1, b"\x00\x7f\xff\xff\xff")),
    (b"\x00\xff\xff\xff\xff", [], True, "confluent", ("confluent", "id", 2**32 - 1, b"\x00\xff\xff\xff\xff")),
    (b"\x00\x00\x00", [], False, "confluent", "truncated"),
    (b"\x00", [], False, "confluent", "truncated"),
    (b"\x00" + L.pack(42) + b"body", [], False, "apicurio2", ("apicurio2", "global", 42, b"\x00" + L.pack(42))),
    (b"\x00\x00\x00\x00", [], False, "apicurio2", "truncated"),
    (b"\x00" + L.pack(-3), [], False, "apicurio2", "bad id"),
    (b"\x00\x00\x00\x00\x09", [], False, "apicurio3", ("apicurio3", "content", 9, b"\x00\x00\x00\x00\x09")),
    # Confluent header form: GUID or id; the value header does not frame the key and vice versa
    (b"body", [("__value_schema_id", b"\x01" + GUID.bytes)], False, "confluent",
     ("confluent-header", "guid", str(GUID), b"")),
    (b"body", [("__value_schema_id", b"\x01" + GUID.bytes)], True, "confluent", None),
    (b"body", [("__key_schema_id", b"\x00\x00\x00\x00\x07")], True, "confluent", ("confluent-header", "id", 7, b"")),
    (b"body", [("__value_schema_id", b"\x01" + GUID.bytes[:5])], False, "confluent", "truncated"),
    (b"body", [("__value_schema_id", b"\x05abc")], False, "confluent", "bad magic byte"),
    (b"body", [("__value_schema_id", b"")], False, "confluent", "truncated"),
    (b"body", [("__value_schema_id", None)], False, "confluent", "bad header"),
    # Apicurio headers (8-byte longs), either version
    (b"body", [("apicurio.value.globalId", L.pack(77))], False, "apicurio2", ("apicurio-header", "global", 77, b"")),
    (b"body", [("apicurio.value.contentId", L.pack(8))], False, "apicurio3", ("apicurio-header", "content", 8, b"")),
    (b"body", [("apicurio.key.globalId", L.pack(5))], True, "apicurio2", ("apicurio-header", "global", 5, b"")),
    (b"body", [("apicurio.value.globalId", b"\x00\x01")], False, "apicurio2", "truncated"),
    (b"body", [("apicurio.value.globalId", L.pack(-1))], False, "apicurio2", "bad header"),
    # headers win over the prefix; a dict of headers (RabbitMQ shape) works too
    (b"\x00\x00\x00\x00\x05", {"__value_schema_id": b"\x00\x00\x00\x00\x06"}, False, "confluent",
     ("confluent-header", "id", 6, b"")),
]


@pytest.mark.parametrize("payload,headers,is_key,wire,want", CASES)
def test_framings(payload, headers, is_key, wire, want):
    if isinstance(want, str):
        with pytest.raises(FramingError) as ei:
            frame(payload, headers, is_key=is_key, wire=wire)
        assert ei.value.reason == want
        return
    got = frame(payload, headers, is_key=is_key, wire=wire)
    if want is None:
        assert got is None
    else:
        assert (got.source, got.kind, got.schema_id, got.prefix) == want


def test_header_tail_carries_protobuf_indexes():
    fr = frame(b"body", [("__value_schema_id", b"\x01" + GUID.bytes + b"\x04\x02\x00")], is_key=False)
    assert fr.header_tail == b"\x04\x02\x00"
    assert message_indexes(fr.header_tail) == ((1, 0), 3)


INDEX_CASES = [
    (b"\x00rest", (0,), 1),
    (b"\x02\x00", (0,), 2),
    (b"\x04\x02\x00", (1, 0), 3),
    (b"\x02\x96\x01", (75,), 3),
]


@pytest.mark.parametrize("data,indexes,pos", INDEX_CASES)
def test_message_indexes(data, indexes, pos):
    assert message_indexes(data) == (indexes, pos)


@pytest.mark.parametrize("data,reason", [
    (b"", "truncated"), (b"\x04\x02", "truncated"), (b"\x03", "bad message index"),  # negative count
    (b"\x80" * 11, "bad message index"), (b"\x02\x01", "bad message index"),  # negative index
])
def test_message_indexes_refused(data, reason):
    with pytest.raises(FramingError) as ei:
        message_indexes(data)
    assert ei.value.reason == reason


def test_a_million_entry_index_array_is_refused_before_reading_it():
    def zz(v: int) -> bytes:
        v = v << 1
        out = bytearray()
        while v & ~0x7F:
            out.append((v & 0x7F) | 0x80)
            v >>= 7
        return bytes(out + bytes([v]))
    data = zz(10**6) + b"\x00" * 10**6
    with pytest.raises(FramingError) as ei:
        message_indexes(data)
    assert ei.value.reason == "bad message index" and "1000000 entries" in str(ei.value)


@settings(max_examples=1500, deadline=None)
@given(payload=st.one_of(st.none(), st.binary(max_size=40), st.binary(max_size=12).map(lambda b: b"\x00" + b)),
       headers=st.lists(st.tuples(st.sampled_from(["__value_schema_id", "__key_schema_id", "apicurio.value.globalId",
                                                   "apicurio.key.contentId", "apicurio.value.contentId", "x"]),
                                  st.one_of(st.binary(max_size=24), st.none(), st.integers(), st.text(max_size=4))),
                        max_size=4),
       is_key=st.booleans(), wire=st.sampled_from(["confluent", "apicurio2", "apicurio3"]))
def test_fuzz_frame_raises_only_its_error(payload, headers, is_key, wire):
    try:
        fr = frame(payload, headers, is_key=is_key, wire=wire)
    except FramingError as exc:
        assert exc.reason
        return
    if fr is not None:
        assert fr.prefix == (payload or b"")[:len(fr.prefix)]
        assert fr.kind in ("id", "guid", "global", "content")
        if fr.header_tail:
            try:
                message_indexes(fr.header_tail)
            except FramingError:
                pass


@settings(max_examples=1500, deadline=None)
@given(st.binary(max_size=64))
def test_fuzz_message_indexes(data):
    try:
        idx, pos = message_indexes(data)
    except FramingError:
        return
    assert 1 <= len(idx) <= 64 and 0 < pos <= len(data) and all(i >= 0 for i in idx)


@settings(max_examples=500, deadline=None)
@given(st.lists(st.integers(0, 2**31), min_size=1, max_size=64))
def test_index_round_trip(indexes):
    data = encode_indexes(tuple(indexes))
    assert message_indexes(data + b"tail") == (tuple(indexes), len(data))
