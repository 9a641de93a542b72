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
from typing import Iterable, NamedTuple

from core.codes import LagMethod


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


class TimeLag(NamedTuple):
    seconds: float
    method: LagMethod


def estimate(points: list[Point], committed: int, now_ms: int) -> TimeLag | None:
    """Seconds since the record at ``committed`` was produced, with how that is known; None when
    it cannot be told (never 0 for a consumer that is behind).

    * at or past the newest end offset: 0 s, exact (nothing is unconsumed);
    * inside or before a sloped table: interpolated (extrapolated along the slope before it);
    * behind a table that never moved (one point, or a flat run — e.g. a backlog written in one burst
      before Eventdeck's first look): the record existed at the first point, so ``now − first`` is a
      lower bound; a bound of 0 says nothing and is unknown instead.
    """
    if not points:
        return None
    if committed >= points[-1].offset:
        return TimeLag(0.0, LagMethod.EXACT)
    first = points[0]
    if committed < first.offset and (len(points) < 2 or points[-1].offset == first.offset):
        bound = (now_ms - first.ts_ms) / 1000.0
        return TimeLag(bound, LagMethod.LOWER_BOUND) if bound > 0 else None
    produced = _produced_at(points, committed)
    if produced is None:
        return None
    return TimeLag(max(0.0, (now_ms - produced) / 1000.0), LagMethod.INTERPOLATED)


def exact(record_ts_ms: int, now_ms: int) -> TimeLag:
    """Time lag from the timestamp of the oldest unconsumed record (CreateTime or LogAppendTime)."""
    return TimeLag(max(0.0, (now_ms - record_ts_ms) / 1000.0), LagMethod.EXACT)


def time_lag_s(points: list[Point], committed: int, now_ms: int) -> float | None:
    """Seconds of ``estimate`` whatever the method; None when unknown."""
    est = estimate(points, committed, now_ms)
    return None if est is None else est.seconds


def group_max(lags: Iterable[TimeLag | None]) -> TimeLag | None:
    """The worst time lag of a group's lagging partitions. An unknown partition makes the known
    maximum a lower bound (the true maximum is at least that); with nothing known above 0 the
    group's time lag is unknown, never 0."""
    known = [x for x in lags]
    unknown = any(x is None for x in known)
    values = [x for x in known if x is not None]
    if not values:
        return None
    worst = max(values, key=lambda x: (x.seconds, x.method == LagMethod.LOWER_BOUND))
    if unknown:
        return TimeLag(worst.seconds, LagMethod.LOWER_BOUND) if worst.seconds > 0 else None
    return worst


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
