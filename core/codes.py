"""Numeric codes written as series values, and their names.

Consumer status by Burrow's rules (``kafka_group_status``, ``kafka_group_partition_status``): a
higher code is worse, so a group takes the worst (max) of its partitions. Kafka group states
(``kafka_group_state``): 0 when the broker cannot describe the group. Pages turn codes into names
with :func:`name_of`; nothing else writes these tables.
"""
from __future__ import annotations

from enum import IntEnum
from typing import Mapping


class Status(IntEnum):
    OK = 0
    WARN = 1
    REWIND = 2
    STALL = 3
    STOP = 4
    ERR = 5


STATUS_NAMES: dict[int, str] = {s.value: s.name for s in Status}


class LagMethod(IntEnum):
    """How a time lag was obtained (``kafka_group_lag_seconds_method``, ``kafka_group_max_lag_seconds_method``):
    the record's own timestamp, kafka-lag-exporter's interpolation, a lower bound (the record is older
    than everything Eventdeck has seen), or unknown (no value is written)."""

    EXACT = 0
    INTERPOLATED = 1
    LOWER_BOUND = 2
    UNKNOWN = 3


LAG_METHOD_NAMES: dict[int, str] = {0: "exact", 1: "interpolated", 2: "lower bound", 3: "unknown"}

GROUP_STATE_CODES: dict[str, int] = {
    "Stable": 1, "PreparingRebalance": 2, "CompletingRebalance": 3, "Empty": 4, "Dead": 5,
    "Assigning": 6, "Reconciling": 7,
}
UNKNOWN_STATE = 0
UNKNOWN = "unknown"
GROUP_STATE_NAMES: dict[int, str] = {UNKNOWN_STATE: UNKNOWN, **{v: k for k, v in GROUP_STATE_CODES.items()}}


# A drain ETA (``*_drain_eta_seconds``) of a backlog that grows or stays: "not draining", written as ten years
# (finite, so the store takes it, and a rule "ETA > 1800" also fires for it); pages show "not draining".
NOT_DRAINING_S = 315_360_000.0


def state_code(state: str | None) -> int:
    """Numeric code of a group state; unknown names (Tansu's "Unknown", None) are 0."""
    return GROUP_STATE_CODES.get(state or "", UNKNOWN_STATE)


def name_of(code: object, names: Mapping[int, str]) -> str:
    """The name of a stored code; a missing, non-numeric or unknown code is ``unknown``."""
    try:
        return names.get(int(code), UNKNOWN)  # type: ignore[call-overload]
    except (TypeError, ValueError, OverflowError):
        return UNKNOWN
