"""The state a running replay job shares with the broker executors: pacing, cancel, outcomes, audit."""
from __future__ import annotations

import sqlite3
import time
from dataclasses import dataclass, field
from typing import Any, Callable

from config import Settings
from core.rejects import Rejects
from config.kafka import KafkaClusterConfig
from config.rabbitmq import RabbitClusterConfig
from core.clock import Clock, now_ms as wall_now_ms
from dlq import plan
from dlq.headers import HeaderError
from dlq.policy import TargetPolicy, linked_sources
from dlq.targets import NoTarget, Target
from store import audit
from store import dlq as store_dlq
from store import rejects as store_rejects
from store.db import transaction

HEARTBEAT_EVERY_S = 0.5


class ReplayError(RuntimeError):
    """The job cannot go on (DLQ missing, cluster unknown); the message names what and why."""


def kafka_cluster(settings: Settings, name: str) -> KafkaClusterConfig:
    """The configured Kafka cluster ``name``; ReplayError naming it and the key when absent."""
    for c in settings.kafka.clusters:
        if c.name == name:
            return c
    raise ReplayError(f"kafka cluster {name!r} is not in the configuration (kafka.clusters)")


def rabbit_cluster(settings: Settings, name: str) -> RabbitClusterConfig:
    """The configured RabbitMQ cluster ``name``; ReplayError naming it and the key when absent."""
    for c in settings.rabbitmq.clusters:
        if c.name == name:
            return c
    raise ReplayError(f"rabbitmq cluster {name!r} is not in the configuration (rabbitmq.clusters)")


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
    if broker == "kafka":
        kcfg = kafka_cluster(settings, cluster)
        patterns = kcfg.dlq_patterns
        mapped = [t.source_topic for n, t in kcfg.dlq_map.items() if n in names]
    else:
        rcfg = rabbit_cluster(settings, cluster)
        patterns = rcfg.dlq_patterns
        mapped = [t.source_queue for n, t in rcfg.dlq_map.items() if n in names and t.vhost == (vhost or "/")]
    linked: frozenset[str] = frozenset()
    for name in names:
        linked |= linked_sources(name, patterns, mapped, topology_sources(conn, broker, cluster, name, vhost))
    return TargetPolicy(dlq, cluster, linked, tuple(settings.dlq.allowed_targets.get(cluster, ())))


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

    def __post_init__(self) -> None:
        cfg = self.settings.dlq
        self.req: dict[str, Any] = {"rate_per_s": cfg.default_rate_per_s, "rabbit_mode": cfg.default_rabbit_mode,
                                    **self.job["request"]}
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
        name = self.job["dlq"] + self.settings.dlq.parking_suffix
        if self.job["broker"] == "kafka":
            return Target("kafka", "parking", topic=name)
        return Target("rabbitmq", "parking", exchange="", routing_key=name)

    def decide(self, msg: plan.Message, rid: str, target: Target | NoTarget | HeaderError,
               ledger_state: str | None) -> plan.PlanItem:
        if isinstance(target, HeaderError):  # fails alone, counted; record() stores the count with the outcome
            self.rejects.record(f"dlq.{self.job['broker']}", "bad_header", f"{self.where} {msg.coord}: {target}",
                                self.now_ms())
            target = NoTarget(f"message {msg.coord}: {target}")
        return plan.plan_item(msg, rid, target, ledger_state, self.req["force"],
                              self.settings.dlq.max_replay_count, self.parking())

    def pace(self, n: int) -> None:
        """Block until ``n`` more messages may go without exceeding the job's rate."""
        due = plan.send_at(self.start, self.sent + n - 1, self.req.get("rate_per_s"))
        while (left := due - self.clock()) > 0:
            self.sleep(min(left, 0.5))
        self.sent += n

    def beat(self, total: int | None = None, force: bool = False) -> bool:
        """Heartbeat at most every 0.5 s; True once cancellation was requested."""
        t = self.clock()
        if force or total is not None or t - self._last_beat >= HEARTBEAT_EVERY_S:
            self._last_beat = t
            self.cancelled = store_dlq.heartbeat(self.conn, self.job["id"], self.now_ms(), total)
        return self.cancelled

    def ledger(self, coords: list[str]) -> dict[str, tuple[str, int]]:
        return store_dlq.ledger(self.conn, self.job["broker"], self.job["cluster"], self.job["dlq"], coords)

    def record(self, outcomes: list[dict[str, Any]]) -> None:
        """Outcomes, ledger and one audit entry per message, in one transaction."""
        if not outcomes:
            return
        now = self.now_ms()
        with transaction(self.conn):
            store_dlq.record(self.conn, self.job, outcomes, now)
            store_rejects.flush_recorder(self.conn, self.rejects, now)
            for o in outcomes:
                audit.record(self.conn, now, self.job["actor"], "dlq.replay.message", self.where,
                             {"job": self.job["id"], "coord": o["coord"], "replay_id": o["replay_id"],
                              "to": o.get("target"), "detail": o.get("detail"),
                              "target_coord": o.get("target_coord")}, o["outcome"])
        self.done.update(o["replay_id"] for o in outcomes)


def outcome(item: plan.PlanItem, result: str, detail: str | None = None,
            target_coord: str | None = None) -> dict[str, Any]:
    return {"replay_id": item.replay_id, "coord": item.coord, "outcome": result,
            "target": item.target.describe() if item.target else None,
            "detail": detail if detail is not None else item.reason, "target_coord": target_coord}
