"""The collector service's scheduler: one APScheduler job per target, plus store housekeeping.

Every collector module exposes ``jobs(settings, store_path) -> list[JobSpec]``. Jobs run in a
``BackgroundScheduler`` with ``max_instances=1`` and ``coalesce=True`` so a slow target never
piles up runs; a job that raises is logged and the others go on. After each collection job
(``after_tick=True``) the registered post-tick hooks run (alert evaluation).
"""
from __future__ import annotations

import importlib
import logging
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from apscheduler.schedulers.background import BackgroundScheduler

from config import Settings

log = logging.getLogger("eventdeck.scheduler")

# Modules that may contribute jobs; each has ``jobs(settings, store_path)``. A module that is not
# importable is a packaging bug and fails loudly at start-up.
JOB_MODULES = ("collectors.kafka", "collectors.rabbitmq", "collectors.telemetry", "dlq.jobs")
# Modules that may contribute post-tick hooks through ``hook(settings, store_path)``.
HOOK_MODULES = ("alerts.evaluator",)


@dataclass
class JobSpec:
    id: str
    func: Callable[[], None]
    interval_s: float
    after_tick: bool = True
    close: Callable[[], None] | None = None  # releases the job's connections when the service stops


def now_ms() -> int:
    return int(time.time() * 1000)


class Backoff:
    """Skips ticks after consecutive failures: the n-th failure waits min(2**(n-1), 5) intervals."""

    CAP = 5

    def __init__(self) -> None:
        self.failures = 0
        self.skip_left = 0

    def should_attempt(self) -> bool:
        if self.skip_left > 0:
            self.skip_left -= 1
            return False
        return True

    def failed(self) -> None:
        self.failures += 1
        self.skip_left = min(2 ** (self.failures - 1), self.CAP) - 1

    def succeeded(self) -> None:
        self.failures = self.skip_left = 0


@dataclass
class Service:
    """The running collector service: its scheduler and what it was built from."""

    settings: Settings
    store_path: Path
    specs: list[JobSpec] = field(default_factory=list)
    hooks: list[Callable[[], None]] = field(default_factory=list)
    scheduler: BackgroundScheduler | None = None
    _hook_lock: threading.Lock = field(default_factory=threading.Lock)

    def _run_hooks(self) -> None:
        # Hooks share state (alert states); run them one at a time.
        with self._hook_lock:
            for hook in self.hooks:
                try:
                    hook()
                except Exception:
                    log.exception("post-tick hook %r failed", hook)

    def _wrap(self, spec: JobSpec) -> Callable[[], None]:
        def run() -> None:
            try:
                spec.func()
            except Exception:
                log.exception("job %s failed", spec.id)
            if spec.after_tick:
                self._run_hooks()
        return run

    def start(self) -> "Service":
        sched = BackgroundScheduler(timezone="UTC", job_defaults={"max_instances": 1, "coalesce": True,
                                                                    "misfire_grace_time": None})
        for spec in self.specs:
            sched.add_job(self._wrap(spec), "interval", seconds=spec.interval_s, id=spec.id,
                          name=spec.id, next_run_time=_now_dt())
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
        for spec in self.specs:
            if spec.close is not None:
                try:
                    spec.close()
                except Exception:
                    log.exception("closing job %s failed", spec.id)


def _now_dt():
    from datetime import datetime, timezone

    return datetime.now(timezone.utc)


def _housekeeping(settings: Settings, store_path: Path) -> list[JobSpec]:
    """Retention, sealing and WAL checkpoints, run by the service (the only writer of samples)."""
    from store import db, retention, seal

    r = settings.store.retention

    def prune() -> None:
        conn = db.connect_writer(store_path)
        try:
            retention.apply_retention(conn, now_ms(), int(r.raw_hours * 3_600_000),
                                      int(r.rollup_1m_days * 86_400_000), int(r.rollup_1h_days * 86_400_000))
        finally:
            conn.close()

    def checkpoint() -> None:
        conn = db.connect_writer(store_path)
        try:
            db.checkpoint(conn)
        finally:
            conn.close()

    def seal_chunks() -> None:  # its first run, at start, also converts a store written before chunks
        conn = db.connect_writer(store_path)
        try:
            seal.seal_due(conn, now_ms())
        finally:
            conn.close()

    return [JobSpec("store:retention", prune, settings.store.retention_interval_s, after_tick=False),
            JobSpec("store:checkpoint", checkpoint, settings.store.checkpoint_interval_s, after_tick=False),
            JobSpec("store:seal", seal_chunks, settings.store.seal_interval_s, after_tick=False)]


def build_service(settings: Settings, store_path: Path | None = None) -> Service:
    """Collect every module's jobs and hooks (importing nothing else of the project)."""
    path = Path(store_path or settings.store.path)
    from store import db

    db.connect_writer(path).close()  # create + migrate once, before jobs race for it
    specs: list[JobSpec] = []
    for name in JOB_MODULES:
        specs.extend(importlib.import_module(name).jobs(settings, path))
    specs.extend(_housekeeping(settings, path))
    hooks = [importlib.import_module(name).hook(settings, path) for name in HOOK_MODULES]
    return Service(settings=settings, store_path=path, specs=specs, hooks=[h for h in hooks if h])
