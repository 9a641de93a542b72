"""Rates and error ratios of a RabbitMQ queue from two samples of its counters (pure logic).

The management API's ``message_stats`` are cumulative counters since the queue (or the node) started.
A counter smaller than in the previous sample means it was reset (broker restart, queue re-created):
as Prometheus does, the increase over that interval is then the new value itself, never negative.

* publish / deliver / ack / redeliver rate = Δcounter / Δt (deliver is ``deliver_get``).
* reject ratio (``error_ratio``; the collector uses it only for queues without a DLQ of their own,
  see ``collectors.rabbit_queues``) = deliveries that ended in a reject or nack / acknowledgeable deliveries, where
  ended-in-reject = Δdeliveries − Δack − Δunacked (messages still unacked are not errors yet) and
  acknowledgeable deliveries = Δdeliver_get − Δ(deliver_no_ack + get_no_ack). Unknown (None)
  without deliveries in the interval.
* DLQ inflow = (Δdepth + Δack + Δno-ack deliveries) / Δt, clamped at 0: the API has no
  dead-letter counter and dead-lettered messages are not counted as publishes.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping


@dataclass(frozen=True)
class QueueCounters:
    """One observation of a queue: gauges (messages, unacked) and cumulative counters."""

    ts_ms: int
    messages: float = 0
    unacked: float = 0
    publish: float = 0
    deliver_get: float = 0
    ack: float = 0
    redeliver: float = 0
    no_ack: float = 0

    @classmethod
    def from_api(cls, item: Mapping[str, Any], ts_ms: int) -> "QueueCounters":
        """From a ``/api/queues`` item; absent ``message_stats`` fields are 0 (nothing happened yet)."""
        ms = item.get("message_stats") or {}

        def n(src: Mapping[str, Any], key: str) -> float:
            v = src.get(key)
            return float(v) if isinstance(v, (int, float)) else 0.0

        return cls(ts_ms, n(item, "messages"), n(item, "messages_unacknowledged"), n(ms, "publish"),
                   n(ms, "deliver_get"), n(ms, "ack"), n(ms, "redeliver"),
                   n(ms, "deliver_no_ack") + n(ms, "get_no_ack"))


@dataclass(frozen=True)
class QueueRates:
    seconds: float
    publish_per_s: float
    deliver_per_s: float
    ack_per_s: float
    redeliver_per_s: float
    error_ratio: float | None
    dlq_inflow_per_s: float
    consumed_per_s: float = 0.0  # acks + no-ack deliveries


_COUNTERS = ("publish", "deliver_get", "ack", "redeliver", "no_ack")


def reset_between(prev: QueueCounters, cur: QueueCounters) -> bool:
    """True when any cumulative counter went down: the broker or the queue started afresh."""
    return (cur.publish < prev.publish or cur.deliver_get < prev.deliver_get or cur.ack < prev.ack
            or cur.redeliver < prev.redeliver or cur.no_ack < prev.no_ack)  # _COUNTERS, spelt out: per queue


def queue_rates(prev: QueueCounters, cur: QueueCounters) -> QueueRates | None:
    """Rates over the interval between two observations; None if time did not move forward."""
    seconds = (cur.ts_ms - prev.ts_ms) / 1000.0
    if seconds <= 0:
        return None
    if reset_between(prev, cur):
        # Everything counted since the reset happened within this interval; in-flight messages
        # were requeued by the restart, so the previous unacked figure no longer applies.
        prev = QueueCounters(prev.ts_ms, messages=prev.messages)
    publish, deliver_get, ack = cur.publish - prev.publish, cur.deliver_get - prev.deliver_get, cur.ack - prev.ack
    redeliver, no_ack = cur.redeliver - prev.redeliver, cur.no_ack - prev.no_ack
    acking = deliver_get - no_ack
    error_ratio = None
    if acking > 0:
        rejected = acking - ack - (cur.unacked - prev.unacked)
        error_ratio = min(max(rejected, 0.0), acking) / acking
    inflow = max(cur.messages - prev.messages + ack + no_ack, 0.0)
    return QueueRates(seconds, publish / seconds, deliver_get / seconds, ack / seconds,
                      redeliver / seconds, error_ratio, inflow / seconds, (ack + no_ack) / seconds)
