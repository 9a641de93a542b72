"""Burrow-style status of a RabbitMQ queue, pure; the same codes (``core.codes.Status``) and
colours as Kafka groups, written as ``rabbitmq_queue_status``:

    0 OK     no backlog (ready messages), or it is not provably growing
    1 WARN   backlog > 0 and it grew over the window (never fell, never 0, ≥ ``min_points`` points)
    3 STALL  backlog > 0 for the whole window, consumers attached, no acknowledgement over it
    4 STOP   backlog > 0 for the whole window with no consumer attached over it (or none now
             and no acknowledgement over it)

"The whole window" needs a point at or before its start (as ``collectors.burrow``); before that a
stuck queue is OK at worst, as a young Kafka partition is. Acknowledgements count acks plus no-ack
deliveries (auto-ack consumers), both cumulative counters; a reset counter (broker restart) is a
change. A single observation with a backlog is unknown (None).
"""
from __future__ import annotations

from typing import NamedTuple, Sequence

from collectors.burrow import trim
from core.codes import Status

__all__ = ["QueueObservation", "queue_status", "trim"]


class QueueObservation(NamedTuple):
    ts_ms: int
    backlog: float  # ready messages
    consumers: float
    acked: float  # cumulative acks + no-ack deliveries


def queue_status(history: Sequence[QueueObservation], now_ms: int, window_ms: int,
                 min_points: int = 3) -> Status | None:
    """Status of one queue from its trimmed history (oldest first; see ``burrow.trim``)."""
    if not history:
        return None
    cur = history[-1]
    if cur.backlog <= 0:
        return Status.OK
    if len(history) < 2:
        return None
    covered = history[0].ts_ms <= now_ms - window_ms
    backlogged = all(o.backlog > 0 for o in history)
    if covered and backlogged:
        if all(o.consumers <= 0 for o in history):
            return Status.STOP
        if len({o.acked for o in history}) == 1:  # nothing acknowledged over the window
            return Status.STALL if cur.consumers > 0 else Status.STOP
    in_window = [o.backlog for o in history if o.ts_ms >= now_ms - window_ms]
    if (len(in_window) >= min_points and 0 not in in_window
            and all(b >= a for a, b in zip(in_window, in_window[1:])) and in_window[-1] > in_window[0]):
        return Status.WARN
    return Status.OK
