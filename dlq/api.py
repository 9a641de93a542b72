"""What the dashboard (and the CLI) use: DLQ list, browse, dry run, replay jobs, audit.

Views call these and never import broker clients or write SQL; the broker I/O is in the
executors (``dlq.kafka_io``, ``dlq.rabbit_io``), the SQL in ``store``.
"""
from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

from config import Settings
from core.rejects import Rejects
from dlq import plan
from dlq.context import kafka_cluster, rabbit_cluster
from store import audit as store_audit
from store import dlq as store_dlq
from store import rejects as store_rejects
from store.db import connect_reader, transaction


def list_dlqs(conn: sqlite3.Connection) -> list[dict[str, Any]]:
    """Known DLQs with their latest size, from the ``dlq_messages`` series the collectors write."""
    from store import queries  # pandas loads only here

    df = queries.latest(conn, "dlq_messages")
    if df.empty:
        return []
    cols = [c for c in ("broker", "cluster", "dlq", "vhost") if c in df.columns]
    rows = df[cols + ["ts_ms", "value"]].to_dict("records")
    out = [{**{c: r[c] for c in cols}, "messages": int(r["value"]), "ts_ms": int(r["ts_ms"])} for r in rows]
    return sorted(out, key=lambda r: (-r["messages"], r["broker"], r["cluster"], r["dlq"]))


def browse(settings: Settings, broker: str, cluster: str, dlq: str, page: int = 0, page_size: int = 50,
           **filters: Any) -> list[dict[str, Any]]:
    """One page of a DLQ with decoded headers, rendered payload and replay target per message.

    Kafka: newest first; filters partition, from_offset, to_offset, from_ms, to_ms, key, reason,
    exception_class. RabbitMQ: from the head by non-destructive peek; filters vhost, rabbit_mode and
    the same selection filters.
    """
    if page < 0 or page_size <= 0:
        raise ValueError("page must be >= 0 and page_size > 0")
    preview = settings.dlq.payload_preview_bytes
    if broker == "kafka":
        from dlq import kafka_io

        return kafka_io.browse(kafka_cluster(settings, cluster), dlq, page, page_size, preview, **filters)
    if broker == "rabbitmq":
        from dlq import rabbit_io

        return rabbit_io.browse(rabbit_cluster(settings, cluster), dlq, page, page_size, preview, **filters)
    raise ValueError(f"broker: must be 'kafka' or 'rabbitmq', got {broker!r}")


def _ledger_states(settings: Settings, req: dict[str, Any], coords: list[str]) -> dict[str, tuple[str, int]]:
    path = Path(settings.store.path)
    if not path.exists():
        return {}
    conn = connect_reader(path)
    try:
        return store_dlq.ledger(conn, req["broker"], req["cluster"], req["dlq"], coords)
    finally:
        conn.close()


DRY_RUN_SCAN = 50_000  # messages read (Kafka) or peeked (RabbitMQ) at most for a preview


def dry_run(settings: Settings, request: dict[str, Any], limit: int = 10_000) -> list[dict[str, Any]]:
    """What a replay would do, message by message, without changing anything (first ``limit`` rows
    of at most DRY_RUN_SCAN messages read).

    Each row: coord, replay_id, action (replay | park | skip | error), target, reason, key, timestamp_ms.
    """
    req = plan.validate_request(request, settings.dlq.default_rate_per_s, settings.dlq.default_rabbit_mode)
    max_count = plan.loop_limit(req["dlq"], settings.dlq)
    parking_name = req["dlq"] + settings.dlq.parking_suffix
    from dlq import targets

    if req["broker"] == "kafka":
        from dlq import kafka_io

        resolved = kafka_io.dry_run_targets(kafka_cluster(settings, req["cluster"]), req, DRY_RUN_SCAN)
        parking = targets.Target("kafka", "parking", topic=parking_name)
    else:
        from dlq import rabbit_io

        resolved = rabbit_io.dry_run_targets(rabbit_cluster(settings, req["cluster"]), req, DRY_RUN_SCAN)
        parking = targets.Target("rabbitmq", "parking", exchange="", routing_key=parking_name)
    chosen = [(m, t) for m, t in resolved if plan.selected(req["selection"], m)][:limit]
    ledger = _ledger_states(settings, req, [m.coord for m, _ in chosen])
    out = []
    for m, t in chosen:
        rid = plan.replay_id(req["broker"], req["cluster"], req["dlq"], m.coord)
        if isinstance(t, Exception) and not isinstance(t, targets.NoTarget):
            t = targets.NoTarget(f"message {m.coord}: {t}")
        state = ledger.get(m.coord)
        item = plan.plan_item(m, rid, t, state[0] if state else None, req["force"], max_count, parking)
        out.append({"coord": item.coord, "replay_id": item.replay_id, "action": item.action,
                    "target": item.target.describe() if item.target else None, "reason": item.reason,
                    "key": None if m.key is None else m.key.decode("utf-8", errors="replace"),
                    "timestamp_ms": m.ts_ms})
    return out


