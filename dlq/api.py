"""What the dashboard (and the CLI) use: DLQ list, browse, dry run, replay jobs, audit.

Views call these and never import broker clients or write SQL; the broker I/O is in the
readers (``dlq.kafka_io``, ``dlq.rabbit_io``) and executors (``dlq.kafka_replay``, ``dlq.rabbit_replay``),
the SQL in ``store``.
"""
from __future__ import annotations

from typing import Any

from config import Settings
from core.rejects import Rejects
from dlq import plan, registry
from dlq.context import ReplayError, kafka_cluster, target_policy
from store import audit as store_audit
from store import dlq as store_dlq
from store import rejects as store_rejects
from store.db import applied_migrations, transaction
from store.handle import Connection, StoreUnreachable, unreachable_errors


def list_dlqs(conn: Connection) -> list[dict[str, Any]]:
    """Known DLQs with their latest size, from the ``dlq_messages`` series the collectors write."""
    from store import queries  # pandas loads only here

    df = queries.latest(conn, "dlq_messages")
    if df.empty:
        return []
    cols = [c for c in ("broker", "cluster", "dlq", "vhost") if c in df.columns]
    rows = df[cols + ["ts_ms", "value"]].to_dict("records")
    out = [{**{c: r[c] for c in cols}, "messages": int(r["value"]), "ts_ms": int(r["ts_ms"])} for r in rows]
    return sorted(out, key=lambda r: (-r["messages"], r["broker"], r["cluster"], r["dlq"]))


class BrowseRefused(ValueError):
    """Browsing this DLQ now is not allowed (a replay job runs on it, a page beyond the maximum...)."""


RABBIT_BROWSE_NOTE = ("Browsing a RabbitMQ queue gets each shown message and requeues it: the broker marks it "
                      "redelivered, and on a quorum queue every browse counts toward its delivery limit "
                      "(a message past the limit is dropped or dead-lettered).")


def _open_reader(settings: Settings) -> Connection | None:
    """A reader on the configured store (SQLite or PostgreSQL), or None when it has not been created yet
    (then no replay job can exist). A store that does not answer raises :class:`StoreUnreachable`: a
    guard that cannot read the store refuses, it never assumes "no job"."""
    store = settings.store.handle
    if not store.is_postgres and not store.exists():
        return None
    try:
        conn = store.reader()
        if store.is_postgres and not applied_migrations(conn):
            conn.close()
            return None
    except unreachable_errors() as exc:
        raise StoreUnreachable(f"the store does not answer ({exc})") from None
    return conn


def active_job(settings: Settings, broker: str, cluster: str, dlq: str) -> int | None:
    """A queued or running replay job on this DLQ (its id), or None."""
    conn = _open_reader(settings)
    if conn is None:
        return None
    try:
        return store_dlq.active_job(conn, broker, cluster, dlq)
    except unreachable_errors() as exc:
        raise StoreUnreachable(f"the store does not answer ({exc})") from None
    finally:
        conn.close()


def _policy(settings: Settings, broker: str, cluster: str, dlq: str, vhost: str) -> Any:
    kind = registry.get(broker)  # ValueError naming the brokers for any other
    conn = _open_reader(settings)
    try:
        return target_policy(settings, broker, cluster, dlq, vhost if kind.vhosts else None, conn)
    finally:
        if conn is not None:
            conn.close()


def browse_refusal(settings: Settings, broker: str, role: str) -> str | None:
    """Why a user of ``role`` may not browse DLQs of ``broker`` (None: they may). Kafka browse only reads;
    RabbitMQ browse requeues (see RABBIT_BROWSE_NOTE), so ``dlq.rabbit_browse_role`` decides."""
    kind = registry.BROKERS.get(broker)
    if kind is not None and kind.browse_requeues and settings.dlq.rabbit_browse_role == "operator" \
            and role != "operator":
        return ("browsing RabbitMQ DLQs needs the operator role (dlq.rabbit_browse_role): " + RABBIT_BROWSE_NOTE)
    return None


