"""Time lag ("seconds behind") by kafka-lag-exporter's method, pure.

Per partition we keep a sliding table of (time seen, log-end offset) points. The time at which the
consumer's committed offset was produced is interpolated between the two points whose end offsets
bracket it; the time lag is ``now − that time``. A consumer at the end of the log is 0 s, even on
an idle topic. With fewer than two points the lag is unknown (``None``), never 0.

Table maintenance (``TimeTable.add``): a point older than the newest is ignored (out of order);
an end offset lower than the newest (topic re-created or truncated) starts the table over; a run
of equal offsets keeps only its first and last point, so an idle topic does not push the useful
sloped points out; past ``max_points`` the oldest point is dropped. Every change is reported as
an ``Edit`` so that the store can mirror the table row by row (it survives a restart).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import NamedTuple


class Point(NamedTuple):
    ts_ms: int
    offset: int


@dataclass(frozen=True)
class Edit:
    """What changed in a table: rows (by ``ts_ms``) to remove, then a point to add (or None)."""

    removed: tuple[int, ...] = ()
    added: Point | None = None


@dataclass
class TimeTable:
    """The sliding (time, end offset) table of one partition."""

    max_points: int
    points: list[Point] = field(default_factory=list)

    def add(self, ts_ms: int, offset: int) -> Edit:
        pts = self.points
        new = Point(ts_ms, offset)
        if pts and ts_ms <= pts[-1].ts_ms:
            return Edit()
        if pts and offset < pts[-1].offset:
            removed = tuple(p.ts_ms for p in pts)
            self.points = [new]
            return Edit(removed, new)
        removed: list[int] = []
        if len(pts) >= 2 and pts[-1].offset == offset and pts[-2].offset == offset:
            removed.append(pts.pop().ts_ms)  # extend the flat run instead of adding to it
        pts.append(new)
        while len(pts) > self.max_points:
            removed.append(pts.pop(0).ts_ms)
        return Edit(tuple(removed), new)

    @classmethod
    def restore(cls, max_points: int, points: list[Point]) -> tuple["TimeTable", Edit]:
        """Rebuild a table from stored rows; the Edit removes rows the rebuilt table dropped."""
        table = cls(max_points)
        for p in sorted(points):
            table.add(p.ts_ms, p.offset)
        kept = {p.ts_ms for p in table.points}
        return table, Edit(tuple(p.ts_ms for p in points if p.ts_ms not in kept))


def time_lag_s(points: list[Point], committed: int, now_ms: int) -> float | None:
    """Seconds since the record at ``committed`` was produced; None when it cannot be told."""
    if not points:
        return None
    if committed >= points[-1].offset:
        return 0.0
    if len(points) < 2:
        return None
    produced = _produced_at(points, committed)
    if produced is None:
        return None
    return max(0.0, (now_ms - produced) / 1000.0)


def _produced_at(points: list[Point], offset: int) -> float | None:
    """Interpolated time at which the log-end offset reached ``offset`` (``offset < last``)."""
    for a, b in zip(points, points[1:]):
        if a.offset <= offset < b.offset:
            return a.ts_ms + (offset - a.offset) * (b.ts_ms - a.ts_ms) / (b.offset - a.offset)
    # Older than the table: extrapolate along the table's overall slope.
    first, last = points[0], points[-1]
    if last.offset == first.offset:
        return None
    slope = (last.ts_ms - first.ts_ms) / (last.offset - first.offset)
    return first.ts_ms - (first.offset - offset) * slope
