"""RabbitMQ DLQ browse (non-destructive peek: get, then requeue) and replay execution (pika).

Replay (dlq.rabbit_replay) publishes with publisher confirms and ``mandatory``, up to W per job
unconfirmed (request ``window``, default ``dlq.default_window``); a DLQ copy is acked only after
its confirm and after its outcome is in the ledger. A nack, an unroutable return or a channel
error leaves the copy in the DLQ (requeued when the job ends). A crash duplicates at most W
messages, each with the same ``eventdeck-replay-id``; W = 1 is the strict mode.
"""
from __future__ import annotations

import logging
from typing import Any
from urllib.parse import urlsplit

import pika
from pika.exceptions import ChannelClosedByBroker

from brokers import amqp_fields
from brokers.rabbitmq import RabbitError, amqp_connect, amqp_parameters
from config.rabbitmq import RabbitClusterConfig
from dlq import headers as hdr
from dlq import plan, targets
from dlq.context import JobContext, ReplayError
from dlq.policy import TargetPolicy
from dlq.payload import message_view

log = logging.getLogger("eventdeck.dlq.rabbit_io")

_PROPS = ("content_type", "content_encoding", "delivery_mode", "priority", "correlation_id", "reply_to",
          "expiration", "message_id", "timestamp", "type", "user_id", "app_id")


def params(cfg: RabbitClusterConfig, vhost: str = "/") -> pika.URLParameters:
    """Connection parameters for ``vhost`` with the cluster's credentials (never put in messages)."""
    try:
        return amqp_parameters(cfg, vhost)
    except RabbitError as exc:  # no password configured: the job fails naming the variable
        raise ReplayError(str(exc)) from None


def connect(cfg: RabbitClusterConfig, vhost: str = "/") -> pika.BlockingConnection:
    """A blocking connection to ``vhost`` with the cluster's credentials (never put in messages)."""
    parts = urlsplit(cfg.amqp_url)
    try:
        return amqp_connect(cfg, vhost, params(cfg, vhost))
    except RabbitError as exc:
        raise ReplayError(f"rabbitmq cluster {cfg.name}: cannot connect to {parts.hostname}:{parts.port}: {exc}") from None


def close_quietly(conn: pika.BlockingConnection) -> None:
    """Close ``conn`` if it is still open. In a ``finally`` this must never raise: a connection the broker
    or a failed read already closed would raise ConnectionWrongStateError and hide the real error."""
    try:
        if conn.is_open:
            conn.close()
    except Exception:  # noqa: BLE001 - the error that got us here (if any) is the one to report
        log.debug("closing a RabbitMQ connection failed", exc_info=True)


def depth(conn: pika.BlockingConnection, queue: str) -> int:
    """Ready messages of ``queue``; ReplayError naming it when it does not exist."""
    ch = conn.channel()
    try:
        return ch.queue_declare(queue, passive=True).method.message_count
    except ChannelClosedByBroker as exc:
        raise ReplayError(f"queue {queue!r} not found ({exc.reply_code} {exc.reply_text})") from None
    finally:
        if ch.is_open:
            ch.close()


def to_message(body: bytes, props: pika.BasicProperties, tag: int, *, shown: bool = True
               ) -> tuple[plan.Message, hdr.HeaderError | None]:
    """A delivery as a plan.Message, with the header error (if any) kept apart; ``shown=False`` (replay)
    skips the headers' display text."""
    headers = dict(props.headers or {})
    plain = hdr.plain_headers(headers)
    properties = {k: getattr(props, k) for k in _PROPS if getattr(props, k) is not None}
    decoded, err = hdr.decode_lenient(headers, shown=shown)
    ts = props.timestamp * 1000 if isinstance(props.timestamp, int) else None
    if ts is None and decoded.deaths and decoded.deaths[0].time_ms is not None:
        ts = decoded.deaths[0].time_ms
    return plan.Message(coord=plan.rabbit_coord(body, properties, plain), key=(props.message_id or "").encode()
                        or None, value=body, ts_ms=ts, headers=headers, decoded=decoded,
                        properties=properties, handle=tag), err


def resolve(msg: plan.Message, err: hdr.HeaderError | None, cfg: RabbitClusterConfig, dlq: str,
            explicit: dict[str, Any] | None, mode: str, *, policy: TargetPolicy
            ) -> targets.Target | targets.NoTarget | hdr.HeaderError:
    """The target of a message, a header-derived one only if ``policy`` permits it."""
    if err is not None and not explicit:
        return err
    try:
        t = targets.resolve_rabbit(msg.decoded, dlq, explicit,
                                   {k: v.source_queue for k, v in cfg.dlq_map.items()}, cfg.dlq_patterns, mode)
    except targets.NoTarget as exc:
        return exc
    return policy.check(t)


def peek(cfg: RabbitClusterConfig, vhost: str, dlq: str, limit: int,
         max_bytes: int = 16 * 1024 * 1024) -> list[tuple[plan.Message, Any]]:
    """Up to ``limit`` messages (and about ``max_bytes``) from the head of the queue, all requeued
    before returning (which marks them redelivered)."""
    return peek_scan(cfg, vhost, dlq, limit, max_bytes)[0]


