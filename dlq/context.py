"""The state a running replay job shares with the broker executors: pacing, cancel, outcomes, audit."""
from __future__ import annotations

import logging
import sqlite3
import time
from dataclasses import dataclass, field
from typing import Any, Callable

from config import Settings
from core.rejects import Rejects
from config.kafka import KafkaClusterConfig
from config.rabbitmq import RabbitClusterConfig
from core.clock import Clock, now_ms as wall_now_ms
from dlq import edit, plan, registry
from dlq.headers import HeaderError
from dlq.policy import TargetPolicy, linked_sources
from dlq.targets import NoTarget, Target
from store import audit
from store import dlq as store_dlq
from store import rejects as store_rejects
from store.db import transaction

HEARTBEAT_EVERY_S = 0.5
log = logging.getLogger("eventdeck.dlq")


class ReplayError(RuntimeError):
    """The job cannot go on (DLQ missing, cluster unknown); the message names what and why."""


def kafka_cluster(settings: Settings, name: str) -> KafkaClusterConfig:
    """The configured Kafka cluster ``name``; ReplayError naming it and the key when absent."""
    return registry.KAFKA.cluster(settings, name)


def rabbit_cluster(settings: Settings, name: str) -> RabbitClusterConfig:
    """The configured RabbitMQ cluster ``name``; ReplayError naming it and the key when absent."""
    return registry.RABBITMQ.cluster(settings, name)


def topology_sources(conn: sqlite3.Connection | None, broker: str, cluster: str, dlq: str,
                     vhost: str | None) -> list[str]:
    """Sources the collector linked to ``dlq`` in the broker's topology (``dlq_source_info`` series)."""
    if conn is None:
        return []
    from store import queries  # pandas loads only here

    match = {"broker": broker, "cluster": cluster, "dlq": dlq, **({"vhost": vhost} if vhost else {})}
    df = queries.latest(conn, "dlq_source_info", match)
    return [] if df.empty or "source" not in df.columns else [str(s) for s in df["source"].dropna()]


def target_policy(settings: Settings, broker: str, cluster: str, dlq: str, vhost: str | None = None,
                  conn: sqlite3.Connection | None = None) -> TargetPolicy:
    """The policy header-derived targets of ``dlq`` are checked against (see dlq.policy). A parking lot
    (``<dlq><parking_suffix>``) has the sources of its DLQ: a replay from it goes back where they came from."""
    suffix = settings.dlq.parking_suffix
    names = [dlq] + ([dlq[:-len(suffix)]] if dlq.endswith(suffix) and len(dlq) > len(suffix) else [])
    kind = registry.get(broker)
    ccfg = kind.cluster(settings, cluster)
    patterns, mapped = kind.policy_sources(ccfg, names, vhost)
    linked: frozenset[str] = frozenset()
    known = False  # does the stored topology know the DLQ (the collector linked sources to it)?
    for name in names:
        found = topology_sources(conn, broker, cluster, name, vhost)
        known = known or bool(found)
        linked |= linked_sources(name, patterns, mapped, found)
    live = None if not kind.live_sources or known or conn is None else _live_check(ccfg, vhost or "/", names)
    return TargetPolicy(dlq, cluster, linked, tuple(settings.dlq.allowed_targets.get(cluster, ())), live)


def _live_check(cfg: Any, vhost: str, dlqs: list[str]) -> Callable[[str], bool]:
    """A DLQ the stored topology does not know yet (created since the last refresh): whether a queue is one
    of its sources is asked of the management API, once per queue; an API error means "not linked"."""
    from brokers.rabbit_links import is_live_source
    from brokers.rabbitmq import RabbitError

    answers: dict[str, bool] = {}

    def check(queue: str) -> bool:
        if queue not in answers:
            try:
                answers[queue] = any(is_live_source(cfg, vhost, d, queue) for d in dlqs)
            except (RabbitError, ValueError) as exc:
                log.warning("cannot check live whether %s feeds %s: %s", queue, dlqs[0], exc)
                answers[queue] = False
        return answers[queue]
    return check


