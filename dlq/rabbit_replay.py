"""RabbitMQ replay execution with a window of W unconfirmed publishes (pika SelectConnection).

The DLQ is consumed with a prefetch of at least 2W; each selected message is published with
``mandatory`` and publisher confirms, up to W of them published and not yet recorded. As confirms
arrive, the batch's outcomes, ledger rows and one audit entry are written in one transaction, then
the DLQ copies are acked (``multiple=True`` over contiguous runs). A nack, a return (unroutable) or
a publish channel closed by the broker leave the copy unacked: it is requeued, in its place, when
the job ends, and its outcome is ``failed`` with the reason.

Duplicate bound: a message is published at most once per run, and acked only after its outcome is
in the ledger. A crash loses at most the window — messages published whose outcome was not yet
recorded, W at most — and the resumed job publishes those again: at most W duplicates per crash,
each with the same ``eventdeck-replay-id`` (deterministic from the DLQ coordinates), which the
instrument library's idempotency helper drops (``key=replay_id_key()``). A copy recorded but not
acked before the crash is only acked when redelivered. W = 1 is the strict mode (≤ 1 duplicate).

Rate limit (a lower bound: message i never goes before start + i/rate) applies across the window;
cancel stops publishing at once and the job ends once the window has settled.
"""
from __future__ import annotations

import functools
import logging
import struct
from collections import deque
from typing import Any, Callable

import pika
from pika.exceptions import ChannelClosedByBroker, ProtocolSyntaxError, ShortStringTooLong
from pika.spec import Basic

from brokers import amqp_fields
from config.rabbitmq import RabbitClusterConfig
from core import gcpause
from dlq import headers as hdr
from dlq import plan, targets
from dlq.context import JobContext, ReplayError, outcome
from dlq.rabbit_window import Flight, Window

log = logging.getLogger("eventdeck.dlq.rabbit_replay")

TICK_S = 0.25  # heartbeat, cancel check and idle check
IDLE_S = 3.0  # no delivery this long with nothing in flight: the queue has no more for us


class _CorkedConnection(pika.SelectConnection):
    """A SelectConnection whose frames written while ``cork`` is held leave in one socket write.

    pika hands each frame (method, header, body: three per publish) to the transport separately,
    which sends each with its own send(2); on a loaded host that was the largest share of the
    client's CPU per message (see bench/replay_bench.py --profile). ``_adapter_emit_data`` is the
    adapter hook pika's connection writes through (its subclasses override it).
    """

    _corked: bytearray | None = None
    _cork_depth = 0

    def _adapter_emit_data(self, data: bytes) -> None:
        if self._corked is not None:
            self._corked += data
        else:
            super()._adapter_emit_data(data)

    def cork(self) -> None:
        if self._cork_depth == 0:
            self._corked = bytearray()
        self._cork_depth += 1

    def uncork(self) -> None:
        self._cork_depth -= 1
        if self._cork_depth == 0:
            data, self._corked = self._corked, None
            if data and not self.is_closed:
                super()._adapter_emit_data(bytes(data))


