"""RabbitMQ stream consumers, pure: lag, exact time lag, Burrow status and drain ETA per
(vhost, stream, consumer name), and the decoder of the management API's stream consumer list.

A stream keeps its messages after they are read, so its depth says nothing about its consumers.
A named consumer stores its position with the stream protocol's ``store_offset``; by the convention
of every RabbitMQ stream client that position is the offset of the **last message processed**, and
the consumer resumes at the next one. Hence, per consumer name:

* lag (messages) = the stream's last offset − the stored offset, clamped at 0 (``core.lag``). Like
  Kafka's (which counts transaction markers), it counts offsets, and RabbitMQ 3.10 writes its
  offset-tracking entries into the stream as offsets of their own: a lag can exceed the user
  messages behind by the number of tracking writes in between (measured: 3 ``store_offset`` calls
  in a row took one offset).
* time lag (seconds) = now − the timestamp of the first message not yet processed (the first
  message at or after stored offset + 1: the chunk timestamp the broker wrote when it appended the
  message, delivered by the stream protocol). Exact, as Kafka's at the committed offset; 0 when the
  consumer is at the end; unknown (None), never 0, when it could not be read.
* status by Burrow's rules (``collectors.burrow``, the codes of ``core.codes.Status``): the stored
  offset plays the committed offset and the last offset + 1 the log end. STALL vs STOP by whether a
  subscription with that name is connected now (the management API's stream consumers, attributed
  by the subscription property ``name``): a stopped consumer is invisible there and keeps its stored
  offset — STOP once the window proves it. ERR when the stream's last offset could not be read.
* drain ETA (``collectors.drain``) from the lag's points over the status window.

Which names are queried: the configured ``stream_consumers`` plus every name seen on a live
subscription (remembered while the collector runs). RabbitMQ 3.10 has no way to list the names
that have a stored offset (neither the stream protocol nor the management API), so a consumer that
stopped before Eventdeck first saw it is found only if it is configured.
"""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from collectors import drain
from collectors.burrow import Observation, partition_status, trim
from core.codes import Status
from core.lag import lag_messages

MAX_NAME = 256
MAX_OFFSET = 2 ** 63 - 1


class ConsumerKey(NamedTuple):
    vhost: str
    stream: str
    name: str


class DecodeError(ValueError):
    """One management API stream consumer item could not be decoded; ``reason`` is a slug."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(detail)
        self.reason = reason


def _name(v: Any, what: str) -> str:
    if not isinstance(v, str) or not v or len(v) > MAX_NAME or "\x00" in v:
        raise DecodeError("bad_name", f"{what} is not a name of 1..{MAX_NAME} characters: {v!r:.80}")
    return v


def decode_stream_consumer(item: Any) -> tuple[str, str, str | None]:
    """(vhost, stream, consumer name or None when the subscription carries no ``name`` property) of one
    item of ``GET /api/stream/consumers``; raises ``DecodeError`` only."""
    if not isinstance(item, dict):
        raise DecodeError("not_object", f"stream consumer item is not an object: {type(item).__name__}")
    queue = item.get("queue")
    if not isinstance(queue, dict):
        raise DecodeError("no_queue", "stream consumer item has no 'queue' object")
    vhost, stream = _name(queue.get("vhost"), "queue.vhost"), _name(queue.get("name"), "queue.name")
    props = item.get("properties")
    if props is None or (isinstance(props, (dict, list)) and not props):
        return vhost, stream, None  # the API renders an empty property table as []
    if not isinstance(props, dict):
        raise DecodeError("bad_properties", f"stream consumer 'properties' is not an object: {type(props).__name__}")
    name = props.get("name")
    return vhost, stream, None if name is None else _name(name, "properties.name")


def live_consumers(items: Any) -> tuple[Counter[ConsumerKey], Counter[tuple[str, str]], list[DecodeError]]:
    """Live subscriptions per consumer name, anonymous ones per (vhost, stream), and the items skipped."""
    named: Counter[ConsumerKey] = Counter()
    anonymous: Counter[tuple[str, str]] = Counter()
    errors: list[DecodeError] = []
    if not isinstance(items, list):
        return named, anonymous, [DecodeError("not_list", f"stream consumers answer is not a list: "
                                                          f"{type(items).__name__}")]
    for item in items:
        try:
            vhost, stream, name = decode_stream_consumer(item)
        except DecodeError as exc:
            errors.append(exc)
            continue
        if name is None:
            anonymous[(vhost, stream)] += 1
        else:
            named[ConsumerKey(vhost, stream, name)] += 1
    return named, anonymous, errors


def offset(v: Any) -> int | None:
    """An offset from the stream protocol or None when it is not a valid one (0..2^63-1)."""
    if isinstance(v, bool) or not isinstance(v, int) or not 0 <= v <= MAX_OFFSET:
        return None
    return v


def time_lag_s(stored: int, last: int | None, next_ts_ms: int | None, now_ms: int) -> float | None:
    """Seconds behind: 0 at the end of the stream, else now − the timestamp of the first unprocessed
    message; None when the last offset or that timestamp is unknown."""
    if last is None:
        return None
    if stored >= last:
        return 0.0
    if next_ts_ms is None:
        return None
    return max(0.0, (now_ms - next_ts_ms) / 1000.0)


@dataclass
class StreamHistories:
    """Per-consumer observations over the status window (as ``collectors.rabbit_queues.QueueHistories``)."""

    window_ms: int
    seen: dict[ConsumerKey, list[Observation]] = field(default_factory=dict)

    def observe(self, key: ConsumerKey, stored: int, last: int | None, live: int,
                now_ms: int) -> tuple[Status | None, float | None]:
        """Record one reading of a consumer's stored offset; its status and drain ETA (None: unknown)."""
        hist = self.seen.setdefault(key, [])
        if hist and now_ms <= hist[-1].ts_ms:
            hist.clear()  # the clock went back: start over rather than mis-order the window
        # As Burrow's (end, committed): (last offset, stored offset), so its lag is last − stored.
        hist.append(Observation(now_ms, stored, last))
        hist[:] = trim(hist, now_ms, self.window_ms)
        status = partition_status(hist, now_ms, self.window_ms, live)
        points = drain.trim([drain.Point(o.ts_ms, float(o.lag)) for o in hist if o.lag is not None],
                            now_ms, self.window_ms)
        return status, (drain.drain_eta_s(points) if last is not None else None)

    def keep_only(self, keys: set[ConsumerKey]) -> None:
        for key in self.seen.keys() - keys:
            del self.seen[key]


def lag(stored: int, last: int | None) -> int | None:
    """Messages (offsets) behind: last offset − stored offset, clamped at 0; None when unknown."""
    return lag_messages(last, stored)
