"""Pure logic of RabbitMQ streams (lag, time lag, status, the stream consumer decoder) and of the quorum
queue delivery-limit audit: tables of cases, and hypothesis for the decoders of management API data."""
from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from collectors import rabbit_quorum
from collectors.rabbit_streams import (ConsumerKey, DecodeError, StreamHistories, decode_stream_consumer, lag,
                                       live_consumers, offset, time_lag_s)
from core.codes import Status

JSON = st.recursive(st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
                    lambda c: st.lists(c, max_size=4) | st.dictionaries(st.text(max_size=20), c, max_size=4),
                    max_leaves=20)


@pytest.mark.parametrize("stored, last, expect", [
    (6, 19, 13), (19, 19, 0), (25, 19, 0),  # a stored offset past the last one read: clamped, never negative
    (0, None, None),  # the last offset could not be read: unknown, not 0
])
def test_lag(stored, last, expect):
    assert lag(stored, last) == expect


@pytest.mark.parametrize("stored, last, next_ts, now, expect", [
    (19, 19, None, 10_000, 0.0),        # at the end: 0 s even without a timestamp
    (6, 19, 4_000, 10_000, 6.0),        # now − timestamp of the first unprocessed message
    (6, 19, None, 10_000, None),        # lagging and undatable: unknown, never 0
    (6, None, 4_000, 10_000, None),     # last offset unknown
    (6, 19, 12_000, 10_000, 0.0),       # a broker clock ahead of ours: clamped at 0
])
def test_time_lag(stored, last, next_ts, now, expect):
    assert time_lag_s(stored, last, next_ts, now) == expect


K = ConsumerKey("/", "s", "c")


def _run(points, live=0, window_ms=20_000):
    """Feed (ts, stored, last) points; the status and ETA after the last one."""
    h = StreamHistories(window_ms)
    out = None
    for ts, stored, last in points:
        out = h.observe(K, stored, last, live, ts)
    return out


@pytest.mark.parametrize("points, live, status", [
    ([(0, 6, 19), (10_000, 6, 19), (20_000, 6, 19)], 0, Status.STOP),   # stopped mid-way, nobody connected
    ([(0, 6, 19), (10_000, 6, 19), (20_000, 6, 19)], 1, Status.STALL),  # connected but not moving
    ([(0, 6, 19), (10_000, 6, 19)], 0, Status.OK),                     # the window is not covered yet
    ([(0, 19, 19)], 0, Status.OK),                                     # at the end
    ([(0, 6, 19)], 0, None),                                           # one point with lag: unknown
    ([(0, 6, 19), (10_000, 8, 19), (20_000, 10, 19)], 1, Status.OK),   # catching up
    ([(0, 6, 10), (5_000, 7, 14), (10_000, 8, 18), (15_000, 9, 22)], 1, Status.WARN),  # lag growing
    ([(0, 10, 19), (10_000, 4, 19)], 1, Status.REWIND),                # stored offset went back
    ([(0, 6, 19), (10_000, 6, None)], 0, Status.ERR),                  # last offset unreadable
])
def test_status(points, live, status):
    assert _run(points, live)[0] == status


def test_drain_eta_from_the_lag_slope():
    # lag 100, 80, 60 over 20 s: 2 messages/s net, 60 left -> 30 s
    status, eta = _run([(0, 0, 100), (10_000, 20, 100), (20_000, 40, 100)], live=1)
    assert eta == pytest.approx(30.0)
    assert _run([(0, 6, 19), (10_000, 6, None)])[1] is None


def test_keep_only_forgets_gone_consumers():
    h = StreamHistories(20_000)
    h.observe(K, 1, 2, 0, 0)
    h.keep_only(set())
    assert h.seen == {}


@pytest.mark.parametrize("item, expect", [
    ({"queue": {"vhost": "/", "name": "s"}, "properties": {"name": "billing"}}, ("/", "s", "billing")),
    ({"queue": {"vhost": "/", "name": "s"}, "properties": []}, ("/", "s", None)),  # empty table renders as []
    ({"queue": {"vhost": "/", "name": "s"}}, ("/", "s", None)),
    ({"queue": {"vhost": "v", "name": "s"}, "properties": {"x": "y"}}, ("v", "s", None)),
])
def test_decode_stream_consumer(item, expect):
    assert decode_stream_consumer(item) == expect


