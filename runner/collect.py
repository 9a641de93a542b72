"""The one contract every collection target runs under (Kafka, RabbitMQ, telemetry).

A collector only reads its broker and derives samples: ``collect(now_ms) -> Cycle``. The runner
(:class:`CollectJob`) owns everything around it: the cycle's timestamp, the store write (samples,
the collector's own extra rows, ``collector_up`` and ``collector_duration_seconds``), what
happens once the write is durable (acknowledging what was read), back-off, and the down state. Any exception of any type in a cycle marks the target down with the
exception's class and message, logs one traceback (on the first failure of a streak), drops the
collector's connections (``reset``), backs off and recovers by itself.

While the store does not answer (a PostgreSQL restart), collection goes on: each cycle's samples, its
``collector_up`` and extra writes wait in a bounded in-memory :class:`Spool` (``SPOOL_MAX_SAMPLES`` per
target) and are written, oldest first, before the next cycle once the store answers again; a cycle that
does not fit pushes the oldest out, counted as dropped (``collector_spool_dropped_samples_total{target}``,
and a warning), never silently. A cycle that acknowledges what it read after the write (telemetry) is not
spooled: it is read again from the broker once the store is back.

A cycle can also be *degraded*: the target answered, but parts of it did not (a Kafka group whose offsets
the broker refused, a topic whose offsets are unreadable) or what was read could not be acknowledged once
stored. The collector lists such parts in ``Cycle.degraded``; the runner adds an acknowledgement that failed,
writes ``collector_degraded{target,reason}`` (how many parts failed, by reason code, from the first failing
cycle until the first one without, which writes 0) and puts the first failures in the target's status
reason, so "up" never hides "half the groups failed".

Timestamps: every sample of a cycle carries the cycle's slot on the job's interval grid (the
wall clock at the cycle's start rounded down to a multiple of the interval since the epoch), not
per-sample wall-clock times. The service starts each job on that grid, so a sample's timestamp
means "the collection cycle scheduled at this instant" and series compress to almost nothing.
"""
from __future__ import annotations

import logging
import sqlite3
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Callable, Protocol

from core.clock import Clock, now_ms as wall_now_ms
from runner.jobs import Backoff, JobSpec
from store import rejects as store_rejects
from store.db import transaction
from store.status import set_status
from store.types import Sample
from store.writes import SampleWriter

log = logging.getLogger("eventdeck.runner")
REASON_MAX = 300
DURATION_METRIC = "collector_duration_seconds"
DROPPED_METRIC = "collector_spool_dropped_samples_total"
DEGRADED_METRIC = "collector_degraded"
ACK = "ack"  # the degraded reason of a cycle whose acknowledgement after the store write failed
DEGRADED_SHOWN = 3  # parts named in the status reason (the count says how many in all)
SPOOL_MAX_SAMPLES = 200_000  # per target: a 20 s restart of a 2,000-series target at 1 s intervals fits twice


def store_unreachable(exc: BaseException) -> bool:
    """Is ``exc`` the store not answering (PostgreSQL restarting, network), not a bad cycle?"""
    from store.handle import unreachable_errors

    return isinstance(exc, unreachable_errors())


@dataclass
class Spooled:
    ts_ms: int
    samples: list[Sample]
    store: Callable[[sqlite3.Connection], None] | None
    up: bool
    reason: str | None
    duration_ms: int


class Spool:
    """Cycles waiting for the store, oldest first, at most ``max_samples`` samples; what overflows is counted."""

    def __init__(self, max_samples: int = SPOOL_MAX_SAMPLES) -> None:
        self.max_samples = max_samples
        self.items: deque[Spooled] = deque()
        self.samples = 0  # samples waiting now
        self.spooled_total = 0  # cycles ever spooled
        self.dropped_samples_total = 0  # samples pushed out by newer ones (or too large to hold)

    def __len__(self) -> int:
        return len(self.items)

    def add(self, item: Spooled) -> int:
        """Hold ``item``; returns the samples dropped to make room (the oldest cycles go first)."""
        size = len(item.samples) + 2  # its collector_up and duration samples
        dropped = 0
        while self.items and self.samples + size > self.max_samples:
            old = self.items.popleft()
            self.samples -= len(old.samples) + 2
            dropped += len(old.samples) + 2
        if size > self.max_samples:
            dropped += size
        else:
            self.items.append(item)
            self.samples += size
        self.spooled_total += 1
        self.dropped_samples_total += dropped
        return dropped

    def pop(self) -> None:
        old = self.items.popleft()
        self.samples -= len(old.samples) + 2


@dataclass(frozen=True)
class Degraded:
    """One part of a target that failed in a cycle that otherwise succeeded."""

    reason: str  # a short code, the ``reason`` label of collector_degraded: "group", "topic", "ack"
    part: str  # which part: a group id, a topic name
    detail: str  # what failed (``reason_of`` the error: class and message, secrets redacted)


