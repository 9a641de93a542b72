"""DLQ discovery from queue arguments, policies (priorities), exchange bindings, patterns and the map."""
from __future__ import annotations

import pytest

from collectors.rabbit_topology import (QueueRef, Router, applied_policy, dead_letter_target,
                                        resolve_dlqs, topic_matches)


def q(name, vhost="/", type_="classic", **args):
    return {"vhost": vhost, "name": name, "type": type_, "arguments": args}


def pol(name, pattern, priority=0, apply_to="queues", vhost="/", **definition):
    return {"vhost": vhost, "name": name, "pattern": pattern, "priority": priority,
            "apply-to": apply_to, "definition": {k.replace("_", "-"): v for k, v in definition.items()}}


def ex(name, type_="direct", vhost="/"):
    return {"vhost": vhost, "name": name, "type": type_}


def bind(source, dest, key="", dest_type="queue", vhost="/"):
    return {"vhost": vhost, "source": source, "destination": dest, "destination_type": dest_type,
            "routing_key": key}


@pytest.mark.parametrize("policies, queue, expected", [
    # no policy at all
    ([], q("orders"), None),
    # the pattern is a regex searched anywhere in the name (not anchored), as RabbitMQ does
    ([pol("p", "der")], q("orders"), "p"),
    # an anchored pattern that does not match
    ([pol("p", "^der")], q("orders"), None),
    # highest priority wins, whatever the order in the list
    ([pol("low", ".*", 1), pol("high", "^ord", 5)], q("orders"), "high"),
    ([pol("high", "^ord", 5), pol("low", ".*", 1)], q("orders"), "high"),
    # equal priority: the name that sorts first, deterministically
    ([pol("b", ".*", 2), pol("a", ".*", 2)], q("orders"), "a"),
    # a policy of another vhost does not apply
    ([pol("p", ".*", vhost="other")], q("orders"), None),
    # apply-to exchanges does not apply to queues
    ([pol("p", ".*", apply_to="exchanges")], q("orders"), None),
    # apply-to all does
    ([pol("p", ".*", apply_to="all")], q("orders"), "p"),
    # apply-to quorum_queues only for quorum queues (3.12+ policies)
    ([pol("p", ".*", apply_to="quorum_queues")], q("orders"), None),
    ([pol("p", ".*", apply_to="quorum_queues")], q("orders", type_="quorum"), "p"),
    # a regex Python cannot compile is ignored rather than crashing the collector
    ([pol("bad", "(unclosed", 9), pol("ok", ".*", 0)], q("orders"), "ok"),
])
def test_applied_policy(policies, queue, expected):
    got = applied_policy(queue, policies)
    assert (got or {}).get("name") == expected


@pytest.mark.parametrize("queue, policies, expected", [
    # arguments set the DLX; the routing key stays None (messages keep their keys)
    (q("a", **{"x-dead-letter-exchange": "dlx"}), [], ("dlx", None, "arguments")),
    # arguments with a fixed routing key
    (q("a", **{"x-dead-letter-exchange": "dlx", "x-dead-letter-routing-key": "a.dead"}), [],
     ("dlx", "a.dead", "arguments")),
    # a policy sets it
    (q("a"), [pol("dl", "^a$", dead_letter_exchange="pdlx")], ("pdlx", None, "policy:dl")),
    # arguments win over the policy
    (q("a", **{"x-dead-letter-exchange": "argdlx"}), [pol("dl", ".*", dead_letter_exchange="pdlx")],
     ("argdlx", None, "arguments")),
    # only the highest-priority policy counts: it has no DLX, so the lower one's DLX is NOT used
    (q("a"), [pol("dl", ".*", 1, dead_letter_exchange="pdlx"), pol("ttl", ".*", 9, message_ttl=1000)], None),
    # the higher-priority policy's DLX and routing key win
    (q("a"), [pol("lo", ".*", 1, dead_letter_exchange="x1"),
              pol("hi", ".*", 9, dead_letter_exchange="x2", dead_letter_routing_key="k")], ("x2", "k", "policy:hi")),
    # the default exchange ("") is a valid DLX
    (q("a", **{"x-dead-letter-exchange": "", "x-dead-letter-routing-key": "a.dlq"}), [], ("", "a.dlq", "arguments")),
    # no arguments, no policy
    (q("a"), [], None),
])
def test_dead_letter_target(queue, policies, expected):
    t = dead_letter_target(queue, policies)
    assert (None if t is None else (t.exchange, t.routing_key, t.via)) == expected


@pytest.mark.parametrize("pattern, key, expected", [
    ("a.*", "a.b", True),       # * is one word
    ("a.*", "a.b.c", False),    # ... exactly one
    ("a.#", "a", True),         # # may be zero words
    ("a.#", "a.b.c", True),     # ... or several
    ("#", "", True),            # # matches the empty key
    ("#.dead", "x.y.dead", True),
    ("*.dead", "dead", False),  # * needs a word
    ("a.b", "a.b", True),       # literal
    ("a.b", "a.c", False),
])
def test_topic_matches(pattern, key, expected):
    assert topic_matches(pattern, key) is expected


