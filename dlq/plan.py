"""Pure replay planning: request validation, selection filters, replay ids, loop guard, pacing.

A message is identified by its DLQ coordinates: Kafka ``partition:offset``; RabbitMQ (which has no
offsets) a digest of what survives redelivery — body, properties and headers including ``x-death``.
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from typing import Any, Mapping

from dlq.headers import REPLAY_COUNT, REPLAY_ID, REPLAY_TARGET, Decoded
from dlq.targets import NoTarget, Target

BROKERS = ("kafka", "rabbitmq")
MODES = ("all", "picked", "filter")


class RequestError(ValueError):
    """An invalid replay request; the message names the key."""


@dataclass
class Message:
    """One DLQ message as read from the broker (broker-neutral)."""

    coord: str
    key: bytes | None
    value: bytes | None
    ts_ms: int | None
    headers: Any  # Kafka: list of (name, bytes); RabbitMQ: dict
    decoded: Decoded
    partition: int | None = None
    offset: int | None = None
    properties: dict[str, Any] = field(default_factory=dict)  # RabbitMQ basic properties
    handle: Any = None  # RabbitMQ delivery tag while held


@dataclass(frozen=True)
class PlanItem:
    coord: str
    replay_id: str
    action: str  # 'replay' | 'park' | 'skip' | 'error'
    target: Target | None
    reason: str


def kafka_coord(partition: int, offset: int) -> str:
    return f"{partition}:{offset}"


# Headers the broker changes on every redelivery (quorum queues count deliveries).
_VOLATILE_HEADERS = frozenset({"x-delivery-count"})


def rabbit_coord(body: bytes | None, properties: Mapping[str, Any], headers: Mapping[str, Any]) -> str:
    """Stable across redeliveries; two byte-identical messages dead-lettered in the same second share it."""
    doc = {"body": hashlib.sha256(body or b"").hexdigest(),
           "props": {k: v for k, v in sorted(properties.items()) if k != "headers"},
           "headers": {k: v for k, v in headers.items() if k not in _VOLATILE_HEADERS}}
    blob = json.dumps(doc, sort_keys=True, default=str, separators=(",", ":"))
    return hashlib.sha256(blob.encode()).hexdigest()[:32]


def replay_id(broker: str, cluster: str, dlq: str, coord: str) -> str:
    """Deterministic id of a replay of the message at ``coord`` in ``dlq``."""
    return hashlib.sha256(f"{broker}|{cluster}|{dlq}|{coord}".encode()).hexdigest()[:32]


def validate_request(req: Mapping[str, Any], default_rate: float | None = None,
                     default_mode: str | None = None) -> dict[str, Any]:
    """A normalised copy of a replay request; raises RequestError naming the bad key.

    ``rate_per_s`` (null: unthrottled) and ``rabbit_mode`` left out stay out unless a default is
    given: the job runner then applies the configured ``dlq`` defaults.
    """
    out: dict[str, Any] = {}
    broker = req.get("broker")
    if broker not in BROKERS:
        raise RequestError(f"broker: must be one of {BROKERS}, got {broker!r}")
    for k in ("cluster", "dlq"):
        v = req.get(k)
        if not isinstance(v, str) or not v:
            raise RequestError(f"{k}: a non-empty name is required")
        out[k] = v
    out["broker"] = broker
    out["vhost"] = str(req.get("vhost") or "/")
    sel = dict(req.get("selection") or {"mode": "all"})
    mode = sel.get("mode", "all")
    if mode not in MODES:
        raise RequestError(f"selection.mode: must be one of {MODES}, got {mode!r}")
    if mode == "picked" and not sel.get("coords"):
        raise RequestError("selection.coords: 'picked' needs at least one message coordinate")
    for k in ("from_ms", "to_ms"):
        if sel.get(k) is not None and not isinstance(sel[k], int):
            raise RequestError(f"selection.{k}: must be epoch milliseconds (int), got {sel[k]!r}")
    sel["mode"] = mode
    out["selection"] = sel
    if "rate_per_s" in req or default_rate is not None:
        rate = req.get("rate_per_s", default_rate)
        if rate is not None and (isinstance(rate, bool) or not isinstance(rate, (int, float)) or rate <= 0):
            raise RequestError(f"rate_per_s: must be a positive number or null (unthrottled), got {rate!r}")
        out["rate_per_s"] = rate
    if "rabbit_mode" in req or default_mode is not None:
        rmode = req.get("rabbit_mode", default_mode)
        if rmode not in ("queue", "exchange"):
            raise RequestError(f"rabbit_mode: must be 'queue' or 'exchange', got {rmode!r}")
        out["rabbit_mode"] = rmode
    target = req.get("target")
    if target is not None and not isinstance(target, Mapping):
        raise RequestError("target: must be a mapping (topic/partition or queue or exchange/routing_key)")
    out["target"] = dict(target) if target else None
    out["force"] = bool(req.get("force", False))
    if req.get("edit") is not None:
        from dlq import edit  # edit imports headers only; plan stays importable on its own

        try:
            out["edit"] = edit.validate(req["edit"], sel)
        except edit.EditError as exc:
            raise RequestError(str(exc)) from None
    return out


def selected(sel: Mapping[str, Any], msg: Message) -> bool:
    """Does ``msg`` fall in the selection (all, picked coordinates, or a filter)?"""
    mode = sel.get("mode", "all")
    if mode == "all":
        return True
    if mode == "picked":
        return msg.coord in set(sel.get("coords") or ())
    if sel.get("from_ms") is not None and (msg.ts_ms is None or msg.ts_ms < sel["from_ms"]):
        return False
    if sel.get("to_ms") is not None and (msg.ts_ms is None or msg.ts_ms >= sel["to_ms"]):
        return False
    if sel.get("key"):
        key = (msg.key or b"").decode("utf-8", errors="replace")
        if sel["key"] not in key:
            return False
    if sel.get("reason"):
        if sel["reason"].lower() not in (msg.decoded.reason or "").lower():
            return False
    if sel.get("exception_class"):
        cls = msg.decoded.exception_class or ""
        want = sel["exception_class"]
        if cls != want and not cls.endswith("." + want):
            return False
    return True


def loop_limit(dlq: str, cfg: Any) -> int:
    """Replays of a message before it is parked (``cfg`` is the ``dlq`` settings section). A replay
    from a parking lot (``<dlq><parking_suffix>``) is the operator's deliberate second chance, so
    the loop guard does not park it again (its replay count still goes up)."""
    return 2**53 if dlq.endswith(cfg.parking_suffix) else cfg.max_replay_count


def plan_item(msg: Message, rid: str, target: Target | NoTarget, ledger_state: str | None,
              force: bool, max_replay_count: int, parking: Target) -> PlanItem:
    """What happens to one selected message: replay, park (loop guard), skip (ledger) or error."""
    if ledger_state is not None and not force:
        return PlanItem(msg.coord, rid, "skip", None, f"already {ledger_state} (use force to replay again)")
    if msg.decoded.replay_count >= max_replay_count:
        return PlanItem(msg.coord, rid, "park", parking,
                        f"replayed {msg.decoded.replay_count} times (limit {max_replay_count}): parked")
    if isinstance(target, NoTarget):
        return PlanItem(msg.coord, rid, "error", None, str(target))
    return PlanItem(msg.coord, rid, "replay", target, f"to {target.describe()}")


def replay_headers(headers: Any, rid: str, count: int, target: Target) -> Any:
    """The message's headers with the Eventdeck ones replaced (same shape: list of pairs or dict)."""
    ours = {REPLAY_ID: rid, REPLAY_COUNT: str(count), REPLAY_TARGET: target.header()}
    if isinstance(headers, Mapping) or headers is None:
        out = {k: v for k, v in (headers or {}).items() if k not in ours}
        out.update(ours)
        return out
    kept = [(k, v) for k, v in headers if k not in ours]
    return kept + [(k, v.encode()) for k, v in ours.items()]


def send_at(start_s: float, sent: int, rate_per_s: float | None) -> float:
    """When message number ``sent`` (0-based) may go: message i no earlier than start + i/rate."""
    if not rate_per_s:
        return start_s
    return start_s + sent / rate_per_s
