"""Consumer status by Burrow's rules, pure. Codes (``core.codes.Status``) are written as
``kafka_group_partition_status`` and ``kafka_group_status``; a higher code is worse, so a group
takes the max of its partitions:

    0 OK      lag is 0, or it is coming down / not provably growing
    1 WARN    lag > 0 and it grew over the window (never fell, never 0, ≥ ``min_points`` points)
    2 REWIND  the committed offset went backwards within the window
    3 STALL   lag > 0, committed offset unchanged for the whole window, the group has members
    4 STOP    lag > 0, committed offset unchanged for the whole window, no (known) members
    5 ERR     the partition's log-end offset could not be read

Burrow tells STALL from STOP by commit timestamps (a live consumer re-commits the same offset).
OffsetFetch does not return those and ``__consumer_offsets`` is never read, so the group's member
count stands in: a stuck partition of a group with members is STALL, one with none is STOP.

A history is a time-ordered list of ``Observation`` of one partition, trimmed by ``trim`` to the
window plus one "anchor" point at or before its start, so "unchanged for the whole window" is
provable. With a single observation and lag > 0 the status is unknown (None).
"""
from __future__ import annotations

from typing import Iterable, NamedTuple, Sequence

from core.codes import Status
from core.lag import lag_messages

__all__ = ["Observation", "Status", "group_status", "partition_status", "trim"]

class Observation(NamedTuple):
    ts_ms: int
    committed: int
    end: int | None  # None: the log-end offset could not be read this cycle

    @property
    def lag(self) -> int | None:
        return lag_messages(self.end, self.committed)


def trim(history: list[Observation], now_ms: int, window_ms: int) -> list[Observation]:
    """The points inside the window plus the newest one at or before its start (the anchor)."""
    start = now_ms - window_ms
    i = 0
    while i + 1 < len(history) and history[i + 1].ts_ms <= start:
        i += 1
    return history[i:]


def partition_status(history: Sequence[Observation], now_ms: int, window_ms: int,
                     members: int | None, min_points: int = 3) -> Status | None:
    """Status of one partition from its trimmed history (oldest first)."""
    if not history:
        return None
    cur = history[-1]
    if cur.lag is None:
        return Status.ERR
    if cur.lag == 0:
        return Status.OK
    if len(history) < 2:
        return None
    committed = [o.committed for o in history]
    if history[0].ts_ms <= now_ms - window_ms and len(set(committed)) == 1:
        return Status.STALL if members else Status.STOP
    if any(b < a for a, b in zip(committed, committed[1:])):
        return Status.REWIND
    lags = [o.lag for o in history if o.ts_ms >= now_ms - window_ms]
    if (len(lags) >= min_points and None not in lags and 0 not in lags
            and all(b >= a for a, b in zip(lags, lags[1:])) and lags[-1] > lags[0]):
        return Status.WARN
    return Status.OK


def group_status(statuses: Iterable[Status | None]) -> Status | None:
    """The worst known partition status; None when no partition's status is known."""
    known = [s for s in statuses if s is not None]
    return max(known) if known else None
