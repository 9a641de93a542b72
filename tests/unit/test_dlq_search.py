"""DLQ search query decoder, matching, and the export formats (pure)."""
from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dlq import headers as hdr
from dlq import plan
from dlq import search as se


def _msg(key=b"order-1", value=b'{"id": 4711}', headers=None, ts=1_700_000_000_000, offset=3):
    headers = [("kafka_dlt-exception-fqcn", b"org.acme.TimeoutException"),
               ("kafka_dlt-exception-message", b"payment gateway timed out"),
               ("trace-id", b"abc-123")] if headers is None else headers
    decoded, _ = hdr.decode_lenient(headers)
    return plan.Message(coord=plan.kafka_coord(0, offset), key=key, value=value, ts_ms=ts, headers=headers,
                        decoded=decoded, partition=0, offset=offset)


MATCH_CASES = [
    ({}, True),
    ({"key": "order-1"}, True), ({"key": "order-2"}, False),
    ({"payload": "4711"}, True), ({"payload": "4712"}, False),
    ({"exception": "timeoutexception"}, True), ({"exception": "gateway timed"}, True), ({"exception": "NPE"}, False),
    ({"reason": "timed out"}, True), ({"reason": "refused"}, False),
    ({"header": "trace-id"}, True), ({"header": "trace-id=abc"}, True), ({"header": "trace-id=xyz"}, False),
    ({"header": "span-id"}, False),
    ({"key": "order", "payload": "4711", "header": "trace-id=123"}, True),
    ({"key": "order", "payload": "nope"}, False),
]


@pytest.mark.parametrize("query,want", MATCH_CASES)
def test_matches(query, want):
    assert se.matches(se.parse_query(query), _msg()) is want


def test_null_key_and_payload_never_crash():
    m = _msg(key=None, value=None, headers=[])
    assert se.matches(se.parse_query({}), m)
    assert not se.matches(se.parse_query({"key": "x"}), m)
    assert not se.matches(se.parse_query({"payload": "x"}), m)


@pytest.mark.parametrize("raw,err", [({"key": 5}, "query.key"), ({"color": "x"}, "unknown field"),
                                     ({"payload": "x" * 1025}, "query.payload"), ({"header": "=x"}, "query.header"),
                                     ({"reason": "\ud800"}, "query.reason"), ([1], "mapping")])
def test_query_errors_name_the_field(raw, err):
    with pytest.raises(se.QueryError, match=err):
        se.parse_query(raw)


@settings(max_examples=1000)
@given(st.one_of(st.none(), st.dictionaries(st.sampled_from([*se.FIELDS, "x"]),
                                            st.one_of(st.none(), st.text(max_size=1100), st.integers()))))
def test_parse_query_raises_only_query_error(raw):
    try:
        q = se.parse_query(raw)
    except se.QueryError:
        return
    se.matches(q, _msg())  # a decoded query is safe to match with


_bytes = st.one_of(st.none(), st.binary(max_size=64))


@given(key=_bytes, value=_bytes, headers=st.lists(st.tuples(st.text(min_size=1, max_size=12), _bytes), max_size=5),
       ts=st.one_of(st.none(), st.integers(0, 2 ** 53)), fmt=st.sampled_from(["jsonl", "csv"]))
def test_export_round_trips_bytes_headers_timestamps(key, value, headers, ts, fmt):
    m = _msg(key=key, value=value, headers=headers, ts=ts)
    rec = se.export_record(m)
    data = se.to_jsonl([rec, rec]) if fmt == "jsonl" else se.to_csv([rec, rec])
    back = se.read_export(data, fmt)
    assert len(back) == 2
    for b in back:
        assert (b["key"], b["value"], b["headers"], b["timestamp_ms"]) == (key, value, headers, ts)
        assert (b["coord"], b["partition"], b["offset"]) == (m.coord, 0, 3)


def test_export_keeps_the_decoded_reason():
    (row,) = se.read_export(se.to_csv([se.export_record(_msg())]), "csv")
    assert row["exception_class"] == "org.acme.TimeoutException" and "timed out" in row["reason"]
