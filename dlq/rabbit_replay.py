"""RabbitMQ replay execution: DLQ messages move to their targets in AMQP transactions (pika).

One channel in transaction mode (``tx.select``) consumes the DLQ with a prefetch window. A batch
of messages is published to its targets with ``mandatory`` and the DLQ copies are acked on the
same channel, then ``tx.commit``. Before the commit the batch's replay ids are written to the
store as in flight; after commit-ok the outcomes go to the ledger and the in-flight rows go away.
The client's work on one batch overlaps the broker's commit of the previous one.

Why this is as safe as a publisher confirm per message:

* A client that dies (SIGKILL) before commit-ok: the broker rolls the transaction back when the
  connection closes: publishes discarded, acks undone, the copies go back to the DLQ. After
  commit-ok the copies are gone, so they cannot be replayed twice. A resumed job therefore settles
  the previous run's in-flight rows by looking at the DLQ: a copy that is back was not committed
  (it is replayed again); one that never comes back in a full scan was committed (recorded as
  such). A crash in a batch duplicates nothing.
* RabbitMQ's transactions are all-or-nothing for a client crash; on a *broker* failure they are
  atomic only per queue (https://www.rabbitmq.com/docs/semantics) - the same exposure as confirms.
* Unroutable: RabbitMQ sends ``basic.return`` for a transactional publish only while committing,
  when the copy's ack commits too, so routability must be known before the commit. A queue target
  (the default exchange) routes iff the queue exists: every batch checks its target queues with a
  passive declare first; a missing one fails its messages, which stay in the DLQ. Should a queue
  vanish between that check and the publish, the returned message is put back into the DLQ in a
  second transaction (a crash in that gap is the one way to lose it). An exchange target's
  routability depends on bindings that cannot be checked, so such messages go one at a time:
  publish + commit (a return means unroutable, nothing acked), ledger, then ack + commit - a crash
  between the commits duplicates that one message (same replay id); after the ledger write the
  redelivered copy is only acked.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, Callable

import pika
from pika.exceptions import ChannelClosedByBroker

from config.rabbitmq import RabbitClusterConfig
from dlq import plan, targets
from dlq.context import JobContext, ReplayError, outcome
from dlq.headers import REPLAY_ID
from dlq.rabbit_io import connect, depth, resolve, to_message
from store import dlq as store_dlq

MAX_BATCH = 500
IDLE_S = 2.0  # no delivery for this long while messages are expected: the DLQ holds fewer than counted
PREVIOUS_RUN_WAIT_S = 30.0  # a resumed job waits this long for the crashed run's consumer to go away


@dataclass
class _Batch:
    """The plan of one batch; ``held`` copies stay unacked in this job (they return to the DLQ)."""

    queue_sends: list[tuple[plan.PlanItem, plan.Message]] = field(default_factory=list)
    exchange_sends: list[tuple[plan.PlanItem, plan.Message]] = field(default_factory=list)
    acks: list[int] = field(default_factory=list)  # copies already replayed by this job: just finish the move
    settled: list[dict[str, Any]] = field(default_factory=list)  # skipped / failed outcomes
    held: int = 0


class _Mover:
    """The transaction channel consuming the DLQ, plus a side channel for passive checks."""

    def __init__(self, conn: pika.BlockingConnection, dlq: str, window: int) -> None:
        self.conn, self.dlq, self.window = conn, dlq, window
        self.inbox: list[tuple[Any, Any, bytes]] = []
        self.returns: dict[str, str] = {}  # replay id -> reply text of a basic.return
        self.ch = conn.channel()
        self.ch.add_on_return_callback(self._on_return)
        self.ch.tx_select()
        self.held = 0
        self.acked = 0  # highest delivery tag acked so far
        self.committing = False
        self.pending: list[tuple[plan.PlanItem, plan.Message]] | None = None  # sent tx.commit, not yet settled
        self.ch.basic_qos(prefetch_count=window, global_qos=True)
        self.tag = self.ch.basic_consume(dlq, lambda _c, m, p, b: self.inbox.append((m, p, b)))
        self.side = conn.channel()
        self.parking_ok: set[str] = set()

    def _on_return(self, _ch: Any, method: Any, props: pika.BasicProperties, _body: bytes) -> None:
        rid = (props.headers or {}).get(REPLAY_ID)
        self.returns[rid.decode() if isinstance(rid, bytes) else str(rid)] = f"{method.reply_code} {method.reply_text}"

    def hold(self, n: int) -> None:
        """``n`` more copies stay unacked: widen the window so they do not stall the consumer."""
        if n:
            self.held += n
            self.ch.basic_qos(prefetch_count=self.held + self.window, global_qos=True)

    def fetch(self, want: int) -> list[tuple[Any, Any, bytes]]:
        idle_until = time.monotonic() + IDLE_S
        while len(self.inbox) < want and time.monotonic() < idle_until:
            before = len(self.inbox)
            self.conn.process_data_events(time_limit=0.05)
            if len(self.inbox) > before:
                idle_until = time.monotonic() + IDLE_S
        out, self.inbox = self.inbox[:want], self.inbox[want:]
        return out

    def ack(self, tags: list[int]) -> None:
        """Ack (in the transaction) the copies with these delivery tags: one frame for the batch when no
        held copy lies below them (multiple=True acks every unacked tag up to the one given)."""
        if not tags:
            return
        impl = self.ch._impl  # buffered like the publishes
        if self.held == 0 and len(tags) == len(set(tags)) and max(tags) - self.acked == len(tags):
            impl.basic_ack(max(tags), multiple=True)
        else:
            for tag in tags:
                impl.basic_ack(tag)
        self.acked = max(self.acked, max(tags))

    def start_commit(self) -> None:
        """Send tx.commit without waiting: the next batch is published meanwhile (into the next transaction)."""
        self.committing = True
        self.ch._impl.tx_commit(callback=self._on_commit_ok)

    def _on_commit_ok(self, _frame: Any) -> None:
        self.committing = False

    def finish_commit(self) -> dict[str, str]:
        """Wait for commit-ok; the returns the broker sent while committing (they precede it), by replay id."""
        self.ch._flush_output(lambda: not self.committing)  # raises ChannelClosedByBroker if the broker closed it
        self.conn.process_data_events(time_limit=0)  # dispatch the returns read before commit-ok
        out, self.returns = self.returns, {}
        return out

    def commit(self) -> dict[str, str]:
        self.start_commit()
        return self.finish_commit()

    def _passive(self, kind: str, name: str) -> str | None:
        try:
            if kind == "queue":
                self.side.queue_declare(name, passive=True)
            else:
                self.side.exchange_declare(name, passive=True)
            return None
        except ChannelClosedByBroker as exc:
            self.side = self.conn.channel()
            return f"{exc.reply_code} {exc.reply_text}"

    def check(self, t: targets.Target, parking: bool) -> str | None:
        """None when ``t`` can take the publish, else why not (the parking queue is declared if missing)."""
        if t.queue is not None:
            if parking:
                if t.queue not in self.parking_ok and self._passive("queue", t.queue):
                    self.side.queue_declare(t.queue, durable=True)
                self.parking_ok.add(t.queue)
                return None
            if self._passive("queue", t.queue):
                return f"unroutable to {t.describe()}: queue {t.queue!r} does not exist"
            return None
        if t.exchange and (problem := self._passive("exchange", t.exchange)):
            return f"publish to {t.describe()} refused: {problem}"
        return None

    def close(self) -> None:
        """Stop consuming; every copy left unacked goes back to the DLQ in its place."""
        if self.ch.is_open:
            self.ch.basic_cancel(self.tag)
            self.ch.close()
        if self.side.is_open:
            self.side.close()


def _await_previous_run(conn: pika.BlockingConnection, dlq: str) -> None:
    """A crashed run's uncommitted copies return to the DLQ only once the broker drops its consumer."""
    ch = conn.channel()
    deadline = time.monotonic() + PREVIOUS_RUN_WAIT_S
    try:
        while (n := ch.queue_declare(dlq, passive=True).method.consumer_count) > 0:
            if time.monotonic() > deadline:
                raise ReplayError(f"queue {dlq!r} still has {n} consumer(s): a previous run of this job may still "
                                  f"hold its in-flight messages; resume when the DLQ has no consumer")
            time.sleep(0.1)
    finally:
        if ch.is_open:
            ch.close()


