"""SQL of DLQ replay: jobs, per-message outcomes, the replay ledger and Kafka in-flight sends."""
from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any, Callable, Iterable, Sequence

from store import dialect
from store.db import transaction

if TYPE_CHECKING:
    from store.handle import Connection  # sqlite3's, or the sqlite3-shaped PostgreSQL one

_JOB_COLS = ("id", "broker", "cluster", "dlq", "request", "actor", "state", "cancel", "owner", "created_ms",
             "started_ms", "heartbeat_ms", "finished_ms", "total", "replayed", "parked", "skipped", "failed",
             "error", "marks")
ACTIVE = ("queued", "running")


def _job(row: Sequence[Any] | None) -> dict[str, Any] | None:
    if row is None:
        return None
    d = dict(zip(_JOB_COLS, row))
    d["request"] = json.loads(d["request"])
    d["marks"] = json.loads(d["marks"])
    d["cancel"] = bool(d["cancel"])
    return d


def create_job(conn: Connection, broker: str, cluster: str, dlq: str, request: dict[str, Any],
               actor: str, now_ms: int) -> int:
    with transaction(conn):
        cur = conn.execute(
            "INSERT INTO dlq_jobs (broker, cluster, dlq, request, actor, state, created_ms) "
            "VALUES (?, ?, ?, ?, ?, 'queued', ?) RETURNING id",
            (broker, cluster, dlq, json.dumps(request, sort_keys=True), actor, now_ms))
        return int(cur.fetchone()[0])


def get_job(conn: Connection, job_id: int) -> dict[str, Any] | None:
    return _job(conn.execute(f"SELECT {', '.join(_JOB_COLS)} FROM dlq_jobs WHERE id = ?", (job_id,)).fetchone())


def list_jobs(conn: Connection, limit: int = 100) -> list[dict[str, Any]]:
    rows = conn.execute(f"SELECT {', '.join(_JOB_COLS)} FROM dlq_jobs ORDER BY id DESC LIMIT ?", (limit,))
    return [_job(r) for r in rows]  # type: ignore[misc]


def active_job(conn: Connection, broker: str, cluster: str, dlq: str) -> int | None:
    """The id of a queued or running job on this DLQ, or None."""
    row = conn.execute("SELECT id FROM dlq_jobs WHERE broker = ? AND cluster = ? AND dlq = ? "
                       "AND state IN ('queued', 'running') ORDER BY id LIMIT 1", (broker, cluster, dlq)).fetchone()
    return None if row is None else int(row[0])


def job_messages(conn: Connection, job_id: int, limit: int = 10_000) -> list[dict[str, Any]]:
    rows = conn.execute("SELECT replay_id, coord, outcome, target, detail, ts_ms FROM dlq_job_messages "
                        "WHERE job_id = ? ORDER BY ts_ms, coord LIMIT ?", (job_id, limit))
    return [dict(zip(("replay_id", "coord", "outcome", "target", "detail", "ts_ms"), r)) for r in rows]


def job_message_ids(conn: Connection, job_id: int) -> set[str]:
    return {r for (r,) in conn.execute("SELECT replay_id FROM dlq_job_messages WHERE job_id = ?", (job_id,))}


def request_cancel(conn: Connection, job_id: int) -> bool:
    """Flag an active job for cancellation (a queued one is cancelled at once); False if not active."""
    with transaction(conn):
        cur = conn.execute("UPDATE dlq_jobs SET cancel = 1, state = CASE state WHEN 'queued' THEN 'cancelled' "
                           "ELSE state END WHERE id = ? AND state IN ('queued', 'running')", (job_id,))
        return cur.rowcount == 1