def browse(settings: Settings, broker: str, cluster: str, dlq: str, page: int = 0, page_size: int = 50,
           **filters: Any) -> list[dict[str, Any]]:
    """One page of a DLQ with decoded headers, rendered payload and replay target per message.

    Kafka: newest first; filters partition, from_offset, to_offset, from_ms, to_ms, key, reason,
    exception_class, and on decoded values (cluster with a ``schema_registry``): field (dotted path),
    field_op (equals | contains), field_value. Rows of a cluster with a registry carry ``schema`` and
    ``key_schema`` (``dlq.schema_view``): the decoded JSON with subject/version/id, or the reason. RabbitMQ: from the head by peek (get, then requeue); filters vhost, rabbit_mode
    and the same selection filters. Reading is bounded by ``dlq.scan_max_messages``/``scan_max_bytes``;
    the page number by ``dlq.browse_max_page``. A RabbitMQ DLQ is never browsed while a replay job
    is queued or running on it (BrowseRefused).
    """
    if page < 0 or page_size <= 0 or page_size > 1000:
        raise ValueError("page must be >= 0 and 0 < page_size <= 1000")
    cfg = settings.dlq
    if page > cfg.browse_max_page:
        raise BrowseRefused(f"page {page} is beyond the last page that may be browsed ({cfg.browse_max_page}, "
                            f"dlq.browse_max_page); narrow the filters instead")
    preview = cfg.payload_preview_bytes
    bounds = {"max_messages": cfg.scan_max_messages, "max_bytes": cfg.scan_max_bytes}
    policy = _policy(settings, broker, cluster, dlq, filters.get("vhost") or "/")
    kind = registry.get(broker)
    if filters.get("field") and not kind.schema_filters:
        raise ValueError("field: decoded-field filters are for Kafka DLQs of a cluster with a schema_registry")
    ccfg = kind.cluster(settings, cluster)
    if kind.browse_requeues:
        try:
            job_id = active_job(settings, broker, cluster, dlq)
        except StoreUnreachable as exc:  # fail closed: a replay may be running
            raise BrowseRefused(f"cannot check for a replay job on {dlq}: {exc}; not browsing") from None
        if job_id is not None:
            raise BrowseRefused(f"replay job {job_id} is queued or running on {dlq}; browsing would take its "
                                f"messages away from it (get and requeue) — wait until it ends")
    return kind.browse(ccfg, dlq, page, page_size, preview, policy=policy, **bounds, **filters)


def check_schema_edit(settings: Settings, cluster: str, dlq: str, coord: str, edited_json: str) -> str | None:
    """Why an edit of the schema'd Kafka message at ``coord`` (``partition:offset``) would be refused — it
    must validate against the message's OWN schema (never the subject's latest) — or None when it encodes.
    The replay job checks again when it publishes."""
    from dlq import kafka_io
    from dlq.schemas import SchemaError, encode_edit

    try:
        partition, _, offset = coord.partition(":")
        rec = kafka_io.fetch_one(kafka_cluster(settings, cluster), dlq, int(partition), int(offset))
        msg, _ = kafka_io.to_message(rec)
        encode_edit(settings, "kafka", cluster, msg, edited_json)
    except (SchemaError, ReplayError) as exc:
        return str(exc)
    except ValueError:
        return f"coord: expected partition:offset, got {coord!r}"
    return None


