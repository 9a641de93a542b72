"""Pure planning of skip-to-DLQ and offset reset (dlq.skip_plan): tables of cases, property tests."""
from __future__ import annotations

import struct

import pika
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from config.kafka import DlqTarget
from dlq import headers as hdr
from dlq import rabbit_move as rm
from dlq import skip_plan as sp


def test_skip_id_is_deterministic_and_distinct():
    a = sp.skip_id("k", "g", "orders", 0, 5)
    assert a == sp.skip_id("k", "g", "orders", 0, 5) and len(a) == 32
    others = {sp.skip_id(*args) for args in [("k2", "g", "orders", 0, 5), ("k", "g2", "orders", 0, 5),
                                              ("k", "g", "orders2", 0, 5), ("k", "g", "orders", 1, 5),
                                              ("k", "g", "orders", 0, 6), ("k", "g", "order", 0, 5)]}
    assert a not in others and len(others) == 6


def test_copy_headers_are_spring_compatible_and_keep_the_originals():
    orig = [("trace", b"1"), ("kafka_dlt-original-topic", b"older"), ("nil", None)]
    out = sp.copy_headers(orig, topic="orders", partition=3, offset=2 ** 40, timestamp_ms=1_700_000_000_123,
                          timestamp_type=0, group="svc", actor="ann", reason="NPE", copy_id="abc")
    assert out[:3] == orig
    d = hdr.decode(out)  # Eventdeck's own decoder reads the last value of a repeated header, as Spring does
    assert (d.origins[0].topic, d.origins[0].partition, d.origins[0].offset) == ("orders", 3, 2 ** 40)
    assert (d.exception_class, d.exception_message) == ("eventdeck.SkippedByOperator", "NPE")
    h = dict(out[3:])
    assert struct.unpack(">q", h["kafka_dlt-original-timestamp"])[0] == 1_700_000_000_123
    assert h["kafka_dlt-original-timestamp-type"] == b"CreateTime"
    assert (h[sp.SKIPPED_BY], h[sp.SKIP_REASON], h[sp.SKIP_ID]) == (b"ann", b"NPE", b"abc")
    assert sp.header_value(out, "kafka_dlt-original-topic") == b"orders"
    no_ts = dict(sp.copy_headers([], topic="t", partition=0, offset=0, timestamp_ms=-1, timestamp_type=None,
                                 group="g", actor="a", reason="r", copy_id="i"))
    assert "kafka_dlt-original-timestamp" not in no_ts


DLQ_CASES = [  # (topic, group, dlq_map, existing, explicit, expected or error text)
    ("orders", "svc", {}, {"orders", "orders.DLT"}, None, "orders.DLT"),
    ("orders", "svc", {}, {"orders", "orders-dlt", "orders.dlq"}, None, "orders.dlq"),  # pattern order
    ("orders", "svc", {"x.dlq": DlqTarget(source_topic="orders", group="other"),
                       "y.dlq": DlqTarget(source_topic="orders", group="svc")}, {"x.dlq", "y.dlq"}, None, "y.dlq"),
    ("orders", "svc", {"x.dlq": DlqTarget(source_topic="orders")}, {"x.dlq", "orders.DLT"}, None, "x.dlq"),
    ("orders", "svc", {"x.dlq": DlqTarget(source_topic="orders")}, {"orders.DLT"}, None, "orders.DLT"),
    ("orders", "svc", {}, {"orders", "mine"}, "mine", "mine"),
    ("orders", "svc", {}, {"orders"}, "mine", "does not exist"),
    ("orders", "svc", {}, {"orders"}, None, "no DLQ topic"),
]


@pytest.mark.parametrize("topic,group,dmap,existing,explicit,want", DLQ_CASES)
def test_group_dlq(topic, group, dmap, existing, explicit, want):
    patterns = ["*.dlq", "*-dlq", "*.DLT", "*-dlt", "*_dlq", "dlq.*"]
    if want in existing:
        assert sp.group_dlq(topic, group, dmap, patterns, existing, explicit) == want
    else:
        with pytest.raises(sp.Refused, match=want):
            sp.group_dlq(topic, group, dmap, patterns, existing, explicit)


SKIP_CASES = [  # committed, offset, count, start, end, present -> offsets, commit_to, already_past | error
    (5, None, 1, 0, 10, [5], ((5,), 6, False)),
    (5, 5, 3, 0, 10, [5, 7], ((5, 7), 8, False)),  # a compacted gap at 6
    (6, 5, 1, 0, 10, [], ((), 6, True)),
    (None, 4, 1, 0, 10, [4], ((4,), 5, False)),
    (None, None, 1, 0, 10, [], "no committed offset"),
    (10, None, 1, 0, 10, [], "the log ends at 10"),
    (2, None, 1, 3, 10, [], "before the log start"),
    (5, 7, 1, 0, 10, [7], "would skip other records"),
    (5, 3, 3, 0, 10, [3, 4, 5], "would re-read"),
    (5, 3, 1, 0, 10, [3], ((), 4, True)),  # the group is already past offset 3
    (5, None, 0, 0, 10, [], "count"),
    (5, None, 1001, 0, 2000, [], "count"),
]


@pytest.mark.parametrize("committed,offset,count,start,end,present,want", SKIP_CASES)
def test_plan_skip(committed, offset, count, start, end, present, want):
    if isinstance(want, str):
        with pytest.raises(sp.Refused, match=want):
            sp.plan_skip("t", 1, committed, offset, count, start, end, present, "t.DLT", 1)
        return
    p = sp.plan_skip("t", 1, committed, offset, count, start, end, present, "t.DLT", 3)
    assert (p.offsets, p.commit_to, p.already_past) == want
    assert p.dlq_partition == 1 and p.describe()


