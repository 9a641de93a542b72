"""RabbitMQ counterpart of skip-to-DLQ: move the head message of a queue whose consumers keep rejecting it
(redelivered; ``x-delivery-count`` on quorum queues) to the queue's DLQ — dry run, operator-only, audited.

The dry run takes the head by ``basic.get`` and requeues it (which, like a browse, marks it redelivered and
counts toward a quorum queue's delivery limit) and names it by a move id (a hash of its body and its
identifying properties). The move takes messages from the head until it holds the one with that id
(others are requeued at once: a live consumer may hold the poison message for a moment), publishes a copy
to the DLQ with the original properties plus ``x-first-death-*`` (so the ordinary replay brings it back to
this queue) and ``eventdeck-moved-by`` / ``-move-reason`` / ``-move-id``, waits for the publisher confirm,
and only then acks the original. A crash in between leaves the original in the queue (never lost); a
re-run may then copy it once more, with the same move id.
"""
from __future__ import annotations

import fnmatch
import hashlib
import sqlite3
import time
from typing import Any

import pika
from pika.exceptions import ChannelClosedByBroker

from brokers.rabbitmq import amqp_parameters
from config import Settings
from core.clock import Clock, now_ms as wall_now_ms
from dlq import skip_plan as sp
from dlq.context import rabbit_cluster
from store import audit

ACTION = "rabbitmq.queue.move_head"
MOVED_BY, MOVE_REASON, MOVE_ID = "eventdeck-moved-by", "eventdeck-move-reason", "eventdeck-move-id"
VOLATILE = ("x-delivery-count", MOVED_BY, MOVE_REASON, MOVE_ID)
MAX_HELD = 1000  # messages taken (and requeued after) while looking for the rejected one
FIND_S = 10.0  # how long the move looks for the rejected message among live consumers' deliveries
PRIORITY = 2 ** 30  # consumer priority of the mover (consumers default to 0)
_PROPS = ("content_type", "content_encoding", "delivery_mode", "priority", "correlation_id", "reply_to",
          "expiration", "message_id", "timestamp", "type", "app_id")


def move_id(queue: str, vhost: str, body: bytes, props: Any) -> str:
    """The id of a message: its body and identifying properties (not what redelivery changes)."""
    h = hashlib.sha256("\x1f".join((vhost, queue, str(props.message_id), str(props.correlation_id),
                                    str(props.timestamp))).encode("utf-8", "surrogatepass"))
    h.update(body)
    headers = {k: v for k, v in (props.headers or {}).items() if k not in VOLATILE}
    h.update(repr(sorted(headers.items(), key=lambda kv: str(kv[0]))).encode("utf-8", "surrogatepass"))
    return h.hexdigest()[:32]


def delivery_count(props: Any) -> int | None:
    v = (props.headers or {}).get("x-delivery-count")
    return v if isinstance(v, int) and not isinstance(v, bool) and v >= 0 else None


def is_rejected(redelivered: bool, props: Any) -> bool:
    """Does the broker say this message was delivered before (and came back)?"""
    return bool(redelivered) or bool(delivery_count(props))


def _exists(conn: pika.BlockingConnection, queue: str) -> bool:
    ch = conn.channel()
    try:
        ch.queue_declare(queue, passive=True)
        return True
    except ChannelClosedByBroker:
        return False
    finally:
        if ch.is_open:
            ch.close()


def queue_dlq(conn: pika.BlockingConnection, cfg: Any, queue: str, vhost: str, explicit: str | None) -> str:
    """The explicit DLQ; the ``dlq_map`` entry for this queue; else an existing queue a DLQ pattern names for
    it (``orders`` + ``*.dlq`` → ``orders.dlq``). Refused when none exists."""
    if explicit:
        if not _exists(conn, explicit):
            raise sp.Refused(f"DLQ queue {explicit!r} does not exist in vhost {vhost!r}")
        return explicit
    for name, t in cfg.dlq_map.items():
        if t.source_queue == queue and t.vhost == vhost and _exists(conn, name):
            return name
    for pat in cfg.dlq_patterns:
        if pat.count("*") == 1 and not any(c in pat for c in "?[]"):
            name = pat.replace("*", queue)
            if fnmatch.fnmatchcase(name, pat) and name != queue and _exists(conn, name):
                return name
    raise sp.Refused(f"no DLQ queue for {queue!r} exists: create one named by rabbitmq.clusters[].dlq_patterns "
                     f"(e.g. {queue}.dlq), map one in rabbitmq.clusters[].dlq_map, or name it with --dlq")


def _describe(body: bytes, method: Any, props: Any, mid: str) -> dict[str, Any]:
    return {"move_id": mid, "message_id": props.message_id, "redelivered": bool(method.redelivered),
            "delivery_count": delivery_count(props), "bytes": len(body), "exchange": method.exchange,
            "routing_key": method.routing_key}


