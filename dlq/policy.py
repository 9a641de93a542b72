"""Pure target policy: where a replay may publish a message whose target came from its headers.

Headers (``eventdeck-replay-target``, Spring ``kafka_dlt-original-*``, Connect ``__connect.errors.*``,
RabbitMQ ``x-death``) are written by whoever could write to the DLQ, so a target taken from them is
used only when it is a source linked to this DLQ (RabbitMQ topology as the collector found it, the
``dlq_map`` entry, the naming convention) or matches ``dlq.allowed_targets[<cluster>]``. A RabbitMQ
exchange target (``rabbit_mode: exchange``) is allowed only by a pattern written ``exchange:<glob>``.
Targets from the operator (explicit), the config map and the convention are not header-derived and
pass; parking targets are Eventdeck's own.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from fnmatch import fnmatchcase
from typing import Callable, Iterable

from brokers.naming import convention_sources
from dlq.targets import NoTarget, Target

HEADER_SOURCES = frozenset({"eventdeck", "spring", "connect", "x-death"})
EXCHANGE_PREFIX = "exchange:"
BLOCKED = "blocked: target not allowed"


@dataclass(frozen=True)
class TargetPolicy:
    dlq: str
    cluster: str
    linked: frozenset[str] = frozenset()  # topics (Kafka) or queues (RabbitMQ) linked to the DLQ
    allowed: tuple[str, ...] = ()  # dlq.allowed_targets[cluster]: globs; 'exchange:<glob>' for exchanges
    # Asked for a queue not linked otherwise when the stored topology does not know this DLQ yet: is it a
    # source of the DLQ right now (RabbitMQ management API)? None: not asked.
    live: Callable[[str], bool] | None = field(default=None, compare=False)

    def name_of(self, t: Target) -> str:
        """What a pattern is matched against: the topic, the queue, or ``exchange:<name>``."""
        if t.broker == "kafka":
            return t.topic or ""
        if t.exchange == "":
            return t.routing_key or ""
        return EXCHANGE_PREFIX + (t.exchange or "")

    def permits(self, t: Target) -> bool:
        if t.source not in HEADER_SOURCES:
            return True
        name = self.name_of(t)
        if not name.startswith(EXCHANGE_PREFIX) and name in self.linked:
            return True
        if any(fnmatchcase(name, p) for p in self.allowed):
            return True
        return self.live is not None and not name.startswith(EXCHANGE_PREFIX) and self.live(name)

    def check(self, t: Target) -> Target | NoTarget:
        """``t`` itself when permitted, else a NoTarget saying ``blocked: target not allowed`` and why."""
        if self.permits(t):
            return t
        return NoTarget(f"{BLOCKED}: {t.describe()} is not a source linked to {self.dlq} and matches no "
                        f"pattern of dlq.allowed_targets[{self.cluster!r}]; the message stays in the DLQ "
                        f"(an operator may replay it to an explicit target)")


def linked_sources(dlq: str, patterns: Iterable[str], mapped: Iterable[str] = (),
                   topology: Iterable[str] = ()) -> frozenset[str]:
    """Sources linked to ``dlq``: the config map entries, every name the convention implies, and the
    sources the collector found in the broker's topology."""
    return frozenset([*mapped, *convention_sources(dlq, patterns), *topology])