def enqueue_replay(conn: sqlite3.Connection, request: dict[str, Any], actor: str, now_ms: int) -> int:
    """Queue a replay job for the collector service (audited); returns the job id.

    Request keys: broker, cluster, dlq, vhost (RabbitMQ), selection {mode: all | picked (coords) |
    filter (from_ms, to_ms, key, reason, exception_class)}, target, rate_per_s (null: unthrottled;
    absent: dlq.default_rate_per_s), rabbit_mode (queue | exchange), force, window (RabbitMQ:
    unconfirmed publishes at most, 1..10000, absent: dlq.default_window; a crash duplicates at most
    this many messages, each with the same eventdeck-replay-id; 1 is the strict mode).
    """
    if not actor:
        raise ValueError("actor: who asks for the replay is required")
    try:
        req = plan.validate_request(request)
    except plan.RequestError as exc:  # refused, counted with an excerpt for the System page
        rejects = Rejects()
        rejects.record("replay_request", "invalid", f"{actor}: {exc}", now_ms)
        store_rejects.flush_recorder(conn, rejects, now_ms)
        raise
    with transaction(conn):  # no queued job without its audit entry
        job_id = store_dlq.create_job(conn, req["broker"], req["cluster"], req["dlq"], req, actor, now_ms)
        store_audit.record(conn, now_ms, actor, "dlq.replay.requested",
                           f"{req['broker']}:{req['cluster']}:{req['dlq']}",
                           {"job": job_id, "selection": req["selection"], "target": req["target"],
                            "rate_per_s": req.get("rate_per_s", "default"), "force": req["force"],
                            "rabbit_mode": req.get("rabbit_mode", "default"),
                            "window": req.get("window", "default"), **_edit_summary(req)},
                           "queued")
    return job_id


def _edit_summary(req: dict[str, Any]) -> dict[str, Any]:
    """What the request audit says of an edit (the executor audits both hashes and the diff on send)."""
    e = req.get("edit")
    if not e:
        return {}
    from dlq.edit import sha256

    return {"edit": {"coord": e["coord"], "edited_sha256": sha256(e["payload"].encode("utf-8")),
                     "headers": sorted(e["headers"])}}


def list_jobs(conn: sqlite3.Connection, limit: int = 100) -> list[dict[str, Any]]:
    return store_dlq.list_jobs(conn, limit)


def job(conn: sqlite3.Connection, job_id: int) -> dict[str, Any] | None:
    return store_dlq.get_job(conn, job_id)


def job_messages(conn: sqlite3.Connection, job_id: int) -> list[dict[str, Any]]:
    return store_dlq.job_messages(conn, job_id)


def cancel(conn: sqlite3.Connection, job_id: int, actor: str, now_ms: int) -> bool:
    """Ask a queued/running job to stop (audited); False when it had already ended."""
    with transaction(conn):
        ok = store_dlq.request_cancel(conn, job_id)
        found = store_dlq.get_job(conn, job_id)
        where = f"{found['broker']}:{found['cluster']}:{found['dlq']}" if found else f"job {job_id}"
        store_audit.record(conn, now_ms, actor, "dlq.replay.cancel", where, {"job": job_id},
                           "requested" if ok else "not active")
    return ok


def audit(conn: sqlite3.Connection, limit: int = 200) -> list[dict[str, Any]]:
    """DLQ entries of the audit log, newest first."""
    return store_audit.read(conn, limit=limit, action_prefix="dlq.").to_dict("records")

