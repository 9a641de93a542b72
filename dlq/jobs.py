"""The replay job runner the collector service executes: claims queued jobs (or jobs whose runner
died) from the store and runs them to completion, cancellation or failure."""
from __future__ import annotations

import functools
import logging
import os
import socket
from pathlib import Path
from typing import Any

from kafka.errors import KafkaError
from pika.exceptions import AMQPError

from config import Settings
from core.clock import now_ms
from dlq.context import JobContext, ReplayError
from runner.jobs import JobSpec
from store import audit
from store import dlq as store_dlq
from store.db import connect_writer, transaction
from store.handle import Connection

log = logging.getLogger("eventdeck.dlq.jobs")


def owner_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def owner_alive(owner: str) -> bool:
    """Is the runner named ``host:pid`` alive? Runners on other hosts are judged by heartbeat only."""
    host, _, pid = owner.rpartition(":")
    if host != socket.gethostname() or not pid.isdigit():
        return True
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:  # a zombie is dead
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return True


def execute(conn: Connection, settings: Settings, job: dict[str, Any]) -> str:
    """Run one claimed job; records its end state and audits it. Never raises for broker errors. When the store
    stops answering mid-job the job is left 'running' as this runner's and the error raised: the next poll
    claims it again (its own job) and resumes it from its ledger."""
    from dlq import registry  # broker clients load only when a job runs
    from store.handle import unreachable_errors

    ctx = JobContext(conn=conn, job=job, settings=settings)
    error = None
    try:
        from dlq.guards import read_only_refusal

        if (refused := read_only_refusal(settings, job["broker"], job["cluster"], "replay")) is not None:
            raise ReplayError(refused)
        kind = registry.get(job["broker"])
        state = kind.run_replay(ctx, kind.cluster(settings, job["cluster"]))
    except unreachable_errors() as exc:  # not the job's fault: pause it, resume when the store is back
        log.warning("replay job %s paused: the store is unreachable (%s); it resumes when the store answers",
                    job["id"], exc)
        raise
    except store_dlq.NotOwner as exc:  # another runner owns it now: it records the end, not this one
        log.warning("replay job %s: %s", job["id"], exc)
        return "taken over"
    except (ReplayError, KafkaError, AMQPError, OSError) as exc:
        state, error = "failed", f"{type(exc).__name__}: {exc}" if not isinstance(exc, ReplayError) else str(exc)
        log.warning("replay job %s failed: %s", job["id"], error)
    except Exception as exc:  # a bug must not leave the job 'running' for ever
        log.exception("replay job %s crashed", job["id"])
        state, error = "failed", f"internal error: {type(exc).__name__}: {exc}"
    with transaction(conn):  # the end state and its audit entry together
        store_dlq.finish(conn, job["id"], state, now_ms(), error)
        done = store_dlq.get_job(conn, job["id"]) or job
        audit.record(conn, now_ms(), job["actor"], "dlq.replay.finished", ctx.where,
                     {"job": job["id"], "replayed": done["replayed"], "parked": done["parked"],
                      "skipped": done["skipped"], "failed": done["failed"], "error": error}, state)
    return state


def run_pending(settings: Settings, store: Any, job_id: int | None = None) -> int | None:
    """Claim and run one job (``job_id`` or the oldest claimable) on ``store`` (a store handle; a location
    for tools and tests); returns its id, None if none."""
    conn = connect_writer(store)
    try:
        job = store_dlq.claim(conn, owner_id(), now_ms(), int(settings.dlq.stale_job_s * 1000), owner_alive, job_id)
        if job is None:
            return None
        execute(conn, settings, job)
        return int(job["id"])
    finally:
        conn.close()


def _poll(settings: Settings, store: Any) -> None:
    while run_pending(settings, store) is not None:
        pass


def jobs(settings: Settings, store: Any) -> list[JobSpec]:
    """One poller for the collector service: runs queued replay jobs one after another."""
    return [JobSpec(id="dlq:replay-jobs", func=functools.partial(_poll, settings, store),
                    interval_s=settings.dlq.job_poll_interval_s, after_tick=False)]