def claim(conn: Connection, owner: str, now_ms: int, stale_ms: int,
          owner_alive: Callable[[str], bool], job_id: int | None = None) -> dict[str, Any] | None:
    """Take the oldest queued job, or a running one whose owner died or went silent for ``stale_ms``."""
    with transaction(conn):
        sql = f"SELECT {', '.join(_JOB_COLS)} FROM dlq_jobs WHERE state IN ('queued', 'running')"
        params: tuple[Any, ...] = ()
        if job_id is not None:
            sql += " AND id = ?"
            params = (job_id,)
        for row in conn.execute(sql + " ORDER BY id" + dialect.skip_locked(conn), params).fetchall():
            job = _job(row)
            assert job is not None
            if job["state"] == "running" and job["owner"] != owner and owner_alive(job["owner"] or "") \
                    and now_ms - (job["heartbeat_ms"] or 0) < stale_ms:
                continue
            conn.execute("UPDATE dlq_jobs SET state = 'running', owner = ?, heartbeat_ms = ?, "
                         "started_ms = COALESCE(started_ms, ?) WHERE id = ?", (owner, now_ms, now_ms, job["id"]))
            return get_job(conn, job["id"])
    return None


class NotOwner(RuntimeError):
    """This runner no longer owns the job (another took it over): it must stop without writing."""


def _fence(conn: Connection, job_id: int, owner: str | None) -> None:
    """Inside a write transaction: raise NotOwner unless ``owner`` still owns the running job (the row is
    locked by the UPDATE until commit, so a takeover cannot slip in between). ``owner`` None: no fence."""
    if owner is None:
        return
    if conn.execute("UPDATE dlq_jobs SET owner = owner WHERE id = ? AND owner = ? AND state = 'running'",
                    (job_id, owner)).rowcount != 1:
        raise NotOwner(f"replay job {job_id} was taken over by another runner; this one stops")


def heartbeat(conn: Connection, job_id: int, now_ms: int, total: int | None = None,
              owner: str | None = None) -> bool:
    """Refresh the heartbeat (and total); returns True when cancellation was requested. With ``owner``,
    raises NotOwner when another runner took the job over."""
    with transaction(conn):
        _fence(conn, job_id, owner)
        conn.execute("UPDATE dlq_jobs SET heartbeat_ms = ?, total = COALESCE(?, total) WHERE id = ?",
                     (now_ms, total, job_id))
        row = conn.execute("SELECT cancel FROM dlq_jobs WHERE id = ?", (job_id,)).fetchone()
    return bool(row and row[0])


def finish(conn: Connection, job_id: int, state: str, now_ms: int, error: str | None = None) -> None:
    with transaction(conn):
        conn.execute("UPDATE dlq_jobs SET state = ?, finished_ms = ?, heartbeat_ms = ?, error = ? WHERE id = ?",
                     (state, now_ms, now_ms, error, job_id))


def ledger(conn: Connection, broker: str, cluster: str, dlq: str,
           coords: Iterable[str]) -> dict[str, tuple[str, int]]:
    """coord -> (state, job_id) for the coordinates already replayed or parked."""
    out: dict[str, tuple[str, int]] = {}
    coords = list(coords)
    for i in range(0, len(coords), 500):
        chunk = coords[i:i + 500]
        q = ",".join("?" * len(chunk))
        for coord, state, job in conn.execute(
                f"SELECT coord, state, job_id FROM dlq_ledger WHERE broker = ? AND cluster = ? AND dlq = ? "
                f"AND coord IN ({q})", (broker, cluster, dlq, *chunk)):
            out[coord] = (state, job)
    return out


def ledger_rows(conn: Connection, broker: str, cluster: str, dlq: str) -> list[dict[str, Any]]:
    cols = ("coord", "replay_id", "state", "target", "target_coord", "times", "job_id", "updated_ms")
    rows = conn.execute(f"SELECT {', '.join(cols)} FROM dlq_ledger WHERE broker = ? AND cluster = ? AND dlq = ? "
                        "ORDER BY updated_ms", (broker, cluster, dlq))
    return [dict(zip(cols, r)) for r in rows]


