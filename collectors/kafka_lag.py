"""Pure arithmetic of the Kafka collector: lag, offset-delta rates, DLQ sources, error ratio, codes."""
from __future__ import annotations

from typing import Hashable, Iterable, Mapping

from collectors.patterns import convention_sources

# Written as kafka_group_state; 0 when the broker cannot describe the group.
GROUP_STATE_CODES = {
    "Stable": 1, "PreparingRebalance": 2, "CompletingRebalance": 3, "Empty": 4, "Dead": 5,
    "Assigning": 6, "Reconciling": 7,
}
UNKNOWN_STATE = 0


def state_code(state: str | None) -> int:
    """Numeric code of a group state; unknown names (Tansu's "Unknown", None) are 0."""
    return GROUP_STATE_CODES.get(state or "", UNKNOWN_STATE)


def committed_or_none(offset: int | None) -> int | None:
    """Kafka answers -1 for a partition without a commit: that is "no offset", not offset -1."""
    return offset if offset is not None and offset >= 0 else None


def lag_messages(end: int | None, committed: int | None) -> int | None:
    """end − committed clamped at 0; None for a no-offset partition or an unreadable end offset.

    The committed offset can exceed the end offset we read (the two requests are not atomic), so
    the difference is clamped rather than reported negative."""
    if end is None or committed is None:
        return None
    return max(0, end - committed)


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


def dlq_source(dlq: str, patterns: Iterable[str]) -> str | None:
    """Source topic by the naming convention: the part a pattern's single ``*`` matched
    (``orders.dlq`` with ``*.dlq`` → ``orders``). None when no simple pattern explains the name."""
    return next(convention_sources(dlq, patterns), None)


def error_ratio(dlq_inflow_per_s: float | None, consumed_per_s: float | None) -> float | None:
    """DLQ inflow / (consumed + DLQ inflow); 0 when neither moved; None when a rate is unknown."""
    if dlq_inflow_per_s is None or consumed_per_s is None:
        return None
    total = dlq_inflow_per_s + consumed_per_s
    return 0.0 if total == 0 else dlq_inflow_per_s / total
