"""Which RabbitMQ queues are dead-letter queues, and which source queues feed them (pure logic).

A queue Q dead-letters into exchange X with routing key K when
* Q's arguments set ``x-dead-letter-exchange`` (and maybe ``x-dead-letter-routing-key``) — arguments
  win over a policy, as in RabbitMQ; else
* the policy applied to Q sets ``dead-letter-exchange`` (and maybe ``dead-letter-routing-key``).
  The applied policy is the matching one (same vhost, ``apply-to`` fits the queue, the pattern is
  a regular expression searched in the name) with the highest ``priority``; ties go to the
  policy name that sorts first.

Without an explicit routing key a dead-lettered message keeps its original routing keys, so the
keys by which Q receives messages (its binding keys, the default exchange's being Q's name) are used.
The messages then follow X's bindings (default, direct, fanout, topic; headers routes to every
binding since headers are unknown; exchange-to-exchange bindings are followed). Every queue reached
is a DLQ of Q. Config patterns (``is_dlq``) and the explicit ``dlq_map`` name more DLQs; a pattern
DLQ whose name is a pattern with its ``*`` replaced by an existing queue's name is linked to that
queue. ``dlq_exclude`` removes false positives of topology and patterns (e.g. a retry queue of a
retry-with-TTL loop); the explicit map always wins.

Inputs are the management API's JSON objects (dicts): queues (vhost, name, type, arguments),
policies (vhost, name, pattern, apply-to, priority, definition), exchanges (vhost, name, type) and
bindings (vhost, source, destination, destination_type, routing_key).
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from fnmatch import fnmatchcase, translate
from typing import Any, Callable, Iterable, Mapping

from brokers.naming import convention_sources

Json = Mapping[str, Any]

ARGS = "arguments"
POLICY = "policy"
PATTERN = "pattern"
MAP = "map"


@dataclass(frozen=True, order=True)
class QueueRef:
    vhost: str
    name: str


@dataclass(frozen=True)
class DeadLetterTarget:
    """Where a queue dead-letters to: exchange, optional fixed routing key, and how it was set."""

    exchange: str
    routing_key: str | None
    via: str  # "arguments" or "policy:<name>"


@dataclass
class DlqInfo:
    """A DLQ: the queues that feed it and how it was recognised (``arguments``, ``policy:<name>``,
    ``pattern``, ``map``)."""

    sources: set[QueueRef] = field(default_factory=set)
    via: set[str] = field(default_factory=set)


_APPLY_TO_TYPE = {"classic_queues": "classic", "quorum_queues": "quorum", "streams": "stream"}


def _policy_fits(policy: Json, queue: Json) -> bool:
    if policy.get("vhost", "/") != queue.get("vhost", "/"):
        return False
    apply_to = policy.get("apply-to", "all")
    if apply_to not in ("all", "queues") and _APPLY_TO_TYPE.get(apply_to) != queue.get("type", "classic"):
        return False
    try:
        return re.search(str(policy.get("pattern", "")), str(queue["name"])) is not None
    except re.error:
        return False  # a pattern RabbitMQ accepted but Python's re cannot read matches nothing here


def applied_policy(queue: Json, policies: Iterable[Json]) -> Json | None:
    """The policy RabbitMQ applies to ``queue``: highest priority among the matching ones."""
    fitting = [p for p in policies if _policy_fits(p, queue)]
    if not fitting:
        return None
    return min(fitting, key=lambda p: (-int(p.get("priority", 0) or 0), str(p.get("name", ""))))


def dead_letter_target(queue: Json, policies: Iterable[Json]) -> DeadLetterTarget | None:
    """Where ``queue`` dead-letters to, or None. Arguments win over the policy."""
    args = queue.get("arguments") or {}
    if "x-dead-letter-exchange" in args:
        return DeadLetterTarget(str(args["x-dead-letter-exchange"]),
                                _opt_str(args.get("x-dead-letter-routing-key")), ARGS)
    policy = applied_policy(queue, policies)
    definition = (policy or {}).get("definition") or {}
    if policy is not None and "dead-letter-exchange" in definition:
        return DeadLetterTarget(str(definition["dead-letter-exchange"]),
                                _opt_str(definition.get("dead-letter-routing-key")),
                                f"{POLICY}:{policy.get('name', '')}")
    return None


def _opt_str(v: Any) -> str | None:
    return None if v is None else str(v)


def topic_matches(pattern: str, key: str) -> bool:
    """AMQP topic matching: words split on '.', '*' is exactly one word, '#' is zero or more."""
    def match(p: list[str], k: list[str]) -> bool:
        if not p:
            return not k
        if p[0] == "#":
            return any(match(p[1:], k[i:]) for i in range(len(k) + 1))
        if not k:
            return False
        return (p[0] == "*" or p[0] == k[0]) and match(p[1:], k[1:])
    return match(pattern.split("."), key.split("."))


class Router:
    """Routes a routing key from an exchange to queue names within one vhost's bindings."""

    def __init__(self, exchanges: Iterable[Json], bindings: Iterable[Json]) -> None:
        self._types = {(e.get("vhost", "/"), e.get("name", "")): e.get("type", "direct") for e in exchanges}
        self._by_source: dict[tuple[str, str], list[Json]] = {}
        self._into_queue: dict[QueueRef, set[str]] = {}
        for b in bindings:
            vhost = b.get("vhost", "/")
            self._by_source.setdefault((vhost, b.get("source", "")), []).append(b)
            if b.get("destination_type") == "queue":
                ref = QueueRef(vhost, b.get("destination", ""))
                self._into_queue.setdefault(ref, set()).add(str(b.get("routing_key", "")))

    def inbound_keys(self, queue: QueueRef) -> set[str]:
        """The routing keys messages reach ``queue`` with (its own name via the default exchange)."""
        return {queue.name} | self._into_queue.get(queue, set())

    def route(self, vhost: str, exchange: str, key: str, _seen: frozenset[str] = frozenset()) -> set[str]:
        """Queue names a message published to ``exchange`` with ``key`` reaches."""
        if exchange == "":
            return {key}
        if exchange in _seen:
            return set()
        kind = self._types.get((vhost, exchange))
        if kind is None:
            return set()  # the DLX does not exist: RabbitMQ drops the message
        out: set[str] = set()
        for b in self._by_source.get((vhost, exchange), []):
            bkey = str(b.get("routing_key", ""))
            if kind == "direct" and bkey != key:
                continue
            if kind == "topic" and not topic_matches(bkey, key):
                continue
            dest = str(b.get("destination", ""))
            if b.get("destination_type") == "exchange":
                out |= self.route(vhost, dest, key, _seen | {exchange})
            else:
                out.add(dest)
        return out