@dataclass
class Cycle:
    """What one collection produced."""

    samples: list[Sample] = field(default_factory=list)
    store: Callable[[sqlite3.Connection], None] | None = None  # extra writes (one transaction) after the samples
    after_store: Callable[[], None] | None = None  # once the write is committed (ack what was read)
    degraded: list[Degraded] = field(default_factory=list)  # parts that failed (the cycle still counts)


def degraded_samples(target: str, before: set[str], degraded: list[Degraded], ts_ms: int) -> list[Sample]:
    """``collector_degraded{target,reason}``: failed parts by reason, and 0 for a reason of the cycle ``before``
    that failed no part now (a target that never degrades writes nothing)."""
    counts = {r: 0 for r in before}
    for reason, _part in dict.fromkeys((d.reason, d.part) for d in degraded):  # a part failing twice counts once
        counts[reason] = counts.get(reason, 0) + 1
    return [Sample(DEGRADED_METRIC, {"target": target, "reason": r}, ts_ms, float(n))
            for r, n in sorted(counts.items())]


def degraded_text(degraded: list[Degraded], shown: int = DEGRADED_SHOWN) -> str | None:
    """The status reason of an up target with failed parts: how many, and the first few; None without any."""
    if not degraded:
        return None
    parts = "; ".join(f"{d.reason} {d.part}: {d.detail}" for d in degraded[:shown])
    more = f"; {len(degraded) - shown} more" if len(degraded) > shown else ""
    return f"degraded, {len(degraded)} part(s) failed: {parts}{more}"[:REASON_MAX]


class Collector(Protocol):
    """What a collector provides. It may also hold ``rejects`` (a ``core.rejects.Rejects``) counting
    the inputs it skipped; the runner stores them with each successful cycle."""

    target: str

    def collect(self, now_ms: int) -> Cycle: ...

    def reset(self) -> None:
        """Drop broker connections and unstored state after a failed cycle."""

    def close(self) -> None:
        """Release everything: the service is stopping."""

    def redact(self, text: str) -> str:
        """``text`` with any secret of the collector's configuration replaced."""


def grid_slot(wall_ms: int, interval_ms: int) -> int:
    """The start of the interval slot ``wall_ms`` falls in (multiples of the interval since the epoch)."""
    return wall_ms - wall_ms % interval_ms


def reason_of(exc: BaseException, redact: Callable[[str], str] = lambda s: s) -> str:
    """``Class: message`` (first line, bounded), secrets redacted."""
    text = str(exc).splitlines()[0] if str(exc) else ""
    return redact(f"{type(exc).__name__}: {text}" if text else type(exc).__name__)[:REASON_MAX]


