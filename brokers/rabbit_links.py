"""Is a RabbitMQ queue, right now, a source of a given DLQ? Asked of the management API when the stored
topology (refreshed by the collector every ``topology_refresh_s``) does not know the DLQ yet, so a DLQ
created a moment ago can be replayed to its sources without waiting for the next refresh.

A queue Q feeds DLQ D when Q dead-letters (its ``x-dead-letter-exchange`` argument, else its effective
policy's ``dead-letter-exchange``) into exchange X with routing key K (or, without K, the message's own
keys), and X routes to D: the default exchange by name, a fanout/headers exchange by any binding, a
direct exchange by a binding with key K, a topic exchange by a binding pattern matching K. Without K, any
binding from X to D counts (the keys of future messages are unknown). Exchange-to-exchange routes are not
followed here (the stored topology does); such a DLQ is linked at the next refresh.
"""
from __future__ import annotations

from typing import Any, Mapping
from urllib.parse import quote

import requests

from brokers.rabbitmq import RabbitError, resolve_password
from config.rabbitmq import RabbitClusterConfig


def dead_letter_of(queue: Mapping[str, Any]) -> tuple[str, str | None] | None:
    """(exchange, routing key or None) ``queue`` dead-letters to, from the management API's queue object."""
    args = queue.get("arguments") or {}
    if isinstance(args, Mapping) and "x-dead-letter-exchange" in args:
        key = args.get("x-dead-letter-routing-key")
        return str(args["x-dead-letter-exchange"]), None if key is None else str(key)
    pol = queue.get("effective_policy_definition") or {}
    if isinstance(pol, Mapping) and "dead-letter-exchange" in pol:
        key = pol.get("dead-letter-routing-key")
        return str(pol["dead-letter-exchange"]), None if key is None else str(key)
    return None


def topic_matches(pattern: str, key: str) -> bool:
    """AMQP topic matching: ``*`` one word, ``#`` zero or more words (words separated by dots)."""
    p, k = pattern.split("."), key.split(".")
    seen: dict[tuple[int, int], bool] = {}

    def m(i: int, j: int) -> bool:
        if (i, j) not in seen:
            if i == len(p):
                seen[(i, j)] = j == len(k)
            elif p[i] == "#":
                seen[(i, j)] = any(m(i + 1, jj) for jj in range(j, len(k) + 1))
            else:
                seen[(i, j)] = j < len(k) and p[i] in ("*", k[j]) and m(i + 1, j + 1)
        return seen[(i, j)]
    return m(0, 0)


def feeds(source: str, queue: Mapping[str, Any], exchange: Mapping[str, Any] | None,
          bindings: list[Mapping[str, Any]], dlq: str) -> bool:
    """Pure: does ``source`` (its queue object) dead-letter into ``dlq`` given its dead-letter exchange's
    object and that exchange's outgoing bindings?"""
    dl = dead_letter_of(queue)
    if dl is None:
        return False
    ex, key = dl
    if ex == "":
        return (key if key is not None else source) == dlq
    kind = str((exchange or {}).get("type") or "")
    for b in bindings:
        if b.get("destination_type") != "queue" or b.get("destination") != dlq:
            continue
        if key is None or kind in ("fanout", "headers"):
            return True
        rk = str(b.get("routing_key") or "")
        if (kind == "topic" and topic_matches(rk, key)) or rk == key:
            return True
    return False


def is_live_source(cfg: RabbitClusterConfig, vhost: str, dlq: str, source: str) -> bool:
    """Ask the management API whether ``source`` feeds ``dlq`` now (see :func:`feeds`); RabbitError when
    the API cannot be asked (the caller treats that as "not linked")."""
    base = cfg.management_url.rstrip("/")
    v = quote(vhost, safe="")
    auth = (cfg.username, resolve_password(cfg))
    verify: Any = cfg.ca_file or cfg.verify_tls

    def get(path: str) -> Any:
        try:
            r = requests.get(base + path, auth=auth, timeout=cfg.timeout_s, verify=verify)
        except requests.RequestException as exc:
            raise RabbitError(f"management API of cluster {cfg.name!r} unreachable: {type(exc).__name__}") from None
        if r.status_code == 404:
            return None
        if r.status_code >= 400:
            raise RabbitError(f"management API of cluster {cfg.name!r}: HTTP {r.status_code} on {path}")
        return r.json()

    queue = get(f"/api/queues/{v}/{quote(source, safe='')}")
    if not isinstance(queue, dict):
        return False
    dl = dead_letter_of(queue)
    if dl is None:
        return False
    if dl[0] == "":
        return feeds(source, queue, None, [], dlq)
    ex = quote(dl[0], safe="")
    exchange = get(f"/api/exchanges/{v}/{ex}")
    bindings = get(f"/api/exchanges/{v}/{ex}/bindings/source") or []
    return feeds(source, queue, exchange if isinstance(exchange, dict) else None,
                 [b for b in bindings if isinstance(b, dict)], dlq)
