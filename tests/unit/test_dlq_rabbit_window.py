"""dlq.rabbit_window: the pure bookkeeping of a windowed RabbitMQ replay, as tables of cases.

Each case is a script of events (publish, confirm, nack, return, lost channel, deliver, hold, ack) and
what the window must say afterwards.
"""
from __future__ import annotations

import pytest

from dlq import plan
from dlq.rabbit_window import MAX_PREFETCH, Flight, Window
from dlq.targets import Target

QUEUE = Target("rabbitmq", "x-death", exchange="", routing_key="orders")
EXCHANGE = Target("rabbitmq", "x-death", exchange="ex", routing_key="rk")


def flight(n: int, rid: str | None = None, target: Target = QUEUE) -> Flight:
    item = plan.PlanItem(f"c{n}", rid or f"r{n}", "replay", target, "to orders")
    return Flight(item, tag=n, target=target, body=b"x", props=None)


def run(size: int, script: list[tuple]) -> tuple[Window, dict[int, Flight]]:
    """Play ``script`` on a fresh window; flights are numbered as published (1, 2, ...)."""
    w = Window(size)
    flights: dict[int, Flight] = {}
    for ev, *args in script:
        if ev == "pub":
            for n in args:
                flights[n] = flight(n, *(("dup",) if n < 0 else ()))
                w.published(flights[n])
        elif ev == "ack":
            w.confirm(args[0], multiple=args[1], nack=False)
        elif ev == "nack":
            w.confirm(args[0], multiple=args[1], nack=True)
        elif ev == "return":
            w.returned(args[0])
        elif ev == "lost":
            w.channel_lost(args[0])
        elif ev == "reopen":
            w.channel_opened()
        else:
            raise AssertionError(ev)
    return w, flights


# (window size, events, seqs still in flight, (flight number, problem prefix or None) settled in order, room)
PUBLISH_CASES = [
    (3, [("pub", 1, 2)], [1, 2], [], True),
    (2, [("pub", 1, 2)], [1, 2], [], False),  # full: two published and not recorded
    (2, [("pub", 1, 2), ("ack", 1, False)], [2], [(1, None)], False),  # confirmed but not yet recorded: still counts
    (3, [("pub", 1, 2, 3), ("ack", 2, True)], [3], [(1, None), (2, None)], False),  # multiple: all up to 2
    (3, [("pub", 1, 2, 3), ("ack", 2, False)], [1, 3], [(2, None)], False),  # single, out of order
    (3, [("pub", 1, 2), ("ack", 9, False)], [1, 2], [], True),  # a confirm of an unknown tag settles nothing
    (3, [("pub", 1, 2), ("nack", 2, True)], [], [(1, "the broker nacked"), (2, "the broker nacked")], True),
    (3, [("pub", 1, 2), ("return", "r2"), ("ack", 2, True)], [],
     [(1, None), (2, "unroutable to queue orders (from x-death): queue 'orders' does not exist")], True),
    (3, [("pub", 1), ("return", "someone-else"), ("ack", 1, False)], [], [(1, None)], True),  # not ours
    (3, [("pub", 1, 2), ("lost", "406 PRECONDITION_FAILED")], [],
     [(1, "publish to queue orders (from x-death) refused: 406 PRECONDITION_FAILED"),
      (2, "publish to queue orders (from x-death) refused: 406")], True),
    # after a lost channel the next one numbers its publishes from 1 again
    (3, [("pub", 1), ("lost", "gone"), ("reopen",), ("pub", 2), ("ack", 1, False)], [],
     [(1, "publish to"), (2, None)], True),
]


@pytest.mark.parametrize("size, script, inflight, settled, room", PUBLISH_CASES)
def test_publish_window(size, script, inflight, settled, room):
    w, flights = run(size, script)
    assert list(w.inflight) == inflight
    got = w.confirmed
    assert [f.tag for f in got] == [n for n, _ in settled]
    for f, (_, problem) in zip(got, settled):
        assert (f.problem is None) if problem is None else f.problem.startswith(problem), f.problem
    assert w.has_room() is room
    assert w.unsettled is bool(inflight or settled)
    assert w.take_confirmed() == got and w.confirmed == []
    assert set(w.by_rid) == {flights[s].item.replay_id for s in w.inflight} if w.inflight else w.by_rid == {}