@dataclass
class JobContext:
    conn: sqlite3.Connection
    job: dict[str, Any]
    settings: Settings
    clock: Callable[[], float] = time.monotonic
    sleep: Callable[[float], None] = time.sleep
    now_ms: Clock = wall_now_ms
    sent: int = 0
    cancelled: bool = False
    start: float = field(default=0.0)
    _last_beat: float = field(default=-1e9)
    rejects: Rejects = field(default_factory=Rejects)  # malformed messages met by this job
    edit_detail: dict[str, Any] | None = None  # hashes and diff of an applied edit, audited once replayed

    def __post_init__(self) -> None:
        cfg = self.settings.dlq
        self.req: dict[str, Any] = {"rate_per_s": cfg.default_rate_per_s, "rabbit_mode": cfg.default_rabbit_mode,
                                    **self.job["request"]}
        if self.req.get("window") is None:
            self.req["window"] = cfg.default_window
        self.start = self.clock()
        self.done = store_dlq.job_message_ids(self.conn, self.job["id"])
        self.policy = target_policy(self.settings, self.job["broker"], self.job["cluster"], self.job["dlq"],
                                    self.req.get("vhost"), self.conn)

    @property
    def where(self) -> str:
        return f"{self.job['broker']}:{self.job['cluster']}:{self.job['dlq']}"

    def rid(self, coord: str) -> str:
        return plan.replay_id(self.job["broker"], self.job["cluster"], self.job["dlq"], coord)

    def parking(self) -> Target:
        return registry.get(self.job["broker"]).parking(self.job["dlq"] + self.settings.dlq.parking_suffix)

    def decide(self, msg: plan.Message, rid: str, target: Target | NoTarget | HeaderError,
               ledger_state: str | None) -> plan.PlanItem:
        if isinstance(target, HeaderError):  # fails alone, counted; record() stores the count with the outcome
            self.rejects.record(f"dlq.{self.job['broker']}", "bad_header", f"{self.where} {msg.coord}: {target}",
                                self.now_ms())
            target = NoTarget(f"message {msg.coord}: {target}")
        return plan.plan_item(msg, rid, target, ledger_state, self.req["force"],
                              plan.loop_limit(self.job["dlq"], self.settings.dlq), self.parking())

    def pace(self, n: int) -> None:
        """Block until ``n`` more messages may go without exceeding the job's rate."""
        due = plan.send_at(self.start, self.sent + n - 1, self.req.get("rate_per_s"))
        while (left := due - self.clock()) > 0:
            self.sleep(min(left, HEARTBEAT_EVERY_S))
            self.beat()  # a slowly paced job stays alive (and fenced): nobody takes it over while it waits
        self.sent += n

    def wait_s(self) -> float:
        """Non-blocking :meth:`pace` for one message: 0.0 (and it is counted) when it may go now, else
        the seconds to wait. Like ``pace``, a lower bound: message i never goes before start + i/rate."""
        left = plan.send_at(self.start, self.sent, self.req.get("rate_per_s")) - self.clock()
        if left > 0:
            return left
        self.sent += 1
        return 0.0

    def beat(self, total: int | None = None, force: bool = False) -> bool:
        """Heartbeat at most every 0.5 s; True once cancellation was requested."""
        t = self.clock()
        if force or total is not None or t - self._last_beat >= HEARTBEAT_EVERY_S:
            self._last_beat = t
            self.cancelled = store_dlq.heartbeat(self.conn, self.job["id"], self.now_ms(), total,
                                                 self.job.get("owner"))
        return self.cancelled

    def ledger(self, coords: list[str]) -> dict[str, tuple[str, int]]:
        return store_dlq.ledger(self.conn, self.job["broker"], self.job["cluster"], self.job["dlq"], coords)

    def edited(self, msg: plan.Message, action: str) -> tuple[bytes | None, Any]:
        """The payload and headers to publish for ``msg``: the operator's edit when the request carries
        one for this message (replays only, not parking), else the original's. Remembers the edit's
        audit detail until the copy is recorded as replayed."""
        e = self.req.get("edit")
        if action != "replay" or not e or e["coord"] != msg.coord:
            return msg.value, msg.headers
        if e.get("schema"):  # re-encoded with the message's own schema id, validated first (SchemaError)
            from dlq.schemas import encode_edit

            encoded, before, schema = encode_edit(self.settings, self.job["broker"], self.job["cluster"], msg,
                                                  e["payload"])
            value, headers, self.edit_detail = edit.apply(msg.value, msg.headers, e, encoded=encoded,
                                                          before_text=before)
            self.edit_detail["schema"] = schema
            return value, headers
        value, headers, self.edit_detail = edit.apply(msg.value, msg.headers, e)
        return value, headers

    def record(self, outcomes: list[dict[str, Any]]) -> None:
        """Outcomes and ledger rows of one settled batch and ONE audit entry for the batch, in one
        transaction. The entry names every message (coordinate, outcome, where to, and the detail of
        those not replayed); its outcome is the worst of the batch. An applied edit adds its hashes
        and diff in a ``dlq.replay.edited`` entry once the edited copy was replayed."""
        if not outcomes:
            return
        now = self.now_ms()
        with transaction(self.conn):
            store_dlq.record(self.conn, self.job, outcomes, now)
            store_rejects.flush_recorder(self.conn, self.rejects, now)
            audit.record(self.conn, now, self.job["actor"], "dlq.replay.batch", self.where,
                         batch_audit(self.job["id"], outcomes), worst_outcome(outcomes))
            for o in outcomes:
                if self.edit_detail and o["outcome"] == "replayed" and o["coord"] == self.req["edit"]["coord"]:
                    audit.record(self.conn, now, self.job["actor"], "dlq.replay.edited", self.where,
                                 {"job": self.job["id"], "coord": o["coord"], "replay_id": o["replay_id"],
                                  "target_coord": o.get("target_coord"), **self.edit_detail}, "replayed")
        self.done.update(o["replay_id"] for o in outcomes)


def outcome(item: plan.PlanItem, result: str, detail: str | None = None,
            target_coord: str | None = None) -> dict[str, Any]:
    return {"replay_id": item.replay_id, "coord": item.coord, "outcome": result,
            "target": item.target.describe() if item.target else None,
            "detail": detail if detail is not None else item.reason, "target_coord": target_coord}


_SEVERITY = ("replayed", "parked", "skipped", "failed")


def worst_outcome(outcomes: list[dict[str, Any]]) -> str:
    return max((o["outcome"] for o in outcomes), key=_SEVERITY.index)


def batch_audit(job_id: int, outcomes: list[dict[str, Any]]) -> dict[str, Any]:
    """The audit detail of one batch: counts, and per message [coord, outcome, target index, target coord],
    with the distinct targets listed once and the detail kept for messages not replayed or parked."""
    targets: dict[str | None, int] = {}
    counts = dict.fromkeys(_SEVERITY, 0)
    rows, details = [], {}
    for o in outcomes:
        counts[o["outcome"]] += 1
        t = targets.setdefault(o.get("target"), len(targets))
        rows.append([o["coord"], o["outcome"], t, o.get("target_coord")])
        if o["outcome"] in ("skipped", "failed"):
            details[o["coord"]] = o.get("detail")
    return {"job": job_id, "counts": counts, "targets": list(targets), "messages": rows, "details": details}
