"""Pure arithmetic of the Kafka collector: committed offsets, offset-delta rates, error ratio.
(The lag clamp is ``core.lag``, group-state codes ``core.codes``, DLQ sources ``brokers.naming``.)"""
from __future__ import annotations

from typing import Hashable, Mapping


def committed_or_none(offset: int | None) -> int | None:
    """Kafka answers -1 for a partition without a commit: that is "no offset", not offset -1."""
    return offset if offset is not None and offset >= 0 else None


def offset_rate(prev: Mapping[Hashable, int], cur: Mapping[Hashable, int], dt_ms: int) -> float | None:
    """Per-second rate of the summed forward movement of offsets present in both snapshots.

    A key whose offset went down (topic re-created, group rewound) is left out, since its delta
    says nothing about throughput. None when nothing is comparable or no time passed."""
    if dt_ms <= 0:
        return None
    deltas = [cur[k] - prev[k] for k in cur.keys() & prev.keys() if cur[k] >= prev[k]]
    if not deltas:
        return None
    return sum(deltas) * 1000.0 / dt_ms


def error_ratio(dlq_inflow_per_s: float | None, consumed_per_s: float | None) -> float | None:
    """DLQ inflow / (consumed + DLQ inflow); 0 when neither moved; None when a rate is unknown."""
    if dlq_inflow_per_s is None or consumed_per_s is None:
        return None
    total = dlq_inflow_per_s + consumed_per_s
    return 0.0 if total == 0 else dlq_inflow_per_s / total
