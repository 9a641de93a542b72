"""The collector service, and the composition root that builds it: one APScheduler job per target,
plus replay jobs and store housekeeping.

The job sources are imported here by ordinary imports (``JOB_SOURCES``: each ``jobs(settings, store)
-> list[JobSpec]``; ``HOOK_SOURCES``: each ``hook(settings, store)`` returning a post-tick hook, the
alert evaluation), so the import graph shows what the service is built from; ``runner/`` keeps only
the contract they run under (``runner.jobs``, ``runner.collect``, ``runner.leases``). Jobs run in a
``BackgroundScheduler`` with ``max_instances=1`` and ``coalesce=True``
so a slow target never piles up runs; each job starts on its interval grid (see
``runner.collect``). A job that raises is logged and the others go on. Only this service creates
and migrates the store.
"""
from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Callable

from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.interval import IntervalTrigger

import alerts.evaluator
import collectors.kafka
import collectors.rabbitmq
import collectors.telemetry
import dlq.jobs
from config import Settings
from core.clock import now_ms
from runner.collect import grid_slot
from runner.jobs import JobSpec
from runner.leases import COLLECTOR_PREFIXES, SINGLETON, LeaseManager, default_ttl_s

log = logging.getLogger("eventdeck.scheduler")

JOB_SOURCES: tuple[Callable[[Settings, Any], list[JobSpec]], ...] = (
    collectors.kafka.jobs, collectors.rabbitmq.jobs, collectors.telemetry.jobs, dlq.jobs.jobs)
HOOK_SOURCES: tuple[Callable[[Settings, Any], Callable[[], None] | None], ...] = (alerts.evaluator.hook,)


def _utc(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, tz=timezone.utc)


@dataclass
class Service:
    """The running collector service: its scheduler and what it was built from."""

    settings: Settings
    store: Any  # store.handle.Store: where every job opens its connections
    specs: list[JobSpec] = field(default_factory=list)
    hooks: list[Callable[[], None]] = field(default_factory=list)
    scheduler: BackgroundScheduler | None = None
    leases: LeaseManager | None = None  # PostgreSQL store: targets shared with other collector processes
    _hook_lock: threading.Lock = field(default_factory=threading.Lock)

    def _run_hooks(self) -> None:
        # Hooks share state (alert states); run them one at a time, and on one member of several.
        if self.leases is not None and not self.leases.holds(SINGLETON):
            return
        with self._hook_lock:
            for hook in self.hooks:
                try:
                    hook()
                except Exception:  # a failing hook must not stop the job that triggered it
                    log.exception("post-tick hook %r failed", hook)

    def _wrap(self, spec: JobSpec) -> Callable[[], None]:
        def run() -> None:
            if self.leases is not None and not self.leases.allows(
                    spec.id, grid_slot(now_ms(), max(1, int(spec.interval_s * 1000)))):
                return  # another collector process holds this target (or the housekeeping)
            try:
                spec.func()
                if self.leases is not None and spec.id.startswith(COLLECTOR_PREFIXES):
                    log.debug("cycle %s stamped %s by %s", spec.id, getattr(spec.func, "last_ts", None),
                              self.leases.member)
            except Exception:  # one failing job never stops the others; collectors never get here
                log.exception("job %s failed", spec.id)
            if spec.after_tick and self.leases is None:  # with leases: the service:alerts job runs them
                self._run_hooks()
        return run

    def start(self) -> "Service":
        sched = BackgroundScheduler(timezone="UTC", job_defaults={"max_instances": 1, "coalesce": True,
                                                                    "misfire_grace_time": None})
        if self.leases is not None:
            try:  # take leases before the first ticks
                self.leases.beat()
            except Exception:  # the lease job retries every beat; collection waits for it
                log.exception("first lease beat failed")
        now = now_ms()
        for spec in self.specs:
            interval_ms = max(1, int(spec.interval_s * 1000))
            # Fire on the interval grid (multiples of the interval since the epoch), first run now.
            trigger = IntervalTrigger(seconds=spec.interval_s, start_date=_utc(grid_slot(now, interval_ms)),
                                      timezone="UTC")
            sched.add_job(self._wrap(spec), trigger, id=spec.id, name=spec.id, next_run_time=_utc(now))
        sched.start()
        self.scheduler = sched
        log.info("collector service started with %d jobs: %s", len(self.specs),
                 ", ".join(s.id for s in self.specs))
        return self

    def stop(self) -> None:
        """Stop the scheduler (waiting for running jobs), then close every job's connections."""
        if self.scheduler is not None:
            self.scheduler.shutdown(wait=True)
            self.scheduler = None
        if self.leases is not None:
            try:
                self.leases.leave()
            except Exception:  # the others take over when the leases expire anyway
                log.exception("releasing the leases failed")
        for spec in self.specs:
            if spec.close is not None:
                try:
                    spec.close()
                except Exception:  # closing is best effort at shutdown; the others still close
                    log.exception("closing job %s failed", spec.id)


