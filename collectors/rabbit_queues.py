"""What the RabbitMQ collector derives per queue beyond rates, pure: error ratios that Eventdeck's
own operations cannot move, Burrow-style status and drain ETA.

Error ratio of a queue (``rabbitmq_queue_error_rate_ratio``):

* a queue whose DLQs are fed by it alone: dead-lettered / (consumed + dead-lettered), with
  dead-lettered = the inflow of its DLQs (depth deltas + the DLQs' own acks, see
  ``collectors.rabbit_rates``) and consumed = its acks + no-ack deliveries — the same definition
  as Kafka's. Browsing or dry-running a DLQ (get + requeue) leaves its depth and acks unchanged,
  and a replay acks the DLQ copy as it removes it, so neither counts as an error; a retry the
  consumer requeues is not an error until it is dead-lettered.
* a queue without a DLQ of its own (none, or one shared with other sources, where the inflow
  cannot be attributed): rejected or nacked deliveries / acknowledgeable deliveries. Eventdeck
  only browses DLQs, so its reads do not reach these queues.
* a DLQ: none (what is read from a DLQ is inspection or replay, not processing).

Status (``rabbitmq_queue_status``, ``collectors.queue_status``) and drain ETA
(``rabbitmq_queue_drain_eta_seconds``, ``collectors.drain``) come from each queue's history of ready
messages, consumers and acknowledgements over the status window.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Mapping

from collectors import drain
from collectors.kafka_lag import error_ratio
from collectors.queue_status import QueueObservation, queue_status, trim
from collectors.rabbit_rates import QueueCounters, QueueRates
from collectors.rabbit_topology import DlqInfo, QueueRef
from core.codes import Status


def error_ratios(rates: Mapping[QueueRef, QueueRates], dlqs: Mapping[QueueRef, DlqInfo]) -> dict[QueueRef, float]:
    """Error ratio of every non-DLQ queue with rates this cycle (see the module docstring)."""
    own: dict[QueueRef, list[QueueRef]] = {}
    shared: set[QueueRef] = set()
    for dlq, info in dlqs.items():
        for src in info.sources:
            if len(info.sources) == 1:
                own.setdefault(src, []).append(dlq)
            else:
                shared.add(src)
    out: dict[QueueRef, float] = {}
    for ref, r in rates.items():
        if ref in dlqs:
            continue
        ratio: float | None
        if ref in own and ref not in shared:
            inflows = [rates[d].dlq_inflow_per_s if d in rates else None for d in own[ref]]
            ratio = None if None in inflows else error_ratio(sum(inflows), r.consumed_per_s)
        else:
            ratio = r.error_ratio
        if ratio is not None:
            out[ref] = ratio
    return out


@dataclass
class QueueHistories:
    """Per-queue observations over the status window."""

    window_ms: int
    seen: dict[QueueRef, list[QueueObservation]] = field(default_factory=dict)

    def observe(self, ref: QueueRef, cur: QueueCounters, ready: float, consumers: float,
                now_ms: int) -> tuple[Status | None, float | None]:
        """Record one poll of a queue; returns its status and drain ETA (None when unknown)."""
        hist = self.seen.setdefault(ref, [])
        if hist and now_ms <= hist[-1].ts_ms:
            hist.clear()  # the clock went back: start over rather than mis-order the window
        hist.append(QueueObservation(now_ms, ready, consumers, cur.ack + cur.no_ack))
        start = now_ms - self.window_ms
        if len(hist) > 1 and hist[1].ts_ms <= start:
            hist[:] = trim(hist, now_ms, self.window_ms)
        # The drain ETA's points are those inside the window (drain.trim): the trimmed history without
        # its anchor; an observation has the ts_ms and backlog a drain.Point has.
        points = hist if hist[0].ts_ms >= start else hist[1:]
        return queue_status(hist, now_ms, self.window_ms), drain.drain_eta_s(points)

    def keep_only(self, refs: set[QueueRef]) -> None:
        for ref in self.seen.keys() - refs:
            del self.seen[ref]
