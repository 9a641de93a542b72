"""views.dlq_replay: the request the one replay dialog's options make of each entry, and its selection in words."""
from __future__ import annotations

import pytest

from views.dlq_replay import describe, entry, replay_request

K = {"broker": "kafka", "cluster": "k", "dlq": "orders.dlq", "vhost": "/"}
R = {"broker": "rabbitmq", "cluster": "r", "dlq": "q.dlq", "vhost": "v"}
RANGE = (1_000, 61_000)


def _req(dlq, sel, in_range, **kw):
    opts = {"target": "", "rate": 10.0, "window": 5, "force": False, "in_range": in_range, **kw}
    return replay_request(entry(dlq, sel, RANGE, in_range), **opts)


@pytest.mark.parametrize("dlq, sel, in_range, want", [
    (K, {"mode": "picked", "coords": ["0:1", "0:5"]}, True, {"mode": "picked", "coords": ["0:1", "0:5"]}),
    (K, {"mode": "all"}, False, {"mode": "all"}),
    (K, {"mode": "all"}, True, {"mode": "filter", "from_ms": 1_000, "to_ms": 61_000}),
    (K, {"mode": "filter"}, True, {"mode": "filter", "from_ms": 1_000, "to_ms": 61_000}),
    (K, {"mode": "filter"}, False, {"mode": "all"}),  # no criterion, no range: said as the whole DLQ
    (K, {"mode": "filter", "reason": "boom", "key": ""}, False, {"mode": "filter", "reason": "boom"}),
    (R, {"mode": "filter", "exception_class": "E"}, True,
     {"mode": "filter", "exception_class": "E", "from_ms": 1_000, "to_ms": 61_000}),
])
def test_selection(dlq, sel, in_range, want):
    assert _req(dlq, sel, in_range)["selection"] == want


@pytest.mark.parametrize("dlq, kw, want", [
    (K, {}, {"target": None, "rate_per_s": 10.0, "force": False}),
    (K, {"target": "orders", "force": True}, {"target": {"topic": "orders"}, "force": True}),
    (R, {"target": "work"}, {"target": {"queue": "work"}, "window": 5}),
    (R, {"window": None}, {"target": None}),
])
def test_options(dlq, kw, want):
    req = _req(dlq, {"mode": "all"}, False, **kw)
    assert {k: req[k] for k in want} == want
    assert ("window" in req) == (dlq is R and kw.get("window", 5) is not None)  # Kafka takes no window
    assert (req["broker"], req["cluster"], req["dlq"], req["vhost"]) == tuple(dlq.values())


@pytest.mark.parametrize("sel, text", [
    ({"mode": "picked", "coords": ["0:1"]}, "1 ticked message (0:1)"),
    ({"mode": "picked", "coords": ["0:1", "0:2", "0:3", "0:4"]}, "4 ticked messages (0:1, 0:2, 0:3 +1 more)"),
    ({"mode": "all"}, "every message in the DLQ"),
    ({"mode": "filter", "reason": "boom"}, "messages with reason contains 'boom'"),
    ({"mode": "filter", "from_ms": 1, "to_ms": 2}, "messages dead-lettered t1 – t2"),
    ({"mode": "filter", "key": "a", "exception_class": "E", "from_ms": 1, "to_ms": 2},
     "messages with key contains 'a', exception class 'E' dead-lettered t1 – t2"),
])
def test_describe(sel, text):
    assert describe(sel, lambda ms: f"t{ms}") == text
