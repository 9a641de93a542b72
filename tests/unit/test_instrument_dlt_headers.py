"""Spring-compatible DLT headers, read back by the DLQ helper's decoder."""
from __future__ import annotations

import struct

import pytest

from dlq import headers as dlq_headers
from instrument.dlt_headers import MAX_STACKTRACE_BYTES, dlt_headers, with_dlt_headers


class PaymentDeclined(Exception):
    pass


def _raised() -> PaymentDeclined:
    try:
        raise PaymentDeclined("card 4242 declined")
    except PaymentDeclined as exc:
        return exc


def test_binary_layout_is_spring_compatible():
    h = dict(dlt_headers("orders", 7, 2 ** 40, 1_700_000_000_123, _raised(), group="payment"))
    assert h["kafka_dlt-original-topic"] == b"orders"
    assert h["kafka_dlt-original-partition"] == struct.pack(">i", 7) and len(h["kafka_dlt-original-partition"]) == 4
    assert h["kafka_dlt-original-offset"] == struct.pack(">q", 2 ** 40) and len(h["kafka_dlt-original-offset"]) == 8
    assert struct.unpack(">q", h["kafka_dlt-original-timestamp"])[0] == 1_700_000_000_123
    assert h["kafka_dlt-original-consumer-group"] == b"payment"
    assert h["kafka_dlt-exception-fqcn"] == f"{__name__}.PaymentDeclined".encode()
    assert h["kafka_dlt-exception-message"] == b"card 4242 declined"
    assert b"PaymentDeclined: card 4242 declined" in h["kafka_dlt-exception-stacktrace"]


def test_dlq_decoder_reads_them_back():
    decoded = dlq_headers.decode(dlt_headers("orders", 2, 41, 5, _raised()))
    spring = [o for o in decoded.origins if o.source == "spring"][0]
    assert (spring.topic, spring.partition, spring.offset) == ("orders", 2, 41)
    assert decoded.exception_class == f"{__name__}.PaymentDeclined"
    assert decoded.exception_message == "card 4242 declined"


@pytest.mark.parametrize("args, message", [
    (("", 0, 0), "topic is empty"),                 # nowhere to replay to
    (("t", 2 ** 31, 0), "does not fit 4 bytes"),    # partition field is a 4-byte int
    (("t", -1, 0), "does not fit 4 bytes"),         # negative partition
    (("t", 0, -5), "negative"),                     # offsets start at 0
])
def test_bad_coordinates_are_refused(args, message):
    with pytest.raises(ValueError, match=message):
        dlt_headers(*args, None, _raised())


def test_no_timestamp_means_no_timestamp_headers():
    names = [k for k, _ in dlt_headers("t", 0, 0, None, _raised())]
    assert "kafka_dlt-original-timestamp" not in names and "kafka_dlt-original-consumer-group" not in names


def test_stacktrace_is_bounded_keeping_the_end():
    exc = ValueError("x" * (MAX_STACKTRACE_BYTES * 2))
    st = dict(dlt_headers("t", 0, 0, None, exc))["kafka_dlt-exception-stacktrace"]
    assert len(st) == MAX_STACKTRACE_BYTES and st.endswith(b"xx\n")


def test_earlier_dlt_headers_are_replaced_and_others_kept():
    old = [("trace-id", b"abc"), ("kafka_dlt-original-topic", b"older")]
    merged = with_dlt_headers(old, dlt_headers("orders", 0, 1, None, _raised()))
    assert merged[0] == ("trace-id", b"abc")
    assert [v for k, v in merged if k == "kafka_dlt-original-topic"] == [b"orders"]
