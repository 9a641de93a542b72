"""Pure replay planning: request validation, selection filters, replay ids, loop guard, pacing.

A message is identified by its DLQ coordinates: Kafka ``partition:offset``; RabbitMQ (which has no
offsets) a digest of what survives redelivery — body, properties and headers including ``x-death``.
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from typing import Any, Iterable, Mapping

from dlq.headers import REPLAY_COUNT, REPLAY_ID, REPLAY_TARGET, Decoded
from dlq.targets import NoTarget, Target, explicit_target

BROKERS = ("kafka", "rabbitmq")
MODES = ("all", "picked", "filter")
MAX_WINDOW = 10_000  # RabbitMQ consumer prefetch is a 16-bit count; the window plus a buffer must fit


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


MAX_NAME = 256
MAX_COORDS = 100_000  # picked messages in one request
MAX_FILTER = 1024  # characters of a key/reason/exception filter
MAX_RATE = 1_000_000.0
# A paced job heartbeats while it waits, but a rate this low would keep one job (and its DLQ) for days per
# thousand messages, and each wait would span many heartbeats: refused, say what is allowed.
MIN_RATE = 1 / 60
MAX_MS = 2 ** 53
SELECTION_KEYS = ("mode", "coords", "from_ms", "to_ms", "key", "reason", "exception_class")


def _show(v: Any) -> str:
    """A short, safe repr of a refused value (a 5,000-digit int cannot even be printed)."""
    if isinstance(v, (str, float, bool)) or v is None or (isinstance(v, int) and abs(v) < 10 ** 30):
        return repr(v)[:40]
    return f"<{type(v).__name__}>"


def _name(req: Mapping[str, Any], key: str) -> str:
    v = req.get(key)
    if not isinstance(v, str) or not v:
        raise RequestError(f"{key}: a non-empty name is required")
    if len(v) > MAX_NAME:
        raise RequestError(f"{key}: longer than {MAX_NAME} characters")
    return v


def _selection(raw: Any) -> dict[str, Any]:
    if raw is None:
        raw = {"mode": "all"}
    if not isinstance(raw, Mapping):
        raise RequestError("selection: must be a mapping (mode, coords, from_ms, to_ms, key, reason, exception_class)")
    unknown = [k for k in raw if k not in SELECTION_KEYS]
    if unknown:
        raise RequestError(f"selection.{_show(unknown[0])}: unknown key")
    sel = dict(raw)
    mode = sel.get("mode", "all")
    if not isinstance(mode, str) or mode not in MODES:
        raise RequestError(f"selection.mode: must be one of {MODES}, got {_show(mode)}")
    coords = sel.get("coords")
    if coords is not None:
        if not isinstance(coords, (list, tuple)) or len(coords) > MAX_COORDS \
                or not all(isinstance(c, str) and 0 < len(c) <= MAX_NAME for c in coords):
            raise RequestError(f"selection.coords: must be a list of at most {MAX_COORDS} message coordinates "
                               f"(strings of 1-{MAX_NAME} characters)")
        sel["coords"] = list(coords)
    if mode == "picked" and not sel.get("coords"):
        raise RequestError("selection.coords: 'picked' needs at least one message coordinate")
    for k in ("from_ms", "to_ms"):
        v = sel.get(k)
        if v is not None and (isinstance(v, bool) or not isinstance(v, int) or not 0 <= v <= MAX_MS):
            raise RequestError(f"selection.{k}: must be epoch milliseconds (int), got {_show(v)}")
    for k in ("key", "reason", "exception_class"):
        v = sel.get(k)
        if v is not None and (not isinstance(v, str) or len(v) > MAX_FILTER):
            raise RequestError(f"selection.{k}: must be text of at most {MAX_FILTER} characters")
    sel["mode"] = mode
    return sel


def validate_request(req: Mapping[str, Any], default_rate: float | None = None,
                     default_mode: str | None = None) -> dict[str, Any]:
    """A normalised copy of a replay request; raises RequestError (only) naming the bad key, for any input.

    ``rate_per_s`` (null: unthrottled) and ``rabbit_mode`` left out stay out unless a default is
    given: the job runner then applies the configured ``dlq`` defaults.
    """
    if not isinstance(req, Mapping):
        raise RequestError(f"request: must be a mapping, got {type(req).__name__}")
    out: dict[str, Any] = {}
    broker = req.get("broker")
    if not isinstance(broker, str) or broker not in BROKERS:
        raise RequestError(f"broker: must be one of {BROKERS}, got {_show(broker)}")
    for k in ("cluster", "dlq"):
        out[k] = _name(req, k)
    out["broker"] = broker
    vhost = req.get("vhost") or "/"
    if not isinstance(vhost, str) or len(vhost) > MAX_NAME:
        raise RequestError(f"vhost: must be a name of at most {MAX_NAME} characters")
    out["vhost"] = vhost
    out["selection"] = _selection(req.get("selection"))
    if "rate_per_s" in req or default_rate is not None:
        rate = req.get("rate_per_s", default_rate)
        if rate is not None and (isinstance(rate, bool) or not isinstance(rate, (int, float))
                                 or not MIN_RATE <= rate <= MAX_RATE):  # also refuses nan and inf
            raise RequestError(f"rate_per_s: must be a number from {MIN_RATE:.4g} (one message a minute) up to "
                               f"{MAX_RATE:g}, or null (unthrottled), got {_show(rate)}")
        out["rate_per_s"] = None if rate is None else float(rate)
    if "rabbit_mode" in req or default_mode is not None:
        rmode = req.get("rabbit_mode", default_mode)
        if not isinstance(rmode, str) or rmode not in ("queue", "exchange"):
            raise RequestError(f"rabbit_mode: must be 'queue' or 'exchange', got {_show(rmode)}")
        out["rabbit_mode"] = rmode
    if req.get("window") is not None:
        w = req["window"]
        if isinstance(w, bool) or not isinstance(w, int) or not 1 <= w <= MAX_WINDOW:
            raise RequestError(f"window: must be an integer from 1 to {MAX_WINDOW} (unconfirmed publishes), "
                               f"got {w!r}")
        out["window"] = w
    target = req.get("target")
    if target is not None and not isinstance(target, Mapping):
        raise RequestError("target: must be a mapping (topic/partition or queue or exchange/routing_key)")
    if target:
        try:
            explicit_target(broker, target)
        except NoTarget as exc:
            raise RequestError(str(exc)) from None
    out["target"] = dict(target) if target else None
    force = req.get("force", False)
    if not isinstance(force, bool):
        raise RequestError(f"force: must be true or false, got {_show(force)}")
    out["force"] = force
    if req.get("edit") is not None:
        from dlq import edit  # edit imports headers only; plan stays importable on its own

        try:
            out["edit"] = edit.validate(req["edit"], out["selection"])
        except edit.EditError as exc:
            raise RequestError(str(exc)) from None
        if out["edit"].get("schema") and broker != "kafka":
            raise RequestError("edit.schema: schema'd edits are for Kafka DLQs (a schema registry belongs to a "
                               "Kafka cluster)")
    pin = _pin(broker, req.get("pin"))
    if pin is not None:
        out["pin"] = pin
    return out


MAX_PARTITIONS = 100_000
MAX_OFFSET = 2 ** 63 - 1


def _pin(broker: str, raw: Any) -> dict[str, Any] | None:
    """What Confirm froze: Kafka ``{"ranges": {partition: [start, end]}}`` (the dry run's offset ranges),
    RabbitMQ ``{"count": n}`` (the messages the dry run saw from the head of the queue)."""
    if raw is None:
        return None
    if not isinstance(raw, Mapping):
        raise RequestError("pin: must be a mapping (Kafka: ranges; RabbitMQ: count)")
    if broker == "kafka":
        if set(raw) != {"ranges"} or not isinstance(raw["ranges"], Mapping) or len(raw["ranges"]) > MAX_PARTITIONS:
            raise RequestError("pin: a Kafka pin is {ranges: {partition: [start, end]}}")
        ranges: dict[str, list[int]] = {}
        for p, r in raw["ranges"].items():
            ok_p = isinstance(p, str) and p.isdigit() and len(p) <= 10 and int(p) <= 2 ** 31 - 1
            ok_r = isinstance(r, (list, tuple)) and len(r) == 2 and all(
                isinstance(x, int) and not isinstance(x, bool) and 0 <= x <= MAX_OFFSET for x in r) and r[0] <= r[1]
            if not ok_p or not ok_r:
                raise RequestError(f"pin.ranges.{_show(p)}: must be partition -> [start, end] offsets "
                                   f"(0 <= start <= end), got {_show(r)}")
            ranges[str(int(p))] = [int(r[0]), int(r[1])]
        return {"ranges": ranges}
    count = raw.get("count")
    if set(raw) != {"count"} or isinstance(count, bool) or not isinstance(count, int) or not 0 <= count <= MAX_MS:
        raise RequestError(f"pin.count: must be the number of messages the dry run saw (int), got {_show(count)}")
    return {"count": count}


def pinned_ranges(req: Mapping[str, Any], current: Mapping[int, tuple[int, int]]) -> dict[int, tuple[int, int]]:
    """The offset ranges a Kafka job reads: the pinned ones within what the topic still holds (records
    that arrived after Confirm wait for another replay), else everything there is now."""
    pin = req.get("pin")
    if not pin:
        return dict(current)
    out = {}
    for p, (start, end) in ((int(k), v) for k, v in pin["ranges"].items()):
        if p in current:
            b, e = current[p]
            out[p] = (max(start, b), max(max(start, b), min(end, e)))
    return out


def pinned_count(req: Mapping[str, Any], depth: int) -> int:
    """How many messages from the head of a RabbitMQ queue a job fetches: what the dry run saw (at most
    the depth now), else the depth at start; later arrivals wait for another replay."""
    pin = req.get("pin")
    return depth if not pin else min(depth, pin["count"])


@dataclass
class Scan:
    """What a dry run read: messages with their targets, and how far it looked."""

    items: list[tuple[Message, Any]]  # (message, Target | NoTarget | HeaderError)
    total: int  # messages in the DLQ when it was read (Kafka: offsets in range; RabbitMQ: depth)
    read_bytes: int = 0
    stopped: str | None = None  # None: read to the end; 'messages' or 'bytes': the limit that stopped it
    pin: dict[str, Any] = field(default_factory=dict)

    @property
    def looked(self) -> int:
        return len(self.items)


def message_bytes(key: bytes | None, value: bytes | None, headers: Any) -> int:
    """Bytes a message costs to hold: key, value and header names and values."""
    n = len(key or b"") + len(value or b"")
    pairs = headers.items() if isinstance(headers, Mapping) else (headers or ())
    for k, v in pairs:
        n += len(str(k)) + (len(v) if isinstance(v, (bytes, str)) else len(str(v)))
    return n


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
    # A Kafka list first: isinstance against typing's Mapping is slow, and this runs once per message.
    if not isinstance(headers, (list, tuple)) and (isinstance(headers, Mapping) or headers is None):
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


def ack_plan(open_tags: Iterable[int], ack: set[int], first_held: int | None) -> tuple[int | None, list[int]]:
    """How to ack the DLQ copies ``ack`` of a channel whose unacked tags, oldest first, are ``open_tags``
    (copies that stay in the DLQ, the smallest being ``first_held``, are not among them).

    Returns (tag to ack with ``multiple=True`` or None, tags to ack one by one): the multiple ack
    covers the longest run of ``open_tags`` from the oldest that are all to be acked and all below
    ``first_held`` — it must never ack a copy that stays or one still being handled.
    """
    last = None
    covered = 0
    for tag in open_tags:
        if tag not in ack or (first_held is not None and tag > first_held):
            break
        last, covered = tag, covered + 1
    if covered < 2:
        return None, sorted(ack)
    return last, sorted(t for t in ack if t > last)  # type: ignore[operator]