def move_head(settings: Settings, conn: sqlite3.Connection | None, cluster: str, queue: str, *, vhost: str = "/",
              dlq: str | None = None, reason: str | None = None, actor: str, role: str, dry_run: bool = False,
              expect_id: str | None = None, force: bool = False, now: Clock = wall_now_ms) -> dict[str, Any]:
    """Dry run: the head message (requeued) and where it would go. Move: the message with ``expect_id`` (the
    dry run's; default the head's) to the DLQ. Refused for a viewer, a read-only cluster, an empty queue, or
    a head that was never redelivered (nothing says its consumers reject it; ``force`` overrides)."""
    target = f"rabbitmq:{cluster}:{vhost}:{queue}"
    ask = {"queue": queue, "vhost": vhost, "dlq": dlq, "expect_id": expect_id}

    def refuse(exc: sp.Refused) -> sp.Refused:
        if conn is not None and not dry_run:
            audit.record(conn, now(), actor or "unknown", ACTION, target, {**ask, "refused": str(exc)[:1000]},
                         "refused")
        return exc

    try:
        sp.require_operator(role, "moving a queue's head message")
        cfg = rabbit_cluster(settings, cluster)
        sp.require_writable(cluster, cfg.read_only, "moving a queue's head message")
        why = sp.check_reason(reason) if not dry_run else (reason or "").strip()
        if conn is None and not dry_run:
            raise sp.Refused("moving a message needs the store for its audit row")
    except sp.Refused as exc:
        raise refuse(exc) from None
    amqp = pika.BlockingConnection(amqp_parameters(cfg, vhost))
    try:
        try:
            dlq_name = queue_dlq(amqp, cfg, queue, vhost, dlq)
            if not _exists(amqp, queue):
                raise sp.Refused(f"queue {queue!r} does not exist in vhost {vhost!r}")
        except sp.Refused as exc:
            raise refuse(exc) from None
        ch = amqp.channel()
        ch.confirm_delivery()
        held: list[int] = []  # taken and not the one: kept (so a live consumer cannot get them) and requeued after
        try:
            deadline = time.monotonic() + FIND_S
            # A consumer of the highest priority: a message the others reject and requeue comes to it first
            # (basic.get would almost never see it ready: it goes straight back to a waiting consumer).
            ch.basic_qos(prefetch_count=MAX_HELD + 1)
            for method, props, body in ch.consume(queue, auto_ack=False, inactivity_timeout=0.05,
                                                  arguments={"x-priority": PRIORITY}):
                if method is None:  # the poison message may be with a consumer for a moment
                    if time.monotonic() > deadline or (not held and expect_id is None and force):
                        raise refuse(sp.Refused(
                            f"queue {queue!r} has no ready message" + (
                                " with the dry run's move id (it was consumed or moved)" if expect_id else
                                " that was redelivered (nothing says its consumers reject one)" if held else "")))
                    continue
                mid = move_id(queue, vhost, body, props)
                if (mid == expect_id if expect_id is not None else (force or is_rejected(method.redelivered, props))):
                    break
                held.append(method.delivery_tag)
                if len(held) >= MAX_HELD or time.monotonic() > deadline:
                    raise refuse(sp.Refused(
                        f"the dry run's message ({expect_id}) was not found in {queue!r}; run the dry run again"
                        if expect_id else f"no redelivered message among the first {len(held)} of {queue!r}: "
                                          f"nothing says its consumers reject one (force to move the head anyway)"))
            head = _describe(body, method, props, mid)
            report = {"queue": queue, "vhost": vhost, "dlq": dlq_name, "head": head,
                      "plan": f"move message {props.message_id or mid} (redelivered: {head['redelivered']}, "
                              f"delivery count: {head['delivery_count']}) from {queue} to {dlq_name}"}
            if dry_run:
                ch.basic_nack(method.delivery_tag, requeue=True)
                report["outcome"] = "dry run"
                return report
            # CC / BCC would make the broker route extra copies (sender-selected distribution): never republished
            headers = {k: v for k, v in (props.headers or {}).items()
                       if k not in (MOVED_BY, MOVE_REASON, MOVE_ID, "CC", "BCC")}
            headers.update({"x-first-death-queue": queue, "x-first-death-reason": "rejected",
                            "x-first-death-exchange": method.exchange or "",
                            MOVED_BY: actor, MOVE_REASON: why, MOVE_ID: mid})
            copy = pika.BasicProperties(headers=headers, **{k: getattr(props, k) for k in _PROPS})
            try:
                ch.basic_publish("", dlq_name, body, copy, mandatory=True)  # raises unless confirmed
            except Exception as exc:
                ch.basic_nack(method.delivery_tag, requeue=True)
                audit.record(conn, now(), actor, ACTION, target, {**ask, **head, "dlq": dlq_name,
                                                                  "error": f"{type(exc).__name__}: {exc}"[:500]},
                             "failed")
                raise sp.Refused(f"publishing the copy to {dlq_name} failed ({type(exc).__name__}); the message "
                                 f"stays in {queue}") from None
            ch.basic_ack(method.delivery_tag)
            report["audit_id"] = audit.record(conn, now(), actor, ACTION, target,
                                              {**ask, **head, "dlq": dlq_name, "reason": why}, "moved")
            report["outcome"] = "moved"
            return report
        finally:
            if ch.is_open:
                ch.cancel()  # messages delivered to us and not yet looked at go back
                for tag in held:
                    ch.basic_nack(tag, requeue=True)
                ch.close()  # anything still held goes back to the queue
    finally:
        amqp.close()