def dry_run_report(settings: Settings, request: dict[str, Any], limit: int = 10_000) -> dict[str, Any]:
    """What a replay would do without changing anything, and how far the dry run looked.

    Returns ``rows`` (first ``limit`` of the selected messages: coord, replay_id, action (replay | park |
    skip | error), target, reason, key, timestamp_ms), ``by_destination`` (selected messages per action
    and target), ``looked`` / ``total`` / ``read_bytes`` / ``stopped`` (None, 'messages' or 'bytes': the
    ``dlq.scan_max_*`` limit that ended the read) and ``pin``: what Confirm freezes into the request so the
    job replays exactly the messages seen (Kafka offset ranges; RabbitMQ message count).
    """
    req = plan.validate_request(request, settings.dlq.default_rate_per_s, settings.dlq.default_rabbit_mode)
    cfg = settings.dlq
    max_count = plan.loop_limit(req["dlq"], cfg)
    kind = registry.get(req["broker"])
    parking = kind.parking(req["dlq"] + cfg.parking_suffix)
    from dlq import targets

    conn = _open_reader(settings)
    try:
        policy = target_policy(settings, req["broker"], req["cluster"], req["dlq"],
                               req["vhost"] if kind.vhosts else None, conn)
        ccfg = kind.cluster(settings, req["cluster"])
        if kind.browse_requeues:
            job_id = store_dlq.active_job(conn, req["broker"], req["cluster"], req["dlq"]) if conn is not None else None
            if job_id is not None:  # a dry run peeks (get, requeue) like a browse
                raise BrowseRefused(f"replay job {job_id} is queued or running on {req['dlq']}; a dry run would "
                                    f"take its messages away from it (get and requeue) — wait until it ends")
        scan = kind.dry_run(ccfg, req, cfg.scan_max_messages, policy=policy, max_bytes=cfg.scan_max_bytes)
        chosen = [(m, t) for m, t in scan.items if plan.selected(req["selection"], m)]
        ledger = store_dlq.ledger(conn, req["broker"], req["cluster"], req["dlq"], [m.coord for m, _ in chosen]) \
            if conn is not None else {}
    finally:
        if conn is not None:
            conn.close()
    rows: list[dict[str, Any]] = []
    by_dest: dict[tuple[str, str], int] = {}
    for m, t in chosen:
        rid = plan.replay_id(req["broker"], req["cluster"], req["dlq"], m.coord)
        if isinstance(t, Exception) and not isinstance(t, targets.NoTarget):
            t = targets.NoTarget(f"message {m.coord}: {t}")
        state = ledger.get(m.coord)
        item = plan.plan_item(m, rid, t, state[0] if state else None, req["force"], max_count, parking)
        dest = item.target.describe() if item.target else ("blocked: target not allowed"
                                                           if item.reason.startswith("blocked:") else "—")
        by_dest[(item.action, dest)] = by_dest.get((item.action, dest), 0) + 1
        if len(rows) < limit:
            rows.append({"coord": item.coord, "replay_id": item.replay_id, "action": item.action,
                         "target": item.target.describe() if item.target else None, "reason": item.reason,
                         "key": None if m.key is None else m.key.decode("utf-8", errors="replace"),
                         "timestamp_ms": m.ts_ms,
                         **({"dropped_headers": ", ".join(kind.dropped_headers(m)) or None}
                            if kind.dropped_headers is not None else {})})
    return {"rows": rows, "selected": len(chosen), "looked": scan.looked, "total": scan.total,
            "read_bytes": scan.read_bytes, "stopped": scan.stopped, "pin": scan.pin,
            "by_destination": [{"action": a, "destination": d, "messages": n}
                               for (a, d), n in sorted(by_dest.items(), key=lambda kv: -kv[1])]}


def dry_run(settings: Settings, request: dict[str, Any], limit: int = 10_000) -> list[dict[str, Any]]:
    """The rows of ``dry_run_report``: what a replay would do, message by message."""
    return dry_run_report(settings, request, limit)["rows"]


def describe_scan(report: dict[str, Any]) -> str:
    """How far a dry run looked, in words (shown above the plan and stored with the job)."""
    looked, total = report["looked"], report["total"]
    if report["stopped"] is None:
        return f"read all {looked:,} messages in the DLQ ({report['read_bytes']:,} bytes)"
    why = "message" if report["stopped"] == "messages" else "byte"
    return (f"read the first {looked:,} of {total:,} messages ({report['read_bytes']:,} bytes) — the dry run's "
            f"{why} limit (dlq.scan_max_{report['stopped']}); Confirm replays only these, the rest waits "
            f"for another replay")


def enqueue_replay(conn: Connection, request: dict[str, Any], actor: str, now_ms: int) -> int:
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


def list_jobs(conn: Connection, limit: int = 100) -> list[dict[str, Any]]:
    return store_dlq.list_jobs(conn, limit)


def job(conn: Connection, job_id: int) -> dict[str, Any] | None:
    return store_dlq.get_job(conn, job_id)


def job_messages(conn: Connection, job_id: int) -> list[dict[str, Any]]:
    return store_dlq.job_messages(conn, job_id)


def cancel(conn: Connection, job_id: int, actor: str, now_ms: int) -> bool:
    """Ask a queued/running job to stop (audited); False when it had already ended."""
    with transaction(conn):
        ok = store_dlq.request_cancel(conn, job_id)
        found = store_dlq.get_job(conn, job_id)
        where = f"{found['broker']}:{found['cluster']}:{found['dlq']}" if found else f"job {job_id}"
        store_audit.record(conn, now_ms, actor, "dlq.replay.cancel", where, {"job": job_id},
                           "requested" if ok else "not active")
    return ok


def audit(conn: Connection, limit: int = 200) -> list[dict[str, Any]]:
    """DLQ entries of the audit log, newest first."""
    return store_audit.read(conn, limit=limit, action_prefix="dlq.").to_dict("records")