class CollectJob:
    """Runs one collector every tick under the contract above; ``run`` never raises."""

    def __init__(self, collector: Collector, conn: sqlite3.Connection, interval_s: float,
                 clock: Clock = wall_now_ms) -> None:
        self.collector = collector
        self.conn = conn
        self.interval_ms = max(1, int(interval_s * 1000))
        self.clock = clock
        self.writer = SampleWriter(conn)
        self.backoff = Backoff()
        self.last_reason: str | None = None
        self.last_cycle: Cycle | None = None  # what the last successful cycle produced (benches, tests)
        self._last_ts: int | None = None
        self.spool = Spool()
        self._dropped_written = 0  # dropped_samples_total as last written to the store
        self._store_down = False
        self.last_degraded: list[Degraded] = []  # the failed parts of the last successful cycle

    @property
    def target(self) -> str:
        return self.collector.target

    @property
    def last_ts(self) -> int | None:
        """The timestamp of the last attempted cycle."""
        return self._last_ts

    def __call__(self) -> None:
        self.run()

    def stamp(self) -> int:
        """This cycle's timestamp: its grid slot (the wall time if that slot was already used)."""
        wall = self.clock()
        ts = grid_slot(wall, self.interval_ms)
        if self._last_ts is not None and ts <= self._last_ts:
            ts = max(wall, self._last_ts + 1)
        return ts

    def run(self, now_ms: int | None = None) -> bool | None:
        """One tick: True collected, False failed (recorded as down), None skipped by the back-off."""
        if not self.backoff.should_attempt():
            return None
        now = self.stamp() if now_ms is None else now_ms
        self._last_ts = now
        started = time.monotonic()
        try:
            cycle = self.collector.collect(now)
            self._flush_spool()  # cycles collected while the store was away go first, in order
            self.writer.write(cycle.samples)  # its own transaction, so the series-id cache fills
            if cycle.store is not None:
                with transaction(self.conn):
                    cycle.store(self.conn)
            rejects = getattr(self.collector, "rejects", None)  # inputs the collector skipped, if it counts any
            if rejects is not None:
                store_rejects.flush_recorder(self.conn, rejects, now, self.writer)
        except Exception as exc:  # the contract: any failure of a cycle is the target being down
            if store_unreachable(exc) and "cycle" in locals():  # collected, but the store is away: hold it
                self._spool(cycle, now, started, exc)
                return True
            self._failed(exc, now, started)
            return False
        degraded = list(cycle.degraded)
        if cycle.after_store is not None:
            try:
                cycle.after_store()
            except Exception as exc:  # stored but not acknowledged: read again after reconnecting
                detail = reason_of(exc, self.collector.redact)
                log.warning("%s: acknowledging what was stored failed (%s); it will be read again", self.target, detail)
                degraded.append(Degraded(ACK, "acknowledgement", detail))
                self.collector.reset()
        reason = degraded_text(degraded)
        marks = degraded_samples(self.target, {d.reason for d in self.last_degraded}, degraded, now)
        try:
            self._status(True, reason, now, started)
            if marks:
                self.writer.write(marks)
        except Exception as exc:
            if not store_unreachable(exc):
                self._failed(exc, now, started)
                return False
            # the cycle is stored (and acknowledged): only its status waits for the store
            self._store_down = True
            self.spool.add(Spooled(now, marks, None, True, reason, int((time.monotonic() - started) * 1000)))
        self.last_cycle = cycle
        if degraded and {d.reason for d in degraded} != {d.reason for d in self.last_degraded}:
            log.warning("%s: %s", self.target, reason)
        self.last_degraded = degraded
        if self.last_reason is not None:
            log.info("%s is back up", self.target)
        self.last_reason = None
        self.backoff.succeeded()
        return True

    def _spool(self, cycle: Cycle, now: int, started: float, exc: BaseException) -> None:
        """Hold a collected cycle until the store answers (see the module docstring)."""
        if not self._store_down:
            log.warning("%s: the store is unreachable (%s); holding samples in memory (at most %d) until it "
                        "answers", self.target, reason_of(exc), self.spool.max_samples)
        self._store_down = True
        duration_ms = int((time.monotonic() - started) * 1000)
        if cycle.after_store is not None:  # acknowledged only once durable: read it again later
            samples, extra = [], None
            try:
                self.collector.reset()
            except Exception:  # best effort, as after a failure
                log.debug("%s: reset failed", self.target, exc_info=True)
        else:
            samples, extra = list(cycle.samples), cycle.store
        dropped = self.spool.add(Spooled(now, samples, extra, True, None, duration_ms))
        if dropped:
            log.warning("%s: the store has been unreachable too long: %d samples dropped (%d in all)", self.target,
                        dropped, self.spool.dropped_samples_total)
        self.last_cycle = cycle

    def _flush_spool(self) -> None:
        """Write the held cycles, oldest first (each removed once written); raises while the store is away."""
        while self.spool.items:
            item = self.spool.items[0]
            self.writer.write(item.samples)
            if item.store is not None:
                with transaction(self.conn):
                    item.store(self.conn)
            set_status(self.conn, self.target, item.up, item.reason, item.ts_ms, item.duration_ms)
            self.writer.write([Sample(DURATION_METRIC, {"target": self.target}, item.ts_ms, item.duration_ms / 1000.0)])
            self.spool.pop()
        if self.spool.dropped_samples_total != self._dropped_written:
            self.writer.write([Sample(DROPPED_METRIC, {"target": self.target}, self.stamp_now(),
                                      float(self.spool.dropped_samples_total))])
            self._dropped_written = self.spool.dropped_samples_total
        if self._store_down:
            log.info("%s: the store answers again; held samples written", self.target)
            self._store_down = False

    def stamp_now(self) -> int:
        return self._last_ts if self._last_ts is not None else self.clock()

    def _failed(self, exc: Exception, now: int, started: float) -> None:
        reason = reason_of(exc, self.collector.redact)
        self.backoff.failed()
        if self.last_reason is None:
            log.error("%s is down: %s", self.target, reason, exc_info=exc)
        elif reason != self.last_reason:
            log.warning("%s is down: %s", self.target, reason)
        self.last_reason = reason
        try:
            self.collector.reset()
        except Exception:  # reset is best effort; the next attempt reconnects anyway
            log.debug("%s: reset after a failure failed", self.target, exc_info=True)
        try:
            self._flush_spool()
            self._status(False, reason, now, started)
        except Exception as store_exc:
            if store_unreachable(store_exc):  # the down state waits with the rest, in order
                self._store_down = True
                self.spool.add(Spooled(now, [], None, False, reason, int((time.monotonic() - started) * 1000)))
            else:  # the store itself failing: nothing more can be recorded; say it once
                log.exception("%s: could not record the down state", self.target)

    def _status(self, up: bool, reason: str | None, now: int, started: float) -> None:
        duration_ms = int((time.monotonic() - started) * 1000)
        set_status(self.conn, self.target, up, reason, now, duration_ms, self.interval_ms)
        self.writer.write([Sample(DURATION_METRIC, {"target": self.target}, now, duration_ms / 1000.0)])

    def close(self) -> None:
        """Release the collector's clients and the writer connection (the service is stopping)."""
        try:
            self.collector.close()
        finally:
            self.conn.close()

    def spec(self, after_tick: bool = True) -> JobSpec:
        return JobSpec(self.target, self, self.interval_ms / 1000.0, after_tick=after_tick, close=self.close)