class WindowedReplay:
    """One run of a job: consume, publish, settle; driven by a SelectConnection's ioloop.

    ``admin`` is a blocking connection for the rare synchronous checks (parking queue, target
    exchanges); ``resolve(msg, err)`` gives a message's target.
    """

    def __init__(self, ctx: JobContext, cfg: RabbitClusterConfig, params: pika.URLParameters, admin: Any,
                 depth: int, total: int, resolve: Callable[[plan.Message, hdr.HeaderError | None], Any],
                 to_message: Callable[..., tuple[plan.Message, hdr.HeaderError | None]],
                 properties: Callable[[plan.Message, dict[str, Any]], pika.BasicProperties]) -> None:
        self.ctx, self.cfg, self.params, self.admin = ctx, cfg, params, admin
        self.dlq: str = ctx.job["dlq"]
        self.window: int = int(ctx.req["window"])
        self.depth, self.total = depth, total
        self.shrink_total = ctx.req["selection"]["mode"] != "picked"  # picked: the total is the coords
        self._resolve, self._to_message, self._properties = resolve, to_message, properties
        self.conn: _CorkedConnection | None = None
        self.src: Any = None
        self.pub: Any = None
        self.pub_ready = False
        self.ctag: str | None = None
        self.win = Window(self.window)  # the publish window and the DLQ copies (pure bookkeeping)
        self.received = 0  # deliveries handled (at most the depth at start)
        self.incoming: list[tuple[int, Any, bytes]] = []
        self.ready: deque[Flight] = deque()
        self.settled: list[dict[str, Any]] = []  # outcomes of messages not published (skip, error)
        self.pending_rids: set[str] = set()
        self.exchanges: dict[str, str | None] = {}  # name -> None (exists) or the refusal
        self.parking_ok: set[str] = set()
        self.last_delivery = ctx.clock()
        self.stopping = False
        self.error: BaseException | None = None
        self.state = "done"
        self._flush_due = False
        self._pump_timer: Any = None
        self._last_total: int | None = None

    # --- driving -----------------------------------------------------------------------------
    def run(self) -> str:
        self.conn = _CorkedConnection(self.params, on_open_callback=self._guard(self._on_open),
                                      on_open_error_callback=self._on_open_error,
                                      on_close_callback=self._on_closed)
        try:
            self.conn.ioloop.start()
        finally:
            if not self.conn.is_closed:  # a BaseException escaped a callback: close, requeueing copies
                self.stopping = True
                if not self.conn.is_closing:
                    self.conn.close()
                self.conn.ioloop.start()
            self.conn.ioloop.close()  # its poller and wake-up pipe: the service runs many jobs
        if self.error is not None:
            raise self.error
        self.ctx.beat(total=max(self.total, 0), force=True)  # the total as it ended; state unchanged
        return self.state

    def _guard(self, fn: Callable[..., None]) -> Callable[..., None]:
        """Our callbacks: what they write leaves in one socket write; a failure ends the run."""
        def call(*args: Any) -> None:
            if self.error is not None:
                return
            conn = self.conn
            assert conn is not None
            conn.cork()
            try:
                with gcpause.paused():  # see _flush
                    fn(*args)
            except Exception as exc:  # any failure ends the run: the copies not acked are requeued
                self._abort(exc)
            finally:
                conn.uncork()
        return call

    def _abort(self, exc: BaseException) -> None:
        if self.error is None:
            self.error = exc
        if self.conn is not None and not (self.conn.is_closing or self.conn.is_closed):
            self.conn.close()

    def _on_open_error(self, _conn: Any, exc: BaseException) -> None:
        self.error = ReplayError(f"rabbitmq cluster {self.cfg.name}: cannot connect: {type(exc).__name__} {exc}")
        self.conn.ioloop.stop()  # type: ignore[union-attr]

    def _on_closed(self, _conn: Any, reason: BaseException) -> None:
        if not self.stopping and self.error is None:
            self.error = ReplayError(f"rabbitmq cluster {self.cfg.name}: connection lost: "
                                     f"{type(reason).__name__} {reason}")
        self.conn.ioloop.stop()  # type: ignore[union-attr]

    def _on_open(self, conn: Any) -> None:
        conn.channel(on_open_callback=self._guard(self._on_src_open))
        self._open_pub()
        conn.ioloop.call_later(TICK_S, self._guard(self._tick))

    def _on_src_open(self, ch: Any) -> None:
        self.src = ch
        ch.add_on_close_callback(self._on_src_closed)
        if self.depth == 0:
            self._maybe_finish()
            return
        self._consume()

    def _on_src_closed(self, _ch: Any, reason: BaseException) -> None:
        if not self.stopping:
            self._abort(ReplayError(f"consuming {self.dlq!r} stopped: {reason}"))

    def _consume(self) -> None:
        """(Re)start the consumer with room for the window beyond the copies held (a copy that stays
        in the DLQ keeps its prefetch slot until the job ends)."""
        old = self.ctag
        self.src.basic_qos(prefetch_count=self.win.prefetch)
        self.ctag = self.src.basic_consume(self.dlq, self._guard(self._on_message))
        self.win.consumer_restarted()
        if old is not None:
            self.src.basic_cancel(old)  # deliveries still on the way to it are requeued by pika

    def _open_pub(self) -> None:
        self.pub_ready = False

        def opened(ch: Any) -> None:
            self.pub = ch
            ch.add_on_close_callback(self._guard(self._on_pub_closed))
            ch.add_on_return_callback(self._guard(self._on_return))
            ch.confirm_delivery(ack_nack_callback=self._guard(self._on_confirm),
                                callback=self._guard(confirmed))

        def confirmed(_frame: Any) -> None:
            self.pub_ready = True
            self.win.channel_opened()
            self._pump()
        self.conn.channel(on_open_callback=self._guard(opened))  # type: ignore[union-attr]

    def _on_pub_closed(self, ch: Any, reason: BaseException) -> None:
        if self.stopping or ch is not self.pub:
            return
        why = (f"{reason.reply_code} {reason.reply_text}" if isinstance(reason, ChannelClosedByBroker)
               else f"{type(reason).__name__} {reason}")
        self.win.channel_lost(why)  # their confirms will never come: unknown, so they stay
        self._schedule_flush()
        self._open_pub()

    # --- receiving ---------------------------------------------------------------------------
    def _on_message(self, _ch: Any, method: Any, props: Any, body: bytes) -> None:
        if self.received >= self.depth or self.stopping or self.ctx.cancelled:
            return  # beyond the selection pinned at the start: left unacked, requeued at the end
        self.received += 1
        self.last_delivery = self.ctx.clock()
        self.win.delivered(method.delivery_tag)
        self.incoming.append((method.delivery_tag, props, body))
        if self.received == self.depth:
            self.src.basic_cancel(self.ctag)  # new arrivals wait for the next job
        self._schedule_flush()

    def _hold(self, tag: int) -> None:
        """This copy stays in the DLQ (requeued when the job ends)."""
        if self.win.hold(tag, more_coming=self.received < self.depth):
            self._consume()  # the copies held took up the prefetch: restart with the larger one

    def _plan_incoming(self) -> None:
        batch, self.incoming = self.incoming, []
        sel = self.ctx.req["selection"]
        msgs = []
        for tag, props, body in batch:
            msg, err = self._to_message(body, props, tag, shown=False)
            if plan.selected(sel, msg):
                msgs.append((msg, err))
            else:
                self.total -= self.shrink_total
                self._hold(tag)
        states = self.ctx.ledger([m.coord for m, _ in msgs]) if msgs else {}
        acks = []
        for msg, err in msgs:
            rid = self.ctx.rid(msg.coord)
            state = states.get(msg.coord)
            if rid in self.ctx.done or rid in self.pending_rids:  # handled by this job already
                self.total -= self.shrink_total
                if rid in self.ctx.done and state is not None and state[1] == self.ctx.job["id"]:
                    acks.append(msg.handle)  # recorded before a crash, never acked: finish the move
                else:
                    self._hold(msg.handle)
                continue
            item = self.ctx.decide(msg, rid, self._resolve(msg, err), state[0] if state else None)
            if item.action in ("skip", "error"):
                self.settled.append(outcome(item, "skipped" if item.action == "skip" else "failed"))
                self.pending_rids.add(rid)
                self._hold(msg.handle)
                continue
            target = item.target
            assert target is not None
            refused = self._check_target(target, item.action == "park")
            if refused:
                self._stays(item, msg, f"publish to {target.describe()} refused: {refused}")
                continue
            count = msg.decoded.replay_count + (1 if item.action == "replay" else 0)
            value, headers = self.ctx.edited(msg, item.action)  # an operator's edit of this one message, if any
            props = _OnceEncoded.of(self._properties(msg, plan.replay_headers(headers, rid, count, target)))
            unencodable = _encoding_problem(target, props)
            if unencodable:
                self._stays(item, msg, f"cannot be encoded for {target.describe()}: {unencodable}")
                continue
            self.ready.append(Flight(item, msg.handle, target, value or b"", props))
            self.pending_rids.add(rid)
        self._ack(acks)

    def _stays(self, item: plan.PlanItem, msg: plan.Message, why: str) -> None:
        """The message fails alone before anything is published: its copy stays in the DLQ."""
        self.settled.append(outcome(item, "failed", f"message {msg.coord}: {why}; it stays in {self.dlq}"))
        self.pending_rids.add(item.replay_id)
        self._hold(msg.handle)

    def _check_target(self, t: targets.Target, park: bool) -> str | None:
        """None when the target can be published to; else the broker's refusal (missing exchange)."""
        if park:
            name = t.routing_key or ""
            if name not in self.parking_ok:
                ch = self.admin.channel()
                try:
                    ch.queue_declare(name, passive=True)
                except ChannelClosedByBroker:  # absent: declared durable on a fresh channel
                    ch = self.admin.channel()
                    ch.queue_declare(name, durable=True)
                if ch.is_open:
                    ch.close()
                self.parking_ok.add(name)
            return None
        ex = t.exchange or ""
        if not ex:
            return None  # the default exchange: a missing queue comes back as a return
        if ex not in self.exchanges:
            ch = self.admin.channel()
            try:
                ch.exchange_declare(ex, passive=True)
                self.exchanges[ex] = None
                ch.close()
            except ChannelClosedByBroker as exc:  # NOT_FOUND or ACCESS_REFUSED: named in the outcome
                self.exchanges[ex] = f"{exc.reply_code} {exc.reply_text}"
        return self.exchanges[ex]

    # --- publishing --------------------------------------------------------------------------
    def _pump(self) -> None:
        self._pump_timer = None
        while self.ready and self.pub_ready and not self.stopping and not self.ctx.cancelled \
                and self.win.has_room():
            wait = self.ctx.wait_s()
            if wait > 0:
                self._pump_timer = self.conn.ioloop.call_later(wait, self._guard(self._pump))  # type: ignore
                return
            f = self.ready.popleft()
            self.pub.basic_publish(f.target.exchange or "", f.target.routing_key or "", f.body, f.props,
                                   mandatory=True)
            self.win.published(f)

    def _on_return(self, _ch: Any, _method: Any, props: Any, _body: bytes) -> None:
        self.win.returned((props.headers or {}).get(hdr.REPLAY_ID))

    def _on_confirm(self, frame: Any) -> None:
        m = frame.method
        self.win.confirm(m.delivery_tag, bool(m.multiple), isinstance(m, Basic.Nack))
        self._schedule_flush()

    # --- settling ----------------------------------------------------------------------------
    def _schedule_flush(self) -> None:
        """Coalesce everything that arrived in one read of the socket into one batch."""
        if not self._flush_due:
            self._flush_due = True
            self.conn.ioloop.call_later(0, self._guard(self._flush))  # type: ignore[union-attr]

    def _flush(self) -> None:
        self._flush_due = False
        if self.incoming:
            self._plan_incoming()
        outs, acks = self.settled, []
        for f in self.win.take_confirmed():
            if f.problem:
                outs.append(outcome(f.item, "failed", f"message {f.item.coord}: {f.problem}; it stays in {self.dlq}"))
                self._hold(f.tag)
            else:
                outs.append(outcome(f.item, "replayed" if f.item.action == "replay" else "parked"))
                acks.append(f.tag)
        if outs:
            self.ctx.record(outs)  # outcomes, ledger and one audit entry, in one transaction ...
            self._ack(acks)  # ... before the DLQ copies go
            self.pending_rids.difference_update(o["replay_id"] for o in outs)
        self.settled = []
        self._beat()
        if self._pump_timer is None:
            self._pump()
        self._maybe_finish()

    def _ack(self, tags: list[int]) -> None:
        multiple, singles = self.win.acks(tags)
        if multiple is not None:
            self.src.basic_ack(multiple, multiple=True)
        for t in singles:
            self.src.basic_ack(t)

    def _beat(self, force: bool = False) -> None:
        total = max(self.total, 0)
        changed = total != self._last_total
        self._last_total = total
        if self.ctx.beat(total=total if changed else None, force=force) and not self.stopping:
            self.state = "cancelled"
            self.ready.clear()  # never published: stays in the DLQ

    def _tick(self) -> None:
        self._beat()
        self.admin.process_data_events(time_limit=0)  # keeps the idle admin connection's heartbeats
        idle = self.ctx.clock() - self.last_delivery >= IDLE_S
        if idle and self.received < self.depth and not self.ready and not self.win.inflight and not self.incoming:
            log.info("replay job %s: %s delivered %d of %d messages, then nothing for %.0f s: ending",
                     self.ctx.job["id"], self.dlq, self.received, self.depth, IDLE_S)
            self.received = self.depth
        self._maybe_finish()
        if not self.stopping:
            self.conn.ioloop.call_later(TICK_S, self._guard(self._tick))  # type: ignore[union-attr]

    def _maybe_finish(self) -> None:
        if self.stopping or self.win.unsettled or self.settled or self.incoming or self._flush_due:
            return
        if not (self.ctx.cancelled or (self.received >= self.depth and not self.ready)):
            return
        self.stopping = True
        if self.ctx.cancelled:
            self.state = "cancelled"
        self.conn.close()  # type: ignore[union-attr]  # closing the channels requeues every copy held


