"""Pure bookkeeping of a windowed RabbitMQ replay (dlq.rabbit_replay drives it; no I/O here).

Two ledgers, both keyed by AMQP numbers:

* the publish window: publish sequence numbers (1, 2, ... on a confirm-mode channel) of the copies
  published and not yet settled, what a confirm, a nack, a return or a lost channel does to them,
  and whether there is room for one more (at most ``size`` published and not yet recorded);
* the DLQ copies: delivery tags still unacked that may be acked, the smallest tag of a copy that
  stays in the DLQ (a multiple ack must never cross it), and the consumer's prefetch, which grows
  when the copies held take up its room.
"""
from __future__ import annotations

from collections import OrderedDict, deque
from dataclasses import dataclass
from typing import Any

from dlq import plan, targets

MAX_PREFETCH = 65_535  # basic.qos prefetch-count is 16 bits


@dataclass
class Flight:
    """One copy on its way: the plan item, its DLQ delivery tag and what is published."""

    item: plan.PlanItem
    tag: int  # DLQ delivery tag
    target: targets.Target
    body: bytes
    props: Any  # pika.BasicProperties
    problem: str | None = None  # why it failed (nacked, returned, channel lost); None: replayed


class Window:
    """The window of ``size`` unsettled publishes and the DLQ copies of one run."""

    def __init__(self, size: int) -> None:
        self.size = size
        self.seq = 0  # last publish sequence number on the current publish channel
        self.inflight: OrderedDict[int, Flight] = OrderedDict()  # publish seq -> flight, oldest first
        self.by_rid: dict[str, deque[int]] = {}  # replay id -> its publish seqs (a return names the id)
        self.confirmed: list[Flight] = []  # settled by the broker, not yet recorded
        self.open_tags: OrderedDict[int, None] = OrderedDict()  # unacked copies we may still ack
        self.first_held: int | None = None  # smallest tag of a copy that stays in the DLQ
        self.held_on_consumer = 0  # copies held on the current consumer (each keeps a prefetch slot)
        self.prefetch = min(MAX_PREFETCH, 2 * size)

    # --- the publish window ------------------------------------------------------------------
    def has_room(self) -> bool:
        """May one more copy be published (published-and-unrecorded stays at most ``size``)?"""
        return len(self.inflight) + len(self.confirmed) < self.size

    @property
    def unsettled(self) -> bool:
        """Anything published whose outcome is not recorded yet."""
        return bool(self.inflight or self.confirmed)

    def channel_opened(self) -> None:
        """A new confirm-mode publish channel numbers its publishes from 1 again."""
        self.seq = 0

    def published(self, f: Flight) -> int:
        self.seq += 1
        self.inflight[self.seq] = f
        self.by_rid.setdefault(f.item.replay_id, deque()).append(self.seq)
        return self.seq

    def returned(self, rid: Any) -> Flight | None:
        """basic.return of the copy with replay id ``rid``: the oldest such publish not yet marked fails
        as unroutable (returns come in publish order, before their confirm). None: not ours."""
        for s in self.by_rid.get(rid, ()):
            f = self.inflight.get(s)
            if f is not None and f.problem is None:
                t = f.target
                what = f"queue {t.routing_key!r} does not exist" if t.exchange == "" else "no queue is bound for it"
                f.problem = f"unroutable to {t.describe()}: {what} (returned by the broker)"
                return f
        return None

    def confirm(self, tag: int, multiple: bool, nack: bool) -> int:
        """basic.ack / basic.nack of publish ``tag`` (and, ``multiple``, every one before it); returns how
        many publishes it settled. A nack fails the copy; a confirm of an unknown tag settles nothing."""
        n = 0
        if multiple:
            while self.inflight and next(iter(self.inflight)) <= tag:
                self._settle(*self.inflight.popitem(last=False), nack)
                n += 1
        elif (f := self.inflight.pop(tag, None)) is not None:
            self._settle(tag, f, nack)
            n = 1
        return n

    def _settle(self, seq: int, f: Flight, nack: bool) -> None:
        seqs = self.by_rid.get(f.item.replay_id)
        if seqs is not None:
            seqs.remove(seq)
            if not seqs:
                del self.by_rid[f.item.replay_id]
        if nack and f.problem is None:
            f.problem = f"the broker nacked the publish to {f.target.describe()}"
        self.confirmed.append(f)

    def channel_lost(self, why: str) -> None:
        """The publish channel closed: confirms of what is in flight will never come, so each of them is
        unknown and fails (its copy stays in the DLQ)."""
        for f in self.inflight.values():
            f.problem = f"publish to {f.target.describe()} refused: {why} (channel closed before the confirm)"
            self.confirmed.append(f)
        self.inflight.clear()
        self.by_rid.clear()

    def take_confirmed(self) -> list[Flight]:
        out, self.confirmed = self.confirmed, []
        return out

    # --- the DLQ copies ----------------------------------------------------------------------
    def delivered(self, tag: int) -> None:
        self.open_tags[tag] = None

    def hold(self, tag: int, more_coming: bool) -> bool:
        """The copy ``tag`` stays in the DLQ (requeued when the job ends). True when the copies held leave
        the consumer no more than a window of room and more deliveries are due: the prefetch has grown
        and the consumer must be restarted with it (:meth:`consumer_restarted`)."""
        self.open_tags.pop(tag, None)
        self.first_held = tag if self.first_held is None else min(self.first_held, tag)
        self.held_on_consumer += 1
        if self.prefetch < MAX_PREFETCH and self.prefetch - self.held_on_consumer <= self.size and more_coming:
            self.prefetch = min(MAX_PREFETCH, self.prefetch + self.held_on_consumer + self.size)
            return True
        return False

    def consumer_restarted(self) -> None:
        self.held_on_consumer = 0

    def acks(self, tags: list[int]) -> tuple[int | None, list[int]]:
        """How to ack the copies ``tags`` (see plan.ack_plan): (tag for a multiple ack or None, single
        tags); the tags are forgotten as acked."""
        if not tags:
            return None, []
        multiple, singles = plan.ack_plan(self.open_tags, set(tags), self.first_held)
        if multiple is not None:
            while self.open_tags and next(iter(self.open_tags)) <= multiple:
                self.open_tags.popitem(last=False)
        for t in singles:
            self.open_tags.pop(t, None)
        return multiple, singles
