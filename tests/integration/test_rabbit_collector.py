"""The RabbitMQ collector against the real node: figures equal `rabbitmqctl list_queues`, DLQs are
found by queue arguments and by policy and linked to their sources, and the error rate is 10%."""
from __future__ import annotations

import json
import subprocess
import time
import uuid
from urllib.parse import quote

import pytest

from collectors.rabbitmq import RabbitCollector
from config.rabbitmq import RabbitClusterConfig
from tests.integration.rabbit_collector_helpers import (REJECT_EVERY, _mgmt, by_queue, consume_rejecting, fast_stats,
                                                        publish_with_confirms)

__all__ = ["fast_stats"]  # a fixture, used by name

N = 1000


def list_queues(names: set[str]) -> dict[str, dict[str, int]]:
    """The reference: ``rabbitmqctl list_queues`` for our queues."""
    out = subprocess.run(["rabbitmqctl", "-q", "list_queues", "name", "messages_ready",
                          "messages_unacknowledged", "messages", "--formatter", "json"],
                         capture_output=True, text=True, timeout=60, check=True).stdout
    return {row["name"]: row for row in json.loads(out) if row["name"] in names}


@pytest.fixture
def topology(fast_stats):
    """Two work queues with DLQs: one by queue arguments, one by policy. Everything is deleted after."""
    rmq = fast_stats
    uid = uuid.uuid4().hex[:10]
    names = {
        "dlx": f"ed-{uid}-deadletters",
        "work_args": f"ed-{uid}-work-args", "grave_args": f"ed-{uid}-graveyard-args",
        "work_pol": f"ed-{uid}-work-pol", "grave_pol": f"ed-{uid}-graveyard-pol",
        "policy": f"ed-{uid}-dl-policy",
    }
    v = quote("/", safe="")
    _mgmt(rmq, "PUT", f"/api/exchanges/{v}/{names['dlx']}", {"type": "direct", "durable": False})
    _mgmt(rmq, "PUT", f"/api/queues/{v}/{names['work_args']}", {"durable": False, "arguments": {
        "x-dead-letter-exchange": names["dlx"], "x-dead-letter-routing-key": "args"}})
    _mgmt(rmq, "PUT", f"/api/queues/{v}/{names['work_pol']}", {"durable": False, "arguments": {}})
    for q in ("grave_args", "grave_pol"):
        _mgmt(rmq, "PUT", f"/api/queues/{v}/{names[q]}", {"durable": False, "arguments": {}})
    _mgmt(rmq, "POST", f"/api/bindings/{v}/e/{names['dlx']}/q/{names['grave_args']}", {"routing_key": "args"})
    # The policy sets no routing key: dead-lettered messages keep theirs (the work queue's name).
    _mgmt(rmq, "POST", f"/api/bindings/{v}/e/{names['dlx']}/q/{names['grave_pol']}",
          {"routing_key": names["work_pol"]})
    _mgmt(rmq, "PUT", f"/api/policies/{v}/{names['policy']}", {
        "pattern": f"^{names['work_pol']}$", "apply-to": "queues", "priority": 7,
        "definition": {"dead-letter-exchange": names["dlx"]}})
    yield names
    _mgmt(rmq, "DELETE", f"/api/policies/{v}/{names['policy']}")
    for q in ("work_args", "work_pol", "grave_args", "grave_pol"):
        _mgmt(rmq, "DELETE", f"/api/queues/{v}/{names[q]}")
    _mgmt(rmq, "DELETE", f"/api/exchanges/{v}/{names['dlx']}")


def _cfg(rabbitmq, uid_prefix: str, **kw) -> RabbitClusterConfig:
    return RabbitClusterConfig(name="itest", management_url=rabbitmq.mgmt_url, username=rabbitmq.user,
                               queues_allow=[f"{uid_prefix}*"], **kw)