def glob_matcher(include: Iterable[str], exclude: Iterable[str]) -> Callable[[str], bool]:
    """``brokers.naming.allowed`` (and ``is_dlq``) for one include/exclude pair, compiled once: the same
    shell globs as one regex each, for a test per queue instead of one ``fnmatchcase`` per pattern."""
    include, exclude = list(include), list(exclude)
    if include == ["*"] and not exclude:
        return lambda name: True
    inc = re.compile("|".join(translate(p) for p in include)) if include else None
    exc = re.compile("|".join(translate(p) for p in exclude)) if exclude else None
    return lambda name: (inc is not None and inc.match(name) is not None
                         and (exc is None or exc.match(name) is None))


def _convention_source(dlq: QueueRef, patterns: Iterable[str], names: set[QueueRef]) -> QueueRef | None:
    """The first existing queue a DLQ name convention points at."""
    return next((src for src in (QueueRef(dlq.vhost, n) for n in convention_sources(dlq.name, patterns))
                 if src in names), None)


def resolve_dlqs(queues: Iterable[Json], policies: Iterable[Json], exchanges: Iterable[Json],
                 bindings: Iterable[Json], patterns: Iterable[str] = (), exclude: Iterable[str] = (),
                 dlq_map: Mapping[str, tuple[str, str]] | None = None) -> dict[QueueRef, DlqInfo]:
    """All DLQs among ``queues`` with their sources. ``dlq_map`` maps a DLQ name to (vhost, source)."""
    queues, policies, patterns, exclude = list(queues), list(policies), list(patterns), list(exclude)
    names = {QueueRef(q.get("vhost", "/"), q["name"]) for q in queues}
    router = Router(exchanges, bindings)
    out: dict[QueueRef, DlqInfo] = {}

    def add(dlq: QueueRef, source: QueueRef | None, via: str) -> None:
        info = out.setdefault(dlq, DlqInfo())
        info.via.add(via)
        if source is not None:
            info.sources.add(source)

    def excluded(dlq: QueueRef) -> bool:
        return any(fnmatchcase(dlq.name, p) for p in exclude)

    for q in queues:
        src = QueueRef(q.get("vhost", "/"), q["name"])
        target = dead_letter_target(q, policies)
        if target is None:
            continue
        keys = {target.routing_key} if target.routing_key is not None else router.inbound_keys(src)
        for key in keys:
            for name in router.route(src.vhost, target.exchange, key):
                dlq = QueueRef(src.vhost, name)
                if dlq != src and dlq in names and not excluded(dlq):
                    add(dlq, src, target.via)
    named_dlq = glob_matcher(patterns, exclude)  # is_dlq, compiled once
    for ref in names:
        if named_dlq(ref.name):
            add(ref, _convention_source(ref, patterns, names), PATTERN)
    for name, (vhost, source) in (dlq_map or {}).items():
        ref = QueueRef(vhost, name)
        if ref in names:
            add(ref, QueueRef(vhost, source), MAP)
    return out