def run_replay(ctx: JobContext, cfg: RabbitClusterConfig) -> str:
    """Execute (or resume) a RabbitMQ replay job; returns 'done' or 'cancelled'."""
    dlq, vhost = ctx.job["dlq"], ctx.req["vhost"]
    prior = {r["replay_id"]: r for r in store_dlq.inflight(ctx.conn, ctx.job["id"])}
    conn = connect(cfg, vhost)
    try:
        if prior or ctx.done:
            _await_previous_run(conn, dlq)
        n = depth(conn, dlq)
        sel = ctx.req["selection"]
        ctx.beat(total=len(sel["coords"]) if sel["mode"] == "picked" else n)
        rate = ctx.req.get("rate_per_s")
        size = MAX_BATCH if not rate else max(1, min(MAX_BATCH, int(rate / 10)))
        mover = _Mover(conn, dlq, 3 * size)
        state, fetched = "done", 0
        try:
            while fetched < n:  # bounded by the depth at start: new arrivals wait for the next job
                got = mover.fetch(min(size, n - fetched))
                if not got:
                    break
                fetched += len(got)
                msgs = [to_message(b, p, m.delivery_tag) for m, p, b in got]
                for m, _ in msgs:
                    prior.pop(ctx.rid(m.coord), None)  # back in the DLQ: its batch was not committed
                if state == "cancelled":  # only looking for the previous run's in-flight copies
                    mover.hold(len(got))
                elif _move(ctx, cfg, mover, msgs):
                    state = "cancelled"
                if state == "cancelled" and not prior:
                    break
            settle(ctx, mover)
            # a full scan did not find them: their transaction was committed before a crash
            ctx.record([{"replay_id": rid, "coord": r["coord"], "outcome": r["action"], "target": r["target"],
                         "detail": "committed before a crash (reconciled: not back in the DLQ)",
                         "target_coord": None} for rid, r in prior.items()])
            store_dlq.clear_inflight(ctx.conn, ctx.job["id"])  # the rest were seen in the DLQ: not committed
        finally:
            mover.close()
        return state
    finally:
        if conn.is_open:
            conn.close()


