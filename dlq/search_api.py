"""Search a whole DLQ and export the matches (what the dashboard and ``eventdeck dlq search|export`` use).

Kafka: every partition from its start, oldest first; RabbitMQ: from the head by peek (get, then requeue,
as browse does). Reading stops at ``dlq.scan_max_messages`` / ``dlq.scan_max_bytes`` and the result says
so; ``progress(looked, total)`` is called as the read goes. Export is operator-only, refused where the
cluster sets ``dlq_export: false``, and audited (one ``dlq.export`` row: query, format, count, how far it read).
"""
from __future__ import annotations

import sqlite3
from typing import Any, Callable

from config import Settings
from core.clock import Clock, now_ms as wall_now_ms
from dlq import plan
from dlq import search as se
from dlq.context import kafka_cluster, rabbit_cluster
from dlq.guards import export_refusal
from store import audit

Progress = Callable[[int, int], None]
FORMATS = ("jsonl", "csv")


class ExportRefused(PermissionError):
    """Export not allowed (role, or disabled for the cluster); the message says which setting."""


def _kafka(settings: Settings, cluster: str, dlq: str, keep: Callable[[plan.Message], bool],
           progress: Progress | None) -> dict[str, Any]:
    from dlq import kafka_io  # broker clients load only here

    cfg = settings.dlq
    consumer = kafka_io.open_consumer(kafka_cluster(settings, cluster))
    found: list[plan.Message] = []
    looked = size = 0
    stopped = None
    try:
        ranges = kafka_io.scope(consumer, dlq)
        total = sum(e - b for b, e in ranges.values())
        for batch in kafka_io.read(consumer, dlq, ranges):
            for rec in batch:
                if looked >= cfg.scan_max_messages or size >= cfg.scan_max_bytes:
                    stopped = "messages" if looked >= cfg.scan_max_messages else "bytes"
                    break
                msg, _err = kafka_io.to_message(rec)
                looked += 1
                size += plan.message_bytes(rec.key, rec.value, rec.headers)
                if keep(msg):  # only matches are kept: the scan is bounded, the result smaller still
                    found.append(msg)
            if progress is not None:
                progress(looked, total)
            if stopped:
                break
    finally:
        consumer.close()
    return {"messages": found, "looked": looked, "total": total, "read_bytes": size, "stopped": stopped}


def _rabbit(settings: Settings, cluster: str, dlq: str, vhost: str, progress: Progress | None) -> dict[str, Any]:
    from dlq import api, rabbit_io

    job_id = api.active_job(settings, "rabbitmq", cluster, dlq)
    if job_id is not None:  # a search peeks (get, requeue) like a browse
        raise api.BrowseRefused(f"replay job {job_id} is queued or running on {dlq}; a search would take its "
                                f"messages away from it (get and requeue) — wait until it ends")
    cfg = settings.dlq
    got, total, size, stopped = rabbit_io.peek_scan(rabbit_cluster(settings, cluster), vhost, dlq,
                                                    cfg.scan_max_messages, cfg.scan_max_bytes)
    if progress is not None:
        progress(len(got), total)
    return {"messages": [m for m, _e in got], "looked": len(got), "total": total, "read_bytes": size,
            "stopped": stopped}


def search(settings: Settings, broker: str, cluster: str, dlq: str, query: dict[str, Any] | se.Query | None,
           *, vhost: str = "/", progress: Progress | None = None, coords: list[str] | None = None) -> dict[str, Any]:
    """Matches of ``query`` (and, if given, of the picked ``coords``) across the DLQ: ``matches`` (plan.Message,
    oldest first), ``looked``, ``total``, ``read_bytes``, ``stopped`` (None, 'messages' or 'bytes')."""
    q = query if isinstance(query, se.Query) else se.parse_query(query)
    want = set(coords) if coords else None

    def keep(m: plan.Message) -> bool:
        return se.matches(q, m) and (want is None or m.coord in want)

    if broker == "kafka":
        scan = _kafka(settings, cluster, dlq, keep, progress)
    elif broker == "rabbitmq":
        scan = _rabbit(settings, cluster, dlq, vhost, progress)
    else:
        raise ValueError(f"broker: must be 'kafka' or 'rabbitmq', got {broker!r}")
    scan["matches"] = [m for m in scan.pop("messages") if keep(m)]
    scan["query"] = q.as_dict()
    return scan


def describe(result: dict[str, Any]) -> str:
    head = f"{len(result['matches']):,} match(es) in {result['looked']:,} of {result['total']:,} messages"
    if result["stopped"] is None:
        return head + " (the whole DLQ)"
    return head + (f" — stopped at the scan's {result['stopped']} limit (dlq.scan_max_{result['stopped']}); "
                   "narrow the search or raise the limit to look further")


def export(settings: Settings, conn: sqlite3.Connection, broker: str, cluster: str, dlq: str,
           query: dict[str, Any] | None, fmt: str, *, actor: str, role: str, vhost: str = "/",
           coords: list[str] | None = None, progress: Progress | None = None,
           now: Clock = wall_now_ms) -> tuple[bytes, dict[str, Any]]:
    """The matches as JSON Lines or CSV (bytes) and the search summary; audited, refusals too."""
    where = f"{broker}:{cluster}:{dlq}"
    why = None
    if fmt not in FORMATS:
        raise ValueError(f"format: one of {', '.join(FORMATS)}, got {fmt!r}")
    if role != "operator":
        why = f"exporting DLQ messages needs the operator role (you are {role!r})"
    else:
        why = export_refusal(settings, broker, cluster)
    if why is not None:
        audit.record(conn, now(), actor or "unknown", "dlq.export", where, {"format": fmt, "refused": why},
                     "refused")
        raise ExportRefused(why)
    result = search(settings, broker, cluster, dlq, query, vhost=vhost, progress=progress, coords=coords)
    records = [se.export_record(m) for m in result["matches"]]
    data = se.to_jsonl(records) if fmt == "jsonl" else se.to_csv(records)
    summary = {"format": fmt, "query": result["query"], "picked": len(coords) if coords else None,
               "exported": len(records), "looked": result["looked"], "total": result["total"],
               "stopped": result["stopped"], "bytes": len(data)}
    audit.record(conn, now(), actor, "dlq.export", where, summary, "exported")
    return data, summary