@pytest.mark.parametrize("exchange, key, expected", [
    ("", "anything", {"anything"}),        # default exchange: the key is the queue name
    ("dx", "k1", {"q1"}),                  # direct: equal keys only
    ("dx", "zz", set()),                   # direct: no binding for that key
    ("fx", "whatever", {"q2", "q3"}),      # fanout ignores the key
    ("tx", "orders.failed", {"q4"}),       # topic pattern
    ("hx", "k", {"q5"}),                   # headers: unknown headers, every binding may match
    ("e2e", "k1", {"q1"}),                 # exchange-to-exchange binding is followed
    ("loop1", "k", set()),                 # an exchange cycle terminates
    ("missing", "k", set()),               # a DLX that does not exist drops messages
])
def test_router(exchange, key, expected):
    exchanges = [ex("dx"), ex("fx", "fanout"), ex("tx", "topic"), ex("hx", "headers"), ex("e2e", "fanout"),
                 ex("loop1", "fanout"), ex("loop2", "fanout")]
    bindings = [bind("dx", "q1", "k1"), bind("fx", "q2"), bind("fx", "q3"), bind("tx", "q4", "*.failed"),
                bind("hx", "q5"), bind("e2e", "dx", "", "exchange"), bind("loop1", "loop2", "", "exchange"),
                bind("loop2", "loop1", "", "exchange")]
    assert Router(exchanges, bindings).route("/", exchange, key) == expected


def R(name, vhost="/"):
    return QueueRef(vhost, name)


def summary(dlqs):
    return {ref.name: ({s.name for s in info.sources}, info.via) for ref, info in dlqs.items()}


@pytest.mark.parametrize("queues, policies, exchanges, bindings, kw, expected", [
    # by arguments: DLX direct with a fixed routing key bound to the DLQ
    ([q("work", **{"x-dead-letter-exchange": "dlx", "x-dead-letter-routing-key": "dead"}), q("dead.q")], [],
     [ex("dlx")], [bind("dlx", "dead.q", "dead")], {},
     {"dead.q": ({"work"}, {"arguments"})}),
    # by policy, no fixed key: the work queue's own name (default exchange key) routes in the DLX
    ([q("work"), q("parking")], [pol("dl", "^work$", dead_letter_exchange="dlx")],
     [ex("dlx")], [bind("dlx", "parking", "work")], {},
     {"parking": ({"work"}, {"policy:dl"})}),
    # no fixed key: a binding key of the source queue is kept by dead-lettering
    ([q("work"), q("parking")], [pol("dl", "^work$", dead_letter_exchange="dlx")],
     [ex("app"), ex("dlx")], [bind("app", "work", "orders.new"), bind("dlx", "parking", "orders.new")], {},
     {"parking": ({"work"}, {"policy:dl"})}),
    # a fanout DLX shared by two sources: one DLQ linked to both
    ([q("a", **{"x-dead-letter-exchange": "dlx"}), q("b", **{"x-dead-letter-exchange": "dlx"}), q("all.dead")],
     [], [ex("dlx", "fanout")], [bind("dlx", "all.dead")], {},
     {"all.dead": ({"a", "b"}, {"arguments"})}),
    # the DLX via the default exchange and a routing key straight to the DLQ
    ([q("a", **{"x-dead-letter-exchange": "", "x-dead-letter-routing-key": "a.parked"}), q("a.parked")], [], [], [],
     {}, {"a.parked": ({"a"}, {"arguments"})}),
    # a DLX routing to a queue that does not exist yields nothing
    ([q("a", **{"x-dead-letter-exchange": "", "x-dead-letter-routing-key": "gone"})], [], [], [], {}, {}),
    # a queue dead-lettering into itself is not its own DLQ
    ([q("a", **{"x-dead-letter-exchange": "", "x-dead-letter-routing-key": "a"})], [], [], [], {}, {}),
    # the same DLQ found by arguments and by a name pattern records both routes
    ([q("a", **{"x-dead-letter-exchange": "", "x-dead-letter-routing-key": "a.dlq"}), q("a.dlq")], [], [], [],
     {"patterns": ["*.dlq"]}, {"a.dlq": ({"a"}, {"arguments", "pattern"})}),
    # pattern only: the name convention links it to the existing queue "orders"
    ([q("orders"), q("orders.dlq")], [], [], [], {"patterns": ["*.dlq"]},
     {"orders.dlq": ({"orders"}, {"pattern"})}),
    # pattern only, no such source queue: a DLQ without a known source
    ([q("x.dlq")], [], [], [], {"patterns": ["*.dlq"]}, {"x.dlq": (set(), {"pattern"})}),
    # exclude removes a retry queue that topology would call a DLQ (retry-with-TTL loop)
    ([q("work", **{"x-dead-letter-exchange": "", "x-dead-letter-routing-key": "work.retry"}), q("work.retry")],
     [], [], [], {"exclude": ["*.retry"]}, {}),
    # the explicit map names a DLQ and its source even when nothing else would
    ([q("graveyard"), q("src")], [], [], [], {"dlq_map": {"graveyard": ("/", "src")}},
     {"graveyard": ({"src"}, {"map"})}),
    # the map entry of a queue that does not exist is ignored
    ([q("src")], [], [], [], {"dlq_map": {"nowhere": ("/", "src")}}, {}),
])
def test_resolve_dlqs(queues, policies, exchanges, bindings, kw, expected):
    assert summary(resolve_dlqs(queues, policies, exchanges, bindings, **kw)) == expected


def test_vhosts_are_kept_apart():
    # Same names in two vhosts: the DLX in vhost "b" routes only within "b".
    queues = [q("w", "a"), q("w", "b", **{"x-dead-letter-exchange": "dlx"}), q("d", "a"), q("d", "b")]
    exchanges = [ex("dlx", vhost="a"), ex("dlx", vhost="b")]
    bindings = [bind("dlx", "d", "w", vhost="a"), bind("dlx", "d", "w", vhost="b")]
    out = resolve_dlqs(queues, [], exchanges, bindings)
    assert set(out) == {R("d", "b")}
    assert out[R("d", "b")].sources == {R("w", "b")}
