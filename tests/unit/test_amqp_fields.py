"""Issue #23 (c): pika's field-table codec as Eventdeck installs it (brokers.amqp_fields) — every AMQP field
type decodes without raising and is written back as read; the replayed properties drop CC/BCC/user_id."""
from __future__ import annotations

import math
import struct
from datetime import datetime, timezone
from decimal import Decimal

import pika
import pika.data
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from brokers import amqp_fields
from brokers.amqp_fields import AmqpBytesString, AmqpFloat, AmqpTimestamp, round_trip_problem
from dlq import plan, rabbit_io
from dlq.edit import EditError, validate

amqp_fields.install()


def _field(kind: bytes, body: bytes) -> bytes:
    return kind + body


@pytest.mark.parametrize("wire, expected", [
    (_field(b"T", struct.pack(">Q", 253402300800)), AmqpTimestamp(253402300800)),   # year 10000: pika raised
    (_field(b"T", struct.pack(">Q", 2 ** 64 - 1)), AmqpTimestamp(2 ** 64 - 1)),
    (_field(b"T", struct.pack(">Q", 0)), datetime(1970, 1, 1, tzinfo=timezone.utc)),
    (_field(b"d", struct.pack(">d", 1.5)), 1.5),                                       # pika read 1
    (_field(b"d", struct.pack(">d", math.inf)), math.inf),                             # pika raised
    (_field(b"f", struct.pack(">f", 0.25)), AmqpFloat(0.25)),
    (_field(b"S", struct.pack(">I", 2) + b"\xff\xfe"), AmqpBytesString(b"\xff\xfe")),  # pika: bytes, written as x
    (_field(b"D", struct.pack(">Bi", 2, 150)), Decimal("1.50")),
    (_field(b"x", struct.pack(">I", 3) + b"abc"), b"abc"),
])
def test_decoded_exactly_and_written_back_as_read(wire, expected):
    value, end = pika.data.decode_value(wire, 0)
    assert end == len(wire) and type(value) is type(expected) and value == expected
    pieces: list[bytes] = []
    pika.data.encode_value(pieces, value)
    if not isinstance(value, Decimal):  # a Decimal is written normalised (same value, maybe fewer decimals)
        assert b"".join(pieces) == wire
    assert round_trip_problem({"h": value}) is None


def test_nan_is_kept_and_round_trips():
    value, _ = pika.data.decode_value(_field(b"d", struct.pack(">d", math.nan)), 0)
    assert math.isnan(value) and round_trip_problem({"h": value}) is None


@pytest.mark.parametrize("headers, fragment", [
    ({"big": 2 ** 70}, "header 'big' cannot be written back"),
    ({"odd": {1, 2}}, "header 'odd' cannot be written back"),
    ({"ok": "x", "tuple": (1, 2)}, "header 'tuple'"),
])
def test_round_trip_problem_names_the_header(headers, fragment):
    assert fragment in (round_trip_problem(headers) or "")


def _msg(headers, **props) -> plan.Message:
    return plan.Message(coord="c", key=None, value=b"", ts_ms=None, headers=headers, decoded=None,
                        properties=props, handle=1)


def test_replayed_properties_drop_cc_bcc_and_user_id():
    m = _msg({"CC": ["payroll"], "bcc": ["audit"], "trace": "t"}, user_id="alice", message_id="m1")
    assert rabbit_io.not_republished(m) == ["CC", "bcc", "user_id"]
    props = rabbit_io._properties(m, dict(m.headers))
    assert props.headers == {"trace": "t"} and props.user_id is None and props.message_id == "m1"


@pytest.mark.parametrize("name", ["CC", "Cc", "BCC", "user_id"])
def test_edit_refuses_headers_rabbitmq_acts_on(name):
    with pytest.raises(EditError, match=f"edit.headers.{name}: never republished"):
        validate({"coord": "c", "payload": "x", "headers": {name: "q"}}, {"mode": "picked", "coords": ["c"]})


# --- fuzz: any encoded field table decodes without raising and re-encodes to the same bytes ----------------

def _short(s: bytes) -> bytes:
    return struct.pack("B", len(s)) + s


_scalar = st.one_of(
    st.integers(0, 2 ** 64 - 1).map(lambda n: b"T" + struct.pack(">Q", n)),
    st.binary(min_size=8, max_size=8).map(lambda b: b"d" + b),
    st.binary(min_size=4, max_size=4).map(lambda b: b"f" + b),
    st.integers(-2 ** 63, 2 ** 63 - 1).map(lambda n: b"l" + struct.pack(">q", n)),
    st.integers(-2 ** 31, 2 ** 31 - 1).map(lambda n: b"I" + struct.pack(">i", n)),
    st.booleans().map(lambda v: b"t" + bytes([v])),
    st.binary(max_size=40).map(lambda b: b"S" + struct.pack(">I", len(b)) + b),
    st.text(max_size=20).map(lambda t: t.encode("utf-8", "surrogatepass")).map(
        lambda b: b"S" + struct.pack(">I", len(b)) + b),
    st.binary(max_size=20).map(lambda b: b"x" + struct.pack(">I", len(b)) + b),
    st.just(b"V"),
)


def _table(children):
    entries = st.lists(st.tuples(st.text(max_size=10).map(lambda t: t.encode("utf-8", "surrogatepass")[:255]),
                                 children), max_size=4, unique_by=lambda kv: kv[0])
    return entries.map(lambda kv: b"F" + struct.pack(">I", sum(len(_short(k)) + len(v) for k, v in kv))
                       + b"".join(_short(k) + v for k, v in kv))


def _array(children):
    return st.lists(children, max_size=4).map(lambda vs: b"A" + struct.pack(">I", sum(map(len, vs))) + b"".join(vs))


_value = st.recursive(_scalar, lambda c: st.one_of(_table(c), _array(c)), max_leaves=12)


@settings(max_examples=1000, deadline=None)
@given(_value)
def test_fuzz_every_field_type_decodes_and_round_trips(wire):
    value, end = pika.data.decode_value(wire, 0)
    assert end == len(wire)
    if isinstance(value, float) and math.isnan(value):  # NaN payloads collapse to one bit pattern
        return
    assert round_trip_problem({"h": value}) is None
    pieces: list[bytes] = []
    pika.data.encode_value(pieces, value)
    again, _ = pika.data.decode_value(b"".join(pieces), 0)
    assert amqp_fields._same(value, again)
    # and the whole message's properties encode (what a replay publishes)
    pika.BasicProperties(headers={"h": value}).encode()


_PLAIN_VALUES = (st.none() | st.booleans() | st.binary(max_size=64) | st.text(max_size=64)
                 | st.integers(min_value=-2 ** 64, max_value=2 ** 64))


@settings(max_examples=400, deadline=None)
@given(st.text(max_size=300), _PLAIN_VALUES)
def test_plain_header_short_cut_agrees_with_the_full_write_and_read(name, value):
    """The short cut taken for common headers (no write-and-read) says "comes back as it is" only where the
    full write-and-read says so too."""
    pieces: list[bytes] = []
    try:
        pika.data.encode_table(pieces, {name: value})
        back, _ = pika.data.decode_table(b"".join(pieces), 0)
        same = amqp_fields._same(value, next(iter(back.values()), None)) and list(back) == [name]
    except Exception:  # noqa: BLE001 - what pika cannot write is not plain
        same = False
    if amqp_fields._plain_field(name, value):
        assert same, (name, value)
        assert round_trip_problem({name: value}) is None
    elif same:  # left to the full check, which finds nothing
        assert round_trip_problem({name: value}) is None
