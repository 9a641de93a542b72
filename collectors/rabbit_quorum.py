"""Quorum queues' delivery limit and dead-letter audit, pure.

A quorum queue counts deliveries per message (``x-delivery-count``) and, past its delivery limit,
drops the message — into its dead-letter exchange if it has one, and silently if not. The effective
limit is RabbitMQ's (``rabbit_quorum_queue``): the lower of the queue argument ``x-delivery-limit``
and the policy key ``delivery-limit`` (the management API's ``effective_policy_definition``, which
merges the policy and the operator policy); from RabbitMQ 4.0 a quorum queue without either has the
limit 20, and a negative limit means none. The dead-letter exchange: the argument
``x-dead-letter-exchange`` or the policy key ``dead-letter-exchange`` (the argument wins).

Written per quorum queue with a limit: ``rabbitmq_queue_delivery_limit`` = N and
``rabbitmq_queue_delivery_limit_without_dlx`` = N when it has no dead-letter exchange (messages are
dropped after N deliveries), 0 when it has one; the built-in rule ``rabbitmq-delivery-limit-no-dlx``
fires on it.
"""
from __future__ import annotations

from typing import Any

DEFAULT_LIMIT_FROM_4 = 20
MAX_LIMIT = 2 ** 53


def _int(v: Any) -> int | None:
    if isinstance(v, bool):
        return None
    if isinstance(v, float) and v.is_integer():
        v = int(v)
    if isinstance(v, str):
        try:
            v = int(v.strip())
        except ValueError:
            return None
    return v if isinstance(v, int) and abs(v) <= MAX_LIMIT else None


def _dict(v: Any) -> dict[str, Any]:
    return v if isinstance(v, dict) else {}


def major_version(version: Any) -> int | None:
    """The major version of a RabbitMQ version string (``"3.10.8"`` -> 3); None when unreadable."""
    if not isinstance(version, str):
        return None
    head = version.strip().split(".", 1)[0]
    return int(head) if head.isdigit() and len(head) <= 4 else None


def delivery_limit(q: dict[str, Any], major: int | None) -> int | None:
    """The effective delivery limit of a queue from the management API, or None (no limit, or not a
    quorum queue)."""
    if q.get("type") != "quorum":
        return None
    arg = _int(_dict(q.get("arguments")).get("x-delivery-limit"))
    pol = _int(_dict(q.get("effective_policy_definition")).get("delivery-limit"))
    known = [v for v in (arg, pol) if v is not None]
    if not known:
        return DEFAULT_LIMIT_FROM_4 if major is not None and major >= 4 else None
    limit = min(known)
    return None if limit < 0 else limit


def has_dead_letter_exchange(q: dict[str, Any]) -> bool:
    """Whether the queue dead-letters (argument or policy; an empty name is the default exchange)."""
    arg = _dict(q.get("arguments")).get("x-dead-letter-exchange")
    pol = _dict(q.get("effective_policy_definition")).get("dead-letter-exchange")
    return isinstance(arg, str) or isinstance(pol, str)


def audit(q: dict[str, Any], major: int | None) -> tuple[int, int] | None:
    """(delivery limit, the same when messages past it are dropped silently else 0); None without a limit."""
    limit = delivery_limit(q, major)
    if limit is None:
        return None
    return limit, 0 if has_dead_letter_exchange(q) else limit