class _OnceEncoded(pika.BasicProperties):
    """Properties encoded once: the check before publishing (:func:`_encoding_problem`) and the publish's
    header frame share the bytes (encoding them was a tenth of the replay's client CPU). pika's frame
    inserts into the list it gets, so each caller gets its own copy."""

    _pieces: list[bytes] | None = None

    @classmethod
    def of(cls, props: pika.BasicProperties) -> "_OnceEncoded":
        out = cls()
        out.__dict__.update(props.__dict__)
        return out

    def encode(self) -> list[bytes]:
        if self._pieces is None:
            self._pieces = super().encode()
        return list(self._pieces)


@functools.lru_cache(maxsize=1024)  # once per target, not per message
def _publish_problem(exchange: str, routing_key: str) -> str | None:
    """Why pika cannot write a basic.publish to ``exchange`` with ``routing_key`` (a name too long), or None."""
    try:
        Basic.Publish(exchange=exchange, routing_key=routing_key).encode()
    except (ShortStringTooLong, ProtocolSyntaxError, struct.error, TypeError, ValueError, AssertionError,
            OverflowError) as exc:
        return f"{type(exc).__name__}: {str(exc)[:200]}"
    return None


def _encoding_problem(t: targets.Target, props: pika.BasicProperties) -> str | None:
    """Why pika cannot write this publish (a name too long; a header it reads but cannot write, such as
    a double from a Java client or an int beyond 64 bits), or None. Checked before anything goes out,
    so such a message fails alone and the channel stays intact."""
    problem = _publish_problem(t.exchange or "", t.routing_key or "")
    if problem:
        return problem
    try:
        props.encode()
        # Eventdeck's own headers (ASCII text, added last) always round-trip: only the message's are checked.
        problem = amqp_fields.round_trip_problem({k: v for k, v in (props.headers or {}).items()
                                                  if k not in hdr.EVENTDECK_HEADERS})
        if problem:
            return problem
    except (ShortStringTooLong, ProtocolSyntaxError, struct.error, TypeError, ValueError, AssertionError,
            OverflowError) as exc:
        return f"{type(exc).__name__}: {str(exc)[:200]}"
    return None