RESET_CASES = [  # spec, committed, start, end, by_time -> new, skipped, reread
    (sp.ResetSpec("earliest"), 50, 10, 100, None, (10, 0, 40)),
    (sp.ResetSpec("latest"), 50, 10, 100, None, (100, 50, 0)),
    (sp.ResetSpec("offset", 70), 50, 10, 100, None, (70, 20, 0)),
    (sp.ResetSpec("offset", 500), 50, 10, 100, None, (100, 50, 0)),  # clamped to the log end
    (sp.ResetSpec("offset", 0), 50, 10, 100, None, (10, 0, 40)),  # clamped to the log start
    (sp.ResetSpec("shift", -5), 50, 10, 100, None, (45, 0, 5)),
    (sp.ResetSpec("shift", 8), 50, 10, 100, None, (58, 8, 0)),
    (sp.ResetSpec("timestamp", 123), 50, 10, 100, 30, (30, 0, 20)),
    (sp.ResetSpec("timestamp", 123), 50, 10, 100, None, (100, 50, 0)),  # nothing at/after the time
    (sp.ResetSpec("earliest"), None, 10, 100, None, (10, 0, 0)),
    (sp.ResetSpec("latest"), None, 10, 100, None, (100, 90, 0)),
    (sp.ResetSpec("earliest"), 5, 10, 100, None, (10, 0, 0)),  # committed before the log start
]


@pytest.mark.parametrize("spec,cur,start,end,by_time,want", RESET_CASES)
def test_plan_reset(spec, cur, start, end, by_time, want):
    tp = ("t", 0)
    plan = sp.plan_reset(spec, [tp], {tp: cur}, {tp: start}, {tp: end}, {tp: by_time})
    (row,) = plan.rows()
    assert (row["new"], row["skipped"], row["reread"]) == want
    assert plan.changes == ({} if row["new"] == cur else {tp: row["new"]})


@pytest.mark.parametrize("mode,value,err", [("sideways", None, "reset mode"), ("offset", None, "whole number"),
                                            ("offset", -1, ">= 0"), ("timestamp", 1.5, "whole number"),
                                            ("shift", True, "whole number")])
def test_reset_spec_refusals(mode, value, err):
    with pytest.raises(sp.Refused, match=err):
        sp.ResetSpec(mode, value)


def test_shift_without_commit_and_empty_reset_are_refused():
    with pytest.raises(sp.Refused, match="no committed offset to shift"):
        sp.plan_reset(sp.ResetSpec("shift", 1), [("t", 0)], {}, {("t", 0): 0}, {("t", 0): 5})
    with pytest.raises(sp.Refused, match="no partitions"):
        sp.plan_reset(sp.ResetSpec("latest"), [], {}, {}, {})


@pytest.mark.parametrize("role,read_only,err", [("viewer", False, "operator role"), ("operator", True, "read-only"),
                                                ("viewer", True, "operator role")])
def test_role_and_read_only_refusals(role, read_only, err):
    with pytest.raises(sp.Refused, match=err):
        sp.require_operator(role, "skip-to-DLQ")
        sp.require_writable("k", read_only, "skip-to-DLQ")


@settings(max_examples=1000)
@given(st.one_of(st.none(), st.text(max_size=2000)))
def test_check_reason_raises_only_refused(text):
    try:
        out = sp.check_reason(text)
    except sp.Refused:
        return
    assert out and len(out) <= sp.MAX_REASON


@settings(max_examples=1000)
@given(st.sampled_from(sp.RESET_MODES), st.one_of(st.none(), st.integers(-2 ** 70, 2 ** 70), st.floats(),
                                                   st.text(max_size=5)),
       st.one_of(st.none(), st.integers(0, 10 ** 6)), st.integers(0, 10 ** 6), st.integers(0, 10 ** 6))
def test_plan_reset_is_clamped_or_refused(mode, value, cur, start, length):
    end = start + length
    try:
        spec = sp.ResetSpec(mode, value)
        plan = sp.plan_reset(spec, [("t", 0)], {("t", 0): cur}, {("t", 0): start}, {("t", 0): end}, {})
    except sp.Refused:
        return
    (row,) = plan.rows()
    assert start <= row["new"] <= end and row["skipped"] >= 0 and row["reread"] >= 0


_header_values = st.recursive(st.one_of(st.none(), st.booleans(), st.integers(-2 ** 70, 2 ** 70), st.floats(),
                                        st.text(max_size=20), st.binary(max_size=20)),
                              lambda inner: st.one_of(st.lists(inner, max_size=3),
                                                      st.dictionaries(st.text(max_size=5), inner, max_size=3)),
                              max_leaves=8)


@settings(max_examples=1000, deadline=None)
@given(st.dictionaries(st.text(max_size=20), _header_values, max_size=6), st.binary(max_size=64), st.booleans(),
       st.one_of(st.none(), st.text(max_size=10)), st.one_of(st.none(), st.integers(-1, 2 ** 64)))
def test_rabbit_move_reads_hostile_headers_without_raising(headers, body, redelivered, message_id, timestamp):
    props = pika.BasicProperties(headers=headers, message_id=message_id, timestamp=timestamp)
    count = rm.delivery_count(props)
    assert count is None or (isinstance(count, int) and count >= 0)
    assert isinstance(rm.is_rejected(redelivered, props), bool)
    mid = rm.move_id("q", "/", body, props)
    assert len(mid) == 32 and mid == rm.move_id("q", "/", body, props)