def record(conn: Connection, job: dict[str, Any], outcomes: Sequence[dict[str, Any]], now_ms: int) -> None:
    """Write per-message outcomes (one per message and job); replayed/parked ones also go to the ledger;
    their in-flight rows are cleared and the job's counters move.

    Each outcome: replay_id, coord, outcome, target (text), detail, target_coord.
    """
    counts = {"replayed": 0, "parked": 0, "skipped": 0, "failed": 0}
    with transaction(conn):  # executemany per outcome: a batch of hundreds is one statement each
        _fence(conn, job["id"], job.get("owner"))  # a runner that lost the job writes no outcome or ledger row
        for kind in counts:
            rows = [(job["id"], o["replay_id"], o["coord"], kind, o.get("target"), o.get("detail"), now_ms)
                    for o in outcomes if o["outcome"] == kind]
            if not rows:
                continue
            before = conn.total_changes
            conn.executemany("INSERT INTO dlq_job_messages (job_id, replay_id, coord, outcome, target, detail, "
                             "ts_ms) VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING", rows)
            counts[kind] = conn.total_changes - before
        conn.executemany(
            "INSERT INTO dlq_ledger (broker, cluster, dlq, coord, replay_id, state, target, target_coord, "
            "job_id, updated_ms) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
            "ON CONFLICT (broker, cluster, dlq, coord) DO UPDATE SET state = excluded.state, "
            "target = excluded.target, target_coord = excluded.target_coord, times = dlq_ledger.times + 1, "
            "job_id = excluded.job_id, updated_ms = excluded.updated_ms",
            [(job["broker"], job["cluster"], job["dlq"], o["coord"], o["replay_id"], o["outcome"],
              o.get("target") or "", o.get("target_coord"), job["id"], now_ms)
             for o in outcomes if o["outcome"] in ("replayed", "parked")])
        conn.executemany("DELETE FROM dlq_inflight WHERE job_id = ? AND replay_id = ?",
                         [(job["id"], o["replay_id"]) for o in outcomes])
        conn.execute("UPDATE dlq_jobs SET heartbeat_ms = :now, replayed = replayed + :replayed, "
                     "parked = parked + :parked, skipped = skipped + :skipped, failed = failed + :failed "
                     "WHERE id = :job", {"now": now_ms, "job": job["id"], **counts})


def add_inflight(conn: Connection, job_id: int, rows: Sequence[tuple[str, str, str, str]],
                 marks: dict[str, Any], owner: str | None = None) -> None:
    """Before a Kafka batch is produced: its (replay_id, coord, action, target) and the scan marks (fenced by
    ``owner``: a runner that lost the job produces nothing more)."""
    with transaction(conn):
        _fence(conn, job_id, owner)
        conn.executemany("INSERT INTO dlq_inflight (job_id, replay_id, coord, action, target) VALUES (?, ?, ?, ?, ?) "
                         "ON CONFLICT (job_id, replay_id) DO UPDATE SET coord = excluded.coord, "
                         "action = excluded.action, target = excluded.target", [(job_id, *r) for r in rows])
        conn.execute("UPDATE dlq_jobs SET marks = ? WHERE id = ?", (json.dumps(marks, sort_keys=True), job_id))


def set_marks(conn: Connection, job_id: int, marks: dict[str, Any], owner: str | None = None) -> None:
    with transaction(conn):
        _fence(conn, job_id, owner)
        conn.execute("UPDATE dlq_jobs SET marks = ? WHERE id = ?", (json.dumps(marks, sort_keys=True), job_id))


def inflight(conn: Connection, job_id: int) -> list[dict[str, Any]]:
    rows = conn.execute("SELECT replay_id, coord, action, target FROM dlq_inflight WHERE job_id = ?", (job_id,))
    return [dict(zip(("replay_id", "coord", "action", "target"), r)) for r in rows]


def clear_inflight(conn: Connection, job_id: int) -> None:
    with transaction(conn):
        conn.execute("DELETE FROM dlq_inflight WHERE job_id = ?", (job_id,))