def _plan(ctx: JobContext, cfg: RabbitClusterConfig, mover: _Mover, msgs: list[tuple[plan.Message, Any]]) -> _Batch:
    batch = _Batch()
    ledger = ctx.ledger([m.coord for m, _ in msgs])
    in_batch = {it.replay_id for it, _ in mover.pending or ()}
    checked: dict[targets.Target, str | None] = {}
    for msg, err in msgs:
        if not plan.selected(ctx.req["selection"], msg):
            batch.held += 1
            continue
        rid = ctx.rid(msg.coord)
        state = ledger.get(msg.coord)
        if rid in ctx.done or rid in in_batch:
            if rid in in_batch or (state is not None and state[1] == ctx.job["id"]):
                batch.acks.append(msg.handle)  # this job replayed an identical copy already
            else:
                batch.held += 1
            continue
        t = resolve(msg, err, cfg, ctx.job["dlq"], ctx.req["target"], ctx.req["rabbit_mode"])
        item = ctx.decide(msg, rid, t, state[0] if state else None)
        if item.action in ("skip", "error"):
            batch.settled.append(outcome(item, "skipped" if item.action == "skip" else "failed"))
            batch.held += 1
            continue
        target = item.target
        assert target is not None
        if target not in checked:
            checked[target] = mover.check(target, item.action == "park")
        if checked[target]:
            batch.settled.append(outcome(item, "failed", f"message {msg.coord}: {checked[target]}; "
                                                         f"it stays in {ctx.job['dlq']}"))
            batch.held += 1
            continue
        in_batch.add(rid)
        (batch.queue_sends if target.queue is not None else batch.exchange_sends).append((item, msg))
    return batch


def _outgoing(item: plan.PlanItem, msg: plan.Message) -> tuple[str, str, bytes, pika.BasicProperties]:
    """basic.publish arguments (exchange, routing key, body, properties) of a message's replay copy."""
    t = item.target
    assert t is not None
    count = msg.decoded.replay_count + (1 if item.action == "replay" else 0)
    props = pika.BasicProperties(headers=plan.replay_headers(msg.headers, item.replay_id, count, t), **msg.properties)
    return t.exchange or "", t.routing_key or "", msg.value or b"", props


def _done(item: plan.PlanItem, detail: str | None = None) -> dict[str, Any]:
    return outcome(item, "replayed" if item.action == "replay" else "parked", detail)