def peek_scan(cfg: RabbitClusterConfig, vhost: str, dlq: str, limit: int, max_bytes: int
              ) -> tuple[list[tuple[plan.Message, Any]], int, int, str | None]:
    """``peek`` with how far it looked: (messages, depth, bytes read, limit that stopped it or None)."""
    conn = connect(cfg, vhost)
    try:
        total = depth(conn, dlq)
        n = min(limit, total)
        ch = conn.channel()
        out = []
        size, stopped = 0, None
        for _ in range(n):
            if size >= max_bytes:
                stopped = "bytes"
                break
            method, props, body = ch.basic_get(dlq, auto_ack=False)
            if method is None:
                break
            out.append(to_message(body, props, method.delivery_tag))
            size += plan.message_bytes(None, body, props.headers)
        if stopped is None and limit < total:
            stopped = "messages"
        if out:
            ch.basic_nack(delivery_tag=0, multiple=True, requeue=True)
        ch.close()
        return out, total, size, stopped
    finally:
        close_quietly(conn)


def dry_run_targets(cfg: RabbitClusterConfig, req: dict[str, Any], scan: int, *, policy: TargetPolicy,
                    max_bytes: int = 16 * 1024 * 1024) -> plan.Scan:
    """Up to ``scan`` messages (or ``max_bytes``) from the head of the request's DLQ (peeked and
    requeued), each with the target a replay would use; the pin is the number of messages seen."""
    msgs, total, size, stopped = peek_scan(cfg, req["vhost"], req["dlq"], scan, max_bytes)
    items = []
    for m, e in msgs:
        problem = republish_problem(m)  # the replay would fail it alone: say so now
        items.append((m, targets.NoTarget(f"message {m.coord}: {problem}; it stays in the DLQ") if problem else
                      resolve(m, e, cfg, req["dlq"], req["target"], req["rabbit_mode"], policy=policy)))
    return plan.Scan(items, total, size, stopped, {"count": len(items)})


def browse(cfg: RabbitClusterConfig, dlq: str, page: int, page_size: int, preview: int, vhost: str = "/",
           rabbit_mode: str = "queue", *, policy: TargetPolicy, max_messages: int = 20_000,
           max_bytes: int = 16 * 1024 * 1024, **filters: Any) -> list[dict[str, Any]]:
    """One page of the queue from its head (oldest first), by peek (get, then requeue)."""
    sel = {"mode": "filter", **{k: filters.get(k) for k in ("from_ms", "to_ms", "key", "reason", "exception_class")}}
    narrow = any(sel[k] for k in ("from_ms", "to_ms", "key", "reason", "exception_class"))
    msgs = [(m, e) for m, e in peek(cfg, vhost, dlq, max_messages if narrow else (page + 1) * page_size, max_bytes)
            if plan.selected(sel, m)]
    out = []
    for msg, err in msgs[page * page_size:(page + 1) * page_size]:
        t = resolve(msg, err, cfg, dlq, None, rabbit_mode, policy=policy)
        where = t.describe() if isinstance(t, targets.Target) else f"no target: {t}"
        view = message_view(msg, err, where, preview)
        view["deaths"] = [d.__dict__ | {"routing_keys": list(d.routing_keys)} for d in msg.decoded.deaths]
        out.append(view)
    return out


def not_republished(msg: plan.Message) -> list[str]:
    """Names of the headers and properties of ``msg`` a replay drops (CC, BCC, user_id): the dry run shows them."""
    names = [k for k in (msg.headers or {}) if hdr.is_broker_routing_header(k)]
    return names + [p for p in hdr.NOT_REPUBLISHED_PROPERTIES if p in (msg.properties or {})]


def republish_problem(msg: plan.Message) -> str | None:
    """Why ``msg``'s headers cannot be republished as read (a value that would not round-trip), or None."""
    return amqp_fields.round_trip_problem(msg.headers if isinstance(msg.headers, dict) else None)


def _properties(msg: plan.Message, headers: dict[str, Any]) -> pika.BasicProperties:
    """The properties of the replayed copy: as read, without what RabbitMQ would act on (CC/BCC routing to
    queues outside the target policy; user_id, checked against Eventdeck's own user)."""
    headers = {k: v for k, v in (headers or {}).items() if not hdr.is_broker_routing_header(k)}
    props = {k: v for k, v in msg.properties.items() if k not in hdr.NOT_REPUBLISHED_PROPERTIES}
    return pika.BasicProperties(headers=headers, **props)


def run_replay(ctx: JobContext, cfg: RabbitClusterConfig) -> str:
    """Execute (or resume) a RabbitMQ replay job with a window of ``window`` unconfirmed publishes;
    returns 'done' or 'cancelled'. See dlq.rabbit_replay for the guarantees."""
    from dlq.rabbit_replay import WindowedReplay

    dlq, vhost = ctx.job["dlq"], ctx.req["vhost"]
    admin = connect(cfg, vhost)
    try:
        n = plan.pinned_count(ctx.req, depth(admin, dlq))  # what Confirm saw; later arrivals wait
        sel = ctx.req["selection"]
        job = ctx.job
        before = sum(int(job.get(k) or 0) for k in ("replayed", "parked", "skipped", "failed"))
        # After a resume the copies this job already handled are counted once: the total shrinks
        # as they are met again, so progress never passes 100 %.
        total = len(set(sel["coords"])) if sel["mode"] == "picked" else before + n
        ctx.beat(total=total)
        return WindowedReplay(ctx, cfg, params(cfg, vhost), admin, n, total,
                              lambda m, e: resolve(m, e, cfg, dlq, ctx.req["target"], ctx.req["rabbit_mode"],
                                                    policy=ctx.policy),
                              to_message, _properties).run()
    finally:
        close_quietly(admin)
