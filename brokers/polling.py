"""One rule for every consumer loop Eventdeck runs (simulator services, the telemetry collector, DLQ
browse and replay reads): wait for records up to a given time, and when a poll comes back empty
before that time, pause briefly before asking again instead of asking in a tight loop.

Why: a broker may answer an empty Fetch at once instead of holding it for ``fetch_max_wait_ms``
(noida-db does; DESIGN.md "Test brokers"), and kafka-python's ``poll(timeout_ms=W)`` then re-sends
Fetch requests in its own loop for all of W — an idle consumer burns most of a core. On a real
Kafka the broker holds the Fetch for ``fetch_max_wait_ms`` anyway, so pausing between short polls
changes nothing but latency: at most ``PAUSE_S`` (half a second, never more than the caller's wait)
for the first record after an idle spell.

Demo code (``demo/``) may import this module; it imports nothing of the project.
"""
from __future__ import annotations

import time
from typing import Any, Callable, TypeVar

T = TypeVar("T")

PAUSE_S = 0.5          # pause after an early empty answer
JOIN_STEP_S = 0.1      # longest single poll while a group consumer has no partitions yet


def pause_after(empty: bool, left_s: float, pause_s: float = PAUSE_S) -> float:
    """Seconds to pause after a poll: none after records or once the wait is used up, else
    ``pause_s`` capped at what is left of the wait. Pure."""
    if not empty or left_s <= 0:
        return 0.0
    return min(pause_s, left_s)


def poll_politely(poll: Callable[[float], T], wait_s: float, *, pause_s: float = PAUSE_S,
                  clock: Callable[[], float] = time.monotonic,
                  sleep: Callable[[float], Any] = time.sleep) -> T:
    """Call ``poll(left_s)`` until it returns something truthy or ``wait_s`` has passed; each empty
    answer that came back early is followed by a pause (:func:`pause_after`). Returns the last
    answer (empty when the wait ran out)."""
    deadline = clock() + max(0.0, wait_s)
    while True:
        got = poll(max(0.0, deadline - clock()))
        pause = pause_after(not got, deadline - clock(), pause_s)
        if not pause:
            return got
        sleep(pause)


def kafka_poll(consumer: Any, wait_s: float, max_records: int | None = None, *, pause_s: float = PAUSE_S,
               clock: Callable[[], float] = time.monotonic,
               sleep: Callable[[float], Any] = time.sleep) -> dict:
    """``consumer.poll`` of a kafka-python consumer, waiting up to ``wait_s`` for records, politely.

    kafka-python's own poll loop re-fetches until its timeout, so with partitions assigned each
    step asks only for what has arrived (``timeout_ms=0``: it still sends the next Fetch and reads
    the answers) and the pause happens here. A group consumer that has no partitions yet needs
    time inside poll to join, so it gets short blocking steps (``JOIN_STEP_S``)."""
    def once(left_s: float) -> dict:
        step_ms = 0 if consumer.assignment() else int(min(left_s, JOIN_STEP_S) * 1000)
        return consumer.poll(timeout_ms=step_ms, max_records=max_records)
    return poll_politely(once, wait_s, pause_s=pause_s, clock=clock, sleep=sleep)