def test_return_marks_the_oldest_unmarked_publish_of_the_id():
    """The same replay id published twice (a resumed copy met again): each return fails one, oldest first."""
    w = Window(4)
    a, b = flight(1, "dup"), flight(2, "dup", EXCHANGE)
    w.published(a)
    w.published(b)
    assert w.returned("dup") is a
    assert w.returned("dup") is b and b.problem.endswith("no queue is bound for it (returned by the broker)")
    assert w.returned("dup") is None
    w.confirm(1, multiple=False, nack=False)
    assert list(w.by_rid["dup"]) == [2]
    w.confirm(2, multiple=False, nack=True)
    assert "dup" not in w.by_rid and b.problem.startswith("unroutable")  # a nack keeps the first reason


# (window size, deliveries, held tags in order with "more coming", acks asked, (multiple, singles), open after,
#  prefetch after, restarts asked)
COPY_CASES = [
    (2, [1, 2, 3], [], [1, 2, 3], (3, []), [], 4, 0),
    (2, [1, 2, 3, 4], [], [1, 2, 4], (2, [4]), [3], 4, 0),  # 3 still being handled
    (2, [1, 2, 3, 4], [(2, True)], [1, 3, 4], (None, [1, 3, 4]), [], 4, 0),  # held 2: never crossed
    (4, [5, 6, 7, 8], [(5, True)], [6, 7, 8], (None, [6, 7, 8]), [], 8, 0),  # held below: one by one
    (4, [5, 6, 7, 8, 9], [(9, True)], [5, 6, 7, 8], (8, []), [], 8, 0),  # held beyond the run
    (2, [1, 2], [], [], (None, []), [1, 2], 4, 0),  # nothing to ack
    # prefetch 4, window 2: the second copy held leaves 2 <= window: grow to 4 + 2 + 2 = 8, restart
    (2, [1, 2, 3], [(1, True), (2, True)], [3], (None, [3]), [], 8, 1),
    (2, [1, 2, 3], [(1, True), (2, False)], [3], (None, [3]), [], 4, 0),  # nothing more due: no restart
]


@pytest.mark.parametrize("size, delivered, holds, ack, want, open_after, prefetch, restarts", COPY_CASES)
def test_dlq_copies(size, delivered, holds, ack, want, open_after, prefetch, restarts):
    w = Window(size)
    for t in delivered:
        w.delivered(t)
    asked = 0
    for tag, more in holds:
        if w.hold(tag, more_coming=more):
            asked += 1
            w.consumer_restarted()
    assert w.acks(ack) == want
    assert list(w.open_tags) == open_after
    assert w.prefetch == prefetch and asked == restarts
    multiple, singles = want
    assert w.first_held is None or multiple is None or multiple < w.first_held


def test_prefetch_grows_with_the_copies_held_and_stops_at_the_amqp_limit():
    w = Window(plan.MAX_WINDOW)
    assert w.prefetch == 2 * plan.MAX_WINDOW
    restarts = 0
    for tag in range(1, 7 * plan.MAX_WINDOW):
        if w.hold(tag, more_coming=True):
            restarts += 1
            w.consumer_restarted()
        assert w.prefetch <= MAX_PREFETCH
        assert w.first_held == 1
    assert w.prefetch == MAX_PREFETCH and restarts >= 1
    assert not w.hold(10 ** 6, more_coming=True)  # at the limit: never asked to restart again


def test_properties_encoded_once_are_the_same_bytes_and_each_caller_gets_a_copy():
    import pika

    from dlq.rabbit_replay import _OnceEncoded

    p = pika.BasicProperties(message_id="7", delivery_mode=2, headers={"a": "b", "n": 1, "t": {"x": [1, "y"]}})
    once = _OnceEncoded.of(p)
    first = once.encode()
    first.insert(0, b"frame header")  # what pika's header frame does to the list it gets
    assert b"".join(once.encode()) == b"".join(p.encode())
    assert (once.message_id, once.headers) == ("7", p.headers)


@pytest.mark.parametrize("target, headers, problem", [
    (QUEUE, {"x-first-death-queue": "orders"}, None),
    (QUEUE, {"huge": 2 ** 70}, "error: int too large"),  # pika cannot write it at all
    (QUEUE, {"when": __import__("datetime").datetime(2026, 1, 1, 12, 0, 0, 500_000)},
     "header 'when' would not be republished as read"),  # AMQP timestamps are whole seconds
    (Target("rabbitmq", "explicit", exchange="", routing_key="q" * 256), {}, "ShortStringTooLong"),
])
def test_encoding_problem_checks_the_message_headers_and_the_publish(target, headers, problem):
    import pika

    from dlq.rabbit_replay import _OnceEncoded, _encoding_problem

    props = _OnceEncoded.of(pika.BasicProperties(headers={**headers, **plan.replay_headers({}, "r" * 32, 1, QUEUE)}))
    got = _encoding_problem(target, props)
    assert got is None if problem is None else (got or "").startswith(problem), got
