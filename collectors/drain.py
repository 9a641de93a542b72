"""Drain ETA: seconds until a backlog (Kafka group lag, RabbitMQ queue depth) reaches zero; pure.

The net drain rate (consumed − produced per second) is smoothed over the status window as the
least-squares slope of the backlog's points in it, so one bursty interval does not swing the
estimate. ETA = backlog now / net drain rate when the backlog is shrinking; 0 with no backlog.
A backlog that grows or stays is "not draining", written as ``NOT_DRAINING_S`` (about ten years,
finite so the store takes it) so that a rule "ETA > 1800" also fires for it; pages show it as
"not draining". Unknown (None) with fewer than two points or no time between them.
"""
from __future__ import annotations

from typing import NamedTuple, Sequence

from core.codes import NOT_DRAINING_S  # ten years: "never", as a finite number


class Point(NamedTuple):
    ts_ms: int
    backlog: float


def trim(history: list[Point], now_ms: int, window_ms: int) -> list[Point]:
    """The points inside the window (``ts_ms >= now − window``)."""
    start = now_ms - window_ms
    return [p for p in history if p.ts_ms >= start]


def net_drain_rate(points: Sequence[Point]) -> float | None:
    """Least-squares backlog decrease per second over ``points``; None when it cannot be told."""
    if len(points) < 2:
        return None
    n = len(points)
    t0 = points[0].ts_ms
    y0 = points[0].backlog
    if float(y0).is_integer() and abs(y0) * n < 2 ** 53 and all(p.backlog == y0 for p in points):
        # A backlog that stays (most queues and partitions most of the time): the slope below is exactly
        # 0 (whole numbers sum and divide back exactly), so skip the sums; None as below when no time passed.
        return 0.0 if any(p.ts_ms != t0 for p in points) else None
    xs = [(p.ts_ms - t0) / 1000.0 for p in points]
    ys = [float(p.backlog) for p in points]
    mx, my = sum(xs) / n, sum(ys) / n
    sxx = sum((x - mx) ** 2 for x in xs)
    if sxx <= 0:
        return None
    slope = sum((x - mx) * (y - my) for x, y in zip(xs, ys)) / sxx
    return -slope


def drain_eta_s(points: Sequence[Point]) -> float | None:
    """Seconds until the backlog of the last point is gone at the smoothed net rate."""
    if not points:
        return None
    backlog = points[-1].backlog
    if backlog <= 0:
        return 0.0
    rate = net_drain_rate(points)
    if rate is None:
        return None
    if rate <= 0:
        return NOT_DRAINING_S
    return min(backlog / rate, NOT_DRAINING_S)