def test_figures_dlqs_and_error_rate_match_rabbitmqctl(fast_stats, topology):
    rmq, t = fast_stats, topology
    prefix = t["dlx"].rsplit("-", 1)[0] + "-"
    ours = {t["work_args"], t["work_pol"], t["grave_args"], t["grave_pol"]}
    collector = RabbitCollector(_cfg(rmq, prefix))
    probe = RabbitCollector(_cfg(rmq, prefix))

    def poll_until(pred, what: str, timeout: float = 90.0):
        deadline = time.monotonic() + timeout
        while True:
            samples = probe.collect(int(time.time() * 1000)).samples
            if pred(samples):
                return samples
            assert time.monotonic() < deadline, f"timed out waiting for {what}; last: {by_queue(samples, 'rabbitmq_queue_messages')}"
            time.sleep(0.5)

    # Stats of new queues appear after the first emission: wait for all four, then take the baseline.
    poll_until(lambda s: set(by_queue(s, "rabbitmq_queue_messages")) == ours, "the queues' first stats")
    t0 = int(time.time() * 1000)
    base = collector.collect(t0).samples
    assert set(by_queue(base, "rabbitmq_queue_messages")) == ours

    for q in (t["work_args"], t["work_pol"]):
        publish_with_confirms(rmq, q, N)
    poll_until(lambda s: all(by_queue(s, "rabbitmq_queue_ready_messages").get(q) == N
                             for q in (t["work_args"], t["work_pol"])), "1,000 ready messages per work queue")
    for q in (t["work_args"], t["work_pol"]):
        assert consume_rejecting(rmq, q, N) == N // REJECT_EVERY

    def settled(s) -> bool:
        msgs = by_queue(s, "rabbitmq_queue_messages")
        counters = {i.get("name"): i.get("message_stats") or {} for i in probe._queues()}
        return (msgs.get(t["work_args"]) == 0 and msgs.get(t["work_pol"]) == 0
                and msgs.get(t["grave_args"]) == N // REJECT_EVERY and msgs.get(t["grave_pol"]) == N // REJECT_EVERY
                and all(counters[q].get("deliver_get") == N and counters[q].get("ack") == N - N // REJECT_EVERY
                        for q in (t["work_args"], t["work_pol"])))
    poll_until(settled, "the API's stats to show every delivery, ack and dead-lettered message")

    t1 = int(time.time() * 1000)
    final = collector.collect(t1).samples
    seconds = (t1 - t0) / 1000

    # Gauges equal the reference, queue by queue.
    ref = list_queues(ours)
    assert set(ref) == ours
    for metric, col in (("rabbitmq_queue_ready_messages", "messages_ready"),
                        ("rabbitmq_queue_unacked_messages", "messages_unacknowledged"),
                        ("rabbitmq_queue_messages", "messages")):
        got = by_queue(final, metric)
        assert {q: got[q] for q in ours} == {q: float(ref[q][col]) for q in ours}, metric

    # Both DLQs found (and only they), each linked to its source by the right route.
    dlq_sizes = by_queue(final, "dlq_messages", "dlq")
    assert dlq_sizes == {t["grave_args"]: ref[t["grave_args"]]["messages"],
                         t["grave_pol"]: ref[t["grave_pol"]]["messages"]}
    links = {(s.labels["dlq"], s.labels["source"], s.labels["via"]) for s in final if s.metric == "dlq_source_info"}
    assert links == {(t["grave_args"], t["work_args"], "arguments"),
                     (t["grave_pol"], t["work_pol"], f"policy:{t['policy']}")}

    # Error rate 10% +- 2 points on both work queues; inflow and publish totals over the interval.
    errors = by_queue(final, "rabbitmq_queue_error_rate_ratio")
    for q in (t["work_args"], t["work_pol"]):
        assert errors[q] == pytest.approx(0.10, abs=0.02), q
        assert by_queue(final, "rabbitmq_queue_publish_rate_per_s")[q] * seconds == pytest.approx(N, rel=0.01)
        assert by_queue(final, "rabbitmq_queue_ack_rate_per_s")[q] * seconds == pytest.approx(0.9 * N, rel=0.01)
    inflow = by_queue(final, "dlq_inflow_rate_per_s", "dlq")
    for q in (t["grave_args"], t["grave_pol"]):
        assert inflow[q] * seconds == pytest.approx(N // REJECT_EVERY, rel=0.01), q
    # Node health of the single local node.
    assert set(by_queue(final, "rabbitmq_node_up", "node").values()) == {1.0}
    assert set(by_queue(final, "rabbitmq_node_mem_alarm", "node").values()) == {0.0}
    assert all(0 < v < 1 for v in by_queue(final, "rabbitmq_node_fd_used_ratio", "node").values())
    assert collector.bytes_last_cycle > 0


@pytest.fixture
def own_vhost(rabbitmq):
    """A private vhost (deleting it deletes its queues) with five queues, one of them a DLQ by name."""
    vhost = f"ed-vh-{uuid.uuid4().hex[:10]}"
    v = quote(vhost, safe="")
    _mgmt(rabbitmq, "PUT", f"/api/vhosts/{v}")
    try:
        _mgmt(rabbitmq, "PUT", f"/api/permissions/{v}/{rabbitmq.user}", {"configure": ".*", "write": ".*", "read": ".*"})
        names = [f"q{i}" for i in range(4)] + ["q0.dlq"]
        for n in names:
            _mgmt(rabbitmq, "PUT", f"/api/queues/{v}/{n}", {"durable": False})
        yield vhost, names
    finally:
        _mgmt(rabbitmq, "DELETE", f"/api/vhosts/{v}")


def test_vhost_filter_pagination_and_dlq_pattern(rabbitmq, own_vhost):
    vhost, names = own_vhost
    # Page size 2 over 5 queues: three pages, each queue exactly once; only our vhost is read.
    cfg = RabbitClusterConfig(name="pages", management_url=rabbitmq.mgmt_url, username=rabbitmq.user,
                              vhosts=[vhost], page_size=2, dlq_patterns=["*.dlq"], topology_refresh_s=0)
    collector = RabbitCollector(cfg)
    deadline = time.monotonic() + 60
    while True:
        samples = collector.collect(int(time.time() * 1000)).samples
        depth = {(s.labels["vhost"], s.labels["queue"]) for s in samples if s.metric == "rabbitmq_queue_messages"}
        if len(depth) == len(names) or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    assert depth == {(vhost, n) for n in names}
    info = [s for s in samples if s.metric == "rabbitmq_queue_info"]
    assert sorted(s.labels["queue"] for s in info) == sorted(names)  # no duplicates across pages
    # vhosts list + 3 pages + nodes + policies (no DLX anywhere, so no exchanges/bindings)
    assert collector.requests_last_cycle == 6
    links = {(s.labels["vhost"], s.labels["dlq"], s.labels["source"], s.labels["via"])
             for s in samples if s.metric == "dlq_source_info"}
    assert links == {(vhost, "q0.dlq", "q0", "pattern")}