def _housekeeping(settings: Settings, store: Any) -> list[JobSpec]:
    """Retention, sealing and WAL checkpoints, run by the service (the only writer of samples)."""
    from store import db, retention, seal
    from store.handle import Store

    store = Store.of(store)
    r = settings.store.retention

    def prune() -> None:
        conn = store.writer()
        try:
            retention.apply_retention(conn, now_ms(), int(r.raw_hours * 3_600_000),
                                      int(r.rollup_1m_days * 86_400_000), int(r.rollup_1h_days * 86_400_000))
        finally:
            conn.close()

    def checkpoint() -> None:
        conn = store.writer()
        try:
            db.checkpoint(conn)
        finally:
            conn.close()

    def seal_chunks() -> None:  # its first run, at start, also converts a store written before chunks
        conn = store.writer()
        try:
            seal.seal_due(conn, now_ms())
        finally:
            conn.close()

    return [JobSpec("store:retention", prune, settings.store.retention_interval_s, after_tick=False),
            JobSpec("store:checkpoint", checkpoint, settings.store.checkpoint_interval_s, after_tick=False),
            JobSpec("store:seal", seal_chunks, settings.store.seal_interval_s, after_tick=False)]


def build_service(settings: Settings, store: Any = None) -> Service:
    """Create and migrate the store (``settings.store.handle``, or ``store``: a handle or a location given
    on the command line), then collect every source's jobs and hooks."""
    from store.handle import Store

    path = Store.of(store) if store else settings.store.handle
    applied = path.migrate()  # once, before jobs race for it
    if applied:
        log.info("store %s migrated: %s", path.display, ", ".join(f"{v:04d}" for v in applied))
    specs: list[JobSpec] = []
    for source in JOB_SOURCES:
        specs.extend(source(settings, path))
    for spec in specs:  # collection jobs hold cycles while the store is away, up to the configured bound
        spool = getattr(spec.func, "spool", None)
        if spool is not None:
            spool.max_samples = settings.store.spool_max_samples
    specs.extend(_housekeeping(settings, path))
    hooks = [source(settings, path) for source in HOOK_SOURCES]
    leases = None
    if path.is_postgres:  # several collector processes may share this store: lease the targets
        shared = [s for s in specs if s.id.startswith(COLLECTOR_PREFIXES)]
        ttl_s = settings.store.lease_ttl_s or default_ttl_s(s.interval_s for s in shared)
        leases = LeaseManager(path.writer, [s.id for s in shared], ttl_s)
        specs.append(JobSpec("service:leases", leases.beat, leases.beat_s, after_tick=False))
        log.info("collector %s shares %d targets by lease (ttl %.1f s)", leases.member, len(shared), ttl_s)
    service = Service(settings=settings, store=path, specs=specs, hooks=[h for h in hooks if h], leases=leases)
    if leases is not None and service.hooks:
        # The holder of the singleton lease may hold no collector target: evaluate on a clock of its own.
        every = min((s.interval_s for s in specs if s.id.startswith(COLLECTOR_PREFIXES)), default=15.0)
        specs.append(JobSpec("service:alerts", service._run_hooks, every, after_tick=False))
    return service