@pytest.mark.parametrize("item, reason", [
    ("x", "not_object"), ({}, "no_queue"), ({"queue": {"vhost": "/", "name": ""}}, "bad_name"),
    ({"queue": {"vhost": "/", "name": "s" * 257}}, "bad_name"),
    ({"queue": {"vhost": "/", "name": "s"}, "properties": {"name": 5}}, "bad_name"),
    ({"queue": {"vhost": "/", "name": "s"}, "properties": "name=x"}, "bad_properties"),
    ({"queue": {"vhost": "/", "name": "s\x00"}}, "bad_name"),
])
def test_decode_stream_consumer_rejects(item, reason):
    with pytest.raises(DecodeError) as exc:
        decode_stream_consumer(item)
    assert exc.value.reason == reason


def test_live_consumers_skips_bad_items_and_counts_the_rest():
    items = [{"queue": {"vhost": "/", "name": "s"}, "properties": {"name": "a"}},
             {"queue": {"vhost": "/", "name": "s"}, "properties": {"name": "a"}},
             {"queue": {"vhost": "/", "name": "s"}, "properties": []},
             42]
    named, anonymous, errors = live_consumers(items)
    assert named == {ConsumerKey("/", "s", "a"): 2}
    assert anonymous == {("/", "s"): 1}
    assert [e.reason for e in errors] == ["not_object"]
    assert [e.reason for e in live_consumers({"error": "x"})[2]] == ["not_list"]


@settings(max_examples=300, deadline=None)
@given(JSON)
def test_stream_consumer_decoder_raises_only_its_error(item):
    try:
        vhost, stream, name = decode_stream_consumer(item)
    except DecodeError:
        return
    assert 0 < len(vhost) <= 256 and 0 < len(stream) <= 256 and (name is None or 0 < len(name) <= 256)


@settings(max_examples=200, deadline=None)
@given(st.lists(JSON, max_size=6) | JSON)
def test_live_consumers_never_raises(items):
    named, anonymous, errors = live_consumers(items)
    assert all(n > 0 for n in named.values())


@pytest.mark.parametrize("v, expect", [(0, 0), (5, 5), (-1, None), (True, None), (2 ** 63, None), ("5", None),
                                       (1.0, None)])
def test_offset(v, expect):
    assert offset(v) == expect


# ---------------------------------------------------------------- quorum queues

def q(args=None, policy=None, qtype="quorum"):
    return {"type": qtype, "arguments": args or {}, "effective_policy_definition": policy or {}}


@pytest.mark.parametrize("queue, major, expect", [
    (q({"x-delivery-limit": 3}), 3, (3, 3)),                                    # no DLX: dropped after 3
    (q({"x-delivery-limit": 3, "x-dead-letter-exchange": "dlx"}), 3, (3, 0)),
    (q({"x-delivery-limit": 3, "x-dead-letter-exchange": ""}), 3, (3, 0)),       # the default exchange
    (q(policy={"delivery-limit": 5}), 3, (5, 5)),                               # by policy
    (q(policy={"delivery-limit": 5, "dead-letter-exchange": "dlx"}), 3, (5, 0)),
    (q({"x-delivery-limit": 7}, {"delivery-limit": 4}), 3, (4, 4)),            # the lower of argument and policy
    (q({"x-delivery-limit": 2}, {"delivery-limit": 4}), 3, (2, 2)),
    (q(), 3, None),                                                            # 3.x: no limit by default
    (q(), 4, (20, 20)),                                                        # 4.0: 20 by default
    (q({"x-dead-letter-exchange": "dlx"}), 4, (20, 0)),
    (q({"x-delivery-limit": -1}), 4, None),                                    # 4.0: negative = unlimited
    (q({"x-delivery-limit": "3"}), 3, (3, 3)),                                 # a string argument
    (q({"x-delivery-limit": 3}, qtype="classic"), 3, None),                    # classic queues have none
    (q({"x-delivery-limit": 3}, qtype="stream"), 3, None),
    (q({"x-delivery-limit": True}), 3, None),
    (q({"x-delivery-limit": 3}), None, (3, 3)),                                # version unknown
])
def test_delivery_limit_audit(queue, major, expect):
    assert rabbit_quorum.audit(queue, major) == expect


@pytest.mark.parametrize("version, major", [("3.10.8", 3), ("4.0.1", 4), ("", None), (None, None), (3, None),
                                            ("x.1", None), ("12345.0", None)])
def test_major_version(version, major):
    assert rabbit_quorum.major_version(version) == major


@settings(max_examples=300, deadline=None)
@given(JSON, st.none() | st.integers(0, 9))
def test_quorum_audit_never_raises(queue, major):
    item = queue if not isinstance(queue, dict) else {**queue, "type": "quorum"}
    try:
        got = rabbit_quorum.audit(item, major) if isinstance(item, dict) else None
    except Exception as exc:  # noqa: BLE001 - the point of the test
        pytest.fail(f"audit raised {exc!r} on {item!r}")
    assert got is None or (0 <= got[0] <= 2 ** 53 and got[1] in (0, got[0]))