def _move(ctx: JobContext, cfg: RabbitClusterConfig, mover: _Mover, msgs: list[tuple[plan.Message, Any]]) -> bool:
    """Plan and move one batch; True when the job was cancelled.

    Overlapped with the broker: this batch is decoded, planned and written as in flight while the
    previous one commits; once that commit-ok is in, this batch is published, acked and its commit
    sent, and the previous batch's outcomes are recorded meanwhile.
    """
    batch = _plan(ctx, cfg, mover, msgs)
    mover.hold(batch.held)
    ctx.record(batch.settled)
    ctx.pace(len(batch.queue_sends) + len(batch.exchange_sends))
    if batch.queue_sends or batch.acks:
        store_dlq.add_inflight(ctx.conn, ctx.job["id"], [
            (it.replay_id, it.coord, "replayed" if it.action == "replay" else "parked", it.target.describe())
            for it, _ in batch.queue_sends if it.target], ctx.job["marks"])
        out = [_outgoing(item, msg) for item, msg in batch.queue_sends]
        previous = _await(ctx, mover)  # RabbitMQ takes no publish on a channel while it commits
        for args in out:
            mover.ch._impl.basic_publish(*args, mandatory=True)  # buffered: the commit flushes the batch
        mover.ack([msg.handle for _, msg in batch.queue_sends] + batch.acks)
        mover.start_commit()
        mover.pending = batch.queue_sends
        ctx.record(previous)  # while the broker commits this batch
    if batch.exchange_sends:
        settle(ctx, mover)
        for item, msg in batch.exchange_sends:
            _move_one(ctx, mover, item, msg)
    return ctx.beat()


def _await(ctx: JobContext, mover: _Mover) -> list[dict[str, Any]]:
    """Wait for the pending batch's commit-ok; its outcomes, to be recorded."""
    if mover.pending is None:
        return []
    sends, mover.pending = mover.pending, None
    return _settle_returns(ctx, mover, sends, _commit(mover.finish_commit, ctx.job["dlq"]))


def settle(ctx: JobContext, mover: _Mover) -> None:
    """Wait for the pending batch's commit-ok and record its outcomes (ledger, in-flight rows cleared)."""
    ctx.record(_await(ctx, mover))


def _commit(commit: Callable[[], dict[str, str]], dlq: str) -> dict[str, str]:
    try:
        return commit()
    except ChannelClosedByBroker as exc:
        raise ReplayError(f"the broker closed the replay channel ({exc.reply_code} {exc.reply_text}); the "
                          f"uncommitted batch was rolled back and its messages stay in {dlq}") from None


def _settle_returns(ctx: JobContext, mover: _Mover, sends: list[tuple[plan.PlanItem, plan.Message]],
                    returned: dict[str, str]) -> list[dict[str, Any]]:
    """Outcomes of a committed batch; a copy returned despite the check goes back into the DLQ."""
    if not returned:
        return [_done(it) for it, _ in sends]
    out, back = [], []
    for item, msg in sends:
        t = item.target
        assert t is not None
        why = returned.get(item.replay_id)
        if why is None:
            out.append(_done(item))
            continue
        back.append(msg)
        out.append(outcome(item, "failed", f"message {msg.coord}: unroutable to {t.describe()}: queue "
                                           f"{t.queue!r} does not exist ({why}, it vanished during the batch); "
                                           f"put back into {ctx.job['dlq']}"))
    for msg in back:
        mover.ch.basic_publish("", ctx.job["dlq"], msg.value or b"",
                               pika.BasicProperties(headers=msg.headers, **msg.properties))
    _commit(mover.commit, ctx.job["dlq"])
    return out


def _move_one(ctx: JobContext, mover: _Mover, item: plan.PlanItem, msg: plan.Message) -> None:
    """An exchange target: publish + commit, ledger, then ack + commit (a crash between duplicates one)."""
    mover.ch.basic_publish(*_outgoing(item, msg), mandatory=True)
    if _commit(mover.commit, ctx.job["dlq"]):
        mover.hold(1)
        where = item.target.describe() if item.target else ""
        ctx.record([outcome(item, "failed", f"message {msg.coord}: unroutable to {where}: no queue is bound for it "
                                            f"(returned by the broker); it stays in {ctx.job['dlq']}")])
        return
    ctx.record([_done(item)])
    mover.ack([msg.handle])
    _commit(mover.commit, ctx.job["dlq"])
